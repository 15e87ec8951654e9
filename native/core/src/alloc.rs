//! [`LargeOnHugePages`], the global allocator of kvbox's Node addon: the
//! system allocator, except that where the kernel gives huge pages on
//! advice, an allocation of [`LARGE`] or more gets a mapping of its own,
//! 2 MiB-aligned, a whole number of huge pages long, advised for huge pages
//! and registered with [`crate::io::huge_pages`].
//!
//! What it is for: a `get`'s result is a `Vec` (recycled, see
//! [`crate::recycle`]) that kvbox reads the object into. On huge pages
//! the O_DIRECT read goes straight into it at the device's speed instead
//! of through a bounce buffer and a copy, and its first touch faults in
//! 2 MiB at a time instead of 512 pages of 4 KiB. The same holds for any
//! other large buffer kvbox writes from.
//!
//! Freed mappings are kept for reuse (up to [`SPARE_BYTES`], the oldest
//! unmapped first), the next allocation of the same length taking one
//! back (or a part of a longer one): on our VMs the first touch of a fresh
//! huge page costs 2.6–5 ms (most likely the hypervisor backing the 2 MiB
//! anew; 110–120 µs once the process reuses it — docs/benchmarks.md,
//! "Straight from huge pages").
//!
//! Everything else — under [`LARGE`], aligned to more than it, or any
//! allocation where THP is off — goes to the system allocator untouched;
//! the layout decides, so `dealloc` always takes the path `alloc` took.

use crate::io::huge_pages;
use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::Mutex;

/// The size from which an allocation gets a huge-page mapping of its own.
pub const LARGE: usize = 2 << 20;
/// The most bytes of freed mappings kept for reuse.
pub const SPARE_BYTES: usize = 256 << 20;

/// Freed mappings kept for reuse, oldest first: (start, length).
struct Spare {
    maps: Vec<(usize, usize)>,
    bytes: usize,
}

static SPARE: Mutex<Spare> = Mutex::new(Spare { maps: Vec::new(), bytes: 0 });

fn spare() -> std::sync::MutexGuard<'static, Spare> {
    SPARE.lock().unwrap_or_else(|p| p.into_inner())
}

impl Spare {
    /// The start of a kept mapping for `len` bytes, no longer kept: the
    /// newest of exactly that length, else the shortest longer one, split
    /// at `len` (lengths are whole huge pages, so the split is too) with
    /// the rest kept.
    fn take(&mut self, len: usize) -> Option<usize> {
        let exact = self.maps.iter().rposition(|&(_, l)| l == len);
        let i = exact.or_else(|| self.maps.iter().enumerate().filter(|(_, m)| m.1 > len).min_by_key(|(_, m)| m.1).map(|(i, _)| i))?;
        let (start, l) = self.maps.remove(i);
        self.bytes -= len;
        if l > len {
            self.maps.push((start + len, l - len));
        }
        Some(start)
    }

    /// Keeps `(start, len)` within `cap` bytes; what to unmap: the oldest
    /// kept mappings that no longer fit, or the mapping itself when it
    /// alone is over `cap`.
    fn keep(&mut self, start: usize, len: usize, cap: usize) -> Vec<(usize, usize)> {
        if len > cap {
            return vec![(start, len)];
        }
        let mut gone = Vec::new();
        while self.bytes + len > cap {
            let old = self.maps.remove(0);
            self.bytes -= old.1;
            gone.push(old);
        }
        self.bytes += len;
        self.maps.push((start, len));
        gone
    }
}

/// See the module documentation.
pub struct LargeOnHugePages;

fn large(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= LARGE && huge_pages::available()
}

/// A large allocation's mapping length: whole huge pages, so all of it can
/// be backed by them (a partial last one would be 4 KiB pages).
fn mapped_len(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(LARGE)
}

