//! `SharedBuf`: frozen views, slicing without copies, splitting, codec-style
//! use of `PooledBuf::split_to`, `bytes::Buf`, comparisons, and the return of
//! the storage when the last view drops on any thread.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Buf, BufMut, Bytes};
use tierpool::{Pool, PooledBuf, SharedBuf};

mod common;
use common::{assert_all_returned, panic_message, Rng};

fn frozen(pool: &Pool, bytes: &[u8]) -> SharedBuf {
    let mut buf = pool.get(bytes.len());
    buf.extend_from_slice(bytes);
    buf.freeze()
}

#[test]
fn freeze_clone_and_slice_share_the_storage() {
    let pool = Pool::builder().tiers([64, 4096]).build().unwrap();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"0123456789");
    let ptr = buf.as_ptr();
    let view = buf.freeze();
    assert_eq!(view.as_ptr(), ptr, "freeze does not copy");
    assert_eq!(view, b"0123456789"[..]);
    assert_eq!(view.len(), 10);
    assert!(!view.is_empty());
    assert_eq!(view.tier(), Some(64));
    assert!(view.is_unique());

    let clone = view.clone();
    assert_eq!(clone.as_ptr(), ptr);
    assert!(clone.same_block(&view));
    assert!(!view.is_unique());

    for (a, b) in [(0, 10), (0, 0), (3, 7), (9, 10), (10, 10), (5, 5)] {
        let s = view.slice(a..b);
        assert_eq!(s.as_ptr(), ptr.wrapping_add(a), "slice({a}..{b})");
        assert_eq!(s.len(), b - a);
        assert_eq!(&s[..], &b"0123456789"[a..b]);
        // An empty slice holds no block.
        assert_eq!(s.same_block(&view), a < b, "slice({a}..{b})");
    }
    assert_eq!(view.slice(..).as_ptr(), ptr);
    assert_eq!(view.slice(..), view);
    assert_eq!(view.slice(4..).as_ptr(), ptr.wrapping_add(4));
    assert_eq!(view.slice(..=4), b"01234"[..]);
    assert_eq!(view.slice(..4), b"0123"[..]);
    assert_eq!(
        view.slice((Bound::Excluded(1), Bound::Included(3))),
        b"23"[..]
    );
    // Slices of slices stay relative and share the pointer arithmetic.
    let inner = view.slice(2..8).slice(1..3);
    assert_eq!(inner, b"34"[..]);
    assert_eq!(inner.as_ptr(), ptr.wrapping_add(3));

    // Distinct buffers do not share.
    let other = frozen(&pool, b"0123456789");
    assert!(!other.same_block(&view));
    assert_eq!(other, view);

    assert_eq!(pool.stats().tiers[0].in_use, 2);
    drop((view, clone, other));
    assert_eq!(pool.stats().tiers[0].in_use, 1, "`inner` keeps its storage");
    assert_eq!(inner, b"34"[..]);
    drop(inner);
    assert_all_returned(&pool);
}

#[test]
fn try_slice_rejects_bad_ranges() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let view = frozen(&pool, b"abc");
    #[allow(clippy::reversed_empty_ranges)]
    let bad: Vec<(Bound<usize>, Bound<usize>)> = vec![
        (Bound::Included(2), Bound::Excluded(9)),
        (Bound::Included(3), Bound::Excluded(2)),
        (Bound::Included(4), Bound::Unbounded),
        (Bound::Unbounded, Bound::Included(3)),
        (Bound::Unbounded, Bound::Excluded(4)),
        (Bound::Excluded(3), Bound::Unbounded),
        (Bound::Excluded(usize::MAX), Bound::Unbounded),
        (Bound::Unbounded, Bound::Included(usize::MAX)),
        (Bound::Included(usize::MAX), Bound::Excluded(usize::MAX)),
    ];
    for range in bad {
        assert!(view.try_slice(range).is_none(), "{range:?}");
    }
    assert_eq!(view.try_slice(3..).unwrap().len(), 0);
    assert_eq!(view.try_slice(3..3).unwrap().len(), 0);
    assert_eq!(view.try_slice(..=2).unwrap(), b"abc"[..]);
    assert_eq!(view.try_slice(1..2).unwrap(), b"b"[..]);
    // An empty view has exactly one valid range shape: empty at 0.
    let empty = view.slice(1..1);
    assert!(empty.try_slice(0..0).is_some());
    assert!(empty.try_slice(0..1).is_none());
    assert!(empty.try_slice(1..).is_none());
    drop((view, empty));
    assert_all_returned(&pool);
}

