//! What a tenant stores (bytes, objects, directories), the quotas on it,
//! and the scan at open that measures it and sweeps temporary files left
//! by a crash.
//!
//! Exactness: every write and remove goes through [`Accounts`], serialized
//! per path ([`super::path_lock`]) whether quotas are set or not, so "old
//! size → new size" is known exactly and a put that would go over is
//! refused before a byte (or a directory) is written.
//!
//! A quota below the usage (a store reopened with a smaller one) refuses
//! growth only: shrinking, same-size overwrites and removals still work.

use super::checksum::guard;
use super::options::DirOptions;
use super::path_lock::{PathGuard, PathLocks};
use super::root::{RESERVED_PREFIX, TenantRoot};
use super::walk::{Entry, Walk};
use crate::{Error, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes, objects and directories stored by a tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sum of the sizes of the tenant's objects.
    pub bytes: u64,
    /// Number of objects (regular files outside the host's reserved names).
    pub objects: u64,
    /// Number of directories beneath the root.
    pub directories: u64,
}

/// The tenant's running usage and its quotas.
#[derive(Debug)]
pub struct Accounts {
    bytes: AtomicU64,
    objects: AtomicU64,
    directories: AtomicU64,
    max_bytes: Option<u64>,
    max_objects: Option<u64>,
    max_dirs: Option<u64>,
    rejections: AtomicU64,
    paths: PathLocks,
}

impl Accounts {
    /// Accounts starting from `usage`, with the quotas of `options`.
    pub fn new(usage: Usage, options: &DirOptions) -> Self {
        Self {
            bytes: AtomicU64::new(usage.bytes),
            objects: AtomicU64::new(usage.objects),
            directories: AtomicU64::new(usage.directories),
            max_bytes: options.max_bytes,
            max_objects: options.max_objects,
            max_dirs: options.max_dirs,
            rejections: AtomicU64::new(0),
            paths: PathLocks::default(),
        }
    }

    /// The usage now.
    pub fn usage(&self) -> Usage {
        let load = |c: &AtomicU64| c.load(Ordering::Acquire);
        Usage { bytes: load(&self.bytes), objects: load(&self.objects), directories: load(&self.directories) }
    }

    /// Puts refused by a quota so far.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    /// Serializes writes and removes of `path`.
    pub fn lock_path(&self, path: &str) -> PathGuard<'_> {
        self.paths.lock(path)
    }

    /// Counts a refusal of growth by `n` over `quota` (counting `unit`),
    /// with a message giving the quota and the usage (which may already be
    /// over it, for a store reopened with a smaller quota).
    fn refuse(&self, put: String, n: u64, now: u64, max: Option<u64>, (quota, unit): (&str, &str)) -> Error {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        let max = max.unwrap_or(u64::MAX);
        let total = if unit == "bytes" { "bytes stored" } else { unit };
        // "holds 1 directory", "holds 2 directories"
        let held = match (now, unit) {
            (1, "directories") => "directory",
            (1, u) => u.trim_end_matches('s'),
            (_, u) => u,
        };
        Error::Quota(format!(
            "{put} would make {} {total}, over the quota of {max} ({quota}); nothing was written (the tenant holds {now} {held})",
            now.saturating_add(n)
        ))
    }

    /// Reserves room for replacing an object of `old` bytes (`None`: new
    /// object) with one of `new` bytes, or refuses with `Quota`. The
    /// reservation is undone on drop unless [`Reservation::commit`]ted.
    pub fn reserve(&self, old: Option<u64>, new: u64) -> Result<Reservation<'_>> {
        let add_objects = u64::from(old.is_none());
        let grow = new.saturating_sub(old.unwrap_or(0));
        let shrink = old.unwrap_or(0).saturating_sub(new);
        if let Err(now) = bounded_add(&self.objects, add_objects, self.max_objects) {
            return Err(self.refuse("a new object".into(), add_objects, now, self.max_objects, ("quota.objects", "objects")));
        }
        if let Err(now) = bounded_add(&self.bytes, grow, self.max_bytes) {
            self.objects.fetch_sub(add_objects, Ordering::AcqRel);
            return Err(self.refuse(format!("a put of {new} bytes"), grow, now, self.max_bytes, ("quota.bytes", "bytes")));
        }
        Ok(Reservation { accounts: self, add_objects, grow, shrink, committed: false })
    }

    /// Reserves `n` new directories (for one object's path), or refuses with
    /// `Quota`; what is not [`DirReservation::made_one`] is given back on drop.
    pub fn reserve_dirs(&self, n: u64) -> Result<DirReservation<'_>> {
        if let Err(now) = bounded_add(&self.directories, n, self.max_dirs) {
            return Err(self.refuse(
                format!("a put needing {n} new director{}", if n == 1 { "y" } else { "ies" }),
                n,
                now,
                self.max_dirs,
                ("quota.directories", "directories"),
            ));
        }
        Ok(DirReservation { accounts: self, unused: n })
    }

    /// Records the removal of an object of `size` bytes.
    pub fn removed(&self, size: u64) {
        self.bytes.fetch_sub(size, Ordering::AcqRel);
        self.objects.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Adds `n` to `counter` unless that would pass `max`; `Err` carries the
/// value seen. Adding nothing always succeeds, even above `max`.
fn bounded_add(counter: &AtomicU64, n: u64, max: Option<u64>) -> std::result::Result<u64, u64> {
    let max = if n == 0 { u64::MAX } else { max.unwrap_or(u64::MAX) };
    counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_add(n).filter(|&sum| sum <= max))
}

