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
//! - At open, when the tenant stores checksums and the root's `.kvbox-boot`
//!   does not name this boot, the usage scan also reads each object's
//!   attribute (one `openat` + `fgetxattr` per object, only then) and keeps
//!   the unsynced objects of earlier boots as *suspects*, in memory.
//! - `exists`/`size`/ranged reads of a suspect check it whole first (its
//!   bytes then sit in the page cache for the `get` that usually follows):
//!   torn, it is dropped and reported absent; sound, its attribute is
//!   rewritten as synced. A whole read checks it anyway. Puts and removes
//!   of the path make it no longer a suspect. Listings still name
//!   suspects (a listing is a hint; a `get` of one is checked).
//! - Only when no suspect is left is `.kvbox-boot` written (unsynced: if it
//!   is lost, the next open scans again). Until then every open scans, so a
//!   crash cannot lose the list.
//!
//! Cost: nothing while `.kvbox-boot` names this boot — one `statat`-sized
//! read of it at open, and one relaxed load per `exists`/`size`.

use super::checksum::{boot_id, parse_uuid};
use super::root::TenantRoot;
use rustix::fs::{Mode, OFlags};
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// In the tenant root: the boot whose opens found no suspect.
const BOOT_FILE: &str = ".kvbox-boot";

/// The tenant's suspects; see the module docs.
#[derive(Debug, Default)]
pub struct Suspects {
    paths: Mutex<HashSet<String>>,
    /// Whether `paths` may be non-empty (checked without the lock).
    any: AtomicBool,
}

impl Suspects {
    /// These suspects.
    pub fn new(paths: Vec<String>) -> Self {
        Self { any: AtomicBool::new(!paths.is_empty()), paths: Mutex::new(paths.into_iter().collect()) }
    }

    /// Whether `path` is a suspect.
    pub fn holds(&self, path: &str) -> bool {
        self.any.load(Ordering::Relaxed) && self.lock().contains(path)
    }

    /// How many are left.
    pub fn len(&self) -> usize {
        if self.any.load(Ordering::Relaxed) { self.lock().len() } else { 0 }
    }

