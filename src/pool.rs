//! The pool handle and the state its buffers share.

use std::fmt;

use crate::advisor::SizeHistogram;
use crate::budget::Budget;
use crate::buf::PooledBuf;
use crate::config::{PoolBuilder, PoolConfig, TierSpec};
use crate::depot::Depot;
use crate::error::PoolError;
use crate::router::Router;
use crate::stats::{
    add_shared, OversizeCounters, PoolStats, ThreadCounters, TierStats, TierTotals,
};
use crate::storage::{flags, IdleStorage, Storage, UNPOOLED};
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, StaticMutex};
use crate::thread_cache;
use crate::tracker::{OutstandingBuf, Tracker};

/// Slot numbers index each thread's table of caches. A pool takes the lowest
/// free slot when it is built and gives it back when its last handle drops,
/// so the tables stay as small as the number of pools alive at once.
struct SlotRegistry {
    next: usize,
    free: Vec<usize>,
}

static SLOTS: StaticMutex<SlotRegistry> = StaticMutex::new(SlotRegistry {
    next: 0,
    free: Vec::new(),
});

fn acquire_slot() -> usize {
    let mut slots = SLOTS.lock();
    match slots.free.pop() {
        Some(slot) => slot,
        None => {
            slots.next += 1;
            slots.next - 1
        }
    }
}

fn release_slot(slot: usize) {
    let mut slots = SLOTS.lock();
    slots.free.push(slot);
    // Lowest first, so long-lived pools keep the thread tables short.
    slots.free.sort_unstable_by(|a, b| b.cmp(a));
}

/// One tier's configuration and depot.
#[derive(Debug)]
pub(crate) struct TierShared {
    pub(crate) spec: TierSpec,
    pub(crate) depot: Depot,
}

/// Counters of threads that use the pool, and of threads that have exited.
#[derive(Debug)]
struct Registry {
    threads: Vec<Arc<ThreadCounters>>,
    retired: Vec<TierTotals>,
    retired_sizes: SizeHistogram,
}

/// State shared by every handle and every block of one pool.
///
/// Each block holds a strong reference, so this outlives the last `Pool`
/// handle for as long as any buffer or cached block exists.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) tiers: Box<[TierShared]>,
    /// Finds the tier of a requested capacity.
    router: Router,
    pub(crate) alignment: usize,
    /// This pool's index into every thread's table of caches.
    pub(crate) slot: usize,
    /// Set when the last `Pool` handle drops: returns then free the block.
    pub(crate) closed: AtomicBool,
    handles: AtomicUsize,
    registry: Mutex<Registry>,
    /// Counters for paths that do not go through a thread cache (trim,
    /// returns during thread teardown), updated with shared atomics.
    pub(crate) fallback: ThreadCounters,
    pub(crate) oversize: OversizeCounters,
    /// Opt-in behaviours copied into every block's header.
    pub(crate) block_flags: u8,
    /// Whether hand-outs need bookkeeping (in-use cap, tracking or size
    /// recording): such pools skip the inlined fast path of `get`.
    governed: bool,
    /// Whether each thread records the sizes it is asked for.
    pub(crate) record_sizes: bool,
    pub(crate) cached_budget: Option<Budget>,
    pub(crate) in_use_budget: Option<Budget>,
    pub(crate) tracker: Option<Tracker>,
    /// `try_get`/`try_reserve` refusals because of `max_in_use_bytes`.
    exhausted: AtomicU64,
    /// Hand-outs by `get`/growth beyond `max_in_use_bytes`.
    over_budget: AtomicU64,
}

/// What a hand-out is for: a tier, or a plain allocation of this capacity.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Tier(usize),
    Oversize(usize),
}

impl Shared {
    /// The index of the smallest tier that holds `capacity` bytes.
    #[inline(always)]
    pub(crate) fn route(&self, capacity: usize) -> Option<usize> {
        self.router.route(capacity)
    }

