//! napi binding of kvbox-core. Only type conversion lives here: every method
//! admits the call against the tenant's in-flight quota, then runs one
//! kvbox-core call on a kvbox worker thread and returns a promise, so guest
//! code and disk I/O never block the JS thread.
//!
//! Errors cross as `[ERR_KVBOX_…] message`; `host/errors.ts` is the one
//! place that turns them into error classes.

use kvbox_core::sandbox::{CompiledComponent, Runtime, runtime::Origin};
use kvbox_core::tenant::Tenant;
use kvbox_core::{Cancel, Limits, ObjectConnector, OpenOptions, Quota};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

mod recycled;
mod trusted;
use recycled::RecycledBuffer;

fn to_napi(e: kvbox_core::Error) -> Error {
    Error::new(Status::GenericFailure, format!("[{}] {e}", e.code()))
}

fn invalid(msg: String) -> Error {
    to_napi(kvbox_core::Error::InvalidArgument(msg))
}

/// Worker threads for kvbox calls: tokio's blocking pool, which grows on
/// demand and lets idle threads go. Not libuv's pool: a connector stuck in a
/// slow call (up to its deadline) must not hold the threads Node's own
/// `fs`, `crypto` and other tenants need. Per tenant, calls are bounded by
/// `quota.inFlight`, checked before anything is queued.
///
/// The runtime also has one async worker with timers and I/O: WASI streams
/// (a guest's stdout and stderr) run small tasks on the runtime of the
/// calling thread, which must therefore be driven.
fn workers() -> &'static tokio::runtime::Runtime {
    static POOL: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("kvbox-worker")
            .max_blocking_threads(1024)
            .thread_keep_alive(std::time::Duration::from_secs(30))
            .build()
            .expect("kvbox: cannot start the worker pool")
    })
}

/// Runs one blocking kvbox-core call on a worker thread; the returned
/// promise settles with its result.
fn spawn<T, F>(env: &Env, work: F) -> Result<Object<'_>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> kvbox_core::Result<T> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred::<T, _>()?;
    workers().spawn_blocking(move || match work() {
        Ok(value) => deferred.resolve(move |_| Ok(value)),
        Err(e) => deferred.reject(to_napi(e)),
    });
    Ok(promise)
}

/// A cancellation token for one call, tripped from JS by an `AbortSignal`.
#[napi]
pub struct NativeCancel {
    inner: Cancel,
}

impl Default for NativeCancel {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl NativeCancel {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self { inner: Cancel::new() }
    }

