//! The wasmtime engines of the process, their linkers, and the cache of
//! compiled components.
//!
//! Instances come from a **pooling allocator** ([`pool_config`]): memory
//! slots, tables and instance records reserved once, so opening a tenant
//! does not `mmap` a 4 GiB linear-memory reservation and `munmap` it again at
//! close (with the TLB shoot-downs that costs on every core); opt-in
//! (`KVBOX_KEEP_PAGES=1`), the pages a closed instance wrote are reset in
//! place for the slot's next instance ([`KEEP_RESIDENT`]) rather than
//! returned to the kernel and faulted in again.
//! The pool is bounded process-wide, so a second, on-demand engine (the
//! *spare*, made at first need) takes what the pool cannot hold: instances
//! past [`POOL_INSTANCES`], and components whose shape no slot fits (several
//! memories in one module, huge tables). Both engines compile identically
//! (same compatibility hash), so a component moves to the spare by
//! serialization, not a second compile. Both give each instance a copy of
//! the component's memory image; a component whose image is larger than
//! [`COPIED_IMAGE_BYTES`] is compiled for a third, on-demand engine (the
//! *images* engine) that maps it copy-on-write. `KVBOX_INSTANCE_POOL=0` turns the
//! pool off (for a process whose address space is capped, `ulimit -v`: the
//! pool reserves about 4 TiB of it, none of it committed); a pool that
//! cannot be reserved is skipped the same way.
//!
//! Compiled components are cached in memory and, when a cache directory is
//! given, on disk under `<sha256 of (the wasm's sha256 + the engine's compatibility hash)>.cwasm`.
//! Only files this host wrote are deserialized: the directory is created
//! 0700, files 0600, and a file that is not owned by this user, or that
//! group or others could have written, is ignored and rebuilt. The directory
//! is kept under [`DISK_CACHE_MAX_BYTES`]: writing an entry evicts the least
//! recently used others (a load from disk marks its file used), so rebuilding
//! a connector again and again (each build a new digest) cannot fill the disk.

use super::bindings::{Contract, Pre};
use super::state::Sandbox;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the resolution of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Where a compiled component came from on this load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Already compiled in this process.
    Memory,
    /// Deserialized from the on-disk cache.
    Disk,
    /// Compiled now.
    Compiled,
}

/// Component instances the pool holds at once, process-wide (a tenant
/// holds up to `limits.maxInstances` of them, 4 by default); past it, new
/// instances come from the spare engine.
pub const POOL_INSTANCES: u32 = 1000;

/// Core instances (and tables) per pooled component instance: a Rust
/// `wasm32-wasip2` connector has 3 core instances, a componentize-js one a
/// few more.
const POOL_CORE_PER_COMPONENT: u32 = 4;

/// Closed instances' memories returned to the kernel together, this many at
/// a time (per CPU shard), rather than one `madvise` and TLB shoot-down per
/// close: at most `cores × 15` closed slots stay committed until the next
/// batch. Only what [`KEEP_RESIDENT`] does not keep is returned.
const DECOMMIT_BATCH: usize = 16;

/// Of a closed instance's linear memory, the pages it wrote, up to this many
/// bytes, are reset in place (zeroed, the memory image copied back) and
/// stay resident for the slot's next instance, rather than returned to the
/// kernel and faulted in afresh: wasmtime finds them with Linux's
/// `PAGEMAP_SCAN`. The fs connector writes about 40 KiB of memory per open,
/// which was ≈ 8 page faults per open plus its share of a batched `madvise`
/// (docs/benchmarks.md, "Written pages kept resident"); a guest that writes
/// more keeps this much and has the rest returned. What this holds after
/// tenants close: at most this much per slot that was in use (so never more
/// than those tenants held while open); a slot's pages go when another
/// component takes it.
///
/// **Opt-in** (`KVBOX_KEEP_PAGES=1`), and then only where [`keeps_pages`]
/// says so. Wasmtime 48's scan finds *present* pages: a written page that is
/// not present when a closed instance is reset — swapped out, or in the
/// middle of a migration (memory compaction, which huge-page allocations
/// start; NUMA balancing), whose entry reads as swapped — is neither reset
/// nor returned, and the slot's next instance, maybe another tenant's, can
/// read it (upstream wasmtime#14357, open). Swap is checked; migration cannot
/// be, so this stays off unless a deployment's sandboxed connectors are
/// trusted not to read memory they did not write. And without the ioctl
/// wasmtime would zero the first bytes of every closed memory instead,
/// which for a Rust guest is stack it never touched.
///
/// Tables are never kept: a table page the same scan missed would hand the
/// next instance another instance's function references (lazily
/// initialised entries are used as found), a fault in the host, not only a
/// disclosure. That costs ≈ 4 µs of the saving (`instantiation_cost`:
/// 12.7 µs per instance with tables kept too, 16.7–17.8 without, 27–29
/// decommitting both).
const KEEP_RESIDENT: usize = 128 << 10;

