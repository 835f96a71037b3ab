//! How a thread finds its cache for a pool: the plumbing around
//! [`ThreadCache`].
//!
//! * **Slots.** Each pool takes the lowest free slot number from a
//!   process-wide registry when it is built and gives it back when its last
//!   handle drops, so the tables below stay as small as the number of pools
//!   alive at once.
//! * **The table.** Each thread has one table of caches indexed by slot,
//!   so two pools used from one thread never evict each other. An entry
//!   keeps a strong reference to its pool and is matched by pointer, so an
//!   entry left behind by a closed pool whose slot was reused is recognised
//!   (and freed) when the new pool's entry replaces it. A thread that exits
//!   drops its table, and each cache gives its blocks to the depots.
//! * **The shortcut.** A destructor-free thread-local, `LAST`, points at the
//!   cache the thread used last; a get or a return for that pool goes
//!   straight to it (one thread-local load and a pointer compare). Every
//!   path through the table remembers the cache it found there.
//!
//! # Aliasing
//!
//! A cache is reachable both through the table and through `LAST`. It is
//! never borrowed twice because of one rule: **nothing that runs while the
//! table is borrowed drops a `BlockRef`** (the only thing that calls back
//! into this module) or runs user code. Code under a table borrow allocates
//! and frees blocks, takes depot and registry locks and drops whole cache
//! entries, none of which re-enters. Debug builds check the rule: the table
//! sets a flag while it is borrowed, and every entry point that could
//! re-enter asserts that it is clear.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::engine::block::IdleBlock;
use crate::engine::state::PoolState;
use crate::engine::thread_cache::ThreadCache;
use crate::error::PoolError;
use crate::stats::Event;
use crate::sync::{Arc, Ordering, StaticMutex, UnsafeCell};

/// Free slot numbers and the next unused one.
struct SlotRegistry {
    next: usize,
    /// Sorted highest first, so `pop` gives the lowest.
    free: Vec<usize>,
}

static SLOTS: StaticMutex<SlotRegistry> = StaticMutex::new(SlotRegistry {
    next: 0,
    free: Vec::new(),
});

/// Takes the lowest free slot for a new pool.
pub(crate) fn acquire_slot() -> usize {
    let mut slots = SLOTS.lock();
    match slots.free.pop() {
        Some(slot) => slot,
        None => {
            slots.next += 1;
            slots.next - 1
        }
    }
}

/// Gives a closed pool's slot back.
pub(crate) fn release_slot(slot: usize) {
    let mut slots = SLOTS.lock();
    slots.free.push(slot);
    slots.free.sort_unstable_by(|a, b| b.cmp(a));
}

/// One thread's cache for one pool, at a fixed heap address that [`LAST`]
/// may point to. Owned by the thread's [`LocalTable`].
struct CacheBox(NonNull<ThreadCache>);

impl CacheBox {
    fn new(cache: ThreadCache) -> Self {
        Self(NonNull::from(Box::leak(Box::new(cache))))
    }

    /// Makes this the cache the fast paths try first.
    fn remember(&self) {
        let _ = LAST.try_with(|last| last.set(Some(self.0)));
    }
}

impl std::ops::Deref for CacheBox {
    type Target = ThreadCache;

    fn deref(&self) -> &ThreadCache {
        // SAFETY: the box owns the cache until it drops; the only other
        // pointer to it, `LAST`, is only used while no table borrow is
        // live (see the module docs), so no `&mut` to it exists now.
        unsafe { self.0.as_ref() }
    }
}

