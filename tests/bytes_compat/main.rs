//! A port of the tests of `bytes` 1.12.2 to [`PooledBuf`] and
//! [`SharedBuf`], so the two types stay faithful to what users of `BytesMut`
//! and `Bytes` expect.
//!
//! Each module ports one test file of `bytes` (its `tests/` directory, MIT
//! licensed, Copyright (c) 2018 Carl Lerche), test by test and under the
//! same names: `test_bytes` (`Bytes` and `BytesMut`), `test_buf` (the
//! generic `Buf` tests, run for both types), `test_buf_mut` (the `BytesMut`
//! tests among the `BufMut` ones), `test_debug` and `test_iter`. Values are
//! built through a pool ([`pool`]): `BytesMut::with_capacity(n)` becomes
//! `pool().get(n)`, `BytesMut::from(slice)` and `BytesMut::new()` become
//! [`mut_from`] and [`new_mut`], and every `Bytes` constructor (`from`,
//! `copy_from_slice`, `from_static`) becomes [`bytes_from`].
//!
//! Assertions are kept as they are, or adapted only where the documentation
//! states a difference, each adaptation marked `Adapted:` with the reason.
//! The differences are:
//!
//! - capacity is a tier's: a buffer's capacity is that of the smallest tier
//!   that holds the request, and growth moves to the smallest tier that
//!   holds `len + additional` (`PooledBuf::reserve`), where `BytesMut`
//!   allocates exactly or doubles; the tiers of [`pool`] include the sizes
//!   these tests ask for, so most capacities still come out equal;
//! - a block has one mutable buffer, so what `PooledBuf` splits off is a
//!   frozen `SharedBuf` (`split_to`, `split`, `split_off`), which cannot be
//!   written, `split_off` takes at most `len()` (a view holds written
//!   bytes only) and keeps the capacity when nothing is split off, and
//!   `unsplit` takes a `SharedBuf`;
//! - `Debug` shows the length, capacity and tier besides the bytes, and at
//!   most 32 of them (escaped as `bytes` escapes them);
//! - conversions into `Vec<u8>` copy (pooled memory cannot become a `Vec`'s
//!   allocation), and there are no `Bytes` internals to test (static,
//!   `Vec`-backed or owner-backed storage): tests of those run on pooled
//!   values where the assertion still means something, and are left out
//!   otherwise, as listed in each module.

// The tests are kept as `bytes` wrote them, lints and all.
#![allow(
    clippy::bool_assert_comparison,
    clippy::iter_cloned_collect,
    clippy::manual_repeat_n,
    clippy::reversed_empty_ranges,
    clippy::sliced_string_as_bytes
)]

use std::sync::OnceLock;

use tierpool::{Pool, PooledBuf, SharedBuf};

mod test_buf;
mod test_buf_mut;
mod test_bytes;
mod test_debug;
mod test_iter;

/// Tier capacities of [`pool`]: the capacities these tests ask for, so that
/// `with_capacity(n)` has capacity `n` as it does with `BytesMut`.
pub const TIERS: [usize; 15] = [
    5,
    6,
    8,
    10,
    16,
    64,
    100,
    128,
    1000,
    1024,
    2000,
    4096,
    8192,
    64 << 10,
    128 << 10,
];

/// The pool every value of these tests comes from.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::builder().tiers(TIERS).build().expect("valid tiers"))
}

/// `BytesMut::with_capacity(n)`.
pub fn with_capacity(n: usize) -> PooledBuf {
    pool().get(n)
}

/// `BytesMut::new()`: an empty buffer of the smallest tier.
pub fn new_mut() -> PooledBuf {
    pool().get(0)
}

/// `BytesMut::from(bytes)`.
pub fn mut_from(bytes: &[u8]) -> PooledBuf {
    let mut buf = pool().get(bytes.len());
    buf.extend_from_slice(bytes);
    buf
}

/// `Bytes::from(bytes)`, `Bytes::copy_from_slice`, `Bytes::from_static`.
pub fn bytes_from(bytes: &[u8]) -> SharedBuf {
    mut_from(bytes).freeze()
}
