//! `types`: this version's error variant, and its conversions to and from
//! [`crate::Error`] — the only place the two meet.

use super::WitError;
use super::kvbox::connector::types::Host;
use crate::Error;
use crate::sandbox::state::HostView;

impl Host for HostView<'_> {}

/// A host failure as the guest sees it.
pub fn to_wit(e: Error) -> WitError {
    match e {
        Error::InvalidKey(m) => WitError::InvalidKey(m),
        Error::InvalidConfig(m) => WitError::InvalidConfig(m),
        Error::InvalidPath(m) => WitError::InvalidPath(m),
        Error::TooLarge(m) => WitError::TooLarge(m),
        Error::NoSpace(m) => WitError::NoSpace(m),
        Error::Quota(m) => WitError::QuotaExceeded(m),
        Error::Corrupt(m) => WitError::Corrupt(m),
        Error::BadPayload(m) => WitError::BadPayload(m),
        Error::Io(m) => WitError::Io(m),
        other => WitError::Other(other.to_string()),
    }
}

/// A guest's error as the caller sees it.
pub fn from_wit(e: WitError) -> Error {
    match e {
        WitError::InvalidConfig(m) => Error::InvalidConfig(m),
        WitError::InvalidKey(m) => Error::InvalidKey(m),
        WitError::InvalidPath(m) => Error::InvalidPath(m),
        WitError::TooLarge(m) => Error::TooLarge(m),
        WitError::NoSpace(m) => Error::NoSpace(m),
        WitError::QuotaExceeded(m) => Error::Quota(m),
        WitError::Corrupt(m) => Error::Corrupt(m),
        WitError::BadPayload(m) => Error::BadPayload(m),
        WitError::Io(m) => Error::Io(m),
        WitError::Other(m) => Error::Connector(m),
    }
}
