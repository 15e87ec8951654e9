//! The caller's buffer during one `getInto` call: arm → use → revoke.
//!
//! [`with_target`] arms the buffer for the duration of one closure (the
//! guest's `get`). The guest's first `objects.read` that fits lands in it
//! directly ([`ReadTarget::take`]) and is handed to the guest as a
//! read-only [`Payload::Lent`] over it ([`ReadTarget::issue`]). When the
//! closure returns — normally, with an error or a trap — the target is
//! disarmed and every payload issued over it that the guest still holds is
//! revoked (emptied), so none outlives the caller's buffer. The pointer lives
//! only in this file.

use super::payload::Payload;
use std::collections::HashSet;
use wasmtime::Store;
use wasmtime::component::{Resource, ResourceTable};

/// Store data that holds a read target and the resource table its payloads
/// live in (the sandbox's [`Sandbox`](super::state::Sandbox)).
pub trait TargetHolder {
    /// The store's read target.
    fn read_target(&mut self) -> &mut ReadTarget;
    /// The store's resource table.
    fn resources(&mut self) -> &mut ResourceTable;
}

/// Where reads may land during a `getInto` call; empty between calls.
#[derive(Default)]
pub struct ReadTarget {
    armed: Option<(*mut u8, usize)>,
    issued: Vec<u32>,
}

// SAFETY: the pointer is set only inside `with_target`, on the thread running
// the call, while the caller's `&mut [u8]` is borrowed for the whole closure.
unsafe impl Send for ReadTarget {}

/// The armed buffer, taken for one read.
pub struct Armed {
    ptr: *mut u8,
    cap: usize,
}

impl Armed {
    /// The caller's buffer.
    pub fn buf(&mut self) -> &mut [u8] {
        // SAFETY: armed only inside `with_target`, whose caller lent this
        // buffer mutably for the whole closure; no payload over it exists
        // until the read that uses it is issued.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }
}

impl ReadTarget {
    /// The armed buffer, if any; disarmed by this call, so at most one read
    /// lands in it.
    pub fn take(&mut self) -> Option<Armed> {
        self.armed.take().map(|(ptr, cap)| Armed { ptr, cap })
    }

    /// Puts a buffer taken with [`ReadTarget::take`] back, unused.
    pub fn put_back(&mut self, armed: Armed) {
        self.armed = Some((armed.ptr, armed.cap));
    }

    /// Records a payload handed to the guest over the target's first `len` bytes.
    pub fn issue(&mut self, rep: u32) {
        self.issued.push(rep);
    }
}

/// Runs `f` with `dst` armed as the store's read target; returns what `f`
/// returned and the resource reps of payloads that were issued over `dst`.
/// Those payloads are revoked before this returns.
pub fn with_target<T: TargetHolder, R>(store: &mut Store<T>, dst: &mut [u8], f: impl FnOnce(&mut Store<T>) -> R) -> (R, HashSet<u32>) {
    let base = dst.as_mut_ptr();
    *store.data_mut().read_target() = ReadTarget { armed: Some((base, dst.len())), issued: Vec::new() };
    let out = f(store);
    let issued: HashSet<u32> = std::mem::take(store.data_mut().read_target()).issued.into_iter().collect();
    let table = store.data_mut().resources();
    for &rep in &issued {
        if let Ok(kept) = table.get_mut(&Resource::<Payload>::new_borrow(rep))
            && matches!(kept, Payload::Lent { ptr, .. } if ptr.cast_mut() == base)
        {
            *kept = Payload::Owned(Vec::new());
        }
    }
    (out, issued)
}
