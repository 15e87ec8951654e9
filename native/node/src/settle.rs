//! Promises settled from worker threads, through one channel per JS thread.
//!
//! napi-rs's `JsDeferred` creates a threadsafe function (a libuv async handle,
//! an allocation, a close callback) for every promise and tears it down when
//! it settles. kvbox settles every call's promise this way, so instead one
//! threadsafe function per JS thread carries all of them: a worker pushes the
//! settlement onto its queue and wakes the loop once; Node drains up to 1 000
//! queued settlements per wake-up, so calls finishing together cost the JS
//! thread one wake-up, not one each.
//!
//! The channel keeps the event loop alive only while promises are pending
//! (referenced on the first, unreferenced after the last), and outlives its
//! environment safely: when a worker thread's environment is torn down, the
//! channel is closed and late settlements are dropped.

use crate::js_error;
use napi::bindgen_prelude::*;
use napi::sys;
use std::cell::RefCell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// A settlement, run on the JS thread with its environment.
type Settlement = Box<dyn FnOnce(sys::napi_env) + Send>;

/// What a call lent its work and gets back with the outcome — `Buffer`s, whose
/// references are released on the JS thread as the promise settles. (Dropped
/// on a worker, napi-rs sends each back through a threadsafe function of its
/// own: a second wake-up of the event loop per call.)
pub type Lent = Box<dyn Send>;

struct Channel {
    /// The threadsafe function; `None` once its environment is gone. Read-
    /// locked by every send and by the JS thread's ref/unref, so none of them
    /// waits for another (a worker inside its send held a mutex here just as
    /// the JS thread, woken by that send, wanted it); write-locked by teardown.
    tsfn: RwLock<Option<Tsfn>>,
    /// Promises created and not yet settled (JS thread only, but shared).
    pending: AtomicUsize,
    /// Settlers alive: calls whose work may still read or write memory of
    /// this environment (a lent `Buffer`); the environment's teardown waits
    /// for none (see [`finalize`]).
    live: AtomicUsize,
    /// A teardown waits for `live` to reach zero: only then does the last
    /// settler take `idle_lock` and signal `idle` (a futex wake per call
    /// otherwise, even with nobody waiting).
    closing: AtomicBool,
    idle_lock: Mutex<()>,
    idle: Condvar,
}

/// The longest a dying environment waits for its calls' work to end (a
/// trusted native connector has no deadline); past it, teardown goes on.
const TEARDOWN_WAIT: Duration = Duration::from_secs(60);

impl Channel {
    fn new() -> Self {
        Channel {
            tsfn: RwLock::new(None),
            pending: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            idle_lock: Mutex::new(()),
            idle: Condvar::new(),
        }
    }

