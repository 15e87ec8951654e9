//! How a tenant directory is opened: I/O mode, durability, checksums and
//! the bounds on what the tenant may store, with their defaults.

use crate::{Error, Result};

/// How a tenant directory is to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirOptions {
    /// O_DIRECT where the filesystem supports it.
    pub direct_io: bool,
    /// fdatasync each object and fsync its directory.
    pub durable: bool,
    /// Store a CRC-32C with each object.
    pub checksums: bool,
    /// Quota on bytes stored.
    pub max_bytes: Option<u64>,
    /// Quota on objects stored.
    pub max_objects: Option<u64>,
    /// Quota on directories beneath the root (default [`DEFAULT_MAX_DIRS`]).
    pub max_dirs: Option<u64>,
    /// Most directories an object path may be nested in (default [`DEFAULT_MAX_DEPTH`]).
    pub max_depth: u32,
}

pub use crate::limits::{DEFAULT_MAX_DIRS, DEFAULT_MAX_PATH_DEPTH as DEFAULT_MAX_DEPTH};

impl Default for DirOptions {
    fn default() -> Self {
        Self {
            direct_io: true,
            durable: true,
            checksums: false,
            max_bytes: None,
            max_objects: None,
            max_dirs: Some(DEFAULT_MAX_DIRS),
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl DirOptions {
    /// How a tenant's open options ask for its directory to be written.
    pub fn of(options: &crate::OpenOptions) -> Self {
        Self {
            direct_io: options.direct_io,
            durable: options.durable,
            checksums: options.checksums,
            max_bytes: options.quota.max_bytes,
            max_objects: options.quota.max_objects,
            max_dirs: options.quota.max_dirs,
            max_depth: options.limits.max_path_depth,
        }
    }
}

/// Refuses an object path more than `max_depth` directories deep (either
/// backend, before anything is written).
pub(crate) fn check_depth(path: &str, max_depth: u32) -> Result<()> {
    let depth = path.bytes().filter(|&b| b == b'/').count();
    if depth > max_depth as usize {
        return Err(Error::InvalidPath(format!(
            "object path {:?}… is {depth} directories deep, over the limit of {max_depth} (limits.maxPathDepth); nothing was written",
            path.chars().take(64).collect::<String>(),
        )));
    }
    Ok(())
}
