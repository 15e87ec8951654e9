//! A tenant's open connector, whichever kind, behind the one front door
//! every call goes through: admission (closed? a free `quota.inFlight`
//! slot, else a place in the tenant's bounded queue?), then the per-call
//! checks (cancelled? key? size?) and the connector call on a worker thread,
//! then the checks of what the connector returned (listing pages, one
//! result per key). Batches are split here — into rounds without repeated
//! keys when they write, and into tiles run in parallel — for every
//! connector kind alike. Connectors rely on these checks and repeat none.
//!
//! Invariants:
//! - every admitted call holds a [`Call`], which holds the connector; the
//!   in-flight count is exactly the number of live `Call`s, at most
//!   `quota.inFlight`;
//! - a queued call is admitted when a `Call` is dropped, in arrival order;
//!   each tenant has its own slots and queue and a queued call holds no
//!   thread, so one tenant's backlog never delays another's calls;
//! - a queued call whose caller cancels leaves the queue at once; at close
//!   every queued call fails with `Closed`;
//! - after [`Tenant::close`] no call is admitted; the connector (its
//!   instances, buffers, descriptors and the directory lock) is dropped only
//!   once every admitted call has finished ([`Tenant::wait_closed`]), so a
//!   new open of the directory never races a call of the old one.

use crate::batch::{Job, rounds, tile_len, tiles};
use crate::connector::{ConnectorStats, KeyPage, ObjectConnector};
use crate::native_fs::NativeFsConnector;
use crate::sandbox::{CompiledComponent, WasmConnector};
use crate::{Cancel, Error, Limits, OpenOptions, Result};
use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

/// Which connector a tenant runs.
#[derive(Clone)]
pub enum ConnectorKind {
    /// A compiled WebAssembly component, sandboxed.
    Wasm(Arc<CompiledComponent>),
    /// The built-in filesystem connector, native (trusted fast path).
    NativeFs,
    /// A C-ABI `.so` the caller vouched for, native and in-process (no sandbox).
    Trusted(Arc<crate::trusted::TrustedLibrary>),
}

/// What a queued call does once admitted (or refused).
type Waiter = Box<dyn FnOnce(Result<Call>) + Send>;

struct Queued {
    id: u64,
    op: &'static str,
    work: Waiter,
}

#[derive(Default)]
struct State {
    /// The connector while open.
    open: Option<Arc<dyn ObjectConnector>>,
    /// The connector after close, until the calls in flight finish.
    closing: Option<Arc<dyn ObjectConnector>>,
    /// The counters as they were when the connector was let go.
    final_stats: ConnectorStats,
    in_flight: u64,
    rejections: u64,
    /// Calls waiting for a slot, oldest first.
    queue: VecDeque<Queued>,
    next_id: u64,
    /// The last call is dropping the connector (outside the lock).
    dropping: bool,
    /// Threads in [`Tenant::wait_closed`]: only then does the last call
    /// signal `drained` (a futex wake per call otherwise).
    drain_waiters: u32,
}

struct Shared {
    state: Mutex<State>,
    drained: Condvar,
    limits: Arc<Limits>,
    max_in_flight: u64,
    max_queued: usize,
    /// The objects live in a remote store: every call waits on the network,
    /// metadata calls too.
    remote: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for `op` (the caller checked there is one).
    fn take_slot(self: &Arc<Self>, state: &mut State, connector: Arc<dyn ObjectConnector>, op: &'static str) -> Call {
        state.in_flight += 1;
        Call { connector: Some(connector), limits: self.limits.clone(), op, shared: self.clone() }
    }

    /// Takes queued call `id` out of the queue (its caller cancelled).
    fn withdraw(&self, id: u64) {
        let mut state = self.lock();
        let Some(at) = state.queue.iter().position(|q| q.id == id) else {
            return; // admitted (or refused) already
        };
        let gone = state.queue.remove(at).expect("found");
        drop(state);
        (gone.work)(Err(Error::Cancelled(format!(
            "{} was cancelled while it waited in the tenant's queue for one of its {} slots (quota.inFlight); nothing was done",
            gone.op, self.max_in_flight
        ))));
    }
}

