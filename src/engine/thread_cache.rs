//! One thread's cache for one pool: a stack of idle blocks per tier.
//!
//! This is the mechanism of the fast path; how a thread finds its cache
//! (the thread-local table, the last-used shortcut, pool slots) is the
//! plumbing in [`local_table`](crate::engine::local_table). A get pops from a
//! stack, a return pushes onto it; an empty stack takes a batch from the
//! tier's depot, a full one moves a batch of its oldest blocks there. Idle
//! collections release what stayed unused (see the
//! [`implementation`](crate::implementation#idle-memory) note).
//!
//! A cache touches only its own stacks, its pool's tier depots and the
//! pool's `closed` flag (through the depot); the counters it bumps are its
//! own, registered with the pool's stats when the cache is created.
//!
//! # Trims from other threads
//!
//! The stacks are the owner's, but a trim on any thread may take idle
//! blocks out of them, so that a thread that parks does not keep what it
//! cached ([`CacheRegistry::take_idle`]). The owner pays no lock and no
//! read-modify-write for this; the two sides meet in a store-buffering
//! handshake over two flags of [`CacheStacks`]:
//!
//! * the owner sets `busy`, issues the [light](crate::sync::asymmetric)
//!   fence, and touches the stacks only if `request` shows no trim at
//!   work; it clears `busy` (`Release`) when done;
//! * a trim, holding the registry's lock, sets `STEALING` in `request`,
//!   issues the [heavy](crate::sync::asymmetric) fence, and takes blocks
//!   only if `busy` is clear (`Acquire`); it clears `STEALING`
//!   (`Release`) when done.
//!
//! The fences guarantee that at least one side sees the other's flag, so
//! the two never touch the stacks at once; the `Release`/`Acquire` pairs
//! hand the stacks' contents over in both directions. An owner that finds
//! a trim at work goes around its stacks (to the depot) for that one
//! operation. A trim that finds the owner busy, or that cannot issue the
//! heavy fence (see [`asymmetric::heavy`]), leaves a request the owner
//! answers at its next operation.

use crate::engine::block::IdleBlock;
use crate::engine::state::PoolState;
use crate::error::PoolError;
use crate::stats::{Event, LocalCounter, ThreadCounters, TierCounters};
use crate::sync::{
    asymmetric, Arc, AtomicBool, AtomicU8, CachePadded, Mutex, Ordering, UnsafeCell,
};
use std::time::Instant;

/// Most slots a cache preallocates per tier, however deep it may grow.
const PREALLOCATED_SLOTS: usize = 256;

/// Gets served from one tier of a thread's cache between two looks at the
/// clock for a periodic idle collection (on a thread that mostly returns
/// buffers, returns to one tier): the fast path never reads the clock.
///
/// Under Miri, which interprets a get some thousand times slower, it is 64,
/// so that tests reach the collection (and Miri checks it) in seconds.
pub(crate) const COLLECT_INTERVAL: u64 = if cfg!(miri) { 64 } else { 4096 };

/// Bits of [`CacheStacks::request`]: what trims on other threads want.
mod request {
    /// A trim is taking blocks from the stacks: the owner keeps out.
    pub(super) const STEALING: u8 = 1 << 0;
    /// Free every idle block (asked by a trim that could not take them).
    pub(super) const TRIM: u8 = 1 << 1;
    /// Free the blocks unused since the last collection (likewise).
    pub(super) const TRIM_IDLE: u8 = 1 << 2;
    /// The requests the owner answers itself.
    pub(super) const ASKED: u8 = TRIM | TRIM_IDLE;
    /// Any request: the fast paths step aside for all of them.
    pub(super) const ANY: u8 = u8::MAX;
}

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
    /// [`Pool::trim`](crate::Pool::trim): every idle block, freed.
    All,
}

impl Collection {
    /// How many of a stack's `len` blocks to release, `low_water` of which
    /// stayed unused since the last collection.
    pub(crate) fn share(self, low_water: usize, len: usize) -> usize {
        let share = match self {
            Collection::Gradual => low_water - low_water / 4,
            Collection::Full => low_water,
            Collection::All => len,
        };
        share.min(len)
    }

