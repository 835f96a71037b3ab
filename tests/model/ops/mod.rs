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
//! and an arm in the `Model::apply_*` function of its family
//! (`apply_write`, `apply_view`, `apply_bytes`, `apply_threads`,
//! `apply_pool`, `apply_chain`, `apply_bytes_mut` for what `BytesMut`
//! offers besides; gets go through `Model::get`) that makes the real call
//! and updates the model.
//! `Model::check` runs after it like after every op; extend the checks if
//! the op makes something new observable.

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

// ---------------------------------------------------------------------------
// Decoding raw bytes (the fuzzer's input) into a scenario.

/// Reads bytes, yielding zeros once the input is used up.
struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn size(&mut self) -> Size {
        Size {
            class: self.u8(),
            delta: self.u8() as i8,
        }
    }
}

/// Opcodes of the language before chains: every opcode byte outside
/// [`CHAIN_OPCODES`] decodes modulo this, as in every earlier corpus.
pub const OPCODES: u8 = 32;
/// Opcode bytes appended after the others: the chain ops (32 to 41), then
/// the ops added after them (from 42: `TryReclaim` onwards). (Before they
/// existed these bytes decoded modulo [`OPCODES`].)
pub const CHAIN_OPCODES: std::ops::Range<u8> = 32..56;

/// Decodes any byte string into a scenario: five bytes of configuration,
/// then one opcode byte per op followed by its parameters. An opcode byte
/// in [`CHAIN_OPCODES`] is a chain op; any other is taken modulo
/// [`OPCODES`].
pub fn decode(data: &[u8]) -> Scenario {
    let mut r = Reader { data };
    let tier_set = r.u8();
    let alignment = r.u8();
    let a = r.u8();
    let b = r.u8();
    let governance = r.u8();
    let config = Config {
        tier_set,
        alignment,
        limits: [
            (a & 7, a >> 5),
            ((a >> 3) & 3, b & 7),
            ((b >> 3) & 7, b >> 6),
        ],
        governance,
    };
    let mut ops = Vec::new();
    while !r.data.is_empty() && ops.len() < 256 {
        let code = r.u8();
        if CHAIN_OPCODES.contains(&code) {
            ops.push(decode_chain_op(code - CHAIN_OPCODES.start, &mut r));
            continue;
        }
        let op = match code % OPCODES {
            0 => Op::Get(r.size()),
            1 => Op::TryGet(r.size()),
            2 => Op::HelperGet(r.size()),
            3 => Op::Extend {
                h: r.u8(),
                len: r.u16() % 1024,
            },
            4 => Op::ExtendIter {
                h: r.u8(),
                len: r.u8(),
            },
            5 => Op::Fill {
                h: r.u8(),
                over: r.u8(),
            },
            6 => Op::Resize {
                h: r.u8(),
                len: r.u16() % 2048,
                val: r.u8(),
            },
            7 => Op::Poke {
                h: r.u8(),
                pos: r.u16(),
                val: r.u8(),
            },
            8 => Op::Truncate {
                h: r.u8(),
                len: r.u16(),
            },
            9 => Op::Clear { h: r.u8() },
            10 => Op::Freeze { h: r.u8() },
            11 => Op::BufSplitTo {
                h: r.u8(),
                at: r.u16(),
            },
            12 => Op::Clone { h: r.u8() },
            13 => Op::Slice {
                h: r.u8(),
                start: r.u16(),
                end: r.u16(),
            },
            14 => Op::ViewSplitTo {
                h: r.u8(),
                at: r.u16(),
            },
            15 => Op::ViewSplitOff {
                h: r.u8(),
                at: r.u16(),
            },
            16 => Op::Advance {
                h: r.u8(),
                n: r.u16(),
            },
            17 => Op::CopyToBytes {
                h: r.u8(),
                n: r.u16(),
            },
            18 => Op::IntoBytes { h: r.u8() },
            19 => Op::BytesClone { h: r.u8() },
            20 => Op::BytesSlice {
                h: r.u8(),
                start: r.u16(),
                end: r.u16(),
            },
            21 => Op::TryIntoMut { h: r.u8() },
            22 => Op::Drop { h: r.u8() },
            23 => Op::Trim,
            24 => Op::Send { h: r.u8() },
            25 => Op::HelperDrop { h: r.u8() },
            26 => Op::HelperReturn { h: r.u8() },
            27 => Op::DropOnNewThread { h: r.u8() },
            28 => Op::TrimIdle,
            29 => Op::Churn {
                size: r.size(),
                rounds: r.u8(),
            },
            30 => Op::ReadFrom {
                h: r.u8(),
                len: r.u16() % 2048,
            },
            _ => Op::ClosePool {
                helper_last: r.u8() & 1 == 1,
            },
        };
        ops.push(op);
    }
    Scenario { config, ops }
}

/// The op of opcode `CHAIN_OPCODES.start + index`: a chain op, or one
/// added after them.
fn decode_chain_op(index: u8, r: &mut Reader<'_>) -> Op {
    match index {
        0 => Op::ChainWrite {
            h: r.u8(),
            len: r.u16(),
            how: r.u8(),
        },
        1 => Op::ChainReserve {
            h: r.u8(),
            additional: r.u16(),
        },
        2 => Op::ChainFreeze { h: r.u8() },
        3 => Op::ChainClone { h: r.u8() },
        4 => Op::ChainSlice {
            h: r.u8(),
            start: r.u16(),
            end: r.u16(),
        },
        5 => Op::ChainAdvance {
            h: r.u8(),
            n: r.u16(),
        },
        6 => Op::ChainCopyToBytes {
            h: r.u8(),
            n: r.u16(),
        },
        7 => Op::ChainIntoBytes { h: r.u8() },
        8 => Op::ChainIntoSegments { h: r.u8() },
        9 => Op::ChainFromView { h: r.u8() },
        10 => Op::TryReclaim {
            h: r.u8(),
            additional: r.u16(),
        },
        11 => Op::BufAdvance {
            h: r.u8(),
            n: r.u16(),
        },
        12 => Op::BufCopyToBytes {
            h: r.u8(),
            n: r.u16(),
        },
        13 => Op::BufSplitOff {
            h: r.u8(),
            at: r.u16(),
        },
        14 => Op::BufSplit { h: r.u8() },
        15 => Op::Unsplit {
            h: r.u8(),
            v: r.u8(),
        },
        16 => Op::ExtendFromWithin {
            h: r.u8(),
            start: r.u16(),
            end: r.u16(),
        },
        17 => Op::BufClone { h: r.u8() },
        18 => Op::IntoMut { h: r.u8() },
        19 => Op::SliceRef {
            h: r.u8(),
            start: r.u16(),
            end: r.u16(),
        },
        20 => Op::IntoVec { h: r.u8() },
        21 => Op::FmtWrite {
            h: r.u8(),
            len: r.u16() % 1024,
        },
        22 => Op::ExtendViews {
            h: r.u8(),
            v: r.u8(),
        },
        _ => Op::MapRegions {
            size: r.size(),
            count: r.u8(),
        },
    }
}

// ---------------------------------------------------------------------------
// The real holders and what can be observed of them.

/// A real object that keeps (part of) a storage alive.
#[derive(Debug)]
enum Real {
    Buf(PooledBuf),
    View(SharedBuf),
    Bytes(Bytes),
    Chain(PooledChain),
    Frozen(SharedChain),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Buf,
    View,
    Bytes,
    /// A `PooledChain`.
    Chain,
    /// A `SharedChain`.
    Frozen,
}

/// Every kind of holder.
const ALL_KINDS: [Kind; 5] = [
    Kind::Buf,
    Kind::View,
    Kind::Bytes,
    Kind::Chain,
    Kind::Frozen,
];

impl Real {
    fn kind(&self) -> Kind {
        match self {
            Real::Buf(_) => Kind::Buf,
            Real::View(_) => Kind::View,
            Real::Bytes(_) => Kind::Bytes,
            Real::Chain(_) => Kind::Chain,
            Real::Frozen(_) => Kind::Frozen,
        }
    }
}

/// What the checks look at, taken on whichever thread holds the object.
#[derive(Debug)]
struct Seen {
    kind: Kind,
    addr: usize,
    /// `capacity()` for a buffer, `len()` otherwise.
    cap: usize,
    contents: Vec<u8>,
    /// `tier()` for buffers and views.
    tier: Option<Option<usize>>,
    /// For chains.
    chain: Option<ChainSeen>,
}

/// What can be observed of a chain. A `PooledChain` shows no bytes, so
/// its contents and segments are empty here (checked once it is frozen).
#[derive(Debug)]
struct ChainSeen {
    len: usize,
    segment_count: usize,
    spare: usize,
    /// A `SharedChain`'s segments: address, length, `tier()`.
    segments: Vec<(usize, usize, Option<usize>)>,
}

fn observe(real: &Real) -> Seen {
    match real {
        Real::Buf(b) => Seen {
            kind: Kind::Buf,
            addr: b.as_ptr() as usize,
            cap: b.capacity(),
            contents: b.to_vec(),
            tier: Some(b.tier()),
            chain: None,
        },
        Real::View(v) => Seen {
            kind: Kind::View,
            addr: v.as_ptr() as usize,
            cap: v.len(),
            contents: v.to_vec(),
            tier: Some(v.tier()),
            chain: None,
        },
        Real::Bytes(b) => Seen {
            kind: Kind::Bytes,
            addr: b.as_ptr() as usize,
            cap: b.len(),
            contents: b.to_vec(),
            tier: None,
            chain: None,
        },
        Real::Chain(c) => Seen {
            kind: Kind::Chain,
            addr: 0,
            cap: c.spare_capacity(),
            contents: Vec::new(),
            tier: None,
            chain: Some(ChainSeen {
                len: c.len(),
                segment_count: c.segment_count(),
                spare: c.spare_capacity(),
                segments: Vec::new(),
            }),
        },
        Real::Frozen(c) => Seen {
            kind: Kind::Frozen,
            addr: c.chunk().as_ptr() as usize,
            cap: c.len(),
            contents: c.to_vec(),
            tier: None,
            chain: Some(ChainSeen {
                len: c.len(),
                segment_count: c.segment_count(),
                spare: 0,
                segments: c
                    .segments()
                    .map(|s| (s.as_ptr() as usize, s.len(), s.tier()))
                    .collect(),
            }),
        },
    }
}

// ---------------------------------------------------------------------------
// The helper thread.

enum Cmd {
    Keep(u64, Real),
    Drop(u64),
    Return(u64),
    Get(usize),
    Snapshot,
    ClosePool,
    Exit,
}

enum Reply {
    Done,
    Real(Real),
    Got(PooledBuf),
    Snapshot(Vec<(u64, Seen)>),
}

