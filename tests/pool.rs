//! The pool itself: tier routing, oversize requests, errors, configuration,
//! per-tier limits, statistics, trimming and the global pool.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tierpool::{ConfigError, Pool, PoolError, PoolStats, TierConfig, DEFAULT_TIERS};

mod common;
use common::{assert_all_returned, panic_message};

fn tier_counts(stats: &PoolStats) -> Vec<(u64, u64)> {
    stats.tiers.iter().map(|t| (t.hits, t.misses)).collect()
}

#[test]
fn routing_at_every_default_tier_boundary() {
    let pool = Pool::builder().build().unwrap();
    assert_eq!(pool.tiers(), DEFAULT_TIERS.to_vec());

    for (i, &size) in DEFAULT_TIERS.iter().enumerate() {
        let exact = pool.get(size);
        assert_eq!(exact.capacity(), size, "get({size})");
        assert_eq!(exact.tier(), Some(size));
        assert!(exact.is_empty());

        let below = pool.get(size - 1);
        assert_eq!(below.capacity(), size, "get({})", size - 1);

        let above = pool.get(size + 1);
        match DEFAULT_TIERS.get(i + 1) {
            Some(&next) => {
                assert_eq!(above.capacity(), next, "get({})", size + 1);
                assert_eq!(above.tier(), Some(next));
            }
            None => {
                assert_eq!(above.capacity(), size + 1, "oversize is exact");
                assert_eq!(above.tier(), None);
            }
        }
        assert!(above.is_empty());
    }
    assert_eq!(pool.get(1).capacity(), 4096);

    // Each tier was asked for twice by "exact"/"below" and once by the
    // "above" of the tier below; all held at once, so all are misses.
    let stats = pool.stats();
    // The buffers above were dropped at the end of each iteration, so later
    // gets of the same tier may be hits; only the sums are fixed.
    let handed_out: Vec<u64> = stats.tiers.iter().map(|t| t.hits + t.misses).collect();
    // tier 0: exact, below (iteration 0) + get(1) = 3
    // tier 1: above (it. 0) + exact, below (it. 1) = 3
    // tier 2: above (it. 1) + exact, below (it. 2) = 3
    assert_eq!(handed_out, vec![3, 3, 3]);
    assert_eq!(stats.oversize.allocations, 1);
    assert_all_returned(&pool);
}

#[test]
fn routing_with_custom_tiers() {
    let pool = Pool::builder()
        .tier(TierConfig::new(100))
        .tier(TierConfig::new(1000).thread_cache_buffers(3))
        .tier(TierConfig::new(10_000).depot_buffers(2))
        .build()
        .unwrap();
    assert_eq!(pool.tiers(), vec![100, 1000, 10_000]);

    let cases = [
        (0, Some(100)),
        (1, Some(100)),
        (99, Some(100)),
        (100, Some(100)),
        (101, Some(1000)),
        (999, Some(1000)),
        (1000, Some(1000)),
        (1001, Some(10_000)),
        (10_000, Some(10_000)),
        (10_001, None),
        (12_345, None),
    ];
    for (request, tier) in cases {
        let buf = pool.get(request);
        assert_eq!(buf.tier(), tier, "tier of get({request})");
        assert_eq!(
            buf.capacity(),
            tier.unwrap_or(request),
            "capacity of get({request})"
        );
        assert_eq!(buf.len(), 0);
        match pool.try_get(request) {
            Ok(b) => assert_eq!(Some(b.capacity()), tier),
            Err(err) => {
                assert!(tier.is_none());
                assert_eq!(
                    err,
                    PoolError::Oversize {
                        requested: request,
                        largest_tier: 10_000
                    }
                );
            }
        }
    }
    let stats = pool.stats();
    assert_eq!(stats.oversize.allocations, 2);
    assert_eq!(stats.tiers[0].capacity, 100);
    assert_eq!(stats.tiers[2].capacity, 10_000);
    assert_all_returned(&pool);

    // `tiers` then `tier` appends.
    let pool = Pool::builder()
        .tiers([64, 128])
        .tier(TierConfig::new(256))
        .build()
        .unwrap();
    assert_eq!(pool.tiers(), vec![64, 128, 256]);
    assert_eq!(pool.get(129).capacity(), 256);
    assert_all_returned(&pool);
}

#[test]
fn get_zero_is_an_empty_buffer_of_the_smallest_tier() {
    let pool = Pool::builder().tiers([512, 4096]).build().unwrap();
    let mut buf = pool.get(0);
    assert!(buf.is_empty());
    assert_eq!(buf.capacity(), 512);
    assert_eq!(buf.tier(), Some(512));
    assert_eq!(&buf[..], b"");
    buf.extend_from_slice(b"x");
    assert_eq!(&buf[..], b"x");
    let again = pool.try_get(0).unwrap();
    assert_eq!(again.capacity(), 512);
    drop((buf, again));
    assert_eq!(pool.stats().tiers[0].misses, 2);
    assert_all_returned(&pool);
}

