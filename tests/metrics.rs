//! Publishing through the `metrics` facade (feature `metrics`): names,
//! labels, kinds, units, and exact values after known sequences, read back
//! from `metrics-util`'s `DebuggingRecorder`. Each test installs its own
//! thread-local recorder, so the tests run in parallel without sharing one.
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;

use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use tierpool::{Pool, PoolError, PoolStats, TierConfig};

mod common;
use common::assert_all_returned;

/// A published value, as the tests compare it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
}
use Value::{Counter, Gauge};

/// What a recorder holds, keyed like the Prometheus text format without
/// quotes: `name{label=value,...}`, labels in the order they were given.
type Published = BTreeMap<String, Value>;

/// Reads everything published so far. (A `DebuggingRecorder` snapshot
/// resets its counters; the next publish sets them again.)
fn read(snapshotter: &Snapshotter) -> Published {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, _description, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.key().name(), labels.join(","));
            let value = match value {
                DebugValue::Counter(n) => Counter(n),
                DebugValue::Gauge(x) => Gauge(x.into_inner()),
                DebugValue::Histogram(_) => panic!("{name}: a histogram"),
            };
            (name, value)
        })
        .collect()
}

/// Publishes `pool` to a fresh recorder and reads back what it received.
fn publish(pool: &Pool) -> (PoolStats, Published) {
    let recorder = DebuggingRecorder::new();
    let stats = metrics::with_local_recorder(&recorder, || pool.publish_metrics());
    (stats, read(&recorder.snapshotter()))
}

/// The series a tier always publishes, with these values.
#[allow(clippy::too_many_arguments)]
fn tier_series(
    out: &mut Published,
    pool: &str,
    tier: usize,
    [gets, returned, misses, full, over_cached, trimmed]: [u64; 6],
    in_use_bytes: u64,
    cached_bytes: u64,
) {
    let l = format!("pool={pool},tier={tier}");
    out.insert(
        format!("tierpool_hits_total{{{l}}}"),
        Counter(gets - misses),
    );
    out.insert(format!("tierpool_returns_total{{{l}}}"), Counter(returned));
    out.insert(format!("tierpool_misses_total{{{l}}}"), Counter(misses));
    out.insert(
        format!("tierpool_dropped_total{{{l},reason=full}}"),
        Counter(full),
    );
    out.insert(
        format!("tierpool_dropped_total{{{l},reason=max_cached_bytes}}"),
        Counter(over_cached),
    );
    out.insert(format!("tierpool_trimmed_total{{{l}}}"), Counter(trimmed));
    out.insert(
        format!("tierpool_in_use_bytes{{{l}}}"),
        Gauge(in_use_bytes as f64),
    );
    out.insert(
        format!("tierpool_cached_bytes{{{l}}}"),
        Gauge(cached_bytes as f64),
    );
}

/// The oversize series and the pool-wide ones.
fn pool_series(
    out: &mut Published,
    pool: &str,
    [allocations, returned]: [u64; 2],
    in_use_bytes: u64,
    [exhausted, over_limit]: [u64; 2],
) {
    let l = format!("pool={pool},tier=oversize");
    out.insert(format!("tierpool_returns_total{{{l}}}"), Counter(returned));
    out.insert(
        format!("tierpool_misses_total{{{l}}}"),
        Counter(allocations),
    );
    out.insert(
        format!("tierpool_in_use_bytes{{{l}}}"),
        Gauge(in_use_bytes as f64),
    );
    let l = format!("pool={pool}");
    out.insert(
        format!("tierpool_exhausted_total{{{l}}}"),
        Counter(exhausted),
    );
    out.insert(
        format!("tierpool_over_limit_total{{{l}}}"),
        Counter(over_limit),
    );
    overload_series(out, pool, [0, 0], 0.0, [0, 0, 0]);
}

/// The gauges of who waits and who holds: waiting requests and bytes, the
/// oldest wait, live quotas, their bytes and the largest quota's.
fn overload_series(
    out: &mut Published,
    pool: &str,
    [requests, bytes]: [u64; 2],
    oldest_seconds: f64,
    [quotas, quota_bytes, largest]: [u64; 3],
) {
    let l = format!("pool={pool}");
    for (name, value) in [
        ("tierpool_waiting_requests", requests as f64),
        ("tierpool_waiting_bytes", bytes as f64),
        ("tierpool_oldest_wait_seconds", oldest_seconds),
        ("tierpool_quotas", quotas as f64),
        ("tierpool_quota_used_bytes", quota_bytes as f64),
        ("tierpool_largest_quota_bytes", largest as f64),
    ] {
        out.insert(format!("{name}{{{l}}}"), Gauge(value));
    }
}