struct Helper {
    commands: mpsc::Sender<Cmd>,
    replies: mpsc::Receiver<Reply>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Helper {
    fn start(pool: Pool) -> Self {
        let (commands, rx) = mpsc::channel::<Cmd>();
        let (tx, replies) = mpsc::channel::<Reply>();
        let thread = thread::spawn(move || {
            let mut pool = Some(pool);
            let mut held: BTreeMap<u64, Real> = BTreeMap::new();
            for cmd in rx {
                let reply = match cmd {
                    Cmd::Keep(id, real) => {
                        held.insert(id, real);
                        Reply::Done
                    }
                    Cmd::Drop(id) => {
                        drop(held.remove(&id).expect("the helper holds it"));
                        Reply::Done
                    }
                    Cmd::Return(id) => Reply::Real(held.remove(&id).expect("the helper holds it")),
                    Cmd::Get(size) => Reply::Got(pool.as_ref().expect("pool is open").get(size)),
                    Cmd::Snapshot => {
                        Reply::Snapshot(held.iter().map(|(&id, r)| (id, observe(r))).collect())
                    }
                    Cmd::ClosePool => {
                        pool = None;
                        Reply::Done
                    }
                    Cmd::Exit => break,
                };
                if tx.send(reply).is_err() {
                    break;
                }
            }
            // Everything still held is dropped here, on this thread, before
            // its thread cache is torn down.
            drop(held);
            drop(pool);
        });
        Helper {
            commands,
            replies,
            thread: Some(thread),
        }
    }

    fn call(&self, cmd: Cmd) -> Reply {
        self.commands.send(cmd).expect("helper thread is alive");
        self.replies.recv().expect("helper thread replied")
    }

    fn exit(&mut self) {
        let _ = self.commands.send(Cmd::Exit);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("helper thread did not panic");
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // On a failed check, do not hang or double-panic: just let it go.
        let _ = self.commands.send(Cmd::Exit);
    }
}

// ---------------------------------------------------------------------------
// The model.

/// A storage the model knows about.
#[derive(Debug, Clone, Copy)]
struct StorageModel {
    /// Tier index, or `None` for an oversize allocation.
    tier: Option<usize>,
    cap: usize,
    /// Address of the first byte, learned when the storage was handed out.
    base: usize,
}

/// A holder as the model sees it.
#[derive(Debug, Clone)]
struct Holder {
    kind: Kind,
    /// `None` for an empty `Bytes`, for a view left empty by an operation
    /// or returned empty by one (which hold no storage; a view frozen from
    /// an empty buffer does), and for chains (see `segments`).
    storage: Option<u64>,
    /// Offset of the first byte from the storage's base.
    offset: usize,
    data: Vec<u8>,
    /// Capacity from `offset` to the end of the storage (buffers only).
    cap: usize,
    /// `Bytes` clones share one reference to the storage: one group each.
    group: u64,
    at_helper: bool,
    /// Chains only (whose `storage` is `None`): one reference per segment,
    /// in order. A `PooledChain`'s last segment is the block being written
    /// (possibly still empty), and its `cap` is that block's capacity.
    segments: Vec<Segment>,
}

/// A segment of a chain: `len` bytes from `offset` in `storage`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    storage: u64,
    offset: usize,
    len: usize,
}

struct Limits {
    tiers: Vec<usize>,
    thread_cache: Vec<usize>,
    depot: Vec<usize>,
    alignment: usize,
    zero_on_return: bool,
    /// Blocks from regions of this size.
    regions: Option<usize>,
    track_outstanding: bool,
    record_sizes: bool,
    max_in_use_bytes: Option<usize>,
    max_cached_bytes: Option<usize>,
    /// The tier chains are made of (the pool's default).
    segment: usize,
}

impl Limits {
    fn of(config: &Config) -> Self {
        let tiers = TIER_SETS[usize::from(config.tier_set) % TIER_SETS.len()].to_vec();
        let pick = |i: u8| LIMITS[usize::from(i) % LIMITS.len()];
        let g = config.governance;
        let largest = *tiers.last().expect("at least one tier");
        let alignment = ALIGNMENTS[usize::from(config.alignment) % ALIGNMENTS.len()];
        Limits {
            regions: (config.alignment & 0x80 != 0)
                .then(|| 4 * largest.next_multiple_of(alignment)),
            thread_cache: (0..tiers.len()).map(|t| pick(config.limits[t].0)).collect(),
            depot: (0..tiers.len()).map(|t| pick(config.limits[t].1)).collect(),
            alignment,
            zero_on_return: g & 1 != 0,
            track_outstanding: g & 2 != 0,
            record_sizes: g & 4 != 0,
            max_in_use_bytes: (g & 8 != 0).then(|| largest << ((g >> 4) & 3)),
            max_cached_bytes: (g & 64 != 0).then(|| largest * (1 + 2 * usize::from(g >> 7))),
            // The default segment tier: the largest of at most 64 KiB.
            segment: tiers.iter().rposition(|&t| t <= 64 << 10).unwrap_or(0),
            tiers,
        }
    }

    fn build(&self) -> Pool {
        let mut builder = Pool::builder()
            .alignment(self.alignment)
            .zero_on_return(self.zero_on_return)
            .track_outstanding(self.track_outstanding)
            .record_sizes(self.record_sizes);
        if let Some(bytes) = self.max_in_use_bytes {
            builder = builder.max_in_use_bytes(bytes);
        }
        if let Some(bytes) = self.max_cached_bytes {
            builder = builder.max_cached_bytes(bytes);
        }
        if let Some(size) = self.regions {
            builder = builder.backing(Backing::Regions(RegionConfig::new().size(size)));
        }
        for t in 0..self.tiers.len() {
            builder = builder.tier(
                TierConfig::new(self.tiers[t])
                    .thread_cache_buffers(self.thread_cache[t])
                    .depot_buffers(self.depot[t]),
            );
        }
        builder
            .build()
            .expect("the model's configurations are valid")
    }

    fn largest(&self) -> usize {
        *self.tiers.last().expect("at least one tier")
    }

    fn route(&self, n: usize) -> Option<usize> {
        self.tiers.iter().position(|&t| n <= t)
    }

    fn size(&self, s: Size) -> usize {
        let class = usize::from(s.class) % (self.tiers.len() + 1);
        let delta = isize::from(s.delta);
        if class == self.tiers.len() {
            self.largest() + 1 + delta.unsigned_abs()
        } else {
            self.tiers[class].saturating_add_signed(delta)
        }
    }

    /// The tier of the block a chain takes when `remaining` more bytes are
    /// expected (`PooledChain::reserve_block`, which `put_slice` follows):
    /// the largest tier, from the segment tier up, that they fill
    /// completely; below one segment, the smallest tier that holds them.
    /// (`chunk_mut` with no room left takes a whole segment.)
    fn chain_block(&self, remaining: usize) -> usize {
        if remaining < self.tiers[self.segment] {
            return self
                .route(remaining.max(1))
                .expect("below the segment tier");
        }
        (self.segment..self.tiers.len())
            .take_while(|&t| self.tiers[t] <= remaining)
            .last()
            .expect("the segment tier")
    }

    /// Tier and capacity of a fresh get of `n` bytes.
    fn get_shape(&self, n: usize) -> (Option<usize>, usize) {
        match self.route(n) {
            Some(t) => (Some(t), self.tiers[t]),
            None => (None, n),
        }
    }
}

struct Model {
    limits: Limits,
    pool: Option<Pool>,
    helper: Helper,
    real: BTreeMap<u64, Real>,
    holders: BTreeMap<u64, Holder>,
    storages: BTreeMap<u64, StorageModel>,
    next_id: u64,
    next_byte: u8,
    /// Whether the last op was a trim (tightens the `cached` bound).
    trimmed: bool,
    /// Requests `size_histogram` must have seen: failed `try_get`s may or
    /// may not be recorded, so a range.
    requests: (u64, u64),
    /// `try_get`s refused by `max_in_use_bytes`.
    exhausted: u64,
}

/// Runs a scenario, panicking with a description at the first mismatch.
pub fn run(scenario: &Scenario) {
    let limits = Limits::of(&scenario.config);
    let pool = limits.build();
    let helper = Helper::start(pool.clone());
    let mut model = Model {
        limits,
        pool: Some(pool),
        helper,
        real: BTreeMap::new(),
        holders: BTreeMap::new(),
        storages: BTreeMap::new(),
        next_id: 0,
        next_byte: 0,
        trimmed: false,
        requests: (0, 0),
        exhausted: 0,
    };
    let trace = !cfg!(miri) && std::env::var_os("TIERPOOL_MODEL_TRACE").is_some();
    model.check("start");
    for (i, op) in scenario.ops.iter().enumerate() {
        model.trimmed = false;
        model.apply(*op);
        if trace {
            model.trace(i, op);
        }
        model.check(&format!("after op {i}: {op:?}"));
    }
    model.finish();
}

impl Model {
    /// Prints the holders after op `i` (set `TIERPOOL_MODEL_TRACE=1`).
    fn trace(&self, i: usize, op: &Op) {
        eprintln!("op {i}: {op:?}");
        for (id, h) in &self.holders {
            let storage = h.storage.map(|sid| self.storages[&sid]);
            eprintln!(
                "    #{id} {:?}{} len {} cap {} offset {} storage {:?} {:?}",
                h.kind,
                if h.at_helper { " (helper)" } else { "" },
                h.data.len(),
                h.cap,
                h.offset,
                h.storage,
                storage.map(|s| (s.tier, s.cap)),
            );
            for seg in &h.segments {
                let s = self.storages[&seg.storage];
                eprintln!(
                    "        segment of storage {} ({:?}, cap {}): offset {} len {}",
                    seg.storage, s.tier, s.cap, seg.offset, seg.len
                );
            }
        }
        if let Some(stats) = self.stats() {
            let gauges: Vec<(u64, u64)> =
                stats.tiers.iter().map(|t| (t.in_use, t.cached)).collect();
            eprintln!("    (in_use, cached) per tier: {gauges:?}");
        }
    }

    /// Records `sure` requests that `size_histogram` must count and `maybe`
    /// that it may count.
    fn count_requests(&mut self, sure: u64, maybe: u64) {
        self.requests.0 += sure;
        self.requests.1 += sure + maybe;
    }

    /// Capacity of every live storage, tiers and oversize: what
    /// `max_in_use_bytes` counts.
    fn in_use_bytes(&self) -> usize {
        self.live_sids()
            .iter()
            .map(|sid| self.storages[sid].cap)
            .sum()
    }

