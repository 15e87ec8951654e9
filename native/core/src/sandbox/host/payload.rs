//! `payload`: the host side of the payload resource (see
//! [`crate::sandbox::payload`] for the bytes and the budget).

use crate::sandbox::payload::Payload;
use crate::sandbox::state::HostView;
use crate::{Error, Result};
use wasmtime::component::Resource;

impl HostView<'_> {
    /// Stores bytes the host produced as a new owned payload.
    pub(crate) fn push_owned(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Result<Resource<Payload>>> {
        if let Err(e) = self.budget.reserve(bytes.len() as u64) {
            return Ok(Err(e));
        }
        Ok(Ok(self.table.push(Payload::Owned(bytes))?))
    }

    /// Removes a payload from the table, returning its bytes' share of the budget.
    pub(crate) fn take_payload(&mut self, p: Resource<Payload>) -> wasmtime::Result<Payload> {
        let gone = self.table.delete(p)?;
        self.budget.release(gone.owned_len());
        Ok(gone)
    }

    /// A zero-filled, writable payload of `len` bytes.
    pub(crate) fn create_payload(&mut self, len: u64) -> wasmtime::Result<Result<Resource<Payload>>> {
        self.check_call()?;
        if let Err(e) = self.budget.reserve(len) {
            return Ok(Err(e));
        }
        Ok(Ok(self.table.push(Payload::Owned(vec![0; len as usize]))?))
    }

    /// The payload's length.
    pub(crate) fn payload_len(&mut self, p: &Resource<Payload>) -> wasmtime::Result<u64> {
        Ok(self.table.get(p)?.bytes().len() as u64)
    }

    /// Copies a range out to the guest.
    pub(crate) fn read_payload(&mut self, p: &Resource<Payload>, offset: u64, len: u32) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(p)?.read_range(offset, len.into()).to_vec())
    }

    /// Copies guest bytes into a writable payload.
    pub(crate) fn write_payload(&mut self, p: &Resource<Payload>, offset: u64, data: &[u8]) -> wasmtime::Result<Result<()>> {
        Ok(self.table.get_mut(p)?.write_range(offset, data))
    }

    /// Shrinks or grows (zero-filling) a writable payload.
    pub(crate) fn resize_payload(&mut self, p: &Resource<Payload>, len: u64) -> wasmtime::Result<Result<()>> {
        self.check_call()?;
        let old = match self.table.get_mut(p)?.owned_mut() {
            Ok(buf) => buf.len() as u64,
            Err(e) => return Ok(Err(e)),
        };
        if len > old {
            if let Err(e) = self.budget.reserve(len - old) {
                return Ok(Err(e));
            }
        } else {
            self.budget.release(old - len);
        }
        if let Ok(buf) = self.table.get_mut(p)?.owned_mut() {
            buf.resize(usize::try_from(len).map_err(|_| Error::TooLarge("payload too large".into()))?, 0);
        }
        Ok(Ok(()))
    }
}
