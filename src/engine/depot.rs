//! The global depot of one tier: a bounded stack of idle blocks shared by all
//! threads, exchanged with thread caches in batches under one lock.
//!
//! The depot remembers its low-water mark, the fewest blocks it held since
//! the last collection: blocks below that mark were not needed by anyone in
//! the meantime, so idle trimming frees them (oldest first).

use crate::engine::block::IdleBlock;
use crate::sync::{AtomicBool, CachePadded, Mutex, Ordering};

#[derive(Debug, Default)]
struct DepotStack {
    /// Oldest at the bottom, newest on top.
    blocks: Vec<IdleBlock>,
    /// Fewest blocks held since the last `collect`.
    low_water: usize,
}

/// A bounded, lock-protected stack of idle blocks.
#[derive(Debug)]
pub(crate) struct Depot {
    stack: CachePadded<Mutex<DepotStack>>,
    capacity: usize,
}

impl Depot {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            stack: CachePadded::new(Mutex::new(DepotStack::default())),
            capacity,
        }
    }

    /// Moves up to `max` blocks into `into`, newest first. Returns how many.
    pub(crate) fn take_batch(&self, into: &mut Vec<IdleBlock>, max: usize) -> usize {
        let mut stack = self.stack.lock();
        let len = stack.blocks.len();
        let n = max.min(len);
        into.extend(stack.blocks.drain(len - n..));
        stack.low_water = stack.low_water.min(len - n);
        n
    }

    /// Moves as many of `from[..count]` into the depot as it has room for.
    /// The blocks that did not fit stay at the front of `from` and their
    /// number is returned; the caller frees them outside the lock. A closed
    /// pool's depot takes nothing.
    pub(crate) fn put_batch(
        &self,
        from: &mut Vec<IdleBlock>,
        count: usize,
        closed: &AtomicBool,
    ) -> usize {
        let mut stack = self.stack.lock();
        // Checked under the lock: `close` sets the flag before draining
        // under the same lock, so no block can be stranded after the drain.
        if closed.load(Ordering::Acquire) {
            return count;
        }
        let room = self.capacity.saturating_sub(stack.blocks.len());
        let moved = room.min(count);
        let rejected = count - moved;
        stack.blocks.extend(from.drain(rejected..count));
        rejected
    }

    /// Takes every idle block out of the depot.
    pub(crate) fn drain(&self) -> Vec<IdleBlock> {
        let mut stack = self.stack.lock();
        stack.low_water = 0;
        std::mem::take(&mut stack.blocks)
    }

    /// Takes out the oldest `fraction(low_water)` blocks: those nobody
    /// needed since the last collection. Starts a new collection period.
    pub(crate) fn collect(&self, fraction: impl FnOnce(usize) -> usize) -> Vec<IdleBlock> {
        let mut stack = self.stack.lock();
        let n = fraction(stack.low_water).min(stack.blocks.len());
        let unused: Vec<IdleBlock> = stack.blocks.drain(..n).collect();
        stack.low_water = stack.blocks.len();
        unused
    }
}
