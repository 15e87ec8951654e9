//! One object per file under the tenant root: atomic, durable writes and
//! whole-object reads, with O_DIRECT where the filesystem takes it.
//!
//! A write goes to a uniquely named temporary file (`.kvbox-tmp-…`, never
//! listed, never a valid object path) in the object's own directory, is
//! synced, renamed over the object and the directory is synced: readers see
//! the old bytes or the new, never a mix, and a crash leaves at most a
//! temporary file behind, which the next open sweeps (see [`super::usage`]).
//!
//! One open `ObjectDir` owns its directory: it holds an exclusive `flock` on
//! it until it is dropped (when the tenant's last call finished, see
//! [`crate::tenant`]), so quotas are exact and the sweep never removes a live
//! writer's temporary file. A second open, in this process or
//! another, fails with `Busy`.
//!
//! Directories a write needs are made within the tenant's directory quota
//! and depth limit ([`super::dirs`]); the byte loops, O_DIRECT or not, are
//! in [`super::direct`].
//!
//! With checksums on, each object carries its CRC-32C in the extended
//! attribute `user.kvbox.crc32c`, set before the rename; every read of an
//! object that carries one verifies it and reports `Corrupt` on mismatch.
//!
//! `durable: false` (pure caches) writes through the **page cache** with no
//! sync at all — what LMCache's own filesystem connector does — and keeps
//! "never torn" with the checksum as a guard: an object a crash tore reads
//! as a miss and is dropped (see [`super::checksum`]), and `exists`/`size`
//! check the objects a reboot may have torn before reporting them (see
//! [`super::suspects`]). Where the filesystem
//! has no user extended attributes (no guard), such puts fall back to
//! O_DIRECT.

use super::checksum::{Verdict, check_crc, check_file, make_marker, reads_verify, store_crc, store_error};
use super::direct::{
    read_at_into, read_at_into_from, read_buffered, read_cache_first, read_cache_first_into, read_direct, read_direct_into,
    read_range_direct, regular_size, write_all_at, write_direct,
};
use super::options::{DirOptions, check_depth};
use super::probe::dio_alignment_cached;
use super::root::{Shown, TenantRoot, check_path, split_parent};
use super::suspects::{Suspects, can_scan, recorded};
use super::usage::{Accounts, Usage, scan};
use crate::{Error, Result};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How a tenant directory is written and read.
#[derive(Debug)]
pub struct ObjectDir {
    /// Its descriptor holds the tenant's exclusive `flock` for as long as this lives.
    root: TenantRoot,
    /// O_DIRECT alignment (memory and offset), or `None` for buffered I/O.
    direct_align: Option<usize>,
    pub(super) durable: bool,
    checksums: bool,
    /// Whether reads look for a stored checksum (see [`super::checksum`]);
    /// turned on by the first guarded page-cache write.
    verify: AtomicBool,
    /// `durable: false` puts go through the page cache (guarded); off when
    /// the filesystem cannot store the guard.
    page_cache: AtomicBool,
    pub(super) max_depth: u32,
    pub(super) accounts: Accounts,
    /// Unsynced objects of earlier boots, not yet checked.
    suspects: Suspects,
}

impl ObjectDir {
    /// Opens the tenant directory with default options (O_DIRECT, durable).
    pub fn open(path: &Path, direct_io: bool, durable: bool) -> Result<Self> {
        Self::open_with(path, &DirOptions { direct_io, durable, ..DirOptions::default() })
    }

