//! A tenant's open connector, whichever kind, behind the admission check
//! every kind shares: the quota on operations in flight.
//!
//! Admission happens on the caller's thread before any work is queued, so a
//! tenant flooding calls is refused at once instead of occupying worker
//! threads that other tenants need.

use crate::native_fs::NativeFsConnector;
use crate::sandbox::{CompiledComponent, WasmConnector};
use crate::{ConnectorStats, Error, ObjectConnector, OpenOptions, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// An open connector for one tenant.
pub struct Tenant {
    connector: Arc<dyn ObjectConnector>,
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
        Ok(Self {
            connector,
            in_flight: Arc::default(),
            max_in_flight: options.quota.max_in_flight.into(),
            rejections: AtomicU64::new(0),
        })
    }

    /// Admits one call, or refuses it with `Quota` when the tenant already
    /// has `quota.max_in_flight` calls admitted.
    pub fn admit(&self, op: &str) -> Result<Ticket> {
        let max = self.max_in_flight;
        match self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)) {
            Ok(_) => Ok(Ticket(self.in_flight.clone())),
            Err(_) => {
                self.rejections.fetch_add(1, Ordering::Relaxed);
                Err(Error::Quota(format!("{op} refused: the tenant already has {max} operations in flight (quota.inFlight)")))
            }
        }
    }

    /// The connector, for admitted calls.
    pub fn connector(&self) -> &Arc<dyn ObjectConnector> {
        &self.connector
    }

    /// The connector's counters with the tenant's admission figures.
    pub fn stats(&self) -> ConnectorStats {
        let mut s = self.connector.stats();
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
        let _b = t.admit("put").unwrap();
        assert!(matches!(t.admit("put"), Err(Error::Quota(_))));
        assert_eq!(t.stats().in_flight, 2);
        drop(a);
        let _c = t.admit("put").unwrap();
        assert_eq!(t.stats().quota_rejections, 1);
        t.connector().put("k", b"v", &Cancel::never()).unwrap();
        assert_eq!((t.stats().objects, t.stats().bytes_stored), (1, 1));
    }

    #[test]
    fn one_open_per_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Tenant::open(None, &OpenOptions::new(tmp.path())).unwrap();
        assert!(matches!(Tenant::open(None, &OpenOptions::new(tmp.path())), Err(Error::Busy(_))));
        first.connector().close();
        Tenant::open(None, &OpenOptions::new(tmp.path())).expect("reopens after close");
    }

    #[test]
    fn cancelled_calls_do_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let t = Tenant::open(None, &OpenOptions::new(tmp.path())).unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(t.connector().put("k", b"v", &cancel), Err(Error::Cancelled(_))));
        assert!(!t.connector().exists("k", &Cancel::never()).unwrap());
    }
}
