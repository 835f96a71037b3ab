//! Two-thread stress tests proving that no storage is ever handed to two
//! holders at once.
//!
//! Every holder fills its buffer with a pattern unique to it (its thread id
//! and a sequence number, repeated over the whole written length) and checks
//! the pattern before it lets go. If the pool ever handed one block to two
//! holders, or recycled a block that a view still reads, one of them would
//! overwrite the other's pattern and a check would fail.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread;

use bytes::Bytes;
use tierpool::{Pool, PoolBuilder, PooledBuf, SharedBuf, TierConfig};

mod common;
use common::{assert_all_returned, Rng};

/// Tier sizes: the defaults natively, small ones under Miri.
fn tiers() -> [usize; 3] {
    if cfg!(miri) {
        [64, 256, 1024]
    } else {
        [4096, 64 << 10, 1 << 20]
    }
}

fn iterations() -> usize {
    if cfg!(miri) {
        60
    } else {
        10_000
    }
}

/// A holder's identity: thread id in the top byte, a sequence number below.
fn tag(thread: u64, seq: u64) -> u64 {
    (thread << 56) | (seq & ((1 << 56) - 1))
}

/// Writes the pattern of `tag` at `phase` over `s`: `s[i] ==
/// tag_bytes[(phase + i) % 8]`. Doubling copies keep it cheap under Miri.
fn write_pattern(s: &mut [u8], tag: u64, phase: usize) {
    let bytes = tag.to_le_bytes();
    let head = s.len().min(8);
    for (i, b) in s[..head].iter_mut().enumerate() {
        *b = bytes[(phase + i) % 8];
    }
    let mut pos = 8;
    while pos < s.len() {
        let c = pos.min(s.len() - pos);
        s.copy_within(..c, pos);
        pos += c;
    }
}

/// Checks the pattern written by [`write_pattern`].
#[track_caller]
fn check_pattern(s: &[u8], tag: u64, phase: usize, what: &str) {
    let bytes = tag.to_le_bytes();
    let head = s.len().min(8);
    for (i, &b) in s[..head].iter().enumerate() {
        assert_eq!(
            b,
            bytes[(phase + i) % 8],
            "{what}: byte {i} of {} does not belong to holder {tag:#x}",
            s.len()
        );
    }
    // s[pos..pos + c] == s[..c] for doubling pos (multiples of 8) proves the
    // whole slice is the period-8 pattern.
    let mut pos = 8;
    while pos < s.len() {
        let c = pos.min(s.len() - pos);
        assert!(
            s[pos..pos + c] == s[..c],
            "{what}: bytes {pos}..{} of {} do not belong to holder {tag:#x}",
            pos + c,
            s.len()
        );
        pos += c;
    }
}

/// A length to write for a request of `capacity`: a multiple of 8 (so the
/// pattern can be continued after growth), at least 8.
fn written_len(rng: &mut Rng, capacity: usize) -> usize {
    (rng.range(8, capacity.max(8)) & !7).max(8)
}

/// A request size: mostly the small tier, some mid, few large, rare oversize.
fn request_size(rng: &mut Rng) -> usize {
    let [t0, t1, t2] = tiers();
    match rng.below(100) {
        0..=59 => rng.range(1, t0),
        60..=84 => rng.range(t0 + 1, t1),
        85..=94 => rng.range(t1 + 1, t2),
        _ => rng.range(t2 + 1, t2 + t2 / 2),
    }
}

struct Owned {
    buf: PooledBuf,
    tag: u64,
}

impl Owned {
    #[track_caller]
    fn check(&self, what: &str) {
        check_pattern(&self.buf, self.tag, 0, what);
    }
}

