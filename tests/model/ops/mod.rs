//! The operation language shared by `tests/model/main.rs` (proptest),
//! `tests/model/regressions.rs` (fixed sequences) and
//! `fuzz/fuzz_targets/ops.rs` (cargo fuzz), and the reference model every operation is checked against.
//!
//! A [`Scenario`] is a pool configuration plus a list of [`Op`]s. [`run`]
//! builds the pool, starts a long-lived helper thread, applies the ops to the
//! real buffers and to a model in which every holder is a `Vec<u8>`, and
//! after every op checks:
//!
//! * contents and lengths of every holder (on either thread) match the model;
//! * every holder points where the model says (base of its storage plus its
//!   offset: no copies), `capacity()` and `tier()` are the predicted ones;
//! * no two live `PooledBuf`s have overlapping `[ptr, ptr + capacity)`, and no
//!   `PooledBuf`'s region overlaps bytes a `SharedBuf` or `Bytes` can read;
//! * `stats().tiers[i].in_use` equals the number of distinct live storages of
//!   tier `i` (the model tracks storage identity through every operation),
//!   and the oversize gauges match the live plain allocations;
//! * `cached` never exceeds the depot plus one thread cache per thread that
//!   has touched the pool, and right after `trim` only the helper's cache;
//! * a get is counted exactly once, in the routed tier;
//! * `same_block` and `is_unique` agree with the model; `try_into_mut`
//!   succeeds exactly when the model has one reference to the storage;
//!   views emptied by an operation hold no storage;
//! * growth takes the storage back, without a get, exactly when nothing
//!   else references it and the bytes fit (moving them to its front only
//!   when needed); `try_reclaim` answers as the model predicts;
//! * `Buf` on a buffer consumes from its front, without copying;
//! * `split_off` leaves the buffer a capacity of `at`, and `unsplit` joins
//!   without copying exactly when the view follows the buffer and the two
//!   are the storage's only references;
//! * `clone` and `From<SharedBuf>` (when shared) copy into a fresh storage
//!   of the tier that fits, counted as a get; every buffer and view
//!   compares equal (`PartialEq` both ways with `Vec<u8>` and `[u8]`) and
//!   iterates (`IntoIterator` for references) as its model bytes;
//! * chains (`PooledChain`, `SharedChain`): a chain holds one storage per
//!   segment, each block of the tier the model predicts (`Limits::chain_block`
//!   states the sizing rule once); a `PooledChain`'s length, segment count
//!   and spare capacity, and a `SharedChain`'s contents and every segment's
//!   address, length and tier match the model, so freezing, slicing,
//!   advancing, zero-copy `copy_to_bytes`/`into_bytes`/`into_segments` and
//!   `From<SharedBuf>` never copy, and consumed segments are released at once;
//! * with the opt-in behaviours on: `try_get` and
//!   `PooledChain::try_reserve_block` are refused with `Exhausted` exactly
//!   when `max_in_use_bytes` would be exceeded (and `stats().exhausted`
//!   counts the refusals), cached bytes stay within `max_cached_bytes`,
//!   `outstanding()` lists exactly the live storages (tier and capacity), and
//!   `size_histogram()` counts every get and every growth.
//!
//! Op parameters are raw small integers, interpreted against the current
//! state (an index is taken modulo the number of eligible holders; an op with
//! no eligible holder does nothing), so every byte string decodes to a valid
//! scenario and shrinking keeps scenarios meaningful.
//!
//! # Adding an op
//!
//! A new public operation gets a variant at the end of [`Op`], an opcode in
//! [`decode`] (the next byte after `CHAIN_OPCODES`, which then grows, and
//! an arm in `decode_chain_op`; `OPCODES` stays 32 so that every other
//! byte decodes as before), a strategy line in `op()` of `tests/model/main.rs`,
//! and an arm in the `Model::apply_*` function of its family, one module
//! each: `write` (`apply_write`), `view` (`apply_view`), `to_bytes`
//! (`apply_bytes`), `threads` (`apply_threads`), `pool` (`apply_pool`),
//! `chain` (`apply_chain`), `bytes_mut` (`apply_bytes_mut`, for what
//! `BytesMut` offers besides); gets go through `Model::get` in `model`, and
//! `Model::apply` there sends each op to its family. The arm makes the real
//! call and updates the model. `Model::check` (in `check`) runs after it
//! like after every op; extend the checks if the op makes something new
//! observable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::thread;

use bytes::{Buf, BufMut, Bytes};
use tierpool::{
    Backing, Pool, PoolError, PoolStats, PooledBuf, PooledChain, RegionConfig, SharedBuf,
    SharedChain, TierConfig,
};

