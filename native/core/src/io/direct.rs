//! The byte loops under [`super::objects`]: writes and reads of whole files,
//! with O_DIRECT (aligned offsets, lengths and memory) or buffered.
//!
//! O_DIRECT moves whole blocks, so every loop here keeps one promise about
//! memory it does not own: no byte outside the object's length is written.
//! The block-aligned part of an object goes straight between the device and
//! the caller's memory when that memory is aligned and on huge pages (see
//! [`super::huge_pages`]: elsewhere straight transfers are slower than a
//! copy); everything else — and always the tail block — goes through
//! pooled aligned buffers, writes with a zero-padded tail (the file is
//! truncated back).

use super::aligned::{BUF_SIZE, BufferPool, round_up};
use super::huge_pages;
use crate::{Error, Result};
use rustix::fs::FileType;
use rustix::io::Errno;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};

/// Writes all of `data` at offset `off` with plain `pwrite`s.
pub fn write_all_at(fd: &OwnedFd, mut data: &[u8], mut off: u64) -> Result<()> {
    while !data.is_empty() {
        let n = rustix::io::pwrite(fd, data, off).map_err(|e| Error::os("writing an object", e.into()))?;
        data = &data[n..];
        off += n as u64;
    }
    Ok(())
}

/// How many leading bytes of the `len` at `ptr` go straight to or from
/// the device: the block-aligned part when the memory is aligned and on
/// huge pages, else none.
fn straight(ptr: *const u8, len: usize, align: usize) -> usize {
    let body = if (ptr as usize).is_multiple_of(align) && huge_pages::holds(ptr, len) { len / align * align } else { 0 };
    #[cfg(test)]
    tests::STRAIGHT.with(|n| n.set(n.get() + usize::from(body > 0)));
    body
}

/// Writes `data` to an O_DIRECT file: its block-aligned part straight from
/// `data` when that can go straight (see [`straight`]), the rest through
/// pooled aligned buffers; the tail block is zero-padded and the file
/// truncated back to the exact length.
pub fn write_direct(fd: &OwnedFd, data: &[u8], align: usize) -> Result<()> {
    let body = straight(data.as_ptr(), data.len(), align);
    for (i, piece) in data[..body].chunks(BUF_SIZE * 4).enumerate() {
        write_all_at(fd, piece, (i * BUF_SIZE * 4) as u64)?;
    }
    let mut off = body;
    if off < data.len() {
        let mut buf = BufferPool::global().take();
        for chunk in data[body..].chunks(BUF_SIZE) {
            let padded = round_up(chunk.len(), align);
            let dst = buf.as_mut_slice();
            dst[..chunk.len()].copy_from_slice(chunk);
            dst[chunk.len()..padded].fill(0);
            write_all_at(fd, &dst[..padded], off as u64)?;
            off += chunk.len();
        }
    }
    if !data.len().is_multiple_of(align) {
        rustix::fs::ftruncate(fd, data.len() as u64).map_err(|e| Error::os("truncating an object", e.into()))?;
    }
    Ok(())
}

/// A failed read: the OS refused, or the object is over the caller's cap.
pub enum ReadError {
    /// The OS refused.
    Os(Errno),
    /// The object's size, over the cap.
    TooLarge(usize),
}

impl From<Errno> for ReadError {
    fn from(e: Errno) -> Self {
        ReadError::Os(e)
    }
}

impl ReadError {
    /// The crate error for a failure while doing `what`.
    pub fn into_error(self, what: &str, too_large: impl Fn(usize) -> Error) -> Error {
        match self {
            ReadError::Os(e) => Error::os(what, e.into()),
            ReadError::TooLarge(size) => too_large(size),
        }
    }
}

