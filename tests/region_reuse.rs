//! Region slots that do not refault: a freed slot stays dirty (its pages
//! kept), is the next one its tier takes, and is purged after the idle
//! decay period, beyond `RegionConfig::max_dirty_bytes`, or on a trim.
//!
//! The page-fault and residency checks need real mappings and are Linux
//! only, and ignored under Miri (where regions come from the heap and a
//! purge gives nothing back, but the bookkeeping is the same).

use std::io::Read;
use std::time::Duration;

use tierpool::{Backing, Pool, PoolBuilder, RegionConfig, TierConfig};

mod common;
use common::assert_all_returned;

const KIB: usize = 1024;
/// The tier's block: smaller under Miri, which checks every byte it fills.
const BLOCK: usize = if cfg!(miri) { 4 * KIB } else { 64 * KIB };

/// One 64 KiB tier whose returns free the block at once (no cache, no
/// depot): every drop gives a slot back to its 1 MiB region.
fn freeing(region: RegionConfig) -> PoolBuilder {
    Pool::builder()
        .tier(
            TierConfig::new(BLOCK)
                .thread_cache_buffers(0)
                .depot_buffers(0),
        )
        .backing(Backing::Regions(region.size(1024 * KIB)))
}

/// A filled buffer of one whole block.
fn filled(pool: &Pool, byte: u8) -> tierpool::PooledBuf {
    let mut buf = pool.get(BLOCK);
    buf.resize(BLOCK, byte);
    buf
}

/// A reader that records the bytes it is handed and reads nothing.
struct Peek(Vec<u8>);

impl Read for Peek {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0 = buf.to_vec();
        Ok(0)
    }
}

#[test]
fn a_freed_slot_is_the_next_one_taken_and_shows_none_of_its_bytes() {
    let pool = freeing(RegionConfig::new()).build().unwrap();
    let keep = filled(&pool, 1);
    let secret = filled(&pool, 0xAB);
    let addr = secret.as_ptr();
    drop(secret);
    let report = pool.backing_report();
    assert_eq!(report.dirty_bytes, BLOCK, "{report:?}");
    assert_eq!(report.regions[0].slots_dirty, 1);
    assert_eq!(report.regions[0].slots_in_use, 1);
    let mut reused = pool.get(BLOCK);
    assert_eq!(reused.as_ptr(), addr, "the dirty slot is taken first");
    assert!(reused.is_empty());
    assert_eq!(pool.backing_report().dirty_bytes, 0);
    // The one safe way to the uninitialised bytes: a reader is handed
    // them zeroed.
    let mut peek = Peek(Vec::new());
    reused.read_from(&mut peek).unwrap();
    assert_eq!(peek.0.len(), BLOCK);
    assert!(peek.0.iter().all(|&b| b == 0), "stale bytes were readable");
    // Nor does a frozen view or a slice of it reach beyond what was written.
    reused.extend_from_slice(b"new");
    let frozen = reused.freeze();
    assert_eq!(&frozen[..], b"new");
    drop((keep, frozen));
    assert_all_returned(&pool);
}

#[test]
fn trims_purge_every_dirty_slot() {
    for trim_idle in [false, true] {
        let pool = freeing(RegionConfig::new()).build().unwrap();
        let keep = filled(&pool, 1);
        let bufs: Vec<_> = (0..4).map(|i| filled(&pool, i)).collect();
        drop(bufs);
        let report = pool.backing_report();
        assert_eq!((report.dirty_bytes, report.purges), (4 * BLOCK, 0));
        if trim_idle {
            pool.trim_idle();
        } else {
            pool.trim();
        }
        let report = pool.backing_report();
        assert_eq!((report.dirty_bytes, report.purges), (0, 4), "{report:?}");
        assert_eq!(report.regions[0].slots_dirty, 0);
        // The region holds `keep`: it stays.
        assert_eq!(report.regions.len(), 1);
        drop(keep);
        assert_eq!(pool.backing_report().regions.len(), 1, "kept while dirty");
        pool.trim();
        let report = pool.backing_report();
        assert_eq!((report.mapped_bytes, report.purges), (0, 5), "{report:?}");
    }
}

