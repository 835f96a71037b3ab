//! `SharedBuf` -> `bytes::Bytes` without copying, and the storage's return
//! to the pool when the last `Bytes` clone drops, on any thread.

use bytes::{Buf, Bytes, BytesMut};
use tierpool::{Pool, SharedBuf};

mod common;
use common::assert_all_returned;

fn frozen(pool: &Pool, bytes: &[u8]) -> SharedBuf {
    let mut buf = pool.get(bytes.len());
    buf.extend_from_slice(bytes);
    buf.freeze()
}

fn in_use(pool: &Pool) -> u64 {
    let stats = pool.stats();
    stats.tiers.iter().map(|t| t.in_use).sum::<u64>() + stats.oversize.in_use
}

#[test]
fn into_bytes_keeps_the_same_memory() {
    let pool = Pool::builder().build().unwrap();
    let view = frozen(&pool, b"zero-copy payload");
    let ptr = view.as_ptr();

    let bytes = view.clone().into_bytes();
    assert_eq!(bytes.as_ptr(), ptr);
    assert_eq!(&bytes[..], b"zero-copy payload");
    assert_eq!(bytes, view);
    assert_eq!(view, bytes);

    let via_from: Bytes = Bytes::from(view.slice(10..));
    assert_eq!(via_from.as_ptr(), ptr.wrapping_add(10));
    assert_eq!(&via_from[..], b"payload");
    let via_into: Bytes = view.slice(..4).into();
    assert_eq!(via_into.as_ptr(), ptr);
    assert_eq!(&via_into[..], b"zero");

    // Slices and clones of the Bytes stay in the pooled memory.
    let part = bytes.slice(5..9);
    assert_eq!(part.as_ptr(), ptr.wrapping_add(5));
    assert_eq!(&part[..], b"copy");
    let clone = bytes.clone();
    assert_eq!(clone.as_ptr(), ptr);

    // Oversize storage converts the same way.
    let mut big = pool.get(2 << 20);
    big.extend_from_slice(b"big");
    let big = big.freeze().into_bytes();
    assert_eq!(&big[..], b"big");
    assert_eq!(pool.stats().oversize.in_use, 1);
    drop(big);

    drop((view, bytes, via_from, via_into, part, clone));
    assert_all_returned(&pool);
}

#[test]
fn storage_returns_only_when_the_last_bytes_clone_drops() {
    let pool = Pool::builder().build().unwrap();
    let view = frozen(&pool, b"shared by many Bytes");
    let bytes = view.into_bytes();
    let clones: Vec<Bytes> = (0..3).map(|_| bytes.clone()).collect();
    let mut split = bytes.clone();
    let head = split.split_to(6);
    let tail = bytes.slice(15..);
    assert_eq!(&head[..], b"shared");
    assert_eq!(&tail[..], b"Bytes");
    assert_eq!(pool.stats().tiers[0].in_use, 1);

    drop(bytes);
    drop(clones);
    drop(head);
    drop(split);
    let stats = pool.stats().tiers[0];
    assert_eq!(
        (stats.in_use, stats.returns),
        (1, 0),
        "`tail` still holds it"
    );
    assert_eq!(&tail[..], b"Bytes");
    drop(tail);
    let stats = pool.stats().tiers[0];
    assert_eq!((stats.in_use, stats.returns), (0, 1));

    // Mixed holders: a view and a Bytes; either order.
    for bytes_last in [true, false] {
        let view = frozen(&pool, b"mixed");
        let bytes = view.clone().into_bytes();
        if bytes_last {
            drop(view);
            assert_eq!(in_use(&pool), 1);
            drop(bytes);
        } else {
            drop(bytes);
            assert_eq!(in_use(&pool), 1);
            assert!(view.is_unique());
            drop(view);
        }
        assert_eq!(in_use(&pool), 0);
    }
    // The block went back to this thread's cache each time: one miss total.
    assert_eq!(pool.stats().tiers[0].misses, 1);
    assert_all_returned(&pool);
}

