//! On-disk layout of kvbox's filesystem connector.
//!
//! Shared by the sandboxed connector (`guests/fs-connector`, compiled to
//! wasm) and the native fast path (`native/core`), so a store written by one
//! is read by the other.
//!
//! A key maps to an object path `[<namespace>/]<shard>/<segments…>`:
//! - `shard`: two lowercase hex digits, the top byte of the key's FNV-1a
//!   hash — 256 directories, so no single directory grows huge;
//! - the key is escaped into file-name-safe bytes: `[A-Za-z0-9_@=+,~.-]`
//!   stay as they are, every other byte (including `%`, `/` and all
//!   non-ASCII) becomes `%XX`, and a `.` that would start a segment becomes
//!   `%2E` (so no segment is `.`, `..` or a reserved `.kvbox` name);
//! - the escaped key is cut into segments of at most [`SEGMENT_BYTES`]
//!   bytes (never inside an escape); all but the last end in `.more` and
//!   are directories, the last ends in `.obj` and is the file. The suffixes
//!   differ, so a file and a directory can never share a name.
//!
//! The mapping is reversible ([`Layout::key_of`]), so listings return the
//! original keys, and it rejects paths that are not its own.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

mod config;

pub use config::{FsConfig, json_kind};

use alloc::string::String;
use alloc::vec::Vec;

/// Longest escaped run in one path segment, before its suffix.
pub const SEGMENT_BYTES: usize = 200;
/// Longest object path the layout produces, namespace included
/// (kept under Linux's 4096-byte `PATH_MAX` with room to spare).
pub const MAX_PATH_BYTES: usize = 3800;
/// Longest namespace, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 255;

const FILE_SUFFIX: &str = ".obj";
const DIR_SUFFIX: &str = ".more";

/// Why a key or namespace cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The key is empty or its path would exceed [`MAX_PATH_BYTES`].
    Key(String),
    /// The namespace is not a single safe path segment.
    Namespace(String),
}

/// Maps keys to object paths under an optional namespace directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    namespace: Option<String>,
}

impl Layout {
    /// A layout rooted at the granted directory itself, or at the directory
    /// `namespace` inside it. A namespace is one segment of the safe
    /// characters, not starting with `.`.
    pub fn new(namespace: Option<&str>) -> Result<Self, LayoutError> {
        let Some(ns) = namespace else {
            return Ok(Self { namespace: None });
        };
        let ok = !ns.is_empty() && ns.len() <= MAX_NAMESPACE_BYTES && !ns.starts_with('.') && ns.bytes().all(is_safe);
        if !ok {
            return Err(LayoutError::Namespace(alloc::format!(
                "namespace {ns:?} must be 1 to {MAX_NAMESPACE_BYTES} bytes of [A-Za-z0-9_@=+,~.-], not starting with '.'"
            )));
        }
        Ok(Self { namespace: Some(String::from(ns)) })
    }

