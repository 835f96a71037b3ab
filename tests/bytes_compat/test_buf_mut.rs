//! `tests/test_buf_mut.rs` of bytes 1.12.2: its tests of `BytesMut`
//! (`test_put_i8_negative`, `test_put_u8_grow_from_empty`,
//! `test_bytes_mut_put_u8_after_split`, `test_clone`,
//! `test_bytes_mut_reuse`). The others test `Vec<u8>`, slices and
//! `UninitSlice`.

use bytes::BufMut;
use core::fmt::Write;

use super::{mut_from, new_mut, with_capacity};

#[test]
fn test_put_i8_negative() {
    let mut buf = new_mut();
    buf.put_i8(-1);
    buf.put_i8(i8::MIN);
    assert_eq!(b"\xff\x80", &buf[..]);
}

#[test]
fn test_put_u8_grow_from_empty() {
    let expected: Vec<u8> = (0..=255).collect();

    let mut vec = Vec::new();
    let mut buf = new_mut();
    // Adapted: a new buffer has the smallest tier's capacity, not 0.
    assert_eq!(buf.capacity(), 5);
    for &n in &expected {
        vec.put_u8(n);
        buf.put_u8(n);
    }
    assert_eq!(expected, vec);
    assert_eq!(expected, buf);
}

#[test]
fn test_bytes_mut_put_u8_after_split() {
    // The front half has no spare capacity after `split_to`, so writing to it
    // must reallocate rather than clobber the back half.
    // Adapted: what `split_to` returns is a frozen view, which cannot be
    // written; the back half is written, and the front keeps its bytes.
    let mut back = mut_from(&b"abcdef"[..]);
    let front = back.split_to(3);
    back.put_u8(b'Y');
    assert_eq!(b"abc", &front[..]);
    assert_eq!(b"defY", &back[..]);

    // `split` leaves the spare capacity with the now-empty original, so this
    // writes in place at a non-zero offset into the shared allocation.
    let mut buf = with_capacity(8);
    buf.put_slice(b"abc");
    let front = buf.split();
    assert!(buf.capacity() > 0);
    let ptr = buf.as_ptr();
    buf.put_u8(b'Z');
    assert_eq!(ptr, buf.as_ptr());
    assert_eq!(b"abc", &front[..]);
    assert_eq!(b"Z", &buf[..]);
}

#[test]
fn test_clone() {
    let mut buf = with_capacity(100);
    buf.write_str("this is a test").unwrap();
    let buf2 = buf.clone();

    buf.write_str(" of our emergency broadcast system").unwrap();
    assert!(buf != buf2);
}

/// Test if with zero capacity BytesMut does not infinitely recurse in put from Buf
#[test]
fn test_bytes_mut_reuse() {
    let mut buf = new_mut();
    buf.put(&[] as &[u8]);
    let mut buf = new_mut();
    buf.put(&[1u8, 2, 3] as &[u8]);
}