#[test]
fn the_bound_purges_the_oldest_dirty_slots() {
    let pool = freeing(RegionConfig::new().max_dirty_bytes(2 * BLOCK))
        .build()
        .unwrap();
    let keep = filled(&pool, 1);
    let bufs: Vec<_> = (0..3).map(|i| filled(&pool, i)).collect();
    let addrs: Vec<_> = bufs.iter().map(|b| b.as_ptr()).collect();
    drop(bufs); // in order: the first is the oldest
    let report = pool.backing_report();
    assert_eq!((report.dirty_bytes, report.purges), (2 * BLOCK, 1));
    // The newest dirty slots come back first, then the purged one.
    let again: Vec<_> = (0..3).map(|_| pool.get(BLOCK)).collect();
    let taken: Vec<_> = again.iter().map(|b| b.as_ptr()).collect();
    assert_eq!(taken, [addrs[2], addrs[1], addrs[0]]);
    drop((keep, again));
}

#[test]
fn max_dirty_bytes_zero_purges_every_slot_as_it_is_freed() {
    let pool = freeing(RegionConfig::new().max_dirty_bytes(0))
        .build()
        .unwrap();
    let keep = filled(&pool, 1);
    drop(filled(&pool, 2));
    let report = pool.backing_report();
    assert_eq!((report.dirty_bytes, report.purges), (0, 1));
    drop(keep);
    assert_eq!(pool.backing_report().mapped_bytes, 0, "unmapped at once");
}

#[test]
fn dirty_slots_decay_after_the_idle_decay_period() {
    let period = Duration::from_millis(10);
    let pool = freeing(RegionConfig::new())
        .idle_decay_period(period)
        .build()
        .unwrap();
    let keep = filled(&pool, 1);
    let old = filled(&pool, 2);
    let young = filled(&pool, 3);
    drop(old);
    assert_eq!(pool.backing_report().purges, 0);
    // Longer than the period: `old` has been dirty for more than a period
    // when `young` is freed (its check runs then), and `young` for none.
    std::thread::sleep(3 * period);
    drop(young);
    let report = pool.backing_report();
    assert_eq!(
        (report.dirty_bytes, report.purges),
        (BLOCK, 1),
        "{report:?}"
    );
    drop(keep);
}

/// Minor page faults of the calling thread so far.
#[cfg(target_os = "linux")]
fn minor_faults() -> i64 {
    // SAFETY: `rusage` is plain data, for which all zeroes is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `getrusage` writes one `rusage`, which `usage` is.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    usage.ru_minflt
}

/// Minor faults of taking a block and writing all of it.
#[cfg(target_os = "linux")]
fn faults_of_a_filled_block(pool: &Pool) -> (i64, tierpool::PooledBuf) {
    let before = minor_faults();
    let buf = filled(pool, 7);
    (minor_faults() - before, buf)
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore)]
fn a_reused_dirty_slot_faults_no_page_in_and_a_purged_one_does() {
    let pool = freeing(RegionConfig::new()).build().unwrap();
    let keep = filled(&pool, 1);
    drop(filled(&pool, 2));
    let (dirty, buf) = faults_of_a_filled_block(&pool);
    drop(buf);
    pool.trim();
    let (purged, buf) = faults_of_a_filled_block(&pool);
    let pages = (BLOCK / 4096) as i64;
    eprintln!("minor faults re-taking a 64 KiB block: dirty {dirty}, purged {purged}");
    // A little slack for the block header's heap allocation.
    assert!(dirty <= 2, "a dirty slot faulted {dirty} times");
    assert!(
        purged >= pages / 2,
        "a purged slot faulted only {purged} times"
    );
    drop((keep, buf));
}
