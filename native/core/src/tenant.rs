//! A tenant's open connector, whichever kind, behind the one front door
//! every call goes through: admission (closed? under `quota.inFlight`?) on
//! the caller's thread, then the per-call checks (cancelled? key? size?) and
//! the connector call on a worker thread, then the checks of what the
//! connector returned (listing pages). Connectors rely on these checks and
//! repeat none of them.
//!
//! Invariants:
//! - every admitted call holds a [`Call`], which holds the connector; the
//!   in-flight count is exactly the number of live `Call`s;
//! - after [`Tenant::close`] no call is admitted; the connector (its
//!   instances, buffers, descriptors and the directory lock) is dropped only
//!   once every admitted call has finished ([`Tenant::wait_closed`]), so a
//!   new open of the directory never races a call of the old one.

use crate::connector::{ConnectorStats, KeyPage, ObjectConnector};
use crate::native_fs::NativeFsConnector;
use crate::sandbox::{CompiledComponent, WasmConnector};
use crate::{Cancel, Error, Limits, OpenOptions, Result};
use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Which connector a tenant runs.
#[derive(Clone)]
pub enum ConnectorKind {
    /// A compiled WebAssembly component, sandboxed.
    Wasm(Arc<CompiledComponent>),
    /// The built-in filesystem connector, native (trusted fast path).
    NativeFs,
    /// A C-ABI `.so` the caller vouched for, native and in-process (no sandbox).
    Trusted(Arc<crate::trusted::TrustedLibrary>),
}

#[derive(Default)]
struct State {
    /// The connector while open.
    open: Option<Arc<dyn ObjectConnector>>,
    /// The connector after close, until the calls in flight finish.
    closing: Option<Arc<dyn ObjectConnector>>,
    /// The counters as they were when the connector was let go.
    final_stats: ConnectorStats,
    in_flight: u64,
    rejections: u64,
    /// The last call is dropping the connector (outside the lock).
    dropping: bool,
}

struct Shared {
    state: Mutex<State>,
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An open connector for one tenant.
pub struct Tenant {
    shared: Arc<Shared>,
    limits: Arc<Limits>,
    max_in_flight: u64,
}

impl Tenant {
    /// Opens a connector of `kind` for a tenant.
    pub fn open(kind: ConnectorKind, options: &OpenOptions) -> Result<Self> {
        options.validate()?;
        let connector: Arc<dyn ObjectConnector> = match kind {
            ConnectorKind::Wasm(c) => Arc::new(WasmConnector::open(c, options)?),
            ConnectorKind::NativeFs => Arc::new(NativeFsConnector::open(options)?),
            ConnectorKind::Trusted(library) => Arc::new(crate::trusted::TrustedConnector::open(library, options)?),
        };
        Ok(Self::with_connector(connector, options))
    }

    /// A tenant over a connector opened by the caller.
    pub fn with_connector(connector: Arc<dyn ObjectConnector>, options: &OpenOptions) -> Self {
        let state = State { open: Some(connector), ..State::default() };
        Self {
            shared: Arc::new(Shared { state: Mutex::new(state), drained: Condvar::new() }),
            limits: Arc::new(options.limits.clone()),
            max_in_flight: options.quota.max_in_flight.into(),
        }
    }

    /// Admits one call named `op`. Refused with `Closed` after
    /// [`Tenant::close`], or with `Quota` when the tenant already has
    /// `quota.inFlight` calls admitted.
    pub fn admit(&self, op: &'static str) -> Result<Call> {
        let mut state = self.shared.lock();
        let connector = state.open.clone().ok_or_else(Error::closed)?;
        if state.in_flight >= self.max_in_flight {
            state.rejections += 1;
            return Err(Error::Quota(format!(
                "{op} refused: the tenant already has {} operations in flight (quota.inFlight)",
                self.max_in_flight
            )));
        }
        state.in_flight += 1;
        Ok(Call { connector: Some(connector), limits: self.limits.clone(), op, shared: self.shared.clone() })
    }

    /// Refuses further calls; idempotent, and cheap enough for the JS thread:
    /// the connector is let go (its instances and descriptors freed) by the
    /// last call in flight, or by [`Tenant::wait_closed`], or when the tenant
    /// is dropped.
    pub fn close(&self) {
        let mut state = self.shared.lock();
        if let Some(c) = state.open.take() {
            state.closing = Some(c);
        }
    }