    /// Opens (creating if needed) and locks the tenant directory, measures
    /// its usage and sweeps stale temporary files. With `direct_io`,
    /// O_DIRECT is used when `statx` reports direct-I/O support (alignment
    /// = max(4096, reported), since ext4 serializes sub-block direct I/O);
    /// otherwise buffered I/O.
    pub fn open_with(path: &Path, options: &DirOptions) -> Result<Self> {
        let root = TenantRoot::open(path)?;
        if !options.durable {
            root.forget_unsynced();
        }
        // On the root's own open file description: released when it closes.
        match rustix::fs::flock(root.fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                return Err(Error::Busy(format!(
                    "the tenant directory {} is in use by another open connector (close it first)",
                    path.display()
                )));
            }
            Err(e) => return Err(Error::os(&format!("locking {}", path.display()), e.into())),
        }
        let verify = reads_verify(&root, options.checksums)?;
        // Suspects only where checksums are stored; from this boot's record, else found by the scan.
        let known = if verify { recorded(&root) } else { Some(Vec::new()) };
        let find_suspects = known.is_none() && can_scan();
        let found = scan(&root, find_suspects)?;
        let suspects = Suspects::at_open(known, find_suspects.then_some(found.suspects), &root);
        let direct_align = if options.direct_io { dio_alignment_cached(&root) } else { None };
        Ok(Self {
            root,
            direct_align,
            durable: options.durable,
            checksums: options.checksums,
            verify: AtomicBool::new(verify),
            page_cache: AtomicBool::new(!options.durable),
            max_depth: options.max_depth,
            accounts: Accounts::new(found.usage, options),
            suspects,
        })
    }

    /// What the tenant stores now.
    pub fn usage(&self) -> Usage {
        self.accounts.usage()
    }

    /// Puts refused by a quota so far.
    pub fn quota_rejections(&self) -> u64 {
        self.accounts.rejections()
    }

    /// The O_DIRECT alignment in use, or `None` when buffered.
    pub fn direct_alignment(&self) -> Option<usize> {
        self.direct_align
    }

    /// Whether reads look for stored checksums (the tenant has stored some).
    pub fn verifies(&self) -> bool {
        self.verify.load(Ordering::Relaxed)
    }

    /// Objects a reboot may have torn that are not checked yet.
    pub fn suspects(&self) -> usize {
        self.suspects.len()
    }

    /// `path` is no longer a suspect.
    fn settled(&self, path: &str) {
        self.suspects.settle(path);
    }

    /// Checks the suspect at `path` whole: its size, or `None` when it was
    /// torn (then dropped) or is gone. It stays a suspect if that fails.
    fn check_suspect(&self, path: &str) -> Result<Option<u64>> {
        let (parent, name) = split_parent(path);
        let gone = || {
            self.settled(path);
            Ok(None)
        };
        let Some(dir) = self.root.dir(parent)? else {
            return gone();
        };
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&*dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) | Err(Errno::ISDIR) => return gone(),
            Err(e) => return Err(Error::os(&format!("checking {:?}", Shown(path)), e.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::os(&format!("checking {:?}", Shown(path)), e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return gone();
        }
        match check_file(&fd, path)? {
            Verdict::Sound => {
                self.settled(path);
                Ok(Some(st.st_size as u64))
            }
            Verdict::Torn => self.drop_torn(path, &fd).map(|()| None),
        }
    }

    /// The tenant root.
    pub fn root(&self) -> &TenantRoot {
        &self.root
    }

    /// Atomically (and, when durable, durably) replaces `path` with `data`.
    /// A put that would go over a quota, or deeper than `max_depth`, fails
    /// (`Quota`, `InvalidPath`) and writes nothing, not even a directory.
    pub fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        check_path(path, false)?;
        check_depth(path, self.max_depth)?;
        let (parent, name) = split_parent(path);
        let _serial = self.accounts.lock_path(path);
        // Writes resolve the directory afresh (and refresh the cache reads
        // use), so a directory swapped behind kvbox's back is refused here
        // and dropped from the cache.
        let existing = self.root.reopen_dir(parent)?;
        let old = match &existing {
            Some(dir) => regular_size_at(dir, name)?,
            None => None,
        };
        let reservation = self.accounts.reserve(old, data.len() as u64)?;
        let dir = match existing {
            Some(dir) => dir,
            None => self.root.remember(parent, self.make_dirs(parent)?),
        };
        let tmp = temp_name();
        let placed = self.write_temp(&dir, &tmp, data).and_then(|()| {
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name)
                .map_err(|e| Error::os(&format!("renaming into {:?}", Shown(path)), e.into()))
        });
        if let Err(e) = placed {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
            return Err(e);
        }
        // The object is in place: counted from now on, whether or not the
        // syncs below succeed (a failed one fails the put, not the count).
        reservation.commit();
        self.settled(path);
        if self.durable {
            rustix::fs::fsync(&dir).map_err(|e| Error::os(&format!("syncing the directory of {:?}", Shown(path)), e.into()))?;
            // Directories made for this write or another, or at open: their entries too.
            self.root.sync_parents()?;
        }
        Ok(())
    }

    fn write_temp(&self, dir: &OwnedFd, tmp: &str, data: &[u8]) -> Result<()> {
        let base = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o644);
        if !self.durable && self.page_cache.load(Ordering::Relaxed) {
            return self.write_cached(rustix::fs::openat(dir, tmp, base, mode), data);
        }
        let direct = match self.direct_align {
            Some(align) => match rustix::fs::openat(dir, tmp, base | OFlags::DIRECT, mode) {
                Ok(fd) => Some((fd, align)),
                // The filesystem refused O_DIRECT for this file: fall back.
                Err(Errno::INVAL) => None,
                Err(e) => return Err(Error::os("creating a temporary file", e.into())),
            },
            None => None,
        };
        let fd = match direct {
            Some((fd, align)) => {
                write_direct(&fd, data, align)?;
                fd
            }
            None => {
                let fd = rustix::fs::openat(dir, tmp, base, mode).map_err(|e| Error::os("creating a temporary file", e.into()))?;
                write_all_at(&fd, data, 0)?;
                fd
            }
        };
        if self.checksums {
            store_crc(&fd, data, false).map_err(store_error)?;
        }
        if self.durable {
            rustix::fs::fdatasync(&fd).map_err(|e| Error::os("syncing an object", e.into()))?;
        }
        Ok(())
    }

    /// A `durable: false` write: buffered into the page cache, no sync,
    /// guarded by an unsynced checksum so a crash cannot leave a torn
    /// object that reads as whole.
    fn write_cached(&self, created: std::result::Result<OwnedFd, Errno>, data: &[u8]) -> Result<()> {
        if !self.verify.load(Ordering::Relaxed) {
            make_marker(&self.root)?;
            self.verify.store(true, Ordering::Relaxed);
        }
        let fd = created.map_err(|e| Error::os("creating a temporary file", e.into()))?;
        write_all_at(&fd, data, 0)?;
        match store_crc(&fd, data, true) {
            Ok(()) => Ok(()),
            Err(Errno::NOTSUP) => {
                // No user extended attributes here, so no guard: sync this
                // object, and write the next ones O_DIRECT.
                self.page_cache.store(false, Ordering::Relaxed);
                rustix::fs::fdatasync(&fd).map_err(|e| Error::os("syncing an object", e.into()))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Drops the object at `path` that a read through `fd` found torn —
    /// unless it was replaced or removed meanwhile (then it is not ours).
    /// The path stops being a suspect only once the torn file is gone.
    fn drop_torn(&self, path: &str, fd: &OwnedFd) -> Result<()> {
        let (parent, name) = split_parent(path);
        let _serial = self.accounts.lock_path(path);
        let (Some(dir), Ok(ours)) = (self.root.dir(parent)?, rustix::fs::fstat(fd)) else {
            self.settled(path);
            return Ok(());
        };
        if let Ok(st) = rustix::fs::statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW)
            && (st.st_ino, st.st_dev) == (ours.st_ino, ours.st_dev)
        {
            rustix::fs::unlinkat(&*dir, name, AtFlags::empty())
                .map_err(|e| Error::os(&format!("dropping the torn object {:?}", Shown(path)), e.into()))?;
            self.accounts.removed(st.st_size as u64);
        }
        self.settled(path);
        Ok(())
    }

    /// Whether the bytes just read through `fd` are a torn object's (then
    /// dropped: the read is a miss); `Corrupt` for a synced one that fails.
    fn torn(&self, path: &str, fd: &OwnedFd, bytes: &[u8]) -> Result<bool> {
        if !self.verify.load(Ordering::Relaxed) {
            return Ok(false);
        }
        if check_crc(fd, path, bytes)? == Verdict::Sound {
            self.settled(path);
            return Ok(false);
        }
        self.drop_torn(path, fd)?;
        Ok(true)
    }

    /// Opens the object at `path` for reading: with O_DIRECT (and its
    /// alignment) where possible — or, for a tenant whose puts go through
    /// the page cache, ready to read from there first; `None` when there is
    /// no such object.
    fn open_for_read(&self, path: &str) -> Result<Option<(OwnedFd, ReadMode)>> {
        check_path(path, false)?;
        // NONBLOCK: a FIFO planted in the tree opens at once (and is then
        // refused as not a regular file) instead of blocking the thread.
        let flags = OFlags::RDONLY | OFlags::NONBLOCK;
        let (parent, name) = split_parent(path);
        let Some(dir) = self.root.dir(parent)? else {
            return Ok(None);
        };
        // One name from a directory opened beneath the root; never a link.
        let open = |flags: OFlags| rustix::fs::openat(&*dir, name, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty());
        let cache_first = !self.durable && self.page_cache.load(Ordering::Relaxed);
        if let Some(align) = self.direct_align.filter(|_| !cache_first) {
            match open(flags | OFlags::DIRECT) {
                Ok(fd) => return Ok(Some((fd, ReadMode::Direct(align)))),
                Err(Errno::NOENT) | Err(Errno::ISDIR) => return Ok(None),
                Err(Errno::INVAL) => {} // no O_DIRECT for this file: buffered below
                Err(e) => return Err(Error::os(&format!("reading {:?}", Shown(path)), e.into())),
            }
        }
        let mode = match self.direct_align {
            Some(align) if cache_first => ReadMode::CacheFirst(align),
            _ => ReadMode::Buffered,
        };
        match open(flags) {
            Ok(fd) => Ok(Some((fd, mode))),
            Err(Errno::NOENT) | Err(Errno::ISDIR) => Ok(None),
            Err(e) => Err(Error::os(&format!("reading {:?}", Shown(path)), e.into())),
        }
    }

    /// The whole object at `path`, or `None` when there is none; an object
    /// over `max_bytes` is refused with `TooLarge` before it is read.
    pub fn read(&self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        let Some((fd, mode)) = self.open_for_read(path)? else {
            return Ok(None);
        };
        let too_large = |size: usize| Error::TooLarge(format!("object {:?} of {size} bytes exceeds the limit of {max_bytes}", Shown(path)));
        let got = match mode {
            ReadMode::Direct(align) => read_direct(&fd, align, max_bytes),
            ReadMode::CacheFirst(align) => read_cache_first(&fd, align, max_bytes),
            ReadMode::Buffered => read_buffered(&fd, max_bytes),
        };
        let Some(bytes) = got.map_err(|e| e.into_error(&format!("reading {:?}", Shown(path)), too_large))? else {
            return Ok(None);
        };
        if self.torn(path, &fd, &bytes)? {
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Reads the object at `path` into the start of `dst`; its size, or
    /// `None` when there is none. No allocation, and no byte of `dst` past
    /// the object's size is written (see [`super::direct`]). An object
    /// larger than `dst` is refused with `TooLarge`.
    pub fn read_into(&self, path: &str, dst: &mut [u8], max_bytes: u64) -> Result<Option<u64>> {
        let Some((fd, mode)) = self.open_for_read(path)? else {
            return Ok(None);
        };
        let what = || format!("reading {:?}", Shown(path));
        let too_large = |size: usize| Error::TooLarge(format!("object {:?} of {size} bytes exceeds the limit of {max_bytes}", Shown(path)));
        let Some(size) = regular_size(&fd, max_bytes).map_err(|e| e.into_error(&what(), too_large))? else {
            return Ok(None);
        };
        if size > dst.len() {
            return Err(Error::TooLarge(format!("object {:?} of {size} bytes does not fit the {}-byte target", Shown(path), dst.len())));
        }
        let filled = match mode {
            ReadMode::Direct(align) => read_direct_into(&fd, align, &mut dst[..], size),
            ReadMode::CacheFirst(align) => read_cache_first_into(&fd, align, &mut dst[..], size),
            ReadMode::Buffered => read_at_into(&fd, &mut dst[..size]),
        }
        .map_err(|e| Error::os(&what(), e.into()))?;
        if self.torn(path, &fd, &dst[..filled])? {
            return Ok(None);
        }
        Ok(Some(filled as u64))
    }

    /// Up to `len` bytes of the object at `path` from byte `offset` (fewer
    /// when the object ends first, none past its end), or `None` when there
    /// is no object. Only the range is read — which is the point: a
    /// connector reads a header without the body — so a stored checksum,
    /// which covers the whole object, is not verified here (unless the
    /// object is a suspect, see [`super::suspects`]). `len` over
    /// `max_bytes` is refused with `TooLarge`.
    pub fn read_range(&self, path: &str, offset: u64, len: u64, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        if len > max_bytes {
            return Err(Error::TooLarge(format!("a range of {len} bytes exceeds the limit of {max_bytes}")));
        }
        if self.suspects.holds(path) && self.check_suspect(path)?.is_none() {
            return Ok(None);
        }
        let Some((fd, mode)) = self.open_for_read(path)? else {
            return Ok(None);
        };
        let what = || format!("reading {:?} from byte {offset}", Shown(path));
        let Some(size) = regular_size(&fd, u64::MAX).map_err(|e| e.into_error(&what(), |_| Error::TooLarge(String::new())))? else {
            return Ok(None);
        };
        let start = offset.min(size as u64) as usize;
        let end = offset.saturating_add(len).min(size as u64) as usize;
        let got = match mode {
            ReadMode::Direct(align) => read_range_direct(&fd, align, start, end),
            ReadMode::CacheFirst(_) | ReadMode::Buffered => {
                let mut out = vec![0u8; end - start];
                read_at_into_from(&fd, &mut out, start as u64).map(|n| {
                    out.truncate(n);
                    out
                })
            }
        };
        got.map(Some).map_err(|e| Error::os(&what(), e.into()))
    }

    /// The size of the object at `path`, or `None` when there is none (or
    /// it was a suspect that turned out torn).
    pub fn stat(&self, path: &str) -> Result<Option<u64>> {
        check_path(path, false)?;
        let (parent, name) = split_parent(path);
        // A suspect is settled only once checked (or its torn file dropped), so asking first never
        // reports a torn one.
        if self.suspects.holds(path) {
            return self.check_suspect(path);
        }
        match self.root.dir(parent)? {
            Some(dir) => regular_size_at(&dir, name),
            None => Ok(None),
        }
    }

    /// Removes the object at `path`; `true` when it existed (a suspect a
    /// reboot tore did not: it is checked first, as by `stat`).
    pub fn remove(&self, path: &str) -> Result<bool> {
        check_path(path, false)?;
        if self.suspects.holds(path) && self.check_suspect(path)?.is_none() {
            return Ok(false);
        }
        let (parent, name) = split_parent(path);
        let Some(dir) = self.root.dir(parent)? else {
            self.settled(path);
            return Ok(false);
        };
        let _serial = self.accounts.lock_path(path);
        let Some(old) = regular_size_at(&dir, name)? else {
            self.settled(path);
            return Ok(false);
        };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => {
                self.accounts.removed(old);
                self.settled(path);
                if self.durable {
                    rustix::fs::fsync(&dir).map_err(|e| Error::os(&format!("syncing the directory of {:?}", Shown(path)), e.into()))?;
                }
                Ok(true)
            }
            Err(Errno::NOENT) | Err(Errno::ISDIR) => Ok(false),
            Err(e) => Err(Error::os(&format!("removing {:?}", Shown(path)), e.into())),
        }
    }
}

impl Drop for ObjectDir {
    /// Writes back the suspects left (the lock is still held here).
    fn drop(&mut self) {
        self.suspects.save(&self.root);
    }
}

/// How an object opened for reading is read.
#[derive(Debug, Clone, Copy)]
enum ReadMode {
    /// Opened with O_DIRECT, this alignment.
    Direct(usize),
    /// Opened buffered; read from the page cache when all of the object is
    /// there (a page-cache put), else switched to O_DIRECT, this alignment.
    CacheFirst(usize),
    /// Buffered.
    Buffered,
}

/// The size of regular file `name` in `dir`; `None` when absent or not a
/// regular file (a directory, a link: never an object).
fn regular_size_at(dir: &OwnedFd, name: &str) -> Result<Option<u64>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => Ok(Some(st.st_size as u64)),
        Ok(_) | Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::os(&format!("stat {name:?}"), e.into())),
    }
}

