//! wasmtime: the engine, the compiled-component cache, the per-instance
//! store and the host side of the WIT interfaces.
//!
//! - [`runtime`]: the one `Engine` (epoch interruption on, a ticker thread),
//!   the `Linker` (our interfaces + deny-by-default WASI), and the cache of
//!   compiled components in memory and on disk.
//! - [`state`]: what a `Store` holds — the resource table, the WASI context,
//!   memory limits — and the narrow [`state::HostView`] the host traits see.
//! - [`host`]: one file per imported WIT interface.
//! - [`connector`]: [`WasmConnector`], a pool of guest instances serving one
//!   tenant, which implements [`crate::ObjectConnector`].
//! - [`logbook`]: the bounded per-connector log fed by `log` and WASI stdio.

pub mod bindings;
pub mod connector;
pub mod host;
pub mod logbook;
pub mod runtime;
pub mod state;

pub use connector::WasmConnector;
pub use logbook::{LogBook, LogRecord};
pub use runtime::{CompiledComponent, Runtime};