impl std::ops::DerefMut for CacheBox {
    fn deref_mut(&mut self) -> &mut ThreadCache {
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
        let _borrow = TableBorrow::new();
        self.entries.with_mut(|entries| {
            // SAFETY: the table belongs to this thread alone (it is a
            // thread-local), and `f` never re-enters this module (see the
            // module docs; `TableBorrow` checks it in debug builds), so this
            // is the only reference to it.
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
    static LAST: Cell<Option<NonNull<ThreadCache>>> = Cell::new(None);
}

#[cfg(debug_assertions)]
crate::sync::const_thread_local! {
    /// Whether this thread's table is borrowed (debug builds only).
    static BORROWED: Cell<bool> = Cell::new(false);
}

/// Marks the table as borrowed for as long as it lives (debug builds).
struct TableBorrow;

impl TableBorrow {
    #[inline(always)]
    fn new() -> Self {
        #[cfg(debug_assertions)]
        let _ = BORROWED.try_with(|borrowed| {
            assert!(
                !borrowed.get(),
                "tierpool: a thread cache table was borrowed twice"
            );
            borrowed.set(true);
        });
        TableBorrow
    }
}

impl Drop for TableBorrow {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        let _ = BORROWED.try_with(|borrowed| borrowed.set(false));
    }
}

/// Asserts, in debug builds, that this thread's table is not borrowed: the
/// rule in the module docs. Called on every path that can re-enter.
#[inline(always)]
pub(crate) fn assert_not_borrowed() {
    #[cfg(debug_assertions)]
    let _ = BORROWED.try_with(|borrowed| {
        assert!(
            !borrowed.get(),
            "tierpool: a block was released while a thread cache table was borrowed"
        );
    });
}

/// This thread's cache for `pool`, if it is the one used last.
///
/// The pointer is valid (see [`LAST`]); the caller may turn it into a
/// `&mut` only while no table borrow is live, which holds everywhere in
/// this module outside `LocalTable::with`.
#[inline(always)]
fn last_cache(pool: *const PoolState) -> Option<NonNull<ThreadCache>> {
    assert_not_borrowed();
    let last = LAST.try_with(Cell::get).ok().flatten()?;
    // SAFETY: `LAST` only points at live caches of this thread (cleared by
    // `CacheBox::drop` before the cache is freed); reading the pool through
    // a shared reference is fine as no `&mut` to the cache is live here.
    let cached_pool = Arc::as_ptr(unsafe { last.as_ref() }.pool());
    std::ptr::eq(cached_pool, pool).then_some(last)
}

/// This thread's cache for `pool` (whose slot is `slot`), if it has one: the
/// entry in that slot, unless it belongs to a closed pool that had the slot
/// before.
#[inline(always)]
fn entry(
    entries: &mut [Option<CacheBox>],
    pool: *const PoolState,
    slot: usize,
) -> Option<&mut CacheBox> {
    match entries.get_mut(slot) {
        Some(Some(cache)) if std::ptr::eq(Arc::as_ptr(cache.pool()), pool) => Some(cache),
        _ => None,
    }
}

/// This thread's cache for `pool`, created if needed (replacing whatever
/// entry a closed pool left in its slot), and remembered in [`LAST`].
fn entry_or_install<'a>(
    entries: &'a mut Vec<Option<CacheBox>>,
    pool: &Arc<PoolState>,
) -> &'a mut CacheBox {
    let slot = pool.slot;
    if entry(entries, Arc::as_ptr(pool), slot).is_none() {
        if entries.len() <= slot {
            entries.resize_with(slot + 1, || None);
        }
        let stale = entries[slot].replace(CacheBox::new(ThreadCache::new(Arc::clone(pool))));
        drop(stale);
    }
    let cache = entries[slot]
        .as_mut()
        .expect("the slot's entry exists: it was just checked or installed");
    cache.remember();
    cache
}

/// Pops an idle block of `tier` from this thread's cache for `pool`: the
/// fast path of a get. `None` sends the caller to [`take_slow`].
#[inline(always)]
pub(crate) fn take(pool: &Arc<PoolState>, tier: usize) -> Option<IdleBlock> {
    match last_cache(Arc::as_ptr(pool)) {
        // SAFETY: see `last_cache`: no table borrow is live here.
        Some(mut cache) => unsafe { cache.as_mut() }.take(tier),
        None => take_via_table(pool, tier),
    }
}

/// [`take`] when the pool is not the one this thread used last: finds its
/// cache in the table (if there is one) and remembers it.
#[inline(never)]
fn take_via_table(pool: &Arc<PoolState>, tier: usize) -> Option<IdleBlock> {
    LOCAL
        .try_with(|table| {
            table.with(|entries| {
                let cache = entry(entries, Arc::as_ptr(pool), pool.slot)?;
                cache.remember();
                cache.take(tier)
            })
        })
        .unwrap_or(None)
}