#[test]
fn oversize_buffers_are_counted_freed_and_never_retained() {
    let pool = Pool::builder().build().unwrap();
    let n = (1 << 20) + 1;
    let mut big = pool.get(n);
    assert_eq!(big.tier(), None);
    assert_eq!(big.capacity(), n);
    assert!(big.is_empty());
    big.extend_from_slice(b"oversize");
    let stats = pool.stats();
    assert_eq!(stats.oversize.allocations, 1);
    assert_eq!(stats.oversize.in_use, 1);
    assert_eq!(stats.oversize.in_use_bytes, n as u64);
    // Oversize requests do not count as tier traffic.
    assert_eq!(tier_counts(&stats), vec![(0, 0); 3]);

    let other = pool.get(3 << 20);
    assert_eq!(other.capacity(), 3 << 20);
    assert_eq!(pool.stats().oversize.in_use, 2);
    assert_eq!(pool.stats().oversize.in_use_bytes, (n + (3 << 20)) as u64);
    drop(other);
    drop(big);

    let stats = pool.stats();
    assert_eq!(stats.oversize.in_use, 0);
    assert_eq!(stats.oversize.in_use_bytes, 0);
    for tier in &stats.tiers {
        assert_eq!(
            (tier.returns, tier.cached),
            (0, 0),
            "oversize went into a tier"
        );
    }

    // Never retained: the next oversize request allocates again.
    let again = pool.get(n);
    assert!(again.is_empty());
    assert_eq!(pool.stats().oversize.allocations, 3);
    drop(again);
    // Oversize allocations are misses for the hit rate.
    assert_eq!(pool.stats().hit_rate(), 0.0);
    assert_all_returned(&pool);
}

#[test]
fn try_get_reports_oversize_requests() {
    let pool = Pool::builder().build().unwrap();
    let largest = 1 << 20;
    for requested in [
        largest + 1,
        10 << 20,
        isize::MAX as usize,
        usize::MAX - 1,
        usize::MAX,
    ] {
        let err = pool.try_get(requested).unwrap_err();
        assert_eq!(
            err,
            PoolError::Oversize {
                requested,
                largest_tier: largest
            }
        );
        assert_eq!(
            err.to_string(),
            format!("requested capacity {requested} exceeds the largest tier ({largest} bytes)")
        );
    }
    // Exactly the largest tier is fine.
    assert_eq!(pool.try_get(largest).unwrap().capacity(), largest);
    let stats = pool.stats();
    assert_eq!(
        stats.oversize.allocations, 0,
        "try_get never allocates oversize"
    );
    assert_all_returned(&pool);
    let _: &dyn std::error::Error = &PoolError::OutOfMemory { capacity: 1 };
}

#[test]
#[cfg_attr(miri, ignore)] // Miri aborts on an isize::MAX allocation instead of failing it.
fn try_get_reports_allocation_failure() {
    // A tier this large passes validation (the layout is valid) but no
    // allocator can provide it.
    // (Alignment 1: at the default 64 this size is not a valid layout.)
    let huge = isize::MAX as usize;
    let pool = Pool::builder()
        .alignment(1)
        .tiers([64, huge])
        .build()
        .unwrap();
    let err = pool.try_get(65).unwrap_err();
    assert_eq!(err, PoolError::OutOfMemory { capacity: huge });
    assert_eq!(
        err.to_string(),
        format!("the allocator failed to provide {huge} bytes")
    );
    // The failed get is not counted as a handed-out buffer.
    assert_eq!(pool.stats().tiers[1].misses, 0);
    assert_eq!(pool.try_get(64).unwrap().capacity(), 64);

    let caught = catch_unwind(AssertUnwindSafe(|| pool.get(65))).unwrap_err();
    assert_eq!(
        panic_message(&*caught),
        format!("tierpool: cannot allocate a buffer: the allocator failed to provide {huge} bytes")
    );
    assert_all_returned(&pool);
}

#[test]
#[should_panic(
    expected = "tierpool: cannot allocate a buffer: capacity 18446744073709551615 \
                           exceeds what can be allocated (isize::MAX bytes)"
)]
#[cfg(target_pointer_width = "64")]
fn get_panics_with_a_clear_message_at_usize_max() {
    let pool = Pool::builder().build().unwrap();
    let _buf = pool.get(usize::MAX);
}

