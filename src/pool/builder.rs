//! Pool configuration: tiers, per-tier limits and their defaults.

use std::borrow::Cow;
use std::time::Duration;

use crate::engine::block::block_layout;
use crate::engine::config::{PoolConfig, TierSpec};
use crate::engine::outstanding::{LeakDetection, OnClose, OutstandingBuf};
use crate::error::ConfigError;
use crate::memory::region::{Backing, Regions, MAX_REGION_SIZE};
use crate::pool::Pool;
use crate::sync::unmodelled::{Arc, AtomicU64, Ordering};

/// Capacities of the tiers of [`Pool::new`]: 4 KiB, 64 KiB and 1 MiB.
pub const DEFAULT_TIERS: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];

/// The most tiers a pool can have.
///
/// Every thread that uses a pool keeps a cache stack and a set of counters
/// per tier, made on its first `get` (about 500 bytes a tier, so 32 KiB a
/// thread at this bound), and routing compares capacities within a power
/// of two; 64 tiers already give one per power of two of a 64-bit size.
/// [`PoolBuilder::build`] rejects more with [`ConfigError::TooManyTiers`].
///
/// # Examples
///
/// ```
/// let err = tierpool::Pool::builder()
///     .tiers((1..=65).map(|i| i * 64))
///     .build()
///     .unwrap_err();
/// assert_eq!(err, tierpool::ConfigError::TooManyTiers { count: 65, max: tierpool::MAX_TIERS });
/// ```
pub const MAX_TIERS: usize = 64;

/// The largest alignment a pool accepts: 1 GiB, the largest page size of
/// the platforms Rust's standard allocator serves.
///
/// Larger powers of two describe valid [`Layout`](std::alloc::Layout)s up
/// to 2^62, but no allocator we know of can place a block on such a
/// boundary, so every `get` would fail; [`PoolBuilder::build`] rejects them
/// with [`ConfigError::UnsupportedAlignment`] instead.
///
/// # Examples
///
/// ```
/// let err = tierpool::Pool::builder().alignment(1 << 40).build().unwrap_err();
/// assert_eq!(
///     err,
///     tierpool::ConfigError::UnsupportedAlignment { alignment: 1 << 40, max: tierpool::MAX_ALIGNMENT }
/// );
/// ```
pub const MAX_ALIGNMENT: usize = 1 << 30;

/// Bytes a thread may cache per tier by default (see [`TierConfig`]).
pub(crate) const DEFAULT_THREAD_CACHE_BYTES: usize = 1 << 20;
/// Alignment of every buffer by default: a cache line.
const DEFAULT_ALIGNMENT: usize = 64;
/// The default shortest time between two periodic idle collections.
const DEFAULT_IDLE_DECAY: Duration = Duration::from_secs(1);
/// Chains use the largest tier of at most this capacity by default.
const DEFAULT_SEGMENT_CAPACITY: usize = 64 << 10;
/// Most buffers a thread caches per tier by default.
const DEFAULT_THREAD_CACHE_MAX: usize = 64;
/// Bytes each tier's global depot may keep by default.
const DEFAULT_DEPOT_BYTES: usize = 8 << 20;
/// Fewest buffers a depot keeps by default, however large the tier.
const DEFAULT_DEPOT_MIN: usize = 4;

/// One tier of a pool: its buffer capacity and how many idle buffers it keeps.
///
/// Limits left unset get defaults chosen from the capacity, so that small
/// tiers cache many buffers and large ones few:
///
/// | limit | default | 4 KiB | 64 KiB | 1 MiB |
/// |---|---|---|---|---|
/// | [`thread_cache_buffers`](Self::thread_cache_buffers) | 1 MiB / capacity, clamped to 1..=64 | 64 | 16 | 1 |
/// | [`depot_buffers`](Self::depot_buffers) | 8 MiB / capacity, at least 4 | 2048 | 128 | 8 |
///
/// With the default tiers a thread pins at most 2.25 MiB per pool in its
/// caches and the depots keep at most 24 MiB; buffers beyond those bounds go
/// back to the allocator, and idle collection hands back what stays unused.
/// Caches move buffers to and from the depot in batches of half their
/// depth, so deeper caches mean fewer trips to the depot's lock when buffers
/// flow from one thread to another; [`PoolBuilder::thread_cache_bytes`]
/// trades that for memory.
///
/// # Examples
///
/// ```
/// use tierpool::{Pool, TierConfig};
///
/// let pool = Pool::builder()
///     .tier(TierConfig::new(16 << 10).thread_cache_buffers(32).depot_buffers(1024))
///     .tier(TierConfig::new(256 << 10))
///     .build()?;
/// assert_eq!(pool.tiers(), vec![16 << 10, 256 << 10]);
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierConfig {
    capacity: usize,
    thread_cache: Option<usize>,
    depot: Option<usize>,
}

