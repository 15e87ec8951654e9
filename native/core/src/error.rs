//! The one error type of kvbox-core. Each kind has a stable code
//! (`ERR_KVBOX_…`) which crosses to JavaScript as the error's `code`
//! property; [`ERROR_CODES`] lists them all, so the TypeScript facade and the
//! C ABI are generated from (and checked against) this file.

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One error kind as other languages see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// The stable code, `ERR_KVBOX_…`.
    pub code: &'static str,
    /// The Rust variant's name (the TypeScript class is named after it).
    pub kind: &'static str,
    /// What it means, for generated documentation.
    pub doc: &'static str,
}

macro_rules! errors {
    ($( #[doc = $doc:literal] $variant:ident => $code:literal, )*) => {
        /// Everything that can go wrong, by what the caller can do about it.
        /// Every variant carries a message saying what and where.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum Error {
            $( #[doc = $doc] #[error("{0}")] $variant(String), )*
        }

        /// Every error kind, in declaration order.
        pub const ERROR_CODES: &[ErrorCode] = &[ $( ErrorCode { code: $code, kind: stringify!($variant), doc: $doc.trim_ascii() }, )* ];

        impl Error {
            /// The stable code callers branch on.
            pub fn code(&self) -> &'static str {
                match self { $( Error::$variant(_) => $code, )* }
            }

            /// The message, without the code.
            pub fn message(&self) -> &str {
                match self { $( Error::$variant(m) => m, )* }
            }
        }
    };
}

errors! {
    /// The key is empty, contains NUL, is too long, or the connector refused it.
    InvalidKey => "ERR_KVBOX_INVALID_KEY",
    /// An argument has the wrong type or an unacceptable value (a limit out of range, a bad root…).
    InvalidArgument => "ERR_KVBOX_INVALID_ARGUMENT",
    /// The connector rejected its JSON configuration; the message names the key.
    InvalidConfig => "ERR_KVBOX_INVALID_CONFIG",
    /// The bytes are not a loadable component, or it does not implement a contract version this host supports.
    Load => "ERR_KVBOX_LOAD",
    /// The connector was closed.
    Closed => "ERR_KVBOX_CLOSED",
    /// The connector named an object path outside the rules (an escape attempt, a reserved name…).
    InvalidPath => "ERR_KVBOX_INVALID_PATH",
    /// An object or payload above the size limit; nothing was written.
    TooLarge => "ERR_KVBOX_TOO_LARGE",
    /// The device is full; nothing was written.
    NoSpace => "ERR_KVBOX_NO_SPACE",
    /// Stored bytes failed verification; they were not returned.
    Corrupt => "ERR_KVBOX_CORRUPT",
    /// The connector misused a payload handle.
    BadPayload => "ERR_KVBOX_BAD_PAYLOAD",
    /// The operating system refused an I/O operation.
    Io => "ERR_KVBOX_IO",
    /// A call ran past its deadline; the instance was discarded.
    Timeout => "ERR_KVBOX_TIMEOUT",
    /// The connector trapped (panic, stack overflow, bad handle…); the instance was discarded.
    Trap => "ERR_KVBOX_TRAP",
    /// The connector reported a failure of its own, or broke the contract.
    Connector => "ERR_KVBOX_CONNECTOR",
    /// The connector tried to take more memory than `limits.memoryBytes`; the instance was discarded.
    MemoryLimit => "ERR_KVBOX_MEMORY_LIMIT",
    /// A tenant quota (bytes, objects, directories, calls in flight) would be exceeded; nothing was written.
    Quota => "ERR_KVBOX_QUOTA",
    /// The call was cancelled by its caller (an `AbortSignal`).
    Cancelled => "ERR_KVBOX_CANCELLED",
    /// The tenant directory is held by another open connector (in this or another process).
    Busy => "ERR_KVBOX_BUSY",
    /// The remote object store could not be reached, or failed or timed out after its retries; a put that reports this may or may not have been stored.
    Unavailable => "ERR_KVBOX_UNAVAILABLE",
    /// No native binary for this platform could be loaded (raised by the JavaScript loader, never by the core).
    UnsupportedPlatform => "ERR_KVBOX_UNSUPPORTED_PLATFORM",
    /// A connector project could not be built: a missing toolchain (the message gives the install commands) or a failed compile (raised by the CLI, never by the core).
    Build => "ERR_KVBOX_BUILD",
}

impl Error {
    /// The refusal of a call on a closed connector.
    pub fn closed() -> Self {
        Error::Closed("the connector is closed".into())
    }

    /// An OS error during `what`, classified (ENOSPC and EDQUOT are `NoSpace`,
    /// ELOOP/EXDEV from confinement are `InvalidPath`).
    pub fn os(what: &str, err: std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::NoSpace(format!("{what}: no space left on device")),
            Some(libc::ELOOP) => Error::InvalidPath(format!("{what}: a symbolic link is in the path (links are never followed)")),
            Some(libc::EXDEV) => Error::InvalidPath(format!("{what}: the path resolves outside the granted directory")),
            Some(libc::ENAMETOOLONG) => Error::InvalidPath(format!("{what}: name too long")),
            _ => Error::Io(format!("{what}: {err}")),
        }
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::os("I/O", e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for c in ERROR_CODES {
            assert!(c.code.starts_with("ERR_KVBOX_"), "{}", c.code);
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(!c.doc.is_empty());
        }
        assert_eq!(Error::Quota("x".into()).code(), "ERR_KVBOX_QUOTA");
        assert_eq!(Error::closed().message(), "the connector is closed");
    }
}
