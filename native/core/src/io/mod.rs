//! The tenant's directory and the bytes in it.
//!
//! - [`root`]: lexical path rules and `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`.
//! - [`aligned`]: aligned, pooled, huge-page-advised buffers for O_DIRECT.
//! - [`objects`]: atomic durable writes, whole-object reads, stat, remove.
//! - [`listing`]: a sorted, resumable walk for paged listings.
//! - [`recycle`]: result buffers handed back by JS, reused by the next read.
//! - [`usage`]: bytes and objects stored, quotas, the open-time sweep.

pub mod aligned;
pub mod listing;
pub mod objects;
pub mod recycle;
pub mod root;
pub mod usage;

pub use objects::{DirOptions, ObjectDir};
pub use root::TenantRoot;
pub use usage::Usage;

impl DirOptions {
    /// How a tenant's open options ask for its directory to be written.
    pub fn of(options: &crate::OpenOptions) -> Self {
        Self {
            direct_io: options.direct_io,
            durable: options.durable,
            checksums: options.checksums,
            max_bytes: options.quota.max_bytes,
            max_objects: options.quota.max_objects,
        }
    }
}