/// Unmaps `(start, len)` pairs made by [`map`] (no longer registered).
fn unmap_all(maps: &[(usize, usize)]) {
    for &(start, len) in maps {
        // SAFETY: a whole mapping `map` made, no longer in use or kept.
        unsafe { libc::munmap(start as *mut libc::c_void, len) };
    }
}

/// A mapping for `size` bytes (see [`mapped_len`]), advised for huge pages
/// and registered: a kept one of that length when there is one, else a
/// fresh one; null when the kernel refuses. Zeroed when `zeroed` (fresh
/// mappings are).
fn map(size: usize, zeroed: bool) -> *mut u8 {
    let Some(len) = mapped_len(size) else {
        return ptr::null_mut();
    };
    let kept = spare().take(len).map(|start| start as *mut u8);
    if let Some(start) = kept {
        // SAFETY: the whole mapping is ours again; registered again.
        unsafe {
            if zeroed {
                start.write_bytes(0, len);
            }
            huge_pages::advise(start, len);
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
        // Out of address space or memory: give back what is kept, then try once more.
        let kept = {
            let mut spare = spare();
            spare.bytes = 0;
            std::mem::take(&mut spare.maps)
        };
        unmap_all(&kept);
        return if kept.is_empty() { ptr::null_mut() } else { map(size, zeroed) };
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
    unsafe { huge_pages::advise(start as *mut u8, len) };
    start as *mut u8
}

/// Takes back what [`map`] made for `size` bytes at `ptr`: kept for reuse,
/// the oldest kept ones unmapped to stay within [`SPARE_BYTES`].
///
/// # Safety
/// `ptr` came from `map(size, _)` and is not used again.
unsafe fn unmap(ptr: *mut u8, size: usize) {
    let len = mapped_len(size).expect("the length map() made");
    // Registered only while allocated: a kept mapping is registered again when reused.
    huge_pages::forget(ptr);
    let gone = spare().keep(ptr as usize, len, SPARE_BYTES);
    unmap_all(&gone);
}

/// Bytes of freed mappings kept for reuse now.
pub fn spare_bytes() -> usize {
    spare().bytes
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
        match (large(&layout), large(&new)) {
            (false, false) => return unsafe { System.realloc(ptr, layout, new_size) },
            // The same mapping fits both sizes.
            (true, true) if mapped_len(layout.size()) == mapped_len(new_size) => return ptr,
            _ => {}
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

    static A: LargeOnHugePages = LargeOnHugePages;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 1).expect("layout")
    }

    /// Whether the machine has THP; says so when it does not (the large path is then off).
    fn thp() -> bool {
        let on = huge_pages::available();
        if !on {
            eprintln!("SKIPPED: transparent huge pages are off here, so every allocation is the system allocator's");
        }
        on
    }

    #[test]
    fn large_blocks_are_aligned_zeroed_registered_and_move_between_paths() {
        if !thp() {
            return;
        }
        // SAFETY: every block below is freed with the layout it was made with.
        unsafe {
            let big = layout(13 * LARGE + 100);
            let p = A.alloc_zeroed(big);
            assert_eq!(p as usize % LARGE, 0, "aligned to a huge page");
            assert!(std::slice::from_raw_parts(p, big.size()).iter().all(|&b| b == 0), "zeroed");
            assert!(huge_pages::holds(p, 14 * LARGE), "registered, whole huge pages");
            p.write_bytes(7, big.size());

            // Within the same whole huge pages: no move.
            assert_eq!(A.realloc(p, big, 14 * LARGE), p);
            // Larger, then below LARGE: copied both times, contents kept.
            let grown_layout = layout(17 * LARGE + 5);
            let grown = A.realloc(p, layout(14 * LARGE), grown_layout.size());
            assert_ne!(grown, p);
            assert_eq!(grown as usize % LARGE, 0);
            assert!(std::slice::from_raw_parts(grown, big.size()).iter().all(|&b| b == 7));
            let small = A.realloc(grown, grown_layout, 4096);
            assert!(std::slice::from_raw_parts(small, 4096).iter().all(|&b| b == 7));

            // The moved-from mapping was kept (which one comes back is the spare list's
            // test below: tests running alongside may take it): zeroed when asked, registered.
            let kept = A.alloc_zeroed(grown_layout);
            assert!(std::slice::from_raw_parts(kept, grown_layout.size()).iter().all(|&b| b == 0), "zeroed");
            assert!(huge_pages::holds(kept, 18 * LARGE), "registered");
            A.dealloc(kept, grown_layout);

            // Small → large.
            let again = A.realloc(small, layout(4096), 19 * LARGE);
            assert_eq!(again as usize % LARGE, 0);
            assert!(std::slice::from_raw_parts(again, 4096).iter().all(|&b| b == 7));
            A.dealloc(again, layout(19 * LARGE));

            // An alignment above LARGE: the system allocator's.
            let over = Layout::from_size_align(LARGE, 2 * LARGE).expect("layout");
            let op = A.alloc(over);
            assert_eq!(op as usize % (2 * LARGE), 0);
            assert!(!huge_pages::registered(op), "not one of ours");
            A.dealloc(op, over);
        }
    }

    #[test]
    fn the_spare_list_reuses_exact_lengths_first_splits_longer_ones_and_evicts_the_oldest() {
        const M: usize = LARGE;
        let mut s = Spare { maps: Vec::new(), bytes: 0 };
        assert_eq!(s.take(M), None, "nothing kept");
        assert!(s.keep(100 * M, 8 * M, 20 * M).is_empty());
        assert!(s.keep(200 * M, 2 * M, 20 * M).is_empty());
        assert!(s.keep(300 * M, 4 * M, 20 * M).is_empty());
        assert_eq!(s.bytes, 14 * M);
        assert_eq!(s.take(4 * M), Some(300 * M), "the exact length");
        assert_eq!(s.take(6 * M), Some(100 * M), "the shortest longer one, split");
        assert_eq!(s.maps, vec![(200 * M, 2 * M), (106 * M, 2 * M)], "its rest kept");
        assert_eq!(s.bytes, 4 * M);
        assert_eq!(s.take(2 * M), Some(106 * M), "the newest of a length");
        assert_eq!(s.take(4 * M), None, "nothing long enough");
        // Over the cap: the oldest go first; a mapping over the cap alone is not kept.
        assert!(s.keep(400 * M, 10 * M, 20 * M).is_empty());
        assert_eq!(s.keep(500 * M, 10 * M, 20 * M), vec![(200 * M, 2 * M)]);
        assert_eq!(s.keep(600 * M, 12 * M, 20 * M), vec![(400 * M, 10 * M), (500 * M, 10 * M)]);
        assert_eq!(s.bytes, 12 * M);
        assert_eq!(s.keep(700 * M, 21 * M, 20 * M), vec![(700 * M, 21 * M)]);
        assert_eq!(s.maps, vec![(600 * M, 12 * M)]);
    }

    #[test]
    fn kept_mappings_stay_within_the_cap() {
        if !thp() {
            return;
        }
        // SAFETY: untouched mappings, each freed once with its layout.
        unsafe {
            let each = layout(21 * LARGE); // 42 MiB: seven exceed the cap
            let blocks: Vec<*mut u8> = (0..7).map(|_| A.alloc(each)).collect();
            assert!(blocks.iter().all(|p| !p.is_null()));
            for &p in &blocks {
                A.dealloc(p, each);
                assert!(spare_bytes() <= SPARE_BYTES, "{} kept bytes", spare_bytes());
            }
            let huge = layout(SPARE_BYTES + LARGE);
            let p = A.alloc(huge);
            assert!(!p.is_null());
            A.dealloc(p, huge);
            assert!(spare_bytes() <= SPARE_BYTES, "a mapping over the cap is not kept");
            assert!(!huge_pages::registered(p), "and is unmapped");
        }
    }
}
