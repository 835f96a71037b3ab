//! One thread's cache for one pool: a stack of idle blocks per tier.
//!
//! This is the mechanism of the fast path; how a thread finds its cache
//! (the thread-local table, the last-used shortcut, pool slots) is the
//! plumbing in [`local_table`](crate::local_table). A get pops from a
//! stack, a return pushes onto it; an empty stack takes a batch from the
//! tier's depot, a full one moves a batch of its oldest blocks there. Idle
//! collections release what stayed unused (see the
//! [`implementation`](crate::implementation#idle-memory) note).
//!
//! A cache touches only its own stacks, its pool's tier depots and the
//! pool's `closed` flag (through the depot); the counters it bumps are its
//! own, registered with the pool's stats when the cache is created.

use crate::block::IdleBlock;
use crate::error::PoolError;
use crate::shared::Shared;
use crate::stats::{Event, LocalCounter, ThreadCounters, TierCounters};
use crate::sync::{Arc, CachePadded};
use std::time::Instant;

/// Most slots a cache preallocates per tier, however deep it may grow.
const PREALLOCATED_SLOTS: usize = 256;

/// Gets served from one tier of a thread's cache between two looks at the
/// clock for a periodic idle collection (on a thread that mostly returns
/// buffers, returns to one tier): the fast path never reads the clock.
pub(crate) const COLLECT_INTERVAL: u64 = 4096;

/// How much an idle collection releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    /// The periodic collection: three quarters (rounded up) of the blocks
    /// that stayed unused for a whole period, as jemalloc's tcache GC
    /// does, so retained memory decays geometrically toward the working
    /// set without thrashing when demand comes back. This thread's share
    /// moves to the depot, where another thread may want it.
    Gradual,
    /// [`Pool::trim_idle`](crate::Pool::trim_idle): every block that stayed
    /// unused, freed.
    Full,
}

impl Collection {
    /// How many of the `low_water` unused blocks to release.
    pub(crate) fn share(self, low_water: usize) -> usize {
        match self {
            Collection::Gradual => low_water - low_water / 4,
            Collection::Full => low_water,
        }
    }
}

/// One tier's stack in a thread cache.
#[derive(Debug)]
struct TierStack {
    /// Oldest at the bottom, newest on top.
    blocks: Vec<IdleBlock>,
    limit: usize,
    /// Fewest blocks held since the last collection.
    low_water: usize,
    /// `Return` count at which a spill runs the next collection.
    collect_at_returns: u64,
    /// This thread's counters for the tier (also in the pool's registry).
    counters: Arc<CachePadded<TierCounters<LocalCounter>>>,
}

/// One thread's cache for one pool.
#[derive(Debug)]
pub(crate) struct ThreadCache {
    pool: Arc<Shared>,
    counters: Arc<ThreadCounters>,
    /// Padded: every get and return writes its stack, and without padding
    /// two threads' stacks can share a cache line (allocators such as
    /// jemalloc pack small objects of different threads side by side).
    stacks: Box<[CachePadded<TierStack>]>,
    /// When this cache last ran a periodic collection.
    last_collection: Instant,
}

impl ThreadCache {
    pub(crate) fn new(pool: Arc<Shared>) -> Self {
        let counters = pool.counters.register();
        let stacks = pool
            .tiers
            .iter()
            .zip(counters.tiers.iter())
            .map(|(tier, tier_counters)| {
                CachePadded::new(TierStack {
                    blocks: Vec::with_capacity(tier.spec.thread_cache.min(PREALLOCATED_SLOTS)),
                    limit: tier.spec.thread_cache,
                    low_water: 0,
                    collect_at_returns: COLLECT_INTERVAL,
                    counters: Arc::clone(tier_counters),
                })
            })
            .collect();
        Self {
            pool,
            counters,
            stacks,
            last_collection: Instant::now(),
        }
    }

    /// The pool this cache belongs to.
    #[inline(always)]
    pub(crate) fn pool(&self) -> &Arc<Shared> {
        &self.pool
    }

    /// Pops the newest idle block of `tier`: the fast path of a get.
    ///
    /// Every [`COLLECT_INTERVAL`] hits on a tier may run an idle collection
    /// ([`collect_if_due`](Self::collect_if_due)); the hit counter doubles
    /// as the trigger, so the fast path keeps no other count.
    #[inline(always)]
    pub(crate) fn take(&mut self, tier: usize) -> Option<IdleBlock> {
        let stack = &mut self.stacks[tier];
        let idle = stack.blocks.pop()?;
        if stack.blocks.len() < stack.low_water {
            stack.low_water = stack.blocks.len();
        }
        if stack.counters[Event::Hit].add(1) % COLLECT_INTERVAL == 0 {
            self.collect_if_due();
        }
        Some(idle)
    }

