//! kvbox's reference filesystem connector, run sandboxed, written on the
//! connector SDK (`kvbox-connector`).
//!
//! One object per key through the host's `objects` interface: the host does
//! the O_DIRECT, atomic, durable I/O inside the directory it granted, and
//! payload bytes go from the caller to disk without entering this module's
//! memory. Layout and configuration come from `kvbox-layout` (the SDK's
//! `layout`), which the native fast path shares, so either can read what the
//! other wrote. Batches use the SDK's loops, except `get_many_into`, which
//! reads each object straight into the caller's buffer.
//!
//! `guests/fs-connector-contract-0-1` is the same connector built against
//! the frozen 0.1.0 contract with raw bindings (a test fixture).

use kvbox_connector::layout::FsConfig;
use kvbox_connector::{Connector, Error, KeyPage, Payload, export_connector, objects};

struct FsConnector {
    config: FsConfig,
}

impl FsConnector {
    fn path(&self, key: &str) -> Result<String, Error> {
        self.config.path_of(key).map_err(Error::InvalidKey)
    }
}

impl Connector for FsConnector {
    fn open(config: &str) -> Result<Self, Error> {
        Ok(Self { config: FsConfig::parse(config).map_err(Error::InvalidConfig)? })
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(objects::stat(&self.path(key)?)?.is_some())
    }

    fn put(&self, key: &str, data: &Payload) -> Result<(), Error> {
        objects::write(&self.path(key)?, data)
    }

    fn get(&self, key: &str) -> Result<Option<Payload>, Error> {
        objects::read(&self.path(key)?)
    }

    fn remove(&self, key: &str) -> Result<bool, Error> {
        objects::remove(&self.path(key)?)
    }

    fn size(&self, key: &str) -> Result<Option<u64>, Error> {
        objects::stat(&self.path(key)?)
    }

    fn get_many_into(&self, keys: &[String], targets: &[Payload]) -> Vec<Result<Option<u64>, Error>> {
        keys.iter().zip(targets).map(|(k, t)| objects::read_into(&self.path(k)?, t)).collect()
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32) -> Result<KeyPage, Error> {
        let layout = &self.config.layout;
        let listing = objects::list(layout.root(), cursor, limit)?;
        let (keys, cursor) = layout.page(listing.paths, listing.more);
        Ok(KeyPage { keys, cursor })
    }
}

export_connector!(FsConnector);
