//! Backing memory: where the blocks of a pool's tiers come from.
//!
//! With [`Backing::Heap`] (the default) every block is one allocation of
//! the global allocator. With [`Backing::Regions`] the blocks of each tier
//! are carved out of large regions mapped from the system, which can be
//! backed by huge pages and locked in memory, and which can be registered
//! with io_uring as fixed buffers, one region each (feature `io-uring`). See
//! [backing memory](crate::operations#backing-memory) for the options,
//! their fallbacks and the memlock limits.
//!
//! The regions are taken and given back on the cold paths only: a slot is
//! taken when the pool allocates a new block (a cache miss) and given back
//! when it frees one (a trim, idle decay, a full depot, the pool's close).
//! One mutex guards them; it is a leaf lock (nothing else is locked while
//! it is held).

use std::fmt;
use std::ptr::NonNull;

use crate::sync::Mutex;

/// The largest region: 1 GiB, the most memory io_uring registers as one
/// fixed buffer.
///
/// # Examples
///
/// ```
/// use tierpool::{Backing, ConfigError, Pool, RegionConfig, MAX_REGION_SIZE};
///
/// let err = Pool::builder()
///     .backing(Backing::Regions(RegionConfig::new().size(2 * MAX_REGION_SIZE)))
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ConfigError::RegionSize { max: MAX_REGION_SIZE, .. }));
/// ```
pub const MAX_REGION_SIZE: usize = 1 << 30;

/// The default region size: 64 MiB.
const DEFAULT_REGION_SIZE: usize = 64 << 20;

/// The huge page size regions are aligned to when they ask for huge pages
/// (the x86-64 and AArch64 default).
const HUGE_PAGE: usize = 2 << 20;

/// Where the blocks of a pool's tiers come from: set with
/// [`PoolBuilder::backing`](crate::PoolBuilder::backing).
///
/// Unpooled (oversize) blocks always come from the heap.
///
/// # Examples
///
/// ```
/// use tierpool::{Backing, Pool, RegionConfig};
///
/// let pool = Pool::builder()
///     .tiers([4096])
///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
///     .build()?;
/// let buf = pool.get(100);
/// let report = pool.backing_report();
/// assert_eq!(report.regions.len(), 1);
/// assert!(report.regions[0].contains(buf.as_ptr()));
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backing {
    /// One allocation of the global allocator per block (the default).
    #[default]
    Heap,
    /// Blocks carved from large regions: see [`RegionConfig`].
    Regions(RegionConfig),
}

/// How regions are made: their size, huge pages, locking, and whether a
/// refusal of the system fails the allocation or falls back.
///
/// A region holds the blocks of one tier: `size / block size` of them,
/// where a block's size is its tier's capacity rounded up to the pool's
/// alignment. The size is rounded up to the page size (to 2 MiB with huge
/// pages) when the region is mapped.
///
/// # Examples
///
/// ```
/// use tierpool::{HugePages, RegionConfig};
///
/// let config = RegionConfig::new()
///     .size(256 << 20)
///     .huge_pages(HugePages::Transparent)
///     .lock(false);
/// assert_eq!(config.region_size(), 256 << 20);
/// assert_eq!(config.huge_page_mode(), HugePages::Transparent);
/// assert!(!config.is_locked());
/// assert!(!config.is_strict());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionConfig {
    size: usize,
    huge_pages: HugePages,
    lock: bool,
    strict: bool,
}

