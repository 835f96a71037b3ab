//! A zero-copy, tiered buffer pool for programs that move a lot of bytes.
//!
//! [`Pool::get`] hands out a [`PooledBuf`] from the smallest tier that fits
//! (4 KiB, 64 KiB and 1 MiB by default). Dropping it returns the storage to
//! the pool, on any thread. Each thread keeps a small cache per tier in
//! front of a bounded global depot, so the common get and drop touch no lock
//! and no shared atomic.
//!
//! ```
//! use std::io::Write;
//!
//! let pool = tierpool::Pool::new();
//! let mut buf = pool.get(1500); // from the 4 KiB tier
//! write!(buf, "GET / HTTP/1.1\r\n\r\n")?;
//! assert_eq!(buf.capacity(), 4096);
//! drop(buf); // back to this thread's cache
//!
//! let again = pool.get(100);
//! assert!(again.is_empty()); // never shows what the last holder wrote
//! assert_eq!(pool.stats().tiers[0].hits, 1);
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod advisor;
mod budget;
mod buf;
mod bytes_interop;
mod config;
mod depot;
mod error;
mod pool;
mod stats;
mod storage;
mod sync;
mod thread_cache;
mod tracker;
mod views;

#[cfg(all(test, loom))]
mod loom_tests;

pub use crate::advisor::{SizeHistogram, TierAdvice, TierReport};
pub use crate::buf::PooledBuf;
pub use crate::config::{PoolBuilder, TierConfig, DEFAULT_TIERS};
pub use crate::error::{ConfigError, PoolError};
pub use crate::pool::Pool;
pub use crate::stats::{OversizeStats, PoolStats, TierStats};
pub use crate::tracker::OutstandingBuf;
pub use crate::views::SharedBuf;

/// The process-wide pool with the default tiers, created on first use.
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
    GLOBAL.get_or_init(Pool::new)
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
