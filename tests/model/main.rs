//! Model-based property test: random sequences of pool operations checked
//! against a reference model after every step.
//!
//! The operation language and the checker live in `ops/` (one module per op
//! family), shared with the cargo-fuzz target (`fuzz/fuzz_targets/ops.rs`);
//! fixed sequences are in `regressions.rs`. Each case picks a pool configuration (tier set,
//! alignment, per-tier thread-cache and depot limits, including 0) and up to
//! 64 operations: gets across tiers and beyond them (`get`, `try_get`, and
//! gets on a long-lived helper thread; with or without the opt-in
//! `zero_on_return`, `track_outstanding`, `record_sizes`, `max_in_use_bytes`
//! and `max_cached_bytes`), writes that grow buffers across
//! tiers, freeze, slice, clone, both `split_to`s, `split_off`, `into_bytes`,
//! `Bytes` clones and slices, `try_into_mut`, drops on this thread, on the
//! helper thread and on short-lived threads, `trim`, `trim_idle`, bursts of
//! thousands of get/drop pairs (to reach the periodic idle collection),
//! `read_from`, closing the pool while buffers are still out, and chains
//! (`PooledChain` written every way, frozen, cloned, sliced, advanced,
//! turned into `Bytes` or views, made from a view, and moved between
//! threads), and what `BytesMut` and `Bytes` offer besides (`split_off`,
//! `split`, `unsplit`, `Buf` on a buffer, `try_reclaim`,
//! `extend_from_within`, `clone`, `From<SharedBuf>`, `slice_ref`,
//! `Vec::from`, `fmt::Write`, `Extend<SharedBuf>`). See the module docs
//! there for every check.
//!
//! # Case count
//!
//! 1,000 cases by default (2 under Miri). Set `TIERPOOL_PROPTEST_CASES` to run
//! more, e.g. `TIERPOOL_PROPTEST_CASES=100000 cargo test --release --test
//! model`. Failing cases are shrunk and printed (no regression file is
//! written); paste the printed `Scenario` into `tests/model/regressions.rs`.
//!
//! # Tracing
//!
//! `TIERPOOL_MODEL_TRACE=1 cargo test --test model -- --nocapture` prints
//! every op and the holders after it.
//!
//! # Miri
//!
//! `MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test --test model`
//! (add `-Zmiri-tree-borrows` for the Tree Borrows pass) runs 2 cases of at
//! most 24 ops. Miri's random numbers are seeded, so the same 2 cases run
//! every time; `-Zmiri-seed=N` picks others (`.ci/run` gives each aliasing
//! model its own seed, so together they run 4 cases).

#[allow(dead_code)]
mod ops;
mod regressions;

use ops::{Config, Op, Scenario, Size};
use proptest::prelude::*;

fn cases() -> u32 {
    if cfg!(miri) {
        return 2;
    }
    std::env::var("TIERPOOL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<[(u8, u8); 3]>(),
        // Half the cases run without opt-in behaviours (the fast paths).
        prop_oneof![Just(0u8), any::<u8>()],
    )
        .prop_map(|(tier_set, alignment, limits, governance)| Config {
            tier_set,
            alignment,
            limits,
            governance,
        })
}

fn size() -> impl Strategy<Value = Size> {
    // Mostly near a tier's capacity, where routing decisions flip.
    (any::<u8>(), prop_oneof![3 => -2i8..=2, 1 => any::<i8>()])
        .prop_map(|(class, delta)| Size { class, delta })
}

