//! Proves that every fallible path of the pool survives a refusal of the
//! global allocator: the error (or, for the infallible twins, the
//! documented panic) reaches the caller, nothing stays in use, nothing
//! stays charged to a pool's `max_in_use_bytes` or to a `Quota`, a buffer
//! or chain that could not grow keeps its bytes, and the pool serves
//! normally once memory is back.
//!
//! The paths: `Pool::try_get`, `Pool::get` and `Pool::get_async` (a tier
//! miss and an oversize request; `try_get` serves an idle block without
//! allocating); `Quota::try_get`, `Quota::get` and `Quota::get_async`; a
//! waiter of `Pool::get_async` or `Quota::get_async` whose block is refused
//! (its bytes pass to the next waiter, which is woken);
//! `PooledChain::try_reserve_block`, `reserve_block_async`, `reserve_block`
//! and `put_slice`; `PooledBuf::try_reserve`, `reserve` and
//! `extend_from_slice` (growth to a larger tier, past the largest, and
//! after the pool is gone); the copies (`PooledBuf::clone`,
//! `PooledBuf::from(SharedBuf)`); with feature `tokio`,
//! `FrameReader::read_frame` (mid-frame, and after waiting for its quota)
//! and `read_chain` / `read_chain_into`, which fail with an `io::Error`
//! of kind `OutOfMemory`; and region backing (`Backing::Regions`): its
//! blocks never reach the global allocator, and a region that cannot be
//! mapped falls back to the heap, or, with `RegionConfig::strict`, fails
//! with `PoolError::Backing` (the fallback that `Backing::default`
//! documents).
//!
//! The global allocator of this test binary wraps `System` and refuses
//! (returns null) on demand: on one thread only, and only allocations of
//! at least a given size (a block; the pool's own bookkeeping is smaller),
//! optionally after letting a given number of them through. So only the
//! code under test sees refusals, never the test harness, and each test
//! asserts how many allocations were refused. A panic hook turns refusal
//! off on the panicking thread, so the panic machinery (and the harness's
//! capture of its message) never sees one.
//!
//! Pools are heap-backed (`Backing::Heap`) except in the region tests:
//! region-backed blocks never reach the global allocator. Where regions
//! are `mmap`ed (Linux), a refused map is made with a lowered `RLIMIT_AS`
//! in a child process of this binary that runs that one test alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Wake, Waker};

use bytes::BufMut;
use futures::executor::block_on;
use tierpool::{
    Backing, BackingOp, LeakDetection, Pool, PoolBuilder, PoolError, PooledBuf, PooledChain, Quota,
    RegionConfig,
};

mod common;
use common::{assert_all_returned, panic_message};

// ---------------------------------------------------------------------------
// The refusing allocator.

struct Refusing;

thread_local! {
    /// Allocations of at least this many bytes are refused on this thread
    /// (`usize::MAX`: none is).
    static REFUSE_FROM: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Allocations of at least `REFUSE_FROM` bytes still let through before
    /// refusals begin.
    static LET_THROUGH: Cell<usize> = const { Cell::new(0) };
    /// Allocations refused on this thread so far.
    static REFUSED: Cell<usize> = const { Cell::new(0) };
}

/// Whether an allocation of `size` bytes on this thread is refused (and
/// counts it). Touches only const-initialised thread-local `Cell`s, which
/// never allocate; `try_with`: never during thread teardown.
fn refuse(size: usize) -> bool {
    REFUSE_FROM
        .try_with(|from| {
            if size < from.get() {
                return false;
            }
            let through = LET_THROUGH.with(Cell::get);
            if through > 0 {
                LET_THROUGH.with(|n| n.set(through - 1));
                return false;
            }
            REFUSED.with(|n| n.set(n.get() + 1));
            true
        })
        .unwrap_or(false)
}

// SAFETY: every method forwards to `System` with the caller's arguments, or
// returns null, which `GlobalAlloc` allows for any allocation (the caller
// must handle it); `dealloc` always forwards.
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if refuse(new_size) {
            // The old allocation stays valid, as `realloc` promises.
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Refusing = Refusing;

/// Turns refusal off on this thread.
fn stop_refusing() {
    let _ = REFUSE_FROM.try_with(|from| from.set(usize::MAX));
    let _ = LET_THROUGH.try_with(|n| n.set(0));
}

/// Refusal on this thread, until dropped or until this thread panics.
#[must_use = "refusal ends when the guard drops"]
struct Refusal {
    refused_before: usize,
}

impl Refusal {
    /// Allocations refused since the guard was made.
    fn refused(&self) -> usize {
        REFUSED.with(Cell::get) - self.refused_before
    }
}

impl Drop for Refusal {
    fn drop(&mut self) {
        stop_refusing();
    }
}

/// Refuses every allocation of at least `bytes` bytes on this thread.
fn refuse_at_least(bytes: usize) -> Refusal {
    refuse_at_least_after(bytes, 0)
}

/// Lets the next `let_through` allocations of at least `bytes` bytes on
/// this thread through, then refuses every later one.
fn refuse_at_least_after(bytes: usize, let_through: usize) -> Refusal {
    // A panic turns refusal off before anything else runs: the panic
    // machinery allocates, and an allocation failure there aborts.
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            stop_refusing();
            previous(info);
        }));
    });
    LET_THROUGH.with(|n| n.set(let_through));
    REFUSE_FROM.with(|from| from.set(bytes));
    Refusal {
        refused_before: REFUSED.with(Cell::get),
    }
}