#[test]
#[should_panic(expected = "range 2..9 out of bounds for a SharedBuf of length 3")]
fn slice_panics_naming_the_range_and_length() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let view = frozen(&pool, b"abc");
    let _ = view.slice(2..9);
}

#[test]
fn slice_panic_messages_for_every_range_shape() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let view = frozen(&pool, b"abc");
    type Case<'a> = (Box<dyn Fn() -> SharedBuf + 'a>, &'static str);
    #[allow(clippy::reversed_empty_ranges)]
    let cases: Vec<Case<'_>> = vec![
        (Box::new(|| view.slice(2..9)), "2..9"),
        (Box::new(|| view.slice(3..2)), "3..2"),
        (Box::new(|| view.slice(..=3)), "..=3"),
        (Box::new(|| view.slice(4..)), "4.."),
        (Box::new(|| view.slice(1..=5)), "1..=5"),
        (Box::new(|| view.slice(..7)), "..7"),
        (
            Box::new(|| view.slice((Bound::Excluded(3), Bound::Unbounded))),
            "(excluded 3)..",
        ),
    ];
    for (f, shown) in cases {
        let caught = catch_unwind(AssertUnwindSafe(f)).unwrap_err();
        assert_eq!(
            panic_message(&*caught),
            format!("range {shown} out of bounds for a SharedBuf of length 3")
        );
    }
    assert_eq!(view, b"abc"[..]);
    drop(view);
    assert_all_returned(&pool);
}

#[test]
fn split_to_split_off_and_truncate() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let mut rest = frozen(&pool, b"header|body|trailer");
    let base = rest.as_ptr();
    let head = rest.split_to(7);
    assert_eq!(head, b"header|"[..]);
    assert_eq!(head.as_ptr(), base);
    assert_eq!(rest, b"body|trailer"[..]);
    assert_eq!(rest.as_ptr(), base.wrapping_add(7));
    let trailer = rest.split_off(5);
    assert_eq!(rest, b"body|"[..]);
    assert_eq!(trailer, b"trailer"[..]);
    assert_eq!(trailer.as_ptr(), base.wrapping_add(12));
    assert!(head.same_block(&trailer));

    let mut t = trailer.clone();
    t.truncate(100);
    assert_eq!(t, b"trailer"[..]);
    t.truncate(4);
    assert_eq!(t, b"trai"[..]);
    assert_eq!(
        trailer,
        b"trailer"[..],
        "truncating a clone leaves the original"
    );
    t.truncate(0);
    assert!(t.is_empty());

    // Degenerate splits.
    let mut all = rest.clone();
    let none = all.split_to(0);
    assert!(none.is_empty());
    assert_eq!(all, b"body|"[..]);
    let everything = all.split_to(5);
    assert_eq!(everything, b"body|"[..]);
    assert!(all.is_empty());
    let mut again = everything.clone();
    let empty_tail = again.split_off(5);
    assert!(empty_tail.is_empty());
    assert_eq!(again, everything);

    let caught = catch_unwind(AssertUnwindSafe(|| rest.clone().split_to(6))).unwrap_err();
    assert_eq!(
        panic_message(&*caught),
        "split_to(6) out of bounds for a SharedBuf of length 5"
    );
    let caught = catch_unwind(AssertUnwindSafe(|| rest.clone().split_off(9))).unwrap_err();
    assert_eq!(
        panic_message(&*caught),
        "split_off(9) out of bounds for a SharedBuf of length 5"
    );
    let mut buf = pool.get(1);
    buf.extend_from_slice(b"ab");
    let caught = catch_unwind(AssertUnwindSafe(|| buf.split_to(3))).unwrap_err();
    assert_eq!(
        panic_message(&*caught),
        "split_to(3) out of bounds for a PooledBuf of length 2"
    );
    assert_eq!(&buf[..], b"ab", "a failed split leaves the buffer");

    assert_eq!(pool.stats().tiers[0].in_use, 2);
    drop((
        rest, head, trailer, t, all, none, everything, again, empty_tail, buf,
    ));
    assert_all_returned(&pool);
}

