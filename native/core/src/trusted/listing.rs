//! Reading a trusted connector's `list_keys`, whose output is one
//! newline-separated block in a buffer the caller sizes: grown until the
//! list fits with room to spare (a connector that stops when the buffer is
//! full must not cut the list short unnoticed), then parsed strictly.

use super::connector::TrustedConnector;
use super::seal::unframe_key;
use crate::tenant::check_key;
use crate::{Error, Result};
use std::collections::BTreeSet;

const FIRST_LIST_BYTES: usize = 64 << 10;
/// The largest key list accepted from a connector.
const MAX_LIST_BYTES: usize = 256 << 20;

impl TrustedConnector {
    /// The raw `list_keys` block.
    fn list_block(&self) -> Result<Vec<u8>> {
        let mut cap = FIRST_LIST_BYTES;
        while cap <= MAX_LIST_BYTES {
            let mut buf = vec![0u8; cap];
            let mut n = 0usize;
            // SAFETY: live handle; `buf` has `cap` writable bytes lent for this call.
            let rc = unsafe { (self.lib.abi.list_keys)(self.handle, buf.as_mut_ptr().cast(), cap, &mut n) };
            match rc {
                0 if n > cap => {
                    return Err(Error::Connector(format!("the native connector's list_keys reported {n} bytes in a {cap}-byte buffer")));
                }
                0 if n < cap => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                0 => cap *= 2,                                            // full: perhaps cut short
                _ if n > cap => cap = n.next_power_of_two().max(cap * 2), // told us the size it needs
                rc => return Err(Error::Connector(format!("the native connector's list_keys failed (code {rc})"))),
            }
        }
        Err(Error::Connector(format!("the native connector's key list exceeds {MAX_LIST_BYTES} bytes")))
    }

    /// Every listed key, sorted; an entry that is not a valid key, or a
    /// duplicate, fails the listing with `Connector`.
    pub(super) fn all_keys(&self) -> Result<Vec<String>> {
        let block = self.list_block()?;
        let text = String::from_utf8(block)
            .map_err(|_| Error::Connector("the native connector's list_keys returned bytes that are not UTF-8".into()))?;
        let text = text.trim_end_matches('\0');
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut keys = BTreeSet::new();
        for entry in text.split('\n').filter(|_| !text.is_empty()) {
            let bad = |why: &str| Error::Connector(format!("the native connector listed {entry:?}, {why}"));
            let key = unframe_key(entry).ok_or_else(|| bad("which is not a key kvbox stored (bad escape)"))?;
            check_key(&key, &self.limits).map_err(|e| bad(&e.to_string()))?;
            if !keys.insert(key) {
                return Err(bad("twice"));
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// Removes listed keys the connector does not hold now. One that is still
    /// listed when asked again is not a key (a file name, say): `Connector`.
    pub(super) fn drop_phantoms(&self, page: &mut Vec<String>) -> Result<()> {
        let mut phantoms = Vec::new();
        for key in page.iter() {
            let k = Self::framed(key)?;
            if self.stored_size(&k)?.is_none() {
                phantoms.push(key.clone());
            }
        }
        if phantoms.is_empty() {
            return Ok(());
        }
        let again = self.all_keys()?;
        for p in &phantoms {
            if again.binary_search(p).is_ok() && self.stored_size(&Self::framed(p)?)?.is_none() {
                return Err(Error::Connector(format!(
                    "the native connector lists {p:?} but holds no object under that key (does it list file names instead of keys?)"
                )));
            }
        }
        page.retain(|k| !phantoms.contains(k));
        Ok(())
    }
}
