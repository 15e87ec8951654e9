//! [`TrustedConnector`]: a C-ABI connector library behind [`ObjectConnector`],
//! with the guards kvbox can put around code it cannot sandbox:
//! - every `get` is sized with `file_size` first and given one spare byte, so
//!   a connector that fills the whole buffer (possibly cutting the object
//!   short) is asked again with a larger one instead of believed;
//! - every object carries kvbox's seal ([`super::seal`]), checked on read;
//! - `list_keys` output is parsed strictly, and every listed key is checked to
//!   exist (a connector listing file names instead of keys is caught);
//! - the ABI's integer codes become typed errors; bytes and objects are
//!   accounted (and quotas enforced) by kvbox, not the connector.

use super::library::{Handle, TrustedLibrary};
use super::seal::{SEAL_BYTES, check, frame_key, seal};
use crate::connector::{ConnectorStats, KeyPage, ObjectConnector};
use crate::io::usage::Accounts;
use crate::io::{DirOptions, ObjectDir, recycle};
use crate::{Cancel, Error, Limits, OpenOptions, Result};
use std::ffi::CString;
use std::sync::Arc;

/// Attempts at reading an object whose size keeps changing under the read.
const READ_ATTEMPTS: usize = 4;

/// A trusted C-ABI connector serving one tenant directory.
pub struct TrustedConnector {
    pub(super) lib: Arc<TrustedLibrary>,
    pub(super) handle: Handle,
    pub(super) limits: Limits,
    /// Held for the tenant directory's lock (one open connector per
    /// directory), released when the connector is dropped.
    _dir: ObjectDir,
    accounts: Accounts,
}

// SAFETY: the handle is only passed back to the library that made it, whose
// functions the C ABI requires to be thread-safe; the caller vouched for
// this library (by path and sha256) when loading it.
unsafe impl Send for TrustedConnector {}
// SAFETY: as for Send; every other field is Sync.
unsafe impl Sync for TrustedConnector {}

/// The connector's configuration with `base_path` set to the tenant root.
fn connector_config(options: &OpenOptions) -> Result<String> {
    let text = if options.config_json.trim().is_empty() { "{}" } else { &options.config_json };
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::InvalidConfig(format!("config is not valid JSON: {e}")))?;
    let map = value.as_object_mut().ok_or_else(|| Error::InvalidConfig("config must be a JSON object".into()))?;
    let root = options.root.to_str().ok_or_else(|| Error::InvalidArgument("root must be valid UTF-8 for a native connector".into()))?;
    match map.get("base_path") {
        None => {
            map.insert("base_path".into(), root.into());
        }
        Some(serde_json::Value::String(p)) if p == root => {}
        Some(other) => {
            return Err(Error::InvalidConfig(format!("`base_path`: {other} differs from the tenant root {root:?}; kvbox sets it")));
        }
    }
    Ok(value.to_string())
}

impl TrustedConnector {
    /// Opens (and locks) the tenant directory and creates the connector.
    pub fn open(lib: Arc<TrustedLibrary>, options: &OpenOptions) -> Result<Self> {
        options.limits.validate()?;
        if options.storage != crate::Storage::Fs {
            return Err(Error::InvalidArgument(
                "storage: a trusted native library does its own I/O in the tenant directory; only the sandboxed and native fs connectors run on S3 storage".into(),
            ));
        }
        let config = connector_config(options)?;
        // The directory is opened for its lock and usage only: the connector does the I/O.
        let quotas = DirOptions::of(options);
        let dir =
            ObjectDir::open_with(&options.root, &DirOptions { direct_io: false, durable: false, checksums: false, ..quotas.clone() })?;
        let accounts = Accounts::new(dir.usage(), &quotas);
        // SAFETY: `config` is live for the call and its length is passed.
        let handle = unsafe { (lib.abi.create)(config.as_ptr().cast(), config.len()) };
        if handle.is_null() {
            return Err(Error::InvalidConfig(format!(
                "the native connector refused its configuration {config} (connector_create returned NULL)"
            )));
        }
        Ok(Self { lib, handle, limits: options.limits.clone(), _dir: dir, accounts })
    }

    /// The key as the connector sees it: framed, NUL-terminated.
    pub(super) fn framed(key: &str) -> Result<CString> {
        CString::new(frame_key(key)).map_err(|_| Error::InvalidKey("key contains a NUL character".into()))
    }

