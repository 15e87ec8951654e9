//! A `get` result as a JS `Buffer` over the Rust allocation (no copy),
//! whose memory goes back to `kvbox_core::recycle` when JS collects it.

use napi::bindgen_prelude::*;
use napi::sys;
use std::ffi::c_void;
use std::ptr;

/// Bytes to hand to JS as a Buffer.
pub struct RecycledBuffer(pub Vec<u8>);

unsafe extern "C" fn give_back(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the Box created in `to_napi_value`, finalized once.
    let v = unsafe { Box::from_raw(hint.cast::<Vec<u8>>()) };
    kvbox_core::recycle::give(*v);
}

impl ToNapiValue for RecycledBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        let len = val.0.len();
        if len == 0 {
            check_status!(unsafe { sys::napi_create_buffer(env, 0, ptr::null_mut(), &mut out) })?;
            return Ok(out);
        }
        let data = val.0.as_ptr() as *mut c_void;
        let boxed = Box::into_raw(Box::new(val.0));
        // SAFETY: `data` stays valid until `give_back` runs: the Vec is owned
        // by `boxed`, which only the finalizer frees.
        let status = unsafe { sys::napi_create_external_buffer(env, len, data, Some(give_back), boxed.cast(), &mut out) };
        if status == sys::Status::napi_ok {
            return Ok(out);
        }
        // Runtimes that forbid external buffers: copy.
        // SAFETY: not handed to JS, so still ours.
        let v = unsafe { Box::from_raw(boxed) };
        check_status!(unsafe { sys::napi_create_buffer_copy(env, len, v.as_ptr().cast(), ptr::null_mut(), &mut out) })?;
        kvbox_core::recycle::give(*v);
        Ok(out)
    }
}