    /// Cancels the call: before it starts, nothing is done; while guest code
    /// runs, it is stopped within one epoch tick.
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

fn token(cancel: Option<&NativeCancel>) -> Cancel {
    cancel.map(|c| c.inner.clone()).unwrap_or_default()
}

/// Limits as given from JS (numbers; validated again here).
#[napi(object)]
#[derive(Default)]
pub struct NativeLimits {
    pub memory_bytes: Option<f64>,
    pub call_timeout_ms: Option<f64>,
    pub max_key_bytes: Option<u32>,
    pub max_object_bytes: Option<f64>,
    pub max_instances: Option<u32>,
    pub max_list_page: Option<u32>,
    pub max_host_handles: Option<u32>,
}

/// Per-tenant quotas as given from JS.
#[napi(object)]
#[derive(Default)]
pub struct NativeQuota {
    pub bytes: Option<f64>,
    pub objects: Option<f64>,
    pub in_flight: Option<u32>,
}

/// Options to open a connector for one tenant.
#[napi(object)]
pub struct NativeOpenOptions {
    /// The tenant's directory.
    pub root: String,
    /// JSON configuration text for the connector.
    pub config: String,
    pub durable: Option<bool>,
    pub direct_io: Option<bool>,
    pub checksums: Option<bool>,
    pub limits: Option<NativeLimits>,
    pub quota: Option<NativeQuota>,
}

fn whole(name: &str, v: Option<f64>, default: u64) -> Result<u64> {
    match v {
        None => Ok(default),
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_991.0 => Ok(x as u64),
        Some(x) => Err(invalid(format!("{name} must be a non-negative safe integer, got {x}"))),
    }
}

impl NativeOpenOptions {
    fn into_core(self) -> Result<OpenOptions> {
        let l = self.limits.unwrap_or_default();
        let d = Limits::default();
        let limits = Limits {
            memory_bytes: whole("limits.memoryBytes", l.memory_bytes, d.memory_bytes)?,
            call_timeout_ms: whole("limits.callTimeoutMs", l.call_timeout_ms, d.call_timeout_ms)?,
            max_key_bytes: l.max_key_bytes.unwrap_or(d.max_key_bytes),
            max_object_bytes: whole("limits.maxObjectBytes", l.max_object_bytes, d.max_object_bytes)?,
            max_instances: l.max_instances.unwrap_or(d.max_instances),
            max_list_page: l.max_list_page.unwrap_or(d.max_list_page),
            max_host_handles: l.max_host_handles.unwrap_or(d.max_host_handles),
        };
        let q = self.quota.unwrap_or_default();
        let quota = Quota {
            max_bytes: q.bytes.map(|b| whole("quota.bytes", Some(b), 0)).transpose()?,
            max_objects: q.objects.map(|o| whole("quota.objects", Some(o), 0)).transpose()?,
            max_in_flight: q.in_flight.unwrap_or(Quota::default().max_in_flight),
        };
        Ok(OpenOptions {
            root: PathBuf::from(self.root),
            config_json: self.config,
            limits,
            durable: self.durable.unwrap_or(true),
            direct_io: self.direct_io.unwrap_or(true),
            checksums: self.checksums.unwrap_or(false),
            quota,
        })
    }
}

enum Kind {
    Wasm(Arc<CompiledComponent>),
    NativeFs,
    Trusted(Arc<kvbox_core::trusted::TrustedLibrary>),
}

/// A compiled component, linked and checked against the kvbox world — or
/// the built-in native filesystem connector.
#[napi]
pub struct NativeComponent {
    kind: Kind,
    origin: &'static str,
}

/// The built-in native filesystem connector (trusted fast path).
#[napi]
pub fn native_fs_component() -> NativeComponent {
    NativeComponent { kind: Kind::NativeFs, origin: "builtin" }
}

/// Compiles `wasm` (or finds it compiled, in memory or in `cacheDir`).
#[napi(ts_return_type = "Promise<NativeComponent>")]
pub fn load_component(env: &Env, wasm: Buffer, cache_dir: Option<String>) -> Result<Object<'_>> {
    spawn(env, move || {
        let (inner, origin) = Runtime::global()?.load(&wasm, cache_dir.as_deref().map(std::path::Path::new))?;
        let origin = match origin {
            Origin::Memory => "memory",
            Origin::Disk => "disk",
            Origin::Compiled => "compiled",
        };
        Ok(NativeComponent { kind: Kind::Wasm(inner), origin })
    })
}

#[napi]
impl NativeComponent {
    /// sha256 (hex) of the wasm and the engine configuration; `builtin:fs` for the native connector; the file's sha256 for a trusted `.so`.
    #[napi(getter)]
    pub fn digest(&self) -> String {
        match &self.kind {
            Kind::Wasm(c) => c.digest.clone(),
            Kind::NativeFs => "builtin:fs".into(),
            Kind::Trusted(library) => library.sha256.clone(),
        }
    }

    /// `memory`, `disk`, `compiled`, `builtin`, or `native` (a trusted `.so`): where this load found the code.
    #[napi(getter)]
    pub fn origin(&self) -> String {
        self.origin.to_string()
    }

    /// Opens the connector for one tenant.
    #[napi(ts_return_type = "Promise<NativeConnector>")]
    pub fn open<'e>(&self, env: &'e Env, options: NativeOpenOptions) -> Result<Object<'e>> {
        let options = options.into_core()?;
        let component = match &self.kind {
            Kind::Wasm(c) => Some(c.clone()),
            Kind::NativeFs => None,
            Kind::Trusted(library) => return trusted::open(env, library.clone(), options),
        };
        spawn(env, move || Ok(NativeConnector { inner: Arc::new(Tenant::open(component, &options)?) }))
    }
}

