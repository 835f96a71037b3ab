//! Segmented buffers: `PooledChain` written through `BufMut`, `io::Write`
//! and `extend_from_slice`, how its blocks are sized, budgets, and the
//! frozen `SharedChain` as a `Buf` (vectored chunks, advancing, zero-copy
//! `copy_to_bytes`), its slices, clones, conversions and comparisons, and the
//! return of every block, on any thread, with no stale bytes.
//!
//! Most tests use `common::chains::pool`: outside Miri it has the default
//! tiers (4 KiB, a 64 KiB segment tier, 1 MiB); under Miri the same shape
//! with tiny blocks (16, 64, 1024 bytes) so that every path runs in seconds.
//! The rule that sizes a chain's blocks is stated once, in
//! `common::chains::block_for`.

use std::io::{IoSlice, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

use bytes::{Buf, BufMut, Bytes};
use tierpool::{ConfigError, Pool, PoolError, PooledChain, SharedBuf, SharedChain};

mod common;
use common::chains::{
    block, block_for, frozen, gets, in_use, lens, one_write_layout, pattern, pieces_layout, pool,
    tiers, whole_segment_lens, LARGEST, SEG, SMALL, TIERS,
};
use common::{assert_all_returned, panic_message, Rng};

/// The lengths the tests write: empty, one byte, around one segment, and
/// enough segments to spill the inline segment list (four).
fn lengths() -> Vec<usize> {
    vec![
        0,
        1,
        SMALL - 1,
        SMALL,
        SMALL + 1,
        SEG - 1,
        SEG,
        SEG + 1,
        2 * SEG + SMALL,
        4 * SEG,
        4 * SEG + 1,
        7 * SEG + SMALL + 3,
    ]
}

#[test]
fn chains_are_send_sync_and_static() {
    fn check<T: Send + Sync + 'static>() {}
    check::<PooledChain>();
    check::<SharedChain>();
}

#[test]
fn put_slice_sizes_blocks_by_what_remains() {
    let pool = pool();
    for (seed, len) in lengths().into_iter().enumerate() {
        let bytes = pattern(seed as u64, len);
        let before = gets(&pool);
        let mut chain = pool.chain();
        assert_eq!(chain.segment_capacity(), SEG);
        chain.put_slice(&bytes);
        let (want_lens, want_tiers) = one_write_layout(len);
        assert_eq!(chain.len(), len);
        assert_eq!(chain.is_empty(), len == 0);
        assert_eq!(chain.segment_count(), want_lens.len(), "len {len}");
        let last_cap = want_tiers.last().copied().flatten().unwrap_or(0);
        let last_len = want_lens.last().copied().unwrap_or(0);
        assert_eq!(chain.spare_capacity(), last_cap - last_len, "len {len}");

        let message = chain.freeze();
        assert_eq!(message.len(), len);
        assert_eq!(message.is_empty(), len == 0);
        assert_eq!(message.segment_count(), want_lens.len());
        assert_eq!(lens(&message), want_lens, "len {len}");
        assert_eq!(tiers(&message), want_tiers, "len {len}");
        assert_eq!(message.to_vec(), bytes, "len {len}");
        assert_eq!(message, bytes);

        // Exactly one get per block, in the block's tier.
        let after = gets(&pool);
        for (t, &cap) in TIERS.iter().enumerate() {
            let want = want_tiers.iter().filter(|&&c| c == Some(cap)).count() as u64;
            assert_eq!(after[t] - before[t], want, "len {len}: gets in tier {cap}");
        }
        let held: u64 = in_use(&pool).iter().sum();
        assert_eq!(
            held,
            want_lens.len() as u64,
            "len {len}: one block per segment"
        );
        drop(message);
        assert_all_returned(&pool);
    }
}

/// The module docs' examples, at the test tiers: a message of two largest
/// blocks is two largest blocks; one of three segments and a bit is three
/// segment blocks and a small one.
#[test]
fn long_messages_take_large_blocks_and_a_small_last_one() {
    let pool = pool();
    let two = frozen(&pool, &pattern(40, 2 * LARGEST));
    assert_eq!(lens(&two), vec![LARGEST, LARGEST]);
    assert_eq!(tiers(&two), vec![Some(LARGEST); 2]);
    let len = 3 * SEG + SMALL / 2;
    let three = frozen(&pool, &pattern(41, len));
    assert_eq!(lens(&three), vec![SEG, SEG, SEG, SMALL / 2]);
    assert_eq!(
        tiers(&three),
        vec![Some(SEG), Some(SEG), Some(SEG), Some(SMALL)]
    );
    // Less than one segment is wasted.
    let waste: usize = three.segments().map(|s| s.tier().unwrap() - s.len()).sum();
    assert!(waste < SEG);
    drop((two, three));
    assert_all_returned(&pool);
}

#[test]
fn extend_from_slice_in_pieces_crosses_block_boundaries() {
    let pool = pool();
    let len = 3 * SEG + SMALL + 5;
    let bytes = pattern(7, len);
    for piece in [1, 3, SMALL - 1, SMALL + 1, SEG - 1, SEG + 7] {
        let mut chain = pool.chain();
        for part in bytes.chunks(piece) {
            chain.extend_from_slice(part);
        }
        assert_eq!(chain.len(), len);
        let message = chain.freeze();
        assert_eq!(message, bytes, "pieces of {piece}");
        let (want_lens, want_tiers) = pieces_layout(bytes.chunks(piece).map(<[u8]>::len));
        assert_eq!(lens(&message), want_lens, "pieces of {piece}");
        assert_eq!(tiers(&message), want_tiers, "pieces of {piece}");
        assert_all_returned_but(&pool, &message);
    }
    assert_all_returned(&pool);
}

/// Only `message`'s blocks are out.
fn assert_all_returned_but(pool: &Pool, message: &SharedChain) {
    let held: u64 = in_use(pool).iter().sum();
    assert_eq!(held, message.segment_count() as u64);
}

#[test]
fn io_write_appends() {
    let pool = pool();
    for (seed, len) in lengths().into_iter().enumerate() {
        let bytes = pattern(100 + seed as u64, len);
        let mut chain = pool.chain();
        chain.write_all(&bytes).unwrap();
        assert_eq!(chain.write(b"").unwrap(), 0);
        chain.flush().unwrap();
        let message = chain.freeze();
        assert_eq!(message, bytes);
        assert_eq!(lens(&message), one_write_layout(len).0);
    }
    let mut chain = pool.chain();
    let (what, n) = ("segmented", 42);
    write!(chain, "{what}-{n}").unwrap();
    assert_eq!(chain.write(b"!").unwrap(), 1);
    assert_eq!(chain.freeze(), b"segmented-42!"[..]);
    assert_all_returned(&pool);
}

#[test]
fn chunk_mut_and_advance_mut_take_whole_segments() {
    let pool = pool();
    let step = SEG / 3 + 1;
    for (seed, len) in lengths().into_iter().enumerate() {
        let bytes = pattern(200 + seed as u64, len);
        let mut chain = pool.chain();
        let mut written = 0;
        while written < len {
            let spare_before = chain.spare_capacity();
            let chunk = chain.chunk_mut();
            if spare_before == 0 {
                assert_eq!(chunk.len(), SEG, "a new block is a whole segment");
            } else {
                assert_eq!(chunk.len(), spare_before);
            }
            let n = chunk.len().min(step).min(len - written);
            chunk[..n].copy_from_slice(&bytes[written..written + n]);
            // SAFETY: the first `n` bytes of the chunk were just written.
            unsafe { chain.advance_mut(n) };
            written += n;
            assert_eq!(chain.len(), written);
        }
        assert!(chain.remaining_mut() >= isize::MAX as usize - len);
        let message = chain.freeze();
        assert_eq!(message, bytes, "len {len}");
        assert_eq!(lens(&message), whole_segment_lens(len));
        assert!(message.segments().all(|s| s.tier() == Some(SEG)));
    }
    assert_all_returned(&pool);
}

#[test]
fn advance_mut_past_the_spare_capacity_panics() {
    let pool = pool();
    let mut chain = pool.chain();
    chain.reserve_block(1);
    assert_eq!(chain.spare_capacity(), SMALL);
    let err = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: never reached past the check that panics.
        unsafe { chain.advance_mut(SMALL + 1) }
    }))
    .unwrap_err();
    assert_eq!(
        panic_message(&*err),
        format!(
            "advance_mut({}) exceeds the {SMALL} bytes of spare capacity",
            SMALL + 1
        )
    );
    assert_eq!(chain.len(), 0);
    // Nothing written, nothing kept: advancing by zero is fine anywhere.
    let mut empty = pool.chain();
    // SAFETY: zero bytes.
    unsafe { empty.advance_mut(0) };
    assert_eq!(empty.segment_count(), 0);
    drop((chain, empty));
    assert_all_returned(&pool);
}

