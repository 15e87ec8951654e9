//! A connector's manifest and what a component says about itself, read
//! without compiling it (`kvbox inspect`, `kvbox build`).
//!
//! The manifest travels inside the `.wasm` file:
//! - the standard metadata sections, written and read with `wasm-metadata`
//!   (the same sections `wasm-tools metadata show` prints): the component
//!   name, `version`, `description`, `licenses` (an SPDX expression, checked),
//!   `authors`, and the `producers` section (`processed-by kvbox`);
//! - kvbox's own custom section [`SECTION`]: the manifest as JSON, including
//!   what has no standard section (the contract version, a config schema).

use crate::{Error, Result};
use wasm_metadata::{AddMetadata, AddMetadataField, Authors, Description, Licenses, Payload, Version};
use wasmparser::{ComponentExternalKind, Parser, Payload as Section};

/// The name of kvbox's custom section.
pub const SECTION: &str = "kvbox:manifest";

/// Most bytes of manifest JSON accepted.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

/// What `kvbox build` writes into a component.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The connector's name.
    pub name: String,
    /// Its version (semver).
    pub version: Option<String>,
    /// One line saying what it is.
    pub description: Option<String>,
    /// SPDX license expression.
    pub license: Option<String>,
    /// Authors, freeform.
    pub authors: Vec<String>,
    /// The whole manifest as JSON, stored in [`SECTION`].
    pub json: String,
    /// `processed-by` entry: the tool and its version.
    pub tool: (String, String),
}

