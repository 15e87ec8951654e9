//! Memory known to be advised for transparent huge pages: the only memory
//! kvbox does O_DIRECT straight from or into.
//!
//! On our VMs (ext4 on virtio, 254 segments and 1280 KiB per request) the
//! pages behind a buffer decide an O_DIRECT transfer's speed. Measured in
//! one C program, interleaved, cold objects (docs/benchmarks.md, "Straight
//! from huge pages"): a 4 MiB read straight into huge-page memory took
//! 1.24–1.77 ms, through a huge-page bounce buffer plus a copy 1.41–2.03 ms,
//! and straight into 4 KiB-page memory 2.9–3.8 ms — a 4 KiB-page buffer is
//! 256 scattered pages per MiB, split into many more requests. Writes
//! alike (4 MiB put with `fdatasync`: 2.1–2.7 / 2.7–3.0 / 3.2–3.4 ms). So an
//! aligned buffer is not enough: kvbox goes straight only where whoever
//! mapped the memory advised it and said so here ([`advise`]) — the large
//! allocations of [`crate::alloc`], which `allocBuffer`'s chunks are — and
//! through its pooled bounce buffers everywhere else.
//!
//! Where the kernel gives no huge pages on advice (THP `never`), nothing is
//! registered and every transfer bounces (aligned memory on 4 KiB pages is
//! slower straight than through the bounce buffer, see above).

use std::collections::BTreeMap;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Start → end of every registered region.
static REGIONS: RwLock<BTreeMap<usize, usize>> = RwLock::new(BTreeMap::new());

fn read() -> RwLockReadGuard<'static, BTreeMap<usize, usize>> {
    REGIONS.read().unwrap_or_else(|p| p.into_inner())
}

fn write() -> RwLockWriteGuard<'static, BTreeMap<usize, usize>> {
    REGIONS.write().unwrap_or_else(|p| p.into_inner())
}

/// Whether `madvise(MADV_HUGEPAGE)` gets huge pages here: the THP mode is
/// `always` or `madvise` (read once).
pub fn available() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|mode| mode.contains("[always]") || mode.contains("[madvise]"))
    })
}

/// Advises the `len` bytes at `ptr` for huge pages and registers them.
/// Call it before the memory is first touched (touched 4 KiB pages stay
/// small until `khugepaged` gets to them), and [`forget`] the region
/// before unmapping it. Registering the same start again replaces it.
///
/// # Safety
/// `ptr..ptr + len` must be memory the caller mapped or allocated and owns.
pub unsafe fn advise(ptr: *mut u8, len: usize) {
    if len == 0 || !available() {
        return;
    }
    // SAFETY: the caller owns the range; the advice never changes its contents.
    if unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) } == 0 {
        write().insert(ptr as usize, ptr as usize + len);
    }
}

/// Unregisters the region starting at `ptr` (nothing when there is none).
pub fn forget(ptr: *mut u8) {
    if available() {
        write().remove(&(ptr as usize));
    }
}

/// Whether all of the `len` bytes at `ptr` lie in one registered region
/// (`false` for none). Only the addresses are looked at.
pub fn holds(ptr: *const u8, len: usize) -> bool {
    if !available() || len == 0 {
        return false;
    }
    let start = ptr as usize;
    read().range(..=start).next_back().is_some_and(|(_, &end)| start.saturating_add(len) <= end)
}

/// Whether a region starts at `ptr`.
#[cfg(test)]
pub(crate) fn registered(ptr: *mut u8) -> bool {
    read().contains_key(&(ptr as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{Layout, alloc, dealloc};

    #[test]
    fn holds_only_what_lies_inside_one_registered_region() {
        let layout = Layout::from_size_align(4 << 20, 2 << 20).expect("layout");
        // SAFETY: non-zero size; freed below.
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null());
        // SAFETY: still untouched and ours; forgotten before it is freed.
        unsafe { advise(ptr, 3 << 20) };
        let at = |off: usize| ptr.wrapping_add(off).cast_const();
        assert_eq!(holds(at(0), 3 << 20), available(), "the region itself");
        assert_eq!(holds(at(4096), 4096), available(), "a part of it");
        assert!(!holds(at(0), (3 << 20) + 1), "one byte past its end");
        assert!(!holds(at(3 << 20), 4096), "after it");
        assert!(!holds(at(0), 0), "nothing");
        let elsewhere = vec![0u8; 8192];
        assert!(!holds(elsewhere.as_ptr(), elsewhere.len()), "memory nobody registered");
        forget(ptr);
        assert!(!holds(at(0), 4096), "forgotten");
        assert!(!registered(ptr));
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(ptr, layout) };
    }
}