    /// Hands out storage for `target`, applying the in-use cap and the
    /// outstanding-buffer report. `strict` turns a cap overrun into
    /// [`PoolError::Exhausted`]; otherwise the overrun is served and counted.
    pub(crate) fn handout(
        this: &Arc<Self>,
        target: Target,
        requested: usize,
        strict: bool,
    ) -> Result<Storage, PoolError> {
        if this.record_sizes {
            thread_cache::record_size(this, requested);
        }
        let capacity = match target {
            Target::Tier(tier) => this.tiers[tier].spec.capacity,
            Target::Oversize(capacity) => capacity,
        };
        if let Some(budget) = &this.in_use_budget {
            if !budget.try_add(capacity) {
                if strict {
                    add_shared(&this.exhausted, 1);
                    return Err(PoolError::Exhausted {
                        requested: capacity,
                        limit: budget.limit(),
                    });
                }
                budget.add(capacity);
                add_shared(&this.over_budget, 1);
            }
        }
        let storage = match target {
            // A closed pool's slot may belong to another pool by now: do not
            // touch the thread cache for it (only growth gets here closed).
            Target::Tier(tier) if this.closed.load(Ordering::Relaxed) => {
                IdleStorage::allocate(this, tier, capacity).map(IdleStorage::into_storage)
            }
            Target::Tier(tier) => match thread_cache::take_cached(this, tier) {
                Some(idle) => Ok(idle.into_storage()),
                None => thread_cache::take_slow(this, tier).map(IdleStorage::into_storage),
            },
            Target::Oversize(capacity) => Shared::allocate_oversize(this, capacity),
        };
        match storage {
            Ok(storage) => {
                if let Some(tracker) = &this.tracker {
                    let tier = match target {
                        Target::Tier(_) => Some(capacity),
                        Target::Oversize(_) => None,
                    };
                    tracker.insert(&storage, tier);
                }
                Ok(storage)
            }
            Err(err) => {
                if let Some(budget) = &this.in_use_budget {
                    budget.sub(capacity);
                }
                Err(err)
            }
        }
    }

    pub(crate) fn largest_tier(&self) -> usize {
        self.tiers.last().map_or(0, |t| t.spec.capacity)
    }

    /// Records a thread's counters so that `stats` can sum them.
    pub(crate) fn register(&self, counters: Arc<ThreadCounters>) {
        self.registry.lock().threads.push(counters);
    }

    /// Folds an exiting thread's counters into the retired totals.
    pub(crate) fn retire(&self, counters: &Arc<ThreadCounters>) {
        let mut registry = self.registry.lock();
        if let Some(pos) = registry
            .threads
            .iter()
            .position(|c| Arc::ptr_eq(c, counters))
        {
            registry.threads.swap_remove(pos);
            for (total, c) in registry.retired.iter_mut().zip(counters.tiers.iter()) {
                total.add(c);
            }
            if let Some(sizes) = &counters.sizes {
                sizes.add_to(&mut registry.retired_sizes);
            }
        }
    }

    /// The requested sizes recorded so far, summed over all threads.
    fn size_histogram(&self) -> SizeHistogram {
        let registry = self.registry.lock();
        let mut histogram = registry.retired_sizes.clone();
        for thread in &registry.threads {
            if let Some(sizes) = &thread.sizes {
                sizes.add_to(&mut histogram);
            }
        }
        histogram
    }

    /// Allocates an unpooled block of exactly `capacity` bytes.
    pub(crate) fn allocate_oversize(
        this: &Arc<Self>,
        capacity: usize,
    ) -> Result<Storage, PoolError> {
        let idle = IdleStorage::allocate(this, UNPOOLED, capacity)?;
        add_shared(&this.oversize.bytes_allocated, capacity as u64);
        add_shared(&this.oversize.allocations, 1);
        Ok(idle.into_storage())
    }

    /// A block for `tier` without a thread cache (used while the calling
    /// thread's cache is being torn down).
    pub(crate) fn take_uncached(this: &Arc<Self>, tier: usize) -> Result<IdleStorage, PoolError> {
        let shared = &this.tiers[tier];
        let counters = &this.fallback.tiers[tier];
        let mut one = Vec::with_capacity(1);
        if shared.depot.take_batch(&mut one, 1) == 1 {
            add_shared(&counters.hits, 1);
            return Ok(one.pop().expect("one block was taken"));
        }
        let idle = IdleStorage::allocate(this, tier, shared.spec.capacity)?;
        add_shared(&counters.misses, 1);
        Ok(idle)
    }

    /// Returns a block to the depot without a thread cache.
    pub(crate) fn put_uncached(&self, tier: usize, idle: IdleStorage) {
        let counters = &self.fallback.tiers[tier];
        add_shared(&counters.returns, 1);
        let mut one = vec![idle];
        if self.tiers[tier].depot.put_batch(&mut one, 1, &self.closed) == 1 {
            add_shared(&counters.dropped, 1);
        }
        drop(one);
    }