/// Whether this thread refuses allocations now.
fn refusing() -> bool {
    REFUSE_FROM.with(Cell::get) != usize::MAX
}

// ---------------------------------------------------------------------------
// Pools and checks.

/// The tiers of every pool here: the refusals are aimed at one of them.
const SMALL: usize = 4 << 10;
const LARGE: usize = 64 << 10;

/// Heap-backed pools of the two tiers.
fn builder() -> PoolBuilder {
    Pool::builder().tiers([SMALL, LARGE]).backing(Backing::Heap)
}

fn heap_pool() -> Pool {
    builder().build().unwrap()
}

/// A heap-backed pool with a cap on the bytes in use, whose hand-outs are
/// all followed (so that a refused one left in the log would show).
fn capped_pool(max_in_use: usize) -> Pool {
    builder()
        .max_in_use_bytes(max_in_use)
        .leak_detection(LeakDetection::Full { backtraces: false })
        .build()
        .unwrap()
}

/// Uses every tier of `pool` once on this thread (so that its cache exists
/// before anything is refused), then frees every idle block, so that the
/// next get of any tier allocates.
fn warm(pool: &Pool) {
    drop((pool.get(1), pool.get(SMALL + 1)));
    pool.trim();
    assert_eq!(pool.stats().cached_bytes(), 0, "{:?}", pool.stats());
    assert_nothing_in_use(pool);
}

/// Nothing of `pool` is handed out, charged or followed.
#[track_caller]
fn assert_nothing_in_use(pool: &Pool) {
    let stats = pool.stats();
    assert_eq!(stats.in_use_bytes(), 0, "{stats:?}");
    assert_all_returned(pool);
    if let Some(limit) = stats.in_use_limit {
        assert_eq!(limit.used, 0, "charged to max_in_use_bytes: {stats:?}");
    }
    assert_eq!(stats.quotas.used, 0, "charged to quotas: {stats:?}");
    assert_eq!(stats.waiting.requests, 0, "{stats:?}");
    assert!(pool.outstanding().is_empty(), "{:?}", pool.outstanding());
}

/// The bytes charged to `pool`'s `max_in_use_bytes`.
fn charged(pool: &Pool) -> u64 {
    pool.stats().in_use_limit.expect("a capped pool").used
}

/// `len` distinct-looking bytes: a misplaced block or offset shows. A
/// pattern of a prime period, repeated by copies (which Miri runs fast).
fn sample(seed: u64, len: usize) -> Vec<u8> {
    let unit = common::chains::pattern(seed, 251);
    let mut bytes = unit.repeat(len / unit.len() + 1);
    bytes.truncate(len);
    bytes
}

/// Writes `bytes` into `buf` and reads them back.
#[track_caller]
fn assert_holds(mut buf: PooledBuf, bytes: &[u8]) {
    buf.extend_from_slice(bytes);
    assert_eq!(&buf[..], bytes);
}

/// With memory back, `pool` serves a buffer of `capacity` bytes that holds
/// what is written to it, and takes it back.
#[track_caller]
fn assert_serves(pool: &Pool, capacity: usize) {
    assert!(!refusing());
    let buf = pool.get(capacity);
    assert!(buf.capacity() >= capacity);
    assert_holds(buf, &sample(capacity as u64, capacity));
    assert_nothing_in_use(pool);
}

/// [`assert_serves`] through `quota`, whose charge comes and goes.
#[track_caller]
fn assert_quota_serves(quota: &Quota, capacity: usize) {
    assert!(!refusing());
    let buf = quota.try_get(capacity).expect("memory is back");
    assert_eq!(quota.stats().used, buf.capacity());
    assert_holds(buf, &sample(capacity as u64, capacity));
    assert_eq!(quota.stats().used, 0);
    assert_nothing_in_use(quota.pool());
}

/// Runs `f`, which must panic for want of `capacity` bytes.
#[track_caller]
fn assert_alloc_panic<R>(capacity: usize, f: impl FnOnce() -> R) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(f)) else {
        panic!("expected a panic for want of {capacity} bytes");
    };
    assert!(!refusing(), "the panic hook turns refusal off");
    let message = panic_message(&*payload);
    let expected = format!(
        "tierpool: cannot allocate a buffer: the allocator failed to provide {capacity} bytes"
    );
    assert!(message.contains(&expected), "{message}");
}

/// A waker that records that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Flag {
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------
// The allocator itself.

#[test]
fn the_switch_refuses_only_on_its_thread_and_only_what_it_names() {
    fn try_alloc(n: usize) -> Result<Vec<u8>, std::collections::TryReserveError> {
        let mut v = Vec::new();
        v.try_reserve_exact(n).map(|()| v)
    }
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let other = Arc::clone(&barrier);
    let elsewhere = std::thread::spawn(move || {
        other.wait(); // while the test thread refuses
        try_alloc(SMALL).is_ok()
    });
    let guard = refuse_at_least_after(SMALL, 1);
    let small = try_alloc(SMALL - 1); // below the threshold
    let first = try_alloc(SMALL); // let through
    let second = try_alloc(SMALL); // refused
    barrier.wait();
    let elsewhere = elsewhere.join().unwrap();
    assert_eq!(guard.refused(), 1);
    drop(guard);
    let after = try_alloc(SMALL);
    assert!(small.is_ok());
    assert!(first.is_ok());
    assert!(second.is_err());
    assert!(after.is_ok(), "dropping the guard ends refusal");
    assert!(elsewhere, "another thread is not refused");
}