    /// The stored size (payload + seal), through `file_size`.
    pub(super) fn stored_size(&self, k: &CString) -> Result<Option<u64>> {
        let mut size = 0u64;
        // SAFETY: live handle, NUL-terminated key, writable out-pointer, all for this call.
        match unsafe { (self.lib.abi.file_size)(self.handle, k.as_ptr(), &mut size) } {
            0 => Ok(Some(size)),
            1 => Ok(None),
            rc => Err(Error::Connector(format!("the native connector's file_size failed (code {rc})"))),
        }
    }

    /// One `get` into `buf`'s spare capacity of `cap` bytes: `Ok(Ok(n))`
    /// when the object fitted with room to spare, `Ok(Err(hint))` when it may
    /// not have (retry with at least `hint` bytes), `None` when absent.
    fn get_raw(&self, k: &CString, dst: *mut u8, cap: usize) -> Result<Option<std::result::Result<usize, usize>>> {
        let mut n = 0usize;
        // SAFETY: `dst` has `cap` writable bytes lent for this call.
        let rc = unsafe { (self.lib.abi.get)(self.handle, k.as_ptr(), dst, cap, &mut n) };
        match rc {
            1 => Ok(None),
            0 if n > cap => Err(Error::Connector(format!("the native connector's get reported {n} bytes read into a {cap}-byte buffer"))),
            0 if n < cap => Ok(Some(Ok(n))),
            0 => Ok(Some(Err(cap.saturating_mul(2)))),
            _ if n > cap => Ok(Some(Err(n + 1))),
            rc => Err(Error::Connector(format!("the native connector's get failed (code {rc})"))),
        }
    }

    /// The stored bytes (payload + seal), read into a buffer sized by `file_size` plus a spare byte.
    fn read_stored(&self, key: &str, k: &CString) -> Result<Option<Vec<u8>>> {
        let mut at_least = 0usize;
        for _ in 0..READ_ATTEMPTS {
            let Some(size) = self.stored_size(k)? else {
                return Ok(None);
            };
            if size > self.limits.max_object_bytes + SEAL_BYTES as u64 {
                return Err(Error::TooLarge(format!("object {key:?} of {size} bytes exceeds limits.maxObjectBytes")));
            }
            let cap = (size as usize + 1).max(at_least);
            let mut buf = recycle::take(cap);
            match self.get_raw(k, buf.as_mut_ptr(), cap)? {
                None => return Ok(None),
                Some(Ok(n)) => {
                    // SAFETY: the connector wrote `n` ≤ cap ≤ capacity bytes.
                    unsafe { buf.set_len(n) };
                    return Ok(Some(buf));
                }
                Some(Err(hint)) => at_least = hint,
            }
        }
        Err(Error::Connector(format!(
            "object {key:?} changed size under {READ_ATTEMPTS} reads in a row, or the connector fills every buffer"
        )))
    }
}

impl ObjectConnector for TrustedConnector {
    fn exists(&self, key: &str, _cancel: &Cancel) -> Result<bool> {
        // `file_size`, not `exists`: the ABI's `exists` reads errors as absence.
        Ok(self.stored_size(&Self::framed(key)?)?.is_some())
    }

    fn put(&self, key: &str, data: &[u8], _cancel: &Cancel) -> Result<()> {
        let k = Self::framed(key)?;
        let _serial = self.accounts.lock_path(key);
        let old = self.stored_size(&k)?;
        let reservation = self.accounts.reserve(old, (data.len() + SEAL_BYTES) as u64)?;
        let mut stored = recycle::take(data.len() + SEAL_BYTES);
        stored.extend_from_slice(data);
        stored.extend_from_slice(&seal(key, data.len()));
        // SAFETY: live handle and key; `stored` is lent for this call.
        let rc = unsafe { (self.lib.abi.put)(self.handle, k.as_ptr(), stored.as_ptr(), stored.len()) };
        recycle::give(stored);
        if rc != 0 {
            return Err(Error::Connector(format!("the native connector's put of {key:?} failed (code {rc})")));
        }
        reservation.commit();
        Ok(())
    }