#[test]
fn get_panics_near_usize_max_and_the_pool_stays_usable() {
    let pool = Pool::builder().build().unwrap();
    for requested in [usize::MAX, usize::MAX - 1, isize::MAX as usize + 1] {
        let caught = catch_unwind(AssertUnwindSafe(|| pool.get(requested))).unwrap_err();
        assert_eq!(
            panic_message(&*caught),
            format!(
                "tierpool: cannot allocate a buffer: capacity {requested} exceeds what can be \
                 allocated (isize::MAX bytes)"
            )
        );
    }
    let stats = pool.stats();
    assert_eq!(
        stats.oversize.allocations, 0,
        "failed requests are not counted"
    );
    let buf = pool.get(10);
    assert_eq!(buf.capacity(), 4096);
    drop(buf);
    assert_all_returned(&pool);
}

#[test]
fn every_config_error_and_its_message() {
    let cases: Vec<(Result<Pool, ConfigError>, ConfigError, String)> =
        vec![
        (
            Pool::builder().tiers([]).build(),
            ConfigError::NoTiers,
            "a pool needs at least one tier".into(),
        ),
        (
            Pool::builder().tiers([0]).build(),
            ConfigError::ZeroCapacity { index: 0 },
            "tier 0 has capacity 0; every tier must hold at least one byte".into(),
        ),
        (
            Pool::builder().tiers([8, 16, 0]).build(),
            ConfigError::ZeroCapacity { index: 2 },
            "tier 2 has capacity 0; every tier must hold at least one byte".into(),
        ),
        (
            Pool::builder().tiers([512, 512]).build(),
            ConfigError::DuplicateTier { capacity: 512 },
            "tier capacity 512 appears more than once".into(),
        ),
        (
            Pool::builder().tiers([64, 4096, 1024]).build(),
            ConfigError::UnsortedTiers {
                index: 2,
                previous: 4096,
                capacity: 1024,
            },
            "tier 2 has capacity 1024, below the previous tier's 4096; tiers must be listed in \
             ascending order"
                .into(),
        ),
        (
            Pool::builder()
                .tiers([100])
                .tier(TierConfig::new(50))
                .build(),
            ConfigError::UnsortedTiers {
                index: 1,
                previous: 100,
                capacity: 50,
            },
            "tier 1 has capacity 50, below the previous tier's 100; tiers must be listed in \
             ascending order"
                .into(),
        ),
        (
            Pool::builder().tiers([usize::MAX]).build(),
            ConfigError::TierTooLarge { capacity: usize::MAX },
            format!(
                "tier capacity {} is too large to allocate (the limit is isize::MAX bytes, \
                 alignment included)",
                usize::MAX
            ),
        ),
        (
            Pool::builder()
                .tiers([isize::MAX as usize])
                .alignment(4096)
                .build(),
            ConfigError::TierTooLarge {
                capacity: isize::MAX as usize,
            },
            format!(
                "tier capacity {} is too large to allocate (the limit is isize::MAX bytes, \
                 alignment included)",
                isize::MAX
            ),
        ),
        (
            Pool::builder().alignment(0).build(),
            ConfigError::BadAlignment { alignment: 0 },
            "alignment 0 is not a power of two".into(),
        ),
        (
            Pool::builder().alignment(3).build(),
            ConfigError::BadAlignment { alignment: 3 },
            "alignment 3 is not a power of two".into(),
        ),
        (
            Pool::builder().alignment(4096 + 1).build(),
            ConfigError::BadAlignment { alignment: 4097 },
            "alignment 4097 is not a power of two".into(),
        ),
    ];
    for (result, expected, message) in cases {
        let err = result.unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.to_string(), message);
        let as_error: &dyn std::error::Error = &err;
        assert!(as_error.source().is_none());
    }
    // The first problem wins: the alignment is checked before the tiers.
    assert_eq!(
        Pool::builder().tiers([]).alignment(6).build().unwrap_err(),
        ConfigError::BadAlignment { alignment: 6 }
    );
    // Valid edge cases build.
    let pool = Pool::builder().tiers([1]).alignment(1).build().unwrap();
    assert_eq!(pool.get(1).capacity(), 1);
    assert_all_returned(&pool);
}

#[test]
fn alignment_applies_to_pooled_and_oversize_buffers() {
    let pool = Pool::builder()
        .tiers([100, 5000])
        .alignment(4096)
        .build()
        .unwrap();
    for request in [0, 50, 100, 101, 5000, 5001, 20_000] {
        let mut buf = pool.get(request);
        let addr = buf.spare_capacity_mut().as_ptr() as usize;
        assert_eq!(addr % 4096, 0, "get({request}) is not aligned");
    }
    assert_all_returned(&pool);
}

