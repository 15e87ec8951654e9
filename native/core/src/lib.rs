//! kvbox-core: the plain-Rust runtime behind the Node addon (and the C ABI).
//!
//! From the bottom up — each layer uses only those above it in this list:
//! - [`error`], [`limits`], [`connector`]: the contract — error kinds with
//!   their stable codes, every limit and quota with its default and range,
//!   and the [`ObjectConnector`] trait with the types that travel with it;
//!   [`storage`]: where a tenant's objects live (a directory or an S3 prefix).
//! - [`recycle`]: result buffers handed back by JS, reused by the next read.
//! - [`io`]: the tenant's objects behind one [`io::ObjectStorage`] trait —
//!   the local directory (path confinement with `openat2` and
//!   `RESOLVE_BENEATH`, O_DIRECT through pooled aligned buffers, atomic and
//!   durable object writes, quotas, paged listings) or an S3 prefix (`io::s3`).
//! - [`sandbox`]: wasmtime — one engine, the compiled-component cache, the
//!   per-instance store with deny-by-default WASI, the version-neutral host
//!   and one adapter per contract version.
//! - [`native_fs`]: the native fast path, the filesystem connector without a
//!   sandbox, for trusted deployments (same layout as the wasm one).
//! - [`tenant`]: the front door — a tenant's open connector of either kind,
//!   admission, the per-call checks, and close that waits for calls in flight.
//! - [`manifest`]: what a component says about itself (metadata, imports,
//!   exports, the embedded manifest), read and written without compiling it.
//! - [`trusted`]: trusted native connectors, C-ABI `.so` files loaded
//!   in-process (no sandbox) with the guards kvbox can keep around them.
//!
//! - [`alloc`]: the addon's global allocator (large allocations on huge
//!   pages, so O_DIRECT goes straight into a `get`'s result).
//!
//! No napi here: `native/node` is a thin binding over this crate.

#![deny(missing_docs)]

pub mod alloc;
pub mod batch;
pub mod connector;
pub mod error;
pub mod io;
pub mod limits;
pub mod manifest;
pub mod native_fs;
pub mod sandbox;
pub mod storage;
pub mod tenant;
pub mod trusted;

/// Core's own tests run on the allocator the addon installs.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: alloc::LargeOnHugePages = alloc::LargeOnHugePages;

pub use connector::{Cancel, ConnectorStats, KeyPage, LogRecord, ObjectConnector};
pub use error::{ERROR_CODES, Error, ErrorCode, Result};
pub use io::recycle;
pub use limits::{Limits, OpenOptions, Quota, SettingSpec};
pub use storage::{S3Storage, Storage};
pub use tenant::{Call, ConnectorKind, Tenant};
