//! `log`: records into the connector's [`LogBook`](crate::sandbox::LogBook).

use crate::sandbox::state::HostView;

impl HostView<'_> {
    /// Appends one record from the guest's `log` interface.
    /// An `error` record also joins the call's output tail, so a trap right
    /// after it (the SDK's panic hook logs the panic message) carries it.
    pub(crate) fn log(&mut self, level: &'static str, message: &str) {
        self.log.push(level, "log", Some(self.call.op), message);
        if level == "error" {
            self.output.push_line(message);
        }
    }
}
