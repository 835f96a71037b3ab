//! Choose tiers from data: throughput and peak retained memory of the
//! current tiers versus the tiers the advisor recommends, on one size
//! distribution.
//!
//! Run: `cargo bench --bench tiers`
//! With your own trace (one request per line, `SIZE` or `SIZE COUNT`):
//! `TIERPOOL_TRACE=path/to/sizes.trace cargo bench --bench tiers`
//! Other knobs: `TIERPOOL_TIERS` (how many tiers to recommend, default 3),
//! `TIERPOOL_COVERAGE` (share of requests the largest tier must hold;
//! default: the share the current tiers serve, as `SizeHistogram::advise`).
//!
//! Each iteration replays a fixed sample of the distribution: get(size),
//! write `size` bytes, keep the buffer among the last 16 outstanding (a
//! service with 16 requests in flight), drop the oldest.

use std::collections::VecDeque;
use std::fs::File;
use std::hint::black_box;
use std::io::BufReader;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tierpool::{Pool, SizeHistogram, DEFAULT_TIERS};

const SAMPLE: usize = 4096;
const IN_FLIGHT: usize = 16;

/// A synthetic mix when no trace is given: mostly small messages, some
/// medium payloads, a few large blobs.
fn synthetic() -> SizeHistogram {
    let mut histogram = SizeHistogram::new();
    for (size, count) in [
        (300, 3000),
        (700, 2500),
        (1400, 2000),
        (3000, 800),
        (9000, 700),
        (24_000, 500),
        (60_000, 300),
        (200_000, 150),
        (700_000, 40),
        (2_500_000, 10),
    ] {
        histogram.record_n(size, count);
    }
    histogram
}

fn load() -> (String, SizeHistogram) {
    match std::env::var("TIERPOOL_TRACE") {
        Ok(path) => {
            let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
            let histogram = SizeHistogram::read_trace(BufReader::new(file))
                .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            (path, histogram)
        }
        Err(_) => ("built-in synthetic mix".into(), synthetic()),
    }
}

/// A deterministic sample of `n` sizes drawn from the histogram (each
/// bucket's sizes are its mean request size).
fn sample(histogram: &SizeHistogram, n: usize) -> Vec<usize> {
    let buckets: Vec<(usize, u64, u128)> = histogram.buckets().collect();
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let mut cumulative = Vec::with_capacity(buckets.len());
    let mut running = 0;
    for &(_, count, bytes) in &buckets {
        running += count;
        cumulative.push((running, (bytes / u128::from(count)) as usize));
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let pick = state % total;
            let index = cumulative.partition_point(|&(c, _)| c <= pick);
            cumulative[index].1.max(1)
        })
        .collect()
}

fn replay(pool: &Pool, sizes: &[usize], window: &mut VecDeque<tierpool::PooledBuf>) {
    for &size in sizes {
        let mut buf = pool.get(size);
        buf.resize(size, 0x5A);
        window.push_back(buf);
        if window.len() > IN_FLIGHT {
            black_box(window.pop_front());
        }
    }
    window.clear();
}

/// Peak of in-use plus cached bytes over one replay, sampled every 64 gets.
fn peak_footprint(pool: &Pool, sizes: &[usize]) -> u64 {
    let mut window = VecDeque::new();
    let mut peak = 0;
    for chunk in sizes.chunks(64) {
        for &size in chunk {
            let mut buf = pool.get(size);
            buf.resize(size, 0x5A);
            window.push_back(buf);
            if window.len() > IN_FLIGHT {
                window.pop_front();
            }
        }
        let stats = pool.stats();
        peak = peak.max(stats.in_use_bytes() + stats.cached_bytes());
    }
    peak
}

fn tiers(c: &mut Criterion) {
    let (source, histogram) = load();
    let k = std::env::var("TIERPOOL_TIERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let coverage = std::env::var("TIERPOOL_COVERAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| histogram.evaluate(&DEFAULT_TIERS).pooled_share());
    let recommended = histogram.recommend_covering(k, coverage);
    let sizes = sample(&histogram, SAMPLE);
    let bytes: u64 = sizes.iter().map(|&s| s as u64).sum();
    let candidates = [
        ("current", DEFAULT_TIERS.to_vec()),
        ("recommended", recommended.clone()),
    ];

    println!(
        "\ntier sets for {source} ({} requests):",
        histogram.requests()
    );
    for (name, tiers) in &candidates {
        let report = histogram.evaluate(tiers);
        let pool = Pool::builder()
            .tiers(tiers.iter().copied())
            .build()
            .unwrap();
        // Warm up, then measure the footprint of a second replay.
        peak_footprint(&pool, &sizes);
        let peak = peak_footprint(&pool, &sizes);
        println!(
            "  {name:<12} {tiers:?}: waste {:.1}%, pooled {:.2}%, peak in-use + cached {:.1} MiB",
            report.waste_ratio() * 100.0,
            report.pooled_share() * 100.0,
            peak as f64 / f64::from(1 << 20)
        );
    }

    let mut group = c.benchmark_group("tiers");
    group.throughput(Throughput::Bytes(bytes));
    for (name, tiers) in &candidates {
        let pool = Pool::builder()
            .tiers(tiers.iter().copied())
            .build()
            .unwrap();
        let mut window = VecDeque::with_capacity(IN_FLIGHT + 1);
        group.bench_function(BenchmarkId::new(*name, SAMPLE), |b| {
            b.iter(|| replay(&pool, &sizes, &mut window))
        });
    }
    group.finish();
}

criterion_group!(benches, tiers);
criterion_main!(benches);
