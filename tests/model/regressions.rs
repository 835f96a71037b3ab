//! Fixed operation sequences replayed through the model checker (the op
//! language lives in `ops/`).
//!
//! Crash inputs found by `cargo fuzz run ops` belong in [`fuzz_inputs`] as raw
//! bytes; shrunk proptest failures belong here as `Scenario`s. The fuzz run
//! recorded in `fuzz/README.md` found no crash, so this file holds
//! hand-made sequences aimed at the paths where bugs would hide: storage
//! shared between a buffer and its views, growth that leaves views behind,
//! buffers crossing threads, zero-sized limits, and a pool closed while
//! buffers are still out.

use crate::ops::{self, Config, Op, Scenario, Size};

/// Tier set indexes into `ops::TIER_SETS`.
const SMALL_TIERS: u8 = 0; // 64, 256, 1024
const ONE_TIER: u8 = 1; // 16
const TINY_TIERS: u8 = 3; // 1, 7, 64

/// Limit indexes into `ops::LIMITS` (0, 1, 2, 3, 5).
const NONE: u8 = 0;
const ONE: u8 = 1;
const FIVE: u8 = 4;

fn config(tier_set: u8, thread_cache: u8, depot: u8) -> Config {
    Config {
        tier_set,
        alignment: 0,
        limits: [(thread_cache, depot); 3],
        governance: 0,
    }
}

fn tier(class: u8) -> Size {
    Size { class, delta: 0 }
}

/// The class past the largest tier of a tier set with `tiers` tiers.
fn oversize(tiers: u8, delta: i8) -> Size {
    Size {
        class: tiers,
        delta,
    }
}

fn run(config: Config, sequence: &[Op]) {
    ops::run(&Scenario {
        config,
        ops: sequence.to_vec(),
    });
}

/// A buffer split into views, then grown away from them: the views keep the
/// old storage in use, and the last view can become a buffer again, with
/// the capacity from its start to the end of the storage.
#[test]
fn views_outlive_a_buffer_that_moved() {
    run(
        config(SMALL_TIERS, FIVE, FIVE),
        &[
            Op::Get(tier(0)),
            Op::Extend { h: 0, len: 40 },
            Op::BufSplitTo { h: 0, at: 10 },
            Op::BufSplitTo { h: 0, at: 10 },
            // 20 bytes left in a 44-byte tail: this write moves to tier 1.
            Op::Extend { h: 0, len: 100 },
            Op::Clone { h: 0 },
            Op::Drop { h: 1 },
            Op::TryIntoMut { h: 0 }, // the second view is still alive
            Op::Drop { h: 1 },
            Op::TryIntoMut { h: 1 }, // unique now
            Op::Fill { h: 1, over: 0 },
            Op::Fill { h: 1, over: 1 },
            Op::Drop { h: 0 },
            Op::Drop { h: 0 },
        ],
    );
}

/// Freeze, slice every way, and drop in an order that leaves a middle slice
/// as the last holder of the storage.
#[test]
fn last_slice_keeps_the_storage() {
    run(
        config(SMALL_TIERS, ONE, ONE),
        &[
            Op::Get(tier(1)),
            Op::Extend { h: 0, len: 200 },
            Op::Freeze { h: 0 },
            Op::Slice {
                h: 0,
                start: 50,
                end: 150,
            },
            Op::Slice {
                h: 0,
                start: 150,
                end: 50,
            }, // decreasing: no view
            Op::ViewSplitOff { h: 1, at: 60 },
            Op::ViewSplitTo { h: 1, at: 20 },
            Op::Advance { h: 0, n: 7 },
            Op::Drop { h: 0 },
            Op::Drop { h: 0 },
            Op::Drop { h: 1 },
            Op::TryIntoMut { h: 0 },
            Op::Extend { h: 0, len: 300 },
            Op::Poke {
                h: 0,
                pos: 3,
                val: 0xAA,
            },
            Op::Trim,
        ],
    );
}

