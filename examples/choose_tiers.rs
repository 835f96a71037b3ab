//! Choose tiers from data: feed the tier advisor a size trace and compare
//! the current tiers with the recommended ones.
//!
//! Run: `cargo run --release --example choose_tiers [TRACE] [TIERS]`
//!
//! `TRACE` is a file with one request per line, `SIZE` or `SIZE COUNT`
//! (default: `examples/sizes.trace`, a sample shipped with the crate).
//! `TIERS` is how many tiers to recommend (default 3). To record a trace
//! from a running service, build its pool with `record_sizes(true)` and
//! print `pool.size_histogram().buckets()`.

use std::fs::File;
use std::io::BufReader;

use tierpool::{SizeHistogram, DEFAULT_TIERS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    // Built by examples/light, whose manifest is one directory below the
    // trace.
    let path = args.next().unwrap_or_else(|| {
        let light = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let examples = light.parent().expect("examples/light is in examples/");
        examples.join("sizes.trace").display().to_string()
    });
    let k: usize = match args.next() {
        Some(k) => k.parse()?,
        None => 3,
    };
    let histogram = SizeHistogram::read_trace(BufReader::new(File::open(&path)?))?;
    println!(
        "{path}: {} requests, {} bytes requested\n",
        histogram.requests(),
        histogram.requested_bytes()
    );

    let advice = histogram.advise(&DEFAULT_TIERS, k);
    println!("{advice}\n");

    // Keeping the rarest, largest requests out of the pool (golang #23199:
    // one pool for wildly varied sizes pins huge buffers).
    let covering = histogram.recommend_covering(k, 0.995);
    let report = histogram.evaluate(&covering);
    println!(
        "covering 99.5% of requests: tiers {covering:?}, waste {:.2}%, {} oversize requests",
        report.waste_ratio() * 100.0,
        report.oversize_requests
    );

    println!("\nbuild the pool with:");
    println!(
        "    tierpool::Pool::builder().tiers({:?}).build()?",
        advice.recommended.tiers
    );
    Ok(())
}
