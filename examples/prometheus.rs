//! Export two pools' metrics in the Prometheus text format with the
//! standard exporter, `metrics-exporter-prometheus`: the counters and
//! gauges of `Pool::publish_metrics`, labelled by pool and tier.
//!
//! The exporter is used here without its HTTP listener and prints what a
//! scrape would read. A server installs it with `with_http_listener`, or
//! serves `handle.render()` from an endpoint of its own, and publishes on
//! a timer or before each render.
//!
//! Run: `cargo run --release --example prometheus --features metrics`

use std::thread;

use metrics_exporter_prometheus::PrometheusBuilder;
use tierpool::Pool;

fn main() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this process");

    let ingest = Pool::builder()
        .name("ingest")
        .build()
        .expect("valid config");
    let rpc = Pool::builder()
        .name("rpc")
        .tiers([512, 8192])
        .max_in_use_bytes(64 << 10)
        .build()
        .expect("valid config");

    // Some traffic: frames of mixed sizes on two threads, one of them
    // above the largest tier; RPC calls up against their in-use budget.
    let workers: Vec<_> = (0..2u64)
        .map(|id| {
            let ingest = ingest.clone();
            thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..1_000u64 {
                    let size = match (i * 7 + id) % 20 {
                        0..=13 => 1_500,
                        14..=17 => 40_000,
                        18 => 300_000,
                        _ => 2 << 20,
                    };
                    let mut frame = ingest.get(size);
                    frame.resize(size.min(4096), id as u8);
                    held.push(frame.freeze());
                    if held.len() > 8 {
                        held.clear();
                    }
                }
            })
        })
        .collect();
    let calls: Vec<_> = (0..10).map(|_| rpc.get(6_000)).collect();
    let refused = (0..3).filter(|_| rpc.try_get(6_000).is_err()).count();
    for worker in workers {
        worker.join().expect("worker panicked");
    }

    // Publish (in a server: on a timer, or right before rendering), then
    // render what a scrape of /metrics would return.
    ingest.publish_metrics();
    let stats = rpc.publish_metrics();
    let text = handle.render();
    print!("{text}");

    // What the text holds: the metrics with their labels, help and type.
    assert!(text.contains("# TYPE tierpool_hits_total counter"));
    assert!(text.contains("# HELP tierpool_in_use_bytes "));
    assert!(text.contains(r#"tierpool_hits_total{pool="ingest",tier="4096"} "#));
    assert!(text.contains(r#"tierpool_misses_total{pool="ingest",tier="oversize"} "#));
    assert!(text.contains(&format!(
        "tierpool_exhausted_total{{pool=\"rpc\"}} {refused}\n"
    )));
    assert!(text.contains(&format!(
        "tierpool_in_use_bytes{{pool=\"rpc\",tier=\"8192\"}} {}\n",
        stats.tiers[1].in_use_bytes()
    )));
    assert!(text.contains("tierpool_max_in_use_bytes{pool=\"rpc\"} 65536\n"));
    drop(calls);
}
