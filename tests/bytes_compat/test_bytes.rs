//! `tests/test_bytes.rs` of bytes 1.12.2: `Bytes` becomes `SharedBuf`,
//! `BytesMut` becomes `PooledBuf`.
//!
//! Left out, as they test `Bytes` internals pooled values do not have:
//! `box_slice_empty` (no conversion from `Box<[u8]>`),
//! `owned_safe_drop_on_as_ref_panic` (a view's `as_ref` cannot panic) and
//! `bytes_mut_put_bytes_specialization` (`BytesMut::put` taking over a
//! `Vec`-backed `Bytes`' allocation). The `owned_*` tests run on `Bytes`
//! made from views (`into_bytes` goes through `Bytes::from_owner`).

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tierpool::{PooledBuf, SharedBuf};

use super::{bytes_from, mut_from, new_mut, with_capacity};

const LONG: &[u8] = b"mary had a little lamb, little lamb, little lamb";
const SHORT: &[u8] = b"hello world";

fn is_sync<T: Sync>() {}
fn is_send<T: Send>() {}

#[test]
fn test_bounds() {
    is_sync::<SharedBuf>();
    is_sync::<PooledBuf>();
    is_send::<SharedBuf>();
    is_send::<PooledBuf>();
}

#[test]
fn test_layout() {
    use std::mem;

    // Adapted: the layouts differ by design (see `tierpool::implementation`):
    // a view is three words, a buffer two.
    assert_eq!(
        mem::size_of::<SharedBuf>(),
        mem::size_of::<usize>() * 3,
        "SharedBuf size should be 3 words",
    );
    assert_eq!(
        mem::size_of::<PooledBuf>(),
        mem::size_of::<usize>() * 2,
        "PooledBuf should be 2 words",
    );

    assert_eq!(
        mem::size_of::<SharedBuf>(),
        mem::size_of::<Option<SharedBuf>>(),
        "SharedBuf should be same size as Option<SharedBuf>",
    );

    assert_eq!(
        mem::size_of::<PooledBuf>(),
        mem::size_of::<Option<PooledBuf>>(),
        "PooledBuf should be same size as Option<PooledBuf>",
    );
}

#[test]
fn from_slice() {
    let a = bytes_from(&b"abcdefgh"[..]);
    assert_eq!(a, b"abcdefgh"[..]);
    assert_eq!(a, &b"abcdefgh"[..]);
    assert_eq!(a, Vec::from(&b"abcdefgh"[..]));
    assert_eq!(b"abcdefgh"[..], a);
    assert_eq!(&b"abcdefgh"[..], a);
    assert_eq!(Vec::from(&b"abcdefgh"[..]), a);

    let a = mut_from(&b"abcdefgh"[..]);
    assert_eq!(a, b"abcdefgh"[..]);
    assert_eq!(a, &b"abcdefgh"[..]);
    assert_eq!(a, Vec::from(&b"abcdefgh"[..]));
    assert_eq!(b"abcdefgh"[..], a);
    assert_eq!(&b"abcdefgh"[..], a);
    assert_eq!(Vec::from(&b"abcdefgh"[..]), a);
}

#[test]
fn fmt() {
    // Adapted: `Debug` shows the length, capacity and tier besides the
    // bytes, which are escaped as `bytes` escapes them.
    let a = format!("{:?}", bytes_from(&b"abcdefg"[..]));
    let b = "head: b\"abcdefg\"";

    assert!(a.contains(b), "{a}");

    let a = format!("{:?}", mut_from(&b"abcdefg"[..]));
    assert!(a.contains(b), "{a}");
}

#[test]
fn fmt_write() {
    use std::fmt::Write;
    let s = String::from_iter((0..10).map(|_| "abcdefg"));

    let mut a = with_capacity(64);
    write!(a, "{}", &s[..64]).unwrap();
    assert_eq!(a, s[..64].as_bytes());

    let mut b = with_capacity(64);
    write!(b, "{}", &s[..32]).unwrap();
    write!(b, "{}", &s[32..64]).unwrap();
    assert_eq!(b, s[..64].as_bytes());

    let mut c = with_capacity(64);
    write!(c, "{}", s).unwrap();
    assert_eq!(c, s[..].as_bytes());
}

#[test]
fn len() {
    let a = bytes_from(&b"abcdefg"[..]);
    assert_eq!(a.len(), 7);

    let a = mut_from(&b"abcdefg"[..]);
    assert_eq!(a.len(), 7);

    let a = bytes_from(&b""[..]);
    assert!(a.is_empty());

    let a = mut_from(&b""[..]);
    assert!(a.is_empty());
}

#[test]
fn index() {
    let a = bytes_from(&b"hello world"[..]);
    assert_eq!(a[0..5], *b"hello");
}

#[test]
fn slice() {
    let a = bytes_from(&b"hello world"[..]);

    let b = a.slice(3..5);
    assert_eq!(b, b"lo"[..]);

    let b = a.slice(0..0);
    assert_eq!(b, b""[..]);

    let b = a.slice(3..3);
    assert_eq!(b, b""[..]);

    let b = a.slice(a.len()..a.len());
    assert_eq!(b, b""[..]);

    let b = a.slice(..5);
    assert_eq!(b, b"hello"[..]);

    let b = a.slice(3..);
    assert_eq!(b, b"lo world"[..]);
}

#[test]
fn slice_with_excluded_start() {
    use core::ops::Bound::Excluded;

    let bytes = bytes_from(b"hello");
    assert_eq!(&bytes.slice((Excluded(1), Excluded(4)))[..], b"ll");
}

#[test]
#[should_panic]
fn slice_excluded_start_overflow() {
    use core::ops::Bound::{Excluded, Unbounded};

    let bytes = bytes_from(b"hello");
    let _ = bytes.slice((Excluded(usize::MAX), Unbounded));
}

#[test]
#[should_panic]
fn slice_oob_1() {
    let a = bytes_from(&b"hello world"[..]);
    let _ = a.slice(5..44);
}

#[test]
#[should_panic]
fn slice_oob_2() {
    let a = bytes_from(&b"hello world"[..]);
    let _ = a.slice(44..49);
}

#[test]
#[should_panic]
fn slice_start_greater_than_end() {
    let a = bytes_from(&b"hello world"[..]);
    let _ = a.slice(5..3);
}

#[test]
fn split_off() {
    let mut hello = bytes_from(&b"helloworld"[..]);
    let world = hello.split_off(5);

    assert_eq!(hello, &b"hello"[..]);
    assert_eq!(world, &b"world"[..]);

    let mut hello = mut_from(&b"helloworld"[..]);
    let world = hello.split_off(5);

    assert_eq!(hello, &b"hello"[..]);
    assert_eq!(world, &b"world"[..]);
}

#[test]
#[should_panic]
fn split_off_oob() {
    let mut hello = bytes_from(&b"helloworld"[..]);
    let _ = hello.split_off(44);
}

#[test]
// Adapted: the message names the position and the length.
#[should_panic = "split_off(44) out of bounds"]
fn bytes_mut_split_off_oob() {
    let mut hello = mut_from(&b"helloworld"[..]);
    let _ = hello.split_off(44);
}

