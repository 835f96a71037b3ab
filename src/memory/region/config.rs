//! What a pool asks of its regions: the backing choice and the region
//! configuration (size, huge pages, locking, strictness).

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
/// assert!(matches!(err, ConfigError::BadRegionSize { max: MAX_REGION_SIZE, .. }));
/// ```
pub const MAX_REGION_SIZE: usize = 1 << 30;

/// The default region size: 64 MiB.
pub(crate) const DEFAULT_REGION_SIZE: usize = 64 << 20;

/// The default bound on dirty bytes: see [`RegionConfig::max_dirty_bytes`].
const DEFAULT_MAX_DIRTY: usize = 8 << 20;

/// The huge page size regions are aligned to when they ask for huge pages
/// (the x86-64 and AArch64 default).
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// Where the blocks of a pool's tiers come from: set with
/// [`PoolBuilder::backing`](crate::PoolBuilder::backing).
///
/// The default ([`Backing::default`]) is [`Regions`](Self::Regions) on
/// Linux and Android, where the crate maps regions itself and gives a
/// freed slot's pages back with `madvise`, and [`Heap`](Self::Heap)
/// elsewhere (and under Miri and loom). Unpooled (oversize) blocks always
/// come from the heap.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backing {
    /// One allocation of the global allocator per block (the default where
    /// regions are not mapped by the crate).
    Heap,
    /// Blocks carved from large regions: see [`RegionConfig`].
    Regions(RegionConfig),
}

/// Whether [`Backing::default`] is region backing: where the crate maps
/// regions itself (not Miri's or loom's emulation of them).
const REGIONS_BY_DEFAULT: bool = cfg!(all(
    any(target_os = "linux", target_os = "android"),
    not(miri),
    not(loom)
));

impl Default for Backing {
    /// Region backing ([`RegionConfig::new`]) on Linux and Android, the
    /// heap elsewhere.
    ///
    /// Measured in the broker benchmark (frames of 100 B to 2 MiB read
    /// with `FrameReader`, see `BENCHMARKS.md`), regions hold the peak
    /// RSS about a quarter below the heap's, at the same CPU per frame: a
    /// block the pool frees keeps its pages only for a while (and up to
    /// [`RegionConfig::max_dirty_bytes`]), where the global allocator keeps
    /// freed blocks in its heap. What they cost: each tier maps a 64 MiB
    /// region of address space on its first block (192 MiB of virtual
    /// memory for the default tiers, counted against the commit limit
    /// under `vm.overcommit_memory=2`; a refused mapping falls back to the
    /// heap, see [`RegionConfig::strict`]), one mapping per region
    /// (`vm.max_map_count`), and a page fault on the first touch of each
    /// page, which a heap block may have had from an earlier allocation.
    /// A process with many small pools, or one that must not map memory
    /// up front, chooses [`Backing::Heap`]. A pool that leaves the backing
    /// unset and has tiers above 4 MiB (or an alignment that rounds a
    /// block above it) is heap-backed: a 64 MiB region would hold too few
    /// of its blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, Pool};
    ///
    /// let pool = Pool::new();
    /// let _buf = pool.get(100);
    /// let mapped = !pool.backing_report().regions.is_empty();
    /// assert_eq!(mapped, matches!(Backing::default(), Backing::Regions(_)));
    /// assert_eq!(mapped, cfg!(all(any(target_os = "linux", target_os = "android"), not(miri))));
    /// ```
    fn default() -> Self {
        if REGIONS_BY_DEFAULT {
            Backing::Regions(RegionConfig::new())
        } else {
            Backing::Heap
        }
    }
}

impl Backing {
    /// The backing of a pool that did not choose one, whose largest block
    /// (tier capacity rounded up to the alignment) is `largest_block`
    /// bytes: [`Backing::default`] if such a block fits
    /// [`MIN_BLOCKS_PER_DEFAULT_REGION`] times in a default region, the
    /// heap otherwise (a region of a few huge blocks saves nothing).
    pub(crate) fn default_for(largest_block: usize) -> Backing {
        match Backing::default() {
            Backing::Regions(config)
                if largest_block.saturating_mul(MIN_BLOCKS_PER_DEFAULT_REGION) <= config.size =>
            {
                Backing::Regions(config)
            }
            _ => Backing::Heap,
        }
    }
}