impl Default for RegionConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionConfig {
    /// 64 MiB regions of normal pages, not locked, falling back on
    /// refusals.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tierpool::RegionConfig::new();
    /// assert_eq!(config.region_size(), 64 << 20);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            size: DEFAULT_REGION_SIZE,
            huge_pages: HugePages::Off,
            lock: false,
            strict: false,
        }
    }

    /// The size of each region in bytes: at least the largest tier's
    /// block and at most [`MAX_REGION_SIZE`]
    /// ([`build`](crate::PoolBuilder::build) checks).
    ///
    /// Memory is mapped a region at a time, so the first block of a tier
    /// maps a whole region; pages are touched (and counted in the
    /// process's RSS) only as blocks are used, unless the region is
    /// [locked](Self::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tierpool::RegionConfig::new().size(8 << 20);
    /// assert_eq!(config.region_size(), 8 << 20);
    /// ```
    #[must_use]
    pub const fn size(mut self, bytes: usize) -> Self {
        self.size = bytes;
        self
    }

    /// Backs the regions by huge pages (see [`HugePages`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{HugePages, RegionConfig};
    ///
    /// let config = RegionConfig::new().huge_pages(HugePages::Explicit);
    /// assert_eq!(config.huge_page_mode(), HugePages::Explicit);
    /// ```
    #[must_use]
    pub const fn huge_pages(mut self, huge_pages: HugePages) -> Self {
        self.huge_pages = huge_pages;
        self
    }

    /// Locks each region in memory (`mlock`) when it is mapped: its pages
    /// are then faulted in at once and never swapped out. A locked region
    /// keeps its pages until it is unmapped (trims free its slots but do
    /// not release their pages one by one: see
    /// [backing memory](crate::operations#backing-memory)).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tierpool::RegionConfig::new().lock(true);
    /// assert!(config.is_locked());
    /// ```
    #[must_use]
    pub const fn lock(mut self, lock: bool) -> Self {
        self.lock = lock;
        self
    }

    /// Fails an allocation when the system refuses an option, instead of
    /// falling back: [`Pool::try_get`](crate::Pool::try_get) then returns
    /// [`PoolError::Backing`](crate::PoolError::Backing) and
    /// [`Pool::get`](crate::Pool::get) panics. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tierpool::RegionConfig::new().strict(true);
    /// assert!(config.is_strict());
    /// ```
    #[must_use]
    pub const fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The configured region size.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::RegionConfig::new().region_size(), 64 << 20);
    /// ```
    #[must_use]
    pub const fn region_size(&self) -> usize {
        self.size
    }

    /// The configured huge pages.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{HugePages, RegionConfig};
    /// assert_eq!(RegionConfig::new().huge_page_mode(), HugePages::Off);
    /// ```
    #[must_use]
    pub const fn huge_page_mode(&self) -> HugePages {
        self.huge_pages
    }

    /// Whether regions are locked.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!tierpool::RegionConfig::new().is_locked());
    /// ```
    #[must_use]
    pub const fn is_locked(&self) -> bool {
        self.lock
    }

    /// Whether refusals fail allocations.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!tierpool::RegionConfig::new().is_strict());
    /// ```
    #[must_use]
    pub const fn is_strict(&self) -> bool {
        self.strict
    }
}

/// Huge pages for regions.
///
/// # Examples
///
/// ```
/// use tierpool::{Backing, HugePages, Pool, RegionConfig};
///
/// let pool = Pool::builder()
///     .backing(Backing::Regions(RegionConfig::new().huge_pages(HugePages::Transparent)))
///     .build()?;
/// # drop(pool);
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HugePages {
    /// Normal pages.
    #[default]
    Off,
    /// Transparent huge pages: the region is aligned to 2 MiB and advised
    /// with `madvise(MADV_HUGEPAGE)`; the kernel backs it with huge pages
    /// when it has them (when `/sys/kernel/mm/transparent_hugepage/enabled`
    /// is `always` or `madvise`).
    Transparent,
    /// Explicit huge pages (`mmap` with `MAP_HUGETLB`), from the pool the
    /// administrator reserves in `/proc/sys/vm/nr_hugepages`. Without
    /// reserved pages the mapping fails with `ENOMEM` and the region falls
    /// back to normal pages.
    Explicit,
}

/// The system call a [`BackingError`] reports.
///
/// # Examples
///
/// ```
/// use tierpool::BackingOp;
/// assert_ne!(BackingOp::Map, BackingOp::Lock);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackingOp {
    /// Mapping the region (`mmap`). Falls back to a heap allocation for
    /// the block.
    Map,
    /// Mapping the region with explicit huge pages (`MAP_HUGETLB`). Falls
    /// back to normal pages.
    ExplicitHugePages,
    /// Advising transparent huge pages (`madvise(MADV_HUGEPAGE)`). The
    /// region stays as the kernel maps it.
    TransparentHugePages,
    /// Locking the region (`mlock`). The region stays unlocked.
    Lock,
}

/// A refusal of the system to provide backing memory as configured.
///
/// Reported in [`BackingReport::errors`], or, with
/// [`RegionConfig::strict`], returned as
/// [`PoolError::Backing`](crate::PoolError::Backing).
///
/// # Examples
///
/// ```
/// use tierpool::{Backing, BackingOp, HugePages, Pool, RegionConfig};
///
/// let pool = Pool::builder()
///     .tiers([4096])
///     .backing(Backing::Regions(RegionConfig::new().size(4 << 20).huge_pages(HugePages::Explicit)))
///     .build()?;
/// drop(pool.get(10)); // served either way
/// for err in pool.backing_report().errors {
///     // e.g. "mapping 4194304 bytes of explicit huge pages failed: ..."
///     assert_eq!(err.op(), BackingOp::ExplicitHugePages);
///     println!("{err}");
/// }
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingError {
    op: BackingOp,
    errno: Option<i32>,
    bytes: usize,
    memlock_limit: Option<u64>,
}

