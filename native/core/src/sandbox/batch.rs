//! Batched calls on a sandboxed connector. The front door has already
//! checked the keys and split the batch into rounds and tiles; this file
//! runs one tile: in chunks (bounded in keys and bytes, so each guest call
//! stays within its deadline and handle limit), each chunk one call of the
//! component's batched export (contract 0.2.0 on), or — for components
//! without one (0.1.0) — one single-key call per key on the same pool.
//!
//! A chunk that traps, times out or is cancelled mid-run fails each of its
//! keys with that error (each key was applied whole or not at all; which is
//! unknown), the instance is replaced, and the next chunk carries on. Keys
//! after a cancellation are not started.
//!
//! The caller's buffers are handed to the guest as owned payload handles
//! (lists cannot hold borrows): lent read-only for `put-many`, writable
//! targets for `get-many-into`. Any the guest still holds when the call
//! returns is revoked — emptied — before the buffers go back to the caller.

use super::WasmConnector;
use super::connector::Instance;
use super::payload::Payload;
use crate::batch::{all_failed, chunks, not_started, one_per_key, per_key};
use crate::{Cancel, ObjectConnector, Result};
use std::ops::Range;
use wasmtime::component::Resource;

/// Most keys per guest call for calls that move no object bytes.
const KEYS_PER_CALL: usize = 256;
/// Most keys per guest call for calls that move object bytes.
const OBJECTS_PER_CALL: usize = 64;
/// Most object bytes per guest call (past its first key).
const BYTES_PER_CALL: u64 = 64 << 20;

impl WasmConnector {
    /// Chunks of a tile's keys, each run by `run`; keys of chunks after a
    /// cancellation are not started.
    fn chunked<T>(
        &self,
        op: &'static str,
        pieces: Vec<Range<usize>>,
        cancel: &Cancel,
        mut run: impl FnMut(Range<usize>) -> Vec<Result<T>>,
    ) -> Vec<Result<T>> {
        let mut out = Vec::new();
        for piece in pieces {
            if cancel.is_cancelled() {
                out.extend((0..piece.len()).map(|_| Err(not_started(op))));
            } else {
                let len = piece.len();
                out.extend(one_per_key(run(piece), len, op));
            }
        }
        out
    }

    /// Most payload handles one guest call may be handed (half the table).
    fn objects_per_call(&self) -> usize {
        OBJECTS_PER_CALL.min((self.limits.max_host_handles / 2).max(1) as usize)
    }

    /// One batched guest call on one instance; every key fails alike if it traps.
    fn batch_call<T>(
        &self,
        op: &'static str,
        keys: usize,
        cancel: &Cancel,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<Vec<Result<T>>>,
    ) -> Vec<Result<T>> {
        match self.call(op, cancel, |i| f(i).map(Ok)) {
            Ok(results) => results,
            Err(e) => all_failed(&e, keys),
        }
    }

    pub(super) fn exists_many_in(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        let op = "existsMany";
        if !self.batched() {
            return per_key(keys.len(), op, cancel, |i| self.exists(&keys[i], cancel));
        }
        self.chunked(op, chunks(keys.len(), KEYS_PER_CALL, u64::MAX, |_| 0), cancel, |r| {
            let part = &keys[r];
            self.batch_call(op, part.len(), cancel, |i| i.guest.batch().expect("batched").exists_many(&mut i.store, i.handle, part))
        })
    }

    pub(super) fn size_many_in(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        let op = "sizeMany";
        if !self.batched() {
            return per_key(keys.len(), op, cancel, |i| self.size(&keys[i], cancel));
        }
        self.chunked(op, chunks(keys.len(), KEYS_PER_CALL, u64::MAX, |_| 0), cancel, |r| {
            let part = &keys[r];
            self.batch_call(op, part.len(), cancel, |i| i.guest.batch().expect("batched").size_many(&mut i.store, i.handle, part))
        })
    }