    /// The directory (relative to the grant) under which all objects live:
    /// the namespace, or `""`.
    pub fn root(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// The object path of `key`.
    pub fn path_of(&self, key: &str) -> Result<String, LayoutError> {
        if key.is_empty() {
            return Err(LayoutError::Key(String::from("key is empty")));
        }
        let mut path = String::with_capacity(key.len() + 16);
        if let Some(ns) = &self.namespace {
            path.push_str(ns);
            path.push('/');
        }
        let shard = shard_of(key);
        path.push(hex_digit(shard >> 4) as char);
        path.push(hex_digit(shard & 0xf) as char);
        path.push('/');

        let mut seg_len = 0;
        for &b in key.as_bytes() {
            let width = if is_safe(b) && !(b == b'.' && seg_len == 0) { 1 } else { 3 };
            if seg_len + width > SEGMENT_BYTES {
                path.push_str(DIR_SUFFIX);
                path.push('/');
                seg_len = 0;
            }
            if is_safe(b) && !(b == b'.' && seg_len == 0) {
                path.push(b as char);
                seg_len += 1;
            } else {
                path.push('%');
                path.push(HEX_UPPER[usize::from(b >> 4)] as char);
                path.push(HEX_UPPER[usize::from(b & 0xf)] as char);
                seg_len += 3;
            }
        }
        path.push_str(FILE_SUFFIX);
        if path.len() > MAX_PATH_BYTES {
            return Err(LayoutError::Key(alloc::format!(
                "key of {} bytes escapes to a {}-byte path, over the {MAX_PATH_BYTES}-byte limit of this layout",
                key.len(),
                path.len()
            )));
        }
        Ok(path)
    }

    /// One page of keys from one page of object paths listed under
    /// [`Layout::root`]: the paths that are objects of this layout, as keys,
    /// and the cursor to resume after when there are `more` — the last
    /// *path* listed, so a foreign file ending a page cannot stop the listing.
    pub fn page(&self, paths: Vec<String>, more: bool) -> (Vec<String>, Option<String>) {
        let keys = paths.iter().filter_map(|p| self.key_of(p)).collect();
        let cursor = if more { paths.into_iter().last() } else { None };
        (keys, cursor)
    }

    /// The key stored at object path `path`, or `None` when `path` is not
    /// an object of this layout (a foreign file, another namespace, a
    /// misplaced shard).
    pub fn key_of(&self, path: &str) -> Option<String> {
        let rest = match &self.namespace {
            Some(ns) => path.strip_prefix(ns.as_str())?.strip_prefix('/')?,
            None => path,
        };
        let (_shard, rest) = rest.split_once('/')?;
        let mut escaped = Vec::with_capacity(rest.len());
        let mut segments = rest.split('/').peekable();
        while let Some(seg) = segments.next() {
            let body = if segments.peek().is_some() { seg.strip_suffix(DIR_SUFFIX)? } else { seg.strip_suffix(FILE_SUFFIX)? };
            if body.is_empty() {
                return None;
            }
            escaped.extend_from_slice(body.as_bytes());
        }
        let key = String::from_utf8(unescape(&escaped)?).ok()?;
        // Only the canonical path of a key is that key's object: this rejects
        // a wrong shard, lowercase or needless escapes, and misplaced cuts.
        let canonical = self.path_of(&key).ok()?;
        (canonical == path).then_some(key)
    }
}

/// Bytes kept as they are in a file name.
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'=' | b'+' | b',' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_digit(n: u8) -> u8 {
    b"0123456789abcdef"[n as usize & 0xf]
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn unescape(escaped: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        match escaped[i] {
            b'%' => {
                let hi = hex_value(*escaped.get(i + 1)?)?;
                let lo = hex_value(*escaped.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b if is_safe(b) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Top byte of the 64-bit FNV-1a hash of the key: stable across platforms
/// and releases, which the on-disk layout requires.
fn shard_of(key: &str) -> u8 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h >> 56) as u8
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn pages_skip_foreign_paths_and_resume_after_the_last_path_listed() {
        let layout = Layout::default();
        let ok = layout.path_of("k").unwrap();
        let paths = alloc::vec![ok.clone(), "zz/not-an-object".to_string()];
        assert_eq!(layout.page(paths.clone(), true), (alloc::vec!["k".to_string()], Some("zz/not-an-object".to_string())));
        assert_eq!(layout.page(paths, false), (alloc::vec!["k".to_string()], None));
        assert_eq!(layout.page(Vec::new(), true), (Vec::new(), None));
    }

    fn round_trip(layout: &Layout, key: &str) -> String {
        let path = layout.path_of(key).unwrap();
        assert_eq!(layout.key_of(&path).as_deref(), Some(key), "path {path}");
        path
    }

    #[test]
    fn keeps_lmcache_keys_readable() {
        let key = "llama@1@0@0a1b2c3d@bfloat16";
        let path = round_trip(&Layout::default(), key);
        assert!(path.ends_with("/llama@1@0@0a1b2c3d@bfloat16.obj"), "{path}");
        assert_eq!(path.len(), 3 + key.len() + 4);
    }

    #[test]
    fn escapes_separators_dots_and_unicode() {
        let layout = Layout::default();
        for key in ["a/b", "..", ".", ".kvbox-tmp", "../../etc/passwd", "ключ", "%41", "a\tb", "x.obj", "y.more"] {
            let path = round_trip(&layout, key);
            for seg in path.split('/') {
                assert!(!seg.starts_with('.'), "{path}");
                assert!(!seg.is_empty(), "{path}");
            }
        }
        assert!(layout.path_of("a/b").unwrap().ends_with("/a%2Fb.obj"));
        assert_ne!(layout.path_of("%41").unwrap(), layout.path_of("A").unwrap());
    }

    #[test]
    fn splits_long_keys_into_directory_segments() {
        let layout = Layout::default();
        let key = "k".repeat(1024);
        let path = round_trip(&layout, &key);
        let segs: Vec<_> = path.split('/').collect();
        assert_eq!(segs.len(), 1 + 1024usize.div_ceil(SEGMENT_BYTES));
        assert!(segs.iter().all(|s| s.len() <= SEGMENT_BYTES + DIR_SUFFIX.len()));
        // A split never lands inside an escape.
        let key = format!("{}{}", "a".repeat(SEGMENT_BYTES - 1), "/".repeat(10));
        round_trip(&layout, &key);
        // A segment that would start with '.' escapes it.
        let key = format!("{}{}", "a".repeat(SEGMENT_BYTES), "..x");
        let path = round_trip(&layout, &key);
        assert!(path.contains(".more/%2E.x.obj"), "{path}");
        // Non-canonical spellings of a valid key are not its object.
        let path = layout.path_of("a/b").unwrap();
        assert_eq!(layout.key_of(&path.replace("%2F", "%2f")), None);
        assert_eq!(layout.key_of(&path.replace("a%2F", "%61%2F")), None);
    }

    #[test]
    fn rejects_keys_whose_path_is_too_long() {
        let key = "\u{10FFFF}".repeat(400); // 1600 bytes, 4800 escaped
        assert!(matches!(Layout::default().path_of(&key), Err(LayoutError::Key(_))));
        assert!(matches!(Layout::default().path_of(""), Err(LayoutError::Key(_))));
    }

    #[test]
    fn namespaces_are_single_safe_segments() {
        let ns = Layout::new(Some("model-a")).unwrap();
        let path = round_trip(&ns, "k");
        assert!(path.starts_with("model-a/"));
        assert_eq!(Layout::default().key_of(&path), None);
        assert_eq!(Layout::new(Some("model-b")).unwrap().key_of(&path), None);
        for bad in ["", ".", "..", "a/b", ".kvbox", "x\0"] {
            assert!(Layout::new(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_foreign_paths() {
        let l = Layout::default();
        let good = l.path_of("key").unwrap();
        let (shard, name) = good.split_once('/').unwrap();
        let wrong_shard = if shard == "00" { "01" } else { "00" };
        for p in [
            format!("{wrong_shard}/{name}"),
            format!("{shard}/key"),
            format!("{shard}/key.more"),
            format!("{shard}/ke%y.obj"),
            format!("{shard}/%zz.obj"),
            format!("{shard}/.obj"),
            "key.obj".to_string(),
            format!("{shard}/%ff.obj"), // not UTF-8
        ] {
            assert_eq!(l.key_of(&p), None, "{p}");
        }
    }

    #[test]
    fn round_trips_every_byte_class() {
        let l = Layout::default();
        for c in (1u32..0x3000).chain(0x10000..0x10100).filter_map(char::from_u32) {
            let key = format!("{c}k{c}");
            round_trip(&l, &key);
        }
    }
}