#[test]
fn put_bytes_and_put_buf() {
    let pool = pool();
    for len in lengths() {
        let mut chain = pool.chain();
        chain.put_bytes(0xA5, len);
        let message = chain.freeze();
        assert_eq!(message.len(), len);
        assert!(message.segments().all(|s| s.iter().all(|&b| b == 0xA5)));
        assert_eq!(lens(&message), whole_segment_lens(len));

        // `BufMut::put` of a chain copies it segment by segment.
        let mut copy = pool.chain();
        copy.put(message.clone());
        copy.put_u8(1);
        let copy = copy.freeze();
        assert_eq!(copy.len(), len + 1);
        assert_eq!(copy.slice(..len), message);
        assert_eq!(copy.slice(len..), [1u8][..]);
    }
    assert_all_returned(&pool);
}

#[test]
fn above_the_largest_tier_is_still_pooled() {
    let pool = pool();
    let len = 5 * LARGEST; // 5 MiB outside Miri
    let segments = len / SEG;
    assert!(segments > 4, "spills the inline segment list");

    let mut chain = pool.chain();
    chain.put_bytes(0x5A, len);
    assert_eq!(chain.segment_count(), segments);
    assert_eq!(pool.stats().tiers[1].in_use, segments as u64);
    let message = chain.freeze();
    assert_eq!(message.segment_count(), segments);
    assert!(message.segments().all(|s| s.len() == SEG));

    let bytes = pattern(3, len + SMALL / 2);
    let other = frozen(&pool, &bytes);
    assert_eq!(other, bytes);
    let (want_lens, want_tiers) = one_write_layout(bytes.len());
    assert_eq!(lens(&other), want_lens);
    assert_eq!(tiers(&other), want_tiers);
    assert_eq!(
        other.segments().last().unwrap().tier(),
        Some(SMALL),
        "the rest fits the smallest tier"
    );

    let stats = pool.stats();
    assert_eq!(stats.oversize.allocations, 0, "{stats:?}");
    assert_eq!(stats.oversize.in_use_bytes, 0, "{stats:?}");
    let other_bytes: usize = want_tiers.iter().map(|t| t.unwrap()).sum();
    assert_eq!(
        stats.in_use_bytes(),
        (segments * SEG + other_bytes) as u64,
        "{stats:?}"
    );
    drop((message, other));
    assert_all_returned(&pool);
}

