//! A sandboxed connector serving one tenant: a pool of guest instances of
//! one compiled component, all opened with the same configuration on the
//! same granted directory.
//!
//! Invariants:
//! - an instance is used by one call at a time (a `Store` is not `Sync`);
//!   calls on one connector run in parallel on up to `limits.max_instances`
//!   instances, created on demand;
//! - an instance whose call trapped, timed out, hit the memory cap or was
//!   cancelled mid-run is dropped, never reused; the next call gets a fresh
//!   one, so the connector stays usable;
//! - a payload lent for a `put` is removed from the instance's table before
//!   `put` returns; payloads over a `getInto` target are revoked before
//!   `getInto` returns (see [`super::read_target`]);
//! - guest code is stopped at an epoch tick (every 5 ms), and host calls
//!   refuse to start work, once the call's wall-clock deadline passed or its
//!   caller cancelled; the instance is then discarded;
//! - dropping the connector drops every instance and, with the last of
//!   them, the tenant directory (and its lock).

use super::bindings::{Contract, GuestStore};
use super::cpu::CpuBudget;
use super::limiter::{CallState, Interrupt};
use super::logbook::LogBook;
use super::payload::Payload;
use super::read_target::with_target;
use super::runtime::{CompiledComponent, Runtime, Slot};
use super::state::Sandbox;
use crate::connector::{ConnectorStats, LogRecord};
use crate::io::{ObjectStorage, storage};
use crate::{Cancel, Error, KeyPage, Limits, ObjectConnector, OpenOptions, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wasmtime::component::{Resource, ResourceAny, ResourceTableError};
use wasmtime::{Store, UpdateDeadline};

/// A call that used more than this share of its deadline counts as near it.
const NEAR_DEADLINE: f64 = 0.8;

/// One guest instance with its opened connector resource.
pub(super) struct Instance {
    pub(super) store: Store<Sandbox>,
    pub(super) guest: Box<dyn GuestStore>,
    pub(super) handle: ResourceAny,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Instance>,
    live: u32,
    /// Calls waiting for an instance: only then is `freed` signalled (a
    /// futex wake per call otherwise).
    waiting: u32,
}

#[derive(Default)]
struct Counters {
    created: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    memory_limits: AtomicU64,
    cancellations: AtomicU64,
    near_deadline: AtomicU64,
}

/// A connector running as sandboxed WebAssembly.
pub struct WasmConnector {
    component: Arc<CompiledComponent>,
    config: String,
    io: Arc<dyn ObjectStorage>,
    log: Arc<LogBook>,
    pub(super) limits: Arc<Limits>,
    cpu: Option<Arc<CpuBudget>>,
    pool: Mutex<Pool>,
    freed: Condvar,
    counters: Counters,
}

impl WasmConnector {
    /// Opens the connector for one tenant. The first instance is created
    /// now, so a bad configuration fails here, not on the first call.
    pub fn open(component: Arc<CompiledComponent>, options: &OpenOptions) -> Result<Self> {
        let io = storage::open(options)?;
        let this = Self {
            component,
            config: options.config_json.clone(),
            io,
            log: Arc::default(),
            limits: Arc::new(options.limits.clone()),
            cpu: options.limits.cpu_ms_per_sec.map(|ms| Arc::new(CpuBudget::new(ms))),
            pool: Mutex::default(),
            freed: Condvar::new(),
            counters: Counters::default(),
        };
        let first = this.instantiate(&Cancel::never())?;
        let mut pool = this.lock();
        pool.live = 1;
        pool.idle.push(first);
        drop(pool);
        Ok(this)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn call_state(&self, op: &'static str, cancel: &Cancel) -> CallState {
        CallState::new(op, Duration::from_millis(self.limits.call_timeout_ms), cancel.clone(), self.cpu.clone())
    }

    /// A new instance with the connector opened in it: from a pool slot when
    /// the runtime pools (the spare engine when the pool is full, or no
    /// longer usable: [`Runtime::pool_usable`]), else from
    /// the component's engine (see [`super::runtime`]).
    fn instantiate(&self, cancel: &Cancel) -> Result<Instance> {
        let rt = Runtime::global()?;
        self.counters.created.fetch_add(1, Ordering::Relaxed);
        let slot = rt.slot(&self.component);
        if (!slot.pooled || rt.pool_usable())
            && let Some(instance) = self.instantiate_on(slot, cancel)?
        {
            return Ok(instance);
        }
        let spare = rt.overflow(&self.component)?;
        self.instantiate_on(spare, cancel)?.ok_or_else(|| Error::Load("no instance slot".into()))
    }

    /// `Ok(None)`: the slot's pool is full (no guest code ran), for the
    /// caller to try the spare engine.
    fn instantiate_on(&self, slot: Slot<'_>, cancel: &Cancel) -> Result<Option<Instance>> {
        let mut store = Store::new(slot.pre.engine(), Sandbox::new(self.io.clone(), self.log.clone(), self.limits.clone()));
        store.limiter(|s| &mut s.limiter);
        // Called at every tick while guest code runs.
        store.epoch_deadline_callback(|mut cx| match cx.data_mut().call.tick() {
            Ok(()) => Ok(UpdateDeadline::Continue(1)),
            Err(why) => Err(why.into()),
        });
        store.data_mut().call = self.call_state("open", cancel);
        store.set_epoch_deadline(1);
        let guest = match slot.pre.instantiate(&mut store) {
            Ok(g) => g,
            Err(e) if slot.pooled && e.is::<wasmtime::PoolConcurrencyLimitError>() => return Ok(None),
            Err(e) => return Err(self.classify(e, &store, "instantiating")),
        };
        let handle = match guest.open(&mut store, &self.config) {
            Ok(opened) => opened?,
            Err(e) => return Err(self.classify(e, &store, "open")),
        };
        Ok(Some(Instance { store, guest, handle }))
    }

    /// Turns a trap into the caller's error, counting it.
    fn classify(&self, e: wasmtime::Error, store: &Store<Sandbox>, during: &str) -> Error {
        let c = &self.counters;
        match e.downcast_ref::<Interrupt>() {
            Some(Interrupt::Deadline) => {
                c.timeouts.fetch_add(1, Ordering::Relaxed);
                // Only a call that writes leaves the caller unsure of the store's state.
                let unsure = match during {
                    "put" => " A timed-out put may or may not have replaced the object (never partly).",
                    "putMany" => " Each object of a timed-out putMany may or may not have been replaced (never partly).",
                    "remove" | "removeMany" => " A timed-out remove may or may not have removed its objects.",
                    _ => "",
                };
                return Error::Timeout(format!(
                    "the connector ran past its {} ms deadline during {during} (limits.callTimeoutMs); the instance was discarded.{unsure}",
                    self.limits.call_timeout_ms
                ));
            }
            Some(Interrupt::Cancelled) => {
                c.cancellations.fetch_add(1, Ordering::Relaxed);
                return Error::Cancelled(format!("{during} was cancelled while the connector ran; the instance was discarded"));
            }
            None => {}
        }
        if let Some(why) = &store.data().limiter.exceeded {
            c.memory_limits.fetch_add(1, Ordering::Relaxed);
            self.log.push("error", "host", None, &format!("memory limit hit during {during}: {why}"));
            // At instantiation or open the component cannot start at all: say what to raise.
            let hint = if during == "instantiating" || during == "open" {
                "; raise limits.memoryBytes for this connector (a componentize-js connector asks for about 10 MiB to start)"
            } else {
                ""
            };
            return Error::MemoryLimit(format!("{why}, during {during}; the instance was discarded{hint}"));
        }
        c.traps.fetch_add(1, Ordering::Relaxed);
        if let Some(ResourceTableError::Full) = e.downcast_ref::<ResourceTableError>() {
            let msg = format!(
                "the connector holds too many host handles during {during}, over limits.maxHostHandles = {}; the instance was discarded",
                self.limits.max_host_handles
            );
            self.log.push("error", "host", None, &msg);
            return Error::Trap(msg);
        }
        self.log.push("error", "host", None, &format!("trap during {during}: {e:#}"));
        if format!("{e:#}").contains("borrow handles still remain") {
            return Error::Trap(format!(
                "the connector returned from {during} still holding a borrowed payload handle (the data lent for the call); \
                 it must drop the borrow before returning (in C: kvbox_connector_payload_payload_drop_borrow; the Rust SDK does it \
                 for you); the instance was discarded: {e:#}"
            ));
        }
        // What the connector said last (a panic message, its last stderr lines)
        // leads; the trap's kind follows. The wasm backtrace of a stripped
        // release build names no function, so it stays in the host's log record.
        let output = store.data().output.text();
        if let Some(thrown) = uncaught_js_exception(&output) {
            return Error::Trap(format!(
                "the connector threw `{thrown}` during {during}, which is not an error of the contract: a JavaScript connector \
                 reports a failure by throwing a value whose `payload` is the contract's `error` variant (the template's \
                 `new StoreError(tag, message)`), and any other exception traps; the instance was discarded"
            ));
        }
        match (output.is_empty(), e.downcast_ref::<wasmtime::Trap>()) {
            (false, Some(trap)) => {
                Error::Trap(format!("the connector trapped during {during}: {output}; the instance was discarded ({trap})"))
            }
            (false, None) => Error::Trap(format!("the connector trapped during {during}: {output}; the instance was discarded: {e:#}")),
            (true, _) => Error::Trap(format!("the connector trapped during {during}; the instance was discarded: {e:#}")),
        }
    }

    fn checkout(&self, op: &'static str, cancel: &Cancel) -> Result<Instance> {
        let mut pool = self.lock();
        loop {
            cancel.check(op)?;
            if let Some(inst) = pool.idle.pop() {
                return Ok(inst);
            }
            if pool.live < self.limits.max_instances {
                pool.live += 1;
                drop(pool);
                return self.instantiate(cancel).inspect_err(|_| self.retire());
            }
            // Waiting for an instance: wake now and then to notice a cancellation.
            pool.waiting += 1;
            pool = self.freed.wait_timeout(pool, Duration::from_millis(10)).unwrap_or_else(|p| p.into_inner()).0;
            pool.waiting -= 1;
        }
    }

    fn checkin(&self, inst: Instance) {
        let mut pool = self.lock();
        pool.idle.push(inst);
        self.signal(pool);
    }

    fn retire(&self) {
        let mut pool = self.lock();
        pool.live -= 1;
        self.signal(pool);
    }

    /// Wakes one call waiting for an instance, if any waits.
    fn signal(&self, pool: std::sync::MutexGuard<'_, Pool>) {
        if pool.waiting > 0 {
            drop(pool);
            self.freed.notify_one();
        }
    }

    /// Whether the component has batched exports (contract 0.2.0 on).
    pub(super) fn batched(&self) -> bool {
        self.component.pre.contract() != Contract::V0_1_0
    }

    /// Runs `f` on an instance; discards the instance if it trapped.
    pub(super) fn call<R>(
        &self,
        op: &'static str,
        cancel: &Cancel,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<Result<R>>,
    ) -> Result<R> {
        let mut inst = self.checkout(op, cancel)?;
        inst.store.data_mut().call = self.call_state(op, cancel);
        inst.store.data().output.clear();
        inst.store.set_epoch_deadline(1);
        let outcome = f(&mut inst);
        if inst.store.data().call.used_fraction() > NEAR_DEADLINE {
            self.counters.near_deadline.fetch_add(1, Ordering::Relaxed);
        }
        let unavailable = std::mem::take(&mut inst.store.data_mut().call).unavailable;
        match outcome {
            Ok(result) => {
                self.checkin(inst);
                // The guest's own report of a store outage the host met: the caller gets `Unavailable`.
                result.map_err(|e| match (e, unavailable) {
                    (Error::Connector(_) | Error::Io(_), Some(m)) => Error::Unavailable(m),
                    (e, _) => e,
                })
            }
            Err(trap) => {
                let err = self.classify(trap, &inst.store, op);
                drop(inst);
                self.retire();
                Err(err)
            }
        }
    }
}

impl ObjectConnector for WasmConnector {
    fn exists(&self, key: &str, cancel: &Cancel) -> Result<bool> {
        self.call("exists", cancel, |i| i.guest.exists(&mut i.store, i.handle, key))
    }

    fn put(&self, key: &str, data: &[u8], cancel: &Cancel) -> Result<()> {
        self.call("put", cancel, |i| {
            let lent = i.store.data_mut().table().push(Payload::lend(data))?;
            let borrowed = Resource::<Payload>::new_borrow(lent.rep());
            let result = i.guest.put(&mut i.store, i.handle, key, borrowed);
            i.store.data_mut().table().delete(lent)?;
            result
        })
    }

    fn get(&self, key: &str, cancel: &Cancel) -> Result<Option<Vec<u8>>> {
        self.call("get", cancel, |i| {
            let Some(res) = (match i.guest.get(&mut i.store, i.handle, key)? {
                Ok(got) => got,
                Err(e) => return Ok(Err(e)),
            }) else {
                return Ok(Ok(None));
            };
            Ok(Ok(Some(match i.store.data_mut().host().take_payload(res)? {
                Payload::Owned(v) => v,
                lent => lent.bytes().to_vec(),
            })))
        })
    }

    /// The guest's `get` runs with the caller's buffer armed as the read
    /// target: a connector that returns what it read costs no copy at all;
    /// one that transforms the bytes has its result copied in.
    fn get_into(&self, key: &str, dst: &mut [u8], cancel: &Cancel) -> Result<Option<u64>> {
        self.call("getInto", cancel, |i| {
            let (got, issued) = with_target(&mut i.store, dst, |store| -> wasmtime::Result<Result<Option<(u32, Payload)>>> {
                let Some(res) = (match i.guest.get(store, i.handle, key)? {
                    Ok(got) => got,
                    Err(e) => return Ok(Err(e)),
                }) else {
                    return Ok(Ok(None));
                };
                let rep = res.rep();
                Ok(Ok(Some((rep, store.data_mut().host().take_payload(res)?))))
            });
            let (rep, payload) = match got? {
                Ok(Some(found)) => found,
                Ok(None) => return Ok(Ok(None)),
                Err(e) => return Ok(Err(e)),
            };
            let len = payload.bytes().len();
            if issued.contains(&rep) {
                return Ok(Ok(Some(len as u64))); // already in place
            }
            let Some(target) = dst.get_mut(..len) else {
                return Ok(Err(Error::TooLarge(format!("object of {len} bytes does not fit the {}-byte target", dst.len()))));
            };
            target.copy_from_slice(payload.bytes());
            if let Payload::Owned(v) = payload {
                crate::recycle::give(v);
            }
            Ok(Ok(Some(len as u64)))
        })
    }

    fn remove(&self, key: &str, cancel: &Cancel) -> Result<bool> {
        self.call("remove", cancel, |i| i.guest.remove(&mut i.store, i.handle, key))
    }

    fn size(&self, key: &str, cancel: &Cancel) -> Result<Option<u64>> {
        self.call("size", cancel, |i| i.guest.size(&mut i.store, i.handle, key))
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32, cancel: &Cancel) -> Result<KeyPage> {
        self.call("listKeys", cancel, |i| i.guest.list_keys(&mut i.store, i.handle, cursor, limit))
    }

    // Batches: see `super::batch`.

    fn exists_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        self.exists_many_in(keys, cancel)
    }

    fn size_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        self.size_many_in(keys, cancel)
    }

    fn remove_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        self.remove_many_in(keys, cancel)
    }

    fn get_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<Vec<u8>>>> {
        self.get_many_in(keys, cancel)
    }

    fn get_many_into(&self, keys: &[String], targets: &mut [&mut [u8]], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        self.get_many_into_in(keys, targets, cancel)
    }

    fn put_many(&self, keys: &[String], data: &[&[u8]], cancel: &Cancel) -> Vec<Result<()>> {
        self.put_many_in(keys, data, cancel)
    }

    fn stats(&self) -> ConnectorStats {
        let usage = self.io.usage();
        let c = &self.counters;
        ConnectorStats {
            instances_created: c.created.load(Ordering::Relaxed),
            traps: c.traps.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            memory_limits: c.memory_limits.load(Ordering::Relaxed),
            cancellations: c.cancellations.load(Ordering::Relaxed),
            near_deadline: c.near_deadline.load(Ordering::Relaxed),
            throttled_ms: self.cpu.as_ref().map_or(0, |b| b.throttled_ms()),
            log_dropped: self.log.dropped(),
            bytes_stored: usage.bytes,
            objects: usage.objects,
            directories: usage.directories,
            in_flight: 0,
            queued: 0,
            quota_rejections: self.io.quota_rejections(),
        }
    }

    fn drain_log(&self) -> Vec<LogRecord> {
        self.log.drain()
    }

    fn direct_alignment(&self) -> Option<usize> {
        self.io.direct_alignment()
    }
}

/// The exception a componentize-js connector let escape from a call that
/// returns a `result`: its bindings trap with "invalid variant tag value
/// `undefined` (received `<the exception>`) specified for `Error`", which
/// reads as a bindings bug; `None` for any other output.
fn uncaught_js_exception(output: &str) -> Option<&str> {
    let start =
        output.find("invalid variant tag value `undefined` (received `")? + "invalid variant tag value `undefined` (received `".len();
    let len = output[start..].find("`) specified for `")?;
    Some(&output[start..start + len])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_js_exception_that_escapes_is_named() {
        let output = "invalid variant tag value `undefined` (received `SyntaxError: JSON.parse: expected property name or '}' at line 1 column 2 of the JSON data`) specified for `Error`\nStack:\n  export@initializer.js:2758:17";
        assert_eq!(
            super::uncaught_js_exception(output),
            Some("SyntaxError: JSON.parse: expected property name or '}' at line 1 column 2 of the JSON data")
        );
        assert_eq!(super::uncaught_js_exception("panicked at src/lib.rs:3: boom"), None);
    }
}
