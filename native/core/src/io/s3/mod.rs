//! A tenant's objects as a prefix in an S3-compatible bucket, shared by
//! any number of kvbox processes at once (see `docs/scaling.md`).
//!
//! - [`client`]: the `object_store` client, its runtime, its errors.
//! - [`ledger`]: usage and quotas when several nodes write.
//!
//! Object path `p` is the key `<prefix>/p`. A put is one `PUT` of the
//! whole object (never multipart; first `If-None-Match: *`, so a new key
//! costs one request and is known to be new; a replacement is a `HEAD` and
//! a plain `PUT`), which S3 makes visible atomically: a
//! reader gets the old object or the new one, never a mix, and a put that
//! failed half-way leaves nothing — so there are no temporaries, and
//! nothing to sweep at open. Listings come in the store's order (byte order
//! of the full key) and resume with `start-after`. There are no
//! directories: `quota.directories` does not apply; `maxPathDepth` does.
//! No O_DIRECT and no `durable` switch: a put is acknowledged once the
//! store acknowledged it, with the store's durability. With `checksums`,
//! the CRC-32C travels as the object's user metadata `kvbox-crc32c` and
//! is verified by every read of an object that has it.

pub mod client;
pub mod ledger;

use super::checksum::crc32c;
use super::listing::Listing;
use super::options::check_depth;
use super::root::{Shown, check_path};
use super::storage::ObjectStorage;
use super::{DirOptions, Usage, recycle};
use crate::storage::S3Storage;
use crate::{Error, Result};
use futures_util::StreamExt;
use ledger::Ledger;
use object_store::aws::AmazonS3;
use object_store::path::Path as Key;
use object_store::{Attribute, AttributeValue, Attributes, GetResult, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

const CRC_METADATA: &str = "kvbox-crc32c";
/// S3's longest object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// One tenant's prefix in a bucket.
#[derive(Debug)]
pub struct S3Objects {
    store: Arc<AmazonS3>,
    /// The tenant's prefix, without a trailing `/` (`""`: the whole bucket).
    prefix: String,
    /// `s3 endpoint/bucket/prefix`, for messages.
    label: String,
    checksums: bool,
    max_depth: u32,
    ledger: Arc<Ledger>,
    /// Dropping this stops the background listing.
    _refresh: Option<mpsc::Sender<()>>,
}

impl S3Objects {
    /// Connects to the store and lists the tenant's prefix once (its usage):
    /// an unreachable store fails the open with `Unavailable`, a missing
    /// bucket with `InvalidArgument`, refused credentials with `Io`.
    pub fn open(s3: &S3Storage, options: &DirOptions) -> Result<Self> {
        s3.validate().map_err(|m| Error::InvalidArgument(format!("storage: {m}")))?;
        let store = Arc::new(client::build(s3)?);
        let label = s3.describe();
        let prefix = s3.prefix.clone();
        let listed = measure(&store, &prefix).map_err(|e| {
            // A listing's 404 stays a generic error in object_store: read its S3 code.
            if matches!(e, object_store::Error::NotFound { .. }) || client::chain(&e).contains("NoSuchBucket") {
                return Error::InvalidArgument(format!(
                    "storage: {label}: the bucket {:?} does not exist (kvbox never creates buckets)",
                    s3.bucket
                ));
            }
            client::error(&format!("opening {label}"), e)
        })?;
        let ledger = Arc::new(Ledger::new(listed, options.max_bytes, options.max_objects));
        let refresh = (s3.usage_refresh_ms > 0)
            .then(|| refresh_usage(store.clone(), prefix.clone(), ledger.clone(), Duration::from_millis(s3.usage_refresh_ms)));
        Ok(Self { store, prefix, label, checksums: options.checksums, max_depth: options.max_depth, ledger, _refresh: refresh })
    }

    /// The store's key of object path `path` (checked).
    fn key(&self, path: &str) -> Result<Key> {
        check_path(path, false)?;
        let full = if self.prefix.is_empty() { path.to_string() } else { format!("{}/{path}", self.prefix) };
        if full.len() > MAX_KEY_BYTES {
            return Err(Error::InvalidPath(format!(
                "object key {:?}… is {} bytes (tenant prefix + object path), over S3's limit of {MAX_KEY_BYTES}; nothing was sent",
                full.chars().take(64).collect::<String>(),
                full.len()
            )));
        }
        Key::parse(&full).map_err(|e| Error::InvalidPath(format!("object path {:?} is not a valid object store key: {e}", Shown(path))))
    }

    fn what(&self, op: &str, path: &str) -> String {
        format!("{op} {:?} on {}", Shown(path), self.label)
    }

    /// The object's size, or `None`.
    fn head(&self, key: &Key, path: &str) -> Result<Option<u64>> {
        match client::block_on(self.store.head(key)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(client::error(&self.what("stat", path), e)),
        }
    }

    /// Starts a GET: `None` when absent; `TooLarge` (before any body is
    /// read) over `max_bytes` or `fits`.
    fn get(&self, path: &str, max_bytes: u64, fits: u64) -> Result<Option<GetResult>> {
        let key = self.key(path)?;
        let got = match client::block_on(self.store.get(&key)) {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(client::error(&self.what("reading", path), e)),
        };
        let size = got.meta.size;
        if size > max_bytes {
            return Err(Error::TooLarge(format!("object {:?} of {size} bytes exceeds the limit of {max_bytes}", Shown(path))));
        }
        if size > fits {
            return Err(Error::TooLarge(format!("object {:?} of {size} bytes does not fit the {fits}-byte target", Shown(path))));
        }
        Ok(Some(got))
    }

    /// Copies `got`'s body into `dst` (sized to it); the bytes received.
    fn receive(&self, path: &str, got: GetResult, dst: &mut [u8]) -> Result<usize> {
        let crc = got.attributes.get(&Attribute::Metadata(CRC_METADATA.into())).map(|v| v.as_ref().to_string());
        let mut body = got.into_stream();
        let mut filled = 0;
        client::block_on(async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| client::error(&self.what("reading", path), e))?;
                let end = filled + chunk.len();
                if end > dst.len() {
                    return Err(Error::Io(format!("{}: the store sent more bytes than the object's size", self.what("reading", path))));
                }
                dst[filled..end].copy_from_slice(&chunk);
                filled = end;
            }
            Ok(())
        })?;
        if filled != dst.len() {
            return Err(Error::Unavailable(format!(
                "{}: the body ended after {filled} of {} bytes (connection lost)",
                self.what("reading", path),
                dst.len()
            )));
        }
        if let Some(want) = crc {
            let have = format!("{:08x}", crc32c(dst));
            if want != have {
                return Err(Error::Corrupt(format!(
                    "object {:?} failed its CRC-32C check (stored {want}, read {have}); its bytes were not returned",
                    Shown(path)
                )));
            }
        }
        Ok(filled)
    }
}

