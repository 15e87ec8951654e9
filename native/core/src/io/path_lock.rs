//! Per-path serialization of writes and removes, so that "old size → new
//! size" is known exactly and the usage counters never drift, quota or not.
//!
//! Only operations on the same path wait for each other (paths are told
//! apart by a 64-bit hash; a collision merely serializes two paths). The
//! cost on the uncontended path is two short critical sections on one
//! mutex and no system call (measured in `docs/security.md`).

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, MutexGuard};

/// The paths being written or removed right now.
#[derive(Debug, Default)]
pub struct PathLocks {
    held: Mutex<Held>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Held {
    paths: HashSet<u64>,
    /// Threads waiting for a path: only then is a release worth a wake-up.
    waiting: usize,
}

/// Holds one path until dropped.
#[must_use]
pub struct PathGuard<'a> {
    locks: &'a PathLocks,
    hash: u64,
}

impl PathLocks {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no other operation holds `path`, then holds it.
    pub fn lock(&self, path: &str) -> PathGuard<'_> {
        let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let mut held = self.held();
        while !held.paths.insert(hash) {
            held.waiting += 1;
            held = self.freed.wait(held).unwrap_or_else(|p| p.into_inner());
            held.waiting -= 1;
        }
        PathGuard { locks: self, hash }
    }
}

impl Drop for PathGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held();
        held.paths.remove(&self.hash);
        if held.waiting > 0 {
            drop(held);
            self.locks.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn one_holder_per_path_and_none_across_paths() {
        let locks = PathLocks::default();
        let a = locks.lock("a");
        let _b = locks.lock("b"); // another path does not wait
        let inside = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let _g = locks.lock("c");
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders of one path");
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        drop(a);
        drop(locks.lock("a"));
    }
}
