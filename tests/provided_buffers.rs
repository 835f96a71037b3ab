//! Provided buffer rings fed from the pool (feature `io-uring`, Linux):
//! `Pool::provide_buffers`, multishot receives that take a pooled buffer
//! only when data arrives, and `ProvidedBuffers::take`.
//!
//! Where the kernel refuses `io_uring_setup` (a seccomp filter, an old
//! kernel, `kernel.io_uring_disabled`) or has no provided buffer rings
//! (before 5.19), the tests say so on standard error and return.
#![cfg(all(feature = "io-uring", target_os = "linux", not(miri)))]

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use io_uring::{cqueue, opcode, types, IoUring};
use tierpool::uring::{ProvideError, ProvidedBuffers, TakeError};
use tierpool::Pool;

mod common;
use common::ring;

const KIB: usize = 1024;

/// `IORING_CQE_F_BUFFER`, and the buffer id above it: a forged completion.
fn with_buffer(bid: u16) -> u32 {
    1 | (u32::from(bid) << 16)
}

/// The group provided, or `None` (with a message) where the kernel has no
/// provided buffer rings.
fn provide(
    pool: &Pool,
    ring: &IoUring,
    group: u16,
    entries: u16,
    capacity: usize,
) -> Option<ProvidedBuffers> {
    match pool.provide_buffers(&ring.submitter(), group, entries, capacity) {
        Ok(provided) => Some(provided),
        Err(ProvideError::Io(err)) if err.raw_os_error() == Some(libc::EINVAL) => {
            eprintln!("skipped: IORING_REGISTER_PBUF_RING refused: {err}");
            None
        }
        Err(err) => panic!("provide_buffers: {err}"),
    }
}

fn in_use(pool: &Pool) -> u64 {
    pool.stats().tiers[0].in_use
}

/// Arms a multishot receive on `sock` from `group`.
fn arm(ring: &mut IoUring, sock: &UnixStream, group: u16) {
    let recv = opcode::RecvMulti::new(types::Fd(sock.as_raw_fd()), group)
        .build()
        .user_data(7);
    // SAFETY: the receive writes only into the group's buffers, and every
    // test keeps `sock` open until the receive has ended.
    unsafe { ring.submission().push(&recv) }.expect("room in the queue");
    ring.submit().expect("io_uring_enter");
}

/// Waits for the next completion.
fn next(ring: &mut IoUring) -> cqueue::Entry {
    loop {
        if let Some(cqe) = ring.completion().next() {
            return cqe;
        }
        ring.submit_and_wait(1).expect("io_uring_enter");
    }
}

/// Takes a completion of the receive armed by [`arm`].
fn take(provided: &mut ProvidedBuffers, cqe: &cqueue::Entry) -> Option<tierpool::PooledBuf> {
    assert_eq!(cqe.user_data(), 7);
    // SAFETY: the ring's completion of the receive from this group, taken
    // once.
    unsafe { provided.take(cqe) }.expect("a completion of the group")
}

