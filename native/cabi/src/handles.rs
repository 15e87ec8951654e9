//! The handles given to the C host, and what every entry point does around
//! its one kvbox-core call: find the handle, admit the call, keep panics on
//! this side of the boundary, and say why a call failed.
//!
//! A handle is a key into a process-wide table, not a pointer to memory: a
//! call with a handle already destroyed (or never created) finds nothing and
//! fails with -1, instead of reading freed memory. Each call holds its own
//! admission on the handle's tenant, whose end `connector_destroy` waits for.

use kvbox_core::io::root::Shown;
use kvbox_core::{Error, Result, Tenant};
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

type Table = RwLock<HashMap<usize, Arc<Tenant>>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::default)
}

/// Handle values start at an odd, non-null address-like number and never repeat.
static NEXT: AtomicUsize = AtomicUsize::new(0x6b76_0001);

/// Registers an open tenant; the value returned is the C handle.
pub fn register(tenant: Tenant) -> *mut c_void {
    let id = NEXT.fetch_add(2, Ordering::Relaxed);
    table().write().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::new(tenant));
    id as *mut c_void
}

fn lookup(handle: *mut c_void) -> Result<Arc<Tenant>> {
    let found = table().read().unwrap_or_else(|p| p.into_inner()).get(&(handle as usize)).cloned();
    found.ok_or_else(|| Error::InvalidArgument(format!("{handle:p} is not a live handle (never created, or destroyed)")))
}

/// Unregisters `handle` so no new call can start, waits for the calls in
/// flight to finish, then closes the tenant. Unknown handles are ignored.
pub fn destroy(handle: *mut c_void) {
    if handle.is_null() {
        return; // like free(NULL)
    }
    let taken = table().write().unwrap_or_else(|p| p.into_inner()).remove(&(handle as usize));
    let Some(tenant) = taken else {
        complain("destroy", None, &Error::InvalidArgument(format!("{handle:p} is not a live handle; ignored")));
        return;
    };
    // No call is admitted after close; those admitted end within their deadline.
    tenant.close();
    tenant.wait_closed();
}

/// Most lines [`complain`] writes in one second; the rest are counted and
/// reported in one line, written with the next line that is.
const LINES_PER_SECOND: u32 = 100;

/// Longest line written: an error whose text quotes a long key again is cut
/// there, so each line stays one atomic `write` even to a pipe (`PIPE_BUF`, 4 KiB).
const MAX_LINE_BYTES: usize = 2048;

/// Writes why a call failed to stderr, one line per failure: the ABI's integer
/// codes cannot say it. Each line goes out in one `write`, so it is never
/// interleaved with the host's output; at most [`LINES_PER_SECOND`] a second
/// (a burst of failures does not flood the host's log); none at all with
/// `KVBOX_CONNECTOR_LOG=off`.
pub fn complain(op: &str, key: Option<&str>, err: &Error) {
    static QUIET: OnceLock<bool> = OnceLock::new();
    if *QUIET.get_or_init(|| std::env::var("KVBOX_CONNECTOR_LOG").is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"))) {
        return;
    }
    let Some(suppressed) = admit_line() else { return };
    let mut text = String::new();
    if suppressed > 0 {
        text.push_str(&format!("kvbox_connector: {suppressed} more error lines were not written (at most {LINES_PER_SECOND} a second)\n"));
    }
    let mut line = match key {
        Some(k) => format!("kvbox_connector: {op} {:?}: [{}] {err}", Shown(k), err.code()),
        None => format!("kvbox_connector: {op}: [{}] {err}", err.code()),
    };
    if line.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES - 16;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line = format!("{}… (cut)", &line[..cut]);
    }
    text.push_str(&line);
    text.push('\n');
    use std::io::Write;
    // One write_all of the whole text: stderr is unbuffered, so a formatted eprintln! is several writes.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Whether a line may be written now: `Some(lines suppressed since the last
/// one written)` (0 usually), or `None` past this second's allowance.
fn admit_line() -> Option<u64> {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    static WINDOW: Mutex<Option<(Instant, u32, u64)>> = Mutex::new(None);
    let mut w = WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let (start, written, suppressed) = w.get_or_insert((now, 0, 0));
    if now.duration_since(*start) >= Duration::from_secs(1) {
        let before = *suppressed;
        *w = Some((now, 1, 0));
        return Some(before);
    }
    if *written < LINES_PER_SECOND {
        *written += 1;
        return Some(0);
    }
    *suppressed += 1;
    None
}

/// The runtime WASI output streams of sandboxed connectors run their small
/// tasks on; entered around every call, since C hosts call from threads of
/// their own.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("kvbox-cabi")
            .build()
            .expect("kvbox_connector: cannot start its runtime")
    })
}

/// Runs one entry point: finds the handle's tenant and runs `f` with it
/// (which admits its calls), turning an error or a panic into `failed` after logging it.
pub fn call<T>(op: &str, handle: *mut c_void, key: Option<&str>, failed: T, f: impl FnOnce(&Tenant) -> Result<T>) -> T {
    contain(op, key, failed, || f(&*lookup(handle)?))
}

/// Runs `f` inside the runtime; an error or a panic becomes `failed`, logged.
pub fn contain<T>(op: &str, key: Option<&str>, failed: T, f: impl FnOnce() -> Result<T>) -> T {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _rt = runtime().enter();
        f()
    }));
    let err = match outcome {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(panic) => Error::Trap(format!("kvbox panicked: {}", panic_message(&*panic))),
    };
    complain(op, key, &err);
    failed
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