impl BackingError {
    pub(crate) fn new(op: BackingOp, errno: Option<i32>, bytes: usize) -> Self {
        Self {
            op,
            errno,
            bytes,
            memlock_limit: None,
        }
    }

    // Only `mlock` reports a limit, and only where regions are mapped.
    #[cfg_attr(
        not(all(any(target_os = "linux", target_os = "android"), not(miri), not(loom))),
        allow(dead_code)
    )]
    pub(crate) fn with_memlock_limit(mut self, limit: Option<u64>) -> Self {
        self.memlock_limit = limit;
        self
    }

    /// What was refused.
    ///
    /// # Examples
    ///
    /// See [`BackingError`].
    #[must_use]
    pub fn op(&self) -> BackingOp {
        self.op
    }

    /// The `errno` of the refusal, or `None` where the system does not
    /// offer the option at all (elsewhere than Linux, and under Miri).
    ///
    /// # Examples
    ///
    /// See [`BackingError`].
    #[must_use]
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// The refusal as an [`io::Error`](std::io::Error).
    ///
    /// # Examples
    ///
    /// See [`BackingError`].
    #[must_use]
    pub fn io_error(&self) -> std::io::Error {
        match self.errno {
            Some(errno) => std::io::Error::from_raw_os_error(errno),
            None => std::io::Error::from(std::io::ErrorKind::Unsupported),
        }
    }

    /// The bytes the system call was asked for (the region's size).
    ///
    /// # Examples
    ///
    /// See [`BackingError`].
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// For a refused [`Lock`](BackingOp::Lock): the process's
    /// `RLIMIT_MEMLOCK` (soft limit, in bytes) when the lock failed, or
    /// `None` if it is unlimited or unknown.
    ///
    /// # Examples
    ///
    /// See [`BackingError`].
    #[must_use]
    pub fn memlock_limit(&self) -> Option<u64> {
        self.memlock_limit
    }
}

impl fmt::Display for BackingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes;
        match self.op {
            BackingOp::Map => write!(f, "mapping a region of {bytes} bytes failed")?,
            BackingOp::ExplicitHugePages => write!(
                f,
                "mapping {bytes} bytes of explicit huge pages failed (see /proc/sys/vm/nr_hugepages)"
            )?,
            BackingOp::TransparentHugePages => write!(
                f,
                "advising transparent huge pages for {bytes} bytes failed"
            )?,
            BackingOp::Lock => {
                write!(f, "locking {bytes} bytes in memory failed")?;
                if let Some(limit) = self.memlock_limit {
                    write!(f, " (RLIMIT_MEMLOCK is {limit} bytes)")?;
                }
            }
        }
        match self.errno {
            Some(errno) => write!(f, ": {}", std::io::Error::from_raw_os_error(errno)),
            None => f.write_str(": not supported on this platform"),
        }
    }
}

impl std::error::Error for BackingError {}

/// What backs a pool's blocks now: from [`Pool::backing_report`](crate::Pool::backing_report).
///
/// # Examples
///
/// ```
/// let report = tierpool::Pool::new().backing_report(); // heap backing
/// assert!(report.regions.is_empty());
/// assert_eq!(report.mapped_bytes, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BackingReport {
    /// The regions mapped now, in order of [`index`](RegionInfo::index).
    pub regions: Vec<RegionInfo>,
    /// Bytes of all regions.
    pub mapped_bytes: usize,
    /// Bytes of the locked regions.
    pub locked_bytes: usize,
    /// Bytes of the regions mapped with explicit huge pages or advised to
    /// use transparent ones (whether the kernel found transparent huge
    /// pages shows in `AnonHugePages` of `/proc/self/smaps`).
    pub huge_page_bytes: usize,
    /// Blocks of a tier allocated on the heap because no region could be
    /// mapped.
    pub heap_fallbacks: u64,
    /// Refusals of the system since the pool was built (each fell back,
    /// or, in strict mode, failed an allocation).
    pub refusals: u64,
    /// The latest refusal of each [`BackingOp`], in the order first seen.
    pub errors: Vec<BackingError>,
}