/// A name no other writer, in this process or another, will pick.
pub(super) fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-tmp-{}-{n}-{nanos:x}", super::root::RESERVED_PREFIX, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::super::aligned::BUF_SIZE;
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 4096) as u8).collect()
    }

    fn both_modes(f: impl Fn(&ObjectDir)) {
        for direct in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            f(&ObjectDir::open(tmp.path(), direct, true).unwrap());
        }
    }

    #[test]
    fn round_trips_unaligned_and_multi_chunk_sizes() {
        both_modes(|d| {
            for len in [0, 1, 511, 4095, 4096, 4097, 1 << 20, BUF_SIZE + 12345] {
                let data = pattern(len);
                d.write("ab/obj", &data).unwrap();
                assert_eq!(d.stat("ab/obj").unwrap(), Some(len as u64));
                assert_eq!(d.read("ab/obj", u64::MAX).unwrap().as_deref(), Some(&data[..]), "len {len}");
            }
        });
    }

    #[test]
    fn refuses_objects_over_the_cap_before_reading() {
        both_modes(|d| {
            d.write("big", &pattern(10_000)).unwrap();
            assert!(matches!(d.read("big", 9_999), Err(Error::TooLarge(_))));
            assert_eq!(d.read("big", 10_000).unwrap().map(|v| v.len()), Some(10_000));
        });
    }

    #[test]
    fn errors_quote_long_paths_shortened() {
        both_modes(|d| {
            let long = ["s".repeat(200), "t".repeat(200), "u".repeat(200), "v".repeat(200), "w.obj".into()].join("/");
            d.write(&long, &pattern(5000)).unwrap();
            let short = |e: Error| {
                let m = e.to_string();
                assert!(m.len() < 300 && m.contains('…') && m.contains(&format!("({} bytes)", long.len())), "{m}");
            };
            short(d.read(&long, 10).unwrap_err());
            short(d.read_into(&long, &mut [0u8; 10], u64::MAX).unwrap_err());
            // An I/O error: a path through the object, as if it were a directory.
            short(d.write(&format!("{long}/x"), b"1").unwrap_err());
        });
    }

    #[test]
    fn absent_objects_are_none_not_errors() {
        both_modes(|d| {
            assert_eq!(d.read("no/such", u64::MAX).unwrap(), None);
            assert_eq!(d.stat("no/such").unwrap(), None);
            assert!(!d.remove("no/such").unwrap());
            d.write("x/y", b"1").unwrap();
            assert_eq!(d.read("x", u64::MAX).unwrap(), None, "a directory is not an object");
            assert_eq!(d.stat("x").unwrap(), None);
            assert!(d.remove("x/y").unwrap());
            assert!(!d.remove("x/y").unwrap());
        });
    }

    #[test]
    fn a_durable_write_syncs_the_directories_open_created() {
        let tmp = tempfile::tempdir().unwrap();
        for durable in [true, false] {
            let d = ObjectDir::open(&tmp.path().join(format!("new-{durable}/tenant")), true, durable).unwrap();
            assert_eq!(d.root().unsynced().len(), if durable { 2 } else { 0 }, "durable: {durable}");
            d.write("ab/cd/k", b"v").unwrap();
            assert!(d.root().unsynced().is_empty(), "durable: {durable}");
            d.write("ab/k", b"v").unwrap();
        }
    }

    #[test]
    fn leaves_no_temporary_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(tmp.path(), true, true).unwrap();
        for i in 0..20 {
            d.write("s/o", &pattern(i * 1000)).unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("s")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("o")]);
    }

    #[test]
    fn rejects_bad_paths_before_touching_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(&tmp.path().join("t"), true, true).unwrap();
        for p in ["../escape", "/abs", "a/../../b", "nul\0", ".kvbox-tmp-x"] {
            assert!(matches!(d.write(p, b"x"), Err(Error::InvalidPath(_))), "{p:?}");
            assert!(matches!(d.read(p, u64::MAX), Err(Error::InvalidPath(_))), "{p:?}");
        }
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "nothing written outside the root");
    }

    #[test]
    fn a_fifo_planted_as_an_object_does_not_block_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let d = ObjectDir::open(tmp.path(), true, true).unwrap();
        std::fs::create_dir(tmp.path().join("p")).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, tmp.path().join("p/fifo"), FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        assert_eq!(d.read("p/fifo", u64::MAX).unwrap(), None);
        assert_eq!(d.stat("p/fifo").unwrap(), None);
    }
}
