//! The JSON given to `connector_create`: which connector, the tenant root,
//! the connector's own configuration, limits and quotas. Unknown fields are
//! refused (a misspelt limit must not silently fall back to its default).
//!
//! ```json
//! { "connector": { "wasm": "/opt/conn/fs.wasm", "sha256": "<hex>" },
//!   "root": "/var/lib/kvcache/tenant-a",
//!   "config": { "namespace": "llama" },
//!   "limits": { "memory_bytes": 33554432, "call_timeout_ms": 2000 },
//!   "quota": { "bytes": 1073741824, "in_flight": 64 },
//!   "durable": true, "direct_io": true, "checksums": false,
//!   "cache_dir": "/var/cache/kvbox" }
//! ```
//! `"connector": "builtin:fs"` selects the built-in filesystem connector;
//! `base_path` is accepted as another name for `root`, the name LMCache's
//! reference connector used.

use kvbox_core::{Error, Limits, OpenOptions, Quota, Result};
use kvbox_layout::json_kind;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Which connector serves the handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// kvbox's filesystem connector compiled in (no sandbox).
    BuiltinFs,
    /// A sandboxed component, checked against its expected sha256.
    Wasm { path: PathBuf, sha256: String },
}

/// A validated `connector_create` configuration.
#[derive(Debug, Clone)]
pub struct CreateConfig {
    /// The connector.
    pub source: Source,
    /// Options for the tenant.
    pub options: OpenOptions,
    /// On-disk cache of compiled components, if any.
    pub cache_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWasm {
    wasm: PathBuf,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    /// A name or `{wasm, sha256}`: read by [`source_of`], so a wrong shape gets a message naming both forms.
    connector: serde_json::Value,
    #[serde(alias = "base_path")]
    root: PathBuf,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default)]
    limits: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    quota: serde_json::Map<String, serde_json::Value>,
    durable: Option<bool>,
    direct_io: Option<bool>,
    checksums: Option<bool>,
    cache_dir: Option<PathBuf>,
}

/// The name of the built-in filesystem connector, as in the JS API.
pub const BUILTIN_FS: &str = "builtin:fs";

impl CreateConfig {
    /// Parses and validates `connector_create`'s bytes; the error says which field is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let bad = |m: String| Error::InvalidConfig(format!("connector_create config: {m}"));
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let Some(fields) = value.as_object() else {
            return Err(bad(format!("expected a JSON object, got {}", json_kind(&value))));
        };
        if fields.contains_key("root") && fields.contains_key("base_path") {
            return Err(Error::InvalidConfig("`root` and `base_path` are one field (base_path is LMCache's name for it): give one".into()));
        }
        let raw: Raw = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        let source = source_of(&raw.connector)?;
        if !raw.root.is_absolute() {
            return Err(Error::InvalidConfig(format!("`root`: {} is not an absolute path", raw.root.display())));
        }
        let config_json = match raw.config {
            None => "{}".to_string(),
            Some(v @ serde_json::Value::Object(_)) => v.to_string(),
            Some(_) => return Err(Error::InvalidConfig("`config`: the connector's configuration must be a JSON object".into())),
        };
        let mut limits = Limits::default();
        // Limits::set / Quota::set say why a name or value is refused (the one place that knows): as a config error.
        let refused = |e: Error| match e {
            Error::InvalidArgument(m) => Error::InvalidConfig(m),
            e => e,
        };
        unique("limits", &raw.limits)?;
        unique("quota", &raw.quota)?;
        for (name, value) in &raw.limits {
            limits.set(&camel_case(name), number("limits", name, value)?).map_err(refused)?;
        }
        let mut quota = Quota::default();
        for (name, value) in &raw.quota {
            quota.set(&camel_case(name), number("quota", name, value)?).map_err(refused)?;
        }
        let mut options = OpenOptions::new(raw.root);
        options.config_json = config_json;
        options.limits = limits;
        options.quota = quota;
        options.durable = raw.durable.unwrap_or(true);
        options.direct_io = raw.direct_io.unwrap_or(true);
        options.checksums = raw.checksums.unwrap_or(false);
        Ok(Self { source, options, cache_dir: raw.cache_dir })
    }
}

/// The `connector` field: `"builtin:fs"`, or `{"wasm": path, "sha256": hex}`.
fn source_of(connector: &serde_json::Value) -> Result<Source> {
    const FORMS: &str = "\"builtin:fs\" or {\"wasm\": \"/path/to/connector.wasm\", \"sha256\": \"<its 64 hex digits>\"}";
    match connector {
        serde_json::Value::String(name) if name == BUILTIN_FS => Ok(Source::BuiltinFs),
        serde_json::Value::String(name) => {
            Err(Error::InvalidConfig(format!("`connector`: {name:?} is not a connector kvbox knows; expected {FORMS}")))
        }
        serde_json::Value::Object(_) => {
            let w: RawWasm = serde_json::from_value(connector.clone())
                .map_err(|e| Error::InvalidConfig(format!("`connector`: {e}; expected {FORMS}")))?;
            if w.sha256.len() != 64 || !w.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::InvalidConfig("`connector.sha256`: expected 64 hex digits".into()));
            }
            Ok(Source::Wasm { path: w.wasm, sha256: w.sha256.to_ascii_lowercase() })
        }
        other => Err(Error::InvalidConfig(format!("`connector`: expected {FORMS}, got {}", json_kind(other)))),
    }
}

