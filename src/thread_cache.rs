//! Per-thread caches: the lock-free, atomic-free fast path.
//!
//! Each thread has one table of caches, indexed by the pools' slot numbers,
//! so two pools used from one thread never evict each other. A cache holds a
//! small stack of idle blocks per tier; when a stack runs dry it takes a
//! batch from the tier's depot, and when it overflows it moves a batch of its
//! oldest blocks there.
//!
//! A slot is reused by a new pool once the old pool's last handle is gone.
//! Each entry keeps a strong reference to its pool and is matched by pointer,
//! so an entry left behind by a closed pool is recognised (and freed) when
//! the new pool's entry replaces it.
//!
//! The fast paths skip the table: a destructor-free thread-local, `LAST`,
//! points at the cache the thread used last, and a get or a return for that
//! pool goes straight to it (one thread-local load and a pointer compare).
//! Every path through the table remembers the cache it found there.
//!
//! Re-entrancy: code that runs while a thread's table or a cache is borrowed
//! allocates and frees blocks, takes depot and registry locks, and drops
//! whole cache entries, but never drops a `Storage` (the only thing that
//! calls back into this module) and never runs user code. So a cache is
//! never borrowed twice: not through the table and `LAST` at once, and not
//! through `LAST` twice.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::error::PoolError;
use crate::pool::Shared;
use crate::stats::{add_local, add_shared, ThreadCounters, TierCounters};
use crate::storage::{flags, IdleStorage, UNPOOLED};
use crate::sync::{Arc, CachePadded, Ordering, UnsafeCell};

/// Most slots a cache preallocates per tier, however deep it may grow.
const PREALLOCATED_SLOTS: usize = 256;

/// Gets served from one tier of a thread's cache between two idle
/// collections (see [`LocalCache::collect`]); on a thread that mostly
/// returns buffers, returns to one tier between two collections.
pub(crate) const COLLECT_INTERVAL: u64 = 4096;

/// Share of the blocks that stayed unused for a whole collection period
/// that a collection releases: three quarters, rounded up (as jemalloc's
/// tcache GC does), so retained memory decays geometrically toward the
/// working set without thrashing when demand comes back.
pub(crate) fn idle_share(low_water: usize) -> usize {
    low_water - low_water / 4
}

/// One tier's stack in a thread cache.
#[derive(Debug)]
struct LocalStack {
    /// Oldest at the bottom, newest on top.
    blocks: Vec<IdleStorage>,
    limit: usize,
    /// Fewest blocks held since the last collection.
    low_water: usize,
    /// `returns` count at which a spill runs the next collection.
    collect_at_returns: u64,
    /// This thread's counters for the tier (also in the pool's registry).
    counters: Arc<CachePadded<TierCounters>>,
}

/// One thread's cache for one pool.
#[derive(Debug)]
struct LocalCache {
    pool: Arc<Shared>,
    counters: Arc<ThreadCounters>,
    /// Padded: every get and return writes its stack, and without padding
    /// two threads' stacks can share a cache line (allocators such as
    /// jemalloc pack small objects of different threads side by side).
    stacks: Box<[CachePadded<LocalStack>]>,
}