#[test]
fn reserve_block_sizes_the_next_block_by_the_bytes_to_come() {
    let pool = pool();
    // Below one segment: the smallest tier that holds them; from one
    // segment up: the largest tier they fill completely.
    for (additional, capacity) in [
        (1, SMALL),
        (SMALL - 1, SMALL),
        (SMALL, SMALL),
        (SMALL + 1, SEG),
        (SEG - 1, SEG),
        (SEG, SEG),
        (SEG + 1, SEG),
        (LARGEST - 1, SEG),
        (LARGEST, LARGEST),
        (3 * LARGEST + 1, LARGEST),
        (usize::MAX, LARGEST),
    ] {
        let mut chain = pool.chain();
        chain.reserve_block(additional);
        assert_eq!(
            chain.spare_capacity(),
            capacity,
            "reserve_block({additional})"
        );
        assert_eq!(
            capacity,
            block(additional),
            "the tests' statement of the rule"
        );
        assert_eq!(chain.segment_count(), 1);
        assert_eq!(chain.len(), 0);
    }
    assert_all_returned(&pool);

    let mut chain = pool.chain();
    chain.reserve_block(0);
    assert_eq!((chain.segment_count(), chain.spare_capacity()), (0, 0));
    chain.reserve_block(SEG + 5);
    let cap = block(SEG + 5);
    assert_eq!(chain.spare_capacity(), cap);
    let before = gets(&pool);
    // While the block has room, reserving again takes nothing.
    chain.reserve_block(SEG);
    chain.put_bytes(1, cap - 1);
    chain.reserve_block(usize::MAX);
    assert_eq!(gets(&pool), before);
    assert_eq!((chain.segment_count(), chain.spare_capacity()), (1, 1));
    chain.put_u8(1);
    // Full: the next reserve takes a block sized by what remains.
    chain.reserve_block(5);
    assert_eq!((chain.segment_count(), chain.spare_capacity()), (2, SMALL));
    chain.put_slice(&[2; 5]);
    let message = chain.freeze();
    assert_eq!(lens(&message), vec![cap, 5]);
    assert_eq!(tiers(&message), vec![Some(cap), Some(SMALL)]);

    // A reserved block that was never written is given back by `freeze`.
    let mut unused = pool.chain();
    unused.put_bytes(3, SEG);
    unused.reserve_block(SEG);
    assert_eq!(unused.segment_count(), 2);
    let unused = unused.freeze();
    assert_eq!(unused.segment_count(), 1);
    assert_eq!(in_use(&pool), vec![1, 2, 0]);
    drop((message, unused));
    assert_all_returned(&pool);
}

#[test]
fn reserve_block_sizes_against_custom_tiers() {
    let pool = Pool::builder()
        .tiers([100, 1000, 4096, 65536])
        .segment_capacity(4096)
        .build()
        .unwrap();
    for (additional, cap) in [
        (1, 100),
        (100, 100),
        (101, 1000),
        (2000, 4096),
        (4096, 4096),
        (65_535, 4096),
        (65_536, 65_536),
        (70_000, 65_536),
        (usize::MAX, 65_536),
    ] {
        let mut chain = pool.chain();
        chain.reserve_block(additional);
        assert_eq!(chain.spare_capacity(), cap, "reserve_block({additional})");
        assert_eq!(cap, block_for(&[100, 1000, 4096, 65536], 4096, additional));
    }
    assert_all_returned(&pool);
}

#[test]
fn try_reserve_block_is_refused_over_max_in_use_bytes_and_leaves_the_chain_unchanged() {
    let pool = Pool::builder()
        .tiers(TIERS)
        .segment_capacity(SEG)
        .max_in_use_bytes(2 * SEG)
        .build()
        .unwrap();
    let bytes = pattern(9, 2 * SEG);
    let mut full = pool.chain();
    full.put_slice(&bytes);
    assert_eq!(pool.stats().in_use_limit.unwrap().used, (2 * SEG) as u64);

    let mut other = pool.chain();
    assert_eq!(
        other.try_reserve_block(1),
        Err(PoolError::Exhausted {
            requested: SMALL,
            limit: 2 * SEG
        })
    );
    assert_eq!(
        (other.len(), other.segment_count(), other.spare_capacity()),
        (0, 0, 0)
    );
    assert_eq!(
        full.try_reserve_block(SEG),
        Err(PoolError::Exhausted {
            requested: SEG,
            limit: 2 * SEG
        })
    );
    assert_eq!(
        (full.len(), full.segment_count(), full.spare_capacity()),
        (2 * SEG, 2, 0)
    );
    assert_eq!(pool.stats().exhausted, 2);
    // A zero-byte reservation needs nothing.
    assert_eq!(other.try_reserve_block(0), Ok(()));
    // `reserve_block` serves over the budget and counts it.
    other.reserve_block(1);
    assert_eq!(other.spare_capacity(), SMALL);
    assert_eq!(pool.stats().over_limit, 1);
    drop(other);

    let message = full.freeze();
    assert_eq!(message, bytes, "the refused chain is intact");
    // Consuming a segment gives its bytes back to the budget.
    let mut rest = message;
    rest.advance(SEG);
    let mut again = pool.chain();
    assert_eq!(again.try_reserve_block(SEG), Ok(()));
    assert_eq!(again.spare_capacity(), SEG);
    assert_eq!(
        again.try_reserve_block(SEG),
        Ok(()),
        "room left: no new block"
    );
    drop((rest, again));
    assert_eq!(pool.stats().in_use_limit.unwrap().used, 0);
    assert_all_returned(&pool);
}

