//! `kvbox:connector@0.2.0` (frozen in `wit/0.2.0/`): the generated
//! bindings, the load-time type check of a component's exports, and the
//! adapter from this version's types to the version-neutral sandbox — one
//! file per imported interface (`types`, `payload`, `objects`, `log`).

mod log;
mod objects;
mod payload;
mod types;

use super::{GuestBatch, GuestStore};
use crate::sandbox::payload::Payload;
use crate::sandbox::state::{HostIo, Sandbox};
use crate::{Error, KeyPage, Result};
use exports::kvbox::connector::store::KeyPage as WitKeyPage;
use kvbox::connector::types::Error as WitError;
use types::from_wit;
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{ComponentNamedList, InstancePre, Lift, Linker, Lower, Resource, ResourceAny};

/// Generated from `wit/0.2.0` (documented there).
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "connector",
        with: {
            "kvbox:connector/payload.payload": crate::sandbox::payload::Payload,
        },
        imports: { default: trappable },
    });
}
pub use generated::*;

/// This module's contract version.
pub const VERSION: &str = "0.2.0";

const STORE: &str = "kvbox:connector/store@0.2.0";

/// Adds this version's host interfaces to `linker`.
pub fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    Connector::add_to_linker::<Sandbox, HostIo>(linker, Sandbox::host)
}

/// Checks every export of the `store` interface — present, a function, of
/// the contract's type — so a component that would fail at its first call
/// is refused at load with the export's name; then prepares it.
pub fn prepare(pre: InstancePre<Sandbox>) -> Result<ConnectorPre<Sandbox>> {
    check::<(&str,), (std::result::Result<ResourceAny, WitError>,)>(&pre, "[static]connector.open")?;
    check::<(ResourceAny, &str), (std::result::Result<bool, WitError>,)>(&pre, "[method]connector.exists")?;
    check::<(ResourceAny, &str, Resource<Payload>), (std::result::Result<(), WitError>,)>(&pre, "[method]connector.put")?;
    check::<(ResourceAny, &str), (std::result::Result<Option<Resource<Payload>>, WitError>,)>(&pre, "[method]connector.get")?;
    check::<(ResourceAny, &str), (std::result::Result<bool, WitError>,)>(&pre, "[method]connector.remove")?;
    check::<(ResourceAny, &str), (std::result::Result<Option<u64>, WitError>,)>(&pre, "[method]connector.size")?;
    check::<(ResourceAny, Option<&str>, u32), (std::result::Result<WitKeyPage, WitError>,)>(&pre, "[method]connector.list-keys")?;
    check::<(ResourceAny, &[String]), (Vec<std::result::Result<bool, WitError>>,)>(&pre, "[method]connector.exists-many")?;
    check::<(ResourceAny, &[String]), (Vec<std::result::Result<Option<u64>, WitError>>,)>(&pre, "[method]connector.size-many")?;
    check::<(ResourceAny, &[String]), (Vec<std::result::Result<Option<Resource<Payload>>, WitError>>,)>(
        &pre,
        "[method]connector.get-many",
    )?;
    check::<(ResourceAny, &[String], Vec<Resource<Payload>>), (Vec<std::result::Result<Option<u64>, WitError>>,)>(
        &pre,
        "[method]connector.get-many-into",
    )?;
    check::<(ResourceAny, &[String], Vec<Resource<Payload>>), (Vec<std::result::Result<(), WitError>>,)>(
        &pre,
        "[method]connector.put-many",
    )?;
    check::<(ResourceAny, &[String]), (Vec<std::result::Result<bool, WitError>>,)>(&pre, "[method]connector.remove-many")?;
    ConnectorPre::new(pre).map_err(|e| Error::Load(format!("the component does not implement {STORE}: {e:#}")))
}