#[test]
fn thread_cache_zero_sends_every_return_to_the_depot() {
    let pool = Pool::builder()
        .tier(TierConfig::new(256).thread_cache_buffers(0))
        .build()
        .unwrap();
    drop(pool.get(10));
    let stats = pool.stats();
    assert_eq!((stats.tiers[0].misses, stats.tiers[0].returns), (1, 1));
    assert_eq!(stats.tiers[0].cached, 1);

    // With no thread cache the block is in the shared depot, so another
    // thread gets it without allocating.
    let remote = pool.clone();
    std::thread::spawn(move || drop(remote.get(10)))
        .join()
        .unwrap();
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].hits, 1);
    assert_eq!(stats.tiers[0].misses, 1);
    assert_eq!(stats.tiers[0].cached, 1);

    // Several buffers out at once: all go to the depot and come back.
    let bufs: Vec<_> = (0..5).map(|_| pool.get(1)).collect();
    drop(bufs);
    let bufs: Vec<_> = (0..5).map(|_| pool.get(1)).collect();
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].misses, 5, "{stats:?}");
    assert_eq!(stats.tiers[0].hits, 1 + 1 + 5, "{stats:?}");
    drop(bufs);
    assert_eq!(pool.stats().tiers[0].dropped, 0);
    assert_all_returned(&pool);
}

#[test]
fn depot_zero_keeps_only_the_thread_cache() {
    let pool = Pool::builder()
        .tier(
            TierConfig::new(256)
                .thread_cache_buffers(2)
                .depot_buffers(0),
        )
        .build()
        .unwrap();
    let bufs: Vec<_> = (0..5).map(|_| pool.get(1)).collect();
    drop(bufs);
    let stats = pool.stats().tiers[0];
    assert_eq!(stats.misses, 5);
    assert_eq!(stats.returns, 5);
    assert_eq!(stats.cached, 2, "{stats:?}");
    assert_eq!(stats.dropped, 3, "{stats:?}");

    // Another thread finds nothing shared.
    let remote = pool.clone();
    std::thread::spawn(move || drop(remote.get(1)))
        .join()
        .unwrap();
    let stats = pool.stats().tiers[0];
    assert_eq!(stats.misses, 6);
    // That thread's cached block could not go to the depot when it exited.
    assert_eq!(stats.dropped, 4, "{stats:?}");
    assert_eq!(stats.cached, 2, "{stats:?}");

    // This thread still has its two.
    let a = pool.get(1);
    let b = pool.get(1);
    assert_eq!(pool.stats().tiers[0].hits, 2);
    drop((a, b));
    assert_all_returned(&pool);
}

#[test]
fn no_thread_cache_and_no_depot_frees_every_return() {
    let pool = Pool::builder()
        .tier(
            TierConfig::new(128)
                .thread_cache_buffers(0)
                .depot_buffers(0),
        )
        .build()
        .unwrap();
    let rounds = if cfg!(miri) { 5 } else { 50 };
    for _ in 0..rounds {
        let mut buf = pool.get(100);
        buf.extend_from_slice(&[1; 100]);
    }
    let stats = pool.stats().tiers[0];
    assert_eq!(stats.hits, 0);
    assert_eq!(stats.misses, rounds);
    assert_eq!(stats.returns, rounds);
    assert_eq!(stats.dropped, rounds);
    assert_eq!(stats.cached, 0);
    assert_eq!(pool.stats().hit_rate(), 0.0);
    assert_all_returned(&pool);
}

#[test]
fn depot_bound_counts_dropped_buffers() {
    let pool = Pool::builder()
        .tier(TierConfig::new(64).thread_cache_buffers(0).depot_buffers(3))
        .build()
        .unwrap();
    let bufs: Vec<_> = (0..5).map(|_| pool.get(1)).collect();
    drop(bufs);
    let stats = pool.stats().tiers[0];
    assert_eq!((stats.returns, stats.dropped, stats.cached), (5, 2, 3));
    let bufs: Vec<_> = (0..5).map(|_| pool.get(1)).collect();
    let stats = pool.stats().tiers[0];
    assert_eq!((stats.hits, stats.misses), (3, 7));
    assert_eq!(stats.in_use, 5);
    assert_eq!(stats.cached, 0);
    drop(bufs);
    assert_all_returned(&pool);
}

