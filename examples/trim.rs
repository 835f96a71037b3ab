//! Idle memory of parked threads, trimmed by one call from another
//! thread.
//!
//! Sixteen threads fill their caches in every tier (as a burst on a thread
//! pool would) and then park, never touching the pool again. The main thread
//! calls `trim()` once and prints what the pool caches before and after, how
//! long the call took, and the process's resident memory before and after
//! (what the allocator gives back to the system is up to the allocator).
//!
//! Run: `cargo run --release --example trim [THREADS]` (default 16)

use std::sync::{Arc, Barrier};
use std::time::Instant;

use tierpool::Pool;

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let pool = Pool::new();
    let filled = Arc::new(Barrier::new(threads + 1));
    let release = Arc::new(Barrier::new(threads + 1));
    let parked: Vec<_> = (0..threads)
        .map(|_| {
            let (pool, filled, release) = (pool.clone(), filled.clone(), release.clone());
            std::thread::spawn(move || {
                // Hold as many buffers of each tier as a thread cache keeps
                // (the default depths), then let them all go at once.
                for (capacity, count) in [(4 << 10, 64), (64 << 10, 16), (1 << 20, 1)] {
                    let burst: Vec<_> = (0..count)
                        .map(|_| {
                            // Written in full, as a received message would be,
                            // so the memory is resident.
                            let mut buf = pool.get(capacity);
                            buf.resize(capacity, 0x5a);
                            buf
                        })
                        .collect();
                    drop(burst);
                }
                filled.wait();
                release.wait(); // parked: the pool is not touched again
            })
        })
        .collect();
    filled.wait();

    let before = pool.stats().cached_bytes();
    let rss_before = resident_kib();
    let start = Instant::now();
    pool.trim();
    let took = start.elapsed();
    let after = pool.stats().cached_bytes();
    let rss_after = resident_kib();

    println!(
        "trim threads={threads} cached_before_kib={} cached_after_kib={} cached_after_pct={:.1} trim_us={:.0} rss_before_kib={} rss_after_kib={} parked_threads_reached={}",
        before / 1024,
        after / 1024,
        100.0 * after as f64 / before.max(1) as f64,
        took.as_secs_f64() * 1e6,
        rss_before.map_or("n/a".into(), |k| k.to_string()),
        rss_after.map_or("n/a".into(), |k| k.to_string()),
        tierpool::Pool::trims_reach_parked_threads(),
    );
    if tierpool::Pool::trims_reach_parked_threads() {
        assert!(after * 10 < before, "the parked threads' caches were freed");
    }

    release.wait();
    for thread in parked {
        thread.join().expect("a parked thread panicked");
    }
}

/// The process's resident set now, from `/proc/self/status` (Linux only).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
