//! The filesystem connector's JSON configuration, parsed the same way by
//! the sandboxed guest and the native fast path.
//!
//! Every key is optional:
//! - `namespace` (string): keep objects in this sub-directory of the grant;
//! - `max_key_bytes` (integer ≥ 1): reject longer keys.
//!
//! The C ABI's `base_path`, `use_odirect`, `alignment` and `tmp_subdir` are
//! decided by the kvbox host; they are rejected with a message saying so.

use crate::{Layout, LayoutError};
use alloc::format;
use alloc::string::String;
use serde::Deserialize;

const HOST_DECIDED: [&str; 4] = ["base_path", "use_odirect", "alignment", "tmp_subdir"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    namespace: Option<String>,
    max_key_bytes: Option<u32>,
}

/// A parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsConfig {
    /// Where objects live.
    pub layout: Layout,
    /// The connector's own key limit, if any.
    pub max_key_bytes: Option<u32>,
}

impl FsConfig {
    /// Parses JSON text (empty text means `{}`); the error names the offending key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("config is not valid JSON: {e}"))?;
        let Some(map) = value.as_object() else {
            return Err(String::from("config must be a JSON object"));
        };
        if let Some(key) = map.keys().find(|k| HOST_DECIDED.contains(&k.as_str())) {
            return Err(format!("`{key}`: decided by the kvbox host (directory grant, O_DIRECT, alignment, temp files); remove it"));
        }
        let raw: Raw = serde_json::from_value(value).map_err(|e| format!("config: {e}"))?;
        if raw.max_key_bytes == Some(0) {
            return Err(String::from("`max_key_bytes`: must be at least 1"));
        }
        let layout = Layout::new(raw.namespace.as_deref()).map_err(|e| match e {
            LayoutError::Namespace(m) | LayoutError::Key(m) => format!("`namespace`: {m}"),
        })?;
        Ok(Self { layout, max_key_bytes: raw.max_key_bytes })
    }

    /// The object path of `key`, applying `max_key_bytes`.
    pub fn path_of(&self, key: &str) -> Result<String, String> {
        if let Some(max) = self.max_key_bytes {
            if key.len() > max as usize {
                return Err(format!("key of {} bytes exceeds max_key_bytes {max}", key.len()));
            }
        }
        self.layout.path_of(key).map_err(|e| match e {
            LayoutError::Key(m) | LayoutError::Namespace(m) => m,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(FsConfig::parse("").unwrap().max_key_bytes, None);
        let c = FsConfig::parse(r#"{"namespace":"m","max_key_bytes":4}"#).unwrap();
        assert_eq!(c.layout.root(), "m");
        assert!(c.path_of("abcd").is_ok());
        assert!(c.path_of("abcde").is_err());
        for (bad, needle) in [
            (r#"{"nmespace":"x"}"#, "nmespace"),
            (r#"{"namespace":7}"#, "invalid type"),
            (r#"{"max_key_bytes":0}"#, "max_key_bytes"),
            (r#"{"base_path":"/x"}"#, "base_path"),
            ("[1]", "JSON object"),
            ("{", "not valid JSON"),
        ] {
            let e = FsConfig::parse(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