/// One region of a [`BackingReport`].
///
/// # Examples
///
/// ```
/// use tierpool::{Backing, Pool, RegionConfig};
///
/// let pool = Pool::builder()
///     .tiers([4096])
///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
///     .build()?;
/// let buf = pool.get(1);
/// let region = &pool.backing_report().regions[0];
/// assert_eq!((region.tier_capacity, region.slots, region.slots_in_use), (4096, 256, 1));
/// assert!(region.contains(buf.as_ptr()));
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegionInfo {
    /// The region's index: stable while it is mapped, reused for a new
    /// region once it is unmapped. It is the region's fixed-buffer index
    /// once the pool is registered with io_uring (feature `io-uring`),
    /// and a registered pool unmaps no region.
    pub index: usize,
    /// The address of its first byte.
    pub start: usize,
    /// Its length in bytes.
    pub len: usize,
    /// The capacity of the tier whose blocks it holds.
    pub tier_capacity: usize,
    /// The distance between two of its blocks: the capacity rounded up to
    /// the pool's alignment.
    pub block_size: usize,
    /// How many blocks it holds.
    pub slots: usize,
    /// How many of them are blocks of the pool now (idle or in use).
    pub slots_in_use: usize,
    /// Whether it is locked in memory.
    pub locked: bool,
    /// The huge pages it got: [`HugePages::Off`] after a fallback.
    pub huge_pages: HugePages,
}

impl RegionInfo {
    /// Whether `ptr` points into this region.
    ///
    /// # Examples
    ///
    /// See [`RegionInfo`].
    #[must_use]
    pub fn contains(&self, ptr: *const u8) -> bool {
        ptr.addr()
            .checked_sub(self.start)
            .is_some_and(|offset| offset < self.len)
    }
}

/// Where a block's region stands with io_uring: see [`Regions::lookup`].
#[cfg(all(feature = "io-uring", target_os = "linux"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegionLookup {
    /// The region was registered: its index, start and length.
    Registered {
        index: usize,
        start: usize,
        len: usize,
    },
    /// The pool was registered, but not since this region was mapped.
    Late,
    /// The pool's regions were never registered.
    NeverRegistered,
}

/// The regions of one pool.
#[derive(Debug)]
pub(crate) struct Regions {
    config: RegionConfig,
    /// Per tier: the capacity and the distance between two blocks.
    tiers: Box<[(usize, usize)]>,
    /// The alignment of a region's start.
    align: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Indexed by region index; `None` for an index free for reuse.
    regions: Vec<Option<Region>>,
    /// `(start address, index)` of every region, sorted by address: finds
    /// a freed block's region.
    by_start: Vec<(usize, usize)>,
    heap_fallbacks: u64,
    refusals: u64,
    errors: Vec<BackingError>,
    /// Registrations with io_uring under way (between `pin_table` and
    /// `record_registration`).
    pending: usize,
    /// Registrations that succeeded.
    registrations: u64,
}

#[derive(Debug)]
struct Region {
    map: sys::Mapping,
    tier: usize,
    stride: usize,
    slots: usize,
    /// Slots from here on were never used.
    fresh: usize,
    /// Slots used before and free now.
    free: Vec<usize>,
    in_use: usize,
    locked: bool,
    huge_pages: HugePages,
    /// Registered with at least one io_uring ring: its pages are pinned by
    /// the kernel, so they are never released (a released page would be
    /// replaced by a new one the ring does not see).
    registered: bool,
}

impl Region {
    fn has_room(&self) -> bool {
        self.in_use < self.slots
    }
}

impl Regions {
    /// Regions for tiers of these capacities, blocks aligned to `alignment`
    /// (a power of two).
    pub(crate) fn new(config: RegionConfig, capacities: &[usize], alignment: usize) -> Self {
        let tiers = capacities
            .iter()
            .map(|&capacity| (capacity, round_up(capacity, alignment)))
            .collect();
        let mut align = alignment.max(sys::page_size());
        if config.huge_pages != HugePages::Off {
            align = align.max(HUGE_PAGE);
        }
        Self {
            config,
            tiers,
            align,
            state: Mutex::new(State::default()),
        }
    }

    /// The smallest valid region size for tiers of these capacities: the
    /// largest block.
    pub(crate) fn min_size(capacities: &[usize], alignment: usize) -> usize {
        capacities
            .iter()
            .map(|&c| round_up(c, alignment))
            .max()
            .unwrap_or(0)
    }