/// Room reserved for one write; see [`Accounts::reserve`].
#[must_use]
pub struct Reservation<'a> {
    accounts: &'a Accounts,
    add_objects: u64,
    grow: u64,
    shrink: u64,
    committed: bool,
}

impl Reservation<'_> {
    /// The write happened: keep the reservation, release what the old object held.
    pub fn commit(mut self) {
        self.accounts.bytes.fetch_sub(self.shrink, Ordering::AcqRel);
        self.committed = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.accounts.bytes.fetch_sub(self.grow, Ordering::AcqRel);
            self.accounts.objects.fetch_sub(self.add_objects, Ordering::AcqRel);
        }
    }
}

/// Directories reserved by [`Accounts::reserve_dirs`].
#[must_use]
pub struct DirReservation<'a> {
    accounts: &'a Accounts,
    unused: u64,
}

impl DirReservation<'_> {
    /// One reserved directory was made (the others, found made by a
    /// concurrent put or never reached, are given back on drop).
    pub fn made_one(&mut self) {
        self.unused -= 1;
    }
}

impl Drop for DirReservation<'_> {
    fn drop(&mut self) {
        self.accounts.directories.fetch_sub(self.unused, Ordering::AcqRel);
    }
}

/// What [`scan`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The tenant's usage.
    pub usage: Usage,
    /// Temporary files removed (left by writers that died mid-put).
    pub swept: u64,
    /// Objects a reboot may have torn, by [`super::suspects::id`], when
    /// asked for.
    pub suspects: Vec<u64>,
}

