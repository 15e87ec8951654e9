//! How a tenant directory is opened: I/O mode, durability, checksums and
//! the bounds on what the tenant may store, with their defaults.

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

/// Default directory quota: the fs-connector's layout needs 256 shard
/// directories, plus one per distinct 200-byte prefix of keys longer than
/// that; 65 536 leaves room for those while keeping a reopen fast.
pub const DEFAULT_MAX_DIRS: u64 = 65_536;
/// Default depth limit: the fs-connector's deepest path (namespace, shard,
/// a 3 800-byte key cut into 200-byte segments) is 20 directories deep.
pub const DEFAULT_MAX_DEPTH: u32 = 32;

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