#[test]
fn split_off_uninitialized() {
    let mut bytes = with_capacity(1024);
    // Adapted: `split_off` takes at most `len()`, as what it splits off is
    // a view of written bytes; the unwritten capacity cannot be split off.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = bytes.split_off(128);
    }));
    assert!(caught.is_err());

    assert_eq!(bytes.len(), 0);
    assert_eq!(bytes.capacity(), 1024);
}

#[test]
fn split_off_to_loop() {
    let s = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    for i in 0..(s.len() + 1) {
        {
            let mut bytes = bytes_from(&s[..]);
            let off = bytes.split_off(i);
            assert_eq!(i, bytes.len());
            let mut sum = Vec::new();
            sum.extend(bytes.iter());
            sum.extend(off.iter());
            assert_eq!(&s[..], &sum[..]);
        }
        {
            let mut bytes = mut_from(&s[..]);
            let off = bytes.split_off(i);
            assert_eq!(i, bytes.len());
            let mut sum = Vec::new();
            sum.extend(&bytes);
            sum.extend(&off);
            assert_eq!(&s[..], &sum[..]);
        }
        {
            let mut bytes = bytes_from(&s[..]);
            let off = bytes.split_to(i);
            assert_eq!(i, off.len());
            let mut sum = Vec::new();
            sum.extend(off.iter());
            sum.extend(bytes.iter());
            assert_eq!(&s[..], &sum[..]);
        }
        {
            let mut bytes = mut_from(&s[..]);
            let off = bytes.split_to(i);
            assert_eq!(i, off.len());
            let mut sum = Vec::new();
            sum.extend(&off);
            sum.extend(&bytes);
            assert_eq!(&s[..], &sum[..]);
        }
    }
}

#[test]
fn split_to_1() {
    // Static
    let mut a = bytes_from(SHORT);
    let b = a.split_to(4);

    assert_eq!(SHORT[4..], a);
    assert_eq!(SHORT[..4], b);

    // Allocated
    let mut a = bytes_from(LONG);
    let b = a.split_to(4);

    assert_eq!(LONG[4..], a);
    assert_eq!(LONG[..4], b);

    let mut a = bytes_from(LONG);
    let b = a.split_to(30);

    assert_eq!(LONG[30..], a);
    assert_eq!(LONG[..30], b);
}

#[test]
fn split_to_2() {
    let mut a = bytes_from(LONG);
    assert_eq!(LONG, a);

    let b = a.split_to(1);

    assert_eq!(LONG[1..], a);
    drop(b);
}

#[test]
#[should_panic]
fn split_to_oob() {
    let mut hello = bytes_from(&b"helloworld"[..]);
    let _ = hello.split_to(33);
}

#[test]
#[should_panic]
fn split_to_oob_mut() {
    let mut hello = mut_from(&b"helloworld"[..]);
    let _ = hello.split_to(33);
}

#[test]
#[should_panic]
fn split_to_uninitialized() {
    let mut bytes = with_capacity(1024);
    let _other = bytes.split_to(128);
}

#[test]
#[cfg_attr(not(panic = "unwind"), ignore)]
fn split_off_to_at_gt_len() {
    fn make_bytes() -> SharedBuf {
        let mut bytes = with_capacity(100);
        bytes.put_slice(&[10, 20, 30, 40]);
        bytes.freeze()
    }

    use std::panic;

    let _ = make_bytes().split_to(4);
    let _ = make_bytes().split_off(4);

    assert!(panic::catch_unwind(move || {
        let _ = make_bytes().split_to(5);
    })
    .is_err());

    assert!(panic::catch_unwind(move || {
        let _ = make_bytes().split_off(5);
    })
    .is_err());
}

#[test]
fn truncate() {
    let s = &b"helloworld"[..];
    let mut hello = bytes_from(s);
    hello.truncate(15);
    assert_eq!(hello, s);
    hello.truncate(10);
    assert_eq!(hello, s);
    hello.truncate(5);
    assert_eq!(hello, "hello");
}

#[test]
fn truncate_to_zero_releases_shared_reference() {
    let mut bytes = mut_from(&b"hello"[..]);
    drop(bytes.split_off(bytes.len()));
    let mut truncated = bytes.freeze();
    let remaining = truncated.clone();

    truncated.truncate(0);

    assert!(truncated.is_empty());
    let mut remaining = remaining.try_into_mut().unwrap();
    remaining[0] = b'H';
    assert_eq!(remaining, b"Hello"[..]);

    let mut bytes = mut_from(&b"hello"[..]);
    drop(bytes.split_off(bytes.len()));
    let mut nonempty = bytes.freeze();
    let remaining = nonempty.clone();

    nonempty.truncate(1);

    assert_eq!(nonempty, b"h"[..]);
    assert!(remaining.try_into_mut().is_err());
}

#[test]
fn freeze_clone_shared() {
    let s = &b"abcdefgh"[..];
    // Adapted: `split` returns a frozen view already.
    let b = mut_from(s).split();
    assert_eq!(b, s);
    let c = b.clone();
    assert_eq!(c, s);
}

#[test]
fn freeze_clone_unique() {
    let s = &b"abcdefgh"[..];
    let b = mut_from(s).freeze();
    assert_eq!(b, s);
    let c = b.clone();
    assert_eq!(c, s);
}

#[test]
fn freeze_after_advance() {
    let s = &b"abcdefgh"[..];
    let mut b = mut_from(s);
    b.advance(1);
    assert_eq!(b, s[1..]);
    let b = b.freeze();
    // Verify fix for #352. Previously, freeze would ignore the start offset
    // for BytesMuts in Vec mode.
    assert_eq!(b, s[1..]);
}

#[test]
fn freeze_after_advance_arc() {
    let s = &b"abcdefgh"[..];
    let mut b = mut_from(s);
    // Make b Arc
    let _ = b.split_to(0);
    b.advance(1);
    assert_eq!(b, s[1..]);
    let b = b.freeze();
    assert_eq!(b, s[1..]);
}

#[test]
fn freeze_after_split_to() {
    let s = &b"abcdefgh"[..];
    let mut b = mut_from(s);
    let _ = b.split_to(1);
    assert_eq!(b, s[1..]);
    let b = b.freeze();
    assert_eq!(b, s[1..]);
}

#[test]
fn freeze_after_truncate() {
    let s = &b"abcdefgh"[..];
    let mut b = mut_from(s);
    b.truncate(7);
    assert_eq!(b, s[..7]);
    let b = b.freeze();
    assert_eq!(b, s[..7]);
}

#[test]
fn freeze_after_truncate_arc() {
    let s = &b"abcdefgh"[..];
    let mut b = mut_from(s);
    // Make b Arc
    let _ = b.split_to(0);
    b.truncate(7);
    assert_eq!(b, s[..7]);
    let b = b.freeze();
    assert_eq!(b, s[..7]);
}

#[test]
fn freeze_after_split_off() {
    let s = &b"abcdefgh"[..];
    let mut b = mut_from(s);
    let _ = b.split_off(7);
    assert_eq!(b, s[..7]);
    let b = b.freeze();
    assert_eq!(b, s[..7]);
}

