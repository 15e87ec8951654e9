//! A connector that frames each object: a 16-byte header (`KVBXFRM1` and the
//! body's length, little-endian) before the caller's bytes. It is what a
//! checksumming, compressing or encrypting connector looks like to the host:
//! the objects it writes are larger than what callers store (payload
//! headroom), `size` reads the header alone (`objects.read-range`), and
//! bodies move between payloads inside the host (`payload.copy-from`),
//! never through this module's memory.

mod wit {
    wit_bindgen::generate!({ path: "../../wit/0.2.0", world: "connector" });
}

use kvbox_layout::FsConfig;
use wit::exports::kvbox::connector::store::{Connector, Guest, GuestConnector, KeyPage};
use wit::kvbox::connector::objects;
use wit::kvbox::connector::payload::Payload;
use wit::kvbox::connector::types::Error;

const MAGIC: &[u8; 8] = b"KVBXFRM1";
const HEADER: u64 = 16;

struct Framing {
    config: FsConfig,
}

impl Framing {
    fn path(&self, key: &str) -> Result<String, Error> {
        self.config.path_of(key).map_err(Error::InvalidKey)
    }

    /// The body length the header at the start of `path` announces.
    fn body_len(&self, path: &str) -> Result<Option<u64>, Error> {
        let Some(head) = objects::read_range(path, 0, HEADER)? else {
            return Ok(None);
        };
        let bytes = head.read(0, HEADER as u32)?;
        if bytes.len() != HEADER as usize || &bytes[..8] != MAGIC {
            return Err(Error::Corrupt(format!("{path}: no frame header")));
        }
        Ok(Some(u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"))))
    }

    /// The whole framed object, checked against its header.
    fn framed(&self, path: &str) -> Result<Option<(Payload, u64)>, Error> {
        let Some(framed) = objects::read(path)? else {
            return Ok(None);
        };
        let head = framed.read(0, HEADER as u32)?;
        if head.len() != HEADER as usize || &head[..8] != MAGIC {
            return Err(Error::Corrupt(format!("{path}: no frame header")));
        }
        let len = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
        if framed.len() != HEADER + len {
            return Err(Error::Corrupt(format!("{path}: header says {len} bytes, the frame holds {}", framed.len() - HEADER)));
        }
        Ok(Some((framed, len)))
    }

    fn into_target(&self, key: &str, target: &Payload) -> Result<Option<u64>, Error> {
        let path = self.path(key)?;
        let Some(len) = self.body_len(&path)? else {
            return Ok(None);
        };
        if len > target.len() {
            return Err(Error::TooLarge(format!("object of {len} bytes does not fit the {}-byte target", target.len())));
        }
        let Some((framed, len)) = self.framed(&path)? else {
            return Ok(None);
        };
        target.copy_from(&framed, HEADER, 0, len)?;
        Ok(Some(len))
    }
}

impl GuestConnector for Framing {
    fn open(config: String) -> Result<Connector, Error> {
        let config = FsConfig::parse(&config).map_err(Error::InvalidConfig)?;
        Ok(Connector::new(Self { config }))
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        Ok(objects::stat(&self.path(&key)?)?.is_some())
    }

    fn put(&self, key: String, data: &Payload) -> Result<(), Error> {
        let len = data.len();
        let framed = Payload::create(HEADER + len)?;
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&len.to_le_bytes());
        framed.write(0, &head)?;
        framed.copy_from(data, 0, HEADER, len)?;
        objects::write(&self.path(&key)?, &framed)
    }

    fn get(&self, key: String) -> Result<Option<Payload>, Error> {
        let Some((framed, len)) = self.framed(&self.path(&key)?)? else {
            return Ok(None);
        };
        let body = Payload::create(len)?;
        body.copy_from(&framed, HEADER, 0, len)?;
        Ok(Some(body))
    }

    fn remove(&self, key: String) -> Result<bool, Error> {
        objects::remove(&self.path(&key)?)
    }

    fn size(&self, key: String) -> Result<Option<u64>, Error> {
        self.body_len(&self.path(&key)?)
    }

    fn exists_many(&self, keys: Vec<String>) -> Vec<Result<bool, Error>> {
        keys.into_iter().map(|k| self.exists(k)).collect()
    }

    fn size_many(&self, keys: Vec<String>) -> Vec<Result<Option<u64>, Error>> {
        keys.into_iter().map(|k| self.size(k)).collect()
    }

    fn get_many(&self, keys: Vec<String>) -> Vec<Result<Option<Payload>, Error>> {
        keys.into_iter().map(|k| self.get(k)).collect()
    }

    fn get_many_into(&self, keys: Vec<String>, targets: Vec<Payload>) -> Vec<Result<Option<u64>, Error>> {
        keys.iter().zip(&targets).map(|(k, t)| self.into_target(k, t)).collect()
    }

    fn put_many(&self, keys: Vec<String>, data: Vec<Payload>) -> Vec<Result<(), Error>> {
        keys.into_iter().zip(&data).map(|(k, d)| self.put(k, d)).collect()
    }

    fn remove_many(&self, keys: Vec<String>) -> Vec<Result<bool, Error>> {
        keys.into_iter().map(|k| self.remove(k)).collect()
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
    type Connector = Framing;
}

wit::export!(Component with_types_in wit);
