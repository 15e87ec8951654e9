//! [`LargeOnHugePages`], the global allocator of kvbox's Node addon: the
//! system allocator, except that an allocation of [`LARGE`] or more gets
//! a mapping of its own, 2 MiB-aligned and advised for huge pages, and
//! registered with [`crate::io::huge_pages`].
//!
//! What it is for: a `get`'s result is a `Vec` (recycled, see
//! [`crate::recycle`]) that kvbox reads the object into. On huge pages
//! the O_DIRECT read goes straight into it at the device's speed instead
//! of through a bounce buffer and a copy, and its first touch faults in
//! 2 MiB at a time instead of 512 pages of 4 KiB (1.4–9 µs each on our
//! VMs). The same holds for any other large buffer kvbox writes from.
//!
//! Freed mappings are kept for reuse (up to [`SPARE_BYTES`]), the next
//! allocation of the same page-rounded size taking one back: on our VMs
//! the first touch of a fresh huge page costs 4–5.5 ms (the hypervisor
//! backs the 2 MiB anew; 110–120 µs once the process reuses it — measured
//! in docs/benchmarks.md, "Straight from huge pages").
//!
//! Allocations under [`LARGE`], or aligned to more than it, go to the
//! system allocator untouched; the layout decides, so `dealloc` always
//! takes the path `alloc` took.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::Mutex;

/// The size from which an allocation gets a huge-page mapping of its own.
pub const LARGE: usize = 2 << 20;
/// The most bytes of freed mappings kept for reuse.
pub const SPARE_BYTES: usize = 256 << 20;

/// Freed mappings kept for reuse, oldest first: (start, page-rounded length).
struct Spare {
    maps: Vec<(usize, usize)>,
    bytes: usize,
}

static SPARE: Mutex<Spare> = Mutex::new(Spare { maps: Vec::new(), bytes: 0 });

fn spare() -> std::sync::MutexGuard<'static, Spare> {
    SPARE.lock().unwrap_or_else(|p| p.into_inner())
}

/// See the module documentation.
pub struct LargeOnHugePages;

fn large(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= LARGE
}

fn page_rounded(size: usize) -> usize {
    let page = rustix::param::page_size();
    size.div_ceil(page) * page
}

