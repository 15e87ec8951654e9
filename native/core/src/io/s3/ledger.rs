//! What a tenant stores on a shared S3 prefix, as one node knows it, and
//! the quotas enforced against that.
//!
//! No node sees the others' writes as they happen, so usage is
//! *measured* and *tracked*: a listing of the whole prefix (at open, then
//! every `usageRefreshMs` in the background, [`super::S3Objects`]) gives
//! the tenant's total across all nodes; this node's own committed changes
//! since that listing began are added on top, and puts in flight are held
//! as reservations. A put is refused (`Quota`, nothing stored) when that
//! estimate plus the put would pass a quota.
//!
//! So with one node the quotas are exact, as on a directory; with N nodes
//! the tenant can exceed a quota by at most what the other nodes store
//! within one refresh interval (plus one listing's duration) — the
//! documented price of not coordinating every put. Changes made while a
//! listing runs may be counted twice until the next one: the estimate errs
//! on the high side, so it refuses early rather than late.

use super::super::Usage;
use super::super::path_lock::{PathGuard, PathLocks};
use crate::{Error, Result};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
struct State {
    /// The last full listing.
    listed: Usage,
    /// This node's committed changes not yet known to be in `listed`.
    local_bytes: i128,
    local_objects: i128,
    /// Reserved by puts in flight.
    pending_bytes: u64,
    pending_objects: u64,
}

impl State {
    fn estimate(&self) -> (u64, u64) {
        let clamp = |v: i128| v.clamp(0, u64::MAX as i128) as u64;
        (
            clamp(self.listed.bytes as i128 + self.local_bytes + self.pending_bytes as i128),
            clamp(self.listed.objects as i128 + self.local_objects + self.pending_objects as i128),
        )
    }
}

/// One node's view of a shared tenant's usage, and its quotas.
#[derive(Debug)]
pub struct Ledger {
    state: Mutex<State>,
    max_bytes: Option<u64>,
    max_objects: Option<u64>,
    rejections: AtomicU64,
    paths: PathLocks,
}

/// Marks the start of a listing; see [`Ledger::listed`].
pub struct ListingMark {
    bytes: i128,
    objects: i128,
}

impl Ledger {
    /// A ledger starting from a first listing.
    pub fn new(listed: Usage, max_bytes: Option<u64>, max_objects: Option<u64>) -> Self {
        Self {
            state: Mutex::new(State { listed, ..State::default() }),
            max_bytes,
            max_objects,
            rejections: AtomicU64::new(0),
            paths: PathLocks::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The estimate now (directories: none on S3).
    pub fn usage(&self) -> Usage {
        let (bytes, objects) = self.state().estimate();
        Usage { bytes, objects, directories: 0 }
    }

    /// Puts refused by a quota so far.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    /// Serializes this node's writes and removes of `path`.
    pub fn lock_path(&self, path: &str) -> PathGuard<'_> {
        self.paths.lock(path)
    }

    /// Reserves room for replacing an object of `old` bytes (`None`: a new
    /// object) with `new` bytes, or refuses with `Quota` (counted in
    /// [`Self::rejections`] when `count`: a tentative refusal is not).
    pub fn reserve(&self, old: Option<u64>, new: u64, count: bool) -> Result<Reservation<'_>> {
        let add_objects = u64::from(old.is_none());
        let grow = new.saturating_sub(old.unwrap_or(0));
        let mut st = self.state();
        let (bytes, objects) = st.estimate();
        let over = |now: u64, n: u64, max: Option<u64>| n > 0 && max.is_some_and(|m| now.saturating_add(n) > m);
        let refusal = if over(objects, add_objects, self.max_objects) {
            Some(("quota.objects", "objects", objects, add_objects, self.max_objects))
        } else if over(bytes, grow, self.max_bytes) {
            Some(("quota.bytes", "bytes", bytes, grow, self.max_bytes))
        } else {
            None
        };
        if let Some((quota, unit, now, n, max)) = refusal {
            if count {
                self.rejections.fetch_add(1, Ordering::Relaxed);
            }
            return Err(Error::Quota(format!(
                "a put of {new} bytes would make {} {unit}, over the quota of {} ({quota}); nothing was written \
                 (the tenant holds about {now} {unit} across all nodes, as of this node's last listing)",
                now.saturating_add(n),
                max.unwrap_or(u64::MAX)
            )));
        }
        st.pending_bytes += grow;
        st.pending_objects += add_objects;
        Ok(Reservation { ledger: self, old, new, grow, add_objects, committed: false })
    }

