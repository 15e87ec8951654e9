//! Objects a reboot may have torn, so that `exists` and `size` do not
//! report them before they are checked.
//!
//! A `durable: false` put is never synced (see [`super::objects`]): after a
//! power loss its name and checksum may be on the disk without all of its
//! bytes. A read catches that through the checksum ([`super::checksum`]);
//! but `exists`/`size` read no bytes, and would answer "yes, 1 MiB" for an
//! object that a `get` then reports missing. So:
//!
//! - Each unsynced object's checksum attribute records the boot that wrote
//!   it; one written in this boot cannot have lost its bytes since.
//! - At the first open after a reboot (the root's `.kvbox-boot` does not
//!   name this boot) of a tenant that stores checksums, the usage scan also
//!   reads each object's attribute (one `openat` + `fgetxattr` per object)
//!   and keeps the unsynced objects of earlier boots as *suspects* — and
//!   any object it could not classify. It records them, by a 64-bit hash of
//!   their path (CRC-64/NVME: stable across versions), in `.kvbox-suspects`,
//!   then this boot in `.kvbox-boot`; later opens in this boot load that
//!   list instead of scanning, and a closing tenant writes back what is
//!   left. Both files are unsynced (a power loss changes the boot anyway)
//!   and replaced by rename; a list without its boot record is ignored.
//! - `exists`/`size`/ranged reads/removes of a suspect check it whole
//!   first (its bytes then sit in the page cache for the `get` that usually
//!   follows): torn, it is dropped and reported absent; sound, it is synced
//!   and its attribute rewritten as synced. A whole read checks it anyway,
//!   and a put of the path settles it. Listings may still name suspects (a
//!   listing is a hint; a `get` of one is checked).
//! - A hash shared by another path only costs that path one needless check:
//!   only an attribute from an earlier boot is ever rewritten.
//!
//! Cost while no suspect is left: one small file read at open and one
//! relaxed load per `exists`/`size`. With suspects: 8 bytes of list per
//! suspect on disk, about 30 in memory.

use super::checksum::{boot_id, parse_uuid};
use super::root::TenantRoot;
use rustix::fs::{AtFlags, Mode, OFlags};
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// In the tenant root: the boot whose first open made `.kvbox-suspects`.
const BOOT_FILE: &str = ".kvbox-boot";
/// In the tenant root: the suspects left, as little-endian path hashes.
const LIST_FILE: &str = ".kvbox-suspects";

/// The stable hash a suspect is known by.
pub fn id(path: &str) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, path.as_bytes())
}

/// The tenant's suspects; see the module docs.
#[derive(Debug, Default)]
pub struct Suspects {
    ids: Mutex<HashSet<u64>>,
    /// Whether `ids` may be non-empty (checked without the lock).
    any: AtomicBool,
    /// Whether some were settled since the list was last written.
    changed: AtomicBool,
}

impl Suspects {
    /// The suspects of a tenant opening: from the record when it names this
    /// boot, else `found` by the scan (`None` when it did not look: the
    /// tenant stores no checksum, or the kernel names no boot).
    pub fn at_open(recorded: Option<Vec<u64>>, found: Option<Vec<u64>>, root: &TenantRoot) -> Self {
        let fresh = found.is_some();
        let ids: HashSet<u64> = recorded.or(found).unwrap_or_default().into_iter().collect();
        let out = Self { any: AtomicBool::new(!ids.is_empty()), ids: Mutex::new(ids), changed: AtomicBool::new(false) };
        // The boot is recorded only over a list written whole: a record without its list would lose them.
        if fresh && out.write_list(root) {
            write_atomically(root, BOOT_FILE, format!("{}\n", hex::encode(boot_id().unwrap_or_default())).as_bytes());
        }
        out
    }

    /// Whether `path` is a suspect.
    pub fn holds(&self, path: &str) -> bool {
        self.any.load(Ordering::Relaxed) && self.lock().contains(&id(path))
    }

    /// How many are left.
    pub fn len(&self) -> usize {
        if self.any.load(Ordering::Relaxed) { self.lock().len() } else { 0 }
    }

