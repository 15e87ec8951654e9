//! What one guest instance's `Store` holds, and the view host traits get.

use super::host::payload::PayloadBudget;
use super::host::stdio::LogStream;
use super::logbook::LogBook;
use crate::io::ObjectDir;
use crate::{Cancel, Limits};
use std::sync::Arc;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Why the host stopped guest code at an epoch tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Interrupt {
    /// The call's deadline passed.
    #[error("the call ran past its deadline")]
    Deadline,
    /// The caller cancelled the call.
    #[error("the call was cancelled")]
    Cancelled,
}

/// The state of the call an instance is serving.
#[derive(Default)]
pub struct CallState {
    /// Epoch ticks left before the deadline.
    pub ticks_left: u64,
    /// The caller's cancellation token.
    pub cancel: Cancel,
}

impl CallState {
    /// Called by the epoch callback at every tick while guest code runs.
    pub fn tick(&mut self) -> Result<(), Interrupt> {
        if self.cancel.is_cancelled() {
            return Err(Interrupt::Cancelled);
        }
        self.ticks_left = self.ticks_left.saturating_sub(1);
        if self.ticks_left == 0 { Err(Interrupt::Deadline) } else { Ok(()) }
    }
}

/// The store's resource limiter: wasmtime's counts for tables, instances
/// and memories, plus the memory cap, remembering when the cap was hit so
/// the trap it causes can be reported as `MemoryLimit`.
pub struct GuestLimiter {
    memory_cap: usize,
    /// Set when the guest asked for more memory than the cap.
    pub memory_exceeded: bool,
    counts: StoreLimits,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            wasmtime::bail!(
                "the connector asked for {desired} bytes of memory (from {current}), over its cap of {} (limits.memoryBytes)",
                self.memory_cap
            );
        }
        self.counts.memory_growing(current, desired, maximum)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.counts.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.counts.instances()
    }

    fn tables(&self) -> usize {
        self.counts.tables()
    }

    fn memories(&self) -> usize {
        self.counts.memories()
    }
}

/// The caller's buffer during a `get_into` call: the guest's first
/// `objects.read` that fits lands in it directly, handed to the guest as a
/// read-only payload. Every payload issued over it is revoked (emptied)
/// when the call ends, so none outlives the caller's buffer.
#[derive(Default)]
pub struct ReadTarget {
    /// Where and how much, while armed.
    pub armed: Option<(*mut u8, usize)>,
    /// Resource reps of payloads backed by the target.
    pub issued: Vec<u32>,
}

// SAFETY: the pointer is only used on the thread running the call that
// armed it, while the caller keeps the buffer alive and untouched.
unsafe impl Send for ReadTarget {}

/// The data of one instance's `Store`.
pub struct Sandbox {
    table: ResourceTable,
    wasi: WasiCtx,
    pub(crate) limiter: GuestLimiter,
    pub(crate) call: CallState,
    pub(crate) read_target: ReadTarget,
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
        let counts =
            StoreLimitsBuilder::new().table_elements(1 << 20).instances(64).tables(64).memories(8).trap_on_grow_failure(true).build();
        let memory_cap = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        let limiter = GuestLimiter { memory_cap, memory_exceeded: false, counts };
        let budget = PayloadBudget::new(limits.max_object_bytes.saturating_mul(2));
        Self { table, wasi, limiter, call: CallState::default(), read_target: ReadTarget::default(), io, log, limits, budget }
    }

    /// The view the host interfaces are implemented on.
    pub fn host(&mut self) -> HostView<'_> {
        HostView {
            table: &mut self.table,
            io: &self.io,
            log: &self.log,
            limits: &self.limits,
            budget: &mut self.budget,
            read_target: &mut self.read_target,
        }
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
    pub(crate) read_target: &'a mut ReadTarget,
}

/// Marker naming [`HostView`] as the data of the kvbox interfaces.
pub struct HostIo;

impl HasData for HostIo {
    type Data<'a> = HostView<'a>;
}
