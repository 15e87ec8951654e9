//! `objects`: this version's types onto the version-neutral host I/O.

use super::WitError;
use super::kvbox::connector::objects::{Host, Listing};
use super::types::to_wit;
use crate::sandbox::host::objects::ReadOutcome;
use crate::sandbox::payload::Payload;
use crate::sandbox::state::HostView;
use wasmtime::component::Resource;

impl Host for HostView<'_> {
    fn write(&mut self, path: String, data: Resource<Payload>) -> wasmtime::Result<Result<(), WitError>> {
        Ok(self.write_object(&path, &data)?.map_err(to_wit))
    }

    fn read(&mut self, path: String) -> wasmtime::Result<Result<Option<Resource<Payload>>, WitError>> {
        Ok(self
            .read_object(&path)?
            .map(|r| match r {
                ReadOutcome::Found(p) => Some(p),
                ReadOutcome::Absent => None,
            })
            .map_err(to_wit))
    }

    fn read_range(&mut self, path: String, offset: u64, len: u64) -> wasmtime::Result<Result<Option<Resource<Payload>>, WitError>> {
        Ok(self
            .read_object_range(&path, offset, len)?
            .map(|r| match r {
                ReadOutcome::Found(p) => Some(p),
                ReadOutcome::Absent => None,
            })
            .map_err(to_wit))
    }

    fn read_into(&mut self, path: String, target: Resource<Payload>) -> wasmtime::Result<Result<Option<u64>, WitError>> {
        Ok(self.read_object_into(&path, &target)?.map_err(to_wit))
    }

    fn stat(&mut self, path: String) -> wasmtime::Result<Result<Option<u64>, WitError>> {
        Ok(self.stat_object(&path)?.map_err(to_wit))
    }

    fn remove(&mut self, path: String) -> wasmtime::Result<Result<bool, WitError>> {
        Ok(self.remove_object(&path)?.map_err(to_wit))
    }

    fn list_objects(&mut self, prefix: String, after: Option<String>, limit: u32) -> wasmtime::Result<Result<Listing, WitError>> {
        let listing = self.list_objects(&prefix, after.as_deref(), limit)?;
        Ok(listing.map(|l| Listing { paths: l.paths, more: l.more }).map_err(to_wit))
    }
}
