//! Records in the host's bounded log for this connector (`Connector.drainLog()`
//! on the host). Standard output and error reach the same log.

use crate::wit::kvbox::connector::log::{Level, log};

/// Logs at `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at `info`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at `error`.
pub fn error(message: &str) {
    log(Level::Error, message);
}