// ---------------------------------------------------------------------------
// Pool::try_get, Pool::get, Pool::get_async.

#[test]
fn try_get_reports_a_refused_tier_miss() {
    let pool = heap_pool();
    warm(&pool);
    let misses =
        |pool: &Pool| -> Vec<u64> { pool.stats().tiers.iter().map(|t| t.misses).collect() };
    let before = misses(&pool);
    {
        let refusal = refuse_at_least(SMALL);
        assert_eq!(
            pool.try_get(100).unwrap_err(),
            PoolError::OutOfMemory { capacity: SMALL }
        );
        assert_eq!(
            pool.try_get(SMALL + 1).unwrap_err(),
            PoolError::OutOfMemory { capacity: LARGE }
        );
        assert_eq!(refusal.refused(), 2);
        assert_nothing_in_use(&pool);
        assert_eq!(misses(&pool), before, "a refusal is no miss");
    }
    {
        // An idle block is served while the allocator refuses.
        drop(pool.get(100)); // idle in this thread's cache
        let refusal = refuse_at_least(SMALL);
        let reused = pool
            .try_get(100)
            .expect("an idle block needs no allocation");
        assert_eq!(refusal.refused(), 0);
        drop(reused);
    }
    assert_nothing_in_use(&pool);
    pool.trim();
    assert_serves(&pool, 100);
    assert_serves(&pool, SMALL + 1);
}

#[test]
fn get_panics_on_a_refused_tier_miss() {
    let pool = heap_pool();
    warm(&pool);
    let refusal = refuse_at_least(SMALL);
    assert_alloc_panic(LARGE, || pool.get(SMALL + 1));
    assert_eq!(refusal.refused(), 1);
    drop(refusal);
    assert_nothing_in_use(&pool);
    assert_serves(&pool, SMALL + 1);
}

#[test]
fn a_refused_oversize_request_holds_nothing() {
    let pool = heap_pool();
    warm(&pool);
    let oversize = 2 * LARGE;
    {
        let refusal = refuse_at_least(SMALL);
        // `try_get` never serves oversize requests: it asks for nothing.
        assert_eq!(
            pool.try_get(oversize).unwrap_err(),
            PoolError::Oversize {
                requested: oversize,
                largest_tier: LARGE
            }
        );
        assert_eq!(refusal.refused(), 0);
        assert_eq!(
            block_on(pool.get_async(oversize)).unwrap_err(),
            PoolError::OutOfMemory { capacity: oversize }
        );
        assert_eq!(refusal.refused(), 1);
        assert_alloc_panic(oversize, || pool.get(oversize));
        assert_eq!(refusal.refused(), 2);
    }
    assert_eq!(pool.stats().oversize.allocations, 0);
    assert_nothing_in_use(&pool);
    assert_serves(&pool, oversize);
    assert_eq!(pool.stats().oversize.allocations, 1);
}

#[test]
fn get_async_reports_a_refused_block_and_releases_its_charge() {
    for pool in [heap_pool(), capped_pool(4 * LARGE)] {
        warm(&pool);
        {
            let refusal = refuse_at_least(SMALL);
            assert_eq!(
                block_on(pool.get_async(1)).unwrap_err(),
                PoolError::OutOfMemory { capacity: SMALL }
            );
            assert_eq!(
                block_on(pool.get_async(3 * LARGE)).unwrap_err(),
                PoolError::OutOfMemory {
                    capacity: 3 * LARGE
                }
            );
            assert_eq!(refusal.refused(), 2);
            assert_nothing_in_use(&pool);
        }
        assert_eq!(pool.stats().exhausted, 0, "a refusal is no exhaustion");
        assert_serves(&pool, 1);
        assert_serves(&pool, 3 * LARGE);
    }
}

/// A request that waited for memory under a cap and whose block is then
/// refused gives its bytes to the next waiter, and wakes it.
fn check_refused_waiter<F>(pool: &Pool, hold: impl Fn() -> PooledBuf, get: impl Fn() -> F)
where
    F: Future<Output = Result<PooledBuf, PoolError>>,
{
    warm(pool);
    let held = [hold(), hold()]; // the cap is reached
    let (first_woken, second_woken) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
    let (first_waker, second_waker) = (
        Waker::from(Arc::clone(&first_woken)),
        Waker::from(Arc::clone(&second_woken)),
    );
    let mut first = pin!(get());
    let mut second = pin!(get());
    assert!(first
        .as_mut()
        .poll(&mut Context::from_waker(&first_waker))
        .is_pending());
    assert!(second
        .as_mut()
        .poll(&mut Context::from_waker(&second_waker))
        .is_pending());
    let [returned, kept] = held;
    drop(returned); // its bytes go to `first`...
    pool.trim(); // ...and its block is freed: `first` must allocate
    assert!(first_woken.take());
    assert!(!second_woken.take());
    {
        let refusal = refuse_at_least(SMALL);
        let polled = first.as_mut().poll(&mut Context::from_waker(&first_waker));
        assert!(
            matches!(
                polled,
                Poll::Ready(Err(PoolError::OutOfMemory { capacity: SMALL }))
            ),
            "{polled:?}"
        );
        assert_eq!(refusal.refused(), 1);
    }
    assert!(
        second_woken.take(),
        "the refused bytes pass to the next waiter"
    );
    let Poll::Ready(served) = second
        .as_mut()
        .poll(&mut Context::from_waker(&second_waker))
    else {
        panic!("the next waiter is served");
    };
    let served = served.unwrap();
    assert_eq!(pool.stats().waiting.requests, 0);
    assert_holds(served, b"served");
    drop(kept);
    assert_nothing_in_use(pool);
    assert_serves(pool, 1);
}

