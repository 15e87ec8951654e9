//! `kvbox:connector/log`: records into the connector's [`LogBook`](crate::sandbox::LogBook).

use crate::sandbox::bindings::kvbox::connector::log::{Host, Level};
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
        self.log.push(level, "log", &message);
        Ok(())
    }
}
