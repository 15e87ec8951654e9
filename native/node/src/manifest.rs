//! Component metadata from JS (`kvbox inspect`, `kvbox build`): type
//! conversion over `kvbox_core::manifest`, on a worker thread (a JavaScript
//! connector's component is ~12 MB).

use crate::settle::Wait;
use crate::spawn;
use kvbox_core::manifest::{self, Manifest};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// What `kvbox build` embeds.
#[napi(object)]
pub struct NativeManifest {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    /// An SPDX license expression (checked).
    pub license: Option<String>,
    pub authors: Vec<String>,
    /// The whole manifest as JSON, for the `kvbox:manifest` section.
    pub json: String,
    /// The kvbox version, recorded as `processed-by`.
    pub tool_version: String,
}

/// One producers-section entry.
#[napi(object)]
pub struct NativeProducer {
    pub field: String,
    pub name: String,
    pub version: String,
}

/// What a component says about itself.
#[napi(object)]
pub struct NativeComponentInfo {
    /// `false` for a core module.
    pub component: bool,
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub licenses: Option<String>,
    pub authors: Option<String>,
    pub producers: Vec<NativeProducer>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The `kvbox:manifest` section's JSON text.
    pub manifest: Option<String>,
}

/// Reads a component's metadata, imports, exports and manifest without compiling it.
#[napi(ts_return_type = "Promise<NativeComponentInfo>")]
pub fn inspect_component(env: &Env, wasm: Buffer) -> Result<Object<'_>> {
    spawn(env, Wait::Never, move || {
        let i = manifest::inspect(&wasm)?;
        Ok(NativeComponentInfo {
            component: i.component,
            name: i.name,
            version: i.version,
            description: i.description,
            licenses: i.licenses,
            authors: i.authors,
            producers: i.producers.into_iter().map(|(field, name, version)| NativeProducer { field, name, version }).collect(),
            imports: i.imports,
            exports: i.exports,
            manifest: i.manifest,
        })
    })
}

/// Returns the component with the manifest embedded (standard metadata sections and `kvbox:manifest`).
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn embed_manifest(env: &Env, wasm: Buffer, m: NativeManifest) -> Result<Object<'_>> {
    spawn(env, Wait::Never, move || {
        let manifest = Manifest {
            name: m.name,
            version: m.version,
            description: m.description,
            license: m.license,
            authors: m.authors,
            json: m.json,
            tool: ("kvbox".into(), m.tool_version),
        };
        Ok(Buffer::from(manifest::embed(&wasm, &manifest)?))
    })
}