#[test]
fn max_in_use_bytes_counts_chain_blocks() {
    let pool = Pool::builder()
        .tiers(TIERS)
        .segment_capacity(SEG)
        .max_in_use_bytes(SEG + SMALL)
        .build()
        .unwrap();
    let mut chain = pool.chain();
    chain.put_slice(&pattern(1, SEG + 1));
    assert_eq!(pool.stats().in_use_bytes(), (SEG + SMALL) as u64);
    assert!(matches!(
        pool.try_get(1),
        Err(PoolError::Exhausted { requested, .. }) if requested == SMALL
    ));
    let mut message = chain.freeze();
    message.advance(SEG); // the segment-tier block goes back
    assert_eq!(pool.stats().in_use_bytes(), SMALL as u64);
    let buf = pool.try_get(SEG).expect("the budget has room again");
    assert!(pool.try_get(1).is_err());
    drop((buf, message));
    assert_all_returned(&pool);
}

#[test]
fn frozen_chains_list_their_segments() {
    let pool = pool();
    let len = 2 * SEG + SMALL + 1;
    let bytes = pattern(11, len);
    let message = frozen(&pool, &bytes);
    assert_eq!(message.len(), len);
    assert_eq!(message.remaining(), len);
    assert_eq!(message.segment_count(), 3);
    assert_eq!(message.segments().len(), 3);
    let back: Vec<usize> = message.segments().rev().map(|s| s.len()).collect();
    assert_eq!(back, vec![SMALL + 1, SEG, SEG]);
    let mut offset = 0;
    for segment in message.segments() {
        assert_eq!(segment.as_slice(), &bytes[offset..offset + segment.len()]);
        offset += segment.len();
    }
    assert_eq!(message.chunk(), &bytes[..SEG]);
    assert_eq!(
        message.chunk().as_ptr(),
        message.segments().next().unwrap().as_ptr()
    );

    let empty = SharedChain::new();
    assert!(empty.is_empty());
    assert_eq!((empty.len(), empty.segment_count()), (0, 0));
    assert_eq!(empty.chunk(), b"");
    assert_eq!(SharedChain::default(), empty);
    assert_eq!(pool.chain().freeze(), empty);
    drop(message);
    assert_all_returned(&pool);
}

#[test]
fn chunks_vectored_fills_one_slot_per_segment() {
    let pool = pool();
    let bytes = pattern(12, 3 * SEG + 2);
    let message = frozen(&pool, &bytes);
    assert_eq!(message.segment_count(), 4);

    let mut many = [IoSlice::new(&[]); 8];
    assert_eq!(message.chunks_vectored(&mut many), 4);
    let joined: Vec<u8> = many[..4].iter().flat_map(|s| s.iter().copied()).collect();
    assert_eq!(joined, bytes);
    for (slot, segment) in many.iter().zip(message.segments()) {
        assert_eq!(slot.as_ptr(), segment.as_ptr(), "no copy");
    }
    assert!(many[4..].iter().all(|s| s.is_empty()), "the rest untouched");

    let mut few = [IoSlice::new(&[]); 2];
    assert_eq!(message.chunks_vectored(&mut few), 2);
    assert_eq!(&few[0][..], &bytes[..SEG]);
    assert_eq!(&few[1][..], &bytes[SEG..2 * SEG]);

    assert_eq!(message.chunks_vectored(&mut []), 0);
    let empty = SharedChain::new();
    assert_eq!(empty.chunks_vectored(&mut many), 0);

    // After advancing into a segment, the first slot starts there.
    let mut rest = message.clone();
    rest.advance(SEG + 3);
    assert_eq!(rest.chunks_vectored(&mut many), 3);
    assert_eq!(&many[0][..], &bytes[SEG + 3..2 * SEG]);
    drop((message, rest));
    assert_all_returned(&pool);
}