    /// One more settler alive.
    fn hold(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    /// One settler gone; the last one wakes a teardown waiting for it. (The
    /// waiter sets `closing` before it reads `live`, this decrements `live`
    /// before it reads `closing`, all SeqCst: at least one sees the other's
    /// write, and the lock keeps the signal from falling between the
    /// waiter's check and its wait.)
    fn release(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 && self.closing.load(Ordering::SeqCst) {
            let _guard = lock(&self.idle_lock);
            self.idle.notify_all();
        }
    }

    /// Waits, up to `limit`, until no settler is alive.
    fn wait_idle(&self, limit: Duration) {
        self.closing.store(true, Ordering::SeqCst);
        let guard = lock(&self.idle_lock);
        let _ = self.idle.wait_timeout_while(guard, limit, |_| self.live.load(Ordering::SeqCst) > 0);
    }
}

#[derive(Clone, Copy)]
struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: napi threadsafe functions are made to be called from any thread;
// the lock in `Channel` keeps calls from racing the environment's teardown.
unsafe impl Send for Tsfn {}
// SAFETY: as for Send: shared, the handle is only passed to
// `napi_call_threadsafe_function` (any thread) and, on the JS thread, to
// ref/unref.
unsafe impl Sync for Tsfn {}

struct Deferred(sys::napi_deferred);
// SAFETY: only used on the JS thread, inside the settlement.
unsafe impl Send for Deferred {}

impl Deferred {
    /// The raw handle (a method, so closures capture the whole Send wrapper).
    fn raw(self) -> sys::napi_deferred {
        self.0
    }
}

struct Item {
    channel: Arc<Channel>,
    settle: Settlement,
    /// Settle from a `setImmediate` callback, after a turn of the event loop (see [`call`]).
    yield_turn: bool,
    /// Released on the JS thread after the settlement.
    lent: Option<Lent>,
}

thread_local! {
    static CHANNEL: RefCell<Option<Arc<Channel>>> = const { RefCell::new(None) };
}

/// The channel of this JS thread's environment, created on first use.
fn channel(env: sys::napi_env) -> Result<Arc<Channel>> {
    if let Some(ch) = CHANNEL.with(|c| c.borrow().clone()) {
        return Ok(ch);
    }
    let ch = Arc::new(Channel::new());
    let mut name = std::ptr::null_mut();
    let mut tsfn = std::ptr::null_mut();
    // SAFETY: called on the JS thread with its live environment; the
    // finalize data is an owned Arc, released in `finalize`.
    unsafe {
        check_status!(sys::napi_create_string_utf8(env, c"kvbox.settle".as_ptr(), 12, &mut name))?;
        let data = Arc::into_raw(ch.clone()) as *mut c_void;
        let status = sys::napi_create_threadsafe_function(
            env,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            name,
            0,
            1,
            data,
            Some(finalize),
            std::ptr::null_mut(),
            Some(call_js),
            &mut tsfn,
        );
        if status != sys::Status::napi_ok {
            drop(Arc::from_raw(data as *const Channel));
            check_status!(status)?;
        }
        check_status!(sys::napi_unref_threadsafe_function(env, tsfn))?;
    }
    *ch.tsfn.write().unwrap_or_else(|p| p.into_inner()) = Some(Tsfn(tsfn));
    CHANNEL.with(|c| *c.borrow_mut() = Some(ch.clone()));
    Ok(ch)
}

/// The environment is going away: wait for the work of its calls to end —
/// a call may still be reading a `Buffer` it lent, which the environment
/// frees next (a Node worker thread exiting with puts in flight crashed the
/// process that way) — then close the channel. Settlements sent meanwhile
/// are dropped (the environment no longer runs them).
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the Arc handed over in `channel`.
    let ch = unsafe { Arc::from_raw(data as *const Channel) };
    ch.wait_idle(TEARDOWN_WAIT);
    *ch.tsfn.write().unwrap_or_else(|p| p.into_inner()) = None;
    let _ = CHANNEL.try_with(|c| c.borrow_mut().take());
}

/// Runs one settlement on the JS thread (or drops it, when `env` is null:
/// the environment is being torn down).
unsafe extern "C" fn call_js(env: sys::napi_env, _cb: sys::napi_value, _ctx: *mut c_void, data: *mut c_void) {
    // SAFETY: `data` is the Item boxed in `Settler::send`.
    let item = unsafe { Box::from_raw(data as *mut Item) };
    let Item { channel, settle, yield_turn, lent } = *item;
    if env.is_null() {
        // The environment is being torn down and its references with it:
        // releasing a lent Buffer's here would reach into what is going away.
        std::mem::forget(lent);
        return;
    }
    let finish = move |env| {
        settle(env);
        drop(lent);
        channel.settled(env);
    };
    if yield_turn {
        // SAFETY: the JS thread, inside the threadsafe function's callback.
        unsafe { after_a_turn(env, Box::new(finish)) };
    } else {
        finish(env);
    }
}

thread_local! {
    /// This JS thread's own `setImmediate` (its environment, a reference to
    /// the function), given at import by [`use_set_immediate`].
    static SET_IMMEDIATE: std::cell::Cell<Option<(usize, usize)>> = const { std::cell::Cell::new(None) };
}

/// Keeps `f` as this environment's `setImmediate` for [`after_a_turn`]: the
/// one Node's `timers` module had when kvbox was imported. The global one may
/// be replaced later by a test's fake timers, under which a settlement
/// scheduled with it would wait for the test to advance its clock.
pub fn use_set_immediate(env: sys::napi_env, f: sys::napi_value) -> Result<()> {
    let mut r = std::ptr::null_mut();
    // SAFETY: JS thread, live environment; the reference lives as long as the environment.
    unsafe { check_status!(sys::napi_create_reference(env, f, 1, &mut r))? };
    SET_IMMEDIATE.set(Some((env as usize, r as usize)));
    Ok(())
}