/// Every counter of a known sequence, each reason for freeing a return
/// among them, published exactly, before and after a trim; the published
/// snapshot is the pool's own.
#[test]
fn a_known_sequence_publishes_exact_values() {
    let pool = Pool::builder()
        .name("seq")
        // Returns to the 64-byte tier go straight to a depot of two.
        .tier(TierConfig::new(64).thread_cache_buffers(0).depot_buffers(2))
        .tier(TierConfig::new(1024))
        .max_cached_bytes(1024)
        .max_in_use_bytes(6500)
        .build()
        .unwrap();

    // 64: four misses; two returns kept, two freed with the depot full.
    drop((0..4).map(|_| pool.get(10)).collect::<Vec<_>>());
    // 64: a hit, held while the 1024 tier works.
    let small = pool.get(10);
    // 1024: two misses; keeping either would put 64 + 1024 idle bytes
    // over `max_cached_bytes`, so both returns are freed over it.
    drop((pool.get(1000), pool.get(1000)));
    drop(small);
    // Oversize: one freed, one held (6000 of the 6500 in-use bytes).
    drop(pool.get(5000));
    let big = pool.get(6000);
    // Over the in-use budget: refused by try_get, served (a miss) by get.
    assert!(matches!(
        pool.try_get(1000),
        Err(PoolError::Exhausted { .. })
    ));
    drop(pool.get(1000));

    let (stats, published) = publish(&pool);
    assert_eq!(stats, pool.stats(), "publishing changes nothing");
    let t = &stats.tiers;
    assert_eq!((t[0].hits, t[0].misses, t[0].returns), (1, 4, 5));
    assert_eq!((t[0].dropped, t[0].cached), (2, 2));
    assert_eq!(
        (t[1].misses, t[1].returns, t[1].dropped_over_limit),
        (3, 3, 3)
    );
    let mut expected = Published::new();
    tier_series(&mut expected, "seq", 64, [5, 5, 4, 2, 0, 0], 0, 2 * 64);
    tier_series(&mut expected, "seq", 1024, [3, 3, 3, 0, 3, 0], 0, 0);
    pool_series(&mut expected, "seq", [2, 1], 6000, [1, 1]);
    expected.insert("tierpool_max_in_use_bytes{pool=seq}".into(), Gauge(6500.0));
    expected.insert("tierpool_max_cached_bytes{pool=seq}".into(), Gauge(1024.0));
    assert_eq!(published, expected);

    // A trim frees the two idle 64-byte buffers; the big one comes back.
    pool.trim();
    drop(big);
    let (_, published) = publish(&pool);
    let mut expected = Published::new();
    tier_series(&mut expected, "seq", 64, [5, 5, 4, 2, 0, 2], 0, 0);
    tier_series(&mut expected, "seq", 1024, [3, 3, 3, 0, 3, 0], 0, 0);
    pool_series(&mut expected, "seq", [2, 2], 0, [1, 1]);
    expected.insert("tierpool_max_in_use_bytes{pool=seq}".into(), Gauge(6500.0));
    expected.insert("tierpool_max_cached_bytes{pool=seq}".into(), Gauge(1024.0));
    assert_eq!(published, expected);
    assert_all_returned(&pool);
}