#[test]
fn advance_gives_consumed_segments_back_at_once() {
    let pool = pool();
    let len = 6 * SEG + 5; // spilled: more than four segments
    let bytes = pattern(13, len);
    let mut message = frozen(&pool, &bytes);
    assert_eq!(in_use(&pool), vec![1, 6, 0]);
    let mut consumed = 0;
    for step in [SEG / 2, SEG / 2, SEG + 1, 2 * SEG - 1, 1, 0, SEG + 2] {
        message.advance(step);
        consumed += step;
        assert_eq!(message.remaining(), len - consumed);
        assert_eq!(message.to_vec(), &bytes[consumed..]);
        assert_eq!(
            message.chunk(),
            &bytes[consumed..(consumed / SEG + 1) * SEG]
        );
        let whole_left = 6 - consumed / SEG;
        assert_eq!(
            in_use(&pool),
            vec![1, whole_left as u64, 0],
            "after advancing {consumed} bytes"
        );
        assert_eq!(message.segment_count(), whole_left + 1);
    }
    message.advance(message.remaining() - 2);
    assert_eq!(message.chunk(), &bytes[len - 2..]);
    assert_eq!(in_use(&pool), vec![1, 0, 0]);
    message.advance(2);
    assert!(message.is_empty());
    assert_eq!(message.segment_count(), 0);
    assert_all_returned(&pool);

    // A clone keeps the blocks the other copy consumed.
    let message = frozen(&pool, &bytes);
    let mut reader = message.clone();
    reader.advance(3 * SEG);
    assert_eq!(in_use(&pool), vec![1, 6, 0]);
    drop(message);
    assert_eq!(in_use(&pool), vec![1, 3, 0]);
    drop(reader);
    assert_all_returned(&pool);
}

#[test]
fn advance_past_the_end_panics() {
    let pool = pool();
    let mut message = frozen(&pool, &pattern(14, SEG + 1));
    let err = catch_unwind(AssertUnwindSafe(|| message.advance(SEG + 2))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        format!(
            "advance({}) past the end of a SharedChain with {} bytes remaining",
            SEG + 2,
            SEG + 1
        )
    );
    assert_eq!(message.len(), SEG + 1, "unchanged");
    drop(message);
    assert_all_returned(&pool);
}

#[test]
fn copy_to_bytes_is_zero_copy_within_a_segment() {
    let pool = pool();
    let len = 2 * SEG + SEG / 2;
    let bytes = pattern(15, len);
    let mut message = frozen(&pool, &bytes);
    let first = message.segments().next().unwrap().as_ptr();

    let head = message.copy_to_bytes(10);
    assert_eq!(head.as_ptr(), first, "zero-copy");
    assert_eq!(head, &bytes[..10]);
    let rest_of_first = message.copy_to_bytes(SEG - 10);
    assert_eq!(rest_of_first.as_ptr(), first.wrapping_add(10));
    assert_eq!(rest_of_first, &bytes[10..SEG]);
    assert_eq!(message.segment_count(), 2, "the emptied segment is gone");
    assert_eq!(message.len(), len - SEG);
    // The `Bytes` keep the first block.
    assert_eq!(in_use(&pool), vec![0, 3, 0]);
    drop((head, rest_of_first));
    assert_eq!(in_use(&pool), vec![0, 2, 0]);

    // Across segments: copied, the right bytes, consumed segments released.
    let segment_ptrs: Vec<*const u8> = message.segments().map(|s| s.as_ptr()).collect();
    let across = message.copy_to_bytes(SEG + 5);
    assert_eq!(across, &bytes[SEG..2 * SEG + 5]);
    assert!(!segment_ptrs.contains(&across.as_ptr()), "a copy");
    assert_eq!(message.len(), len - 2 * SEG - 5);
    assert_eq!(message.chunk(), &bytes[2 * SEG + 5..]);
    assert_eq!(in_use(&pool), vec![0, 1, 0]);

    assert!(message.copy_to_bytes(0).is_empty());
    assert!(SharedChain::new().copy_to_bytes(0).is_empty());
    let err = catch_unwind(AssertUnwindSafe(|| message.copy_to_bytes(len))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        format!(
            "copy_to_bytes({len}) past the end of a SharedChain with {} bytes remaining",
            len - 2 * SEG - 5
        )
    );
    let tail = message.copy_to_bytes(message.len());
    assert_eq!(tail, &bytes[2 * SEG + 5..]);
    assert!(message.is_empty());
    drop((across, message));
    assert_eq!(in_use(&pool), vec![0, 1, 0], "`tail` shares the last block");
    drop(tail);
    assert_all_returned(&pool);
}

#[test]
fn slices_share_the_blocks() {
    let pool = pool();
    let len = 3 * SEG + SMALL / 2;
    let bytes = pattern(16, len);
    let message = frozen(&pool, &bytes);
    let ptrs: Vec<*const u8> = message.segments().map(|s| s.as_ptr()).collect();

    let ranges = [
        (0, 0),
        (1, 5),
        (SEG + 1, 2 * SEG - 1), // inside one segment
        (SEG, 2 * SEG),         // exactly one segment
        (SEG - 3, SEG + 3),     // across one boundary
        (SEG / 2, 3 * SEG + 1), // across every boundary
        (0, len),               // everything
        (len, len),             // empty, at the end
        (2 * SEG, 2 * SEG),     // empty, on a boundary
        (3 * SEG, len),         // the last segment
    ];
    for (start, end) in ranges {
        let slice = message.slice(start..end);
        assert_eq!(slice.len(), end - start, "{start}..{end}");
        assert_eq!(slice, bytes[start..end], "{start}..{end}");
        let first_segment = (start / SEG).min(3);
        let last_segment = if end == start {
            None
        } else {
            Some((end - 1) / SEG)
        };
        match last_segment {
            None => assert_eq!(slice.segment_count(), 0, "{start}..{end}"),
            Some(last) => {
                assert_eq!(
                    slice.segment_count(),
                    last - first_segment + 1,
                    "{start}..{end}"
                );
                assert_eq!(
                    slice.chunk().as_ptr(),
                    ptrs[first_segment].wrapping_add(start - first_segment * SEG),
                    "{start}..{end}: zero-copy"
                );
            }
        }
    }
    assert_eq!(message.slice(..), message);
    assert_eq!(message.slice(..=SEG), bytes[..=SEG]);
    assert_eq!(message.slice(SEG..), bytes[SEG..]);
    assert_eq!(
        message.slice((
            std::ops::Bound::Excluded(SEG - 1),
            std::ops::Bound::Unbounded
        )),
        bytes[SEG..]
    );
    // Slices of slices.
    let inner = message.slice(SEG - 4..3 * SEG).slice(2..SEG + 6);
    assert_eq!(inner, bytes[SEG - 2..2 * SEG + 2]);
    assert_eq!(inner.segment_count(), 3);

    // A slice keeps only the blocks it spans.
    let last = message.slice(3 * SEG..);
    drop(message);
    assert_eq!(
        in_use(&pool),
        vec![1, 3, 0],
        "`inner` spans three segment blocks"
    );
    drop(inner);
    assert_eq!(in_use(&pool), vec![1, 0, 0]);
    assert_eq!(last, bytes[3 * SEG..]);
    drop(last);
    assert_all_returned(&pool);
}