    fn stats(&self) -> PoolStats {
        let mut totals = {
            let registry = self.registry.lock();
            let mut totals = registry.retired.clone();
            for thread in &registry.threads {
                for (total, c) in totals.iter_mut().zip(thread.tiers.iter()) {
                    total.add(c);
                }
            }
            totals
        };
        for (total, c) in totals.iter_mut().zip(self.fallback.tiers.iter()) {
            total.add(c);
        }
        PoolStats {
            tiers: self
                .tiers
                .iter()
                .zip(totals)
                .map(|(tier, t)| TierStats::from_totals(tier.spec.capacity, t))
                .collect(),
            oversize: self.oversize.snapshot(),
            exhausted: self.exhausted.load(Ordering::Relaxed),
            over_budget: self.over_budget.load(Ordering::Relaxed),
            cached_bytes_limit: self.cached_budget.as_ref().map(Budget::limit),
            in_use_bytes_limit: self.in_use_budget.as_ref().map(Budget::limit),
            cached_bytes_counted: self.cached_budget.as_ref().map(|b| b.used() as u64),
            in_use_bytes_counted: self.in_use_budget.as_ref().map(|b| b.used() as u64),
        }
    }

    fn trim(&self) {
        let mut freed = thread_cache::trim_local(self);
        for (tier, shared) in self.tiers.iter().enumerate() {
            let drained = shared.depot.drain();
            freed[tier] += drained.len() as u64;
            drop(drained);
        }
        for (c, n) in self.fallback.tiers.iter().zip(freed) {
            add_shared(&c.trimmed, n);
        }
    }

    fn trim_idle(&self) {
        if !thread_cache::collect_local(self) {
            for (tier, c) in self.tiers.iter().zip(self.fallback.tiers.iter()) {
                let freed = tier.depot.collect(|low_water| low_water);
                add_shared(&c.trimmed, freed.len() as u64);
            }
        }
    }

    /// Called when the last handle drops: frees what the depots and this
    /// thread's cache hold, and makes every later return free its block.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        thread_cache::discard_local(self);
        for tier in self.tiers.iter() {
            drop(tier.depot.drain());
        }
        release_slot(self.slot);
    }
}