#[test]
fn pooled_split_to_decodes_length_prefixed_frames_from_a_chunked_stream() {
    for seed in 0..if cfg!(miri) { 2 } else { 20 } {
        decode_stream(seed);
    }
}

fn decode_stream(seed: u64) {
    let pool = Pool::builder().tiers([64, 256, 1024]).build().unwrap();
    let mut rng = Rng::new(seed);
    let frames = if cfg!(miri) { 25 } else { 300 };

    // Encode: u32 big-endian length, then the payload.
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    let mut stream = Vec::new();
    for i in 0..frames {
        let len = match rng.below(10) {
            0 => 0,
            1 => 1500 + rng.below(500), // beyond the largest tier
            2..=4 => 60 + rng.below(200),
            _ => rng.below(40),
        };
        let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
        stream.extend_from_slice(&(len as u32).to_be_bytes());
        stream.extend_from_slice(&payload);
        payloads.push(payload);
    }

    // Decode, feeding the stream in random chunk sizes.
    let mut rx: PooledBuf = pool.get(0);
    let mut decoded: Vec<SharedBuf> = Vec::new();
    let mut fed = 0;
    let mut moves = 0;
    while fed < stream.len() {
        let n = (1 + rng.below(100)).min(stream.len() - fed);
        let before = rx.as_ptr();
        let before_cap = rx.capacity();
        rx.extend_from_slice(&stream[fed..fed + n]);
        if n > before_cap - (rx.len() - n) {
            moves += 1;
            assert_ne!(rx.as_ptr(), before, "growth moves the buffer");
        }
        fed += n;
        loop {
            if rx.len() < 4 {
                break;
            }
            let len = u32::from_be_bytes(rx[..4].try_into().unwrap()) as usize;
            if rx.len() < 4 + len {
                break;
            }
            let header = rx.split_to(4);
            assert_eq!(header, (len as u32).to_be_bytes()[..]);
            let frame = rx.split_to(len);
            assert_eq!(frame.len(), len);
            // The frame sits right after its header in the same storage.
            assert_eq!(frame.as_ptr(), header.as_ptr().wrapping_add(4));
            assert_eq!(
                frame.same_block(&header),
                len > 0,
                "an empty frame holds no block"
            );
            assert_eq!(rx.as_ptr(), frame.as_ptr().wrapping_add(len));
            decoded.push(frame);
        }
        // Every frame so far is intact while later bytes are written.
        let i = rng.below(decoded.len().max(1));
        if let Some(frame) = decoded.get(i) {
            assert_eq!(frame[..], payloads[i][..], "frame {i} changed");
        }
    }
    assert!(rx.is_empty(), "the stream ends on a frame boundary");
    assert!(moves > 0);
    assert_eq!(decoded.len(), payloads.len());
    for (i, (frame, payload)) in decoded.iter().zip(&payloads).enumerate() {
        assert_eq!(frame[..], payload[..], "frame {i}");
    }
    // Frames share storages: each pins at most one block, and neighbours
    // often pin the same one.
    let stats = pool.stats();
    let blocks: u64 = stats.tiers.iter().map(|t| t.in_use).sum::<u64>() + stats.oversize.in_use;
    assert!(
        blocks <= frames as u64,
        "{blocks} blocks for {frames} frames"
    );
    assert!(decoded.windows(2).any(|w| w[0].same_block(&w[1])));
    drop(rx);
    rng.shuffle(&mut decoded);
    while let Some(frame) = decoded.pop() {
        if let Some(other) = decoded.last() {
            let _ = &other[..]; // the others are still readable
        }
        drop(frame);
    }
    let stats = pool.stats();
    let got: u64 = stats.tiers.iter().map(|t| t.hits + t.misses).sum();
    let returned: u64 = stats.tiers.iter().map(|t| t.returns).sum();
    assert_eq!(got, returned);
    assert_all_returned(&pool);
}