/// Buffers out show in the in-use gauges, per tier; idle ones in the
/// cached gauges. A pool without budgets publishes no limit gauges.
#[test]
fn gauges_follow_buffers_out_and_idle() {
    let pool = Pool::builder().name("gauges").build().unwrap();
    let held: Vec<_> = [10, 10, 5000, 2 << 20].map(|n| pool.get(n)).into();
    drop(pool.get(100_000)); // a 1 MiB buffer, now idle
    let (_, published) = publish(&pool);
    let mut expected = Published::new();
    tier_series(
        &mut expected,
        "gauges",
        4096,
        [2, 0, 2, 0, 0, 0],
        2 * 4096,
        0,
    );
    tier_series(&mut expected, "gauges", 65536, [1, 0, 1, 0, 0, 0], 65536, 0);
    tier_series(
        &mut expected,
        "gauges",
        1 << 20,
        [1, 1, 1, 0, 0, 0],
        0,
        1 << 20,
    );
    pool_series(&mut expected, "gauges", [1, 0], 2 << 20, [0, 0]);
    assert_eq!(published, expected);

    // Summed over tiers, the gauges are the snapshot's totals.
    let stats = pool.stats();
    let sum = |name: &str| -> f64 {
        let prefix = format!("{name}{{");
        published
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(_, value)| match value {
                Gauge(x) => *x,
                Counter(_) => unreachable!(),
            })
            .sum()
    };
    assert_eq!(sum("tierpool_in_use_bytes"), stats.in_use_bytes() as f64);
    assert_eq!(sum("tierpool_cached_bytes"), stats.cached_bytes() as f64);
    drop(held);
    assert_all_returned(&pool);
}

/// Under overload the pool-wide gauges say who waits and who holds: a
/// request waiting for the cap, its bytes and a positive wait; the live
/// quotas, their bytes and the largest one's. Once the holders let go,
/// every one of them is back at zero.
#[test]
fn overload_gauges_show_the_waiters_and_the_largest_quota() {
    use std::future::Future as _;
    use std::pin::pin;
    use std::task::{Context, Poll};

    let pool = Pool::builder()
        .name("overload")
        // Room for the two quotas' buffers (4 KiB + 64 KiB), not a third.
        .max_in_use_bytes(70 << 10)
        .build()
        .unwrap();
    let (light, heavy) = (pool.quota(1 << 20), pool.quota(1 << 20));
    let small = light.get(100);
    let large = heavy.get(60_000);
    let mut waiting = pin!(pool.get_async(100));
    let waker = futures::task::noop_waker();
    assert!(waiting
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    std::thread::sleep(std::time::Duration::from_millis(2));

    let (stats, published) = publish(&pool);
    let gauge = |name: &str| match published[&format!("{name}{{pool=overload}}")] {
        Gauge(x) => x,
        Counter(_) => unreachable!(),
    };
    assert_eq!(gauge("tierpool_waiting_requests"), 1.0);
    assert_eq!(gauge("tierpool_waiting_bytes"), 4096.0);
    let oldest = gauge("tierpool_oldest_wait_seconds");
    assert!(oldest >= 0.002, "{oldest}");
    assert_eq!(
        Some(oldest),
        stats.waiting.oldest_wait.map(|w| w.as_secs_f64())
    );
    assert_eq!(gauge("tierpool_quotas"), 2.0);
    assert_eq!(
        gauge("tierpool_quota_used_bytes"),
        (4096 + (64 << 10)) as f64
    );
    assert_eq!(gauge("tierpool_largest_quota_bytes"), (64 << 10) as f64);

    drop(large); // serves the waiter
    let Poll::Ready(Ok(third)) = waiting.poll(&mut Context::from_waker(&waker)) else {
        panic!("the waiter is served once the large buffer is back");
    };
    drop((small, third, light, heavy));
    let (_, published) = publish(&pool);
    let mut expected = Published::new();
    overload_series(&mut expected, "overload", [0, 0], 0.0, [0, 0, 0]);
    for (key, value) in &expected {
        assert_eq!(published.get(key), Some(value), "{key}");
    }
    assert_all_returned(&pool);
}

/// Two pools publish to one recorder side by side, told apart by `pool`;
/// unnamed pools get distinct labels too.
#[test]
fn pools_publish_separately_under_their_names() {
    let a = Pool::builder().name("a").tiers([64]).build().unwrap();
    let b = Pool::builder().name("b").tiers([64]).build().unwrap();
    for _ in 0..3 {
        drop(a.get(1));
    }
    let held = b.get(1);
    let (c, d) = (Pool::new(), Pool::new());

    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        for pool in [&a, &b, &c, &d] {
            pool.publish_metrics();
        }
    });
    let published = read(&recorder.snapshotter());
    let value = |key: &str| published[key];
    assert_eq!(value("tierpool_hits_total{pool=a,tier=64}"), Counter(2));
    assert_eq!(value("tierpool_returns_total{pool=a,tier=64}"), Counter(3));
    assert_eq!(value("tierpool_cached_bytes{pool=a,tier=64}"), Gauge(64.0));
    assert_eq!(value("tierpool_misses_total{pool=b,tier=64}"), Counter(1));
    assert_eq!(value("tierpool_returns_total{pool=b,tier=64}"), Counter(0));
    assert_eq!(value("tierpool_in_use_bytes{pool=b,tier=64}"), Gauge(64.0));
    let pools: std::collections::BTreeSet<String> = published
        .keys()
        .filter_map(|key| key.split_once("{pool=")?.1.split([',', '}']).next())
        .map(String::from)
        .collect();
    let expected = ["a", "b", c.name(), d.name()].map(String::from).into();
    assert_eq!(pools, expected);
    drop(held);
}

