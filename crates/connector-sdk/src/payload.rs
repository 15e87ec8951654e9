//! Host-owned byte buffers, with ranged copies and `std::io` cursors.

use crate::Error;
use crate::wit::kvbox::connector::payload::Payload as WitPayload;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A byte buffer held by the host: the caller's data in `put` (read-only,
/// lent for the call), an object read by [`objects::read`](crate::objects::read),
/// a target of `get_many_into` (writable, fixed length), or one you
/// [`create`](Payload::create).
///
/// Hand a payload to host I/O as it is and its bytes never enter the
/// connector's memory. To transform bytes, copy ranges with
/// [`read_at`](Payload::read_at) / [`write_at`](Payload::write_at), between
/// payloads inside the host with [`copy_from`](Payload::copy_from), or
/// stream through a [`cursor`](Payload::cursor) (`Read + Write + Seek`).
#[repr(transparent)]
pub struct Payload(WitPayload);

impl Payload {
    /// A zero-filled, writable payload of `len` bytes.
    /// Fails with [`Error::TooLarge`] over the instance's payload budget.
    pub fn create(len: u64) -> Result<Payload, Error> {
        Ok(Payload(WitPayload::create(len)?))
    }

    /// The length in bytes.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether the payload holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies up to `len` bytes starting at `offset` into a new vector (fewer at the end).
    pub fn read_at(&self, offset: u64, len: u32) -> Result<Vec<u8>, Error> {
        Ok(self.0.read(offset, len)?)
    }

    /// Copies `bytes` into the payload at `offset`.
    /// Fails with [`Error::BadPayload`] on a read-only payload or a range that does not fit.
    pub fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        Ok(self.0.write(offset, bytes)?)
    }

    /// Shrinks or grows (zero-filling) a payload you own to `len` bytes.
    pub fn resize(&self, len: u64) -> Result<(), Error> {
        Ok(self.0.resize(len)?)
    }

    /// Copies `len` bytes of `src` from `src_offset` into this payload at
    /// `offset`, inside the host (the bytes do not enter guest memory).
    pub fn copy_from(&self, src: &Payload, src_offset: u64, offset: u64, len: u64) -> Result<(), Error> {
        Ok(self.0.copy_from(&src.0, src_offset, offset, len)?)
    }

    /// The whole payload, copied into guest memory.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.cursor().read_to_end(&mut out)?;
        Ok(out)
    }

    /// A new payload holding `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payload, Error> {
        let p = Payload::create(bytes.len() as u64)?;
        p.write_at(0, bytes)?;
        Ok(p)
    }

    /// A `Read + Write + Seek` cursor at the start of the payload. Writes past
    /// the end grow a payload you own; each read or write is one host call,
    /// so wrap it in a `BufReader`/`BufWriter` for small pieces.
    pub fn cursor(&self) -> PayloadCursor<'_> {
        PayloadCursor { payload: self, pos: 0 }
    }

    pub(crate) fn from_wit(p: WitPayload) -> Self {
        Payload(p)
    }

    pub(crate) fn from_wit_ref(p: &WitPayload) -> &Payload {
        // SAFETY: `Payload` is `repr(transparent)` over `WitPayload`, so the
        // two references have the same layout and validity.
        unsafe { &*(p as *const WitPayload as *const Payload) }
    }

    pub(crate) fn into_wit(self) -> WitPayload {
        self.0
    }

    pub(crate) fn as_wit(&self) -> &WitPayload {
        &self.0
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.len())
    }
}

/// A position in a [`Payload`]: reads and writes move it (see [`Payload::cursor`]).
pub struct PayloadCursor<'a> {
    payload: &'a Payload,
    pos: u64,
}

impl PayloadCursor<'_> {
    /// The current offset.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

/// Most bytes moved by one host call of a cursor.
const CHUNK: usize = 1 << 20;

fn to_io(e: Error) -> io::Error {
    io::Error::other(e)
}

impl Read for PayloadCursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(CHUNK) as u32;
        if want == 0 || self.pos >= self.payload.len() {
            return Ok(0);
        }
        let bytes = self.payload.read_at(self.pos, want).map_err(to_io)?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        self.pos += bytes.len() as u64;
        Ok(bytes.len())
    }
}

impl Write for PayloadCursor<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK);
        let end = self.pos + n as u64;
        if end > self.payload.len() {
            self.payload.resize(end).map_err(to_io)?;
        }
        self.payload.write_at(self.pos, &buf[..n]).map_err(to_io)?;
        self.pos = end;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for PayloadCursor<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.payload.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the payload"))?;
        Ok(self.pos)
    }
}
