//! `allocBuffer(size)`: Buffers whose memory is aligned for O_DIRECT, so a
//! put or getInto through them goes between the device and the caller's
//! memory with no bounce copy. 4 KiB-aligned; from 2 MiB on, 2 MiB-aligned
//! and advised for huge pages (the block layer then takes 4 MiB requests
//! whole, see docs/benchmarks.md). Zero-filled (touched once, here).

use napi::bindgen_prelude::*;
use napi::sys;
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::c_void;
use std::ptr;

const HUGE: usize = 2 << 20;

/// Aligned bytes to hand to JS as a Buffer.
pub struct AlignedBuffer {
    ptr: *mut u8,
    len: usize,
    layout: Layout,
}

impl AlignedBuffer {
    pub fn new(len: usize) -> Result<Self> {
        let align = if len >= HUGE { HUGE } else { 4096 };
        let layout = Layout::from_size_align(len.max(1), align).map_err(|e| Error::from_reason(format!("allocBuffer: {e}")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(Error::from_reason(format!("allocBuffer: out of memory allocating {len} bytes")));
        }
        if align == HUGE {
            // SAFETY: the range is the allocation just made; advice only.
            unsafe { libc::madvise(ptr.cast(), layout.size(), libc::MADV_HUGEPAGE) };
        }
        Ok(Self { ptr, len, layout })
    }
}

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the Box<Layout> made in `to_napi_value`, finalized once, for `data`.
    let layout = unsafe { Box::from_raw(hint.cast::<Layout>()) };
    // SAFETY: `data` was allocated with this layout and is no longer reachable from JS.
    unsafe { dealloc(data.cast(), *layout) };
}

impl ToNapiValue for AlignedBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        let len = val.len;
        let hint = Box::into_raw(Box::new(val.layout));
        // SAFETY: `val.ptr` stays valid until `release` runs.
        let status = unsafe { sys::napi_create_external_buffer(env, len, val.ptr.cast(), Some(release), hint.cast(), &mut out) };
        if status == sys::Status::napi_ok {
            return Ok(out);
        }
        // A runtime that forbids external buffers: a copy (unaligned, but correct).
        // SAFETY: not handed to JS, so still ours.
        let layout = unsafe { Box::from_raw(hint) };
        let copied = unsafe { sys::napi_create_buffer_copy(env, len, val.ptr.cast(), ptr::null_mut(), &mut out) };
        unsafe { dealloc(val.ptr, *layout) };
        check_status!(copied)?;
        Ok(out)
    }
}