#[test]
fn fns_defined_for_bytes_mut() {
    let mut bytes = mut_from(&b"hello world"[..]);

    let _ = bytes.as_ptr();
    let _ = bytes.as_mut_ptr();

    // Iterator
    let v: Vec<u8> = bytes.as_ref().iter().cloned().collect();
    assert_eq!(&v[..], bytes);
}

#[test]
fn reserve_convert() {
    // Vec -> Vec
    let mut bytes = mut_from(LONG);
    bytes.reserve(64);
    // Adapted: growth moves to the smallest tier that holds len + 64.
    assert_eq!(bytes.capacity(), 128);
    assert!(bytes.capacity() >= LONG.len() + 64);

    // Arc -> Vec
    let mut bytes = mut_from(LONG);
    let a = bytes.split_to(30);

    bytes.reserve(128);
    assert!(bytes.capacity() >= bytes.len() + 128);

    drop(a);
}

#[test]
fn reserve_growth() {
    let mut bytes = with_capacity(64);
    bytes.put("hello world".as_bytes());
    let _ = bytes.split();

    bytes.reserve(65);
    // Adapted: the smallest tier that holds 65 bytes (BytesMut: 117).
    assert_eq!(bytes.capacity(), 100);
}

#[test]
fn reserve_allocates_at_least_original_capacity() {
    let mut bytes = with_capacity(1024);

    for i in 0..1020 {
        bytes.put_u8(i as u8);
    }

    let _other = bytes.split();

    bytes.reserve(16);
    // Adapted: the block is shared with `_other`, so the buffer moves to
    // the smallest tier that holds len + 16 (BytesMut: the original 1024).
    assert_eq!(bytes.capacity(), 16);
}

#[test]
#[cfg_attr(miri, ignore)] // Miri is too slow
fn reserve_max_original_capacity_value() {
    const SIZE: usize = 128 * 1024;

    let mut bytes = with_capacity(SIZE);

    for _ in 0..SIZE {
        bytes.put_u8(0u8);
    }

    let _other = bytes.split();

    bytes.reserve(16);
    // Adapted: as above, the smallest tier that holds len + 16 (BytesMut:
    // 64 KiB, its cap on the original capacity).
    assert_eq!(bytes.capacity(), 16);
}

#[test]
fn reserve_vec_recycling() {
    let mut bytes = with_capacity(16);
    assert_eq!(bytes.capacity(), 16);
    let addr = bytes.as_ptr() as usize;
    bytes.put("0123456789012345".as_bytes());
    assert_eq!(bytes.as_ptr() as usize, addr);
    bytes.advance(10);
    assert_eq!(bytes.capacity(), 6);
    bytes.reserve(8);
    assert_eq!(bytes.capacity(), 16);
    assert_eq!(bytes.as_ptr() as usize, addr);
}

#[test]
fn reserve_in_arc_unique_does_not_overallocate() {
    let mut bytes = with_capacity(1000);
    let _ = bytes.split();

    // now bytes is Arc and refcount == 1

    assert_eq!(1000, bytes.capacity());
    bytes.reserve(2001);
    // Adapted: the smallest tier that holds 2001 bytes.
    assert_eq!(4096, bytes.capacity());
}

#[test]
fn reserve_in_arc_unique_doubles() {
    let mut bytes = with_capacity(1000);
    let _ = bytes.split();

    // now bytes is Arc and refcount == 1

    assert_eq!(1000, bytes.capacity());
    bytes.reserve(1001);
    // Adapted: the smallest tier that holds 1001 bytes (BytesMut doubles).
    assert_eq!(1024, bytes.capacity());
}

#[test]
fn reserve_in_arc_unique_does_not_overallocate_after_split() {
    let mut bytes = mut_from(LONG);
    let orig_capacity = bytes.capacity();
    drop(bytes.split_off(LONG.len() / 2));

    // now bytes is Arc and refcount == 1

    let new_capacity = bytes.capacity();
    bytes.reserve(orig_capacity - new_capacity);
    assert_eq!(bytes.capacity(), orig_capacity);
}

#[test]
fn reserve_in_arc_unique_does_not_overallocate_after_multiple_splits() {
    let mut bytes = mut_from(LONG);
    let orig_capacity = bytes.capacity();
    for _ in 0..10 {
        drop(bytes.split_off(LONG.len() / 2));

        // now bytes is Arc and refcount == 1

        let new_capacity = bytes.capacity();
        bytes.reserve(orig_capacity - new_capacity);
    }
    assert_eq!(bytes.capacity(), orig_capacity);
}

#[test]
fn reserve_in_arc_nonunique_does_not_overallocate() {
    let mut bytes = with_capacity(1000);
    let _copy = bytes.split();

    // now bytes is Arc and refcount == 2

    assert_eq!(1000, bytes.capacity());
    bytes.reserve(2001);
    // Adapted: the smallest tier that holds 2001 bytes.
    assert_eq!(4096, bytes.capacity());
}

/// This function tests `BytesMut::reserve_inner`, where `BytesMut` holds
/// a unique reference to the shared vector and decide to reuse it
/// by reallocating the `Vec`.
#[test]
fn reserve_shared_reuse() {
    let mut bytes = with_capacity(1000);
    bytes.put_slice(b"Hello, World!");
    drop(bytes.split());

    bytes.put_slice(b"!123ex123,sadchELLO,_wORLD!");
    // Use split_off so that v.capacity() - self.cap != off
    drop(bytes.split_off(9));
    assert_eq!(&*bytes, b"!123ex123");

    bytes.reserve(2000);
    assert_eq!(&*bytes, b"!123ex123");
    // Adapted: the smallest tier that holds 2009 bytes.
    assert_eq!(bytes.capacity(), 4096);
}

#[test]
fn extend_mut() {
    let mut bytes = with_capacity(0);
    bytes.extend(LONG);
    assert_eq!(*bytes, LONG[..]);
}

#[test]
fn extend_mut_after_advance() {
    let mut bytes = with_capacity(16);
    bytes.extend_from_slice(b"abcdef");
    bytes.advance(2);

    bytes.extend([b'g', b'h']);

    assert_eq!(bytes.len(), 6);
    assert_eq!(&bytes[..], b"cdefgh");
    assert_eq!(bytes.capacity(), 14);
}

#[test]
fn extend_mut_non_fused() {
    // Yields 1, None, 3.
    let mut items = [Some(1), None, Some(3)].into_iter();
    let iter = core::iter::from_fn(|| items.next().flatten());

    let mut bytes = with_capacity(16);
    bytes.extend(iter);
    assert_eq!(&bytes[..], [1]);
}

#[test]
fn extend_from_slice_mut() {
    for &i in &[3, 34] {
        let mut bytes = new_mut();
        bytes.extend_from_slice(&LONG[..i]);
        bytes.extend_from_slice(&LONG[i..]);
        assert_eq!(LONG[..], *bytes);
    }
}

#[test]
fn extend_from_within_normal() {
    let mut bytes = new_mut();
    bytes.extend_from_slice(&LONG[..23]);
    bytes.extend_from_within(10..22);
    bytes.extend_from_within(22..35);
    assert_eq!(LONG[..], *bytes);
}

#[test]
#[should_panic]
fn extend_from_within_out_of_range() {
    let mut bytes = new_mut();
    bytes.extend_from_slice(&LONG[..23]);
    bytes.extend_from_within(23..=23);
}

