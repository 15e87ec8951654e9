//! The tenant's objects: the local directory and the bytes in it, or an
//! S3 prefix — both behind [`storage::ObjectStorage`].
//!
//! - [`storage`]: the backend interface both connector kinds use, and the
//!   choice of backend per tenant.
//! - [`s3`]: the S3-compatible backend (shared by many nodes).
//! - [`root`]: lexical path rules and the one `openat2` helper
//!   (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`).
//! - [`options`]: how a tenant directory is opened, and its bounds.
//! - [`objects`]: atomic durable writes, whole-object reads, stat, remove.
//! - [`direct`]: the byte loops, O_DIRECT (aligned) or buffered.
//! - [`probe`]: whether and with which alignment the filesystem takes O_DIRECT.
//! - [`aligned`]: aligned, pooled, huge-page-advised buffers for O_DIRECT.
//! - [`huge_pages`]: memory known to be on huge pages — the only memory
//!   O_DIRECT goes straight from or into (everything else bounces).
//! - [`checksum`]: per-object CRC-32C in an extended attribute.
//! - [`suspects`]: unsynced objects a reboot may have torn, checked before `exists` says yes.
//! - [`dirs`]: the directories a write makes, within the directory quota and depth limit.
//! - [`walk`]: a sorted, resumable walk holding a bounded number of descriptors.
//! - [`listing`]: paged listings over that walk.
//! - [`usage`]: bytes, objects and directories stored, quotas, the open-time scan and sweep.
//! - [`path_lock`]: per-path serialization, so usage is exact.
//! - [`recycle`]: result buffers handed back by JS, reused by the next read.

pub mod aligned;
pub mod checksum;
pub mod direct;
pub mod dirs;
pub mod huge_pages;
pub mod listing;
pub mod objects;
pub mod options;
pub mod path_lock;
pub mod probe;
pub mod recycle;
pub mod root;
pub mod s3;
pub mod storage;
pub mod suspects;
pub mod usage;
pub mod walk;

pub use objects::ObjectDir;
pub use options::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_DIRS, DirOptions};
pub use root::TenantRoot;
pub use storage::ObjectStorage;
pub use usage::Usage;

#[cfg(test)]
mod scale_tests;