impl ObjectStorage for S3Objects {
    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let key = self.key(path)?;
        check_depth(path, self.max_depth)?;
        let _serial = self.ledger.lock_path(path);
        let mut attributes = Attributes::new();
        if self.checksums {
            attributes.insert(Attribute::Metadata(CRC_METADATA.into()), AttributeValue::from(format!("{:08x}", crc32c(data))));
        }
        let payload = PutPayload::from(data.to_vec());
        let put = |mode: PutMode| {
            let opts = PutOptions { mode, attributes: attributes.clone(), ..PutOptions::default() };
            client::block_on(self.store.put_opts(&key, payload.clone(), opts))
        };
        let len = data.len() as u64;
        // Most puts store a new key (KV-cache keys are content-addressed):
        // one conditional PUT (`If-None-Match: *`) both stores it and says
        // it is new, so usage stays exact in one request.
        match self.ledger.reserve(None, len, false) {
            Ok(reservation) => match put(PutMode::Create) {
                Ok(_) => {
                    reservation.commit();
                    return Ok(());
                }
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {}
                Err(e) => return Err(client::error(&self.what("writing", path), e)),
            },
            Err(Error::Quota(_)) => {} // may still fit as a replacement
            Err(e) => return Err(e),
        }
        // A replacement: learn the size it replaces, then overwrite.
        let old = self.head(&key, path)?;
        let reservation = self.ledger.reserve(old, len, true)?;
        put(PutMode::Overwrite).map_err(|e| client::error(&self.what("writing", path), e))?;
        reservation.commit();
        Ok(())
    }

    fn read(&self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        let Some(got) = self.get(path, max_bytes, u64::MAX)? else {
            return Ok(None);
        };
        let size = usize::try_from(got.meta.size).map_err(|_| Error::TooLarge(format!("object {:?} is too large", Shown(path))))?;
        let mut bytes = recycle::take(size);
        bytes.resize(size, 0);
        self.receive(path, got, &mut bytes)?;
        Ok(Some(bytes))
    }

    fn read_into(&self, path: &str, dst: &mut [u8], max_bytes: u64) -> Result<Option<u64>> {
        let Some(got) = self.get(path, max_bytes, dst.len() as u64)? else {
            return Ok(None);
        };
        let size = got.meta.size as usize;
        self.receive(path, got, &mut dst[..size]).map(|n| Some(n as u64))
    }

    /// A HEAD for the size, then a ranged GET of the part that exists.
    fn read_range(&self, path: &str, offset: u64, len: u64, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        if len > max_bytes {
            return Err(Error::TooLarge(format!("a range of {len} bytes exceeds the limit of {max_bytes}")));
        }
        let key = self.key(path)?;
        let Some(size) = self.head(&key, path)? else {
            return Ok(None);
        };
        let (start, end) = (offset.min(size), offset.saturating_add(len).min(size));
        if start == end {
            return Ok(Some(Vec::new()));
        }
        match client::block_on(self.store.get_range(&key, start..end)) {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(client::error(&self.what("reading", path), e)),
        }
    }

    fn stat(&self, path: &str) -> Result<Option<u64>> {
        let key = self.key(path)?;
        self.head(&key, path)
    }

    fn remove(&self, path: &str) -> Result<bool> {
        let key = self.key(path)?;
        let _serial = self.ledger.lock_path(path);
        // S3's DELETE does not say whether there was an object: ask first.
        let Some(old) = self.head(&key, path)? else {
            return Ok(false);
        };
        match client::block_on(self.store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                self.ledger.removed(old);
                Ok(true)
            }
            Err(e) => Err(client::error(&self.what("removing", path), e)),
        }
    }

    fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Listing> {
        check_path(prefix, true)?;
        if let Some(a) = after {
            check_path(a, false)?;
            let beneath = prefix.is_empty() || a.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'));
            if !beneath {
                return Err(Error::InvalidPath(format!("listing cursor {a:?} is not beneath {prefix:?}")));
            }
        }
        let joined = [self.prefix.as_str(), prefix].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("/");
        let under = (!joined.is_empty())
            .then(|| Key::parse(&joined))
            .transpose()
            .map_err(|e| Error::InvalidPath(format!("listing prefix {prefix:?} is not a valid object store key: {e}")))?;
        let mut stream = match after {
            Some(a) => self.store.list_with_offset(under.as_ref(), &self.key(a)?),
            None => self.store.list(under.as_ref()),
        };
        let want = limit.max(1) as usize + 1;
        let mut paths = Vec::new();
        client::block_on(async {
            while paths.len() < want {
                let Some(meta) = stream.next().await else { break };
                let meta = meta.map_err(|e| client::error(&format!("listing {prefix:?} on {}", self.label), e))?;
                if let Some(path) = self.relative(meta.location.as_ref()) {
                    paths.push(path.to_string());
                }
            }
            Ok::<_, Error>(())
        })?;
        let more = paths.len() == want;
        paths.truncate(want - 1);
        Ok(Listing { paths, more })
    }

    fn usage(&self) -> Usage {
        self.ledger.usage()
    }

    fn quota_rejections(&self) -> u64 {
        self.ledger.rejections()
    }

    fn direct_alignment(&self) -> Option<usize> {
        None
    }
}