    /// Takes a slot for a new block of `tier`: `Ok(None)` if no region
    /// could be mapped and the block should come from the heap.
    pub(crate) fn take(&self, tier: usize) -> Result<Option<NonNull<u8>>, BackingError> {
        let mut state = self.state.lock();
        let found = state
            .regions
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.tier == tier && r.has_room()));
        let index = match found {
            Some(index) => index,
            None => match self.map_region(&mut state, tier, self.config.strict) {
                Ok(Some(index)) => index,
                Ok(None) => {
                    state.heap_fallbacks += 1;
                    return Ok(None);
                }
                Err(err) => return Err(err),
            },
        };
        let region = state.regions[index]
            .as_mut()
            .expect("the index names a mapped region");
        let slot = region.free.pop().unwrap_or_else(|| {
            region.fresh += 1;
            region.fresh - 1
        });
        region.in_use += 1;
        Ok(Some(region.map.at(slot * region.stride)))
    }

    /// Maps a region for `tier`, records it and returns its index;
    /// `Ok(None)` if the mapping failed and the caller may fall back.
    fn map_region(
        &self,
        state: &mut State,
        tier: usize,
        strict: bool,
    ) -> Result<Option<usize>, BackingError> {
        let (_, stride) = self.tiers[tier];
        let granule = match self.config.huge_pages {
            HugePages::Off => sys::page_size(),
            _ => HUGE_PAGE,
        };
        let len = round_up(self.config.size, granule);
        let mapped = match sys::map(len, self.align, self.config.huge_pages) {
            Ok(mapped) => mapped,
            Err(err) => {
                state.refuse(err.clone());
                return if strict { Err(err) } else { Ok(None) };
            }
        };
        let (map, huge_pages, refusal) = mapped;
        if let Some(err) = refusal {
            state.refuse(err.clone());
            if strict {
                return Err(err);
            }
        }
        let mut locked = false;
        if self.config.lock {
            match sys::lock(&map) {
                Ok(()) => locked = true,
                Err(err) => {
                    state.refuse(err.clone());
                    if strict {
                        return Err(err);
                    }
                }
            }
        }
        let start = map.start();
        let region = Region {
            slots: map.len() / stride,
            map,
            tier,
            stride,
            fresh: 0,
            free: Vec::new(),
            in_use: 0,
            locked,
            huge_pages,
            registered: false,
        };
        let index = match state.regions.iter().position(Option::is_none) {
            Some(index) => {
                state.regions[index] = Some(region);
                index
            }
            None => {
                state.regions.push(Some(region));
                state.regions.len() - 1
            }
        };
        let at = state.by_start.partition_point(|&(s, _)| s < start);
        state.by_start.insert(at, (start, index));
        Ok(Some(index))
    }

    /// Gives back the slot of a block that [`take`](Self::take) returned
    /// and that is freed now: its pages go back to the system (unless the
    /// region is locked), and a region left empty is unmapped.
    pub(crate) fn give_back(&self, data: NonNull<u8>) {
        let addr = data.as_ptr().addr();
        let mut state = self.state.lock();
        let pinned = state.pinned();
        let at = state.by_start.partition_point(|&(s, _)| s <= addr);
        let index = at
            .checked_sub(1)
            .map(|at| state.by_start[at].1)
            .filter(|&i| {
                state.regions[i]
                    .as_ref()
                    .is_some_and(|r| addr - r.map.start() < r.map.len())
            })
            .expect("a block marked as from a region is not in any region");
        let region = state.regions[index]
            .as_mut()
            .expect("the index names a mapped region");
        let offset = addr - region.map.start();
        debug_assert_eq!(offset % region.stride, 0, "a block starts at a slot");
        region.in_use -= 1;
        if region.in_use == 0 && !pinned {
            // Unmapped when the region drops.
            state.regions[index] = None;
            state.by_start.retain(|&(_, i)| i != index);
            return;
        }
        region.free.push(offset / region.stride);
        if !region.locked && !region.registered {
            // Only whole pages of the slot: a neighbour may use the others.
            let granule = match region.huge_pages {
                HugePages::Off => sys::page_size(),
                _ => HUGE_PAGE,
            };
            let from = round_up(offset, granule);
            let to = (offset + region.stride) / granule * granule;
            if from < to {
                sys::release(&region.map, from, to - from);
            }
        }
    }

    /// Maps regions for `tier` until it has at least `count`: how many
    /// were mapped. A region that cannot be mapped at all fails (with the
    /// refusal, also recorded in the report); refused huge pages or locks
    /// fall back as for an allocation, unless the regions are strict.
    pub(crate) fn map_up_front(&self, tier: usize, count: usize) -> Result<usize, BackingError> {
        let mut state = self.state.lock();
        let mut have = state
            .regions
            .iter()
            .filter(|r| r.as_ref().is_some_and(|r| r.tier == tier))
            .count();
        let mut mapped = 0;
        while have < count {
            match self.map_region(&mut state, tier, self.config.strict)? {
                Some(_) => {
                    have += 1;
                    mapped += 1;
                }
                None => {
                    let err = state
                        .errors
                        .iter()
                        .find(|e| e.op == BackingOp::Map)
                        .cloned()
                        .expect("a failed mapping records its refusal");
                    return Err(err);
                }
            }
        }
        Ok(mapped)
    }

    /// Begins a registration (no region is unmapped until it ends with
    /// [`record_registration`](Self::record_registration)) and returns the
    /// table to register: for each region index, the region's start and
    /// length, or `None` for an index no region has now (a hole).
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn pin_table(&self) -> Vec<Option<(NonNull<u8>, usize)>> {
        let mut state = self.state.lock();
        state.pending += 1;
        let mut table: Vec<_> = state
            .regions
            .iter()
            .map(|r| r.as_ref().map(|r| (r.map.at(0), r.map.len())))
            .collect();
        while table.last().is_some_and(Option::is_none) {
            table.pop();
        }
        table
    }

    /// Records the end of a registration that [`pin_table`](Self::pin_table)
    /// began: of the regions at `indices` (still mapped: none is unmapped
    /// while a registration is under way), or `None` if it failed. Once
    /// one succeeded, no region is unmapped any more.
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn record_registration(&self, indices: Option<&[usize]>) {
        let mut state = self.state.lock();
        state.pending -= 1;
        let Some(indices) = indices else { return };
        state.registrations += 1;
        for &index in indices {
            state.regions[index]
                .as_mut()
                .expect("a pinned region stays mapped")
                .registered = true;
        }
    }

    /// Where the block at `addr` stands with io_uring: the index and start
    /// of its region if that region is registered. Takes the regions' lock
    /// and searches the table of regions by address (`O(log regions)`).
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn lookup(&self, addr: usize) -> RegionLookup {
        let state = self.state.lock();
        let at = state.by_start.partition_point(|&(s, _)| s <= addr);
        let region = at.checked_sub(1).and_then(|at| {
            let index = state.by_start[at].1;
            state.regions[index]
                .as_ref()
                .filter(|r| addr - r.map.start() < r.map.len())
                .map(|r| (index, r))
        });
        match region {
            Some((index, region)) if region.registered => RegionLookup::Registered {
                index,
                start: region.map.start(),
                len: region.map.len(),
            },
            _ if state.registrations == 0 => RegionLookup::NeverRegistered,
            _ => RegionLookup::Late,
        }
    }

    /// What backs the pool now.
    pub(crate) fn report(&self) -> BackingReport {
        let state = self.state.lock();
        let mut report = BackingReport {
            heap_fallbacks: state.heap_fallbacks,
            refusals: state.refusals,
            errors: state.errors.clone(),
            ..BackingReport::default()
        };
        for (index, region) in state.regions.iter().enumerate() {
            let Some(region) = region else { continue };
            let len = region.map.len();
            report.mapped_bytes += len;
            if region.locked {
                report.locked_bytes += len;
            }
            if region.huge_pages != HugePages::Off {
                report.huge_page_bytes += len;
            }
            report.regions.push(RegionInfo {
                index,
                start: region.map.start(),
                len,
                tier_capacity: self.tiers[region.tier].0,
                block_size: region.stride,
                slots: region.slots,
                slots_in_use: region.in_use,
                locked: region.locked,
                huge_pages: region.huge_pages,
            });
        }
        report
    }
}