/// This environment's `setImmediate`: the one given at import, else the global one.
unsafe fn set_immediate(env: sys::napi_env, global: sys::napi_value) -> Option<sys::napi_value> {
    let mut f = std::ptr::null_mut();
    // SAFETY: JS thread, live environment; the reference was made in this one.
    unsafe {
        if let Some((e, r)) = SET_IMMEDIATE.get()
            && e == env as usize
            && sys::napi_get_reference_value(env, r as sys::napi_ref, &mut f) == sys::Status::napi_ok
            && !f.is_null()
        {
            return Some(f);
        }
        (sys::napi_get_named_property(env, global, c"setImmediate".as_ptr(), &mut f) == sys::Status::napi_ok).then_some(f)
    }
}

/// Runs `settle` from a `setImmediate` callback: in the check phase of the
/// event loop, which the loop reaches only after its timers and I/O polling.
/// A settlement that arrives during another one's microtasks is dispatched
/// in the same callback of the threadsafe function (Node runs up to 1 000 in
/// a row), so only this guarantees the loop a turn. Settled at once if
/// `setImmediate` cannot be called (the environment is going away).
unsafe fn after_a_turn(env: sys::napi_env, settle: Settlement) {
    unsafe extern "C" fn run(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        let mut data = std::ptr::null_mut();
        // SAFETY: called by Node with this function's own data: the boxed settlement, taken once.
        unsafe {
            let status = sys::napi_get_cb_info(env, info, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), &mut data);
            if status == sys::Status::napi_ok && !data.is_null() {
                YIELD_PENDING.set(false);
                INLINE_STREAK.set(0);
                let settle = Box::from_raw(data as *mut Settlement);
                settle(env);
            }
        }
        std::ptr::null_mut()
    }
    let data = Box::into_raw(Box::new(settle));
    // SAFETY: JS thread, live environment; `data` goes to `run` when Node calls it, else is taken back here.
    unsafe {
        let (mut global, mut func, mut ignored) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        let scheduled = if sys::napi_get_global(env, &mut global) == sys::Status::napi_ok
            && let Some(set_immediate) = set_immediate(env, global)
            && sys::napi_create_function(env, c"kvboxSettle".as_ptr(), 11, Some(run), data.cast(), &mut func) == sys::Status::napi_ok
        {
            sys::napi_call_function(env, global, set_immediate, 1, &func, &mut ignored) == sys::Status::napi_ok
        } else {
            false
        };
        if !scheduled {
            YIELD_PENDING.set(false);
            (Box::from_raw(data))(env);
        }
    }
}

impl Channel {
    /// One promise settled (on the JS thread): the last one lets the loop go.
    fn settled(&self, env: sys::napi_env) {
        if self.pending.fetch_sub(1, Ordering::Relaxed) == 1
            && let Some(Tsfn(t)) = *self.tsfn.read().unwrap_or_else(|p| p.into_inner())
        {
            // SAFETY: JS thread, live environment.
            unsafe { sys::napi_unref_threadsafe_function(env, t) };
        }
    }
}

/// The worker-side half of a promise: settle it from any thread, once. Dropped
/// unsettled (its job panicked), it rejects the promise.
pub struct Settler<T> {
    channel: Arc<Channel>,
    deferred: Option<Deferred>,
    /// Settled only after a turn of the event loop (see [`call`]).
    yield_turn: bool,
    /// A [`Wait::Io`] call that was the JS thread's only call in flight when it
    /// was made: its worker watches the queue for the caller's next call
    /// (`workers` spin).
    alone: bool,
    _t: PhantomData<fn(T)>,
}

/// A new promise and the settler that will settle it.
pub fn promise<T: ToNapiValue + Send + 'static>(env: &Env) -> Result<(Settler<T>, Object<'_>)> {
    let raw = env.raw();
    let channel = channel(raw)?;
    let mut deferred = std::ptr::null_mut();
    let mut promise = std::ptr::null_mut();
    // SAFETY: JS thread, live environment.
    unsafe {
        check_status!(sys::napi_create_promise(raw, &mut deferred, &mut promise))?;
        if channel.pending.fetch_add(1, Ordering::Relaxed) == 0
            && let Some(Tsfn(t)) = *channel.tsfn.read().unwrap_or_else(|p| p.into_inner())
        {
            check_status!(sys::napi_ref_threadsafe_function(raw, t))?;
        }
        channel.hold();
        let settler = Settler { channel, deferred: Some(Deferred(deferred)), yield_turn: false, alone: false, _t: PhantomData };
        Ok((settler, Object::from_napi_value(raw, promise)?))
    }
}