/// Takes an idle block of `tier` for `pool` when [`take`] found none:
/// creates the cache if needed, then refills it from the depot or
/// allocates.
#[cold]
#[inline(never)]
pub(crate) fn take_slow(pool: &Arc<PoolState>, tier: usize) -> Result<IdleBlock, PoolError> {
    LOCAL
        .try_with(|table| {
            table.with(|entries| entry_or_install(entries, pool).take_or_refill(tier))
        })
        .unwrap_or_else(|_| take_without_cache(pool, tier))
}

/// A block for `tier` while this thread's table is gone (the thread is
/// exiting): one from the depot, or a new one.
fn take_without_cache(pool: &Arc<PoolState>, tier: usize) -> Result<IdleBlock, PoolError> {
    let shared = &pool.tiers[tier];
    let counters = &pool.counters.fallback[tier];
    let mut one = Vec::with_capacity(1);
    if shared.depot.take_batch(&mut one, 1) == 1 {
        counters[Event::Hit].add(1);
        return Ok(one.pop().expect("one block was taken"));
    }
    let idle = IdleBlock::allocate(pool, Some(tier), shared.spec.capacity)?;
    counters[Event::Miss].add(1);
    Ok(idle)
}

/// Returns a pooled block, already through the pool's return policy
/// ([`PoolState::recycle`]), to this thread's cache.
#[inline(always)]
pub(crate) fn put(idle: IdleBlock) {
    let tier = idle.tier();
    // Only the block header is read here. A block of a closed pool may land
    // in this thread's cache for that pool if the cache still exists; it is
    // freed with the cache (thread exit, or a new pool taking the slot).
    match last_cache(idle.pool_ptr()) {
        Some(mut cache) => {
            // SAFETY: see `last_cache`: no table borrow is live here.
            let cache = unsafe { cache.as_mut() };
            if let Some(idle) = cache.put(tier, idle) {
                put_slow(idle, tier);
            }
        }
        None => put_via_table(idle, tier),
    }
}

/// [`put`] when the block's pool is not the one this thread used last:
/// finds its cache in the table (if there is one) and remembers it.
#[inline(never)]
fn put_via_table(idle: IdleBlock, tier: usize) {
    let (pool, slot) = (idle.pool_ptr(), idle.slot());
    let mut pending = Some(idle);
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            if let Some(cache) = entry(entries, pool, slot) {
                cache.remember();
                pending = pending.take().and_then(|idle| cache.put(tier, idle));
            }
        })
    });
    // Not cached: no entry yet, a full stack, or a thread that is exiting.
    if let Some(idle) = pending {
        put_slow(idle, tier);
    }
}

/// Returns a block when the fast path could not: a closed pool, a missing
/// or full thread cache, or a thread that is exiting.
#[cold]
#[inline(never)]
fn put_slow(idle: IdleBlock, tier: usize) {
    if idle.pool().closed.load(Ordering::Relaxed) {
        // Nobody can get from a closed pool: free the block.
        drop(idle);
        return;
    }
    let mut pending = Some(idle);
    let _ = LOCAL.try_with(|table| {
        table.with(|entries| {
            if let Some(idle) = pending.take() {
                let pool = Arc::clone(idle.pool());
                entry_or_install(entries, &pool).put_or_spill(tier, idle);
            }
        })
    });
    if let Some(idle) = pending {
        // The thread is exiting and its table is gone: go to the depot.
        let pool = Arc::clone(idle.pool());
        let counters = &pool.counters.fallback[tier];
        counters[Event::Return].add(1);
        let mut one = vec![idle];
        if pool.tiers[tier].depot.put_batch(&mut one, 1, &pool.closed) == 1 {
            counters[Event::Dropped].add(1);
        }
    }
}

/// Records a requested size in this thread's counters for `pool` (skipped
/// while the thread is exiting).
pub(crate) fn record_size(pool: &Arc<PoolState>, size: usize) {
    let _ = LOCAL
        .try_with(|table| table.with(|entries| entry_or_install(entries, pool).record_size(size)));
}

/// Drops this thread's cache for `pool`, if it has one.
pub(crate) fn discard_local(pool: &PoolState) {
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
