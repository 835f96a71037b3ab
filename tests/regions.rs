//! Backing memory: blocks carved from regions (`PoolBuilder::backing`),
//! their fallbacks and the backing report.
//!
//! Tests that make system calls of their own, or that need the regions to
//! be real mappings (huge pages, locking, released pages), are ignored
//! under Miri, where regions come from the heap.

use std::io::Read;

use tierpool::{Backing, BackingReport, HugePages, Pool, PoolBuilder, RegionConfig, TierConfig};

mod common;
use common::{assert_all_returned, Rng};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// A builder whose returns free the block at once (no cache, no depot):
/// every drop gives a slot back to its region.
fn freeing(tiers: &[usize], region: RegionConfig) -> PoolBuilder {
    let mut builder = Pool::builder().backing(Backing::Regions(region));
    for &capacity in tiers {
        builder = builder.tier(
            TierConfig::new(capacity)
                .thread_cache_buffers(0)
                .depot_buffers(0),
        );
    }
    builder
}

fn region_of(report: &BackingReport, ptr: *const u8) -> Option<&tierpool::RegionInfo> {
    report.regions.iter().find(|r| r.contains(ptr))
}

/// Where the crate maps regions itself (Linux and Android), a pool that
/// does not choose a backing carves its blocks from 64 MiB regions, unless
/// its largest tier would fit fewer than 16 times in one; elsewhere, and
/// when asked, every block is a heap allocation.
#[test]
fn the_default_is_regions_where_mapped_and_the_heap_for_huge_tiers() {
    let by_default = cfg!(all(
        any(target_os = "linux", target_os = "android"),
        not(miri)
    ));
    let pool = Pool::new();
    let buf = pool.get(100);
    let report = pool.backing_report();
    assert_eq!(region_of(&report, buf.as_ptr()).is_some(), by_default);
    if by_default {
        assert_eq!(report.regions[0].len, 64 * MIB);
    } else {
        assert_eq!(report, BackingReport::default());
    }
    drop(buf);

    // Tiers up to 4 MiB: regions; above, the heap.
    let fits = Pool::builder().tiers([4 * MIB]).build().unwrap();
    drop(fits.get(1));
    assert_eq!(!fits.backing_report().regions.is_empty(), by_default);
    let huge = Pool::builder().tiers([4 * MIB + 1]).build().unwrap();
    drop(huge.get(1));
    assert!(huge.backing_report().regions.is_empty());

    let heap = Pool::builder().backing(Backing::Heap).build().unwrap();
    drop(heap.get(1));
    assert!(heap.backing_report().regions.is_empty());
}

#[test]
fn tier_blocks_come_from_regions_of_their_tier_and_oversize_from_the_heap() {
    let pool = Pool::builder()
        .tiers([1000, 64 * KIB])
        .backing(Backing::Regions(RegionConfig::new().size(256 * KIB)))
        .build()
        .unwrap();
    let small: Vec<_> = (0..300).map(|_| pool.get(1000)).collect();
    let large: Vec<_> = (0..5).map(|_| pool.get(64 * KIB)).collect();
    let oversize = pool.get(MIB);
    let report = pool.backing_report();
    // 1000 bytes round up to 1024 (the alignment is 64): 256 to a region.
    let small_regions = report
        .regions
        .iter()
        .filter(|r| r.tier_capacity == 1000)
        .count();
    assert_eq!(small_regions, 2, "{report:?}");
    assert_eq!(report.regions.len(), 4, "two of each tier: {report:?}");
    assert_eq!(report.mapped_bytes, 4 * 256 * KIB);
    for buf in small.iter().chain(&large) {
        let region = region_of(&report, buf.as_ptr()).expect("from a region");
        assert_eq!(region.tier_capacity, buf.capacity());
        assert_eq!(
            (buf.as_ptr() as usize - region.start) % region.block_size,
            0
        );
    }
    assert!(region_of(&report, oversize.as_ptr()).is_none());
    let in_use: usize = report.regions.iter().map(|r| r.slots_in_use).sum();
    assert_eq!(in_use, 305);
    assert_eq!((report.heap_fallbacks, report.refusals), (0, 0));
    drop((small, large, oversize));
    assert_all_returned(&pool);
}

