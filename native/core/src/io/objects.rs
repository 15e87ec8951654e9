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
//! it until [`ObjectDir::release`], so quotas are exact and the sweep never
//! removes a live writer's temporary file. A second open, in this process or
//! another, fails with `Busy`.
//!
//! With checksums on, each object carries its CRC-32C in the extended
//! attribute `user.kvbox.crc32c`, set before the rename; every read of an
//! object that carries one verifies it and reports `Corrupt` on mismatch.

use super::aligned::{BUF_SIZE, BufferPool, round_up};
use super::root::{TenantRoot, check_path, split_parent};
use super::usage::{Accounts, Usage, scan};
use crate::{Error, Result};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, StatxFlags, XattrFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

const CRC_XATTR: &str = "user.kvbox.crc32c";

/// How a tenant directory is to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirOptions {
    /// O_DIRECT where the filesystem supports it.
    pub direct_io: bool,
    /// fdatasync each object and fsync its directory.
    pub durable: bool,
    /// Store a CRC-32C with each object.
    pub checksums: bool,
    /// Quota on bytes stored.
    pub max_bytes: Option<u64>,
    /// Quota on objects stored.
    pub max_objects: Option<u64>,
}

impl Default for DirOptions {
    fn default() -> Self {
        Self { direct_io: true, durable: true, checksums: false, max_bytes: None, max_objects: None }
    }
}

