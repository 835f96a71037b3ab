//! tokio-uring's reads and writes on pooled buffers and views (feature
//! `tokio-uring`, Linux): `IoBuf`/`IoBufMut` for `PooledBuf`, `IoBuf` for
//! `SharedBuf`.
//!
//! Where the kernel refuses `io_uring_setup` (a seccomp filter, an old
//! kernel, `kernel.io_uring_disabled`), each test says so on standard
//! error and returns.
#![cfg(all(feature = "tokio-uring", target_os = "linux"))]
#![cfg(not(miri))]

mod common;
use common::assert_all_returned;

use std::future::Future;
use std::path::PathBuf;

use tierpool::{Backing, Pool, RegionConfig, SharedBuf};
use tokio_uring::buf::BoundedBuf;
use tokio_uring::fs::{File, OpenOptions};

/// Runs `test` on a tokio-uring runtime, or returns `None` (with a
/// message) where the kernel refuses a ring. `tokio_uring::start` would
/// panic there; it is `Runtime::new` and `block_on`, which this spells out
/// to see the error.
fn run<F: Future>(test: F) -> Option<F::Output> {
    match tokio_uring::Runtime::new(&tokio_uring::builder()) {
        Ok(runtime) => Some(runtime.block_on(test)),
        Err(err) => {
            eprintln!("skipped: io_uring_setup refused: {err}");
            None
        }
    }
}

/// A path in the temp directory, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        TempPath(std::env::temp_dir().join(format!(
            "tierpool-tokio-uring-{name}-{}",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Writes `pool`'s frozen views (whole and sliced) and reads them back into
/// pooled buffers; returns nothing it took from the pool.
async fn round_trip(pool: &Pool, path: &TempPath) {
    let data = pattern(3000);
    let mut buf = pool.get(data.len());
    buf.extend_from_slice(&data);
    let view = buf.freeze();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path.0)
        .await
        .unwrap();

    let (res, view) = file.write_at(view, 0).submit().await;
    assert_eq!(res.unwrap(), data.len());
    // A slice of the view (tierpool's, a `SharedBuf`), written after it:
    // only its own bytes go out.
    let part = SharedBuf::slice(&view, 1000..1500);
    let (res, part) = file.write_at(part, 3000).submit().await;
    assert_eq!(res.unwrap(), 500);
    assert_eq!(part, &data[1000..1500]);
    // tokio-uring's `BoundedBuf::slice`, which a method call on an owned
    // view picks while the trait is in scope: the same bytes again.
    let (res, bounded) = file.write_at(part.slice(..), 3500).submit().await;
    assert_eq!(res.unwrap(), 500);
    let part = bounded.into_inner();
    file.sync_all().await.unwrap();

    let (res, read) = file.read_at(pool.get(4096), 0).await;
    let n = res.unwrap();
    assert_eq!(n, 4000);
    assert_eq!(read.len(), n);
    assert_eq!(&read[..3000], &data[..]);
    assert_eq!(&read[3000..3500], &data[1000..1500]);
    assert_eq!(&read[3500..], &data[1000..1500]);

    // The same file into a buffer too small for it: the read stops at the
    // capacity.
    let small_pool = Pool::builder().tiers([1024]).build().unwrap();
    let (res, small) = file.read_at(small_pool.get(1024), 0).await;
    assert_eq!(res.unwrap(), 1024);
    assert_eq!(small, &data[..1024]);

    file.close().await.unwrap();
    drop((view, part, read, small));
    assert_all_returned(pool);
    assert_all_returned(&small_pool);
}

#[test]
fn views_written_and_read_back_into_pooled_buffers() {
    let pool = Pool::new();
    let path = TempPath::new("round-trip");
    run(round_trip(&pool, &path));
    assert_eq!(pool.stats().tiers[0].in_use, 0);
}

#[test]
fn region_backed_buffers_work_too() {
    let pool = Pool::builder()
        .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
        .build()
        .unwrap();
    let path = TempPath::new("regions");
    run(round_trip(&pool, &path));
    assert_eq!(pool.stats().tiers[0].in_use, 0);
}

#[test]
fn a_read_never_shortens_a_buffer_and_a_slice_appends() {
    let pool = Pool::new();
    let path = TempPath::new("keeps");
    std::fs::write(&path.0, b"abc").unwrap();
    run(async {
        let file = File::open(&path.0).await.unwrap();

        // Like `Vec`: the read fills from the start; a short one leaves
        // the length (and the bytes after it) as they were.
        let mut buf = pool.get(64);
        buf.extend_from_slice(b"0123456789");
        let (res, buf) = file.read_at(buf, 0).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(buf.len(), 10);
        assert_eq!(buf, b"abc3456789"[..]);

        // Read into the spare capacity: the written bytes stay.
        let (res, slice) = file.read_at(buf.slice(10..), 0).await;
        assert_eq!(res.unwrap(), 3);
        let buf = slice.into_inner();
        assert_eq!(buf, b"abc3456789abc"[..]);

        // End of file: nothing read, nothing changed.
        let (res, buf) = file.read_at(buf, 100).await;
        assert_eq!(res.unwrap(), 0);
        assert_eq!(buf, b"abc3456789abc"[..]);

        file.close().await.unwrap();
    });
    assert_all_returned(&pool);
}

#[test]
fn a_read_never_shows_an_earlier_holders_bytes() {
    let pool = Pool::new();
    let path = TempPath::new("fresh");
    std::fs::write(&path.0, b"new").unwrap();
    let mut old = pool.get(4096);
    old.resize(4096, 0xAA);
    let block = old.as_ptr();
    drop(old);
    run(async {
        let file = File::open(&path.0).await.unwrap();
        let buf = pool.get(4096);
        assert_eq!(buf.as_ptr(), block, "the same block, reused");
        let (res, buf) = file.read_at(buf, 0).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(buf, b"new"[..]); // not followed by 0xAA
        file.close().await.unwrap();
    });
    assert_all_returned(&pool);
}

#[test]
fn a_chain_goes_out_as_its_segments() {
    let pool = Pool::builder().segment_capacity(4096).build().unwrap();
    let path = TempPath::new("chain");
    let data = pattern(10_000);
    let mut chain = pool.chain();
    chain.extend_from_slice(&data);
    let chain = chain.freeze();
    assert!(chain.segment_count() > 1);
    let ran = run(async {
        let file = File::create(&path.0).await.unwrap();
        let segments: Vec<_> = chain.clone().into_segments().collect();
        let (res, segments) = file.writev_at(segments, 0).await;
        assert_eq!(res.unwrap(), data.len());
        drop(segments);
        file.close().await.unwrap();
    });
    drop(chain);
    if ran.is_some() {
        assert_eq!(std::fs::read(&path.0).unwrap(), data);
    }
    assert_all_returned(&pool);
}
