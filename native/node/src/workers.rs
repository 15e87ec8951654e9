//! The worker threads kvbox-core calls run on, and the hand-off to them.
//!
//! Not libuv's pool: a connector stuck in a slow call (up to its deadline)
//! must not hold the threads Node's own `fs`, `crypto` and other tenants
//! need. The pool grows on demand (up to [`MAX_THREADS`]) and lets threads
//! idle for [`KEEP_ALIVE`] go. Per tenant, calls are bounded by
//! `quota.inFlight`, checked before anything is queued.
//!
//! **The spinning hand-off.** Waking a parked thread costs a futex wake and a
//! reschedule (≈ 8–10 µs on the VMs we measure on, far more when the wakee's
//! vCPU is idle). A brief call the JS thread waited for inline, or a
//! single-key data call (`settle::Wait::Io`), that was its JS thread's only
//! call in flight (a caller awaiting calls one by one) asks its worker to
//! stay awake for `KVBOX_WORKER_SPIN_US` (default [`DEFAULT_SPIN_US`])
//! watching the queue, so the caller's next call is handed over with no
//! system call (sequential 4 KiB `getInto`s from the page cache: 39–63 →
//! 25–31 µs per call). At most one worker spins at a time; spins that catch nothing back off (up to
//! [`MAX_SPIN_BACKOFF`] jobs without one), and calls with others in flight
//! never spin, since there the spinner would take a core from the workers and
//! the JS thread (it cost 20–25 % of the `exists` rate at 32 in flight,
//! `docs/benchmarks.md`).
//!
//! Every worker enters the tokio runtime that drives WASI streams (a guest's
//! stdout and stderr run small tasks on the runtime of the calling thread).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// One call's work, settling its own promise.
pub type Job = Box<dyn FnOnce() + Send>;

/// How long an idle worker waits for work before its thread exits.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Threads at most; past it, calls wait in the queue for a free worker.
const MAX_THREADS: usize = 1024;
/// The default spin window (µs) of the worker that just finished a call.
pub const DEFAULT_SPIN_US: u64 = 50;
/// The default nice value of worker threads (`KVBOX_WORKER_NICE`, 0–19; a
/// thread already lower keeps its own; 0, the default, leaves them alone).
/// Workers mostly wait on the device; when they do use the CPU (copies,
/// checksums, guest code) on a machine with few cores, a lower priority lets
/// the JS thread run first, which keeps the event loop responsive: on 2
/// vCPUs, 8 lanes of 4 MiB put + getInto gave an event-loop delay p99 of
/// 2.05–2.70 ms at nice 0 and 1.90–2.33 ms at nice 10 (`docs/benchmarks.md`).
/// Opt-in, because it also lowers kvbox against every other process, and
/// threads a worker starts inherit it (the epoch ticker that enforces guest
/// deadlines, an S3 tenant's runtime).
pub const DEFAULT_WORKER_NICE: i32 = 0;

/// Most finished jobs a worker lets pass without spinning after spins that
/// caught nothing (the back-off doubles per empty spin, up to this).
const MAX_SPIN_BACKOFF: u32 = 64;

struct Pool {
    state: Mutex<State>,
    wake: Condvar,
    /// Jobs in the queue, read by the spinning worker without the lock.
    queued: AtomicUsize,
    /// A worker is spinning; it will take the next queued job.
    spinning: AtomicBool,
    /// The spin window, in nanoseconds.
    spin_ns: AtomicU64,
    /// Finished jobs still to pass without a spin, and the current back-off:
    /// a spin that catches no job doubles it, one that catches a job clears it.
    spin_skip: AtomicU32,
    spin_backoff: AtomicU32,
    /// Nice value each worker thread takes when it starts.
    nice: i32,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Workers waiting on `wake` that no submitter has claimed yet.
    parked: usize,
    /// Wake-ups sent and not yet taken by a worker.
    wakeups: usize,
    threads: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        // Batches split into tiles run them on this pool too (every batch
        // call itself starts on a worker, so this is set before any tile).
        kvbox_core::batch::set_executor(run_tile);
        let spin_us = std::env::var("KVBOX_WORKER_SPIN_US").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(DEFAULT_SPIN_US);
        // With one CPU a spinning worker only delays the thread it waits for.
        let spin_us = if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 { 0 } else { spin_us };
        Pool {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            queued: AtomicUsize::new(0),
            spinning: AtomicBool::new(false),
            spin_ns: AtomicU64::new(spin_us.saturating_mul(1000)),
            spin_skip: AtomicU32::new(0),
            spin_backoff: AtomicU32::new(0),
            nice: std::env::var("KVBOX_WORKER_NICE")
                .ok()
                .and_then(|v| v.trim().parse::<i32>().ok())
                .unwrap_or(DEFAULT_WORKER_NICE)
                .clamp(0, 19),
        }
    })
}

/// The runtime with one async worker, timers and I/O, for WASI streams.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("kvbox-async")
            .build()
            .expect("kvbox: cannot start the async runtime")
    })
}

