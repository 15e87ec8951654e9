//! The one interface both connector kinds do their I/O through — the
//! sandbox's `objects` host functions and the native fast path — and the
//! choice of backend for a tenant: its local directory ([`ObjectDir`]) or a
//! prefix in an S3-compatible bucket ([`super::s3::S3Objects`]).
//!
//! Every backend keeps the same promises where its store allows (see
//! `docs/scaling.md` for where S3 differs): a read sees an old object or
//! the new one, never a mix; a refused put stores nothing; listings come in
//! one stable order and resume strictly after a cursor; object paths obey
//! [`super::root::check_path`].

use super::listing::Listing;
use super::s3::S3Objects;
use super::{DirOptions, ObjectDir, Usage};
use crate::storage::Storage;
use crate::{OpenOptions, Result};
use std::sync::Arc;

/// A tenant's objects, by path.
pub trait ObjectStorage: Send + Sync + std::fmt::Debug {
    /// Atomically replaces the object at `path` with `data`; a quota or
    /// path refusal stores nothing.
    fn write(&self, path: &str, data: &[u8]) -> Result<()>;
    /// The whole object, or `None`; over `max_bytes` is `TooLarge` before reading.
    fn read(&self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>>;
    /// Reads the object into the start of `dst`, writing no byte past its
    /// size; its size, or `None`. Larger than `dst`: `TooLarge`.
    fn read_into(&self, path: &str, dst: &mut [u8], max_bytes: u64) -> Result<Option<u64>>;
    /// Up to `len` bytes from `offset` (fewer at the end, none past it), or
    /// `None` when absent; `len` over `max_bytes` is `TooLarge`. Not
    /// checksum-verified (a checksum covers the whole object) — except an
    /// object a reboot may have torn, checked whole first
    /// ([`super::suspects`]).
    fn read_range(&self, path: &str, offset: u64, len: u64, max_bytes: u64) -> Result<Option<Vec<u8>>>;
    /// The object's size, or `None`; from metadata, except for an object a
    /// reboot may have torn, checked whole first ([`super::suspects`]).
    fn stat(&self, path: &str) -> Result<Option<u64>>;
    /// Removes the object; `true` when it existed.
    fn remove(&self, path: &str) -> Result<bool>;
    /// Up to `limit` object paths beneath `prefix`, strictly after `after`, in the backend's stable order.
    fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Listing>;
    /// What the tenant stores, as this backend knows it (see each backend).
    fn usage(&self) -> Usage;
    /// Puts refused by a quota so far (by this process).
    fn quota_rejections(&self) -> u64;
    /// The O_DIRECT alignment in use, or `None`.
    fn direct_alignment(&self) -> Option<usize>;
}

/// Opens the tenant's storage as its options say.
pub fn open(options: &OpenOptions) -> Result<Arc<dyn ObjectStorage>> {
    let dir = DirOptions::of(options);
    Ok(match &options.storage {
        Storage::Fs => Arc::new(ObjectDir::open_with(&options.root, &dir)?),
        Storage::S3(s3) => Arc::new(S3Objects::open(s3, &dir)?),
    })
}

impl ObjectStorage for ObjectDir {
    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        ObjectDir::write(self, path, data)
    }
    fn read(&self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        ObjectDir::read(self, path, max_bytes)
    }
    fn read_into(&self, path: &str, dst: &mut [u8], max_bytes: u64) -> Result<Option<u64>> {
        ObjectDir::read_into(self, path, dst, max_bytes)
    }
    fn read_range(&self, path: &str, offset: u64, len: u64, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        ObjectDir::read_range(self, path, offset, len, max_bytes)
    }
    fn stat(&self, path: &str) -> Result<Option<u64>> {
        ObjectDir::stat(self, path)
    }
    fn remove(&self, path: &str) -> Result<bool> {
        ObjectDir::remove(self, path)
    }
    fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Listing> {
        ObjectDir::list(self, prefix, after, limit)
    }
    fn usage(&self) -> Usage {
        ObjectDir::usage(self)
    }
    fn quota_rejections(&self) -> u64 {
        ObjectDir::quota_rejections(self)
    }
    fn direct_alignment(&self) -> Option<usize> {
        ObjectDir::direct_alignment(self)
    }
}
