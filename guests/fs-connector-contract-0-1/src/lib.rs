//! Test fixture: kvbox's reference filesystem connector built against the
//! frozen `kvbox:connector@0.1.0` with raw wit-bindgen (no SDK, which targets
//! 0.2.0), so the tests prove the host still runs components built for the
//! first contract. The connector itself is `guests/fs-connector`.

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

    fn list_keys(&self, cursor: Option<String>, limit: u32) -> Result<KeyPage, Error> {
        let layout = &self.config.layout;
        let listing = objects::list_objects(layout.root(), cursor.as_deref(), limit)?;
        let (keys, cursor) = layout.page(listing.paths, listing.more);
        Ok(KeyPage { keys, cursor })
    }
}

struct Component;

impl Guest for Component {
    type Connector = FsConnector;
}

wit::export!(Component with_types_in wit);