impl<T: ToNapiValue + Send + 'static> Settler<T> {
    /// Resolves the promise with the value, or rejects it with the kvbox
    /// error; `lent` is released on the JS thread right after.
    pub fn settle(mut self, outcome: kvbox_core::Result<T>, lent: Option<Lent>) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        self.send(
            Box::new(move |env| {
                // SAFETY: the JS thread, inside the threadsafe function's callback scope.
                unsafe { finish(env, deferred.raw(), outcome) }
            }),
            lent,
        );
    }
}

impl<T: ToNapiValue + Send + 'static> Settler<T> {
    /// Settles the promise right here, on the JS thread inside a napi call.
    fn settle_here(mut self, env: sys::napi_env, outcome: kvbox_core::Result<T>) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        // SAFETY: the JS thread, inside the napi call that made the promise.
        unsafe { finish(env, deferred.raw(), outcome) };
        self.channel.settled(env);
    }
}

impl<T> Settler<T> {
    fn send(&self, settle: Settlement, lent: Option<Lent>) {
        let item = Box::into_raw(Box::new(Item { channel: self.channel.clone(), settle, yield_turn: self.yield_turn, lent }));
        let guard = self.channel.tsfn.read().unwrap_or_else(|p| p.into_inner());
        let sent = match *guard {
            // SAFETY: the tsfn is alive while the guard holds it (teardown takes the write lock).
            Some(Tsfn(t)) => unsafe { sys::napi_call_threadsafe_function(t, item.cast(), sys::ThreadsafeFunctionCallMode::nonblocking) },
            None => sys::Status::napi_closing,
        };
        drop(guard);
        if sent != sys::Status::napi_ok {
            // The environment is closing: nobody is left to receive it (a
            // lent Buffer is dropped here: off the JS thread through
            // napi-rs's own route, or leaked once napi-rs saw its
            // environment go).
            // SAFETY: not queued, still ours.
            drop(unsafe { Box::from_raw(item) });
        }
    }
}

impl<T> Drop for Settler<T> {
    fn drop(&mut self) {
        if let Some(deferred) = self.deferred.take() {
            self.send(
                Box::new(move |env| {
                    let e = kvbox_core::Error::Io("kvbox: internal error: the call ended without an answer (its worker panicked)".into());
                    // SAFETY: the JS thread, inside the threadsafe function's callback scope.
                    unsafe { finish::<()>(env, deferred.raw(), Err(e)) }
                }),
                None,
            );
        }
        self.channel.release();
    }
}

/// How long a JS thread waits, by default, for a brief call that is its only
/// call in flight before returning the promise unsettled (see [`call`]).
pub const DEFAULT_INLINE_WAIT_US: u64 = 30;

/// The inline wait window, in nanoseconds (`KVBOX_INLINE_WAIT_US`; 0 with a
/// single CPU, where a waiting JS thread would hold up the worker it waits for).
fn inline_wait() -> &'static AtomicU64 {
    static NS: OnceLock<AtomicU64> = OnceLock::new();
    NS.get_or_init(|| {
        let us = std::env::var("KVBOX_INLINE_WAIT_US").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(DEFAULT_INLINE_WAIT_US);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        AtomicU64::new(if cpus < 2 { 0 } else { us.min(MAX_INLINE_WAIT_US).saturating_mul(1000) })
    })
}

/// Sets the inline wait window (µs; 0 = never wait). For benchmarks that
/// compare both ways in one process; deployments use `KVBOX_INLINE_WAIT_US`.
pub fn set_inline_wait_us(us: u64) {
    inline_wait().store(us.min(MAX_INLINE_WAIT_US).saturating_mul(1000), Ordering::Relaxed);
    YIELD_PENDING.set(false);
    INLINE_SKIP.set(0);
    INLINE_BACKOFF.set(0);
    INLINE_STREAK.set(0);
}

/// The inline wait window in µs.
pub fn inline_wait_us() -> u64 {
    inline_wait().load(Ordering::Relaxed) / 1000
}

/// Longest inline wait a setting may ask for, in µs (the JS thread is busy meanwhile).
const MAX_INLINE_WAIT_US: u64 = 1000;

/// Most brief calls a JS thread lets pass without waiting after waits that
/// timed out (the back-off doubles per timeout, up to this).
const MAX_INLINE_BACKOFF: u32 = 8;

