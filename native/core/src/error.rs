//! The one error type of kvbox-core. Each kind has a stable code
//! (`ERR_KVBOX_…`) which the TypeScript facade turns into an error class.

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The key is empty, contains NUL, is too long, or the connector refused it.
    #[error("{0}")]
    InvalidKey(String),
    /// A value of the right type but an unacceptable content (a limit of 0, a bad root…).
    #[error("{0}")]
    InvalidArgument(String),
    /// The connector rejected its JSON configuration.
    #[error("{0}")]
    InvalidConfig(String),
    /// The bytes are not a loadable component, or it does not implement the kvbox world.
    #[error("{0}")]
    Load(String),
    /// The connector was closed.
    #[error("the connector is closed")]
    Closed,
    /// The connector named an object path outside the rules (escape attempt, reserved name…).
    #[error("{0}")]
    InvalidPath(String),
    /// An object or payload above the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The device is full; nothing was written.
    #[error("{0}")]
    NoSpace(String),
    /// Stored bytes failed verification.
    #[error("{0}")]
    Corrupt(String),
    /// The connector misused a payload handle.
    #[error("{0}")]
    BadPayload(String),
    /// The operating system refused an I/O operation.
    #[error("{0}")]
    Io(String),
    /// A call ran past its deadline; the instance was discarded.
    #[error("{0}")]
    Timeout(String),
    /// The guest trapped (panic, out-of-bounds, memory limit…); the instance was discarded.
    #[error("{0}")]
    Trap(String),
    /// The connector reported a failure of its own.
    #[error("{0}")]
    Connector(String),
    /// The guest tried to grow its memory past `limits.memoryBytes`; the instance was discarded.
    #[error("{0}")]
    MemoryLimit(String),
    /// A tenant quota (bytes stored, objects, operations in flight) would be exceeded; nothing was written.
    #[error("{0}")]
    Quota(String),
    /// The call was cancelled by the caller (an `AbortSignal`).
    #[error("{0}")]
    Cancelled(String),
    /// The tenant directory is held by another open connector (in this or another process).
    #[error("{0}")]
    Busy(String),
}

impl Error {
    /// The stable code the TypeScript facade maps to an error class.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidKey(_) => "ERR_KVBOX_INVALID_KEY",
            Error::InvalidArgument(_) => "ERR_KVBOX_INVALID_ARGUMENT",
            Error::InvalidConfig(_) => "ERR_KVBOX_INVALID_CONFIG",
            Error::Load(_) => "ERR_KVBOX_LOAD",
            Error::Closed => "ERR_KVBOX_CLOSED",
            Error::InvalidPath(_) => "ERR_KVBOX_INVALID_PATH",
            Error::TooLarge(_) => "ERR_KVBOX_TOO_LARGE",
            Error::NoSpace(_) => "ERR_KVBOX_NO_SPACE",
            Error::Corrupt(_) => "ERR_KVBOX_CORRUPT",
            Error::BadPayload(_) => "ERR_KVBOX_BAD_PAYLOAD",
            Error::Io(_) => "ERR_KVBOX_IO",
            Error::Timeout(_) => "ERR_KVBOX_TIMEOUT",
            Error::Trap(_) => "ERR_KVBOX_TRAP",
            Error::Connector(_) => "ERR_KVBOX_CONNECTOR",
            Error::MemoryLimit(_) => "ERR_KVBOX_MEMORY_LIMIT",
            Error::Quota(_) => "ERR_KVBOX_QUOTA",
            Error::Cancelled(_) => "ERR_KVBOX_CANCELLED",
            Error::Busy(_) => "ERR_KVBOX_BUSY",
        }
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
