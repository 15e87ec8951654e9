//! kvbox's reference filesystem connector, run sandboxed.
//!
//! One object per key through the host's `objects` interface: the host does
//! the O_DIRECT, atomic, durable I/O inside the directory it granted, and
//! payload bytes go from the caller to disk without entering this module's
//! memory. Layout and configuration come from `kvbox-layout`, which the
//! native fast path shares, so either can read what the other wrote.
//!
//! Built twice: for `kvbox:connector@0.2.0` (the default, with batched
//! calls) and, with the `contract-0-1` feature, for `@0.1.0` — the
//! fixture that proves the host still runs components built for the first
//! contract.

#[cfg(not(feature = "contract-0-1"))]
mod wit {
    wit_bindgen::generate!({ path: "../../wit/0.2.0", world: "connector" });
}
#[cfg(feature = "contract-0-1")]
mod wit {
    wit_bindgen::generate!({ path: "../../wit/0.1.0", world: "connector" });
}

use kvbox_layout::FsConfig;
use wit::exports::kvbox::connector::store::{Connector, Guest, GuestConnector, KeyPage};
use wit::kvbox::connector::objects;
use wit::kvbox::connector::payload::Payload;
use wit::kvbox::connector::types::Error;

struct FsConnector {
    config: FsConfig,
}

impl FsConnector {
    fn path(&self, key: &str) -> Result<String, Error> {
        self.config.path_of(key).map_err(Error::InvalidKey)
    }
}

impl GuestConnector for FsConnector {
    fn open(config: String) -> Result<Connector, Error> {
        let config = FsConfig::parse(&config).map_err(Error::InvalidConfig)?;
        Ok(Connector::new(Self { config }))
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        Ok(objects::stat(&self.path(&key)?)?.is_some())
    }

    fn put(&self, key: String, data: &Payload) -> Result<(), Error> {
        objects::write(&self.path(&key)?, data)
    }

    fn get(&self, key: String) -> Result<Option<Payload>, Error> {
        objects::read(&self.path(&key)?)
    }

    fn remove(&self, key: String) -> Result<bool, Error> {
        objects::remove(&self.path(&key)?)
    }

    fn size(&self, key: String) -> Result<Option<u64>, Error> {
        objects::stat(&self.path(&key)?)
    }

    #[cfg(not(feature = "contract-0-1"))]
    fn exists_many(&self, keys: Vec<String>) -> Vec<Result<bool, Error>> {
        keys.into_iter().map(|k| self.exists(k)).collect()
    }

    #[cfg(not(feature = "contract-0-1"))]
    fn size_many(&self, keys: Vec<String>) -> Vec<Result<Option<u64>, Error>> {
        keys.into_iter().map(|k| self.size(k)).collect()
    }

    #[cfg(not(feature = "contract-0-1"))]
    fn get_many(&self, keys: Vec<String>) -> Vec<Result<Option<Payload>, Error>> {
        keys.into_iter().map(|k| self.get(k)).collect()
    }

    #[cfg(not(feature = "contract-0-1"))]
    fn get_many_into(&self, keys: Vec<String>, targets: Vec<Payload>) -> Vec<Result<Option<u64>, Error>> {
        keys.iter().zip(&targets).map(|(k, t)| objects::read_into(&self.path(k)?, t)).collect()
    }

    #[cfg(not(feature = "contract-0-1"))]
    fn put_many(&self, keys: Vec<String>, data: Vec<Payload>) -> Vec<Result<(), Error>> {
        keys.into_iter().zip(&data).map(|(k, d)| self.put(k, d)).collect()
    }

    #[cfg(not(feature = "contract-0-1"))]
    fn remove_many(&self, keys: Vec<String>) -> Vec<Result<bool, Error>> {
        keys.into_iter().map(|k| self.remove(k)).collect()
    }

    fn list_keys(&self, cursor: Option<String>, limit: u32) -> Result<KeyPage, Error> {
        let layout = &self.config.layout;
        let listing = objects::list_objects(layout.root(), cursor.as_deref(), limit)?;
        let keys = listing.paths.iter().filter_map(|p| layout.key_of(p)).collect();
        let cursor = if listing.more { listing.paths.last().cloned() } else { None };
        Ok(KeyPage { keys, cursor })
    }
}

struct Component;

impl Guest for Component {
    type Connector = FsConnector;
}

wit::export!(Component with_types_in wit);