    /// Whether none is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `path` is settled: checked (and dropped when torn), replaced or removed.
    pub fn settle(&self, path: &str) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let mut ids = self.lock();
        if ids.remove(&id(path)) {
            self.changed.store(true, Ordering::Relaxed);
        }
        if ids.is_empty() {
            self.any.store(false, Ordering::Relaxed);
        }
    }

    /// Writes the list back if some were settled (at close). If that
    /// fails, the list on disk still holds every suspect left, and more.
    pub fn save(&self, root: &TenantRoot) {
        if self.changed.swap(false, Ordering::Relaxed) {
            self.write_list(root);
        }
    }

    /// Replaces the list on disk with the suspects left; whether it did.
    fn write_list(&self, root: &TenantRoot) -> bool {
        let ids = self.lock();
        if ids.is_empty() {
            return matches!(rustix::fs::unlinkat(root.fd(), LIST_FILE, AtFlags::empty()), Ok(()) | Err(rustix::io::Errno::NOENT));
        }
        let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        write_atomically(root, LIST_FILE, &bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The suspects recorded for this boot: `Some` (perhaps empty) when the
/// root's `.kvbox-boot` names this boot and its list reads whole, `None`
/// when the open must scan (also when the kernel names no boot: then the
/// scan does not look either).
pub fn recorded(root: &TenantRoot) -> Option<Vec<u64>> {
    let boot = boot_id()?;
    let named = read_small(root, BOOT_FILE, 64).ok()??;
    if std::str::from_utf8(&named).ok().and_then(|t| parse_uuid(t.trim())) != Some(boot) {
        return None;
    }
    // No list: none left. A list that cannot be read whole: scan again.
    let Some(list) = read_small(root, LIST_FILE, usize::MAX).ok()? else {
        return Some(Vec::new());
    };
    (list.len() % 8 == 0).then(|| list.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
}

/// Whether the open-time scan should look for suspects.
pub fn can_scan() -> bool {
    boot_id().is_some()
}

/// The contents of file `name` in the root: `None` when there is none,
/// `Err` when it cannot be read whole (or holds more than `max` bytes).
fn read_small(root: &TenantRoot, name: &str, max: usize) -> Result<Option<Vec<u8>>, ()> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(root.fd(), name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(_) => return Err(()),
    };
    let size = rustix::fs::fstat(&fd).map_err(drop)?.st_size as usize;
    if size > max {
        return Err(());
    }
    let mut out = vec![0u8; size];
    match super::direct::read_at_into(&fd, &mut out) {
        Ok(n) if n == size => Ok(Some(out)),
        _ => Err(()),
    }
}

/// Replaces file `name` in the root with `bytes` (temporary file + rename,
/// no sync); whether it did. Best effort: a lost record only costs a scan.
fn write_atomically(root: &TenantRoot, name: &str, bytes: &[u8]) -> bool {
    let tmp = super::objects::temp_name();
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::openat(root.fd(), tmp.as_str(), flags, Mode::from_raw_mode(0o644)) else {
        return false;
    };
    let written = super::direct::write_all_at(&fd, bytes, 0).is_ok();
    drop(fd);
    if written && rustix::fs::renameat(root.fd(), tmp.as_str(), root.fd(), name).is_ok() {
        return true;
    }
    let _ = rustix::fs::unlinkat(root.fd(), tmp.as_str(), AtFlags::empty());
    false
}

#[cfg(test)]
mod tests {
    use super::super::{DirOptions, ObjectDir};
    use super::*;
    use std::path::Path;

    const XATTR: &str = "user.kvbox.crc32c";

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    fn attribute(file: &Path) -> Vec<u8> {
        let mut value = [0u8; 64];
        let n = rustix::fs::getxattr(file, XATTR, &mut value).unwrap();
        value[..n].to_vec()
    }

    /// Makes the unsynced object `file` look written in another boot, as
    /// after a reboot (`keep` bytes of its attribute kept: 5 for the form
    /// without a boot id).
    fn from_earlier_boot(file: &Path, keep: usize) {
        let mut value = attribute(file);
        assert_eq!(value.len(), 21, "an unsynced attribute with this boot's id");
        value[5] ^= 0xff;
        rustix::fs::setxattr(file, XATTR, &value[..keep], rustix::fs::XattrFlags::empty()).unwrap();
    }

    fn tear(file: &Path, len: u64) {
        std::fs::OpenOptions::new().write(true).open(file).unwrap().set_len(len).unwrap();
    }

    #[test]
    fn parses_the_kernels_boot_id() {
        let id = parse_uuid("081b1592-5a54-41dd-9584-947e53be2f08").unwrap();
        assert_eq!(id[0], 0x08);
        assert_eq!(id[15], 0x08);
        assert_eq!(parse_uuid("081b15925a5441dd9584947e53be2f08"), Some(id), "as .kvbox-boot stores it");
        assert_eq!(parse_uuid("081b1592-5a54"), None);
        assert_eq!(parse_uuid("zz1b15925a5441dd9584947e53be2f08"), None);
        assert!(boot_id().is_some(), "Linux names its boots");
    }

    /// What a reboot leaves: the record names another boot.
    fn reboot(root: &Path) {
        std::fs::write(root.join(BOOT_FILE), "00000000-0000-4000-8000-000000000000\n").unwrap();
    }

    #[test]
    fn after_a_reboot_exists_and_size_check_unsynced_objects_before_reporting_them() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let (p, opts) = (tmp.path(), DirOptions { durable: false, ..DirOptions::default() });
        let data = pattern(300_000);
        let keys = ["x/torn", "x/whole", "x/read", "x/replaced", "x/removed", "x/ranged", "x/cold", "x/torn-removed"];
        {
            let d = ObjectDir::open_with(p, &opts).unwrap();
            for key in keys.iter().chain(&["x/old-form"]) {
                d.write(key, &data).unwrap();
            }
            assert_eq!(d.suspects(), 0, "written in this boot: nothing to suspect");
        }
        for key in keys {
            from_earlier_boot(&p.join(key), 21);
        }
        from_earlier_boot(&p.join("x/old-form"), 5);
        reboot(p);
        tear(&p.join("x/torn"), 4096);
        tear(&p.join("x/ranged"), 100);
        tear(&p.join("x/torn-removed"), 0);

        let d = ObjectDir::open_with(p, &opts).unwrap();
        assert_eq!(d.suspects(), keys.len(), "every unsynced object of an earlier boot; not the one whose boot is unknown");
        assert_eq!(std::fs::read(p.join(LIST_FILE)).unwrap().len(), 8 * keys.len(), "recorded for this boot's later opens");
        assert!(!scan_needed_now(p), "this boot is recorded");
        assert_eq!(d.usage().objects, keys.len() as u64 + 1);
        assert_eq!(d.stat("x/torn").unwrap(), None, "torn: absent, without a get first");
        assert!(!p.join("x/torn").exists(), "and dropped");
        assert_eq!(d.usage().objects, keys.len() as u64, "its usage released");
        assert_eq!(d.stat("x/whole").unwrap(), Some(data.len() as u64));
        assert_eq!(attribute(&p.join("x/whole")).len(), 4, "checked whole after a reboot: settled as synced");
        assert_eq!(d.read("x/read", u64::MAX).unwrap().as_deref(), Some(&data[..]), "a get checks it too");
        assert_eq!(attribute(&p.join("x/read")).len(), 4);
        assert_eq!(d.read("x/old-form", u64::MAX).unwrap().as_deref(), Some(&data[..]));
        assert_eq!(attribute(&p.join("x/old-form")).len(), 5, "an unknown boot is never settled: it may be this one's");
        assert_eq!(d.read_range("x/ranged", 0, 10, u64::MAX).unwrap(), None, "a ranged read checks the whole object first");
        assert!(!d.remove("x/torn-removed").unwrap(), "a torn object did not exist, for remove too");
        d.write("x/replaced", b"new").unwrap();
        assert_eq!(d.stat("x/replaced").unwrap(), Some(3));
        assert_eq!(d.suspects(), 2, "x/removed and x/cold are left");
        drop(d);
        assert_eq!(std::fs::read(p.join(LIST_FILE)).unwrap().len(), 16, "what is left is written back at close");

        // A later open in this boot loads the list instead of scanning.
        from_earlier_boot(&p.join("x/replaced"), 21);
        let d = ObjectDir::open_with(p, &opts).unwrap();
        assert_eq!(d.suspects(), 2, "x/replaced is not re-read: the scan was skipped");
        assert!(d.remove("x/removed").unwrap());
        assert_eq!(d.stat("x/cold").unwrap(), Some(data.len() as u64));
        assert_eq!(d.suspects(), 0);
        drop(d);
        assert!(!p.join(LIST_FILE).exists(), "none left: no list");

        // The next reboot finds the aged x/replaced, and a list without its boot record counts for nothing.
        reboot(p);
        std::fs::write(p.join(LIST_FILE), [0u8; 8]).unwrap();
        let d = ObjectDir::open_with(p, &opts).unwrap();
        assert_eq!(d.suspects(), 1);
        assert!(d.stat("x/replaced").unwrap().is_some());
        drop(d);
        assert!(!scan_needed_now(p));
        std::fs::create_dir(p.join(LIST_FILE)).unwrap();
        assert!(scan_needed_now(p), "a list that cannot be read whole means a scan, not 'none left'");
    }

    fn scan_needed_now(p: &Path) -> bool {
        recorded(&TenantRoot::open(p).unwrap()).is_none()
    }

    #[test]
    fn synced_objects_and_checksumless_tenants_have_no_suspects() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let p = tmp.path();
        let summed = DirOptions { checksums: true, ..DirOptions::default() };
        ObjectDir::open_with(p, &summed).unwrap().write("x/synced", &pattern(5000)).unwrap();
        assert_eq!(attribute(&p.join("x/synced")).len(), 4);
        reboot(p);
        let d = ObjectDir::open_with(p, &summed).unwrap();
        assert_eq!(d.suspects(), 0);
        assert!(!scan_needed_now(p) && !p.join(LIST_FILE).exists(), "scanned once, nothing found: recorded, no list");

        let plain = tempfile::tempdir_in("/var/tmp").unwrap();
        ObjectDir::open_with(plain.path(), &DirOptions::default()).unwrap().write("x/o", b"abc").unwrap();
        drop(ObjectDir::open_with(plain.path(), &DirOptions::default()).unwrap());
        assert!(!plain.path().join(BOOT_FILE).exists(), "no checksums, no scan, no record");
    }

    /// What the attribute reads cost at open after a reboot:
    /// `cargo test --release -p kvbox-core open_scan_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a benchmark: prints figures"]
    fn open_scan_cost() {
        use std::time::Instant;
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let (p, opts) = (tmp.path(), DirOptions { durable: false, direct_io: false, ..DirOptions::default() });
        let n = 20_000;
        let d = ObjectDir::open_with(p, &opts).unwrap();
        for i in 0..n {
            d.write(&format!("{:02x}/{i}", i % 256), b"x").unwrap();
        }
        drop(d);
        // Cold: what a real reboot leaves (no dentry, inode or page cached); needs root.
        let drop_caches = || std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
        for (round, cold) in [(0, false), (1, false), (2, true), (3, true)] {
            let open_ms = |scan: bool| {
                if scan {
                    reboot(p);
                }
                if cold && !drop_caches() {
                    return f64::NAN;
                }
                let t = Instant::now();
                drop(ObjectDir::open_with(p, &opts).unwrap());
                t.elapsed().as_secs_f64() * 1e3
            };
            let (scanning, recorded) = (open_ms(true), open_ms(false));
            println!(
                "round {round} ({}): open of {n} objects {scanning:.1} ms reading attributes, {recorded:.1} ms with the boot recorded ({:.2} µs per object more)",
                if cold { "cold caches" } else { "warm" },
                (scanning - recorded) * 1e3 / n as f64
            );
        }
    }
}
