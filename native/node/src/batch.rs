//! Batched results as JS sees them: one flag per key in a `Uint8Array`,
//! sizes in a `Float64Array`, buffers in an array, and only the failed keys
//! as error records — compact, so a batch of 10 000 keys crosses to JS as a
//! handful of values, not 10 000 objects.

use crate::recycled::RecycledBuffer;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// One key of a batch that failed: its index, stable code and message.
#[napi(object)]
pub struct NativeKeyError {
    pub index: u32,
    pub code: String,
    pub message: String,
}

/// The outcome of a batch, per key in input order. `flags[i]` is 1 for a
/// hit (exists, found, removed, stored) and 0 for a miss or a failure; the
/// failures are listed in `errors`.
#[napi(object, object_from_js = false)]
pub struct NativeBatch {
    pub flags: Uint8Array,
    /// Object sizes (sizeMany, getManyInto); 0 for a miss or a failure.
    pub sizes: Option<Float64Array>,
    /// The objects (getMany); null for a miss or a failure.
    #[napi(ts_type = "Array<Buffer | null>")]
    pub values: Option<Vec<Option<RecycledBuffer>>>,
    pub errors: Vec<NativeKeyError>,
}

fn error(index: usize, e: &kvbox_core::Error) -> NativeKeyError {
    NativeKeyError { index: index as u32, code: e.code().into(), message: e.message().into() }
}

/// Flags from per-key results (`hit` says whether an `Ok` counts as one).
pub fn flags<T>(results: Vec<kvbox_core::Result<T>>, hit: impl Fn(&T) -> bool) -> NativeBatch {
    let mut flags = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (i, r) in results.iter().enumerate() {
        flags.push(match r {
            Ok(v) => u8::from(hit(v)),
            Err(e) => {
                errors.push(error(i, e));
                0
            }
        });
    }
    NativeBatch { flags: flags.into(), sizes: None, values: None, errors }
}

/// Flags and sizes from per-key optional sizes.
pub fn sizes(results: Vec<kvbox_core::Result<Option<u64>>>) -> NativeBatch {
    let sizes: Vec<f64> = results.iter().map(|r| r.as_ref().ok().and_then(|s| *s).unwrap_or(0) as f64).collect();
    NativeBatch { sizes: Some(sizes.into()), ..flags(results, Option::is_some) }
}

/// Flags and buffers from per-key optional objects.
pub fn buffers(results: Vec<kvbox_core::Result<Option<Vec<u8>>>>) -> NativeBatch {
    let mut flags = Vec::with_capacity(results.len());
    let mut values = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        flags.push(u8::from(matches!(r, Ok(Some(_)))));
        values.push(match r {
            Ok(v) => v.map(RecycledBuffer),
            Err(e) => {
                errors.push(error(i, &e));
                None
            }
        });
    }
    NativeBatch { flags: flags.into(), sizes: None, values: Some(values), errors }
}

/// Refuses target buffers that share memory: each is written by a different
/// thread, and Rust must hold them as distinct `&mut [u8]`. `index[i]` is
/// the caller's index of `targets[i]` (keys refused in JS are not sent), so
/// the message names the buffers the caller passed.
pub fn disjoint(targets: &[Buffer], index: Option<&[u32]>) -> kvbox_core::Result<()> {
    let mut spans: Vec<(usize, usize, usize)> =
        targets.iter().enumerate().filter(|(_, b)| !b.is_empty()).map(|(i, b)| (b.as_ptr() as usize, b.len(), i)).collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        let ((a, len, i), (b, _, j)) = (pair[0], pair[1]);
        if a + len > b {
            let caller = |k: usize| index.and_then(|x| x.get(k)).map_or(k, |&at| at as usize);
            let (i, j) = (caller(i), caller(j));
            let (first, second) = (i.min(j), i.max(j));
            return Err(kvbox_core::Error::InvalidArgument(format!(
                "target buffers {first} and {second} overlap; each key needs its own memory"
            )));
        }
    }
    Ok(())
}
