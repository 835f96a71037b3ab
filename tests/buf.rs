//! `PooledBuf`: the mutable buffer API, its trait impls, growth across tiers
//! and the guarantee that no bytes of an earlier holder are readable.

use std::borrow::Borrow;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::BufMut;
use tierpool::{Pool, PoolError, PooledBuf};

mod common;
use common::{assert_all_returned, panic_message};

/// `len` bytes of a pattern with period 251 (prime, so it never lines up
/// with a power-of-two capacity). Built by doubling so it stays cheap under
/// Miri.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut v: Vec<u8> = (0..251u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(seed))
        .collect();
    while v.len() < len {
        let more = v.len().min(len - v.len());
        v.extend_from_within(..more);
    }
    v.truncate(len);
    v
}

#[test]
fn length_capacity_clear_and_truncate() {
    let pool = Pool::builder().tiers([64, 256]).build().unwrap();
    let mut buf = pool.get(10);
    assert_eq!(buf.len(), 0);
    assert!(buf.is_empty());
    assert_eq!(buf.capacity(), 64);
    assert_eq!(buf.tier(), Some(64));

    buf.extend_from_slice(b"hello world");
    assert_eq!(buf.len(), 11);
    assert!(!buf.is_empty());
    assert_eq!(buf.as_slice(), b"hello world");

    buf.truncate(20); // longer: no-op
    assert_eq!(buf.len(), 11);
    buf.truncate(5);
    assert_eq!(&buf[..], b"hello");
    buf.truncate(5);
    assert_eq!(&buf[..], b"hello");

    let ptr = buf.as_ptr();
    buf.clear();
    assert!(buf.is_empty());
    assert_eq!(buf.capacity(), 64, "clear keeps the capacity");
    buf.extend_from_slice(b"x");
    assert_eq!(buf.as_ptr(), ptr, "clear keeps the storage");
    buf.truncate(0);
    assert!(buf.is_empty());
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn extend_from_slice_fills_exactly_then_grows() {
    let pool = Pool::builder().tiers([64, 256]).build().unwrap();
    let data = pattern(300, 1);
    let mut buf = pool.get(1);
    let ptr = buf.as_ptr();
    buf.extend_from_slice(&data[..60]);
    buf.extend_from_slice(&data[60..64]);
    assert_eq!(buf.len(), 64);
    assert_eq!(buf.capacity(), 64);
    assert_eq!(
        buf.as_ptr(),
        ptr,
        "filling exactly to capacity does not move"
    );
    buf.extend_from_slice(&[]);
    assert_eq!(buf.as_ptr(), ptr);

    buf.extend_from_slice(&data[64..65]);
    assert_eq!(buf.capacity(), 256);
    assert_eq!(buf.tier(), Some(256));
    assert_eq!(&buf[..], &data[..65]);

    buf.extend_from_slice(&data[65..]);
    assert_eq!(
        buf.tier(),
        None,
        "beyond the largest tier: a plain allocation"
    );
    assert!(buf.capacity() >= 300);
    assert_eq!(&buf[..], &data[..]);
    drop(buf);
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].returns, 1);
    assert_eq!(stats.tiers[1].returns, 1);
    assert_eq!(stats.oversize.allocations, 1);
    assert_all_returned(&pool);
}

#[test]
fn resize_grows_with_the_value_and_shrinks() {
    let pool = Pool::builder().tiers([16, 64]).build().unwrap();
    let mut buf = pool.get(1);
    buf.resize(4, 0);
    assert_eq!(&buf[..], &[0, 0, 0, 0]);
    buf.resize(6, 9);
    assert_eq!(&buf[..], &[0, 0, 0, 0, 9, 9]);
    buf.resize(2, 7);
    assert_eq!(&buf[..], &[0, 0]);
    buf.resize(2, 7);
    assert_eq!(&buf[..], &[0, 0]);
    // Across a tier.
    buf.resize(40, 3);
    assert_eq!(buf.capacity(), 64);
    assert_eq!(&buf[..2], &[0, 0]);
    assert!(buf[2..].iter().all(|&b| b == 3));
    // Beyond the tiers.
    buf.resize(100, 5);
    assert_eq!(buf.tier(), None);
    assert_eq!(buf.len(), 100);
    assert!(buf[40..].iter().all(|&b| b == 5));
    buf.resize(0, 1);
    assert!(buf.is_empty());
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn spare_capacity_and_set_len() {
    let pool = Pool::builder().tiers([32]).build().unwrap();
    let mut buf = pool.get(1);
    buf.extend_from_slice(b"ab");
    let spare = buf.spare_capacity_mut();
    assert_eq!(spare.len(), 30);
    for (i, slot) in spare[..5].iter_mut().enumerate() {
        slot.write(b'0' + i as u8);
    }
    // SAFETY: 5 more bytes were just initialised, within the capacity.
    unsafe { buf.set_len(7) };
    assert_eq!(&buf[..], b"ab01234");
    assert_eq!(buf.spare_capacity_mut().len(), 25);
    // SAFETY: shrinking keeps initialised bytes only.
    unsafe { buf.set_len(1) };
    assert_eq!(&buf[..], b"a");
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn reserve_moves_only_when_needed() {
    let pool = Pool::builder().build().unwrap();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"kept");
    let ptr = buf.as_ptr();
    buf.reserve(0);
    buf.reserve(4092);
    assert_eq!(buf.as_ptr(), ptr, "room for 4092 more already exists");
    assert_eq!(buf.capacity(), 4096);
    buf.reserve(4093);
    assert_eq!(buf.capacity(), 64 << 10);
    assert_ne!(buf.as_ptr(), ptr);
    assert_eq!(&buf[..], b"kept");
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].in_use, 0, "the old storage went back");
    assert_eq!(stats.tiers[0].returns, 1);
    assert_eq!(stats.tiers[1].in_use, 1);

    assert!(buf.try_reserve(100).is_ok());
    assert!(buf.try_reserve((1 << 20) - 4).is_ok());
    assert_eq!(buf.capacity(), 1 << 20);
    assert_eq!(buf.tier(), Some(1 << 20));
    assert!(buf.try_reserve(1 << 20).is_ok());
    assert_eq!(buf.tier(), None);
    assert_eq!(buf.capacity(), 2 << 20, "oversize growth doubles");
    assert_eq!(&buf[..], b"kept");
    drop(buf);
    assert_all_returned(&pool);
}