/// How a tenant directory is written and read.
#[derive(Debug)]
pub struct ObjectDir {
    root: TenantRoot,
    /// The descriptor holding the exclusive lock, until released.
    lock: Mutex<Option<OwnedFd>>,
    /// O_DIRECT alignment (memory and offset), or `None` for buffered I/O.
    direct_align: Option<usize>,
    durable: bool,
    checksums: bool,
    accounts: Accounts,
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
        let lock = rustix::fs::openat(root.fd(), ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                return Err(Error::Busy(format!(
                    "the tenant directory {} is in use by another open connector (close it first)",
                    path.display()
                )));
            }
            Err(e) => return Err(Error::os(&format!("locking {}", path.display()), e.into())),
        }
        let found = scan(&root)?;
        let direct_align = if options.direct_io { dio_alignment_cached(&root) } else { None };
        Ok(Self {
            root,
            lock: Mutex::new(Some(lock)),
            direct_align,
            durable: options.durable,
            checksums: options.checksums,
            accounts: Accounts::new(found.usage, options.max_bytes, options.max_objects),
        })
    }

    /// Releases the directory's lock (at close); calls still in flight finish.
    pub fn release(&self) {
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
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

    /// The tenant root.
    pub fn root(&self) -> &TenantRoot {
        &self.root
    }

    /// Atomically (and, when durable, durably) replaces `path` with `data`.
    /// A put that would go over a quota fails with `Quota` and writes nothing.
    pub fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        check_path(path, false)?;
        let (parent, name) = split_parent(path);
        let dir = self.root.dir(parent, true, self.durable)?.expect("created");
        let _serial = self.accounts.lock_path(path);
        let old = regular_size_at(&dir, name)?;
        let reservation = self.accounts.reserve(path, old, data.len() as u64)?;
        let tmp = temp_name();
        let result = self.write_temp(&dir, &tmp, data).and_then(|()| {
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name).map_err(|e| Error::os(&format!("renaming into {path:?}"), e.into()))?;
            if self.durable {
                rustix::fs::fsync(&dir).map_err(|e| Error::os(&format!("syncing the directory of {path:?}"), e.into()))?;
            }
            Ok(())
        });
        match result {
            Ok(()) => reservation.commit(),
            Err(_) => {
                let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
            }
        }
        result
    }

    fn write_temp(&self, dir: &OwnedFd, tmp: &str, data: &[u8]) -> Result<()> {
        let base = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o644);
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
            rustix::fs::fsetxattr(&fd, CRC_XATTR, &crc32c::crc32c(data).to_le_bytes(), XattrFlags::empty())
                .map_err(|e| Error::os("storing the object's checksum (checksums need user extended attributes)", e.into()))?;
        }
        if self.durable {
            rustix::fs::fdatasync(&fd).map_err(|e| Error::os("syncing an object", e.into()))?;
        }
        Ok(())
    }

    /// Opens the object at `path` for reading: with O_DIRECT (and its
    /// alignment) where possible; `None` when there is no such object.
    fn open_for_read(&self, path: &str) -> Result<Option<(OwnedFd, Option<usize>)>> {
        check_path(path, false)?;
        // NONBLOCK: a FIFO planted in the tree opens at once (and is then
        // refused as not a regular file) instead of blocking the thread.
        let flags = OFlags::RDONLY | OFlags::NONBLOCK;
        if let Some(align) = self.direct_align {
            match self.root.open_beneath(path, flags | OFlags::DIRECT, Mode::empty()) {
                Ok(fd) => return Ok(Some((fd, Some(align)))),
                Err(Errno::NOENT) | Err(Errno::ISDIR) => return Ok(None),
                Err(Errno::INVAL) => {} // no O_DIRECT for this file: buffered below
                Err(e) => return Err(Error::os(&format!("reading {path:?}"), e.into())),
            }
        }
        match self.root.open_beneath(path, flags, Mode::empty()) {
            Ok(fd) => Ok(Some((fd, None))),
            Err(Errno::NOENT) | Err(Errno::ISDIR) => Ok(None),
            Err(e) => Err(Error::os(&format!("reading {path:?}"), e.into())),
        }
    }

    /// The whole object at `path`, or `None` when there is none; an object
    /// over `max_bytes` is refused with `TooLarge` before it is read.
    pub fn read(&self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        let Some((fd, direct)) = self.open_for_read(path)? else {
            return Ok(None);
        };
        let too_large = |size: usize| Error::TooLarge(format!("object {path:?} of {size} bytes exceeds the limit of {max_bytes}"));
        let got = match direct {
            Some(align) => read_direct(&fd, align, max_bytes),
            None => read_buffered(&fd, max_bytes),
        };
        let Some(bytes) = got.map_err(|e| e.into_error(&format!("reading {path:?}"), too_large))? else {
            return Ok(None);
        };
        check_crc(&fd, path, &bytes)?;
        Ok(Some(bytes))
    }

    /// Reads the object at `path` into the start of `dst`; its size, or
    /// `None` when there is none. No allocation: with O_DIRECT the device
    /// writes straight into `dst` when it is suitably aligned, else through
    /// a pooled buffer. An object larger than `dst` is refused with `TooLarge`.
    pub fn read_into(&self, path: &str, dst: &mut [u8], max_bytes: u64) -> Result<Option<u64>> {
        let Some((fd, direct)) = self.open_for_read(path)? else {
            return Ok(None);
        };
        let what = || format!("reading {path:?}");
        let too_large = |size: usize| Error::TooLarge(format!("object {path:?} of {size} bytes exceeds the limit of {max_bytes}"));
        let Some(size) = regular_size(&fd, max_bytes).map_err(|e| e.into_error(&what(), too_large))? else {
            return Ok(None);
        };
        if size > dst.len() {
            return Err(Error::TooLarge(format!("object {path:?} of {size} bytes does not fit the {}-byte target", dst.len())));
        }
        let filled = match direct {
            Some(align) => read_direct_into(&fd, align, &mut dst[..], size),
            None => read_at_into(&fd, &mut dst[..size]),
        }
        .map_err(|e| Error::os(&what(), e.into()))?;
        check_crc(&fd, path, &dst[..filled])?;
        Ok(Some(filled as u64))
    }

    /// The size of the object at `path`, or `None` when there is none.
    pub fn stat(&self, path: &str) -> Result<Option<u64>> {
        check_path(path, false)?;
        match self.root.open_beneath(path, OFlags::PATH, Mode::empty()) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).map_err(|e| Error::os(&format!("stat {path:?}"), e.into()))?;
                Ok((FileType::from_raw_mode(st.st_mode) == FileType::RegularFile).then_some(st.st_size as u64))
            }
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::os(&format!("stat {path:?}"), e.into())),
        }
    }

    /// Removes the object at `path`; `true` when it existed.
    pub fn remove(&self, path: &str) -> Result<bool> {
        check_path(path, false)?;
        let (parent, name) = split_parent(path);
        let Some(dir) = self.root.dir(parent, false, false)? else {
            return Ok(false);
        };
        let _serial = self.accounts.lock_path(path);
        let Some(old) = regular_size_at(&dir, name)? else {
            return Ok(false);
        };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => {
                self.accounts.removed(old);
                if self.durable {
                    rustix::fs::fsync(&dir).map_err(|e| Error::os(&format!("syncing the directory of {path:?}"), e.into()))?;
                }
                Ok(true)
            }
            Err(Errno::NOENT) | Err(Errno::ISDIR) => Ok(false),
            Err(e) => Err(Error::os(&format!("removing {path:?}"), e.into())),
        }
    }
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