impl LocalCache {
    fn new(pool: Arc<Shared>) -> Self {
        let counters = Arc::new(ThreadCounters::new(pool.tiers.len(), pool.record_sizes));
        pool.register(Arc::clone(&counters));
        let stacks = pool
            .tiers
            .iter()
            .zip(counters.tiers.iter())
            .map(|(t, tier_counters)| {
                CachePadded::new(LocalStack {
                    blocks: Vec::with_capacity(t.spec.thread_cache.min(PREALLOCATED_SLOTS)),
                    limit: t.spec.thread_cache,
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
        }
    }

    /// Pops the newest idle block of `tier`: the fast path of a get.
    ///
    /// Every [`COLLECT_INTERVAL`] hits on a tier run an idle collection; the
    /// hit counter doubles as the clock, so the fast path keeps no other
    /// count.
    #[inline(always)]
    fn take_cached(&mut self, tier: usize) -> Option<IdleStorage> {
        let stack = &mut self.stacks[tier];
        let idle = stack.blocks.pop()?;
        if stack.blocks.len() < stack.low_water {
            stack.low_water = stack.blocks.len();
        }
        if add_local(&stack.counters.hits, 1) % COLLECT_INTERVAL == 0 {
            self.collect(idle_share, false);
        }
        Some(idle)
    }

    /// Releases blocks that stayed unused for a whole collection period.
    ///
    /// Per tier, `share(low_water)` of the depot's unused blocks are freed,
    /// and the same share of this thread's unused blocks either moves to the
    /// depot (`free_local == false`: another thread may want them; they are
    /// freed by a later collection if not) or is freed. Both low-water marks
    /// then restart from the current level.
    #[cold]
    #[inline(never)]
    fn collect(&mut self, share: fn(usize) -> usize, free_local: bool) {
        for tier in 0..self.stacks.len() {
            let shared = &self.pool.tiers[tier];
            let mut freed = shared.depot.collect(share).len();
            let stack = &mut self.stacks[tier];
            let count = share(stack.low_water).min(stack.blocks.len());
            let rejected = if count == 0 {
                0
            } else if free_local {
                count
            } else {
                shared
                    .depot
                    .put_batch(&mut stack.blocks, count, &self.pool.closed)
            };
            freed += stack.blocks.drain(..rejected).count();
            stack.low_water = stack.blocks.len();
            add_local(&self.stacks[tier].counters.trimmed, freed as u64);
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self, tier: usize) -> Result<IdleStorage, PoolError> {
        let shared = &self.pool.tiers[tier];
        let stack = &mut self.stacks[tier].blocks;
        shared.depot.take_batch(stack, shared.spec.batch);
        if let Some(idle) = stack.pop() {
            add_local(&self.stacks[tier].counters.hits, 1);
            return Ok(idle);
        }
        let idle = IdleStorage::allocate(&self.pool, tier, shared.spec.capacity)?;
        add_local(&self.stacks[tier].counters.misses, 1);
        Ok(idle)
    }

    /// Caches `idle` if there is room; gives it back otherwise.
    #[inline]
    fn put_cached(&mut self, tier: usize, idle: IdleStorage) -> Option<IdleStorage> {
        let stack = &mut self.stacks[tier];
        if stack.blocks.len() < stack.limit {
            stack.blocks.push(idle);
            add_local(&stack.counters.returns, 1);
            None
        } else {
            Some(idle)
        }
    }

    fn put(&mut self, tier: usize, idle: IdleStorage) {
        if let Some(idle) = self.put_cached(tier, idle) {
            add_local(&self.stacks[tier].counters.returns, 1);
            self.spill(tier, idle);
        }
    }

    /// Moves a batch of the oldest blocks to the depot, then caches `idle`.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, tier: usize, idle: IdleStorage) {
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
        add_local(&stack.counters.dropped, rejected as u64);
        stack.blocks.extend(keep);
        stack.low_water = stack.low_water.min(stack.blocks.len());
        // A thread that mostly returns buffers rarely hits its cache, so
        // spills drive its collections instead.
        let returns = stack.counters.returns.load(Ordering::Relaxed);
        if returns >= stack.collect_at_returns {
            stack.collect_at_returns = returns + COLLECT_INTERVAL;
            self.collect(idle_share, false);
        }
    }
}

impl Drop for LocalCache {
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
            add_local(&stack.counters.dropped, rejected as u64);
        }
        self.pool.retire(&self.counters);
    }
}

/// One thread's cache for one pool, at a fixed heap address that [`LAST`]
/// may point to. Owned by the thread's [`LocalTable`].
struct CacheBox(NonNull<LocalCache>);

impl CacheBox {
    fn new(cache: LocalCache) -> Self {
        Self(NonNull::from(Box::leak(Box::new(cache))))
    }

    /// Makes this the cache the fast paths try first.
    fn remember(&self) {
        let _ = LAST.try_with(|last| last.set(Some(self.0)));
    }
}

impl std::ops::Deref for CacheBox {
    type Target = LocalCache;

