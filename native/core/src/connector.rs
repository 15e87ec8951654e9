//! The contract every connector kind implements, and the plain types that
//! travel with it. This module depends on nothing above it: the sandbox,
//! the native fast path and any other connector kind implement
//! [`ObjectConnector`]; [`crate::tenant`] is the one front door that checks a
//! call (closed, cancelled, key, size) before a connector sees it.

use crate::batch::per_key;
use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A caller's way to cancel one call (an `AbortSignal` on the JS side).
///
/// A call cancelled before it starts does nothing; one waiting in its
/// tenant's queue leaves it at once. A sandboxed call already running guest
/// code is interrupted at the next epoch tick (5 ms) and its instance
/// discarded; host I/O already under way (a write and its fsync) completes
/// first, so an object is either fully written or not at all.
#[derive(Clone, Default)]
pub struct Cancel(Option<Arc<CancelInner>>);

#[derive(Default)]
struct CancelInner {
    flag: AtomicBool,
    /// Run once, when the token is tripped (a queued call withdrawing).
    hooks: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Cancel").field(&self.is_cancelled()).finish()
    }
}

impl Cancel {
    /// A token that is never cancelled.
    pub fn never() -> Self {
        Self(None)
    }

    /// A token that [`Cancel::cancel`] can trip.
    pub fn new() -> Self {
        Self(Some(Arc::default()))
    }

    /// Trips the token and runs the hooks registered so far; idempotent.
    pub fn cancel(&self) {
        if let Some(inner) = &self.0 {
            inner.flag.store(true, Ordering::Release);
            let hooks = std::mem::take(&mut *inner.hooks.lock().unwrap_or_else(|p| p.into_inner()));
            hooks.into_iter().for_each(|hook| hook());
        }
    }

    /// Runs `hook` when the token is tripped — at once if it already is;
    /// never for a token that cannot be tripped.
    pub fn on_cancel(&self, hook: impl FnOnce() + Send + 'static) {
        let Some(inner) = &self.0 else { return };
        let mut hooks = inner.hooks.lock().unwrap_or_else(|p| p.into_inner());
        if inner.flag.load(Ordering::Acquire) {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|i| i.flag.load(Ordering::Acquire))
    }

    /// `Err(Cancelled)` once tripped.
    pub fn check(&self, op: &str) -> Result<()> {
        if self.is_cancelled() { Err(Error::Cancelled(format!("{op} was cancelled before it ran; nothing was done"))) } else { Ok(()) }
    }
}

/// Counters of what happened to a connector, and the tenant's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectorStats {
    /// Instances created (the first one, on-demand ones, replacements).
    pub instances_created: u64,
    /// Calls that trapped (instance discarded).
    pub traps: u64,
    /// Calls that ran out of time (instance discarded).
    pub timeouts: u64,
    /// Calls that hit the memory cap (instance discarded).
    pub memory_limits: u64,
    /// Calls cancelled while guest code ran (instance discarded).
    pub cancellations: u64,
    /// Calls that finished but used more than 80 % of their deadline.
    pub near_deadline: u64,
    /// Milliseconds guest code was held back by `limits.cpuMsPerSec`.
    pub throttled_ms: u64,
    /// Log records dropped because the connector's log was full.
    pub log_dropped: u64,
    /// Bytes in the tenant's objects.
    pub bytes_stored: u64,
    /// Objects (files) in the tenant's directory.
    pub objects: u64,
    /// Directories beneath the tenant's root (against `quota.directories`).
    pub directories: u64,
    /// Calls admitted and not yet finished.
    pub in_flight: u64,
    /// Calls waiting in the tenant's queue for an in-flight slot.
    pub queued: u64,
    /// Calls refused by a quota.
    pub quota_rejections: u64,
}

/// One page of keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    /// Keys as they were put.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` after the last page.
    pub cursor: Option<String>,
}

/// One record of a connector's log: its `log` calls, its stdout and stderr,
/// and what the host noted about it (traps, limits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// `trace` … `error`.
    pub level: &'static str,
    /// `log` (the interface), `stdout`, `stderr` or `host`.
    pub source: &'static str,
    /// The operation being served when it was written (`put`, `open`…), if any.
    pub op: Option<&'static str>,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The text, bounded by the connector kind (4 KiB for sandboxed connectors).
    pub message: String,
}