fn bad(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{what}: {e:#}"))
}

/// Returns `wasm` (a component) with the manifest's metadata and section.
///
/// Refuses ([`Error::InvalidArgument`]) a core module, bytes that do not
/// parse, a component that already has a manifest, an invalid SPDX license
/// or a manifest over [`MAX_MANIFEST_BYTES`].
pub fn embed(wasm: &[u8], m: &Manifest) -> Result<Vec<u8>> {
    let info = inspect(wasm)?;
    if !info.component {
        return Err(bad("cannot embed a manifest", "this is a core module, not a component (wrap it with `jco new --wasi-reactor`)"));
    }
    if info.manifest.is_some() {
        return Err(bad("cannot embed a manifest", format!("the component already has a {SECTION} section")));
    }
    if m.json.len() > MAX_MANIFEST_BYTES {
        return Err(bad("manifest", format!("{} bytes of JSON, over {MAX_MANIFEST_BYTES}", m.json.len())));
    }
    let mut add = AddMetadata::default();
    add.name = AddMetadataField::Set(m.name.clone());
    add.processed_by = vec![m.tool.clone()];
    if let Some(v) = &m.version {
        add.version = AddMetadataField::Set(Version::new(v.clone()));
    }
    if let Some(d) = &m.description {
        add.description = AddMetadataField::Set(Description::new(d.clone()));
    }
    if let Some(l) = &m.license {
        add.licenses = AddMetadataField::Set(Licenses::new(l).map_err(|e| bad(&format!("license {l:?} is not an SPDX expression"), e))?);
    }
    if !m.authors.is_empty() {
        add.authors = AddMetadataField::Set(Authors::new(m.authors.join(", ")));
    }
    let mut out = add.to_wasm(wasm).map_err(|e| bad("cannot add metadata", e))?;
    append_custom_section(&mut out, SECTION, m.json.as_bytes());
    Ok(out)
}

/// A custom section: id 0, then its size, then the name and the bytes.
fn append_custom_section(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut body = Vec::with_capacity(name.len() + data.len() + 5);
    leb128(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    out.push(0);
    leb128(out, body.len());
    out.extend_from_slice(&body);
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// What a component says about itself.
#[derive(Debug, Clone, Default)]
pub struct ComponentInfo {
    /// A component (`false`: a core module).
    pub component: bool,
    /// The outer component's name section.
    pub name: Option<String>,
    /// `version` section.
    pub version: Option<String>,
    /// `description` section.
    pub description: Option<String>,
    /// `licenses` section.
    pub licenses: Option<String>,
    /// `authors` section.
    pub authors: Option<String>,
    /// The producers section: (field, name, version), e.g. (`language`, `Rust`, ``).
    pub producers: Vec<(String, String, String)>,
    /// Names the outer component imports (`kvbox:connector/objects@0.2.0`, `wasi:…`).
    pub imports: Vec<String>,
    /// Names of instances it exports.
    pub exports: Vec<String>,
    /// The [`SECTION`] text, when present.
    pub manifest: Option<String>,
}

/// Reads a component's metadata, imports, exports and manifest (no compiling).
pub fn inspect(wasm: &[u8]) -> Result<ComponentInfo> {
    let mut info = ComponentInfo::default();
    let mut depth = 0usize;
    for section in Parser::new(0).parse_all(wasm) {
        let section = section.map_err(|e| bad("not a WebAssembly file", e))?;
        match section {
            Section::Version { encoding, .. } if depth == 0 => info.component = encoding == wasmparser::Encoding::Component,
            Section::ModuleSection { .. } | Section::ComponentSection { .. } => depth += 1,
            Section::End(_) => depth = depth.saturating_sub(1),
            Section::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    info.imports.push(import.map_err(|e| bad("bad import section", e))?.name.name.to_string());
                }
            }
            Section::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| bad("bad export section", e))?;
                    if export.kind == ComponentExternalKind::Instance {
                        info.exports.push(export.name.name.to_string());
                    }
                }
            }
            Section::CustomSection(c) if depth == 0 && c.name() == SECTION => {
                let text = std::str::from_utf8(c.data()).map_err(|e| bad("the manifest section is not UTF-8", e))?;
                info.manifest = Some(text.to_string());
            }
            _ => {}
        }
    }
    let metadata = match Payload::from_binary(wasm).map_err(|e| bad("cannot read the metadata", e))? {
        Payload::Component { metadata, .. } => metadata,
        Payload::Module(metadata) => metadata,
    };
    info.name = metadata.name;
    info.version = metadata.version.map(|v| v.to_string());
    info.description = metadata.description.map(|v| v.to_string());
    info.licenses = metadata.licenses.map(|v| v.to_string());
    info.authors = metadata.authors.map(|v| v.to_string());
    if let Some(p) = metadata.producers {
        for (field, values) in p.iter() {
            for (name, version) in values.iter() {
                info.producers.push((field.clone(), name.clone(), version.clone()));
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn manifest() -> Manifest {
        Manifest {
            name: "demo".into(),
            version: Some("1.2.3".into()),
            description: Some("a demo".into()),
            license: Some("Apache-2.0 OR MIT".into()),
            authors: vec!["A <a@example.org>".into()],
            json: r#"{"name":"demo"}"#.into(),
            tool: ("kvbox".into(), "0.1.0".into()),
        }
    }

    #[test]
    fn embeds_then_reads_back_every_field() {
        let wasm = embed(EMPTY_COMPONENT, &manifest()).unwrap();
        let info = inspect(&wasm).unwrap();
        assert!(info.component);
        assert_eq!(info.name.as_deref(), Some("demo"));
        assert_eq!(info.version.as_deref(), Some("1.2.3"));
        assert_eq!(info.description.as_deref(), Some("a demo"));
        assert_eq!(info.licenses.as_deref(), Some("Apache-2.0 OR MIT"));
        assert_eq!(info.authors.as_deref(), Some("A <a@example.org>"));
        assert_eq!(info.manifest.as_deref(), Some(r#"{"name":"demo"}"#));
        assert!(info.producers.contains(&("processed-by".into(), "kvbox".into(), "0.1.0".into())));
    }

    #[test]
    fn refuses_a_second_manifest_a_bad_license_and_a_core_module() {
        let once = embed(EMPTY_COMPONENT, &manifest()).unwrap();
        assert!(embed(&once, &manifest()).unwrap_err().to_string().contains("already has"));
        let bad_license = Manifest { license: Some("not a license".into()), ..manifest() };
        assert!(embed(EMPTY_COMPONENT, &bad_license).unwrap_err().to_string().contains("SPDX"));
        assert!(embed(b"\0asm\x01\0\0\0", &manifest()).unwrap_err().to_string().contains("core module"));
        assert!(inspect(b"nope").is_err());
    }
}