/// `memory_bytes` → `memoryBytes`: the C side's names are LMCache's snake_case,
/// the settings' names are the JS API's (camelCase is accepted as is).
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// Refuses one setting given twice under its two spellings (`call_timeout_ms` and `callTimeoutMs`).
fn unique(group: &str, settings: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for name in settings.keys() {
        if let Some(other) = seen.insert(camel_case(name), name) {
            return Err(Error::InvalidConfig(format!("`{group}.{other}` and `{group}.{name}` are one setting: give one")));
        }
    }
    Ok(())
}

fn number(group: &str, name: &str, value: &serde_json::Value) -> Result<f64> {
    value.as_f64().ok_or_else(|| Error::InvalidConfig(format!("`{group}.{name}`: expected a number, got {value}")))
}

/// Reads the component at `path` and checks it is the one the config names.
pub fn read_checked(path: &std::path::Path, sha256: &str) -> Result<Vec<u8>> {
    let wasm = std::fs::read(path).map_err(|e| Error::Load(format!("cannot read {}: {e}", path.display())))?;
    let actual = hex::encode(Sha256::digest(&wasm));
    if actual != sha256 {
        return Err(Error::Load(format!("{} has sha256 {actual}, not the configured {sha256}; refusing to load it", path.display())));
    }
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<CreateConfig> {
        CreateConfig::parse(s.as_bytes())
    }

    #[test]
    fn accepts_the_builtin_connector_with_defaults() {
        let c = parse(r#"{"connector":"builtin:fs","base_path":"/tmp/t"}"#).unwrap();
        assert_eq!(c.source, Source::BuiltinFs);
        assert_eq!(c.options.root, PathBuf::from("/tmp/t"));
        assert_eq!(c.options.limits, Limits::default());
        assert!(c.options.durable && c.options.direct_io);
    }

    #[test]
    fn reads_a_wasm_source_limits_and_quota() {
        let sha = "ab".repeat(32);
        let c = parse(&format!(
            r#"{{"connector":{{"wasm":"/x.wasm","sha256":"{sha}"}},"root":"/r","config":{{"namespace":"n"}},
                "limits":{{"call_timeout_ms":50,"cpuMsPerSec":100}},"quota":{{"objects":3}},"durable":false}}"#
        ))
        .unwrap();
        assert_eq!(c.source, Source::Wasm { path: "/x.wasm".into(), sha256: sha });
        assert_eq!(c.options.limits.call_timeout_ms, 50);
        assert_eq!(c.options.limits.cpu_ms_per_sec, Some(100));
        assert_eq!(c.options.quota.max_objects, Some(3));
        assert_eq!(c.options.config_json, r#"{"namespace":"n"}"#);
        assert!(!c.options.durable);
    }

    #[test]
    fn refuses_bad_configs_with_the_reason() {
        for (text, why) in [
            ("not json", "expected"),
            (r#"{"root":"/r"}"#, "missing field `connector`"),
            (r#"{"connector":"builtin:fs"}"#, "missing field `root`"),
            (r#"{"connector":"other","root":"/r"}"#, "\"other\" is not a connector kvbox knows; expected \"builtin:fs\" or {\"wasm\""),
            (r#"{"connector":{"wasm":"/x.wasm"},"root":"/r"}"#, "`connector`: missing field `sha256`; expected \"builtin:fs\" or"),
            (
                r#"{"connector":7,"root":"/r"}"#,
                "`connector`: expected \"builtin:fs\" or {\"wasm\": \"/path/to/connector.wasm\", \"sha256\": \"<its 64 hex digits>\"}, got a number",
            ),
            ("[1,2]", "expected a JSON object, got an array"),
            (r#"{"connector":"builtin:fs","root":"/r","base_path":"/r"}"#, "`root` and `base_path` are one field"),
            (r#"{"connector":"builtin:fs","root":"/r","limits":{"call_timeout_ms":1,"callTimeoutMs":2}}"#, "are one setting: give one"),
            (r#"{"connector":{"wasm":"/x","sha256":"zz"},"root":"/r"}"#, "64 hex digits"),
            (r#"{"connector":"builtin:fs","root":"rel"}"#, "not an absolute path"),
            (r#"{"connector":"builtin:fs","root":"/r","limits":{"memory_byte":1}}"#, "limits.memoryByte is not known"),
            (r#"{"connector":"builtin:fs","root":"/r","limits":{"memory_bytes":"1"}}"#, "expected a number"),
            (r#"{"connector":"builtin:fs","root":"/r","quota":{"in_flight":0}}"#, "quota.inFlight must be an integer from 1"),
            (r#"{"connector":"builtin:fs","root":"/r","limits":{"max_instances":0}}"#, "maxInstances"),
            (r#"{"connector":"builtin:fs","root":"/r","config":[1]}"#, "must be a JSON object"),
            (r#"{"connector":"builtin:fs","root":"/r","extra":1}"#, "unknown field `extra`"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, Error::InvalidConfig(_)), "{text}: {err:?} is not an InvalidConfig");
            assert!(err.to_string().contains(why), "{text}: {err}");
        }
    }
}
