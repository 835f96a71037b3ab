//! Errors returned by the pool and its builder.

use std::fmt;

use crate::memory::region::BackingError;

/// Why [`PoolBuilder::build`](crate::PoolBuilder::build) rejected a
/// configuration.
///
/// The `Display` message names the offending value.
///
/// # Examples
///
/// ```
/// use tierpool::{ConfigError, Pool};
///
/// let err = Pool::builder().tiers([4096, 1024]).build().unwrap_err();
/// assert!(matches!(err, ConfigError::UnsortedTiers { .. }));
/// assert!(err.to_string().contains("ascending"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The tier list is empty.
    NoTiers,
    /// A tier has capacity zero.
    ZeroCapacity {
        /// Position of the tier in the list.
        index: usize,
    },
    /// The same capacity appears twice.
    DuplicateTier {
        /// The repeated capacity.
        capacity: usize,
    },
    /// A tier is smaller than the one before it.
    UnsortedTiers {
        /// Position of the out-of-order tier.
        index: usize,
        /// The capacity before it.
        previous: usize,
        /// Its capacity.
        capacity: usize,
    },
    /// A tier is too large to be allocated with the configured alignment.
    TierTooLarge {
        /// The capacity asked for.
        capacity: usize,
    },
    /// The alignment is zero or not a power of two.
    BadAlignment {
        /// The alignment asked for.
        alignment: usize,
    },
    /// The alignment is a power of two above
    /// [`MAX_ALIGNMENT`](crate::MAX_ALIGNMENT), which no allocator can
    /// satisfy.
    UnsupportedAlignment {
        /// The alignment asked for.
        alignment: usize,
        /// The largest alignment accepted.
        max: usize,
    },
    /// More tiers than [`MAX_TIERS`](crate::MAX_TIERS).
    TooManyTiers {
        /// The number of tiers asked for.
        count: usize,
        /// The most tiers a pool can have.
        max: usize,
    },
    /// [`PoolBuilder::segment_capacity`](crate::PoolBuilder::segment_capacity)
    /// names no tier.
    UnknownSegmentTier {
        /// The capacity asked for.
        capacity: usize,
    },
    /// The [region size](crate::RegionConfig::size) cannot hold a block of
    /// the largest tier, or is above
    /// [`MAX_REGION_SIZE`](crate::MAX_REGION_SIZE).
    BadRegionSize {
        /// The region size asked for.
        size: usize,
        /// The smallest valid size: the largest tier's capacity rounded up
        /// to the alignment.
        min: usize,
        /// The largest valid size.
        max: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::NoTiers => f.write_str("a pool needs at least one tier"),
            ConfigError::ZeroCapacity { index } => {
                write!(
                    f,
                    "tier {index} has capacity 0; every tier must hold at least one byte"
                )
            }
            ConfigError::DuplicateTier { capacity } => {
                write!(f, "tier capacity {capacity} appears more than once")
            }
            ConfigError::UnsortedTiers {
                index,
                previous,
                capacity,
            } => write!(
                f,
                "tier {index} has capacity {capacity}, below the previous tier's {previous}; \
                 tiers must be listed in ascending order"
            ),
            ConfigError::TierTooLarge { capacity } => write!(
                f,
                "tier capacity {capacity} is too large to allocate (the limit is isize::MAX bytes, \
                 alignment included)"
            ),
            ConfigError::UnknownSegmentTier { capacity } => write!(
                f,
                "segment capacity {capacity} is not one of the tiers; chains are made of one tier's \
                 blocks"
            ),
            ConfigError::BadAlignment { alignment } => {
                write!(f, "alignment {alignment} is not a power of two")
            }
            ConfigError::UnsupportedAlignment { alignment, max } => write!(
                f,
                "alignment {alignment} is above the largest supported alignment ({max} bytes); \
                 no allocator can place blocks on such a boundary"
            ),
            ConfigError::BadRegionSize { size, min, max } => write!(
                f,
                "region size {size} is outside {min}..={max}: a region must hold a block of the \
                 largest tier and io_uring registers at most {max} bytes as one buffer"
            ),
            ConfigError::TooManyTiers { count, max } => write!(
                f,
                "{count} tiers asked for; a pool can have at most {max} (each costs every \
                 thread that uses the pool a cache and counters)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why [`Pool::try_get`](crate::Pool::try_get) could not hand out a buffer.
///
/// # Examples
///
/// ```
/// use tierpool::{Pool, PoolError};
///
/// let pool = Pool::builder().tiers([4096]).build()?;
/// let err = pool.try_get(10_000).unwrap_err();
/// assert_eq!(err, PoolError::Oversize { requested: 10_000, largest_tier: 4096 });
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The request is larger than the largest tier.
    /// [`Pool::get`](crate::Pool::get) would serve it from a plain
    /// allocation instead.
    Oversize {
        /// The capacity asked for.
        requested: usize,
        /// The capacity of the largest tier.
        largest_tier: usize,
    },
    /// The capacity cannot be described to the allocator: with the pool's
    /// alignment it exceeds `isize::MAX` bytes, or adding to a buffer's length
    /// overflowed `usize`.
    CapacityOverflow {
        /// The capacity asked for (saturated at `usize::MAX` on overflow).
        requested: usize,
    },
    /// The allocator returned no memory for a request of this size.
    OutOfMemory {
        /// The number of bytes the allocator refused.
        capacity: usize,
    },
    /// The request is larger than the pool's whole
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes): waiting
    /// ([`Pool::get_async`](crate::Pool::get_async)) could never serve it.
    OverLimit {
        /// Bytes of capacity the request needs.
        requested: usize,
        /// The configured cap.
        limit: usize,
    },
    /// Handing out the buffer would exceed the pool's
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes).
    Exhausted {
        /// Bytes of capacity the request needs.
        requested: usize,
        /// The configured cap.
        limit: usize,
    },
    /// The system refused the pool's
    /// [backing memory](crate::RegionConfig), which is
    /// [strict](crate::RegionConfig::strict).
    Backing(BackingError),
}

impl From<BackingError> for PoolError {
    fn from(err: BackingError) -> Self {
        PoolError::Backing(err)
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PoolError::Oversize {
                requested,
                largest_tier,
            } => write!(
                f,
                "requested capacity {requested} exceeds the largest tier ({largest_tier} bytes)"
            ),
            PoolError::CapacityOverflow { requested } => write!(
                f,
                "capacity {requested} exceeds what can be allocated (isize::MAX bytes)"
            ),
            PoolError::OutOfMemory { capacity } => {
                write!(f, "the allocator failed to provide {capacity} bytes")
            }
            PoolError::OverLimit { requested, limit } => write!(
                f,
                "a request for {requested} bytes can never fit the pool's in-use limit of \
                 {limit} bytes"
            ),
            PoolError::Exhausted { requested, limit } => write!(
                f,
                "handing out {requested} more bytes would exceed the pool's in-use limit of \
                 {limit} bytes"
            ),
            PoolError::Backing(ref err) => write!(f, "backing memory refused: {err}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Backing(err) => Some(err),
            _ => None,
        }
    }
}

/// The panic of the infallible entry points (`get`, growth, chain
/// reservation) when the allocator refuses: the message carries the
/// [`PoolError`] that the fallible twin would have returned.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn allocation_panic(err: PoolError) -> ! {
    panic!("tierpool: cannot allocate a buffer: {err}")
}