    /// The request that asks an owner for this collection.
    fn request(self) -> u8 {
        match self {
            Collection::All => request::TRIM,
            Collection::Gradual | Collection::Full => request::TRIM_IDLE,
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
}

impl TierStack {
    /// Takes out the oldest blocks `collection` releases, appending them
    /// to `into`, and starts a new collection period. Returns how many.
    fn take_unused(&mut self, collection: Collection, into: &mut Vec<IdleBlock>) -> usize {
        let count = collection.share(self.low_water, self.blocks.len());
        into.extend(self.blocks.drain(..count));
        self.low_water = self.blocks.len();
        count
    }
}

/// One tier of a thread cache: the stack, and the owner's counters for it
/// (outside the stack, so the owner counts even while a trim holds it).
#[derive(Debug)]
struct TierSlot {
    stack: UnsafeCell<TierStack>,
    /// This thread's counters for the tier (also in the pool's stats).
    counters: Arc<CachePadded<TierCounters<LocalCounter>>>,
}

impl TierSlot {
    /// Runs `f` on the stack.
    ///
    /// # Safety
    ///
    /// The caller has the stacks to itself: it is the owner inside
    /// [`CacheStacks::enter`], or a trim that took them over (see the
    /// module docs), or the owner after deregistering the cache.
    #[inline(always)]
    unsafe fn with_stack<R>(&self, f: impl FnOnce(&mut TierStack) -> R) -> R {
        // SAFETY: exclusive access, by the caller's contract.
        self.stack.with_mut(|stack| f(unsafe { &mut *stack }))
    }
}

/// The part of a thread cache that trims on other threads reach: the
/// stacks and the two flags of the handshake (see the module docs).
#[derive(Debug)]
pub(crate) struct CacheStacks {
    /// Set by the owner while it may touch the stacks.
    busy: AtomicBool,
    /// Bits of [`request`]: set by trims, `ASKED` ones cleared by the owner.
    request: AtomicU8,
    tiers: Box<[CachePadded<TierSlot>]>,
}

// SAFETY: the stacks hold `IdleBlock`s, which are `Send`; the `UnsafeCell`s
// around them are touched by one thread at a time: the owner inside
// `enter`, or a trim under the registry's lock after the handshake in the
// module docs showed the owner out, or the owner once the cache has left
// the registry. Everything else in the struct is atomic or read-only.
unsafe impl Sync for CacheStacks {}

impl CacheStacks {
    /// Runs `f` (given the pending requests) unless a request in
    /// `blocked_by` is pending, in which case the stacks must not be
    /// touched and `None` is returned.
    ///
    /// The owner's half of the handshake: no lock and no read-modify-write,
    /// two plain stores and a load.
    #[inline(always)]
    fn enter<R>(&self, blocked_by: u8, f: impl FnOnce(u8) -> R) -> Option<R> {
        // Loom models other than the handshake's: no trim takes blocks
        // from another thread's stacks there (see `sync::asymmetric`).
        #[cfg(loom)]
        if asymmetric::handshake_model() == asymmetric::HandshakeModel::Skipped {
            return Some(f(0));
        }
        self.busy.store(true, Ordering::Relaxed);
        asymmetric::light();
        let pending = self.request.load(Ordering::Acquire);
        let result = if pending & blocked_by == 0 {
            Some(f(pending))
        } else {
            None
        };
        self.busy.store(false, Ordering::Release);
        result
    }
}

/// Every live thread cache of one pool, for trims from any thread.
#[derive(Debug)]
pub(crate) struct CacheRegistry {
    caches: Mutex<Vec<Arc<CachePadded<CacheStacks>>>>,
}

impl CacheRegistry {
    pub(crate) fn new() -> Self {
        Self {
            caches: Mutex::new(Vec::new()),
        }
    }

    fn register(&self, stacks: &Arc<CachePadded<CacheStacks>>) {
        self.caches.lock().push(Arc::clone(stacks));
    }

    /// Takes `stacks` out of the registry. Waits for a trim at work (it
    /// holds the lock), so that afterwards no trim can reach the stacks.
    fn deregister(&self, stacks: &Arc<CachePadded<CacheStacks>>) {
        let mut caches = self.caches.lock();
        if let Some(pos) = caches.iter().position(|c| Arc::ptr_eq(c, stacks)) {
            caches.swap_remove(pos);
        }
    }

    /// Takes from every thread's cache the idle blocks `collection`
    /// releases (not [`Collection::Gradual`], which is the owner's own),
    /// the parked threads' included. A cache whose owner is in the middle
    /// of a get or a return, or every cache if the heavy fence cannot be
    /// issued, is asked to do it at its owner's next operation.
    ///
    /// Returns the blocks, for the caller to free, and how many per tier.
    pub(crate) fn take_idle(
        &self,
        collection: Collection,
        tiers: usize,
    ) -> (Vec<IdleBlock>, Vec<u64>) {
        let mut blocks = Vec::new();
        let mut counts = vec![0; tiers];
        let caches = self.caches.lock();
        for stacks in caches.iter() {
            stacks
                .request
                .fetch_or(request::STEALING, Ordering::Relaxed);
        }
        let fenced = asymmetric::heavy();
        for stacks in caches.iter() {
            if fenced && !stacks.busy.load(Ordering::Acquire) {
                for (tier, slot) in stacks.tiers.iter().enumerate() {
                    // SAFETY: the handshake: `STEALING` was set before the
                    // heavy fence and `busy` read clear after it, so the
                    // owner is out of its stacks and stays out until
                    // `STEALING` is cleared below; the `Acquire` load saw
                    // its last writes to them.
                    counts[tier] += unsafe {
                        slot.with_stack(|stack| stack.take_unused(collection, &mut blocks))
                    } as u64;
                }
            } else {
                stacks
                    .request
                    .fetch_or(collection.request(), Ordering::Relaxed);
            }
            // Hands the stacks back, with what was taken out of them.
            stacks
                .request
                .fetch_and(!request::STEALING, Ordering::Release);
        }
        (blocks, counts)
    }
}

/// One thread's cache for one pool.
#[derive(Debug)]
pub(crate) struct ThreadCache {
    pool: Arc<PoolState>,
    counters: Arc<ThreadCounters>,
    /// Shared with the pool's [`CacheRegistry`]. Each tier is padded:
    /// every get and return writes its stack, and without padding two
    /// threads' stacks can share a cache line (allocators such as jemalloc
    /// pack small objects of different threads side by side).
    stacks: Arc<CachePadded<CacheStacks>>,
    /// When this cache last ran a periodic collection.
    last_collection: Instant,
    /// Per tier, the `Return` count at which a spill runs the next
    /// collection.
    collect_at_returns: Box<[u64]>,
}

impl ThreadCache {
    pub(crate) fn new(pool: Arc<PoolState>) -> Self {
        let counters = pool.counters.register();
        let tiers_len = pool.tiers.len();
        let tiers = pool
            .tiers
            .iter()
            .zip(counters.tiers.iter())
            .map(|(tier, tier_counters)| {
                CachePadded::new(TierSlot {
                    stack: UnsafeCell::new(TierStack {
                        blocks: Vec::with_capacity(tier.spec.thread_cache.min(PREALLOCATED_SLOTS)),
                        limit: tier.spec.thread_cache,
                        low_water: 0,
                    }),
                    counters: Arc::clone(tier_counters),
                })
            })
            .collect();
        let stacks = Arc::new(CachePadded::new(CacheStacks {
            busy: AtomicBool::new(false),
            request: AtomicU8::new(0),
            tiers,
        }));
        pool.caches.register(&stacks);
        Self {
            pool,
            counters,
            collect_at_returns: vec![COLLECT_INTERVAL; tiers_len].into(),
            stacks,
            last_collection: Instant::now(),
        }
    }

    /// The pool this cache belongs to.
    #[inline(always)]
    pub(crate) fn pool(&self) -> &Arc<PoolState> {
        &self.pool
    }

    /// Pops the newest idle block of `tier`: the fast path of a get.
    /// `None` if the stack is empty or a trim has a request pending.
    ///
    /// Every [`COLLECT_INTERVAL`] hits on a tier may run an idle collection
    /// ([`collect_if_due`](Self::collect_if_due)); the hit counter doubles
    /// as the trigger, so the fast path keeps no other count.
    #[inline(always)]
    pub(crate) fn take(&mut self, tier: usize) -> Option<IdleBlock> {
        let slot = &self.stacks.tiers[tier];
        let idle = self.stacks.enter(request::ANY, |_| {
            // SAFETY: inside `enter`.
            unsafe {
                slot.with_stack(|stack| {
                    let idle = stack.blocks.pop()?;
                    if stack.blocks.len() < stack.low_water {
                        stack.low_water = stack.blocks.len();
                    }
                    Some(idle)
                })
            }
        })??;
        if slot.counters[Event::Hit].add(1) % COLLECT_INTERVAL == 0 {
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
        self.answer_requests();
        let shared = &self.pool.tiers[tier];
        let slot = &self.stacks.tiers[tier];
        let refilled = self.stacks.enter(request::STEALING, |_| {
            // SAFETY: inside `enter`.
            unsafe {
                slot.with_stack(|stack| {
                    shared
                        .depot
                        .take_batch(&mut stack.blocks, shared.spec.batch);
                    stack.blocks.pop()
                })
            }
        });
        let idle = match refilled {
            Some(idle) => idle,
            // A trim is at work on the stacks: go around them.
            None => {
                let mut one = Vec::with_capacity(1);
                shared.depot.take_batch(&mut one, 1);
                one.pop()
            }
        };
        if let Some(idle) = idle {
            slot.counters[Event::Hit].add(1);
            return Ok(idle);
        }
        let idle = IdleBlock::allocate(&self.pool, Some(tier), shared.spec.capacity)?;
        slot.counters[Event::Miss].add(1);
        Ok(idle)
    }

    /// Caches `idle` if its stack has room and no trim has a request
    /// pending; gives it back otherwise.
    #[inline(always)]
    pub(crate) fn put(&mut self, tier: usize, idle: IdleBlock) -> Option<IdleBlock> {
        let slot = &self.stacks.tiers[tier];
        let mut pending = Some(idle);
        let cached = self.stacks.enter(request::ANY, |_| {
            // SAFETY: inside `enter`.
            unsafe {
                slot.with_stack(|stack| {
                    let room = stack.blocks.len() < stack.limit;
                    if room {
                        stack.blocks.extend(pending.take());
                    }
                    room
                })
            }
        });
        if cached == Some(true) {
            slot.counters[Event::Return].add(1);
        }
        pending
    }

    /// Caches `idle`, first moving a batch of the oldest blocks to the
    /// depot if the stack is full.
    pub(crate) fn put_or_spill(&mut self, tier: usize, idle: IdleBlock) {
        self.answer_requests();
        if let Some(idle) = self.put(tier, idle) {
            self.stacks.tiers[tier].counters[Event::Return].add(1);
            self.spill(tier, idle);
        }
    }

    /// Moves a batch of the oldest blocks to the depot, then caches `idle`.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, tier: usize, idle: IdleBlock) {
        let shared = &self.pool.tiers[tier];
        let slot = &self.stacks.tiers[tier];
        let mut keep = Some(idle);
        let closed = &self.pool.closed;
        let rejected = self.stacks.enter(request::STEALING, |_| {
            // SAFETY: inside `enter`.
            unsafe {
                slot.with_stack(|stack| {
                    let count = if stack.limit == 0 {
                        // No thread cache: the block itself goes to the depot.
                        stack.blocks.extend(keep.take());
                        1
                    } else {
                        shared.spec.batch.min(stack.blocks.len())
                    };
                    let rejected = shared.depot.put_batch(&mut stack.blocks, count, closed);
                    stack.blocks.drain(..rejected);
                    stack.blocks.extend(keep.take());
                    stack.low_water = stack.low_water.min(stack.blocks.len());
                    rejected
                })
            }
        });
        let rejected = rejected.unwrap_or_else(|| {
            // A trim is at work on the stacks: the block goes to the depot.
            let mut one: Vec<IdleBlock> = keep.take().into_iter().collect();
            shared.depot.put_batch(&mut one, 1, closed)
        });
        slot.counters[Event::Dropped].add(rejected as u64);
        // A thread that mostly returns buffers rarely hits its cache, so
        // spills drive its collections instead.
        let returns = slot.counters[Event::Return].get();
        let due = returns >= self.collect_at_returns[tier];
        if due {
            self.collect_at_returns[tier] = returns + COLLECT_INTERVAL;
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
            self.collect();
        }
    }

    /// Releases blocks that stayed unused for a whole collection period,
    /// here and in the depots, then starts a new period: a share of the
    /// depot's unused blocks is freed, and this cache's share moves to the
    /// depot (freed where the depot is full). Trims on any thread go
    /// through [`CacheRegistry::take_idle`] and [`answer_requests`](Self::answer_requests)
    /// instead.
    #[cold]
    #[inline(never)]
    fn collect(&mut self) {
        let collection = Collection::Gradual;
        let closed = &self.pool.closed;
        for (tier, slot) in self.stacks.tiers.iter().enumerate() {
            let shared = &self.pool.tiers[tier];
            let mut freed = shared
                .depot
                .collect(|low_water| collection.share(low_water, usize::MAX))
                .len();
            let mut unused = Vec::new();
            // Skipped while a trim is at work on the stacks: it is
            // collecting them itself.
            let _ = self.stacks.enter(request::STEALING, |_| {
                // SAFETY: inside `enter`.
                unsafe { slot.with_stack(|stack| stack.take_unused(collection, &mut unused)) }
            });
            let count = unused.len();
            let rejected = shared.depot.put_batch(&mut unused, count, closed);
            unused.truncate(rejected);
            freed += unused.len();
            drop(unused);
            slot.counters[Event::Trimmed].add(freed as u64);
        }
    }

    /// Does what trims on other threads asked for and could not do
    /// themselves (see [`CacheRegistry::take_idle`]). Called on the slow
    /// paths, which every request sends the owner to.
    #[cold]
    #[inline(never)]
    fn answer_requests(&mut self) {
        if self.stacks.request.load(Ordering::Relaxed) & request::ASKED == 0 {
            return;
        }
        let mut unused = Vec::new();
        let _ = self.stacks.enter(request::STEALING, |pending| {
            self.stacks
                .request
                .fetch_and(!request::ASKED, Ordering::Relaxed);
            let collection = if pending & request::TRIM != 0 {
                Collection::All
            } else {
                Collection::Full
            };
            for slot in self.stacks.tiers.iter() {
                // SAFETY: inside `enter`.
                let freed =
                    unsafe { slot.with_stack(|stack| stack.take_unused(collection, &mut unused)) };
                slot.counters[Event::Trimmed].add(freed as u64);
            }
        });
        drop(unused);
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
        // Afterwards no trim can reach the stacks.
        self.pool.caches.deregister(&self.stacks);
        for (tier, slot) in self.stacks.tiers.iter().enumerate() {
            // SAFETY: the owner, with the cache out of the registry.
            let mut blocks = unsafe { slot.with_stack(|stack| std::mem::take(&mut stack.blocks)) };
            let count = blocks.len();
            let rejected =
                self.pool.tiers[tier]
                    .depot
                    .put_batch(&mut blocks, count, &self.pool.closed);
            drop(blocks);
            slot.counters[Event::Dropped].add(rejected as u64);
        }
        self.pool.counters.retire(&self.counters);
    }
}
