//! The host side of the kvbox interfaces, version-neutral: what `objects`,
//! `payload` and `log` do, as methods on [`HostView`](super::state::HostView)
//! returning [`crate::Result`]. Each contract version's adapter
//! (`sandbox/bindings/<version>/`) only converts its generated types to and
//! from these.
//!
//! Every method returns `wasmtime::Result<…>` outside: an `Err` there is a
//! trap (a broken handle, the call's deadline passed), which poisons the
//! instance; guest-visible failures are the inner `crate::Result`.

pub mod log;
pub mod objects;
pub mod payload;

use super::state::HostView;
use crate::{Error, Result};

impl HostView<'_> {
    /// Traps when the call's deadline passed or its caller cancelled; called
    /// before any host work that can take long (I/O, large allocations), so a
    /// guest cannot make the host keep working after its time is up.
    pub(crate) fn check_call(&mut self) -> wasmtime::Result<()> {
        self.call.tick().map_err(wasmtime::Error::from)
    }

    /// Notes a host I/O result: the store's unavailability is remembered
    /// for the call, so however the guest reports the failure (no contract
    /// version has an `unavailable` case), the caller gets `Unavailable`.
    pub(crate) fn noted<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(Error::Unavailable(m)) = &result {
            self.call.unavailable = Some(m.clone());
        }
        result
    }
}
