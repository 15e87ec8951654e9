//! The host side of each imported WIT interface, one file per interface
//! (`wit/<name>.wit` ↔ `<name>.rs`), plus WASI stdio routed to the log.

pub mod log;
pub mod objects;
pub mod payload;
pub mod stdio;
pub mod types;