#[test]
fn trimming_gives_slots_back_and_unmaps_empty_regions() {
    let pool = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(RegionConfig::new().size(64 * KIB)))
        .build()
        .unwrap();
    let bufs: Vec<_> = (0..40).map(|_| pool.get(1)).collect();
    assert_eq!(pool.backing_report().regions.len(), 3); // 16 to a region
    drop(bufs);
    // Idle blocks keep their slots.
    assert_eq!(pool.backing_report().mapped_bytes, 3 * 64 * KIB);
    let kept = pool.get(1);
    pool.trim();
    let report = pool.backing_report();
    assert_eq!(report.regions.len(), 1, "{report:?}");
    assert_eq!(report.regions[0].slots_in_use, 1);
    assert!(report.regions[0].contains(kept.as_ptr()));
    drop(kept);
    pool.trim();
    assert_eq!(pool.backing_report().mapped_bytes, 0);
    // And the next miss maps a region again.
    drop(pool.get(1));
    assert_eq!(pool.backing_report().regions.len(), 1);
}

#[test]
fn closing_the_pool_gives_every_slot_back() {
    let pool = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(RegionConfig::new().size(64 * KIB)))
        .build()
        .unwrap();
    let out = pool.get(1);
    drop(pool.get(1));
    let other = pool.clone();
    drop(pool);
    assert_eq!(other.backing_report().regions[0].slots_in_use, 2);
    drop(other); // closes: the idle block is freed
    drop(out); // the last block: its region goes with the pool
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
fn a_reused_slot_shows_no_bytes_of_its_previous_block() {
    let pool = freeing(&[1000], RegionConfig::new().size(64 * KIB))
        .build()
        .unwrap();
    let keep = pool.get(1); // keeps the region mapped
    let mut secret = pool.get(1000);
    secret.resize(1000, 0xAB);
    let addr = secret.as_ptr();
    drop(secret); // freed: its slot goes back to the region
    assert_eq!(pool.stats().tiers[0].cached, 0);
    let mut reused = pool.get(1000);
    assert_eq!(reused.as_ptr(), addr, "the same slot");
    assert!(reused.is_empty());
    let mut peek = Peek(Vec::new());
    reused.read_from(&mut peek).unwrap();
    assert_eq!(peek.0.len(), 1000);
    assert!(peek.0.iter().all(|&b| b == 0), "stale bytes were readable");
    drop((keep, reused));
    pool.trim(); // purges the dirty slots: the region is empty
    assert_eq!(pool.backing_report().mapped_bytes, 0);
}

#[test]
fn zero_on_return_and_alignment_hold_for_region_blocks() {
    let pool = Pool::builder()
        .tiers([1000, 5000])
        .alignment(4096)
        .zero_on_return(true)
        .backing(Backing::Regions(RegionConfig::new().size(64 * KIB)))
        .build()
        .unwrap();
    let mut bufs: Vec<_> = (0..20)
        .map(|i| pool.get(if i % 2 == 0 { 1000 } else { 5000 }))
        .collect();
    for buf in &mut bufs {
        assert_eq!(buf.as_ptr() as usize % 4096, 0);
        let cap = buf.capacity();
        buf.resize(cap, 0xCD);
    }
    let report = pool.backing_report();
    for region in &report.regions {
        assert_eq!(region.start % 4096, 0);
        let expected = if region.tier_capacity == 1000 {
            4096
        } else {
            8192
        };
        assert_eq!(region.block_size, expected);
    }
    drop(bufs);
    let mut again = pool.get(1000);
    let spare = again.spare_capacity_mut();
    // SAFETY: a zero-on-return pool zeroes every block before it is idle,
    // so all of it is initialised.
    assert!(spare.iter().all(|b| unsafe { b.assume_init() } == 0));
}

