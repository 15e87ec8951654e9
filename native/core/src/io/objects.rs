//! One object per file under the tenant root: atomic, durable writes and
//! whole-object reads, with O_DIRECT where the filesystem takes it.
//!
//! A write goes to a uniquely named temporary file (`.kvbox-tmp-…`, never
//! listed, never a valid object path) in the object's own directory, is
//! synced, renamed over the object and the directory is synced: readers see
//! the old bytes or the new, never a mix, and a crash leaves at most a
//! temporary file behind.

use super::aligned::{BUF_SIZE, BufferPool, round_up};
use super::root::{TenantRoot, check_path, split_parent};
use crate::{Error, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// How a tenant directory is written and read.
#[derive(Debug)]
pub struct ObjectDir {
    root: TenantRoot,
    /// O_DIRECT alignment (memory and offset), or `None` for buffered I/O.
    direct_align: Option<usize>,
    durable: bool,
}

impl ObjectDir {
    /// Opens the tenant directory. With `direct_io`, O_DIRECT is used when
    /// `statx` reports direct-I/O support (alignment = max(4096, reported),
    /// since ext4 serializes sub-block direct I/O); otherwise buffered I/O.
    pub fn open(path: &Path, direct_io: bool, durable: bool) -> Result<Self> {
        let root = TenantRoot::open(path)?;
        let direct_align = if direct_io { dio_alignment_cached(&root) } else { None };
        Ok(Self { root, direct_align, durable })
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
    pub fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        check_path(path, false)?;
        let (parent, name) = split_parent(path);
        let dir = self.root.dir(parent, true, self.durable)?.expect("created");
        let tmp = temp_name();
        let result = self.write_temp(&dir, &tmp, data).and_then(|()| {
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name).map_err(|e| Error::os(&format!("renaming into {path:?}"), e.into()))?;
            if self.durable {
                rustix::fs::fsync(&dir).map_err(|e| Error::os(&format!("syncing the directory of {path:?}"), e.into()))?;
            }
            Ok(())
        });
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
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
        if self.durable {
            rustix::fs::fdatasync(&fd).map_err(|e| Error::os("syncing an object", e.into()))?;
        }
        Ok(())
    }

    /// The whole object at `path`, or `None` when there is none; an object
    /// over `max_bytes` is refused with `TooLarge` before it is read.
    pub fn read(&self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        check_path(path, false)?;
        let what = || format!("reading {path:?}");
        let too_large = |size: usize| {
            Error::TooLarge(format!("object {path:?} of {size} bytes exceeds the limit of {max_bytes}"))
        };
        if let Some(align) = self.direct_align {
            match self.root.open_beneath(path, OFlags::RDONLY | OFlags::DIRECT, Mode::empty()) {
                Ok(fd) => return read_direct(&fd, align, max_bytes).map_err(|e| e.into_error(&what(), too_large)),
                Err(Errno::NOENT) | Err(Errno::ISDIR) => return Ok(None),
                Err(Errno::INVAL) => {} // no O_DIRECT for this file: buffered below
                Err(e) => return Err(Error::os(&what(), e.into())),
            }
        }
        match self.root.open_beneath(path, OFlags::RDONLY, Mode::empty()) {
            Ok(fd) => read_buffered(&fd, max_bytes).map_err(|e| e.into_error(&what(), too_large)),
            Err(Errno::NOENT) | Err(Errno::ISDIR) => Ok(None),
            Err(e) => Err(Error::os(&what(), e.into())),
        }
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
        let Some(dir) = self.root.dir(parent, false, false)? else { return Ok(false) };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => {
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

/// [`dio_alignment`], remembered per filesystem (device number): opening a
/// tenant then costs no probe file.
fn dio_alignment_cached(root: &TenantRoot) -> Option<usize> {
    static BY_DEVICE: OnceLock<Mutex<HashMap<u64, Option<usize>>>> = OnceLock::new();
    let Ok(st) = rustix::fs::fstat(root.fd()) else { return dio_alignment(root) };
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
    if data.len() % align != 0 {
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
    let Some(size) = regular_size(fd, max_bytes)? else { return Ok(None) };
    let mut out = Vec::with_capacity(size);
    let mut buf = BufferPool::global().take();
    while out.len() < size {
        let want = round_up((size - out.len()).min(BUF_SIZE), align);
        let n = rustix::io::pread(fd, &mut buf.as_mut_slice()[..want], out.len() as u64)?;
        if n == 0 {
            break; // shrank under us: objects are replaced, never truncated, so this is foreign
        }
        let take = n.min(size - out.len());
        out.extend_from_slice(&buf.as_slice()[..take]);
    }
    Ok(Some(out))
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

fn read_buffered(fd: &OwnedFd, max_bytes: u64) -> std::result::Result<Option<Vec<u8>>, ReadError> {
    let Some(size) = regular_size(fd, max_bytes)? else { return Ok(None) };
    let mut out = vec![0u8; size];
    let mut filled = 0;
    while filled < size {
        let n = rustix::io::pread(fd.as_fd(), &mut out[filled..], filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    out.truncate(filled);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
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
    fn detects_direct_io_on_a_real_filesystem() {
        // /var/tmp is disk-backed on our machines (tmpfs O_DIRECT proves nothing).
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let d = ObjectDir::open(tmp.path(), true, true).unwrap();
        let align = d.direct_alignment().expect("ext4 under /var/tmp supports O_DIRECT");
        assert!(align >= 4096 && align.is_power_of_two());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the probe file is removed");
        let buffered = ObjectDir::open(tmp.path(), false, true).unwrap();
        assert_eq!(buffered.direct_alignment(), None);
    }
}
