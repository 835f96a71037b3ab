//! Proves with a counting global allocator that the zero-copy operations
//! allocate nothing, that a warm get/drop allocates nothing, that
//! `into_bytes` makes exactly one small allocation, and that nothing leaks
//! when a pool is dropped before its buffers.
//!
//! Every pool here is heap-backed (`Backing::Heap`): the counts are the
//! global allocator's, which region-backed blocks never reach.
//!
//! Allocations are counted per thread, so the test harness cannot disturb
//! the counts; the leak check uses a process-wide byte count and therefore
//! lives in the single test of this file.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

use bytes::{Buf, Bytes};
use tierpool::{Backing, Pool, PooledBuf, SharedBuf};

mod common;
use common::assert_all_returned;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Bytes allocated and not yet freed, by every thread.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

fn count(size: usize) {
    // `try_with`: allocations during thread teardown are not counted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    LIVE_BYTES.fetch_add(size as isize, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments; the
// counting touches only a const-initialised thread-local `Cell` (which never
// allocates) and an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations this
/// thread made meanwhile.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    let after = ALLOCATIONS.with(Cell::get);
    (result, after - before)
}

#[track_caller]
fn assert_no_alloc<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let (result, n) = allocations(f);
    assert_eq!(n, 0, "{what} allocated {n} times");
    result
}

fn filled(pool: &Pool, n: usize) -> PooledBuf {
    let mut buf = pool.get(n);
    buf.resize(n, 0x5A);
    buf
}

#[test]
fn zero_copy_operations_do_not_allocate() {
    // The counter works.
    let (v, n) = allocations(|| vec![1u8; 10]);
    assert_eq!(n, 1);
    drop(v);

    let pool = Pool::builder().backing(Backing::Heap).build().unwrap();
    // Warm up: the first use of a tier creates this thread's cache.
    for size in [100, 5000, 70_000] {
        let bufs: Vec<PooledBuf> = (0..3).map(|_| pool.get(size)).collect();
        drop(bufs);
    }

    let rounds = if cfg!(miri) { 10 } else { 1000 };
    // Warm-cache get + write + drop, every tier.
    assert_no_alloc("warm get/drop", || {
        for i in 0..rounds {
            for size in [100, 5000, 70_000] {
                let mut buf = pool.get(size);
                buf.extend_from_slice(&[i as u8; 64]);
                drop(buf);
            }
        }
    });
    assert_no_alloc("warm try_get/drop", || {
        drop(pool.try_get(10).unwrap());
    });

    // freeze, clone, slice, splits, truncation, Buf consumption.
    let buf = filled(&pool, 1000);
    let view: SharedBuf = assert_no_alloc("freeze", || buf.freeze());
    let clone = assert_no_alloc("clone", || view.clone());
    let slice = assert_no_alloc("slice", || view.slice(10..20));
    let _ = assert_no_alloc("try_slice", || view.try_slice(5..));
    let mut rest = view.clone();
    let head = assert_no_alloc("SharedBuf::split_to", || rest.split_to(100));
    let tail = assert_no_alloc("SharedBuf::split_off", || rest.split_off(500));
    assert_no_alloc("truncate", || rest.truncate(10));
    assert_no_alloc("Buf::get_u32/advance", || {
        assert_eq!(rest.get_u32(), 0x5A5A_5A5A);
        rest.advance(2);
    });
    assert_eq!((head.len(), tail.len(), rest.len()), (100, 400, 4));
    assert_no_alloc("dropping views", || {
        drop((view, clone, slice, head, tail, rest))
    });

    let mut writer = pool.get(4000);
    writer.extend_from_slice(&[1; 3000]);
    let frame = assert_no_alloc("PooledBuf::split_to", || writer.split_to(1000));
    let frame2 = assert_no_alloc("PooledBuf::split_to + freeze", || {
        let f = writer.split_to(500);
        writer.extend_from_slice(&[2; 100]);
        f
    });
    // Growth of a split buffer takes a warm block.
    let old = writer.as_ptr();
    assert_no_alloc("growth into a warm block", || {
        writer.extend_from_slice(&[3; 2000]);
    });
    assert_ne!(writer.as_ptr(), old, "the buffer moved");
    assert_eq!(writer.tier(), Some(4096));
    assert_no_alloc("growth into a warm block of the next tier", || {
        writer.extend_from_slice(&[4; 1000]);
    });
    assert_eq!(writer.tier(), Some(64 << 10));
    let unique = frame2;
    assert_no_alloc("try_into_mut", || {
        let buf = unique.try_into_mut().unwrap_err();
        drop(buf);
    });
    assert_no_alloc("dropping the last view", || drop((frame, writer)));

    // into_bytes: exactly one small control block.
    let view = filled(&pool, 200).freeze();
    let ptr = view.as_ptr();
    let (bytes, n) = allocations(|| view.into_bytes());
    assert_eq!(n, 1, "into_bytes allocated {n} times");
    assert_eq!(bytes.as_ptr(), ptr);
    let more: Vec<Bytes> = Vec::with_capacity(3);
    let more = assert_no_alloc("Bytes clone/slice", || {
        let mut more = more;
        more.push(bytes.clone());
        more.push(bytes.slice(1..5));
        more.push(bytes.slice(..0));
        more
    });
    assert_no_alloc("dropping Bytes", || drop((bytes, more)));

    let (bytes, n) = allocations(|| Bytes::from(filled(&pool, 10).freeze()));
    assert_eq!(n, 1, "From<SharedBuf> for Bytes allocated {n} times");
    drop(bytes);
    let empty = filled(&pool, 0).freeze();
    let bytes = assert_no_alloc("empty into_bytes", || empty.into_bytes());
    assert!(bytes.is_empty());
    let mut view = filled(&pool, 64).freeze();
    let (piece, n) = allocations(|| view.copy_to_bytes(8));
    assert_eq!(n, 1, "copy_to_bytes allocated {n} times");
    drop((piece, view));
    assert_all_returned(&pool);
    drop(pool);

    leak_check();
}

