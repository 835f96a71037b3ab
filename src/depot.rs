//! The global depot of one tier: a bounded stack of idle blocks shared by all
//! threads, exchanged with thread caches in batches under one lock.

use crate::storage::IdleStorage;
use crate::sync::{CachePadded, Mutex};

/// A bounded, lock-protected stack of idle blocks.
#[derive(Debug)]
pub(crate) struct Depot {
    stack: CachePadded<Mutex<Vec<IdleStorage>>>,
    capacity: usize,
}

impl Depot {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            stack: CachePadded::new(Mutex::new(Vec::new())),
            capacity,
        }
    }

    /// Moves up to `max` blocks into `into`, newest first. Returns how many.
    pub(crate) fn take_batch(&self, into: &mut Vec<IdleStorage>, max: usize) -> usize {
        let mut stack = self.stack.lock();
        let n = max.min(stack.len());
        let start = stack.len() - n;
        into.extend(stack.drain(start..));
        n
    }

    /// Moves as many of `from[..count]` into the depot as it has room for
    /// (all of them if `closed` is false and there is room). The blocks that
    /// did not fit stay at the front of `from` and their number is returned;
    /// the caller frees them outside the lock.
    pub(crate) fn put_batch(
        &self,
        from: &mut Vec<IdleStorage>,
        count: usize,
        closed: &crate::sync::AtomicBool,
    ) -> usize {
        let mut stack = self.stack.lock();
        // Checked under the lock: `close` sets the flag before draining
        // under the same lock, so no block can be stranded after the drain.
        if closed.load(crate::sync::Ordering::Acquire) {
            return count;
        }
        let room = self.capacity.saturating_sub(stack.len());
        let moved = room.min(count);
        let rejected = count - moved;
        stack.extend(from.drain(rejected..count));
        rejected
    }

    /// Takes every idle block out of the depot.
    pub(crate) fn drain(&self) -> Vec<IdleStorage> {
        std::mem::take(&mut *self.stack.lock())
    }

    /// Number of idle blocks in the depot now.
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.stack.lock().len()
    }
}
