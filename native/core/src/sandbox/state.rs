//! What one guest instance's `Store` holds, and the narrow view the host
//! interfaces (of every contract version) are implemented on.

use super::limiter::{CallState, GuestLimiter};
use super::logbook::LogBook;
use super::payload::PayloadBudget;
use super::read_target::{ReadTarget, TargetHolder};
use super::stdio::{LogStream, OutputTail};
use crate::Limits;
use crate::io::ObjectStorage;
use std::sync::Arc;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The data of one instance's `Store`.
pub struct Sandbox {
    table: ResourceTable,
    wasi: WasiCtx,
    pub(crate) limiter: GuestLimiter,
    pub(crate) call: CallState,
    pub(crate) read_target: ReadTarget,
    io: Arc<dyn ObjectStorage>,
    log: Arc<LogBook>,
    limits: Arc<Limits>,
    budget: PayloadBudget,
    /// What the guest wrote to stdout and stderr during the current call.
    pub(crate) output: OutputTail,
}

impl Sandbox {
    /// A fresh sandbox for one instance.
    ///
    /// WASI is deny-by-default, written out in one place: no preopened
    /// directories, no environment, no arguments, no network (the default
    /// socket check denies every address and name lookups are off), stdin
    /// empty, stdout and stderr into the connector's log.
    pub fn new(io: Arc<dyn ObjectStorage>, log: Arc<LogBook>, limits: Arc<Limits>) -> Self {
        let output = OutputTail::default();
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream::new(log.clone(), "info", "stdout", output.clone()))
            .stderr(LogStream::new(log.clone(), "warn", "stderr", output.clone()))
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_host_handles as usize);
        let limiter = GuestLimiter::new(limits.memory_bytes);
        let budget = PayloadBudget::new(limits.payload_budget(1));
        Self { table, wasi, limiter, call: CallState::default(), read_target: ReadTarget::default(), io, log, limits, budget, output }
    }

    /// The view the host interfaces are implemented on.
    pub fn host(&mut self) -> HostView<'_> {
        HostView {
            table: &mut self.table,
            io: &*self.io,
            log: &self.log,
            limits: &self.limits,
            budget: &mut self.budget,
            read_target: &mut self.read_target,
            call: &mut self.call,
            output: &self.output,
        }
    }

    /// The resource table (to lend and collect payloads around a call).
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl TargetHolder for Sandbox {
    fn read_target(&mut self) -> &mut ReadTarget {
        &mut self.read_target
    }

    fn resources(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The part of a [`Sandbox`] the kvbox host interfaces may touch.
pub struct HostView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) io: &'a dyn ObjectStorage,
    pub(crate) log: &'a LogBook,
    pub(crate) limits: &'a Limits,
    pub(crate) budget: &'a mut PayloadBudget,
    pub(crate) read_target: &'a mut ReadTarget,
    pub(crate) call: &'a mut CallState,
    /// The call's output tail (error-level log records join it).
    pub(crate) output: &'a OutputTail,
}

/// Marker naming [`HostView`] as the data of the kvbox interfaces.
pub struct HostIo;

impl HasData for HostIo {
    type Data<'a> = HostView<'a>;
}
