//! Write a [kvbox](https://github.com/kvbox/kvbox) storage connector in Rust.
//!
//! A connector is a WebAssembly component exporting the frozen contract
//! `kvbox:connector@0.2.0` (bundled in this crate's `wit/`). The host does the
//! I/O: a connector maps keys to object paths inside the directory it is
//! granted and moves [`Payload`] handles, so object bytes need not enter its
//! memory. Implement [`Connector`] and name your type once:
//!
//! ```ignore
//! use kvbox_connector::{Connector, Error, KeyPage, Payload, layout::FsConfig, objects};
//!
//! struct MyStore { config: FsConfig }
//!
//! impl Connector for MyStore {
//!     fn open(config: &str) -> Result<Self, Error> {
//!         Ok(Self { config: FsConfig::parse(config).map_err(Error::InvalidConfig)? })
//!     }
//!     fn put(&self, key: &str, data: &Payload) -> Result<(), Error> {
//!         objects::write(&self.config.path_of(key).map_err(Error::InvalidKey)?, data)
//!     }
//!     // get, exists, size, remove, list_keys …
//! #   fn get(&self, _: &str) -> Result<Option<Payload>, Error> { todo!() }
//! #   fn exists(&self, _: &str) -> Result<bool, Error> { todo!() }
//! #   fn size(&self, _: &str) -> Result<Option<u64>, Error> { todo!() }
//! #   fn remove(&self, _: &str) -> Result<bool, Error> { todo!() }
//! #   fn list_keys(&self, _: Option<&str>, _: u32) -> Result<KeyPage, Error> { todo!() }
//! }
//!
//! kvbox_connector::export_connector!(MyStore);
//! ```
//!
//! The batched calls of the contract (`exists_many`, `get_many_into`, …) have
//! default implementations that loop over the single-key ones; override them
//! when your store can do better. A panic is reported to the host with its
//! message and location (see [`export_connector!`]).

mod connector;
mod error;
mod export;
pub mod log;
pub mod objects;
mod payload;

pub use connector::{Connector, KeyPage};
pub use error::Error;
pub use payload::{Payload, PayloadCursor};

/// Key ↔ object-path layout and the filesystem connector's configuration,
/// shared with kvbox's own filesystem connector (crate `kvbox-layout`).
pub mod layout {
    pub use kvbox_layout::{FsConfig, Layout, LayoutError, MAX_NAMESPACE_BYTES, MAX_PATH_BYTES, SEGMENT_BYTES};
}

/// The contract version this SDK builds connectors for.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Not public API: what [`export_connector!`] expands to.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{Component, Guest, export};
    pub use crate::wit;
}

#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "wit",
        world: "connector",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "kvbox_connector::wit",
    });
}