/// Ends the receive with end of stream and reaps its last completion (the
/// first without `IORING_CQE_F_MORE`), so that no operation holds a
/// buffer of the group. Its result is 0 (end of stream), or `-ENOBUFS`
/// where the kernel retried the receive on a run-dry ring first.
fn finish(ring: &mut IoUring, provided: &mut ProvidedBuffers, peer: UnixStream) {
    drop(peer);
    loop {
        let cqe = next(ring);
        assert!(take(provided, &cqe).is_none(), "no data after the last");
        if !cqueue::more(cqe.flags()) {
            assert!([0, -libc::ENOBUFS].contains(&cqe.result()), "{cqe:?}");
            return;
        }
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn a_multishot_receive_hands_back_pooled_buffers_with_exactly_the_bytes_sent() {
    let Some(mut ring) = ring() else { return };
    let pool = Pool::builder().tiers([4 * KIB]).build().unwrap();
    let Some(mut provided) = provide(&pool, &ring, 1, 8, 100) else {
        return;
    };
    assert_eq!(provided.group(), 1);
    assert_eq!((provided.entries(), provided.provided()), (8, 8));
    assert_eq!(provided.buffer_capacity(), 4 * KIB);
    assert_eq!(in_use(&pool), 8);
    let (mut peer, sock) = UnixStream::pair().unwrap();
    arm(&mut ring, &sock, provided.group());

    let messages: [&[u8]; 4] = [b"hello", b"provided", b"buffer rings", &[0xaa; 4096]];
    let mut held = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        peer.write_all(message).unwrap();
        let cqe = next(&mut ring);
        assert!(cqueue::more(cqe.flags()), "the receive goes on");
        assert!(cqueue::buffer_select(cqe.flags()).is_some());
        let buf = take(&mut provided, &cqe).expect("a buffer");
        assert_eq!(&buf[..], *message);
        assert_eq!(buf.len(), message.len());
        assert_eq!(buf.capacity(), 4 * KIB);
        held.push(buf);
        assert_eq!(provided.provided(), 8, "a fresh buffer in its place");
        assert_eq!(in_use(&pool), 8 + i as u64 + 1);
    }
    drop(held);
    assert_eq!(in_use(&pool), 8, "the buffers went back");

    // A message larger than a buffer comes in several, in order, each
    // returned to the pool from another thread. The kernel may fill all
    // eight buffers before any is taken: then the next receive finds none
    // (ENOBUFS) and the multishot ends; arming it again goes on.
    let big = pattern(100 * KIB);
    // Written from another thread: the socket's buffer may hold less,
    // and this thread must go on taking for the writer to finish.
    let writer = {
        let big = big.clone();
        std::thread::spawn(move || {
            peer.write_all(&big).unwrap();
            peer
        })
    };
    let mut received = Vec::new();
    let (mut parts, mut rearmed) = (0, 0);
    while received.len() < big.len() {
        let cqe = next(&mut ring);
        if let Some(buf) = take(&mut provided, &cqe) {
            assert!(buf.len() <= 4 * KIB);
            received.extend_from_slice(&buf);
            parts += 1;
            std::thread::spawn(move || drop(buf)).join().unwrap();
        }
        if !cqueue::more(cqe.flags()) {
            assert_eq!(cqe.result(), -libc::ENOBUFS);
            arm(&mut ring, &sock, provided.group());
            rearmed += 1;
        }
    }
    let peer = writer.join().unwrap();
    assert_eq!(received, big);
    assert!(parts >= 25, "{parts} parts of at most 4 KiB");
    eprintln!("100 KiB in {parts} buffers; the receive was armed again {rearmed} times");
    assert_eq!(in_use(&pool), 8);

    finish(&mut ring, &mut provided, peer);
    assert_eq!(provided.provided(), 8);
    // SAFETY: the submitter of the ring the group was provided to; the
    // group's only receive has ended.
    unsafe { provided.unregister(&ring.submitter()) }.unwrap();
    assert_eq!(in_use(&pool), 0, "unregister returns every buffer");
}

#[test]
fn a_ring_run_dry_ends_the_receive_with_enobufs_and_taking_lets_it_go_on() {
    let Some(mut ring) = ring() else { return };
    let pool = Pool::builder().tiers([4 * KIB]).build().unwrap();
    let Some(mut provided) = provide(&pool, &ring, 2, 2, 4 * KIB) else {
        return;
    };
    let (mut peer, sock) = UnixStream::pair().unwrap();
    arm(&mut ring, &sock, 2);
    // Two messages fill the two buffers; their completions are kept.
    let mut kept = Vec::new();
    for message in [&b"one"[..], b"two"] {
        peer.write_all(message).unwrap();
        let cqe = next(&mut ring);
        assert!(cqueue::more(cqe.flags()));
        kept.push(cqe);
    }
    // The third finds no buffer: ENOBUFS, and the receive ends.
    peer.write_all(b"three").unwrap();
    let dry = next(&mut ring);
    assert_eq!(dry.result(), -libc::ENOBUFS);
    assert!(
        !cqueue::more(dry.flags()),
        "a run-dry ring ends the multishot"
    );
    assert_eq!(cqueue::buffer_select(dry.flags()), None);
    assert!(take(&mut provided, &dry).is_none());
    assert_eq!(
        provided.provided(),
        2,
        "both still with the kernel's completions"
    );
    assert_eq!(in_use(&pool), 2);

    let taken: Vec<_> = kept
        .iter()
        .map(|cqe| take(&mut provided, cqe).expect("a buffer"))
        .collect();
    assert_eq!(&taken[0][..], b"one");
    assert_eq!(&taken[1][..], b"two");
    assert_eq!(provided.provided(), 2, "both refilled");
    assert_eq!(in_use(&pool), 4);

    // Armed again, the receive gets the message that waited.
    arm(&mut ring, &sock, 2);
    let cqe = next(&mut ring);
    assert!(cqueue::more(cqe.flags()));
    assert_eq!(&take(&mut provided, &cqe).expect("a buffer")[..], b"three");
    drop(taken);
    finish(&mut ring, &mut provided, peer);
    // SAFETY: the ring's submitter; the receive has ended.
    unsafe { provided.unregister(&ring.submitter()) }.unwrap();
    assert_eq!(in_use(&pool), 0);
}

#[test]
fn forged_completions_and_a_budget_are_refused_without_harm() {
    let Some(mut ring) = ring() else { return };
    let pool = Pool::builder()
        .tiers([4 * KIB])
        .max_in_use_bytes(2 * 4 * KIB)
        .build()
        .unwrap();
    let Some(mut provided) = provide(&pool, &ring, 3, 4, 4 * KIB) else {
        return;
    };
    assert_eq!(provided.provided(), 2, "the budget allows two of four");
    let forged = [
        (
            with_buffer(4),
            TakeError::UnknownBuffer { bid: 4, entries: 4 },
        ),
        (
            with_buffer(1000),
            TakeError::UnknownBuffer {
                bid: 1000,
                entries: 4,
            },
        ),
        (with_buffer(2), TakeError::NotLent { bid: 2 }),
        (with_buffer(3), TakeError::NotLent { bid: 3 }),
        (
            with_buffer(0),
            TakeError::TooLong {
                bid: 0,
                len: 5000,
                capacity: 4 * KIB,
            },
        ),
    ];
    for (flags, expected) in forged {
        // SAFETY: ids beyond the ring or not lent, and results longer than
        // the buffer, are checked.
        let result = unsafe { provided.take_parts(5000, flags) };
        assert_eq!(result.unwrap_err(), expected);
        assert_eq!(provided.provided(), 2);
    }
    assert_eq!(in_use(&pool), 2);

    // The ring works as before; a refill over the budget waits for
    // `replenish`.
    let (mut peer, sock) = UnixStream::pair().unwrap();
    arm(&mut ring, &sock, 3);
    peer.write_all(b"first").unwrap();
    let first = take(&mut provided, &next(&mut ring)).expect("a buffer");
    assert_eq!(&first[..], b"first");
    assert_eq!(provided.provided(), 1, "no refill over the budget");
    assert_eq!(provided.replenish(), 0);
    drop(first);
    assert_eq!(provided.replenish(), 1);
    assert_eq!(provided.provided(), 2);
    peer.write_all(b"second").unwrap();
    let second = take(&mut provided, &next(&mut ring)).expect("a buffer");
    assert_eq!(&second[..], b"second");
    drop(second);
    assert_eq!(provided.replenish(), 1);
    finish(&mut ring, &mut provided, peer);
    // SAFETY: the ring's submitter; the receive has ended.
    unsafe { provided.unregister(&ring.submitter()) }.unwrap();
    assert_eq!(in_use(&pool), 0);
}

#[test]
fn arguments_and_groups_in_use_are_errors() {
    let Some(ring) = ring() else { return };
    let pool = Pool::builder().tiers([4 * KIB]).build().unwrap();
    let Some(provided) = provide(&pool, &ring, 4, 2, 1) else {
        return;
    };
    let submitter = ring.submitter();
    assert!(matches!(
        pool.provide_buffers(&submitter, 4, 2, 1),
        Err(ProvideError::GroupInUse { group: 4 })
    ));
    for entries in [0, 6, 65535] {
        assert!(matches!(
            pool.provide_buffers(&submitter, 5, entries, 1),
            Err(ProvideError::Entries { .. })
        ));
    }
    assert!(matches!(
        pool.provide_buffers(&submitter, 5, 2, 4 * KIB + 1),
        Err(ProvideError::Oversize {
            requested: 4097,
            largest_tier: 4096
        })
    ));
    assert_eq!(in_use(&pool), 2, "the failures hold nothing");
    // SAFETY: the ring's submitter; no operation uses the group.
    unsafe { provided.unregister(&submitter) }.unwrap();
    // The group id is free again.
    let again = pool.provide_buffers(&submitter, 4, 32768, 1).unwrap();
    assert_eq!(again.provided(), 32768);
    // SAFETY: as above.
    unsafe { again.unregister(&submitter) }.unwrap();
    assert_eq!(in_use(&pool), 0);
}

#[test]
fn dropping_a_registered_ring_leaks_its_buffers_instead_of_freeing_them() {
    let Some(mut ring) = ring() else { return };
    let pool = Pool::builder().tiers([4 * KIB]).build().unwrap();
    let Some(mut provided) = provide(&pool, &ring, 5, 4, 1) else {
        return;
    };
    let (mut peer, sock) = UnixStream::pair().unwrap();
    arm(&mut ring, &sock, 5);
    peer.write_all(b"held").unwrap();
    let held = take(&mut provided, &next(&mut ring)).expect("a buffer");
    // Dropped while registered, with the receive still armed: the kernel
    // may still write into the lent buffers, so they are never freed.
    drop(provided);
    assert_eq!(in_use(&pool), 5);
    drop(held);
    assert_eq!(in_use(&pool), 4, "the four lent stay out");
    // The receive goes on into the leaked buffers; nothing of the pool's
    // is touched.
    peer.write_all(b"after").unwrap();
    let cqe = next(&mut ring);
    assert_eq!(cqe.result(), 5);
    assert!(cqueue::buffer_select(cqe.flags()).is_some());
    let fresh = pool.get(1);
    assert!(fresh.is_empty());
    drop((fresh, peer, ring, sock));
    pool.trim();
    assert_eq!(in_use(&pool), 4, "still out after the ring is gone");
}
