//! The contract versions this host speaks, one module each, and the one
//! version-neutral shape the rest of the sandbox uses.
//!
//! Each released version is frozen in `wit/<version>/`; its module here
//! holds the generated bindings, the type check of a component's exports,
//! and thin `impl Host for HostView` adapters over the version-neutral host
//! (`sandbox/host`). A component is matched to its version once, at load
//! ([`Contract::detect`]); each instance is then driven through
//! [`GuestStore`], so no call site matches on versions.

pub mod v0_1_0;
pub mod v0_2_0;
pub use v0_2_0 as latest;

use super::payload::Payload;
use super::state::Sandbox;
use crate::{Error, KeyPage, Result};
use wasmtime::component::{Component, InstancePre, Linker, Resource, ResourceAny};
use wasmtime::{Engine, Store};

/// The WIT package every version lives in.
pub const PACKAGE: &str = "kvbox:connector";

/// A contract version this host supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `kvbox:connector@0.1.0`: single-key calls only.
    V0_1_0,
    /// `kvbox:connector@0.2.0`: batched calls, ranged reads, reads into targets.
    V0_2_0,
}

impl Contract {
    /// Every supported version, oldest first.
    pub const ALL: &[Contract] = &[Contract::V0_1_0, Contract::V0_2_0];

    /// The version number, `0.1.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1_0 => v0_1_0::VERSION,
            Contract::V0_2_0 => v0_2_0::VERSION,
        }
    }

    /// The supported versions as a readable list.
    pub fn supported() -> String {
        Self::ALL.iter().map(|c| format!("{PACKAGE}@{}", c.version())).collect::<Vec<_>>().join(", ")
    }

    /// Which version `component` targets, from the `store` interface it
    /// exports and the kvbox interfaces it imports; a `Load` error naming what
    /// the component targets and what this host supports otherwise.
    pub fn detect(component: &Component, engine: &Engine) -> Result<Contract> {
        let ty = component.component_type();
        let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        let imports: Vec<&str> = ty.imports(engine).map(|(name, _)| name).collect();
        let version_of = |name: &str| name.strip_prefix(PACKAGE).and_then(|rest| rest.split_once('@')).map(|(_, v)| v.to_string());
        let store = exports.iter().find(|n| n.starts_with(&format!("{PACKAGE}/store@")));
        let Some(store) = store else {
            let worlds = Self::ALL.iter().map(|c| format!("{PACKAGE}/connector@{}", c.version())).collect::<Vec<_>>().join(" or ");
            return Err(Error::Load(format!(
                "the component exports no `{PACKAGE}/store` interface (it exports: {}), so it does not implement the world {worlds}",
                if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") },
            )));
        };
        let target = version_of(store).unwrap_or_default();
        let contract = Self::ALL.iter().copied().find(|c| c.version() == target).ok_or_else(|| {
            Error::Load(format!("the component targets {PACKAGE}@{target} (it exports {store}); this host supports {}", Self::supported()))
        })?;
        if let Some(other) = imports.iter().find(|n| version_of(n).is_some_and(|v| v != target)) {
            return Err(Error::Load(format!(
                "the component mixes contract versions: it exports {store} but imports {other}; this host supports {}",
                Self::supported()
            )));
        }
        Ok(contract)
    }
}

/// Adds every supported version's host interfaces to `linker`.
pub fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    v0_1_0::add_to_linker(linker)?;
    v0_2_0::add_to_linker(linker)
}

/// A component linked and checked against one contract version, ready to
/// instantiate.
pub enum Pre {
    /// `kvbox:connector@0.1.0`.
    V0_1_0(v0_1_0::ConnectorPre<Sandbox>),
    /// `kvbox:connector@0.2.0`.
    V0_2_0(v0_2_0::ConnectorPre<Sandbox>),
}

