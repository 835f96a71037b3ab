//! `tests/test_iter.rs` of bytes 1.12.2, for both types.

use bytes::buf::IntoIter;

use super::{bytes_from, mut_from};

#[test]
fn iter_len() {
    let buf = bytes_from(b"hello world");
    let iter = IntoIter::new(buf);

    assert_eq!(iter.size_hint(), (11, Some(11)));
    assert_eq!(iter.len(), 11);

    let buf = mut_from(b"hello world");
    let iter = IntoIter::new(buf);

    assert_eq!(iter.size_hint(), (11, Some(11)));
    assert_eq!(iter.len(), 11);
}

#[test]
fn empty_iter_len() {
    let buf = bytes_from(b"");
    let iter = IntoIter::new(buf);

    assert_eq!(iter.size_hint(), (0, Some(0)));
    assert_eq!(iter.len(), 0);
}
