//! Host I/O: the only way a connector touches storage.
//!
//! Objects are named by relative paths the connector chooses (`/`-separated
//! segments, none empty, `.`, `..` or starting with `.kvbox`, each ≤ 255
//! bytes), resolved strictly beneath the connector's granted directory. The
//! host writes atomically and durably, with O_DIRECT where it can.
//! [`layout::Layout`](crate::layout::Layout) maps any key to such a path.

use crate::wit::kvbox::connector::objects as wit;
use crate::{Error, Payload};

/// Atomically and durably replaces the object at `path` with `data`'s bytes.
pub fn write(path: &str, data: &Payload) -> Result<(), Error> {
    Ok(wit::write(path, data.as_wit())?)
}

/// The whole object, in a new payload; `None` when absent.
pub fn read(path: &str) -> Result<Option<Payload>, Error> {
    Ok(wit::read(path)?.map(Payload::from_wit))
}

/// `len` bytes from `offset` (fewer when the object ends first); `None` when absent.
pub fn read_range(path: &str, offset: u64, len: u64) -> Result<Option<Payload>, Error> {
    Ok(wit::read_range(path, offset, len)?.map(Payload::from_wit))
}

/// Reads the whole object into the start of `target` (a writable payload),
/// straight from the device; returns its size, `None` when absent,
/// [`Error::TooLarge`] when it does not fit (`target` is left as it was).
pub fn read_into(path: &str, target: &Payload) -> Result<Option<u64>, Error> {
    Ok(wit::read_into(path, target.as_wit())?)
}

/// The object's size from its metadata (not read); `None` when absent.
pub fn stat(path: &str) -> Result<Option<u64>, Error> {
    Ok(wit::stat(path)?)
}

/// Removes the object; `true` when it existed.
pub fn remove(path: &str) -> Result<bool, Error> {
    Ok(wit::remove(path)?)
}

/// One page of [`list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Full object paths, in the host's stable order.
    pub paths: Vec<String>,
    /// Whether more paths follow the last one.
    pub more: bool,
}

/// Object paths beneath directory `prefix` (`""` for all) strictly after
/// `after`, at most `limit` (the host may cap it). Temporary files are never listed.
pub fn list(prefix: &str, after: Option<&str>, limit: u32) -> Result<Listing, Error> {
    let l = wit::list_objects(prefix, after, limit)?;
    Ok(Listing { paths: l.paths, more: l.more })
}
