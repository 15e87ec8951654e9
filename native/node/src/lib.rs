//! napi binding of kvbox-core. Only type conversion lives here: every method
//! admits the call through the tenant's front door, then runs one kvbox-core
//! call on a kvbox worker thread and returns a promise, so guest code and
//! disk I/O never block the JS thread.
//!
//! Errors reach JS as `Error` objects whose `code` is the core's stable code
//! (`ERR_KVBOX_…`); `host/errors.ts` is the one place that turns them into
//! error classes.

use kvbox_core::sandbox::{Runtime, runtime::Origin};
use kvbox_core::{Call, Cancel, ConnectorKind, ERROR_CODES, Limits, OpenOptions, Quota, SettingSpec, Tenant};
use napi::JsValue;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Large allocations on huge pages of their own (see `kvbox_core::alloc`):
/// a `get`'s result is read straight into, not copied from a bounce buffer.
#[global_allocator]
static ALLOCATOR: kvbox_core::alloc::LargeOnHugePages = kvbox_core::alloc::LargeOnHugePages;

mod aligned;
mod batch;
mod manifest;
mod recycled;
mod settle;
mod trusted;
mod workers;
use recycled::RecycledBuffer;
use settle::Wait;

/// A kvbox error as a JS `Error` with `code` set to its stable code.
fn js_error(env: &Env, e: &kvbox_core::Error) -> Error {
    let build = || -> Result<Error> {
        let mut obj = env.create_error(Error::new(Status::GenericFailure, e.message()))?;
        obj.set_named_property("code", e.code())?;
        Ok(Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|_| Error::new(Status::GenericFailure, format!("{} {e}", e.code())))
}

/// Runs one blocking kvbox-core call on a worker thread ([`workers`]); the
/// returned promise settles with its result ([`settle`]), waited for on the
/// JS thread as `wait` allows (see `settle::call`).
fn spawn<T, F>(env: &Env, wait: Wait, work: F) -> Result<Object<'_>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> kvbox_core::Result<T> + Send + 'static,
{
    settle::call(env, wait, |reply| workers::run(Box::new(move || reply.send(work(), None))))
}

/// How a connector call's promise may be settled (see `settle::Wait`): calls
/// that usually take a few µs may be waited for on the JS thread, and
/// single-key data calls leave their worker spinning for the caller's next.
fn wait_of(op: &str) -> Wait {
    match op {
        "ping" | "exists" | "size" => Wait::Brief,
        "get" | "getInto" | "put" | "remove" => Wait::Io,
        _ => Wait::Never,
    }
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
    /// Limits by their JS names; ranges are checked by kvbox-core.
    pub limits: Option<HashMap<String, f64>>,
    /// Quotas by their JS names.
    pub quota: Option<HashMap<String, f64>>,
    /// Where the objects live, as JSON (`kvbox_core::Storage::from_json`); absent: `root`.
    pub storage: Option<String>,
}

impl NativeOpenOptions {
    fn into_core(self) -> kvbox_core::Result<OpenOptions> {
        let mut limits = Limits::default();
        for (name, v) in self.limits.unwrap_or_default() {
            limits.set(&name, v)?;
        }
        let mut quota = Quota::default();
        for (name, v) in self.quota.unwrap_or_default() {
            quota.set(&name, v)?;
        }
        Ok(OpenOptions {
            root: PathBuf::from(self.root),
            config_json: self.config,
            limits,
            durable: self.durable.unwrap_or(true),
            direct_io: self.direct_io.unwrap_or(true),
            checksums: self.checksums.unwrap_or(false),
            quota,
            storage: self.storage.as_deref().map(kvbox_core::Storage::from_json).transpose()?.unwrap_or_default(),
        })
    }
}

/// One error kind: its code, the core's name for it, what it means.
#[napi(object)]
pub struct NativeErrorCode {
    pub code: String,
    pub kind: String,
    pub doc: String,
}

/// One limit or quota: JS name, default (absent: unlimited), range, meaning.
#[napi(object)]
pub struct NativeSettingSpec {
    pub name: String,
    pub default: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub doc: String,
}

/// What the core defines that TypeScript must agree with.
#[napi(object)]
pub struct NativeContract {
    /// Contract versions this host loads, oldest first.
    pub versions: Vec<String>,
    pub errors: Vec<NativeErrorCode>,
    pub limits: Vec<NativeSettingSpec>,
    pub quota: Vec<NativeSettingSpec>,
}

fn specs(list: Vec<SettingSpec>) -> Vec<NativeSettingSpec> {
    list.into_iter()
        .map(|s| NativeSettingSpec {
            name: s.name.into(),
            default: s.default.map(|d| d as f64),
            min: s.min as f64,
            max: s.max as f64,
            doc: s.doc.into(),
        })
        .collect()
}

/// Error codes, limits and quotas as the core defines them: the source of
/// `host/generated/contract.ts` (a drift test compares the two).
#[napi]
pub fn contract() -> NativeContract {
    NativeContract {
        versions: kvbox_core::sandbox::bindings::Contract::ALL.iter().map(|c| c.version().to_string()).collect(),
        errors: ERROR_CODES.iter().map(|c| NativeErrorCode { code: c.code.into(), kind: c.kind.into(), doc: c.doc.into() }).collect(),
        limits: specs(Limits::specs()),
        quota: specs(Quota::specs()),
    }
}

/// Whether O_DIRECT goes straight from and into `allocBuffer`s and large
/// results here: the kernel gives transparent huge pages on advice
/// (`kvbox_core::io::huge_pages`). Without, every transfer bounces.
#[napi]
pub fn straight_transfers() -> bool {
    kvbox_core::io::huge_pages::available()
}

/// A zero-filled Buffer of `size` bytes whose memory is aligned for
/// O_DIRECT and advised for huge pages (see `aligned.rs`): puts from it and
/// reads into it skip the bounce copy other Buffers need, where
/// [`straight_transfers`].
#[napi(ts_return_type = "Buffer")]
pub fn alloc_buffer(size: f64) -> Result<aligned::AlignedBuffer> {
    if !(size.is_finite() && size.fract() == 0.0 && (0.0..=(1u64 << 46) as f64).contains(&size)) {
        return Err(Error::new(Status::InvalidArg, format!("allocBuffer: size must be a non-negative integer, got {size}")));
    }
    aligned::AlignedBuffer::new(size as usize)
}

/// The worker pool's spin window in µs (`KVBOX_WORKER_SPIN_US`, see
/// `workers.rs`); with `micros`, sets it first. For benchmarks that compare
/// spinning and parking in one process.
#[napi]
pub fn worker_spin_micros(micros: Option<u32>) -> u32 {
    if let Some(us) = micros {
        workers::set_spin_us(us.into());
    }
    workers::spin_us().min(u32::MAX.into()) as u32
}

/// How many worker spins have ended with the next call queued (handed over
/// without waking a parked worker), in this process. For tests.
#[napi]
pub fn worker_spin_catches() -> f64 {
    workers::spin_catches() as f64
}

/// Whether the instance pool keeps closed instances' written pages
/// resident, reset in place (`sandbox/runtime.rs` `KEEP_RESIDENT`). For tests.
#[napi]
pub fn instance_pool_keeps_pages() -> Result<bool> {
    Ok(Runtime::global().map_err(|e| Error::from_reason(e.to_string()))?.keeps_pages())
}

/// The inline wait window in µs (`KVBOX_INLINE_WAIT_US`, see `settle::call`);
/// with `micros`, sets it first. For benchmarks that compare both ways in one
/// process.
#[napi]
pub fn inline_wait_micros(micros: Option<u32>) -> u32 {
    if let Some(us) = micros {
        settle::set_inline_wait_us(us.into());
    }
    settle::inline_wait_us().min(u32::MAX.into()) as u32
}

/// How many calls this JS thread has settled inline — waited for and
/// settled before the call returned its promise (`settle::call`). For tests.
#[napi]
pub fn settled_inline() -> f64 {
    settle::settled_inline() as f64
}

/// Hands the addon this JS thread's `setImmediate` from Node's `timers`
/// module (host/binding.ts does, at import). A brief call settled after a
/// turn of the event loop is scheduled with it (settle.rs `after_a_turn`),
/// not with the global one, which a test's fake timers may replace.
#[napi(ts_args_type = "setImmediate: (callback: () => void) => unknown")]
pub fn use_set_immediate(env: &Env, set_immediate: Unknown<'_>) -> Result<()> {
    settle::use_set_immediate(env.raw(), set_immediate.value().value)
}

/// A compiled component, linked and checked against a contract version —
/// or the built-in native filesystem connector.
#[napi]
pub struct NativeComponent {
    kind: ConnectorKind,
    origin: &'static str,
}

/// The built-in native filesystem connector (trusted fast path).
#[napi]
pub fn native_fs_component() -> NativeComponent {
    NativeComponent { kind: ConnectorKind::NativeFs, origin: "builtin" }
}

/// Compiles `wasm` (or finds it compiled, in memory or in `cacheDir`).
#[napi(ts_return_type = "Promise<NativeComponent>")]
pub fn load_component(env: &Env, wasm: Buffer, cache_dir: Option<String>) -> Result<Object<'_>> {
    spawn(env, Wait::Never, move || {
        let (inner, origin) = Runtime::global()?.load(&wasm, cache_dir.as_deref().map(std::path::Path::new))?;
        let origin = match origin {
            Origin::Memory => "memory",
            Origin::Disk => "disk",
            Origin::Compiled => "compiled",
        };
        Ok(NativeComponent { kind: ConnectorKind::Wasm(inner), origin })
    })
}

