//! Unwind safety: every public type is `UnwindSafe` and `RefUnwindSafe`, as
//! `Bytes`, `BytesMut` and `Vec` are, and a panic caught in the middle of an
//! operation leaves the buffer and the pool consistent.

mod common;

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};

use common::{assert_all_returned, panic_message};
use tierpool::{Pool, PooledBuf, PooledChain, SharedBuf, SharedChain};

fn assert_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

#[test]
fn public_types_are_unwind_safe() {
    assert_unwind_safe::<Pool>();
    assert_unwind_safe::<PooledBuf>();
    assert_unwind_safe::<SharedBuf>();
    assert_unwind_safe::<PooledChain>();
    assert_unwind_safe::<SharedChain>();
    assert_unwind_safe::<tierpool::Quota>();
    assert_unwind_safe::<tierpool::PoolBuilder>();
    assert_unwind_safe::<tierpool::PoolStats>();
    assert_unwind_safe::<tierpool::PoolError>();
    assert_unwind_safe::<tierpool::ConfigError>();
}

/// The case from the issue: a closure that captures a view by reference
/// compiles, and an out-of-range slice panics without harming the view.
#[test]
fn a_panicking_slice_leaves_the_view_intact() {
    let pool = Pool::new();
    let mut buf = pool.get(16);
    buf.extend_from_slice(b"hello world");
    let view = buf.freeze();

    let inside = catch_unwind(|| view.slice(6..11)).unwrap();
    assert_eq!(inside, b"world"[..]);
    let err = catch_unwind(|| view.slice(5..12)).unwrap_err();
    assert!(
        panic_message(&*err).contains("out of bounds"),
        "{}",
        panic_message(&*err)
    );

    assert_eq!(view, b"hello world"[..]);
    drop((view, inside));
    assert_all_returned(&pool);
}

struct PanickingReader {
    fill: usize,
}

impl Read for PanickingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf[..self.fill].fill(b'x');
        panic!("reader gave up after writing {} bytes", self.fill);
    }
}

/// A reader that writes into the buffer and then panics: the buffer keeps
/// its old length (the bytes written are not counted), stays usable, and
/// its block goes back to the pool.
#[test]
fn a_panicking_reader_leaves_the_buffer_consistent() {
    let pool = Pool::new();
    let mut buf = pool.get(64);
    buf.extend_from_slice(b"kept");
    let err = catch_unwind(AssertUnwindSafe(|| {
        buf.read_from(&mut PanickingReader { fill: 10 })
    }))
    .unwrap_err();
    assert!(panic_message(&*err).contains("gave up"));
    assert_eq!(&buf[..], b"kept");

    buf.extend_from_slice(b" and more");
    assert_eq!(&buf[..], b"kept and more");
    drop(buf);
    assert_all_returned(&pool);
}

/// An iterator that panics part-way through `extend`: the bytes taken
/// before the panic are kept, the rest of the buffer is untouched.
#[test]
fn a_panicking_iterator_keeps_a_prefix() {
    let pool = Pool::builder().tiers([8, 64]).build().unwrap();
    let mut buf = pool.get(8);
    buf.extend_from_slice(b"ab");
    let result = catch_unwind(AssertUnwindSafe(|| {
        // Crosses the 8-byte tier, so the panic comes after a move to the
        // next tier.
        buf.extend((0..20u8).map(|i| {
            if i == 12 {
                panic!("item {i}")
            } else {
                b'0' + i
            }
        }));
    }));
    assert!(result.is_err());
    assert_eq!(&buf[..], b"ab0123456789:;");
    assert_eq!(buf.tier(), Some(64));
    let view = buf.freeze();
    assert_eq!(pool.stats().tiers[1].in_use, 1);
    drop(view);
    assert_all_returned(&pool);
}

/// Panics with buffers and views alive on a thread: unwinding drops them
/// on that thread, and every block comes back.
#[test]
fn buffers_dropped_by_unwinding_return_to_the_pool() {
    let pool = Pool::new();
    let shared = pool.get(100).freeze();
    let result = std::thread::spawn({
        let pool = pool.clone();
        let shared = shared.clone();
        move || {
            let _held = pool.get(5000);
            let _chain = {
                let mut chain = pool.chain();
                chain.extend_from_slice(&[7; 100_000]);
                chain
            };
            let _view = shared;
            panic!("worker failed with buffers out");
        }
    })
    .join();
    assert!(result.is_err());
    drop(shared);
    assert_all_returned(&pool);
    // The pool still works after the panic.
    let mut again = pool.get(100);
    again.extend_from_slice(b"ok");
    assert_eq!(&again[..], b"ok");
}

/// A failed `reserve` (its panic caught) leaves the buffer as it was.
#[test]
fn a_caught_allocation_panic_leaves_the_buffer_unchanged() {
    let pool = Pool::new();
    let mut buf = pool.get(10);
    buf.extend_from_slice(b"data");
    let err = catch_unwind(AssertUnwindSafe(|| buf.reserve(usize::MAX))).unwrap_err();
    assert!(panic_message(&*err).contains("cannot allocate"));
    assert_eq!(&buf[..], b"data");
    assert_eq!(buf.capacity(), 4096);
    drop(buf);
    assert_all_returned(&pool);
}