#[test]
fn a_waiter_of_get_async_whose_block_is_refused_passes_its_bytes_on() {
    let pool = capped_pool(2 * SMALL);
    check_refused_waiter(&pool, || pool.get(1), || pool.get_async(1));
    assert_eq!(charged(&pool), 0);
}

// ---------------------------------------------------------------------------
// Quotas.

#[test]
fn quota_try_get_and_get_release_both_charges_on_refusal() {
    let pool = capped_pool(4 * LARGE);
    let quota = pool.quota(2 * LARGE);
    warm(&pool);
    let held = quota.get(1);
    {
        let refusal = refuse_at_least(SMALL);
        assert_eq!(
            quota.try_get(SMALL + 1).unwrap_err(),
            PoolError::OutOfMemory { capacity: LARGE }
        );
        assert_eq!(refusal.refused(), 1);
        assert_eq!(quota.stats().used, SMALL, "only the held buffer");
        assert_eq!(charged(&pool), SMALL as u64);

        assert_alloc_panic(LARGE, || quota.get(SMALL + 1));
        assert_eq!(refusal.refused(), 2);
        assert_eq!(quota.stats().used, SMALL);
        assert_eq!(charged(&pool), SMALL as u64);
    }
    let stats = quota.stats();
    assert_eq!((stats.gets, stats.exhausted, stats.over_limit), (1, 0, 0));
    drop(held);
    assert_eq!(quota.stats().used, 0);
    assert_nothing_in_use(&pool);
    assert_quota_serves(&quota, SMALL + 1);
}

#[test]
fn quota_oversize_requests_release_both_charges_on_refusal() {
    let pool = capped_pool(4 * LARGE);
    let quota = pool.quota(4 * LARGE);
    warm(&pool);
    let oversize = 2 * LARGE;
    {
        let refusal = refuse_at_least(SMALL);
        assert!(matches!(
            quota.try_get(oversize),
            Err(PoolError::Oversize { .. })
        ));
        assert_eq!(refusal.refused(), 0, "try_get asks for no oversize block");
        assert_eq!(
            block_on(quota.get_async(oversize)).unwrap_err(),
            PoolError::OutOfMemory { capacity: oversize }
        );
        assert_alloc_panic(oversize, || quota.get(oversize));
        assert_eq!(refusal.refused(), 2);
    }
    assert_eq!(quota.stats().used, 0);
    assert_eq!(quota.stats().gets, 0);
    assert_nothing_in_use(&pool);
    let buf = quota.get(oversize);
    assert_eq!(quota.stats().used, oversize);
    assert_holds(buf, &sample(1, oversize));
    assert_eq!(quota.stats().used, 0);
    assert_nothing_in_use(&pool);
}

#[test]
fn quota_get_async_releases_both_charges_on_refusal() {
    let pool = capped_pool(4 * LARGE);
    let quota = pool.quota(2 * LARGE);
    warm(&pool);
    {
        let refusal = refuse_at_least(SMALL);
        assert_eq!(
            block_on(quota.get_async(1)).unwrap_err(),
            PoolError::OutOfMemory { capacity: SMALL }
        );
        assert_eq!(refusal.refused(), 1);
    }
    assert_eq!(quota.stats().used, 0);
    assert_nothing_in_use(&pool);
    assert_quota_serves(&quota, 1);
}

#[test]
fn a_waiter_of_quota_get_async_whose_block_is_refused_passes_its_bytes_on() {
    let pool = capped_pool(4 * LARGE);
    let quota = pool.quota(2 * SMALL);
    check_refused_waiter(&pool, || quota.get(1), || quota.get_async(1));
    let stats = quota.stats();
    assert_eq!((stats.used, stats.waiting), (0, 0));
}

// ---------------------------------------------------------------------------
// Chains.

/// Refuses the next block of `chain` (which holds `SMALL` bytes in one full
/// `SMALL` block) through every reservation, and checks that the chain
/// and every charge are unchanged and that the chain goes on once memory
/// is back. `quota`: the quota the chain is charged to.
fn check_chain_refusals(pool: &Pool, mut chain: PooledChain, quota: Option<&Quota>) {
    let head = sample(7, SMALL);
    chain.put_slice(&head);
    pool.trim(); // the next block is a miss
    assert_eq!(pool.stats().cached_bytes(), 0);
    assert_eq!((chain.len(), chain.spare_capacity()), (SMALL, 0));
    let unchanged = |chain: &PooledChain| {
        assert_eq!(chain.len(), SMALL);
        assert_eq!(chain.spare_capacity(), 0);
        assert_eq!(chain.segment_count(), 1);
        assert_eq!(charged(pool), SMALL as u64);
        if let Some(quota) = quota {
            assert_eq!(quota.stats().used, SMALL);
        }
        assert_eq!(pool.stats().in_use_bytes(), SMALL as u64);
    };
    {
        let refusal = refuse_at_least(SMALL);
        assert_eq!(
            chain.try_reserve_block(100).unwrap_err(),
            PoolError::OutOfMemory { capacity: SMALL }
        );
        unchanged(&chain);
        assert_eq!(
            block_on(chain.reserve_block_async(100)).unwrap_err(),
            PoolError::OutOfMemory { capacity: SMALL }
        );
        unchanged(&chain);
        assert_alloc_panic(SMALL, || chain.reserve_block(100));
        unchanged(&chain);
        assert_eq!(refusal.refused(), 3);
    }
    {
        // Writing past the full block reserves one: the same panic.
        let refusal = refuse_at_least(SMALL);
        assert_alloc_panic(SMALL, || chain.put_slice(b"more"));
        assert_eq!(refusal.refused(), 1);
        unchanged(&chain);
    }
    let tail = sample(8, 100);
    chain.try_reserve_block(tail.len()).expect("memory is back");
    chain.put_slice(&tail);
    let message = chain.freeze();
    assert_eq!(message.to_vec(), [head, tail].concat());
    drop(message);
    if let Some(quota) = quota {
        assert_eq!(quota.stats().used, 0);
    }
    assert_nothing_in_use(pool);
}

