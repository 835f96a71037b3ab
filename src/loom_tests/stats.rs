//! Counters, the outstanding report and size recording read while other
//! threads write them.

use super::*;
use crate::LeakDetection;

/// `stats` read on one thread while another thread gets, returns and exits
/// (its counters move from the live list to the retired totals): totals
/// never go backwards between successive reads, and `in_use` never exceeds
/// the gets made.
///
/// The reader first waits (yielding) until the worker's counts show, so that
/// a later read can race the worker's exit within two preemptions.
#[test]
fn stats_while_counting() {
    run_model("stats_while_counting", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let worker = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (a, stamp) = get_filled(&pool, &shadows, 1);
                stamp.check_buf(&a);
                drop(a);
                let (b, stamp) = get_filled(&pool, &shadows, 2);
                stamp.check_buf(&b);
            })
        };
        let check = |stats: &PoolStats| {
            let t = &stats.tiers[0];
            assert!(t.hits + t.misses <= 2, "more gets than made: {t:?}");
            // The worker never holds more than one buffer at a time.
            assert!(t.in_use <= 1, "more in use than ever held: {t:?}");
        };
        let mut last = loop {
            let stats = pool.stats();
            check(&stats);
            if stats.tiers[0].returns > 0 {
                break stats;
            }
            thread::yield_now();
        };
        for _ in 0..2 {
            thread::yield_now();
            let stats = pool.stats();
            check(&stats);
            assert_monotonic(&last, &stats);
            last = stats;
        }
        worker.join().unwrap();
        let_exited_threads_finish();
        let stats = pool.stats();
        assert_monotonic(&last, &stats);
        assert_settled(&pool, &shadows, 2);
    });
}

/// With `track_outstanding` and no thread caches, a buffer is returned on
/// one thread while the main thread gets one: the returned block goes
/// straight to the depot, where the getter may take it at once, so the
/// report's remove (keyed by block address) races the next holder's insert
/// for the same key. The report must list exactly the buffers out: one,
/// then at least the getter's own, then only that one, then none.
#[test]
fn outstanding_report_races_return() {
    run_model("outstanding_report_races_return", || {
        let pool = tiny_builder(0, 2)
            .leak_detection(LeakDetection::Full { backtraces: false })
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        assert_eq!(pool.outstanding().len(), 1);
        let returner = thread::spawn(move || {
            stamp_a.check_buf(&a);
            drop(a);
        });
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let during = pool.outstanding().len();
        assert!(
            (1..=2).contains(&during),
            "the report misses the buffer just got: {during} entries"
        );
        returner.join().unwrap();
        let_exited_threads_finish();
        let report = pool.outstanding();
        assert_eq!(report.len(), 1, "one buffer out: {report:?}");
        assert_eq!((report[0].capacity, report[0].tier), (TIER, Some(TIER)));
        stamp_b.check_buf(&b);
        drop(b);
        let report = pool.outstanding();
        assert!(report.is_empty(), "nothing out: {report:?}");
        assert_settled(&pool, &shadows, 2);
    });
}

/// With `record_sizes`, a worker requests two sizes and exits (its
/// histogram folds into the pool's retired totals) while the main thread
/// reads `size_histogram`: the totals never go backwards and never exceed
/// what was requested, and once the worker is gone they are exact.
///
/// As in [`stats_while_counting`], the reader first waits (yielding) until
/// the worker's requests show, so that a later read can race its exit.
/// Each read loads two counters per histogram bucket from every thread
/// (some thousand loom operations), hence the larger branch limit: room
/// for a few dozen reads, where a spinning bug still fails.
#[test]
fn size_recording_while_reading() {
    const SIZES: [usize; 3] = [10, 40, 64];
    let per_read = 2 * 2 * crate::stats::histogram::BUCKETS + 16;
    let branches = Some(40 * per_read);
    run_model_with_branches("size_recording_while_reading", branches, || {
        let pool = tiny_builder(2, 2)
            .record_sizes(true)
            .build()
            .expect("a valid configuration");
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || {
                drop(pool.get(SIZES[0]));
                drop(pool.get(SIZES[1]));
            })
        };
        let totals = || {
            let histogram = pool.size_histogram();
            let totals = (histogram.requests(), histogram.requested_bytes());
            assert!(totals.0 <= 2, "more requests than made: {totals:?}");
            assert!(
                totals.1 <= (SIZES[0] + SIZES[1]) as u128,
                "more bytes than requested: {totals:?}"
            );
            totals
        };
        let mut last = loop {
            let seen = totals();
            if seen.0 == 2 {
                break seen;
            }
            thread::yield_now();
        };
        for _ in 0..2 {
            thread::yield_now();
            let seen = totals();
            assert!(
                seen.0 >= last.0 && seen.1 >= last.1,
                "size totals went backwards: {last:?} then {seen:?}"
            );
            last = seen;
        }
        worker.join().unwrap();
        let_exited_threads_finish();
        drop(pool.get(SIZES[2]));
        let histogram = pool.size_histogram();
        assert_eq!(
            (histogram.requests(), histogram.requested_bytes()),
            (3, SIZES.iter().sum::<usize>() as u128),
            "every request recorded once: {histogram:?}"
        );
        assert_settled(&pool, &Shadows::new(), 3);
    });
}