    /// [`take`](Self::take), or else a batch from the depot, or else a new
    /// block.
    #[cold]
    #[inline(never)]
    pub(crate) fn take_or_refill(&mut self, tier: usize) -> Result<IdleBlock, PoolError> {
        if let Some(idle) = self.take(tier) {
            return Ok(idle);
        }
        let shared = &self.pool.tiers[tier];
        let stack = &mut self.stacks[tier];
        shared
            .depot
            .take_batch(&mut stack.blocks, shared.spec.batch);
        if let Some(idle) = stack.blocks.pop() {
            stack.counters[Event::Hit].add(1);
            return Ok(idle);
        }
        let idle = IdleBlock::allocate(&self.pool, Some(tier), shared.spec.capacity)?;
        stack.counters[Event::Miss].add(1);
        Ok(idle)
    }

    /// Caches `idle` if its stack has room; gives it back otherwise.
    #[inline(always)]
    pub(crate) fn put(&mut self, tier: usize, idle: IdleBlock) -> Option<IdleBlock> {
        let stack = &mut self.stacks[tier];
        if stack.blocks.len() < stack.limit {
            stack.blocks.push(idle);
            stack.counters[Event::Return].add(1);
            None
        } else {
            Some(idle)
        }
    }

    /// Caches `idle`, first moving a batch of the oldest blocks to the
    /// depot if the stack is full.
    pub(crate) fn put_or_spill(&mut self, tier: usize, idle: IdleBlock) {
        if let Some(idle) = self.put(tier, idle) {
            self.stacks[tier].counters[Event::Return].add(1);
            self.spill(tier, idle);
        }
    }

    /// Moves a batch of the oldest blocks to the depot, then caches `idle`.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, tier: usize, idle: IdleBlock) {
        let shared = &self.pool.tiers[tier];
        let stack = &mut self.stacks[tier];
        let mut keep = Some(idle);
        let count = if stack.limit == 0 {
            // No thread cache: the block itself goes to the depot.
            stack.blocks.extend(keep.take());
            1
        } else {
            shared.spec.batch.min(stack.blocks.len())
        };
        let rejected = shared
            .depot
            .put_batch(&mut stack.blocks, count, &self.pool.closed);
        stack.blocks.drain(..rejected);
        stack.counters[Event::Dropped].add(rejected as u64);
        stack.blocks.extend(keep);
        stack.low_water = stack.low_water.min(stack.blocks.len());
        // A thread that mostly returns buffers rarely hits its cache, so
        // spills drive its collections instead.
        let returns = stack.counters[Event::Return].get();
        if returns >= stack.collect_at_returns {
            stack.collect_at_returns = returns + COLLECT_INTERVAL;
            self.collect_if_due();
        }
    }

    /// Runs a gradual collection if the pool's idle decay period has passed
    /// since this cache's last one. Periods measured in time, not in
    /// operations, keep a busy thread from freeing blocks that a burst
    /// a few milliseconds later allocates again.
    #[cold]
    #[inline(never)]
    fn collect_if_due(&mut self) {
        let now = Instant::now();
        if now.saturating_duration_since(self.last_collection) >= self.pool.idle_decay {
            self.last_collection = now;
            self.collect(Collection::Gradual);
        }
    }

    /// Releases blocks that stayed unused for a whole collection period,
    /// here and in the depots, then starts a new period.
    #[cold]
    #[inline(never)]
    pub(crate) fn collect(&mut self, collection: Collection) {
        for tier in 0..self.stacks.len() {
            let shared = &self.pool.tiers[tier];
            let mut freed = shared
                .depot
                .collect(|low_water| collection.share(low_water))
                .len();
            let stack = &mut self.stacks[tier];
            let count = collection.share(stack.low_water).min(stack.blocks.len());
            let rejected = match collection {
                _ if count == 0 => 0,
                Collection::Full => count,
                Collection::Gradual => {
                    shared
                        .depot
                        .put_batch(&mut stack.blocks, count, &self.pool.closed)
                }
            };
            freed += stack.blocks.drain(..rejected).count();
            stack.low_water = stack.blocks.len();
            stack.counters[Event::Trimmed].add(freed as u64);
        }
    }

    /// Takes every idle block out of the cache, appending them to `into`;
    /// returns how many per tier.
    pub(crate) fn take_all(&mut self, into: &mut Vec<IdleBlock>) -> Vec<u64> {
        self.stacks
            .iter_mut()
            .map(|stack| {
                let taken = stack.blocks.len() as u64;
                into.append(&mut stack.blocks);
                stack.low_water = 0;
                taken
            })
            .collect()
    }

    /// Records a requested size, when the pool records sizes.
    pub(crate) fn record_size(&self, size: usize) {
        if let Some(sizes) = &self.counters.sizes {
            sizes.record(size);
        }
    }
}

impl Drop for ThreadCache {
    /// Gives the cached blocks back to the depots (freeing what does not
    /// fit) and folds this thread's counters into the pool's totals.
    fn drop(&mut self) {
        for (tier, stack) in self.stacks.iter_mut().enumerate() {
            let count = stack.blocks.len();
            let rejected =
                self.pool.tiers[tier]
                    .depot
                    .put_batch(&mut stack.blocks, count, &self.pool.closed);
            stack.blocks.clear();
            stack.counters[Event::Dropped].add(rejected as u64);
        }
        self.pool.counters.retire(&self.counters);
    }
}