/// Gets served by `pool` so far, over every tier and beyond.
fn gets(pool: &Pool) -> u64 {
    let s = pool.stats();
    s.tiers.iter().map(|t| t.hits + t.misses).sum::<u64>() + s.oversize.allocations
}

/// A codec splitting frames off one buffer and dropping them keeps its
/// block: `reserve` takes the block back once no view reads it, as
/// `BytesMut::reserve` does, instead of moving to a fresh block of the
/// same tier.
#[test]
fn reserve_takes_the_block_back_when_no_view_shares_it() {
    let pool = Pool::builder().tiers([4096, 64 << 10]).build().unwrap();
    let frames = if cfg!(miri) { 200 } else { 10_000 };
    let mut buf = pool.get(4096);
    let base = buf.as_ptr();
    for i in 0..frames {
        buf.extend_from_slice(&[i as u8; 100]);
        let frame = buf.split_to(100);
        assert_eq!(frame[..], [i as u8; 100][..]);
    }
    assert_eq!(gets(&pool), 1, "{frames} frames of 100 bytes, one block");
    assert_eq!(buf.tier(), Some(4096));

    // The front split off and dropped: the written bytes move to the front.
    buf.clear();
    buf.extend_from_slice(&pattern(4000, 1));
    drop(buf.split_to(3000));
    assert_eq!(
        buf.capacity(),
        4096 - (buf.as_ptr() as usize - base as usize)
    );
    buf.reserve(2000);
    assert_eq!(buf.as_ptr(), base, "moved to the front of the same block");
    assert_eq!(buf.capacity(), 4096);
    assert_eq!(&buf[..], &pattern(4000, 1)[3000..]);
    assert_eq!(gets(&pool), 1);

    // Room where the bytes are already: nothing moves.
    drop(buf.split_to(500));
    let ptr = buf.as_ptr();
    buf.reserve(3000);
    assert_eq!(buf.as_ptr(), ptr);
    assert_eq!(buf.capacity(), 4096 - 500);

    // A live view keeps the block: the buffer moves to another block, of
    // the smallest tier that fits (the same tier here).
    let frame = buf.split_to(100);
    assert_eq!(buf.len(), 400);
    buf.reserve(3500);
    assert_ne!(buf.as_ptr(), ptr.wrapping_add(100));
    assert_eq!(buf.tier(), Some(4096));
    assert_eq!(gets(&pool), 2);
    assert_eq!(&buf[..], &pattern(4000, 1)[3600..]);
    assert_eq!(frame[..], pattern(4000, 1)[3500..3600]);

    // More than the block holds: a larger tier, as before.
    buf.reserve(4096);
    assert_eq!(buf.tier(), Some(64 << 10));
    drop((buf, frame));
    assert_all_returned(&pool);
}

/// `try_reclaim` makes room without taking a block, or says it cannot.
#[test]
fn try_reclaim_never_takes_a_block() {
    let pool = Pool::builder().tiers([16]).build().unwrap();
    let mut buf = pool.get(16);
    buf.extend_from_slice(b"abc");
    assert!(!buf.try_reclaim(usize::MAX));
    assert!(buf.try_reclaim(13), "room already");
    assert!(!buf.try_reclaim(14));
    let view = buf.split_to(3);
    assert_eq!(buf.capacity(), 13);
    assert!(!buf.try_reclaim(16), "the view reads the front");
    let bytes = view.clone().into_bytes();
    drop(view);
    assert!(!buf.try_reclaim(16), "so does a Bytes made from it");
    drop(bytes);
    assert!(buf.try_reclaim(16));
    assert_eq!(buf.capacity(), 16);

    buf.extend_from_slice(b"0123456789abcdef");
    assert!(!buf.try_reclaim(1), "full");
    drop(buf.split_to(10));
    assert_eq!(buf.capacity(), 6);
    assert!(buf.try_reclaim(10));
    assert_eq!((buf.capacity(), &buf[..]), (16, &b"abcdef"[..]));
    assert!(!buf.try_reclaim(11));
    assert_eq!(gets(&pool), 1);
    drop(buf);
    assert_all_returned(&pool);
}