/// A key-value object store for byte blobs. Implementations are thread-safe;
/// every call blocks the calling thread (the binding runs them off the JS
/// thread). Calls arrive through [`crate::tenant::Tenant`], which has
/// already refused closed, cancelled, invalid-key and oversized calls.
///
/// Dropping the connector frees its resources and releases its directory.
pub trait ObjectConnector: Send + Sync {
    /// Whether `key` is stored.
    fn exists(&self, key: &str, cancel: &Cancel) -> Result<bool>;
    /// Stores `data` under `key`, atomically replacing any previous object.
    fn put(&self, key: &str, data: &[u8], cancel: &Cancel) -> Result<()>;
    /// The whole object, or `None`.
    fn get(&self, key: &str, cancel: &Cancel) -> Result<Option<Vec<u8>>>;
    /// Reads the object into the start of `dst`, without allocating where
    /// the connector allows; its size, or `None`. Bytes of `dst` after the
    /// returned size are left untouched. An object larger than `dst` is
    /// refused with `TooLarge`. The default reads with
    /// [`ObjectConnector::get`] and copies.
    fn get_into(&self, key: &str, dst: &mut [u8], cancel: &Cancel) -> Result<Option<u64>> {
        let Some(bytes) = self.get(key, cancel)? else {
            return Ok(None);
        };
        let cap = dst.len();
        let target = dst
            .get_mut(..bytes.len())
            .ok_or_else(|| Error::TooLarge(format!("object of {} bytes does not fit the {cap}-byte target", bytes.len())))?;
        target.copy_from_slice(&bytes);
        Ok(Some(bytes.len() as u64))
    }
    /// Removes `key`; `true` when it existed.
    fn remove(&self, key: &str, cancel: &Cancel) -> Result<bool>;
    /// The object's size, or `None`.
    fn size(&self, key: &str, cancel: &Cancel) -> Result<Option<u64>>;
    /// Up to `limit` keys after `cursor` (`limit` is already within `limits.maxListPage`).
    fn list_keys(&self, cursor: Option<&str>, limit: u32, cancel: &Cancel) -> Result<KeyPage>;

    // Batches: one result per key, in order. The front door has checked
    // every key, split the batch into rounds without repeated keys (for
    // writes) and into tiles (run in parallel, each on its own thread); a
    // connector implements these when it can do better than the default
    // loop over the single-key calls, which does not start keys after the
    // caller cancelled.

    /// [`ObjectConnector::exists`] for each key.
    fn exists_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        per_key(keys.len(), "existsMany", cancel, |i| self.exists(&keys[i], cancel))
    }
    /// [`ObjectConnector::size`] for each key.
    fn size_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        per_key(keys.len(), "sizeMany", cancel, |i| self.size(&keys[i], cancel))
    }
    /// [`ObjectConnector::remove`] for each key (no key twice).
    fn remove_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        per_key(keys.len(), "removeMany", cancel, |i| self.remove(&keys[i], cancel))
    }
    /// [`ObjectConnector::get`] for each key.
    fn get_many(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<Vec<u8>>>> {
        per_key(keys.len(), "getMany", cancel, |i| self.get(&keys[i], cancel))
    }
    /// [`ObjectConnector::get_into`] for each key, into `targets[i]`.
    fn get_many_into(&self, keys: &[String], targets: &mut [&mut [u8]], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        per_key(keys.len(), "getManyInto", cancel, |i| self.get_into(&keys[i], targets[i], cancel))
    }
    /// [`ObjectConnector::put`] of `data[i]` under `keys[i]` (no key twice).
    fn put_many(&self, keys: &[String], data: &[&[u8]], cancel: &Cancel) -> Vec<Result<()>> {
        per_key(keys.len(), "putMany", cancel, |i| self.put(&keys[i], data[i], cancel))
    }

    /// Counters of instance events and the tenant's usage.
    fn stats(&self) -> ConnectorStats;
    /// Takes the log records so far (sandboxed connectors).
    fn drain_log(&self) -> Vec<LogRecord> {
        Vec::new()
    }
    /// The O_DIRECT alignment in use, or `None` when buffered.
    fn direct_alignment(&self) -> Option<usize>;
}
