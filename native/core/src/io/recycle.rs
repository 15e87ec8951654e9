//! Recycled result buffers. A `get` hands its bytes to JS as a `Buffer`
//! over a Rust allocation; when JS collects that Buffer, the binding gives
//! the allocation back here and the next `get` reuses it. Reused pages are
//! already mapped and touched, which matters: first touch of fresh memory
//! runs at ~1.5–2 GB/s on our machines, below the device's read speed
//! (profile in docs/benchmarks.md).
//!
//! Bounded: at most [`MAX_POOLED`] buffers and [`MAX_POOLED_BYTES`] bytes
//! are kept; small buffers (< 64 KiB) are never pooled (the allocator
//! serves them from hot memory anyway).

use std::sync::Mutex;

/// Most buffers kept.
pub const MAX_POOLED: usize = 64;
/// Most bytes kept, in all.
pub const MAX_POOLED_BYTES: usize = 512 << 20;
const MIN_POOLED: usize = 64 << 10;

struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { free: Vec::new(), bytes: 0 });

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

/// An empty vector with room for at least `len` bytes: a recycled one
/// (the smallest that fits and is not more than twice too big) when there
/// is one, else a new one.
pub fn take(len: usize) -> Vec<u8> {
    if len >= MIN_POOLED {
        let mut p = pool();
        let best = p
            .free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= len.saturating_mul(2))
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let mut v = p.free.swap_remove(i);
            p.bytes -= v.capacity();
            v.clear();
            return v;
        }
    }
    Vec::with_capacity(len)
}

/// Gives a vector back for reuse (or frees it when the pool is full).
pub fn give(v: Vec<u8>) {
    let cap = v.capacity();
    if cap < MIN_POOLED {
        return;
    }
    let mut p = pool();
    if p.free.len() < MAX_POOLED && p.bytes + cap <= MAX_POOLED_BYTES {
        p.bytes += cap;
        p.free.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_a_fitting_buffer_and_ignores_small_ones() {
        let mut v = take(1 << 20);
        v.extend_from_slice(&[1; 1 << 20]);
        let ptr = v.as_ptr();
        give(v);
        let again = take((1 << 20) - 10);
        assert_eq!(again.as_ptr(), ptr, "the same allocation comes back");
        assert!(again.is_empty());
        give(again);
        let bigger = take(3 << 20);
        assert_ne!(bigger.as_ptr(), ptr, "a buffer too small is not handed out");
        let huge = take(16 << 20);
        assert!(huge.capacity() >= 16 << 20);
        give(Vec::with_capacity(100));
        assert!(take(100).capacity() >= 100);
    }
}
