//! The pool handle and the state its buffers share.

use std::fmt;

use crate::buf::PooledBuf;
use crate::config::{PoolBuilder, PoolConfig, TierSpec};
use crate::depot::Depot;
use crate::error::PoolError;
use crate::stats::{
    add_shared, OversizeCounters, PoolStats, ThreadCounters, TierStats, TierTotals,
};
use crate::storage::{IdleStorage, Storage, UNPOOLED};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering, StaticMutex};
use crate::thread_cache;

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
}

/// State shared by every handle and every block of one pool.
///
/// Each block holds a strong reference, so this outlives the last `Pool`
/// handle for as long as any buffer or cached block exists.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) tiers: Box<[TierShared]>,
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
}

impl Shared {
    /// The index of the smallest tier that holds `capacity` bytes.
    #[inline]
    pub(crate) fn route(&self, capacity: usize) -> Option<usize> {
        self.tiers
            .iter()
            .position(|tier| capacity <= tier.spec.capacity)
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
        }
    }

    /// Allocates an unpooled block of exactly `capacity` bytes.
    pub(crate) fn allocate_oversize(
        self: &Arc<Self>,
        capacity: usize,
    ) -> Result<Storage, PoolError> {
        let idle = IdleStorage::allocate(self, UNPOOLED, capacity)?;
        add_shared(&self.oversize.bytes_allocated, capacity as u64);
        add_shared(&self.oversize.allocations, 1);
        Ok(idle.into_storage())
    }

    /// A block for `tier` without a thread cache (used while the calling
    /// thread's cache is being torn down).
    pub(crate) fn take_uncached(self: &Arc<Self>, tier: usize) -> Result<IdleStorage, PoolError> {
        let shared = &self.tiers[tier];
        let counters = &self.fallback.tiers[tier];
        let mut one = Vec::with_capacity(1);
        if shared.depot.take_batch(&mut one, 1) == 1 {
            add_shared(&counters.hits, 1);
            return Ok(one.pop().expect("one block was taken"));
        }
        let idle = IdleStorage::allocate(self, tier, shared.spec.capacity)?;
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
        let shared = Shared {
            tiers: config
                .tiers
                .iter()
                .map(|&spec| TierShared {
                    spec,
                    depot: Depot::new(spec.depot),
                })
                .collect(),
            alignment: config.alignment,
            slot: acquire_slot(),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
            registry: Mutex::new(Registry {
                threads: Vec::new(),
                retired: vec![TierTotals::default(); tier_count],
            }),
            fallback: ThreadCounters::new(tier_count),
            oversize: OversizeCounters::default(),
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
    #[inline]
    #[track_caller]
    pub fn get(&self, capacity: usize) -> PooledBuf {
        if let Some(tier) = self.shared.route(capacity) {
            if let Some(idle) = thread_cache::take_cached(&self.shared, tier) {
                return PooledBuf::from_storage(idle.into_storage());
            }
        }
        self.get_slow(capacity)
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn get_slow(&self, capacity: usize) -> PooledBuf {
        let storage = match self.shared.route(capacity) {
            Some(tier) => thread_cache::take_slow(&self.shared, tier).map(IdleStorage::into_storage),
            None => self.shared.allocate_oversize(capacity),
        };
        match storage {
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
        match self.shared.route(capacity) {
            Some(tier) => {
                let idle = match thread_cache::take_cached(&self.shared, tier) {
                    Some(idle) => idle,
                    None => thread_cache::take_slow(&self.shared, tier)?,
                };
                Ok(PooledBuf::from_storage(idle.into_storage()))
            }
            None => Err(PoolError::Oversize {
                requested: capacity,
                largest_tier: self.shared.largest_tier(),
            }),
        }
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