#[test]
fn chain_reservations_leave_the_chain_and_the_charges_unchanged_on_refusal() {
    let pool = Pool::builder()
        .tiers([SMALL, LARGE])
        .segment_capacity(SMALL)
        .max_in_use_bytes(4 * LARGE)
        .leak_detection(LeakDetection::Full { backtraces: false })
        .backing(Backing::Heap)
        .build()
        .unwrap();
    warm(&pool);
    check_chain_refusals(&pool, pool.chain(), None);
    let quota = pool.quota(2 * LARGE);
    check_chain_refusals(&pool, quota.chain(), Some(&quota));
    assert_quota_serves(&quota, 1);
}

// ---------------------------------------------------------------------------
// Growth of a PooledBuf.

#[test]
fn try_reserve_keeps_the_contents_and_the_charges_on_refusal() {
    let pool = capped_pool(8 * LARGE);
    let quota = pool.quota(4 * LARGE);
    warm(&pool);
    let bytes = sample(3, 3000);
    let mut buf = quota.get(100);
    buf.extend_from_slice(&bytes);
    let unchanged = |buf: &PooledBuf| {
        assert_eq!(&buf[..], &bytes[..]);
        assert_eq!(buf.capacity(), SMALL);
        assert_eq!(quota.stats().used, SMALL);
        assert_eq!(charged(&pool), SMALL as u64);
        let stats = pool.stats();
        assert_eq!(stats.in_use_bytes(), SMALL as u64, "{stats:?}");
        assert_eq!(stats.oversize.allocations, 0);
    };
    {
        let refusal = refuse_at_least(LARGE);
        // To the next tier.
        assert_eq!(
            buf.try_reserve(SMALL).unwrap_err(),
            PoolError::OutOfMemory { capacity: LARGE }
        );
        unchanged(&buf);
        // Past the largest tier: a plain allocation of what is needed.
        let needed = bytes.len() + 2 * LARGE;
        assert_eq!(
            buf.try_reserve(2 * LARGE).unwrap_err(),
            PoolError::OutOfMemory { capacity: needed }
        );
        unchanged(&buf);
        // Room that the block has needs no allocation.
        buf.try_reserve(SMALL - bytes.len())
            .expect("fits the block");
        assert_eq!(refusal.refused(), 2);
    }
    unchanged(&buf);
    buf.try_reserve(SMALL).expect("memory is back");
    assert_eq!(&buf[..], &bytes[..]);
    assert_eq!(buf.capacity(), LARGE);
    assert_eq!(quota.stats().used, LARGE);
    drop(buf);
    assert_eq!(quota.stats().used, 0);
    assert_nothing_in_use(&pool);
    assert_quota_serves(&quota, SMALL + 1);
}

#[test]
fn extend_from_slice_panics_on_refused_growth_and_keeps_the_contents() {
    for pool in [heap_pool(), capped_pool(8 * LARGE)] {
        warm(&pool);
        let bytes = sample(4, 3000);
        let more = sample(5, 2000);
        let mut buf = pool.get(100);
        buf.extend_from_slice(&bytes);
        {
            let refusal = refuse_at_least(LARGE);
            assert_alloc_panic(LARGE, || buf.extend_from_slice(&more));
            assert_eq!(refusal.refused(), 1);
        }
        assert_eq!(&buf[..], &bytes[..]);
        assert_eq!(buf.capacity(), SMALL);
        let stats = pool.stats();
        assert_eq!(stats.in_use_bytes(), SMALL as u64, "{stats:?}");
        if let Some(limit) = stats.in_use_limit {
            assert_eq!(limit.used, SMALL as u64);
        }
        buf.extend_from_slice(&more);
        assert_eq!(&buf[..], &[&bytes[..], &more[..]].concat()[..]);
        assert_eq!(buf.capacity(), LARGE);
        drop(buf);
        assert_nothing_in_use(&pool);
        assert_serves(&pool, SMALL + 1);
    }
}