impl State {
    /// Whether no region may be unmapped: while a registration is under
    /// way or once one succeeded (a region's index would be reused while
    /// a ring may still name it).
    fn pinned(&self) -> bool {
        self.pending > 0 || self.registrations > 0
    }

    fn refuse(&mut self, err: BackingError) {
        self.refusals += 1;
        match self.errors.iter_mut().find(|e| e.op == err.op) {
            Some(latest) => *latest = err,
            None => self.errors.push(err),
        }
    }
}

/// `n` rounded up to a multiple of `to` (a power of two).
fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Regions mapped from the system: Linux and Android, outside Miri and
/// loom.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri), not(loom)))]
mod sys {
    use std::ptr::NonNull;
    use std::sync::OnceLock;

    use super::{BackingError, BackingOp, HugePages, HUGE_PAGE};

    /// An anonymous private mapping, unmapped on drop.
    #[derive(Debug)]
    pub(super) struct Mapping {
        ptr: NonNull<u8>,
        len: usize,
    }

    // SAFETY: the mapping is plain memory owned by this value; the regions
    // are moved between threads only inside their mutex.
    unsafe impl Send for Mapping {}

    impl Mapping {
        pub(super) fn start(&self) -> usize {
            self.ptr.as_ptr().addr()
        }

        pub(super) fn len(&self) -> usize {
            self.len
        }

