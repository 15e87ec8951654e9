//! The native fast path: kvbox's filesystem connector compiled into the
//! addon, for trusted deployments. Same configuration and on-disk layout as
//! the sandboxed `guests/fs-connector` (both use `kvbox-layout`), same I/O
//! engine ([`ObjectDir`]), so a store written by one is read by the other.

use crate::connector::{check_key, check_object_size};
use crate::io::ObjectDir;
use crate::{Cancel, ConnectorStats, Error, KeyPage, Limits, ObjectConnector, OpenOptions, Result};
use kvbox_layout::FsConfig;
use std::sync::atomic::{AtomicBool, Ordering};

/// The filesystem connector, running natively.
pub struct NativeFsConnector {
    config: FsConfig,
    io: ObjectDir,
    limits: Limits,
    closed: AtomicBool,
}

impl NativeFsConnector {
    /// Opens the connector for one tenant.
    pub fn open(options: &OpenOptions) -> Result<Self> {
        options.limits.validate()?;
        let config = FsConfig::parse(&options.config_json).map_err(Error::InvalidConfig)?;
        let io = ObjectDir::open_with(&options.root, &options.dir_options())?;
        Ok(Self { config, io, limits: options.limits.clone(), closed: AtomicBool::new(false) })
    }

    fn path(&self, key: &str, op: &str, cancel: &Cancel) -> Result<String> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        cancel.check(op)?;
        check_key(key, &self.limits)?;
        self.config.path_of(key).map_err(Error::InvalidKey)
    }
}

impl ObjectConnector for NativeFsConnector {
    fn exists(&self, key: &str, cancel: &Cancel) -> Result<bool> {
        Ok(self.io.stat(&self.path(key, "exists", cancel)?)?.is_some())
    }

    fn put(&self, key: &str, data: &[u8], cancel: &Cancel) -> Result<()> {
        let path = self.path(key, "put", cancel)?;
        check_object_size(data.len() as u64, &self.limits)?;
        self.io.write(&path, data)
    }

    fn get(&self, key: &str, cancel: &Cancel) -> Result<Option<Vec<u8>>> {
        self.io.read(&self.path(key, "get", cancel)?, self.limits.max_object_bytes)
    }

    fn get_into(&self, key: &str, dst: &mut [u8], cancel: &Cancel) -> Result<Option<u64>> {
        self.io.read_into(&self.path(key, "getInto", cancel)?, dst, self.limits.max_object_bytes)
    }

    fn remove(&self, key: &str, cancel: &Cancel) -> Result<bool> {
        self.io.remove(&self.path(key, "remove", cancel)?)
    }

    fn size(&self, key: &str, cancel: &Cancel) -> Result<Option<u64>> {
        self.io.stat(&self.path(key, "size", cancel)?)
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32, cancel: &Cancel) -> Result<KeyPage> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        cancel.check("listKeys")?;
        let layout = &self.config.layout;
        let listing = self.io.list(layout.root(), cursor, limit.clamp(1, self.limits.max_list_page))?;
        let keys = listing.paths.iter().filter_map(|p| layout.key_of(p)).collect();
        let cursor = if listing.more { listing.paths.last().cloned() } else { None };
        Ok(KeyPage { keys, cursor })
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.io.release();
    }

    fn stats(&self) -> ConnectorStats {
        let usage = self.io.usage();
        ConnectorStats {
            bytes_stored: usage.bytes,
            objects: usage.objects,
            quota_rejections: self.io.quota_rejections(),
            ..ConnectorStats::default()
        }
    }

    fn direct_alignment(&self) -> Option<usize> {
        self.io.direct_alignment()
    }
}
