//! Per-connector limits and open options, with their documented defaults.

use std::path::PathBuf;

/// Limits applied to one connector (all its instances).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap per guest instance, in bytes. Default 64 MiB.
    pub memory_bytes: u64,
    /// Wall-clock deadline per call, in milliseconds, enforced by epoch
    /// interruption when guest code runs. Default 10 000.
    pub call_timeout_ms: u64,
    /// Longest key, in UTF-8 bytes. Default 1024.
    pub max_key_bytes: u32,
    /// Largest object, in bytes. Default 1 GiB.
    pub max_object_bytes: u64,
    /// Guest instances serving one connector at once. Default 4.
    pub max_instances: u32,
    /// Most paths in one listing page. Default 1000.
    pub max_list_page: u32,
    /// Most live host handles (payloads, WASI streams) per instance. Default 256.
    pub max_host_handles: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_timeout_ms: 10_000,
            max_key_bytes: 1024,
            max_object_bytes: 1 << 30,
            max_instances: 4,
            max_list_page: 1000,
            max_host_handles: 256,
        }
    }
}

impl Limits {
    /// Rejects limits that would make every call fail.
    pub fn validate(&self) -> crate::Result<()> {
        let zero = [
            ("memoryBytes", self.memory_bytes == 0),
            ("callTimeoutMs", self.call_timeout_ms == 0),
            ("maxKeyBytes", self.max_key_bytes == 0),
            ("maxInstances", self.max_instances == 0),
            ("maxListPage", self.max_list_page == 0),
            ("maxHostHandles", self.max_host_handles < 8),
            ("memoryBytes", self.memory_bytes < 1 << 16),
        ];
        match zero.iter().find(|(_, bad)| *bad) {
            Some((name, _)) => Err(crate::Error::InvalidArgument(format!("limits.{name} is too small"))),
            None => Ok(()),
        }
    }
}

/// Per-tenant quotas, enforced by the host whatever the connector does.
///
/// Bytes and objects count every regular file in the tenant directory (the
/// objects a connector wrote, whichever connector wrote them); they are
/// measured when the directory is opened and kept exact by every write and
/// remove. A put that would go over fails with `Quota` and writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Most bytes stored. Default: unlimited.
    pub max_bytes: Option<u64>,
    /// Most objects stored. Default: unlimited.
    pub max_objects: Option<u64>,
    /// Most calls admitted at once (running or queued for an instance);
    /// more are refused at once. Default 256.
    pub max_in_flight: u32,
}

impl Default for Quota {
    fn default() -> Self {
        Self { max_bytes: None, max_objects: None, max_in_flight: 256 }
    }
}

/// Everything needed to open a connector for one tenant.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The tenant's directory; created if missing. All I/O stays beneath it.
    pub root: PathBuf,
    /// The connector's JSON configuration, passed through verbatim.
    pub config_json: String,
    /// Limits; see [`Limits`].
    pub limits: Limits,
    /// Sync file and directory on every write (default). Off: faster, for
    /// pure caches that may lose recent objects on power loss (never torn ones).
    pub durable: bool,
    /// Use O_DIRECT where the filesystem supports it (default).
    pub direct_io: bool,
    /// Store a CRC-32C of each object (an extended attribute) and verify it
    /// on every read. Off by default; objects that carry one are verified
    /// whatever this says.
    pub checksums: bool,
    /// Tenant quotas; see [`Quota`].
    pub quota: Quota,
}

impl OpenOptions {
    /// Options with every default, for `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            config_json: "{}".into(),
            limits: Limits::default(),
            durable: true,
            direct_io: true,
            checksums: false,
            quota: Quota::default(),
        }
    }
}

impl OpenOptions {
    /// How the tenant directory is to be opened.
    pub fn dir_options(&self) -> crate::io::DirOptions {
        crate::io::DirOptions {
            direct_io: self.direct_io,
            durable: self.durable,
            checksums: self.checksums,
            max_bytes: self.quota.max_bytes,
            max_objects: self.quota.max_objects,
            ..crate::io::DirOptions::default()
        }
    }
}