/// Most calls a JS thread settles between two turns of its event loop (an
/// open or close counts as [`OPEN_WAIT_FACTOR`] of them), inline or through
/// the channel: the next is settled from a `setImmediate` callback
/// ([`after_a_turn`]). A promise settled inline is resolved before the call
/// returns, so a loop awaiting such calls one by one runs on microtasks
/// alone, and so does one whose calls settle through the channel while the
/// previous one's microtasks run (Node dispatches those in the same
/// callback, up to 1 000 in a row: sequential `getInto`s of objects in the
/// page cache held the loop for 999 calls, 12–24 ms, before every kind of
/// call counted here). The loop thus runs timers, I/O and other work at least
/// once per this many calls — after at most 64 windows of waiting (2 ms at
/// the default window) for brief calls.
const MAX_INLINE_STREAK: u32 = 64;

thread_local! {
    /// Calls still to pass without waiting (the kinds that may wait: `Brief`, `OpenClose`), and the current back-off.
    static INLINE_SKIP: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static INLINE_BACKOFF: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Brief calls settled since the last guaranteed turn of the event loop (an open or close counts as several).
    static INLINE_STREAK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// A call waits for its settlement in a `setImmediate` callback (one at a time).
    static YIELD_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Calls this JS thread waited for and settled before returning their promise.
    static SETTLED_INLINE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many calls this JS thread has settled inline (waited for, then
/// settled before the call returned its promise): what tests count.
pub fn settled_inline() -> u64 {
    SETTLED_INLINE.get()
}

const WAITING: u8 = 0;
const DONE: u8 = 1;
const GAVE_UP: u8 = 2;

/// A brief call's result, handed to a JS thread that waits for it — or, once
/// that thread has given up, settled through the channel like any other.
pub struct Handoff<T> {
    state: AtomicU8,
    result: Mutex<Option<kvbox_core::Result<T>>>,
    /// Dropped unsettled (the call's job panicked and the JS thread gave up),
    /// it rejects the promise like any settler.
    settler: Mutex<Option<Settler<T>>>,
}

impl<T> Handoff<T> {
    /// The outcome and the settler, once: whichever side settles takes both.
    fn take(&self) -> Option<(kvbox_core::Result<T>, Settler<T>)> {
        Some((lock(&self.result).take()?, lock(&self.settler).take()?))
    }
}

/// Where a call's worker sends its outcome.
pub enum Reply<T> {
    /// Through the channel: the JS thread is not waiting.
    Channel(Settler<T>),
    /// To the JS thread, if it is still waiting.
    Handoff(Arc<Handoff<T>>),
}

impl<T: ToNapiValue + Send + 'static> Reply<T> {
    /// Delivers the outcome (from any thread), and gives back what the call
    /// lent its work, to be released on the JS thread (through the channel;
    /// a waiting JS thread's calls lend nothing, so a handoff drops it here).
    pub fn send(self, outcome: kvbox_core::Result<T>, lent: Option<Lent>) {
        match self {
            Reply::Channel(settler) => {
                if settler.alone {
                    // A caller awaiting its calls one by one sends the next soon.
                    crate::workers::spin_after_this_job();
                }
                settler.settle(outcome, lent)
            }
            Reply::Handoff(h) => {
                // Only brief calls are waited for, and they lend nothing.
                debug_assert!(lent.is_none(), "a call waited for inline lent its work memory");
                drop(lent);
                *lock(&h.result) = Some(outcome);
                if h.state.compare_exchange(WAITING, DONE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    // The caller awaits its calls one by one: the next comes at once.
                    crate::workers::spin_after_this_job();
                } else {
                    // The JS thread stopped waiting: the channel carries it.
                    if let Some((outcome, settler)) = h.take() {
                        settler.settle(outcome, None);
                    }
                }
            }
        }
    }
}

/// Whether the JS thread may wait for a call's outcome instead of letting
/// the channel carry it (see [`call`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wait {
    /// Never: the outcome comes through the channel.
    Never,
    /// Never, like [`Wait::Never`], for a single-key data call (`get`,
    /// `getInto`, `put`, `remove`): when it is the JS thread's only call in
    /// flight, its worker then watches the queue for the caller's next call
    /// (`workers` spin) — a caller awaiting such calls one by one sends the
    /// next at once. Not batches, opens or listings: between those the JS
    /// thread has more to do than a spin window lasts, and spins that catch
    /// nothing make the brief calls' spins back off too.
    Io,
    /// A call that usually takes a few µs (`exists`, `size`, `ping`): up to
    /// the inline window.
    Brief,
    /// Opening or closing a tenant on the local filesystem (a few
    /// directory syscalls and, sandboxed, an instance: tens of µs): up to
    /// [`OPEN_WAIT_FACTOR`] times the inline window (at most 1 ms too).
    OpenClose,
}

