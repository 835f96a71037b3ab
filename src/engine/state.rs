//! The state every handle and every block of one pool share, and the pool's
//! policy: what happens when a block is handed out and when it comes back.
//!
//! Every opt-in behaviour has two halves, and both live here, side by side:
//!
//! | behaviour | hand-out ([`PoolState::handout`]) | return ([`PoolState::recycle`]) |
//! |---|---|---|
//! | `max_in_use_bytes` | charge, or refuse / serve over | release the charge |
//! | `max_cached_bytes` | (uncharged by taking the block) | charge; free the block if over |
//! | `leak_detection` | record (every block, or sampled ones) | forget |
//! | `record_sizes` | record the request | — |
//! | `zero_on_return` | — | zero the block |
//! | oversize (unpooled) | allocate exactly, count | free, count |
//!
//! The thread caches below see only pooled blocks that passed this policy.

use crate::engine::block::{flags, BlockRef, IdleBlock};
use crate::engine::config::{PoolConfig, TierSpec};
use crate::engine::depot::Depot;
use crate::engine::local_table;
use crate::engine::outstanding::{LeakDetection, OnClose, OutstandingBuf, OutstandingLog};
use crate::engine::quota_account::{QuotaAccount, QuotaRegistry};
use crate::engine::router::Router;
use crate::engine::thread_cache::{CacheRegistry, Collection};
use crate::error::PoolError;
use crate::memory::budget::{Budget, WaitableBudget};
use crate::memory::region::{Backing, BackingReport, Regions};
use crate::stats::histogram::SizeHistogram;
use crate::stats::{Event, LimitStats, PoolCounters, PoolStats, SharedCounter, WaitStats};
use crate::sync::{unmodelled, Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// One tier's configuration and depot.
#[derive(Debug)]
pub(crate) struct Tier {
    pub(crate) spec: TierSpec,
    pub(crate) depot: Depot,
}

/// State shared by every handle and every block of one pool.
///
/// Each block holds a strong reference, so this outlives the last `Pool`
/// handle for as long as any buffer or cached block exists.
#[derive(Debug)]
pub(crate) struct PoolState {
    /// The pool's name, for stats and metrics: see `PoolBuilder::name`.
    /// A `std` `Arc` (a name, not a place where threads meet), so metrics
    /// labels share it without copying.
    pub(crate) name: unmodelled::Arc<str>,
    pub(crate) tiers: Box<[Tier]>,
    /// Finds the tier of a requested capacity.
    router: Router,
    pub(crate) alignment: usize,
    /// The shortest time between two periodic idle collections of a
    /// thread cache.
    pub(crate) idle_decay: Duration,
    /// The tier whose blocks chains are made of.
    segment_tier: usize,
    /// This pool's index into every thread's table of caches.
    pub(crate) slot: usize,
    /// Set when the last `Pool` handle drops: returns then free the block.
    pub(crate) closed: AtomicBool,
    /// `Pool` handles alive.
    pub(crate) handles: AtomicUsize,
    pub(crate) counters: PoolCounters,
    /// Every thread's cache, for trims from any thread.
    pub(crate) caches: CacheRegistry,
    /// Opt-in behaviours copied into every block's header.
    pub(crate) block_flags: u8,
    /// Whether hand-outs need bookkeeping (in-use cap, tracking or size
    /// recording): such pools skip the inlined fast path of `get`.
    pub(crate) governed: bool,
    record_sizes: bool,
    pub(crate) cached_limit: Option<Budget>,
    in_use_limit: Option<WaitableBudget>,
    /// The pool's quotas, listed for the stats (never read on the get and
    /// return paths).
    pub(crate) quotas: QuotaRegistry,
    outstanding: Option<OutstandingLog>,
    /// With sampled leak detection, one hand-out in this many is followed.
    sample_interval: Option<u64>,
    /// Hand-outs counted for sampling.
    sampled_handouts: AtomicU64,
    on_close: Option<OnClose>,
    /// Where the tiers' blocks come from with `Backing::Regions`; `None`
    /// with heap backing.
    pub(crate) regions: Option<Regions>,
}

// Unwind safety. Every handle, buffer and view reaches `PoolState` through a
// shared reference, so this impl (with the one for `Block`) is what makes
// `Pool`, `PooledBuf`, `SharedBuf` and the chains `UnwindSafe` and
// `RefUnwindSafe`, as `Bytes` and `Vec` are. The promise is that a panic
// caught with `catch_unwind` leaves nothing half-updated. It holds because:
//
// * the interior mutability is atomics, changed one whole operation at a
//   time (counters, budgets, flags), and three `parking_lot` mutexes: the
//   depot stacks, the counter registry and the outstanding log;
// * no user code runs while one of those locks is held, and each critical
//   section only moves blocks or records between vectors and maps, whose
//   one failure (out of memory) aborts instead of unwinding. The one
//   exception is the wait queue of `max_in_use_bytes` (and of quotas),
//   which clones and drops an executor's `Waker` under its lock: it does
//   so only where the queue is consistent (a waiter's id queued without
//   its entry is skipped as one that left), and wakes outside the lock;
// * `parking_lot` does not poison, so a lock released by unwinding (it
//   never is: see above) would not wedge later callers either.
//
// A panic in user code (a reader, an iterator, a formatter) therefore
// unwinds between whole operations on the pool, and the buffer methods
// that call such code update their length only after it returns.
impl std::panic::RefUnwindSafe for PoolState {}

/// What a hand-out is for: a tier, or an unpooled block of this capacity.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Tier(usize),
    Oversize(usize),
}