#[test]
fn default_limits_of_the_largest_tier() {
    // Default: 1 MiB tier keeps 1 per thread and 8 in the depot.
    let pool = Pool::builder().build().unwrap();
    let bufs: Vec<_> = (0..12).map(|_| pool.get(1 << 20)).collect();
    assert_eq!(pool.stats().tiers[2].in_use, 12);
    assert_eq!(pool.stats().tiers[2].in_use_bytes(), 12 << 20);
    drop(bufs);
    let stats = pool.stats().tiers[2];
    assert_eq!(stats.returns, 12);
    assert_eq!(stats.cached, 9, "{stats:?}");
    assert_eq!(stats.dropped, 3, "{stats:?}");
    assert_eq!(stats.cached_bytes(), 9 << 20);
    assert_all_returned(&pool);
}

#[test]
fn pool_wide_limits_and_per_tier_overrides() {
    let pool = Pool::builder()
        .thread_cache_buffers(1)
        .depot_buffers(1)
        .tier(TierConfig::new(32))
        .tier(TierConfig::new(64).depot_buffers(4))
        .build()
        .unwrap();
    let small: Vec<_> = (0..4).map(|_| pool.get(32)).collect();
    let large: Vec<_> = (0..6).map(|_| pool.get(64)).collect();
    drop(small);
    drop(large);
    let stats = pool.stats();
    // tier 0: 1 cached in the thread, 1 in the depot, 2 dropped.
    assert_eq!((stats.tiers[0].cached, stats.tiers[0].dropped), (2, 2));
    // tier 1: 1 in the thread, 4 in the depot, 1 dropped.
    assert_eq!((stats.tiers[1].cached, stats.tiers[1].dropped), (5, 1));
    assert_all_returned(&pool);
}

#[test]
fn stats_count_every_event() {
    let pool = Pool::builder()
        .tier(
            TierConfig::new(1024)
                .thread_cache_buffers(4)
                .depot_buffers(2),
        )
        .tier(TierConfig::new(8192))
        .build()
        .unwrap();
    let fresh = pool.stats();
    assert_eq!(fresh.hit_rate(), 0.0);
    assert_eq!(fresh.tiers.len(), 2);
    for t in &fresh.tiers {
        assert_eq!(
            (t.hits, t.misses, t.returns, t.dropped, t.trimmed),
            (0, 0, 0, 0, 0)
        );
        assert_eq!((t.in_use, t.cached), (0, 0));
    }
    assert_eq!(fresh.oversize.allocations, 0);

    // 8 out at once: 8 misses.
    let bufs: Vec<_> = (0..8).map(|_| pool.get(1000)).collect();
    let s = pool.stats().tiers[0];
    assert_eq!((s.hits, s.misses, s.in_use, s.cached), (0, 8, 8, 0));
    assert_eq!(s.in_use_bytes(), 8 * 1024);
    drop(bufs);
    // 4 stay in the thread cache, batches of 2 go to the depot (room for
    // 2), the rest is freed.
    let s = pool.stats().tiers[0];
    assert_eq!(s.returns, 8);
    assert_eq!(s.in_use, 0);
    assert_eq!(s.cached + s.dropped, 8);
    assert_eq!(s.cached, 6, "{s:?}");
    assert_eq!(s.dropped, 2, "{s:?}");

    // 6 gets: all hits (4 local, 2 from the depot).
    let bufs: Vec<_> = (0..6).map(|_| pool.get(1)).collect();
    let s = pool.stats().tiers[0];
    assert_eq!((s.hits, s.misses, s.cached, s.in_use), (6, 8, 0, 6));
    drop(bufs);

    let big = pool.get(8192);
    let over = pool.get(8193);
    drop((big, over));
    let stats = pool.stats();
    assert_eq!(stats.tiers[1].misses, 1);
    assert_eq!(stats.oversize.allocations, 1);
    // hits / (hits + misses + oversize) = 6 / (6 + 9 + 1)
    assert_eq!(stats.hit_rate(), 6.0 / 16.0);

    pool.trim();
    let s = pool.stats();
    assert_eq!(s.tiers[0].trimmed, 6);
    assert_eq!(s.tiers[1].trimmed, 1);
    assert_eq!(s.tiers[0].cached, 0);
    assert_eq!(s.tiers[1].cached, 0);
    assert_eq!(s.tiers[0].cached_bytes(), 0);

    // Snapshots are plain values.
    let copy = s.clone();
    assert_eq!(copy, s);
    assert_all_returned(&pool);
}