/// Initialized data (the active data segments of all its core modules) up
/// to which a component lives on the main and spare engines, whose instances
/// each get a copy of it; a component with more (a componentize-js
/// connector carries a ≈ 10 MiB JavaScript engine) lives on the images
/// engine, which maps it copy-on-write instead.
///
/// Why copy: with copy-on-write, a page the guest reads and then writes is
/// swapped for a private copy, and that swap flushes the page from every
/// CPU running the process — an inter-processor interrupt to the JS thread
/// when it spins waiting for the call inline (`settle.rs`). On a 2-vCPU VM
/// that was ≈ 10 µs of each fs-connector open (docs/benchmarks.md, "Small
/// memory images copied"). Copying a large image costs more than that
/// (a componentize-js open: 0.9–1.2 ms mapped, 2.4–2.6 ms copied).
pub const COPIED_IMAGE_BYTES: u64 = 256 << 10;

/// Which engine a compiled component lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// The main engine: pooled when the runtime pools; images copied.
    Main,
    /// The spare (on-demand) engine: no pool slot fits the component (or the
    /// pool is full); images copied, so code moves here from the main one.
    Spare,
    /// The on-demand engine for images over [`COPIED_IMAGE_BYTES`], mapped
    /// copy-on-write; code is compiled for it (its settings differ).
    Images,
}

/// A component compiled, linked and checked against one contract version.
pub struct CompiledComponent {
    /// Linked on the engine it lives on (the main one; the spare when no
    /// pool slot fits it; the images engine for a large memory image).
    pub(crate) pre: Pre,
    /// The same component moved to the spare engine, the first time the
    /// pool was full when one of its instances was asked for.
    overflow: OnceLock<std::result::Result<Pre, String>>,
    /// sha256 of the wasm bytes and the engine's compatibility hash, hex:
    /// the compiled-code cache key.
    pub digest: String,
    /// sha256 of the wasm bytes alone, hex: what deployments pin.
    pub sha256: String,
}

impl CompiledComponent {
    /// The contract version the component targets, `0.1.0`.
    pub fn contract_version(&self) -> &'static str {
        self.pre.contract().version()
    }
}

/// An engine and the linker made for it.
struct Lane {
    engine: Engine,
    linker: Linker<Sandbox>,
}

impl Lane {
    /// An engine that pools instances (with `pool`) or makes them on demand,
    /// and initializes memories by copying the image or (`cow`) by mapping
    /// it copy-on-write. Compiled code depends on `cow`, not on `pool`.
    fn new(pool: Option<PoolingAllocationConfig>, cow: bool) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.memory_init_cow(cow);
        if let Some(pool) = pool {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        super::bindings::add_to_linker(&mut linker)?;
        Ok(Self { engine, linker })
    }
}

/// Whether closed instances' written pages may stay resident
/// ([`KEEP_RESIDENT`]): `PAGEMAP_SCAN` works here (Linux 6.7 and later,
/// `/proc/self/pagemap` readable) and the host has no swap (`swap_kib`,
/// from `/proc/meminfo`; unreadable counts as swap).
fn keeps_pages(scan_works: bool, swap_kib: Option<u64>) -> bool {
    scan_works && swap_kib == Some(0)
}

/// Whether Linux's `PAGEMAP_SCAN` ioctl answers here (wasmtime's own probe).
fn pagemap_scan_works() -> bool {
    PoolingAllocationConfig::is_pagemap_scan_available()
}

/// The host's swap in KiB (`SwapTotal` of `/proc/meminfo`), if readable.
fn swap_kib() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("SwapTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Set (for good) when swap appeared after the pool started keeping pages:
/// from then on no new instance takes a pool slot ([`Runtime::pool_usable`]).
static SWAP_APPEARED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How many epoch ticks apart the ticker looks for swap (about a second).
const SWAP_CHECK_TICKS: u32 = 200;

/// The pool's shape: [`POOL_INSTANCES`] component instances, each with up to
/// [`POOL_CORE_PER_COMPONENT`] core instances and tables, one memory per
/// module (wasmtime's default), memories up to 4 GiB (all of wasm32; the
/// tenant's `limits.memoryBytes` still caps them through the limiter),
/// with `keep`, written pages reset in place ([`KEEP_RESIDENT`]), the rest
/// decommitted in batches ([`DECOMMIT_BATCH`]).
fn pool_config(keep: bool) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * POOL_CORE_PER_COMPONENT)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES * POOL_CORE_PER_COMPONENT)
        .total_stacks(0)
        .max_memory_size(1 << 32)
        .decommit_batch_size(DECOMMIT_BATCH);
    if keep {
        pool.linear_memory_keep_resident(KEEP_RESIDENT).pagemap_scan(wasmtime::Enabled::Yes);
    }
    pool
}

/// Where the next instance of a component is asked for.
pub(crate) struct Slot<'a> {
    /// The component, linked on the engine the instance comes from.
    pub(crate) pre: &'a Pre,
    /// Whether that engine pools: then a full pool is not an error, and the
    /// caller asks [`Runtime::overflow`] for the spare.
    pub(crate) pooled: bool,
}