/// What a hand-out does when it would take the in-use bytes over
/// `max_in_use_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverLimit {
    /// Fail with [`PoolError::Exhausted`] (`try_get`, `try_reserve`).
    Refuse,
    /// Serve it anyway and count it in `over_limit` (`get`, growth).
    Serve,
    /// The bytes were charged already, by waiting for them
    /// ([`PoolState::handout_waiting`]).
    Reserved,
}

/// Charges `capacity` to `budget` as `over_limit` says, counting a refusal
/// in `exhausted` and a hand-out over the cap in `over`.
fn charge(
    budget: &WaitableBudget,
    capacity: usize,
    over_limit: OverLimit,
    exhausted: &SharedCounter,
    over: &SharedCounter,
) -> Result<(), PoolError> {
    match over_limit {
        OverLimit::Reserved => Ok(()),
        // Never overtakes a task waiting for bytes.
        OverLimit::Refuse if budget.try_acquire(capacity) => Ok(()),
        OverLimit::Refuse => {
            exhausted.add(1);
            Err(PoolError::Exhausted {
                requested: capacity,
                limit: budget.limit(),
            })
        }
        // Serves at once whatever the cap or the queue say.
        OverLimit::Serve if budget.try_acquire_now(capacity) => Ok(()),
        OverLimit::Serve if budget.force_acquire(capacity) => {
            over.add(1);
            Ok(())
        }
        OverLimit::Serve => Err(PoolError::CapacityOverflow {
            requested: capacity,
        }),
    }
}

/// Bytes charged to a budget while a hand-out is prepared; given back if
/// it is dropped (a cancelled wait).
struct Charged<'a> {
    budget: &'a WaitableBudget,
    bytes: usize,
}

impl Drop for Charged<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

