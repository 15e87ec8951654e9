//! The one wasmtime engine of the process, its linker, and the cache of
//! compiled components.
//!
//! Compiled components are cached in memory and, when a cache directory is
//! given, on disk under `<sha256 of wasm + engine compatibility hash>.cwasm`.
//! Only files this host wrote are deserialized: the directory is created
//! 0700, files 0600, and a file that is not owned by this user, or that
//! group or others could have written, is ignored and rebuilt.

use super::bindings::{Contract, Pre};
use super::state::Sandbox;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

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

/// A component compiled, linked and checked against one contract version.
pub struct CompiledComponent {
    pub(crate) pre: Pre,
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

/// The engine, the linker and the compiled-component cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    /// Components compiled in this process, while anything still uses them
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
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let ticker = engine.clone();
        std::thread::Builder::new().name("kvbox-epoch".into()).spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                ticker.increment_epoch();
            }
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        super::bindings::add_to_linker(&mut linker)?;
        Ok(Self { engine, linker, compiled: Mutex::default() })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or finds compiled) `wasm`, finds the contract version it
    /// targets, links it and checks its exports against that version.
    pub fn load(&self, wasm: &[u8], cache_dir: Option<&Path>) -> Result<(Arc<CompiledComponent>, Origin)> {
        let digest = self.digest(wasm);
        if let Some(c) = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&digest).and_then(Weak::upgrade) {
            return Ok((c, Origin::Memory));
        }
        check_header(wasm)?;
        let (component, origin) = match cache_dir {
            Some(dir) => self.through_disk_cache(wasm, dir, &digest)?,
            None => (self.compile(wasm)?, Origin::Compiled),
        };
        let contract = Contract::detect(&component, &self.engine)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            Error::Load(format!(
                "the component (built for kvbox:connector@{}) imports something the sandbox does not provide: {e:#}",
                contract.version()
            ))
        })?;
        let pre = Pre::new(contract, pre)?;
        let sha256 = hex::encode(Sha256::digest(wasm));
        let compiled = Arc::new(CompiledComponent { pre, digest: digest.clone(), sha256 });
        let mut cache = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, c| c.strong_count() > 0);
        cache.insert(digest, Arc::downgrade(&compiled));
        Ok((compiled, origin))
    }

    fn digest(&self, wasm: &[u8]) -> String {
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
        h.0.update(wasm);
        self.engine.precompile_compatibility_hash().hash(&mut h);
        hex::encode(h.0.finalize())
    }

    fn compile(&self, wasm: &[u8]) -> Result<Component> {
        Component::new(&self.engine, wasm).map_err(|e| Error::Load(format!("not a valid WebAssembly component: {e:#}")))
    }

    fn through_disk_cache(&self, wasm: &[u8], dir: &Path, digest: &str) -> Result<(Component, Origin)> {
        let file = dir.join(format!("{digest}.cwasm"));
        if trusted(dir) && trusted(&file) {
            // SAFETY: the file was written by this host (see `trusted`): its
            // bytes come from `Component::serialize` of this engine
            // configuration, which `deserialize_file` re-checks.
            if let Ok(c) = unsafe { Component::deserialize_file(&self.engine, &file) } {
                return Ok((c, Origin::Disk));
            }
        }
        let component = self.compile(wasm)?;
        // A cache that cannot be written only costs the next process a compile.
        let _ = write_cache(dir, &file, &component);
        Ok((component, Origin::Compiled))
    }
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

fn write_cache(dir: &Path, file: &Path, component: &Component) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".kvbox-tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    std::io::Write::write_all(&mut f, &bytes)?;
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
}
