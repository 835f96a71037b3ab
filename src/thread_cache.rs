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
//! Re-entrancy: code that runs while a thread's table is borrowed allocates
//! and frees blocks, takes depot and registry locks, and drops whole cache
//! entries, but never drops a `Storage` (the only thing that calls back into
//! this module) and never runs user code.

use crate::error::PoolError;
use crate::pool::Shared;
use crate::stats::{add_local, add_shared, ThreadCounters};
use crate::storage::{IdleStorage, UNPOOLED};
use crate::sync::{Arc, Ordering, UnsafeCell};

/// Most slots a cache preallocates per tier, however deep it may grow.
const PREALLOCATED_SLOTS: usize = 256;

/// One tier's stack in a thread cache.
#[derive(Debug)]
struct LocalStack {
    blocks: Vec<IdleStorage>,
    limit: usize,
}

/// One thread's cache for one pool.
#[derive(Debug)]
struct LocalCache {
    pool: Arc<Shared>,
    counters: Arc<ThreadCounters>,
    stacks: Box<[LocalStack]>,
}

impl LocalCache {
    fn new(pool: Arc<Shared>) -> Self {
        let counters = Arc::new(ThreadCounters::new(pool.tiers.len()));
        pool.register(Arc::clone(&counters));
        let stacks = pool
            .tiers
            .iter()
            .map(|t| LocalStack {
                blocks: Vec::with_capacity(t.spec.thread_cache.min(PREALLOCATED_SLOTS)),
                limit: t.spec.thread_cache,
            })
            .collect();
        Self {
            pool,
            counters,
            stacks,
        }
    }

    #[inline]
    fn take_cached(&mut self, tier: usize) -> Option<IdleStorage> {
        let idle = self.stacks[tier].blocks.pop()?;
        add_local(&self.counters.tiers[tier].hits, 1);
        Some(idle)
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self, tier: usize) -> Result<IdleStorage, PoolError> {
        let shared = &self.pool.tiers[tier];
        let stack = &mut self.stacks[tier].blocks;
        shared.depot.take_batch(stack, shared.spec.batch);
        if let Some(idle) = stack.pop() {
            add_local(&self.counters.tiers[tier].hits, 1);
            return Ok(idle);
        }
        let idle = IdleStorage::allocate(&self.pool, tier, shared.spec.capacity)?;
        add_local(&self.counters.tiers[tier].misses, 1);
        Ok(idle)
    }

    /// Caches `idle` if there is room; gives it back otherwise.
    #[inline]
    fn put_cached(&mut self, tier: usize, idle: IdleStorage) -> Option<IdleStorage> {
        let stack = &mut self.stacks[tier];
        if stack.blocks.len() < stack.limit {
            stack.blocks.push(idle);
            add_local(&self.counters.tiers[tier].returns, 1);
            None
        } else {
            Some(idle)
        }
    }

    fn put(&mut self, tier: usize, idle: IdleStorage) {
        if let Some(idle) = self.put_cached(tier, idle) {
            add_local(&self.counters.tiers[tier].returns, 1);
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
        add_local(&self.counters.tiers[tier].dropped, rejected as u64);
        stack.blocks.extend(keep);
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
            add_local(&self.counters.tiers[tier].dropped, rejected as u64);
        }
        self.pool.retire(&self.counters);
    }
}

/// One thread's caches, indexed by pool slot.
struct LocalTable {
    entries: UnsafeCell<Vec<Option<Box<LocalCache>>>>,
}

impl LocalTable {
    fn new() -> Self {
        Self {
            entries: UnsafeCell::new(Vec::new()),
        }
    }

    /// Runs `f` on the table.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Option<Box<LocalCache>>>) -> R) -> R {
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
        drop(entries);
    }
}

crate::sync::thread_local! {
    static LOCAL: LocalTable = LocalTable::new();
}

/// The index of the entry for `pool` in `entries`, if there is one.
#[inline(always)]
fn find(entries: &[Option<Box<LocalCache>>], pool: *const Shared, slot: usize) -> bool {
    matches!(entries.get(slot), Some(Some(cache)) if std::ptr::eq(Arc::as_ptr(&cache.pool), pool))
}

/// Creates this thread's cache for `pool`, replacing whatever entry a closed
/// pool left in its slot.
#[cold]
#[inline(never)]
fn install(entries: &mut Vec<Option<Box<LocalCache>>>, pool: Arc<Shared>) {
    let slot = pool.slot;
    if entries.len() <= slot {
        entries.resize_with(slot + 1, || None);
    }
    let stale = entries[slot].replace(Box::new(LocalCache::new(pool)));
    drop(stale);
}

/// Pops an idle block of `tier` from this thread's cache for `pool`: the
/// fast path of a get. `None` sends the caller to [`take_slow`].
#[inline]
pub(crate) fn take_cached(pool: &Arc<Shared>, tier: usize) -> Option<IdleStorage> {
    LOCAL
        .try_with(|table| {
            table.with(|entries| match entries.get_mut(pool.slot) {
                Some(Some(cache)) if std::ptr::eq(Arc::as_ptr(&cache.pool), Arc::as_ptr(pool)) => {
                    cache.take_cached(tier)
                }
                _ => None,
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
            if !find(entries, Arc::as_ptr(pool), slot) {
                install(entries, Arc::clone(pool));
            }
            match &mut entries[slot] {
                Some(cache) => match cache.take_cached(tier) {
                    Some(idle) => Ok(idle),
                    None => cache.refill(tier),
                },
                None => unreachable!("the entry was just installed"),
            }
        })
    });
    match local {
        Ok(result) => result,
        // The thread is exiting and its table is gone.
        Err(_) => pool.take_uncached(tier),
    }
}

/// Returns a block nobody holds any more to its pool.
#[inline]
pub(crate) fn recycle(idle: IdleStorage) {
    let tier = idle.tier();
    let pool = idle.pool();
    if tier == UNPOOLED || pool.closed.load(Ordering::Relaxed) {
        return recycle_slow(idle);
    }
    let key = Arc::as_ptr(pool);
    let slot = pool.slot;
    let mut pending = Some(idle);
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            if let Some(Some(cache)) = entries.get_mut(slot) {
                if std::ptr::eq(Arc::as_ptr(&cache.pool), key) {
                    if let Some(idle) = pending.take() {
                        pending = cache.put_cached(tier, idle);
                    }
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
            if !find(entries, Arc::as_ptr(pool), slot) {
                install(entries, Arc::clone(pool));
            }
            match &mut entries[slot] {
                Some(cache) => cache.put(tier, idle),
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

/// Frees the idle blocks this thread caches for `pool`; returns how many per
/// tier.
pub(crate) fn trim_local(pool: &Shared) -> Vec<u64> {
    let mut freed = vec![0; pool.tiers.len()];
    let mut blocks = Vec::new();
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            if find(entries, pool, pool.slot) {
                if let Some(cache) = &mut entries[pool.slot] {
                    for (tier, stack) in cache.stacks.iter_mut().enumerate() {
                        freed[tier] = stack.blocks.len() as u64;
                        blocks.append(&mut stack.blocks);
                    }
                }
            }
        })
    });
    drop(blocks);
    freed
}

/// Drops this thread's cache for `pool`, if it has one.
pub(crate) fn discard_local(pool: &Shared) {
    let entry = LOCAL
        .try_with(|table| {
            table.with(|entries| {
                if find(entries, pool, pool.slot) {
                    entries[pool.slot].take()
                } else {
                    None
                }
            })
        })
        .ok()
        .flatten();
    drop(entry);
}