/// Thread caches and depots of size zero: every return frees, every get
/// allocates, on every thread.
#[test]
fn zero_limits_on_every_thread() {
    run(
        config(SMALL_TIERS, NONE, NONE),
        &[
            Op::Get(tier(0)),
            Op::HelperGet(tier(1)),
            Op::Get(oversize(3, 9)),
            Op::Send { h: 0 },
            Op::HelperDrop { h: 0 },
            Op::Freeze { h: 0 },
            Op::DropOnNewThread { h: 0 },
            Op::Get(tier(2)),
            Op::Drop { h: 0 },
            Op::Get(tier(2)),
            Op::Trim,
            Op::Drop { h: 1 },
            Op::Drop { h: 0 },
        ],
    );
}

/// Buffers and views cross to the helper and back while the helper's own
/// cache fills; trim then only leaves what the helper caches.
#[test]
fn holders_cross_threads_and_back() {
    run(
        config(SMALL_TIERS, ONE, ONE),
        &[
            Op::Get(tier(0)),
            Op::Get(tier(0)),
            Op::Get(tier(0)),
            Op::Extend { h: 0, len: 30 },
            Op::BufSplitTo { h: 0, at: 10 },
            Op::Send { h: 0 },
            Op::Send { h: 0 },
            Op::HelperReturn { h: 1 },
            Op::Extend { h: 2, len: 64 }, // grows into tier 1 on this thread
            Op::HelperDrop { h: 0 },
            Op::Send { h: 1 },
            Op::HelperDrop { h: 0 },
            Op::Trim,
            Op::HelperGet(tier(0)),
            Op::DropOnNewThread { h: 0 },
            Op::Drop { h: 0 },
            Op::Trim,
        ],
    );
}

/// `Bytes` made from views: empty views release their storage at once,
/// clones and slices keep it, `copy_to_bytes` shares it.
#[test]
fn bytes_keep_and_release_storage() {
    run(
        config(ONE_TIER, FIVE, FIVE),
        &[
            Op::Get(tier(0)),
            Op::Extend { h: 0, len: 12 },
            Op::Freeze { h: 0 },
            Op::CopyToBytes { h: 0, n: 5 },
            Op::CopyToBytes { h: 0, n: 0 }, // empty Bytes, no storage
            Op::IntoBytes { h: 0 },
            Op::BytesClone { h: 0 },
            Op::BytesSlice {
                h: 3,
                start: 2,
                end: 3,
            }, // of the clone
            Op::BytesSlice {
                h: 1,
                start: 4,
                end: 0,
            }, // empty slice
            Op::Drop { h: 0 },
            Op::Drop { h: 0 },
            Op::Send { h: 0 },
            Op::HelperDrop { h: 0 },
            Op::Get(tier(0)),
            Op::Freeze { h: 3 },
            Op::IntoBytes { h: 0 }, // empty view
        ],
    );
}

/// Beyond the largest tier, growth doubles; shrinking writes move back into
/// a tier.
#[test]
fn oversize_growth_doubles() {
    run(
        config(TINY_TIERS, ONE, ONE),
        &[
            Op::Get(Size {
                class: 0,
                delta: -1,
            }), // get(0)
            Op::ExtendIter { h: 0, len: 200 }, // 1 -> 7 -> 64 -> 128 -> 256
            Op::Fill { h: 0, over: 1 },
            Op::BufSplitTo { h: 0, at: 250 },
            Op::Extend { h: 0, len: 3 }, // a small tail fits a tier again
            Op::Get(oversize(3, -128)),
            Op::TryGet(oversize(3, 0)),
            Op::Resize {
                h: 2,
                len: 1000,
                val: 7,
            },
            Op::Resize {
                h: 2,
                len: 10,
                val: 0,
            },
        ],
    );
}

/// The pool's handles go away while buffers, views and `Bytes` are out, on
/// both threads; they stay readable, keep growing, and free on drop.
#[test]
fn pool_closed_with_buffers_out() {
    for helper_last in [false, true] {
        run(
            config(SMALL_TIERS, FIVE, FIVE),
            &[
                Op::Get(tier(0)),
                Op::Get(tier(1)),
                Op::Get(oversize(3, 1)),
                Op::Extend { h: 0, len: 20 },
                Op::BufSplitTo { h: 0, at: 5 },
                Op::IntoBytes { h: 3 },
                Op::Send { h: 1 },
                Op::ClosePool { helper_last },
                Op::Extend { h: 0, len: 100 }, // grows in a closed pool
                Op::Fill { h: 1, over: 1 },
                Op::Get(tier(0)), // no pool: nothing happens
                Op::Trim,
                Op::DropOnNewThread { h: 0 },
                Op::HelperReturn { h: 0 },
                Op::Freeze { h: 2 },
                Op::Drop { h: 1 },
            ],
        );
    }
}

