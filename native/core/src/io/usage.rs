//! What a tenant stores (bytes, objects), the quotas on it, and the scan at
//! open that measures it and sweeps temporary files left by a crash.
//!
//! Exactness: every write and remove goes through [`Accounts`]. With a
//! bytes or objects quota set, operations on one path are serialized by a
//! striped lock, so "old size → new size" is known exactly and a put that
//! would go over is refused before a byte is written. Without a quota the
//! stripes are skipped (no contention on the hot path) and the figures can
//! drift only when two writers race on the very same path.

use super::root::{RESERVED_PREFIX, TenantRoot};
use crate::{Error, Result};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

const STRIPES: usize = 64;

/// Bytes and objects stored by a tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sum of the sizes of the tenant's objects.
    pub bytes: u64,
    /// Number of objects (regular files outside the host's reserved names).
    pub objects: u64,
}

/// The tenant's running usage and its quotas.
#[derive(Debug)]
pub struct Accounts {
    bytes: AtomicU64,
    objects: AtomicU64,
    max_bytes: Option<u64>,
    max_objects: Option<u64>,
    rejections: AtomicU64,
    stripes: Option<Box<[Mutex<()>]>>,
}

impl Accounts {
    /// Accounts starting from `usage`, with the given quotas.
    pub fn new(usage: Usage, max_bytes: Option<u64>, max_objects: Option<u64>) -> Self {
        let exact = max_bytes.is_some() || max_objects.is_some();
        Self {
            bytes: AtomicU64::new(usage.bytes),
            objects: AtomicU64::new(usage.objects),
            max_bytes,
            max_objects,
            rejections: AtomicU64::new(0),
            stripes: exact.then(|| (0..STRIPES).map(|_| Mutex::new(())).collect()),
        }
    }

    /// The usage now.
    pub fn usage(&self) -> Usage {
        Usage { bytes: self.bytes.load(Ordering::Acquire), objects: self.objects.load(Ordering::Acquire) }
    }

    /// Puts refused by a quota so far.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    /// Serializes operations on `path` while quotas are enforced.
    pub fn lock_path(&self, path: &str) -> Option<MutexGuard<'_, ()>> {
        let stripes = self.stripes.as_ref()?;
        let h = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        Some(stripes[(h % STRIPES as u64) as usize].lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reserves room for replacing an object of `old` bytes (`None`: new
    /// object) with one of `new` bytes, or refuses with `Quota`. The
    /// reservation is undone on drop unless [`Reservation::commit`]ted.
    pub fn reserve(&self, path: &str, old: Option<u64>, new: u64) -> Result<Reservation<'_>> {
        let add_objects = u64::from(old.is_none());
        let grow = new.saturating_sub(old.unwrap_or(0));
        let shrink = old.unwrap_or(0).saturating_sub(new);
        if let Err(now) = bounded_add(&self.objects, add_objects, self.max_objects) {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Quota(format!(
                "put of {path:?} would make {} objects, over the quota of {} (quota.objects); nothing was written",
                now + add_objects,
                self.max_objects.unwrap_or(u64::MAX)
            )));
        }
        if let Err(now) = bounded_add(&self.bytes, grow, self.max_bytes) {
            self.objects.fetch_sub(add_objects, Ordering::AcqRel);
            self.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Quota(format!(
                "put of {path:?} ({new} bytes) would make {} bytes stored, over the quota of {} (quota.bytes); nothing was written",
                now + grow,
                self.max_bytes.unwrap_or(0)
            )));
        }
        Ok(Reservation { accounts: self, add_objects, grow, shrink, committed: false })
    }

    /// Records the removal of an object of `size` bytes.
    pub fn removed(&self, size: u64) {
        self.bytes.fetch_sub(size, Ordering::AcqRel);
        self.objects.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Adds `n` to `counter` unless that would pass `max`; `Err` carries the value seen.
fn bounded_add(counter: &AtomicU64, n: u64, max: Option<u64>) -> std::result::Result<u64, u64> {
    let max = max.unwrap_or(u64::MAX);
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

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    /// The tenant's usage.
    pub usage: Usage,
    /// Temporary files removed (left by writers that died mid-put).
    pub swept: u64,
}

/// Measures the tenant's usage and removes stale temporary files.
///
/// Must run only while this process holds the root's lock: then every
/// `.kvbox-tmp-…` file belongs to a writer that is gone. Directories are
/// visited breadth-first, each opened beneath the root without following
/// links, holding one directory descriptor at a time.
pub fn scan(root: &TenantRoot) -> Result<Scan> {
    let mut out = Scan::default();
    let mut queue: VecDeque<String> = VecDeque::from([String::new()]);
    while let Some(rel) = queue.pop_front() {
        let fd = match root.open_beneath(&rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) | Err(Errno::LOOP) | Err(Errno::NOTDIR) => continue,
            Err(e) => return Err(Error::os(&format!("scanning {rel:?}"), e.into())),
        };
        for entry in Dir::read_from(&fd).map_err(|e| Error::os("scanning", e.into()))? {
            let entry = entry.map_err(|e| Error::os("scanning", e.into()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let Ok(st) = rustix::fs::statat(&fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => match std::str::from_utf8(name) {
                    Ok(n) if rel.is_empty() => queue.push_back(n.to_string()),
                    Ok(n) => queue.push_back(format!("{rel}/{n}")),
                    Err(_) => {} // not UTF-8: no object path can name it
                },
                FileType::RegularFile if name.starts_with(RESERVED_PREFIX.as_bytes()) => {
                    // Host files: stale temporaries are removed, anything else left alone.
                    let stale = name.starts_with(format!("{RESERVED_PREFIX}-tmp-").as_bytes());
                    let removed = stale && rustix::fs::unlinkat(&fd, entry.file_name(), AtFlags::empty()).is_ok();
                    out.swept += u64::from(removed);
                }
                FileType::RegularFile => {
                    out.usage.bytes += st.st_size as u64;
                    out.usage.objects += 1;
                }
                _ => {} // links, fifos, sockets, devices: never objects
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_refuse_exactly_and_reservations_undo() {
        let a = Accounts::new(Usage { bytes: 90, objects: 2 }, Some(100), Some(3));
        assert!(matches!(a.reserve("x", None, 11), Err(Error::Quota(_))), "101 bytes > 100");
        let r = a.reserve("x", None, 10).unwrap();
        assert_eq!(a.usage(), Usage { bytes: 100, objects: 3 });
        assert!(matches!(a.reserve("y", None, 0), Err(Error::Quota(_))), "4 objects > 3");
        drop(r);
        assert_eq!(a.usage(), Usage { bytes: 90, objects: 2 }, "an uncommitted reservation is undone");
        a.reserve("x", Some(40), 45).unwrap().commit();
        assert_eq!(a.usage(), Usage { bytes: 95, objects: 2 }, "an overwrite counts the difference");
        a.reserve("x", Some(45), 5).unwrap().commit();
        assert_eq!(a.usage(), Usage { bytes: 55, objects: 2 });
        a.removed(5);
        assert_eq!(a.usage(), Usage { bytes: 50, objects: 1 });
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
        let found = scan(&root).unwrap();
        assert_eq!(found, Scan { usage: Usage { bytes: 8, objects: 2 }, swept: 1 });
        assert!(!p.join("a/.kvbox-tmp-1-2-3").exists());
        assert!(p.join(".kvbox-other").exists());
    }
}