#[test]
fn growth_of_a_buffer_whose_pool_is_gone_reports_a_refusal() {
    let pool = heap_pool();
    warm(&pool);
    let bytes = sample(12, 3000);
    let mut buf = pool.get(100);
    buf.extend_from_slice(&bytes);
    // Closed: growth allocates outside every cache. (Under Miri, a block
    // leaked here would fail the run.)
    drop(pool);
    {
        let refusal = refuse_at_least(LARGE);
        assert_eq!(
            buf.try_reserve(SMALL).unwrap_err(),
            PoolError::OutOfMemory { capacity: LARGE }
        );
        assert_alloc_panic(LARGE, || buf.reserve(SMALL));
        assert_eq!(refusal.refused(), 2);
    }
    assert_eq!((&buf[..], buf.capacity()), (&bytes[..], SMALL));
    buf.try_reserve(SMALL).expect("memory is back");
    assert_eq!((&buf[..], buf.capacity()), (&bytes[..], LARGE));
}

#[test]
fn copies_panic_on_refusal_and_leave_the_original() {
    let pool = capped_pool(8 * LARGE);
    warm(&pool);
    let bytes = sample(13, 3000);
    let mut buf = pool.get(100);
    buf.extend_from_slice(&bytes);
    let one_block = |pool: &Pool| {
        let stats = pool.stats();
        assert_eq!(stats.in_use_bytes(), SMALL as u64, "{stats:?}");
        assert_eq!(charged(pool), SMALL as u64);
        assert_eq!(pool.outstanding().len(), 1);
    };
    {
        let refusal = refuse_at_least(SMALL);
        assert_alloc_panic(SMALL, || buf.clone());
        assert_eq!(refusal.refused(), 1);
    }
    one_block(&pool);
    let view = buf.freeze();
    {
        // A view that is not the only one is copied.
        let refusal = refuse_at_least(SMALL);
        assert_alloc_panic(SMALL, || PooledBuf::from(view.clone()));
        assert_eq!(refusal.refused(), 1);
    }
    one_block(&pool);
    assert_eq!(view, bytes[..]);
    let copy = PooledBuf::from(view.clone());
    assert_eq!(&copy[..], &bytes[..]);
    drop((copy, view));
    assert_nothing_in_use(&pool);
    assert_serves(&pool, 1);
}

// ---------------------------------------------------------------------------
// tierpool::io (feature `tokio`).

/// `body` with its big-endian `u32` length prefix.
#[cfg(feature = "tokio")]
fn framed(body: &[u8]) -> Vec<u8> {
    let mut input = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    input.extend_from_slice(body);
    input
}

#[test]
#[cfg(feature = "tokio")]
fn frame_reader_fails_with_out_of_memory_mid_frame_and_holds_nothing() {
    use tierpool::io::FrameReader;

    let pool = capped_pool(8 * LARGE);
    let quota = pool.quota(4 * LARGE);
    // The first read goes into a small block (the prefix and the start of
    // the body); the rest of the body needs a segment, which is refused.
    let body = sample(6, 10_000);
    let input = framed(&body);
    for with_quota in [false, true] {
        warm(&pool); // every block is a miss
        let mut frames = if with_quota {
            FrameReader::with_quota(&input[..], &quota)
        } else {
            FrameReader::new(&input[..], &pool)
        };
        {
            let refusal = refuse_at_least(LARGE);
            let err = block_on(frames.read_frame()).unwrap_err();
            assert_eq!(refusal.refused(), 1);
            assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
            let cause = err.get_ref().and_then(|e| e.downcast_ref::<PoolError>());
            assert_eq!(cause, Some(&PoolError::OutOfMemory { capacity: LARGE }));
        }
        let remaining = frames.get_ref().len();
        assert!(
            remaining < input.len() - 4 && remaining > 0,
            "refused mid-frame: {remaining} bytes left unread"
        );
        // The reader dropped what it held, as its docs say.
        assert_eq!(quota.stats().used, 0);
        assert_nothing_in_use(&pool);
        drop(frames);

        // Memory is back: the same input reads whole.
        let mut frames = if with_quota {
            FrameReader::with_quota(&input[..], &quota)
        } else {
            FrameReader::new(&input[..], &pool)
        };
        let frame = block_on(frames.read_frame()).unwrap().expect("one frame");
        assert_eq!(frame, body);
        assert!(block_on(frames.read_frame()).unwrap().is_none());
        drop(frame);
        assert_eq!(quota.stats().used, 0);
        assert_nothing_in_use(&pool);
    }
}

#[test]
#[cfg(feature = "tokio")]
fn frame_reader_that_waited_for_its_quota_fails_with_out_of_memory_and_holds_nothing() {
    use tierpool::io::FrameReader;

    let pool = capped_pool(8 * LARGE);
    // Room for a large block held outside the reader and one small block.
    let quota = pool.quota(SMALL + LARGE);
    let body = sample(10, 10_000);
    let input = framed(&body);
    warm(&pool);
    let held = quota.get(SMALL + 1);
    let mut frames = FrameReader::with_quota(&input[..], &quota);
    let woken = Arc::new(Flag::default());
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    {
        let mut read = pin!(frames.read_frame());
        // The small block is read into; the next one waits for the quota.
        assert!(read.as_mut().poll(&mut cx).is_pending());
        let stats = quota.stats();
        assert_eq!((stats.used, stats.waiting), (SMALL + LARGE, 1));
        drop(held); // the bytes go to the reader...
        pool.trim(); // ...and the block is freed: the reader must allocate
        assert!(woken.take());
        let refusal = refuse_at_least(LARGE);
        let Poll::Ready(Err(err)) = read.as_mut().poll(&mut cx) else {
            panic!("the refusal ends the read");
        };
        assert_eq!(refusal.refused(), 1);
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
        let cause = err.get_ref().and_then(|e| e.downcast_ref::<PoolError>());
        assert_eq!(cause, Some(&PoolError::OutOfMemory { capacity: LARGE }));
    }
    let stats = quota.stats();
    assert_eq!((stats.used, stats.waiting), (0, 0));
    assert_nothing_in_use(&pool);
    drop(frames);

    let mut frames = FrameReader::with_quota(&input[..], &quota);
    let frame = block_on(frames.read_frame()).unwrap().expect("one frame");
    assert_eq!(frame, body);
    assert!(block_on(frames.read_frame()).unwrap().is_none());
    drop(frame);
    assert_eq!(quota.stats().used, 0);
    assert_nothing_in_use(&pool);
}