/// An open connector for one tenant.
pub struct Tenant {
    shared: Arc<Shared>,
}

impl Tenant {
    /// Opens a connector of `kind` for a tenant.
    pub fn open(kind: ConnectorKind, options: &OpenOptions) -> Result<Self> {
        options.validate()?;
        let connector: Arc<dyn ObjectConnector> = match kind {
            ConnectorKind::Wasm(c) => Arc::new(WasmConnector::open(c, options)?),
            ConnectorKind::NativeFs => Arc::new(NativeFsConnector::open(options)?),
            ConnectorKind::Trusted(library) => Arc::new(crate::trusted::TrustedConnector::open(library, options)?),
        };
        Ok(Self::with_connector(connector, options))
    }

    /// A tenant over a connector opened by the caller.
    pub fn with_connector(connector: Arc<dyn ObjectConnector>, options: &OpenOptions) -> Self {
        let state = State { open: Some(connector), ..State::default() };
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                drained: Condvar::new(),
                limits: Arc::new(options.limits.clone()),
                max_in_flight: options.quota.max_in_flight.into(),
                max_queued: options.quota.max_queued as usize,
                remote: options.storage != crate::Storage::Fs,
            }),
        }
    }

    /// Admits one call named `op` now, or refuses it: with `Closed` after
    /// [`Tenant::close`], with `Quota` when every `quota.inFlight` slot is
    /// taken (it does not queue: see [`Tenant::submit`]).
    pub fn admit(&self, op: &'static str) -> Result<Call> {
        let mut state = self.shared.lock();
        let connector = state.open.clone().ok_or_else(Error::closed)?;
        if state.in_flight >= self.shared.max_in_flight || !state.queue.is_empty() {
            state.rejections += 1;
            return Err(Error::Quota(format!(
                "{op} refused: the tenant already has {} operations in flight (quota.inFlight)",
                self.shared.max_in_flight
            )));
        }
        Ok(self.shared.take_slot(&mut state, connector, op))
    }

    /// Admits one call named `op` and hands it to `work` — at once when a
    /// slot is free, else when one frees up, after the calls queued before
    /// it. `work` gets an error instead when the tenant is closed (now or
    /// while the call waits), when `cancel` trips while it waits, or when
    /// the queue already holds `quota.queue` calls (`Quota`). `work` runs on
    /// the thread that admits the call: this one, or the one finishing the
    /// call that frees the slot; it should hand the call to a worker.
    pub fn submit(&self, op: &'static str, cancel: &Cancel, work: impl FnOnce(Result<Call>) + Send + 'static) {
        let shared = &self.shared;
        let mut state = shared.lock();
        let Some(connector) = state.open.clone() else {
            drop(state);
            return work(Err(Error::closed()));
        };
        if let Err(e) = cancel.check(op) {
            drop(state);
            return work(Err(e));
        }
        if state.in_flight < shared.max_in_flight && state.queue.is_empty() {
            let call = shared.take_slot(&mut state, connector, op);
            drop(state);
            return work(Ok(call));
        }
        if state.queue.len() >= shared.max_queued {
            state.rejections += 1;
            drop(state);
            return work(Err(Error::Quota(format!(
                "{op} refused: the tenant has {} operations in flight (quota.inFlight) and {} more waiting, a full queue (quota.queue)",
                shared.max_in_flight, shared.max_queued
            ))));
        }
        state.next_id += 1;
        let id = state.next_id;
        state.queue.push_back(Queued { id, op, work: Box::new(work) });
        drop(state);
        let weak: Weak<Shared> = Arc::downgrade(shared);
        cancel.on_cancel(move || {
            if let Some(shared) = weak.upgrade() {
                shared.withdraw(id);
            }
        });
    }

    /// [`Tenant::submit`] for a caller that can block: waits for a slot (in
    /// the queue) on this thread.
    pub fn admit_wait(&self, op: &'static str, cancel: &Cancel) -> Result<Call> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(op, cancel, move |call| {
            let _ = tx.send(call);
        });
        rx.recv().unwrap_or_else(|_| Err(Error::closed()))
    }

    /// Refuses further calls and fails every queued one with `Closed`;
    /// idempotent, and cheap enough for the JS thread: the connector is let
    /// go (its instances and descriptors freed) by the last call in flight,
    /// or by [`Tenant::wait_closed`], or when the tenant is dropped.
    pub fn close(&self) {
        let mut state = self.shared.lock();
        if let Some(c) = state.open.take() {
            state.closing = Some(c);
        }
        let queued = std::mem::take(&mut state.queue);
        drop(state);
        for q in queued {
            (q.work)(Err(Error::Closed(format!("{} was waiting in the queue when the connector was closed; nothing was done", q.op))));
        }
    }

    /// Blocks until every call admitted before [`Tenant::close`] finished
    /// and the connector is dropped (its directory lock released).
    pub fn wait_closed(&self) {
        let mut state = self.shared.lock();
        while state.in_flight > 0 || state.dropping {
            state.drain_waiters += 1;
            state = self.shared.drained.wait(state).unwrap_or_else(|p| p.into_inner());
            state.drain_waiters -= 1;
        }
        if let Some(c) = state.closing.take() {
            state.final_stats = c.stats();
            drop(state);
            drop(c); // outside the lock: dropping frees instances and descriptors
        }
    }

    /// The connector's counters with the tenant's admission figures (as at
    /// close, once closed and drained).
    pub fn stats(&self) -> ConnectorStats {
        let state = self.shared.lock();
        let mut s = match state.open.as_ref().or(state.closing.as_ref()) {
            Some(c) => c.stats(),
            None => state.final_stats,
        };
        s.in_flight = state.in_flight;
        s.queued = state.queue.len() as u64;
        s.quota_rejections += state.rejections;
        s
    }

    /// The connector while open (for logs and the alignment), or `Closed`.
    pub fn connector(&self) -> Result<Arc<dyn ObjectConnector>> {
        self.shared.lock().open.clone().ok_or_else(Error::closed)
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        self.close();
    }
}