#[test]
fn extend_mut_from_bytes() {
    let mut bytes = with_capacity(0);
    bytes.extend([bytes_from(LONG)]);
    assert_eq!(*bytes, LONG[..]);
}

#[test]
fn extend_past_lower_limit_of_size_hint() {
    // See https://github.com/tokio-rs/bytes/pull/674#pullrequestreview-1913035700
    struct Iter<I>(I);

    impl<I: Iterator<Item = u8>> Iterator for Iter<I> {
        type Item = u8;

        fn next(&mut self) -> Option<Self::Item> {
            self.0.next()
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            (5, None)
        }
    }

    let mut bytes = with_capacity(5);
    bytes.extend(Iter(std::iter::repeat(0).take(10)));
    assert_eq!(bytes.len(), 10);
}

#[test]
fn extend_mut_without_size_hint() {
    let mut bytes = with_capacity(0);
    let mut long_iter = LONG.iter();

    // Use iter::from_fn since it doesn't know a size_hint
    bytes.extend(std::iter::from_fn(|| long_iter.next()));
    assert_eq!(*bytes, LONG[..]);
}

#[test]
fn from_static() {
    let mut a = bytes_from(b"ab");
    let b = a.split_off(1);

    assert_eq!(a, b"a"[..]);
    assert_eq!(b, b"b"[..]);
}

#[test]
fn advance_static() {
    let mut a = bytes_from(b"hello world");
    a.advance(6);
    assert_eq!(a, &b"world"[..]);
}

#[test]
fn advance_vec() {
    let mut a = bytes_from(b"hello world boooo yah world zomg wat wat");
    a.advance(16);
    assert_eq!(a, b"o yah world zomg wat wat"[..]);

    a.advance(4);
    assert_eq!(a, b"h world zomg wat wat"[..]);

    a.advance(6);
    assert_eq!(a, b"d zomg wat wat"[..]);
}

#[test]
fn advance_bytes_mut() {
    let mut a = mut_from(b"hello world boooo yah world zomg wat wat");
    a.advance(16);
    assert_eq!(a, b"o yah world zomg wat wat"[..]);

    a.advance(4);
    assert_eq!(a, b"h world zomg wat wat"[..]);

    // Reserve some space.
    a.reserve(1024);
    assert_eq!(a, b"h world zomg wat wat"[..]);

    a.advance(6);
    assert_eq!(a, b"d zomg wat wat"[..]);
}

// Ensures BytesMut::advance reduces always capacity
//
// See https://github.com/tokio-rs/bytes/issues/725
#[test]
fn advance_bytes_mut_remaining_capacity() {
    // reduce the search space under miri
    // Port: 8 rather than 16 under Miri, as every buffer is a hand-out.
    let max_capacity = if cfg!(miri) { 8 } else { 256 };
    for capacity in 0..=max_capacity {
        for len in 0..=capacity {
            for advance in 0..=len {
                let mut buf = with_capacity(capacity);
                // Adapted: the capacity is the tier's, at least `capacity`.
                let capacity = buf.capacity();

                buf.resize(len, 42);
                assert_eq!(buf.len(), len, "resize should write `len` bytes");
                assert_eq!(
                    buf.remaining(),
                    len,
                    "Buf::remaining() should equal BytesMut::len"
                );

                buf.advance(advance);
                assert_eq!(
                    buf.remaining(),
                    len - advance,
                    "Buf::advance should reduce the remaining len"
                );
                assert_eq!(
                    buf.capacity(),
                    capacity - advance,
                    "Buf::advance should reduce the remaining capacity"
                );
            }
        }
    }
}

#[test]
#[should_panic]
fn advance_past_len() {
    let mut a = mut_from(b"hello world");
    a.advance(20);
}

#[test]
#[should_panic]
fn mut_advance_past_len() {
    let mut a = mut_from(b"hello world");
    unsafe {
        a.advance_mut(20);
    }
}

#[test]
// Only run these tests on little endian systems. CI uses qemu for testing
// big endian... and qemu doesn't really support threading all that well.
#[cfg(any(miri, target_endian = "little"))]
#[cfg(not(target_family = "wasm"))] // wasm without experimental threads proposal doesn't support threads
fn stress() {
    // Tests promoting a buffer from a vec -> shared in a concurrent situation
    use std::sync::Barrier;
    use std::thread;

    const THREADS: usize = 8;
    // Fewer rounds under Miri than bytes runs (100): threads are slow there.
    const ITERS: usize = if cfg!(miri) { 5 } else { 1_000 };

    for i in 0..ITERS {
        let data = [i as u8; 256];
        let buf = Arc::new(bytes_from(&data[..]));

        let barrier = Arc::new(Barrier::new(THREADS));
        let mut joins = Vec::with_capacity(THREADS);

        for _ in 0..THREADS {
            let c = barrier.clone();
            let buf = buf.clone();

            joins.push(thread::spawn(move || {
                c.wait();
                let buf: SharedBuf = (*buf).clone();
                drop(buf);
            }));
        }

        for th in joins {
            th.join().unwrap();
        }

        assert_eq!(*buf, data[..]);
    }
}

#[test]
fn partial_eq_bytesmut() {
    let bytes = bytes_from(&b"The quick red fox"[..]);
    let bytesmut = mut_from(&b"The quick red fox"[..]);
    assert!(bytes == bytesmut);
    assert!(bytesmut == bytes);
    let bytes2 = bytes_from(&b"Jumped over the lazy brown dog"[..]);
    assert!(bytes2 != bytesmut);
    assert!(bytesmut != bytes2);
}

#[test]
fn bytes_mut_unsplit_basic() {
    let mut buf = with_capacity(64);
    buf.extend_from_slice(b"aaabbbcccddd");

    let splitted = buf.split_off(6);
    assert_eq!(b"aaabbb", &buf[..]);
    assert_eq!(b"cccddd", &splitted[..]);

    buf.unsplit(splitted);
    assert_eq!(b"aaabbbcccddd", &buf[..]);
}

#[test]
fn bytes_mut_unsplit_empty_other() {
    let mut buf = with_capacity(64);
    buf.extend_from_slice(b"aaabbbcccddd");

    // empty other
    // Adapted: `unsplit` takes a view.
    let other = new_mut().freeze();

    buf.unsplit(other);
    assert_eq!(b"aaabbbcccddd", &buf[..]);
}

#[test]
fn bytes_mut_unsplit_empty_self() {
    // empty self
    let mut buf = new_mut();

    let mut other = with_capacity(64);
    other.extend_from_slice(b"aaabbbcccddd");

    // Adapted: `unsplit` takes a view.
    buf.unsplit(other.freeze());
    assert_eq!(b"aaabbbcccddd", &buf[..]);
}

#[test]
fn bytes_mut_unsplit_other_keeps_capacity() {
    let mut buf = with_capacity(64);
    buf.extend_from_slice(b"aabb");

    // non empty other created "from" buf
    // Adapted: what `split_off` returns is a view, which cannot be written:
    // the bytes are written before they are split off.
    buf.extend_from_slice(b"ccddee");
    let other = buf.split_off(4);
    buf.unsplit(other);

    assert_eq!(buf.capacity(), 64);
}