    /// Blocks until every call admitted before [`Tenant::close`] finished
    /// and the connector is dropped (its directory lock released).
    pub fn wait_closed(&self) {
        let mut state = self.shared.lock();
        while state.in_flight > 0 || state.dropping {
            state = self.shared.drained.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(c) = state.closing.take() {
            state.final_stats = c.stats();
            drop(state);
            drop(c); // outside the lock: dropping frees instances and descriptors
        }
    }

    /// The connector's counters with the tenant's admission figures (as at
    /// close, once closed and drained).
    pub fn stats(&self) -> ConnectorStats {
        let state = self.shared.lock();
        let mut s = match state.open.as_ref().or(state.closing.as_ref()) {
            Some(c) => c.stats(),
            None => state.final_stats,
        };
        s.in_flight = state.in_flight;
        s.quota_rejections += state.rejections;
        s
    }

    /// The connector while open (for logs and the alignment), or `Closed`.
    pub fn connector(&self) -> Result<Arc<dyn ObjectConnector>> {
        self.shared.lock().open.clone().ok_or_else(Error::closed)
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        self.close();
    }
}

/// One admitted call: the connector to run it on and its share of the
/// in-flight quota, given back when dropped.
#[must_use]
pub struct Call {
    connector: Option<Arc<dyn ObjectConnector>>,
    limits: Arc<Limits>,
    op: &'static str,
    shared: Arc<Shared>,
}

impl Drop for Call {
    fn drop(&mut self) {
        // The connector reference goes first, so that when the count reaches
        // zero nothing but the tenant holds the connector.
        drop(self.connector.take());
        let mut state = self.shared.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            if let Some(c) = state.closing.take() {
                state.final_stats = c.stats();
                state.dropping = true;
                drop(state);
                drop(c);
                // Only now is the directory's lock released: wake waiters after.
                self.shared.lock().dropping = false;
            }
            self.shared.drained.notify_all();
        }
    }
}

impl Call {
    fn connector(&self) -> &dyn ObjectConnector {
        self.connector.as_deref().expect("present until drop")
    }

    /// The checks every keyed call gets, once: not cancelled, a valid key.
    fn check(&self, key: &str, cancel: &Cancel) -> Result<()> {
        cancel.check(self.op)?;
        check_key(key, &self.limits)
    }

    /// Nothing but admission: the floor under every call.
    pub fn ping(self) -> Result<()> {
        Ok(())
    }

    /// See [`ObjectConnector::exists`].
    pub fn exists(self, key: &str, cancel: &Cancel) -> Result<bool> {
        self.check(key, cancel)?;
        self.connector().exists(key, cancel)
    }

    /// See [`ObjectConnector::put`]; objects over `limits.maxObjectBytes` are refused first.
    pub fn put(self, key: &str, data: &[u8], cancel: &Cancel) -> Result<()> {
        self.check(key, cancel)?;
        if data.len() as u64 > self.limits.max_object_bytes {
            return Err(Error::TooLarge(format!(
                "object of {} bytes exceeds the caller's limit of {} (limits.maxObjectBytes)",
                data.len(),
                self.limits.max_object_bytes
            )));
        }
        self.connector().put(key, data, cancel)
    }

    /// See [`ObjectConnector::get`].
    pub fn get(self, key: &str, cancel: &Cancel) -> Result<Option<Vec<u8>>> {
        self.check(key, cancel)?;
        self.connector().get(key, cancel)
    }

    /// See [`ObjectConnector::get_into`].
    pub fn get_into(self, key: &str, dst: &mut [u8], cancel: &Cancel) -> Result<Option<u64>> {
        self.check(key, cancel)?;
        self.connector().get_into(key, dst, cancel)
    }

    /// See [`ObjectConnector::remove`].
    pub fn remove(self, key: &str, cancel: &Cancel) -> Result<bool> {
        self.check(key, cancel)?;
        self.connector().remove(key, cancel)
    }

    /// See [`ObjectConnector::size`].
    pub fn size(self, key: &str, cancel: &Cancel) -> Result<Option<u64>> {
        self.check(key, cancel)?;
        self.connector().size(key, cancel)
    }

    /// One page of at most `limit` keys (capped by `limits.maxListPage`),
    /// checked before it is returned: no more keys than asked, every key one
    /// the host would accept, no key twice, and a cursor that moves on.
    pub fn list_keys(self, cursor: Option<&str>, limit: u32, cancel: &Cancel) -> Result<KeyPage> {
        cancel.check(self.op)?;
        let limit = limit.clamp(1, self.limits.max_list_page);
        let page = self.connector().list_keys(cursor, limit, cancel)?;
        check_page(&page, cursor, limit, &self.limits)?;
        Ok(page)
    }
}

/// The host's own key rules: non-empty, no NUL, at most `limits.max_key_bytes` UTF-8 bytes.
pub fn check_key(key: &str, limits: &Limits) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("key is empty".into()));
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey("key contains a NUL character".into()));
    }
    if key.len() > limits.max_key_bytes as usize {
        return Err(Error::InvalidKey(format!(
            "key is {} bytes, over the limit of {} (limits.maxKeyBytes)",
            key.len(),
            limits.max_key_bytes
        )));
    }
    Ok(())
}