/// One admitted call: the connector to run it on and its share of the
/// in-flight quota, given back when dropped.
#[must_use]
pub struct Call {
    connector: Option<Arc<dyn ObjectConnector>>,
    limits: Arc<Limits>,
    op: &'static str,
    shared: Arc<Shared>,
}

impl Drop for Call {
    fn drop(&mut self) {
        // The connector reference goes first, so that when the count reaches
        // zero nothing but the tenant holds the connector.
        drop(self.connector.take());
        let mut state = self.shared.lock();
        state.in_flight -= 1;
        // The slot goes to the oldest queued call, if the tenant is open.
        if let Some(connector) = state.open.clone()
            && let Some(next) = state.queue.pop_front()
        {
            let call = self.shared.take_slot(&mut state, connector, next.op);
            drop(state);
            return (next.work)(Ok(call));
        }
        if state.in_flight == 0 {
            if let Some(c) = state.closing.take() {
                state.final_stats = c.stats();
                state.dropping = true;
                drop(state);
                drop(c);
                // Only now is the directory's lock released: wake waiters after.
                state = self.shared.lock();
                state.dropping = false;
            }
            if state.drain_waiters > 0 {
                drop(state);
                self.shared.drained.notify_all();
            }
        }
    }
}

impl Call {
    fn connector(&self) -> &dyn ObjectConnector {
        self.connector.as_deref().expect("present until drop")
    }

    /// The checks every keyed call gets, once: not cancelled, a valid key.
    fn check(&self, key: &str, cancel: &Cancel) -> Result<()> {
        cancel.check(self.op)?;
        check_key(key, &self.limits)
    }

    /// Nothing but admission: the floor under every call.
    pub fn ping(self) -> Result<()> {
        Ok(())
    }