/// Counters of instance events and the tenant's usage.
#[napi(object)]
pub struct NativeStats {
    pub instances_created: f64,
    pub traps: f64,
    pub timeouts: f64,
    pub memory_limits: f64,
    pub cancellations: f64,
    pub bytes_stored: f64,
    pub objects: f64,
    pub in_flight: f64,
    pub quota_rejections: f64,
}

/// One log record.
#[napi(object)]
pub struct NativeLogRecord {
    pub level: String,
    pub source: String,
    pub message: String,
}

/// One page of keys.
#[napi(object)]
pub struct NativeKeyPage {
    pub keys: Vec<String>,
    pub cursor: Option<String>,
}

/// An open connector.
#[napi]
pub struct NativeConnector {
    inner: Arc<Tenant>,
}

#[napi]
impl NativeConnector {
    /// Admits a call against the tenant's in-flight quota and runs `f` on a worker.
    fn run<'e, T, F>(&self, env: &'e Env, op: &str, f: F) -> Result<Object<'e>>
    where
        T: ToNapiValue + Send + 'static,
        F: FnOnce(&dyn ObjectConnector) -> kvbox_core::Result<T> + Send + 'static,
    {
        let (connector, ticket) = self.inner.admit(op).map_err(to_napi)?;
        spawn(env, move || {
            let _ticket = ticket;
            f(&*connector)
        })
    }

    /// A round trip through admission and the worker pool that does not call
    /// the connector: a liveness check, and the floor under every call.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ping<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        self.run(env, "ping", |_| Ok(()))
    }

    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn exists<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "exists", move |t| t.exists(&key, &cancel))
    }

    /// Stores `data`; its bytes are lent to the connector without a copy, so
    /// the caller must not modify it until the promise settles.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn put<'e>(&self, env: &'e Env, key: String, data: Buffer, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "put", move |t| t.put(&key, &data, &cancel))
    }

    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn get<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "get", move |t| Ok(t.get(&key, &cancel)?.map(RecycledBuffer)))
    }

    /// Reads into `target` (lent without a copy: the caller must not touch
    /// it until the promise settles); the object's size, or null.
    #[napi(ts_return_type = "Promise<number | null>")]
    pub fn get_into<'e>(&self, env: &'e Env, key: String, mut target: Buffer, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "getInto", move |t| Ok(t.get_into(&key, &mut target, &cancel)?.map(|n| n as f64)))
    }

    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn remove<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "remove", move |t| t.remove(&key, &cancel))
    }

    #[napi(ts_return_type = "Promise<number | null>")]
    pub fn size<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "size", move |t| Ok(t.size(&key, &cancel)?.map(|n| n as f64)))
    }

    #[napi(ts_return_type = "Promise<NativeKeyPage>")]
    pub fn list_keys<'e>(&self, env: &'e Env, cursor: Option<String>, limit: u32, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "listKeys", move |t| {
            let page = t.list_keys(cursor.as_deref(), limit, &cancel)?;
            Ok(NativeKeyPage { keys: page.keys, cursor: page.cursor })
        })
    }

    /// Refuses further calls and releases the tenant directory's lock;
    /// calls in flight finish, then the connector's resources are freed.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }

    #[napi]
    pub fn stats(&self) -> NativeStats {
        let s = self.inner.stats();
        NativeStats {
            instances_created: s.instances_created as f64,
            traps: s.traps as f64,
            timeouts: s.timeouts as f64,
            memory_limits: s.memory_limits as f64,
            cancellations: s.cancellations as f64,
            bytes_stored: s.bytes_stored as f64,
            objects: s.objects as f64,
            in_flight: s.in_flight as f64,
            quota_rejections: s.quota_rejections as f64,
        }
    }

    #[napi]
    pub fn drain_log(&self) -> Vec<NativeLogRecord> {
        let Ok(connector) = self.inner.connector() else {
            return Vec::new();
        };
        connector
            .drain_log()
            .into_iter()
            .map(|r| NativeLogRecord { level: r.level.into(), source: r.source.into(), message: r.message })
            .collect()
    }

    /// The O_DIRECT alignment in use for this tenant, or null when buffered.
    #[napi(getter)]
    pub fn direct_alignment(&self) -> Option<u32> {
        self.inner.connector().ok()?.direct_alignment().map(|a| a as u32)
    }
}
