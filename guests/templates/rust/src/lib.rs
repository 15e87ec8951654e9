//! {{name}}: a kvbox connector (contract kvbox:connector@{{contract}}).
//!
//! One object per key through the host's `objects` interface, laid out by
//! the SDK's `layout` (the same layout as kvbox's filesystem connector):
//! the host does the atomic, durable, O_DIRECT I/O, and payload bytes never
//! enter this module's memory. Change any method; `kvbox build && kvbox test
//! dist/{{name}}.wasm` tells you whether it still conforms.

use kvbox_connector::layout::FsConfig;
use kvbox_connector::{Connector, Error, KeyPage, Payload, export_connector, objects};

struct Store {
    /// `{"namespace": "…", "max_key_bytes": N}`, both optional.
    config: FsConfig,
}

impl Store {
    fn path(&self, key: &str) -> Result<String, Error> {
        self.config.path_of(key).map_err(Error::InvalidKey)
    }
}

impl Connector for Store {
    fn open(config: &str) -> Result<Self, Error> {
        Ok(Self { config: FsConfig::parse(config).map_err(Error::InvalidConfig)? })
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(objects::stat(&self.path(key)?)?.is_some())
    }

    fn put(&self, key: &str, data: &Payload) -> Result<(), Error> {
        // To transform the bytes, read `data` (data.cursor() is a std::io::Read),
        // write a new Payload::create(len) and store that instead.
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

    fn list_keys(&self, cursor: Option<&str>, limit: u32) -> Result<KeyPage, Error> {
        let layout = &self.config.layout;
        let listing = objects::list(layout.root(), cursor, limit)?;
        let (keys, cursor) = layout.page(listing.paths, listing.more);
        Ok(KeyPage { keys, cursor })
    }

    // The batched calls (exists_many, get_many_into, put_many, …) default to
    // loops over the methods above; override them when you can do better.
}

export_connector!(Store);