    /// Whether none is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `path` is settled (checked, replaced or removed); `true` when it was
    /// the last suspect — then the caller records the boot.
    pub fn settle(&self, path: &str) -> bool {
        if !self.any.load(Ordering::Relaxed) {
            return false;
        }
        let mut paths = self.lock();
        let last = paths.remove(path) && paths.is_empty();
        if paths.is_empty() {
            self.any.store(false, Ordering::Relaxed);
        }
        last
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.paths.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether the open-time scan must look for suspects: the tenant stores
/// checksums (`verifies`), the kernel names its boots, and `.kvbox-boot`
/// does not name this one.
pub fn scan_needed(root: &TenantRoot, verifies: bool) -> bool {
    let Some(boot) = boot_id().filter(|_| verifies) else {
        return false;
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::openat(root.fd(), BOOT_FILE, flags, Mode::empty()) else {
        return true;
    };
    let mut text = [0u8; 64];
    let Ok(n) = rustix::io::read(&fd, &mut text) else {
        return true;
    };
    std::str::from_utf8(&text[..n]).ok().and_then(|t| parse_uuid(t.trim())) != Some(boot)
}

/// Records in the root that this boot's opens need not scan for suspects.
/// Best effort, unsynced: a lost or torn record only costs a scan.
pub fn record_boot(root: &TenantRoot) {
    let Some(boot) = boot_id() else {
        return;
    };
    let text: String = boot.iter().map(|b| format!("{b:02x}")).collect();
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if let Ok(fd) = rustix::fs::openat(root.fd(), BOOT_FILE, flags, Mode::from_raw_mode(0o644)) {
        let _ = rustix::io::write(&fd, format!("{text}\n").as_bytes());
    }
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

    #[test]
    fn after_a_reboot_exists_and_size_check_unsynced_objects_before_reporting_them() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let (p, opts) = (tmp.path(), DirOptions { durable: false, ..DirOptions::default() });
        let data = pattern(300_000);
        let keys = ["x/torn", "x/whole", "x/old-form", "x/replaced", "x/removed", "x/ranged"];
        {
            let d = ObjectDir::open_with(p, &opts).unwrap();
            for key in keys {
                d.write(key, &data).unwrap();
            }
            assert_eq!(d.suspects(), 0, "written in this boot: nothing to suspect");
        }
        assert!(!p.join(BOOT_FILE).exists(), "no checksums when that open scanned: nothing recorded");
        for key in keys {
            from_earlier_boot(&p.join(key), if key == "x/old-form" { 5 } else { 21 });
        }
        let _ = std::fs::remove_file(p.join(BOOT_FILE));
        tear(&p.join("x/torn"), 4096);
        tear(&p.join("x/ranged"), 100);

        let d = ObjectDir::open_with(p, &opts).unwrap();
        assert_eq!(d.suspects(), keys.len());
        assert!(!p.join(BOOT_FILE).exists(), "not recorded while suspects are left");
        assert_eq!(d.usage().objects, keys.len() as u64);
        assert_eq!(d.stat("x/torn").unwrap(), None, "torn: absent, without a get first");
        assert!(!p.join("x/torn").exists(), "and dropped");
        assert_eq!(d.usage().objects, keys.len() as u64 - 1, "its usage released");
        assert_eq!(d.stat("x/whole").unwrap(), Some(data.len() as u64));
        assert_eq!(attribute(&p.join("x/whole")).len(), 4, "checked whole after a reboot: settled as synced");
        assert_eq!(d.read("x/old-form", u64::MAX).unwrap().as_deref(), Some(&data[..]), "a get checks it too");
        assert_eq!(attribute(&p.join("x/old-form")).len(), 4);
        assert_eq!(d.read_range("x/ranged", 0, 10, u64::MAX).unwrap(), None, "a ranged read checks the whole object first");
        d.write("x/replaced", b"new").unwrap();
        assert_eq!(d.stat("x/replaced").unwrap(), Some(3));
        assert_eq!(d.suspects(), 1, "only x/removed is left");
        drop(d);

        // Unsettled suspects survive a reopen (the boot is not recorded yet).
        let d = ObjectDir::open_with(p, &opts).unwrap();
        assert_eq!(d.suspects(), 1);
        assert!(d.remove("x/removed").unwrap());
        assert_eq!(d.suspects(), 0);
        assert!(p.join(BOOT_FILE).exists(), "the boot is recorded once the last suspect is settled");
        drop(d);

        // Recorded: opens in this boot no longer read attributes.
        from_earlier_boot(&p.join("x/replaced"), 21);
        let d = ObjectDir::open_with(p, &opts).unwrap();
        assert_eq!(d.suspects(), 0, "the scan was skipped");
        assert_eq!(d.usage().objects, 3);
    }

    #[test]
    fn synced_objects_and_checksumless_tenants_have_no_suspects() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let p = tmp.path();
        let summed = DirOptions { checksums: true, ..DirOptions::default() };
        ObjectDir::open_with(p, &summed).unwrap().write("x/synced", &pattern(5000)).unwrap();
        assert_eq!(attribute(&p.join("x/synced")).len(), 4);
        let _ = std::fs::remove_file(p.join(BOOT_FILE));
        let d = ObjectDir::open_with(p, &summed).unwrap();
        assert_eq!(d.suspects(), 0);
        assert!(p.join(BOOT_FILE).exists(), "scanned once, nothing found: recorded");

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
        for round in 0..3 {
            let _ = std::fs::remove_file(p.join(BOOT_FILE));
            let t = Instant::now();
            drop(ObjectDir::open_with(p, &opts).unwrap());
            let scanning = t.elapsed();
            let t = Instant::now();
            drop(ObjectDir::open_with(p, &opts).unwrap());
            let recorded = t.elapsed();
            println!(
                "round {round}: open of {n} objects {:.1} ms reading attributes, {:.1} ms with the boot recorded ({:.2} µs per object more)",
                scanning.as_secs_f64() * 1e3,
                recorded.as_secs_f64() * 1e3,
                (scanning.as_secs_f64() - recorded.as_secs_f64()) * 1e6 / n as f64
            );
        }
    }
}
