//! Registered memory for io_uring (feature `io-uring`, Linux):
//! `Pool::register_regions`, the fixed-buffer identity of buffers, views
//! and chain segments, and I/O through `ReadFixed` and `WriteFixed`.
//!
//! Where the kernel refuses `io_uring_setup` (a seccomp filter, an old
//! kernel, `kernel.io_uring_disabled`), the tests that need a ring say so
//! on standard error and return.
#![cfg(all(feature = "io-uring", target_os = "linux"))]

mod common;
use common::ring;

use std::os::fd::AsRawFd;

use io_uring::{opcode, types, IoUring};
use tierpool::uring::{Fixed, RegisterError, Unregistered};
use tierpool::{Backing, Pool, PoolBuilder, RegionConfig, TierConfig};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn regions(tiers: &[usize], region: usize) -> PoolBuilder {
    Pool::builder()
        .tiers(tiers.iter().copied())
        .backing(Backing::Regions(RegionConfig::new().size(region)))
}

/// Runs one entry and returns its result.
fn complete(ring: &mut IoUring, entry: io_uring::squeue::Entry) -> i32 {
    // SAFETY: the callers keep the entry's buffer alive and untouched
    // until this returns, having reaped the completion.
    unsafe { ring.submission().push(&entry) }.expect("room in the queue");
    ring.submit_and_wait(1).expect("io_uring_enter");
    ring.completion().next().expect("a completion").result()
}