impl Pre {
    /// Checks the component's exports against `contract` (names and types)
    /// and prepares it for instantiation.
    pub fn new(contract: Contract, pre: InstancePre<Sandbox>) -> Result<Self> {
        match contract {
            Contract::V0_1_0 => v0_1_0::prepare(pre).map(Pre::V0_1_0),
            Contract::V0_2_0 => v0_2_0::prepare(pre).map(Pre::V0_2_0),
        }
    }

    /// The contract version.
    pub fn contract(&self) -> Contract {
        match self {
            Pre::V0_1_0(_) => Contract::V0_1_0,
            Pre::V0_2_0(_) => Contract::V0_2_0,
        }
    }

    /// The engine it is linked on (instances come from that engine's allocator).
    pub fn engine(&self) -> &Engine {
        match self {
            Pre::V0_1_0(pre) => pre.engine(),
            Pre::V0_2_0(pre) => pre.engine(),
        }
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        match self {
            Pre::V0_1_0(pre) => pre.instance_pre().component(),
            Pre::V0_2_0(pre) => pre.instance_pre().component(),
        }
    }

    /// A new instance, driven through the version-neutral [`GuestStore`].
    pub fn instantiate(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<Box<dyn GuestStore>> {
        match self {
            Pre::V0_1_0(pre) => Ok(Box::new(pre.instantiate(store)?)),
            Pre::V0_2_0(pre) => Ok(Box::new(pre.instantiate(store)?)),
        }
    }
}

/// A connector instance's exports, whatever the contract version. Outer
/// `Err`: a trap; inner: the connector's own (typed) failure.
pub trait GuestStore: Send {
    /// `connector.open(config)`.
    fn open(&self, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<ResourceAny>>;
    /// `connector.exists(key)`.
    fn exists(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<bool>>;
    /// `connector.put(key, data)`.
    fn put(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str, data: Resource<Payload>) -> wasmtime::Result<Result<()>>;
    /// `connector.get(key)`.
    fn get(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<Option<Resource<Payload>>>>;
    /// `connector.remove(key)`.
    fn remove(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<bool>>;
    /// `connector.size(key)`.
    fn size(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<Option<u64>>>;
    /// `connector.list-keys(cursor, limit)`.
    fn list_keys(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        cursor: Option<&str>,
        limit: u32,
    ) -> wasmtime::Result<Result<KeyPage>>;
    /// The batched exports, for versions that have them (0.2.0 on); the
    /// host loops over the single-key calls for the others.
    fn batch(&self) -> Option<&dyn GuestBatch> {
        None
    }
}

/// The batched exports (contract 0.2.0 on): one result per key, in order.
/// Outer `Err`: a trap. The host checks that as many results came back as
/// keys went in.
pub trait GuestBatch {
    /// `connector.exists-many(keys)`.
    fn exists_many(&self, store: &mut Store<Sandbox>, this: ResourceAny, keys: &[String]) -> wasmtime::Result<Vec<Result<bool>>>;
    /// `connector.size-many(keys)`.
    fn size_many(&self, store: &mut Store<Sandbox>, this: ResourceAny, keys: &[String]) -> wasmtime::Result<Vec<Result<Option<u64>>>>;
    /// `connector.remove-many(keys)`.
    fn remove_many(&self, store: &mut Store<Sandbox>, this: ResourceAny, keys: &[String]) -> wasmtime::Result<Vec<Result<bool>>>;
    /// `connector.get-many(keys)`.
    fn get_many(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        keys: &[String],
    ) -> wasmtime::Result<Vec<Result<Option<Resource<Payload>>>>>;
    /// `connector.get-many-into(keys, targets)`; the targets are handed over.
    fn get_many_into(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        keys: &[String],
        targets: Vec<Resource<Payload>>,
    ) -> wasmtime::Result<Vec<Result<Option<u64>>>>;
    /// `connector.put-many(keys, data)`; the payloads are handed over.
    fn put_many(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        keys: &[String],
        data: Vec<Resource<Payload>>,
    ) -> wasmtime::Result<Vec<Result<()>>>;
}