        /// A pointer `offset` bytes into the mapping.
        pub(super) fn at(&self, offset: usize) -> NonNull<u8> {
            assert!(offset < self.len);
            // SAFETY: `offset` is within the mapping (checked above).
            unsafe { self.ptr.add(offset) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: `ptr..ptr + len` is a mapping this value owns, made
            // by `map`; no block of it is alive any more (the region is
            // dropped when its last slot is given back, or with the pool,
            // which every block keeps alive). Unmapping also unlocks it.
            let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
            debug_assert_eq!(rc, 0, "munmap of a region failed");
        }
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    pub(super) fn page_size() -> usize {
        static PAGE: OnceLock<usize> = OnceLock::new();
        *PAGE.get_or_init(|| {
            // SAFETY: `sysconf` reads no memory of ours.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            usize::try_from(page)
                .ok()
                .filter(|p| p.is_power_of_two())
                .unwrap_or(4096)
        })
    }

    /// Maps `len` bytes (a multiple of the page size) starting at a
    /// multiple of `align` (a power of two, at least a page).
    fn map_aligned(len: usize, align: usize, extra_flags: libc::c_int) -> Result<Mapping, i32> {
        let slack = if extra_flags & libc::MAP_HUGETLB != 0 {
            // Huge page mappings start on a huge page already.
            align.saturating_sub(HUGE_PAGE)
        } else {
            align - page_size()
        };
        let total = len.checked_add(slack).ok_or(libc::ENOMEM)?;
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choice touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(errno());
        }
        let ptr = ptr.cast::<u8>();
        let head = ptr.align_offset(align);
        debug_assert!(head <= slack);
        let tail = slack - head;
        if head > 0 {
            // SAFETY: the first `head` bytes belong to the mapping just
            // made, and nothing refers to them.
            unsafe { libc::munmap(ptr.cast(), head) };
        }
        if tail > 0 {
            // SAFETY: as for the head, the last `tail` bytes.
            unsafe { libc::munmap(ptr.add(head + len).cast(), tail) };
        }
        // SAFETY: `head <= slack`, within the mapping, which is not null.
        let start = unsafe { NonNull::new_unchecked(ptr.add(head)) };
        Ok(Mapping { ptr: start, len })
    }

    /// Maps a region of `len` bytes (a multiple of the huge page size if
    /// `huge_pages` is on): the mapping, the huge pages it got, and the
    /// refusal that made it fall back to fewer, if any.
    pub(super) fn map(
        len: usize,
        align: usize,
        huge_pages: HugePages,
    ) -> Result<(Mapping, HugePages, Option<BackingError>), BackingError> {
        let mut refusal = None;
        if huge_pages == HugePages::Explicit {
            match map_aligned(len, align, libc::MAP_HUGETLB) {
                Ok(map) => return Ok((map, HugePages::Explicit, None)),
                Err(errno) => {
                    refusal = Some(BackingError::new(
                        BackingOp::ExplicitHugePages,
                        Some(errno),
                        len,
                    ));
                }
            }
        }
        let map = map_aligned(len, align, 0)
            .map_err(|errno| BackingError::new(BackingOp::Map, Some(errno), len))?;
        if huge_pages == HugePages::Transparent {
            // SAFETY: advice on a mapping this function owns; MADV_HUGEPAGE
            // changes how the kernel backs it, not its contents.
            let rc = unsafe { libc::madvise(map.ptr.as_ptr().cast(), len, libc::MADV_HUGEPAGE) };
            if rc == 0 {
                return Ok((map, HugePages::Transparent, None));
            }
            refusal = Some(BackingError::new(
                BackingOp::TransparentHugePages,
                Some(errno()),
                len,
            ));
        }
        Ok((map, HugePages::Off, refusal))
    }

    /// Locks the mapping in memory.
    pub(super) fn lock(map: &Mapping) -> Result<(), BackingError> {
        // SAFETY: `mlock` of a mapping we own changes no memory contents.
        if unsafe { libc::mlock(map.ptr.as_ptr().cast(), map.len) } == 0 {
            return Ok(());
        }
        let err = BackingError::new(BackingOp::Lock, Some(errno()), map.len);
        Err(err.with_memlock_limit(memlock_limit()))
    }

