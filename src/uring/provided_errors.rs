//! Why providing a buffer ring, or taking a buffer from one, failed.

use std::{fmt, io};

use crate::uring::provided::MAX_PROVIDED_ENTRIES;
#[cfg(doc)]
use crate::{uring::ProvidedBuffers, Pool};

/// Why [`Pool::provide_buffers`] failed.
///
/// # Examples
///
/// ```
/// use tierpool::uring::ProvideError;
///
/// let err = ProvideError::Entries { entries: 3 };
/// assert!(err.to_string().contains("power of two"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ProvideError {
    /// The entries are not a power of two from 1 to
    /// [`MAX_PROVIDED_ENTRIES`].
    Entries {
        /// The entries asked for.
        entries: u16,
    },
    /// The capacity is above the largest tier: provided buffers are
    /// pooled ones.
    Oversize {
        /// The capacity asked for.
        requested: usize,
        /// The capacity of the largest tier.
        largest_tier: usize,
    },
    /// The tier's capacity is above `u32::MAX`, the most bytes a ring
    /// entry describes.
    TooLarge {
        /// The capacity of the tier the request routes to.
        tier_capacity: usize,
    },
    /// The ring has a buffer group with this id already (`EEXIST`).
    GroupInUse {
        /// The group id.
        group: u16,
    },
    /// Another refusal of `io_uring_register`; `EINVAL` from kernels
    /// before 5.19, which have no provided buffer rings.
    Io(io::Error),
}

impl fmt::Display for ProvideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvideError::Entries { entries } => write!(
                f,
                "{entries} entries: a provided buffer ring takes a power of two from 1 to \
                 {MAX_PROVIDED_ENTRIES}"
            ),
            ProvideError::Oversize {
                requested,
                largest_tier,
            } => write!(
                f,
                "buffers of {requested} bytes exceed the largest tier ({largest_tier} bytes)"
            ),
            ProvideError::TooLarge { tier_capacity } => write!(
                f,
                "buffers of the {tier_capacity}-byte tier exceed what a ring entry describes \
                 (u32::MAX bytes)"
            ),
            ProvideError::GroupInUse { group } => {
                write!(f, "the ring has a buffer group {group} already")
            }
            ProvideError::Io(err) => write!(f, "registering a buffer ring failed: {err}"),
        }
    }
}

impl std::error::Error for ProvideError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProvideError::Io(err) => Some(err),
            _ => None,
        }
    }
}

/// Why [`ProvidedBuffers::take`] refused a completion. Nothing changed:
/// the buffers lent stay lent.
///
/// # Examples
///
/// See [`ProvidedBuffers::take_parts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TakeError {
    /// The buffer id is beyond the ring's entries.
    UnknownBuffer {
        /// The completion's buffer id.
        bid: u16,
        /// The ring's entries.
        entries: u16,
    },
    /// No buffer is lent under this id (the pool refused one for its
    /// slot).
    NotLent {
        /// The completion's buffer id.
        bid: u16,
    },
    /// The result is longer than the buffer.
    TooLong {
        /// The completion's buffer id.
        bid: u16,
        /// The completion's result.
        len: usize,
        /// The buffer's capacity.
        capacity: usize,
    },
}

impl fmt::Display for TakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TakeError::UnknownBuffer { bid, entries } => {
                write!(f, "buffer id {bid} is beyond the ring's {entries} entries")
            }
            TakeError::NotLent { bid } => write!(f, "no buffer is lent under buffer id {bid}"),
            TakeError::TooLong { bid, len, capacity } => write!(
                f,
                "a completion of {len} bytes does not fit buffer {bid} ({capacity} bytes)"
            ),
        }
    }
}

impl std::error::Error for TakeError {}
