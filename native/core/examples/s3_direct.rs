//! The baseline of `npm run bench:s3`: the store's own Rust client
//! (`object_store`, as kvbox's S3 backend uses it) doing the same work as a
//! kvbox row — `count` objects of `size` bytes, `concurrency` requests in
//! flight — with nothing of kvbox around it. Prints one JSON line:
//! `{"op":"put","seconds":…,"bytes":…}`. `put-if-new` puts with
//! `If-None-Match: *`, as kvbox's backend does for a new key.
//!
//! cargo run --release -p kvbox-core --example s3_direct -- \
//!   <endpoint> <bucket> <prefix> <access key> <secret key> <put|put-if-new|get> <size> <count> <concurrency>

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, bucket, prefix, key, secret, op, size, count, concurrency] = &args[..] else {
        eprintln!(
            "usage: s3_direct <endpoint> <bucket> <prefix> <access key> <secret key> <put|put-if-new|get> <size> <count> <concurrency>"
        );
        std::process::exit(2);
    };
    let (size, count, concurrency): (usize, usize, usize) = (size.parse().unwrap(), count.parse().unwrap(), concurrency.parse().unwrap());
    // As kvbox does (io/s3/client.rs): rustls with ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id(key)
            .with_secret_access_key(secret)
            .with_client_options(ClientOptions::new().with_allow_http(true).with_pool_max_idle_per_host(64))
            .build()
            .expect("client"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data = bytes::Bytes::from((0..size).map(|i| (i * 31) as u8).collect::<Vec<u8>>());
    let mode = match op.as_str() {
        "put" => Some(PutMode::Overwrite),
        "put-if-new" => Some(PutMode::Create),
        _ => None,
    };
    let started = Instant::now();
    let moved: usize = runtime.block_on(async {
        futures_util::stream::iter(0..count)
            .map(|i| {
                let (store, data, mode) = (store.clone(), data.clone(), mode.clone());
                let path = Path::from(format!("{prefix}/{i}"));
                async move {
                    if let Some(mode) = mode {
                        store
                            .put_opts(&path, PutPayload::from(data.clone()), PutOptions { mode, ..PutOptions::default() })
                            .await
                            .expect("put");
                        data.len()
                    } else {
                        store.get(&path).await.expect("get").bytes().await.expect("body").len()
                    }
                }
            })
            .buffer_unordered(concurrency)
            .fold(0, |sum, n| async move { sum + n })
            .await
    });
    println!("{{\"op\":\"{op}\",\"seconds\":{},\"bytes\":{moved}}}", started.elapsed().as_secs_f64());
}
