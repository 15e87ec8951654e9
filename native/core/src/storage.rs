//! Where a tenant's objects live: a local directory (the default) or a
//! prefix in an S3-compatible bucket shared by any number of kvbox nodes.
//! This file is the contract — the settings, their defaults and checks;
//! the backends are in [`crate::io`].
//!
//! Given as JSON (camelCase, unknown fields refused), so the Node binding,
//! the server's configuration and the C ABI pass one string through:
//! `{"kind":"s3","endpoint":"http://127.0.0.1:8333","bucket":"kv","prefix":"tenant-a",
//!   "credentials":{"accessKeyId":"…","secretAccessKey":"…"}}`.

use crate::{Error, Result};
use serde::Deserialize;

/// The backend of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Storage {
    /// The tenant's local directory (`OpenOptions::root`), locked by one open connector.
    #[default]
    Fs,
    /// A prefix in an S3-compatible bucket; no lock, many nodes at once.
    S3(S3Storage),
}

/// An S3-compatible object store, as one tenant sees it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Storage {
    /// `http://host:port` or `https://host:port` of the S3 API (path-style requests).
    pub endpoint: String,
    /// The bucket; it must exist (kvbox never creates or deletes buckets).
    pub bucket: String,
    /// The tenant's prefix in the bucket, without a leading or trailing `/`; `""` is the whole bucket.
    #[serde(default)]
    pub prefix: String,
    /// Signing region [`us-east-1`].
    #[serde(default = "default_region")]
    pub region: String,
    /// Access keys; absent: anonymous (unsigned) requests.
    #[serde(default)]
    pub credentials: Option<S3Credentials>,
    /// Longest one request may take, in milliseconds, retries excluded [30 000].
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Retries of a request that failed with a server error or a broken connection [2].
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// How often each node re-lists the prefix to learn what the other nodes stored, in milliseconds; 0: only at open [10 000].
    #[serde(default = "default_usage_refresh")]
    pub usage_refresh_ms: u64,
}

/// Static access keys.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_request_timeout() -> u64 {
    30_000
}
fn default_retries() -> u32 {
    2
}
fn default_usage_refresh() -> u64 {
    10_000
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Tagged {
    Fs {},
    S3(S3Storage),
}

impl Storage {
    /// Parses and checks a storage description (see the module docs).
    pub fn from_json(text: &str) -> Result<Self> {
        let bad = |m: String| Error::InvalidArgument(format!("storage: {m}"));
        let storage = match serde_json::from_str::<Tagged>(text).map_err(|e| bad(e.to_string()))? {
            Tagged::Fs {} => Storage::Fs,
            Tagged::S3(s3) => Storage::S3(s3),
        };
        if let Storage::S3(s3) = &storage {
            s3.validate().map_err(bad)?;
        }
        Ok(storage)
    }

    /// Whether a tenant on this storage may be served by several processes at once.
    pub fn is_shared(&self) -> bool {
        matches!(self, Storage::S3(_))
    }
}

impl S3Storage {
    /// Checks every field (done by [`Storage::from_json`]; again at open for values built in Rust).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let rest = self.endpoint.strip_prefix("http://").or_else(|| self.endpoint.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => {}
            _ => return Err(format!("endpoint must be an http:// or https:// URL, got {:?}", self.endpoint)),
        }
        // The S3 naming rules, loosened for self-hosted stores (upper case, underscores).
        let bucket_ok = (1..=255).contains(&self.bucket.len())
            && self.bucket.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            && !self.bucket.starts_with(['.', '-']);
        if !bucket_ok {
            return Err(format!("bucket must be 1–255 characters of letters, digits, '-', '.', '_', got {:?}", self.bucket));
        }
        if !self.prefix.is_empty() {
            let bad_segment =
                self.prefix.split('/').any(|s| s.is_empty() || s == "." || s == ".." || s.bytes().any(|b| b.is_ascii_control()));
            if bad_segment || self.prefix.len() > 512 {
                return Err(format!(
                    "prefix must be '/'-separated non-empty segments (no '.', '..', control characters; no leading or trailing '/'), at most 512 bytes, got {:?}",
                    self.prefix
                ));
            }
        }
        if let Some(c) = &self.credentials
            && (c.access_key_id.is_empty() || c.secret_access_key.is_empty())
        {
            return Err("credentials.accessKeyId and credentials.secretAccessKey must be non-empty".into());
        }
        if !(1..=3_600_000).contains(&self.request_timeout_ms) {
            return Err(format!("requestTimeoutMs must be from 1 to 3600000, got {}", self.request_timeout_ms));
        }
        if self.retries > 10 {
            return Err(format!("retries must be from 0 to 10, got {}", self.retries));
        }
        if self.usage_refresh_ms != 0 && self.usage_refresh_ms < 100 {
            return Err(format!("usageRefreshMs must be 0 (only at open) or at least 100, got {}", self.usage_refresh_ms));
        }
        Ok(())
    }

    /// `endpoint/bucket/prefix`, for messages (never the credentials).
    pub fn describe(&self) -> String {
        format!("s3 {}/{}/{}", self.endpoint.trim_end_matches('/'), self.bucket, self.prefix)
    }
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("credentials", &self.credentials.as_ref().map(|c| &c.access_key_id))
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("retries", &self.retries)
            .field("usage_refresh_ms", &self.usage_refresh_ms)
            .finish()
    }
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_with_defaults_and_fs() {
        let s = Storage::from_json(r#"{"kind":"s3","endpoint":"http://127.0.0.1:1","bucket":"b","prefix":"t/a"}"#).unwrap();
        let Storage::S3(s3) = s else { panic!() };
        assert_eq!((s3.region.as_str(), s3.retries, s3.usage_refresh_ms), ("us-east-1", 2, 10_000));
        assert_eq!(Storage::from_json(r#"{"kind":"fs"}"#).unwrap(), Storage::Fs);
    }

    #[test]
    fn refuses_bad_descriptions_naming_the_field() {
        for (json, says) in [
            (r#"{"kind":"nfs"}"#, "unknown variant"),
            (r#"{"kind":"s3","bucket":"b"}"#, "endpoint"),
            (r#"{"kind":"s3","endpoint":"ftp://x","bucket":"b"}"#, "endpoint must be"),
            (r#"{"kind":"s3","endpoint":"http://x","bucket":"a/b"}"#, "bucket must be"),
            (r#"{"kind":"s3","endpoint":"http://x","bucket":"b","prefix":"/a"}"#, "prefix must be"),
            (r#"{"kind":"s3","endpoint":"http://x","bucket":"b","prefix":"a/../b"}"#, "prefix must be"),
            (r#"{"kind":"s3","endpoint":"http://x","bucket":"b","bogus":1}"#, "unknown field"),
            (r#"{"kind":"s3","endpoint":"http://x","bucket":"b","credentials":{"accessKeyId":"","secretAccessKey":"s"}}"#, "credentials"),
            (r#"{"kind":"s3","endpoint":"http://x","bucket":"b","usageRefreshMs":5}"#, "usageRefreshMs"),
        ] {
            let err = Storage::from_json(json).unwrap_err();
            assert!(matches!(&err, Error::InvalidArgument(m) if m.contains(says)), "{json}: {err:?}");
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = Storage::from_json(
            r#"{"kind":"s3","endpoint":"http://x","bucket":"b","credentials":{"accessKeyId":"AK","secretAccessKey":"SECRET"}}"#,
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("SECRET"));
    }
}
