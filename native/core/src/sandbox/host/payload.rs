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

    /// Copies `len` bytes of `src` from `src_offset` into `dst` at
    /// `offset`, inside the host. `src` and `dst` may be the same payload.
    pub(crate) fn copy_payload(
        &mut self,
        dst: &Resource<Payload>,
        src: &Resource<Payload>,
        src_offset: u64,
        offset: u64,
        len: u64,
    ) -> wasmtime::Result<Result<()>> {
        self.check_call()?;
        let src_len = self.table.get(src)?.bytes().len() as u64;
        if src_offset.checked_add(len).is_none_or(|end| end > src_len) {
            return Ok(Err(Error::BadPayload(format!(
                "copy of {len} bytes from offset {src_offset} of a {src_len}-byte payload reads past its end"
            ))));
        }
        let (from, to) = (src_offset as usize, (src_offset + len) as usize);
        if src.rep() == dst.rep() {
            let buf = match self.table.get_mut(dst)?.writable() {
                Ok(b) => b,
                Err(e) => return Ok(Err(e)),
            };
            let at = usize::try_from(offset).ok().filter(|&at| at.checked_add(to - from).is_some_and(|end| end <= buf.len()));
            return Ok(match at {
                Some(at) => {
                    buf.copy_within(from..to, at);
                    Ok(())
                }
                None => Err(Error::BadPayload(format!("copy of {len} bytes to offset {offset} does not fit a {}-byte payload", buf.len()))),
            });
        }
        // Two distinct entries: the source's bytes are read through a raw
        // view while the destination is borrowed mutably from the table.
        let src_bytes = self.table.get(src)?.bytes();
        let (ptr, n) = (src_bytes[from..to].as_ptr(), to - from);
        let dst = self.table.get_mut(dst)?;
        // SAFETY: `src` and `dst` are different table entries (checked by
        // rep above), so the source bytes (owned by another entry, or a
        // caller's buffer lent for this call) do not alias the destination,
        // and nothing frees them during this copy.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, n) };
        Ok(dst.write_range(offset, bytes))
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