/// The same slot is reused by the next pool while this thread still has a
/// cache entry for a closed one.
#[test]
fn pools_reuse_slots_after_closing() {
    for _ in 0..3 {
        run(
            config(SMALL_TIERS, FIVE, FIVE),
            &[
                Op::Get(tier(0)),
                Op::HelperGet(tier(0)),
                Op::Drop { h: 0 },
                Op::ClosePool { helper_last: true },
                Op::Drop { h: 0 },
            ],
        );
    }
}

/// Every opt-in behaviour at once: a tight in-use cap refuses `try_get`
/// (but not `get` or growth), the cached-bytes cap frees returns, the
/// outstanding report and the size histogram follow every hand-out.
#[test]
fn governed_pool_caps_and_reports() {
    let governance = 1 | 2 | 4 | 8 | 64; // in-use cap 1024, cached cap 1024
    run(
        Config {
            governance,
            ..config(SMALL_TIERS, FIVE, FIVE)
        },
        &[
            Op::TryGet(tier(2)),
            Op::TryGet(tier(0)),           // 1024 + 64 > 1024: exhausted
            Op::Get(tier(1)),              // served over the cap
            Op::Extend { h: 1, len: 300 }, // growth over the cap
            Op::Freeze { h: 0 },
            Op::TryGet(oversize(3, 5)),
            Op::Drop { h: 0 },
            Op::Drop { h: 0 },
            Op::TryGet(tier(0)),
            Op::Get(tier(2)),
            Op::Drop { h: 0 },
            Op::Drop { h: 0 }, // the cached cap frees one of the two
            Op::TrimIdle,
            Op::TrimIdle,
        ],
    );
}

/// `ChainWrite { how }`: `put_slice`, `io::Write` in pieces of `step`,
/// `chunk_mut` in steps of `step`, `put_bytes`.
fn how(way: u8, step: u8) -> u8 {
    way | ((step - 1) / 3) << 2
}

/// Chains written every way (blocks sized by what remains, whole segments
/// for `chunk_mut` and `put_bytes`), frozen, then cloned, sliced, advanced
/// and turned into `Bytes` and views, which live on after the chains.
#[test]
fn chains_written_every_way_then_taken_apart() {
    run(
        config(SMALL_TIERS, FIVE, FIVE), // segments of 1024 bytes
        &[
            // With no chain yet, every `ChainWrite` starts one.
            Op::ChainWrite {
                h: 0,
                len: 2100, // 1024 + 1024 + 52 (a 64-byte block)
                how: how(0, 1),
            },
            Op::ChainWrite {
                h: 0, // the chain just written
                len: 100,
                how: how(1, 16),
            },
            Op::ChainWrite {
                h: 1, // past the one chain: a new one
                len: 3000,
                how: how(2, 61),
            },
            Op::ChainWrite {
                h: 2,
                len: 999,
                how: how(3, 1),
            },
            Op::ChainReserve {
                h: 0,
                additional: 5000,
            },
            Op::ChainReserve {
                h: 2,
                additional: 0,
            },
            Op::ChainFreeze { h: 0 },
            Op::ChainFreeze { h: 0 },
            Op::ChainFreeze { h: 0 },
            Op::ChainClone { h: 0 },
            Op::ChainSlice {
                h: 1,
                start: 1000,
                end: 70, // 1000..1070: across a block boundary
            },
            Op::ChainAdvance { h: 0, n: 1500 },
            Op::ChainCopyToBytes { h: 0, n: 10 },  // zero-copy
            Op::ChainCopyToBytes { h: 0, n: 600 }, // across: a copy
            Op::ChainIntoBytes { h: 1 },
            Op::ChainIntoSegments { h: 0 },
            Op::TryIntoMut { h: 0 },
            Op::ChainFromView { h: 1 },
            Op::ChainAdvance { h: 1, n: 65535 },
            Op::Drop { h: 0 },
            Op::Drop { h: 3 },
            Op::ChainIntoBytes { h: 0 },
            Op::Drop { h: 1 },
        ],
    );
}

