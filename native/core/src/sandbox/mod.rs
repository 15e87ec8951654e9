//! wasmtime: the engine, the compiled-component cache, the per-instance
//! store and the host side of the WIT interfaces.
//!
//! Version-neutral core:
//! - [`runtime`]: the one `Engine` (epoch interruption on, a ticker thread),
//!   the `Linker` (every supported contract version + deny-by-default WASI),
//!   and the cache of compiled components in memory and on disk.
//! - [`state`]: what a `Store` holds, and the narrow [`state::HostView`] the
//!   host interfaces are implemented on.
//! - [`limiter`]: memory and tables against one cap, the call's wall-clock
//!   deadline and cancellation; [`cpu`]: the connector's CPU budget.
//! - [`payload`]: host-held byte buffers and their budget;
//!   [`read_target`]: the caller's buffer during `getInto` (arm → revoke).
//! - [`host`]: what `objects`, `payload` and `log` do, on `HostView`.
//! - [`connector`]: [`WasmConnector`], a pool of guest instances serving one
//!   tenant, which implements [`crate::ObjectConnector`].
//! - [`logbook`] and [`stdio`]: the bounded per-connector log.
//!
//! Per contract version: [`bindings`] (`bindings/v0_1_0/`, one file per WIT
//! interface, only type conversion).

mod batch;
pub mod bindings;
pub mod connector;
pub mod cpu;
pub mod host;
pub mod limiter;
pub mod logbook;
pub mod payload;
pub mod read_target;
pub mod runtime;
pub mod state;
pub mod stdio;

pub use connector::WasmConnector;
pub use logbook::LogBook;
pub use runtime::{CompiledComponent, Runtime};