/// Tier sets a scenario can use; small, so that growth and oversize are cheap.
pub const TIER_SETS: [&[usize]; 4] = [&[64, 256, 1024], &[16], &[100, 1000, 4096], &[1, 7, 64]];
/// Alignments a scenario can use.
pub const ALIGNMENTS: [usize; 3] = [1, 8, 64];
/// Per-tier thread cache and depot limits a scenario can use.
pub const LIMITS: [usize; 5] = [0, 1, 2, 3, 5];
/// Most holders alive at once; ops that would add one do nothing beyond it.
const MAX_HOLDERS: usize = 24;
/// Largest buffer a `Fill` may produce (it doubles oversize buffers).
const FILL_LIMIT: usize = if cfg!(miri) { 2048 } else { 1 << 16 };
/// Most bytes one `ChainWrite` writes.
const CHAIN_WRITE_LIMIT: usize = if cfg!(miri) { 100 } else { 3000 };

/// A pool configuration, as raw choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Config {
    /// Index into [`TIER_SETS`] (modulo).
    pub tier_set: u8,
    /// Index into [`ALIGNMENTS`] (modulo); bit 7 carves the tiers' blocks
    /// from regions (`Backing::Regions`, four of the largest block to a
    /// region) instead of the heap.
    pub alignment: u8,
    /// Per tier: indexes into [`LIMITS`] for the thread cache and the depot.
    pub limits: [(u8, u8); 3],
    /// Opt-in behaviours, one bit each: 0 `zero_on_return`, 1
    /// `track_outstanding`, 2 `record_sizes`, 3 `max_in_use_bytes` (bits 4-5
    /// pick 1, 2, 4 or 8 times the largest tier), 6 `max_cached_bytes`
    /// (bit 7 picks 1 or 3 times the largest tier).
    pub governance: u8,
}

/// A request size relative to the tiers: `class` picks a tier (modulo
/// `tiers + 1`; the extra class is "oversize"), `delta` moves around its
/// capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Which tier, or the oversize class.
    pub class: u8,
    /// Offset from the tier's capacity (from largest + 1 for oversize).
    pub delta: i8,
}