/// Chains frozen and not, moved to the helper thread, dropped there, on a
/// fresh thread and here; a tier of 16 bytes makes long segment lists; the
/// pool closes while chains are out and one keeps growing.
#[test]
fn chains_cross_threads_and_outlive_the_pool() {
    run(
        config(ONE_TIER, ONE, ONE),
        &[
            Op::ChainWrite {
                h: 0,
                len: 500, // 32 segments: a spilled list
                how: how(0, 1),
            },
            Op::ChainFreeze { h: 0 },
            Op::ChainClone { h: 0 },
            Op::Send { h: 0 },
            Op::ChainWrite {
                h: 0,
                len: 40,
                how: how(1, 7),
            },
            Op::Send { h: 1 }, // the unfrozen chain
            Op::ChainSlice {
                h: 0,
                start: 3,
                end: 200,
            },
            Op::HelperReturn { h: 1 },
            Op::ChainWrite {
                h: 0,
                len: 9,
                how: how(2, 4),
            },
            Op::HelperDrop { h: 0 },
            Op::DropOnNewThread { h: 0 },
            Op::ClosePool { helper_last: true },
            Op::ChainWrite {
                h: 0,
                len: 100,
                how: how(3, 1),
            },
            Op::ChainFreeze { h: 0 },
            Op::ChainAdvance { h: 1, n: 33 },
            Op::Drop { h: 0 },
        ],
    );
}

/// Chain blocks count against `max_in_use_bytes` (1024): `try_reserve_block`
/// is refused while a chain holds the budget, and allowed again once the
/// chain's consumed segments are released; a `get` is refused too.
#[test]
fn chain_blocks_count_against_the_in_use_cap() {
    let governance = 2 | 4 | 8; // tracked, sizes recorded, in-use cap 1024
    run(
        Config {
            governance,
            ..config(SMALL_TIERS, FIVE, FIVE)
        },
        &[
            Op::ChainWrite {
                h: 0,
                len: 1000,
                how: how(0, 1),
            },
            Op::ChainWrite {
                h: 1, // a new, empty chain
                len: 0,
                how: 0,
            },
            Op::ChainReserve {
                h: 1,
                additional: 10,
            }, // refused
            Op::TryGet(tier(0)), // refused
            Op::ChainWrite {
                h: 0,
                len: 100, // served over the cap
                how: how(0, 1),
            },
            Op::ChainFreeze { h: 0 },
            Op::ChainAdvance { h: 0, n: 1024 },
            Op::ChainReserve {
                h: 0,
                additional: 10,
            }, // 64 more: allowed
            Op::ChainReserve {
                h: 0,
                additional: 10,
            }, // room left: nothing
            Op::Drop { h: 0 },
            Op::ChainReserve {
                h: 0,
                additional: 900,
            },
        ],
    );
}

/// Thousands of gets and drops on one thread run the thread cache's idle
/// collection (every 4096 cache hits) while other buffers and views are out;
/// `read_from` fills and grows a buffer.
#[test]
fn idle_collection_while_buffers_are_out() {
    run(
        config(SMALL_TIERS, FIVE, FIVE),
        &[
            Op::Get(tier(0)),
            Op::Get(tier(0)),
            Op::Get(tier(1)),
            Op::Extend { h: 0, len: 30 },
            Op::Freeze { h: 0 },
            Op::Drop { h: 1 },
            Op::Drop { h: 1 },
            Op::Churn {
                size: tier(0),
                rounds: 70,
            },
            Op::Churn {
                size: tier(1),
                rounds: 70,
            },
            Op::Get(tier(0)),
            Op::ReadFrom { h: 0, len: 100 },
            Op::Fill { h: 0, over: 0 },
            Op::ReadFrom { h: 0, len: 500 }, // full: grows to tier 2 first
            Op::ReadFrom { h: 0, len: 0 },
            Op::TrimIdle,
        ],
    );
}

