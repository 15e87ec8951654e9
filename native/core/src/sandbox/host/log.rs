//! `log`: records into the connector's [`LogBook`](crate::sandbox::LogBook).

use crate::sandbox::state::HostView;

impl HostView<'_> {
    /// Appends one record from the guest's `log` interface.
    pub(crate) fn log(&mut self, level: &'static str, message: &str) {
        self.log.push(level, "log", Some(self.call.op), message);
    }
}