#[test]
fn threads_get_drop_and_trim_while_regions_fill_and_empty() {
    let pool = Pool::builder()
        .tier(
            TierConfig::new(1000)
                .thread_cache_buffers(2)
                .depot_buffers(4),
        )
        .tier(
            TierConfig::new(4 * KIB)
                .thread_cache_buffers(2)
                .depot_buffers(4),
        )
        .tier(
            TierConfig::new(20_000)
                .thread_cache_buffers(1)
                .depot_buffers(2),
        )
        .backing(Backing::Regions(RegionConfig::new().size(32 * KIB)))
        .build()
        .unwrap();
    let rounds = if cfg!(miri) { 30 } else { 3000 };
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let pool = pool.clone();
            s.spawn(move || {
                let mut rng = Rng::new(t + 1);
                let mut held = Vec::new();
                for round in 0..rounds {
                    let size = [1000, 4 * KIB, 20_000][rng.below(3)];
                    let mut buf = pool.get(size);
                    let byte = (round % 251) as u8;
                    buf.resize(size, byte);
                    held.push((buf, byte));
                    if held.len() > 8 || rng.below(3) == 0 {
                        let (buf, byte) = held.swap_remove(rng.below(held.len()));
                        assert!(filled_with(&buf, byte), "another holder wrote");
                    }
                    if rng.below(50) == 0 {
                        pool.trim();
                    }
                }
                for (buf, byte) in held {
                    assert!(filled_with(&buf, byte));
                }
            });
        }
    });
    assert_all_returned(&pool);
    pool.trim();
    let report = pool.backing_report();
    assert_eq!(report.mapped_bytes, 0, "{report:?}");
    assert_eq!(report.heap_fallbacks, 0);
}

/// Whether every byte of `buf` is `byte`: one comparison of slices (a
/// `memcmp`, quick under Miri, unlike a loop over the bytes).
fn filled_with(buf: &[u8], byte: u8) -> bool {
    *buf == *vec![byte; buf.len()]
}

/// Whether each page of `len` bytes at `ptr` is resident.
#[cfg(target_os = "linux")]
fn resident(ptr: *const u8, len: usize) -> Vec<bool> {
    let mut pages = vec![0u8; len.div_ceil(4096)];
    // SAFETY: `mincore` writes one byte per page of the range into
    // `pages`, which has that many; the range is mapped (a region).
    let rc = unsafe { libc::mincore(ptr as *mut libc::c_void, len, pages.as_mut_ptr()) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    pages.iter().map(|&p| p & 1 == 1).collect()
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore)]
fn a_freed_slot_gives_its_pages_back_to_the_system() {
    let pool = freeing(&[64 * KIB], RegionConfig::new().size(MIB))
        .build()
        .unwrap();
    let mut keep = pool.get(1);
    keep.resize(64 * KIB, 1);
    let mut freed = pool.get(1);
    freed.resize(64 * KIB, 2);
    let addr = freed.as_ptr();
    assert!(resident(addr, 64 * KIB).iter().all(|&r| r));
    drop(freed);
    assert_eq!(pool.backing_report().regions[0].slots_in_use, 1);
    pool.trim(); // the freed slot was dirty: purged now
    assert!(
        resident(addr, 64 * KIB).iter().all(|&r| !r),
        "the freed slot's pages are still resident"
    );
    assert!(resident(keep.as_ptr(), 64 * KIB).iter().all(|&r| r));
}

fn explicit_huge_pages_reserved() -> bool {
    std::fs::read_to_string("/proc/sys/vm/nr_hugepages")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore)]
fn explicit_huge_pages_fall_back_to_normal_pages_and_say_why() {
    let region = RegionConfig::new()
        .size(4 * MIB)
        .huge_pages(HugePages::Explicit);
    let pool = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(region))
        .build()
        .unwrap();
    let mut buf = pool.get(1);
    buf.resize(4 * KIB, 7);
    let report = pool.backing_report();
    let info = region_of(&report, buf.as_ptr()).expect("from a region");
    assert_eq!(info.start % (2 * MIB), 0);
    if explicit_huge_pages_reserved() {
        assert_eq!(info.huge_pages, HugePages::Explicit);
        return;
    }
    assert_eq!(info.huge_pages, HugePages::Off);
    assert_eq!(report.huge_page_bytes, 0);
    assert_eq!(report.refusals, 1);
    let err = &report.errors[0];
    assert_eq!(err.op(), tierpool::BackingOp::ExplicitHugePages);
    assert_eq!(err.errno(), Some(libc::ENOMEM));
    assert_eq!(err.bytes(), 4 * MIB);
    assert!(err.to_string().contains("nr_hugepages"), "{err}");

    // Strict: the allocation fails instead.
    let strict = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(region.strict(true)))
        .build()
        .unwrap();
    match strict.try_get(1) {
        Err(tierpool::PoolError::Backing(err)) => {
            assert_eq!(err.op(), tierpool::BackingOp::ExplicitHugePages);
        }
        other => panic!("expected a backing error, got {other:?}"),
    }
    assert_eq!(strict.backing_report().mapped_bytes, 0);
    assert!(std::panic::catch_unwind(|| strict.get(1)).is_err());
}

