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
//!   `put` returns.

use super::bindings::{Connector, WitError};
use super::host::payload::Payload;
use super::host::types::from_wit;
use super::logbook::{LogBook, LogRecord};
use super::runtime::{CompiledComponent, EPOCH_TICK, Runtime};
use super::state::Sandbox;
use crate::connector::{ConnectorStats, check_key, check_object_size};
use crate::io::ObjectDir;
use crate::{Error, KeyPage, Limits, ObjectConnector, OpenOptions, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use wasmtime::component::{Resource, ResourceAny};
use wasmtime::{Store, Trap};

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
}

impl WasmConnector {
    /// Opens the connector for one tenant. The first instance is created
    /// now, so a bad configuration fails here, not on the first call.
    pub fn open(component: Arc<CompiledComponent>, options: &OpenOptions) -> Result<Self> {
        options.limits.validate()?;
        let io = Arc::new(ObjectDir::open(&options.root, options.direct_io, options.durable)?);
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
        };
        let first = this.instantiate()?;
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
        store.limiter(|s| &mut s.store_limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks());
        self.created.fetch_add(1, Ordering::Relaxed);
        let bindings = self.component.pre.instantiate(&mut store).map_err(|e| self.classify(e, "instantiating"))?;
        let handle = bindings
            .kvbox_connector_store()
            .connector()
            .call_open(&mut store, &self.config)
            .map_err(|e| self.classify(e, "open"))?
            .map_err(from_wit)?;
        Ok(Instance { store, bindings, handle })
    }

    /// Turns a trap into the caller's error, counting it.
    fn classify(&self, e: wasmtime::Error, during: &str) -> Error {
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            return Error::Timeout(format!(
                "the connector ran past its {} ms deadline during {during} (limits.callTimeoutMs); the instance was discarded",
                self.limits.call_timeout_ms
            ));
        }
        self.traps.fetch_add(1, Ordering::Relaxed);
        self.log.push("error", "host", &format!("trap during {during}: {e:#}"));
        Error::Trap(format!("the connector trapped during {during}; the instance was discarded: {e:#}"))
    }

    fn checkout(&self) -> Result<Instance> {
        let mut pool = self.lock();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            if let Some(inst) = pool.idle.pop() {
                return Ok(inst);
            }
            if pool.live < self.limits.max_instances {
                pool.live += 1;
                drop(pool);
                return self.instantiate().inspect_err(|_| self.retire());
            }
            pool = self.freed.wait(pool).unwrap_or_else(|p| p.into_inner());
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
    fn call<R>(&self, during: &str, f: impl FnOnce(&mut Instance) -> wasmtime::Result<std::result::Result<R, WitError>>) -> Result<R> {
        let mut inst = self.checkout()?;
        inst.store.set_epoch_deadline(self.deadline_ticks());
        match f(&mut inst) {
            Ok(result) => {
                self.checkin(inst);
                result.map_err(from_wit)
            }
            Err(trap) => {
                drop(inst);
                self.retire();
                Err(self.classify(trap, during))
            }
        }
    }
}

impl ObjectConnector for WasmConnector {
    fn exists(&self, key: &str) -> Result<bool> {
        check_key(key, &self.limits)?;
        self.call("exists", |i| i.bindings.kvbox_connector_store().connector().call_exists(&mut i.store, i.handle, key))
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        check_key(key, &self.limits)?;
        check_object_size(data.len() as u64, &self.limits)?;
        self.call("put", |i| {
            let lent = i.store.data_mut().table().push(Payload::lend(data))?;
            let borrowed = Resource::<Payload>::new_borrow(lent.rep());
            let result = i.bindings.kvbox_connector_store().connector().call_put(&mut i.store, i.handle, key, borrowed);
            i.store.data_mut().table().delete(lent)?;
            result
        })
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key, &self.limits)?;
        self.call("get", |i| {
            let got = i.bindings.kvbox_connector_store().connector().call_get(&mut i.store, i.handle, key)?;
            Ok(match got {
                Ok(Some(res)) => {
                    let view = i.store.data_mut().host();
                    let payload = view.table.delete(res)?;
                    view.budget.release(payload.owned_len());
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

    fn remove(&self, key: &str) -> Result<bool> {
        check_key(key, &self.limits)?;
        self.call("remove", |i| i.bindings.kvbox_connector_store().connector().call_remove(&mut i.store, i.handle, key))
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        check_key(key, &self.limits)?;
        self.call("size", |i| i.bindings.kvbox_connector_store().connector().call_size(&mut i.store, i.handle, key))
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32) -> Result<KeyPage> {
        let limit = limit.clamp(1, self.limits.max_list_page);
        let page = self.call("list-keys", |i| {
            i.bindings.kvbox_connector_store().connector().call_list_keys(&mut i.store, i.handle, cursor, limit)
        })?;
        if page.keys.len() > limit as usize {
            return Err(Error::Connector(format!("the connector returned {} keys for a page of at most {limit}", page.keys.len())));
        }
        Ok(KeyPage { keys: page.keys, cursor: page.cursor })
    }

    fn stats(&self) -> ConnectorStats {
        ConnectorStats {
            instances_created: self.created.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
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
        self.freed.notify_all();
    }
}
