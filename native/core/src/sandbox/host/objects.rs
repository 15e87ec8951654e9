//! `kvbox:connector/objects`: host I/O inside the granted directory, on
//! behalf of the guest. Confinement and O_DIRECT live in [`crate::io`]; this
//! file only moves handles and maps errors.

use crate::Error;
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::kvbox::connector::objects::{Host, Listing};
use crate::sandbox::host::payload::Payload;
use crate::sandbox::host::types::to_wit;
use crate::sandbox::state::HostView;
use wasmtime::component::Resource;

impl Host for HostView<'_> {
    fn write(&mut self, path: String, data: Resource<Payload>) -> wasmtime::Result<Result<(), WitError>> {
        let bytes = self.table.get(&data)?.bytes();
        if bytes.len() as u64 > self.limits.max_object_bytes {
            return Ok(Err(WitError::TooLarge(format!("object of {} bytes exceeds the object size limit", bytes.len()))));
        }
        Ok(self.io.write(&path, bytes).map_err(to_wit))
    }

    fn read(&mut self, path: String) -> wasmtime::Result<Result<Option<Resource<Payload>>, WitError>> {
        if let Some((ptr, cap)) = self.read_target.armed {
            // SAFETY: armed only during a `get_into` call, whose caller keeps
            // the buffer alive and untouched until the call returns; no
            // payload over it exists yet (it is disarmed once used).
            let dst = unsafe { std::slice::from_raw_parts_mut(ptr, cap) };
            match self.io.read_into(&path, dst, self.limits.max_object_bytes) {
                Ok(Some(len)) => {
                    self.read_target.armed = None;
                    let lent = self.table.push(Payload::Lent { ptr: ptr.cast_const(), len: len as usize })?;
                    self.read_target.issued.push(lent.rep());
                    return Ok(Ok(Some(lent)));
                }
                Ok(None) => return Ok(Ok(None)),
                Err(Error::TooLarge(_)) => {} // does not fit: an ordinary read below
                Err(e) => return Ok(Err(to_wit(e))),
            }
        }
        match self.io.read(&path, self.limits.max_object_bytes) {
            Ok(Some(bytes)) => Ok(self.push_owned(bytes)?.map(Some)),
            Ok(None) => Ok(Ok(None)),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }

    fn stat(&mut self, path: String) -> wasmtime::Result<Result<Option<u64>, WitError>> {
        Ok(self.io.stat(&path).map_err(to_wit))
    }

    fn remove(&mut self, path: String) -> wasmtime::Result<Result<bool, WitError>> {
        Ok(self.io.remove(&path).map_err(to_wit))
    }

    fn list_objects(&mut self, prefix: String, after: Option<String>, limit: u32) -> wasmtime::Result<Result<Listing, WitError>> {
        let limit = limit.min(self.limits.max_list_page);
        Ok(self.io.list(&prefix, after.as_deref(), limit).map(|l| Listing { paths: l.paths, more: l.more }).map_err(to_wit))
    }
}