#[test]
fn split_then_growth_moves_the_buffer_and_views_keep_the_old_storage() {
    let pool = Pool::builder().tiers([16, 64]).build().unwrap();
    let mut buf = pool.get(1);
    buf.extend_from_slice(b"first-frame|rest");
    let old = buf.as_ptr();
    let first = buf.split_to(12);
    assert_eq!(first, b"first-frame|"[..]);
    assert_eq!(first.as_ptr(), old);
    assert_eq!(&buf[..], b"rest");
    assert_eq!(buf.as_ptr(), old.wrapping_add(12));
    assert_eq!(
        buf.capacity(),
        4,
        "the buffer keeps only what is after the split"
    );
    assert_eq!(pool.stats().tiers[0].in_use, 1, "one block, two holders");

    buf.extend_from_slice(b" and more data");
    assert_eq!(&buf[..], b"rest and more data");
    assert_eq!(buf.capacity(), 64);
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].in_use, 1, "the view keeps the old block");
    assert_eq!(stats.tiers[0].returns, 0);
    assert_eq!(stats.tiers[1].in_use, 1);
    assert_eq!(first, b"first-frame|"[..]);
    assert_eq!(first.as_ptr(), old, "views never move");

    // The view is now the only holder of the old block.
    assert!(first.is_unique());
    drop(first);
    let stats = pool.stats();
    assert_eq!((stats.tiers[0].in_use, stats.tiers[0].returns), (0, 1));

    // Split everything off, then keep writing.
    let all = buf.split_to(buf.len());
    assert!(buf.is_empty());
    assert_eq!(buf.capacity(), 64 - 18);
    buf.extend_from_slice(b"x");
    assert_eq!(buf.as_ptr(), all.as_ptr().wrapping_add(18));
    let rest = buf.freeze();
    assert_eq!(rest, b"x"[..]);
    assert!(rest.same_block(&all));
    drop((all, rest));
    assert_all_returned(&pool);
}

#[test]
fn try_into_mut_when_unique_and_when_shared() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let view = frozen(&pool, b"abcdef");
    let ptr = view.as_ptr();

    // Shared with a clone: refused, given back intact.
    let clone = view.clone();
    let view = view.try_into_mut().unwrap_err();
    assert_eq!(view, b"abcdef"[..]);
    assert_eq!(view.as_ptr(), ptr);
    drop(clone);

    // Unique: the same memory, writable again.
    let mut buf = view.try_into_mut().unwrap();
    assert_eq!(buf.as_ptr(), ptr);
    assert_eq!(&buf[..], b"abcdef");
    assert_eq!(buf.capacity(), 64);
    buf.extend_from_slice(b"gh");
    assert_eq!(&buf[..], b"abcdefgh");

    // A slice that outlived its parent: capacity runs to the end of the
    // storage from the slice's start; earlier bytes are out of reach.
    let parent = buf.freeze();
    let middle = parent.slice(2..5);
    assert!(middle.clone().try_into_mut().is_err());
    let view = parent.try_into_mut().unwrap_err();
    drop(view);
    let mut buf = middle.try_into_mut().unwrap();
    assert_eq!(&buf[..], b"cde");
    assert_eq!(buf.as_ptr(), ptr.wrapping_add(2));
    assert_eq!(buf.capacity(), 62);
    buf.truncate(1);
    buf.resize(5, 0);
    assert_eq!(&buf[..], b"c\0\0\0\0");

    // Shared with the PooledBuf it was split from: refused.
    let head = buf.split_to(1);
    let head = head.try_into_mut().unwrap_err();
    buf.extend_from_slice(b"!");
    drop(buf);
    let mut head = head.try_into_mut().unwrap();
    assert_eq!(&head[..], b"c");
    // Growth after try_into_mut works like any buffer.
    head.extend_from_slice(&[1; 100]);
    assert_eq!(head.tier(), None);
    assert_eq!(head.len(), 101);

    // Shared with a Bytes: refused until the Bytes drops.
    let view = frozen(&pool, b"xyz");
    let bytes = view.clone().into_bytes();
    let view = view.try_into_mut().unwrap_err();
    drop(bytes);
    let xyz = view.try_into_mut().unwrap();
    assert_eq!(&xyz[..], b"xyz");

    // An empty frozen buffer keeps its block (as `BytesMut::freeze` does)
    // and becomes an empty buffer with full capacity.
    let nothing = pool.get(1).freeze();
    let back = nothing.try_into_mut().unwrap();
    assert!(back.is_empty());
    assert_eq!(back.capacity(), 64);

    // A view left empty holds no block: never unique, given back.
    let mut emptied = frozen(&pool, b"abc");
    emptied.truncate(0);
    assert!(!emptied.is_unique());
    assert_eq!(emptied.tier(), None);
    assert!(emptied.try_into_mut().is_err());

    drop((head, xyz, back));
    assert_all_returned(&pool);
}