impl TierConfig {
    /// A tier whose buffers have `capacity` bytes, with default limits.
    ///
    /// # Examples
    ///
    /// ```
    /// let tier = tierpool::TierConfig::new(8192);
    /// assert_eq!(tier.capacity(), 8192);
    /// ```
    #[must_use]
    pub const fn new(capacity: usize) -> Self {
        Self {
            capacity,
            thread_cache: None,
            depot: None,
        }
    }

    /// The capacity of this tier's buffers.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::TierConfig::new(512).capacity(), 512);
    /// ```
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most idle buffers of this tier each thread keeps in its own cache.
    ///
    /// `0` disables the thread cache: every get and return goes to the depot.
    /// Buffers move between the thread cache and the depot in batches of
    /// half this depth.
    ///
    /// # Examples
    ///
    /// ```
    /// let tier = tierpool::TierConfig::new(4096).thread_cache_buffers(16);
    /// # let _ = tier;
    /// ```
    #[must_use]
    pub const fn thread_cache_buffers(mut self, buffers: usize) -> Self {
        self.thread_cache = Some(buffers);
        self
    }

    /// The most idle buffers of this tier the shared depot keeps. Returns
    /// beyond it free the buffer (counted as `dropped` in the stats).
    ///
    /// # Examples
    ///
    /// ```
    /// let tier = tierpool::TierConfig::new(4096).depot_buffers(0); // no shared depot
    /// # let _ = tier;
    /// ```
    #[must_use]
    pub const fn depot_buffers(mut self, buffers: usize) -> Self {
        self.depot = Some(buffers);
        self
    }
}

/// Builds a [`Pool`] with custom tiers and limits.
///
/// Created by [`Pool::builder`]. Without a call to [`tiers`](Self::tiers) or
/// [`tier`](Self::tier) the pool has the [`DEFAULT_TIERS`].
///
/// # Examples
///
/// ```
/// use tierpool::Pool;
///
/// let pool = Pool::builder()
///     .tiers([2 << 10, 16 << 10, 256 << 10])
///     .thread_cache_buffers(8)
///     .build()?;
/// assert_eq!(pool.get(3000).capacity(), 16 << 10);
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder {
    name: Option<Cow<'static, str>>,
    tiers: Option<Vec<TierConfig>>,
    thread_cache: Option<usize>,
    thread_cache_bytes: Option<usize>,
    depot: Option<usize>,
    alignment: Option<usize>,
    max_cached_bytes: Option<usize>,
    max_in_use_bytes: Option<usize>,
    zero_on_return: bool,
    leak_detection: LeakDetection,
    on_close: Option<OnClose>,
    record_sizes: bool,
    segment_capacity: Option<usize>,
    idle_decay: Option<Duration>,
    /// `None`: [`Backing::default_for`] the tiers.
    backing: Option<Backing>,
}

