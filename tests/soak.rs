//! Soak test: a bursty multi-threaded workload (random sizes across every
//! tier and oversize, random hold times, frozen views, cross-thread drops)
//! while a sampler checks that the process RSS stays within the pool's
//! budgets plus a fixed overhead, and that idle bytes never exceed
//! `max_cached_bytes`.
//!
//! Runs for `TIERPOOL_SOAK_SECS` seconds (default 2; the figures in the
//! release notes come from `TIERPOOL_SOAK_SECS=60 cargo test --release
//! --test soak -- --nocapture`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tierpool::{Pool, PooledBuf, SharedBuf};

mod common;
use common::{assert_all_returned, Rng};

const MIB: u64 = 1 << 20;
/// Idle bytes the pool may keep.
const CACHED_LIMIT: u64 = 48 * MIB;
/// What RSS may exceed `baseline + in_use + CACHED_LIMIT` by: allocator
/// slack and fragmentation, thread stacks, channel queues and the sampler's
/// timing skew (a few buffers got between its stats and RSS reads).
const OVERHEAD: u64 = 64 * MIB;
const WORKERS: usize = 3;
const MAX_HELD: usize = 48;

/// 60% up to 4 KiB, 30% up to 64 KiB, 8% up to 1 MiB, 2% up to 4 MiB.
fn random_size(rng: &mut Rng) -> usize {
    let max = match rng.below(100) {
        0..=59 => 4 << 10,
        60..=89 => 64 << 10,
        90..=97 => 1 << 20,
        _ => 4 << 20,
    };
    1 + rng.below(max)
}

fn pattern(tag: u64, i: usize) -> u8 {
    (tag.wrapping_mul(31).wrapping_add(i as u64 * 7) >> 3) as u8
}

fn fill(buf: &mut PooledBuf, tag: u64, len: usize) {
    buf.extend((0..len).map(|i| pattern(tag, i)));
}

fn check(bytes: &[u8], tag: u64, offset: usize) {
    for (i, &b) in bytes.iter().enumerate() {
        assert_eq!(
            b,
            pattern(tag, offset + i),
            "holder {tag:#x} found foreign bytes"
        );
    }
}

enum Held {
    Buf(PooledBuf, u64),
    View(SharedBuf, u64, usize),
}