    /// The soft `RLIMIT_MEMLOCK`, or `None` if unlimited or unknown.
    pub(super) fn memlock_limit() -> Option<u64> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit` writes one `rlimit`, which `limit` is.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
        // `rlim_t` is `u32` on 32-bit Android.
        #[allow(clippy::unnecessary_cast)]
        let current = limit.rlim_cur as u64;
        (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(current)
    }

    /// Gives the pages of `len` bytes at `offset` back to the system; they
    /// read as zeroes when touched again.
    pub(super) fn release(map: &Mapping, offset: usize, len: usize) {
        debug_assert!(offset + len <= map.len);
        // SAFETY: the range is within the mapping, in a free slot that no
        // block refers to; MADV_DONTNEED on a private anonymous mapping
        // only replaces its pages by zero pages.
        let rc = unsafe {
            libc::madvise(
                map.ptr.as_ptr().add(offset).cast(),
                len,
                libc::MADV_DONTNEED,
            )
        };
        debug_assert_eq!(rc, 0, "MADV_DONTNEED of a free slot failed");
    }
}

/// Regions from the heap: elsewhere than Linux and Android, and under Miri
/// and loom (which cannot map memory). Blocks are carved the same way;
/// huge pages and locking are refused, and pages are given back only when
/// a whole region is.
#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri), not(loom))))]
mod sys {
    use std::alloc::Layout;
    use std::ptr::NonNull;

    use super::{BackingError, BackingOp, HugePages};
    use crate::sync::{alloc_zeroed, dealloc};

    #[derive(Debug)]
    pub(super) struct Mapping {
        ptr: NonNull<u8>,
        layout: Layout,
    }

    // SAFETY: the allocation is plain memory owned by this value; the
    // regions are moved between threads only inside their mutex.
    unsafe impl Send for Mapping {}

    impl Mapping {
        pub(super) fn start(&self) -> usize {
            self.ptr.as_ptr().addr()
        }

        pub(super) fn len(&self) -> usize {
            self.layout.size()
        }

        pub(super) fn at(&self, offset: usize) -> NonNull<u8> {
            assert!(offset < self.len());
            // SAFETY: `offset` is within the allocation (checked above).
            unsafe { self.ptr.add(offset) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: allocated by `map` with this layout, freed only here;
            // no block of it is alive any more (see `Regions::give_back`).
            unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
        }
    }

    /// 1: the heap has no pages to give back or to align to.
    pub(super) fn page_size() -> usize {
        1
    }

    pub(super) fn map(
        len: usize,
        align: usize,
        huge_pages: HugePages,
    ) -> Result<(Mapping, HugePages, Option<BackingError>), BackingError> {
        let refused = BackingError::new(BackingOp::Map, None, len);
        let layout = Layout::from_size_align(len, align).map_err(|_| refused.clone())?;
        // Zeroed, as mapped pages are: a region starts with no bytes of
        // any earlier owner of its memory, whatever the backend (the loom
        // models tell blocks apart by what their previous holder wrote).
        // SAFETY: `len` is non-zero (at least one block, validated).
        let ptr = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or(refused)?;
        let refusal = match huge_pages {
            HugePages::Off => None,
            HugePages::Transparent => Some(BackingOp::TransparentHugePages),
            HugePages::Explicit => Some(BackingOp::ExplicitHugePages),
        };
        Ok((
            Mapping { ptr, layout },
            HugePages::Off,
            refusal.map(|op| BackingError::new(op, None, len)),
        ))
    }

    pub(super) fn lock(map: &Mapping) -> Result<(), BackingError> {
        Err(BackingError::new(BackingOp::Lock, None, map.len()))
    }

    pub(super) fn release(_map: &Mapping, _offset: usize, _len: usize) {}
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lock_errors_name_the_memlock_limit() {
        let err = BackingError::new(BackingOp::Lock, Some(12), 64 << 20)
            .with_memlock_limit(Some(8 << 20));
        let text = err.to_string();
        assert!(text.contains("locking 67108864 bytes"), "{text}");
        assert!(text.contains("RLIMIT_MEMLOCK is 8388608 bytes"), "{text}");
        assert_eq!(err.io_error().raw_os_error(), Some(12));
        assert_eq!(err.memlock_limit(), Some(8 << 20));
        let unsupported = BackingError::new(BackingOp::Lock, None, 4096);
        assert!(unsupported.to_string().contains("not supported"));
        assert_eq!(
            unsupported.io_error().kind(),
            std::io::ErrorKind::Unsupported
        );
    }

    #[test]
    fn slots_are_reused_and_empty_regions_unmapped() {
        let regions = Regions::new(RegionConfig::new().size(4096), &[1000, 4096], 64);
        // 1024-byte slots: four to a region.
        let blocks: Vec<_> = (0..5).map(|_| regions.take(0).unwrap().unwrap()).collect();
        let report = regions.report();
        assert_eq!(report.regions.len(), 2);
        assert_eq!(report.regions[0].slots, 4);
        assert_eq!(report.regions[0].block_size, 1024);
        assert_eq!(blocks[1].as_ptr().addr() - blocks[0].as_ptr().addr(), 1024);
        regions.give_back(blocks[1]);
        assert_eq!(regions.take(0).unwrap().unwrap(), blocks[1]);
        regions.give_back(blocks[4]);
        assert_eq!(regions.report().regions.len(), 1);
        for &block in &blocks[..4] {
            regions.give_back(block);
        }
        let report = regions.report();
        assert!(report.regions.is_empty());
        assert_eq!(report.mapped_bytes, 0);
    }
}