#[test]
fn stats_display_is_a_table_naming_the_tiers() {
    let pool = Pool::builder().build().unwrap();
    drop(pool.get(1));
    drop(pool.get(1));
    let text = pool.stats().to_string();
    for needle in [
        "tier",
        "hits",
        "misses",
        "returns",
        "dropped",
        "trimmed",
        "in_use",
        "cached",
        "4 KiB",
        "64 KiB",
        "1 MiB",
        "oversize:",
        "hit rate: 50.00%",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from\n{text}");
    }
    // One header, three tiers, oversize, hit rate.
    // One row per tier, led by its capacity.
    for label in ["4 KiB", "64 KiB", "1 MiB"] {
        let rows = text.lines().filter(|l| l.trim_start().starts_with(label));
        assert_eq!(rows.count(), 1, "{label} row in\n{text}");
    }

    let pool = Pool::builder().tiers([1536, 3 << 20]).build().unwrap();
    let held = pool.get(1);
    let text = pool.stats().to_string();
    assert!(text.contains("1.5 KiB"), "{text}");
    assert!(text.contains("3 MiB"), "{text}");
    assert!(!text.contains("4 KiB"), "{text}");
    drop(held);
    assert_all_returned(&pool);
}

#[test]
fn trim_frees_the_depot_and_every_threads_cache() {
    let pool = Pool::builder()
        .tier(
            TierConfig::new(256)
                .thread_cache_buffers(4)
                .depot_buffers(16),
        )
        .build()
        .unwrap();
    // Another thread caches 2 buffers and stays alive while we trim.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let remote = pool.clone();
    let worker = std::thread::spawn(move || {
        let a = remote.get(1);
        let b = remote.get(1);
        drop((a, b));
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        // Trimmed from here while this thread waited: misses again.
        let a = remote.get(1);
        let b = remote.get(1);
        drop((a, b));
    });
    ready_rx.recv().unwrap();

    // This thread: 6 buffers, 4 stay local, 2 spill to the depot.
    let bufs: Vec<_> = (0..6).map(|_| pool.get(1)).collect();
    drop(bufs);
    assert_eq!(pool.stats().tiers[0].cached, 8);
    pool.trim();
    let s = pool.stats().tiers[0];
    if tierpool::Pool::trims_reach_parked_threads() {
        assert_eq!(s.trimmed, 8, "{s:?}");
        assert_eq!(
            s.cached, 0,
            "the other thread's cache is trimmed too: {s:?}"
        );
    }

    go_tx.send(()).unwrap();
    worker.join().unwrap();
    let s = pool.stats().tiers[0];
    assert_eq!(s.trimmed, 8, "{s:?}");
    assert_eq!((s.hits, s.misses), (0, 10), "{s:?}");
    // The worker's cache went to the depot when it exited.
    assert_eq!(s.cached, 2);
    pool.trim();
    pool.trim(); // idempotent
    let s = pool.stats().tiers[0];
    assert_eq!(s.cached, 0);
    assert_eq!(s.trimmed, 10);
    assert_all_returned(&pool);
}

#[test]
fn two_pools_on_one_thread_keep_separate_caches() {
    let a = Pool::builder().build().unwrap();
    let b = Pool::builder().build().unwrap();
    assert!(!a.same_pool(&b));
    let rounds = if cfg!(miri) { 20 } else { 1000 };
    for i in 0..rounds {
        let mut x = a.get(100);
        x.extend_from_slice(b"a");
        drop(x);
        let mut y = b.get(100);
        y.extend_from_slice(b"b");
        drop(y);
        if i % 7 == 0 {
            drop(b.get(70_000));
            drop(a.get(70_000));
        }
    }
    for pool in [&a, &b] {
        let stats = pool.stats();
        assert_eq!(stats.tiers[0].misses, 1, "{stats:?}");
        assert_eq!(stats.tiers[0].hits, rounds - 1);
        assert_eq!(stats.tiers[2].misses, 1, "{stats:?}");
        assert_eq!(stats.tiers[0].returns, rounds);
    }

    // A buffer of `a` goes home to `a`, even if dropped while `b` is busy.
    let from_a = a.get(10);
    let from_b = b.get(10);
    drop(from_a);
    assert_eq!(a.stats().tiers[0].returns, rounds + 1);
    assert_eq!(b.stats().tiers[0].returns, rounds);
    drop(from_b);

    // Many pools at once, interleaved.
    let pools: Vec<Pool> = (0..5).map(|_| Pool::builder().build().unwrap()).collect();
    for _ in 0..10 {
        for p in &pools {
            drop(p.get(1));
        }
    }
    for p in &pools {
        let s = p.stats().tiers[0];
        assert_eq!((s.hits, s.misses), (9, 1));
        assert_all_returned(p);
    }
    assert_all_returned(&a);
    assert_all_returned(&b);
}

#[test]
fn a_new_pool_in_a_reused_slot_starts_fresh() {
    let rounds = if cfg!(miri) { 3 } else { 20 };
    for _ in 0..rounds {
        let pool = Pool::builder().tiers([64]).build().unwrap();
        let held = pool.get(1);
        drop(pool.get(1));
        drop(pool.get(1));
        let s = pool.stats().tiers[0];
        assert_eq!((s.hits, s.misses), (1, 2));
        drop(pool);
        // The buffer outlives its pool; the next pool may take the slot.
        drop(held);
    }
}

