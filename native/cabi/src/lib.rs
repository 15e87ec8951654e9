//! `libkvbox_connector.so`: LMCache's connector C ABI (the 8 functions of
//! `kvbox_connector.h`) over kvbox-core, so a host that loads C-ABI
//! connectors gets sandboxed WebAssembly connectors (or kvbox's built-in
//! filesystem connector) by loading this one library. No Node involved.
//!
//! Type conversion only: [`config`] turns the JSON into open options,
//! [`handles`] keeps handles, panics and logging at the boundary, and each
//! entry point below is one kvbox-core call with the ABI's return codes.
//! Where the ABI leaves room, its flaws are fixed (see `docs/c-abi.md`):
//! `get` never truncates, `list_keys` never cuts the list short, errors are
//! logged with their reason.

pub mod config;
pub mod handles;

use config::{CreateConfig, Source, read_checked};
use handles::{call, contain};
use kvbox_core::sandbox::Runtime;
use kvbox_core::{Cancel, ConnectorKind, Error, Result, Tenant};
use std::ffi::{CStr, c_char, c_void};

fn open_tenant(cfg: &CreateConfig) -> Result<Tenant> {
    let kind = match &cfg.source {
        Source::BuiltinFs => ConnectorKind::NativeFs,
        Source::Wasm { path, sha256 } => {
            let wasm = read_checked(path, sha256)?;
            ConnectorKind::Wasm(Runtime::global()?.load(&wasm, cfg.cache_dir.as_deref())?.0)
        }
    };
    Tenant::open(kind, &cfg.options)
}

/// The key as UTF-8, or `InvalidKey`.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string valid for the call.
unsafe fn key_of<'a>(key: *const c_char) -> Result<&'a str> {
    if key.is_null() {
        return Err(Error::InvalidKey("key is NULL".into()));
    }
    // SAFETY: non-null and NUL-terminated per the ABI; borrowed for this call only.
    let bytes = unsafe { CStr::from_ptr(key) };
    bytes.to_str().map_err(|_| Error::InvalidKey("key is not valid UTF-8".into()))
}

/// Logs a bad key and returns `failed`; keys are checked before any handle lookup.
fn with_key<T>(op: &str, key: *const c_char, failed: T, f: impl FnOnce(&str) -> T) -> T {
    // SAFETY: the caller passes the host's key pointer unchanged.
    match unsafe { key_of(key) } {
        Ok(k) => f(k),
        Err(e) => {
            handles::complain(op, None, &e);
            failed
        }
    }
}

/// Opens a connector for one tenant from `len` bytes of JSON (not
/// NUL-terminated); NULL when the configuration is refused (the reason is
/// written to stderr).
///
/// # Safety
/// `config_json` points to `len` readable bytes (or is NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connector_create(config_json: *const c_char, len: usize) -> *mut c_void {
    contain("create", None, std::ptr::null_mut(), || {
        if config_json.is_null() {
            return Err(Error::InvalidConfig("config_json is NULL".into()));
        }
        // SAFETY: `len` readable bytes per the ABI, borrowed for this call.
        let bytes = unsafe { std::slice::from_raw_parts(config_json.cast::<u8>(), len) };
        let cfg = CreateConfig::parse(bytes)?;
        Ok(handles::register(open_tenant(&cfg)?))
    })
}

/// Closes the connector once the calls in flight on it have finished.
/// Later calls with this handle fail with -1 (0 for `exists`).
#[unsafe(no_mangle)]
pub extern "C" fn connector_destroy(handle: *mut c_void) {
    contain("destroy", None, (), || {
        handles::destroy(handle);
        Ok(())
    })
}

/// 1 when `key` is stored; 0 when absent **or on error** (the ABI has no
/// error code here; the error is logged, and `connector_file_size` tells them apart).
///
/// # Safety
/// `key` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connector_exists(handle: *mut c_void, key: *const c_char) -> i32 {
    with_key("exists", key, 0, |k| {
        call("exists", handle, Some(k), 0, |t| Ok(i32::from(t.admit_wait("exists", &Cancel::never())?.exists(k, &Cancel::never())?)))
    })
}

/// Stores `len` bytes under `key`, atomically replacing any previous
/// object: 0, or -1 on error.
///
/// # Safety
/// `key` is a NUL-terminated string; `data` points to `len` readable bytes (or `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connector_put(handle: *mut c_void, key: *const c_char, data: *const u8, len: usize) -> i32 {
    with_key("put", key, -1, |k| {
        call("put", handle, Some(k), -1, |t| {
            if k.contains('\n') {
                // Stored, it would make every later list_keys fail: its list is `\n`-separated.
                return Err(Error::InvalidKey(
                    "key contains a newline, which list_keys could not return (its keys are \\n-separated); nothing was written".into(),
                ));
            }
            let data = if len == 0 {
                &[][..]
            } else if data.is_null() {
                return Err(Error::InvalidArgument(format!("data is NULL with len {len}")));
            } else {
                // SAFETY: `len` readable bytes lent for this call only.
                unsafe { std::slice::from_raw_parts(data, len) }
            };
            t.admit_wait("put", &Cancel::never())?.put(k, data, &Cancel::never()).map(|()| 0)
        })
    })
}

