//! What waiting for memory costs.
//!
//! * `budget_get_drop`: get a 4 KiB buffer, write 64 bytes, drop it, on one
//!   thread, under a cap that is never reached: the price of counting bytes.
//!   Arms: `tierpool` (no cap, today's hot path), `tierpool_budget` (`get`
//!   under `max_in_use_bytes`), `tierpool_try_get_budget` (`try_get`),
//!   `tierpool_get_async_budget` (`get_async`, polled once, never waits),
//!   `tierpool_quota` (`Quota::get` in an uncapped pool),
//!   `tierpool_quota_budget` (`Quota::get` in a capped pool) and
//!   `tokio_semaphore` (the uncapped pool plus a tokio `Semaphore` of
//!   bytes, acquired and released around each buffer: the glue services
//!   write today).
//! * `wake_up`: the latency of a wake-up. Under a cap that fits one 4 KiB
//!   buffer, a thread waits in `get_async` (parked in
//!   `futures::executor::block_on`) while another holds the buffer; the
//!   time from that drop until the waiter has its buffer is measured.
//!   Baseline `tokio_semaphore`: the same hand-over of a one-permit tokio
//!   `Semaphore`, on the same executor.
//!
//! Run: `cargo bench --bench backpressure`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::executor::block_on;
use tierpool::Pool;
use tokio::sync::Semaphore;

const SIZE: usize = 4 << 10;
const PAYLOAD: [u8; 64] = [0xAB; 64];

fn budget_get_drop(c: &mut Criterion) {
    let plain = Pool::new();
    let capped = Pool::builder().max_in_use_bytes(64 << 20).build().unwrap();
    let mut group = c.benchmark_group("budget_get_drop");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("tierpool", "4KiB"), |b| {
        b.iter(|| {
            let mut buf = plain.get(black_box(SIZE));
            buf.extend_from_slice(&PAYLOAD);
            black_box(&mut buf);
        })
    });
    group.bench_function(BenchmarkId::new("tierpool_budget", "4KiB"), |b| {
        b.iter(|| {
            let mut buf = capped.get(black_box(SIZE));
            buf.extend_from_slice(&PAYLOAD);
            black_box(&mut buf);
        })
    });
    group.bench_function(BenchmarkId::new("tierpool_try_get_budget", "4KiB"), |b| {
        b.iter(|| {
            let mut buf = capped.try_get(black_box(SIZE)).unwrap();
            buf.extend_from_slice(&PAYLOAD);
            black_box(&mut buf);
        })
    });
    group.bench_function(BenchmarkId::new("tierpool_get_async_budget", "4KiB"), |b| {
        b.iter(|| {
            let mut buf = block_on(capped.get_async(black_box(SIZE))).unwrap();
            buf.extend_from_slice(&PAYLOAD);
            black_box(&mut buf);
        })
    });
    let quota = plain.quota(64 << 20);
    group.bench_function(BenchmarkId::new("tierpool_quota", "4KiB"), |b| {
        b.iter(|| {
            let mut buf = quota.get(black_box(SIZE));
            buf.extend_from_slice(&PAYLOAD);
            black_box(&mut buf);
        })
    });
    let capped_quota = capped.quota(64 << 20);
    group.bench_function(BenchmarkId::new("tierpool_quota_budget", "4KiB"), |b| {
        b.iter(|| {
            let mut buf = capped_quota.get(black_box(SIZE));
            buf.extend_from_slice(&PAYLOAD);
            black_box(&mut buf);
        })
    });
    let semaphore = Semaphore::new(64 << 20);
    group.bench_function(BenchmarkId::new("tokio_semaphore", "4KiB"), |b| {
        b.iter(|| {
            let permit = semaphore.try_acquire_many(SIZE as u32).unwrap();
            let mut buf = plain.get(black_box(SIZE));
            buf.extend_from_slice(&PAYLOAD);
            black_box(&mut buf);
            drop(buf);
            drop(permit);
        })
    });
    group.finish();
}

/// Measures `iters` wake-ups: this thread holds the one turn (what `take`
/// returns); a waiter thread asks for it with `take` and parks; this
/// thread drops its turn and the time until the waiter has it is counted.
/// The waiter then gives the turn back by dropping it, and this thread
/// takes it again without waiting, outside the measured time.
fn wake_ups<T: Send + 'static>(
    iters: u64,
    take: impl Fn() -> T + Send + Sync + 'static,
) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    let take = Arc::new(take);
    let round = Arc::new(AtomicU64::new(0));
    let woken = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let done = Arc::new(AtomicU64::new(0));
    let mut held = Some(take());
    let waiter = std::thread::spawn({
        let (take, round, woken, done) = (
            Arc::clone(&take),
            Arc::clone(&round),
            Arc::clone(&woken),
            Arc::clone(&done),
        );
        move || {
            for r in 1..=iters {
                while round.load(Ordering::Acquire) < r {
                    std::hint::spin_loop();
                }
                let turn = take();
                *woken.lock().unwrap() = Some(Instant::now());
                drop(turn);
                done.store(r, Ordering::Release);
            }
        }
    });
    let mut total = Duration::ZERO;
    for r in 1..=iters {
        round.store(r, Ordering::Release);
        // Give the waiter time to queue and park.
        let park = Instant::now();
        while park.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        drop(held.take());
        while done.load(Ordering::Acquire) < r {
            std::hint::spin_loop();
        }
        total += woken.lock().unwrap().unwrap() - start;
        held = Some(take());
    }
    waiter.join().unwrap();
    total
}

fn wake_up(c: &mut Criterion) {
    let mut group = c.benchmark_group("wake_up");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("tierpool_get_async", "4KiB"), |b| {
        let pool = Pool::builder().max_in_use_bytes(SIZE).build().unwrap();
        b.iter_custom(|iters| {
            let pool = pool.clone();
            wake_ups(iters, move || block_on(pool.get_async(SIZE)).unwrap())
        })
    });
    group.bench_function(BenchmarkId::new("tokio_semaphore", "4KiB"), |b| {
        let semaphore = Arc::new(Semaphore::new(1));
        b.iter_custom(|iters| {
            let semaphore = Arc::clone(&semaphore);
            wake_ups(iters, move || {
                block_on(Arc::clone(&semaphore).acquire_owned()).unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, budget_get_drop, wake_up);
criterion_main!(benches);
