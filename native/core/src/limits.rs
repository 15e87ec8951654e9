//! Per-connector limits, per-tenant quotas and open options — each setting
//! declared once, with its JavaScript name, default and accepted range.
//!
//! [`Limits::specs`] and [`Quota::specs`] are what the bindings and the
//! generated TypeScript (`host/generated/contract.ts`) are built from; a
//! drift test fails when the two disagree.

use crate::{Error, Result};
use std::path::PathBuf;

/// The largest integer JavaScript numbers hold exactly (2^53 − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Default `quota.directories`: the fs-connector's layout needs 256 shard
/// directories, plus one per distinct 200-byte prefix of keys longer than
/// that; 65 536 leaves room for those while keeping a reopen fast.
pub const DEFAULT_MAX_DIRS: u64 = 65_536;

/// Default `limits.maxPathDepth`: the fs-connector's deepest path (namespace,
/// shard, a 3 800-byte key cut into 200-byte segments) is 20 directories deep.
pub const DEFAULT_MAX_PATH_DEPTH: u32 = 32;

/// One setting as other languages see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingSpec {
    /// The JavaScript (camelCase) name.
    pub name: &'static str,
    /// The default; `None` means unlimited.
    pub default: Option<u64>,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
    /// What it bounds.
    pub doc: &'static str,
}

/// A setting's Rust type: a count, or an optional bound (`None` = unlimited).
pub trait SettingValue: Copy {
    /// The value as the spec reports it.
    fn spec(self) -> Option<u64>;
    /// From a value already checked against the spec's range.
    fn from_checked(v: u64) -> Self;
}

impl SettingValue for u64 {
    fn spec(self) -> Option<u64> {
        Some(self)
    }
    fn from_checked(v: u64) -> Self {
        v
    }
}

impl SettingValue for u32 {
    fn spec(self) -> Option<u64> {
        Some(self.into())
    }
    fn from_checked(v: u64) -> Self {
        u32::try_from(v).unwrap_or(u32::MAX)
    }
}

impl SettingValue for Option<u64> {
    fn spec(self) -> Option<u64> {
        self
    }
    fn from_checked(v: u64) -> Self {
        Some(v)
    }
}

