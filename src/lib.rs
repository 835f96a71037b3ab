//! A zero-copy, tiered buffer pool for programs that move a lot of bytes.
//!
//! Services that move bytes (brokers, proxies, RPC servers, block engines,
//! encoders) allocate and free the same few buffer sizes millions of times a
//! second. `tierpool` keeps those buffers alive and hands them back out:
//! [`Pool::get`] returns a [`PooledBuf`] from the smallest tier that fits,
//! and dropping it returns the block to the pool, on any thread. A written
//! buffer freezes into a [`SharedBuf`]: an immutable, refcounted, sliceable
//! view that converts into [`bytes::Bytes`] without copying.
//!
//! ```
//! use std::io::Write;
//!
//! let pool = tierpool::Pool::new();
//! let mut buf = pool.get(1500); // from the 4 KiB tier, empty
//! write!(buf, "HTTP/1.1 200 OK\r\n\r\nhello")?;
//! let response = buf.freeze(); // no copy, no allocation
//! let body = response.slice(19..); // shares the block
//! let bytes: bytes::Bytes = body.into_bytes(); // same memory
//! assert_eq!(&bytes[..], b"hello");
//! drop((response, bytes)); // the block goes back to the pool
//! assert_eq!(pool.stats().tiers[0].in_use, 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Map
//!
//! * **Pools.** [`Pool`] is a cheap, cloneable handle; [`Pool::new`] has the
//!   [`DEFAULT_TIERS`] and default limits, [`Pool::builder`] gives a
//!   [`PoolBuilder`] for tiers ([`TierConfig`], whose docs list the default
//!   limits), caps on idle and in-use bytes, alignment, idle decay, leak
//!   detection ([`LeakDetection`], [`OutstandingBuf`]) and backing memory
//!   ([`Backing`], [`RegionConfig`], [`HugePages`], [`BackingReport`]).
//!   [`global`] and [`get`] use one process-wide pool.
//! * **Buffers.** [`PooledBuf`] (mutable, returns on drop) and
//!   [`SharedBuf`] (frozen, refcounted view); both are
//!   `Send + Sync + 'static` and borrow nothing.
//! * **Chains.** [`PooledChain`] and [`SharedChain`]: a message
//!   of any length as pooled blocks taken as bytes arrive
//!   ([`Pool::chain`]).
//! * **Waiting for memory.** [`Pool::get_async`] waits under a cap;
//!   [`Quota`] ([`Pool::quota`]) is a cap of its own inside the pool's,
//!   per connection or tenant.
//! * **Stats.** [`Pool::stats`] returns a [`PoolStats`] snapshot
//!   ([`TierStats`], [`OversizeStats`], [`LimitStats`], [`QuotaStats`])
//!   that prints as a table.
//! * **Choosing tiers.** [`SizeHistogram`] records or reads request sizes
//!   and recommends tiers ([`TierReport`], [`TierAdvice`]).
//! * **Errors.** [`PoolError`] from gets, [`ConfigError`] from
//!   [`PoolBuilder::build`].
//! * **Guides.** [`operations`]: running a pool in production (what to
//!   watch, what each counter means, sizing the limits, idle memory,
//!   backing memory, io_uring). [`implementation`]: the design, its
//!   vocabulary and a reading order of the source.
//!
//! # Features
//!
//! Without features the crate depends on `bytes`, `crossbeam-utils` and
//! `parking_lot` only.
//!
//! | feature | what it adds | dependencies |
//! |---|---|---|
//! | `tokio` | the `io` module: length-prefixed frames from an `AsyncRead` into pooled blocks (`FrameReader`, a `Stream`; `read_chain`, `read_chain_into`), vectored frame writes (`write_frame`); `Pool::trim_idle_every` | `tokio` (`io-util`, `net`, `time`), `futures-core` |
//! | `serde` | `Serialize` for [`PoolStats`] and the types inside it | `serde` (`derive`, `alloc`) |
//! | `metrics` | `Pool::publish_metrics`: the counters and gauges through the [`metrics`](https://docs.rs/metrics) facade; its docs list every metric | `metrics` |
//! | `io-uring` | Linux only: `Pool::register_regions` and `Pool::register_regions_with_room` (fixed buffers, `fixed()` on every buffer and view), `Pool::provide_buffers` (provided buffer rings) | `io-uring` |
//! | `tokio-uring` | Linux only: tokio-uring's `IoBuf`/`IoBufMut` for [`PooledBuf`], `IoBuf` for [`SharedBuf`] | `tokio-uring` |
#![deny(missing_docs)]
#![warn(
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Layers, bottom-up: each folder uses only the ones above it in this list
// (the `implementation` module draws the same order).
mod buf;
mod engine;
mod error;
mod fmt;
pub mod implementation;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod io;
mod memory;
pub mod operations;
mod pool;
mod stats;
mod sync;
#[cfg(all(
    any(feature = "io-uring", feature = "tokio-uring"),
    target_os = "linux"
))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "io-uring", target_os = "linux"))))]
pub mod uring;