    fn deref(&self) -> &LocalCache {
        // SAFETY: the box owns the cache until it drops; the only other
        // pointer to it, `LAST`, is only used while no table borrow is
        // live (see the module docs), so no `&mut` to it exists now.
        unsafe { self.0.as_ref() }
    }
}

impl std::ops::DerefMut for CacheBox {
    fn deref_mut(&mut self) -> &mut LocalCache {
        // SAFETY: as for `deref`; `&mut self` rules out other borrows
        // through the table.
        unsafe { self.0.as_mut() }
    }
}

impl Drop for CacheBox {
    fn drop(&mut self) {
        // Forget the shortcut first, so nothing can reach a freed cache.
        let _ = LAST.try_with(|last| {
            if last.get() == Some(self.0) {
                last.set(None);
            }
        });
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed
        // only here, once.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// One thread's caches, indexed by pool slot.
struct LocalTable {
    entries: UnsafeCell<Vec<Option<CacheBox>>>,
}

impl LocalTable {
    fn new() -> Self {
        Self {
            entries: UnsafeCell::new(Vec::new()),
        }
    }

    /// Runs `f` on the table.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Option<CacheBox>>) -> R) -> R {
        self.entries.with_mut(|entries| {
            // SAFETY: the table belongs to this thread alone (it is a
            // thread-local), and `f` never re-enters this module (see the
            // module docs), so this is the only reference to it.
            f(unsafe { &mut *entries })
        })
    }
}

impl Drop for LocalTable {
    fn drop(&mut self) {
        // The thread is exiting: hand every cache back to its pool.
        let entries = self.with(std::mem::take);
        // A failed loom model drops the remaining threads' locals outside
        // the model, where touching loom's primitives panics again and
        // aborts the whole test run; leak them so the first failure shows.
        #[cfg(loom)]
        if std::thread::panicking() {
            std::mem::forget(entries);
            return;
        }
        drop(entries);
    }
}

crate::sync::thread_local! {
    static LOCAL: LocalTable = LocalTable::new();
}

crate::sync::const_thread_local! {
    /// The cache this thread used last, if it still exists: the fast paths
    /// try it before the table. It needs no destructor, so reading it is a
    /// plain thread-local load. Every `CacheBox` clears it before freeing
    /// the cache it points to.
    static LAST: Cell<Option<NonNull<LocalCache>>> = Cell::new(None);
}

/// This thread's cache for `pool`, if it is the one used last.
///
/// The pointer is valid (see [`LAST`]); the caller may turn it into a
/// `&mut` only while no table borrow is live, which holds everywhere in
/// this module outside `LocalTable::with`.
#[inline(always)]
fn last_cache(pool: *const Shared) -> Option<NonNull<LocalCache>> {
    let last = LAST.try_with(Cell::get).ok().flatten()?;
    // SAFETY: `LAST` only points at live caches of this thread (cleared by
    // `CacheBox::drop` before the cache is freed); reading `pool` through a
    // shared reference is fine as no `&mut` to the cache is live here.
    let cached_pool = Arc::as_ptr(unsafe { &last.as_ref().pool });
    std::ptr::eq(cached_pool, pool).then_some(last)
}

/// This thread's cache for `pool` (whose slot is `slot`), if it has one: the
/// entry in that slot, unless it belongs to a closed pool that had the slot
/// before.
#[inline(always)]
fn entry(
    entries: &mut [Option<CacheBox>],
    pool: *const Shared,
    slot: usize,
) -> Option<&mut CacheBox> {
    match entries.get_mut(slot) {
        Some(Some(cache)) if std::ptr::eq(Arc::as_ptr(&cache.pool), pool) => Some(cache),
        _ => None,
    }
}

/// Creates this thread's cache for `pool`, replacing whatever entry a closed
/// pool left in its slot.
#[cold]
#[inline(never)]
fn install(entries: &mut Vec<Option<CacheBox>>, pool: Arc<Shared>) {
    let slot = pool.slot;
    if entries.len() <= slot {
        entries.resize_with(slot + 1, || None);
    }
    let stale = entries[slot].replace(CacheBox::new(LocalCache::new(pool)));
    drop(stale);
}

/// Pops an idle block of `tier` from this thread's cache for `pool`: the
/// fast path of a get. `None` sends the caller to [`take_slow`].
#[inline(always)]
pub(crate) fn take_cached(pool: &Arc<Shared>, tier: usize) -> Option<IdleStorage> {
    match last_cache(Arc::as_ptr(pool)) {
        // SAFETY: see `last_cache`: no table borrow is live here.
        Some(mut cache) => unsafe { cache.as_mut() }.take_cached(tier),
        None => take_cached_from_table(pool, tier),
    }
}

/// [`take_cached`] when the pool is not the one this thread used last: finds
/// its cache in the table (if there is one) and remembers it.
#[inline(never)]
fn take_cached_from_table(pool: &Arc<Shared>, tier: usize) -> Option<IdleStorage> {
    LOCAL
        .try_with(|table| {
            table.with(|entries| {
                let cache = entry(entries, Arc::as_ptr(pool), pool.slot)?;
                cache.remember();
                cache.take_cached(tier)
            })
        })
        .unwrap_or(None)
}

/// Takes an idle block of `tier` for `pool` when the thread cache had none:
/// creates the cache if needed, then refills from the depot or allocates.
#[cold]
#[inline(never)]
pub(crate) fn take_slow(pool: &Arc<Shared>, tier: usize) -> Result<IdleStorage, PoolError> {
    let local = LOCAL.try_with(|table| {
        table.with(|entries| {
            let slot = pool.slot;
            if entry(entries, Arc::as_ptr(pool), slot).is_none() {
                install(entries, Arc::clone(pool));
            }
            match &mut entries[slot] {
                Some(cache) => {
                    cache.remember();
                    match cache.take_cached(tier) {
                        Some(idle) => Ok(idle),
                        None => cache.refill(tier),
                    }
                }
                None => unreachable!("the entry was just installed"),
            }
        })
    });
    match local {
        Ok(result) => result,
        // The thread is exiting and its table is gone.
        Err(_) => Shared::take_uncached(pool, tier),
    }
}

/// Returns a block nobody holds any more to its pool. `idle` comes straight
/// from [`Storage::release`](crate::storage::Storage), not yet counted as
/// idle; a block with no flags needs no counting.
#[inline(always)]
pub(crate) fn recycle(idle: IdleStorage) {
    if idle.flags() != 0 {
        return recycle_governed(idle);
    }
    recycle_plain(idle);
}

/// Applies the pool's opt-in behaviours to a returning block (counting it as
/// idle first), then returns it like any other.
#[cold]
#[inline(never)]
fn recycle_governed(mut idle: IdleStorage) {
    idle.count_idle();
    let flags = idle.flags();
    if flags & flags::ZERO_ON_RETURN != 0 {
        idle.zero();
    }
    let pool = idle.pool();
    if flags & flags::IN_USE_BUDGET != 0 {
        if let Some(budget) = &pool.in_use_budget {
            budget.sub(idle.capacity());
        }
    }
    if flags & flags::TRACKED != 0 {
        if let Some(tracker) = &pool.tracker {
            tracker.remove(idle.key());
        }
    }
    if flags & flags::CACHED_BUDGET != 0 && !pool.closed.load(Ordering::Relaxed) {
        if let Some(budget) = &pool.cached_budget {
            if budget.is_over() {
                let counters = &pool.fallback.tiers[idle.tier()];
                add_shared(&counters.returns, 1);
                add_shared(&counters.dropped_over_budget, 1);
                drop(idle);
                return;
            }
        }
    }
    if flags & flags::UNPOOLED != 0 {
        return recycle_slow(idle);
    }
    recycle_plain(idle);
}

/// Returns a pooled block (one without the `UNPOOLED` flag).
#[inline(always)]
fn recycle_plain(idle: IdleStorage) {
    let tier = idle.tier();
    debug_assert_ne!(tier, UNPOOLED, "oversize blocks take recycle_slow");
    // Only the block header is read here. A block of a closed pool may land
    // in this thread's cache for that pool if the cache still exists; it is
    // freed with the cache (thread exit, or a new pool taking the slot).
    match last_cache(idle.pool_ptr()) {
        // SAFETY: see `last_cache`: no table borrow is live here.
        Some(mut cache) => match unsafe { cache.as_mut() }.put_cached(tier, idle) {
            None => {}
            Some(idle) => recycle_slow(idle),
        },
        None => recycle_via_table(idle, tier),
    }
}

/// [`recycle_plain`] when the block's pool is not the one this thread used
/// last: finds its cache in the table (if there is one) and remembers it.
#[inline(never)]
fn recycle_via_table(idle: IdleStorage, tier: usize) {
    let key = idle.pool_ptr();
    let slot = idle.slot();
    let mut pending = Some(idle);
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            if let Some(cache) = entry(entries, key, slot) {
                cache.remember();
                if let Some(idle) = pending.take() {
                    pending = cache.put_cached(tier, idle);
                }
            }
        })
    });
    // Not cached: no entry yet, a full stack, or a thread that is exiting.
    if let Some(idle) = pending {
        recycle_slow(idle);
    }
}

