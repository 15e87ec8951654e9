//! Payloads: byte buffers that stay in the host, behind guest handles —
//! the version-neutral core of every contract version's `payload` resource.
//!
//! A put lends the caller's bytes as a read-only [`Payload::Lent`] for the
//! duration of one call; a batched read into caller buffers lends each as a
//! writable, fixed-length [`Payload::Target`]; reads and guest-created
//! payloads are [`Payload::Owned`]. Owned bytes count against a
//! per-instance budget (two objects' worth, more for a `get-many` batch),
//! so a guest cannot make the host allocate without bound.

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
    /// A caller's buffer lent writable for one call (a `get-many-into`
    /// target): its length is fixed.
    Target {
        /// Start of the caller's buffer.
        ptr: *mut u8,
        /// Its length.
        len: usize,
    },
    /// Host-owned bytes.
    Owned(Vec<u8>),
}

// SAFETY: a `Lent` or `Target` payload points into a caller buffer that the
// lending call keeps alive (and, for `Lent`, unmodified) until the call
// returns; the entry is deleted or revoked before then (see `lend` in
// `sandbox/connector.rs` and `read_target.rs`), and a trapped instance —
// whose table might still hold it — is dropped without touching it.
unsafe impl Send for Payload {}

impl Payload {
    /// Lends `bytes` for one call.
    pub fn lend(bytes: &[u8]) -> Self {
        Payload::Lent { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    /// Lends `buf` writable for one call.
    pub fn target(buf: &mut [u8]) -> Self {
        Payload::Target { ptr: buf.as_mut_ptr(), len: buf.len() }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: see the `Send` impl: valid for the lending call.
            Payload::Lent { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            // SAFETY: as above.
            Payload::Target { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Payload::Owned(v) => v,
        }
    }

    /// Whether this payload lends the caller's memory starting at `base`.
    pub fn lends(&self, base: *const u8) -> bool {
        match self {
            Payload::Lent { ptr, .. } => *ptr == base,
            Payload::Target { ptr, .. } => ptr.cast_const() == base,
            Payload::Owned(_) => false,
        }
    }

    /// Host-owned bytes counted against the budget.
    pub fn owned_len(&self) -> u64 {
        match self {
            Payload::Lent { .. } | Payload::Target { .. } => 0,
            Payload::Owned(v) => v.len() as u64,
        }
    }

    /// The bytes, writable in place (not resizable): owned payloads and
    /// lent targets; refused for the caller's read-only data.
    pub fn writable(&mut self) -> Result<&mut [u8]> {
        match self {
            Payload::Owned(v) => Ok(v),
            // SAFETY: see the `Send` impl; a target is the caller's buffer,
            // lent mutably for the call.
            Payload::Target { ptr, len } => Ok(unsafe { std::slice::from_raw_parts_mut(*ptr, *len) }),
            Payload::Lent { .. } => Err(Error::BadPayload("the caller's data is read-only".into())),
        }
    }

    /// The bytes, resizable — refused for lent payloads (read-only data,
    /// fixed-length targets).
    pub fn owned_mut(&mut self) -> Result<&mut Vec<u8>> {
        match self {
            Payload::Owned(v) => Ok(v),
            Payload::Lent { .. } => Err(Error::BadPayload("the caller's data is read-only".into())),
            Payload::Target { len, .. } => {
                Err(Error::BadPayload(format!("a caller's target has the fixed length of its buffer ({len} bytes) and cannot be resized")))
            }
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
        let buf = self.writable()?;
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

    /// Sets the cap (for one call: a `get-many` batch holds more).
    pub fn set_cap(&mut self, cap: u64) {
        self.cap = cap;
    }

    /// Accounts for `more` bytes, or says why not.
    pub fn reserve(&mut self, more: u64) -> Result<()> {
        let total = self.used.saturating_add(more);
        if total > self.cap {
            return Err(Error::TooLarge(format!(
                "the connector's payloads would hold {total} bytes, over this instance's budget of {} \
                 (2 × (limits.maxObjectBytes + limits.payloadHeadroomBytes), one more per key of a get-many batch)",
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
        let mut buf = [0u8; 4];
        let mut t = Payload::target(&mut buf);
        t.write_range(1, &[5, 6]).unwrap();
        assert!(matches!(t.write_range(3, &[0, 0]), Err(Error::BadPayload(_))));
        assert!(matches!(t.owned_mut(), Err(Error::BadPayload(m)) if m.contains("fixed length")));
        assert_eq!(t.owned_len(), 0);
        assert_eq!(buf, [0, 5, 6, 0]);
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