#[test]
fn global_pool_and_get_shorthand() {
    // The only test in this binary that uses the global pool.
    let global = tierpool::global();
    assert!(global.same_pool(tierpool::global()));
    assert_eq!(global.tiers(), DEFAULT_TIERS.to_vec());
    let mut buf = tierpool::get(10);
    assert_eq!(buf.capacity(), 4096);
    assert!(buf.is_empty());
    buf.extend_from_slice(b"global");
    assert_eq!(&buf[..], b"global");
    let big = tierpool::get(70_000);
    assert_eq!(big.tier(), Some(1 << 20));
    assert!(global.stats().tiers[0].in_use >= 1);
    assert!(global.stats().tiers[2].in_use >= 1);
    drop((buf, big));
    assert_all_returned(global);
    let handle = global.clone();
    assert!(handle.same_pool(global));
    drop(handle);
    // Still usable after a clone of the global handle is dropped.
    assert_eq!(tierpool::get(1).capacity(), 4096);
    assert_all_returned(global);
}

#[test]
fn steady_get_drop_loop_hits_at_least_99_percent() {
    let pool = Pool::builder().build().unwrap();
    let rounds: u64 = if cfg!(miri) { 1000 } else { 100_000 };
    let sizes = [1, 100, 4096, 4097, 30_000, 65_536, 70_000, 1 << 20];
    let mut held = Vec::new();
    for i in 0..rounds {
        let mut buf = pool.get(sizes[(i % sizes.len() as u64) as usize]);
        buf.extend_from_slice(&i.to_le_bytes());
        held.push(buf);
        if held.len() > 1 {
            drop(held.remove(0));
        }
    }
    drop(held);
    let stats = pool.stats();
    let hit_rate = stats.hit_rate();
    assert!(hit_rate >= 0.99, "hit rate {hit_rate}:\n{stats}");
    let requests: u64 = stats.tiers.iter().map(|t| t.hits + t.misses).sum();
    assert_eq!(requests, rounds);
    assert_eq!(stats.oversize.allocations, 0);
    assert_all_returned(&pool);
}

#[test]
fn handles_are_cheap_clones_of_one_pool() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Pool>();
    assert_send_sync::<tierpool::PooledBuf>();
    assert_send_sync::<tierpool::SharedBuf>();
    assert_send_sync::<PoolStats>();

    let pool = Pool::default();
    assert_eq!(pool.tiers(), DEFAULT_TIERS.to_vec());
    let other = pool.clone();
    assert!(pool.same_pool(&other));
    let buf = other.get(1);
    drop(other);
    assert_eq!(pool.stats().tiers[0].in_use, 1);
    drop(buf);
    let debug = format!("{pool:?}");
    assert!(debug.contains("Pool"), "{debug}");
    assert!(debug.contains("4096"), "{debug}");
    assert_all_returned(&pool);
    assert_all_returned(&Pool::new());
}