    /// See [`ObjectConnector::exists`].
    pub fn exists(self, key: &str, cancel: &Cancel) -> Result<bool> {
        self.check(key, cancel)?;
        self.connector().exists(key, cancel)
    }

    /// See [`ObjectConnector::put`]; objects over `limits.maxObjectBytes` are refused first.
    pub fn put(self, key: &str, data: &[u8], cancel: &Cancel) -> Result<()> {
        self.check(key, cancel)?;
        self.check_size(data.len())?;
        self.connector().put(key, data, cancel)
    }

    /// See [`ObjectConnector::get`].
    pub fn get(self, key: &str, cancel: &Cancel) -> Result<Option<Vec<u8>>> {
        self.check(key, cancel)?;
        self.connector().get(key, cancel)
    }

    /// See [`ObjectConnector::get_into`].
    pub fn get_into(self, key: &str, dst: &mut [u8], cancel: &Cancel) -> Result<Option<u64>> {
        self.check(key, cancel)?;
        self.connector().get_into(key, dst, cancel)
    }

    /// See [`ObjectConnector::remove`].
    pub fn remove(self, key: &str, cancel: &Cancel) -> Result<bool> {
        self.check(key, cancel)?;
        self.connector().remove(key, cancel)
    }

    /// See [`ObjectConnector::size`].
    pub fn size(self, key: &str, cancel: &Cancel) -> Result<Option<u64>> {
        self.check(key, cancel)?;
        self.connector().size(key, cancel)
    }

    /// One page of at most `limit` keys (capped by `limits.maxListPage`),
    /// checked before it is returned: no more keys than asked, every key one
    /// the host would accept, no key twice, and a cursor that moves on.
    pub fn list_keys(self, cursor: Option<&str>, limit: u32, cancel: &Cancel) -> Result<KeyPage> {
        cancel.check(self.op)?;
        let limit = limit.clamp(1, self.limits.max_list_page);
        let page = self.connector().list_keys(cursor, limit, cancel)?;
        check_page(&page, cursor, limit, &self.limits)?;
        Ok(page)
    }
}

/// Fewest keys per tile for calls that move no object bytes: below this,
/// another thread costs more than it saves.
const KEYS_PER_TILE: usize = 64;
/// Fewest keys per tile for removes (each syncs its directory when durable).
const REMOVES_PER_TILE: usize = 8;

/// A batch after the front door's checks: the result of each key refused
/// there, and the indices of the keys handed on.
struct Checked<T> {
    out: Vec<Option<Result<T>>>,
    valid: Vec<usize>,
}

impl<T> Checked<T> {
    /// The keys handed on: `keys` itself when none was refused.
    fn keys<'k>(&self, keys: &'k [String]) -> std::borrow::Cow<'k, [String]> {
        if self.valid.len() == keys.len() {
            std::borrow::Cow::Borrowed(keys)
        } else {
            std::borrow::Cow::Owned(self.valid.iter().map(|&i| keys[i].clone()).collect())
        }
    }

    /// Every key's result in input order.
    fn finish(mut self, results: Vec<Result<T>>) -> Vec<Result<T>> {
        debug_assert_eq!(results.len(), self.valid.len());
        for (&i, r) in self.valid.iter().zip(results) {
            self.out[i] = Some(r);
        }
        self.out.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::Connector("the batch lost this key's result".into())))).collect()
    }
}