impl Held {
    fn verify(&self) {
        match self {
            Held::Buf(buf, tag) => check(buf, *tag, 0),
            Held::View(view, tag, offset) => check(view, *tag, *offset),
        }
    }
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn worker(
    id: u64,
    pool: Pool,
    deadline: Instant,
    outbox: mpsc::SyncSender<Held>,
    inbox: mpsc::Receiver<Held>,
    checks: &AtomicU64,
) {
    let mut rng = Rng::new(id + 1);
    let mut held: Vec<Held> = Vec::new();
    let mut serial = 0u64;
    while Instant::now() < deadline {
        // Bursts: sometimes fill up, sometimes drain everything.
        let burst = rng.below(20) == 0;
        let ops = if burst { MAX_HELD } else { 1 + rng.below(8) };
        for _ in 0..ops {
            while let Ok(foreign) = inbox.try_recv() {
                foreign.verify();
                checks.fetch_add(1, Ordering::Relaxed);
                drop(foreign); // returned on a thread that did not get it
            }
            match rng.below(10) {
                0..=4 if held.len() < MAX_HELD => {
                    serial += 1;
                    let tag = (id << 48) | serial;
                    let size = random_size(&mut rng);
                    let mut buf = pool.get(size);
                    // Sometimes write past the request to exercise growth.
                    let len = if rng.below(10) == 0 {
                        size + size / 2
                    } else {
                        size.min(4096)
                    };
                    fill(&mut buf, tag, len);
                    if rng.below(3) == 0 {
                        let view = buf.freeze();
                        let cut = rng.below(view.len() + 1);
                        let tail = view.slice(cut..);
                        held.push(Held::View(view, tag, 0));
                        held.push(Held::View(tail, tag, cut));
                    } else {
                        held.push(Held::Buf(buf, tag));
                    }
                }
                5 | 6 if !held.is_empty() => {
                    let item = held.swap_remove(rng.below(held.len()));
                    item.verify();
                    checks.fetch_add(1, Ordering::Relaxed);
                    // Full channel: drop it here instead.
                    let _ = outbox.try_send(item);
                }
                _ if !held.is_empty() => {
                    let item = held.swap_remove(rng.below(held.len()));
                    item.verify();
                    checks.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        if burst && rng.below(2) == 0 {
            for item in held.drain(..) {
                item.verify();
            }
        }
    }
    for item in held {
        item.verify();
    }
    drop(outbox);
    for foreign in inbox {
        foreign.verify();
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a timed multi-threaded soak is far too slow under Miri"
)]
fn rss_stays_within_budgets_under_a_bursty_cross_thread_workload() {
    let secs: u64 = std::env::var("TIERPOOL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let pool = Pool::builder()
        .max_cached_bytes(CACHED_LIMIT as usize)
        .build()
        .unwrap();
    let baseline = rss_bytes();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let done = AtomicBool::new(false);
    let checks = AtomicU64::new(0);
    let mut peak_rss = 0;
    let mut peak_in_use = 0;
    let mut peak_cached = 0;
    let mut samples = 0;

    std::thread::scope(|s| {
        // A ring: each worker sends some of its buffers to the next one.
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..WORKERS).map(|_| mpsc::sync_channel::<Held>(64)).unzip();
        let mut receivers: Vec<Option<_>> = receivers.into_iter().map(Some).collect();
        let mut handles = Vec::new();
        for id in 0..WORKERS {
            let outbox = senders[(id + 1) % WORKERS].clone();
            let inbox = receivers[id].take().unwrap();
            let pool = pool.clone();
            let checks = &checks;
            handles.push(s.spawn(move || worker(id as u64, pool, deadline, outbox, inbox, checks)));
        }
        drop(senders);
        let sampler = s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let stats = pool.stats();
                let rss = rss_bytes();
                let in_use = stats.in_use_bytes();
                // The exact counter (the per-tier gauges sum per-thread
                // counters read one after another, not one instant). A
                // return is counted just before the cap check, so allow one
                // buffer (at most 1 MiB) per worker returning right now.
                let cached = stats.cached_limit.unwrap().used;
                assert!(
                    cached <= CACHED_LIMIT + WORKERS as u64 * MIB,
                    "{cached} idle bytes over the {CACHED_LIMIT} limit"
                );
                if let (Some(rss), Some(baseline)) = (rss, baseline) {
                    let bound = baseline + in_use + CACHED_LIMIT + OVERHEAD;
                    assert!(
                        rss <= bound,
                        "RSS {} MiB over the bound {} MiB (in use {} MiB)",
                        rss / MIB,
                        bound / MIB,
                        in_use / MIB
                    );
                    peak_rss = peak_rss.max(rss);
                }
                peak_in_use = peak_in_use.max(in_use);
                peak_cached = peak_cached.max(cached);
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        for handle in handles {
            handle.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
    });

    assert_all_returned(&pool);
    let stats = pool.stats();
    assert!(stats.cached_bytes() <= CACHED_LIMIT);
    assert_eq!(
        stats.cached_limit.map(|b| b.used),
        Some(stats.cached_bytes())
    );
    assert!(checks.load(Ordering::Relaxed) > 0);
    eprintln!(
        "soak: {secs} s, {WORKERS} workers, {} pattern checks, {samples} samples; \
         baseline RSS {} MiB, peak RSS {} MiB, peak in use {} MiB, peak cached {} MiB \
         (limit {} MiB, overhead allowance {} MiB); hit rate {:.1}%",
        checks.load(Ordering::Relaxed),
        baseline.unwrap_or(0) / MIB,
        peak_rss / MIB,
        peak_in_use / MIB,
        peak_cached / MIB,
        CACHED_LIMIT / MIB,
        OVERHEAD / MIB,
        stats.hit_rate() * 100.0
    );
    eprintln!("{stats}");
}