#[test]
#[cfg_attr(miri, ignore)]
fn transparent_huge_pages_align_regions_to_2_mib() {
    let pool = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(
            RegionConfig::new()
                .size(3 * MIB)
                .huge_pages(HugePages::Transparent),
        ))
        .build()
        .unwrap();
    let buf = pool.get(1);
    let report = pool.backing_report();
    let region = region_of(&report, buf.as_ptr()).unwrap();
    assert_eq!(region.len, 4 * MIB, "rounded up to huge pages");
    assert_eq!(region.start % (2 * MIB), 0);
    if report.refusals == 0 {
        assert_eq!(region.huge_pages, HugePages::Transparent);
        assert_eq!(report.huge_page_bytes, 4 * MIB);
    }
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore)]
fn locked_regions_count_as_locked() {
    let pool = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(RegionConfig::new().size(MIB).lock(true)))
        .build()
        .unwrap();
    let buf = pool.get(1);
    let report = pool.backing_report();
    if report.refusals == 0 {
        assert_eq!(report.locked_bytes, MIB);
        assert!(report.regions[0].locked);
    } else {
        // No CAP_IPC_LOCK and RLIMIT_MEMLOCK below 1 MiB: reported.
        assert_eq!(report.errors[0].op(), tierpool::BackingOp::Lock);
        assert_eq!(report.locked_bytes, 0);
    }
    drop(buf);
    pool.trim();
    assert_eq!(pool.backing_report().locked_bytes, 0);
}

/// Runs [`mlock_refusal_child`] in a child process, which lowers its
/// `RLIMIT_MEMLOCK` and gives up root's `CAP_IPC_LOCK` (changing the
/// limits of this process would affect the other tests).
#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore)]
fn a_refused_mlock_falls_back_and_reports_the_memlock_limit() {
    common::run_child_test("mlock_refusal_child", "memlock child: ");
}

#[test]
#[ignore = "run by a_refused_mlock_falls_back_and_reports_the_memlock_limit"]
#[cfg(target_os = "linux")]
fn mlock_refusal_child() {
    if !common::is_child_test("mlock_refusal_child") {
        return;
    }
    if !common::limit_memlock_as_nobody(64 * KIB) {
        println!("memlock child: skipped, cannot leave root");
        return;
    }
    let region = RegionConfig::new().size(MIB).lock(true);
    let pool = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(region))
        .build()
        .unwrap();
    let mut buf = pool.get(1);
    buf.resize(4 * KIB, 3); // the unlocked region works
    let report = pool.backing_report();
    assert_eq!(report.locked_bytes, 0);
    assert!(!report.regions[0].locked);
    let err = &report.errors[0];
    assert_eq!(err.op(), tierpool::BackingOp::Lock);
    assert_eq!(err.errno(), Some(libc::ENOMEM));
    assert_eq!(err.memlock_limit(), Some(64 * KIB as u64));
    assert!(
        err.to_string().contains("RLIMIT_MEMLOCK is 65536 bytes"),
        "{err}"
    );

    let strict = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Regions(region.strict(true)))
        .build()
        .unwrap();
    let err = strict.try_get(1).unwrap_err();
    assert!(matches!(&err, tierpool::PoolError::Backing(e) if e.op() == tierpool::BackingOp::Lock));
    assert!(err.to_string().contains("RLIMIT_MEMLOCK"), "{err}");
    println!("memlock child: ok");
}