impl S3Objects {
    /// The object path of a key under the tenant's prefix, when it is one
    /// a connector could have written (foreign keys are never listed).
    fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        relative_to(&self.prefix, key)
    }
}

fn relative_to<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    let rel = if prefix.is_empty() { key } else { key.strip_prefix(prefix)?.strip_prefix('/')? };
    check_path(rel, false).ok().map(|()| rel)
}

/// Lists the whole prefix: the tenant's usage across every node.
fn measure(store: &AmazonS3, prefix: &str) -> std::result::Result<Usage, object_store::Error> {
    let under = (!prefix.is_empty())
        .then(|| Key::parse(prefix))
        .transpose()
        .map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
    client::block_on(async {
        let mut usage = Usage::default();
        let mut stream = store.list(under.as_ref());
        while let Some(meta) = stream.next().await {
            let meta = meta?;
            if relative_to(prefix, meta.location.as_ref()).is_some() {
                usage.bytes += meta.size;
                usage.objects += 1;
            }
        }
        Ok(usage)
    })
}

/// Re-lists the prefix every `every` on a thread of its own until the
/// returned sender is dropped; a failed listing keeps the last one.
fn refresh_usage(store: Arc<AmazonS3>, prefix: String, ledger: Arc<Ledger>, every: Duration) -> mpsc::Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("kvbox-s3-usage".into()).spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            let mark = ledger.mark();
            if let Ok(usage) = measure(&store, &prefix) {
                ledger.listed(mark, usage);
            }
        }
    });
    // Without the thread the usage is only refreshed at open: still correct for one node.
    drop(spawned);
    stop
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_drop_foreign_keys() {
        assert_eq!(relative_to("t/a", "t/a/00/k.obj"), Some("00/k.obj"));
        assert_eq!(relative_to("t/a", "t/ab/00/k.obj"), None);
        assert_eq!(relative_to("t/a", "t/a/.kvbox-x"), None);
        assert_eq!(relative_to("", "00/k.obj"), Some("00/k.obj"));
    }
}