/// `split_off` freezes the tail; the buffer's capacity ends where the
/// view begins until the view is gone, and `unsplit` joins the two
/// without copying.
#[test]
fn split_off_split_and_unsplit() {
    let pool = Pool::builder().tiers([64, 4096]).build().unwrap();
    let mut buf = pool.get(64);
    buf.extend_from_slice(b"aaabbbcccddd");
    let ptr = buf.as_ptr();
    let tail = buf.split_off(6);
    assert_eq!((&buf[..], &tail[..]), (&b"aaabbb"[..], &b"cccddd"[..]));
    assert_eq!(tail.as_ptr(), ptr.wrapping_add(6), "no copy");
    assert_eq!(buf.capacity(), 6);
    assert!(buf.spare_capacity_mut().is_empty());

    // Contiguous and alone: joined in place, the capacity back.
    buf.unsplit(tail);
    assert_eq!(&buf[..], b"aaabbbcccddd");
    assert_eq!((buf.as_ptr(), buf.capacity()), (ptr, 64));

    // Nothing split off: an empty view, the capacity kept.
    let none = buf.split_off(buf.len());
    assert!(none.is_empty() && !none.is_unique());
    assert_eq!(buf.capacity(), 64);
    buf.unsplit(none);
    assert_eq!(&buf[..], b"aaabbbcccddd");

    // A copy of the tail still reads the block: writing moves the buffer.
    let tail = buf.split_off(8);
    let copy = tail.clone();
    buf.extend_from_slice(b"!");
    assert_ne!(buf.as_ptr(), ptr);
    assert_eq!(&buf[..], b"aaabbbcc!");
    assert_eq!(&copy[..], b"cddd");
    // Not contiguous any more: `unsplit` copies.
    buf.unsplit(tail);
    assert_eq!(&buf[..], b"aaabbbcc!cddd");
    drop((copy, buf));

    // The tail dropped: the next write takes the block back, no move.
    let mut buf = pool.get(64);
    buf.extend_from_slice(b"header:body");
    let ptr = buf.as_ptr();
    drop(buf.split_off(7));
    buf.extend_from_slice(b"more");
    assert_eq!((buf.as_ptr(), &buf[..]), (ptr, &b"header:more"[..]));
    assert_eq!(buf.capacity(), 64);
    drop(buf);

    // Non-adjacent pieces are copied; an empty buffer takes a unique view.
    let mut a = pool.get(64);
    a.extend_from_slice(b"aaaabbbbeeeeccccdddd");
    let mut b = a.split_off(8);
    let c = b.split_off(4);
    a.unsplit(c);
    assert_eq!(&a[..], b"aaaabbbbccccdddd");
    drop(b);
    let mut empty = pool.get(1);
    let mut other = pool.get(64);
    other.extend_from_slice(b"xyz");
    let other_ptr = other.as_ptr();
    empty.unsplit(other.freeze());
    assert_eq!((empty.as_ptr(), &empty[..]), (other_ptr, &b"xyz"[..]));

    // `split` is `split_to(len)`: the spare capacity stays.
    let mut buf = pool.get(64);
    buf.extend_from_slice(b"frame");
    let ptr = buf.as_ptr();
    let frame = buf.split();
    assert_eq!((frame.as_ptr(), &frame[..]), (ptr, &b"frame"[..]));
    assert!(buf.is_empty());
    assert_eq!(buf.capacity(), 59);
    buf.extend_from_slice(b"next");
    assert_eq!(buf.as_ptr(), ptr.wrapping_add(5));
    drop((a, empty, buf, frame));
    assert_all_returned(&pool);
}

#[test]
fn split_off_past_the_length_panics() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let mut buf = pool.get(64);
    buf.extend_from_slice(b"abc");
    let err = catch_unwind(AssertUnwindSafe(|| drop(buf.split_off(4)))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        "split_off(4) out of bounds for a PooledBuf of length 3"
    );
    assert_eq!(&buf[..], b"abc");
}

#[test]
fn extend_from_within_copies_written_bytes() {
    let pool = Pool::builder().tiers([8, 64]).build().unwrap();
    let mut buf = pool.get(8);
    buf.extend_from_slice(b"abc-");
    buf.extend_from_within(..3);
    assert_eq!(&buf[..], b"abc-abc");
    buf.extend_from_within(1..=2); // grows into the 64-byte tier
    assert_eq!(&buf[..], b"abc-abcbc");
    assert_eq!(buf.tier(), Some(64));
    buf.extend_from_within(9..);
    assert_eq!(buf.len(), 9);
    let err = catch_unwind(AssertUnwindSafe(|| buf.extend_from_within(8..10))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        "range 8..10 out of bounds for a PooledBuf of length 9"
    );
    drop(buf);
    assert_all_returned(&pool);
}

