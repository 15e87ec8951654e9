//! `objects`: host I/O inside the granted directory, on behalf of the guest.
//! Confinement and O_DIRECT live in [`crate::io`]; this file moves handles,
//! applies the object size limit and, before any I/O starts, the call's
//! deadline (so a guest cannot make the host keep writing after its time is up).

use crate::io::listing::Listing;
use crate::sandbox::payload::Payload;
use crate::sandbox::state::HostView;
use crate::{Error, Result};
use wasmtime::component::Resource;

/// What `objects.read` produced.
pub enum ReadOutcome {
    /// No such object.
    Absent,
    /// A payload for the guest.
    Found(Resource<Payload>),
}

impl HostView<'_> {
    /// Atomically replaces the object at `path` with `data`'s bytes.
    pub(crate) fn write_object(&mut self, path: &str, data: &Resource<Payload>) -> wasmtime::Result<Result<()>> {
        self.check_call()?;
        let bytes = self.table.get(data)?.bytes();
        // The connector may add framing: it gets the headroom over what
        // callers may store, not more.
        let cap = self.limits.connector_object_cap();
        if bytes.len() as u64 > cap {
            return Ok(Err(Error::TooLarge(format!(
                "the connector wrote an object of {} bytes, over its cap of {cap} \
                 (limits.maxObjectBytes {} + limits.payloadHeadroomBytes {} for its framing)",
                bytes.len(),
                self.limits.max_object_bytes,
                self.limits.payload_headroom_bytes
            ))));
        }
        let written = self.io.write(path, bytes);
        Ok(self.noted(written))
    }

    /// Reads the object at `path`: into the caller's buffer when a
    /// `getInto` armed one and it fits, else into a new owned payload.
    pub(crate) fn read_object(&mut self, path: &str) -> wasmtime::Result<Result<ReadOutcome>> {
        self.check_call()?;
        let max = self.limits.connector_object_cap();
        if let Some(mut dst) = self.read_target.take() {
            let read = self.io.read_into(path, dst.buf(), max);
            match self.noted(read) {
                Ok(Some(len)) => {
                    let lent = self.table.push(Payload::Lent { ptr: dst.buf().as_ptr(), len: len as usize })?;
                    self.read_target.issue(lent.rep());
                    return Ok(Ok(ReadOutcome::Found(lent)));
                }
                Ok(None) => {
                    self.read_target.put_back(dst);
                    return Ok(Ok(ReadOutcome::Absent));
                }
                Err(Error::TooLarge(_)) => self.read_target.put_back(dst), // does not fit: an ordinary read
                Err(e) => return Ok(Err(e)),
            }
        }
        let read = self.io.read(path, max);
        match self.noted(read) {
            Ok(Some(bytes)) => Ok(self.push_owned(bytes)?.map(ReadOutcome::Found)),
            Ok(None) => Ok(Ok(ReadOutcome::Absent)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Up to `len` bytes of the object from `offset`, as a new owned payload.
    pub(crate) fn read_object_range(&mut self, path: &str, offset: u64, len: u64) -> wasmtime::Result<Result<ReadOutcome>> {
        self.check_call()?;
        match self.io.read_range(path, offset, len, self.limits.connector_object_cap()) {
            Ok(Some(bytes)) => Ok(self.push_owned(bytes)?.map(ReadOutcome::Found)),
            Ok(None) => Ok(Ok(ReadOutcome::Absent)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Reads the whole object into the start of the writable payload
    /// `target` (a caller's buffer during `get-many-into`: no copy); its
    /// size, or `None`. `target` is left as it was when the object does not fit.
    pub(crate) fn read_object_into(&mut self, path: &str, target: &Resource<Payload>) -> wasmtime::Result<Result<Option<u64>>> {
        self.check_call()?;
        let max = self.limits.connector_object_cap();
        let dst = match self.table.get_mut(target)?.writable() {
            Ok(dst) => dst,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.io.read_into(path, dst, max))
    }

    /// The object's size, or `None`.
    pub(crate) fn stat_object(&mut self, path: &str) -> wasmtime::Result<Result<Option<u64>>> {
        self.check_call()?;
        let stat = self.io.stat(path);
        Ok(self.noted(stat))
    }

    /// Removes the object; `true` when it existed.
    pub(crate) fn remove_object(&mut self, path: &str) -> wasmtime::Result<Result<bool>> {
        self.check_call()?;
        let removed = self.io.remove(path);
        Ok(self.noted(removed))
    }

    /// One page of object paths beneath `prefix`, after `after`.
    pub(crate) fn list_objects(&mut self, prefix: &str, after: Option<&str>, limit: u32) -> wasmtime::Result<Result<Listing>> {
        self.check_call()?;
        let listed = self.io.list(prefix, after, limit.min(self.limits.max_list_page));
        Ok(self.noted(listed))
    }
}
