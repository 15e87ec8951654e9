//! Payloads: byte buffers that stay in the host, behind guest handles —
//! the version-neutral core of every contract version's `payload` resource.
//!
//! A put lends the caller's bytes as a read-only [`Payload::Lent`] for the
//! duration of one call; reads and guest-created payloads are
//! [`Payload::Owned`]. Owned bytes count against a per-instance budget (two
//! objects' worth), so a guest cannot make the host allocate without bound.

use crate::{Error, Result};

/// Bytes behind a `payload` handle.
pub enum Payload {
    /// Bytes lent for one call (the caller's data in a put, or the caller's
    /// buffer filled by a read during `getInto`), read-only.
    Lent {
        /// Start of the lent bytes.
        ptr: *const u8,
        /// Their length.
        len: usize,
    },
    /// Host-owned bytes.
    Owned(Vec<u8>),
}

// SAFETY: a `Lent` payload points into a caller buffer that the lending call
// keeps alive and unmodified until the call returns; the entry is deleted
// (put) or revoked (getInto) before then, and a trapped instance — whose
// table might still hold it — is dropped without reading it.
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

    /// The bytes, writable — refused for lent (read-only) payloads.
    pub fn owned_mut(&mut self) -> Result<&mut Vec<u8>> {
        match self {
            Payload::Owned(v) => Ok(v),
            Payload::Lent { .. } => Err(Error::BadPayload("the caller's data is read-only".into())),
        }
    }

    /// `len` bytes from `offset` (fewer past the end, possibly none).
    pub fn read_range(&self, offset: u64, len: u64) -> &[u8] {
        let bytes = self.bytes();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)).min(bytes.len());
        &bytes[start..end]
    }

    /// Copies `data` in at `offset`; the range must fit.
    pub fn write_range(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let buf = self.owned_mut()?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(data.len()).filter(|&end| end <= buf.len()) {
            Some(end) => {
                buf[start..end].copy_from_slice(data);
                Ok(())
            }
            None => Err(Error::BadPayload(format!(
                "write of {} bytes at {offset} does not fit a payload of {} bytes (resize it first)",
                data.len(),
                buf.len()
            ))),
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
    pub fn reserve(&mut self, more: u64) -> Result<()> {
        let total = self.used.saturating_add(more);
        if total > self.cap {
            return Err(Error::TooLarge(format!(
                "the connector's payloads would hold {total} bytes, over this instance's budget of {} (2 × limits.maxObjectBytes)",
                self.cap
            )));
        }
        self.used = total;
        Ok(())
    }

    /// Returns `less` bytes.
    pub fn release(&mut self, less: u64) {
        self.used = self.used.saturating_sub(less);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clip_reads_and_refuse_writes_that_do_not_fit() {
        let mut p = Payload::Owned(vec![1, 2, 3, 4]);
        assert_eq!(p.read_range(1, 2), &[2, 3]);
        assert_eq!(p.read_range(3, 10), &[4]);
        assert!(p.read_range(u64::MAX, 1).is_empty());
        p.write_range(2, &[9, 9]).unwrap();
        assert_eq!(p.bytes(), &[1, 2, 9, 9]);
        assert!(matches!(p.write_range(3, &[0, 0]), Err(Error::BadPayload(_))));
        assert!(matches!(p.write_range(u64::MAX, &[0]), Err(Error::BadPayload(_))));
        let data = [7u8; 3];
        assert!(matches!(Payload::lend(&data).write_range(0, &[1]), Err(Error::BadPayload(_))));
    }

    #[test]
    fn the_budget_refuses_past_its_cap() {
        let mut b = PayloadBudget::new(10);
        b.reserve(6).unwrap();
        assert!(matches!(b.reserve(5), Err(Error::TooLarge(_))));
        b.release(6);
        b.reserve(10).unwrap();
    }
}