#[test]
fn buf_consumption_is_zero_copy() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let mut buf = pool.get(1);
    buf.put_u32(0xCAFE_F00D);
    buf.put_u8(7);
    buf.put_u16_le(0x1234);
    buf.put_slice(b"payload-bytes");
    let mut view = buf.freeze();
    let base = view.as_ptr();

    assert_eq!(view.remaining(), 20);
    assert_eq!(view.get_u32(), 0xCAFE_F00D);
    assert_eq!(view.get_u8(), 7);
    assert_eq!(view.get_u16_le(), 0x1234);
    assert_eq!(view.remaining(), 13);
    assert_eq!(view.chunk(), b"payload-bytes");
    assert_eq!(view.as_ptr(), base.wrapping_add(7));

    let payload = view.copy_to_bytes(7);
    assert_eq!(&payload[..], b"payload");
    assert_eq!(
        payload.as_ptr(),
        base.wrapping_add(7),
        "copy_to_bytes does not copy"
    );
    view.advance(1);
    assert_eq!(view, b"bytes"[..]);
    let rest = view.copy_to_bytes(5);
    assert_eq!(rest.as_ptr(), base.wrapping_add(15));
    assert_eq!(view.remaining(), 0);
    assert!(!view.has_remaining());
    let nothing = view.copy_to_bytes(0);
    assert!(nothing.is_empty());

    let caught = catch_unwind(AssertUnwindSafe(|| view.advance(1))).unwrap_err();
    assert_eq!(
        panic_message(&*caught),
        "advance(1) past the end of a SharedBuf with 0 bytes remaining"
    );
    let caught = catch_unwind(AssertUnwindSafe(|| view.copy_to_bytes(2))).unwrap_err();
    assert_eq!(
        panic_message(&*caught),
        "copy_to_bytes(2) past the end of a SharedBuf with 0 bytes remaining"
    );

    // The Bytes keep the storage after every view is gone.
    drop(view);
    assert_eq!(pool.stats().tiers[0].in_use, 1);
    drop(rest);
    assert_eq!(pool.stats().tiers[0].in_use, 1);
    assert_eq!(&payload[..], b"payload");
    drop(payload);
    drop(nothing);
    assert_all_returned(&pool);
}

#[test]
fn comparisons_and_hashing_go_by_contents() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let abc = frozen(&pool, b"abc");
    let abd = frozen(&pool, b"abd");
    let abc2 = frozen(&pool, b"xabc").slice(1..);
    let ab = abc.slice(..2);

    assert_eq!(abc, abc2);
    assert_ne!(abc, abd);
    assert!(abc < abd);
    assert!(ab < abc);
    assert_eq!(abc.cmp(&abc2), std::cmp::Ordering::Equal);
    assert_eq!(abd.cmp(&abc), std::cmp::Ordering::Greater);
    assert_eq!(abc.partial_cmp(&abd), Some(std::cmp::Ordering::Less));

    // Against [u8], &[u8] and Vec<u8>, both ways.
    let slice: &[u8] = b"abc";
    let vec = b"abc".to_vec();
    assert!(abc == *slice);
    assert!(*slice == abc);
    assert!(abc == slice);
    assert!(slice == abc);
    assert!(abc == vec);
    assert!(vec == abc);
    assert!(abd != vec);
    assert!(abc.partial_cmp(slice) == Some(std::cmp::Ordering::Equal));
    assert!(abc < b"abd"[..]);
    assert!(b"abb"[..] < abc);
    let (b, abcd): (&[u8], &[u8]) = (b"b", b"abcd");
    assert!(abc < b);
    assert!(abcd > abc);
    assert!(abc < b"abcd".to_vec());
    assert!(b"ab".to_vec() < abc);

    // Hash like [u8].
    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut h = DefaultHasher::new();
        value.hash(&mut h);
        h.finish()
    }
    assert_eq!(hash_of(&abc), hash_of(&b"abc"[..]));
    assert_eq!(hash_of(&abc), hash_of(&abc2));
    let mut set = HashSet::new();
    assert!(set.insert(abc.clone()));
    assert!(!set.insert(abc2.clone()), "equal contents are one key");
    assert!(set.contains(&b"abc"[..]));
    assert!(!set.contains(&b"abd"[..]));
    let mut map: HashMap<SharedBuf, u32> = HashMap::new();
    map.insert(abd.clone(), 4);
    assert_eq!(map.get(&b"abd"[..]), Some(&4));

    let sorted: BTreeSet<SharedBuf> = [abd.clone(), abc.clone(), ab.clone()].into_iter().collect();
    let order: Vec<&[u8]> = sorted.iter().map(|v| v.as_slice()).collect();
    assert_eq!(order, vec![&b"ab"[..], b"abc", b"abd"]);
    assert!(sorted.contains(&b"abc"[..]));

    let text = format!("{abc:?}");
    assert!(text.contains("SharedBuf"), "{text}");
    assert!(text.contains("abc"), "{text}");
    drop((abc, abd, abc2, ab, set, map, sorted));
    assert_all_returned(&pool);
}

