//! The native fast path: kvbox's filesystem connector compiled into the
//! addon, for trusted deployments. Same configuration and on-disk layout as
//! the sandboxed `guests/fs-connector` (both use `kvbox-layout`), same I/O
//! storage ([`ObjectStorage`]: the directory or an S3 prefix), so a store
//! written by one is read by the other.

use crate::io::{ObjectStorage, storage};
use crate::{Cancel, ConnectorStats, Error, KeyPage, Limits, ObjectConnector, OpenOptions, Result};
use kvbox_layout::FsConfig;
use std::sync::Arc;

/// The filesystem connector, running natively.
pub struct NativeFsConnector {
    config: FsConfig,
    io: Arc<dyn ObjectStorage>,
    limits: Limits,
}

impl NativeFsConnector {
    /// Opens the connector for one tenant.
    pub fn open(options: &OpenOptions) -> Result<Self> {
        let config = FsConfig::parse(&options.config_json).map_err(Error::InvalidConfig)?;
        let io = storage::open(options)?;
        Ok(Self { config, io, limits: options.limits.clone() })
    }

    fn path(&self, key: &str) -> Result<String> {
        self.config.path_of(key).map_err(Error::InvalidKey)
    }
}

impl ObjectConnector for NativeFsConnector {
    fn exists(&self, key: &str, _: &Cancel) -> Result<bool> {
        Ok(self.io.stat(&self.path(key)?)?.is_some())
    }

    fn put(&self, key: &str, data: &[u8], _: &Cancel) -> Result<()> {
        self.io.write(&self.path(key)?, data)
    }

    fn get(&self, key: &str, _: &Cancel) -> Result<Option<Vec<u8>>> {
        self.io.read(&self.path(key)?, self.limits.max_object_bytes)
    }

    fn get_into(&self, key: &str, dst: &mut [u8], _: &Cancel) -> Result<Option<u64>> {
        self.io.read_into(&self.path(key)?, dst, self.limits.max_object_bytes)
    }

    fn remove(&self, key: &str, _: &Cancel) -> Result<bool> {
        self.io.remove(&self.path(key)?)
    }

    fn size(&self, key: &str, _: &Cancel) -> Result<Option<u64>> {
        self.io.stat(&self.path(key)?)
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32, _: &Cancel) -> Result<KeyPage> {
        let layout = &self.config.layout;
        let listing = self.io.list(layout.root(), cursor, limit)?;
        let (keys, cursor) = layout.page(listing.paths, listing.more);
        Ok(KeyPage { keys, cursor })
    }

    fn stats(&self) -> ConnectorStats {
        let usage = self.io.usage();
        ConnectorStats {
            bytes_stored: usage.bytes,
            objects: usage.objects,
            directories: usage.directories,
            quota_rejections: self.io.quota_rejections(),
            ..ConnectorStats::default()
        }
    }

    fn direct_alignment(&self) -> Option<usize> {
        self.io.direct_alignment()
    }
}