/// Returns a block when the fast path could not: oversize blocks, closed
/// pools, a missing or full thread cache, or a thread that is exiting.
#[cold]
#[inline(never)]
fn recycle_slow(idle: IdleStorage) {
    let tier = idle.tier();
    if tier == UNPOOLED {
        let oversize = &idle.pool().oversize;
        add_shared(&oversize.bytes_freed, idle.capacity() as u64);
        add_shared(&oversize.frees, 1);
        drop(idle);
        return;
    }
    if idle.pool().closed.load(Ordering::Relaxed) {
        // Nobody can get from a closed pool: free the block.
        drop(idle);
        return;
    }
    let mut pending = Some(idle);
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            let Some(idle) = pending.take() else { return };
            let pool = idle.pool();
            let slot = pool.slot;
            if entry(entries, Arc::as_ptr(pool), slot).is_none() {
                install(entries, Arc::clone(pool));
            }
            match &mut entries[slot] {
                Some(cache) => {
                    cache.remember();
                    cache.put(tier, idle);
                }
                None => unreachable!("the entry was just installed"),
            }
        })
    });
    if let Some(idle) = pending {
        // The thread is exiting and its table is gone: go to the depot.
        let pool = Arc::clone(idle.pool());
        pool.put_uncached(tier, idle);
    }
}

