//! What bounds one guest instance while it runs: its memory (all linear
//! memories and tables together, against `limits.memoryBytes`), its call's
//! wall-clock deadline and cancellation, and its connector's CPU budget.

use super::cpu::CpuBudget;
use crate::Cancel;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Bytes charged per table element (a function reference and its lazy-init
/// bookkeeping; measured ≈ 16 bytes of RSS per element on this host).
pub const TABLE_ELEMENT_BYTES: usize = 16;

/// Why the host stopped guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Interrupt {
    /// The call's deadline passed.
    #[error("the call ran past its deadline")]
    Deadline,
    /// The caller cancelled the call.
    #[error("the call was cancelled")]
    Cancelled,
}

/// The store's resource limiter: one byte budget for every memory and
/// table of the instance (growth past it is refused and remembered, so the
/// resulting trap is reported as `MemoryLimit`), plus wasmtime's counts of
/// instances, tables and memories.
pub struct GuestLimiter {
    cap: usize,
    used: usize,
    /// The growth being attempted, undone if it fails after approval.
    pending: usize,
    /// Set when the guest asked for more than the cap, with what it asked.
    pub exceeded: Option<String>,
    counts: StoreLimits,
}

impl GuestLimiter {
    /// A limiter allowing `cap` bytes of memories and tables in all.
    pub fn new(cap: u64) -> Self {
        let counts = StoreLimitsBuilder::new().instances(64).tables(64).memories(64).trap_on_grow_failure(true).build();
        Self { cap: usize::try_from(cap).unwrap_or(usize::MAX), used: 0, pending: 0, exceeded: None, counts }
    }

    /// Bytes of memories and tables in use.
    pub fn used(&self) -> usize {
        self.used
    }

    fn grow(&mut self, what: &str, add: usize) -> wasmtime::Result<()> {
        let total = self.used.saturating_add(add);
        if total > self.cap {
            let why = format!(
                "the connector asked for {add} more bytes of {what} with {} in use, over its cap of {} for all memories and tables (limits.memoryBytes)",
                self.used, self.cap
            );
            self.exceeded = Some(why.clone());
            wasmtime::bail!(why);
        }
        self.used = total;
        self.pending = add;
        Ok(())
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if !self.counts.memory_growing(current, desired, maximum)? {
            return Ok(false);
        }
        self.grow("memory", desired.saturating_sub(current))?;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used -= std::mem::take(&mut self.pending);
        self.counts.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if !self.counts.table_growing(current, desired, maximum)? {
            return Ok(false);
        }
        self.grow("tables", desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES))?;
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used -= std::mem::take(&mut self.pending);
        self.counts.table_grow_failed(error)
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

/// The call an instance is serving: when it must end, whether its caller
/// gave up, and whose CPU budget its guest code draws on.
pub struct CallState {
    /// The operation, for logs.
    pub op: &'static str,
    started: Instant,
    deadline: Instant,
    cancel: Cancel,
    cpu: Option<Arc<CpuBudget>>,
    /// Thread CPU time at the last charge to the budget.
    cpu_mark: Duration,
    /// The remote store's unavailability, when a host I/O call of this call met it (see [`crate::io::s3`]).
    pub unavailable: Option<String>,
}

impl CallState {
    /// A call named `op` that must end within `timeout`.
    pub fn new(op: &'static str, timeout: Duration, cancel: Cancel, cpu: Option<Arc<CpuBudget>>) -> Self {
        let started = Instant::now();
        let cpu_mark = if cpu.is_some() { thread_cpu_time() } else { Duration::ZERO };
        Self { op, started, deadline: started + timeout, cancel, cpu, cpu_mark, unavailable: None }
    }

    /// Checked at every epoch tick while guest code runs, and by host
    /// functions before they start I/O: stops the call once its caller
    /// cancelled or its deadline passed (host I/O time included); holds the
    /// guest back while its connector is over its CPU budget.
    pub fn tick(&mut self) -> Result<(), Interrupt> {
        if self.cancel.is_cancelled() {
            return Err(Interrupt::Cancelled);
        }
        if Instant::now() >= self.deadline {
            return Err(Interrupt::Deadline);
        }
        if let Some(cpu) = &self.cpu {
            let now = thread_cpu_time();
            cpu.charge(now.saturating_sub(self.cpu_mark), self.deadline);
            self.cpu_mark = thread_cpu_time();
            if Instant::now() >= self.deadline {
                return Err(Interrupt::Deadline);
            }
        }
        Ok(())
    }

    /// How much of its time the call used, from 0 (none) to 1 (all).
    pub fn used_fraction(&self) -> f64 {
        let total = self.deadline.saturating_duration_since(self.started).as_secs_f64();
        if total == 0.0 { 1.0 } else { self.started.elapsed().as_secs_f64() / total }
    }

    /// The call's caller has cancelled it.
    pub fn cancel_token(&self) -> &Cancel {
        &self.cancel
    }
}

impl Default for CallState {
    fn default() -> Self {
        Self::new("idle", Duration::from_secs(10), Cancel::never(), None)
    }
}

/// CPU time used by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_cap() {
        let mut l = GuestLimiter::new(1 << 20);
        assert!(l.memory_growing(0, 512 << 10, None).unwrap());
        assert!(l.memory_growing(0, 256 << 10, None).unwrap(), "a second memory draws on the same cap");
        let elements = (200 << 10) / TABLE_ELEMENT_BYTES;
        assert!(l.table_growing(0, elements, None).unwrap());
        assert!(l.exceeded.is_none());
        assert!(l.memory_growing(0, 64 << 10, None).is_err(), "a third memory would pass the cap");
        assert!(l.exceeded.as_deref().is_some_and(|m| m.contains("limits.memoryBytes")));
        assert!(l.table_growing(0, 1 << 20, None).is_err());
    }

    #[test]
    fn the_deadline_counts_wall_time_and_cancellation_wins() {
        let mut c = CallState::new("put", Duration::from_millis(20), Cancel::never(), None);
        assert_eq!(c.tick(), Ok(()));
        std::thread::sleep(Duration::from_millis(25)); // like a long host call
        assert_eq!(c.tick(), Err(Interrupt::Deadline));
        let cancel = Cancel::new();
        let mut c = CallState::new("put", Duration::from_secs(60), cancel.clone(), None);
        cancel.cancel();
        assert_eq!(c.tick(), Err(Interrupt::Cancelled));
    }
}