/// Reads `key` into `out` (capacity `cap`): 0 with `*out_len` = the size,
/// 1 when absent, -1 on error. An object larger than `cap` is **not
/// truncated**: the call fails with -1 and sets `*out_len` to the size
/// needed, so the host can retry with a buffer that fits.
///
/// # Safety
/// `key` is a NUL-terminated string; `out` points to `cap` writable bytes
/// (or is NULL with `cap` 0); `out_len` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connector_get(handle: *mut c_void, key: *const c_char, out: *mut u8, cap: usize, out_len: *mut usize) -> i32 {
    with_key("get", key, -1, |k| {
        call("get", handle, Some(k), -1, |t| {
            if out_len.is_null() || (out.is_null() && cap > 0) {
                return Err(Error::InvalidArgument("out_len is NULL, or out is NULL with a non-zero cap".into()));
            }
            let dst = if cap == 0 {
                &mut [][..]
            } else {
                // SAFETY: `cap` writable bytes lent for this call only.
                unsafe { std::slice::from_raw_parts_mut(out, cap) }
            };
            let set = |n: u64| {
                // SAFETY: checked non-null above.
                unsafe { *out_len = n as usize };
            };
            match t.admit_wait("get", &Cancel::never())?.get_into(k, dst, &Cancel::never()) {
                Ok(Some(n)) => {
                    set(n);
                    Ok(0)
                }
                Ok(None) => Ok(1),
                Err(Error::TooLarge(why)) => {
                    // Too large for the buffer, or for limits.maxObjectBytes (then a bigger buffer would not help).
                    let Some(needed) = t.admit_wait("get", &Cancel::never())?.size(k, &Cancel::never())? else {
                        return Ok(1); // removed meanwhile
                    };
                    if needed <= cap as u64 {
                        return Err(Error::TooLarge(why));
                    }
                    set(needed);
                    if cap == 0 {
                        return Ok(-1); // the documented size query: nothing to report
                    }
                    Err(Error::TooLarge(format!(
                        "object of {needed} bytes does not fit the {cap}-byte buffer; nothing was copied, *out_len = {needed}"
                    )))
                }
                Err(e) => Err(e),
            }
        })
    })
}

/// 1 when `key` was removed, 0 when absent, -1 on error.
///
/// # Safety
/// `key` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connector_remove(handle: *mut c_void, key: *const c_char) -> i32 {
    with_key("remove", key, -1, |k| {
        call("remove", handle, Some(k), -1, |t| Ok(i32::from(t.admit_wait("remove", &Cancel::never())?.remove(k, &Cancel::never())?)))
    })
}

/// The object's size in `*out_size`: 0, 1 when absent, -1 on error.
///
/// # Safety
/// `key` is a NUL-terminated string; `out_size` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connector_file_size(handle: *mut c_void, key: *const c_char, out_size: *mut u64) -> i32 {
    with_key("file_size", key, -1, |k| {
        call("file_size", handle, Some(k), -1, |t| {
            if out_size.is_null() {
                return Err(Error::InvalidArgument("out_size is NULL".into()));
            }
            match t.admit_wait("file_size", &Cancel::never())?.size(k, &Cancel::never())? {
                Some(n) => {
                    // SAFETY: checked non-null above.
                    unsafe { *out_size = n };
                    Ok(0)
                }
                None => Ok(1),
            }
        })
    })
}

/// Every stored key, as put, separated by `\n` (no trailing newline; a NUL
/// follows when `cap` leaves room, not counted): 0 with `*out_len` = the
/// bytes written. When the list does not fit, nothing is cut: -1 with
/// `*out_len` = the bytes needed (call with `cap` 0 to ask). A key that
/// contains `\n` cannot be framed, so such a store fails with -1.
///
/// # Safety
/// `out` points to `cap` writable bytes (or is NULL with `cap` 0); `out_len` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connector_list_keys(handle: *mut c_void, out: *mut c_char, cap: usize, out_len: *mut usize) -> i32 {
    if !out_len.is_null() {
        // SAFETY: non-null, writable per the ABI. 0 until the list is known, so no failure — a dead
        // handle included — leaves it stale.
        unsafe { *out_len = 0 };
    }
    call("list_keys", handle, None, -1, |t| {
        if out_len.is_null() || (out.is_null() && cap > 0) {
            return Err(Error::InvalidArgument("out_len is NULL, or out is NULL with a non-zero cap".into()));
        }
        let text = all_keys(t)?;
        // SAFETY: checked non-null above.
        unsafe { *out_len = text.len() };
        if text.len() > cap && cap == 0 {
            return Ok(-1); // the documented size query: nothing to report
        }
        if text.len() > cap {
            return Err(Error::TooLarge(format!(
                "the key list needs {} bytes, the buffer has {cap}; nothing was cut, *out_len = {}",
                text.len(),
                text.len()
            )));
        }
        // SAFETY: `cap` writable bytes lent for this call, and text.len() (+1 for the NUL when room) ≤ cap.
        unsafe {
            if !text.is_empty() {
                std::ptr::copy_nonoverlapping(text.as_ptr(), out.cast::<u8>(), text.len());
            }
            if text.len() < cap {
                *out.add(text.len()) = 0;
            }
        }
        Ok(0)
    })
}

/// Every key, page after page, joined by `\n`.
fn all_keys(t: &Tenant) -> Result<String> {
    let mut text = String::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = t.admit_wait("list_keys", &Cancel::never())?.list_keys(cursor.as_deref(), u32::MAX, &Cancel::never())?;
        for key in &page.keys {
            if key.contains('\n') {
                return Err(Error::Connector(format!("stored key {key:?} contains a newline, which list_keys cannot frame")));
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(key);
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(text),
        }
    }
}