impl PoolBuilder {
    /// A builder with the default tiers and limits.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::PoolBuilder::new().build()?;
    /// assert_eq!(pool.tiers(), tierpool::DEFAULT_TIERS.to_vec());
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the pool. The name is what [`Pool::name`] returns, and it
    /// appears in the pool's `Debug` output, in [`PoolStats::name`] (and
    /// so in the stats table) and, with the `metrics` feature, as the
    /// `pool` label of every metric the pool publishes.
    ///
    /// Without a name, a pool is called `pool-N`, `N` counting the unnamed
    /// pools built in the process from 1 (the [`global`](crate::global)
    /// pool is called `global` and takes no number). Those numbers follow
    /// the order in which pools are built, so name every pool whose
    /// metrics you publish: the name then stays the same from one run to
    /// the next, and two pools never share one by accident. Any string
    /// is accepted; short, stable names such as the component's
    /// (`"ingest"`, `"rpc"`) make the best labels.
    ///
    /// [`PoolStats::name`]: crate::PoolStats::name
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().name("ingest").build()?;
    /// assert_eq!(pool.name(), "ingest");
    /// assert_eq!(pool.stats().name, "ingest");
    ///
    /// let unnamed = tierpool::Pool::new();
    /// assert!(unnamed.name().starts_with("pool-"));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Replaces the tier list with these capacities (ascending), each with
    /// default limits.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().tiers([1024, 8192]).build()?;
    /// assert_eq!(pool.tiers(), vec![1024, 8192]);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn tiers(mut self, capacities: impl IntoIterator<Item = usize>) -> Self {
        self.tiers = Some(capacities.into_iter().map(TierConfig::new).collect());
        self
    }

    /// Appends a tier with its own limits. The first call (without an
    /// earlier [`tiers`](Self::tiers)) replaces the default tier list.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Pool, TierConfig};
    ///
    /// let pool = Pool::builder()
    ///     .tier(TierConfig::new(4096).thread_cache_buffers(128))
    ///     .build()?;
    /// assert_eq!(pool.tiers(), vec![4096]);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn tier(mut self, tier: TierConfig) -> Self {
        self.tiers.get_or_insert_with(Vec::new).push(tier);
        self
    }

    /// Sets the per-thread cache depth of every tier that does not set its
    /// own (see [`TierConfig::thread_cache_buffers`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().thread_cache_buffers(4).build()?;
    /// # let _ = pool;
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn thread_cache_buffers(mut self, buffers: usize) -> Self {
        self.thread_cache = Some(buffers);
        self
    }

    /// Sets the bytes a thread may cache per tier, from which the default
    /// per-thread cache depth of each tier is derived:
    /// `bytes / capacity`, clamped to 1..=64 (a thread keeps at least one
    /// buffer per tier so a steady get/drop loop never reaches the depot).
    /// The default is 1 MiB: in the broker benchmark, 2 MiB cached more
    /// than the service's bursts needed and lifted its peak RSS above a
    /// fresh `BytesMut` per frame, while 1 MiB kept it below. Raise it
    /// for buffers that flow between threads at high rates (deeper caches
    /// cross the depot's lock in larger batches). Tiers with an explicit
    /// [`thread_cache_buffers`](Self::thread_cache_buffers) depth ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// // At most 128 KiB of 64 KiB buffers per thread: two of them.
    /// let pool = tierpool::Pool::builder().thread_cache_bytes(128 << 10).build()?;
    /// # let _ = pool;
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn thread_cache_bytes(mut self, bytes: usize) -> Self {
        self.thread_cache_bytes = Some(bytes);
        self
    }

    /// Caps the idle bytes the pool retains, in total over all tiers,
    /// thread caches included. A buffer returned while the cap is reached is
    /// freed (counted in [`TierStats::dropped_over_limit`](crate::TierStats)).
    ///
    /// Accounting is exact: with a cap set, each get and each return
    /// updates one shared atomic counter (no cap, no counter).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().max_cached_bytes(8192).build()?;
    /// let bufs: Vec<_> = (0..3).map(|_| pool.get(4096)).collect();
    /// drop(bufs);
    /// let tier = &pool.stats().tiers[0];
    /// assert_eq!(tier.cached, 2);
    /// assert_eq!(tier.dropped_over_limit, 1);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn max_cached_bytes(mut self, bytes: usize) -> Self {
        self.max_cached_bytes = Some(bytes);
        self
    }

    /// Caps the bytes handed out at once (tier capacities of the buffers
    /// and views alive, plus oversize allocations).
    ///
    /// [`Pool::try_get`](crate::Pool::try_get) and
    /// [`PooledBuf::try_reserve`](crate::PooledBuf::try_reserve) return
    /// [`PoolError::Exhausted`](crate::PoolError::Exhausted) when a request
    /// would exceed the cap. [`Pool::get`](crate::Pool::get) and growth
    /// through `reserve`/writes never block and never fail because of it:
    /// they serve the request and count it in
    /// [`PoolStats::over_limit`](crate::PoolStats) so the excess is visible.
    ///
    /// With a cap set, each get and each return updates one shared atomic
    /// counter.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::PoolError;
    ///
    /// let pool = tierpool::Pool::builder().max_in_use_bytes(8192).build()?;
    /// let a = pool.try_get(100).unwrap();
    /// let b = pool.try_get(100).unwrap();
    /// assert!(matches!(pool.try_get(100), Err(PoolError::Exhausted { .. })));
    /// drop(a);
    /// assert!(pool.try_get(100).is_ok());
    /// # drop(b);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn max_in_use_bytes(mut self, bytes: usize) -> Self {
        self.max_in_use_bytes = Some(bytes);
        self
    }

    /// Zeroes the whole block of a buffer when its last holder lets go,
    /// before it is cached for reuse or freed, so secrets written into it
    /// do not linger in memory. Costs a `memset` of the tier capacity per
    /// return (see the hot-path benchmark).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().zero_on_return(true).build()?;
    /// let mut key = pool.get(32);
    /// key.extend_from_slice(b"secret");
    /// drop(key); // the block is zeroed here
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn zero_on_return(mut self, zero: bool) -> Self {
        self.zero_on_return = zero;
        self
    }

    /// Follows hand-outs until their blocks return, for the
    /// outstanding-buffer report ([`Pool::outstanding`](crate::Pool::outstanding),
    /// [`Pool::held_longer_than`](crate::Pool::held_longer_than)): a way to
    /// find leaked buffers and buffers pinned by long-lived views. See
    /// [`LeakDetection`] for the levels. `Off` by default, which costs
    /// nothing; the others take a hand-out off the inlined fast path, and
    /// lock one of 16 shards for each followed get and return.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tierpool::{LeakDetection, Pool};
    ///
    /// let pool = Pool::builder()
    ///     .leak_detection(LeakDetection::Full { backtraces: false })
    ///     .build()?;
    /// let held = pool.get(100);
    /// std::thread::sleep(Duration::from_millis(5));
    /// assert_eq!(pool.held_longer_than(Duration::from_millis(1)).len(), 1);
    /// assert!(pool.held_longer_than(Duration::from_secs(60)).is_empty());
    /// # drop(held);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn leak_detection(mut self, level: LeakDetection) -> Self {
        self.leak_detection = level;
        self
    }

    /// Calls `report` when the pool's last handle drops while followed
    /// buffers are still out (see [`leak_detection`](Self::leak_detection)),
    /// with what [`Pool::outstanding`](crate::Pool::outstanding) would list:
    /// log them, count them, fail a test. Not called when nothing is out,
    /// or when leak detection is off.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tierpool::LeakDetection;
    ///
    /// let leaked = Arc::new(Mutex::new(0));
    /// let seen = Arc::clone(&leaked);
    /// let pool = tierpool::Pool::builder()
    ///     .leak_detection(LeakDetection::Full { backtraces: false })
    ///     .on_close_with_outstanding(move |report| *seen.lock().unwrap() = report.len())
    ///     .build()?;
    /// let forgotten = pool.get(100);
    /// drop(pool);
    /// assert_eq!(*leaked.lock().unwrap(), 1);
    /// # drop(forgotten);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn on_close_with_outstanding(
        mut self,
        report: impl Fn(&[OutstandingBuf]) + Send + Sync + 'static,
    ) -> Self {
        self.on_close = Some(OnClose(Arc::new(report)));
        self
    }

    /// Records the size of every request (gets, `try_get`s and growth) in
    /// per-thread histograms, for [`Pool::size_histogram`](crate::Pool::size_histogram)
    /// and the tier advisor ([`SizeHistogram::advise`](crate::SizeHistogram::advise)).
    ///
    /// Off by default: recording takes `get` off its inlined fast path and
    /// costs a few nanoseconds per request (see
    /// [`BENCHMARKS.md`](https://github.com/tierpool/tierpool/blob/main/BENCHMARKS.md)), and each
    /// thread that uses the pool keeps an 8 KiB histogram.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().record_sizes(true).build()?;
    /// drop(pool.get(1234));
    /// assert_eq!(pool.size_histogram().requested_bytes(), 1234);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn record_sizes(mut self, record: bool) -> Self {
        self.record_sizes = record;
        self
    }

    /// Sets the depot capacity of every tier that does not set its own (see
    /// [`TierConfig::depot_buffers`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().depot_buffers(64).build()?;
    /// # let _ = pool;
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn depot_buffers(mut self, buffers: usize) -> Self {
        self.depot = Some(buffers);
        self
    }

    /// How often, at most, each thread's cache runs its periodic idle
    /// collection, releasing three quarters of the blocks that stayed
    /// unused since its previous one (see
    /// [idle memory](crate::implementation#idle-memory)). Default: 1 s.
    ///
    /// A thread looks at the clock only every 4096 gets from (or returns
    /// to) one tier, so a quiet thread collects later; and only threads
    /// that use the pool collect ([`Pool::trim_idle`](crate::Pool::trim_idle)
    /// and [`Pool::trim`](crate::Pool::trim) do it on demand). Shorter
    /// periods hand memory back sooner but free blocks that the next burst
    /// allocates again, and the allocator's heap grows (see the broker
    /// figures in [idle memory](crate::implementation#idle-memory)).
    /// `Duration::ZERO` collects at every look.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = tierpool::Pool::builder()
    ///     .idle_decay_period(Duration::from_secs(10))
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn idle_decay_period(mut self, period: Duration) -> Self {
        self.idle_decay = Some(period);
        self
    }

    /// The tier whose blocks [`Pool::chain`](crate::Pool::chain) strings
    /// together, named by its capacity (which must be one of the tiers).
    ///
    /// The default is the largest tier of at most 64 KiB (the smallest
    /// tier if all are larger): large enough that a socket read or a
    /// vectored write moves many bytes per segment, small enough that the
    /// last, partly filled block of a message wastes little.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder()
    ///     .tiers([4 << 10, 16 << 10, 256 << 10])
    ///     .segment_capacity(256 << 10)
    ///     .build()?;
    /// assert_eq!(pool.chain().segment_capacity(), 256 << 10);
    ///
    /// let err = tierpool::Pool::builder().segment_capacity(1000).build().unwrap_err();
    /// assert_eq!(err, tierpool::ConfigError::UnknownSegmentTier { capacity: 1000 });
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn segment_capacity(mut self, capacity: usize) -> Self {
        self.segment_capacity = Some(capacity);
        self
    }

    /// Makes every block, pooled or not, start at a multiple of `alignment`
    /// bytes (a power of two, at most [`MAX_ALIGNMENT`]; e.g. 4096 for
    /// `O_DIRECT`). The default is 64, a cache line: copies into a buffer
    /// then never split a store across two lines, and two buffers never
    /// share one (allocators align large blocks to 16 bytes; filling a
    /// 4 KiB buffer took twice as long at some 16-byte offsets as at 64-byte
    /// ones in the comparison bench). Use 1 to take whatever the allocator
    /// gives.
    ///
    /// # What is aligned
    ///
    /// The start of every block. So these start on the boundary:
    ///
    /// * a buffer from [`Pool::get`](crate::Pool::get) or
    ///   [`try_get`](crate::Pool::try_get), and one that moved to a new
    ///   block because it grew;
    /// * its [`freeze`](crate::PooledBuf::freeze)d view, and every block of
    ///   a [`PooledChain`](crate::PooledChain).
    ///
    /// Splitting moves the start: after
    /// [`split_to(n)`](crate::PooledBuf::split_to) (or advancing through
    /// `Buf`), the buffer that keeps the rest starts `n` bytes later, and a
    /// [`slice`](crate::SharedBuf::slice) starts where its range does. They
    /// are aligned only when `n` (or the range's start) is a multiple of the
    /// alignment. For `O_DIRECT`, split and slice at multiples of the block
    /// size, and keep lengths multiples of it too (the tiers' capacities
    /// are, if they are multiples of the alignment).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().alignment(4096).build()?;
    /// let mut buf = pool.get(100);
    /// assert_eq!(buf.spare_capacity_mut().as_ptr() as usize % 4096, 0);
    ///
    /// buf.extend_from_slice(&[0; 4096 + 512]);
    /// let _head = buf.split_to(4096); // a multiple: the rest stays aligned
    /// assert_eq!(buf.as_ptr() as usize % 4096, 0);
    /// let _odd = buf.split_to(100); // not a multiple: the rest is not
    /// assert_eq!(buf.as_ptr() as usize % 4096, 100);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn alignment(mut self, alignment: usize) -> Self {
        self.alignment = Some(alignment);
        self
    }

    /// Where the tiers' blocks come from: one heap allocation each
    /// ([`Backing::Heap`]), or slots of large regions mapped from the
    /// system ([`Backing::Regions`]), optionally of huge pages and locked
    /// in memory. The default is regions on Linux and Android, the heap
    /// elsewhere ([`Backing::default`] says why and what it costs). Oversize blocks always come from the heap. See
    /// [backing memory](crate::operations#backing-memory) for what each
    /// option does, how it falls back when the system refuses, and
    /// [`Pool::backing_report`](crate::Pool::backing_report) for what the
    /// pool got.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, HugePages, Pool, RegionConfig};
    ///
    /// let pool = Pool::builder()
    ///     .backing(Backing::Regions(
    ///         RegionConfig::new().size(16 << 20).huge_pages(HugePages::Transparent),
    ///     ))
    ///     .build()?;
    /// let buf = pool.get(4096);
    /// assert!(pool.backing_report().regions.iter().any(|r| r.contains(buf.as_ptr())));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn backing(mut self, backing: Backing) -> Self {
        self.backing = Some(backing);
        self
    }

    /// Validates the configuration and creates the pool.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there are no tiers or more than [`MAX_TIERS`],
    /// a tier has capacity zero, capacities repeat or are not ascending, a
    /// capacity rounded up to the alignment exceeds `isize::MAX`, the
    /// alignment is not a power of two or is above [`MAX_ALIGNMENT`], the
    /// segment capacity is not one of the tiers, or, with
    /// [`Backing::Regions`], the region size is below the largest tier's
    /// block or above [`MAX_REGION_SIZE`](crate::MAX_REGION_SIZE).
    ///
    /// `build` allocates no block: blocks are allocated when first needed.
    /// A tier the machine cannot provide (say 16 TiB) therefore builds, and
    /// then [`Pool::get`] of that tier panics and
    /// [`Pool::try_get`](crate::Pool::try_get) returns
    /// [`PoolError::OutOfMemory`](crate::PoolError::OutOfMemory), as a
    /// `Vec::with_capacity` of that size would.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{ConfigError, Pool};
    ///
    /// assert_eq!(
    ///     Pool::builder().tiers([]).build().unwrap_err(),
    ///     ConfigError::NoTiers
    /// );
    /// assert_eq!(
    ///     Pool::builder().tiers([512, 512]).build().unwrap_err(),
    ///     ConfigError::DuplicateTier { capacity: 512 }
    /// );
    /// ```
    pub fn build(&self) -> Result<Pool, ConfigError> {
        let config = self.resolve()?;
        let name = match &self.name {
            Some(name) => Arc::from(name.as_ref()),
            None => unnamed_pool_name(),
        };
        Ok(Pool::from_config(config, name))
    }

    pub(crate) fn resolve(&self) -> Result<PoolConfig, ConfigError> {
        let alignment = self.alignment.unwrap_or(DEFAULT_ALIGNMENT);
        if !alignment.is_power_of_two() {
            return Err(ConfigError::BadAlignment { alignment });
        }
        if alignment > MAX_ALIGNMENT {
            return Err(ConfigError::UnsupportedAlignment {
                alignment,
                max: MAX_ALIGNMENT,
            });
        }
        let defaults: Vec<TierConfig>;
        let tiers = match &self.tiers {
            Some(tiers) => tiers.as_slice(),
            None => {
                defaults = DEFAULT_TIERS.iter().map(|&s| TierConfig::new(s)).collect();
                &defaults
            }
        };
        if tiers.is_empty() {
            return Err(ConfigError::NoTiers);
        }
        if tiers.len() > MAX_TIERS {
            return Err(ConfigError::TooManyTiers {
                count: tiers.len(),
                max: MAX_TIERS,
            });
        }
        let mut specs = Vec::with_capacity(tiers.len());
        let mut previous: Option<usize> = None;
        for (index, tier) in tiers.iter().enumerate() {
            let capacity = tier.capacity;
            if capacity == 0 {
                return Err(ConfigError::ZeroCapacity { index });
            }
            match previous {
                Some(prev) if prev == capacity => {
                    return Err(ConfigError::DuplicateTier { capacity })
                }
                Some(prev) if prev > capacity => {
                    return Err(ConfigError::UnsortedTiers {
                        index,
                        previous: prev,
                        capacity,
                    })
                }
                _ => {}
            }
            if block_layout(capacity, alignment).is_none() {
                return Err(ConfigError::TierTooLarge { capacity });
            }
            previous = Some(capacity);
            let thread_cache_bytes = self
                .thread_cache_bytes
                .unwrap_or(DEFAULT_THREAD_CACHE_BYTES);
            let thread_cache = tier
                .thread_cache
                .or(self.thread_cache)
                .unwrap_or_else(|| default_thread_cache(capacity, thread_cache_bytes));
            let depot = tier
                .depot
                .or(self.depot)
                .unwrap_or_else(|| default_depot(capacity));
            specs.push(TierSpec {
                capacity,
                thread_cache,
                batch: (thread_cache / 2).max(1),
                depot,
            });
        }
        let segment_tier = match self.segment_capacity {
            Some(capacity) => specs
                .iter()
                .position(|spec| spec.capacity == capacity)
                .ok_or(ConfigError::UnknownSegmentTier { capacity })?,
            None => specs
                .iter()
                .rposition(|spec| spec.capacity <= DEFAULT_SEGMENT_CAPACITY)
                .unwrap_or(0),
        };
        let backing = self.backing.unwrap_or_else(|| {
            let largest = specs.iter().map(|spec| spec.capacity).max().unwrap_or(0);
            Backing::default_for(Regions::min_size(&[largest], alignment))
        });
        if let Backing::Regions(regions) = backing {
            let capacities: Vec<usize> = specs.iter().map(|spec| spec.capacity).collect();
            let min = Regions::min_size(&capacities, alignment);
            let size = regions.size;
            if size < min || size > MAX_REGION_SIZE {
                return Err(ConfigError::BadRegionSize {
                    size,
                    min,
                    max: MAX_REGION_SIZE,
                });
            }
        }
        Ok(PoolConfig {
            backing,
            idle_decay: self.idle_decay.unwrap_or(DEFAULT_IDLE_DECAY),
            segment_tier,
            tiers: specs,
            alignment,
            max_cached_bytes: self.max_cached_bytes,
            max_in_use_bytes: self.max_in_use_bytes,
            zero_on_return: self.zero_on_return,
            leak_detection: self.leak_detection,
            on_close: self.on_close.clone(),
            record_sizes: self.record_sizes,
        })
    }
}

