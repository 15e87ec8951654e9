//! What one guest instance's `Store` holds, and the view host traits get.

use super::host::payload::PayloadBudget;
use super::host::stdio::LogStream;
use super::logbook::LogBook;
use crate::Limits;
use crate::io::ObjectDir;
use std::sync::Arc;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The data of one instance's `Store`.
pub struct Sandbox {
    table: ResourceTable,
    wasi: WasiCtx,
    pub(crate) store_limits: StoreLimits,
    io: Arc<ObjectDir>,
    log: Arc<LogBook>,
    limits: Arc<Limits>,
    budget: PayloadBudget,
}

impl Sandbox {
    /// A fresh sandbox for one instance.
    ///
    /// WASI is deny-by-default, written out in one place: no preopened
    /// directories, no environment, no arguments, no network (the default
    /// socket check denies every address and name lookups are off), stdin
    /// empty, stdout and stderr into the connector's log.
    pub fn new(io: Arc<ObjectDir>, log: Arc<LogBook>, limits: Arc<Limits>) -> Self {
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream::new(log.clone(), "info", "stdout"))
            .stderr(LogStream::new(log.clone(), "warn", "stderr"))
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_host_handles as usize);
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX))
            .instances(64)
            .tables(64)
            .memories(8)
            .trap_on_grow_failure(true)
            .build();
        let budget = PayloadBudget::new(limits.max_object_bytes.saturating_mul(2));
        Self { table, wasi, store_limits, io, log, limits, budget }
    }

    /// The view the host interfaces are implemented on.
    pub fn host(&mut self) -> HostView<'_> {
        HostView { table: &mut self.table, io: &self.io, log: &self.log, limits: &self.limits, budget: &mut self.budget }
    }

    /// The resource table (to lend and collect payloads around a call).
    pub fn table(&mut self) -> &mut ResourceTable {
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
    pub(crate) io: &'a ObjectDir,
    pub(crate) log: &'a LogBook,
    pub(crate) limits: &'a Limits,
    pub(crate) budget: &'a mut PayloadBudget,
}

/// Marker naming [`HostView`] as the data of the kvbox interfaces.
pub struct HostIo;

impl HasData for HostIo {
    type Data<'a> = HostView<'a>;
}