#[test]
fn bytes_mut_unsplit_empty_other_keeps_capacity() {
    let mut buf = with_capacity(64);
    buf.extend_from_slice(b"aabbccddee");

    // empty other created "from" buf
    let other = buf.split_off(buf.len());
    buf.unsplit(other);

    assert_eq!(buf.capacity(), 64);
}

#[test]
fn bytes_mut_unsplit_arc_different() {
    let mut buf = with_capacity(64);
    buf.extend_from_slice(b"aaaabbbbeeee");

    let _ = buf.split_off(8); //arc

    let mut buf2 = with_capacity(64);
    buf2.extend_from_slice(b"ccccddddeeee");

    let _ = buf2.split_off(8); //arc

    // Adapted: `unsplit` takes a view.
    buf.unsplit(buf2.freeze());
    assert_eq!(b"aaaabbbbccccdddd", &buf[..]);
}

#[test]
fn bytes_mut_unsplit_arc_non_contiguous() {
    let mut buf = with_capacity(64);
    buf.extend_from_slice(b"aaaabbbbeeeeccccdddd");

    let mut buf2 = buf.split_off(8); //arc

    let buf3 = buf2.split_off(4); //arc

    buf.unsplit(buf3);
    assert_eq!(b"aaaabbbbccccdddd", &buf[..]);
}

#[test]
fn bytes_mut_unsplit_two_split_offs() {
    let mut buf = with_capacity(64);
    buf.extend_from_slice(b"aaaabbbbccccdddd");

    // Adapted: what `split_off` returns is a view, which has no `unsplit`;
    // it becomes a buffer first (a copy, as `buf` still shares the block).
    let mut buf2 = PooledBuf::from(buf.split_off(8)); //arc
    let buf3 = buf2.split_off(4); //arc

    buf2.unsplit(buf3);
    buf.unsplit(buf2.freeze());
    assert_eq!(b"aaaabbbbccccdddd", &buf[..]);
}

#[test]
fn from_iter_no_size_hint() {
    use std::iter;

    let mut expect = vec![];

    let actual: SharedBuf = iter::repeat(b'x')
        .scan(100, |cnt, item| {
            if *cnt >= 1 {
                *cnt -= 1;
                expect.push(item);
                Some(item)
            } else {
                None
            }
        })
        .collect();

    assert_eq!(&actual[..], &expect[..]);
}

fn test_slice_ref(bytes: &SharedBuf, start: usize, end: usize, expected: &[u8]) {
    let slice = &(bytes.as_ref()[start..end]);
    let sub = bytes.slice_ref(slice);
    assert_eq!(&sub[..], expected);
}

#[test]
fn slice_ref_works() {
    let bytes = bytes_from(&b"012345678"[..]);

    test_slice_ref(&bytes, 0, 0, b"");
    test_slice_ref(&bytes, 0, 3, b"012");
    test_slice_ref(&bytes, 2, 6, b"2345");
    test_slice_ref(&bytes, 7, 9, b"78");
    test_slice_ref(&bytes, 9, 9, b"");
}

#[test]
fn slice_ref_empty() {
    let bytes = bytes_from(&b""[..]);
    let slice = &(bytes.as_ref()[0..0]);

    let sub = bytes.slice_ref(slice);
    assert_eq!(&sub[..], b"");
}

#[test]
fn slice_ref_empty_subslice() {
    let bytes = bytes_from(&b"abcde"[..]);
    let subbytes = bytes.slice(0..0);
    let slice = &subbytes[..];
    // The `slice` object is derived from the original `bytes` object
    // so `slice_ref` should work.
    assert_eq!(b""[..], bytes.slice_ref(slice));
}

#[test]
#[should_panic]
fn slice_ref_catches_not_a_subset() {
    let bytes = bytes_from(&b"012345678"[..]);
    let slice = &b"012345"[0..4];

    let _ = bytes.slice_ref(slice);
}

#[test]
fn slice_ref_not_an_empty_subset() {
    let bytes = bytes_from(&b"012345678"[..]);
    let slice = &b""[0..0];

    assert_eq!(b""[..], bytes.slice_ref(slice));
}

#[test]
fn empty_slice_ref_not_an_empty_subset() {
    let bytes = bytes_from(b"");
    let slice = &b"some other slice"[0..0];

    assert_eq!(b""[..], bytes.slice_ref(slice));
}

#[test]
fn bytes_buf_mut_advance() {
    let mut bytes = with_capacity(1024);

    unsafe {
        let ptr = bytes.chunk_mut().as_mut_ptr();
        assert_eq!(1024, bytes.chunk_mut().len());

        bytes.advance_mut(10);

        let next = bytes.chunk_mut().as_mut_ptr();
        assert_eq!(1024 - 10, bytes.chunk_mut().len());
        assert_eq!(ptr.offset(10), next);

        // advance to the end
        bytes.advance_mut(1024 - 10);

        // The buffer size is doubled
        // Adapted: to the smallest tier that holds twice the length.
        assert_eq!(4096 - 1024, bytes.chunk_mut().len());
    }
}

#[test]
fn bytes_buf_mut_reuse_when_fully_consumed() {
    let mut buf = new_mut();
    buf.reserve(8192);
    buf.extend_from_slice(&[0u8; 100][..]);

    let p = &buf[0] as *const u8;
    buf.advance(100);

    buf.reserve(8192);
    buf.extend_from_slice(b" ");

    assert_eq!(&buf[0] as *const u8, p);
}

#[test]
#[should_panic]
fn bytes_reserve_overflow() {
    let mut bytes = with_capacity(1024);
    bytes.put_slice(b"hello world");

    bytes.reserve(usize::MAX);
}

#[test]
fn bytes_with_capacity_but_empty() {
    // See https://github.com/tokio-rs/bytes/issues/340
    // Adapted: an empty buffer with capacity, frozen.
    let _ = with_capacity(1).freeze();
}

#[test]
fn bytes_put_bytes() {
    let mut bytes = new_mut();
    bytes.put_u8(17);
    bytes.put_bytes(19, 2);
    assert_eq!([17, 19, 19], bytes.as_ref());
}

#[test]
fn bytes_into_vec() {
    // Test kind == KIND_VEC
    let content = b"helloworld";

    let mut bytes = new_mut();
    bytes.put_slice(content);

    let vec: Vec<u8> = bytes.into();
    assert_eq!(&vec, content);

    // Test kind == KIND_ARC, shared.is_unique() == True
    let mut bytes = new_mut();
    bytes.put_slice(b"abcdewe23");
    bytes.put_slice(content);

    // Overwrite the bytes to make sure only one reference to the underlying
    // Vec exists.
    // Adapted: what `split_off` returns is a view.
    let bytes = bytes.split_off(9);

    let vec: Vec<u8> = bytes.into();
    assert_eq!(&vec, content);

    // Test kind == KIND_ARC, shared.is_unique() == False
    let prefix = b"abcdewe23";

    let mut bytes = new_mut();
    bytes.put_slice(prefix);
    bytes.put_slice(content);

    let vec: Vec<u8> = bytes.split_off(prefix.len()).into();
    assert_eq!(&vec, content);

    let vec: Vec<u8> = bytes.into();
    assert_eq!(&vec, prefix);
}

