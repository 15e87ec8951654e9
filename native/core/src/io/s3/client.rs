//! The S3 client: one process-wide I/O runtime, the `object_store` client
//! built from a tenant's [`S3Storage`], running its futures from kvbox's
//! worker threads, and the one mapping of its errors to kvbox's.
//!
//! Remote I/O is bounded by the client (`requestTimeoutMs` per request,
//! `retries` on server errors and broken connections), not by a call's
//! deadline: like a local syscall, a request under way is never abandoned
//! half-way, so a put is stored whole or not at all.

use crate::storage::S3Storage;
use crate::{Error, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// The runtime driving every S3 connection of the process: two threads
/// (the work is waiting on sockets), started on first use.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // TLS for https endpoints: rustls with ring, installed once for the
        // process (a no-op when the embedding program installed one already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kvbox-s3")
            .enable_all()
            .build()
            .expect("kvbox: cannot start the S3 I/O runtime")
    })
}

/// Runs `fut` to completion from a kvbox worker thread (never from inside
/// an async task): it is polled here while the runtime's threads drive the
/// sockets and timers.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().handle().block_on(fut)
}

/// The client for one tenant's bucket.
pub fn build(s3: &S3Storage) -> Result<AmazonS3> {
    // The runtime's start installs the TLS provider the client's builder needs.
    runtime();
    let timeout = Duration::from_millis(s3.request_timeout_ms);
    let options = ClientOptions::new()
        .with_allow_http(s3.endpoint.starts_with("http://"))
        .with_timeout(timeout)
        .with_connect_timeout(timeout.min(Duration::from_secs(5)))
        .with_pool_max_idle_per_host(64);
    let retry = RetryConfig {
        backoff: BackoffConfig { init_backoff: Duration::from_millis(50), max_backoff: Duration::from_secs(2), base: 2.0 },
        max_retries: s3.retries as usize,
        retry_timeout: timeout.saturating_mul(s3.retries + 1),
    };
    let mut builder = AmazonS3Builder::new()
        .with_endpoint(s3.endpoint.trim_end_matches('/'))
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_client_options(options)
        .with_retry(retry);
    builder = match &s3.credentials {
        Some(c) => {
            let b = builder.with_access_key_id(&c.access_key_id).with_secret_access_key(&c.secret_access_key);
            match &c.session_token {
                Some(t) => b.with_token(t),
                None => b,
            }
        }
        // Anonymous: unsigned requests. (Without this the client would look
        // for credentials in the cloud's instance metadata service.)
        None => builder.with_skip_signature(true),
    };
    builder.build().map_err(|e| Error::InvalidArgument(format!("storage: {}: {e}", s3.describe())))
}

/// kvbox's error for a failed request about `what`. Server errors, broken
/// connections and timeouts (after the retries) are `Unavailable`, which a
/// caller may retry; refusals of the request itself are `Io`.
pub fn error(what: &str, e: object_store::Error) -> Error {
    use object_store::Error as E;
    // One line: a store's error body (XML) spans several.
    let flat = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    match e {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            Error::Io(flat(format!("{what}: the store refused the request (check storage.credentials and the bucket's policy): {e}")))
        }
        E::NotFound { .. } => Error::Io(flat(format!("{what}: not found: {e}"))),
        E::Generic { .. } => {
            let text = chain(&e);
            if is_client_refusal(&text) {
                Error::Io(flat(format!("{what}: the store refused the request: {text}")))
            } else {
                Error::Unavailable(flat(format!("{what}: the object store is unavailable: {text}")))
            }
        }
        other => Error::Io(flat(format!("{what}: {other}"))),
    }
}

/// An error's message with its causes, `a: b: c`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Whether the store answered with a 4xx (the request is wrong, retrying
/// will not help) — `object_store` keeps its status inside a private type,
/// so this reads its message.
fn is_client_refusal(text: &str) -> bool {
    ["status code: 4", "Server returned error response"].iter().any(|m| text.contains(m)) && !text.contains("status code: 408")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_refusals_apart_from_outages() {
        assert!(is_client_refusal("Error performing PUT … - Server returned non-2xx status code: 400 Bad Request: …"));
        assert!(!is_client_refusal("Error performing PUT … - Server returned non-2xx status code: 503 Service Unavailable"));
        assert!(!is_client_refusal("Error performing GET … after 2 retries - HTTP error: error sending request"));
    }
}
