//! Aligned buffers for O_DIRECT, pooled so that no object pays for fresh
//! memory (first touch of new pages runs at disk speed on our VMs).
//!
//! Buffers are 2 MiB-aligned and advised for transparent huge pages: with
//! 4 KiB pages the block layer splits a request at ~1 MiB (254 segments);
//! with a huge page behind it a 4 MiB request reaches the device whole.

use std::alloc::{Layout, alloc, dealloc};
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

/// Alignment of pooled buffers: one huge page.
pub const BUF_ALIGN: usize = 2 << 20;
/// Size of one pooled buffer, hence the largest single I/O request.
pub const BUF_SIZE: usize = 4 << 20;
/// Buffers kept for reuse; more may exist while many I/Os run at once.
const POOL_KEEP: usize = 8;

/// A zero-initialised heap buffer with a fixed power-of-two alignment.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: AlignedBuf uniquely owns its allocation (like Box<[u8]>); no
// aliasing pointers escape except through &self / &mut self borrows.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// Allocates `size` zeroed bytes aligned to `align` (a power of two).
    pub fn new(size: usize, align: usize) -> Self {
        let layout = Layout::from_size_align(size.max(1), align).expect("power-of-two alignment");
        // SAFETY: layout has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        if align >= BUF_ALIGN {
            // SAFETY: the range is our own fresh allocation; MADV_HUGEPAGE
            // is advisory and cannot invalidate its contents.
            unsafe { libc::madvise(raw.cast(), layout.size(), libc::MADV_HUGEPAGE) };
        }
        // SAFETY: raw points to layout.size() writable bytes.
        unsafe { std::ptr::write_bytes(raw, 0, layout.size()) };
        Self { ptr, layout }
    }

    /// The whole buffer.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for layout.size() initialised bytes for &self's lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }

    /// The whole buffer, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A process-wide pool of [`BUF_SIZE`] buffers aligned to [`BUF_ALIGN`].
pub struct BufferPool {
    free: Mutex<Vec<AlignedBuf>>,
}

/// A buffer on loan from the pool; it returns on drop.
pub struct Pooled<'a> {
    buf: Option<AlignedBuf>,
    pool: &'a BufferPool,
}

impl BufferPool {
    /// The shared pool.
    pub fn global() -> &'static BufferPool {
        static POOL: OnceLock<BufferPool> = OnceLock::new();
        POOL.get_or_init(|| BufferPool { free: Mutex::new(Vec::new()) })
    }

    /// A buffer, reused when one is free.
    pub fn take(&self) -> Pooled<'_> {
        let reused = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Pooled { buf: Some(reused.unwrap_or_else(|| AlignedBuf::new(BUF_SIZE, BUF_ALIGN))), pool: self }
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = AlignedBuf;
    fn deref(&self) -> &AlignedBuf {
        self.buf.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut AlignedBuf {
        self.buf.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut free = self.pool.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < POOL_KEEP {
            free.extend(self.buf.take());
        }
    }
}

/// Rounds `n` up to a multiple of `align` (a power of two).
pub fn round_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_math() {
        assert_eq!(round_up(0, 4096), 0);
        assert_eq!(round_up(1, 4096), 4096);
        assert_eq!(round_up(4096, 4096), 4096);
        assert_eq!(round_up(4097, 512), 4608);
    }

    #[test]
    fn buffers_are_aligned_and_reused() {
        let pool = BufferPool { free: Mutex::new(Vec::new()) };
        let first = {
            let b = pool.take();
            assert_eq!(b.as_slice().as_ptr() as usize % BUF_ALIGN, 0);
            assert_eq!(b.as_slice().len(), BUF_SIZE);
            b.as_slice().as_ptr() as usize
        };
        assert_eq!(pool.take().as_slice().as_ptr() as usize, first, "a returned buffer is reused");
        let odd = AlignedBuf::new(100, 4096);
        assert_eq!(odd.as_slice().as_ptr() as usize % 4096, 0);
        assert!(odd.as_slice().iter().all(|&b| b == 0));
    }
}
