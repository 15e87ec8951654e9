//! The contract every connector kind implements, and the checks the host
//! makes before any connector sees a call.

use crate::sandbox::LogRecord;
use crate::{Error, Limits, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A caller's way to cancel one call (an `AbortSignal` on the JS side).
///
/// A call cancelled before it starts does nothing. A sandboxed call already
/// running guest code is interrupted at the next epoch tick (5 ms) and its
/// instance discarded; host I/O already under way (a write and its fsync)
/// completes first, so an object is either fully written or not at all.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Option<Arc<AtomicBool>>);

impl Cancel {
    /// A token that is never cancelled.
    pub fn never() -> Self {
        Self(None)
    }

    /// A token that [`Cancel::cancel`] can trip.
    pub fn new() -> Self {
        Self(Some(Arc::default()))
    }

    /// Trips the token; idempotent.
    pub fn cancel(&self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Release);
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Acquire))
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
    /// Bytes in the tenant's objects (see [`crate::io::Usage`]).
    pub bytes_stored: u64,
    /// Objects (files) in the tenant's directory.
    pub objects: u64,
    /// Calls admitted and not yet finished.
    pub in_flight: u64,
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

/// A key-value object store for byte blobs. Implementations are thread-safe;
/// every call blocks the calling thread (the binding runs them off the JS thread).
pub trait ObjectConnector: Send + Sync {
    /// Whether `key` is stored.
    fn exists(&self, key: &str, cancel: &Cancel) -> Result<bool>;
    /// Stores `data` under `key`, atomically replacing any previous object.
    fn put(&self, key: &str, data: &[u8], cancel: &Cancel) -> Result<()>;
    /// The whole object, or `None`.
    fn get(&self, key: &str, cancel: &Cancel) -> Result<Option<Vec<u8>>>;
    /// Reads the object into the start of `dst`, without allocating where
    /// the connector allows; its size, or `None`. An object larger than
    /// `dst` is refused with `TooLarge`. The default reads with
    /// [`ObjectConnector::get`] and copies.
    fn get_into(&self, key: &str, dst: &mut [u8], cancel: &Cancel) -> Result<Option<u64>> {
        let Some(bytes) = self.get(key, cancel)? else {
            return Ok(None);
        };
        if bytes.len() > dst.len() {
            return Err(Error::TooLarge(format!("object of {} bytes does not fit the {}-byte target", bytes.len(), dst.len())));
        }
        dst[..bytes.len()].copy_from_slice(&bytes);
        let len = bytes.len() as u64;
        crate::io::recycle::give(bytes);
        Ok(Some(len))
    }
    /// Removes `key`; `true` when it existed.
    fn remove(&self, key: &str, cancel: &Cancel) -> Result<bool>;
    /// The object's size, or `None`.
    fn size(&self, key: &str, cancel: &Cancel) -> Result<Option<u64>>;
    /// Up to `limit` keys after `cursor`.
    fn list_keys(&self, cursor: Option<&str>, limit: u32, cancel: &Cancel) -> Result<KeyPage>;
    /// Refuses further calls and releases the tenant directory; calls in flight finish.
    fn close(&self);
    /// Counters of instance events and the tenant's usage.
    fn stats(&self) -> ConnectorStats;
    /// Takes the log records so far (sandboxed connectors).
    fn drain_log(&self) -> Vec<LogRecord> {
        Vec::new()
    }
    /// The O_DIRECT alignment in use, or `None` when buffered.
    fn direct_alignment(&self) -> Option<usize>;
}

/// The host's own key rules, applied before any connector runs: non-empty,
/// no NUL, at most `limits.max_key_bytes` UTF-8 bytes.
pub fn check_key(key: &str, limits: &Limits) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("key is empty".into()));
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey("key contains a NUL character".into()));
    }
    if key.len() > limits.max_key_bytes as usize {
        return Err(Error::InvalidKey(format!(
            "key is {} bytes, over the limit of {} (limits.maxKeyBytes)",
            key.len(),
            limits.max_key_bytes
        )));
    }
    Ok(())
}

/// Rejects objects over `limits.max_object_bytes` before anything is written.
pub fn check_object_size(len: u64, limits: &Limits) -> Result<()> {
    if len > limits.max_object_bytes {
        return Err(Error::TooLarge(format!(
            "object of {len} bytes exceeds the limit of {} (limits.maxObjectBytes)",
            limits.max_object_bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        let limits = Limits { max_key_bytes: 8, ..Limits::default() };
        assert!(check_key("abc", &limits).is_ok());
        assert!(check_key("12345678", &limits).is_ok());
        assert!(matches!(check_key("", &limits), Err(Error::InvalidKey(_))));
        assert!(matches!(check_key("a\0b", &limits), Err(Error::InvalidKey(_))));
        assert!(matches!(check_key("123456789", &limits), Err(Error::InvalidKey(_))));
        assert!(matches!(check_key("ééééé", &limits), Err(Error::InvalidKey(_))), "counts bytes, not chars");
    }
}