#[cfg(all(test, loom))]
mod loom_tests;

pub use crate::buf::chain::{PooledChain, SharedChain};
pub use crate::buf::pooled::PooledBuf;
pub use crate::buf::view::SharedBuf;
pub use crate::engine::outstanding::{LeakDetection, OutstandingBuf};
pub use crate::error::{ConfigError, PoolError};
pub use crate::memory::region::config::{Backing, HugePages, RegionConfig, MAX_REGION_SIZE};
pub use crate::memory::region::report::{BackingError, BackingOp, BackingReport, RegionInfo};
pub use crate::pool::advisor::{TierAdvice, TierReport};
pub use crate::pool::builder::{PoolBuilder, TierConfig, DEFAULT_TIERS, MAX_ALIGNMENT, MAX_TIERS};
pub use crate::pool::quota::{Quota, QuotaStats};
pub use crate::pool::Pool;
pub use crate::stats::histogram::SizeHistogram;
pub use crate::stats::{
    LimitStats, OversizeStats, PoolStats, QuotaId, QuotaSummary, QuotaUsage, TierStats, WaitStats,
};

/// The process-wide pool with the default tiers, created on first use and
/// named `global`.
///
/// # Examples
///
/// ```
/// let buf = tierpool::global().get(100);
/// assert_eq!(buf.capacity(), 4096);
/// ```
#[cfg(not(loom))]
pub fn global() -> &'static Pool {
    static GLOBAL: sync::OnceLock<Pool> = sync::OnceLock::new();
    GLOBAL.get_or_init(|| {
        Pool::builder()
            .name("global")
            .build()
            .expect("the default configuration is valid")
    })
}

/// Gets a buffer from the [`global`] pool: shorthand for
/// `tierpool::global().get(capacity)`.
///
/// # Panics
///
/// As [`Pool::get`].
///
/// # Examples
///
/// ```
/// let mut buf = tierpool::get(10);
/// buf.extend_from_slice(b"hi");
/// assert_eq!(&buf[..], b"hi");
/// ```
#[cfg(not(loom))]
#[track_caller]
pub fn get(capacity: usize) -> PooledBuf {
    global().get(capacity)
}

/// Locks in `#[must_use]` on the values whose result is the point: each
/// snippet must fail to compile under `deny(unused_must_use)`.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let pool = tierpool::Pool::new();
/// pool.get(10);
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let buf = tierpool::Pool::new().get(10);
/// buf.freeze();
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let view = tierpool::Pool::new().get(10).freeze();
/// view.slice(..);
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let mut buf = tierpool::Pool::new().get(10);
/// buf.extend_from_slice(b"ab");
/// buf.split_to(1);
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let view = tierpool::Pool::new().get(10).freeze();
/// view.into_bytes();
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// tierpool::Pool::builder().tiers([64]);
/// ```
#[allow(dead_code)]
fn must_use_checks() {}

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