/// A tiered buffer pool. Cloning gives another handle to the same pool.
///
/// [`get`](Self::get) hands out a [`PooledBuf`] from the smallest tier that
/// fits the request; dropping the buffer returns its storage to the pool,
/// on whichever thread that happens. Requests above the largest tier are
/// served by plain allocations that are counted and never kept.
///
/// Each thread keeps a small cache per tier, so a get or a drop usually
/// touches no lock and no shared atomic; caches exchange buffers with a
/// bounded depot per tier in batches.
///
/// When the last handle drops, the depots and the dropping thread's cache are
/// freed; buffers still out stay valid and are freed when dropped; other
/// threads free what they cached for the pool when they exit, or when a new
/// pool takes over the pool's slot in their cache table.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// let pool = tierpool::Pool::new();
/// let mut buf = pool.get(1500);
/// assert_eq!(buf.capacity(), 4096);
/// write!(buf, "hello")?;
/// assert_eq!(&buf[..], b"hello");
///
/// let pool2 = pool.clone();
/// std::thread::spawn(move || drop(buf)).join().unwrap(); // returns to `pool`
/// assert_eq!(pool2.stats().tiers[0].in_use, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    /// A pool with the [`DEFAULT_TIERS`](crate::DEFAULT_TIERS) (4 KiB,
    /// 64 KiB, 1 MiB) and default limits (see
    /// [`TierConfig`](crate::TierConfig)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// assert_eq!(pool.tiers(), vec![4096, 65536, 1048576]);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        PoolBuilder::new()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder for a pool with custom tiers and limits.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().tiers([512, 8192]).build()?;
    /// assert_eq!(pool.get(600).capacity(), 8192);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    pub(crate) fn from_config(config: PoolConfig) -> Self {
        let tier_count = config.tiers.len();
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
        if config.track_outstanding {
            block_flags |= flags::TRACKED;
        }
        let shared = Shared {
            tiers: config
                .tiers
                .iter()
                .map(|&spec| TierShared {
                    spec,
                    depot: Depot::new(spec.depot),
                })
                .collect(),
            router: Router::new(config.tiers.iter().map(|spec| spec.capacity).collect()),
            alignment: config.alignment,
            slot: acquire_slot(),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
            registry: Mutex::new(Registry {
                threads: Vec::new(),
                retired: vec![TierTotals::default(); tier_count],
                retired_sizes: SizeHistogram::new(),
            }),
            fallback: ThreadCounters::new(tier_count, false),
            record_sizes: config.record_sizes,
            oversize: OversizeCounters::default(),
            block_flags,
            governed: config.max_in_use_bytes.is_some()
                || config.track_outstanding
                || config.record_sizes,
            cached_budget: config.max_cached_bytes.map(Budget::new),
            in_use_budget: config.max_in_use_bytes.map(Budget::new),
            tracker: config
                .track_outstanding
                .then(|| Tracker::new(config.capture_backtraces)),
            exhausted: AtomicU64::new(0),
            over_budget: AtomicU64::new(0),
        };
        Pool {
            shared: Arc::new(shared),
        }
    }

    /// An empty buffer with room for at least `capacity` bytes.
    ///
    /// The buffer comes from the smallest tier whose capacity is at least
    /// `capacity`; above the largest tier it is a plain allocation of exactly
    /// `capacity` bytes, counted in [`PoolStats::oversize`] and freed on drop.
    /// It is always empty (`len() == 0`): bytes an earlier holder wrote are
    /// not readable.
    ///
    /// # Panics
    ///
    /// If `capacity` is above the largest tier and cannot be allocated:
    /// larger than `isize::MAX` bytes, or refused by the allocator. Use
    /// [`try_get`](Self::try_get) for an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let buf = pool.get(4097);
    /// assert!(buf.is_empty());
    /// assert_eq!(buf.capacity(), 64 << 10);
    /// assert_eq!(buf.tier(), Some(64 << 10));
    ///
    /// let huge = pool.get(3 << 20);
    /// assert_eq!(huge.tier(), None);
    /// assert_eq!(huge.capacity(), 3 << 20);
    /// ```
    // Always inlined: the fast path is a handful of instructions, and
    // inlined it leaves the two-word buffer in the caller's registers.
    #[inline(always)]
    #[track_caller]
    pub fn get(&self, capacity: usize) -> PooledBuf {
        if !self.shared.governed {
            if let Some(tier) = self.shared.route(capacity) {
                if let Some(idle) = thread_cache::take_cached(&self.shared, tier) {
                    return PooledBuf::from_storage(idle.into_storage());
                }
            }
        }
        self.get_slow(capacity)
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn get_slow(&self, capacity: usize) -> PooledBuf {
        let target = match self.shared.route(capacity) {
            Some(tier) => Target::Tier(tier),
            None => Target::Oversize(capacity),
        };
        match Shared::handout(&self.shared, target, capacity, false) {
            Ok(storage) => PooledBuf::from_storage(storage),
            Err(err) => allocation_panic(err),
        }
    }

    /// An empty buffer from the smallest tier that fits, never a plain
    /// allocation.
    ///
    /// # Errors
    ///
    /// [`PoolError::Oversize`] if `capacity` is above the largest tier;
    /// [`PoolError::AllocFailed`] if the tier had no idle buffer and the
    /// allocator refused a new one.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::PoolError;
    ///
    /// let pool = tierpool::Pool::new();
    /// assert_eq!(pool.try_get(100)?.capacity(), 4096);
    /// assert!(matches!(pool.try_get(usize::MAX), Err(PoolError::Oversize { .. })));
    /// # Ok::<(), PoolError>(())
    /// ```
    #[inline]
    pub fn try_get(&self, capacity: usize) -> Result<PooledBuf, PoolError> {
        let Some(tier) = self.shared.route(capacity) else {
            if self.shared.record_sizes {
                thread_cache::record_size(&self.shared, capacity);
            }
            return Err(PoolError::Oversize {
                requested: capacity,
                largest_tier: self.shared.largest_tier(),
            });
        };
        if !self.shared.governed {
            if let Some(idle) = thread_cache::take_cached(&self.shared, tier) {
                return Ok(PooledBuf::from_storage(idle.into_storage()));
            }
        }
        Shared::handout(&self.shared, Target::Tier(tier), capacity, true)
            .map(PooledBuf::from_storage)
    }

    /// The capacities of the tiers, smallest first.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::Pool::new().tiers(), tierpool::DEFAULT_TIERS.to_vec());
    /// ```
    #[must_use]
    pub fn tiers(&self) -> Vec<usize> {
        self.shared.tiers.iter().map(|t| t.spec.capacity).collect()
    }

    /// A snapshot of the pool's counters, summed over all threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let buf = pool.get(10);
    /// assert_eq!(pool.stats().tiers[0].in_use, 1);
    /// drop(buf);
    /// assert_eq!(pool.stats().tiers[0].in_use, 0);
    /// ```
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// Frees every idle buffer in the depots and in the calling thread's
    /// cache. Other threads' caches are untouched (they are private to their
    /// threads and bounded by the per-tier limits).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// drop(pool.get(10));
    /// assert_eq!(pool.stats().tiers[0].cached, 1);
    /// pool.trim();
    /// assert_eq!(pool.stats().tiers[0].cached, 0);
    /// assert_eq!(pool.stats().tiers[0].trimmed, 1);
    /// ```
    pub fn trim(&self) {
        self.shared.trim();
    }

    /// Frees the idle buffers nobody needed since the previous idle
    /// collection: in each tier's depot and in the calling thread's cache,
    /// the blocks below the low-water mark (the fewest idle blocks held
    /// since the last collection).
    ///
    /// The pool already runs a gentler collection by itself every 4096 gets
    /// from a tier of a thread's cache (or 4096 returns, on a thread that
    /// mostly returns buffers), releasing three quarters of the unused
    /// blocks, so memory decays toward the working set without a
    /// background thread; call this from a timer to release idle memory
    /// faster, or while the pool sees no traffic at all. Calling it twice in
    /// a row frees everything that stayed unused in between.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let burst: Vec<_> = (0..100).map(|_| pool.get(4096)).collect();
    /// drop(burst); // 100 idle buffers now
    /// pool.trim_idle(); // starts a period: nothing was unused for a whole one yet
    /// drop(pool.get(4096)); // steady use needs one buffer
    /// pool.trim_idle(); // frees what stayed unused since the last call
    /// assert!(pool.stats().tiers[0].cached <= 1);
    /// ```
    pub fn trim_idle(&self) {
        self.shared.trim_idle();
    }

    /// The buffers handed out and not yet returned, oldest first, when the
    /// pool was built with
    /// [`track_outstanding`](crate::PoolBuilder::track_outstanding);
    /// empty otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().track_outstanding(true).build()?;
    /// let old = pool.get(10).freeze();
    /// let young = pool.get(100_000);
    /// let report = pool.outstanding();
    /// assert_eq!(report.len(), 2);
    /// assert_eq!(report[0].tier, Some(4096)); // the oldest comes first
    /// assert!(report[0].age >= report[1].age);
    /// # drop((old, young));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn outstanding(&self) -> Vec<OutstandingBuf> {
        self.shared
            .tracker
            .as_ref()
            .map_or_else(Vec::new, Tracker::report)
    }

    /// The sizes requested from this pool so far (by `get`, `try_get` and
    /// growth), summed over all threads, when it was built with
    /// [`record_sizes`](crate::PoolBuilder::record_sizes); empty otherwise.
    /// Feed it to [`SizeHistogram::advise`] to choose tiers.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().record_sizes(true).build()?;
    /// for size in [100, 1500, 1500, 9000] {
    ///     drop(pool.get(size));
    /// }
    /// let histogram = pool.size_histogram();
    /// assert_eq!(histogram.requests(), 4);
    /// println!("{}", histogram.advise(&pool.tiers(), 2));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn size_histogram(&self) -> SizeHistogram {
        self.shared.size_histogram()
    }

    /// Whether two handles refer to the same pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = tierpool::Pool::new();
    /// assert!(a.same_pool(&a.clone()));
    /// assert!(!a.same_pool(&tierpool::Pool::new()));
    /// ```
    #[must_use]
    pub fn same_pool(&self, other: &Pool) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn allocation_panic(err: PoolError) -> ! {
    panic!("tierpool: cannot allocate a buffer: {err}")
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new()
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("tiers", &self.tiers())
            .field("alignment", &self.shared.alignment)
            .finish_non_exhaustive()
    }
}