/// Sets the spin window (µs; 0 = park at once). For benchmarks that compare
/// both ways in one process; deployments use `KVBOX_WORKER_SPIN_US`.
pub fn set_spin_us(us: u64) {
    let pool = pool();
    pool.spin_ns.store(us.saturating_mul(1000), Ordering::Relaxed);
    pool.spin_skip.store(0, Ordering::Relaxed);
    pool.spin_backoff.store(0, Ordering::Relaxed);
}

/// The spin window in µs.
pub fn spin_us() -> u64 {
    pool().spin_ns.load(Ordering::Relaxed) / 1000
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `job` on a worker thread.
pub fn run(job: Job) {
    let pool = pool();
    let mut s = pool.lock();
    let queued = enqueue(pool, &mut s, job);
    // A spinning worker takes the first queued job: no wake-up needed. (It
    // re-checks the queue under the lock when it stops spinning, so a job
    // queued just as it gives up is not missed.)
    if queued == 1 && pool.spinning.load(Ordering::SeqCst) {
        return;
    }
    if s.parked > 0 {
        wake_parked(pool, s);
        return;
    }
    if s.threads >= MAX_THREADS {
        return; // the next free worker takes it
    }
    s.threads += 1;
    drop(s);
    let spawned = std::thread::Builder::new().name("kvbox-worker".into()).spawn(|| work(self::pool()));
    if spawned.is_err() {
        // No new thread (resource limits): the job waits for a running worker;
        // with none at all, run it here rather than lose it.
        let mut s = pool.lock();
        s.threads -= 1;
        if s.threads == 0 {
            let job = s.jobs.pop_back();
            pool.queued.store(s.jobs.len(), Ordering::SeqCst);
            drop(s);
            if let Some(job) = job {
                job();
            }
        }
    }
}

/// Queues `job`; the queue's new length.
fn enqueue(pool: &Pool, s: &mut State, job: Job) -> usize {
    s.jobs.push_back(job);
    pool.queued.store(s.jobs.len(), Ordering::SeqCst);
    s.jobs.len()
}

/// Wakes one parked worker, claiming it (it is no longer counted as parked).
fn wake_parked(pool: &Pool, mut s: MutexGuard<'_, State>) {
    s.parked -= 1;
    s.wakeups += 1;
    drop(s);
    pool.wake.notify_one();
}

/// Runs one tile of a batch (`kvbox_core::batch::tiles`) on an idle worker
/// — the spinning one, or a parked one while the pool could still grow — or
/// else on a thread of its own. A tile never adds a pool thread nor waits in
/// the queue: one tenant's batches must not take the workers other tenants'
/// calls need (the reason the pool exists). A tile no thread has started by
/// the time its caller is free is run by the caller (`tiles`), so a spawn
/// that fails only drops the offer.
pub fn run_tile(job: Job) {
    let pool = pool();
    let mut s = pool.lock();
    let to_spinner = s.jobs.is_empty() && pool.spinning.load(Ordering::SeqCst);
    if to_spinner || (s.parked > 0 && s.threads < MAX_THREADS) {
        enqueue(pool, &mut s, job);
        if !to_spinner {
            wake_parked(pool, s);
        }
        return;
    }
    drop(s);
    let nice = pool.nice;
    let _ = std::thread::Builder::new().name("kvbox-tile".into()).spawn(move || {
        let _runtime = runtime().enter();
        lower_priority(nice);
        job();
    });
}

/// A worker's loop: take a job, run it, spin for the next one, park.
fn work(pool: &'static Pool) {
    let _runtime = runtime().enter();
    IS_WORKER.set(true);
    lower_priority(pool.nice);
    let mut s = pool.lock();
    loop {
        if let Some(job) = s.jobs.pop_front() {
            pool.queued.store(s.jobs.len(), Ordering::SeqCst);
            drop(s);
            // A job settles its own promise; one that panics is rejected by
            // its settler's Drop, and the thread lives on.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            if SPIN_AFTER.take() {
                spin(pool);
            }
            s = pool.lock();
            continue;
        }
        s.parked += 1;
        loop {
            let (guard, wait) = pool.wake.wait_timeout(s, KEEP_ALIVE).unwrap_or_else(|p| p.into_inner());
            s = guard;
            if s.wakeups > 0 {
                s.wakeups -= 1; // a submitter claimed us (and un-counted us from `parked`)
                break;
            }
            if wait.timed_out() {
                s.parked -= 1;
                if s.jobs.is_empty() {
                    s.threads -= 1;
                    return;
                }
                break;
            }
        }
    }
}

