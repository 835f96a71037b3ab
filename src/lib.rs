//! A zero-copy, tiered buffer pool for programs that move a lot of bytes.
//!
//! Services that move bytes (brokers, proxies, RPC servers, block engines,
//! encoders) allocate and free the same few buffer sizes millions of times a
//! second. `tierpool` keeps those buffers alive and hands them back out:
//! [`Pool::get`] returns a [`PooledBuf`] from the smallest tier that fits
//! (4 KiB, 64 KiB and 1 MiB by default), and dropping it returns the block
//! to the pool, on any thread. A written buffer freezes into a
//! [`SharedBuf`]: an immutable, refcounted, sliceable view that converts
//! into [`bytes::Bytes`] without copying.
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
//! # How a request is served
//!
//! A request for `n` bytes is served by the smallest tier whose capacity is
//! at least `n`. Above the largest tier, [`Pool::get`] makes a plain
//! allocation of exactly `n` bytes, counted in [`PoolStats::oversize`] and
//! freed on drop; [`Pool::try_get`] returns [`PoolError::Oversize`] instead.
//! Buffers always start empty, and bytes an earlier holder wrote are never
//! readable through a safe API. Writing past the capacity moves the
//! contents to the next tier that fits, like a `Vec` growing.
//!
//! Tiers and limits are set with [`Pool::builder`]; to choose them from
//! data, record the sizes an application asks for
//! ([`PoolBuilder::record_sizes`]) or read a trace, and let the
//! [`SizeHistogram`] advisor recommend tiers.
//!
//! # Messages of any length: chains
//!
//! When message lengths vary widely (a broker's frames, an RPC body),
//! hold each one as a [`PooledChain`] ([`Pool::chain`]): a run of 64 KiB
//! blocks taken as bytes arrive, frozen into a [`SharedChain`] that a
//! vectored write sends whole. A chain wastes less than one block per
//! message, pools every length, and holds nothing before its first byte.
//! With the `tokio` feature, `io::FrameReader` reads length-prefixed
//! frames from a socket straight into chains, checking a maximum length
//! before taking any memory. Use contiguous buffers ([`Pool::get`]) for
//! messages of known, similar sizes and for APIs that need one slice.
//!
//! ```
//! use bytes::Buf;
//!
//! let pool = tierpool::Pool::new();
//! let mut chain = pool.chain();
//! chain.extend_from_slice(&[42; 200_000]); // 3 × 64 KiB, then 4 KiB for the rest
//! let message = chain.freeze();
//! assert_eq!(message.len(), 200_000);
//! assert_eq!(message.segment_count(), 4);
//! assert_eq!(pool.stats().oversize.allocations, 0); // all pooled
//! ```
//!
//! # Threads and memory
//!
//! [`Pool`] is a cheap, cloneable handle; [`PooledBuf`] and [`SharedBuf`]
//! are `Send + Sync + 'static` and borrow nothing.
//!
//! - Each thread keeps a small cache per tier and pool (by default at most
//!   1 MiB per tier: 64 × 4 KiB, 16 × 64 KiB, 1 × 1 MiB); a get or a drop
//!   touches only that cache: no lock, no shared atomic.
//! - Caches exchange buffers in batches with a bounded depot per tier
//!   (by default at most 8 MiB per tier). Beyond both, returns are freed.
//! - A buffer goes back to the cache of the thread that drops it. A thread
//!   that exits gives its cache to the depots. When the last `Pool` handle
//!   drops, the depots are freed, buffers still out are freed when dropped,
//!   and other threads' caches for the pool are freed as those threads exit
//!   (or reuse the pool's slot for a new pool).
//! - Idle buffers decay back to the allocator when demand falls, about once
//!   a second per thread, without a background thread
//!   ([`PoolBuilder::idle_decay_period`]; [`Pool::trim_idle`],
//!   [`Pool::trim`] on demand);
//!   [`PoolBuilder::max_cached_bytes`] and
//!   [`PoolBuilder::max_in_use_bytes`] cap what the pool holds and hands
//!   out.
//!
//! The [`implementation`] module describes the design in more detail;
//! [`operations`] is the guide to running a pool in production: what to
//! watch, what each counter means, how to size the limits.
//!
//! # Metrics
//!
//! [`Pool::stats`] returns a [`PoolStats`] snapshot of every counter,
//! which prints as a table. With the `metrics` feature,
//! `Pool::publish_metrics` hands the same snapshot to the
//! [`metrics`](https://docs.rs/metrics) facade, so that the Prometheus
//! exporter (`metrics-exporter-prometheus`) or an OpenTelemetry bridge
//! exports it; with `serde`, the snapshot itself serialises. Name each
//! pool you publish ([`PoolBuilder::name`]): the name is the `pool` label.
//!
//! | metric | labels | what it counts |
//! |---|---|---|
//! | `tierpool_buffers_rented_total` | `pool`, `tier` | buffers handed out |
//! | `tierpool_buffers_returned_total` | `pool`, `tier` | buffers whose last holder let go |
//! | `tierpool_buffers_allocated_total` | `pool`, `tier` | blocks allocated: gets no idle buffer could serve |
//! | `tierpool_buffers_dropped_total` | `pool`, `tier`, `reason` | returns freed instead of kept: `full` (cache and depot full) or `max_cached_bytes` |
//! | `tierpool_buffers_trimmed_total` | `pool`, `tier` | idle buffers freed by trims and idle collection |
//! | `tierpool_requests_exhausted_total` | `pool` | `try_get`s refused over `max_in_use_bytes` |
//! | `tierpool_buffers_over_budget_total` | `pool` | `get`s served over `max_in_use_bytes` |
//! | `tierpool_in_use_bytes` (gauge) | `pool`, `tier` | capacity handed out now |
//! | `tierpool_cached_bytes` (gauge) | `pool`, `tier` | idle capacity kept now |
//! | `tierpool_max_in_use_bytes`, `tierpool_max_cached_bytes` (gauges) | `pool` | the byte limits, when set |
//!
//! `tier` is a tier's capacity in bytes (`"4096"`), or `"oversize"` for
//! plain allocations above the largest tier. The documentation of
//! `Pool::publish_metrics` maps each metric to the snapshot's fields.
//! Publishing takes one snapshot: the get/drop path is the same with or
//! without the feature, and counters move only when you publish, say
//! every 10 seconds:
//!
//! ```no_run
//! # #[cfg(feature = "metrics")]
//! # async fn run() {
//! let pool = tierpool::Pool::builder().name("ingest").build().unwrap();
//! let publisher = pool.clone();
//! tokio::spawn(async move {
//!     let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
//!     loop {
//!         every.tick().await;
//!         publisher.publish_metrics();
//!     }
//! });
//! # }
//! ```
//!
//! The `prometheus` example exports two pools with the standard
//! `metrics-exporter-prometheus` and prints the text a scrape reads:
//! `cargo run --example prometheus --features metrics`.
//!
//! # Features and MSRV
//!
//! | feature | what it adds | dependencies |
//! |---|---|---|
//! | `tokio` | `tierpool::io`: frames from an `AsyncRead` into chains, vectored frame writes | `tokio` (`io-util` only) |
//! | `serde` | `Serialize` for [`PoolStats`] and the types inside it | `serde` (`derive`, `alloc`) |
//! | `metrics` | `Pool::publish_metrics`: the counters and gauges through the `metrics` facade (see [Metrics](#metrics)) | `metrics` |
//!
//! Without features the crate depends on `bytes`, `crossbeam-utils` and
//! `parking_lot` only. The minimum supported Rust version is 1.84 for the
//! default features; raising it is a minor-version change. The `tokio`
//! and `tokio-uring` features need what tokio needs (1.85 for tokio 1.54).
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
pub use crate::stats::{BudgetStats, OversizeStats, PoolStats, TierStats};

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