/// Measures the tenant's usage and removes stale temporary files; with
/// `find_suspects`, also lists the unsynced objects of earlier boots.
///
/// Must run only while this process holds the root's lock: then every
/// `.kvbox-tmp-…` file belongs to a writer that is gone. One [`Walk`]:
/// time linear in the entries, at most `walk::MAX_HELD` descriptors.
pub fn scan(root: &TenantRoot, find_suspects: bool) -> Result<Scan> {
    let mut out = Scan::default();
    let stale = format!("{RESERVED_PREFIX}-tmp-");
    let read = |dir: std::os::fd::BorrowedFd<'_>, name: &str, _| {
        let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if name.starts_with(RESERVED_PREFIX) {
            // Host files: stale temporaries are removed, anything else left alone.
            let removed =
                kind == FileType::RegularFile && name.starts_with(&stale) && rustix::fs::unlinkat(dir, name, AtFlags::empty()).is_ok();
            out.swept += u64::from(removed);
            return None;
        }
        let marked = find_suspects && kind == FileType::RegularFile && suspect(dir, name);
        Some(Entry { name: name.to_string(), kind, size: st.st_size as u64, marked })
    };
    let mut usage = Usage::default();
    let mut suspects = Vec::new();
    if let Some(mut walk) = Walk::new(root, "", &[], read)? {
        walk.run(|path, entry| {
            match entry.kind {
                FileType::Directory => usage.directories += 1,
                FileType::RegularFile => {
                    usage.bytes += entry.size;
                    usage.objects += 1;
                    if entry.marked {
                        suspects.push(super::suspects::id(path));
                    }
                }
                _ => {} // links, fifos, sockets, devices: never objects
            }
            Ok(true)
        })?;
    }
    out.usage = usage;
    out.suspects = suspects;
    Ok(out)
}

