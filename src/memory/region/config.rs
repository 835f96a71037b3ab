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
/// assert!(matches!(err, ConfigError::RegionSize { max: MAX_REGION_SIZE, .. }));
/// ```
pub const MAX_REGION_SIZE: usize = 1 << 30;

/// The default region size: 64 MiB.
pub(crate) const DEFAULT_REGION_SIZE: usize = 64 << 20;

/// The huge page size regions are aligned to when they ask for huge pages
/// (the x86-64 and AArch64 default).
pub(crate) const HUGE_PAGE: usize = 2 << 20;

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
    pub(crate) size: usize,
    pub(crate) huge_pages: HugePages,
    pub(crate) lock: bool,
    pub(crate) strict: bool,
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