impl PoolState {
    pub(crate) fn new(config: PoolConfig, name: unmodelled::Arc<str>) -> Self {
        let mut block_flags = 0;
        if config.zero_on_return {
            block_flags |= flags::ZERO_ON_RETURN;
        }
        if config.max_cached_bytes.is_some() {
            block_flags |= flags::CACHED_BUDGET;
        }
        if config.max_in_use_bytes.is_some() {
            block_flags |= flags::IN_USE_BUDGET;
        }
        if config.leak_detection.follows_every_block() {
            block_flags |= flags::TRACKED;
        }
        PoolState {
            name,
            router: Router::new(config.tiers.iter().map(|spec| spec.capacity).collect()),
            counters: PoolCounters::new(config.tiers.len(), config.record_sizes),
            caches: CacheRegistry::new(),
            tiers: config
                .tiers
                .iter()
                .map(|&spec| Tier {
                    spec,
                    depot: Depot::new(spec.depot),
                })
                .collect(),
            alignment: config.alignment,
            segment_tier: config.segment_tier,
            idle_decay: config.idle_decay,
            slot: local_table::acquire_slot(),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
            block_flags,
            governed: config.max_in_use_bytes.is_some()
                || config.leak_detection != LeakDetection::Off
                || config.record_sizes,
            record_sizes: config.record_sizes,
            cached_limit: config.max_cached_bytes.map(Budget::new),
            in_use_limit: config.max_in_use_bytes.map(WaitableBudget::new),
            quotas: QuotaRegistry::new(),
            outstanding: (config.leak_detection != LeakDetection::Off)
                .then(|| OutstandingLog::new(config.leak_detection.backtraces())),
            sample_interval: config.leak_detection.sample_interval(),
            sampled_handouts: AtomicU64::new(0),
            on_close: config.on_close,
            regions: match config.backing {
                Backing::Heap => None,
                Backing::Regions(regions) => {
                    let capacities: Vec<usize> =
                        config.tiers.iter().map(|spec| spec.capacity).collect();
                    Some(Regions::new(
                        regions,
                        &capacities,
                        config.alignment,
                        config.idle_decay,
                    ))
                }
            },
        }
    }

    /// The index of the smallest tier that holds `capacity` bytes.
    #[inline(always)]
    pub(crate) fn route(&self, capacity: usize) -> Option<usize> {
        self.router.route(capacity)
    }

    /// The largest tier's capacity.
    pub(crate) fn largest_tier(&self) -> usize {
        self.tiers.last().map_or(0, |t| t.spec.capacity)
    }

