//! What kvbox adds around a trusted connector's keys and bytes, so a flawed
//! connector is caught instead of returning wrong data.
//!
//! - Keys are framed for `list_keys`, whose output is newline-separated:
//!   `%` becomes `%25` and `\n` becomes `%0A` before a key reaches the
//!   connector; every other key passes unchanged.
//! - Objects carry a 24-byte seal after the payload: the payload's length,
//!   8 bytes of sha256 of the key, and a magic. A truncated read, or bytes
//!   that another key's put left under this key (a connector whose key →
//!   file mapping is not injective), fail the check with `Corrupt`.

use crate::{Error, Result};
use sha2::{Digest, Sha256};

/// Bytes appended to every object.
pub const SEAL_BYTES: usize = 24;
const MAGIC: &[u8; 8] = b"kvbxSEAL";

/// The key as the connector sees it.
pub fn frame_key(key: &str) -> String {
    if !key.contains(['%', '\n']) {
        return key.to_string();
    }
    key.replace('%', "%25").replace('\n', "%0A")
}

/// The key a connector listed, or `None` when the entry is not a framed key.
pub fn unframe_key(entry: &str) -> Option<String> {
    if !entry.contains('%') {
        return Some(entry.to_string());
    }
    let mut out = String::with_capacity(entry.len());
    let mut rest = entry;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3)? {
            "%25" => out.push('%'),
            "%0A" => out.push('\n'),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

fn tag(key: &str) -> [u8; 8] {
    Sha256::digest(key.as_bytes())[..8].try_into().expect("8 of 32 bytes")
}

/// The seal for `len` payload bytes stored under `key`.
pub fn seal(key: &str, len: usize) -> [u8; SEAL_BYTES] {
    let mut out = [0u8; SEAL_BYTES];
    out[..8].copy_from_slice(&(len as u64).to_le_bytes());
    out[8..16].copy_from_slice(&tag(key));
    out[16..].copy_from_slice(MAGIC);
    out
}

/// The payload length of `stored` (payload + seal) read for `key`, or `Corrupt`.
pub fn check(key: &str, stored: &[u8]) -> Result<usize> {
    let corrupt = |why: &str| Error::Corrupt(format!("object {key:?} read through the native connector {why}; refusing its bytes"));
    let Some(payload) = stored.len().checked_sub(SEAL_BYTES) else {
        return Err(corrupt(&format!("is {} bytes, shorter than kvbox's seal (truncated, or not written by kvbox)", stored.len())));
    };
    let s = &stored[payload..];
    if &s[16..] != MAGIC {
        return Err(corrupt("does not end with kvbox's seal (truncated, or not written by kvbox)"));
    }
    if u64::from_le_bytes(s[..8].try_into().expect("8 bytes")) != payload as u64 {
        return Err(corrupt("has a length other than the one sealed (truncated or extended)"));
    }
    if s[8..16] != tag(key) {
        return Err(corrupt("was written for another key (the connector maps distinct keys to one object)"));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_leaves_plain_keys_alone() {
        for key in ["plain@1@0@ff@bf16", "a/b", "%", "%0A", "tab\tnew\nline", "\n\n%%", "é%25"] {
            let framed = frame_key(key);
            assert!(!framed.contains('\n'));
            assert_eq!(unframe_key(&framed).as_deref(), Some(key));
        }
        assert_eq!(frame_key("model/x@1"), "model/x@1");
        assert_eq!(unframe_key("bad%zz"), None);
        assert_eq!(unframe_key("cut%2"), None);
    }

    #[test]
    fn seals_detect_truncation_extension_and_foreign_keys() {
        let mut stored = b"payload".to_vec();
        stored.extend_from_slice(&seal("k", 7));
        assert_eq!(check("k", &stored).unwrap(), 7);
        assert!(matches!(check("other", &stored), Err(Error::Corrupt(m)) if m.contains("another key")));
        assert!(matches!(check("k", &stored[..stored.len() - 1]), Err(Error::Corrupt(_))));
        assert!(matches!(check("k", &stored[1..]), Err(Error::Corrupt(m)) if m.contains("length")));
        assert!(matches!(check("k", b"short"), Err(Error::Corrupt(_))));
    }
}