/// How many inline windows an open or close of a local tenant may be waited for.
pub const OPEN_WAIT_FACTOR: u64 = 5;

/// A new promise, and `submit` given where to send its outcome. With `wait`
/// `Brief` or `OpenClose`, when the call is this JS thread's only call in
/// flight and the inline wait is on, the JS thread waits up to that kind's
/// window for the outcome and settles the promise before returning it: the
/// worker then skips waking the event loop (an `eventfd` write that, on a
/// VM, interrupts an idle vCPU), and the loop skips the wake-up. Past the
/// window, or with other calls in flight, it settles through the channel as
/// usual; a wait that timed out makes the next calls of either kind skip
/// theirs (the back-off). After [`MAX_INLINE_STREAK`] calls of any kind (an
/// open or close counting as [`OPEN_WAIT_FACTOR`]) one is settled only after
/// a turn of the event loop.
pub fn call<'e, T, S>(env: &'e Env, wait: Wait, submit: S) -> Result<Object<'e>>
where
    T: ToNapiValue + Send + 'static,
    S: FnOnce(Reply<T>),
{
    let (mut settler, promise) = promise::<T>(env)?;
    let window = match wait {
        Wait::Never | Wait::Io => 0,
        Wait::Brief => inline_wait().load(Ordering::Relaxed),
        Wait::OpenClose => (inline_wait().load(Ordering::Relaxed) * OPEN_WAIT_FACTOR).min(MAX_INLINE_WAIT_US * 1000),
    };
    let skip = INLINE_SKIP.get();
    let streak = INLINE_STREAK.get();
    let units = if wait == Wait::OpenClose { OPEN_WAIT_FACTOR as u32 } else { 1 };
    if streak >= MAX_INLINE_STREAK && !YIELD_PENDING.get() {
        // Enough without a turn of the event loop: this one settles after one.
        YIELD_PENDING.set(true);
        settler.yield_turn = true;
        submit(Reply::Channel(settler));
        return Ok(promise);
    }
    // This promise is the JS thread's only one in flight.
    let alone = settler.channel.pending.load(Ordering::Relaxed) == 1;
    if window == 0 || !alone || skip > 0 || streak >= MAX_INLINE_STREAK {
        if matches!(wait, Wait::Brief | Wait::OpenClose) {
            INLINE_SKIP.set(skip.saturating_sub(1));
        }
        INLINE_STREAK.set(streak.saturating_add(units));
        settler.alone = wait == Wait::Io && alone;
        submit(Reply::Channel(settler));
        return Ok(promise);
    }
    let h = Arc::new(Handoff { state: AtomicU8::new(WAITING), result: Mutex::new(None), settler: Mutex::new(Some(settler)) });
    submit(Reply::Handoff(h.clone()));
    let (start, window) = (Instant::now(), Duration::from_nanos(window));
    loop {
        if h.state.load(Ordering::Acquire) == DONE {
            if let Some((outcome, settler)) = h.take() {
                settler.settle_here(env.raw(), outcome);
                SETTLED_INLINE.set(SETTLED_INLINE.get() + 1);
            }
            INLINE_BACKOFF.set(0);
            INLINE_STREAK.set(streak.saturating_add(units));
            break;
        }
        if start.elapsed() >= window && h.state.compare_exchange(WAITING, GAVE_UP, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            // Too slow to wait for (a cold disk, a remote store): back off.
            let backoff = (INLINE_BACKOFF.get() * 2).clamp(1, MAX_INLINE_BACKOFF);
            INLINE_BACKOFF.set(backoff);
            INLINE_SKIP.set(backoff);
            INLINE_STREAK.set(streak.saturating_add(units));
            break;
        }
        std::hint::spin_loop();
    }
    Ok(promise)
}

fn lock<V>(m: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Settles `d` with `outcome` (on the JS thread).
unsafe fn finish<T: ToNapiValue>(env: sys::napi_env, d: sys::napi_deferred, outcome: kvbox_core::Result<T>) {
    let value = match outcome {
        // SAFETY: JS thread, live environment.
        Ok(v) => unsafe { T::to_napi_value(env, v) },
        Err(e) => Err(js_error(&Env::from_raw(env), &e)),
    };
    // SAFETY: as above; each deferred is settled exactly once.
    unsafe {
        match value {
            Ok(v) => sys::napi_resolve_deferred(env, d, v),
            Err(e) => sys::napi_reject_deferred(env, d, JsError::from(e).into_value(env)),
        };
    }
}
