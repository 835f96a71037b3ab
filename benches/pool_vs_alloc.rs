//! Hot path: get a buffer, write 64 bytes, drop it — per tier, one thread.
//!
//! Compares the pool with plain allocation (`Vec::with_capacity`,
//! `BytesMut::with_capacity`) under the system allocator, and with the
//! physical floor: a bare `thread_local!` stack of `Vec`s (pop, write, push).
//! Also prices the opt-in features on the same path: size recording
//! (`record_sizes`), zeroing on return (`zero_on_return`), leak detection
//! (sampled one hand-out in 128, and full, without backtraces), and the byte
//! budgets (`max_cached_bytes` + `max_in_use_bytes`).
//!
//! Run: `cargo bench --bench pool_vs_alloc`

use std::cell::RefCell;
use std::hint::black_box;

use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tierpool::Pool;

const PAYLOAD: [u8; 64] = [0xAB; 64];
const SIZES: [(usize, &str); 3] = [(4 << 10, "4KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

thread_local! {
    static FLOOR: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

fn floor_round_trip(size: usize) {
    FLOOR.with(|stack| {
        let mut buf = stack
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(size));
        buf.clear();
        buf.extend_from_slice(&PAYLOAD);
        black_box(&mut buf);
        stack.borrow_mut().push(buf);
    });
}

fn hot_path(c: &mut Criterion) {
    let variants = [
        ("tierpool", Pool::new()),
        (
            "tierpool_record_sizes",
            Pool::builder().record_sizes(true).build().unwrap(),
        ),
        (
            "tierpool_zero_on_return",
            Pool::builder().zero_on_return(true).build().unwrap(),
        ),
        (
            "tierpool_leak_sampled",
            Pool::builder()
                .leak_detection(tierpool::LeakDetection::Sampled { one_in: 128 })
                .build()
                .unwrap(),
        ),
        (
            "tierpool_leak_full",
            Pool::builder()
                .leak_detection(tierpool::LeakDetection::Full { backtraces: false })
                .build()
                .unwrap(),
        ),
        (
            "tierpool_budgets",
            Pool::builder()
                .max_cached_bytes(64 << 20)
                .max_in_use_bytes(64 << 20)
                .build()
                .unwrap(),
        ),
    ];
    let mut group = c.benchmark_group("hot_path");
    for (size, label) in SIZES {
        group.throughput(criterion::Throughput::Elements(1));
        for (name, pool) in &variants {
            group.bench_with_input(BenchmarkId::new(*name, label), &size, |b, &n| {
                b.iter(|| {
                    let mut buf = pool.get(black_box(n));
                    buf.extend_from_slice(&PAYLOAD);
                    black_box(&mut buf);
                })
            });
        }
        group.bench_with_input(BenchmarkId::new("tls_floor", label), &size, |b, &n| {
            b.iter(|| floor_round_trip(black_box(n)))
        });
        group.bench_with_input(
            BenchmarkId::new("vec_with_capacity", label),
            &size,
            |b, &n| {
                b.iter(|| {
                    let mut buf = Vec::<u8>::with_capacity(black_box(n));
                    buf.extend_from_slice(&PAYLOAD);
                    black_box(&mut buf);
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("bytesmut_with_capacity", label),
            &size,
            |b, &n| {
                b.iter(|| {
                    let mut buf = BytesMut::with_capacity(black_box(n));
                    buf.put_slice(&PAYLOAD);
                    black_box(&mut buf);
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