    /// The tiers' capacities, smallest first.
    pub(crate) fn capacities(&self) -> impl Iterator<Item = usize> + '_ {
        self.tiers.iter().map(|t| t.spec.capacity)
    }

    /// Records a requested size, when the pool records sizes.
    pub(crate) fn record_size(this: &Arc<Self>, requested: usize) {
        if this.record_sizes {
            local_table::record_size(this, requested);
        }
    }

    /// A block of `tier`: from this thread's cache when the pool has no
    /// hand-out bookkeeping and no quota is charged, through
    /// [`handout_charged`](Self::handout_charged) otherwise.
    #[inline]
    pub(crate) fn get_tier(
        this: &Arc<Self>,
        tier: usize,
        requested: usize,
        over_limit: OverLimit,
        quota: Option<&Arc<QuotaAccount>>,
    ) -> Result<BlockRef, PoolError> {
        if !this.governed && quota.is_none() {
            if let Some(idle) = local_table::take(this, tier) {
                return Ok(idle.into_ref());
            }
        }
        PoolState::handout_charged(this, Target::Tier(tier), requested, over_limit, quota)
    }

    /// The capacity of tier `tier`.
    #[cfg(feature = "tokio")]
    pub(crate) fn tier_capacity(&self, tier: usize) -> usize {
        self.tiers[tier].spec.capacity
    }

    /// The capacity of the tier chains grow by.
    pub(crate) fn segment_capacity(&self) -> usize {
        self.tiers[self.segment_tier].spec.capacity
    }

    /// The tier of a chain's next block when `remaining` more bytes are
    /// expected: the largest tier, from the segment tier up, that they fill
    /// completely; below one segment, the smallest tier that holds them.
    /// Only the last block can be partly filled, so a chain wastes less
    /// than one segment, and long messages take few, large blocks (fewer
    /// reads and fewer iovecs per message).
    pub(crate) fn chain_tier(&self, remaining: usize) -> usize {
        if remaining < self.segment_capacity() {
            return self
                .route(remaining.max(1))
                .expect("a tier at least as large as the segment tier exists");
        }
        let fills = self.tiers[self.segment_tier..]
            .iter()
            .take_while(|tier| tier.spec.capacity <= remaining)
            .count();
        self.segment_tier + fills - 1
    }

    /// Hands out a block for `target`: the outbound half of the policy.
    pub(crate) fn handout(
        this: &Arc<Self>,
        target: Target,
        requested: usize,
        over_limit: OverLimit,
    ) -> Result<BlockRef, PoolError> {
        PoolState::handout_charged(this, target, requested, over_limit, None)
    }

    /// [`handout`](Self::handout), charging `quota` too (first: a quota is
    /// usually the tighter cap).
    pub(crate) fn handout_charged(
        this: &Arc<Self>,
        target: Target,
        requested: usize,
        over_limit: OverLimit,
        quota: Option<&Arc<QuotaAccount>>,
    ) -> Result<BlockRef, PoolError> {
        PoolState::record_size(this, requested);
        let capacity = this.target_capacity(target);
        if let Some(quota) = quota {
            charge(
                &quota.budget,
                capacity,
                over_limit,
                &quota.exhausted,
                &quota.over_limit,
            )?;
        }
        if let Some(budget) = &this.in_use_limit {
            let charged = charge(
                budget,
                capacity,
                over_limit,
                &this.counters.exhausted,
                &this.counters.over_limit,
            );
            if let Err(err) = charged {
                if let Some(quota) = quota {
                    quota.budget.release(capacity);
                }
                return Err(err);
            }
        }
        let block = match target {
            // A closed pool's slot may belong to another pool by now: do not
            // touch the thread cache for it (only growth gets here closed).
            Target::Tier(tier) if this.closed.load(Ordering::Relaxed) => {
                IdleBlock::allocate(this, Some(tier), capacity).map(IdleBlock::into_ref)
            }
            Target::Tier(tier) => match local_table::take(this, tier) {
                Some(idle) => Ok(idle.into_ref()),
                None => local_table::take_slow(this, tier).map(IdleBlock::into_ref),
            },
            Target::Oversize(capacity) => PoolState::allocate_oversize(this, capacity),
        };
        match block {
            Ok(block) => {
                if let Some(quota) = quota {
                    quota.count_get();
                    // SAFETY: the block was just handed out: this is its
                    // only reference, and a block comes back from its last
                    // holder with its quota taken.
                    unsafe { block.set_quota(Arc::clone(quota)) };
                }
                if let Some(log) = &this.outstanding {
                    if this.follow_handout(&block) {
                        // SAFETY: the block was just handed out: this is its
                        // only reference.
                        unsafe { block.set_flag(flags::TRACKED) };
                        log.insert(&block);
                    }
                }
                Ok(block)
            }
            Err(err) => {
                if let Some(budget) = &this.in_use_limit {
                    budget.release(capacity);
                }
                if let Some(quota) = quota {
                    quota.budget.release(capacity);
                }
                Err(err)
            }
        }
    }

    /// The capacity a hand-out for `target` takes.
    pub(crate) fn target_capacity(&self, target: Target) -> usize {
        match target {
            Target::Tier(tier) => self.tiers[tier].spec.capacity,
            Target::Oversize(capacity) => capacity,
        }
    }

    /// Waits until `capacity` bytes fit under `quota` (if any) and then
    /// under `max_in_use_bytes` (if set), each in arrival order, and
    /// charges them: then a hand-out with [`OverLimit::Reserved`] takes
    /// the block. With neither cap it returns at once, charging nothing.
    ///
    /// Dropping the future before it resolves charges nothing. Once it
    /// resolves, the caller must hand out without awaiting anything in
    /// between (a failed hand-out gives the bytes back).
    pub(crate) async fn reserve(
        this: &Arc<Self>,
        capacity: usize,
        quota: Option<&Arc<QuotaAccount>>,
    ) -> Result<OverLimit, PoolError> {
        let pool_budget = this.in_use_limit.as_ref();
        if quota.is_none() && pool_budget.is_none() {
            return Ok(OverLimit::Serve);
        }
        let caps = quota
            .map(|q| (&q.budget, &q.exhausted))
            .into_iter()
            .chain(pool_budget.map(|b| (b, &this.counters.exhausted)));
        for (budget, exhausted) in caps {
            if capacity > budget.limit() {
                exhausted.add(1);
                return Err(PoolError::OverLimit {
                    requested: capacity,
                    limit: budget.limit(),
                });
            }
        }
        // The quota's bytes go back if the wait for the pool is dropped.
        let quota_charge = match quota {
            Some(quota) => {
                quota.budget.acquire(capacity).await;
                Some(Charged {
                    budget: &quota.budget,
                    bytes: capacity,
                })
            }
            None => None,
        };
        if let Some(budget) = pool_budget {
            budget.acquire(capacity).await;
        }
        std::mem::forget(quota_charge);
        Ok(OverLimit::Reserved)
    }

    /// [`handout`](Self::handout), waiting for the bytes under
    /// `max_in_use_bytes` instead of refusing or exceeding it.
    pub(crate) async fn handout_waiting(
        this: &Arc<Self>,
        target: Target,
        requested: usize,
        quota: Option<&Arc<QuotaAccount>>,
    ) -> Result<BlockRef, PoolError> {
        let capacity = this.target_capacity(target);
        let reserved = match PoolState::reserve(this, capacity, quota).await {
            Ok(reserved) => reserved,
            Err(err) => {
                PoolState::record_size(this, requested);
                return Err(err);
            }
        };
        PoolState::handout_charged(this, target, requested, reserved, quota)
    }

    /// What a request for `capacity` bytes is served from: its tier, or an
    /// unpooled block above the largest tier.
    #[inline]
    pub(crate) fn target(&self, capacity: usize) -> Target {
        match self.route(capacity) {
            Some(tier) => Target::Tier(tier),
            None => Target::Oversize(capacity),
        }
    }

    /// Allocates an unpooled block of exactly `capacity` bytes.
    fn allocate_oversize(this: &Arc<Self>, capacity: usize) -> Result<BlockRef, PoolError> {
        let idle = IdleBlock::allocate(this, None, capacity)?;
        this.counters.oversize.bytes_allocated.add(capacity as u64);
        this.counters.oversize.allocations.add(1);
        Ok(idle.into_ref())
    }

    /// Takes back a block whose last holder let go: the inbound half of the
    /// policy. `idle` comes straight from the last `BlockRef`, not yet
    /// charged as idle; a block with no opt-in flags needs nothing but a
    /// cache.
    #[inline(always)]
    pub(crate) fn recycle(idle: IdleBlock) {
        if idle.flags() & flags::OPT_IN != 0 {
            return PoolState::recycle_governed(idle);
        }
        local_table::put(idle);
    }

    /// [`recycle`](Self::recycle) for a block with opt-in behaviours or an
    /// unpooled one.
    #[cold]
    #[inline(never)]
    fn recycle_governed(mut idle: IdleBlock) {
        local_table::assert_not_borrowed();
        idle.count_idle();
        let flags = idle.flags();
        if flags & flags::ZERO_ON_RETURN != 0 {
            idle.zero();
        }
        if flags & flags::QUOTA != 0 {
            if let Some(quota) = idle.take_quota() {
                quota.budget.release(idle.capacity());
            }
        }
        let pool = idle.pool();
        if flags & flags::IN_USE_BUDGET != 0 {
            if let Some(budget) = &pool.in_use_limit {
                budget.release(idle.capacity());
            }
        }
        let mut sampled = false;
        if flags & flags::TRACKED != 0 {
            if let Some(log) = &pool.outstanding {
                log.remove(idle.key());
            }
            // Sampled hand-outs set the flag for this hand-out only.
            if pool.block_flags & flags::TRACKED == 0 {
                sampled = true;
            }
        }
        if sampled {
            idle.clear_flag(flags::TRACKED);
        }
        if flags & flags::UNPOOLED != 0 {
            let oversize = &pool.counters.oversize;
            oversize.bytes_freed.add(idle.capacity() as u64);
            oversize.frees.add(1);
            return drop(idle);
        }
        if flags & flags::CACHED_BUDGET != 0 && !pool.closed.load(Ordering::Relaxed) {
            if let Some(budget) = &pool.cached_limit {
                if budget.is_over() {
                    let counters = &pool.counters.fallback[idle.tier()];
                    counters[Event::Return].add(1);
                    counters[Event::DroppedOverLimit].add(1);
                    return drop(idle);
                }
            }
        }
        local_table::put(idle);
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let mut stats = self.counters.snapshot(
            self.capacities(),
            self.cached_limit
                .as_ref()
                .map(|b| LimitStats::of(b.limit(), b.used())),
            self.in_use_limit
                .as_ref()
                .map(|b| LimitStats::of(b.limit(), b.used())),
        );
        if let Some(budget) = &self.in_use_limit {
            let waiters = budget.waiters();
            stats.waiting = WaitStats {
                requests: waiters.requests,
                bytes: waiters.bytes as u64,
                oldest_wait: waiters.oldest,
            };
        }
        stats.quotas = self.quotas.summary();
        stats
    }

    /// The pool's `max_in_use_bytes`, if set.
    pub(crate) fn in_use_cap(&self) -> Option<usize> {
        self.in_use_limit.as_ref().map(WaitableBudget::limit)
    }

    /// What backs the pool's blocks now: empty with heap backing.
    pub(crate) fn backing_report(&self) -> BackingReport {
        self.regions
            .as_ref()
            .map_or_else(BackingReport::default, Regions::report)
    }

    pub(crate) fn size_histogram(&self) -> SizeHistogram {
        self.counters.size_histogram()
    }

    pub(crate) fn outstanding(&self, min_age: Duration) -> Vec<OutstandingBuf> {
        self.outstanding
            .as_ref()
            .map_or_else(Vec::new, |log| log.report(min_age))
    }

    /// Whether this hand-out is one of the sampled ones (always with full
    /// leak detection, whose blocks carry the flag from allocation).
    fn follow_handout(&self, block: &BlockRef) -> bool {
        if block.flags() & flags::TRACKED != 0 {
            return true;
        }
        match self.sample_interval {
            Some(interval) => self.sampled_handouts.fetch_add(1, Ordering::Relaxed) % interval == 0,
            None => false,
        }
    }

    /// Frees every idle block: in the depots and in every thread's cache.
    pub(crate) fn trim(&self) {
        self.trim_caches(Collection::All);
    }

    /// Frees the blocks nobody needed since the previous collection, in the
    /// depots and in every thread's cache.
    pub(crate) fn trim_idle(&self) {
        self.trim_caches(Collection::Full);
    }

    /// Frees what `collection` releases from every thread's cache (see
    /// [`CacheRegistry::take_idle`]) and from the depots, and counts it.
    fn trim_caches(&self, collection: Collection) {
        let (blocks, mut freed) = self.caches.take_idle(collection, self.tiers.len());
        drop(blocks);
        for (tier, shared) in self.tiers.iter().enumerate() {
            let unused = match collection {
                Collection::All => shared.depot.drain(),
                _ => shared.depot.collect(|low_water| low_water),
            };
            freed[tier] += unused.len() as u64;
        }
        for (counters, n) in self.counters.fallback.iter().zip(freed) {
            counters[Event::Trimmed].add(n);
        }
        // The slots of the blocks just freed, and every other dirty slot,
        // give their pages back.
        if let Some(regions) = &self.regions {
            regions.purge_all();
        }
    }

    /// Called when the last handle drops: frees what the depots and every
    /// thread's cache hold, and makes every later return free its block.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        local_table::discard_local(self);
        self.trim();
        local_table::release_slot(self.slot);
        // Last, so that a report that panics leaves the pool closed.
        if let Some(on_close) = &self.on_close {
            let report = self.outstanding(Duration::ZERO);
            if !report.is_empty() {
                (on_close.0)(&report);
            }
        }
    }
}