/// The fewest blocks of its largest tier a pool's default region must
/// hold for the pool to be region-backed by default: tiers up to 4 MiB.
const MIN_BLOCKS_PER_DEFAULT_REGION: usize = 16;

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
/// assert_ne!(config, RegionConfig::new());
/// ```
///
/// A freed block's slot keeps its pages for a while (it is *dirty*), so
/// that the next block of its tier reuses them without faulting pages in:
/// see [`max_dirty_bytes`](Self::max_dirty_bytes).
///
/// A configuration is only written: what a pool got from the system (the
/// regions' sizes, huge pages and locks, and every refusal) is in its
/// [`Pool::backing_report`](crate::Pool::backing_report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionConfig {
    pub(crate) size: usize,
    pub(crate) huge_pages: HugePages,
    pub(crate) lock: bool,
    pub(crate) strict: bool,
    /// `None`: the region size.
    pub(crate) max_dirty: Option<usize>,
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
    /// use tierpool::{Backing, Pool, RegionConfig};
    ///
    /// let pool = Pool::builder()
    ///     .backing(Backing::Regions(RegionConfig::new()))
    ///     .build()?;
    /// let _buf = pool.get(100);
    /// assert_eq!(pool.backing_report().regions[0].len, 64 << 20);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            size: DEFAULT_REGION_SIZE,
            huge_pages: HugePages::Off,
            lock: false,
            strict: false,
            max_dirty: None,
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
    /// use tierpool::{Backing, Pool, RegionConfig};
    ///
    /// let pool = Pool::builder()
    ///     .backing(Backing::Regions(RegionConfig::new().size(8 << 20)))
    ///     .build()?;
    /// let _buf = pool.get(100);
    /// assert_eq!(pool.backing_report().regions[0].len, 8 << 20);
    /// # Ok::<(), tierpool::ConfigError>(())
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
    /// assert_ne!(config, RegionConfig::new());
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
    /// assert_ne!(config, tierpool::RegionConfig::new());
    /// ```
    #[must_use]
    pub const fn lock(mut self, lock: bool) -> Self {
        self.lock = lock;
        self
    }

    /// The most bytes of dirty slots the pool keeps: free slots whose pages
    /// were not given back yet. Default: 8 MiB, or the region
    /// [size](Self::size) if that is less.
    ///
    /// A slot freed by the pool (a trim, idle decay, a full depot) keeps
    /// its pages, and the next block of its tier takes the most recently
    /// freed slot first, so a service whose in-flight bytes swing reuses
    /// pages it has instead of faulting new ones in (and the RSS does not
    /// grow from it: a reused dirty slot costs no new page). A dirty slot
    /// is purged (its pages released with `madvise(MADV_DONTNEED)`) once
    /// it has been dirty for the pool's
    /// [`idle_decay_period`](crate::PoolBuilder::idle_decay_period), or,
    /// oldest first, when the dirty bytes of all tiers exceed this bound;
    /// [`Pool::trim`](crate::Pool::trim) and
    /// [`Pool::trim_idle`](crate::Pool::trim_idle) purge them all. The
    /// checks run when a slot is taken or given back: no background
    /// thread.
    ///
    /// The default is 8 MiB, or the region size if that is less. Dirty
    /// slots add to the RSS only where another tier needs fresh pages
    /// meanwhile, and the decay period gives them back soon after a swing
    /// that did not come back; in the broker benchmark (`BENCHMARKS.md`),
    /// 8 MiB kept the minor faults within 1% of a fresh allocation per
    /// frame's while 4 MiB let them reach 6% when the in-flight bytes
    /// swing, and one 64 MiB region's worth added about 7% to the peak
    /// RSS. `0` purges every slot as it is freed. See [`BackingReport::dirty_bytes`](crate::BackingReport::dirty_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, Pool, RegionConfig, TierConfig};
    ///
    /// let pool = Pool::builder()
    ///     .tier(TierConfig::new(4096).thread_cache_buffers(0).depot_buffers(0))
    ///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20).max_dirty_bytes(8192)))
    ///     .build()?;
    /// let bufs: Vec<_> = (0..3).map(|_| pool.get(4096)).collect();
    /// drop(bufs); // every return frees its block: three dirty slots, one over
    /// let report = pool.backing_report();
    /// assert_eq!((report.dirty_bytes, report.purges), (8192, 1));
    /// pool.trim();
    /// assert_eq!(pool.backing_report().dirty_bytes, 0);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn max_dirty_bytes(mut self, bytes: usize) -> Self {
        self.max_dirty = Some(bytes);
        self
    }

    /// The bound on dirty bytes in force.
    pub(crate) const fn dirty_bound(&self) -> usize {
        match self.max_dirty {
            Some(bytes) => bytes,
            None => {
                if self.size < DEFAULT_MAX_DIRTY {
                    self.size
                } else {
                    DEFAULT_MAX_DIRTY
                }
            }
        }
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
    /// assert_ne!(config, tierpool::RegionConfig::new());
    /// ```
    #[must_use]
    pub const fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
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