/// `Buf` on a `PooledBuf` consumes from the front, without copying.
#[test]
fn reading_a_buffer_consumes_it_from_the_front() {
    use bytes::Buf;
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let mut buf = pool.get(64);
    buf.put_u32(0xCAFE_F00D);
    buf.put_slice(b"payload!");
    let ptr = buf.as_ptr();
    assert_eq!(buf.remaining(), 12);
    assert_eq!(buf.chunk(), &buf[..]);
    assert_eq!(buf.get_u32(), 0xCAFE_F00D);
    assert_eq!(buf.capacity(), 60);
    let bytes = buf.copy_to_bytes(7);
    assert_eq!(bytes.as_ptr(), ptr.wrapping_add(4), "zero-copy");
    assert_eq!(&bytes[..], b"payload");
    buf.advance(1);
    assert!(!buf.has_remaining());
    assert_eq!(buf.capacity(), 52);
    let err = catch_unwind(AssertUnwindSafe(|| buf.advance(1))).unwrap_err();
    assert_eq!(
        panic_message(&*err),
        "advance(1) past the end of a PooledBuf with 0 bytes remaining"
    );
    // Consumed and alone: the next write takes the whole block back.
    drop(bytes);
    buf.reserve(64);
    assert_eq!((buf.as_ptr(), buf.capacity()), (ptr, 64));
    drop(buf);
    assert_all_returned(&pool);
}

/// `Clone`, conversions from a view and into a `Vec`, comparisons,
/// iteration, `collect`, `Extend<SharedBuf>` and `fmt::Write`: what
/// `BytesMut` offers.
#[test]
fn clone_conversions_comparisons_and_collecting() {
    let pool = Pool::builder().tiers([8, 64]).build().unwrap();
    let mut buf = pool.get(64);
    buf.extend_from_slice(b"original");

    // Clone: a copy in a block of the same pool, sized to the bytes.
    let before = gets(&pool);
    let mut copy = buf.clone();
    copy[0] = b'O';
    assert_eq!((&buf[..], &copy[..]), (&b"original"[..], &b"Original"[..]));
    assert_eq!(copy.tier(), Some(8));
    assert_eq!(gets(&pool), before + 1);

    // From<SharedBuf>: zero-copy when unique, a copy from the pool if not.
    let view = copy.freeze();
    let ptr = view.as_ptr();
    let other = view.clone();
    let copied = PooledBuf::from(view);
    assert_ne!(copied.as_ptr(), ptr);
    assert_eq!(copied.tier(), Some(8));
    let back = PooledBuf::from(other);
    assert_eq!((back.as_ptr(), &back[..]), (ptr, &b"Original"[..]));
    let mut emptied = back.clone().freeze();
    emptied.truncate(0);
    let fresh = PooledBuf::from(emptied); // holds no block: the global pool
    assert!(fresh.is_empty());

    // Into a Vec: a copy; the block goes back.
    let v: Vec<u8> = copied.into();
    assert_eq!(v, b"Original");
    let v: Vec<u8> = back.clone().freeze().into();
    assert_eq!(v, b"Original");

    // Comparisons with slices, vectors, strings and views, both ways.
    assert!(buf == b"original"[..]);
    assert!(b"original"[..] == buf);
    let slice: &[u8] = b"original";
    assert!(buf == slice);
    assert!(slice == buf);
    assert!(buf == b"original".to_vec());
    assert!(b"original".to_vec() == buf);
    assert!(buf == *"original");
    assert!(*"original" == buf);
    assert!(buf == "original");
    assert!("original" == buf);
    let frozen = buf.clone().freeze();
    assert!(buf == frozen);
    assert!(frozen == buf);
    assert!(frozen == "original");
    assert!("original" == frozen);
    assert!(back != frozen);

    // Iterating by reference; collecting into the global pool.
    let mut sum: Vec<u8> = Vec::new();
    sum.extend(&buf);
    sum.extend(&frozen);
    assert_eq!(sum, b"originaloriginal");
    let collected: PooledBuf = b"abc".iter().copied().collect();
    assert_eq!(collected, "abc");
    let collected: tierpool::SharedBuf = (0..3).collect();
    assert_eq!(collected, [0, 1, 2][..]);

    // Extend<SharedBuf> copies each view.
    let mut joined = pool.get(8);
    joined.extend([frozen.clone(), frozen.slice(..4)]);
    assert_eq!(joined, "originalorig");

    // fmt::Write grows like any write.
    let mut text = pool.get(8);
    std::fmt::Write::write_fmt(&mut text, format_args!("{}={}", "key", 12345)).unwrap();
    assert_eq!(text, "key=12345");
    assert_eq!(text.tier(), Some(64));

    drop((buf, back, fresh, frozen, joined, text));
    assert_all_returned(&pool);
}