#[test]
fn pools_are_named_by_the_builder_or_numbered() {
    let named = Pool::builder().name("ingest").build().unwrap();
    assert_eq!(named.name(), "ingest");
    assert_eq!(
        named.clone().name(),
        "ingest",
        "every handle shares the name"
    );
    let owned = Pool::builder().name(format!("rpc-{}", 2)).build().unwrap();
    assert_eq!(owned.name(), "rpc-2");

    // Unnamed pools are numbered in the order they are built.
    let number = |pool: &Pool| -> u64 {
        let name = pool.name();
        let n = name.strip_prefix("pool-").and_then(|n| n.parse().ok());
        n.unwrap_or_else(|| panic!("unexpected default name {name:?}"))
    };
    let (first, second) = (Pool::new(), Pool::builder().build().unwrap());
    assert!(number(&second) > number(&first));
    assert!(number(&Pool::default()) > number(&second));
    assert_eq!(tierpool::global().name(), "global");
    // A builder used twice gives its name to both pools.
    let builder = Pool::builder().name("twice");
    assert_eq!(builder.build().unwrap().name(), "twice");
    assert_eq!(builder.build().unwrap().name(), "twice");

    // The name shows in `Debug`, in the stats and in their table.
    let debug = format!("{named:?}");
    assert!(debug.contains(r#"name: "ingest""#), "{debug}");
    let stats = named.stats();
    assert_eq!(stats.name, "ingest");
    let text = stats.to_string();
    assert!(text.starts_with("pool: ingest\n"), "{text}");
}

/// Requested sizes come from peers; recording them must not wrap. Two
/// refused `try_get(usize::MAX)` calls are 2^65 − 2 bytes, exactly, on the
/// recording thread and after it has exited.
#[test]
fn recorded_sizes_keep_exact_totals_for_huge_requests() {
    let pool = Pool::builder().record_sizes(true).build().unwrap();
    assert!(pool.try_get(usize::MAX).is_err());
    assert!(pool.try_get(usize::MAX).is_err());
    let expected = 2 * usize::MAX as u128;
    let histogram = pool.size_histogram();
    assert_eq!(histogram.requests(), 2);
    assert_eq!(histogram.requested_bytes(), expected);

    let worker = pool.clone();
    std::thread::spawn(move || {
        for _ in 0..3 {
            assert!(worker.try_get(usize::MAX).is_err());
        }
    })
    .join()
    .unwrap();
    let histogram = pool.size_histogram();
    assert_eq!(histogram.requests(), 5);
    assert_eq!(histogram.requested_bytes(), 5 * usize::MAX as u128);
}

/// The largest accepted alignment works end to end: blocks land on it.
#[test]
#[cfg_attr(miri, ignore = "reserves a gigabyte of address space")]
fn the_largest_alignment_is_satisfied() {
    let pool = Pool::builder()
        .tiers([4096])
        .alignment(tierpool::MAX_ALIGNMENT)
        .build()
        .unwrap();
    let mut buf = pool.get(100);
    buf.extend_from_slice(b"aligned");
    assert_eq!(buf.as_ptr() as usize % tierpool::MAX_ALIGNMENT, 0);
}

/// A tier the machine cannot provide builds (no block is allocated up
/// front); `try_get` then reports the allocator's refusal and `get` panics
/// with it, as documented.
#[test]
#[cfg_attr(miri, ignore = "Miri reports huge allocations as resource exhaustion")]
fn an_unallocatable_tier_fails_at_get_with_a_clear_error() {
    let huge = 1usize << 60;
    let pool = Pool::builder().tiers([4096, huge]).build().unwrap();
    assert_eq!(pool.get(100).capacity(), 4096);
    let err = pool.try_get(huge).unwrap_err();
    assert_eq!(err, tierpool::PoolError::OutOfMemory { capacity: huge });
    let panic = std::panic::catch_unwind(|| pool.get(huge)).unwrap_err();
    let message = panic_message(&*panic);
    assert!(
        message.contains(&format!("failed to provide {huge} bytes")),
        "{message}"
    );
    assert_eq!(pool.stats().tiers[1].in_use, 0);
}

/// With the `serde` feature a snapshot serialises field for field: the
/// whole JSON document is pinned, so a renamed or dropped field shows here.
#[cfg(feature = "serde")]
#[test]
fn stats_serialize_field_for_field() {
    use serde_json::json;

    let pool = Pool::builder()
        .name("json")
        .tiers([64, 1024])
        .max_cached_bytes(1 << 20)
        .max_in_use_bytes(4096)
        .build()
        .unwrap();
    let held = pool.get(10);
    drop(pool.get(10)); // a second miss, then cached
    let big = pool.get(5000); // oversize, and over the in-use budget
    let quota = pool.quota(1000);
    assert!(matches!(
        pool.try_get(100),
        Err(PoolError::Exhausted { .. })
    ));
    let tier = |capacity, misses, returns, in_use, cached| {
        json!({
            "capacity": capacity, "hits": 0, "misses": misses, "returns": returns,
            "dropped": 0, "dropped_over_limit": 0, "trimmed": 0,
            "in_use": in_use, "cached": cached,
        })
    };
    assert_eq!(
        serde_json::to_value(pool.stats()).unwrap(),
        json!({
            "name": "json",
            "tiers": [tier(64, 2, 1, 1, 1), tier(1024, 0, 0, 0, 0)],
            "oversize": { "allocations": 1, "in_use": 1, "in_use_bytes": 5000 },
            "exhausted": 1,
            "over_limit": 1,
            "cached_limit": { "limit": 1 << 20, "used": 64 },
            "in_use_limit": { "limit": 4096, "used": 64 + 5000 },
            "waiting": { "requests": 0, "bytes": 0, "oldest_wait": null },
            "quotas": {
                "live": 1,
                "used": 0,
                "largest": [{ "id": 1, "limit": 1000, "used": 0, "waiting": 0 }],
            },
        })
    );
    drop((held, big, quota));
    assert_all_returned(&pool);

    // Budgets not set serialise as null.
    let json = serde_json::to_value(Pool::new().stats()).unwrap();
    assert!(json["cached_limit"].is_null() && json["in_use_limit"].is_null());
    assert!(json["name"].as_str().unwrap().starts_with("pool-"));
}