#[test]
fn debug_of_a_large_view_is_short_and_conversions_work() {
    let pool = Pool::builder().build().unwrap();
    let mut buf = pool.get(1 << 20);
    buf.resize(1 << 20, b'q');
    let view: SharedBuf = SharedBuf::from(buf);
    let text = format!("{view:?}");
    assert!(text.len() < 200, "{text}");
    assert!(text.contains("len: 1048576"), "{text}");
    assert!(text.contains("1048544 more"), "{text}");
    let r: &[u8] = view.as_ref();
    assert_eq!(r.len(), 1 << 20);
    let b: &[u8] = std::borrow::Borrow::borrow(&view);
    assert_eq!(b.as_ptr(), r.as_ptr());
    assert_eq!(view.tier(), Some(1 << 20));

    let big = pool.get(3 << 20).freeze();
    assert_eq!(big.tier(), None);
    assert!(big.is_empty());
    assert_eq!(pool.stats().oversize.in_use, 1);
    drop((view, big));
    assert_all_returned(&pool);
}

#[test]
fn storage_returns_once_when_the_last_view_drops_on_any_thread() {
    let pool = Pool::builder().tiers([64, 4096]).build().unwrap();
    let rounds: u64 = if cfg!(miri) { 4 } else { 200 };
    let mut rng = Rng::new(7);
    for round in 0..rounds {
        let mut buf = pool.get(if round % 2 == 0 { 10 } else { 1000 });
        buf.extend_from_slice(&round.to_le_bytes());
        buf.extend_from_slice(b"-payload-shared-by-views");
        let view = buf.freeze();
        let expected = view.as_slice().to_vec();
        let mut views: Vec<SharedBuf> = Vec::new();
        for i in 0..9 {
            views.push(match i % 3 {
                0 => view.clone(),
                1 => view.slice(3..),
                _ => view.slice(..8),
            });
        }
        rng.shuffle(&mut views);
        let to_b = views.split_off(6);
        let to_a = views.split_off(3);
        let mine = views;
        let seed = rng.next();
        std::thread::scope(|s| {
            for (k, batch) in [to_a, to_b].into_iter().enumerate() {
                let expected = &expected;
                s.spawn(move || {
                    let mut rng = Rng::new(seed + k as u64);
                    let mut batch = batch;
                    rng.shuffle(&mut batch);
                    for v in batch {
                        assert!(expected.windows(v.len()).any(|w| w == &v[..]));
                        if rng.below(2) == 0 {
                            std::thread::yield_now();
                        }
                        drop(v);
                    }
                });
            }
            drop(view);
            for v in mine {
                assert!(expected.windows(v.len()).any(|w| w == &v[..]));
                drop(v);
            }
        });
        let stats = pool.stats();
        for t in &stats.tiers {
            assert_eq!(t.in_use, 0, "round {round}: {stats:?}");
        }
    }
    let stats = pool.stats();
    let returns: u64 = stats.tiers.iter().map(|t| t.returns).sum();
    assert_eq!(returns, rounds, "each storage returned exactly once");
    assert_all_returned(&pool);
}

#[test]
fn empty_views() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let empty = pool.get(1).freeze();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty, b""[..]);
    assert_eq!(empty.slice(..), b""[..]);
    let mut e = empty.clone();
    assert_eq!(e.split_to(0).len(), 0);
    assert_eq!(e.split_off(0).len(), 0);
    assert_eq!(e.remaining(), 0);
    let bytes: Bytes = e.copy_to_bytes(0);
    assert!(bytes.is_empty());
    drop((empty, e));
    assert_all_returned(&pool);
}