/// Checks `bytes` against the CRC-32C stored with the object, if it has one.
fn check_crc(fd: &OwnedFd, path: &str, bytes: &[u8]) -> Result<()> {
    let mut stored = [0u8; 4];
    match rustix::fs::fgetxattr(fd, CRC_XATTR, &mut stored) {
        Ok(4) => {
            let (want, have) = (u32::from_le_bytes(stored), crc32c::crc32c(bytes));
            if want != have {
                return Err(Error::Corrupt(format!(
                    "object {path:?} failed its CRC-32C check (stored {want:08x}, read {have:08x}); its bytes were not returned"
                )));
            }
            Ok(())
        }
        Ok(_) => Err(Error::Corrupt(format!("object {path:?} has a malformed checksum attribute"))),
        Err(Errno::NODATA) | Err(Errno::NOTSUP) => Ok(()),
        Err(e) => Err(Error::os(&format!("reading the checksum of {path:?}"), e.into())),
    }
}

/// [`dio_alignment`], remembered per filesystem (device number): opening a
/// tenant then costs no probe file.
fn dio_alignment_cached(root: &TenantRoot) -> Option<usize> {
    static BY_DEVICE: OnceLock<Mutex<HashMap<u64, Option<usize>>>> = OnceLock::new();
    let Ok(st) = rustix::fs::fstat(root.fd()) else {
        return dio_alignment(root);
    };
    let cache = BY_DEVICE.get_or_init(Mutex::default);
    if let Some(&known) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&st.st_dev) {
        return known;
    }
    let found = dio_alignment(root);
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(st.st_dev, found);
    found
}

/// The direct-I/O alignment `statx` reports for files in the root, raised to
/// 4096; `None` when the filesystem offers no direct I/O. Filesystems report
/// it for regular files only, so a temporary probe file is created and removed.
fn dio_alignment(root: &TenantRoot) -> Option<usize> {
    let probe = temp_name();
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(root.fd(), probe.as_str(), flags, Mode::from_raw_mode(0o600)).ok()?;
    let align = match rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) {
        Ok(st) if st.stx_mask & StatxFlags::DIOALIGN.bits() != 0 => {
            let reported = st.stx_dio_mem_align.max(st.stx_dio_offset_align) as usize;
            (reported != 0).then(|| reported.max(4096))
        }
        // Kernels before 6.1 do not report: probe by opening with O_DIRECT.
        _ => rustix::fs::openat(root.fd(), probe.as_str(), OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC, Mode::empty())
            .ok()
            .map(|_| 4096),
    };
    let _ = rustix::fs::unlinkat(root.fd(), probe.as_str(), AtFlags::empty());
    align
}

/// A name no other writer, in this process or another, will pick.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-tmp-{}-{n}-{nanos:x}", super::root::RESERVED_PREFIX, std::process::id())
}

fn write_all_at(fd: &OwnedFd, mut data: &[u8], mut off: u64) -> Result<()> {
    while !data.is_empty() {
        let n = rustix::io::pwrite(fd, data, off).map_err(|e| Error::os("writing an object", e.into()))?;
        data = &data[n..];
        off += n as u64;
    }
    Ok(())
}

