//! Watch a pool at work: a multi-threaded workload with a changing mix of
//! sizes, and the stats table printed every second.
//!
//! Run: `cargo run --release --example stats [SECONDS]` (default 3)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tierpool::Pool;

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let pool = Pool::builder()
        .record_sizes(true)
        .build()
        .expect("valid config");
    let stop = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..3u64)
        .map(|id| {
            let pool = pool.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut state = id + 1;
                let mut held = Vec::new();
                let mut droppers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    let size = match state >> 60 {
                        0..=9 => 200 + (state >> 40) as usize % 3_000,
                        10..=14 => 5_000 + (state >> 40) as usize % 50_000,
                        _ => 100_000 + (state >> 40) as usize % 3_000_000,
                    };
                    let mut buf = pool.get(size);
                    buf.resize(size.min(8192), id as u8);
                    held.push(buf.freeze());
                    if held.len() > 32 {
                        // Drop a batch, sometimes on another thread.
                        let batch: Vec<_> = held.drain(..16).collect();
                        if state % 4 == 0 {
                            droppers.push(std::thread::spawn(move || drop(batch)));
                        }
                    }
                }
                for dropper in droppers {
                    dropper.join().expect("dropper panicked");
                }
            })
        })
        .collect();

    for second in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        println!("--- after {second} s\n{}\n", pool.stats());
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker panicked");
    }
    pool.trim();
    let stats = pool.stats();
    println!("--- after the workers stopped and trim()\n{stats}\n");
    assert_eq!(stats.in_use_bytes(), 0, "every buffer came back");
    println!("what the tier advisor makes of the sizes seen:");
    println!("{}", pool.size_histogram().advise(&pool.tiers(), 3));
}