    /// Every storage a holder keeps alive, chain segments included.
    fn live_sids(&self) -> BTreeSet<u64> {
        let mut sids: BTreeSet<u64> = self.holders.values().filter_map(|h| h.storage).collect();
        for h in self.holders.values() {
            sids.extend(h.segments.iter().map(|s| s.storage));
        }
        sids
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn pattern(&mut self, len: usize) -> Vec<u8> {
        let salt = self.next_byte;
        self.next_byte = self.next_byte.wrapping_add(37);
        (0..len)
            .map(|i| salt.wrapping_add((i as u8).wrapping_mul(13)) ^ (i >> 8) as u8)
            .collect()
    }

    /// Ids of holders at `at_helper` whose kind is in `kinds`.
    fn eligible(&self, kinds: &[Kind], at_helper: bool) -> Vec<u64> {
        self.holders
            .iter()
            .filter(|(_, h)| h.at_helper == at_helper && kinds.contains(&h.kind))
            .map(|(&id, _)| id)
            .collect()
    }

    fn pick(&self, h: u8, kinds: &[Kind], at_helper: bool) -> Option<u64> {
        let ids = self.eligible(kinds, at_helper);
        if ids.is_empty() {
            None
        } else {
            Some(ids[usize::from(h) % ids.len()])
        }
    }

    fn room(&self) -> bool {
        self.holders.len() < MAX_HOLDERS
    }

    fn stats(&self) -> Option<PoolStats> {
        self.pool.as_ref().map(Pool::stats)
    }

    /// Gets counted so far in `tier` (`None`: allocations beyond the tiers).
    fn handed_out(stats: &PoolStats, tier: Option<usize>) -> u64 {
        match tier {
            Some(t) => stats.tiers[t].hits + stats.tiers[t].misses,
            None => stats.oversize.allocations,
        }
    }

    /// Checks that between `before` and now exactly the gets in `expected`
    /// were counted (one entry per get: its tier, `None` beyond the tiers).
    fn check_counted(&self, before: Option<PoolStats>, expected: &[Option<usize>], what: &str) {
        let (Some(before), Some(after)) = (before, self.stats()) else {
            return;
        };
        for tier in (0..self.limits.tiers.len()).map(Some).chain([None]) {
            let want = expected.iter().filter(|&&g| g == tier).count() as u64;
            let got = Self::handed_out(&after, tier) - Self::handed_out(&before, tier);
            assert_eq!(got, want, "{what}: gets counted in tier {tier:?}");
        }
    }

    /// Records a fresh buffer: checks its shape and learns its base address.
    fn adopt_buf(&mut self, buf: PooledBuf, tier: Option<usize>, cap: usize, what: &str) {
        assert!(
            buf.is_empty(),
            "{what}: a fresh buffer has length {}",
            buf.len()
        );
        assert_eq!(buf.capacity(), cap, "{what}: capacity");
        assert_eq!(
            buf.tier(),
            tier.map(|t| self.limits.tiers[t]),
            "{what}: tier()"
        );
        let base = buf.as_ptr() as usize;
        assert_eq!(base % self.limits.alignment, 0, "{what}: alignment");
        let sid = self.fresh_id();
        self.storages.insert(sid, StorageModel { tier, cap, base });
        let id = self.fresh_id();
        self.holders.insert(
            id,
            Holder {
                kind: Kind::Buf,
                storage: Some(sid),
                offset: 0,
                data: Vec::new(),
                cap,
                group: 0,
                at_helper: false,
                segments: Vec::new(),
            },
        );
        self.real.insert(id, Real::Buf(buf));
    }

    fn take_real(&mut self, id: u64) -> Real {
        self.real.remove(&id).expect("main thread holds it")
    }

    fn buf_mut(&mut self, id: u64) -> &mut PooledBuf {
        match self.real.get_mut(&id) {
            Some(Real::Buf(b)) => b,
            _ => panic!("holder {id} is not a PooledBuf on the main thread"),
        }
    }

    fn view_mut(&mut self, id: u64) -> &mut SharedBuf {
        match self.real.get_mut(&id) {
            Some(Real::View(v)) => v,
            _ => panic!("holder {id} is not a SharedBuf on the main thread"),
        }
    }

    fn bytes_ref(&self, id: u64) -> &Bytes {
        match self.real.get(&id) {
            Some(Real::Bytes(b)) => b,
            _ => panic!("holder {id} is not a Bytes on the main thread"),
        }
    }

    /// Adds a holder on the main thread that shares `template`'s storage
    /// (and `Bytes` group); returns its id.
    fn add_derived(
        &mut self,
        template: &Holder,
        kind: Kind,
        offset: usize,
        data: Vec<u8>,
        real: Real,
    ) -> u64 {
        let mut holder = template.clone();
        holder.kind = kind;
        holder.offset = offset;
        holder.data = data;
        holder.cap = 0;
        holder.at_helper = false;
        let id = self.fresh_id();
        self.holders.insert(id, holder);
        self.real.insert(id, real);
        id
    }

    /// Adds a `Bytes` made from a view modelled by `template`.
    fn add_bytes(&mut self, template: &Holder, offset: usize, data: Vec<u8>, bytes: Bytes) {
        let empty = data.is_empty();
        let group = self.fresh_id();
        let id = self.add_derived(template, Kind::Bytes, offset, data, Real::Bytes(bytes));
        let holder = self.holders.get_mut(&id).expect("just added");
        holder.group = group;
        if empty {
            // An empty view becomes `Bytes::new()` and lets go of its storage.
            holder.storage = None;
        }
    }

    /// References to storage `sid`: buffers, views, and `Bytes` groups.
    fn refs(&self, sid: u64) -> usize {
        let mut groups = BTreeSet::new();
        let mut refs = 0;
        for h in self.holders.values().filter(|h| h.storage == Some(sid)) {
            match h.kind {
                Kind::Bytes => {
                    groups.insert(h.group);
                }
                _ => refs += 1,
            }
        }
        // A chain holds one reference per segment, and no two of its
        // segments share a storage.
        refs += self
            .holders
            .values()
            .filter(|h| h.segments.iter().any(|s| s.storage == sid))
            .count();
        refs + groups.len()
    }

    /// Models the growth a write of `additional` bytes causes, if any, and
    /// returns the tier that hands out the new storage.
    fn grow_model(&mut self, id: u64, additional: usize) -> Option<Option<usize>> {
        let h = &self.holders[&id];
        let (needed, old_cap) = (h.data.len() + additional, h.cap);
        if needed <= old_cap {
            return None;
        }
        if self.reclaim_model(id, additional) {
            return None;
        }
        let (tier, cap) = match self.limits.route(needed) {
            Some(t) => (Some(t), self.limits.tiers[t]),
            None => (None, (old_cap * 2).max(needed)),
        };
        let sid = self.fresh_id();
        // The base is learned after the real operation (`relearn_base`).
        self.storages
            .insert(sid, StorageModel { tier, cap, base: 0 });
        let h = self.holders.get_mut(&id).expect("holder exists");
        h.storage = Some(sid);
        h.offset = 0;
        h.cap = cap;
        Some(tier)
    }

    /// Models `try_reclaim(additional)` on buffer `id` (its spare capacity
    /// short of `additional`): when nothing else holds the storage and the
    /// bytes fit in it, the buffer takes the whole storage back, moving its
    /// bytes to the front only if they do not fit where they are.
    fn reclaim_model(&mut self, id: u64, additional: usize) -> bool {
        let h = &self.holders[&id];
        let needed = h.data.len() + additional;
        let sid = h.storage.expect("buffers hold storage");
        let storage_cap = self.storages[&sid].cap;
        if needed > storage_cap || self.refs(sid) != 1 {
            return false;
        }
        let h = self.holders.get_mut(&id).expect("holder exists");
        if h.offset + needed > storage_cap {
            h.offset = 0;
        }
        h.cap = storage_cap - h.offset;
        true
    }

    /// After a growth, records where the new storage is.
    fn relearn_base(&mut self, id: u64) {
        let addr = self.buf_mut(id).as_ptr() as usize;
        let sid = self.holders[&id].storage.expect("buffers hold storage");
        let storage = self.storages.get_mut(&sid).expect("storage exists");
        assert_eq!(addr % self.limits.alignment, 0, "grown buffer alignment");
        storage.base = addr;
    }

    /// Writes `bytes` into buffer `id` the way `extend_from_slice` does,
    /// checking that growth is counted in the right tier.
    fn write(&mut self, id: u64, bytes: &[u8], how: Write) {
        let before = self.stats();
        let mut grown = Vec::new();
        match how {
            Write::Slice | Write::Within(..) | Write::Fmt | Write::View(_) => {
                grown.extend(self.grow_model(id, bytes.len()));
                match how {
                    Write::Slice => self.buf_mut(id).extend_from_slice(bytes),
                    Write::Within(start, end) => self.buf_mut(id).extend_from_within(start..end),
                    Write::Fmt => {
                        let text = std::str::from_utf8(bytes).expect("ASCII");
                        std::fmt::Write::write_str(self.buf_mut(id), text)
                            .expect("fmt::Write grows like any write");
                    }
                    Write::View(v) => {
                        let copy = self.view_mut(v).clone();
                        self.buf_mut(id).extend([copy]);
                    }
                    Write::ByteAtATime => unreachable!(),
                }
                let data = &mut self.holders.get_mut(&id).expect("holder").data;
                data.extend_from_slice(bytes);
            }
            Write::ByteAtATime => {
                for &byte in bytes {
                    grown.extend(self.grow_model(id, 1));
                    self.holders.get_mut(&id).expect("holder").data.push(byte);
                }
                // `filter` hides the length, so `Extend` reserves a byte at
                // a time.
                self.buf_mut(id)
                    .extend(bytes.iter().copied().filter(|_| true));
            }
        }
        if !grown.is_empty() {
            self.relearn_base(id);
        }
        self.count_requests(grown.len() as u64, 0);
        self.check_counted(before, &grown, "growth");
    }

    fn get(&mut self, size: Size, on_helper: bool, fallible: bool) {
        if self.pool.is_none() || !self.room() {
            return;
        }
        let n = self.limits.size(size);
        let (tier, cap) = self.limits.get_shape(n);
        let before = self.stats();
        let over_cap = self
            .limits
            .max_in_use_bytes
            .is_some_and(|limit| self.in_use_bytes() + cap > limit);
        let buf = if on_helper {
            match self.helper.call(Cmd::Get(n)) {
                Reply::Got(buf) => buf,
                _ => panic!("helper answered a get with something else"),
            }
        } else if fallible {
            let pool = self.pool.as_ref().expect("open");
            match (pool.try_get(n), tier) {
                (Ok(buf), Some(_)) if !over_cap => buf,
                (Err(err), None) => {
                    assert_eq!(
                        err,
                        PoolError::Oversize {
                            requested: n,
                            largest_tier: self.limits.largest()
                        }
                    );
                    self.count_requests(0, 1);
                    return;
                }
                (Err(err), Some(_)) if over_cap => {
                    let limit = self.limits.max_in_use_bytes.expect("a cap");
                    assert_eq!(
                        err,
                        PoolError::Exhausted {
                            requested: cap,
                            limit
                        }
                    );
                    self.exhausted += 1;
                    self.count_requests(0, 1);
                    return;
                }
                (got, _) => panic!(
                    "try_get({n}) gave {got:?} with {} bytes in use (cap {:?})",
                    self.in_use_bytes(),
                    self.limits.max_in_use_bytes
                ),
            }
        } else {
            self.pool.as_ref().expect("open").get(n)
        };
        self.count_requests(1, 0);
        self.check_counted(before, &[tier], &format!("get({n})"));
        self.adopt_buf(buf, tier, cap, &format!("get({n})"));
    }

    /// Applies one op to the real objects and to the model. Each family of
    /// ops has its own function; `Model::check` runs after every op.
    fn apply(&mut self, op: Op) {
        match op {
            Op::Get(size) => self.get(size, false, false),
            Op::TryGet(size) => self.get(size, false, true),
            Op::HelperGet(size) => self.get(size, true, false),
            Op::Extend { .. }
            | Op::ExtendIter { .. }
            | Op::Fill { .. }
            | Op::Resize { .. }
            | Op::Poke { .. }
            | Op::Truncate { .. }
            | Op::Clear { .. }
            | Op::ReadFrom { .. } => self.apply_write(op),
            Op::Freeze { .. }
            | Op::BufSplitTo { .. }
            | Op::Clone { .. }
            | Op::Slice { .. }
            | Op::ViewSplitTo { .. }
            | Op::ViewSplitOff { .. }
            | Op::Advance { .. }
            | Op::TryIntoMut { .. } => self.apply_view(op),
            Op::CopyToBytes { .. }
            | Op::IntoBytes { .. }
            | Op::BytesClone { .. }
            | Op::BytesSlice { .. } => self.apply_bytes(op),
            Op::Drop { .. }
            | Op::Send { .. }
            | Op::HelperDrop { .. }
            | Op::HelperReturn { .. }
            | Op::DropOnNewThread { .. } => self.apply_threads(op),
            Op::Trim
            | Op::TrimIdle
            | Op::Churn { .. }
            | Op::ClosePool { .. }
            | Op::MapRegions { .. } => self.apply_pool(op),
            Op::ChainWrite { .. }
            | Op::ChainReserve { .. }
            | Op::ChainFreeze { .. }
            | Op::ChainClone { .. }
            | Op::ChainSlice { .. }
            | Op::ChainAdvance { .. }
            | Op::ChainCopyToBytes { .. }
            | Op::ChainIntoBytes { .. }
            | Op::ChainIntoSegments { .. }
            | Op::ChainFromView { .. } => self.apply_chain(op),
            Op::TryReclaim { .. }
            | Op::BufAdvance { .. }
            | Op::BufCopyToBytes { .. }
            | Op::BufSplitOff { .. }
            | Op::BufSplit { .. }
            | Op::Unsplit { .. }
            | Op::ExtendFromWithin { .. }
            | Op::BufClone { .. }
            | Op::IntoMut { .. }
            | Op::SliceRef { .. }
            | Op::IntoVec { .. }
            | Op::FmtWrite { .. }
            | Op::ExtendViews { .. } => self.apply_bytes_mut(op),
        }
    }

    /// Writes into a `PooledBuf` (growth included), and shortening it.
    fn apply_write(&mut self, op: Op) {
        use Kind::{Buf as B, View as V};
        match op {
            Op::Extend { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let bytes = self.pattern(usize::from(len));
                    self.write(id, &bytes, Write::Slice);
                }
            }
            Op::ExtendIter { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let bytes = self.pattern(usize::from(len));
                    self.write(id, &bytes, Write::ByteAtATime);
                }
            }
            Op::Fill { h, over } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let holder = &self.holders[&id];
                    let n = holder.cap - holder.data.len() + usize::from(over);
                    if holder.data.len() + n <= FILL_LIMIT {
                        let bytes = self.pattern(n);
                        self.write(id, &bytes, Write::Slice);
                    }
                }
            }
            Op::Resize { h, len, val } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    self.resize(id, usize::from(len), val);
                }
            }
            Op::Poke { h, pos, val } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let len = self.holders[&id].data.len();
                    if len > 0 {
                        let pos = usize::from(pos) % len;
                        self.buf_mut(id)[pos] = val;
                        self.holders.get_mut(&id).expect("holder").data[pos] = val;
                    }
                }
            }
            Op::Truncate { h, len } => {
                if let Some(id) = self.pick(h, &[B, V], false) {
                    let len = usize::from(len) % (self.holders[&id].data.len() + 2);
                    match self.real.get_mut(&id) {
                        Some(Real::Buf(b)) => b.truncate(len),
                        Some(Real::View(v)) => v.truncate(len),
                        _ => unreachable!(),
                    }
                    let holder = self.holders.get_mut(&id).expect("holder");
                    holder.data.truncate(len);
                    if holder.kind == V && len == 0 {
                        // `truncate(0)` lets go of the view's storage.
                        holder.storage = None;
                    }
                }
            }
            Op::Clear { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    self.buf_mut(id).clear();
                    self.holders.get_mut(&id).expect("holder").data.clear();
                }
            }
            Op::ReadFrom { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    self.read_from(id, usize::from(len));
                }
            }
            _ => unreachable!("{op:?} is not a write"),
        }
    }

    /// `resize(new_len, val)` on buffer `id`.
    fn resize(&mut self, id: u64, new_len: usize, val: u8) {
        let old_len = self.holders[&id].data.len();
        if new_len <= old_len {
            self.buf_mut(id).resize(new_len, val);
            self.holders
                .get_mut(&id)
                .expect("holder")
                .data
                .truncate(new_len);
        } else {
            // Same growth rule as a write of the difference.
            let before = self.stats();
            let grown = self.grow_model(id, new_len - old_len);
            self.buf_mut(id).resize(new_len, val);
            self.holders
                .get_mut(&id)
                .expect("holder")
                .data
                .resize(new_len, val);
            if grown.is_some() {
                self.relearn_base(id);
            }
            let grown: Vec<_> = grown.into_iter().collect();
            self.count_requests(grown.len() as u64, 0);
            self.check_counted(before, &grown, "resize");
        }
    }

    /// `read_from` a reader holding `len` bytes into buffer `id`.
    fn read_from(&mut self, id: u64, len: usize) {
        let input = self.pattern(len);
        let holder = &self.holders[&id];
        let (old_len, cap) = (holder.data.len(), holder.cap);
        let before = self.stats();
        let grown = if old_len == cap {
            self.grow_model(id, cap.max(64))
        } else {
            None
        };
        let room = self.holders[&id].cap - old_len;
        let expected = room.min(input.len());
        let got = self
            .buf_mut(id)
            .read_from(&mut &input[..])
            .expect("reading from a slice cannot fail");
        assert_eq!(got, expected, "read_from into {room} spare bytes");
        self.holders
            .get_mut(&id)
            .expect("holder")
            .data
            .extend_from_slice(&input[..got]);
        if grown.is_some() {
            self.relearn_base(id);
        }
        let grown: Vec<_> = grown.into_iter().collect();
        self.count_requests(grown.len() as u64, 0);
        self.check_counted(before, &grown, "read_from");
    }

    /// Freezing a buffer into a `SharedBuf`, and making views of views.
    fn apply_view(&mut self, op: Op) {
        use Kind::{Buf as B, View as V};
        match op {
            Op::Freeze { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let Real::Buf(buf) = self.take_real(id) else {
                        unreachable!()
                    };
                    let ptr = buf.as_ptr();
                    let view = buf.freeze();
                    assert_eq!(view.as_ptr(), ptr, "freeze does not copy");
                    self.real.insert(id, Real::View(view));
                    let holder = self.holders.get_mut(&id).expect("holder");
                    holder.kind = V;
                    holder.cap = 0;
                }
            }
            Op::BufSplitTo { h, at } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if !self.room() {
                        return;
                    }
                    let holder = self.holders[&id].clone();
                    let at = usize::from(at) % (holder.data.len() + 1);
                    let view = self.buf_mut(id).split_to(at);
                    let head = holder.data[..at].to_vec();
                    let new = self.add_derived(&holder, V, holder.offset, head, Real::View(view));
                    self.let_go_if_empty(new);
                    let holder = self.holders.get_mut(&id).expect("holder");
                    holder.data.drain(..at);
                    holder.offset += at;
                    holder.cap -= at;
                }
            }
            Op::Clone { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        let copy = self.view_mut(id).clone();
                        let holder = self.holders[&id].clone();
                        let data = holder.data.clone();
                        self.add_derived(&holder, V, holder.offset, data, Real::View(copy));
                    }
                }
            }
            Op::Slice { h, start, end } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        self.slice_view(id, usize::from(start), usize::from(end));
                    }
                }
            }
            Op::ViewSplitTo { h, at } | Op::ViewSplitOff { h, at } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        let to = matches!(op, Op::ViewSplitTo { .. });
                        self.split_view(id, usize::from(at), to);
                    }
                }
            }
            Op::Advance { h, n } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    let n = usize::from(n) % (self.holders[&id].data.len() + 1);
                    self.view_mut(id).advance(n);
                    let me = self.holders.get_mut(&id).expect("holder");
                    me.data.drain(..n);
                    me.offset += n;
                    // Advanced to its end: lets go of its storage.
                    self.let_go_if_empty(id);
                }
            }
            Op::TryIntoMut { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    self.try_into_mut(id);
                }
            }
            _ => unreachable!("{op:?} is not a view op"),
        }
    }

    /// `slice` (for valid ranges, half the time) or `try_slice` of view
    /// `id`; `start` and `end` may be out of bounds.
    fn slice_view(&mut self, id: u64, start: usize, end: usize) {
        use Kind::View as V;
        let holder = self.holders[&id].clone();
        let len = holder.data.len();
        let (start, end) = (start % (len + 2), end % (len + 2));
        let valid = start <= end && end <= len;
        let view = self.view_mut(id);
        let got = if valid && (start + end) % 2 == 1 {
            Some(view.slice(start..end))
        } else {
            view.try_slice(start..end)
        };
        assert_eq!(
            got.is_some(),
            valid,
            "try_slice({start}..{end}) of {len} bytes"
        );
        if let Some(slice) = got {
            let data = holder.data[start..end].to_vec();
            let new = self.add_derived(&holder, V, holder.offset + start, data, Real::View(slice));
            self.let_go_if_empty(new);
        }
    }

    /// `SharedBuf::split_to` (`to`) or `split_off` of view `id`.
    fn split_view(&mut self, id: u64, at: usize, to: bool) {
        use Kind::View as V;
        let holder = self.holders[&id].clone();
        let at = at % (holder.data.len() + 1);
        let len = holder.data.len();
        let view = self.view_mut(id);
        // Splitting everything off moves the storage to the other part,
        // leaving this one empty, holding none; any other empty part
        // returned holds none either.
        if to {
            let head = view.split_to(at);
            let new = self.add_derived(
                &holder,
                V,
                holder.offset,
                holder.data[..at].to_vec(),
                Real::View(head),
            );
            let me = self.holders.get_mut(&id).expect("holder");
            me.data.drain(..at);
            me.offset += at;
            if at == len {
                me.storage = None;
            } else {
                self.let_go_if_empty(new);
            }
        } else {
            let tail = view.split_off(at);
            let new = self.add_derived(
                &holder,
                V,
                holder.offset + at,
                holder.data[at..].to_vec(),
                Real::View(tail),
            );
            let me = self.holders.get_mut(&id).expect("holder");
            me.data.truncate(at);
            if at == len {
                self.let_go_if_empty(new);
            } else if at == 0 {
                me.storage = None;
            }
        }
    }

    /// A view an operation returned empty holds no storage.
    fn let_go_if_empty(&mut self, id: u64) {
        let holder = self.holders.get_mut(&id).expect("holder");
        if holder.kind == Kind::View && holder.data.is_empty() {
            holder.storage = None;
        }
    }

    /// `try_into_mut` of view `id`: succeeds exactly when it is the only
    /// reference to its storage (an empty view holds none).
    fn try_into_mut(&mut self, id: u64) {
        let sid = self.holders[&id].storage;
        let unique = sid.is_some_and(|sid| self.refs(sid) == 1);
        let Real::View(view) = self.take_real(id) else {
            unreachable!()
        };
        match view.try_into_mut() {
            Ok(buf) => {
                assert!(unique, "try_into_mut succeeded on shared storage");
                self.real.insert(id, Real::Buf(buf));
                let cap = self.storages[&sid.expect("unique")].cap;
                let holder = self.holders.get_mut(&id).expect("holder");
                holder.kind = Kind::Buf;
                holder.cap = cap - holder.offset;
            }
            Err(view) => {
                assert!(!unique, "try_into_mut failed on unique storage");
                self.real.insert(id, Real::View(view));
            }
        }
    }

    /// Views becoming `Bytes`, and `Bytes` clones and slices.
    fn apply_bytes(&mut self, op: Op) {
        use Kind::{Bytes as Y, View as V};
        match op {
            Op::CopyToBytes { h, n } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if !self.room() {
                        return;
                    }
                    let holder = self.holders[&id].clone();
                    let at = usize::from(n) % (holder.data.len() + 1);
                    let bytes = self.view_mut(id).copy_to_bytes(at);
                    self.add_bytes(&holder, holder.offset, holder.data[..at].to_vec(), bytes);
                    let me = self.holders.get_mut(&id).expect("holder");
                    me.data.drain(..at);
                    me.offset += at;
                    // `split_to(at)`: everything split off leaves the view
                    // empty, holding no storage.
                    if at == holder.data.len() {
                        me.storage = None;
                    }
                }
            }
            Op::IntoBytes { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    let Real::View(view) = self.take_real(id) else {
                        unreachable!()
                    };
                    let holder = self.holders.remove(&id).expect("holder");
                    let ptr = view.as_ptr();
                    let bytes = view.into_bytes();
                    if !bytes.is_empty() {
                        assert_eq!(bytes.as_ptr(), ptr, "into_bytes does not copy");
                    }
                    self.add_bytes(&holder, holder.offset, holder.data.clone(), bytes);
                }
            }
            Op::BytesClone { h } => {
                if let Some(id) = self.pick(h, &[Y], false) {
                    if self.room() {
                        let copy = self.bytes_ref(id).clone();
                        let holder = self.holders[&id].clone();
                        let new = self.fresh_id();
                        self.holders.insert(new, holder);
                        self.real.insert(new, Real::Bytes(copy));
                    }
                }
            }
            Op::BytesSlice { h, start, end } => {
                if let Some(id) = self.pick(h, &[Y], false) {
                    if !self.room() {
                        return;
                    }
                    let mut holder = self.holders[&id].clone();
                    let len = holder.data.len();
                    let start = usize::from(start) % (len + 1);
                    let end = start + usize::from(end) % (len - start + 1);
                    let slice = self.bytes_ref(id).slice(start..end);
                    holder.data = holder.data[start..end].to_vec();
                    holder.offset += start;
                    if start == end {
                        // `Bytes::slice` returns an empty, static `Bytes`.
                        holder.storage = None;
                    }
                    let new = self.fresh_id();
                    self.holders.insert(new, holder);
                    self.real.insert(new, Real::Bytes(slice));
                }
            }
            _ => unreachable!("{op:?} is not a bytes op"),
        }
    }

    /// Drops, here or on another thread, and moving holders to the helper
    /// thread and back (holders of every kind: with no chain alive, these
    /// pick exactly as they did before chains existed).
    fn apply_threads(&mut self, op: Op) {
        match op {
            Op::Drop { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, false) {
                    drop(self.take_real(id));
                    self.holders.remove(&id);
                }
            }
            Op::Send { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, false) {
                    let real = self.take_real(id);
                    assert!(matches!(self.helper.call(Cmd::Keep(id, real)), Reply::Done));
                    self.holders.get_mut(&id).expect("holder").at_helper = true;
                }
            }
            Op::HelperDrop { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, true) {
                    assert!(matches!(self.helper.call(Cmd::Drop(id)), Reply::Done));
                    self.holders.remove(&id);
                }
            }
            Op::HelperReturn { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, true) {
                    let Reply::Real(real) = self.helper.call(Cmd::Return(id)) else {
                        panic!("helper answered a return with something else")
                    };
                    self.real.insert(id, real);
                    self.holders.get_mut(&id).expect("holder").at_helper = false;
                }
            }
            Op::DropOnNewThread { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, false) {
                    let real = self.take_real(id);
                    thread::spawn(move || drop(real))
                        .join()
                        .expect("dropping on another thread does not panic");
                    self.holders.remove(&id);
                }
            }
            _ => unreachable!("{op:?} is not a drop or a move between threads"),
        }
    }

    /// Pool-wide ops: trims, bursts of get/drop pairs, closing the pool.
    fn apply_pool(&mut self, op: Op) {
        match op {
            Op::Trim => {
                if let Some(pool) = &self.pool {
                    pool.trim();
                    self.trimmed = true;
                }
            }
            Op::TrimIdle => {
                if let Some(pool) = &self.pool {
                    pool.trim_idle();
                }
            }
            Op::Churn { size, rounds } => self.churn(size, rounds),
            Op::MapRegions { size, count } => self.map_regions(size, count),
            Op::ClosePool { helper_last } => {
                if let Some(pool) = self.pool.take() {
                    if helper_last {
                        drop(pool);
                        assert!(matches!(self.helper.call(Cmd::ClosePool), Reply::Done));
                    } else {
                        assert!(matches!(self.helper.call(Cmd::ClosePool), Reply::Done));
                        drop(pool);
                    }
                }
            }
            _ => unreachable!("{op:?} is not a pool-wide op"),
        }
    }

    /// Regions mapped up front: the tier has `count % 4` of them (or as
    /// many as before, if more), and the stats do not move.
    fn map_regions(&mut self, size: Size, count: u8) {
        let (Some(pool), Some(_)) = (&self.pool, self.limits.regions) else {
            return;
        };
        let n = self.limits.size(size);
        let (Some(tier), capacity) = self.limits.get_shape(n) else {
            return; // oversize: no tier to map for
        };
        let count = usize::from(count % 4);
        let of_tier = |pool: &Pool| {
            let report = pool.backing_report();
            let regions = report
                .regions
                .iter()
                .filter(|r| r.tier_capacity == capacity);
            regions.count()
        };
        let before_stats = self.stats();
        let before = of_tier(pool);
        let mapped = pool.map_regions(n, count).expect("mapping a small region");
        let after = of_tier(pool);
        assert_eq!(after, before.max(count), "map_regions in tier {tier}");
        assert_eq!(mapped, after - before);
        self.check_counted(before_stats, &[], "map_regions");
    }

    /// `rounds * 64` get-and-drop pairs of one size (a few under Miri).
    fn churn(&mut self, size: Size, rounds: u8) {
        let Some(pool) = &self.pool else { return };
        let n = self.limits.size(size);
        let (tier, cap) = self.limits.get_shape(n);
        let count = if cfg!(miri) {
            usize::from(rounds % 4)
        } else {
            usize::from(rounds) * 64
        };
        let before = self.stats();
        for _ in 0..count {
            let mut buf = pool.get(n);
            assert!(buf.is_empty(), "churn: a recycled buffer is empty");
            // Within the capacity: no growth.
            buf.extend_from_slice(&[0xC5; 8][..cap.min(8)]);
        }
        self.count_requests(count as u64, 0);
        self.check_counted(before, &vec![tier; count], "churn");
    }

    /// Chains: writing a `PooledChain` (taking blocks as bytes come),
    /// freezing it, and the `SharedChain`'s clones, slices, advancing and
    /// conversions.
    fn apply_chain(&mut self, op: Op) {
        use Kind::{Chain as C, Frozen as F, View as V};
        match op {
            Op::ChainWrite { h, len, how } => self.chain_write(h, usize::from(len), how),
            Op::ChainReserve { h, additional } => {
                if let Some(id) = self.pick(h, &[C], false) {
                    self.chain_reserve(id, usize::from(additional));
                }
            }
            Op::ChainFreeze { h } => {
                if let Some(id) = self.pick(h, &[C], false) {
                    self.chain_freeze(id);
                }
            }
            Op::ChainClone { h } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    if self.room() {
                        let copy = self.frozen_mut(id).clone();
                        let holder = self.holders[&id].clone();
                        let new = self.fresh_id();
                        self.holders.insert(new, holder);
                        self.real.insert(new, Real::Frozen(copy));
                    }
                }
            }
            Op::ChainSlice { h, start, end } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    if self.room() {
                        self.chain_slice(id, usize::from(start), usize::from(end));
                    }
                }
            }
            Op::ChainAdvance { h, n } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    let n = usize::from(n) % (self.holders[&id].data.len() + 1);
                    self.frozen_mut(id).advance(n);
                    self.chain_model_advance(id, n);
                }
            }
            Op::ChainCopyToBytes { h, n } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    if self.room() {
                        self.chain_copy_to_bytes(id, usize::from(n));
                    }
                }
            }
            Op::ChainIntoBytes { h } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    let Real::Frozen(chain) = self.take_real(id) else {
                        unreachable!()
                    };
                    let holder = self.holders.remove(&id).expect("holder");
                    let bytes = chain.into_bytes();
                    // One segment becomes `Bytes` without a copy; several are
                    // copied into a new allocation.
                    match holder.segments.as_slice() {
                        [only] => self.add_chain_bytes(Some(*only), holder.data, bytes),
                        _ => self.add_chain_bytes(None, holder.data, bytes),
                    }
                }
            }
            Op::ChainIntoSegments { h } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    self.chain_into_segments(id);
                }
            }
            Op::ChainFromView { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    let Real::View(view) = self.take_real(id) else {
                        unreachable!()
                    };
                    let chain = SharedChain::from(view);
                    let holder = self.holders.get_mut(&id).expect("holder");
                    let sid = holder.storage.take();
                    if let Some(sid) = sid.filter(|_| !holder.data.is_empty()) {
                        holder.segments = vec![Segment {
                            storage: sid,
                            offset: holder.offset,
                            len: holder.data.len(),
                        }];
                    }
                    holder.kind = F;
                    holder.offset = 0;
                    holder.cap = 0;
                    self.real.insert(id, Real::Frozen(chain));
                }
            }
            _ => unreachable!("{op:?} is not a chain op"),
        }
    }

    /// What `BytesMut` and `Bytes` offer besides: `split_off`, `split`,
    /// `Buf` on a buffer, `try_reclaim`, `unsplit`, `extend_from_within`,
    /// `clone`, `From<SharedBuf>`, `slice_ref`, `Vec::from`, `fmt::Write`
    /// and `Extend<SharedBuf>`.
    fn apply_bytes_mut(&mut self, op: Op) {
        use Kind::{Buf as B, View as V};
        match op {
            Op::BufSplitOff { h, at } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        self.buf_split_off(id, usize::from(at));
                    }
                }
            }
            Op::BufSplit { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        self.buf_split(id);
                    }
                }
            }
            Op::BufAdvance { h, n } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let n = usize::from(n) % (self.holders[&id].data.len() + 1);
                    Buf::advance(self.buf_mut(id), n);
                    let me = self.holders.get_mut(&id).expect("holder");
                    me.data.drain(..n);
                    me.offset += n;
                    me.cap -= n;
                }
            }
            Op::BufCopyToBytes { h, n } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        let holder = self.holders[&id].clone();
                        let n = usize::from(n) % (holder.data.len() + 1);
                        let bytes = self.buf_mut(id).copy_to_bytes(n);
                        if n > 0 {
                            assert_eq!(
                                bytes.as_ptr() as usize,
                                self.storages[&holder.storage.expect("buffer")].base
                                    + holder.offset,
                                "copy_to_bytes does not copy"
                            );
                        }
                        self.add_bytes(&holder, holder.offset, holder.data[..n].to_vec(), bytes);
                        let me = self.holders.get_mut(&id).expect("holder");
                        me.data.drain(..n);
                        me.offset += n;
                        me.cap -= n;
                    }
                }
            }
            Op::TryReclaim { h, additional } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let additional = usize::from(additional);
                    let holder = &self.holders[&id];
                    let expected = holder.cap - holder.data.len() >= additional
                        || self.reclaim_model(id, additional);
                    let got = self.buf_mut(id).try_reclaim(additional);
                    assert_eq!(got, expected, "try_reclaim({additional})");
                }
            }
            Op::Unsplit { h, v } => {
                if let (Some(id), Some(vid)) =
                    (self.pick(h, &[B], false), self.pick(v, &[V], false))
                {
                    self.unsplit(id, vid);
                }
            }
            Op::ExtendFromWithin { h, start, end } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let data = &self.holders[&id].data;
                    let len = data.len();
                    let start = usize::from(start) % (len + 1);
                    let end = start + usize::from(end) % (len - start + 1);
                    let bytes = data[start..end].to_vec();
                    self.write(id, &bytes, Write::Within(start, end));
                }
            }
            Op::BufClone { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        let data = self.holders[&id].data.clone();
                        let before = self.stats();
                        let copy = self.buf_mut(id).clone();
                        self.adopt_copy(copy, data, before, "clone");
                    }
                }
            }
            Op::IntoMut { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    self.buf_from_view(id);
                }
            }
            Op::SliceRef { h, start, end } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        let holder = self.holders[&id].clone();
                        let len = holder.data.len();
                        let start = usize::from(start) % (len + 1);
                        let end = start + usize::from(end) % (len - start + 1);
                        let view = self.view_mut(id);
                        let sub = view.slice_ref(&view[start..end]);
                        let data = holder.data[start..end].to_vec();
                        let new = self.add_derived(
                            &holder,
                            V,
                            holder.offset + start,
                            data,
                            Real::View(sub),
                        );
                        self.let_go_if_empty(new);
                    }
                }
            }
            Op::IntoVec { h } => {
                if let Some(id) = self.pick(h, &[B, V], false) {
                    let vec: Vec<u8> = match self.take_real(id) {
                        Real::Buf(b) => b.into(),
                        Real::View(v) => v.into(),
                        _ => unreachable!(),
                    };
                    let holder = self.holders.remove(&id).expect("holder");
                    assert!(vec == holder.data, "Vec::from gives the bytes");
                }
            }
            Op::FmtWrite { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let text: Vec<u8> = self
                        .pattern(usize::from(len))
                        .iter()
                        .map(|b| b' ' + b % 95)
                        .collect();
                    self.write(id, &text, Write::Fmt);
                }
            }
            Op::ExtendViews { h, v } => {
                if let (Some(id), Some(vid)) =
                    (self.pick(h, &[B], false), self.pick(v, &[V], false))
                {
                    let bytes = self.holders[&vid].data.clone();
                    self.write(id, &bytes, Write::View(vid));
                }
            }
            _ => unreachable!("{op:?} is not a BytesMut op"),
        }
    }

    /// `PooledBuf::split_off` of buffer `id`: the tail becomes a view and
    /// the buffer's capacity ends where it begins (nothing split off: an
    /// empty view holding no storage, the capacity kept).
    fn buf_split_off(&mut self, id: u64, at: usize) {
        let holder = self.holders[&id].clone();
        let len = holder.data.len();
        let at = at % (len + 1);
        let tail = self.buf_mut(id).split_off(at);
        let new = self.add_derived(
            &holder,
            Kind::View,
            holder.offset + at,
            holder.data[at..].to_vec(),
            Real::View(tail),
        );
        if at == len {
            self.let_go_if_empty(new);
        } else {
            let me = self.holders.get_mut(&id).expect("holder");
            me.data.truncate(at);
            me.cap = at;
        }
    }

    /// `PooledBuf::split` of buffer `id`: `split_to(len)`.
    fn buf_split(&mut self, id: u64) {
        let holder = self.holders[&id].clone();
        let len = holder.data.len();
        let view = self.buf_mut(id).split();
        let new = self.add_derived(
            &holder,
            Kind::View,
            holder.offset,
            holder.data.clone(),
            Real::View(view),
        );
        self.let_go_if_empty(new);
        let me = self.holders.get_mut(&id).expect("holder");
        me.data.clear();
        me.offset += len;
        me.cap -= len;
    }

    /// `unsplit` of view `vid` into buffer `id`: joined without a copy when
    /// the view follows the buffer's bytes and the two are the storage's
    /// only references; an empty buffer takes a view nobody shares; else
    /// the bytes are copied (growing as a write would, the view alive).
    fn unsplit(&mut self, id: u64, vid: u64) {
        let (buf, view) = (self.holders[&id].clone(), self.holders[&vid].clone());
        let bytes = view.data.clone();
        let Real::View(real_view) = self.take_real(vid) else {
            unreachable!()
        };
        let sid = buf.storage.expect("buffers hold storage");
        let follows = view.storage == Some(sid)
            && view.offset == buf.offset + buf.data.len()
            && self.refs(sid) == 2;
        let takes =
            !follows && buf.data.is_empty() && view.storage.is_some_and(|vs| self.refs(vs) == 1);
        let before = self.stats();
        let grown = if bytes.is_empty() || follows || takes {
            None
        } else {
            // Copied, with the view still alive (`refs` counts it).
            self.grow_model(id, bytes.len())
        };
        self.buf_mut(id).unsplit(real_view);
        self.holders.remove(&vid);
        if bytes.is_empty() {
            return;
        }
        if takes {
            let vs = view.storage.expect("a storage");
            let cap = self.storages[&vs].cap - view.offset;
            let me = self.holders.get_mut(&id).expect("holder");
            me.storage = Some(vs);
            me.offset = view.offset;
            me.cap = cap;
            me.data = bytes;
            return;
        }
        let cap = self.storages[&sid].cap;
        let me = self.holders.get_mut(&id).expect("holder");
        me.data.extend_from_slice(&bytes);
        if follows {
            me.cap = cap - me.offset;
        }
        if grown.is_some() {
            self.relearn_base(id);
        }
        let grown: Vec<_> = grown.into_iter().collect();
        self.count_requests(grown.len() as u64, 0);
        self.check_counted(before, &grown, "unsplit");
    }

    /// `PooledBuf::from(SharedBuf)` of view `id`: the storage itself when
    /// nothing else references it, else a copy in a fresh storage from the
    /// pool (an empty view holding no storage becomes a buffer of the
    /// global pool, which the model does not follow: it is dropped).
    fn buf_from_view(&mut self, id: u64) {
        let holder = self.holders[&id].clone();
        let unique = holder.storage.is_some_and(|sid| self.refs(sid) == 1);
        let Real::View(view) = self.take_real(id) else {
            unreachable!()
        };
        let ptr = view.as_ptr();
        let before = self.stats();
        let buf = PooledBuf::from(view);
        if unique {
            assert_eq!(buf.as_ptr(), ptr, "From<SharedBuf> of a unique view");
            self.real.insert(id, Real::Buf(buf));
            let cap = self.storages[&holder.storage.expect("unique")].cap;
            let me = self.holders.get_mut(&id).expect("holder");
            me.kind = Kind::Buf;
            me.cap = cap - me.offset;
            return;
        }
        self.holders.remove(&id);
        if holder.storage.is_none() {
            assert!(buf.is_empty());
            return;
        }
        self.adopt_copy(buf, holder.data, before, "From<SharedBuf>");
    }

    /// Records a buffer holding a copy of `data` in a fresh storage, got
    /// from the pool for `data.len()` bytes (one get, after `before`).
    fn adopt_copy(&mut self, buf: PooledBuf, data: Vec<u8>, before: Option<PoolStats>, what: &str) {
        let (tier, cap) = self.limits.get_shape(data.len());
        assert_eq!(buf.capacity(), cap, "{what}: capacity");
        assert_eq!(
            buf.tier(),
            tier.map(|t| self.limits.tiers[t]),
            "{what}: tier()"
        );
        assert!(buf[..] == data[..], "{what}: contents");
        let base = buf.as_ptr() as usize;
        assert_eq!(base % self.limits.alignment, 0, "{what}: alignment");
        self.count_requests(1, 0);
        self.check_counted(before, &[tier], what);
        let sid = self.fresh_id();
        self.storages.insert(sid, StorageModel { tier, cap, base });
        let id = self.fresh_id();
        self.holders.insert(
            id,
            Holder {
                kind: Kind::Buf,
                storage: Some(sid),
                offset: 0,
                data,
                cap,
                group: 0,
                at_helper: false,
                segments: Vec::new(),
            },
        );
        self.real.insert(id, Real::Buf(buf));
    }

    fn chain_mut(&mut self, id: u64) -> &mut PooledChain {
        match self.real.get_mut(&id) {
            Some(Real::Chain(c)) => c,
            _ => panic!("holder {id} is not a PooledChain on the main thread"),
        }
    }

    fn frozen_mut(&mut self, id: u64) -> &mut SharedChain {
        match self.real.get_mut(&id) {
            Some(Real::Frozen(c)) => c,
            _ => panic!("holder {id} is not a SharedChain on the main thread"),
        }
    }

    /// Room left in the block a `PooledChain` holder is writing.
    fn chain_spare(&self, h: &Holder) -> usize {
        h.segments
            .last()
            .map_or(0, |last| h.cap - last.offset - last.len)
    }

    /// Models chain `id` taking an empty block of `tier`.
    fn chain_take_block(&mut self, id: u64, tier: usize) {
        let cap = self.limits.tiers[tier];
        let sid = self.fresh_id();
        // The base is learned when the chain is frozen.
        self.storages.insert(
            sid,
            StorageModel {
                tier: Some(tier),
                cap,
                base: 0,
            },
        );
        let h = self.holders.get_mut(&id).expect("holder");
        h.segments.push(Segment {
            storage: sid,
            offset: 0,
            len: 0,
        });
        h.cap = cap;
    }

    /// Models one write call of `bytes` into chain `id`: a block is taken
    /// only when the last one is full, sized by what remains of the call
    /// (with `whole_segments`, a whole segment: what `chunk_mut` takes).
    /// Returns the tiers of the blocks taken.
    fn chain_model_write(
        &mut self,
        id: u64,
        bytes: &[u8],
        whole_segments: bool,
    ) -> Vec<Option<usize>> {
        let mut taken = Vec::new();
        let mut left = bytes.len();
        while left > 0 {
            let spare = self.chain_spare(&self.holders[&id]);
            if spare == 0 {
                let tier = if whole_segments {
                    self.limits.segment
                } else {
                    self.limits.chain_block(left)
                };
                self.chain_take_block(id, tier);
                taken.push(Some(tier));
                continue;
            }
            let k = left.min(spare);
            let h = self.holders.get_mut(&id).expect("holder");
            h.segments.last_mut().expect("a block with room").len += k;
            left -= k;
        }
        let h = self.holders.get_mut(&id).expect("holder");
        h.data.extend_from_slice(bytes);
        taken
    }

    /// `ChainWrite`: `len` bytes into a chain on the main thread, or into a
    /// new one (the slot past the chains).
    fn chain_write(&mut self, h: u8, len: usize, how: u8) {
        let chains = self.eligible(&[Kind::Chain], false);
        let can_start = self.pool.is_some() && self.room();
        let slots = chains.len() + usize::from(can_start);
        if slots == 0 {
            return;
        }
        let id = match chains.get(usize::from(h) % slots) {
            Some(&id) => id,
            None => {
                let chain = self.pool.as_ref().expect("open").chain();
                let segment = self.limits.tiers[self.limits.segment];
                assert_eq!(chain.segment_capacity(), segment, "segment_capacity()");
                assert_eq!((chain.len(), chain.segment_count()), (0, 0));
                let id = self.fresh_id();
                self.holders.insert(
                    id,
                    Holder {
                        kind: Kind::Chain,
                        storage: None,
                        offset: 0,
                        data: Vec::new(),
                        cap: 0,
                        group: 0,
                        at_helper: false,
                        segments: Vec::new(),
                    },
                );
                self.real.insert(id, Real::Chain(chain));
                id
            }
        };
        let len = len % (CHAIN_WRITE_LIMIT + 1);
        let step = 1 + 3 * usize::from(how >> 2);
        let bytes = self.pattern(len);
        let before = self.stats();
        let mut taken = Vec::new();
        match how % 4 {
            0 => {
                taken = self.chain_model_write(id, &bytes, false);
                self.chain_mut(id).put_slice(&bytes);
            }
            1 => {
                for piece in bytes.chunks(step) {
                    taken.extend(self.chain_model_write(id, piece, false));
                    std::io::Write::write_all(self.chain_mut(id), piece)
                        .expect("writing to a chain cannot fail");
                }
            }
            2 => {
                let mut written = 0;
                while written < len {
                    let spare = self.chain_spare(&self.holders[&id]);
                    let room = match spare {
                        0 => self.limits.tiers[self.limits.segment],
                        spare => spare,
                    };
                    let n = room.min(step).min(len - written);
                    let piece = &bytes[written..written + n];
                    taken.extend(self.chain_model_write(id, piece, true));
                    let chain = self.chain_mut(id);
                    let chunk = chain.chunk_mut();
                    assert_eq!(chunk.len(), room, "chunk_mut() is the spare capacity");
                    chunk[..n].copy_from_slice(piece);
                    // SAFETY: the first `n` bytes of the chunk were just written.
                    unsafe { chain.advance_mut(n) };
                    written += n;
                }
            }
            _ => {
                let val = bytes.first().copied().unwrap_or(0);
                taken = self.chain_model_write(id, &vec![val; len], true);
                self.chain_mut(id).put_bytes(val, len);
            }
        }
        self.count_requests(taken.len() as u64, 0);
        self.check_counted(before, &taken, "chain write");
    }

    /// `try_reserve_block(additional)` on chain `id`: takes a block only
    /// when the last one is full, and is refused with `Exhausted` exactly
    /// when that block would take the pool over `max_in_use_bytes`.
    fn chain_reserve(&mut self, id: u64, additional: usize) {
        let spare = self.chain_spare(&self.holders[&id]);
        let before = self.stats();
        let got = self.chain_mut(id).try_reserve_block(additional);
        if additional == 0 || spare > 0 {
            assert_eq!(
                got,
                Ok(()),
                "try_reserve_block({additional}), {spare} spare"
            );
            self.check_counted(before, &[], "try_reserve_block with room");
            return;
        }
        let tier = self.limits.chain_block(additional);
        let cap = self.limits.tiers[tier];
        let over_cap = self
            .limits
            .max_in_use_bytes
            .is_some_and(|limit| self.in_use_bytes() + cap > limit);
        match got {
            Ok(()) if !over_cap => {
                self.chain_take_block(id, tier);
                self.count_requests(1, 0);
                self.check_counted(before, &[Some(tier)], "try_reserve_block");
            }
            Err(err) if over_cap => {
                let limit = self.limits.max_in_use_bytes.expect("a cap");
                assert_eq!(
                    err,
                    PoolError::Exhausted {
                        requested: cap,
                        limit
                    }
                );
                self.exhausted += 1;
                self.count_requests(0, 1);
                self.check_counted(before, &[], "refused try_reserve_block");
            }
            got => panic!(
                "try_reserve_block({additional}) gave {got:?} with {} bytes in use (cap {:?})",
                self.in_use_bytes(),
                self.limits.max_in_use_bytes
            ),
        }
    }

    /// `freeze`: the written blocks become the segments (an unwritten last
    /// block goes back), and their addresses are learned.
    fn chain_freeze(&mut self, id: u64) {
        let Real::Chain(chain) = self.take_real(id) else {
            unreachable!()
        };
        let frozen = chain.freeze();
        let h = self.holders.get_mut(&id).expect("holder");
        if h.segments.last().is_some_and(|last| last.len == 0) {
            h.segments.pop();
        }
        h.kind = Kind::Frozen;
        h.cap = 0;
        let segments = h.segments.clone();
        assert_eq!(
            frozen.segment_count(),
            segments.len(),
            "freeze keeps the written blocks"
        );
        for (real, seg) in frozen.segments().zip(&segments) {
            let addr = real.as_ptr() as usize;
            assert_eq!(addr % self.limits.alignment, 0, "chain block alignment");
            let storage = self.storages.get_mut(&seg.storage).expect("storage");
            assert_eq!(storage.base, 0, "a chain block is learned once");
            storage.base = addr - seg.offset;
        }
        self.real.insert(id, Real::Frozen(frozen));
    }

    /// `slice` of chain `id`, with the range taken within bounds.
    fn chain_slice(&mut self, id: u64, start: usize, end: usize) {
        let mut holder = self.holders[&id].clone();
        let len = holder.data.len();
        let start = start % (len + 1);
        let end = start + end % (len - start + 1);
        let slice = self.frozen_mut(id).slice(start..end);
        let mut offset = 0;
        let mut segments = Vec::new();
        for seg in &holder.segments {
            let (from, to) = (offset, offset + seg.len);
            offset = to;
            let (lo, hi) = (start.max(from), end.min(to));
            if lo < hi {
                segments.push(Segment {
                    storage: seg.storage,
                    offset: seg.offset + lo - from,
                    len: hi - lo,
                });
            }
        }
        holder.segments = segments;
        holder.data = holder.data[start..end].to_vec();
        holder.at_helper = false;
        let new = self.fresh_id();
        self.holders.insert(new, holder);
        self.real.insert(new, Real::Frozen(slice));
    }

    /// Models `advance(n)` on chain `id`: consumed segments are dropped.
    fn chain_model_advance(&mut self, id: u64, n: usize) {
        let h = self.holders.get_mut(&id).expect("holder");
        h.data.drain(..n);
        let mut left = n;
        while left > 0 {
            let front = &mut h.segments[0];
            if left < front.len {
                front.offset += left;
                front.len -= left;
                break;
            }
            left -= front.len;
            h.segments.remove(0);
        }
    }

    /// `copy_to_bytes(n)` on chain `id`: without a copy when the bytes lie
    /// in the front segment.
    fn chain_copy_to_bytes(&mut self, id: u64, n: usize) {
        let holder = self.holders[&id].clone();
        let n = n % (holder.data.len() + 1);
        let bytes = self.frozen_mut(id).copy_to_bytes(n);
        let data = holder.data[..n].to_vec();
        let zero_copy = holder.segments.first().filter(|front| n <= front.len);
        let source = zero_copy.map(|front| Segment { len: n, ..*front });
        self.add_chain_bytes(source, data, bytes);
        self.chain_model_advance(id, n);
    }

    /// Adds a `Bytes` holder made from a chain: sharing `source`'s storage,
    /// or (`None`) a copy.
    fn add_chain_bytes(&mut self, source: Option<Segment>, data: Vec<u8>, bytes: Bytes) {
        assert_eq!(bytes.len(), data.len());
        // An empty `Bytes` holds no storage.
        let source = source.filter(|_| !data.is_empty());
        let group = self.fresh_id();
        let id = self.fresh_id();
        self.holders.insert(
            id,
            Holder {
                kind: Kind::Bytes,
                storage: source.map(|s| s.storage),
                offset: source.map_or(0, |s| s.offset),
                data,
                cap: 0,
                group,
                at_helper: false,
                segments: Vec::new(),
            },
        );
        self.real.insert(id, Real::Bytes(bytes));
    }

    /// `into_segments` of chain `id`: a view holder per segment, if they
    /// fit under [`MAX_HOLDERS`].
    fn chain_into_segments(&mut self, id: u64) {
        let count = self.holders[&id].segments.len();
        if self.holders.len() - 1 + count > MAX_HOLDERS {
            return;
        }
        let Real::Frozen(chain) = self.take_real(id) else {
            unreachable!()
        };
        let holder = self.holders.remove(&id).expect("holder");
        let views: Vec<SharedBuf> = chain.into_segments().collect();
        assert_eq!(views.len(), count, "into_segments yields every segment");
        let mut offset = 0;
        for (view, seg) in views.into_iter().zip(&holder.segments) {
            let data = holder.data[offset..offset + seg.len].to_vec();
            offset += seg.len;
            let new = self.fresh_id();
            self.holders.insert(
                new,
                Holder {
                    kind: Kind::View,
                    storage: Some(seg.storage),
                    offset: seg.offset,
                    data,
                    cap: 0,
                    group: 0,
                    at_helper: false,
                    segments: Vec::new(),
                },
            );
            self.real.insert(new, Real::View(view));
        }
    }

    /// Everything observable, from both threads.
    fn observe_all(&self) -> Vec<(u64, Seen)> {
        let mut seen: Vec<(u64, Seen)> =
            self.real.iter().map(|(&id, r)| (id, observe(r))).collect();
        if self.holders.values().any(|h| h.at_helper) {
            match self.helper.call(Cmd::Snapshot) {
                Reply::Snapshot(remote) => seen.extend(remote),
                _ => panic!("helper answered a snapshot with something else"),
            }
        }
        seen
    }

    fn check(&self, when: &str) {
        let seen = self.observe_all();
        assert_eq!(seen.len(), self.holders.len(), "{when}: holder count");
        let mut writable = Vec::new();
        let mut readable = Vec::new();
        for (id, s) in &seen {
            let h = self
                .holders
                .get(id)
                .unwrap_or_else(|| panic!("{when}: unknown holder {id}"));
            assert_eq!(s.kind, h.kind, "{when}: holder {id} kind");
            if matches!(h.kind, Kind::Chain | Kind::Frozen) {
                self.check_chain(when, *id, s, h, &mut readable);
                continue;
            }
            assert_eq!(
                s.contents.len(),
                h.data.len(),
                "{when}: holder {id} ({:?}) length",
                h.kind
            );
            assert!(
                s.contents == h.data,
                "{when}: holder {id} ({:?}) contents differ",
                h.kind
            );
            let Some(sid) = h.storage else {
                if h.kind == Kind::View {
                    assert_eq!(s.tier, Some(None), "{when}: an empty view has no tier()");
                }
                continue;
            };
            let storage = self.storages[&sid];
            if h.kind == Kind::Buf || !h.data.is_empty() {
                assert_eq!(
                    s.addr,
                    storage.base + h.offset,
                    "{when}: holder {id} ({:?}) is not where its storage is",
                    h.kind
                );
            }
            if let Some(tier) = s.tier {
                assert_eq!(
                    tier,
                    storage.tier.map(|t| self.limits.tiers[t]),
                    "{when}: tier()"
                );
            }
            match h.kind {
                Kind::Buf => {
                    assert_eq!(s.cap, h.cap, "{when}: holder {id} capacity");
                    assert!(
                        h.offset + h.cap <= storage.cap,
                        "{when}: model capacity bound"
                    );
                    writable.push((*id, s.addr, s.addr + s.cap));
                }
                _ if s.cap > 0 => readable.push((*id, s.addr, s.addr + s.cap)),
                _ => {}
            }
        }
        for (i, &(a, a0, a1)) in writable.iter().enumerate() {
            if a0 == a1 {
                continue;
            }
            for &(b, b0, b1) in writable[i + 1..].iter().chain(readable.iter()) {
                assert!(
                    a1 <= b0 || b1 <= a0 || b0 == b1,
                    "{when}: PooledBuf {a} [{a0:#x}, {a1:#x}) overlaps holder {b} [{b0:#x}, {b1:#x})"
                );
            }
        }
        self.check_views(when);
        self.check_equality(when);
        self.check_stats(when);
    }

    /// Buffers and views compare (both ways) and iterate as their bytes.
    fn check_equality(&self, when: &str) {
        for (id, real) in &self.real {
            let data = &self.holders[id].data;
            // Each impl once: `PartialEq<Vec<u8>>`, `PartialEq<[u8]>` and
            // their mirrors.
            let (forward, backward, iterated) = match real {
                Real::Buf(b) => (
                    *b == *data && *b == data[..],
                    *data == *b && data[..] == *b,
                    b.into_iter().copied().collect::<Vec<u8>>(),
                ),
                Real::View(v) => (
                    *v == *data && *v == data[..],
                    *data == *v && data[..] == *v,
                    v.into_iter().copied().collect::<Vec<u8>>(),
                ),
                _ => continue,
            };
            assert!(forward && backward, "{when}: holder {id} == its bytes");
            assert!(iterated == *data, "{when}: holder {id} iterates its bytes");
        }
    }

    /// Checks a chain holder; adds a `SharedChain`'s segments to the bytes
    /// no `PooledBuf` may overlap.
    fn check_chain(
        &self,
        when: &str,
        id: u64,
        s: &Seen,
        h: &Holder,
        readable: &mut Vec<(u64, usize, usize)>,
    ) {
        let c = s.chain.as_ref().expect("a chain is seen as one");
        assert_eq!(c.len, h.data.len(), "{when}: chain {id} length");
        assert_eq!(
            c.segment_count,
            h.segments.len(),
            "{when}: chain {id} ({:?}) segment count",
            h.kind
        );
        if h.kind == Kind::Chain {
            assert_eq!(
                c.spare,
                self.chain_spare(h),
                "{when}: chain {id} spare capacity"
            );
            return;
        }
        assert!(s.contents == h.data, "{when}: chain {id} contents differ");
        for (i, (&(addr, len, tier), seg)) in c.segments.iter().zip(&h.segments).enumerate() {
            let storage = self.storages[&seg.storage];
            assert!(len > 0, "{when}: chain {id} segment {i} is empty");
            assert_eq!(len, seg.len, "{when}: chain {id} segment {i} length");
            assert_eq!(
                tier,
                storage.tier.map(|t| self.limits.tiers[t]),
                "{when}: chain {id} segment {i} tier()"
            );
            assert_eq!(
                addr,
                storage.base + seg.offset,
                "{when}: chain {id} segment {i} is not where its storage is"
            );
            assert!(
                seg.offset + len <= storage.cap,
                "{when}: model segment bound"
            );
            readable.push((id, addr, addr + len));
        }
    }

    fn check_views(&self, when: &str) {
        let views: Vec<(u64, &SharedBuf)> = self
            .real
            .iter()
            .filter_map(|(&id, r)| match r {
                Real::View(v) => Some((id, v)),
                _ => None,
            })
            .collect();
        for &(a, va) in &views {
            let sa = self.holders[&a].storage;
            assert_eq!(
                va.is_unique(),
                sa.is_some_and(|sid| self.refs(sid) == 1),
                "{when}: is_unique of view {a}"
            );
            for &(b, vb) in &views {
                assert_eq!(
                    va.same_block(vb),
                    sa.is_some() && sa == self.holders[&b].storage,
                    "{when}: same_block({a}, {b})"
                );
            }
        }
    }

    /// Live storages per tier and beyond the tiers, from the model.
    fn live(&self) -> (Vec<u64>, u64, u64) {
        let sids = self.live_sids();
        let mut per_tier = vec![0; self.limits.tiers.len()];
        let (mut oversize, mut oversize_bytes) = (0, 0);
        for sid in sids {
            let s = self.storages[&sid];
            match s.tier {
                Some(t) => per_tier[t] += 1,
                None => {
                    oversize += 1;
                    oversize_bytes += s.cap as u64;
                }
            }
        }
        (per_tier, oversize, oversize_bytes)
    }

    fn check_stats(&self, when: &str) {
        let Some(stats) = self.stats() else { return };
        let (per_tier, oversize, oversize_bytes) = self.live();
        for (t, tier) in stats.tiers.iter().enumerate() {
            assert_eq!(
                tier.capacity, self.limits.tiers[t],
                "{when}: tier {t} capacity"
            );
            assert_eq!(
                tier.in_use, per_tier[t],
                "{when}: tier {t} in_use (stats {stats:?})"
            );
            // Main thread and helper thread may each cache; fresh threads
            // that exited gave theirs to the depot.
            let bound = if self.trimmed {
                self.limits.thread_cache[t]
            } else {
                self.limits.depot[t] + 2 * self.limits.thread_cache[t]
            };
            assert!(
                tier.cached <= bound as u64,
                "{when}: tier {t} caches {} buffers, bound {bound} (stats {stats:?})",
                tier.cached
            );
        }
        assert_eq!(stats.oversize.in_use, oversize, "{when}: oversize in_use");
        assert_eq!(
            stats.oversize.in_use_bytes, oversize_bytes,
            "{when}: oversize in_use_bytes"
        );
        self.check_governance(when, &stats);
    }

    fn check_governance(&self, when: &str, stats: &PoolStats) {
        let pool = self.pool.as_ref().expect("stats come from an open pool");
        if let Some(limit) = self.limits.max_cached_bytes {
            let cached: u64 = stats.tiers.iter().map(|t| t.cached_bytes()).sum();
            assert!(
                cached <= limit as u64,
                "{when}: {cached} bytes cached over max_cached_bytes {limit} (stats {stats:?})"
            );
        }
        assert_eq!(stats.exhausted, self.exhausted, "{when}: exhausted count");
        if self.limits.record_sizes {
            let requests = pool.size_histogram().requests();
            let (low, high) = self.requests;
            assert!(
                (low..=high).contains(&requests),
                "{when}: size_histogram has {requests} requests, expected {low}..={high}"
            );
        }
        if self.limits.track_outstanding {
            let mut reported: Vec<(Option<usize>, usize)> = pool
                .outstanding()
                .iter()
                .map(|b| (b.tier, b.capacity))
                .collect();
            reported.sort_unstable();
            let sids = self.live_sids();
            let mut expected: Vec<(Option<usize>, usize)> = sids
                .iter()
                .map(|sid| {
                    let s = self.storages[sid];
                    (s.tier.map(|t| self.limits.tiers[t]), s.cap)
                })
                .collect();
            expected.sort_unstable();
            assert_eq!(reported, expected, "{when}: outstanding() (tier, capacity)");
        } else {
            assert!(
                pool.outstanding().is_empty(),
                "{when}: untracked pool reports buffers"
            );
        }
    }

    /// Drops everything, stops the helper, and checks that nothing is still
    /// counted as in use.
    fn finish(mut self) {
        // Helper-held holders are dropped on the helper as it exits.
        self.real.clear();
        self.holders.clear();
        self.helper.exit();
        if let Some(stats) = self.stats() {
            for (t, tier) in stats.tiers.iter().enumerate() {
                assert_eq!(tier.in_use, 0, "end: tier {t} in_use (stats {stats:?})");
                // Only the main thread's cache and the depot remain.
                let bound = self.limits.depot[t] + self.limits.thread_cache[t];
                assert!(
                    tier.cached <= bound as u64,
                    "end: tier {t} cached (stats {stats:?})"
                );
            }
            assert_eq!(stats.oversize.in_use, 0, "end: oversize in_use");
            assert_eq!(stats.oversize.in_use_bytes, 0, "end: oversize bytes");
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Write {
    /// `extend_from_slice`.
    Slice,
    /// `Extend<u8>` with an iterator that hides its length.
    ByteAtATime,
    /// `extend_from_within(start..end)`.
    Within(usize, usize),
    /// `fmt::Write::write_str` (the bytes are ASCII).
    Fmt,
    /// `Extend<SharedBuf>` with a clone of this view (whose bytes these
    /// are).
    View(u64),
}
