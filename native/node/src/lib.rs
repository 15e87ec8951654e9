//! napi binding of kvbox-core. Only type conversion lives here: every method
//! is an `AsyncTask` around one kvbox-core call, run on a libuv worker so
//! guest code and disk I/O never block the JS thread.
//!
//! Errors cross as `[ERR_KVBOX_…] message`; `host/errors.ts` is the one
//! place that turns them into error classes.

use kvbox_core::native_fs::NativeFsConnector;
use kvbox_core::sandbox::{CompiledComponent, Runtime, WasmConnector, runtime::Origin};
use kvbox_core::{Limits, ObjectConnector, OpenOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::Arc;

fn to_napi(e: kvbox_core::Error) -> Error {
    Error::new(Status::GenericFailure, format!("[{}] {e}", e.code()))
}

fn invalid(msg: String) -> Error {
    to_napi(kvbox_core::Error::InvalidArgument(msg))
}

/// One blocking kvbox-core call, run off the JS thread.
pub struct Job<T> {
    work: Option<Box<dyn FnOnce() -> kvbox_core::Result<T> + Send>>,
}

impl<T> Job<T> {
    fn new(f: impl FnOnce() -> kvbox_core::Result<T> + Send + 'static) -> AsyncTask<Self>
    where
        Self: Task,
    {
        AsyncTask::new(Self { work: Some(Box::new(f)) })
    }
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Job<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> Result<T> {
        let work = self.work.take().ok_or_else(|| invalid("job already ran".into()))?;
        work().map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: T) -> Result<T> {
        Ok(output)
    }
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

/// Options to open a connector for one tenant.
#[napi(object)]
pub struct NativeOpenOptions {
    /// The tenant's directory.
    pub root: String,
    /// JSON configuration text for the connector.
    pub config: String,
    pub durable: Option<bool>,
    pub direct_io: Option<bool>,
    pub limits: Option<NativeLimits>,
}

fn whole(name: &str, v: Option<f64>, default: u64) -> Result<u64> {
    match v {
        None => Ok(default),
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_991.0 => Ok(x as u64),
        Some(x) => Err(invalid(format!("limits.{name} must be a non-negative safe integer, got {x}"))),
    }
}

impl NativeOpenOptions {
    fn into_core(self) -> Result<OpenOptions> {
        let l = self.limits.unwrap_or_default();
        let d = Limits::default();
        let limits = Limits {
            memory_bytes: whole("memoryBytes", l.memory_bytes, d.memory_bytes)?,
            call_timeout_ms: whole("callTimeoutMs", l.call_timeout_ms, d.call_timeout_ms)?,
            max_key_bytes: l.max_key_bytes.unwrap_or(d.max_key_bytes),
            max_object_bytes: whole("maxObjectBytes", l.max_object_bytes, d.max_object_bytes)?,
            max_instances: l.max_instances.unwrap_or(d.max_instances),
            max_list_page: l.max_list_page.unwrap_or(d.max_list_page),
            max_host_handles: l.max_host_handles.unwrap_or(d.max_host_handles),
        };
        Ok(OpenOptions {
            root: PathBuf::from(self.root),
            config_json: self.config,
            limits,
            durable: self.durable.unwrap_or(true),
            direct_io: self.direct_io.unwrap_or(true),
        })
    }
}

enum Kind {
    Wasm(Arc<CompiledComponent>),
    NativeFs,
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
pub fn load_component(wasm: Buffer, cache_dir: Option<String>) -> AsyncTask<Job<NativeComponent>> {
    Job::new(move || {
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
    /// sha256 (hex) of the wasm and the engine configuration; `builtin:fs` for the native connector.
    #[napi(getter)]
    pub fn digest(&self) -> String {
        match &self.kind {
            Kind::Wasm(c) => c.digest.clone(),
            Kind::NativeFs => "builtin:fs".into(),
        }
    }

    /// `memory`, `disk`, `compiled` or `builtin`: where this load found the code.
    #[napi(getter)]
    pub fn origin(&self) -> String {
        self.origin.to_string()
    }

    /// Opens the connector for one tenant.
    #[napi(ts_return_type = "Promise<NativeConnector>")]
    pub fn open(&self, options: NativeOpenOptions) -> Result<AsyncTask<Job<NativeConnector>>> {
        let options = options.into_core()?;
        let component = match &self.kind {
            Kind::Wasm(c) => Some(c.clone()),
            Kind::NativeFs => None,
        };
        Ok(Job::new(move || {
            let inner: Arc<dyn ObjectConnector> = match component {
                Some(c) => Arc::new(WasmConnector::open(c, &options)?),
                None => Arc::new(NativeFsConnector::open(&options)?),
            };
            Ok(NativeConnector { inner })
        }))
    }
}

/// Counters of instance events.
#[napi(object)]
pub struct NativeStats {
    pub instances_created: f64,
    pub traps: f64,
    pub timeouts: f64,
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
    inner: Arc<dyn ObjectConnector>,
}

#[napi]
impl NativeConnector {
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn exists(&self, key: String) -> AsyncTask<Job<bool>> {
        let c = self.inner.clone();
        Job::new(move || c.exists(&key))
    }

    /// Stores `data`; its bytes are lent to the connector without a copy, so
    /// the caller must not modify it until the promise settles.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn put(&self, key: String, data: Buffer) -> AsyncTask<Job<()>> {
        let c = self.inner.clone();
        Job::new(move || c.put(&key, &data))
    }

    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn get(&self, key: String) -> AsyncTask<Job<Option<Buffer>>> {
        let c = self.inner.clone();
        Job::new(move || Ok(c.get(&key)?.map(Buffer::from)))
    }

    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn remove(&self, key: String) -> AsyncTask<Job<bool>> {
        let c = self.inner.clone();
        Job::new(move || c.remove(&key))
    }

    #[napi(ts_return_type = "Promise<number | null>")]
    pub fn size(&self, key: String) -> AsyncTask<Job<Option<f64>>> {
        let c = self.inner.clone();
        Job::new(move || Ok(c.size(&key)?.map(|n| n as f64)))
    }

    #[napi(ts_return_type = "Promise<NativeKeyPage>")]
    pub fn list_keys(&self, cursor: Option<String>, limit: u32) -> AsyncTask<Job<NativeKeyPage>> {
        let c = self.inner.clone();
        Job::new(move || {
            let page = c.list_keys(cursor.as_deref(), limit)?;
            Ok(NativeKeyPage { keys: page.keys, cursor: page.cursor })
        })
    }

    /// Refuses further calls; calls in flight finish.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }

    #[napi]
    pub fn stats(&self) -> NativeStats {
        let s = self.inner.stats();
        NativeStats { instances_created: s.instances_created as f64, traps: s.traps as f64, timeouts: s.timeouts as f64 }
    }

    #[napi]
    pub fn drain_log(&self) -> Vec<NativeLogRecord> {
        self.inner
            .drain_log()
            .into_iter()
            .map(|r| NativeLogRecord { level: r.level.into(), source: r.source.into(), message: r.message })
            .collect()
    }

    /// The O_DIRECT alignment in use for this tenant, or null when buffered.
    #[napi(getter)]
    pub fn direct_alignment(&self) -> Option<u32> {
        self.inner.direct_alignment().map(|a| a as u32)
    }
}
