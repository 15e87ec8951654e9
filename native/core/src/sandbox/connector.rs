//! A sandboxed connector serving one tenant: a pool of guest instances of
//! one compiled component, all opened with the same configuration on the
//! same granted directory.
//!
//! Invariants:
//! - an instance is used by one call at a time (a `Store` is not `Sync`);
//!   calls on one connector run in parallel on up to `limits.max_instances`
//!   instances, created on demand;
//! - an instance whose call trapped or timed out is dropped, never reused;
//!   the next call gets a fresh one, so the connector stays usable;
//! - a payload lent for a `put` is removed from the instance's table before
//!   `put` returns;
//! - guest code is stopped at an epoch tick (every 5 ms) when the call's
//!   deadline passes or its caller cancels; the instance is then discarded.

use super::bindings::{Connector, WitError};
use super::host::payload::Payload;
use super::host::types::from_wit;
use super::logbook::{LogBook, LogRecord};
use super::runtime::{CompiledComponent, EPOCH_TICK, Runtime};
use super::state::{Interrupt, ReadTarget, Sandbox};
use crate::connector::{ConnectorStats, check_key, check_object_size};
use crate::io::ObjectDir;
use crate::{Cancel, Error, KeyPage, Limits, ObjectConnector, OpenOptions, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wasmtime::component::{Resource, ResourceAny, ResourceTableError};
use wasmtime::{Store, UpdateDeadline};

struct Instance {
    store: Store<Sandbox>,
    bindings: Connector,
    handle: ResourceAny,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Instance>,
    live: u32,
}

/// A connector running as sandboxed WebAssembly.
pub struct WasmConnector {
    component: Arc<CompiledComponent>,
    config: String,
    io: Arc<ObjectDir>,
    log: Arc<LogBook>,
    limits: Arc<Limits>,
    pool: Mutex<Pool>,
    freed: Condvar,
    closed: AtomicBool,
    created: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    memory_limits: AtomicU64,
    cancellations: AtomicU64,
}

impl WasmConnector {
    /// Opens the connector for one tenant. The first instance is created
    /// now, so a bad configuration fails here, not on the first call.
    pub fn open(component: Arc<CompiledComponent>, options: &OpenOptions) -> Result<Self> {
        options.limits.validate()?;
        let io = Arc::new(ObjectDir::open_with(&options.root, &options.dir_options())?);
        let this = Self {
            component,
            config: options.config_json.clone(),
            io,
            log: Arc::default(),
            limits: Arc::new(options.limits.clone()),
            pool: Mutex::default(),
            freed: Condvar::new(),
            closed: AtomicBool::new(false),
            created: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            memory_limits: AtomicU64::new(0),
            cancellations: AtomicU64::new(0),
        };
        let first = this.instantiate().inspect_err(|_| this.io.release())?;
        let mut pool = this.lock();
        pool.live = 1;
        pool.idle.push(first);
        drop(pool);
        Ok(this)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deadline_ticks(&self) -> u64 {
        self.limits.call_timeout_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
    }

    fn instantiate(&self) -> Result<Instance> {
        let engine = Runtime::global()?.engine();
        let mut store = Store::new(engine, Sandbox::new(self.io.clone(), self.log.clone(), self.limits.clone()));
        store.limiter(|s| &mut s.limiter);
        // Checked at every tick while guest code runs: the deadline is
        // counted down in ticks, and a cancellation is seen within one tick.
        store.epoch_deadline_callback(|mut cx| match cx.data_mut().call.tick() {
            Ok(()) => Ok(UpdateDeadline::Continue(1)),
            Err(why) => Err(why.into()),
        });
        store.data_mut().call.ticks_left = self.deadline_ticks();
        store.set_epoch_deadline(1);
        self.created.fetch_add(1, Ordering::Relaxed);
        let bindings = match self.component.pre.instantiate(&mut store) {
            Ok(b) => b,
            Err(e) => return Err(self.classify(e, &store, "instantiating")),
        };
        let handle = match bindings.kvbox_connector_store().connector().call_open(&mut store, &self.config) {
            Ok(opened) => opened.map_err(from_wit)?,
            Err(e) => return Err(self.classify(e, &store, "open")),
        };
        Ok(Instance { store, bindings, handle })
    }

    /// Turns a trap into the caller's error, counting it.
    fn classify(&self, e: wasmtime::Error, store: &Store<Sandbox>, during: &str) -> Error {
        match e.downcast_ref::<Interrupt>() {
            Some(Interrupt::Deadline) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                return Error::Timeout(format!(
                    "the connector ran past its {} ms deadline during {during} (limits.callTimeoutMs); the instance was discarded",
                    self.limits.call_timeout_ms
                ));
            }
            Some(Interrupt::Cancelled) => {
                self.cancellations.fetch_add(1, Ordering::Relaxed);
                return Error::Cancelled(format!("{during} was cancelled while the connector ran; the instance was discarded"));
            }
            None => {}
        }
        if store.data().limiter.memory_exceeded {
            self.memory_limits.fetch_add(1, Ordering::Relaxed);
            self.log.push("error", "host", &format!("memory limit hit during {during}: {e:#}"));
            return Error::MemoryLimit(format!("the connector hit its memory limit during {during}; the instance was discarded: {e:#}"));
        }
        self.traps.fetch_add(1, Ordering::Relaxed);
        if let Some(ResourceTableError::Full) = e.downcast_ref::<ResourceTableError>() {
            let msg = format!(
                "the connector holds too many host handles during {during}, over limits.maxHostHandles = {}; the instance was discarded",
                self.limits.max_host_handles
            );
            self.log.push("error", "host", &msg);
            return Error::Trap(msg);
        }
        self.log.push("error", "host", &format!("trap during {during}: {e:#}"));
        Error::Trap(format!("the connector trapped during {during}; the instance was discarded: {e:#}"))
    }

    fn checkout(&self, during: &str, cancel: &Cancel) -> Result<Instance> {
        let mut pool = self.lock();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            cancel.check(during)?;
            if let Some(inst) = pool.idle.pop() {
                return Ok(inst);
            }
            if pool.live < self.limits.max_instances {
                pool.live += 1;
                drop(pool);
                return self.instantiate().inspect_err(|_| self.retire());
            }
            // Waiting for an instance: wake now and then to notice a cancellation.
            pool = self.freed.wait_timeout(pool, Duration::from_millis(10)).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn checkin(&self, inst: Instance) {
        let mut pool = self.lock();
        if self.closed.load(Ordering::Acquire) {
            pool.live -= 1;
        } else {
            pool.idle.push(inst);
        }
        drop(pool);
        self.freed.notify_one();
    }

    fn retire(&self) {
        self.lock().live -= 1;
        self.freed.notify_one();
    }

    /// Runs `f` on an instance; discards the instance if it trapped.
    fn call<R>(
        &self,
        during: &str,
        cancel: &Cancel,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<std::result::Result<R, WitError>>,
    ) -> Result<R> {
        let mut inst = self.checkout(during, cancel)?;
        inst.store.data_mut().call = super::state::CallState { ticks_left: self.deadline_ticks(), cancel: cancel.clone() };
        inst.store.set_epoch_deadline(1);
        let outcome = f(&mut inst);
        inst.store.data_mut().call.cancel = Cancel::never();
        match outcome {
            Ok(result) => {
                self.checkin(inst);
                result.map_err(from_wit)
            }
            Err(trap) => {
                let err = self.classify(trap, &inst.store, during);
                drop(inst);
                self.retire();
                Err(err)
            }
        }
    }
}

impl ObjectConnector for WasmConnector {
    fn exists(&self, key: &str, cancel: &Cancel) -> Result<bool> {
        check_key(key, &self.limits)?;
        self.call("exists", cancel, |i| i.bindings.kvbox_connector_store().connector().call_exists(&mut i.store, i.handle, key))
    }

    fn put(&self, key: &str, data: &[u8], cancel: &Cancel) -> Result<()> {
        check_key(key, &self.limits)?;
        check_object_size(data.len() as u64, &self.limits)?;
        self.call("put", cancel, |i| {
            let lent = i.store.data_mut().table().push(Payload::lend(data))?;
            let borrowed = Resource::<Payload>::new_borrow(lent.rep());
            let result = i.bindings.kvbox_connector_store().connector().call_put(&mut i.store, i.handle, key, borrowed);
            i.store.data_mut().table().delete(lent)?;
            result
        })
    }

    fn get(&self, key: &str, cancel: &Cancel) -> Result<Option<Vec<u8>>> {
        check_key(key, &self.limits)?;
        self.call("get", cancel, |i| {
            let got = i.bindings.kvbox_connector_store().connector().call_get(&mut i.store, i.handle, key)?;
            Ok(match got {
                Ok(Some(res)) => {
                    let payload = i.store.data_mut().host().take_payload(res)?;
                    Ok(Some(match payload {
                        Payload::Owned(v) => v,
                        lent => lent.bytes().to_vec(),
                    }))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            })
        })
    }

    /// The guest's `get` runs with the caller's buffer armed as the read
    /// target (see [`super::state::ReadTarget`]): a connector that returns
    /// what it read costs no copy at all; one that transforms the bytes has
    /// its result copied in.
    fn get_into(&self, key: &str, dst: &mut [u8], cancel: &Cancel) -> Result<Option<u64>> {
        check_key(key, &self.limits)?;
        let (ptr, cap) = (dst.as_mut_ptr(), dst.len());
        self.call("getInto", cancel, |i| {
            i.store.data_mut().read_target = ReadTarget { armed: Some((ptr, cap)), issued: Vec::new() };
            let got = i.bindings.kvbox_connector_store().connector().call_get(&mut i.store, i.handle, key);
            let target = std::mem::take(&mut i.store.data_mut().read_target);
            let mut view = i.store.data_mut().host();
            let outcome = match got? {
                Ok(Some(res)) => {
                    let from_target = target.issued.contains(&res.rep());
                    let payload = view.take_payload(res)?;
                    let bytes = payload.bytes();
                    if from_target {
                        Ok(Some(bytes.len() as u64))
                    } else if bytes.len() > cap {
                        Err(WitError::TooLarge(format!("object of {} bytes does not fit the {cap}-byte target", bytes.len())))
                    } else {
                        // SAFETY: `dst` is ours for the whole call; no payload over it is alive here.
                        unsafe { std::slice::from_raw_parts_mut(ptr, bytes.len()) }.copy_from_slice(bytes);
                        let len = bytes.len() as u64;
                        if let Payload::Owned(v) = payload {
                            crate::io::recycle::give(v);
                        }
                        Ok(Some(len))
                    }
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            // Payloads over the caller's buffer that the guest kept must not outlive the call.
            for rep in target.issued {
                if let Ok(kept) = view.table.get_mut(&Resource::<Payload>::new_borrow(rep))
                    && matches!(kept, Payload::Lent { ptr: p, .. } if p.cast_mut() == ptr)
                {
                    *kept = Payload::Owned(Vec::new());
                }
            }
            Ok(outcome)
        })
    }

    fn remove(&self, key: &str, cancel: &Cancel) -> Result<bool> {
        check_key(key, &self.limits)?;
        self.call("remove", cancel, |i| i.bindings.kvbox_connector_store().connector().call_remove(&mut i.store, i.handle, key))
    }

    fn size(&self, key: &str, cancel: &Cancel) -> Result<Option<u64>> {
        check_key(key, &self.limits)?;
        self.call("size", cancel, |i| i.bindings.kvbox_connector_store().connector().call_size(&mut i.store, i.handle, key))
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32, cancel: &Cancel) -> Result<KeyPage> {
        let limit = limit.clamp(1, self.limits.max_list_page);
        let page = self.call("list-keys", cancel, |i| {
            i.bindings.kvbox_connector_store().connector().call_list_keys(&mut i.store, i.handle, cursor, limit)
        })?;
        if page.keys.len() > limit as usize {
            return Err(Error::Connector(format!("the connector returned {} keys for a page of at most {limit}", page.keys.len())));
        }
        Ok(KeyPage { keys: page.keys, cursor: page.cursor })
    }

    fn stats(&self) -> ConnectorStats {
        let usage = self.io.usage();
        ConnectorStats {
            instances_created: self.created.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            memory_limits: self.memory_limits.load(Ordering::Relaxed),
            cancellations: self.cancellations.load(Ordering::Relaxed),
            bytes_stored: usage.bytes,
            objects: usage.objects,
            in_flight: 0,
            quota_rejections: self.io.quota_rejections(),
        }
    }

    fn drain_log(&self) -> Vec<LogRecord> {
        self.log.drain()
    }

    fn direct_alignment(&self) -> Option<usize> {
        self.io.direct_alignment()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let idle = {
            let mut pool = self.lock();
            pool.live -= pool.idle.len() as u32;
            std::mem::take(&mut pool.idle)
        };
        drop(idle);
        self.io.release();
        self.freed.notify_all();
    }
}