/// Writes through pooled aligned buffers; the tail block is zero-padded and
/// the file truncated back to the exact length.
fn write_direct(fd: &OwnedFd, data: &[u8], align: usize) -> Result<()> {
    let mut buf = BufferPool::global().take();
    let mut off = 0usize;
    for chunk in data.chunks(BUF_SIZE) {
        let padded = round_up(chunk.len(), align);
        let dst = buf.as_mut_slice();
        dst[..chunk.len()].copy_from_slice(chunk);
        dst[chunk.len()..padded].fill(0);
        write_all_at(fd, &dst[..padded], off as u64)?;
        off += chunk.len();
    }
    if !data.len().is_multiple_of(align) {
        rustix::fs::ftruncate(fd, data.len() as u64).map_err(|e| Error::os("truncating an object", e.into()))?;
    }
    Ok(())
}

/// Reads a whole file through pooled aligned buffers. Requests are rounded up
/// to the alignment, so sizes that are not multiples of it read fine.
/// A failed read: the OS refused, or the object is over the caller's cap.
enum ReadError {
    Os(Errno),
    TooLarge(usize),
}

impl From<Errno> for ReadError {
    fn from(e: Errno) -> Self {
        ReadError::Os(e)
    }
}

impl ReadError {
    fn into_error(self, what: &str, too_large: impl Fn(usize) -> Error) -> Error {
        match self {
            ReadError::Os(e) => Error::os(what, e.into()),
            ReadError::TooLarge(size) => too_large(size),
        }
    }
}

fn read_direct(fd: &OwnedFd, align: usize, max_bytes: u64) -> std::result::Result<Option<Vec<u8>>, ReadError> {
    let Some(size) = regular_size(fd, max_bytes)? else {
        return Ok(None);
    };
    let mut out = super::recycle::take(size);
    read_bounced(fd, align, size, |_, chunk| out.extend_from_slice(chunk))?;
    Ok(Some(out))
}

/// Reads up to `size` bytes with O_DIRECT through a pooled aligned buffer,
/// handing each chunk to `sink` with its offset; returns the bytes read. A
/// file that shrank under us ends early: objects are replaced, never
/// truncated, so a short file is foreign.
fn read_bounced(fd: &OwnedFd, align: usize, size: usize, mut sink: impl FnMut(usize, &[u8])) -> std::result::Result<usize, Errno> {
    let mut buf = BufferPool::global().take();
    let mut off = 0;
    while off < size {
        let want = round_up((size - off).min(BUF_SIZE), align);
        let n = rustix::io::pread(fd, &mut buf.as_mut_slice()[..want], off as u64)?;
        if n == 0 {
            break;
        }
        let take = n.min(size - off);
        sink(off, &buf.as_slice()[..take]);
        off += take;
    }
    Ok(off)
}

