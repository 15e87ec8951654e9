//! A tenant's open connector, whichever kind, behind the admission check
//! every kind shares: the quota on operations in flight.
//!
//! Admission happens on the caller's thread before any work is queued, so a
//! tenant flooding calls is refused at once instead of occupying worker
//! threads that other tenants need.
//!
//! Closing lets go of the connector: once the calls in flight (each holding
//! its own reference) finish, its instances, buffers and the directory's
//! descriptors are freed — not whenever the JS object is collected.

use crate::native_fs::NativeFsConnector;
use crate::sandbox::{CompiledComponent, WasmConnector};
use crate::{ConnectorStats, Error, ObjectConnector, OpenOptions, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// An open connector for one tenant.
pub struct Tenant {
    /// `None` once closed.
    connector: Mutex<Option<Arc<dyn ObjectConnector>>>,
    /// The counters as they were at close.
    final_stats: Mutex<ConnectorStats>,
    in_flight: Arc<AtomicU64>,
    max_in_flight: u64,
    rejections: AtomicU64,
}

/// One admitted call; dropping it ends the call's share of the quota.
#[must_use]
pub struct Ticket(Arc<AtomicU64>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Tenant {
    /// Opens `component` (the native fast path when `None`) for a tenant.
    pub fn open(component: Option<Arc<CompiledComponent>>, options: &OpenOptions) -> Result<Self> {
        if options.quota.max_in_flight == 0 {
            return Err(Error::InvalidArgument("quota.inFlight must be at least 1".into()));
        }
        let connector: Arc<dyn ObjectConnector> = match component {
            Some(c) => Arc::new(WasmConnector::open(c, options)?),
            None => Arc::new(NativeFsConnector::open(options)?),
        };
        Self::with_connector(connector, options)
    }

    /// A tenant served by a connector opened by the caller (a trusted
    /// native `.so`, see [`crate::trusted`]), behind the same admission.
    pub fn with_connector(connector: Arc<dyn ObjectConnector>, options: &OpenOptions) -> Result<Self> {
        if options.quota.max_in_flight == 0 {
            return Err(Error::InvalidArgument("quota.inFlight must be at least 1".into()));
        }
        Ok(Self {
            connector: Mutex::new(Some(connector)),
            final_stats: Mutex::default(),
            in_flight: Arc::default(),
            max_in_flight: options.quota.max_in_flight.into(),
            rejections: AtomicU64::new(0),
        })
    }

    /// Admits one call: the connector to run it on and the call's share of
    /// the quota. Refused with `Closed` after [`Tenant::close`], or with
    /// `Quota` when the tenant already has `quota.max_in_flight` calls admitted.
    pub fn admit(&self, op: &str) -> Result<(Arc<dyn ObjectConnector>, Ticket)> {
        let connector = self.connector()?;
        let max = self.max_in_flight;
        match self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)) {
            Ok(_) => Ok((connector, Ticket(self.in_flight.clone()))),
            Err(_) => {
                self.rejections.fetch_add(1, Ordering::Relaxed);
                Err(Error::Quota(format!("{op} refused: the tenant already has {max} operations in flight (quota.inFlight)")))
            }
        }
    }

    /// The open connector, or `Closed`.
    pub fn connector(&self) -> Result<Arc<dyn ObjectConnector>> {
        self.connector.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(Error::Closed)
    }

    /// Refuses further calls, releases the directory's lock now, and drops
    /// this reference to the connector; idempotent.
    pub fn close(&self) {
        let taken = self.connector.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(c) = taken {
            c.close();
            *self.final_stats.lock().unwrap_or_else(|p| p.into_inner()) = c.stats();
        }
    }

    /// The connector's counters with the tenant's admission figures (as at
    /// close, once closed).
    pub fn stats(&self) -> ConnectorStats {
        let mut s = match self.connector() {
            Ok(c) => c.stats(),
            Err(_) => *self.final_stats.lock().unwrap_or_else(|p| p.into_inner()),
        };
        s.in_flight = self.in_flight.load(Ordering::Acquire);
        s.quota_rejections += self.rejections.load(Ordering::Relaxed);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cancel, Quota};

    #[test]
    fn admits_up_to_the_quota_and_frees_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let mut options = OpenOptions::new(tmp.path());
        options.quota = Quota { max_in_flight: 2, ..Quota::default() };
        let t = Tenant::open(None, &options).unwrap();
        let a = t.admit("put").unwrap();
        let (c, _b) = t.admit("put").unwrap();
        assert!(matches!(t.admit("put"), Err(Error::Quota(_))));
        assert_eq!(t.stats().in_flight, 2);
        drop(a);
        let _c = t.admit("put").unwrap();
        assert_eq!(t.stats().quota_rejections, 1);
        c.put("k", b"v", &Cancel::never()).unwrap();
        assert_eq!((t.stats().objects, t.stats().bytes_stored), (1, 1));
    }

    #[test]
    fn one_open_per_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Tenant::open(None, &OpenOptions::new(tmp.path())).unwrap();
        assert!(matches!(Tenant::open(None, &OpenOptions::new(tmp.path())), Err(Error::Busy(_))));
        first.close();
        assert!(matches!(first.admit("get"), Err(Error::Closed)));
        Tenant::open(None, &OpenOptions::new(tmp.path())).expect("reopens after close");
    }

    #[test]
    fn cancelled_calls_do_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let t = Tenant::open(None, &OpenOptions::new(tmp.path())).unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        let c = t.connector().unwrap();
        assert!(matches!(c.put("k", b"v", &cancel), Err(Error::Cancelled(_))));
        assert!(!c.exists("k", &Cancel::never()).unwrap());
    }
}
