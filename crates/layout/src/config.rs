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

const HOST_DECIDED: [&str; 4] = ["base_path", "use_odirect", "alignment", "tmp_subdir"];
const KNOWN: [&str; 2] = ["namespace", "max_key_bytes"];

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
        if let Some(key) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("`{key}`: unknown field; the fs connector takes `namespace` and `max_key_bytes`"));
        }
        // Each field checked by name, so the message says which one is wrong (null = absent).
        let namespace = match map.get("namespace").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(v.as_str().ok_or_else(|| format!("`namespace`: expected a string, got {}", json_kind(v)))?),
        };
        let max_key_bytes = match map.get("max_key_bytes").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => match v.as_u64().map(u32::try_from) {
                Some(Ok(n)) if n >= 1 => Some(n),
                _ => return Err(format!("`max_key_bytes`: expected an integer from 1 to {}, got {v}", u32::MAX)),
            },
        };
        let layout = Layout::new(namespace).map_err(|e| match e {
            LayoutError::Namespace(m) | LayoutError::Key(m) => format!("`namespace`: {m}"),
        })?;
        Ok(Self { layout, max_key_bytes })
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

/// What a JSON value is, for messages ("a string", "an array", …).
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(FsConfig::parse("").unwrap().max_key_bytes, None);
        assert_eq!(FsConfig::parse(r#"{"namespace":null,"max_key_bytes":null}"#).unwrap(), FsConfig::parse("{}").unwrap());
        let c = FsConfig::parse(r#"{"namespace":"m","max_key_bytes":4}"#).unwrap();
        assert_eq!(c.layout.root(), "m");
        assert!(c.path_of("abcd").is_ok());
        assert!(c.path_of("abcde").is_err());
        for (bad, needle) in [
            (r#"{"nmespace":"x"}"#, "`nmespace`: unknown field"),
            (r#"{"namespace":7}"#, "`namespace`: expected a string, got a number"),
            (r#"{"max_key_bytes":0}"#, "`max_key_bytes`: expected an integer from 1"),
            (r#"{"max_key_bytes":"4"}"#, "`max_key_bytes`: expected an integer"),
            (r#"{"max_key_bytes":5000000000}"#, "`max_key_bytes`: expected an integer"),
            (r#"{"base_path":"/x"}"#, "base_path"),
            ("[1]", "JSON object"),
            ("{", "not valid JSON"),
        ] {
            let e = FsConfig::parse(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