#[test]
fn out_of_bounds_slices_panic_with_the_range() {
    let pool = pool();
    let message = frozen(&pool, &pattern(17, SEG + 2));
    let len = SEG + 2;
    let cases: [(usize, usize); 3] = [(0, len + 1), (len + 1, len + 1), (5, 3)];
    for (start, end) in cases {
        let err = catch_unwind(AssertUnwindSafe(|| message.slice(start..end))).unwrap_err();
        assert_eq!(
            panic_message(&*err),
            format!("range {start}..{end} out of bounds for a SharedChain of length {len}")
        );
    }
    let err = catch_unwind(AssertUnwindSafe(|| message.slice(..=len))).unwrap_err();
    assert!(panic_message(&*err).contains("out of bounds for a SharedChain of length"));
    let err = catch_unwind(AssertUnwindSafe(|| SharedChain::new().slice(..1))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        "range 0..1 out of bounds for a SharedChain of length 0"
    );
    drop(message);
    assert_all_returned(&pool);
}

#[test]
fn clones_share_every_block() {
    let pool = pool();
    let bytes = pattern(18, 5 * SEG + 1);
    let message = frozen(&pool, &bytes);
    let before = in_use(&pool);
    let copy = message.clone();
    assert_eq!(in_use(&pool), before, "no new blocks");
    assert!(copy
        .segments()
        .zip(message.segments())
        .all(|(a, b)| a.as_ptr() == b.as_ptr() && a.same_block(b)));
    drop(message);
    assert_eq!(copy, bytes);
    assert_eq!(in_use(&pool), before);
    drop(copy);
    assert_all_returned(&pool);
}

#[test]
fn into_bytes_copies_only_several_segments() {
    let pool = pool();
    let one = frozen(&pool, &pattern(19, SEG));
    let ptr = one.chunk().as_ptr();
    let bytes = one.into_bytes();
    assert_eq!(bytes.as_ptr(), ptr, "one segment: zero-copy");
    assert_eq!(bytes, pattern(19, SEG));
    assert_eq!(in_use(&pool), vec![0, 1, 0], "the Bytes hold the block");
    drop(bytes);

    // One segment left after advancing: still zero-copy, from the offset.
    let mut advanced = frozen(&pool, &pattern(20, SEG + 9));
    advanced.advance(SEG + 2);
    let ptr = advanced.chunk().as_ptr();
    let bytes = advanced.into_bytes();
    assert_eq!(bytes.as_ptr(), ptr);
    assert_eq!(bytes, pattern(20, SEG + 9)[SEG + 2..]);
    drop(bytes);

    let several = frozen(&pool, &pattern(21, 3 * SEG + 1));
    let ptrs: Vec<*const u8> = several.segments().map(|s| s.as_ptr()).collect();
    let bytes = several.into_bytes();
    assert!(!ptrs.contains(&bytes.as_ptr()), "several segments: a copy");
    assert_eq!(bytes, pattern(21, 3 * SEG + 1));
    assert_all_returned(&pool);
    drop(bytes);

    assert_eq!(SharedChain::new().into_bytes(), Bytes::new());
    assert_all_returned(&pool);
}

#[test]
fn into_segments_hands_out_each_view() {
    let pool = pool();
    let bytes = pattern(22, 5 * SEG + 3);
    let message = frozen(&pool, &bytes);
    let ptrs: Vec<*const u8> = message.segments().map(|s| s.as_ptr()).collect();
    let parts: Vec<Bytes> = message.into_segments().map(SharedBuf::into_bytes).collect();
    assert_eq!(parts.len(), 6);
    for (part, ptr) in parts.iter().zip(&ptrs) {
        assert_eq!(part.as_ptr(), *ptr, "zero-copy");
    }
    assert_eq!(parts.concat(), bytes);
    drop(parts);
    assert_all_returned(&pool);

    // Stopping part-way drops the rest with the iterator.
    let message = frozen(&pool, &bytes);
    let mut segments = message.into_segments();
    let first = segments.next().unwrap();
    drop(segments);
    assert_eq!(in_use(&pool), vec![0, 1, 0]);
    assert_eq!(first, bytes[..SEG]);
    drop(first);
    assert_eq!(SharedChain::new().into_segments().count(), 0);
    assert_all_returned(&pool);
}