/// The engines, their linkers and the compiled-component cache.
pub struct Runtime {
    /// The engine components are compiled on: pooled unless the pool is off
    /// or could not be reserved.
    main: Lane,
    pooled: bool,
    /// Whether the pool keeps closed instances' written pages ([`keeps_pages`]).
    keeps_pages: bool,
    /// The on-demand engine for what the pool cannot hold (only when `main`
    /// pools), made at first need; shared with the epoch ticker.
    spare: Arc<OnceLock<std::result::Result<Lane, String>>>,
    /// The on-demand engine for components with large memory images
    /// ([`Home::Images`]), made at first need; shared with the epoch ticker.
    images: Arc<OnceLock<std::result::Result<Lane, String>>>,
    /// Components compiled in this process, by the sha256 of their bytes,
    /// while anything still uses them
    /// (a loaded component or an open connector): weak, so loading many
    /// distinct components (fuzzing, churn of connector versions) does not
    /// keep their machine code forever.
    compiled: Mutex<HashMap<String, Weak<CompiledComponent>>>,
}

impl Runtime {
    /// The process-wide runtime, created on first use.
    pub fn global() -> Result<&'static Runtime> {
        static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
        RUNTIME.get_or_init(|| Runtime::new().map_err(|e| format!("{e:#}"))).as_ref().map_err(|e| Error::Load(e.clone()))
    }

    fn new() -> wasmtime::Result<Self> {
        let wanted = match std::env::var("KVBOX_INSTANCE_POOL") {
            Err(_) => true,
            Ok(v) => match v.trim() {
                "1" => true,
                "0" => false,
                other => wasmtime::bail!("KVBOX_INSTANCE_POOL must be 0 (no instance pool) or 1 (the default), not {other:?}"),
            },
        };
        let keep_wanted = match std::env::var("KVBOX_KEEP_PAGES") {
            Err(_) => false,
            Ok(v) => match v.trim() {
                "0" => false,
                "1" => true,
                other => {
                    wasmtime::bail!("KVBOX_KEEP_PAGES must be 0 (the default) or 1 (keep closed instances' written pages), not {other:?}")
                }
            },
        };
        // A pool that cannot be reserved (a capped address space) is skipped.
        let keep = wanted && keep_wanted && keeps_pages(pagemap_scan_works(), swap_kib());
        let pooled = if wanted { Lane::new(Some(pool_config(keep)), false).ok() } else { None };
        let (main, pooled) = match pooled {
            Some(lane) => (lane, true),
            None => (Lane::new(None, false)?, false),
        };
        let keeps_pages = pooled && keep;
        let spare: Arc<OnceLock<std::result::Result<Lane, String>>> = Arc::default();
        let images: Arc<OnceLock<std::result::Result<Lane, String>>> = Arc::default();
        let (ticker, later) = (main.engine.clone(), [spare.clone(), images.clone()]);
        std::thread::Builder::new().name("kvbox-epoch".into()).spawn(move || {
            let mut ticks = 0u32;
            loop {
                std::thread::sleep(EPOCH_TICK);
                ticker.increment_epoch();
                for lane in &later {
                    if let Some(Ok(lane)) = lane.get() {
                        lane.engine.increment_epoch();
                    }
                }
                ticks = ticks.wrapping_add(1);
                if keeps_pages && ticks.is_multiple_of(SWAP_CHECK_TICKS) && !SWAP_APPEARED.load(Ordering::Relaxed) && swap_kib() != Some(0)
                {
                    SWAP_APPEARED.store(true, Ordering::Relaxed);
                }
            }
        })?;
        Ok(Self { main, pooled, keeps_pages, spare, images, compiled: Mutex::default() })
    }

    /// Whether instances come from the pooling allocator first.
    pub fn pooled(&self) -> bool {
        self.pooled
    }

    /// Whether the pool keeps closed instances' written pages resident.
    pub fn keeps_pages(&self) -> bool {
        self.keeps_pages
    }

    /// Whether a new instance may take a pool slot: not once swap appeared
    /// while the pool keeps pages (checked about every second; until a
    /// restart, instances then come from the spare engine). A page swapped
    /// out in the second before would still reach a later instance of that
    /// slot: swap is enabled before kvbox starts, not while it runs.
    pub(crate) fn pool_usable(&self) -> bool {
        !(self.keeps_pages && SWAP_APPEARED.load(Ordering::Relaxed))
    }

    fn lane(&self, home: Home) -> Result<&Lane> {
        let (later, cow) = match home {
            Home::Main => return Ok(&self.main),
            Home::Spare => (&self.spare, false),
            Home::Images => (&self.images, true),
        };
        later
            .get_or_init(|| Lane::new(None, cow).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| Error::Load(format!("the on-demand engine could not be made: {e}")))
    }

    /// Where the next instance of `component` is asked for.
    pub(crate) fn slot<'a>(&self, component: &'a CompiledComponent) -> Slot<'a> {
        let pre = &component.pre;
        Slot { pre, pooled: self.pooled && Engine::same(pre.engine(), &self.main.engine) }
    }

    /// The spare engine and `component` moved to it (made at first need),
    /// for an instance the full pool refused.
    pub(crate) fn overflow<'a>(&'a self, component: &'a CompiledComponent) -> Result<Slot<'a>> {
        let lane = self.lane(Home::Spare)?;
        let pre = component.overflow.get_or_init(|| {
            let bytes = component.pre.component().serialize().map_err(|e| format!("{e:#}"))?;
            // SAFETY: the bytes were serialized just now, in this process, by
            // an engine with the same compilation settings (the main and
            // spare lanes differ only in the instance allocator, which
            // compiled code does not depend on; `deserialize` re-checks the
            // compatibility hash).
            let moved = unsafe { Component::deserialize(&lane.engine, &bytes) }.map_err(|e| format!("{e:#}"))?;
            let pre = lane.linker.instantiate_pre(&moved).map_err(|e| format!("{e:#}"))?;
            Pre::new(component.pre.contract(), pre).map_err(|e| e.to_string())
        });
        let pre = pre.as_ref().map_err(|e| Error::Load(format!("the component could not be moved to the on-demand engine: {e}")))?;
        Ok(Slot { pre, pooled: false })
    }

    /// Compiles (or finds compiled) `wasm`, finds the contract version it
    /// targets, links it and checks its exports against that version.
    pub fn load(&self, wasm: &[u8], cache_dir: Option<&Path>) -> Result<(Arc<CompiledComponent>, Origin)> {
        check_header(wasm)?;
        let sha256 = hex::encode(Sha256::digest(wasm));
        // In one process the same bytes always land on the same engine, so
        // their hash alone finds them (no second pass over a large component).
        if let Some(c) = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&sha256).and_then(Weak::upgrade) {
            return Ok((c, Origin::Memory));
        }
        let first = home_for(wasm);
        let digest = self.digest(&sha256, self.lane(first)?);
        let ((component, home), origin) = match cache_dir {
            Some(dir) => self.through_disk_cache(wasm, dir, &digest, first)?,
            None => (self.compile_and_place(wasm, first)?.1, Origin::Compiled),
        };
        let lane = self.lane(home)?;
        let contract = Contract::detect(&component, &lane.engine)?;
        let pre = lane.linker.instantiate_pre(&component).map_err(|e| {
            Error::Load(format!(
                "the component (built for kvbox:connector@{}) imports something the sandbox does not provide: {e:#}",
                contract.version()
            ))
        })?;
        let pre = Pre::new(contract, pre)?;
        let compiled = Arc::new(CompiledComponent { pre, overflow: OnceLock::new(), digest, sha256: sha256.clone() });
        let mut cache = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, c| c.strong_count() > 0);
        cache.insert(sha256, Arc::downgrade(&compiled));
        Ok((compiled, origin))
    }

    /// The compiled-code cache key: the wasm's sha256 (hex) and the
    /// compatibility hash of the engine it is compiled for, hashed together.
    fn digest(&self, sha256: &str, lane: &Lane) -> String {
        struct ShaHasher(Sha256);
        impl Hasher for ShaHasher {
            fn finish(&self) -> u64 {
                0
            }
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
        }
        let mut h = ShaHasher(Sha256::new());
        h.0.update(sha256.as_bytes());
        lane.engine.precompile_compatibility_hash().hash(&mut h);
        hex::encode(h.0.finalize())
    }

    /// The component's compiled code for the engine of `first` (serialized;
    /// nothing loaded yet).
    fn compile(&self, wasm: &[u8], first: Home) -> Result<Vec<u8>> {
        let engine = &self.lane(first)?.engine;
        engine.precompile_component(wasm).map_err(|e| Error::Load(format!("not a valid WebAssembly component: {e:#}")))
    }

    /// Loads compiled code (with `load`) on the engine of `first`; for the
    /// main engine, when no pool slot fits it (the pool checks a component's
    /// shape as it loads: several memories in one module, huge tables, big
    /// instance records), on the spare.
    fn place(&self, load: impl Fn(&Engine) -> wasmtime::Result<Component>, first: Home) -> Result<(Component, Home)> {
        if first != Home::Main {
            let c =
                load(&self.lane(first)?.engine).map_err(|e| Error::Load(format!("the compiled component could not be loaded: {e:#}")))?;
            return Ok((c, first));
        }
        match load(&self.main.engine) {
            Ok(c) => Ok((c, Home::Main)),
            Err(_) if self.pooled => {
                let c = load(&self.lane(Home::Spare)?.engine)
                    .map_err(|e| Error::Load(format!("the compiled component could not be loaded: {e:#}")))?;
                Ok((c, Home::Spare))
            }
            Err(e) => Err(Error::Load(format!("the compiled component could not be loaded: {e:#}"))),
        }
    }

    /// Compiles `wasm` and loads it where it fits.
    fn compile_and_place(&self, wasm: &[u8], first: Home) -> Result<(Vec<u8>, (Component, Home))> {
        let code = self.compile(wasm, first)?;
        // SAFETY: `code` was compiled just now by this engine configuration;
        // `deserialize` re-checks the compatibility hash.
        let placed = self.place(|engine| unsafe { Component::deserialize(engine, &code) }, first)?;
        Ok((code, placed))
    }

    fn through_disk_cache(&self, wasm: &[u8], dir: &Path, digest: &str, first: Home) -> Result<((Component, Home), Origin)> {
        let file = dir.join(format!("{digest}.cwasm"));
        if trusted(dir) && trusted(&file) {
            // SAFETY: the file was written by this host (see `trusted`): its
            // bytes come from `precompile_component` of this engine
            // configuration, which `deserialize_file` re-checks.
            if let Ok(placed) = self.place(|engine| unsafe { Component::deserialize_file(engine, &file) }, first) {
                // Recently used, for eviction (best effort).
                let _ = std::fs::File::options().write(true).open(&file).and_then(|f| f.set_modified(std::time::SystemTime::now()));
                return Ok((placed, Origin::Disk));
            }
        }
        let (code, placed) = self.compile_and_place(wasm, first)?;
        // A cache that cannot be written only costs the next process a compile.
        if write_cache(dir, &file, &code).is_ok() {
            let _ = evict(dir, &file, DISK_CACHE_MAX_BYTES);
        }
        Ok((placed, Origin::Compiled))
    }
}