#[test]
fn try_reserve_errors_leave_the_buffer_unchanged() {
    let pool = Pool::builder().build().unwrap();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"abc");
    let ptr = buf.as_ptr();

    let err = buf.try_reserve(usize::MAX).unwrap_err();
    assert_eq!(
        err,
        PoolError::CapacityOverflow {
            requested: usize::MAX
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "capacity {} exceeds what can be allocated (isize::MAX bytes)",
            usize::MAX
        )
    );
    let err = buf.try_reserve(isize::MAX as usize).unwrap_err();
    assert_eq!(
        err,
        PoolError::CapacityOverflow {
            requested: isize::MAX as usize + 3
        }
    );
    assert_eq!((buf.as_ptr(), buf.len(), buf.capacity()), (ptr, 3, 4096));
    assert_eq!(&buf[..], b"abc");

    // An empty buffer asking for everything.
    let mut empty = pool.get(1);
    assert!(matches!(
        empty.try_reserve(usize::MAX),
        Err(PoolError::CapacityOverflow { .. })
    ));
    assert_eq!(empty.capacity(), 4096);
    let stats = pool.stats();
    assert_eq!(stats.oversize.allocations, 0);
    drop((buf, empty));
    assert_all_returned(&pool);
}

#[test]
#[cfg_attr(miri, ignore)] // Miri aborts on a near-isize::MAX allocation instead of failing it.
fn try_reserve_reports_allocation_failure() {
    // Alignment 1: at the default 64, isize::MAX bytes is not a valid layout
    // and the error would be `CapacityOverflow`.
    let pool = Pool::builder().alignment(1).build().unwrap();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"abc");
    let err = buf.try_reserve(isize::MAX as usize - 3).unwrap_err();
    assert_eq!(
        err,
        PoolError::OutOfMemory {
            capacity: isize::MAX as usize
        }
    );
    assert_eq!(&buf[..], b"abc");
    assert_eq!(pool.stats().oversize.in_use, 0);
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
#[should_panic(expected = "tierpool: cannot allocate a buffer: capacity")]
fn reserve_panics_on_overflow() {
    let pool = Pool::builder().build().unwrap();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"abc");
    buf.reserve(usize::MAX);
}

#[test]
fn reserve_panic_is_clear_and_the_buffer_survives() {
    let pool = Pool::builder().build().unwrap();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"abc");
    let caught = catch_unwind(AssertUnwindSafe(|| buf.reserve(usize::MAX - 1))).unwrap_err();
    assert_eq!(
        panic_message(&*caught),
        format!(
            "tierpool: cannot allocate a buffer: capacity {} exceeds what can be allocated \
             (isize::MAX bytes)",
            usize::MAX
        )
    );
    buf.extend_from_slice(b"d");
    assert_eq!(&buf[..], b"abcd");
    buf.truncate(3);
    assert_eq!(&buf[..], b"abc");
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn deref_as_ref_as_mut_and_borrow() {
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"dcba");
    // Deref: slice methods.
    assert_eq!(buf.len(), 4);
    assert_eq!(buf.first(), Some(&b'd'));
    assert!(buf.starts_with(b"dc"));
    // DerefMut.
    buf.sort_unstable();
    assert_eq!(&*buf, b"abcd");
    buf[0] = b'A';
    // AsRef / AsMut.
    let r: &[u8] = buf.as_ref();
    assert_eq!(r, b"Abcd");
    let m: &mut [u8] = buf.as_mut();
    m[3] = b'D';
    assert_eq!(buf.as_slice(), b"AbcD");
    buf.as_mut_slice()[1] = b'B';
    let b: &[u8] = buf.borrow();
    assert_eq!(b, b"ABcD");
    // Equality by contents.
    let mut other = pool.get(10);
    other.extend_from_slice(b"ABcD");
    assert_eq!(buf, other);
    assert!(buf == b"ABcD"[..]);
    other.truncate(1);
    assert_ne!(buf, other);
    drop((buf, other));
    assert_all_returned(&pool);
}