#[test]
fn test_bytes_into_vec() {
    // Test STATIC_VTABLE.to_vec
    let bs = b"1b23exfcz3r";
    let vec: Vec<u8> = bytes_from(bs).into();
    assert_eq!(&*vec, bs);

    // Test bytes_mut.SHARED_VTABLE.to_vec impl
    let mut bytes_mut: PooledBuf = mut_from(&bs[..]);

    // Set kind to KIND_ARC so that after freeze, Bytes will use bytes_mut.SHARED_VTABLE
    drop(bytes_mut.split_off(bs.len()));

    let b1 = bytes_mut.freeze();
    let b2 = b1.clone();

    // shared.is_unique() = False
    assert_eq!(&*Vec::from(b2), bs);

    // shared.is_unique() = True
    assert_eq!(&*Vec::from(b1), bs);

    // Test bytes_mut.SHARED_VTABLE.to_vec impl where offset != 0
    let mut bytes_mut1: PooledBuf = mut_from(&bs[..]);
    let bytes_mut2 = bytes_mut1.split_off(9);

    let b1 = bytes_mut1.freeze();
    // Adapted: what `split_off` returns is a view already.
    let b2 = bytes_mut2;

    assert_eq!(Vec::from(b2), bs[9..]);
    assert_eq!(Vec::from(b1), bs[..9]);
}

#[test]
fn test_bytes_into_vec_promotable_even() {
    let vec = vec![33u8; 1024];

    // Test cases where kind == KIND_VEC
    let b1 = bytes_from(&vec);
    assert_eq!(Vec::from(b1), vec);

    // Test cases where kind == KIND_ARC, ref_cnt == 1
    let b1 = bytes_from(&vec);
    drop(b1.clone());
    assert_eq!(Vec::from(b1), vec);

    // Test cases where kind == KIND_ARC, ref_cnt == 2
    let b1 = bytes_from(&vec);
    let b2 = b1.clone();
    assert_eq!(Vec::from(b1), vec);

    // Test cases where vtable = SHARED_VTABLE, kind == KIND_ARC, ref_cnt == 1
    assert_eq!(Vec::from(b2), vec);

    // Test cases where offset != 0
    let mut b1 = bytes_from(&vec);
    let b2 = b1.split_off(20);

    assert_eq!(Vec::from(b2), vec[20..]);
    assert_eq!(Vec::from(b1), vec[..20]);
}

#[test]
fn test_bytes_vec_conversion() {
    let mut vec = Vec::with_capacity(10);
    vec.extend(b"abcdefg");
    let b = bytes_from(&vec);
    let v = Vec::from(b);
    assert_eq!(v.len(), 7);
    // Adapted: the conversion copies, so the `Vec`'s capacity is its own
    // (bytes checks that the allocation, of capacity 10, is handed back).

    let mut b = bytes_from(&v);
    b.advance(1);
    let v = Vec::from(b);
    assert_eq!(v.len(), 6);
    assert_eq!(v.as_slice(), b"bcdefg");
}

#[test]
fn test_bytes_mut_conversion() {
    let mut b1 = with_capacity(10);
    b1.extend(b"abcdefg");
    let b2 = SharedBuf::from(b1);
    let v = Vec::from(b2);
    assert_eq!(v.len(), 7);
    // Adapted: the conversion copies (see above).

    let mut b = bytes_from(&v);
    b.advance(1);
    let v = Vec::from(b);
    assert_eq!(v.len(), 6);
    assert_eq!(v.as_slice(), b"bcdefg");
}

#[test]
fn test_bytes_capacity_len() {
    // Fewer under Miri: each is a hand-out from the pool.
    let caps = if cfg!(miri) { 10 } else { 100 };
    for cap in 0..caps {
        for len in 0..=cap {
            let mut v = with_capacity(cap);
            v.resize(len, 0);
            let _ = SharedBuf::from(v);
        }
    }
}

#[test]
fn static_is_unique() {
    // Adapted: views have no static storage; the view that holds no block
    // (one left empty) is never unique, like a static `Bytes`.
    let mut b = bytes_from(LONG);
    b.truncate(0);
    assert!(!b.is_unique());
}

#[test]
fn vec_is_unique() {
    let v: Vec<u8> = LONG.to_vec();
    let b = bytes_from(&v);
    assert!(b.is_unique());
}

#[test]
fn arc_is_unique() {
    let v: Vec<u8> = LONG.to_vec();
    let b = bytes_from(&v);
    let c = b.clone();
    assert!(!b.is_unique());
    drop(c);
    assert!(b.is_unique());
}

#[test]
fn shared_is_unique() {
    let v: Vec<u8> = LONG.to_vec();
    let b = bytes_from(&v);
    let c = b.clone();
    assert!(!c.is_unique());
    drop(b);
    assert!(c.is_unique());
}

#[test]
fn mut_shared_is_unique() {
    let mut b = mut_from(LONG);
    // Adapted: `split` returns a frozen view already.
    let c = b.split();
    assert!(!c.is_unique());
    drop(b);
    assert!(c.is_unique());
}

#[test]
fn test_bytesmut_from_bytes_static() {
    let bs = b"1b23exfcz3r";

    // Test STATIC_VTABLE.to_mut
    let bytes_mut = PooledBuf::from(bytes_from(bs));
    assert_eq!(bytes_mut, bs[..]);
}

#[test]
fn test_bytesmut_from_bytes_bytes_mut_vec() {
    let bs = b"1b23exfcz3r";
    let bs_long = b"1b23exfcz3r1b23exfcz3r";

    // Test case where kind == KIND_VEC
    let mut bytes_mut: PooledBuf = mut_from(&bs[..]);
    bytes_mut = PooledBuf::from(bytes_mut.freeze());
    assert_eq!(bytes_mut, bs[..]);
    bytes_mut.extend_from_slice(&bs[..]);
    assert_eq!(bytes_mut, bs_long[..]);
}

#[test]
fn test_bytesmut_from_bytes_bytes_mut_shared() {
    let bs = b"1b23exfcz3r";

    // Set kind to KIND_ARC so that after freeze, Bytes will use bytes_mut.SHARED_VTABLE
    let mut bytes_mut: PooledBuf = mut_from(&bs[..]);
    drop(bytes_mut.split_off(bs.len()));

    let b1 = bytes_mut.freeze();
    let b2 = b1.clone();

    // shared.is_unique() = False
    let mut b1m = PooledBuf::from(b1);
    assert_eq!(b1m, bs[..]);
    b1m[0] = b'9';

    // shared.is_unique() = True
    let b2m = PooledBuf::from(b2);
    assert_eq!(b2m, bs[..]);
}

#[test]
fn test_bytesmut_from_bytes_bytes_mut_offset() {
    let bs = b"1b23exfcz3r";

    // Test bytes_mut.SHARED_VTABLE.to_mut impl where offset != 0
    let mut bytes_mut1: PooledBuf = mut_from(&bs[..]);
    let bytes_mut2 = bytes_mut1.split_off(9);

    let b1 = bytes_mut1.freeze();
    // Adapted: what `split_off` returns is a view already.
    let b2 = bytes_mut2;

    let b1m = PooledBuf::from(b1);
    let b2m = PooledBuf::from(b2);

    assert_eq!(b2m, bs[9..]);
    assert_eq!(b1m, bs[..9]);
}

