//! kvbox-core: the plain-Rust runtime behind the Node addon.
//!
//! - [`io`]: the tenant's directory — path confinement (`openat2` with
//!   `RESOLVE_BENEATH`), O_DIRECT through pooled aligned buffers, atomic and
//!   durable object writes, paged listings.
//! - [`sandbox`]: wasmtime — one engine, the compiled-component cache, the
//!   per-instance store with deny-by-default WASI, and the host side of each
//!   WIT interface (`sandbox::host`, one file per interface).
//! - [`connector`]: the [`ObjectConnector`] contract every connector kind
//!   implements, and the key and size checks made before any connector runs.
//! - [`native_fs`]: the native fast path, the filesystem connector without a
//!   sandbox, for trusted deployments (same layout as the wasm one).
//!
//! - [`tenant`]: a tenant's open connector of either kind, behind the
//!   in-flight quota.
//! - [`trusted`]: trusted native connectors, C-ABI `.so` files loaded
//!   in-process (no sandbox) with the guards kvbox can keep around them.
//!
//! No napi here: `native/node` is a thin binding over this crate.

pub mod connector;
pub mod error;
pub mod io;
pub mod limits;
pub mod native_fs;
pub mod sandbox;
pub mod tenant;
pub mod trusted;

pub use connector::{Cancel, ConnectorStats, KeyPage, ObjectConnector};
pub use error::{Error, Result};
pub use limits::{Limits, OpenOptions, Quota};