impl Call {
    /// The front door's checks of each key of a batch (and `extra`, per key).
    fn check_batch<T>(&self, keys: &[String], cancel: &Cancel, extra: impl Fn(usize) -> Result<()>) -> Checked<T> {
        let cancelled = cancel.check(self.op).err();
        let mut out = Vec::with_capacity(keys.len());
        let mut valid = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let checked = match &cancelled {
                Some(e) => Err(e.clone()),
                None => check_key(key, &self.limits).and_then(|()| extra(i)),
            };
            match checked {
                Ok(()) => {
                    valid.push(i);
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        Checked { out, valid }
    }

    /// Runs `job` over `keys` in tiles of at least `min_per_tile` keys, in
    /// parallel (at most `limits.maxInstances` at once), and — for `writes`
    /// — in rounds in which no key repeats, one after the other.
    fn spread<T: Send>(
        &self,
        keys: &[String],
        writes: bool,
        min_per_tile: usize,
        job: impl Fn(Range<usize>) -> Vec<Result<T>> + Sync,
    ) -> Vec<Result<T>> {
        let op = self.op;
        let all: Vec<Range<usize>> = if writes { rounds(keys) } else { std::iter::once(0..keys.len()).collect() };
        // Calls that move objects wait on the device: as many threads as
        // instances. Metadata calls are CPU-bound on a local filesystem: no
        // more threads than cores; on a remote store they wait too.
        let mut threads = self.limits.max_instances as usize;
        if min_per_tile > 1 && !self.shared.remote {
            threads = threads.min(cores());
        }
        let mut out = Vec::with_capacity(keys.len());
        for round in all {
            let len = tile_len(round.len(), threads, min_per_tile);
            let job = &job;
            let jobs: Vec<Job<'_, T>> = round
                .clone()
                .step_by(len)
                .map(|start| {
                    let r = start..(start + len).min(round.end);
                    Box::new(move || crate::batch::one_per_key(job(r.clone()), r.len(), op)) as Box<_>
                })
                .collect();
            out.extend(tiles(jobs));
        }
        out
    }

    /// [`ObjectConnector::exists`] for each key: one result per key, in order.
    pub fn exists_many(self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        let checked = self.check_batch(keys, cancel, |_| Ok(()));
        let handed = checked.keys(keys);
        let results = self.spread(&handed, false, KEYS_PER_TILE, |r| self.connector().exists_many(&handed[r], cancel));
        checked.finish(results)
    }

    /// [`ObjectConnector::size`] for each key.
    pub fn size_many(self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        let checked = self.check_batch(keys, cancel, |_| Ok(()));
        let handed = checked.keys(keys);
        let results = self.spread(&handed, false, KEYS_PER_TILE, |r| self.connector().size_many(&handed[r], cancel));
        checked.finish(results)
    }

    /// [`ObjectConnector::remove`] for each key; a key given twice is
    /// removed, then found absent.
    pub fn remove_many(self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        let checked = self.check_batch(keys, cancel, |_| Ok(()));
        let handed = checked.keys(keys);
        let results = self.spread(&handed, true, REMOVES_PER_TILE, |r| self.connector().remove_many(&handed[r], cancel));
        checked.finish(results)
    }

    /// [`ObjectConnector::get`] for each key.
    pub fn get_many(self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<Vec<u8>>>> {
        let checked = self.check_batch(keys, cancel, |_| Ok(()));
        let handed = checked.keys(keys);
        let results = self.spread(&handed, false, 1, |r| self.connector().get_many(&handed[r], cancel));
        checked.finish(results)
    }

    /// [`ObjectConnector::get_into`] of each key into `targets[i]`.
    pub fn get_many_into(self, keys: &[String], targets: &mut [&mut [u8]], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        if keys.len() != targets.len() {
            let e = Error::InvalidArgument(format!("getManyInto: {} keys but {} target buffers", keys.len(), targets.len()));
            return crate::batch::all_failed(&e, keys.len());
        }
        let checked = self.check_batch(keys, cancel, |_| Ok(()));
        let handed = checked.keys(keys);
        let mut bufs: Vec<&mut [u8]> = Vec::with_capacity(checked.valid.len());
        let mut next = checked.valid.iter().peekable();
        for (i, t) in targets.iter_mut().enumerate() {
            if next.peek() == Some(&&i) {
                next.next();
                bufs.push(&mut **t);
            }
        }
        let len = tile_len(handed.len(), self.limits.max_instances as usize, 1);
        let (op, connector) = (self.op, self.connector());
        let jobs: Vec<Job<'_, Option<u64>>> = bufs
            .chunks_mut(len)
            .zip(handed.chunks(len))
            .map(|(tile, ks)| {
                Box::new(move || crate::batch::one_per_key(connector.get_many_into(ks, tile, cancel), ks.len(), op)) as Box<_>
            })
            .collect();
        let results = tiles(jobs);
        checked.finish(results)
    }

    /// [`ObjectConnector::put`] of `data[i]` under `keys[i]`; of a key given
    /// twice, the later entry wins. Objects over `limits.maxObjectBytes` are
    /// refused first, each alone.
    pub fn put_many(self, keys: &[String], data: &[&[u8]], cancel: &Cancel) -> Vec<Result<()>> {
        if keys.len() != data.len() {
            let e = Error::InvalidArgument(format!("putMany: {} keys but {} data buffers", keys.len(), data.len()));
            return crate::batch::all_failed(&e, keys.len());
        }
        let checked = self.check_batch(keys, cancel, |i| self.check_size(data[i].len()));
        let handed = checked.keys(keys);
        let bytes: std::borrow::Cow<'_, [&[u8]]> =
            if checked.valid.len() == keys.len() { data.into() } else { checked.valid.iter().map(|&i| data[i]).collect::<Vec<_>>().into() };
        let results = self.spread(&handed, true, 1, |r| self.connector().put_many(&handed[r.clone()], &bytes[r], cancel));
        checked.finish(results)
    }

    /// Objects over `limits.maxObjectBytes` are the caller's to fix.
    fn check_size(&self, len: usize) -> Result<()> {
        if len as u64 > self.limits.max_object_bytes {
            return Err(Error::TooLarge(format!(
                "object of {len} bytes exceeds the caller's limit of {} (limits.maxObjectBytes)",
                self.limits.max_object_bytes
            )));
        }
        Ok(())
    }
}

/// The machine's cores, asked once: `available_parallelism` reads cgroup
/// files on every call, too slow for every batch.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The host's own key rules: non-empty, no NUL, at most `limits.max_key_bytes` UTF-8 bytes.
pub fn check_key(key: &str, limits: &Limits) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("key is empty".into()));
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey("key contains a NUL character".into()));
    }
    if key.len() > limits.max_key_bytes as usize {
        return Err(Error::InvalidKey(format!(
            "key is {} bytes, over the limit of {} (limits.maxKeyBytes)",
            key.len(),
            limits.max_key_bytes
        )));
    }
    Ok(())
}