/// Records a requested size in this thread's counters for `pool` (skipped
/// while the thread is exiting).
pub(crate) fn record_size(pool: &Arc<Shared>, size: usize) {
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            let slot = pool.slot;
            if entry(entries, Arc::as_ptr(pool), slot).is_none() {
                install(entries, Arc::clone(pool));
            }
            if let Some(Some(cache)) = entries.get(slot) {
                if let Some(sizes) = &cache.counters.sizes {
                    sizes.record(size);
                }
            }
        })
    });
}

/// Frees the idle blocks this thread caches for `pool`; returns how many per
/// tier.
pub(crate) fn trim_local(pool: &Shared) -> Vec<u64> {
    let mut freed = vec![0; pool.tiers.len()];
    let mut blocks = Vec::new();
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            if let Some(cache) = entry(entries, pool, pool.slot) {
                for (tier, stack) in cache.stacks.iter_mut().enumerate() {
                    freed[tier] = stack.blocks.len() as u64;
                    blocks.append(&mut stack.blocks);
                }
            }
        })
    });
    drop(blocks);
    freed
}

/// Runs an idle collection on this thread's cache for `pool` that releases
/// every block unused since the previous collection (and the same in the
/// depots). Returns whether this thread had a cache for the pool.
pub(crate) fn collect_local(pool: &Shared) -> bool {
    LOCAL
        .try_with(|table| {
            table.with(|entries| match entry(entries, pool, pool.slot) {
                Some(cache) => {
                    cache.collect(|low_water| low_water, true);
                    true
                }
                None => false,
            })
        })
        .unwrap_or(false)
}

/// Drops this thread's cache for `pool`, if it has one.
pub(crate) fn discard_local(pool: &Shared) {
    let entry = LOCAL
        .try_with(|table| {
            table.with(|entries| {
                entry(entries, pool, pool.slot)?;
                entries[pool.slot].take()
            })
        })
        .ok()
        .flatten();
    drop(entry);
}
