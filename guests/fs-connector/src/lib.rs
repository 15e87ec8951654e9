//! kvbox's reference filesystem connector, run sandboxed.
//!
//! One object per key through the host's `objects` interface: the host does
//! the O_DIRECT, atomic, durable I/O inside the directory it granted, and
//! payload bytes go from the caller to disk without entering this module's
//! memory. The layout (`kvbox-layout`) maps any UTF-8 key to a safe,
//! sharded, reversible object path, so `list-keys` returns real keys.
//!
//! Configuration (JSON object, every key optional):
//! - `namespace` (string): keep objects in this sub-directory of the grant,
//!   so several stores can share one tenant directory;
//! - `max_key_bytes` (integer ≥ 1): reject longer keys with `invalid-key`.
//!
//! The C ABI's `base_path`, `use_odirect`, `alignment` and `tmp_subdir` are
//! decided by the host in kvbox; they are rejected with a message saying so.

mod wit {
    wit_bindgen::generate!({ path: "../../wit", world: "connector" });
}

use kvbox_layout::{Layout, LayoutError};
use serde::Deserialize;
use wit::exports::kvbox::connector::store::{Connector, Guest, GuestConnector, KeyPage};
use wit::kvbox::connector::objects;
use wit::kvbox::connector::payload::Payload;
use wit::kvbox::connector::types::Error;

const HOST_DECIDED: [&str; 4] = ["base_path", "use_odirect", "alignment", "tmp_subdir"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    namespace: Option<String>,
    max_key_bytes: Option<u32>,
}

struct FsConnector {
    layout: Layout,
    max_key_bytes: Option<u32>,
}

impl FsConnector {
    fn from_json(text: &str) -> Result<Self, Error> {
        let value: serde_json::Value = serde_json::from_str(if text.trim().is_empty() { "{}" } else { text })
            .map_err(|e| Error::InvalidConfig(format!("config is not valid JSON: {e}")))?;
        let Some(map) = value.as_object() else {
            return Err(Error::InvalidConfig("config must be a JSON object".into()));
        };
        if let Some(key) = map.keys().find(|k| HOST_DECIDED.contains(&k.as_str())) {
            return Err(Error::InvalidConfig(format!(
                "`{key}`: decided by the kvbox host (directory grant, O_DIRECT, alignment, temp files); remove it"
            )));
        }
        let config: Config = serde_json::from_value(value)
            .map_err(|e| Error::InvalidConfig(format!("config: {e}")))?;
        if config.max_key_bytes == Some(0) {
            return Err(Error::InvalidConfig("`max_key_bytes`: must be at least 1".into()));
        }
        let layout = Layout::new(config.namespace.as_deref()).map_err(|e| match e {
            LayoutError::Namespace(m) | LayoutError::Key(m) => Error::InvalidConfig(format!("`namespace`: {m}")),
        })?;
        Ok(Self { layout, max_key_bytes: config.max_key_bytes })
    }

    fn path(&self, key: &str) -> Result<String, Error> {
        if let Some(max) = self.max_key_bytes {
            if key.len() > max as usize {
                return Err(Error::InvalidKey(format!("key of {} bytes exceeds max_key_bytes {max}", key.len())));
            }
        }
        self.layout.path_of(key).map_err(|e| match e {
            LayoutError::Key(m) | LayoutError::Namespace(m) => Error::InvalidKey(m),
        })
    }
}

impl GuestConnector for FsConnector {
    fn open(config: String) -> Result<Connector, Error> {
        Ok(Connector::new(Self::from_json(&config)?))
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
        let listing = objects::list_objects(self.layout.root(), cursor.as_deref(), limit)?;
        let keys = listing.paths.iter().filter_map(|p| self.layout.key_of(p)).collect();
        let cursor = if listing.more { listing.paths.last().cloned() } else { None };
        Ok(KeyPage { keys, cursor })
    }
}

struct Component;

impl Guest for Component {
    type Connector = FsConnector;
}

wit::export!(Component with_types_in wit);