    /// Records the removal of an object of `size` bytes.
    pub fn removed(&self, size: u64) {
        let mut st = self.state();
        st.local_bytes -= size as i128;
        st.local_objects -= 1;
    }

    /// A listing of the whole prefix is starting.
    pub fn mark(&self) -> ListingMark {
        let st = self.state();
        ListingMark { bytes: st.local_bytes, objects: st.local_objects }
    }

    /// A listing started at `mark` found `listed`: it replaces the last
    /// one, and this node's changes from before `mark` are in it.
    pub fn listed(&self, mark: ListingMark, listed: Usage) {
        let mut st = self.state();
        st.listed = listed;
        st.local_bytes -= mark.bytes;
        st.local_objects -= mark.objects;
    }
}

/// Room held for one put; given back on drop unless committed.
#[must_use]
pub struct Reservation<'a> {
    ledger: &'a Ledger,
    old: Option<u64>,
    new: u64,
    grow: u64,
    add_objects: u64,
    committed: bool,
}

impl Reservation<'_> {
    /// The put was stored: the change becomes this node's.
    pub fn commit(mut self) {
        let mut st = self.ledger.state();
        st.local_bytes += self.new as i128 - self.old.unwrap_or(0) as i128;
        st.local_objects += self.add_objects as i128;
        self.committed = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut st = self.ledger.state();
        st.pending_bytes -= self.grow;
        st.pending_objects -= self.add_objects;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(bytes: u64, objects: u64) -> Usage {
        Usage { bytes, objects, directories: 0 }
    }

    #[test]
    fn exact_for_one_node_and_refuses_over_quota() {
        let l = Ledger::new(usage(100, 1), Some(1000), Some(3));
        l.reserve(None, 400, true).unwrap().commit();
        assert_eq!(l.usage(), usage(500, 2));
        l.reserve(Some(400), 100, true).unwrap().commit(); // replace, shrink
        assert_eq!(l.usage(), usage(200, 2));
        assert!(matches!(l.reserve(None, 801, true), Err(Error::Quota(_))));
        l.reserve(None, 800, true).unwrap().commit();
        assert!(matches!(l.reserve(None, 0, true), Err(Error::Quota(m)) if m.contains("quota.objects")));
        assert_eq!(l.rejections(), 2);
        l.removed(800);
        assert_eq!(l.usage(), usage(200, 2));
    }

    #[test]
    fn an_uncommitted_reservation_is_given_back_and_in_flight_ones_count() {
        let l = Ledger::new(usage(0, 0), Some(100), None);
        let held = l.reserve(None, 60, true).unwrap();
        assert!(matches!(l.reserve(None, 60, true), Err(Error::Quota(_))), "in flight counts");
        drop(held);
        assert_eq!(l.usage(), usage(0, 0));
        l.reserve(None, 60, true).unwrap().commit();
    }

    #[test]
    fn a_listing_replaces_what_it_covers_and_keeps_later_changes() {
        let l = Ledger::new(usage(0, 0), None, None);
        l.reserve(None, 10, true).unwrap().commit();
        let mark = l.mark();
        l.reserve(None, 5, true).unwrap().commit(); // during the listing
        // The listing saw "a", another node's 1000 bytes, and not "b".
        l.listed(mark, usage(1010, 3));
        assert_eq!(l.usage(), usage(1015, 4));
        let mark = l.mark();
        l.listed(mark, usage(1015, 4));
        assert_eq!(l.usage(), usage(1015, 4));
    }
}