/// Names follow the Prometheus conventions (a `tierpool_` prefix, snake
/// case, `_total` on counters, the `_bytes` unit on gauges), and every
/// metric comes with its kind, unit and description.
#[test]
fn metrics_are_described_with_kind_and_unit() {
    let pool = Pool::builder()
        .name("described")
        .max_cached_bytes(1 << 20)
        .max_in_use_bytes(1 << 20)
        .build()
        .unwrap();
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || pool.publish_metrics());
    let mut names = BTreeMap::new();
    for (key, unit, description, _) in recorder.snapshotter().snapshot().into_vec() {
        let name = key.key().name().to_string();
        assert!(name.starts_with("tierpool_"), "{name}");
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{name}"
        );
        match key.kind() {
            MetricKind::Counter => {
                assert!(name.ends_with("_total"), "{name}");
                assert_eq!(unit, Some(Unit::Count), "{name}");
            }
            MetricKind::Gauge => {
                let expected = if name.ends_with("_bytes") {
                    Unit::Bytes
                } else if name.ends_with("_seconds") {
                    Unit::Seconds
                } else {
                    Unit::Count
                };
                assert_eq!(unit, Some(expected), "{name}");
            }
            MetricKind::Histogram => panic!("{name}: a histogram"),
        }
        let description = description.unwrap_or_else(|| panic!("{name}: no description"));
        assert!(description.len() > 20, "{name}: {description}");
        names.insert(name, key.kind());
    }
    let expected: BTreeMap<String, MetricKind> = [
        ("tierpool_hits_total", MetricKind::Counter),
        ("tierpool_returns_total", MetricKind::Counter),
        ("tierpool_misses_total", MetricKind::Counter),
        ("tierpool_dropped_total", MetricKind::Counter),
        ("tierpool_trimmed_total", MetricKind::Counter),
        ("tierpool_exhausted_total", MetricKind::Counter),
        ("tierpool_over_limit_total", MetricKind::Counter),
        ("tierpool_in_use_bytes", MetricKind::Gauge),
        ("tierpool_cached_bytes", MetricKind::Gauge),
        ("tierpool_max_in_use_bytes", MetricKind::Gauge),
        ("tierpool_max_cached_bytes", MetricKind::Gauge),
        ("tierpool_waiting_requests", MetricKind::Gauge),
        ("tierpool_waiting_bytes", MetricKind::Gauge),
        ("tierpool_oldest_wait_seconds", MetricKind::Gauge),
        ("tierpool_quotas", MetricKind::Gauge),
        ("tierpool_quota_used_bytes", MetricKind::Gauge),
        ("tierpool_largest_quota_bytes", MetricKind::Gauge),
    ]
    .map(|(name, kind)| (name.to_string(), kind))
    .into();
    assert_eq!(names, expected);
}

/// Counters come from the snapshot's totals: published again after more
/// traffic they carry the new totals, including what other threads did.
#[test]
fn counters_carry_every_threads_totals() {
    let pool = Pool::builder()
        .name("threads")
        .tiers([256])
        .build()
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let gets = |published: &Published| {
        let count = |name: &str| match published[&format!("{name}{{pool=threads,tier=256}}")] {
            Counter(n) => n,
            other => panic!("{name} is not a counter: {other:?}"),
        };
        count("tierpool_hits_total") + count("tierpool_misses_total")
    };

    drop(pool.get(1));
    metrics::with_local_recorder(&recorder, || pool.publish_metrics());
    assert_eq!(gets(&read(&snapshotter)), 1);

    let workers: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    drop(pool.get(1));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    metrics::with_local_recorder(&recorder, || pool.publish_metrics());
    assert_eq!(gets(&read(&snapshotter)), 21);
    assert_all_returned(&pool);
}