/// Type-checks one function of the exported `store` interface. Uses the same
/// (hidden) wasmtime calls the generated bindings use at instantiation, so
/// the check here and the one there cannot disagree.
fn check<P, R>(pre: &InstancePre<Sandbox>, func: &str) -> Result<()>
where
    P: ComponentNamedList + Lower,
    R: ComponentNamedList + Lift,
{
    let component = pre.component();
    let bad = |why: String| Err(Error::Load(format!("the component's export `{func}` of {STORE} {why}")));
    let Some(store) = component.get_export_index(None, STORE) else {
        return bad(format!("is missing: the component does not export {STORE}"));
    };
    match component.get_export(Some(&store), func) {
        None => bad("is missing".into()),
        Some((ComponentItem::ComponentFunc(f), _)) => match f.typecheck::<P, R>(&pre.instance_type()) {
            Ok(()) => Ok(()),
            Err(e) => bad(format!("does not have the contract's type ({e:#}); was it built against another version of the WIT?")),
        },
        Some(_) => bad("is not a function".into()),
    }
}

impl GuestStore for Connector {
    fn open(&self, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<ResourceAny>> {
        Ok(self.kvbox_connector_store().connector().call_open(store, config)?.map_err(from_wit))
    }

    fn exists(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<bool>> {
        Ok(self.kvbox_connector_store().connector().call_exists(store, this, key)?.map_err(from_wit))
    }

    fn put(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str, data: Resource<Payload>) -> wasmtime::Result<Result<()>> {
        Ok(self.kvbox_connector_store().connector().call_put(store, this, key, data)?.map_err(from_wit))
    }

    fn get(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<Option<Resource<Payload>>>> {
        Ok(self.kvbox_connector_store().connector().call_get(store, this, key)?.map_err(from_wit))
    }

    fn remove(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<bool>> {
        Ok(self.kvbox_connector_store().connector().call_remove(store, this, key)?.map_err(from_wit))
    }

    fn size(&self, store: &mut Store<Sandbox>, this: ResourceAny, key: &str) -> wasmtime::Result<Result<Option<u64>>> {
        Ok(self.kvbox_connector_store().connector().call_size(store, this, key)?.map_err(from_wit))
    }

    fn list_keys(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        cursor: Option<&str>,
        limit: u32,
    ) -> wasmtime::Result<Result<KeyPage>> {
        let page = self.kvbox_connector_store().connector().call_list_keys(store, this, cursor, limit)?;
        Ok(page.map(|p| KeyPage { keys: p.keys, cursor: p.cursor }).map_err(from_wit))
    }

    fn batch(&self) -> Option<&dyn GuestBatch> {
        Some(self)
    }
}

/// Each key's result with the error in the crate's terms.
fn each<T>(results: Vec<std::result::Result<T, WitError>>) -> Vec<Result<T>> {
    results.into_iter().map(|r| r.map_err(from_wit)).collect()
}

impl GuestBatch for Connector {
    fn exists_many(&self, store: &mut Store<Sandbox>, this: ResourceAny, keys: &[String]) -> wasmtime::Result<Vec<Result<bool>>> {
        Ok(each(self.kvbox_connector_store().connector().call_exists_many(store, this, keys)?))
    }

    fn size_many(&self, store: &mut Store<Sandbox>, this: ResourceAny, keys: &[String]) -> wasmtime::Result<Vec<Result<Option<u64>>>> {
        Ok(each(self.kvbox_connector_store().connector().call_size_many(store, this, keys)?))
    }

    fn remove_many(&self, store: &mut Store<Sandbox>, this: ResourceAny, keys: &[String]) -> wasmtime::Result<Vec<Result<bool>>> {
        Ok(each(self.kvbox_connector_store().connector().call_remove_many(store, this, keys)?))
    }

    fn get_many(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        keys: &[String],
    ) -> wasmtime::Result<Vec<Result<Option<Resource<Payload>>>>> {
        Ok(each(self.kvbox_connector_store().connector().call_get_many(store, this, keys)?))
    }

    fn get_many_into(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        keys: &[String],
        targets: Vec<Resource<Payload>>,
    ) -> wasmtime::Result<Vec<Result<Option<u64>>>> {
        Ok(each(self.kvbox_connector_store().connector().call_get_many_into(store, this, keys, &targets)?))
    }

    fn put_many(
        &self,
        store: &mut Store<Sandbox>,
        this: ResourceAny,
        keys: &[String],
        data: Vec<Resource<Payload>>,
    ) -> wasmtime::Result<Vec<Result<()>>> {
        Ok(each(self.kvbox_connector_store().connector().call_put_many(store, this, keys, &data)?))
    }
}