/// A file of `len` known bytes in the temp directory, removed on drop.
struct TempFile(std::path::PathBuf, std::fs::File);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("tierpool-{name}-{}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        TempFile(path, file)
    }

    fn fd(&self) -> types::Fd {
        types::Fd(self.1.as_raw_fd())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
#[cfg_attr(miri, ignore)]
fn every_buffer_view_slice_and_segment_reports_its_region() {
    let Some(ring) = ring() else { return };
    let pool = regions(&[4 * KIB, 64 * KIB], MIB)
        .segment_capacity(4 * KIB)
        .build()
        .unwrap();
    // A hole at index 0: a region mapped and unmapped again before.
    drop(pool.get(1));
    pool.trim();
    assert!(pool.backing_report().regions.is_empty());
    pool.map_regions(64 * KIB, 1).unwrap();
    pool.map_regions(4 * KIB, 2).unwrap();
    let registration = pool.register_regions(&ring.submitter()).unwrap();
    let report = pool.backing_report();
    assert_eq!(registration.regions(), report.regions.len());
    assert_eq!(registration.bytes(), report.mapped_bytes);
    let check = |fixed: Fixed, ptr: *const u8, len: usize| {
        let Fixed::Registered {
            buf_index,
            addr,
            len: fixed_len,
        } = fixed
        else {
            panic!("not registered: {fixed:?}");
        };
        let region = report
            .regions
            .iter()
            .find(|r| r.contains(ptr))
            .expect("in a region");
        assert_eq!(usize::from(buf_index), region.index);
        assert!(registration.contains(buf_index));
        assert_eq!((addr, fixed_len), (ptr, len));
    };
    // Two 4 KiB regions (256 blocks each) and one of 64 KiB (16 blocks).
    let bufs: Vec<_> = (0..400)
        .map(|i| pool.get(if i % 25 == 0 { 5000 } else { 1 }))
        .collect();
    for buf in &bufs {
        check(buf.fixed(), buf.as_ptr(), buf.capacity());
    }
    let mut buf = pool.get(100);
    buf.extend_from_slice(&pattern(100));
    let head = buf.split_to(10);
    check(head.fixed(), head.as_ptr(), 10);
    check(buf.fixed(), buf.as_ptr(), buf.capacity());
    let view = buf.freeze();
    let slice = view.slice(20..50);
    check(slice.fixed(), slice.as_ptr(), 30);
    let mut chain = pool.chain();
    chain.extend_from_slice(&pattern(10 * KIB));
    let chain = chain.freeze();
    assert_eq!(chain.segment_count(), 3);
    for segment in chain.segments() {
        check(segment.fixed(), segment.as_ptr(), segment.len());
    }
    let part = chain.slice(5000..9000);
    for segment in part.segments() {
        check(segment.fixed(), segment.as_ptr(), segment.len());
    }
}

/// A pool registered with room grows: its new regions report `LateRegion`
/// until `Registration::update` fills their holes, and then take
/// `ReadFixed`; a region beyond the table stays late.
#[test]
#[cfg_attr(miri, ignore)]
fn an_update_registers_the_regions_mapped_since() {
    let Some(mut ring) = ring() else { return };
    let contents = pattern(16 * KIB);
    let file = TempFile::new("update", &contents);
    // 4 blocks to a region.
    let pool = regions(&[4 * KIB], 16 * KIB).build().unwrap();
    pool.map_regions(4 * KIB, 1).unwrap();
    let mut registration = pool
        .register_regions_with_room(&ring.submitter(), 2)
        .unwrap();
    assert_eq!((registration.table_len(), registration.regions()), (2, 1));
    assert_eq!(registration.update(&ring.submitter()).unwrap(), 0);

    let mut bufs: Vec<_> = (0..12).map(|_| pool.get(4 * KIB)).collect();
    let indices = |bufs: &[tierpool::PooledBuf]| -> Vec<Option<u16>> {
        bufs.iter().map(|b| b.fixed().buf_index()).collect()
    };
    let late = Fixed::Unregistered(Unregistered::LateRegion);
    assert_eq!(indices(&bufs[..4]), vec![Some(0); 4]);
    assert!(bufs[4..].iter().all(|b| b.fixed() == late));

    assert_eq!(registration.update(&ring.submitter()).unwrap(), 1);
    assert_eq!(
        (registration.regions(), registration.bytes()),
        (2, 32 * KIB)
    );
    assert!(registration.contains(1) && !registration.contains(2));
    assert_eq!(indices(&bufs[4..8]), vec![Some(1); 4]);
    assert!(bufs[8..].iter().all(|b| b.fixed() == late), "no room at 2");
    assert_eq!(registration.update(&ring.submitter()).unwrap(), 0);

    // The late region's buffers take fixed reads.
    let buf = &mut bufs[5];
    let index = buf.fixed().buf_index().unwrap();
    let spare = buf.spare_capacity_mut();
    let read =
        opcode::ReadFixed::new(file.fd(), spare.as_mut_ptr().cast(), 4096, index).offset(8192);
    assert_eq!(complete(&mut ring, read.build()), 4096);
    // SAFETY: the kernel wrote 4096 bytes.
    unsafe { buf.set_len(4096) };
    assert_eq!(&buf[..], &contents[8192..12288]);
}

#[test]
#[cfg_attr(miri, ignore)]
fn read_fixed_fills_a_buffer_and_a_sub_range() {
    let Some(mut ring) = ring() else { return };
    let contents = pattern(64 * KIB);
    let file = TempFile::new("read-fixed", &contents);
    let pool = regions(&[16 * KIB], MIB).build().unwrap();
    pool.map_regions(16 * KIB, 1).unwrap();
    let _registration = pool.register_regions(&ring.submitter()).unwrap();

    let mut buf = pool.get(16 * KIB);
    let index = buf.fixed().buf_index().expect("registered");
    let spare = buf.spare_capacity_mut();
    let (ptr, len) = (spare.as_mut_ptr().cast::<u8>(), spare.len() as u32);
    let read = opcode::ReadFixed::new(file.fd(), ptr, len, index).offset(4096);
    assert_eq!(complete(&mut ring, read.build()), 16 * KIB as i32);
    // SAFETY: the kernel wrote the whole spare capacity.
    unsafe { buf.set_len(16 * KIB) };
    assert_eq!(&buf[..], &contents[4096..4096 + 16 * KIB]);

    // A sub-range: the buffer left after splitting off a header reads into
    // its own bytes of the same fixed buffer.
    let mut buf = pool.get(16 * KIB);
    buf.extend_from_slice(b"header");
    let header = buf.split_to(6);
    let Fixed::Registered {
        buf_index,
        addr,
        len,
    } = buf.fixed()
    else {
        panic!("registered")
    };
    assert_eq!((addr, len), (header.as_ptr().wrapping_add(6), 16 * KIB - 6));
    let ptr = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    let read = opcode::ReadFixed::new(file.fd(), ptr, 1000, buf_index).offset(777);
    assert_eq!(complete(&mut ring, read.build()), 1000);
    // SAFETY: the kernel wrote 1000 bytes.
    unsafe { buf.set_len(1000) };
    assert_eq!(&buf[..], &contents[777..1777]);
    assert_eq!(&header[..], b"header");
}

#[test]
#[cfg_attr(miri, ignore)]
fn write_fixed_sends_a_frozen_view() {
    let Some(mut ring) = ring() else { return };
    let file = TempFile::new("write-fixed", &[0; 8 * KIB]);
    let pool = regions(&[8 * KIB], MIB).build().unwrap();
    pool.map_regions(8 * KIB, 1).unwrap();
    let _registration = pool.register_regions(&ring.submitter()).unwrap();
    let mut buf = pool.get(8 * KIB);
    let contents = pattern(8 * KIB);
    buf.extend_from_slice(&contents);
    let view = buf.freeze();
    let slice = view.slice(100..3100);
    let Fixed::Registered {
        buf_index,
        addr,
        len,
    } = slice.fixed()
    else {
        panic!("registered")
    };
    let write = opcode::WriteFixed::new(file.fd(), addr, len as u32, buf_index).offset(50);
    assert_eq!(complete(&mut ring, write.build()), 3000);
    let written = std::fs::read(&file.0).unwrap();
    assert_eq!(&written[50..3050], &contents[100..3100]);
    assert!(written[..50].iter().all(|&b| b == 0));
}

#[test]
#[cfg_attr(miri, ignore)]
fn reused_blocks_of_a_registered_region_see_what_the_ring_wrote() {
    // A freed slot of a registered region keeps its pages: released with
    // MADV_DONTNEED, it would be mapped afresh while the ring kept writing
    // to the old, pinned pages.
    let Some(mut ring) = ring() else { return };
    let contents = pattern(64 * KIB);
    let file = TempFile::new("reuse", &contents);
    let pool = Pool::builder()
        .tier(
            TierConfig::new(64 * KIB)
                .thread_cache_buffers(0)
                .depot_buffers(0),
        )
        .backing(Backing::Regions(RegionConfig::new().size(MIB)))
        .build()
        .unwrap();
    pool.map_regions(64 * KIB, 1).unwrap();
    let _registration = pool.register_regions(&ring.submitter()).unwrap();
    for round in 0..3 {
        let mut buf = pool.get(64 * KIB);
        buf.resize(64 * KIB, 0xee); // touch the pages before the read
        let index = buf.fixed().buf_index().expect("registered");
        let read = opcode::ReadFixed::new(file.fd(), buf.as_mut_ptr(), 64 * KIB as u32, index);
        assert_eq!(complete(&mut ring, read.build()), 64 * KIB as i32);
        assert!(buf[..] == contents[..], "round {round}");
        drop(buf);
        pool.trim();
        assert_eq!(pool.backing_report().regions.len(), 1, "never unmapped");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn unregistered_memory_says_why() {
    let Some(ring) = ring() else { return };
    let heap = Pool::builder()
        .tiers([4 * KIB])
        .backing(Backing::Heap)
        .build()
        .unwrap();
    assert_eq!(heap.get(1).fixed(), Fixed::Unregistered(Unregistered::Heap));
    assert!(matches!(
        heap.register_regions(&ring.submitter()),
        Err(RegisterError::NotRegionBacked)
    ));
    let pool = regions(&[4 * KIB, 64 * KIB], MIB).build().unwrap();
    assert!(matches!(
        pool.register_regions(&ring.submitter()),
        Err(RegisterError::NoRegions)
    ));
    let early = pool.get(1);
    assert_eq!(
        early.fixed(),
        Fixed::Unregistered(Unregistered::NotRegistered)
    );
    let _registration = pool.register_regions(&ring.submitter()).unwrap();
    assert!(early.fixed().is_registered());
    assert!(matches!(
        pool.register_regions(&ring.submitter()),
        Err(RegisterError::AlreadyRegistered)
    ));
    assert_eq!(
        pool.get(64 * KIB).fixed(),
        Fixed::Unregistered(Unregistered::LateRegion)
    );
    assert_eq!(
        pool.get(2 * MIB).fixed(),
        Fixed::Unregistered(Unregistered::Oversize)
    );
    let empty = early.freeze().slice(0..0);
    assert_eq!(empty.fixed(), Fixed::Unregistered(Unregistered::Empty));
}

/// Runs [`memlock_child`] in a child process, which lowers its
/// `RLIMIT_MEMLOCK` and gives up root's `CAP_IPC_LOCK`.
#[test]
#[cfg_attr(miri, ignore)]
fn registering_beyond_the_memlock_limit_says_so() {
    let stdout = common::run_child_test("memlock_child", "memlock child: ");
    for line in stdout.lines().filter(|l| l.contains("memlock child: ")) {
        eprintln!("{line}");
    }
}

#[test]
#[ignore = "run by registering_beyond_the_memlock_limit_says_so"]
fn memlock_child() {
    if !common::is_child_test("memlock_child") {
        return;
    }
    if !common::limit_memlock_as_nobody(256 * KIB) {
        println!("memlock child: skipped, cannot leave root");
        return;
    }
    let Ok(ring) = IoUring::new(8) else {
        println!("memlock child: skipped, io_uring_setup refused");
        return;
    };
    let pool = regions(&[4 * KIB], MIB).build().unwrap();
    pool.map_regions(4 * KIB, 1).unwrap();
    let err = pool.register_regions(&ring.submitter()).unwrap_err();
    let RegisterError::Memlock { bytes, limit } = err else {
        panic!("not a memlock error: {err}");
    };
    assert_eq!((bytes, limit), (MIB, Some(256 * KIB as u64)));
    let text = err.to_string();
    assert!(
        text.contains("RLIMIT_MEMLOCK") && text.contains("262144"),
        "{text}"
    );
    // A failed registration leaves the regions as they were.
    assert_eq!(
        pool.get(1).fixed(),
        Fixed::Unregistered(Unregistered::NotRegistered)
    );
    println!("memlock child: ok: {text}");
}