/// The engine a component is compiled for, by the size of its memory image.
fn home_for(wasm: &[u8]) -> Home {
    if image_bytes(wasm) > COPIED_IMAGE_BYTES { Home::Images } else { Home::Main }
}

/// Bytes of initialized data in `wasm`: the active data segments of every
/// core module in it (what an instance's memory image holds). Malformed
/// input counts what was read before the fault; compiling reports it.
fn image_bytes(wasm: &[u8]) -> u64 {
    let mut total = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::DataSection(reader)) => {
                for data in reader.into_iter().map_while(std::result::Result::ok) {
                    if matches!(data.kind, wasmparser::DataKind::Active { .. }) {
                        total += data.data.len() as u64;
                    }
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    total
}

/// Refuses anything that is not a component before the compiler sees it,
/// with a message that says what it is instead.
fn check_header(wasm: &[u8]) -> Result<()> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(Error::Load("not WebAssembly: the bytes do not start with the \\0asm header".into()));
    }
    if wasm[4..8] == [1, 0, 0, 0] {
        return Err(Error::Load(
            "a core WebAssembly module, not a component: build for wasm32-wasip2, or wrap it with `jco new` / `wasm-tools component new`"
                .into(),
        ));
    }
    Ok(())
}

/// Owned by this user and writable by nobody else.
fn trusted(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        // SAFETY: geteuid has no preconditions.
        Ok(m) => m.uid() == unsafe { libc::geteuid() } && m.mode() & 0o022 == 0 && !m.file_type().is_symlink(),
        Err(_) => false,
    }
}

