//! Trusted native connectors from JS: a C-ABI `.so` loaded in-process (no
//! sandbox) by explicit call, checked against its sha256 and permissions by
//! `kvbox_core::trusted`; opened per tenant like every connector kind
//! (`ConnectorKind::Trusted`), behind the same front door and worker threads.

use crate::settle::Wait;
use crate::{NativeComponent, spawn};
use kvbox_core::ConnectorKind;
use kvbox_core::trusted::TrustedLibrary;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

/// Loads the C-ABI connector library at `path` if its sha256 (hex) is
/// `sha256` and neither it nor its directory is writable by anyone but its
/// owner (this user or root). It runs as native code in this process.
#[napi(ts_return_type = "Promise<NativeComponent>")]
pub fn load_native_library(env: &Env, path: String, sha256: String) -> Result<Object<'_>> {
    spawn(env, Wait::Never, move || {
        let library = TrustedLibrary::open(std::path::Path::new(&path), &sha256)?;
        Ok(NativeComponent { kind: ConnectorKind::Trusted(Arc::new(library)), origin: "native" })
    })
}
