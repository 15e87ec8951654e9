//! `kvbox:connector/payload`: byte buffers that stay in the host.
//!
//! A put lends the caller's bytes as a read-only [`Payload::Lent`] for the
//! duration of one call; reads and guest-created payloads are
//! [`Payload::Owned`]. Owned bytes count against a per-instance budget (two
//! objects' worth), so a guest cannot make the host allocate without bound.

use crate::Error;
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::kvbox::connector::payload::{Host, HostPayload};
use crate::sandbox::host::types::to_wit;
use crate::sandbox::state::HostView;
use wasmtime::component::Resource;

/// Bytes behind a `payload` handle.
pub enum Payload {
    /// The caller's bytes, read-only, valid only during the call that lent them.
    Lent { ptr: *const u8, len: usize },
    /// Host-owned bytes.
    Owned(Vec<u8>),
}

// SAFETY: a `Lent` payload points into a caller buffer that the lending call
// keeps alive and unmodified until the call returns; the entry is deleted
// from the table before then (see `WasmConnector::put`), and a trapped
// instance (whose table might still hold it) is dropped without reading it.
unsafe impl Send for Payload {}

impl Payload {
    /// Lends `bytes` for one call.
    pub fn lend(bytes: &[u8]) -> Self {
        Payload::Lent { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: see the `Send` impl: valid for the lending call.
            Payload::Lent { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Payload::Owned(v) => v,
        }
    }

    /// Host-owned bytes counted against the budget.
    pub fn owned_len(&self) -> u64 {
        match self {
            Payload::Lent { .. } => 0,
            Payload::Owned(v) => v.len() as u64,
        }
    }
}

/// Owned payload bytes alive in one instance, against a cap.
#[derive(Debug)]
pub struct PayloadBudget {
    used: u64,
    cap: u64,
}

impl PayloadBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: u64) -> Self {
        Self { used: 0, cap }
    }

    /// Accounts for `more` bytes, or says why not.
    pub fn reserve(&mut self, more: u64) -> Result<(), Error> {
        if self.used.saturating_add(more) > self.cap {
            return Err(Error::TooLarge(format!(
                "payloads would hold {} bytes, over this instance's budget of {}",
                self.used.saturating_add(more),
                self.cap
            )));
        }
        self.used += more;
        Ok(())
    }

    /// Returns `less` bytes.
    pub fn release(&mut self, less: u64) {
        self.used = self.used.saturating_sub(less);
    }
}

impl HostView<'_> {
    /// Stores bytes the host produced as a new owned payload.
    pub(crate) fn push_owned(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Result<Resource<Payload>, WitError>> {
        if let Err(e) = self.budget.reserve(bytes.len() as u64) {
            return Ok(Err(to_wit(e)));
        }
        Ok(Ok(self.table.push(Payload::Owned(bytes))?))
    }

    /// Removes a payload from the table, returning its bytes' share of the budget.
    pub(crate) fn take_payload(&mut self, p: Resource<Payload>) -> wasmtime::Result<Payload> {
        let gone = self.table.delete(p)?;
        self.budget.release(gone.owned_len());
        Ok(gone)
    }

    fn owned_mut(&mut self, p: &Resource<Payload>) -> wasmtime::Result<Result<&mut Vec<u8>, WitError>> {
        Ok(match self.table.get_mut(p)? {
            Payload::Owned(v) => Ok(v),
            Payload::Lent { .. } => Err(WitError::BadPayload("the caller's data is read-only".into())),
        })
    }
}

impl Host for HostView<'_> {}

impl HostPayload for HostView<'_> {
    fn create(&mut self, len: u64) -> wasmtime::Result<Result<Resource<Payload>, WitError>> {
        if len > self.limits.max_object_bytes {
            return Ok(Err(WitError::TooLarge(format!("payload of {len} bytes exceeds the object size limit"))));
        }
        if let Err(e) = self.budget.reserve(len) {
            return Ok(Err(to_wit(e)));
        }
        Ok(Ok(self.table.push(Payload::Owned(vec![0; len as usize]))?))
    }

    fn len(&mut self, p: Resource<Payload>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&p)?.bytes().len() as u64)
    }

    fn read(&mut self, p: Resource<Payload>, offset: u64, len: u32) -> wasmtime::Result<Result<Vec<u8>, WitError>> {
        let bytes = self.table.get(&p)?.bytes();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let end = start.saturating_add(len as usize).min(bytes.len());
        Ok(Ok(bytes[start..end].to_vec()))
    }

    fn write(&mut self, p: Resource<Payload>, offset: u64, data: Vec<u8>) -> wasmtime::Result<Result<(), WitError>> {
        let buf = match self.owned_mut(&p)? {
            Ok(buf) => buf,
            Err(e) => return Ok(Err(e)),
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(data.len()).filter(|&end| end <= buf.len()) {
            Some(end) => {
                buf[start..end].copy_from_slice(&data);
                Ok(Ok(()))
            }
            None => Ok(Err(WitError::BadPayload(format!(
                "write of {} bytes at {offset} does not fit a payload of {} bytes (resize it first)",
                data.len(),
                buf.len()
            )))),
        }
    }

    fn resize(&mut self, p: Resource<Payload>, len: u64) -> wasmtime::Result<Result<(), WitError>> {
        if len > self.limits.max_object_bytes {
            return Ok(Err(WitError::TooLarge(format!("payload of {len} bytes exceeds the object size limit"))));
        }
        let old = match self.owned_mut(&p)? {
            Ok(buf) => buf.len() as u64,
            Err(e) => return Ok(Err(e)),
        };
        if len > old {
            if let Err(e) = self.budget.reserve(len - old) {
                return Ok(Err(to_wit(e)));
            }
        } else {
            self.budget.release(old - len);
        }
        if let Ok(buf) = self.owned_mut(&p)? {
            buf.resize(len as usize, 0);
        }
        Ok(Ok(()))
    }

    fn drop(&mut self, p: Resource<Payload>) -> wasmtime::Result<()> {
        self.take_payload(p).map(drop)
    }
}