/// A view left empty lets go of its share of the block at once, as `Bytes`
/// does since bytes 1.12.2 (tokio-rs/bytes#842), so the holders left can
/// become unique; the empty views keep the address they were taken at.
#[test]
fn emptied_views_let_go_of_their_block() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    type Empty = fn(&mut SharedBuf) -> SharedBuf;
    let ways: [(&str, Empty, usize); 6] = [
        (
            "truncate(0)",
            |v| {
                v.truncate(0);
                v.split_off(0)
            },
            0,
        ),
        ("split_to(len)", |v| v.split_to(v.len()), 5),
        ("split_off(0)", |v| v.split_off(0), 0),
        (
            "advance(len)",
            |v| {
                v.advance(v.len());
                v.split_off(0)
            },
            5,
        ),
        (
            "copy_to_bytes(len)",
            |v| {
                drop(v.copy_to_bytes(v.len()));
                v.split_off(0)
            },
            5,
        ),
        (
            "try_slice(5..5)",
            |v| {
                let empty = v.try_slice(5..5).unwrap();
                drop(std::mem::replace(v, empty));
                v.split_off(0)
            },
            5,
        ),
    ];
    for (what, empty_it, offset) in ways {
        let mut view = frozen(&pool, b"hello");
        let ptr = view.as_ptr();
        let other = view.clone();
        drop(empty_it(&mut view));
        assert!(view.is_empty(), "{what}");
        assert_eq!(view.as_ptr(), ptr.wrapping_add(offset), "{what}: address");
        assert_eq!(&view[..], b"", "{what}");
        assert!(!view.is_unique(), "{what}: holds no block");
        assert!(!view.same_block(&other), "{what}");
        assert_eq!(view.tier(), None, "{what}");
        assert!(other.is_unique(), "{what}: the other view is alone now");
        let mut back = other.try_into_mut().unwrap();
        back[0] = b'H';
        assert_eq!(&back[..], b"Hello", "{what}");
        let view = view.try_into_mut().unwrap_err();
        drop((view, back));
    }

    // Empty parts returned by splits and slices hold no block either.
    let mut view = frozen(&pool, b"hello");
    let ptr = view.as_ptr();
    let head = view.split_to(0);
    let tail = view.split_off(view.len());
    let mid = view.slice(2..2);
    assert_eq!(head.as_ptr(), ptr);
    assert_eq!(tail.as_ptr(), ptr.wrapping_add(5));
    assert_eq!(mid.as_ptr(), ptr.wrapping_add(2));
    assert!(view.is_unique());
    let mut buf = pool.get(8);
    buf.extend_from_slice(b"abc");
    let nothing = buf.split_to(0);
    assert!(!nothing.same_block(&buf.split_to(1)));
    drop((head, tail, mid, nothing, buf, view));
    assert_all_returned(&pool);

    // A view stays three words, an empty one included.
    use std::mem::size_of;
    assert_eq!(size_of::<SharedBuf>(), 3 * size_of::<usize>());
    assert_eq!(size_of::<Option<SharedBuf>>(), size_of::<SharedBuf>());
}

/// `slice_ref` turns a borrowed subslice into a view of the same bytes.
#[test]
fn slice_ref_shares_the_block() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let view = frozen(&pool, b"012345678");
    for (start, end) in [(0, 3), (2, 6), (7, 9), (0, 9)] {
        let sub = view.slice_ref(&view[start..end]);
        assert_eq!(&sub[..], &b"012345678"[start..end]);
        assert_eq!(sub.as_ptr(), view[start..].as_ptr());
        assert!(sub.same_block(&view));
    }
    // Empty subsets, wherever they point, give an empty view.
    for empty in [&view[0..0], &view[9..9], &b"elsewhere"[..0]] {
        let sub = view.slice_ref(empty);
        assert!(sub.is_empty() && !sub.same_block(&view));
    }
    let outside = b"012345678";
    let err = catch_unwind(AssertUnwindSafe(|| drop(view.slice_ref(&outside[..4])))).unwrap_err();
    assert!(
        panic_message(&*err).starts_with("slice_ref: subset"),
        "{}",
        panic_message(&*err)
    );
    let err = catch_unwind(AssertUnwindSafe(|| {
        let longer = view.slice(..4);
        drop(longer.slice_ref(&view[2..6]));
    }))
    .unwrap_err();
    assert!(panic_message(&*err).contains("is not within"));
    drop(view);
    assert_all_returned(&pool);
}
