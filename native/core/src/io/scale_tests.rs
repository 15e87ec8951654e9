//! Measurements at scale, `#[ignore]`d (minutes of disk work; not part of
//! `npm test`). They print figures for `docs/security.md`; run with
//! `cargo test --release -p kvbox-core io::scale_tests -- --ignored --nocapture`.
//! `KVBOX_SCALE_OBJECTS` sets the object count (default 1 000 000) and
//! `KVBOX_SCALE_DIR` where the stores go (default `/var/tmp`, on disk).

use super::{DirOptions, ObjectDir};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn scratch() -> tempfile::TempDir {
    let base = std::env::var("KVBOX_SCALE_DIR").unwrap_or_else(|_| "/var/tmp".into());
    tempfile::tempdir_in(base).unwrap()
}

fn count_dirs(p: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                n += 1;
                stack.push(e.path());
            }
        }
    }
    n
}

fn timed_open(root: &Path, options: &DirOptions) -> f64 {
    let t = Instant::now();
    let d = ObjectDir::open_with(root, options).unwrap();
    let s = t.elapsed().as_secs_f64();
    drop(d);
    s
}

/// The repro of issue 16 item 5: a connector writing 20 chains of 1 990
/// nested directories under `quota.objects: 0`, then a reopen.
#[test]
#[ignore]
fn measure_directory_bomb_and_reopen() {
    let tmp = scratch();
    let opts = DirOptions { max_objects: Some(0), durable: false, ..DirOptions::default() };
    let d = ObjectDir::open_with(tmp.path(), &opts).unwrap();
    let t = Instant::now();
    let mut refused = 0;
    for chain in 0..20 {
        let path = format!("{chain:02}/{}o", "d/".repeat(1_990));
        refused += u32::from(d.write(&path, b"x").is_err());
    }
    let put_s = t.elapsed().as_secs_f64();
    drop(d);
    let dirs = count_dirs(tmp.path());
    let reopen = timed_open(tmp.path(), &opts);
    println!("bomb: 20 puts refused={refused} in {put_s:.3}s, directories left {dirs}, reopen {reopen:.3}s");

    // The same shape made behind the host's back (say by an older kvbox):
    // the open-time scan must still be linear in it.
    for chains in [20u32, 50] {
        let tree = scratch();
        for chain in 0..chains {
            let p: PathBuf = tree.path().join(format!("{chain:02}/{}", "d/".repeat(1_990)));
            std::fs::create_dir_all(p).unwrap();
        }
        let secs = timed_open(tree.path(), &DirOptions { durable: false, ..DirOptions::default() });
        println!("scan: {chains} chains x 1991 directories ({} dirs): open {secs:.3}s", chains * 1991);
    }
}

/// Open (scan) time of a tenant holding `KVBOX_SCALE_OBJECTS` objects in
/// the fs-connector's layout (256 shard directories).
#[test]
#[ignore]
fn measure_open_with_a_million_objects() {
    let n: u64 = std::env::var("KVBOX_SCALE_OBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let tmp = scratch();
    let t = Instant::now();
    for shard in 0..256u64 {
        let dir = tmp.path().join(format!("{shard:02x}"));
        std::fs::create_dir(&dir).unwrap();
        for i in (shard..n).step_by(256) {
            std::fs::write(dir.join(format!("model@1@0@{i:064x}@bfloat16.obj")), i.to_le_bytes()).unwrap();
        }
    }
    println!("made {n} objects in {:.1}s", t.elapsed().as_secs_f64());
    let opts = DirOptions { durable: false, ..DirOptions::default() };
    for round in 0..3 {
        let secs = timed_open(tmp.path(), &opts);
        println!("open #{round} of {n} objects: {secs:.3}s ({:.2} µs/object)", secs * 1e6 / n as f64);
    }
    let d = ObjectDir::open_with(tmp.path(), &opts).unwrap();
    assert_eq!(d.usage().objects, n);
}

/// What per-path serialization costs on the no-quota path: an uncontended
/// lock + unlock against the put it guards (small, non-durable, buffered:
/// the cheapest put there is), on one thread and on two.
#[test]
#[ignore]
fn measure_path_lock_cost() {
    let paths: Vec<String> = (0..4096).map(|i| format!("{:02x}/model@1@0@{i:064x}@bfloat16.obj", i % 256)).collect();
    let locks = super::path_lock::PathLocks::default();
    let rounds = 500;
    let per_lock = |threads: usize| {
        let t = Instant::now();
        std::thread::scope(|s| {
            for k in 0..threads {
                let (locks, paths) = (&locks, &paths);
                s.spawn(move || {
                    for _ in 0..rounds {
                        for p in paths.iter().skip(k).step_by(threads) {
                            drop(std::hint::black_box(locks.lock(p)));
                        }
                    }
                });
            }
        });
        t.elapsed().as_secs_f64() * 1e9 / (rounds * paths.len()) as f64 * threads as f64
    };
    let (one, two) = (per_lock(1), per_lock(2));
    let tmp = scratch();
    let d = ObjectDir::open_with(tmp.path(), &DirOptions { durable: false, direct_io: false, ..DirOptions::default() }).unwrap();
    let data = vec![7u8; 4096];
    for p in &paths {
        d.write(p, &data).unwrap(); // directories made, files exist: overwrites below
    }
    let t = Instant::now();
    for _ in 0..5 {
        for p in &paths {
            d.write(p, &data).unwrap();
        }
    }
    let put_ns = t.elapsed().as_secs_f64() * 1e9 / (5 * paths.len()) as f64;
    println!(
        "path lock: {one:.0} ns uncontended (1 thread), {two:.0} ns per lock per thread (2 threads); \
         4 KiB non-durable buffered put {:.1} µs: the lock is {:.2}% of it",
        put_ns / 1e3,
        100.0 * one / put_ns
    );
}