    fn get(&self, key: &str, _cancel: &Cancel) -> Result<Option<Vec<u8>>> {
        let k = Self::framed(key)?;
        let Some(mut stored) = self.read_stored(key, &k)? else {
            return Ok(None);
        };
        let len = check(key, &stored)?;
        stored.truncate(len);
        Ok(Some(stored))
    }

    fn get_into(&self, key: &str, dst: &mut [u8], _cancel: &Cancel) -> Result<Option<u64>> {
        let k = Self::framed(key)?;
        let Some(size) = self.stored_size(&k)? else {
            return Ok(None);
        };
        let payload = size.saturating_sub(SEAL_BYTES as u64) as usize;
        if payload > dst.len() {
            return Err(Error::TooLarge(format!("object of {payload} bytes does not fit the {}-byte target", dst.len())));
        }
        // Straight into the caller's buffer when the seal and a spare byte fit
        // too; the bytes they cover are put back, as the contract leaves bytes
        // after the object untouched.
        let cap = size as usize + 1;
        if cap <= dst.len() {
            let saved: [u8; SEAL_BYTES + 1] = dst[payload..cap].try_into().expect("seal + 1 bytes");
            let read = self.get_raw(&k, dst.as_mut_ptr(), cap);
            let sealed = match &read {
                Ok(Some(Ok(n))) => Some(check(key, &dst[..*n])),
                _ => None,
            };
            dst[payload..cap].copy_from_slice(&saved);
            match (read?, sealed) {
                (None, _) => return Ok(None),
                (_, Some(len)) => return len.map(|n| Some(n as u64)),
                _ => {} // it filled the buffer: the object changed; read it whole below
            }
        }
        let Some(stored) = self.read_stored(key, &k)? else {
            return Ok(None);
        };
        let len = check(key, &stored)?;
        let room = dst.len();
        let target =
            dst.get_mut(..len).ok_or_else(|| Error::TooLarge(format!("object of {len} bytes does not fit the {room}-byte target")))?;
        target.copy_from_slice(&stored[..len]);
        recycle::give(stored);
        Ok(Some(len as u64))
    }

    fn remove(&self, key: &str, _cancel: &Cancel) -> Result<bool> {
        let k = Self::framed(key)?;
        let _serial = self.accounts.lock_path(key);
        let old = self.stored_size(&k)?;
        // SAFETY: live handle and key for this call.
        match unsafe { (self.lib.abi.remove)(self.handle, k.as_ptr()) } {
            1 => {
                self.accounts.removed(old.unwrap_or(0));
                Ok(true)
            }
            0 => Ok(false),
            rc => Err(Error::Connector(format!("the native connector's remove of {key:?} failed (code {rc})"))),
        }
    }

    fn size(&self, key: &str, _cancel: &Cancel) -> Result<Option<u64>> {
        let k = Self::framed(key)?;
        match self.stored_size(&k)? {
            Some(n) if n < SEAL_BYTES as u64 => Err(Error::Corrupt(format!("object {key:?} is {n} bytes, shorter than kvbox's seal"))),
            Some(n) => Ok(Some(n - SEAL_BYTES as u64)),
            None => Ok(None),
        }
    }

    fn list_keys(&self, cursor: Option<&str>, limit: u32, _cancel: &Cancel) -> Result<KeyPage> {
        let limit = limit as usize;
        let mut keys = self.all_keys()?;
        let start = cursor.map_or(0, |c| keys.partition_point(|k| k.as_str() <= c));
        let more = keys.len() - start > limit;
        keys.truncate(start + limit);
        let mut page: Vec<String> = keys.split_off(start);
        let next = if more { page.last().cloned() } else { None };
        self.drop_phantoms(&mut page)?;
        Ok(KeyPage { keys: page, cursor: next })
    }

    fn stats(&self) -> ConnectorStats {
        let usage = self.accounts.usage();
        ConnectorStats {
            bytes_stored: usage.bytes,
            objects: usage.objects,
            quota_rejections: self.accounts.rejections(),
            ..ConnectorStats::default()
        }
    }

    fn direct_alignment(&self) -> Option<usize> {
        None
    }
}

impl Drop for TrustedConnector {
    fn drop(&mut self) {
        // SAFETY: the last use of the handle: every call holding this
        // connector has finished (they hold it by Arc).
        unsafe { (self.lib.abi.destroy)(self.handle) };
    }
}