#[test]
#[cfg(feature = "tokio")]
fn read_chain_fails_with_out_of_memory_on_a_refused_block_and_holds_nothing() {
    use tierpool::io::{read_chain, read_chain_into};

    let pool = capped_pool(8 * LARGE);
    let quota = pool.quota(4 * LARGE);
    // One segment, then a small block for the last 1000 bytes: the first
    // block is let through, the second refused.
    let body = sample(9, LARGE + 1000);
    for with_quota in [false, true] {
        warm(&pool); // every block is a miss
        let mut input = &body[..];
        let read = {
            let refusal = refuse_at_least_after(SMALL, 1);
            let read = if with_quota {
                block_on(read_chain_into(&mut input, quota.chain(), body.len()))
            } else {
                block_on(read_chain(&mut input, &pool, body.len()))
            };
            assert_eq!(refusal.refused(), 1);
            read
        };
        let err = read.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
        let cause = err.get_ref().and_then(|e| e.downcast_ref::<PoolError>());
        assert_eq!(cause, Some(&PoolError::OutOfMemory { capacity: SMALL }));
        assert_eq!(input.len(), 1000, "the first segment was read");
        assert_eq!(quota.stats().used, 0);
        assert_nothing_in_use(&pool);

        let mut input = &body[..];
        let chain = if with_quota {
            block_on(read_chain_into(&mut input, quota.chain(), body.len()))
        } else {
            block_on(read_chain(&mut input, &pool, body.len()))
        }
        .expect("memory is back");
        assert_eq!(chain, body);
        drop(chain);
        assert_eq!(quota.stats().used, 0);
        assert_nothing_in_use(&pool);
    }
}

// ---------------------------------------------------------------------------
// Region backing.

/// A pool of one small tier carved from regions of `size` bytes.
fn region_pool(size: usize, strict: bool) -> Pool {
    Pool::builder()
        .tiers([SMALL])
        .backing(Backing::Regions(
            RegionConfig::new().size(size).strict(strict),
        ))
        .build()
        .unwrap()
}

#[test]
fn region_blocks_never_reach_the_global_allocator() {
    let pool = region_pool(1 << 20, false);
    let first = pool.get(1); // maps the region
    let more = {
        let refusal = refuse_at_least(SMALL);
        let more: Vec<PooledBuf> = (0..3)
            .map(|_| pool.try_get(1).expect("a slot of the region"))
            .collect();
        assert_eq!(refusal.refused(), 0);
        // Unpooled blocks come from the heap, whatever the backing.
        assert_eq!(
            block_on(pool.get_async(2 * SMALL)).unwrap_err(),
            PoolError::OutOfMemory {
                capacity: 2 * SMALL
            }
        );
        assert_eq!(refusal.refused(), 1);
        more
    };
    let report = pool.backing_report();
    assert_eq!(report.regions.len(), 1);
    assert_eq!(report.regions[0].slots_in_use, 4);
    assert_eq!((report.heap_fallbacks, report.refusals), (0, 0));
    for buf in more.iter().chain([&first]) {
        assert!(report.regions[0].contains(buf.as_ptr()));
    }
    drop((first, more));
    assert_nothing_in_use(&pool);
    assert_serves(&pool, 1);
    assert_serves(&pool, 2 * SMALL);
}

/// While `refuse_maps` is alive no region can be mapped: a pool of regions
/// of `size` bytes serves its blocks from the heap and reports the refusal
/// (with `errno`), a strict one fails with `PoolError::Backing` (and its
/// `get` panics), and neither holds anything afterwards. Once maps work
/// again, both serve from regions.
fn check_map_refusal<G>(size: usize, errno: Option<i32>, refuse_maps: impl FnOnce() -> G) {
    let pool = region_pool(size, false);
    let strict = region_pool(size, true);
    let guard = refuse_maps();
    let buf = pool.try_get(1).expect("the heap serves instead");
    let report = pool.backing_report();
    assert!(report.regions.is_empty(), "{report:?}");
    assert_eq!((report.heap_fallbacks, report.refusals), (1, 1));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].op(), BackingOp::Map);
    assert_eq!(report.errors[0].errno(), errno);
    assert_eq!(report.errors[0].bytes(), size);
    assert_holds(buf, b"from the heap");
    assert_nothing_in_use(&pool);

    let err = strict.try_get(1).unwrap_err();
    assert!(
        matches!(&err, PoolError::Backing(e) if e.op() == BackingOp::Map && e.errno() == errno),
        "{err:?}"
    );
    let panicked = catch_unwind(AssertUnwindSafe(|| strict.get(1))).unwrap_err();
    let message = panic_message(&*panicked);
    assert!(message.contains("backing memory refused"), "{message}");
    let report = strict.backing_report();
    assert!(report.regions.is_empty(), "{report:?}");
    assert_eq!((report.heap_fallbacks, report.refusals), (0, 2));
    assert_nothing_in_use(&strict);

    // The heap refuses too: the block cannot be had at all.
    pool.trim(); // the heap block cached above goes
    {
        let refusal = refuse_at_least(SMALL);
        assert_eq!(
            pool.try_get(1).unwrap_err(),
            PoolError::OutOfMemory { capacity: SMALL }
        );
        // The map too where the global allocator backs regions.
        assert!(refusal.refused() >= 1);
    }
    let report = pool.backing_report();
    assert!(report.regions.is_empty(), "{report:?}");
    assert_eq!(report.refusals, 2);
    assert_nothing_in_use(&pool);
    drop(guard);

    for pool in [&pool, &strict] {
        let buf = pool.try_get(1).expect("maps work again");
        let report = pool.backing_report();
        assert_eq!(report.regions.len(), 1);
        assert!(report.regions[0].contains(buf.as_ptr()));
        assert_holds(buf, b"from a region");
        assert_nothing_in_use(pool);
    }
}

