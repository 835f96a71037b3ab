//! Reclaiming idle memory across threads: a trim on one thread frees what
//! other threads cached, parked ones included, while the owners' gets and
//! returns go on. The bytes freed, measured by a counting allocator, are in
//! `tests/allocations.rs`.

use std::sync::{Arc, Barrier};

use tierpool::{Pool, TierConfig};

mod common;
use common::assert_all_returned;

const KIB: usize = 1024;

/// Spawns `threads` threads that each fill their cache for every tier of
/// `pool` and then park until the returned barrier is passed.
fn park_with_full_caches(
    pool: &Pool,
    threads: usize,
    per_tier: &[(usize, usize)],
) -> (Arc<Barrier>, Vec<std::thread::JoinHandle<()>>) {
    let filled = Arc::new(Barrier::new(threads + 1));
    let release = Arc::new(Barrier::new(threads + 1));
    let handles = (0..threads)
        .map(|_| {
            let (pool, filled, release) = (pool.clone(), filled.clone(), release.clone());
            let per_tier = per_tier.to_vec();
            std::thread::spawn(move || {
                for (capacity, count) in per_tier {
                    let held: Vec<_> = (0..count).map(|_| pool.get(capacity)).collect();
                    drop(held);
                }
                filled.wait();
                release.wait();
            })
        })
        .collect();
    filled.wait();
    (release, handles)
}

#[test]
fn one_trim_frees_what_sixteen_parked_threads_cached() {
    // The default tiers and cache depths: 16 x 64 KiB, 16 x 4 KiB and one
    // 1 MiB buffer fit in each thread's cache.
    let (threads, per_tier) = if cfg!(miri) {
        (3, vec![(4 * KIB, 2), (64 * KIB, 1)])
    } else {
        (16, vec![(4 * KIB, 16), (64 * KIB, 16), (1024 * KIB, 1)])
    };
    let pool = Pool::new();
    let (release, handles) = park_with_full_caches(&pool, threads, &per_tier);
    let before = pool.stats();
    let per_thread: usize = per_tier.iter().map(|(c, n)| c * n).sum();
    assert_eq!(before.cached_bytes(), (threads * per_thread) as u64);

    pool.trim();
    let after = pool.stats();
    if Pool::trims_reach_parked_threads() {
        assert_eq!(after.cached_bytes(), 0, "{after:?}");
        let trimmed: u64 = after.tiers.iter().map(|t| t.trimmed).sum();
        let buffers: usize = per_tier.iter().map(|(_, n)| n).sum();
        assert_eq!(trimmed, (threads * buffers) as u64, "{after:?}");
    }

    release.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    pool.trim();
    assert_eq!(pool.stats().cached_bytes(), 0);
    assert_all_returned(&pool);
}

#[test]
fn trim_idle_from_another_thread_frees_only_what_a_parked_thread_left_unused() {
    let pool = Pool::builder()
        .tier(TierConfig::new(4 * KIB).thread_cache_buffers(8))
        .build()
        .unwrap();
    let (release, handles) = park_with_full_caches(&pool, 2, &[(4 * KIB, 8)]);
    // The first call starts a period: the parked threads' blocks were used
    // during the one before it (there was none), so they stay.
    pool.trim_idle();
    assert_eq!(pool.stats().tiers[0].cached, 16);
    // Nobody used them since: the second call frees them.
    pool.trim_idle();
    if Pool::trims_reach_parked_threads() {
        assert_eq!(pool.stats().tiers[0].cached, 0);
    }
    release.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_all_returned(&pool);
}

#[test]
fn trims_racing_gets_and_returns_lose_and_duplicate_nothing() {
    let (workers, rounds) = if cfg!(miri) { (2, 40) } else { (4, 20_000) };
    let pool = Pool::builder()
        .tier(TierConfig::new(64).thread_cache_buffers(4).depot_buffers(8))
        .tier(TierConfig::new(4 * KIB).thread_cache_buffers(2))
        .build()
        .unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trimmer = {
        let (pool, done) = (pool.clone(), done.clone());
        std::thread::spawn(move || {
            let mut trims = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if trims % 2 == 0 {
                    pool.trim();
                } else {
                    pool.trim_idle();
                }
                trims += 1;
                std::thread::yield_now();
            }
            trims
        })
    };
    let handles: Vec<_> = (0..workers)
        .map(|worker| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for round in 0..rounds {
                    // Each buffer carries its owner's mark; a block handed to
                    // two holders at once would show the other's.
                    let mut buf = pool.get(if round % 3 == 0 { 3000 } else { 50 });
                    let mark = (worker * 31 + round) as u8;
                    buf.resize(buf.capacity().min(64), mark);
                    held.push((buf, mark));
                    if held.len() > 6 || round % 5 == 0 {
                        for (buf, mark) in held.drain(..) {
                            assert!(buf.iter().all(|&b| b == mark), "a buffer was shared");
                        }
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let trims = trimmer.join().unwrap();
    assert!(trims > 0);
    assert_all_returned(&pool);
    // That no block is lost or freed twice, counted in bytes by a counting
    // allocator, is `tests/allocations.rs`.
}

#[cfg(all(feature = "tokio", not(miri)))]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_idle_trimmer_frees_a_parked_threads_cache_and_ends_with_the_pool() {
    use std::time::Duration;

    let pool = Pool::new();
    let (release, handles) = park_with_full_caches(&pool, 1, &[(4 * KIB, 4)]);
    let trimmer = tokio::spawn(pool.trim_idle_every(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_secs(15)).await;
    // One call: it started a period.
    assert_eq!(pool.stats().tiers[0].cached, 4);
    tokio::time::sleep(Duration::from_secs(10)).await;
    if Pool::trims_reach_parked_threads() {
        assert_eq!(pool.stats().tiers[0].cached, 0);
    }
    release.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    drop(pool);
    tokio::time::timeout(Duration::from_secs(11), trimmer)
        .await
        .expect("the task ends once the pool is gone")
        .unwrap();
}
