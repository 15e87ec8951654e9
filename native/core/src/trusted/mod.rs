//! Trusted native connectors: a C-ABI `.so` (LMCache's 8-function connector
//! ABI) loaded into this process, behind the same [`crate::ObjectConnector`]
//! contract as the sandboxed and built-in connectors.
//!
//! **No sandbox**: the library runs with the process's full rights. It is
//! loaded only on an explicit call naming its path and sha256, from a file
//! and directory that nobody but its owner (this user or root) can change,
//! opened once and loaded from that descriptor.
//!
//! - [`library`]: opening, checking and loading the `.so`; its 8 symbols.
//! - [`connector`]: [`TrustedConnector`], with the guards kvbox keeps around
//!   code it cannot sandbox (sized reads, seals, strict listing, typed errors).
//! - [`seal`]: key framing and the per-object seal.
//! - `listing`: reading and checking `list_keys`.

pub mod connector;
pub mod library;
mod listing;
pub mod seal;

pub use connector::TrustedConnector;
pub use library::TrustedLibrary;
