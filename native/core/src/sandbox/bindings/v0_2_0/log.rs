//! `log`: this version's levels onto the version-neutral log.

use super::kvbox::connector::log::{Host, Level};
use crate::sandbox::state::HostView;

impl Host for HostView<'_> {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        HostView::log(self, level, &message);
        Ok(())
    }
}