/// Runs the `PooledBuf` workload of one thread.
fn buffer_worker(pool: Pool, id: u64, to_peer: Sender<Owned>, from_peer: Receiver<Owned>) -> u64 {
    let mut rng = Rng::new(id + 1);
    let mut seq = 0u64;
    let mut next_tag = || {
        seq += 1;
        tag(id, seq)
    };
    let mut held: Vec<Owned> = Vec::new();
    let mut checks = 0u64;
    let mut received = 0u64;

    for _ in 0..iterations() {
        match rng.below(100) {
            0..=39 => {
                let size = request_size(&mut rng);
                let mut buf = pool.get(size);
                assert!(buf.is_empty(), "a fresh buffer is empty");
                assert!(buf.capacity() >= size);
                let len = written_len(&mut rng, size);
                let t = next_tag();
                buf.resize(len, 0);
                write_pattern(&mut buf, t, 0);
                held.push(Owned { buf, tag: t });
            }
            40..=54 if !held.is_empty() => {
                let o = held.swap_remove(rng.below(held.len()));
                o.check("before drop");
                checks += 1;
            }
            55..=64 if !held.is_empty() => {
                // Grow, possibly across tiers or past them.
                let i = rng.below(held.len());
                let o = &mut held[i];
                o.check("before growth");
                let old_len = o.buf.len();
                let extra = (request_size(&mut rng) / 2 + 8) & !7;
                o.buf.resize(old_len + extra, 0);
                write_pattern(&mut o.buf[..], o.tag, 0);
                o.check("after growth");
                checks += 2;
            }
            65..=79 if !held.is_empty() => {
                let o = held.swap_remove(rng.below(held.len()));
                o.check("before sending");
                checks += 1;
                to_peer.send(o).unwrap();
            }
            80..=99 if !held.is_empty() => {
                let i = rng.below(held.len());
                held[i].check("while held");
                checks += 1;
            }
            _ => {}
        }
        if held.len() > 12 {
            let o = held.swap_remove(rng.below(held.len()));
            o.check("before drop (full)");
            checks += 1;
        }
        while let Ok(mut o) = from_peer.try_recv() {
            received += 1;
            o.check("received");
            checks += 1;
            if rng.below(2) == 0 {
                // Adopt it: this thread is the holder now.
                o.tag = next_tag();
                write_pattern(&mut o.buf[..], o.tag, 0);
                held.push(o);
            }
        }
    }
    drop(to_peer);
    for o in held.drain(..) {
        o.check("at the end");
        checks += 1;
    }
    for o in from_peer.iter() {
        received += 1;
        o.check("received at the end");
        checks += 1;
    }
    assert!(checks > 0);
    received
}

fn run_buffer_stress(builder: PoolBuilder) {
    let pool = builder.build().unwrap();
    let (to_1, from_0) = channel();
    let (to_0, from_1) = channel();
    let (p0, p1) = (pool.clone(), pool.clone());
    let t0 = thread::spawn(move || buffer_worker(p0, 0, to_1, from_1));
    let t1 = thread::spawn(move || buffer_worker(p1, 1, to_0, from_0));
    let received = t0.join().unwrap() + t1.join().unwrap();
    assert!(received > 0, "some buffers crossed threads");
    let stats = pool.stats();
    let handed_out: u64 = stats.tiers.iter().map(|t| t.hits + t.misses).sum();
    assert!(handed_out > 0);
    if !cfg!(miri) {
        assert!(
            stats.oversize.allocations > 0,
            "the workload includes oversize"
        );
    }
    assert_all_returned(&pool);
}

#[test]
fn two_threads_never_share_a_buffer_with_small_caches() {
    // Tiny caches and depots: many batch moves, spills and frees.
    let builder = tiers().iter().fold(Pool::builder(), |b, &size| {
        b.tier(
            TierConfig::new(size)
                .thread_cache_buffers(4)
                .depot_buffers(6),
        )
    });
    run_buffer_stress(builder);
}

#[test]
fn two_threads_never_share_a_buffer_with_default_limits() {
    run_buffer_stress(Pool::builder().tiers(tiers()));
}

#[test]
fn two_threads_never_share_a_buffer_without_thread_caches() {
    run_buffer_stress(
        Pool::builder()
            .tiers(tiers())
            .thread_cache_buffers(0)
            .depot_buffers(3),
    );
}

/// A view (or `Bytes`) with the holder whose pattern it shows and the phase
/// of its first byte.
enum Shared {
    View(SharedBuf, u64, usize),
    Bytes(Bytes, u64, usize),
}

impl Shared {
    #[track_caller]
    fn check(&self, what: &str) {
        match self {
            Shared::View(v, t, phase) => check_pattern(v, *t, *phase, what),
            Shared::Bytes(b, t, phase) => check_pattern(b, *t, *phase, what),
        }
    }
}