fn op() -> impl Strategy<Value = Op> {
    let h = any::<u8>;
    let small = || 0u16..64;
    prop_oneof![
        6 => size().prop_map(Op::Get),
        2 => size().prop_map(Op::TryGet),
        2 => size().prop_map(Op::HelperGet),
        6 => (h(), 0u16..300).prop_map(|(h, len)| Op::Extend { h, len }),
        2 => (h(), any::<u8>()).prop_map(|(h, len)| Op::ExtendIter { h, len }),
        3 => (h(), prop_oneof![Just(0u8), Just(1), any::<u8>()])
            .prop_map(|(h, over)| Op::Fill { h, over }),
        1 => (h(), 0u16..1200, any::<u8>()).prop_map(|(h, len, val)| Op::Resize { h, len, val }),
        2 => (h(), any::<u16>(), any::<u8>()).prop_map(|(h, pos, val)| Op::Poke { h, pos, val }),
        1 => (h(), small()).prop_map(|(h, len)| Op::Truncate { h, len }),
        1 => h().prop_map(|h| Op::Clear { h }),
        5 => h().prop_map(|h| Op::Freeze { h }),
        4 => (h(), small()).prop_map(|(h, at)| Op::BufSplitTo { h, at }),
        3 => h().prop_map(|h| Op::Clone { h }),
        3 => (h(), small(), small()).prop_map(|(h, start, end)| Op::Slice { h, start, end }),
        2 => (h(), small()).prop_map(|(h, at)| Op::ViewSplitTo { h, at }),
        2 => (h(), small()).prop_map(|(h, at)| Op::ViewSplitOff { h, at }),
        1 => (h(), small()).prop_map(|(h, n)| Op::Advance { h, n }),
        1 => (h(), small()).prop_map(|(h, n)| Op::CopyToBytes { h, n }),
        3 => h().prop_map(|h| Op::IntoBytes { h }),
        1 => h().prop_map(|h| Op::BytesClone { h }),
        2 => (h(), small(), small()).prop_map(|(h, start, end)| Op::BytesSlice { h, start, end }),
        3 => h().prop_map(|h| Op::TryIntoMut { h }),
        8 => h().prop_map(|h| Op::Drop { h }),
        1 => Just(Op::Trim),
        1 => Just(Op::TrimIdle),
        1 => (size(), any::<u8>()).prop_map(|(size, rounds)| Op::Churn { size, rounds }),
        2 => (h(), 0u16..600).prop_map(|(h, len)| Op::ReadFrom { h, len }),
        3 => h().prop_map(|h| Op::Send { h }),
        2 => h().prop_map(|h| Op::HelperDrop { h }),
        1 => h().prop_map(|h| Op::HelperReturn { h }),
        1 => h().prop_map(|h| Op::DropOnNewThread { h }),
        // Rare: most of a scenario should run with stats checked.
        1 => any::<bool>().prop_map(|helper_last| Op::ClosePool { helper_last }),
        // Chains: writes of a few bytes to many segments, every way.
        5 => (h(), prop_oneof![0u16..80, 0u16..3000], any::<u8>())
            .prop_map(|(h, len, how)| Op::ChainWrite { h, len, how }),
        1 => (h(), prop_oneof![Just(0u16), 1u16..80, any::<u16>()])
            .prop_map(|(h, additional)| Op::ChainReserve { h, additional }),
        3 => h().prop_map(|h| Op::ChainFreeze { h }),
        2 => h().prop_map(|h| Op::ChainClone { h }),
        2 => (h(), any::<u16>(), any::<u16>())
            .prop_map(|(h, start, end)| Op::ChainSlice { h, start, end }),
        2 => (h(), any::<u16>()).prop_map(|(h, n)| Op::ChainAdvance { h, n }),
        2 => (h(), any::<u16>()).prop_map(|(h, n)| Op::ChainCopyToBytes { h, n }),
        1 => h().prop_map(|h| Op::ChainIntoBytes { h }),
        1 => h().prop_map(|h| Op::ChainIntoSegments { h }),
        1 => h().prop_map(|h| Op::ChainFromView { h }),
        // What BytesMut and Bytes offer besides.
        2 => (h(), prop_oneof![0u16..64, 0u16..2048, any::<u16>()])
            .prop_map(|(h, additional)| Op::TryReclaim { h, additional }),
        2 => (h(), small()).prop_map(|(h, n)| Op::BufAdvance { h, n }),
        1 => (h(), small()).prop_map(|(h, n)| Op::BufCopyToBytes { h, n }),
        2 => (h(), small()).prop_map(|(h, at)| Op::BufSplitOff { h, at }),
        1 => h().prop_map(|h| Op::BufSplit { h }),
        2 => (h(), h()).prop_map(|(h, v)| Op::Unsplit { h, v }),
        1 => (h(), small(), small())
            .prop_map(|(h, start, end)| Op::ExtendFromWithin { h, start, end }),
        1 => h().prop_map(|h| Op::BufClone { h }),
        2 => h().prop_map(|h| Op::IntoMut { h }),
        1 => (h(), small(), small()).prop_map(|(h, start, end)| Op::SliceRef { h, start, end }),
        1 => h().prop_map(|h| Op::IntoVec { h }),
        1 => (h(), 0u16..200).prop_map(|(h, len)| Op::FmtWrite { h, len }),
        1 => (h(), h()).prop_map(|(h, v)| Op::ExtendViews { h, v }),
        1 => (size(), any::<u8>()).prop_map(|(size, count)| Op::MapRegions { size, count }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let max_ops = if cfg!(miri) { 24 } else { 64 };
    (config(), prop::collection::vec(op(), 0..max_ops))
        .prop_map(|(config, ops)| Scenario { config, ops })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Do not write `proptest-regressions/` files (and touch no files
        // under Miri's isolation); failures are printed instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn pool_matches_the_model(scenario in scenario()) {
        ops::run(&scenario);
    }
}

/// The decoder the fuzzer uses turns any bytes into a runnable scenario.
#[test]
fn fuzz_decoder_accepts_any_bytes() {
    let inputs: [&[u8]; 4] = [&[], &[0], &[255; 40], b"tierpool fuzz decoder smoke input!"];
    for input in inputs {
        let scenario = ops::decode(input);
        ops::run(&scenario);
    }
    assert_eq!(ops::decode(&[1, 2, 3, 4, 5]).ops, Vec::new());
    assert_eq!(
        ops::decode(&[0, 0, 0, 0, 0, 23]).ops,
        vec![Op::Trim],
        "opcode 23 is trim"
    );
    assert_eq!(
        ops::decode(&[0, 0, 0, 0, 0, 32, 1, 2, 3, 4]).ops,
        vec![Op::ChainWrite {
            h: 1,
            len: 0x0302,
            how: 4
        }],
        "opcode 32 is the first chain op"
    );
    assert_eq!(
        ops::decode(&[0, 0, 0, 0, 0, 41, 7]).ops,
        vec![Op::ChainFromView { h: 7 }]
    );
    assert_eq!(
        ops::decode(&[0, 0, 0, 0, 0, 42, 7, 1, 0]).ops,
        vec![Op::TryReclaim {
            h: 7,
            additional: 1
        }],
        "the ops after the chain ops start at 42"
    );
    assert_eq!(
        ops::decode(&[0, 0, 0, 0, 0, 54, 7, 8]).ops,
        vec![Op::ExtendViews { h: 7, v: 8 }]
    );
    assert_eq!(
        ops::decode(&[0, 0, 0, 0, 0, 55, 1, 2, 3]).ops,
        vec![Op::MapRegions {
            size: ops::Size { class: 1, delta: 2 },
            count: 3
        }]
    );
}

/// Appending the chain ops (and the ops after them) left every other
/// opcode byte as it was: a byte outside `CHAIN_OPCODES` decodes like the
/// same byte modulo 32, so inputs recorded before (regressions, fuzz
/// corpora) keep their meaning except where they used one of those bytes.
#[test]
#[cfg_attr(miri, ignore = "decoding only: no unsafe code for Miri to check")]
fn opcodes_outside_the_chain_range_decode_as_before() {
    let params = [9, 200, 3, 77, 1, 250, 6];
    for byte in 0..=u8::MAX {
        if ops::CHAIN_OPCODES.contains(&byte) {
            continue;
        }
        let input = |opcode: u8| {
            let mut input = vec![0, 1, 2, 3, 4, opcode];
            input.extend_from_slice(&params);
            input
        };
        assert_eq!(
            ops::decode(&input(byte)),
            ops::decode(&input(byte % ops::OPCODES)),
            "opcode byte {byte}"
        );
    }
}
