//! What a connector implements.

use crate::{Error, Payload};

/// One page of keys from [`Connector::list_keys`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys exactly as they were put (never file names).
    pub keys: Vec<String>,
    /// What the host passes to the next call; `None` on the last page.
    pub cursor: Option<String>,
}

/// A key-value object store over host I/O: the contract `kvbox:connector/store`.
///
/// Keys arrive checked by the host (non-empty, no NUL, within its length
/// limit). The host runs several instances of a connector on one directory
/// at once, so keep no state another instance would need to see.
///
/// The single-key methods are required. The batched ones answer one result
/// per key, in order (one failed key never fails the others); their default
/// implementations loop over the single-key methods — override them when the
/// store can pipeline or coalesce.
pub trait Connector: Sized + 'static {
    /// Opens the store from its JSON configuration (`"{}"` when none was given).
    /// Return [`Error::InvalidConfig`] naming the offending key.
    fn open(config: &str) -> Result<Self, Error>;

    /// Whether an object is stored under `key`.
    fn exists(&self, key: &str) -> Result<bool, Error>;

    /// Stores `data` under `key`, replacing any previous object atomically.
    /// `data` is the caller's, read-only, lent for this call.
    fn put(&self, key: &str, data: &Payload) -> Result<(), Error>;

    /// The whole object under `key` (never truncated); `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Payload>, Error>;

    /// Removes the object; `true` when it existed.
    fn remove(&self, key: &str) -> Result<bool, Error>;

    /// The object's size in bytes; `None` when absent.
    fn size(&self, key: &str) -> Result<Option<u64>, Error>;

    /// Up to `limit` keys after `cursor` (from the start when `None`).
    fn list_keys(&self, cursor: Option<&str>, limit: u32) -> Result<KeyPage, Error>;

    /// [`exists`](Connector::exists) for each key.
    fn exists_many(&self, keys: &[String]) -> Vec<Result<bool, Error>> {
        keys.iter().map(|k| self.exists(k)).collect()
    }

    /// [`size`](Connector::size) for each key.
    fn size_many(&self, keys: &[String]) -> Vec<Result<Option<u64>, Error>> {
        keys.iter().map(|k| self.size(k)).collect()
    }

    /// [`get`](Connector::get) for each key.
    fn get_many(&self, keys: &[String]) -> Vec<Result<Option<Payload>, Error>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// `get` into the caller's buffers: `targets[i]` is a writable payload of
    /// fixed length for `keys[i]`. Returns each object's size (its bytes at
    /// the start of the target), `None` when absent, [`Error::TooLarge`] when
    /// it does not fit. Leave a target's bytes after the object alone.
    ///
    /// The default gets each object and copies it inside the host; a
    /// connector that stores bytes as they are does better with
    /// [`objects::read_into`](crate::objects::read_into) (no copy at all).
    fn get_many_into(&self, keys: &[String], targets: &[Payload]) -> Vec<Result<Option<u64>, Error>> {
        keys.iter().zip(targets).map(|(k, target)| get_into(self, k, target)).collect()
    }

    /// [`put`](Connector::put) for each key and payload.
    fn put_many(&self, keys: &[String], data: &[Payload]) -> Vec<Result<(), Error>> {
        keys.iter().zip(data).map(|(k, d)| self.put(k, d)).collect()
    }

    /// [`remove`](Connector::remove) for each key.
    fn remove_many(&self, keys: &[String]) -> Vec<Result<bool, Error>> {
        keys.iter().map(|k| self.remove(k)).collect()
    }
}

fn get_into<C: Connector>(c: &C, key: &str, target: &Payload) -> Result<Option<u64>, Error> {
    let Some(object) = c.get(key)? else { return Ok(None) };
    let len = object.len();
    if len > target.len() {
        return Err(Error::TooLarge(format!("{key:?} is {len} bytes, its buffer {}", target.len())));
    }
    target.copy_from(&object, 0, 0, len)?;
    Ok(Some(len))
}