/// The size of an open regular file; `None` for anything else (a directory
/// sharing an object's name is not an object). Over `max_bytes`: refused.
pub fn regular_size(fd: &OwnedFd, max_bytes: u64) -> std::result::Result<Option<usize>, ReadError> {
    let st = rustix::fs::fstat(fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    if st.st_size as u64 > max_bytes {
        return Err(ReadError::TooLarge(st.st_size as usize));
    }
    Ok(Some(st.st_size as usize))
}

/// Reads a whole O_DIRECT file into a recycled vector; sizes that are not
/// multiples of `align` read fine.
pub fn read_direct(fd: &OwnedFd, align: usize, max_bytes: u64) -> std::result::Result<Option<Vec<u8>>, ReadError> {
    let Some(size) = regular_size(fd, max_bytes)? else {
        return Ok(None);
    };
    Ok(Some(read_direct_vec(fd, align, size)?))
}

/// The `size`-byte O_DIRECT file in a recycled vector: the block-aligned
/// part straight into it when it can go straight (a large vector, on huge
/// pages: see [`crate::alloc`]), the rest through a pooled buffer.
fn read_direct_vec(fd: &OwnedFd, align: usize, size: usize) -> std::result::Result<Vec<u8>, Errno> {
    let mut out = super::recycle::take(size);
    let body = straight(out.as_ptr(), size, align);
    let got = read_straight(fd, &mut out.spare_capacity_mut()[..body])?;
    // SAFETY: `read_straight` initialised the first `got` bytes of the spare capacity.
    unsafe { out.set_len(got) };
    if got == body {
        read_bounced(fd, align, body, size, |_, chunk| out.extend_from_slice(chunk))?;
    }
    Ok(out)
}

/// Reads the file's first `dst.len()` bytes straight into `dst` (see
/// [`straight`]), in pieces of at most 16 MiB; returns the bytes read,
/// fewer when the file is shorter than it was (foreign, see
/// [`read_bounced`]). Every byte it counts is initialised.
fn read_straight(fd: &OwnedFd, dst: &mut [MaybeUninit<u8>]) -> std::result::Result<usize, Errno> {
    let mut off = 0;
    while off < dst.len() {
        let want = (dst.len() - off).min(BUF_SIZE * 4);
        let (filled, _) = rustix::io::pread(fd, &mut dst[off..off + want], off as u64)?;
        off += filled.len();
        if filled.len() < want {
            break;
        }
    }
    Ok(off)
}

/// Reads a whole file with plain `pread`s.
pub fn read_buffered(fd: &OwnedFd, max_bytes: u64) -> std::result::Result<Option<Vec<u8>>, ReadError> {
    let Some(size) = regular_size(fd, max_bytes)? else {
        return Ok(None);
    };
    let mut out = vec![0u8; size];
    let filled = read_at_into(fd, &mut out)?;
    out.truncate(filled);
    Ok(Some(out))
}

/// Reads bytes `from..to` (`from` aligned) of an O_DIRECT file through a
/// pooled aligned buffer, handing each chunk to `sink` with its offset;
/// returns the offset reached. A file that shrank under us ends early:
/// objects are replaced, never truncated, so a short file is foreign.
fn read_bounced(
    fd: &OwnedFd,
    align: usize,
    from: usize,
    to: usize,
    mut sink: impl FnMut(usize, &[u8]),
) -> std::result::Result<usize, Errno> {
    let mut buf = BufferPool::global().take();
    let mut off = from;
    while off < to {
        let want = round_up((to - off).min(BUF_SIZE), align);
        let n = rustix::io::pread(fd, &mut buf.as_mut_slice()[..want], off as u64)?;
        if n == 0 {
            break;
        }
        let take = n.min(to - off);
        sink(off, &buf.as_slice()[..take]);
        off += take;
    }
    Ok(off)
}

/// Reads the `size`-byte O_DIRECT file into `dst[..size]`, leaving every
/// byte after it untouched; returns the bytes read. The block-aligned part
/// of the object goes straight in when it can (see [`straight`]: no copy);
/// the tail block, or everything when it cannot, goes through a pooled
/// buffer.
pub fn read_direct_into(fd: &OwnedFd, align: usize, dst: &mut [u8], size: usize) -> std::result::Result<usize, Errno> {
    let body = straight(dst.as_ptr(), size.min(dst.len()), align);
    // SAFETY: the same bytes seen as possibly uninitialised; `read_straight`
    // only writes initialised bytes into them.
    let got = read_straight(fd, unsafe { &mut *(&mut dst[..body] as *mut [u8] as *mut [MaybeUninit<u8>]) })?;
    if got < body {
        return Ok(got);
    }
    read_bounced(fd, align, body, size, |at, chunk| dst[at..at + chunk.len()].copy_from_slice(chunk))
}

/// Bytes `start..end` of an O_DIRECT file, read from the aligned block
/// below `start` through a pooled buffer.
pub fn read_range_direct(fd: &OwnedFd, align: usize, start: usize, end: usize) -> std::result::Result<Vec<u8>, Errno> {
    let mut out = Vec::with_capacity(end - start);
    read_bounced(fd, align, start / align * align, end, |at, chunk| {
        let skip = start.saturating_sub(at).min(chunk.len());
        out.extend_from_slice(&chunk[skip..]);
    })?;
    Ok(out)
}

/// Whether all of the first `len` bytes of `fd` are in the page cache, asked
/// with `cachestat(2)` (Linux 6.5), which — unlike a `RWF_NOWAIT` read —
/// starts no readahead. `false` where the kernel cannot tell.
pub fn all_cached(fd: &OwnedFd, len: usize) -> bool {
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    const SYS_CACHESTAT: libc::c_long = 451; // the same on every Linux architecture
    if len == 0 {
        return true;
    }
    let range = Range { off: 0, len: len as u64 };
    let mut stat = Stat::default();
    // SAFETY: both structs match the kernel's `cachestat_range` and
    // `cachestat` layouts and live across the call; `fd` is open.
    let rc = unsafe { libc::syscall(SYS_CACHESTAT, fd.as_raw_fd(), &range as *const Range, &mut stat as *mut Stat, 0u32) };
    let page = rustix::param::page_size() as u64;
    rc == 0 && stat.nr_cache >= (len as u64).div_ceil(page)
}

/// Turns O_DIRECT on for `fd`, opened without it; `false` where the file refuses it.
pub fn make_direct(fd: &OwnedFd) -> std::result::Result<bool, Errno> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    match rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::DIRECT) {
        Ok(()) => Ok(true),
        Err(Errno::INVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A whole file, from the page cache when all of it is there (a recent
/// page-cache write), else with O_DIRECT (cold: no double caching, huge
/// pages), else buffered.
pub fn read_cache_first(fd: &OwnedFd, align: usize, max_bytes: u64) -> std::result::Result<Option<Vec<u8>>, ReadError> {
    let Some(size) = regular_size(fd, max_bytes)? else {
        return Ok(None);
    };
    if !all_cached(fd, size) && make_direct(fd)? {
        return Ok(Some(read_direct_vec(fd, align, size)?));
    }
    let mut out = super::recycle::take(size);
    out.resize(size, 0);
    let filled = read_at_into(fd, &mut out)?;
    out.truncate(filled);
    Ok(Some(out))
}

/// [`read_cache_first`] into `dst[..size]` (see [`read_direct_into`]).
pub fn read_cache_first_into(fd: &OwnedFd, align: usize, dst: &mut [u8], size: usize) -> std::result::Result<usize, Errno> {
    if !all_cached(fd, size) && make_direct(fd)? { read_direct_into(fd, align, dst, size) } else { read_at_into(fd, &mut dst[..size]) }
}

/// Reads into all of `dst` with plain `pread`s; returns the bytes read.
pub fn read_at_into(fd: &OwnedFd, dst: &mut [u8]) -> std::result::Result<usize, Errno> {
    read_at_into_from(fd, dst, 0)
}

/// Reads into all of `dst` from file offset `from` with plain `pread`s;
/// returns the bytes read (fewer at the end of the file).
pub fn read_at_into_from(fd: &OwnedFd, dst: &mut [u8], from: u64) -> std::result::Result<usize, Errno> {
    let mut filled = 0;
    while filled < dst.len() {
        let n = rustix::io::pread(fd, &mut dst[filled..], from + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::super::ObjectDir;
    use super::super::aligned::{AlignedBuf, BUF_SIZE};
    use crate::Error;

    const SENTINEL: u8 = 0xA5;

    thread_local! {
        /// Transfers on this thread that went straight (see `straight`).
        pub(super) static STRAIGHT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Whether the machine has THP; says so when it does not (nothing goes straight then).
    fn thp() -> bool {
        let on = super::huge_pages::available();
        if !on {
            eprintln!("SKIPPED: transparent huge pages are off here, so no transfer goes straight");
        }
        on
    }

    /// Fills the target with a sentinel, reads, and checks nothing after
    /// the object's length changed.
    fn read_keeps_the_tail(d: &ObjectDir, dst: &mut [u8], len: usize, what: &str) {
        dst.fill(SENTINEL);
        assert_eq!(d.read_into("t/o", dst, u64::MAX).unwrap(), Some(len as u64), "{what}");
        assert!(dst[..len].iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "{what}: the object's bytes");
        let past = dst[len..].iter().position(|&b| b != SENTINEL);
        assert_eq!(past, None, "{what}: byte len+{past:?} after the object was written");
    }

    #[test]
    fn reads_into_never_write_past_the_object() {
        // /var/tmp is disk-backed here: tmpfs O_DIRECT would prove nothing.
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        for direct in [true, false] {
            let d = ObjectDir::open(&tmp.path().join(format!("{direct}")), direct, false).unwrap();
            assert_eq!(d.direct_alignment().is_some(), direct, "O_DIRECT on /var/tmp");
            let mut aligned = AlignedBuf::new(2 * BUF_SIZE, 1 << 21);
            let mut plain = vec![0u8; 2 * BUF_SIZE + 1];
            for len in [0, 1, 4095, 4096, 4097, (1 << 20) + 3, BUF_SIZE + 12_345] {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                d.write("t/o", &data).unwrap();
                read_keeps_the_tail(&d, aligned.as_mut_slice(), len, &format!("aligned, direct {direct}, len {len}"));
                read_keeps_the_tail(&d, &mut plain[1..], len, &format!("unaligned, direct {direct}, len {len}"));
            }
            assert!(matches!(d.read_into("t/o", &mut [0u8; 10], u64::MAX), Err(Error::TooLarge(_))));
            let data: Vec<u8> = (0..BUF_SIZE + 12_345).map(|i| (i % 251) as u8).collect();
            for (off, len) in [(0, 16), (1, 4095), (4095, 2), (4096, 4096), (BUF_SIZE - 3, 10), (100, 1 << 30), (1 << 40, 5)] {
                let want = &data[off.min(data.len())..off.saturating_add(len).min(data.len())];
                let got = d.read_range("t/o", off as u64, len as u64, u64::MAX).unwrap().unwrap();
                assert!(got == want, "range {off}+{len}, direct {direct}: {} bytes, wanted {}", got.len(), want.len());
            }
            assert_eq!(d.read_range("t/none", 0, 1, u64::MAX).unwrap(), None);
            assert!(matches!(d.read_range("t/o", 0, 11, 10), Err(Error::TooLarge(_))));
            assert_eq!(d.read_into("t/none", &mut plain, u64::MAX).unwrap(), None);
        }
    }

    #[test]
    fn only_aligned_memory_on_registered_huge_pages_goes_straight() {
        if !thp() {
            return;
        }
        // Under the test allocator (the addon's), a large buffer is mapped and registered;
        // aligned to more than a huge page, it is the system allocator's and is not.
        let huge = AlignedBuf::new(2 * BUF_SIZE, 1 << 21);
        let other = AlignedBuf::new(2 * BUF_SIZE, 4 << 21);
        let at = huge.as_slice().as_ptr();
        assert_eq!(super::straight(at, (3 << 20) + 5, 4096), 3 << 20, "the block-aligned part");
        assert_eq!(super::straight(at.wrapping_add(512), 4096, 4096), 0, "not aligned");
        assert_eq!(super::straight(at, 2 * BUF_SIZE + 1, 4096), 0, "past the region");
        assert_eq!(super::straight(other.as_slice().as_ptr(), 3 << 20, 4096), 0, "not registered");
    }

    #[test]
    fn straight_writes_and_reads_keep_every_byte() {
        if !thp() {
            return;
        }
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        // Durable: O_DIRECT writes (a `durable: false` put goes through the page cache).
        let d = ObjectDir::open(tmp.path(), true, true).unwrap();
        assert!(d.direct_alignment().is_some(), "O_DIRECT on /var/tmp");
        let mut source = AlignedBuf::new(2 * BUF_SIZE, 1 << 21);
        for (i, b) in source.as_mut_slice().iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let mut target = AlignedBuf::new(2 * BUF_SIZE, 1 << 21);
        let went = || STRAIGHT.with(|n| n.get());
        for len in [4096, 4097, (2 << 20) - 1, 2 << 20, BUF_SIZE + 12_345, 2 * BUF_SIZE] {
            let before = went();
            d.write("t/o", &source.as_slice()[..len]).unwrap();
            assert_eq!(went(), before + 1, "len {len}: the write went straight");
            assert_eq!(d.stat("t/o").unwrap(), Some(len as u64));
            let got = d.read("t/o", u64::MAX).unwrap().unwrap();
            assert!(got[..] == source.as_slice()[..len], "read, len {len}");
            // A get's result goes straight from 2 MiB on (the allocator's large mappings).
            assert_eq!(went(), before + 1 + usize::from(len >= 2 << 20), "len {len}: the read");
            if len < 2 * BUF_SIZE {
                read_keeps_the_tail(&d, target.as_mut_slice(), len, &format!("read_into, len {len}"));
                assert_eq!(went(), before + 2 + usize::from(len >= 2 << 20), "len {len}: the read into");
            }
        }
        // Memory that is not registered bounces, aligned or not.
        let plain = vec![7u8; 1 << 20];
        let before = went();
        d.write("t/p", &plain).unwrap();
        assert_eq!(d.read("t/p", u64::MAX).unwrap().as_deref(), Some(&plain[..]));
        assert_eq!(went(), before, "plain memory never goes straight");
    }

    #[test]
    fn cache_first_reads_take_cold_objects_with_o_direct() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let d = ObjectDir::open(tmp.path(), true, false).unwrap();
        let len = BUF_SIZE + 12_345;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        d.write("t/o", &data).unwrap();
        let written = std::fs::File::open(tmp.path().join("t/o")).map(std::os::fd::OwnedFd::from).unwrap();
        assert!(super::all_cached(&written, len), "a page-cache put leaves the object cached");
        let mut aligned = AlignedBuf::new(2 * BUF_SIZE, 1 << 21);
        read_keeps_the_tail(&d, aligned.as_mut_slice(), len, "cached");
        // Out of the page cache: the read must go to the device (O_DIRECT), and still be whole.
        let file = std::fs::File::open(tmp.path().join("t/o")).unwrap();
        file.sync_all().unwrap();
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        let file = std::os::fd::OwnedFd::from(file);
        assert!(!super::all_cached(&file, len), "evicted: not all cached");
        read_keeps_the_tail(&d, aligned.as_mut_slice(), len, "cold, aligned");
        assert_eq!(d.read("t/o", u64::MAX).unwrap().as_deref(), Some(&data[..]));
    }
}