    pub(super) fn remove_many_in(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<bool>> {
        let op = "removeMany";
        if !self.batched() {
            return per_key(keys.len(), op, cancel, |i| self.remove(&keys[i], cancel));
        }
        self.chunked(op, chunks(keys.len(), KEYS_PER_CALL, u64::MAX, |_| 0), cancel, |r| {
            let part = &keys[r];
            self.batch_call(op, part.len(), cancel, |i| i.guest.batch().expect("batched").remove_many(&mut i.store, i.handle, part))
        })
    }

    pub(super) fn get_many_in(&self, keys: &[String], cancel: &Cancel) -> Vec<Result<Option<Vec<u8>>>> {
        let op = "getMany";
        if !self.batched() {
            return per_key(keys.len(), op, cancel, |i| self.get(&keys[i], cancel));
        }
        let per_call = self.objects_per_call();
        self.chunked(op, chunks(keys.len(), per_call, u64::MAX, |_| 0), cancel, |r| {
            let part = &keys[r];
            self.batch_call(op, part.len(), cancel, |i| {
                // The payloads returned stay in the table until the call is
                // over: the budget holds one object per key of this chunk.
                i.store.data_mut().host().budget.set_cap(self.limits.payload_budget(part.len()));
                let got = i.guest.batch().expect("batched").get_many(&mut i.store, i.handle, part)?;
                // A bad handle is a trap: the instance (and its budget) goes.
                let out = got
                    .into_iter()
                    .map(|result| {
                        Ok(match result {
                            Ok(Some(res)) => match i.store.data_mut().host().take_payload(res)? {
                                Payload::Owned(v) => Ok(Some(v)),
                                other => Ok(Some(other.bytes().to_vec())),
                            },
                            Ok(None) => Ok(None),
                            Err(e) => Err(e),
                        })
                    })
                    .collect::<wasmtime::Result<Vec<_>>>()?;
                i.store.data_mut().host().budget.set_cap(self.limits.payload_budget(1));
                Ok(out)
            })
        })
    }

    pub(super) fn get_many_into_in(&self, keys: &[String], targets: &mut [&mut [u8]], cancel: &Cancel) -> Vec<Result<Option<u64>>> {
        let op = "getManyInto";
        if !self.batched() {
            return per_key(keys.len(), op, cancel, |i| self.get_into(&keys[i], targets[i], cancel));
        }
        let pieces = chunks(keys.len(), self.objects_per_call(), BYTES_PER_CALL, |i| targets[i].len() as u64);
        self.chunked(op, pieces, cancel, |r| {
            let part = &keys[r.clone()];
            let bufs = &mut targets[r];
            self.batch_call(op, part.len(), cancel, |i| {
                let lent: Vec<Payload> = bufs.iter_mut().map(|b| Payload::target(b)).collect();
                handed_over(i, lent, |i, handles| i.guest.batch().expect("batched").get_many_into(&mut i.store, i.handle, part, handles))
            })
        })
    }

    pub(super) fn put_many_in(&self, keys: &[String], data: &[&[u8]], cancel: &Cancel) -> Vec<Result<()>> {
        let op = "putMany";
        if !self.batched() {
            return per_key(keys.len(), op, cancel, |i| self.put(&keys[i], data[i], cancel));
        }
        let pieces = chunks(keys.len(), self.objects_per_call(), BYTES_PER_CALL, |i| data[i].len() as u64);
        self.chunked(op, pieces, cancel, |r| {
            let part = &keys[r.clone()];
            let bytes = &data[r];
            self.batch_call(op, part.len(), cancel, |i| {
                let lent: Vec<Payload> = bytes.iter().map(|b| Payload::lend(b)).collect();
                handed_over(i, lent, |i, handles| i.guest.batch().expect("batched").put_many(&mut i.store, i.handle, part, handles))
            })
        })
    }
}

/// Puts `lent` payloads (over the caller's buffers) in the instance's table,
/// hands them to `call` as owned handles, and revokes — empties — any the
/// guest still holds afterwards, whatever `call` returned.
fn handed_over<T>(
    i: &mut Instance,
    lent: Vec<Payload>,
    call: impl FnOnce(&mut Instance, Vec<Resource<Payload>>) -> wasmtime::Result<T>,
) -> wasmtime::Result<T> {
    let bases: Vec<*const u8> = lent.iter().map(|p| p.bytes().as_ptr()).collect();
    let mut handles = Vec::with_capacity(lent.len());
    let mut reps = Vec::with_capacity(lent.len());
    let mut pushed = Ok(());
    for p in lent {
        match i.store.data_mut().table().push(p) {
            Ok(h) => {
                reps.push(h.rep());
                handles.push(h);
            }
            Err(e) => {
                pushed = Err(e);
                break;
            }
        }
    }
    let out = match pushed {
        Ok(()) => call(i, handles),
        Err(e) => {
            drop(handles);
            Err(e.into())
        }
    };
    let table = i.store.data_mut().table();
    for (rep, base) in reps.into_iter().zip(bases) {
        if let Ok(kept) = table.get_mut(&Resource::<Payload>::new_borrow(rep))
            && kept.lends(base)
        {
            *kept = Payload::Owned(Vec::new());
        }
    }
    out
}