/// Runs the view workload of one thread.
fn view_worker(pool: Pool, id: u64, to_peer: Sender<Shared>, from_peer: Receiver<Shared>) -> u64 {
    let mut rng = Rng::new(id + 100);
    let mut seq = 0u64;
    let mut held: Vec<Shared> = Vec::new();
    // A codec-style writer that keeps splitting frozen frames off its front.
    let mut writer: Option<(PooledBuf, u64)> = None;
    let mut received = 0u64;

    for _ in 0..iterations() {
        match rng.below(100) {
            0..=29 => {
                // Fill, freeze, and hand out clones and slices.
                seq += 1;
                let t = tag(id, seq);
                let size = request_size(&mut rng);
                let mut buf = pool.get(size);
                let len = written_len(&mut rng, size);
                buf.resize(len, 0);
                write_pattern(&mut buf, t, 0);
                let view = buf.freeze();
                for _ in 0..rng.range(1, 3) {
                    let a = rng.below(len + 1);
                    let b = rng.range(a, len);
                    let piece = match rng.below(4) {
                        0 => Shared::View(view.clone(), t, 0),
                        1 => Shared::View(view.slice(a..b), t, a % 8),
                        2 => Shared::Bytes(view.slice(a..b).into_bytes(), t, a % 8),
                        _ => {
                            let mut v = view.clone();
                            let tail = v.split_off(a);
                            Shared::View(tail, t, a % 8)
                        }
                    };
                    if rng.below(2) == 0 {
                        to_peer.send(piece).unwrap();
                    } else {
                        held.push(piece);
                    }
                }
                Shared::View(view, t, 0).check("frozen");
            }
            30..=49 => {
                // Append to the writer, then split a frame off its front.
                let (buf, t) = writer.get_or_insert_with(|| {
                    seq += 1;
                    (pool.get(1), tag(id, seq))
                });
                check_pattern(buf, *t, 0, "writer before append");
                let extra = (request_size(&mut rng) / 4 + 8) & !7;
                let old = buf.len();
                buf.resize(old + extra, 0);
                write_pattern(&mut buf[..], *t, 0);
                let at = rng.below(buf.len() / 8 + 1) * 8;
                let frame = buf.split_to(at);
                check_pattern(&frame, *t, 0, "split frame");
                check_pattern(buf, *t, 0, "writer after split");
                let piece = Shared::View(frame, *t, 0);
                if rng.below(2) == 0 {
                    to_peer.send(piece).unwrap();
                } else {
                    held.push(piece);
                }
                if rng.below(8) == 0 {
                    writer = None;
                }
            }
            50..=69 if !held.is_empty() => {
                let piece = held.swap_remove(rng.below(held.len()));
                piece.check("before drop");
            }
            70..=79 if !held.is_empty() => {
                let i = rng.below(held.len());
                held[i].check("while held");
                // Clone or slice it further.
                let more = match &held[i] {
                    Shared::View(v, t, phase) => {
                        let a = rng.below(v.len() + 1);
                        Shared::View(v.slice(a..), *t, (phase + a) % 8)
                    }
                    Shared::Bytes(b, t, phase) => {
                        let a = rng.below(b.len() + 1);
                        Shared::Bytes(b.slice(a..), *t, (phase + a) % 8)
                    }
                };
                to_peer.send(more).unwrap();
            }
            80..=89 if !held.is_empty() => {
                // Try to get the storage back as a mutable buffer: only
                // possible when nobody else holds it.
                match held.swap_remove(rng.below(held.len())) {
                    Shared::View(v, t, phase) => match v.try_into_mut() {
                        Ok(mut buf) => {
                            check_pattern(&buf, t, phase, "reclaimed");
                            seq += 1;
                            let t = tag(id, seq);
                            write_pattern(&mut buf[..], t, 0);
                            held.push(Shared::View(buf.freeze(), t, 0));
                        }
                        Err(v) => held.push(Shared::View(v, t, phase)),
                    },
                    other => other.check("before drop"),
                }
            }
            _ => {}
        }
        if held.len() > 16 {
            held.swap_remove(rng.below(held.len()))
                .check("before drop (full)");
        }
        while let Ok(piece) = from_peer.try_recv() {
            received += 1;
            piece.check("received");
            if rng.below(2) == 0 {
                held.push(piece);
            }
        }
    }
    if let Some((buf, t)) = writer.take() {
        check_pattern(&buf, t, 0, "writer at the end");
    }
    drop(to_peer);
    // Drop what is left in a random order.
    while !held.is_empty() {
        held.swap_remove(rng.below(held.len())).check("at the end");
    }
    for piece in from_peer.iter() {
        received += 1;
        piece.check("received at the end");
    }
    received
}

fn run_view_stress(builder: PoolBuilder) {
    let pool = builder.build().unwrap();
    let (to_1, from_0) = channel();
    let (to_0, from_1) = channel();
    let (p0, p1) = (pool.clone(), pool.clone());
    let t0 = thread::spawn(move || view_worker(p0, 0, to_1, from_1));
    let t1 = thread::spawn(move || view_worker(p1, 1, to_0, from_0));
    let received = t0.join().unwrap() + t1.join().unwrap();
    assert!(received > 0, "some views crossed threads");
    assert_all_returned(&pool);
}

#[test]
fn two_threads_share_views_safely_with_small_caches() {
    let builder = tiers().iter().fold(Pool::builder(), |b, &size| {
        b.tier(
            TierConfig::new(size)
                .thread_cache_buffers(2)
                .depot_buffers(4),
        )
    });
    run_view_stress(builder);
}

#[test]
fn two_threads_share_views_safely_with_default_limits() {
    run_view_stress(Pool::builder().tiers(tiers()));
}