#[test]
fn bufmut_puts_and_grows_through_chunk_mut() {
    let pool = Pool::builder().tiers([16, 128]).build().unwrap();
    let mut buf = pool.get(1);
    assert_eq!(buf.remaining_mut(), isize::MAX as usize);
    buf.put_u32(0xdead_beef);
    buf.put_u32_le(0x0102_0304);
    buf.put_u8(b'!');
    buf.put_slice(b"abc");
    assert_eq!(&buf[..4], &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(&buf[4..8], &[4, 3, 2, 1]);
    assert_eq!(&buf[8..], b"!abc");
    assert_eq!(buf.len(), 12);
    assert_eq!(buf.remaining_mut(), isize::MAX as usize - 12);

    // Fill to exactly the capacity, then chunk_mut must grow.
    buf.put_bytes(b'z', 4);
    assert_eq!((buf.len(), buf.capacity()), (16, 16));
    let chunk_len = buf.chunk_mut().len();
    assert!(chunk_len > 0, "chunk_mut on a full buffer must make room");
    assert_eq!(buf.capacity(), 128);
    assert_eq!(buf.len(), 16);

    // Write through chunk_mut + advance_mut.
    let chunk = buf.chunk_mut();
    chunk[..3].copy_from_slice(b"xyz");
    // SAFETY: 3 bytes were initialised above.
    unsafe { buf.advance_mut(3) };
    assert_eq!(&buf[16..], b"xyz");

    // Many small puts past every tier: BufMut's default methods loop over
    // chunk_mut, which must keep growing.
    for i in 0..100u32 {
        buf.put_u32(i);
    }
    assert_eq!(buf.len(), 19 + 400);
    assert_eq!(buf.tier(), None);
    for i in 0..100u32 {
        let at = 19 + 4 * i as usize;
        assert_eq!(&buf[at..at + 4], &i.to_be_bytes());
    }
    assert_eq!(&buf[..4], &[0xde, 0xad, 0xbe, 0xef], "growth kept the head");

    // A multi-chunk put from a Buf source.
    let mut other = pool.get(1);
    other.put(&b"0123456789012345678901234567890123456789"[..]);
    assert_eq!(other.len(), 40);
    assert_eq!(other.capacity(), 128);
    assert_eq!(&other[..], b"0123456789012345678901234567890123456789");
    drop((buf, other));
    assert_all_returned(&pool);
}

#[test]
#[should_panic(expected = "advance_mut(17) exceeds the 16 bytes of spare capacity")]
fn advance_mut_past_the_capacity_panics() {
    let pool = Pool::builder().tiers([16]).build().unwrap();
    let mut buf = pool.get(1);
    // SAFETY: the call panics before changing anything (checked by the test).
    unsafe { buf.advance_mut(17) };
}

#[test]
fn io_write_appends_and_grows() {
    let pool = Pool::builder().tiers([16, 64]).build().unwrap();
    let mut buf = pool.get(1);
    let (n, text) = (12, "ab");
    write!(buf, "{n}-{text}").unwrap();
    assert_eq!(&buf[..], b"12-ab");
    assert_eq!(buf.write(b"cd").unwrap(), 2);
    buf.write_all(b" and more than sixteen").unwrap();
    buf.flush().unwrap();
    assert_eq!(&buf[..], b"12-abcd and more than sixteen");
    assert_eq!(buf.capacity(), 64);
    let copied = std::io::copy(&mut &[7u8; 100][..], &mut buf).unwrap();
    assert_eq!(copied, 100);
    assert_eq!(buf.len(), 129);
    assert!(buf[29..].iter().all(|&b| b == 7));
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn extend_by_value_and_by_reference() {
    let pool = Pool::builder().tiers([8, 32]).build().unwrap();
    let mut buf = pool.get(1);
    buf.extend([1u8, 2, 3]);
    buf.extend(&[4u8, 5]);
    buf.extend([6u8, 7].iter());
    assert_eq!(&buf[..], &[1, 2, 3, 4, 5, 6, 7]);
    // An iterator whose size hint says nothing: growth one byte at a time.
    buf.extend((0u8..100).filter(|b| b % 2 == 0));
    assert_eq!(buf.len(), 7 + 50);
    assert_eq!(buf.tier(), None);
    assert_eq!(buf[7], 0);
    assert_eq!(buf[56], 98);
    assert_eq!(&buf[..7], &[1, 2, 3, 4, 5, 6, 7]);
    // An exact-size iterator across the first tier boundary.
    let mut small = pool.get(1);
    small.extend(std::iter::repeat_n(9u8, 20));
    assert_eq!(small.capacity(), 32);
    assert_eq!(&small[..], &[9; 20]);
    drop((buf, small));
    assert_all_returned(&pool);
}

#[test]
fn debug_output_stays_short_for_a_large_buffer() {
    let pool = Pool::builder().build().unwrap();
    let mut buf = pool.get(1 << 20);
    buf.resize(1 << 20, b'z');
    let text = format!("{buf:?}");
    assert!(text.len() < 200, "{} bytes of Debug output", text.len());
    assert!(text.contains("len: 1048576"), "{text}");
    assert!(text.contains("capacity: 1048576"), "{text}");
    assert!(text.contains("1048544 more"), "{text}");
    assert!(text.contains(&"z".repeat(32)), "{text}");
    assert!(!text.contains(&"z".repeat(33)), "{text}");
    let alt = format!("{buf:#?}");
    assert!(alt.len() < 300, "{alt}");

    let mut small = pool.get(1);
    small.extend_from_slice(b"a\n\x00'\x7f");
    let text = format!("{small:?}");
    // Escaped as `bytes` escapes `Bytes`.
    assert!(
        text.contains(r#"b"a\n\0'\x7f""#),
        "bytes are escaped: {text}"
    );
    assert!(!text.contains("more"), "{text}");
    drop((buf, small));
    assert_all_returned(&pool);
}

#[test]
fn recycled_buffers_never_show_earlier_bytes() {
    let pool = Pool::builder().build().unwrap();
    for &size in &[100usize, 4096, 5000, 65_536, 70_000, 1 << 20] {
        let mut dirty = pool.get(size);
        let cap = dirty.capacity();
        dirty.resize(cap, 0xAB);
        let ptr = dirty.as_ptr();
        drop(dirty);

        let mut again = pool.get(size);
        assert_eq!(again.as_ptr(), ptr, "the same storage is reused (LIFO)");
        assert_eq!(again.len(), 0, "a recycled buffer is empty");
        assert!(again.is_empty());
        assert_eq!(&again[..], b"");
        assert_eq!(again.spare_capacity_mut().len(), cap);
        assert_eq!(again.chunk_mut().len(), cap);
        again.resize(cap, 0);
        assert!(again[..] == vec![0u8; cap][..], "resize(n, 0) gives zeros");
        drop(again);
    }

    // Through a frozen view, too.
    let mut dirty = pool.get(10);
    dirty.extend_from_slice(b"secret");
    let ptr = dirty.as_ptr();
    let view = dirty.freeze();
    let clone = view.clone();
    drop((view, clone));
    let mut again = pool.get(10);
    assert_eq!(again.as_ptr(), ptr);
    assert!(again.is_empty());
    again.resize(6, 0);
    assert_eq!(&again[..], &[0; 6]);
    drop(again);

    // Truncate then resize writes the fill value, not the old bytes.
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"abcdef");
    buf.truncate(2);
    buf.resize(6, 0);
    assert_eq!(&buf[..], b"ab\0\0\0\0");
    buf.clear();
    buf.resize(3, 0);
    assert_eq!(&buf[..], b"\0\0\0");
    drop(buf);
    assert_all_returned(&pool);
}

/// A reader that lets a closure look at, and fill, each slice it is handed.
struct Inspect<F>(F);

impl<F: FnMut(&mut [u8]) -> usize> std::io::Read for Inspect<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok((self.0)(buf))
    }
}