/// Where regions come from the global allocator (Miri, and systems other
/// than Linux and Android), refusing it refuses the map.
#[test]
#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
fn a_refused_region_falls_back_to_the_heap() {
    const REGION: usize = 1 << 20;
    check_map_refusal(REGION, None, || refuse_at_least(REGION));
}

/// When neither a region nor the heap gives a block, the failed allocation
/// is no heap fallback: `BackingReport::heap_fallbacks` counts "blocks of a
/// tier allocated on the heap because no region could be mapped".
fn check_heap_fallbacks_count_only_heap_blocks(size: usize) {
    let pool = region_pool(size, false);
    {
        // The heap refuses the block (and, where it backs regions, the map).
        let refusal = refuse_at_least(SMALL);
        assert_eq!(
            pool.try_get(1).unwrap_err(),
            PoolError::OutOfMemory { capacity: SMALL }
        );
        assert!(refusal.refused() >= 1);
    }
    let report = pool.backing_report();
    assert_eq!(report.refusals, 1, "the map was refused: {report:?}");
    assert_nothing_in_use(&pool);
    assert_eq!(
        report.heap_fallbacks, 0,
        "no block came from the heap: {report:?}"
    );
}

#[test]
#[cfg(not(target_os = "android"))]
fn heap_fallbacks_count_only_blocks_the_heap_gave() {
    #[cfg(all(target_os = "linux", not(miri)))]
    common::run_child_test("heap_fallbacks_child", "heap fallbacks child: ok");
    #[cfg(not(all(target_os = "linux", not(miri))))]
    check_heap_fallbacks_count_only_heap_blocks(1 << 20);
}

#[test]
#[ignore = "run by heap_fallbacks_count_only_blocks_the_heap_gave"]
#[cfg(target_os = "linux")]
fn heap_fallbacks_child() {
    if !common::is_child_test("heap_fallbacks_child") {
        return;
    }
    let _maps = AddressSpaceLimit::headroom(16 << 20);
    check_heap_fallbacks_count_only_heap_blocks(64 << 20);
    println!("heap fallbacks child: ok");
}

// On Linux regions are `mmap`ed, which the global allocator cannot refuse,
// and no region size the builder accepts (at most `MAX_REGION_SIZE`, 1 GiB)
// is too large to map. A lowered `RLIMIT_AS` makes the map fail, but it
// would make every other test of this binary fail too: a child process of
// this binary runs that one test alone, as `tests/regions.rs` does for
// `RLIMIT_MEMLOCK`.

/// The soft `RLIMIT_AS` of this process lowered to the address space in use
/// now plus some headroom, until dropped.
#[cfg(target_os = "linux")]
struct AddressSpaceLimit {
    old: libc::rlimit,
}

#[cfg(target_os = "linux")]
impl AddressSpaceLimit {
    fn headroom(bytes: usize) -> Self {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `old` is a valid `rlimit` for the call to fill.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut old) }, 0);
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
        // SAFETY: `sysconf` reads no memory of ours.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
        let limit = (pages * page + bytes as u64) as libc::rlim_t;
        let new = libc::rlimit {
            rlim_cur: limit.min(old.rlim_cur),
            rlim_max: old.rlim_max,
        };
        // SAFETY: as above; lowering the soft limit needs no privilege.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &new) }, 0);
        AddressSpaceLimit { old }
    }
}

#[cfg(target_os = "linux")]
impl Drop for AddressSpaceLimit {
    fn drop(&mut self) {
        // SAFETY: restores the limits read before (the hard one unchanged).
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &self.old) }, 0);
    }
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore = "Miri cannot start a child process")]
fn a_refused_mmap_falls_back_to_the_heap() {
    common::run_child_test("mmap_refusal_child", "mmap child: ok");
}

#[test]
#[ignore = "run by a_refused_mmap_falls_back_to_the_heap"]
#[cfg(target_os = "linux")]
fn mmap_refusal_child() {
    if !common::is_child_test("mmap_refusal_child") {
        return;
    }
    // 64 MiB regions with 16 MiB of address space to spare: every map
    // fails, small heap allocations do not.
    const REGION: usize = 64 << 20;
    check_map_refusal(REGION, Some(libc::ENOMEM), || {
        AddressSpaceLimit::headroom(16 << 20)
    });
    println!("mmap child: ok");
}