/// A `LARGE`-aligned mapping of `size` bytes (page-rounded), advised for
/// huge pages: a kept one of that length when there is one, else a fresh
/// one; null when the kernel refuses. Zeroed when `zeroed` (fresh
/// mappings are).
fn map(size: usize, zeroed: bool) -> *mut u8 {
    let len = page_rounded(size);
    let kept = {
        let mut spare = spare();
        let found = spare.maps.iter().rposition(|&(_, l)| l == len);
        found.map(|i| {
            spare.bytes -= len;
            spare.maps.remove(i).0 as *mut u8
        })
    };
    if let Some(start) = kept {
        // SAFETY: the whole mapping is ours again. Registered anew: its last
        // user may have forgotten it (allocBuffer's chunks do, on drop).
        unsafe {
            if zeroed {
                start.write_bytes(0, len);
            }
            crate::io::huge_pages::advise(start, len);
        }
        return start;
    }
    let Some(span) = len.checked_add(LARGE) else {
        return ptr::null_mut();
    };
    // SAFETY: a new private anonymous mapping; no existing memory is touched.
    let raw =
        unsafe { libc::mmap(ptr::null_mut(), span, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
    if raw == libc::MAP_FAILED {
        // Out of address space or memory: give back what is kept, then say so.
        if release_spare() {
            return map(size, zeroed);
        }
        return ptr::null_mut();
    }
    let raw = raw as usize;
    let start = raw.next_multiple_of(LARGE);
    // SAFETY: both trims lie within the mapping just made, outside `start..start + len`.
    unsafe {
        if start > raw {
            libc::munmap(raw as *mut libc::c_void, start - raw);
        }
        if raw + span > start + len {
            libc::munmap((start + len) as *mut libc::c_void, raw + span - start - len);
        }
    }
    // SAFETY: the mapping is ours and untouched.
    unsafe { crate::io::huge_pages::advise(start as *mut u8, len) };
    start as *mut u8
}

/// Unmaps every kept mapping; whether there was one.
fn release_spare() -> bool {
    let gone = std::mem::take(&mut spare().maps);
    spare().bytes = 0;
    for &(start, len) in &gone {
        crate::io::huge_pages::forget(start as *mut u8);
        // SAFETY: a whole mapping `map` made, no longer in use or kept.
        unsafe { libc::munmap(start as *mut libc::c_void, len) };
    }
    !gone.is_empty()
}

/// Takes back what [`map`] made for `size` bytes at `ptr`: kept for reuse,
/// the oldest kept ones unmapped to stay within [`SPARE_BYTES`].
///
/// # Safety
/// `ptr` came from `map(size, _)` and is not used again.
unsafe fn unmap(ptr: *mut u8, size: usize) {
    let len = page_rounded(size);
    let mut gone = Vec::new();
    {
        let mut spare = spare();
        while spare.bytes + len > SPARE_BYTES && !spare.maps.is_empty() {
            let old = spare.maps.remove(0);
            spare.bytes -= old.1;
            gone.push(old);
        }
        if len <= SPARE_BYTES {
            spare.bytes += len;
            spare.maps.push((ptr as usize, len));
        } else {
            gone.push((ptr as usize, len));
        }
    }
    for (start, len) in gone {
        crate::io::huge_pages::forget(start as *mut u8);
        // SAFETY: a whole mapping `map` made, no longer in use or kept.
        unsafe { libc::munmap(start as *mut libc::c_void, len) };
    }
}

// SAFETY: every block comes from `System` or from `map`, and goes back to
// the same one: both directions decide by `large` on the same layout
// (`realloc` moves between them by copying). Mappings are `LARGE`-aligned,
// which covers every alignment `large` admits, and zeroed when asked.
unsafe impl GlobalAlloc for LargeOnHugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if large(&layout) { map(layout.size(), false) } else { unsafe { System.alloc(layout) } }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if large(&layout) { map(layout.size(), true) } else { unsafe { System.alloc_zeroed(layout) } }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if large(&layout) { unsafe { unmap(ptr, layout.size()) } } else { unsafe { System.dealloc(ptr, layout) } }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, does not overflow.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !large(&layout) && !large(&new) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a valid layout per the caller; the old block stays ours
        // until copied and freed.
        unsafe {
            let moved = self.alloc(new);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::huge_pages;

    static A: LargeOnHugePages = LargeOnHugePages;

    #[test]
    fn large_blocks_are_aligned_zeroed_registered_and_move_between_paths() {
        // SAFETY: every block below is freed with the layout it was made with.
        unsafe {
            let big = Layout::from_size_align(LARGE + 100, 1).expect("layout");
            let p = A.alloc(big);
            assert_eq!(p as usize % LARGE, 0, "aligned to a huge page");
            assert!(std::slice::from_raw_parts(p, big.size()).iter().all(|&b| b == 0), "fresh memory is zero");
            assert_eq!(huge_pages::holds(p, big.size()), huge_pages::available());
            p.write_bytes(7, big.size());

            // Large → larger, then down below LARGE: copied both times, contents kept.
            let grown_layout = Layout::from_size_align(3 * LARGE + 12_345, 1).expect("layout");
            let grown = A.realloc(p, big, grown_layout.size());
            assert_eq!(grown as usize % LARGE, 0);
            assert!(std::slice::from_raw_parts(grown, big.size()).iter().all(|&b| b == 7));
            let small = A.realloc(grown, grown_layout, 4096);
            assert!(std::slice::from_raw_parts(small, 4096).iter().all(|&b| b == 7));

            // The moved-from mapping was kept: the same size takes it back, zeroed when asked.
            let kept = A.alloc_zeroed(grown_layout);
            assert_eq!(kept, grown, "a kept mapping of the same size is reused");
            assert!(std::slice::from_raw_parts(kept, grown_layout.size()).iter().all(|&b| b == 0), "and zeroed");
            A.dealloc(kept, grown_layout);

            // Small → large.
            let small_layout = Layout::from_size_align(4096, 1).expect("layout");
            let again = A.realloc(small, small_layout, LARGE);
            assert_eq!(again as usize % LARGE, 0);
            assert!(std::slice::from_raw_parts(again, 4096).iter().all(|&b| b == 7));
            A.dealloc(again, Layout::from_size_align(LARGE, 1).expect("layout"));

            // Zeroed, and an alignment above LARGE: the system allocator's.
            let z = Layout::from_size_align(LARGE, 8).expect("layout");
            let zp = A.alloc_zeroed(z);
            assert!(std::slice::from_raw_parts(zp, LARGE).iter().all(|&b| b == 0));
            A.dealloc(zp, z);
            let over = Layout::from_size_align(LARGE, 2 * LARGE).expect("layout");
            let op = A.alloc(over);
            assert_eq!(op as usize % (2 * LARGE), 0);
            assert!(!huge_pages::registered(op), "not one of ours");
            A.dealloc(op, over);
        }
    }
}
