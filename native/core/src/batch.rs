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
//!   input order. The threads come from the embedder ([`set_executor`]: the
//!   Node addon's idle workers), with the calling thread running any piece
//!   none has started yet, so a busy or slow hand-off costs parallelism,
//!   never progress.
//! - [`chunks`]: the pieces of one tile handed to one guest call, bounded in
//!   keys and bytes so each call stays well within its deadline and handle
//!   limit.

use crate::{Cancel, Error, Result};
use std::collections::HashSet;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

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

/// Runs a closure on one of the embedder's threads, soon (a thread pool's
/// submit). The Node addon gives its worker pool.
pub type Executor = fn(Box<dyn FnOnce() + Send + 'static>);

static EXECUTOR: OnceLock<Executor> = OnceLock::new();

/// Sets the pool [`tiles`] hands pieces to (once per process; later calls
/// are ignored). Without one, tiles start a thread each.
pub fn set_executor(run: Executor) {
    let _ = EXECUTOR.set(run);
}

/// Runs each job (one per tile) in parallel — the first on the calling
/// thread — and concatenates their results in order.
///
/// Why not a thread per tile: on the 2-vCPU VMs we measure on, a new thread
/// often started on its parent's CPU and waited for it, so `existsMany` of
/// 1 000 keys in two tiles took as long as in one; handed to a thread that
/// already exists, it took 0.6–0.7 × as long (docs/benchmarks.md, "Batch
/// tiles on the worker pool").
pub fn tiles<T: Send>(jobs: Vec<Job<'_, T>>) -> Vec<Result<T>> {
    let mut jobs = jobs.into_iter();
    let Some(first) = jobs.next() else {
        return Vec::new();
    };
    let rest: Vec<_> = jobs.collect();
    if rest.is_empty() {
        return first();
    }
    if let Some(run) = EXECUTOR.get() {
        return on_pool(*run, first, rest);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = rest.into_iter().map(|job| s.spawn(job)).collect();
        let mut out = first();
        for h in handles {
            out.extend(h.join().unwrap_or_else(|panic| resume_unwind(panic)));
        }
        out
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A tile offered to the pool: its work until a thread claims it, and
/// whether a pool thread that claimed it has finished.
struct Offer {
    work: Mutex<Option<Box<dyn FnOnce() + Send + 'static>>>,
    done: Mutex<bool>,
    finished: Condvar,
}

impl Offer {
    /// The work, for the one thread that gets there first.
    fn claim(&self) -> Option<Box<dyn FnOnce() + Send + 'static>> {
        lock(&self.work).take()
    }

    fn wait(&self) {
        let mut done = lock(&self.done);
        while !*done {
            done = self.finished.wait(done).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Marks a claimed offer finished when dropped: after its work returned or
/// even unwound (the work catches panics; this covers what it cannot), so
/// its caller never waits for ever.
struct Finish(Arc<Offer>);

impl Drop for Finish {
    fn drop(&mut self) {
        *lock(&self.0.done) = true;
        self.0.finished.notify_all();
    }
}

/// Settles every offer before the caller's frame (which the offers borrow)
/// goes, on every path out of [`on_pool`]: once the caller's own tile has
/// returned ([`SettleAll::after_first`]) it runs what no pool thread has
/// claimed, then waits for what one did; if the caller unwinds instead, it
/// drops the unclaimed work unrun and still waits for the claimed.
struct SettleAll<'a> {
    offers: &'a [Arc<Offer>],
    run_unclaimed: bool,
}

impl SettleAll<'_> {
    fn after_first(mut self) {
        self.run_unclaimed = true;
    }
}

impl Drop for SettleAll<'_> {
    fn drop(&mut self) {
        // Every unclaimed tile first, so none waits behind a slow claimed one.
        let taken: Vec<bool> = self
            .offers
            .iter()
            .map(|offer| match offer.claim() {
                Some(work) if self.run_unclaimed => {
                    work();
                    true
                }
                Some(_unrun) => true,
                None => false,
            })
            .collect();
        for (offer, taken) in self.offers.iter().zip(taken) {
            if !taken {
                offer.wait();
            }
        }
    }
}

/// [`tiles`] with the pieces after the first offered to `run`'s threads.
fn on_pool<'a, T: Send>(run: Executor, first: Job<'a, T>, rest: Vec<Job<'a, T>>) -> Vec<Result<T>> {
    type Outcome<T> = Mutex<Option<std::thread::Result<Vec<Result<T>>>>>;
    let outcomes: Vec<Outcome<T>> = rest.iter().map(|_| Mutex::new(None)).collect();
    let offers: Vec<Arc<Offer>> = rest
        .into_iter()
        .zip(&outcomes)
        .map(|(job, outcome)| {
            let work: Box<dyn FnOnce() + Send + '_> = Box::new(move || *lock(outcome) = Some(catch_unwind(AssertUnwindSafe(job))));
            // SAFETY: only the lifetime changes. `work` borrows `job`'s
            // captures and `outcome`, which live until `on_pool` returns or
            // unwinds, and `SettleAll` (created before any offer is handed
            // out, dropped on every path out) does not let it go until each
            // work has finished running or been dropped unrun. A pool thread
            // that comes later finds the offer empty and touches nothing
            // borrowed: an `Offer` holds only its `'static` work box.
            let work: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(work) };
            Arc::new(Offer { work: Mutex::new(Some(work)), done: Mutex::new(false), finished: Condvar::new() })
        })
        .collect();
    let settle = SettleAll { offers: &offers, run_unclaimed: false };
    for offer in &offers {
        let offer = offer.clone();
        run(Box::new(move || {
            if let Some(work) = offer.claim() {
                let _finish = Finish(offer);
                work();
            }
        }));
    }
    let mut out = first();
    settle.after_first();
    for outcome in outcomes {
        match outcome.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(Ok(results)) => out.extend(results),
            Some(Err(panic)) => resume_unwind(panic),
            None => unreachable!("every offer is settled before its outcome is read"),
        }
    }
    out
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
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    fn numbered(tiles: usize) -> Vec<Job<'static, usize>> {
        (0..tiles).map(|t| Box::new(move || (t * 10..t * 10 + 3).map(Ok).collect()) as Box<_>).collect()
    }

    fn split(jobs: Vec<Job<'_, usize>>) -> (Job<'_, usize>, Vec<Job<'_, usize>>) {
        let mut jobs = jobs.into_iter();
        (jobs.next().unwrap(), jobs.collect())
    }

    fn values(results: Vec<Result<usize>>) -> Vec<usize> {
        results.into_iter().map(|r| r.unwrap()).collect()
    }

    thread_local! {
        /// Work handed to `stash`, an executor whose threads never come (per
        /// test thread: tests run in parallel).
        static STASHED: std::cell::RefCell<Vec<Box<dyn FnOnce() + Send + 'static>>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    fn stash(work: Box<dyn FnOnce() + Send + 'static>) {
        STASHED.with_borrow_mut(|s| s.push(work));
    }

    fn stashed() -> Vec<Box<dyn FnOnce() + Send + 'static>> {
        STASHED.with_borrow_mut(std::mem::take)
    }

    fn spawn(work: Box<dyn FnOnce() + Send + 'static>) {
        std::thread::spawn(work);
    }

    #[test]
    fn tiles_on_a_pool_keep_order_whoever_runs_them() {
        let want = vec![0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32];
        // A pool thread that starts at once, one that starts late (the caller
        // runs what it has not claimed), and one that never comes.
        let (first, rest) = split(numbered(4));
        assert_eq!(values(on_pool(spawn, first, rest)), want);
        let (first, rest) = split(numbered(4));
        let late = |w: Box<dyn FnOnce() + Send>| {
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                w()
            });
        };
        assert_eq!(values(on_pool(late, first, rest)), want);
        let (first, rest) = split(numbered(4));
        assert_eq!(values(on_pool(stash, first, rest)), want);
        // Work that arrives after the call returned finds its tile taken and
        // touches nothing (run under Miri or ASan, this is where a dangling
        // borrow would show).
        let late = stashed();
        assert_eq!(late.len(), 3);
        late.into_iter().for_each(|w| w());
    }

    /// `n` tiles, each running `before(t)`, counting itself in `ran`, then
    /// answering `answer(t)`.
    fn counted(n: usize, ran: &AtomicUsize, before: fn(usize), answer: fn(usize) -> Vec<Result<usize>>) -> Vec<Job<'_, usize>> {
        (0..n)
            .map(|t| {
                Box::new(move || {
                    before(t);
                    ran.fetch_add(1, Ordering::SeqCst);
                    answer(t)
                }) as Box<_>
            })
            .collect()
    }

    #[test]
    fn a_tile_that_panics_fails_the_call_after_every_tile_is_settled() {
        let ran = AtomicUsize::new(0);
        let jobs = counted(
            3,
            &ran,
            |_| std::thread::sleep(std::time::Duration::from_millis(5)),
            |t| if t == 1 { panic!("tile {t} failed") } else { vec![Ok(t)] },
        );
        let (first, rest) = split(jobs);
        let panic = catch_unwind(AssertUnwindSafe(|| on_pool(spawn, first, rest))).unwrap_err();
        assert_eq!(panic.downcast_ref::<String>().map(String::as_str), Some("tile 1 failed"));
        assert_eq!(ran.load(Ordering::SeqCst), 3, "every tile ran to its end before the panic left the call");
        // The caller's own tile panicking: offered tiles are still settled
        // (claimed ones waited for, the rest dropped unrun) before it unwinds.
        let jobs: Vec<Job<'_, usize>> = vec![Box::new(|| panic!("first")), Box::new(|| vec![Ok(1)])];
        let (first, rest) = split(jobs);
        assert!(catch_unwind(AssertUnwindSafe(|| on_pool(stash, first, rest))).is_err());
        stashed().into_iter().for_each(|w| w());
    }

    #[test]
    fn a_claimed_tile_is_waited_for_even_when_the_caller_unwinds() {
        use std::sync::atomic::AtomicBool;
        let (started, finished, released) = (AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false));
        let (started, finished, released) = (&started, &finished, &released);
        let jobs: Vec<Job<'_, usize>> = vec![
            Box::new(move || {
                while !started.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                panic!("the caller's own tile")
            }),
            // Runs until released after the call has unwound, or for 1 s: a
            // call that unwinds without waiting for it is caught in the act.
            Box::new(move || {
                started.store(true, Ordering::SeqCst);
                let t = std::time::Instant::now();
                while !released.load(Ordering::SeqCst) && t.elapsed() < std::time::Duration::from_secs(1) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                finished.store(true, Ordering::SeqCst);
                vec![Ok(1)]
            }),
        ];
        let (first, rest) = split(jobs);
        assert!(catch_unwind(AssertUnwindSafe(|| on_pool(spawn, first, rest))).is_err());
        let waited = finished.load(Ordering::SeqCst);
        released.store(true, Ordering::SeqCst);
        assert!(waited, "the call unwound while a pool thread still ran a tile borrowing its frame");
    }

    #[test]
    fn an_executor_that_panics_fails_the_call_and_runs_no_tile() {
        let ran = AtomicUsize::new(0);
        let (first, rest) = split(counted(3, &ran, |_| {}, |t| vec![Ok(t)]));
        let refuse = |_: Box<dyn FnOnce() + Send>| panic!("no threads");
        assert!(catch_unwind(AssertUnwindSafe(|| on_pool(refuse, first, rest))).is_err());
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the offers were dropped unrun as the call unwound");
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
