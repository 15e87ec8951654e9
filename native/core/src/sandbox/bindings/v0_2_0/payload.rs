//! `payload`: this version's resource onto the version-neutral payloads.

use super::WitError;
use super::kvbox::connector::payload::{Host, HostPayload};
use super::types::to_wit;
use crate::sandbox::payload::Payload;
use crate::sandbox::state::HostView;
use wasmtime::component::Resource;

impl Host for HostView<'_> {}

impl HostPayload for HostView<'_> {
    fn create(&mut self, len: u64) -> wasmtime::Result<Result<Resource<Payload>, WitError>> {
        Ok(self.create_payload(len)?.map_err(to_wit))
    }

    fn len(&mut self, p: Resource<Payload>) -> wasmtime::Result<u64> {
        self.payload_len(&p)
    }

    fn read(&mut self, p: Resource<Payload>, offset: u64, len: u32) -> wasmtime::Result<Result<Vec<u8>, WitError>> {
        Ok(Ok(self.read_payload(&p, offset, len)?))
    }

    fn write(&mut self, p: Resource<Payload>, offset: u64, data: Vec<u8>) -> wasmtime::Result<Result<(), WitError>> {
        Ok(self.write_payload(&p, offset, &data)?.map_err(to_wit))
    }

    fn resize(&mut self, p: Resource<Payload>, len: u64) -> wasmtime::Result<Result<(), WitError>> {
        Ok(self.resize_payload(&p, len)?.map_err(to_wit))
    }

    fn copy_from(
        &mut self,
        p: Resource<Payload>,
        src: Resource<Payload>,
        src_offset: u64,
        offset: u64,
        len: u64,
    ) -> wasmtime::Result<Result<(), WitError>> {
        Ok(self.copy_payload(&p, &src, src_offset, offset, len)?.map_err(to_wit))
    }

    fn drop(&mut self, p: Resource<Payload>) -> wasmtime::Result<()> {
        self.take_payload(p).map(drop)
    }
}
