//! Trusted native connectors from JS: a C-ABI `.so` loaded in-process (no
//! sandbox) by explicit call, checked against its sha256 and permissions by
//! `kvbox_core::trusted`, then opened per tenant behind the same admission
//! and worker threads as every connector.

use crate::{Kind, NativeComponent, NativeConnector, spawn};
use kvbox_core::OpenOptions;
use kvbox_core::tenant::Tenant;
use kvbox_core::trusted::{TrustedConnector, TrustedLibrary};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

/// Loads the C-ABI connector library at `path` if its sha256 (hex) is
/// `sha256` and neither it nor its directory is writable by anyone but its
/// owner (this user or root). It runs as native code in this process.
#[napi(ts_return_type = "Promise<NativeComponent>")]
pub fn load_native_library(env: &Env, path: String, sha256: String) -> Result<Object<'_>> {
    spawn(env, move || {
        let library = TrustedLibrary::open(std::path::Path::new(&path), &sha256)?;
        Ok(NativeComponent { kind: Kind::Trusted(Arc::new(library)), origin: "native" })
    })
}

/// Opens `library` for one tenant (the `Trusted` arm of `NativeComponent::open`).
pub(crate) fn open<'e>(env: &'e Env, library: Arc<TrustedLibrary>, options: OpenOptions) -> Result<Object<'e>> {
    spawn(env, move || {
        let connector = Arc::new(TrustedConnector::open(library, &options)?);
        Ok(NativeConnector { inner: Arc::new(Tenant::with_connector(connector, &options)?) })
    })
}