/// `read_from` zeroes a block's spare capacity once, not on every call
/// (which made filling a buffer from small reads quadratic): bytes an
/// earlier read of the same buffer left behind are handed to the reader
/// again, bytes an earlier holder of the block wrote never are.
#[test]
fn read_from_zeroes_the_spare_capacity_once_per_block() {
    let pool = Pool::builder().tiers([64, 256]).build().unwrap();
    let mut dirty = pool.get(64);
    dirty.resize(64, 0xAB);
    let ptr = dirty.as_ptr();
    drop(dirty);

    let mut buf = pool.get(64);
    assert_eq!(buf.as_ptr(), ptr, "the dirty block is reused");
    let mut first = Inspect(|slice: &mut [u8]| {
        assert_eq!(slice.len(), 64);
        assert!(slice.iter().all(|&b| b == 0), "an earlier holder's bytes");
        slice[..8].copy_from_slice(b"abcdefgh");
        8
    });
    assert_eq!(buf.read_from(&mut first).unwrap(), 8);
    buf.truncate(2);

    // Not zeroed again: the reader sees what the first read left.
    let mut second = Inspect(|slice: &mut [u8]| {
        assert_eq!(slice.len(), 62);
        assert_eq!(&slice[..6], b"cdefgh", "zeroed a second time");
        assert!(slice[6..].iter().all(|&b| b == 0));
        slice[..3].copy_from_slice(b"xyz");
        3
    });
    assert_eq!(buf.read_from(&mut second).unwrap(), 3);
    assert_eq!(&buf[..], b"abxyz");

    // `spare_capacity_mut` may de-initialise bytes: the next call zeroes.
    buf.spare_capacity_mut()[0].write(0x55);
    let mut third = Inspect(|slice: &mut [u8]| {
        assert!(
            slice.iter().all(|&b| b == 0),
            "zeroed after spare_capacity_mut"
        );
        0
    });
    assert_eq!(buf.read_from(&mut third).unwrap(), 0);

    // A full buffer grows into another dirty block: zeroed there once.
    let mut dirty = pool.get(256);
    dirty.resize(256, 0xCD);
    drop(dirty);
    buf.resize(64, 1);
    let mut grown = Inspect(|slice: &mut [u8]| {
        assert_eq!(slice.len(), 192);
        assert!(slice.iter().all(|&b| b == 0), "an earlier holder's bytes");
        slice.fill(2);
        192
    });
    assert_eq!(buf.read_from(&mut grown).unwrap(), 192);
    assert_eq!(buf.tier(), Some(256));
    buf.clear();
    let mut again = Inspect(|slice: &mut [u8]| {
        assert_eq!(&slice[..5], b"abxyz");
        assert!(slice[5..64].iter().all(|&b| b == 1));
        assert!(slice[64..].iter().all(|&b| b == 2));
        0
    });
    assert_eq!(buf.read_from(&mut again).unwrap(), 0);

    // A new hand-out of the block starts over.
    drop(buf);
    let mut buf = pool.get(256);
    let mut fresh = Inspect(|slice: &mut [u8]| {
        assert!(slice.iter().all(|&b| b == 0), "an earlier holder's bytes");
        0
    });
    assert_eq!(buf.read_from(&mut fresh).unwrap(), 0);
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn growth_into_dirty_storage_shows_only_own_bytes() {
    let pool = Pool::builder().build().unwrap();
    let mut dirty = pool.get(5000);
    dirty.resize(dirty.capacity(), 0xEE);
    let dirty_ptr = dirty.as_ptr();
    drop(dirty);

    let mut buf = pool.get(10);
    buf.extend_from_slice(b"abc");
    buf.reserve(5000);
    assert_eq!(
        buf.as_ptr(),
        dirty_ptr,
        "grew into the recycled 64 KiB block"
    );
    assert_eq!(&buf[..], b"abc");
    let cap = buf.capacity();
    buf.resize(cap, 0);
    assert_eq!(&buf[..3], b"abc");
    assert!(buf[3..] == vec![0u8; cap - 3][..]);
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn growth_across_every_tier_keeps_contents_and_returns_old_storage() {
    let pool = Pool::builder().build().unwrap();
    let data = pattern((1 << 20) + 100, 42);
    let mut buf = pool.get(100);
    buf.extend_from_slice(&data[..4000]);
    assert_eq!(buf.tier(), Some(4096));
    assert_eq!(pool.stats().tiers[0].in_use, 1);

    buf.extend_from_slice(&data[4000..5000]);
    assert_eq!(buf.tier(), Some(64 << 10));
    assert_eq!(&buf[..], &data[..5000]);
    let s = pool.stats();
    assert_eq!((s.tiers[0].in_use, s.tiers[0].returns), (0, 1));
    assert_eq!(s.tiers[1].in_use, 1);

    buf.extend_from_slice(&data[5000..70_000]);
    assert_eq!(buf.tier(), Some(1 << 20));
    assert_eq!(&buf[..], &data[..70_000]);
    let s = pool.stats();
    assert_eq!((s.tiers[1].in_use, s.tiers[1].returns), (0, 1));
    assert_eq!(s.tiers[2].in_use, 1);

    buf.extend_from_slice(&data[70_000..]);
    assert_eq!(buf.tier(), None);
    assert_eq!(buf.capacity(), 2 << 20);
    assert_eq!(&buf[..], &data[..]);
    let s = pool.stats();
    assert_eq!((s.tiers[2].in_use, s.tiers[2].returns), (0, 1));
    assert_eq!(s.oversize.in_use, 1);
    assert_eq!(s.oversize.in_use_bytes, 2 << 20);

    // The recycled tier blocks serve the next gets.
    let small = pool.get(1);
    let mid = pool.get(5000);
    let large = pool.get(70_000);
    let s = pool.stats();
    assert_eq!(
        s.tiers
            .iter()
            .map(|t| (t.hits, t.misses))
            .collect::<Vec<_>>(),
        vec![(1, 1), (1, 1), (1, 1)]
    );
    drop((small, mid, large, buf));
    assert_all_returned(&pool);
}

#[test]
fn oversize_growth_keeps_doubling() {
    let pool = Pool::builder().tiers([16]).build().unwrap();
    let mut buf = pool.get(1);
    let mut caps = Vec::new();
    for i in 0..200u8 {
        buf.extend_from_slice(&[i]);
        if caps.last() != Some(&buf.capacity()) {
            caps.push(buf.capacity());
        }
    }
    assert_eq!(caps, vec![16, 32, 64, 128, 256]);
    assert_eq!(buf.len(), 200);
    assert!(buf.iter().enumerate().all(|(i, &b)| b == i as u8));
    let s = pool.stats();
    assert_eq!(s.oversize.allocations, 4);
    assert_eq!(s.oversize.in_use, 1);
    assert_eq!(s.oversize.in_use_bytes, 256);
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn buffers_are_send_sync_and_static() {
    fn assert_bounds<T: Send + Sync + 'static>(_: &T) {}
    let pool = Pool::builder().tiers([64]).build().unwrap();
    let mut buf: PooledBuf = pool.get(1);
    buf.extend_from_slice(b"moved");
    assert_bounds(&buf);
    let back = std::thread::spawn(move || {
        assert_eq!(&buf[..], b"moved");
        buf
    })
    .join()
    .unwrap();
    assert_eq!(&back[..], b"moved");
    drop(back);
    assert_all_returned(&pool);
}

/// A `PooledBuf` is two words, so it is passed and returned in registers,
/// and `Option<PooledBuf>` costs nothing more.
#[test]
fn pooled_buf_is_two_words() {
    use std::mem::size_of;
    assert_eq!(size_of::<tierpool::PooledBuf>(), 2 * size_of::<usize>());
    assert_eq!(
        size_of::<Option<tierpool::PooledBuf>>(),
        size_of::<tierpool::PooledBuf>()
    );
}
