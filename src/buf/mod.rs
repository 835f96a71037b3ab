//! The buffers users hold: the mutable [`PooledBuf`](pooled::PooledBuf),
//! its frozen view [`SharedBuf`](view::SharedBuf), the segmented chains
//! and the bridge to `bytes::Bytes`.
//!
//! One knot stays inside this folder, as `bytes.rs` and `bytes_mut.rs` keep
//! theirs: [`PooledBuf::freeze`](pooled::PooledBuf::freeze) makes a view
//! and [`SharedBuf::try_into_mut`](view::SharedBuf::try_into_mut) turns the
//! last view back into a buffer, so `pooled` and `view` name each other;
//! `chain` strings both together. Nothing below this folder names a buffer
//! type: blocks come from and go back to the engine only.

use std::ops::{Bound, RangeBounds};

pub(crate) mod bytes_interop;
pub(crate) mod chain;
pub(crate) mod pooled;
pub(crate) mod view;

/// Resolves a range against a length, saturating instead of overflowing so
/// the bounds check reports the problem.
pub(crate) fn bounds(range: &impl RangeBounds<usize>, len: usize) -> (usize, usize) {
    let start = match range.start_bound() {
        Bound::Included(&n) => n,
        Bound::Excluded(&n) => n.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&n) => n.saturating_add(1),
        Bound::Excluded(&n) => n,
        Bound::Unbounded => len,
    };
    (start, end)
}