/// A listing page a connector returned, held to the rules callers rely on.
fn check_page(page: &KeyPage, cursor: Option<&str>, limit: u32, limits: &Limits) -> Result<()> {
    let broke = |why: String| Err(Error::Connector(format!("the connector broke the listing contract: {why}")));
    if page.keys.len() > limit as usize {
        return broke(format!("it returned {} keys for a page of at most {limit}", page.keys.len()));
    }
    if page.cursor.is_some() && page.cursor.as_deref() == cursor {
        return broke("it returned the cursor it was given, so the listing would never end".into());
    }
    let mut seen = HashSet::with_capacity(page.keys.len());
    for (i, key) in page.keys.iter().enumerate() {
        if let Err(e) = check_key(key, limits) {
            return broke(format!("key {i} of the page is one the host refuses ({e})"));
        }
        if !seen.insert(key.as_str()) {
            return broke(format!("key {i} of the page ({:?}) appears twice", truncate(key)));
        }
    }
    Ok(())
}

fn truncate(key: &str) -> &str {
    let mut end = key.len().min(80);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quota;

    fn native(root: &std::path::Path, quota: Quota) -> Tenant {
        let mut options = OpenOptions::new(root);
        options.quota = quota;
        Tenant::open(ConnectorKind::NativeFs, &options).unwrap()
    }

    #[test]
    fn admits_up_to_the_quota_and_frees_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let t = native(tmp.path(), Quota { max_in_flight: 2, ..Quota::default() });
        let a = t.admit("put").unwrap();
        let b = t.admit("put").unwrap();
        assert!(matches!(t.admit("put"), Err(Error::Quota(_))));
        assert_eq!(t.stats().in_flight, 2);
        drop(a);
        let _c = t.admit("put").unwrap();
        assert_eq!(t.stats().quota_rejections, 1);
        b.put("k", b"v", &Cancel::never()).unwrap();
        assert_eq!((t.stats().objects, t.stats().bytes_stored), (1, 1));
    }

    #[test]
    fn the_lock_outlives_calls_admitted_before_close() {
        let tmp = tempfile::tempdir().unwrap();
        let first = native(tmp.path(), Quota::default());
        let call = first.admit("put").unwrap();
        first.close();
        assert!(matches!(first.admit("get"), Err(Error::Closed(_))));
        let busy = Tenant::open(ConnectorKind::NativeFs, &OpenOptions::new(tmp.path()));
        assert!(matches!(busy, Err(Error::Busy(_))), "the admitted call still holds the directory");
        call.put("k", b"landed", &Cancel::never()).unwrap();
        first.wait_closed();
        let second = native(tmp.path(), Quota::default());
        assert_eq!(second.admit("get").unwrap().get("k", &Cancel::never()).unwrap().as_deref(), Some(&b"landed"[..]));
        assert_eq!(first.stats().objects, 1, "final stats survive close");
    }

    #[test]
    fn checks_each_call_once_at_the_front_door() {
        let tmp = tempfile::tempdir().unwrap();
        let mut options = OpenOptions::new(tmp.path());
        options.limits = Limits { max_key_bytes: 8, max_object_bytes: 4, ..Limits::default() };
        let t = Tenant::open(ConnectorKind::NativeFs, &options).unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(t.admit("put").unwrap().put("k", b"v", &cancel), Err(Error::Cancelled(_))));
        assert!(matches!(t.admit("put").unwrap().put("", b"v", &Cancel::never()), Err(Error::InvalidKey(_))));
        assert!(matches!(t.admit("put").unwrap().put("ééééé", b"v", &Cancel::never()), Err(Error::InvalidKey(_))), "bytes, not chars");
        assert!(matches!(t.admit("put").unwrap().put("k", b"12345", &Cancel::never()), Err(Error::TooLarge(_))));
        assert!(!t.admit("exists").unwrap().exists("k", &Cancel::never()).unwrap(), "nothing was written");
        assert_eq!(t.stats().in_flight, 0);
    }

    /// `submit` with a channel for the outcome.
    fn submitted(t: &Tenant, cancel: &Cancel) -> std::sync::mpsc::Receiver<Result<Call>> {
        let (tx, rx) = std::sync::mpsc::channel();
        t.submit("put", cancel, move |c| tx.send(c).unwrap());
        rx
    }

    #[test]
    fn calls_over_the_bound_wait_in_a_bounded_queue_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let t = native(tmp.path(), Quota { max_in_flight: 1, max_queued: 2, ..Quota::default() });
        let first = t.admit("put").unwrap();
        let (second, third) = (submitted(&t, &Cancel::never()), submitted(&t, &Cancel::never()));
        let full = submitted(&t, &Cancel::never());
        assert!(matches!(full.try_recv().unwrap(), Err(Error::Quota(m)) if m.contains("quota.queue")));
        assert!(matches!(t.admit("get"), Err(Error::Quota(_))), "admit does not jump the queue");
        assert!(second.try_recv().is_err() && third.try_recv().is_err(), "both wait");
        assert_eq!((t.stats().in_flight, t.stats().queued), (1, 2));
        drop(first);
        let second = second.try_recv().unwrap().unwrap();
        assert!(third.try_recv().is_err(), "one slot: the third still waits");
        second.put("k", b"v", &Cancel::never()).unwrap();
        let third = third.try_recv().unwrap().unwrap();
        assert!(third.exists("k", &Cancel::never()).unwrap());
        assert_eq!((t.stats().in_flight, t.stats().queued), (0, 0));
    }

    #[test]
    fn a_queued_call_leaves_at_once_when_cancelled_or_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let t = native(tmp.path(), Quota { max_in_flight: 1, ..Quota::default() });
        let held = t.admit("put").unwrap();
        let cancel = Cancel::new();
        let (waiting, other) = (submitted(&t, &cancel), submitted(&t, &Cancel::never()));
        cancel.cancel();
        assert!(matches!(waiting.try_recv().unwrap(), Err(Error::Cancelled(m)) if m.contains("waited in the tenant's queue")));
        assert_eq!(t.stats().queued, 1);
        let late = Cancel::new();
        late.cancel();
        assert!(matches!(submitted(&t, &late).try_recv().unwrap(), Err(Error::Cancelled(_))), "cancelled before it queued");
        t.close();
        assert!(matches!(other.try_recv().unwrap(), Err(Error::Closed(_))));
        drop(held);
        t.wait_closed();
    }

    #[test]
    fn batches_answer_per_key_in_order_with_last_write_winning() {
        let tmp = tempfile::tempdir().unwrap();
        let mut options = OpenOptions::new(tmp.path());
        options.limits = Limits { max_object_bytes: 4, max_instances: 3, ..Limits::default() };
        let t = Tenant::open(ConnectorKind::NativeFs, &options).unwrap();
        let never = Cancel::never();
        let keys: Vec<String> = ["a", "", "b", "a", "c", "big"].iter().map(|k| k.to_string()).collect();
        let data: Vec<&[u8]> = vec![b"1", b"x", b"2", b"3", b"4", b"12345"];
        let put = t.admit("putMany").unwrap().put_many(&keys, &data, &never);
        assert!(put[0].is_ok() && put[2].is_ok() && put[3].is_ok() && put[4].is_ok());
        assert!(matches!(put[1], Err(Error::InvalidKey(_))) && matches!(put[5], Err(Error::TooLarge(_))));
        let probe: Vec<String> = (0..200).map(|i| ["a", "b", "c", "none"][i % 4].to_string()).collect();
        let found = t.admit("existsMany").unwrap().exists_many(&probe, &never);
        assert_eq!(found.len(), 200);
        assert!(found.iter().enumerate().all(|(i, r)| *r.as_ref().unwrap() == (i % 4 != 3)), "tiled over 3 threads, in order");
        assert_eq!(t.admit("get").unwrap().get("a", &never).unwrap().as_deref(), Some(&b"3"[..]), "the later entry won");
        let mut bufs = [[0u8; 4], [0u8; 4], [0u8; 4]];
        let mut targets: Vec<&mut [u8]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
        let read = t.admit("getManyInto").unwrap().get_many_into(&keys[2..5], &mut targets, &never);
        assert_eq!(read.into_iter().map(|r| r.unwrap()).collect::<Vec<_>>(), vec![Some(1), Some(1), Some(1)]);
        assert_eq!((bufs[0][0], bufs[1][0], bufs[2][0]), (b'2', b'3', b'4'));
        let gone = t.admit("removeMany").unwrap().remove_many(&keys[..4], &never);
        assert!(matches!(gone[..], [Ok(true), Err(Error::InvalidKey(_)), Ok(true), Ok(false)]), "{gone:?}");
        assert!(t.admit("existsMany").unwrap().exists_many(&[], &never).is_empty());
    }

    #[test]
    fn pages_that_break_the_contract_are_refused() {
        let limits = Limits { max_key_bytes: 4, ..Limits::default() };
        let page = |keys: &[&str], cursor: Option<&str>| KeyPage {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            cursor: cursor.map(Into::into),
        };
        assert!(check_page(&page(&["a", "b"], Some("b")), Some("a"), 2, &limits).is_ok());
        for (bad, given) in [
            (page(&["a", "b", "c"], None), None),
            (page(&[], Some("x")), Some("x")),
            (page(&["a", ""], None), None),
            (page(&["a", "a\0"], None), None),
            (page(&["toolong"], None), None),
            (page(&["a", "a"], None), None),
        ] {
            assert!(matches!(check_page(&bad, given, 2, &limits), Err(Error::Connector(_))), "{bad:?}");
        }
    }
}