/// What `BytesMut` offers besides: a tail split off and joined back in
/// place, then while a copy of it is alive (copied); consuming a buffer
/// through `Buf` and taking its storage back; `split`, clones, conversions
/// from views (zero-copy when unique, copied when shared), `slice_ref`,
/// and the writes `extend_from_within`, `fmt::Write`, `Extend<SharedBuf>`.
#[test]
fn bytes_mut_operations() {
    run(
        config(SMALL_TIERS, FIVE, FIVE),
        &[
            Op::Get(tier(0)),
            Op::Extend { h: 0, len: 40 },
            Op::BufSplitOff { h: 0, at: 10 },
            Op::TryReclaim {
                h: 0,
                additional: 20,
            }, // the tail reads on
            Op::Unsplit { h: 0, v: 0 }, // joined in place
            Op::BufSplitOff { h: 0, at: 10 },
            Op::Clone { h: 0 },
            Op::Unsplit { h: 0, v: 0 }, // the clone is alive: copied
            Op::Drop { h: 1 },
            Op::BufAdvance { h: 0, n: 5 },
            Op::BufCopyToBytes { h: 0, n: 5 },
            Op::Drop { h: 1 },
            Op::TryReclaim {
                h: 0,
                additional: 30,
            }, // taken back, moved
            Op::ExtendFromWithin {
                h: 0,
                start: 2,
                end: 20,
            },
            Op::FmtWrite { h: 0, len: 30 },
            Op::BufClone { h: 0 },
            Op::Freeze { h: 1 },
            Op::Clone { h: 0 },
            Op::IntoMut { h: 0 }, // shared: copied
            Op::IntoMut { h: 0 }, // unique now: the storage itself
            Op::BufSplit { h: 0 },
            Op::SliceRef {
                h: 0,
                start: 3,
                end: 9,
            },
            Op::ExtendViews { h: 1, v: 1 },
            Op::IntoVec { h: 0 },
            Op::Fill { h: 0, over: 1 },
            Op::ReadFrom { h: 0, len: 300 },
        ],
    );
}

/// Raw fuzz inputs, replayed through the same decoder as the fuzz target.
#[test]
fn fuzz_inputs() {
    let inputs: &[&[u8]] = &[
        // Config (five bytes: tracking, size recording, in-use cap) then:
        // get tier 0, extend 300 (grows), split_to, freeze,
        // send, trim.
        &[
            0, 0, 0x21, 0x09, 0x0e, 0, 0, 0, 3, 0, 44, 1, 11, 0, 7, 0, 10, 0, 24, 1, 23,
        ],
        // Every opcode once, with zero parameters, every opt-in on.
        &[
            2, 1, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 0, 4, 0, 0, 5, 0, 0, 6, 0,
            0, 0, 0, 7, 0, 0, 0, 0, 8, 0, 0, 0, 9, 0, 10, 0, 11, 0, 0, 0, 12, 0, 13, 0, 0, 0, 0, 0,
            14, 0, 0, 0, 15, 0, 0, 0, 16, 0, 0, 0, 17, 0, 0, 0, 18, 0, 19, 0, 20, 0, 0, 0, 0, 0,
            21, 0, 22, 0, 23, 24, 0, 25, 0, 26, 0, 27, 0, 28, 29, 0, 0, 0, 30, 0, 0, 0, 31, 1,
        ],
        // Config (tier set 16, caches of one) then every chain opcode:
        // write 60 bytes (new chain), reserve, freeze, clone, slice,
        // advance, copy_to_bytes, into_bytes, into_segments, from a view
        // (of a segment), send, close the pool, write to a new chain (none:
        // the pool is closed).
        &[
            1, 0, 0x09, 0x09, 0, 32, 0, 60, 0, 0, 33, 0, 5, 0, 34, 0, 35, 0, 36, 0, 3, 0, 90, 0,
            37, 0, 17, 0, 38, 0, 40, 0, 39, 0, 40, 0, 41, 1, 24, 0, 31, 0, 32, 0, 99, 0, 2,
        ],
    ];
    for input in inputs {
        ops::run(&ops::decode(input));
    }
}

/// `Pool::map_regions` before and between gets, in a pool whose returns
/// free their blocks at once, and for an oversize size (no tier: nothing
/// to map).
#[test]
fn regions_mapped_up_front_serve_gets() {
    let mut config = config(SMALL_TIERS, 0, 0);
    config.alignment |= 0x80;
    run(
        config,
        &[
            Op::MapRegions {
                size: tier(1),
                count: 2,
            },
            Op::Get(tier(1)),
            Op::MapRegions {
                size: tier(1),
                count: 1,
            },
            Op::Drop { h: 0 },
            Op::MapRegions {
                size: oversize(3, 5),
                count: 3,
            },
            Op::Get(tier(0)),
            Op::Trim,
        ],
    );
}