#[test]
fn comparisons_ignore_segment_boundaries() {
    let pool = pool();
    // One small tier: small segments, whatever the rule for long messages.
    let other_pool = Pool::builder().tiers([SMALL]).build().unwrap();
    let len = 2 * SEG + 7;
    let bytes = pattern(23, len);
    let whole = frozen(&pool, &bytes);
    let mut pieces = pool.chain();
    for part in bytes.chunks(SMALL / 2 + 3) {
        pieces.extend_from_slice(part);
    }
    let pieces = pieces.freeze();
    let small_segments = frozen(&other_pool, &bytes);
    assert_ne!(lens(&whole), lens(&small_segments));
    assert_ne!(lens(&whole), lens(&pieces));

    for chain in [&whole, &pieces, &small_segments] {
        assert_eq!(chain.to_vec(), bytes);
        assert_eq!(*chain, bytes[..]);
        assert_eq!(*chain, &bytes[..]);
        assert_eq!(*chain, bytes);
        assert_eq!(*chain, whole);
        assert_eq!(whole, *chain);
    }
    // Offset views of the same bytes compare equal too.
    let mut advanced = frozen(&pool, &[&[9][..], &bytes].concat());
    advanced.advance(1);
    assert_eq!(advanced, small_segments);

    let mut changed = bytes.clone();
    *changed.last_mut().unwrap() ^= 1;
    let changed_chain = frozen(&other_pool, &changed);
    assert_ne!(whole, changed_chain);
    assert_ne!(changed_chain, pieces);
    assert_ne!(whole, changed[..]);
    assert_ne!(whole, changed);
    assert_ne!(whole, bytes[..len - 1]);
    assert_ne!(whole, whole.slice(1..));
    assert_ne!(whole, bytes[1..]);
    assert_ne!(whole, SharedChain::new());
    assert_eq!(SharedChain::new(), Vec::<u8>::new());
    drop((whole, pieces, small_segments, advanced, changed_chain));
    assert_all_returned(&pool);
    assert_all_returned(&other_pool);
}

#[test]
fn a_view_becomes_a_one_segment_chain() {
    let pool = pool();
    let mut buf = pool.get(5);
    buf.extend_from_slice(b"hello");
    let view = buf.freeze();
    let ptr = view.as_ptr();
    let chain = SharedChain::from(view);
    assert_eq!(chain.segment_count(), 1);
    assert_eq!(chain.chunk().as_ptr(), ptr);
    assert_eq!(chain, b"hello"[..]);
    drop(chain);
    assert_all_returned(&pool);

    // An empty view makes an empty chain and lets go of its block.
    let empty = SharedChain::from(pool.get(5).freeze());
    assert_eq!((empty.len(), empty.segment_count()), (0, 0));
    assert_all_returned(&pool);

    let mut chain = pool.chain();
    chain.put_slice(b"into");
    let shared: SharedChain = chain.into();
    assert_eq!(shared, b"into"[..]);
    drop(shared);
    assert_all_returned(&pool);
}

