//! What the system granted or refused: backing errors and the report of
//! what backs a pool now.

use std::fmt;

use crate::memory::region::config::HugePages;

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
/// [`RegionConfig::strict`](crate::RegionConfig::strict), returned as
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
    /// Bytes of the dirty slots: free slots that kept their pages, to be
    /// reused by the next blocks of their tiers (block size each). This is
    /// memory the pool holds beyond its blocks; it goes back to the system
    /// after the pool's idle decay period, beyond
    /// [`RegionConfig::max_dirty_bytes`](crate::RegionConfig::max_dirty_bytes),
    /// or on a trim. Free slots of locked and of registered regions keep
    /// their pages anyway and are not counted.
    pub dirty_bytes: usize,
    /// Dirty slots purged since the pool was built: their pages given back
    /// (`madvise(MADV_DONTNEED)`), or their region unmapped.
    pub purges: u64,
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
    /// How many of them are dirty: free, with their pages kept (see
    /// [`BackingReport::dirty_bytes`]).
    pub slots_dirty: usize,
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