/// A pool dropped before its buffers frees everything once they are gone.
fn leak_check() {
    // A first pool, used and dropped, sets up this thread's cache table and
    // the slot registry, which persist.
    let warm = Pool::builder()
        .backing(Backing::Heap)
        .tiers([64, 4096])
        .build()
        .unwrap();
    drop((warm.get(1), warm.get(1000), warm.get(10_000)));
    drop(warm);

    let baseline = LIVE_BYTES.load(Ordering::Relaxed);
    let pool = Pool::builder()
        .backing(Backing::Heap)
        .tiers([64, 4096])
        .build()
        .unwrap();
    let mut small = pool.get(10);
    small.extend_from_slice(b"small");
    let view = filled(&pool, 1000).freeze();
    let slice = view.slice(1..10);
    let bytes = view.clone().into_bytes();
    let big = filled(&pool, 10_000);
    let mut split = filled(&pool, 100);
    let head = split.split_to(10);
    drop((pool.get(1), pool.get(1), pool.get(1))); // idle blocks
    assert!(LIVE_BYTES.load(Ordering::Relaxed) > baseline);
    drop(pool);
    small.extend_from_slice(&[0; 100]); // grows through the closed pool
    drop((view, small, big));
    drop((slice, head));
    drop((bytes, split));
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    assert_eq!(after, baseline, "{} bytes leaked", after - baseline);

    reclaim_check();
}

/// Spawns a thread that caches `count` buffers of `capacity` bytes from
/// `pool`, drops its handle and parks until the returned sender is used.
fn park_with_cached(
    pool: &Pool,
    capacity: usize,
    count: usize,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (filled_tx, filled_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let pool = pool.clone();
    let handle = std::thread::spawn(move || {
        let held: Vec<_> = (0..count).map(|_| pool.get(capacity)).collect();
        drop(held);
        drop(pool);
        filled_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    filled_rx.recv().unwrap();
    (release_tx, handle)
}

/// Trims from one thread free the memory other threads cached, parked ones
/// included; closing the pool does too; and trims racing gets and returns
/// neither lose nor free twice a single byte.
fn reclaim_check() {
    const BLOCK: usize = 64 * 1024;
    let reaches = tierpool::Pool::trims_reach_parked_threads();

    // A trim frees a parked thread's cached blocks.
    let pool = Pool::builder()
        .backing(Backing::Heap)
        .tiers([BLOCK])
        .build()
        .unwrap();
    let (release, parked) = park_with_cached(&pool, BLOCK, 4);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    pool.trim();
    let freed = before - LIVE_BYTES.load(Ordering::Relaxed);
    if reaches {
        assert!(freed >= 4 * BLOCK as isize, "the trim freed {freed} bytes");
    }
    release.send(()).unwrap();
    parked.join().unwrap();
    drop(pool);

    // Closing the pool frees a parked thread's cached blocks.
    let pool = Pool::builder()
        .backing(Backing::Heap)
        .tiers([BLOCK])
        .build()
        .unwrap();
    let (release, parked) = park_with_cached(&pool, BLOCK, 4);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    drop(pool);
    let freed = before - LIVE_BYTES.load(Ordering::Relaxed);
    if reaches {
        assert!(freed >= 4 * BLOCK as isize, "closing freed {freed} bytes");
    }
    release.send(()).unwrap();
    parked.join().unwrap();

    // Racing trims: every byte comes back exactly once.
    warm_up_parking_lot();
    let baseline = LIVE_BYTES.load(Ordering::Relaxed);
    let rounds = if cfg!(miri) { 30 } else { 20_000 };
    let pool = Pool::builder()
        .backing(Backing::Heap)
        .tiers([64, 4096])
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trimmer = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                pool.trim();
                pool.trim_idle();
                std::thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for round in 0..rounds {
                    held.push(pool.get(if round % 3 == 0 { 3000 } else { 50 }));
                    if held.len() > 5 {
                        held.clear();
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    trimmer.join().unwrap();
    assert_all_returned(&pool);
    drop((pool, stop));
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    assert_eq!(after, baseline, "{} bytes leaked", after - baseline);
}

/// Makes eight threads park on a `parking_lot` mutex at once. parking_lot
/// allocates its global table of parked threads the first time a thread
/// parks, and grows it as more threads park at once; it is never freed.
/// The pool's locks (depots, registries) park when contended, so without
/// this the first contention inside a measured section would count as a
/// leak of about a kilobyte.
fn warm_up_parking_lot() {
    if cfg!(miri) {
        // The pool uses `std`'s mutex under Miri, which allocates nothing.
        return;
    }
    let lock = std::sync::Arc::new(parking_lot::Mutex::new(()));
    let held = lock.lock();
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let lock = lock.clone();
            std::thread::spawn(move || drop(lock.lock()))
        })
        .collect();
    // Long enough for every waiter to stop spinning and park.
    std::thread::sleep(std::time::Duration::from_millis(50));
    drop(held);
    for waiter in waiters {
        waiter.join().unwrap();
    }
}