/// Most bytes of compiled components kept in a disk cache directory.
pub const DISK_CACHE_MAX_BYTES: u64 = 1 << 30;

/// Removes the least recently used `.cwasm` files of `dir` (by modification
/// time) until the rest fit in `cap` bytes, never `keep` (just written). A
/// process that has one loaded keeps its mapping; the next one recompiles.
fn evict(dir: &Path, keep: &Path, cap: u64) -> std::io::Result<()> {
    let mut files = Vec::new();
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "cwasm") {
            continue;
        }
        // Gone meanwhile (another process evicting too): not ours to count.
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(modified) = meta.modified() else { continue };
        total += meta.len();
        files.push((modified, meta.len(), path));
    }
    files.sort();
    for (_, len, path) in files {
        if total <= cap {
            break;
        }
        if path != keep && std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
    Ok(())
}

fn write_cache(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = dir.join(format!(".kvbox-tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    std::io::Write::write_all(&mut f, bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_names_what_it_got() {
        assert!(matches!(check_header(b"hello world"), Err(Error::Load(m)) if m.contains("not WebAssembly")));
        assert!(matches!(check_header(b"\0asm\x01\0\0\0"), Err(Error::Load(m)) if m.contains("core WebAssembly module")));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn malformed_components_are_load_errors() {
        let rt = Runtime::global().unwrap();
        let mut bad = b"\0asm\x0d\0\x01\0".to_vec();
        bad.extend_from_slice(&[0xff; 64]);
        assert!(matches!(rt.load(&bad, None), Err(Error::Load(_))));
    }

    #[test]
    fn untrusted_cache_files_are_not_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("x.cwasm");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
        assert!(!trusted(&f));
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        assert!(trusted(&f));
        assert!(!trusted(&tmp.path().join("missing")));
    }

    #[test]
    fn the_disk_cache_evicts_the_least_recently_used_past_its_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        for (i, name) in ["old", "mid", "new", "kept"].iter().enumerate() {
            let f = tmp.path().join(format!("{name}.cwasm"));
            std::fs::write(&f, vec![0u8; 1000]).unwrap();
            let when = t0 + std::time::Duration::from_secs(10 * i as u64);
            std::fs::File::options().write(true).open(&f).unwrap().set_modified(when).unwrap();
        }
        std::fs::write(tmp.path().join("other.txt"), vec![0u8; 5000]).unwrap();
        // "kept" is the entry just written (never evicted), "old" is the oldest.
        let kept = tmp.path().join("kept.cwasm");
        std::fs::File::options().write(true).open(&kept).unwrap().set_modified(t0 - std::time::Duration::from_secs(1)).unwrap();
        evict(tmp.path(), &kept, 2500).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["kept.cwasm", "new.cwasm", "other.txt"]);
        evict(tmp.path(), &kept, 1 << 20).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 3, "under the cap nothing goes");
    }

    /// A guest built by `npm install` (`npm run build:guests`).
    fn guest(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../guests/dist/{name}.wasm"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (npm run build:guests makes it)", path.display()))
    }

    #[test]
    fn components_no_pool_slot_fits_live_on_the_spare_engine() {
        let rt = Runtime::global().unwrap();
        if !rt.pooled() {
            eprintln!("no instance pool here (KVBOX_INSTANCE_POOL=0, or the address space is capped): every component is on one engine");
        }
        let (fs, _) = rt.load(&guest("fs-connector"), None).unwrap();
        let (memories, _) = rt.load(&guest("hostile-memories"), None).unwrap();
        assert!(Engine::same(fs.pre.engine(), &rt.main.engine));
        // Several memories in one module: a pool slot holds one per module.
        assert_eq!(Engine::same(memories.pre.engine(), &rt.main.engine), !rt.pooled());
        assert!(!rt.slot(&memories).pooled);
        assert_eq!(rt.slot(&fs).pooled, rt.pooled());
    }

    /// A component of one core module whose memory holds `image` bytes of
    /// initialized data (no exports: it compiles, it is no connector).
    fn with_image(image: usize) -> Vec<u8> {
        with_segments(image, 0)
    }

    /// The same with `passive` more bytes in a passive segment (copied by
    /// `memory.init` at run time, never part of the image).
    fn with_segments(image: usize, passive: usize) -> Vec<u8> {
        use wasm_encoder::{ConstExpr, DataSection, MemorySection, MemoryType, Module, ModuleSection};
        let mut module = Module::new();
        let pages = (image as u64).div_ceil(65536).max(1);
        let mut memory = MemorySection::new();
        memory.memory(MemoryType { minimum: pages, maximum: None, memory64: false, shared: false, page_size_log2: None });
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::i32_const(0), vec![7u8; image]);
        data.passive(vec![9u8; passive]);
        module.section(&memory);
        module.section(&data);
        let mut component = wasm_encoder::Component::new();
        component.section(&ModuleSection(&module));
        component.finish()
    }

    #[test]
    fn large_memory_images_are_mapped_small_ones_copied() {
        let rt = Runtime::global().unwrap();
        let fs = guest("fs-connector");
        let small = image_bytes(&fs);
        assert!(small > 0 && small <= COPIED_IMAGE_BYTES, "the fs connector's image is {small} bytes: copied");
        let big = with_image(COPIED_IMAGE_BYTES as usize + 1);
        assert_eq!(image_bytes(&big), COPIED_IMAGE_BYTES + 1);
        assert_eq!(image_bytes(&with_image(4096)), 4096);
        assert_eq!(image_bytes(&with_segments(4096, 1 << 20)), 4096, "passive segments are no part of the image");
        assert_eq!(image_bytes(b"\0asm\x0d\0\x01\0\xff\xff"), 0, "malformed input counts nothing");
        assert_eq!(home_for(&fs), Home::Main);
        assert_eq!(home_for(&big), Home::Images);
        assert_eq!(home_for(&with_segments(4096, 1 << 20)), Home::Main);
        // Through the disk cache too: compiled for the images engine, then read back onto it.
        let tmp = tempfile::tempdir().unwrap();
        let digest = rt.digest(&hex::encode(Sha256::digest(&big)), rt.lane(Home::Images).unwrap());
        for want in [Origin::Compiled, Origin::Disk] {
            let ((component, home), origin) = rt.through_disk_cache(&big, tmp.path(), &digest, Home::Images).unwrap();
            assert_eq!((home, origin), (Home::Images, want));
            assert!(Engine::same(component.engine(), &rt.lane(Home::Images).unwrap().engine));
        }
        // Each compiles for, and loads on, its own engine: copying and copy-on-write code differ.
        let (_, (component, home)) = rt.compile_and_place(&big, Home::Images).unwrap();
        assert_eq!(home, Home::Images);
        assert!(Engine::same(component.engine(), &rt.lane(Home::Images).unwrap().engine));
        assert!(rt.lane(Home::Images).unwrap().engine.get_memory_init_cow());
        assert!(!rt.main.engine.get_memory_init_cow());
        let (loaded, _) = rt.load(&fs, None).unwrap();
        assert!(Engine::same(loaded.pre.engine(), &rt.main.engine));
        // The compiled-code cache key differs by engine, so neither finds the other's code.
        let sha = hex::encode(Sha256::digest(&fs));
        assert_ne!(rt.digest(&sha, &rt.main), rt.digest(&sha, rt.lane(Home::Images).unwrap()));
    }

    /// The sandbox's own cost of a tenant's instance, pooled against
    /// on-demand, interleaved in one process: instantiate and run the
    /// guest's `open` (as `WasmConnector` does), then drop the store.
    /// `cargo test --release -p kvbox-core instantiation_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a benchmark: prints figures, asserts nothing about them"]
    fn instantiation_cost() {
        use crate::io::storage;
        use crate::{Limits, OpenOptions};
        use std::time::Instant;
        use wasmtime::Store;
        let decommitted = pool_config(false);
        let mut at_once = decommitted.clone();
        at_once.decommit_batch_size(1);
        let mut memset = decommitted.clone();
        memset.linear_memory_keep_resident(2 << 20).table_keep_resident(1 << 16).pagemap_scan(wasmtime::Enabled::No);
        let wasm = guest("fs-connector");
        let lanes: Vec<(&str, Lane, Pre)> = [
            ("pooled, written pages kept (opt-in)", Some(pool_config(true)), false),
            ("the same, image copy-on-write", Some(pool_config(true)), true),
            ("pooled, decommit in batches (default)", Some(decommitted), false),
            ("pooled, decommit at once", Some(at_once), false),
            ("pooled, first 2 MiB memset", Some(memset), false),
            ("on demand (no pool)", None, false),
        ]
        .into_iter()
        .map(|(name, pool, cow)| {
            let lane = Lane::new(pool, cow).unwrap();
            let c = Component::new(&lane.engine, &wasm).unwrap();
            let pre = Pre::new(Contract::detect(&c, &lane.engine).unwrap(), lane.linker.instantiate_pre(&c).unwrap()).unwrap();
            (name, lane, pre)
        })
        .collect();
        let tmp = tempfile::tempdir().unwrap();
        let options = OpenOptions::new(tmp.path());
        let io = storage::open(&options).unwrap();
        let limits = Arc::new(Limits::default());
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut samples: Vec<(Vec<f64>, Vec<f64>)> = vec![Default::default(); lanes.len()];
        for round in 0..9 {
            for i in 0..lanes.len() {
                let i = if round % 2 == 1 { lanes.len() - 1 - i } else { i };
                let (_, lane, pre) = &lanes[i];
                let (mut up, mut down) = (Vec::new(), Vec::new());
                for _ in 0..300 {
                    let t = Instant::now();
                    let mut store = Store::new(&lane.engine, Sandbox::new(io.clone(), Arc::default(), limits.clone()));
                    store.limiter(|s| &mut s.limiter);
                    store.set_epoch_deadline(1);
                    let guest = pre.instantiate(&mut store).unwrap();
                    guest.open(&mut store, &options.config_json).unwrap().unwrap();
                    let t2 = Instant::now();
                    drop((guest, store));
                    up.push((t2 - t).as_secs_f64() * 1e6);
                    down.push(t2.elapsed().as_secs_f64() * 1e6);
                }
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
                samples[i].0.push(mean(&up));
                samples[i].1.push(mean(&down));
            }
        }
        for ((name, ..), (up, down)) in lanes.iter().zip(samples) {
            println!(
                "{name:>36}: instantiate + open {:6.1} µs, drop {:5.1} µs (mean of 300, median of 9 rounds)",
                median(up),
                median(down)
            );
        }
    }

    #[test]
    fn keeps_pages_only_with_the_scan_and_no_swap() {
        assert!(keeps_pages(true, Some(0)));
        assert!(!keeps_pages(true, Some(1)), "swap: a swapped-out written page would escape the reset");
        assert!(!keeps_pages(true, None), "unknown swap counts as swap");
        assert!(!keeps_pages(false, Some(0)), "no PAGEMAP_SCAN: wasmtime would zero the first bytes instead");
        // This host: what the probe and /proc/meminfo say, and what the runtime did with it (opt-in).
        let here = keeps_pages(pagemap_scan_works(), swap_kib());
        let rt = Runtime::global().unwrap();
        let opted = std::env::var("KVBOX_KEEP_PAGES").is_ok_and(|v| v.trim() == "1");
        assert_eq!(rt.keeps_pages(), rt.pooled() && opted && here);
        eprintln!("PAGEMAP_SCAN {}, swap {:?} KiB: pages kept {}", pagemap_scan_works(), swap_kib(), rt.keeps_pages());
    }

    /// A pool of one memory slot, so every instance reuses it: a secret one
    /// instance writes (into its image, fresh pages and grown memory) is gone
    /// for the next — with the written pages kept (when this host allows it:
    /// then writing them again takes no page fault, so the in-place reset is
    /// what ran) and without.
    #[test]
    fn a_reused_slot_holds_nothing_of_the_last_instance() {
        use wasm_encoder::{
            CodeSection, ConstExpr, DataSection, ExportKind, ExportSection, Function, FunctionSection, MemArg, MemorySection, MemoryType,
            TypeSection, ValType,
        };
        use wasmtime::{Instance, Module, Store};
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32, ValType::I64], []);
        types.ty().function([ValType::I32], [ValType::I64]);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        funcs.function(1);
        let mut memory = MemorySection::new();
        memory.memory(MemoryType { minimum: 4, maximum: None, memory64: false, shared: false, page_size_log2: None });
        let mut exports = ExportSection::new();
        exports.export("store", ExportKind::Func, 0).export("load", ExportKind::Func, 1).export("memory", ExportKind::Memory, 0);
        let arg = MemArg { offset: 0, align: 3, memory_index: 0 };
        let mut code = CodeSection::new();
        let mut store_fn = Function::new([]);
        store_fn.instructions().local_get(0).local_get(1).i64_store(arg).end();
        let mut load_fn = Function::new([]);
        load_fn.instructions().local_get(0).i64_load(arg).end();
        code.function(&store_fn).function(&load_fn);
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::i32_const(0), vec![7u8; 64]);
        let mut module = wasm_encoder::Module::new();
        module.section(&types).section(&funcs).section(&memory).section(&exports).section(&code).section(&data);
        let wasm = module.finish();

        const SECRET: i64 = 0x5ec2_e7a5_5ec2_e7a5;
        let image = i64::from_le_bytes([7; 8]);
        let written = [0u32, 65536 + 8, 3 * 65536 + 100, 4 * 65536 + 8]; // image, fresh pages, a grown page
        let faults = || {
            let mut usage = unsafe { std::mem::zeroed::<libc::rusage>() };
            // SAFETY: a plain libc call filling a local struct.
            unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
            usage.ru_minflt
        };
        let here = keeps_pages(pagemap_scan_works(), swap_kib());
        for keep in [false, here] {
            let mut pool = pool_config(keep);
            pool.total_memories(1).total_core_instances(1).total_component_instances(1).total_tables(1);
            let mut config = Config::new();
            config.memory_init_cow(false).allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            let engine = Engine::new(&config).unwrap();
            let module = Module::new(&engine, &wasm).unwrap();
            for round in 0..3 {
                let mut store = Store::new(&engine, ());
                let instance = Instance::new(&mut store, &module, &[]).unwrap();
                let put = instance.get_typed_func::<(u32, i64), ()>(&mut store, "store").unwrap();
                let get = instance.get_typed_func::<u32, i64>(&mut store, "load").unwrap();
                let mem = instance.get_memory(&mut store, "memory").unwrap();
                assert_eq!(mem.size(&store), 4, "round {round}: grown memory is not carried over");
                mem.grow(&mut store, 1).unwrap();
                for (i, &at) in written.iter().enumerate() {
                    let want = if i == 0 { image } else { 0 };
                    assert_eq!(
                        get.call(&mut store, at).unwrap(),
                        want,
                        "keep {keep}, round {round}: address {at:#x} holds the last instance's secret"
                    );
                }
                put.call(&mut store, (written[0], SECRET)).unwrap(); // the image page; `put` has run once
                let before = faults();
                for &at in &written[1..3] {
                    put.call(&mut store, (at, SECRET)).unwrap();
                }
                let took = faults() - before;
                if round > 0 {
                    // Pages kept resident take no fault when written again; returned ones do.
                    assert_eq!(took == 0, keep, "keep {keep}, round {round}: {took} page faults writing two written-before pages");
                }
                put.call(&mut store, (written[3], SECRET)).unwrap();
            }
        }
        if !here {
            eprintln!("PAGEMAP_SCAN missing or swap on: only the decommitting pool was checked");
        }
    }

    #[test]
    fn instances_past_the_pool_come_from_the_spare_engine() {
        use crate::{Cancel, ConnectorKind, OpenOptions, Tenant};
        let rt = Runtime::global().unwrap();
        // About four descriptors per open tenant (the root, which holds the lock; cached shard
        // directories): raise the soft limit as Node does at start-up.
        let need = 8 * u64::from(POOL_INSTANCES + 3);
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: plain libc calls on a local struct.
        unsafe {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            if lim.rlim_cur < need {
                lim.rlim_cur = lim.rlim_max.min(need);
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
        if lim.rlim_cur < need {
            eprintln!(
                "skipped: {} tenants need ~{need} descriptors and the hard limit (ulimit -Hn) is {}",
                POOL_INSTANCES + 3,
                lim.rlim_max
            );
            return;
        }
        // A component of its own (the fs connector of the older contract), so
        // that whether *it* overflowed does not depend on the other tests.
        let (c, _) = rt.load(&guest("fs-connector-contract-0-1"), None).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let open = |i: u32| {
            let tenant = Tenant::open(ConnectorKind::Wasm(c.clone()), &OpenOptions::new(tmp.path().join(i.to_string()))).unwrap();
            tenant.admit("put").unwrap().put("k", &i.to_le_bytes(), &Cancel::never()).unwrap();
            tenant
        };
        let tenants: Vec<Tenant> = (0..POOL_INSTANCES + 2).map(open).collect();
        assert_eq!(c.overflow.get().is_some_and(|moved| moved.is_ok()), rt.pooled(), "the pool was full");
        // With every slot held, a looping connector runs on the spare
        // engine, and the epoch ticker still stops it at its deadline.
        let (spinner, _) = rt.load(&guest("hostile-loop"), None).unwrap();
        let mut options = OpenOptions::new(tmp.path().join("loop"));
        options.limits.call_timeout_ms = 200;
        let looping = Tenant::open(ConnectorKind::Wasm(spinner.clone()), &options).unwrap();
        assert_eq!(spinner.overflow.get().is_some(), rt.pooled(), "on the spare engine");
        // Nothing else could stop it: fail loudly rather than hang the suite.
        let (done, finished) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if finished.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
                eprintln!("a looping guest on the spare engine ran past its 200 ms deadline for 60 s: its epoch does not advance");
                std::process::abort();
            }
        });
        let started = std::time::Instant::now();
        let stopped = looping.admit("put").unwrap().put("attack", b"x", &Cancel::never());
        let _ = done.send(());
        assert!(matches!(stopped, Err(Error::Timeout(_))), "{stopped:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "stopped near its deadline: {:?}", started.elapsed());
        drop(looping);
        for (i, t) in tenants.iter().enumerate() {
            assert_eq!(t.admit("get").unwrap().get("k", &Cancel::never()).unwrap(), Some((i as u32).to_le_bytes().to_vec()));
        }
        drop(tenants);
        // Slots are given back at close: the pool serves again.
        let again = open(POOL_INSTANCES + 2);
        assert_eq!(again.stats().objects, 1);
    }
}