/// One operation. `h` selects a holder among the eligible ones (modulo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `pool.get(size)` on the main thread.
    Get(Size),
    /// `pool.try_get(size)` on the main thread.
    TryGet(Size),
    /// `pool.get(size)` on the helper thread, sent back to the main thread.
    HelperGet(Size),
    /// `extend_from_slice` of `len` bytes into a `PooledBuf`.
    Extend { h: u8, len: u16 },
    /// `Extend<u8>` with an iterator that hides its length: grows a byte at
    /// a time.
    ExtendIter { h: u8, len: u8 },
    /// Writes up to the capacity plus `over` bytes (growth when `over > 0`).
    Fill { h: u8, over: u8 },
    /// `resize(len, val)`.
    Resize { h: u8, len: u16, val: u8 },
    /// Overwrites one written byte through `DerefMut`.
    Poke { h: u8, pos: u16, val: u8 },
    /// `truncate` on a `PooledBuf` or a `SharedBuf`.
    Truncate { h: u8, len: u16 },
    /// `PooledBuf::clear`.
    Clear { h: u8 },
    /// `PooledBuf::freeze`.
    Freeze { h: u8 },
    /// `PooledBuf::split_to`.
    BufSplitTo { h: u8, at: u16 },
    /// `SharedBuf::clone`.
    Clone { h: u8 },
    /// `SharedBuf::slice` / `try_slice`, sometimes out of bounds.
    Slice { h: u8, start: u16, end: u16 },
    /// `SharedBuf::split_to`.
    ViewSplitTo { h: u8, at: u16 },
    /// `SharedBuf::split_off`.
    ViewSplitOff { h: u8, at: u16 },
    /// `Buf::advance` on a `SharedBuf`.
    Advance { h: u8, n: u16 },
    /// `Buf::copy_to_bytes` on a `SharedBuf`.
    CopyToBytes { h: u8, n: u16 },
    /// `SharedBuf::into_bytes`.
    IntoBytes { h: u8 },
    /// `Bytes::clone` of a `Bytes` made from a view.
    BytesClone { h: u8 },
    /// `Bytes::slice` of a `Bytes` made from a view, as a new holder.
    BytesSlice { h: u8, start: u16, end: u16 },
    /// `SharedBuf::try_into_mut`.
    TryIntoMut { h: u8 },
    /// Drops a holder on the main thread.
    Drop { h: u8 },
    /// `pool.trim()` on the main thread.
    Trim,
    /// Moves a holder to the helper thread.
    Send { h: u8 },
    /// Drops a holder the helper thread has.
    HelperDrop { h: u8 },
    /// Moves a holder from the helper thread back.
    HelperReturn { h: u8 },
    /// Drops a holder on a fresh thread, which then exits.
    DropOnNewThread { h: u8 },
    /// `pool.trim_idle()` on the main thread.
    TrimIdle,
    /// `rounds * 64` get-and-drop pairs of one size on the main thread
    /// (a few under Miri): enough to run the thread cache's periodic idle
    /// collection.
    Churn { size: Size, rounds: u8 },
    /// `PooledBuf::read_from` a reader holding `len` bytes.
    ReadFrom { h: u8, len: u16 },
    /// Drops both pool handles (helper's last when `helper_last`) while
    /// buffers are still out. Later gets and trims do nothing and stats are
    /// no longer checked; buffers keep working and growing.
    ClosePool { helper_last: bool },
    // The chain ops (opcodes from 32). `Drop`, `Send`, `HelperDrop`,
    // `HelperReturn` and `DropOnNewThread` take chains too.
    /// Writes `len` bytes (modulo [`CHAIN_WRITE_LIMIT`] + 1) into a
    /// `PooledChain` on the main thread, or into a new one from the pool
    /// (`h` picks among the chains and, while the pool is open, one more:
    /// a new chain). `how % 4` picks `put_slice`, `io::Write` in pieces,
    /// `chunk_mut` + `advance_mut` in steps, or `put_bytes`; `how / 4` sets
    /// the size of the pieces and steps.
    ChainWrite { h: u8, len: u16, how: u8 },
    /// `PooledChain::try_reserve_block(additional)`.
    ChainReserve { h: u8, additional: u16 },
    /// `PooledChain::freeze`.
    ChainFreeze { h: u8 },
    /// `SharedChain::clone`.
    ChainClone { h: u8 },
    /// `SharedChain::slice` (the range is taken within bounds).
    ChainSlice { h: u8, start: u16, end: u16 },
    /// `Buf::advance` on a `SharedChain`.
    ChainAdvance { h: u8, n: u16 },
    /// `Buf::copy_to_bytes` on a `SharedChain`.
    ChainCopyToBytes { h: u8, n: u16 },
    /// `SharedChain::into_bytes`.
    ChainIntoBytes { h: u8 },
    /// `SharedChain::into_segments`: each segment becomes a view holder.
    ChainIntoSegments { h: u8 },
    /// `SharedChain::from(SharedBuf)`.
    ChainFromView { h: u8 },
    // Opcodes from 42: what `BytesMut` and `Bytes` offer besides.
    /// `PooledBuf::try_reclaim(additional)`.
    TryReclaim { h: u8, additional: u16 },
    /// `Buf::advance` on a `PooledBuf`.
    BufAdvance { h: u8, n: u16 },
    /// `Buf::copy_to_bytes` on a `PooledBuf`.
    BufCopyToBytes { h: u8, n: u16 },
    /// `PooledBuf::split_off` (`at` modulo the length plus one).
    BufSplitOff { h: u8, at: u16 },
    /// `PooledBuf::split`.
    BufSplit { h: u8 },
    /// `PooledBuf::unsplit` of view `v` (on the main thread) into buffer
    /// `h`.
    Unsplit { h: u8, v: u8 },
    /// `PooledBuf::extend_from_within` (the range taken within bounds).
    ExtendFromWithin { h: u8, start: u16, end: u16 },
    /// `PooledBuf::clone`.
    BufClone { h: u8 },
    /// `PooledBuf::from(SharedBuf)`.
    IntoMut { h: u8 },
    /// `SharedBuf::slice_ref` of a subslice (taken within bounds).
    SliceRef { h: u8, start: u16, end: u16 },
    /// `Vec::from` a `PooledBuf` or a `SharedBuf`.
    IntoVec { h: u8 },
    /// `fmt::Write` of `len` ASCII bytes into a `PooledBuf`.
    FmtWrite { h: u8, len: u16 },
    /// `Extend<SharedBuf>` of buffer `h` with a clone of view `v`.
    ExtendViews { h: u8, v: u8 },
    /// `Pool::map_regions` for the tier of `size`, up to `count % 4`
    /// regions (pools with regions only).
    MapRegions { size: Size, count: u8 },
}

/// A pool configuration and the ops to run on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scenario {
    /// The pool.
    pub config: Config,
    /// What to do with it.
    pub ops: Vec<Op>,
}

/// Opcodes of the language before chains: every opcode byte outside
/// [`CHAIN_OPCODES`] decodes modulo this, as in every earlier corpus.
pub const OPCODES: u8 = 32;
/// Opcode bytes appended after the others: the chain ops (32 to 41), then
/// the ops added after them (from 42: `TryReclaim` onwards). (Before they
/// existed these bytes decoded modulo [`OPCODES`].)
pub const CHAIN_OPCODES: std::ops::Range<u8> = 32..56;

// One module per op family, each with its `Model::apply_*` (the module docs
// say which ops); the model, the holders, the helper thread and the checks
// in modules of their own.
mod bytes_mut;
mod chain;
mod check;
mod decode;
mod helper;
mod holders;
mod model;
mod pool;
mod threads;
mod to_bytes;
mod view;
mod write;

pub use decode::decode;
pub use model::run;

use helper::*;
use holders::*;
use model::*;