/// Whether object `name` in `dir` was written unsynced in an earlier boot —
/// or could not be classified (it is then checked before it is reported;
/// a malformed attribute is not a suspect: its reads report `Corrupt`).
fn suspect(dir: std::os::fd::BorrowedFd<'_>, name: &str) -> bool {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => match guard(&fd, name) {
            Ok(g) => g.suspect(),
            Err(Error::Corrupt(_)) => false,
            Err(_) => true,
        },
        Err(rustix::io::Errno::NOENT) => false, // removed meanwhile
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::ObjectDir;
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31) as u8).collect()
    }

    #[test]
    fn quotas_refuse_exactly_and_reservations_undo() {
        let quotas = DirOptions { max_bytes: Some(100), max_objects: Some(3), ..DirOptions::default() };
        let a = Accounts::new(Usage { bytes: 90, objects: 2, directories: 0 }, &quotas);
        assert!(matches!(a.reserve(None, 11), Err(Error::Quota(_))), "101 bytes > 100");
        let r = a.reserve(None, 10).unwrap();
        assert_eq!(a.usage(), Usage { bytes: 100, objects: 3, directories: 0 });
        assert!(matches!(a.reserve(None, 0), Err(Error::Quota(_))), "4 objects > 3");
        drop(r);
        assert_eq!(a.usage(), Usage { bytes: 90, objects: 2, directories: 0 }, "an uncommitted reservation is undone");
        a.reserve(Some(40), 45).unwrap().commit();
        assert_eq!(a.usage(), Usage { bytes: 95, objects: 2, directories: 0 }, "an overwrite counts the difference");
        a.reserve(Some(45), 5).unwrap().commit();
        assert_eq!(a.usage(), Usage { bytes: 55, objects: 2, directories: 0 });
        a.removed(5);
        assert_eq!(a.usage(), Usage { bytes: 50, objects: 1, directories: 0 });
        assert_eq!(a.rejections(), 2);
    }

    #[test]
    fn scan_counts_objects_and_sweeps_temporaries_only() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        std::fs::create_dir_all(p.join("a/b")).unwrap();
        std::fs::write(p.join("a/one"), b"12345").unwrap();
        std::fs::write(p.join("a/b/two"), b"123").unwrap();
        std::fs::write(p.join("a/.kvbox-tmp-1-2-3"), b"partial").unwrap();
        std::fs::write(p.join(".kvbox-other"), b"kept").unwrap();
        std::os::unix::fs::symlink("/etc", p.join("a/link")).unwrap();
        let root = TenantRoot::open(p).unwrap();
        let found = scan(&root, true).unwrap();
        assert_eq!(found, Scan { usage: Usage { bytes: 8, objects: 2, directories: 2 }, swept: 1, suspects: vec![] });
        assert!(!p.join("a/.kvbox-tmp-1-2-3").exists());
        assert!(p.join(".kvbox-other").exists());
    }

    #[test]
    fn keeps_exact_usage_and_refuses_puts_over_quota() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = DirOptions { max_bytes: Some(10_000), max_objects: Some(3), ..DirOptions::default() };
        let d = ObjectDir::open_with(tmp.path(), &opts).unwrap();
        d.write("a/1", &pattern(4000)).unwrap();
        d.write("a/2", &pattern(4000)).unwrap();
        assert!(matches!(d.write("a/3", &pattern(2001)), Err(Error::Quota(_))));
        assert_eq!(d.stat("a/3").unwrap(), None, "a refused put writes nothing");
        d.write("a/1", &pattern(6000)).expect("an overwrite counts only the difference");
        assert_eq!(d.usage(), Usage { bytes: 10_000, objects: 2, directories: 1 });
        assert!(d.remove("a/2").unwrap());
        d.write("a/3", &pattern(1)).unwrap();
        d.write("a/4", &pattern(1)).unwrap();
        assert!(matches!(d.write("a/5", &pattern(1)), Err(Error::Quota(_))), "objects quota");
        assert_eq!(d.usage(), Usage { bytes: 6002, objects: 3, directories: 1 });
        drop(d);
        let again = ObjectDir::open_with(tmp.path(), &opts).unwrap();
        assert_eq!(again.usage(), Usage { bytes: 6002, objects: 3, directories: 1 }, "measured again at open");
    }

    #[test]
    fn a_quota_below_usage_still_allows_shrinking_overwrites_and_removals() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(tmp.path(), false, false).unwrap();
        for i in 0..5 {
            d.write(&format!("a/{i}"), &pattern(100)).unwrap();
        }
        drop(d);
        let tight = DirOptions { max_bytes: Some(200), max_objects: Some(3), ..DirOptions::default() };
        let d = ObjectDir::open_with(tmp.path(), &tight).unwrap();
        d.write("a/0", &pattern(100)).expect("a same-size overwrite");
        d.write("a/1", &pattern(10)).expect("a shrinking overwrite");
        let e = d.write("a/9", &pattern(1)).unwrap_err();
        assert!(
            matches!(&e, Error::Quota(m) if m.contains("a new object would make 6 objects, over the quota of 3 (quota.objects); nothing was written (the tenant holds 5 objects)")),
            "{e}"
        );
        let e = d.write("a/2", &pattern(101)).unwrap_err();
        assert!(
            matches!(&e, Error::Quota(m) if m.contains("a put of 101 bytes would make 411 bytes stored, over the quota of 200 (quota.bytes); nothing was written (the tenant holds 410 bytes)")),
            "{e}"
        );
        assert!(d.remove("a/3").unwrap());
        assert_eq!(d.usage(), Usage { bytes: 310, objects: 4, directories: 1 });
        assert_eq!(d.quota_rejections(), 2);
    }

    #[test]
    fn counters_stay_exact_under_concurrent_puts_and_removes_without_a_quota() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = DirOptions { durable: false, direct_io: false, ..DirOptions::default() };
        let d = ObjectDir::open_with(tmp.path(), &opts).unwrap();
        std::thread::scope(|s| {
            for t in 0..4usize {
                let d = &d;
                s.spawn(move || {
                    for i in 0..1500usize {
                        let path = format!("k/{}", (i * 7 + t) % 8);
                        if (i + t) % 3 == 0 {
                            d.remove(&path).unwrap();
                        } else {
                            d.write(&path, &pattern((i * 131 + t * 17) % 3000)).unwrap();
                        }
                    }
                });
            }
        });
        let counted = d.usage();
        drop(d);
        assert_eq!(counted, scan(&TenantRoot::open(tmp.path()).unwrap(), false).unwrap().usage, "counters match a fresh scan");
    }
}