/// A listing page a connector returned, held to the rules callers rely on.
fn check_page(page: &KeyPage, cursor: Option<&str>, limit: u32, limits: &Limits) -> Result<()> {
    let broke = |why: String| Err(Error::Connector(format!("the connector broke the listing contract: {why}")));
    if page.keys.len() > limit as usize {
        return broke(format!("it returned {} keys for a page of at most {limit}", page.keys.len()));
    }
    if page.cursor.is_some() && page.cursor.as_deref() == cursor {
        return broke("it returned the cursor it was given, so the listing would never end".into());
    }
    let mut seen = HashSet::with_capacity(page.keys.len());
    for (i, key) in page.keys.iter().enumerate() {
        if let Err(e) = check_key(key, limits) {
            return broke(format!("key {i} of the page is one the host refuses ({e})"));
        }
        if !seen.insert(key.as_str()) {
            return broke(format!("key {i} of the page ({:?}) appears twice", truncate(key)));
        }
    }
    Ok(())
}

fn truncate(key: &str) -> &str {
    let mut end = key.len().min(80);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quota;

    fn native(root: &std::path::Path, quota: Quota) -> Tenant {
        let mut options = OpenOptions::new(root);
        options.quota = quota;
        Tenant::open(ConnectorKind::NativeFs, &options).unwrap()
    }

    #[test]
    fn admits_up_to_the_quota_and_frees_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let t = native(tmp.path(), Quota { max_in_flight: 2, ..Quota::default() });
        let a = t.admit("put").unwrap();
        let b = t.admit("put").unwrap();
        assert!(matches!(t.admit("put"), Err(Error::Quota(_))));
        assert_eq!(t.stats().in_flight, 2);
        drop(a);
        let _c = t.admit("put").unwrap();
        assert_eq!(t.stats().quota_rejections, 1);
        b.put("k", b"v", &Cancel::never()).unwrap();
        assert_eq!((t.stats().objects, t.stats().bytes_stored), (1, 1));
    }

    #[test]
    fn the_lock_outlives_calls_admitted_before_close() {
        let tmp = tempfile::tempdir().unwrap();
        let first = native(tmp.path(), Quota::default());
        let call = first.admit("put").unwrap();
        first.close();
        assert!(matches!(first.admit("get"), Err(Error::Closed(_))));
        let busy = Tenant::open(ConnectorKind::NativeFs, &OpenOptions::new(tmp.path()));
        assert!(matches!(busy, Err(Error::Busy(_))), "the admitted call still holds the directory");
        call.put("k", b"landed", &Cancel::never()).unwrap();
        first.wait_closed();
        let second = native(tmp.path(), Quota::default());
        assert_eq!(second.admit("get").unwrap().get("k", &Cancel::never()).unwrap().as_deref(), Some(&b"landed"[..]));
        assert_eq!(first.stats().objects, 1, "final stats survive close");
    }

    #[test]
    fn checks_each_call_once_at_the_front_door() {
        let tmp = tempfile::tempdir().unwrap();
        let mut options = OpenOptions::new(tmp.path());
        options.limits = Limits { max_key_bytes: 8, max_object_bytes: 4, ..Limits::default() };
        let t = Tenant::open(ConnectorKind::NativeFs, &options).unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(t.admit("put").unwrap().put("k", b"v", &cancel), Err(Error::Cancelled(_))));
        assert!(matches!(t.admit("put").unwrap().put("", b"v", &Cancel::never()), Err(Error::InvalidKey(_))));
        assert!(matches!(t.admit("put").unwrap().put("ééééé", b"v", &Cancel::never()), Err(Error::InvalidKey(_))), "bytes, not chars");
        assert!(matches!(t.admit("put").unwrap().put("k", b"12345", &Cancel::never()), Err(Error::TooLarge(_))));
        assert!(!t.admit("exists").unwrap().exists("k", &Cancel::never()).unwrap(), "nothing was written");
        assert_eq!(t.stats().in_flight, 0);
    }

    #[test]
    fn pages_that_break_the_contract_are_refused() {
        let limits = Limits { max_key_bytes: 4, ..Limits::default() };
        let page = |keys: &[&str], cursor: Option<&str>| KeyPage {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            cursor: cursor.map(Into::into),
        };
        assert!(check_page(&page(&["a", "b"], Some("b")), Some("a"), 2, &limits).is_ok());
        for (bad, given) in [
            (page(&["a", "b", "c"], None), None),
            (page(&[], Some("x")), Some("x")),
            (page(&["a", ""], None), None),
            (page(&["a", "a\0"], None), None),
            (page(&["toolong"], None), None),
            (page(&["a", "a"], None), None),
        ] {
            assert!(matches!(check_page(&bad, given, 2, &limits), Err(Error::Connector(_))), "{bad:?}");
        }
    }
}