thread_local! {
    /// The job just run asks its worker to spin for the next one.
    static SPIN_AFTER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// This thread is a pool worker (a refusal settled on the JS thread asks for nothing).
    static IS_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called from a job: when it ends, its worker watches the queue for the spin
/// window before parking. Jobs ask for it when their caller is likely to send
/// the next call at once (see `settle::Wait::Io`).
pub fn spin_after_this_job() {
    if IS_WORKER.get() {
        SPIN_AFTER.set(true);
    }
}

/// Lowers the calling thread's priority to `nice` unless it is already that
/// low (never raises it). Best effort: a thread may always lower its own
/// priority, and Linux applies nice per thread.
fn lower_priority(nice: i32) {
    // SAFETY: plain syscalls about the calling thread: on Linux, PRIO_PROCESS
    // with `who` 0 is the calling thread (not `gettid`, a glibc 2.30 symbol,
    // which the glibc 2.17 floor of the published binary does not have).
    unsafe {
        if nice > libc::getpriority(libc::PRIO_PROCESS, 0) {
            libc::setpriority(libc::PRIO_PROCESS, 0, nice);
        }
    }
}

/// Spins that ended with a job in the queue (what tests count).
static SPIN_CATCHES: AtomicU64 = AtomicU64::new(0);

/// How many spins have ended with a job in the queue, in this process.
pub fn spin_catches() -> u64 {
    SPIN_CATCHES.load(Ordering::Relaxed)
}

/// Watches the queue for the spin window, unless another worker already is
/// or recent spins caught nothing (then it backs off: calls that come one at
/// a time, far apart, cost no spinning).
fn spin(pool: &Pool) {
    let window = pool.spin_ns.load(Ordering::Relaxed);
    if window == 0 {
        return;
    }
    if pool.spin_skip.load(Ordering::Relaxed) > 0 {
        let _ = pool.spin_skip.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        return;
    }
    if pool.spinning.swap(true, Ordering::SeqCst) {
        return;
    }
    let start = Instant::now();
    let window = Duration::from_nanos(window);
    while pool.queued.load(Ordering::SeqCst) == 0 && start.elapsed() < window {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
    }
    let caught = pool.queued.load(Ordering::SeqCst) > 0;
    pool.spinning.store(false, Ordering::SeqCst);
    if caught {
        SPIN_CATCHES.fetch_add(1, Ordering::Relaxed);
        pool.spin_backoff.store(0, Ordering::Relaxed);
    } else {
        let backoff = (pool.spin_backoff.load(Ordering::Relaxed) * 2).clamp(1, MAX_SPIN_BACKOFF);
        pool.spin_backoff.store(backoff, Ordering::Relaxed);
        pool.spin_skip.store(backoff, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn runs_every_job_once_in_bursts_and_one_by_one() {
        for spin in [0, 50] {
            set_spin_us(spin);
            let (tx, rx) = mpsc::channel();
            let mut got = Vec::new();
            for i in 0..2000 {
                let tx = tx.clone();
                run(Box::new(move || {
                    // Every other job asks for the spin, so both kinds meet the queue.
                    if i % 2 == 0 {
                        spin_after_this_job();
                    }
                    tx.send(i).unwrap()
                }));
                if i % 3 == 0 {
                    // One by one too: wait for this job before sending more.
                    while !got.contains(&i) {
                        got.push(rx.recv().unwrap());
                    }
                }
            }
            drop(tx);
            got.extend(rx.iter());
            got.sort_unstable();
            assert_eq!(got, (0..2000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn tiles_run_on_an_idle_worker_or_a_thread_of_their_own() {
        set_spin_us(50);
        // Park a worker or two, then hand tiles over while every worker is
        // busy and while some are idle: each runs once, on a worker or not.
        let (tx, rx) = mpsc::channel();
        for round in 0..50 {
            let (hold_tx, hold_rx) = mpsc::channel::<()>();
            let hold_rx = std::sync::Arc::new(Mutex::new(hold_rx));
            let busy = round % 2;
            for _ in 0..busy * 4 {
                let h = hold_rx.clone();
                run(Box::new(move || {
                    let _ = h.lock().unwrap().recv();
                }));
            }
            for t in 0..3 {
                let tx = tx.clone();
                run_tile(Box::new(move || tx.send((round, t, std::thread::current().name().map(str::to_owned))).unwrap()));
            }
            for _ in 0..3 {
                let (_, _, name) = rx.recv_timeout(Duration::from_secs(10)).expect("a tile ran");
                assert!(matches!(name.as_deref(), Some("kvbox-worker" | "kvbox-tile")), "{name:?}");
            }
            drop(hold_tx);
        }
        assert!(rx.try_recv().is_err(), "no tile ran twice");
    }

    #[test]
    fn blocked_jobs_do_not_hold_up_others() {
        set_spin_us(50);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = std::sync::Arc::new(Mutex::new(release_rx));
        // Eight jobs that block until released...
        for _ in 0..8 {
            let r = release_rx.clone();
            run(Box::new(move || {
                spin_after_this_job();
                let _ = r.lock().unwrap().recv();
            }));
        }
        // ...do not stop a ninth from running.
        let (tx, rx) = mpsc::channel();
        run(Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(Duration::from_secs(10)).expect("the ninth job ran while eight were blocked");
        drop(release_tx);
    }
}