#[test]
fn debug_output_shows_length_segments_and_a_preview() {
    let pool = pool();
    let mut chain = pool.chain();
    assert_eq!(
        format!("{chain:?}"),
        "PooledChain { len: 0, segments: 0, spare_capacity: 0 }"
    );
    chain.put_slice(b"abc");
    assert_eq!(
        format!("{chain:?}"),
        format!(
            "PooledChain {{ len: 3, segments: 1, spare_capacity: {} }}",
            SMALL - 3
        )
    );
    let message = chain.freeze();
    assert_eq!(
        format!("{message:?}"),
        "SharedChain { len: 3, segments: 1, head: b\"abc\" }"
    );
    assert_eq!(
        format!("{:?}", SharedChain::new()),
        "SharedChain { len: 0, segments: 0, head: b\"\" }"
    );
    let long = frozen(&pool, &vec![b'x'; SEG + 1]);
    let text = format!("{long:?}");
    assert!(
        text.starts_with(&format!(
            "SharedChain {{ len: {}, segments: 2, head: b\"xxxx",
            SEG + 1
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("\"... ({} more) }}", SEG - 32)),
        "{text}"
    );
    drop((message, long));
    assert_all_returned(&pool);
}

#[test]
fn every_block_returns_when_chains_drop_on_other_threads() {
    let pool = pool();
    let rounds = if cfg!(miri) { 2 } else { 20 };
    for round in 0..rounds {
        let bytes = pattern(round, 5 * SEG + round as usize);
        let message = frozen(&pool, &bytes);
        let mut unfinished = pool.chain();
        unfinished.put_slice(&bytes[..2 * SEG + 1]);
        let mut handles = Vec::new();
        for i in 0..3usize {
            let (copy, expected) = (message.clone(), bytes.clone());
            handles.push(thread::spawn(move || {
                let mut copy = copy;
                assert_eq!(copy, expected);
                copy.advance(i * SEG + 1);
                assert_eq!(copy.to_vec(), &expected[i * SEG + 1..]);
                let slice = copy.slice(1..SEG + 2);
                drop(copy);
                assert_eq!(slice, expected[i * SEG + 2..(i + 1) * SEG + 3]);
            }));
        }
        handles.push(thread::spawn(move || drop(unfinished)));
        let last = message.slice(SEG..);
        handles.push(thread::spawn(move || drop(message)));
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(last, bytes[SEG..]);
        thread::spawn(move || drop(last)).join().unwrap();
        assert_all_returned(&pool);
    }
}

#[test]
fn recycled_blocks_show_no_stale_bytes() {
    let pool = pool();
    let mut rng = Rng::new(0xC4A1);
    let rounds = if cfg!(miri) { 3 } else { 30 };
    for round in 0..rounds {
        // Pattern A: several chains of random lengths, then dropped.
        let a: Vec<SharedChain> = (0..4)
            .map(|i| {
                let len = rng.range(1, 5 * SEG);
                frozen(&pool, &pattern(round * 10 + i, len))
            })
            .collect();
        drop(a);
        let before: u64 = pool.stats().tiers.iter().map(|t| t.hits).sum();

        // Pattern B: other lengths, written every way, on recycled blocks.
        for how in 0..4 {
            let len = rng.range(0, 5 * SEG);
            let bytes = pattern(1000 + round * 10 + how, len);
            let mut chain = pool.chain();
            match how {
                0 => chain.put_slice(&bytes),
                1 => {
                    for part in bytes.chunks(rng.range(1, SEG + 3)) {
                        chain.write_all(part).unwrap();
                    }
                }
                2 => {
                    let mut written = 0;
                    while written < len {
                        let chunk = chain.chunk_mut();
                        let n = chunk.len().min(len - written).min(rng.range(1, SEG));
                        chunk[..n].copy_from_slice(&bytes[written..written + n]);
                        // SAFETY: `n` bytes were just written.
                        unsafe { chain.advance_mut(n) };
                        written += n;
                    }
                }
                _ => {
                    let fill = bytes.first().copied().unwrap_or(0);
                    chain.put_bytes(fill, len);
                    let message = chain.freeze();
                    assert_eq!(message.len(), len);
                    assert!(message.segments().all(|s| s.iter().all(|&b| b == fill)));
                    continue;
                }
            }
            let message = chain.freeze();
            assert_eq!(message.len(), len, "round {round}, how {how}");
            assert!(message == bytes, "round {round}, how {how}: stale bytes");
            assert!(message.segments().all(|s| !s.is_empty()));
        }
        let after: u64 = pool.stats().tiers.iter().map(|t| t.hits).sum();
        assert!(after > before, "round {round}: blocks were recycled");
        assert_all_returned(&pool);
    }
}

#[test]
fn segment_capacity_is_configurable() {
    // The default: the largest tier of at most 64 KiB.
    assert_eq!(Pool::new().chain().segment_capacity(), 64 << 10);
    let pool = Pool::builder()
        .tiers([1000, 4000, 100_000])
        .build()
        .unwrap();
    assert_eq!(pool.chain().segment_capacity(), 4000);
    // Every tier above 64 KiB: the smallest.
    let pool = Pool::builder().tiers([128 << 10, 1 << 20]).build().unwrap();
    assert_eq!(pool.chain().segment_capacity(), 128 << 10);

    // A custom segment tier: every block is one, the last one excepted.
    let pool = Pool::builder()
        .tiers(TIERS)
        .segment_capacity(SMALL)
        .build()
        .unwrap();
    let mut chain = pool.chain();
    assert_eq!(chain.segment_capacity(), SMALL);
    chain.put_bytes(7, 3 * SMALL + 1);
    let message = chain.freeze();
    assert_eq!(message.segment_count(), 4);
    assert!(message.segments().all(|s| s.tier() == Some(SMALL)));
    drop(message);

    let pool = Pool::builder()
        .tiers(TIERS)
        .segment_capacity(LARGEST)
        .build()
        .unwrap();
    let message = frozen(&pool, &pattern(5, LARGEST + SEG));
    let first = block_for(&TIERS, LARGEST, LARGEST + SEG);
    let second = block_for(&TIERS, LARGEST, LARGEST + SEG - first);
    assert_eq!(tiers(&message), vec![Some(first), Some(second)]);
    assert_eq!(first, LARGEST);
    drop(message);
    assert_all_returned(&pool);

    for capacity in [0, SMALL + 1, 2 * LARGEST] {
        let err = Pool::builder()
            .tiers(TIERS)
            .segment_capacity(capacity)
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::UnknownSegmentTier { capacity });
        assert_eq!(
            err.to_string(),
            format!(
                "segment capacity {capacity} is not one of the tiers; chains are made of one \
                 tier's blocks"
            )
        );
    }
}

#[test]
fn an_unfrozen_chain_returns_its_blocks_when_dropped() {
    let pool = pool();
    let mut chain = pool.chain();
    chain.put_slice(&pattern(30, 5 * SEG + 1));
    chain.reserve_block(1);
    assert_eq!(in_use(&pool), vec![1, 5, 0]);
    drop(chain);
    assert_all_returned(&pool);
    // A chain outlives the last pool handle.
    let mut chain = pool.chain();
    drop(pool);
    chain.put_slice(&pattern(31, 2 * SEG));
    let message = chain.freeze();
    assert_eq!(message, pattern(31, 2 * SEG));
}
