//! The shapes of batched calls, shared by the front door and every
//! connector kind: one result per key, in input order, and the few rules
//! that split a caller's batch into pieces a connector can run.
//!
//! - [`per_key`]: the loop a connector without batched calls gets for free;
//!   a key reached after the caller cancelled is not started.
//! - [`rounds`]: a batch that writes one key twice runs in rounds in which
//!   no key repeats, in order, so "last write wins" holds and a connector may
//!   run the keys of one call in any order.
//! - [`tiles`]: contiguous pieces run in parallel on several threads (and,
//!   for sandboxed connectors, several instances); results are put back in
//!   input order.
//! - [`chunks`]: the pieces of one tile handed to one guest call, bounded in
//!   keys and bytes so each call stays well within its deadline and handle
//!   limit.

use crate::{Cancel, Error, Result};
use std::collections::HashSet;
use std::ops::Range;

/// The result for a key never started because the caller cancelled first.
pub fn not_started(op: &str) -> Error {
    Error::Cancelled(format!("{op} was cancelled before this key was started; nothing was done for it"))
}

/// Runs `f` for each of `n` keys in order; keys reached after `cancel` was
/// tripped are not started.
pub fn per_key<T>(n: usize, op: &str, cancel: &Cancel, mut f: impl FnMut(usize) -> Result<T>) -> Vec<Result<T>> {
    (0..n).map(|i| if cancel.is_cancelled() { Err(not_started(op)) } else { f(i) }).collect()
}

/// `keys` cut into consecutive ranges in which no key appears twice.
pub fn rounds(keys: &[String]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut start = 0;
    for (i, key) in keys.iter().enumerate() {
        if !seen.insert(key) {
            out.push(start..i);
            seen.clear();
            seen.insert(key);
            start = i;
        }
    }
    if start < keys.len() || keys.is_empty() {
        out.push(start..keys.len());
    }
    out
}

/// How many keys each tile of an `n`-key batch gets, using at most
/// `threads` tiles of at least `min_keys` keys each.
pub fn tile_len(n: usize, threads: usize, min_keys: usize) -> usize {
    let tiles = n.div_ceil(min_keys.max(1)).clamp(1, threads.max(1));
    n.div_ceil(tiles).max(1)
}

/// The work of one tile: its keys' results, in order.
pub type Job<'a, T> = Box<dyn FnOnce() -> Vec<Result<T>> + Send + 'a>;

/// Runs each job (one per tile) on its own thread — the first on the
/// calling thread — and concatenates their results in order.
pub fn tiles<T: Send>(jobs: Vec<Job<'_, T>>) -> Vec<Result<T>> {
    let mut jobs = jobs.into_iter();
    let Some(first) = jobs.next() else {
        return Vec::new();
    };
    let rest: Vec<_> = jobs.collect();
    if rest.is_empty() {
        return first();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = rest.into_iter().map(|job| s.spawn(job)).collect();
        let mut out = first();
        for h in handles {
            out.extend(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        out
    })
}

/// Consecutive ranges of at most `max_keys` items and, past the first item
/// of each, at most `max_bytes` bytes (`size(i)` for item `i`).
pub fn chunks(n: usize, max_keys: usize, max_bytes: u64, size: impl Fn(usize) -> u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for i in 0..n {
        let b = size(i);
        if i > start && (i - start >= max_keys.max(1) || bytes.saturating_add(b) > max_bytes) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(b);
    }
    if start < n {
        out.push(start..n);
    }
    out
}

/// `results` checked to hold one result per key: a connector that answered
/// a batch with another count broke the contract, and every key of it fails.
pub fn one_per_key<T>(results: Vec<Result<T>>, keys: usize, op: &str) -> Vec<Result<T>> {
    if results.len() == keys {
        return results;
    }
    let why = Error::Connector(format!(
        "the connector broke the batch contract: {op} returned {} results for {keys} keys; \
         whether each key was applied is unknown (each atomically or not at all)",
        results.len()
    ));
    vec![why; keys].into_iter().map(Err).collect()
}

/// The same error for every key of a piece (a trap, a timeout, a refused call).
pub fn all_failed<T>(e: &Error, keys: usize) -> Vec<Result<T>> {
    (0..keys).map(|_| Err(e.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn rounds_never_repeat_a_key_and_keep_order() {
        assert_eq!(rounds(&keys(&[])), vec![0..0]);
        assert_eq!(rounds(&keys(&["a", "b", "c"])), vec![0..3]);
        assert_eq!(rounds(&keys(&["a", "b", "a", "c", "b", "b"])), vec![0..2, 2..5, 5..6]);
    }

    #[test]
    fn tiles_and_chunks_cover_every_key_once() {
        assert_eq!(tile_len(1000, 4, 64), 250);
        assert_eq!(tile_len(100, 4, 64), 50);
        assert_eq!(tile_len(10, 4, 64), 10);
        assert_eq!(tile_len(3, 4, 1), 1);
        assert_eq!(tile_len(0, 4, 1), 1);
        let sizes = [5u64, 5, 20, 1, 1, 1];
        assert_eq!(chunks(6, 2, 100, |i| sizes[i]), vec![0..2, 2..4, 4..6]);
        assert_eq!(chunks(6, 10, 10, |i| sizes[i]), vec![0..2, 2..3, 3..6]);
        assert_eq!(chunks(0, 10, 10, |_| 1), Vec::<Range<usize>>::new());
        let jobs: Vec<Job<'_, usize>> = (0..4usize).map(|t| Box::new(move || (t * 10..t * 10 + 3).map(Ok).collect()) as Box<_>).collect();
        let got: Vec<usize> = tiles(jobs).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]);
    }

    #[test]
    fn a_wrong_count_fails_every_key_and_cancelled_keys_are_not_started() {
        let r = one_per_key(vec![Ok(1), Ok(2)], 3, "existsMany");
        assert!(r.iter().all(|r| matches!(r, Err(Error::Connector(m)) if m.contains("2 results for 3 keys"))));
        let cancel = Cancel::new();
        let mut ran = 0;
        let r = per_key(3, "putMany", &cancel, |i| {
            ran += 1;
            if i == 1 {
                cancel.cancel();
            }
            Ok(i)
        });
        assert_eq!(ran, 2);
        assert!(matches!(r[2], Err(Error::Cancelled(_))));
    }
}