macro_rules! settings {
    (
        $(#[doc = $sdoc:literal])* $vis:vis struct $name:ident in $what:literal {
            $( #[doc = $doc:literal] $field:ident: $ty:ty = ($js:literal, $default:expr, $min:expr, $max:expr), )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis struct $name { $( #[doc = $doc] pub $field: $ty, )* }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $name {
            /// Every field: JavaScript name, default and accepted range.
            pub fn specs() -> Vec<SettingSpec> {
                let d = Self::default();
                vec![ $( SettingSpec {
                    name: $js,
                    default: SettingValue::spec(d.$field),
                    min: $min,
                    max: $max,
                    doc: $doc.trim_ascii(),
                }, )* ]
            }

            /// Sets the field whose JavaScript name is `name`, checking the range.
            pub fn set(&mut self, name: &str, value: f64) -> Result<()> {
                $( if name == $js {
                    self.$field = SettingValue::from_checked(check_range(concat!($what, ".", $js), value, $min, $max)?);
                    return Ok(());
                } )*
                Err(Error::InvalidArgument(format!(
                    "{}.{name} is not known (known: {})",
                    $what,
                    [$($js),*].join(", ")
                )))
            }

            /// Checks every field against its range (for values set from Rust).
            pub fn validate(&self) -> Result<()> {
                $( if let Some(v) = SettingValue::spec(self.$field) {
                    check_range(concat!($what, ".", $js), v as f64, $min, $max)?;
                } )*
                Ok(())
            }
        }
    };
}

fn check_range(name: &str, value: f64, min: u64, max: u64) -> Result<u64> {
    if value.is_finite() && value.fract() == 0.0 && value >= min as f64 && value <= max as f64 {
        Ok(value as u64)
    } else {
        Err(Error::InvalidArgument(format!("{name} must be an integer from {min} to {max}, got {value}")))
    }
}

settings! {
    /// Limits applied to one connector (all its instances).
    pub struct Limits in "limits" {
        /// Memory per guest instance, in bytes: all its linear memories and tables together.
        memory_bytes: u64 = ("memoryBytes", 64 << 20, 1 << 16, MAX_SAFE_INTEGER),
        /// Deadline of one call, in milliseconds, wall-clock, host I/O included; guest code is stopped when it passes.
        call_timeout_ms: u64 = ("callTimeoutMs", 10_000, 1, MAX_SAFE_INTEGER),
        /// Longest key, in UTF-8 bytes.
        max_key_bytes: u32 = ("maxKeyBytes", 1024, 1, 1 << 20),
        /// Largest object a caller may store, in bytes.
        max_object_bytes: u64 = ("maxObjectBytes", 1 << 30, 1, MAX_SAFE_INTEGER),
        /// Scratch a sandboxed connector gets over maxObjectBytes for its own framing (headers, checksums): the objects it writes and reads may be this much larger than what callers store.
        payload_headroom_bytes: u64 = ("payloadHeadroomBytes", 1 << 20, 0, MAX_SAFE_INTEGER),
        /// Guest instances serving one connector in parallel.
        max_instances: u32 = ("maxInstances", 4, 1, 1024),
        /// Most keys in one listing page.
        max_list_page: u32 = ("maxListPage", 1000, 1, 1 << 20),
        /// Live host handles (payloads, WASI streams) per instance.
        max_host_handles: u32 = ("maxHostHandles", 256, 8, 1 << 20),
        /// CPU time the connector's guest code may use per second of wall time, in milliseconds, summed over its instances.
        cpu_ms_per_sec: Option<u64> = ("cpuMsPerSec", None, 10, MAX_SAFE_INTEGER),
        /// Most directories an object path written by the connector may be nested in.
        max_path_depth: u32 = ("maxPathDepth", DEFAULT_MAX_PATH_DEPTH, 1, 1024),
    }
}

impl Limits {
    /// Largest object a sandboxed connector may write or have read for it:
    /// what callers may store plus the framing headroom.
    pub fn connector_object_cap(&self) -> u64 {
        self.max_object_bytes.saturating_add(self.payload_headroom_bytes)
    }

    /// Owned payload bytes one instance may hold during a call handling
    /// `keys` objects at once: room for one more object than that (a
    /// connector that reads an object and builds its answer in a new payload).
    pub fn payload_budget(&self, keys: usize) -> u64 {
        self.connector_object_cap().saturating_mul(keys.max(1) as u64 + 1)
    }
}

settings! {
    /// Per-tenant quotas, enforced by the host whatever the connector does.
    ///
    /// Bytes and objects count every regular file in the tenant directory
    /// (the objects a connector wrote, whichever connector wrote them); they
    /// are measured when the directory is opened and kept exact by every
    /// write and remove. A put that would go over fails with `Quota` and
    /// writes nothing.
    pub struct Quota in "quota" {
        /// Most bytes stored in the tenant's directory.
        max_bytes: Option<u64> = ("bytes", None, 0, MAX_SAFE_INTEGER),
        /// Most objects (files) stored.
        max_objects: Option<u64> = ("objects", None, 0, MAX_SAFE_INTEGER),
        /// Most calls running at once (a batch is one call); more wait in the tenant's queue.
        max_in_flight: u32 = ("inFlight", 256, 1, 1 << 20),
        /// Most calls waiting for one of the inFlight slots; a call arriving at a full queue is refused with QuotaExceededError (0: refuse as soon as inFlight calls run).
        max_queued: u32 = ("queue", 4096, 0, 1 << 20),
        /// Most directories beneath the tenant's root (every directory a put creates counts).
        max_dirs: Option<u64> = ("directories", Some(DEFAULT_MAX_DIRS), 0, MAX_SAFE_INTEGER),
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
    /// Sync file and directory on every write (default). Off: for pure
    /// caches — writes go through the page cache with no sync, each guarded
    /// by a CRC-32C, so a power loss may lose recent objects and a torn one
    /// reads as a miss (see `io::checksum`).
    pub durable: bool,
    /// Use O_DIRECT where the filesystem supports it (default).
    pub direct_io: bool,
    /// Store a CRC-32C of each object (an extended attribute) and verify it
    /// on every read. Off by default; objects that carry one are verified
    /// whatever this says.
    pub checksums: bool,
    /// Tenant quotas; see [`Quota`].
    pub quota: Quota,
    /// Where the objects live: `root` on the local filesystem (default) or an S3 prefix.
    pub storage: crate::storage::Storage,
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
            storage: crate::storage::Storage::Fs,
        }
    }

    /// Checks every limit and quota against its range.
    pub fn validate(&self) -> Result<()> {
        self.limits.validate()?;
        self.quota.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_carry_defaults_and_ranges() {
        let specs = Limits::specs();
        let memory = specs.iter().find(|s| s.name == "memoryBytes").unwrap();
        assert_eq!((memory.default, memory.min), (Some(64 << 20), 1 << 16));
        let cpu = specs.iter().find(|s| s.name == "cpuMsPerSec").unwrap();
        assert_eq!(cpu.default, None, "unlimited by default");
        assert_eq!(Quota::specs().iter().find(|s| s.name == "inFlight").unwrap().default, Some(256));
    }

    #[test]
    fn set_checks_names_and_ranges() {
        let mut l = Limits::default();
        l.set("maxInstances", 8.0).unwrap();
        assert_eq!(l.max_instances, 8);
        l.set("cpuMsPerSec", 250.0).unwrap();
        assert_eq!(l.cpu_ms_per_sec, Some(250));
        for (name, v) in [("memoryBytes", 1.0), ("maxHostHandles", 7.0), ("maxKeyBytes", 0.5), ("callTimeoutMs", f64::NAN)] {
            let e = l.set(name, v).unwrap_err();
            assert!(matches!(&e, Error::InvalidArgument(m) if m.contains(name) && m.contains("must be an integer from")), "{e}");
        }
        assert!(matches!(l.set("nope", 1.0), Err(Error::InvalidArgument(m)) if m.contains("not known") && m.contains("memoryBytes")));
        let mut q = Quota::default();
        q.set("objects", 0.0).unwrap();
        assert_eq!(q.max_objects, Some(0));
        assert!(Limits { memory_bytes: 10, ..Limits::default() }.validate().is_err());
    }
}