/// `pool-N` for the `N`th pool built without a name (see
/// [`PoolBuilder::name`]).
fn unnamed_pool_name() -> Arc<str> {
    // A plain std atomic, also under loom: the counter only numbers pools,
    // and loom's atomics cannot live in a static.
    static UNNAMED: AtomicU64 = AtomicU64::new(0);
    let n = UNNAMED.fetch_add(1, Ordering::Relaxed) + 1;
    format!("pool-{n}").into()
}

pub(crate) fn default_thread_cache(capacity: usize, bytes: usize) -> usize {
    (bytes / capacity).clamp(1, DEFAULT_THREAD_CACHE_MAX)
}

fn default_depot(capacity: usize) -> usize {
    (DEFAULT_DEPOT_BYTES / capacity).max(DEFAULT_DEPOT_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_documented_table() {
        let config = PoolBuilder::new().resolve().unwrap();
        let got: Vec<(usize, usize, usize)> = config
            .tiers
            .iter()
            .map(|t| (t.capacity, t.thread_cache, t.depot))
            .collect();
        assert_eq!(
            got,
            vec![(4096, 64, 2048), (65536, 16, 128), (1 << 20, 1, 8)]
        );
        let batches: Vec<usize> = config.tiers.iter().map(|t| t.batch).collect();
        assert_eq!(batches, vec![32, 8, 1]);
    }

    #[test]
    fn explicit_limits_win_over_pool_wide_ones() {
        let config = PoolBuilder::new()
            .thread_cache_buffers(3)
            .depot_buffers(5)
            .tier(TierConfig::new(100).thread_cache_buffers(0))
            .tier(TierConfig::new(200).depot_buffers(9))
            .resolve()
            .unwrap();
        assert_eq!(
            (config.tiers[0].thread_cache, config.tiers[0].depot),
            (0, 5)
        );
        assert_eq!(config.tiers[0].batch, 1);
        assert_eq!(
            (config.tiers[1].thread_cache, config.tiers[1].depot),
            (3, 9)
        );
    }

    #[test]
    fn rejects_oversized_tiers_and_bad_alignment() {
        assert_eq!(
            PoolBuilder::new()
                .tiers([usize::MAX])
                .resolve()
                .unwrap_err(),
            ConfigError::TierTooLarge {
                capacity: usize::MAX
            }
        );
        assert_eq!(
            PoolBuilder::new()
                .tiers([isize::MAX as usize])
                .alignment(2)
                .resolve()
                .unwrap_err(),
            ConfigError::TierTooLarge {
                capacity: isize::MAX as usize
            }
        );
        for alignment in [0, 3, 12] {
            assert_eq!(
                PoolBuilder::new()
                    .alignment(alignment)
                    .resolve()
                    .unwrap_err(),
                ConfigError::BadAlignment { alignment }
            );
        }
        assert_eq!(
            PoolBuilder::new().tiers([8, 0]).resolve().unwrap_err(),
            ConfigError::ZeroCapacity { index: 1 }
        );
    }

    #[test]
    fn rejects_alignments_no_allocator_can_satisfy() {
        // 2^40 and 2^62 are valid `Layout` alignments that used to build
        // and fail every `get`; 2^63 used to be reported as a tier too large.
        for shift in [31, 40, 62, usize::BITS - 1] {
            let alignment = 1usize << shift;
            let err = PoolBuilder::new()
                .alignment(alignment)
                .resolve()
                .unwrap_err();
            assert_eq!(
                err,
                ConfigError::UnsupportedAlignment {
                    alignment,
                    max: MAX_ALIGNMENT
                }
            );
            assert!(err.to_string().contains(&alignment.to_string()), "{err}");
        }
        assert!(PoolBuilder::new()
            .alignment(MAX_ALIGNMENT)
            .resolve()
            .is_ok());
    }

    #[test]
    fn region_sizes_hold_the_largest_block_and_at_most_1_gib() {
        let regions = |size| {
            PoolBuilder::new()
                .tiers([1000, 5000])
                .alignment(4096)
                .backing(Backing::Regions(crate::RegionConfig::new().size(size)))
                .resolve()
        };
        for size in [0, 8191, MAX_REGION_SIZE + 1] {
            assert_eq!(
                regions(size).unwrap_err(),
                ConfigError::BadRegionSize {
                    size,
                    min: 8192,
                    max: MAX_REGION_SIZE
                }
            );
        }
        assert!(regions(8192).is_ok());
        assert!(regions(MAX_REGION_SIZE).is_ok());
        assert_eq!(
            PoolBuilder::new().resolve().unwrap().backing,
            Backing::default()
        );
    }

    #[test]
    fn bounds_the_number_of_tiers() {
        let tiers = |n: usize| PoolBuilder::new().tiers((1..=n).map(|i| i * 16)).resolve();
        assert_eq!(tiers(MAX_TIERS).unwrap().tiers.len(), MAX_TIERS);
        assert_eq!(
            tiers(MAX_TIERS + 1).unwrap_err(),
            ConfigError::TooManyTiers {
                count: MAX_TIERS + 1,
                max: MAX_TIERS
            }
        );
        assert!(matches!(
            tiers(10_000).unwrap_err(),
            ConfigError::TooManyTiers { count: 10_000, .. }
        ));
    }
}