#[test]
fn bytes_clones_and_slices_on_other_threads() {
    let pool = Pool::builder().build().unwrap();
    let rounds = if cfg!(miri) { 3 } else { 100 };
    for round in 0..rounds {
        let mut buf = pool.get(5000);
        for i in 0..64u8 {
            buf.extend_from_slice(&[i; 16]);
        }
        let bytes = buf.freeze().into_bytes();
        let addr = bytes.as_ptr() as usize;
        let mut main = Some(bytes.clone());
        std::thread::scope(|s| {
            for t in 0..2usize {
                let mine = bytes.clone();
                s.spawn(move || {
                    for i in (t..64).step_by(2) {
                        let piece = mine.slice(i * 16..(i + 1) * 16);
                        assert_eq!(piece.as_ptr() as usize, addr + i * 16, "no copy");
                        assert!(piece.iter().all(|&b| b == i as u8));
                    }
                    let mut rest = mine;
                    rest.advance(16 * t);
                    assert_eq!(rest[0], t as u8);
                });
            }
            drop(bytes);
            if round % 2 == 0 {
                // Sometimes the last holder is one of the other threads.
                drop(main.take());
            }
        });
        // Every thread has finished with its clones.
        let expected = u64::from(main.is_some());
        assert_eq!(pool.stats().tiers[1].in_use, expected, "round {round}");
        drop(main);
        assert_eq!(pool.stats().tiers[1].in_use, 0);
    }
    assert_all_returned(&pool);
}

#[test]
fn the_last_bytes_dropped_on_an_exiting_thread_is_reused_here() {
    let pool = Pool::builder().build().unwrap();
    let bytes = frozen(&pool, b"travels").into_bytes();
    let ptr = bytes.as_ptr();
    std::thread::spawn(move || {
        assert_eq!(&bytes[..], b"travels");
        drop(bytes);
    })
    .join()
    .unwrap();
    let stats = pool.stats().tiers[0];
    assert_eq!((stats.returns, stats.in_use), (1, 0));
    // The other thread's cache went to the depot when it exited.
    let again = pool.get(1);
    assert_eq!(again.as_ptr(), ptr);
    assert!(again.is_empty());
    assert_eq!(pool.stats().tiers[0].hits, 1);
    drop(again);
    assert_all_returned(&pool);
}

#[test]
fn empty_views_become_empty_bytes_and_release_at_once() {
    let pool = Pool::builder().build().unwrap();
    let empty = pool.get(10).freeze().into_bytes();
    assert!(empty.is_empty());
    assert_eq!(empty, Bytes::new());
    assert_eq!(pool.stats().tiers[0].in_use, 0, "nothing to keep alive");

    let view = frozen(&pool, b"abc");
    let nothing = view.slice(3..).into_bytes();
    assert!(nothing.is_empty());
    assert_eq!(pool.stats().tiers[0].in_use, 1, "the view still holds it");
    drop(view);
    assert_eq!(pool.stats().tiers[0].in_use, 0);
    drop((empty, nothing));
    assert_all_returned(&pool);
}

#[test]
fn converting_to_owned_types_copies_and_releases() {
    let pool = Pool::builder().build().unwrap();
    let bytes = frozen(&pool, b"copy me").into_bytes();
    let ptr = bytes.as_ptr();
    // Bytes made from a foreign owner is never unique to `bytes`.
    let bytes = bytes.try_into_mut().unwrap_err();
    assert_eq!(bytes.as_ptr(), ptr);
    let other = bytes.clone();
    let mutable = BytesMut::from(bytes);
    assert_eq!(&mutable[..], b"copy me");
    assert_ne!(mutable.as_ptr(), ptr, "BytesMut cannot reuse pooled memory");
    assert_eq!(pool.stats().tiers[0].in_use, 1, "`other` still holds it");
    let vec: Vec<u8> = Vec::from(other);
    assert_eq!(vec, b"copy me");
    assert_eq!(pool.stats().tiers[0].in_use, 0, "the copies released it");
    drop(mutable);
    assert_all_returned(&pool);
}

#[test]
fn copy_to_bytes_and_buf_on_bytes() {
    let pool = Pool::builder().build().unwrap();
    let mut view = frozen(&pool, b"\x00\x00\x00\x05hello\x00\x00\x00\x05world");
    let base = view.as_ptr();
    let mut frames = Vec::new();
    while view.has_remaining() {
        let len = view.get_u32() as usize;
        frames.push(view.copy_to_bytes(len));
    }
    assert_eq!(
        frames,
        vec![Bytes::from_static(b"hello"), Bytes::from_static(b"world")]
    );
    assert_eq!(frames[0].as_ptr(), base.wrapping_add(4));
    assert_eq!(frames[1].as_ptr(), base.wrapping_add(13));
    drop(view);
    assert_eq!(pool.stats().tiers[0].in_use, 1);
    drop(frames);
    assert_all_returned(&pool);
}