#[test]
fn test_bytesmut_from_bytes_promotable_even_vec() {
    let vec = vec![33u8; 1024];

    // Test case where kind == KIND_VEC
    let b1 = bytes_from(&vec);
    let b1m = PooledBuf::from(b1);
    assert_eq!(b1m, vec);
}

#[test]
fn test_bytesmut_from_bytes_promotable_even_arc_1() {
    let vec = vec![33u8; 1024];

    // Test case where kind == KIND_ARC, ref_cnt == 1
    let b1 = bytes_from(&vec);
    drop(b1.clone());
    let b1m = PooledBuf::from(b1);
    assert_eq!(b1m, vec);
}

#[test]
fn test_bytesmut_from_bytes_promotable_even_arc_2() {
    let vec = vec![33u8; 1024];

    // Test case where kind == KIND_ARC, ref_cnt == 2
    let b1 = bytes_from(&vec);
    let b2 = b1.clone();
    let b1m = PooledBuf::from(b1);
    assert_eq!(b1m, vec);

    // Test case where vtable = SHARED_VTABLE, kind == KIND_ARC, ref_cnt == 1
    let b2m = PooledBuf::from(b2);
    assert_eq!(b2m, vec);
}

#[test]
fn test_bytesmut_from_bytes_promotable_even_arc_offset() {
    let vec = vec![33u8; 1024];

    // Test case where offset != 0
    let mut b1 = bytes_from(&vec);
    let b2 = b1.split_off(20);
    let b1m = PooledBuf::from(b1);
    let b2m = PooledBuf::from(b2);

    assert_eq!(b2m, vec[20..]);
    assert_eq!(b1m, vec[..20]);
}

#[test]
fn try_reclaim_empty() {
    let mut buf = new_mut();
    // Adapted: a new buffer has the smallest tier's capacity (5), not 0.
    assert_eq!(buf.capacity(), 5);
    assert_eq!(false, buf.try_reclaim(6));
    buf.reserve(6);
    assert_eq!(true, buf.try_reclaim(6));
    let cap = buf.capacity();
    assert!(cap >= 6);
    assert_eq!(false, buf.try_reclaim(cap + 1));

    let mut buf = new_mut();
    buf.reserve(6);
    let cap = buf.capacity();
    assert!(cap >= 6);
    // Adapted: what `split` returns is a view, which cannot reclaim; the
    // buffer, filled and split so that the view holds the front, does.
    buf.resize(cap, 1);
    let split = buf.split();
    assert_eq!(0, buf.capacity());
    assert_eq!(false, buf.try_reclaim(6));
    drop(split);
    assert_eq!(true, buf.try_reclaim(6));
    assert_eq!(false, buf.try_reclaim(cap + 1));
}

#[test]
fn try_reclaim_vec() {
    let mut buf = with_capacity(6);
    buf.put_slice(b"abc");
    // Reclaiming a ludicrous amount of space should calmly return false
    assert_eq!(false, buf.try_reclaim(usize::MAX));

    assert_eq!(false, buf.try_reclaim(6));
    buf.advance(2);
    assert_eq!(4, buf.capacity());
    // We can reclaim 5 bytes, because the byte in the buffer can be moved to the front. 6 bytes
    // cannot be reclaimed because there is already one byte stored
    assert_eq!(false, buf.try_reclaim(6));
    assert_eq!(true, buf.try_reclaim(5));
    buf.advance(1);
    assert_eq!(true, buf.try_reclaim(6));
    assert_eq!(6, buf.capacity());
}

#[test]
fn try_reclaim_arc() {
    let mut buf = with_capacity(6);
    buf.put_slice(b"abc");
    // Adapted: `split` returns a frozen view already.
    let x = buf.split();
    buf.put_slice(b"def");
    // Reclaiming a ludicrous amount of space should calmly return false
    assert_eq!(false, buf.try_reclaim(usize::MAX));

    let y = buf.split();
    let z = y.clone();
    assert_eq!(false, buf.try_reclaim(6));
    drop(x);
    drop(z);
    assert_eq!(false, buf.try_reclaim(6));
    drop(y);
    assert_eq!(true, buf.try_reclaim(6));
    assert_eq!(6, buf.capacity());
    assert_eq!(0, buf.len());
    buf.put_slice(b"abc");
    buf.put_slice(b"def");
    assert_eq!(6, buf.capacity());
    assert_eq!(6, buf.len());
    assert_eq!(false, buf.try_reclaim(6));
    buf.advance(4);
    assert_eq!(true, buf.try_reclaim(4));
    buf.advance(2);
    assert_eq!(true, buf.try_reclaim(6));
}

#[test]
fn slice_empty_addr() {
    let buf = bytes_from(&[0; 1024]);

    let ptr_start = buf.as_ptr();
    let ptr_end = ptr_start.wrapping_add(1024);

    let empty_end = buf.slice(1024..);
    assert_eq!(empty_end.len(), 0);
    assert_eq!(empty_end.as_ptr(), ptr_end);

    let empty_start = buf.slice(..0);
    assert_eq!(empty_start.len(), 0);
    assert_eq!(empty_start.as_ptr(), ptr_start);

    // Is miri happy about the provenance?
    let _ = &empty_end[..];
    let _ = &empty_start[..];
}

#[test]
fn split_off_empty_addr() {
    let mut buf = bytes_from(&[0; 1024]);

    let ptr_start = buf.as_ptr();
    let ptr_end = ptr_start.wrapping_add(1024);

    let empty_end = buf.split_off(1024);
    assert_eq!(empty_end.len(), 0);
    assert_eq!(empty_end.as_ptr(), ptr_end);

    let _ = buf.split_off(0);
    assert_eq!(buf.len(), 0);
    assert_eq!(buf.as_ptr(), ptr_start);

    // Is miri happy about the provenance?
    let _ = &empty_end[..];
    let _ = &buf[..];
}

#[test]
fn split_to_empty_addr() {
    let mut buf = bytes_from(&[0; 1024]);

    let ptr_start = buf.as_ptr();
    let ptr_end = ptr_start.wrapping_add(1024);

    let empty_start = buf.split_to(0);
    assert_eq!(empty_start.len(), 0);
    assert_eq!(empty_start.as_ptr(), ptr_start);

    let _ = buf.split_to(1024);
    assert_eq!(buf.len(), 0);
    assert_eq!(buf.as_ptr(), ptr_end);

    // Is miri happy about the provenance?
    let _ = &empty_start[..];
    let _ = &buf[..];
}

#[test]
fn split_off_empty_addr_mut() {
    let mut buf = mut_from([0; 1024].as_slice());

    let ptr_start = buf.as_ptr();
    let ptr_end = ptr_start.wrapping_add(1024);

    let empty_end = buf.split_off(1024);
    assert_eq!(empty_end.len(), 0);
    assert_eq!(empty_end.as_ptr(), ptr_end);

    let _ = buf.split_off(0);
    assert_eq!(buf.len(), 0);
    assert_eq!(buf.as_ptr(), ptr_start);

    // Is miri happy about the provenance?
    let _ = &empty_end[..];
    let _ = &buf[..];
}