/// The size of an open regular file; `None` for anything else (a directory
/// sharing an object's name is not an object).
fn regular_size(fd: &OwnedFd, max_bytes: u64) -> std::result::Result<Option<usize>, ReadError> {
    let st = rustix::fs::fstat(fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    if st.st_size as u64 > max_bytes {
        return Err(ReadError::TooLarge(st.st_size as usize));
    }
    Ok(Some(st.st_size as usize))
}

/// Reads `size` bytes with O_DIRECT into `dst`: straight in when `dst` is
/// aligned and has room for the rounded-up tail, else through a pooled
/// buffer. Returns the bytes read.
fn read_direct_into(fd: &OwnedFd, align: usize, dst: &mut [u8], size: usize) -> std::result::Result<usize, Errno> {
    let padded = round_up(size, align);
    if (dst.as_ptr() as usize).is_multiple_of(align) && dst.len() >= padded {
        let mut off = 0;
        while off < size {
            let want = round_up((size - off).min(BUF_SIZE * 4), align);
            let n = rustix::io::pread(fd, &mut dst[off..off + want], off as u64)?;
            if n == 0 {
                break;
            }
            off += n.min(size - off);
        }
        return Ok(off);
    }
    read_bounced(fd, align, size, |off, chunk| dst[off..off + chunk.len()].copy_from_slice(chunk))
}

/// Reads into all of `dst` with plain `pread`s; returns the bytes read.
fn read_at_into(fd: &OwnedFd, dst: &mut [u8]) -> std::result::Result<usize, Errno> {
    let mut filled = 0;
    while filled < dst.len() {
        let n = rustix::io::pread(fd, &mut dst[filled..], filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

fn read_buffered(fd: &OwnedFd, max_bytes: u64) -> std::result::Result<Option<Vec<u8>>, ReadError> {
    let Some(size) = regular_size(fd, max_bytes)? else {
        return Ok(None);
    };
    let mut out = vec![0u8; size];
    let filled = read_at_into(fd, &mut out)?;
    out.truncate(filled);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Usage;

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
    fn reads_into_aligned_and_unaligned_targets() {
        both_modes(|d| {
            let mut aligned = super::super::aligned::BufferPool::global().take();
            let mut plain = vec![0u8; BUF_SIZE + 20_000];
            for len in [0, 1, 4095, 4097, 1 << 20, BUF_SIZE + 12_345] {
                let data = pattern(len);
                d.write("ri/o", &data).unwrap();
                if len <= BUF_SIZE {
                    let dst = aligned.as_mut_slice();
                    assert_eq!(d.read_into("ri/o", dst, u64::MAX).unwrap(), Some(len as u64));
                    assert_eq!(&dst[..len], &data[..], "aligned, len {len}");
                }
                let dst = &mut plain[1..]; // deliberately misaligned
                assert_eq!(d.read_into("ri/o", dst, u64::MAX).unwrap(), Some(len as u64));
                assert_eq!(&dst[..len], &data[..], "unaligned, len {len}");
            }
            assert!(matches!(d.read_into("ri/o", &mut [0u8; 10], u64::MAX), Err(Error::TooLarge(_))));
            assert_eq!(d.read_into("ri/none", &mut plain, u64::MAX).unwrap(), None);
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
    fn keeps_exact_usage_and_refuses_puts_over_quota() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = DirOptions { max_bytes: Some(10_000), max_objects: Some(3), ..DirOptions::default() };
        let d = ObjectDir::open_with(tmp.path(), &opts).unwrap();
        d.write("a/1", &pattern(4000)).unwrap();
        d.write("a/2", &pattern(4000)).unwrap();
        assert!(matches!(d.write("a/3", &pattern(2001)), Err(Error::Quota(_))));
        assert_eq!(d.stat("a/3").unwrap(), None, "a refused put writes nothing");
        d.write("a/1", &pattern(6000)).expect("an overwrite counts only the difference");
        assert_eq!(d.usage(), Usage { bytes: 10_000, objects: 2 });
        assert!(d.remove("a/2").unwrap());
        d.write("a/3", &pattern(1)).unwrap();
        d.write("a/4", &pattern(1)).unwrap();
        assert!(matches!(d.write("a/5", &pattern(1)), Err(Error::Quota(_))), "objects quota");
        assert_eq!(d.usage(), Usage { bytes: 6002, objects: 3 });
        drop(d);
        let again = ObjectDir::open_with(tmp.path(), &opts).unwrap();
        assert_eq!(again.usage(), Usage { bytes: 6002, objects: 3 }, "measured again at open");
    }

    #[test]
    fn checksums_catch_a_flipped_bit() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let d = ObjectDir::open_with(tmp.path(), &DirOptions { checksums: true, ..DirOptions::default() }).unwrap();
        let data = pattern(100_000);
        d.write("x/o", &data).unwrap();
        assert_eq!(d.read("x/o", u64::MAX).unwrap().as_deref(), Some(&data[..]));
        let file = tmp.path().join("x/o");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[54_321] ^= 0x10;
        // Rewrite in place (keeps the attribute), as bit rot would.
        std::fs::OpenOptions::new().write(true).open(&file).and_then(|mut f| std::io::Write::write_all(&mut f, &bytes)).unwrap();
        assert!(matches!(d.read("x/o", u64::MAX), Err(Error::Corrupt(_))));
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

    #[test]
    fn detects_direct_io_on_a_real_filesystem() {
        // /var/tmp is disk-backed on our machines (tmpfs O_DIRECT proves nothing).
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let d = ObjectDir::open(tmp.path(), true, true).unwrap();
        let align = d.direct_alignment().expect("ext4 under /var/tmp supports O_DIRECT");
        assert!(align >= 4096 && align.is_power_of_two());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the probe file is removed");
        drop(d);
        let buffered = ObjectDir::open(tmp.path(), false, true).unwrap();
        assert_eq!(buffered.direct_alignment(), None);
    }
}
