//! The contract's error variant, as the connector sees and returns it.

use crate::wit::kvbox::connector::types::Error as WitError;
use std::fmt;

/// Why an operation failed: what a connector returns, and what host I/O
/// returns to it. Absence is never an error (lookups return `Option`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The JSON configuration is malformed or has an unknown or mistyped key; name the key.
    InvalidConfig(String),
    /// The key is not acceptable to this connector.
    InvalidKey(String),
    /// An object path handed to [`objects`](crate::objects) is not a plain relative path.
    InvalidPath(String),
    /// The object, or a payload being created, exceeds the host's size limit.
    TooLarge(String),
    /// The device is out of space; nothing was written.
    NoSpace(String),
    /// The write would exceed a quota the host enforces; nothing was written.
    QuotaExceeded(String),
    /// Stored bytes failed verification (checksum, framing).
    Corrupt(String),
    /// The payload handle may not be used this way (writing a read-only payload).
    BadPayload(String),
    /// The host's I/O failed for another reason.
    Io(String),
    /// Any other failure, described by the connector.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, why) = match self {
            Error::InvalidConfig(s) => ("invalid config", s),
            Error::InvalidKey(s) => ("invalid key", s),
            Error::InvalidPath(s) => ("invalid path", s),
            Error::TooLarge(s) => ("too large", s),
            Error::NoSpace(s) => ("no space", s),
            Error::QuotaExceeded(s) => ("quota exceeded", s),
            Error::Corrupt(s) => ("corrupt", s),
            Error::BadPayload(s) => ("bad payload", s),
            Error::Io(s) => ("I/O", s),
            Error::Other(s) => ("error", s),
        };
        write!(f, "{kind}: {why}")
    }
}

impl std::error::Error for Error {}

/// Lets `?` work on `std::io` calls (a [`PayloadCursor`](crate::PayloadCursor), a decoder).
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
            Some(ours) => ours.clone(),
            None => Error::Io(e.to_string()),
        }
    }
}

impl From<WitError> for Error {
    fn from(e: WitError) -> Self {
        match e {
            WitError::InvalidConfig(s) => Error::InvalidConfig(s),
            WitError::InvalidKey(s) => Error::InvalidKey(s),
            WitError::InvalidPath(s) => Error::InvalidPath(s),
            WitError::TooLarge(s) => Error::TooLarge(s),
            WitError::NoSpace(s) => Error::NoSpace(s),
            WitError::QuotaExceeded(s) => Error::QuotaExceeded(s),
            WitError::Corrupt(s) => Error::Corrupt(s),
            WitError::BadPayload(s) => Error::BadPayload(s),
            WitError::Io(s) => Error::Io(s),
            WitError::Other(s) => Error::Other(s),
        }
    }
}

impl From<Error> for WitError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidConfig(s) => WitError::InvalidConfig(s),
            Error::InvalidKey(s) => WitError::InvalidKey(s),
            Error::InvalidPath(s) => WitError::InvalidPath(s),
            Error::TooLarge(s) => WitError::TooLarge(s),
            Error::NoSpace(s) => WitError::NoSpace(s),
            Error::QuotaExceeded(s) => WitError::QuotaExceeded(s),
            Error::Corrupt(s) => WitError::Corrupt(s),
            Error::BadPayload(s) => WitError::BadPayload(s),
            Error::Io(s) => WitError::Io(s),
            Error::Other(s) => WitError::Other(s),
        }
    }
}