#[napi]
impl NativeComponent {
    /// sha256 (hex) of the wasm and the engine configuration (the compiled-code
    /// cache key); `builtin:fs` for the native connector; the file's sha256 for a trusted `.so`.
    #[napi(getter)]
    pub fn digest(&self) -> String {
        match &self.kind {
            ConnectorKind::Wasm(c) => c.digest.clone(),
            ConnectorKind::NativeFs => "builtin:fs".into(),
            ConnectorKind::Trusted(library) => library.sha256.clone(),
        }
    }

    /// sha256 (hex) of the `.wasm` bytes alone, what deployments pin; null for the native connector.
    #[napi(getter)]
    pub fn sha256(&self) -> Option<String> {
        match &self.kind {
            ConnectorKind::Wasm(c) => Some(c.sha256.clone()),
            ConnectorKind::NativeFs => None,
            ConnectorKind::Trusted(library) => Some(library.sha256.clone()),
        }
    }

    /// The contract version the component targets (`0.1.0`); null for the native connector.
    #[napi(getter)]
    pub fn contract_version(&self) -> Option<String> {
        match &self.kind {
            ConnectorKind::Wasm(c) => Some(c.contract_version().into()),
            ConnectorKind::NativeFs | ConnectorKind::Trusted(_) => None,
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
        let options = options.into_core().map_err(|e| js_error(env, &e))?;
        let kind = self.kind.clone();
        // A local tenant opens and closes in tens of µs: worth waiting for
        // (see `settle::call`). A remote store's or a trusted library's may take any time.
        let local = options.storage == kvbox_core::Storage::Fs && !matches!(kind, ConnectorKind::Trusted(_));
        let wait = if local { Wait::OpenClose } else { Wait::Never };
        spawn(env, wait, move || Ok(NativeConnector { inner: Arc::new(Tenant::open(kind, &options)?), wait }))
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
    pub near_deadline: f64,
    pub throttled_ms: f64,
    pub log_dropped: f64,
    pub bytes_stored: f64,
    pub objects: f64,
    pub directories: f64,
    pub in_flight: f64,
    pub queued: f64,
    pub quota_rejections: f64,
}

/// One log record.
#[napi(object)]
pub struct NativeLogRecord {
    pub level: String,
    pub source: String,
    /// The operation being served, if any.
    pub op: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: f64,
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
    /// How `close` may be waited for (as `open` was).
    wait: Wait,
}

#[napi]
impl NativeConnector {
    /// Admits a call through the tenant's front door — at once, or after
    /// waiting in the tenant's queue (holding no thread) — and runs `f` on a
    /// worker; the promise rejects without running `f` when admission fails.
    fn run<'e, T, F>(&self, env: &'e Env, op: &'static str, cancel: Cancel, f: F) -> Result<Object<'e>>
    where
        T: ToNapiValue + Send + 'static,
        F: FnOnce(Call) -> kvbox_core::Result<T> + Send + 'static,
    {
        settle::call(env, wait_of(op), |reply| {
            self.inner.submit(op, &cancel, move |admitted| match admitted {
                Ok(call) => workers::run(Box::new(move || reply.send(f(call), None))),
                Err(e) => reply.send(Err(e), None),
            })
        })
    }

    /// [`Self::run`] for a call that lends its work JS memory (`Buffer`s):
    /// `lent` goes to the worker with `f` and comes back with the outcome, so
    /// its references are released on the JS thread as the promise settles
    /// (see `settle::Lent`), not sent back one more way each.
    fn run_lending<'e, T, L, F>(&self, env: &'e Env, op: &'static str, cancel: Cancel, lent: L, f: F) -> Result<Object<'e>>
    where
        T: ToNapiValue + Send + 'static,
        L: Send + 'static,
        F: FnOnce(Call, &mut L) -> kvbox_core::Result<T> + Send + 'static,
    {
        settle::call(env, wait_of(op), |reply| {
            self.inner.submit(op, &cancel, move |admitted| match admitted {
                Ok(call) => workers::run(Box::new(move || {
                    let mut lent = lent;
                    let outcome = f(call, &mut lent);
                    reply.send(outcome, Some(Box::new(lent)));
                })),
                Err(e) => reply.send(Err(e), Some(Box::new(lent))),
            })
        })
    }

    /// A round trip through admission and the worker pool that does not call
    /// the connector: a liveness check, and the floor under every call.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ping<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        self.run(env, "ping", Cancel::never(), |c| c.ping())
    }

    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn exists<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "exists", cancel.clone(), move |c| c.exists(&key, &cancel))
    }

    /// Stores `data`; its bytes are lent to the connector without a copy, so
    /// the caller must not modify it until the promise settles (the facade
    /// makes its ArrayBuffer untransferable so it cannot be freed meanwhile).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn put<'e>(&self, env: &'e Env, key: String, data: Buffer, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run_lending(env, "put", cancel.clone(), data, move |c, data| c.put(&key, data, &cancel))
    }

    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn get<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "get", cancel.clone(), move |c| Ok(c.get(&key, &cancel)?.map(RecycledBuffer)))
    }

    /// Reads into `target` (lent without a copy: the caller must not touch
    /// it until the promise settles); the object's size, or null. Bytes after
    /// the size are left untouched.
    #[napi(ts_return_type = "Promise<number | null>")]
    pub fn get_into<'e>(&self, env: &'e Env, key: String, target: Buffer, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run_lending(env, "getInto", cancel.clone(), target, move |c, target| Ok(c.get_into(&key, target, &cancel)?.map(|n| n as f64)))
    }

    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn remove<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "remove", cancel.clone(), move |c| c.remove(&key, &cancel))
    }

    #[napi(ts_return_type = "Promise<number | null>")]
    pub fn size<'e>(&self, env: &'e Env, key: String, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "size", cancel.clone(), move |c| Ok(c.size(&key, &cancel)?.map(|n| n as f64)))
    }

    #[napi(ts_return_type = "Promise<NativeKeyPage>")]
    pub fn list_keys<'e>(&self, env: &'e Env, cursor: Option<String>, limit: u32, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "listKeys", cancel.clone(), move |c| {
            let page = c.list_keys(cursor.as_deref(), limit, &cancel)?;
            Ok(NativeKeyPage { keys: page.keys, cursor: page.cursor })
        })
    }

    #[napi(ts_return_type = "Promise<NativeBatch>")]
    pub fn exists_many<'e>(&self, env: &'e Env, keys: Vec<String>, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "existsMany", cancel.clone(), move |c| Ok(batch::flags(c.exists_many(&keys, &cancel), |&b| b)))
    }

    #[napi(ts_return_type = "Promise<NativeBatch>")]
    pub fn size_many<'e>(&self, env: &'e Env, keys: Vec<String>, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "sizeMany", cancel.clone(), move |c| Ok(batch::sizes(c.size_many(&keys, &cancel))))
    }

    #[napi(ts_return_type = "Promise<NativeBatch>")]
    pub fn remove_many<'e>(&self, env: &'e Env, keys: Vec<String>, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "removeMany", cancel.clone(), move |c| Ok(batch::flags(c.remove_many(&keys, &cancel), |&b| b)))
    }

    /// Stores `data[i]` under `keys[i]`; the buffers are lent without a copy
    /// (the caller must not modify them until the promise settles).
    #[napi(ts_return_type = "Promise<NativeBatch>")]
    pub fn put_many<'e>(&self, env: &'e Env, keys: Vec<String>, data: Vec<Buffer>, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run_lending(env, "putMany", cancel.clone(), data, move |c, data| {
            let slices: Vec<&[u8]> = data.iter().map(|b| &b[..]).collect();
            Ok(batch::flags(c.put_many(&keys, &slices, &cancel), |()| true))
        })
    }

    #[napi(ts_return_type = "Promise<NativeBatch>")]
    pub fn get_many<'e>(&self, env: &'e Env, keys: Vec<String>, cancel: Option<&NativeCancel>) -> Result<Object<'e>> {
        let cancel = token(cancel);
        self.run(env, "getMany", cancel.clone(), move |c| Ok(batch::buffers(c.get_many(&keys, &cancel))))
    }

    /// Reads `keys[i]` into `targets[i]` (lent without a copy: the caller
    /// must not touch them until the promise settles). Targets must not
    /// overlap; `index[i]`, when given, is the caller's index of key `i`
    /// (for the message naming two that do).
    #[napi(ts_return_type = "Promise<NativeBatch>")]
    pub fn get_many_into<'e>(
        &self,
        env: &'e Env,
        keys: Vec<String>,
        targets: Vec<Buffer>,
        cancel: Option<&NativeCancel>,
        index: Option<Vec<u32>>,
    ) -> Result<Object<'e>> {
        batch::disjoint(&targets, index.as_deref()).map_err(|e| js_error(env, &e))?;
        let cancel = token(cancel);
        self.run_lending(env, "getManyInto", cancel.clone(), targets, move |c, targets| {
            let mut slices: Vec<&mut [u8]> = targets.iter_mut().map(|b| &mut b[..]).collect();
            Ok(batch::sizes(c.get_many_into(&keys, &mut slices, &cancel)))
        })
    }

    /// Refuses further calls at once; the promise settles when every call
    /// admitted before finished and the connector let go of its resources
    /// and of the tenant directory's lock.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        self.inner.close();
        let tenant = self.inner.clone();
        spawn(env, self.wait, move || {
            tenant.wait_closed();
            Ok(())
        })
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
            near_deadline: s.near_deadline as f64,
            throttled_ms: s.throttled_ms as f64,
            log_dropped: s.log_dropped as f64,
            bytes_stored: s.bytes_stored as f64,
            objects: s.objects as f64,
            directories: s.directories as f64,
            in_flight: s.in_flight as f64,
            queued: s.queued as f64,
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
            .map(|r| NativeLogRecord {
                level: r.level.into(),
                source: r.source.into(),
                op: r.op.map(Into::into),
                timestamp: r.timestamp_ms as f64,
                message: r.message,
            })
            .collect()
    }

    /// The O_DIRECT alignment in use for this tenant, or null when buffered.
    #[napi(getter)]
    pub fn direct_alignment(&self) -> Option<u32> {
        self.inner.connector().ok()?.direct_alignment().map(|a| a as u32)
    }
}