#[test]
fn split_to_empty_addr_mut() {
    let mut buf = mut_from([0; 1024].as_slice());

    let ptr_start = buf.as_ptr();
    let ptr_end = ptr_start.wrapping_add(1024);

    let empty_start = buf.split_to(0);
    assert_eq!(empty_start.len(), 0);
    assert_eq!(empty_start.as_ptr(), ptr_start);

    let _ = buf.split_to(1024);
    assert_eq!(buf.len(), 0);
    assert_eq!(buf.as_ptr(), ptr_end);

    // Is miri happy about the provenance?
    let _ = &empty_start[..];
    let _ = &buf[..];
}

#[test]
fn bytes_mut_split_boundary_capacities() {
    // Adapted throughout: what `PooledBuf` splits off is a view, which has
    // no capacity, only its bytes; `split_off` leaves the buffer a
    // capacity of `at`, unless nothing is split off.

    // VEC mode
    for at in [0, 5, 11] {
        let mut buf = with_capacity(64);
        buf.extend_from_slice(b"hello world");

        let other = buf.split_off(at);
        let kept = if at == 11 { 64 } else { at };
        assert_eq!(
            (buf.capacity(), other.len()),
            (kept, 11 - at),
            "split_off at {} should preserve total capacity",
            at
        );
    }

    for at in [0, 5, 11] {
        let mut buf = with_capacity(64);
        buf.extend_from_slice(b"hello world");

        let other = buf.split_to(at);
        assert_eq!(
            buf.capacity() + other.len(),
            64,
            "split_to at {} should preserve total capacity",
            at
        );
    }

    // ARC mode (promote via a no-op split)
    for at in [0, 5, 11] {
        let mut buf = with_capacity(64);
        buf.extend_from_slice(b"hello world");
        let _ = buf.split_to(0); // promotes to ARC

        let other = buf.split_off(at);
        let kept = if at == 11 { 64 } else { at };
        assert_eq!(
            (buf.capacity(), other.len()),
            (kept, 11 - at),
            "ARC split_off at {} should preserve total capacity",
            at
        );
    }

    for at in [0, 5, 11] {
        let mut buf = with_capacity(64);
        buf.extend_from_slice(b"hello world");
        let _ = buf.split_to(0); // promotes to ARC

        let other = buf.split_to(at);
        assert_eq!(
            buf.capacity() + other.len(),
            64,
            "ARC split_to at {} should preserve total capacity",
            at
        );
    }
}

// The `owned_*` tests, on `Bytes` made from views (`SharedBuf::into_bytes`
// goes through `Bytes::from_owner`): the owner is the view, and dropping it
// is the block going back to the pool.

/// A `Bytes` over a view of a block of a pool of its own, and the pool,
/// whose return count stands for bytes' drop counter.
fn owned(buf: &[u8]) -> (Bytes, tierpool::Pool) {
    let own_pool = tierpool::Pool::builder().tiers([64]).build().unwrap();
    let mut b = own_pool.get(buf.len());
    b.extend_from_slice(buf);
    (b.freeze().into_bytes(), own_pool)
}

/// How many times the owner was dropped: the block's returns.
fn drop_count(pool: &tierpool::Pool) -> usize {
    pool.stats().tiers[0].returns as usize
}

#[test]
fn owned_is_unique_always_false() {
    let (b1, _pool) = owned(&[1, 2, 3, 4, 5, 6, 7]);
    assert!(!b1.is_unique()); // even if ref_cnt == 1
    let b2 = b1.clone();
    assert!(!b1.is_unique());
    assert!(!b2.is_unique());
    drop(b1);
    assert!(!b2.is_unique()); // even if ref_cnt == 1
}

#[test]
fn owned_buf_sharing() {
    let buf = [1, 2, 3, 4, 5, 6, 7];
    let (b1, _pool) = owned(&buf);
    let b2 = b1.clone();
    assert_eq!(&buf[..], &b1[..]);
    assert_eq!(&buf[..], &b2[..]);
    assert_eq!(b1.as_ptr(), b2.as_ptr());
    assert_eq!(b1.len(), b2.len());
    assert_eq!(b1.len(), buf.len());
}

#[test]
fn owned_buf_slicing() {
    let (b1, _pool) = owned(SHORT);
    assert_eq!(SHORT, &b1[..]);
    let b2 = b1.slice(1..(b1.len() - 1));
    assert_eq!(&SHORT[1..(SHORT.len() - 1)], b2);
    assert_eq!(b1.as_ptr().wrapping_add(1), b2.as_ptr());
    assert_eq!(SHORT.len() - 2, b2.len());
}

#[test]
fn owned_dropped_exactly_once() {
    let buf: [u8; 5] = [1, 2, 3, 4, 5];
    let (b1, drop_counter) = owned(&buf);
    let b2 = b1.clone();
    assert_eq!(drop_count(&drop_counter), 0);
    drop(b1);
    assert_eq!(drop_count(&drop_counter), 0);
    let b3 = b2.slice(1..b2.len() - 1);
    drop(b2);
    assert_eq!(drop_count(&drop_counter), 0);
    drop(b3);
    assert_eq!(drop_count(&drop_counter), 1);
}

#[test]
fn owned_to_mut() {
    let buf: [u8; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let (b1, drop_counter) = owned(&buf);

    // Holding an owner will fail converting to a BytesMut,
    // even when the bytes instance has a ref_cnt == 1.
    let b1 = b1.try_into_mut().unwrap_err();

    // That said, it's still possible, just not cheap.
    let bm1: BytesMut = b1.into();
    let new_buf = &bm1[..];
    assert_eq!(new_buf, &buf[..]);

    // `.into::<BytesMut>()` has correctly dropped the owner
    assert_eq!(drop_count(&drop_counter), 1);
}

#[test]
fn owned_to_vec() {
    let buf: [u8; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let (b1, drop_counter) = owned(&buf);

    let v1 = b1.to_vec();
    assert_eq!(&v1[..], &buf[..]);
    assert_eq!(&v1[..], &b1[..]);

    drop(b1);
    assert_eq!(drop_count(&drop_counter), 1);
}

#[test]
fn owned_into_vec() {
    let buf: [u8; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let (b1, drop_counter) = owned(&buf);

    let v1: Vec<u8> = b1.into();
    assert_eq!(&v1[..], &buf[..]);
    // into() vec will copy out of the owner and drop it
    assert_eq!(drop_count(&drop_counter), 1);
}

#[test]
#[should_panic]
fn bytes_mut_reserve_overflow() {
    let a = mut_from(&b"hello world"[..]);
    let mut a = a;
    // Adapted: what `split_off` returns is a view; it becomes a buffer.
    let b = a.split_off(5);
    // Ensure b becomes the unique owner of the backing storage
    drop(a);
    let mut b = PooledBuf::from(b);
    // Trigger overflow in new_cap + offset inside reserve
    b.reserve(usize::MAX - 6);
    // This call relies on the corrupted cap and may cause UB & HBO
    b.put_u8(b'h');
}
