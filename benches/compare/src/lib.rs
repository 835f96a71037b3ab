//! Scenario code shared by the comparison bench binaries `sys`, `jemalloc`
//! and `mimalloc`. Each binary sets its own `#[global_allocator]` and calls
//! [`register_all`]; every group is named `<scenario>/<allocator>` and every
//! benchmark `BenchmarkId::new(impl, size)`, with `Throughput::Bytes`.
//!
//! Scenarios (see "How the benchmarks are judged" in `BENCHMARKS.md` at the
//! repository root, which also states their targets):
//!
//! 1. `hot_path`: get(n) + write 64 B + drop, one thread, at 4 KiB, 64 KiB,
//!    1 MiB and a fixed pseudo-random `mixed` size sequence.
//! 2. `fill_freeze`: get(n) + write n bytes + freeze + two slices + drop all;
//!    `copy_floor` copies the same n bytes into one warm buffer, the limit.
//! 3. `producer_consumer`: get + write 64 B on the bench thread, hand over in
//!    batches of 32 through a bounded lock-free queue, drop on a consumer
//!    thread; both threads spin rather than park, so the figure is the cost
//!    of freeing on another thread, not of waking one. The same hand-off of
//!    a `usize` (`queue_hop`) is the baseline.
//! 4. `scaling`: 1 and 2 threads doing independent get/write/drop; time per
//!    iteration is wall time for every thread doing one op, so throughput is
//!    aggregate.
//! 5. `tls_floor`: a bare `thread_local!` stack of `Vec`s per tier (pop,
//!    write, push), printed beside the pool in `hot_path` and `scaling`.
//!
//! Every implementation runs in steady state: buffers go back to their pool
//! (or allocator) inside the timed loop, and pools are warmed by criterion's
//! warm-up before measurement.
//!
//! Single-size peer pools (`opool`, `object-pool`, `lockfree-object-pool`)
//! get one pool per tier (4 KiB, 64 KiB, 1 MiB), routed by the caller with
//! the same two comparisons `tls_floor` uses; that is how a user would serve
//! several sizes with them.

use std::cell::RefCell;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

/// What a user writes into a buffer in the 64-byte scenarios.
pub const PAYLOAD: [u8; 64] = [0xA5; 64];

/// The tiers every pool is configured for (tierpool's defaults).
pub const TIERS: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];

/// Fixed sizes, with the labels used as criterion parameters.
pub const FIXED_SIZES: [(usize, &str); 3] =
    [(4 << 10, "4KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// Length of the mixed size sequence (a power of two, indexed with a mask).
const MIXED_LEN: usize = 4096;

/// Items per hand-off in `producer_consumer`.
const BATCH: usize = 32;

/// Batches in flight between producer and consumer in `producer_consumer`.
/// With the producer's open batch, at most 96 items are out at once: 6 MiB
/// at 64 KiB, within every pool's default retention.
const BATCHES_IN_FLIGHT: usize = 2;

/// Idle buffers each single-size peer pool may keep per tier.
const PEER_POOL_CAP: usize = 128;

/// The smallest tier index that fits `n` (sizes above the largest tier are
/// not generated).
#[inline(always)]
pub fn tier_index(n: usize) -> usize {
    if n <= TIERS[0] {
        0
    } else if n <= TIERS[1] {
        1
    } else {
        2
    }
}

/// A fixed pseudo-random sequence of request sizes: 70 % in 64 B..=4 KiB,
/// 25 % in (4 KiB, 64 KiB], 5 % in (64 KiB, 1 MiB]. Same seed every run.
/// Never below 64 B, so writing [`PAYLOAD`] never outgrows a request.
pub fn mixed_sizes() -> Vec<usize> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    (0..MIXED_LEN)
        .map(|_| {
            let class = next() % 100;
            let r = next() as usize;
            match class {
                0..=69 => PAYLOAD.len() + r % (TIERS[0] - PAYLOAD.len() + 1),
                70..=94 => TIERS[0] + 1 + r % (TIERS[1] - TIERS[0]),
                _ => TIERS[1] + 1 + r % (TIERS[2] - TIERS[1]),
            }
        })
        .collect()
}

/// One size case of a scenario: a label and the sizes requested in turn.
struct SizeCase {
    label: &'static str,
    sizes: Vec<usize>,
    mixed: bool,
}

impl SizeCase {
    fn fixed(n: usize, label: &'static str) -> Self {
        Self {
            label,
            sizes: vec![n],
            mixed: false,
        }
    }

    fn mixed() -> Self {
        Self {
            label: "mixed",
            sizes: mixed_sizes(),
            mixed: true,
        }
    }

    /// Mean requested bytes per operation.
    fn bytes_per_op(&self) -> u64 {
        (self.sizes.iter().sum::<usize>() / self.sizes.len()) as u64
    }
}

// ---------------------------------------------------------------------------
// The thread-local floor.

thread_local! {
    static FLOOR: [RefCell<Vec<Vec<u8>>>; 3] =
        const { [RefCell::new(Vec::new()), RefCell::new(Vec::new()), RefCell::new(Vec::new())] };
}

/// A buffer from the thread-local floor; dropping it pushes it back onto the
/// current thread's stack for its tier.
pub struct FloorBuf {
    buf: Vec<u8>,
    tier: usize,
}

impl FloorBuf {
    /// Pops a buffer of tier `tier_index(n)` (or allocates one), cleared.
    #[inline(always)]
    pub fn get(n: usize) -> Self {
        let tier = tier_index(n);
        let buf = FLOOR.with(|stacks| stacks[tier].borrow_mut().pop());
        let mut buf = buf.unwrap_or_else(|| Vec::with_capacity(TIERS[tier]));
        buf.clear();
        Self { buf, tier }
    }
}

impl Drop for FloorBuf {
    #[inline(always)]
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        FLOOR.with(|stacks| stacks[self.tier].borrow_mut().push(buf));
    }
}

// ---------------------------------------------------------------------------
// Every implementation, built once per scenario.

/// `opool` needs an allocator type per object kind.
pub struct VecAllocator(usize);

impl opool::PoolAllocator<Vec<u8>> for VecAllocator {
    #[inline]
    fn allocate(&self) -> Vec<u8> {
        Vec::with_capacity(self.0)
    }

    #[inline]
    fn reset(&self, obj: &mut Vec<u8>) {
        obj.clear();
    }

    #[inline]
    fn is_valid(&self, obj: &Vec<u8>) -> bool {
        obj.capacity() == self.0
    }
}

type LinearPool = lockfree_object_pool::LinearObjectPool<Vec<u8>>;

/// All pools of one scenario run.
pub struct Impls {
    tierpool: tierpool::Pool,
    zeropool: zeropool::ZeroPool,
    opool: [opool::Pool<VecAllocator, Vec<u8>>; 3],
    object_pool: [object_pool::Pool<Vec<u8>>; 3],
    lockfree: [LinearPool; 3],
    byte_pool: byte_pool::BytePool<Vec<u8>>,
    santh: santh_bufpool::BufferPool,
}

impl Impls {
    /// Fresh pools, default configuration where the pool has one.
    pub fn new() -> Self {
        Self {
            tierpool: tierpool::Pool::new(),
            zeropool: zeropool::ZeroPool::new(),
            opool: TIERS.map(|t| opool::Pool::new(PEER_POOL_CAP, VecAllocator(t))),
            object_pool: TIERS.map(|_| object_pool::Pool::new(0, Vec::new)),
            lockfree: TIERS.map(|t| {
                LinearPool::new(move || Vec::with_capacity(t), |v: &mut Vec<u8>| v.clear())
            }),
            byte_pool: byte_pool::BytePool::new(),
            // santh-bufpool only recycles into preallocated queues; give it
            // room comparable to tierpool's depots.
            santh: santh_bufpool::BufferPool::new(santh_bufpool::PoolConfig {
                four_kib_count: 256,
                sixty_four_kib_count: 128,
                two_fifty_six_kib_count: 8,
                one_mib_count: 8,
                numa_node: None,
            }),
        }
    }
}

impl Default for Impls {
    fn default() -> Self {
        Self::new()
    }
}

/// Receives each implementation as a `produce` closure: get a buffer of
/// capacity >= n and write 64 bytes into it. Dropping the returned holder
/// gives the storage back. Generic so each closure is inlined.
pub trait Visitor {
    /// Called once per implementation.
    fn visit<T: Send, F: Fn(usize) -> T + Sync>(&mut self, name: &'static str, produce: F);
}

/// Writes [`PAYLOAD`] into the first 64 bytes of uninitialised memory.
#[inline(always)]
fn write_payload_uninit(dst: &mut [MaybeUninit<u8>]) {
    for (d, s) in dst[..PAYLOAD.len()].iter_mut().zip(PAYLOAD) {
        d.write(s);
    }
}

/// Calls `v.visit` for every implementation of "get(n) + write 64 B".
pub fn visit_all<V: Visitor>(impls: &Impls, v: &mut V) {
    v.visit("tierpool", |n| {
        let mut buf = impls.tierpool.get(n);
        buf.extend_from_slice(&PAYLOAD);
        buf
    });
    v.visit("tls_floor", |n| {
        let mut buf = FloorBuf::get(n);
        buf.buf.extend_from_slice(&PAYLOAD);
        buf
    });
    v.visit("vec_with_capacity", |n| {
        let mut buf = Vec::<u8>::with_capacity(n);
        buf.extend_from_slice(&PAYLOAD);
        buf
    });
    v.visit("vec_zeroed", |n| {
        let mut buf = vec![0u8; n];
        buf[..PAYLOAD.len()].copy_from_slice(&PAYLOAD);
        buf
    });
    v.visit("bytesmut_with_capacity", |n| {
        let mut buf = BytesMut::with_capacity(n);
        buf.put_slice(&PAYLOAD);
        buf
    });
    v.visit("zeropool", |n| {
        // `alloc_uninit` is zeropool's fast path; `alloc` would zero n bytes.
        let mut buf = impls.zeropool.alloc_uninit(n);
        write_payload_uninit(buf.as_uninit_mut());
        buf
    });
    v.visit("opool", |n| {
        let mut buf = impls.opool[tier_index(n)].get();
        buf.extend_from_slice(&PAYLOAD);
        buf
    });
    v.visit("object_pool", |n| {
        let tier = tier_index(n);
        let mut buf = impls.object_pool[tier].pull(|| Vec::with_capacity(TIERS[tier]));
        buf.clear();
        buf.extend_from_slice(&PAYLOAD);
        buf
    });
    v.visit("lockfree_object_pool", |n| {
        let mut buf = impls.lockfree[tier_index(n)].pull();
        buf.extend_from_slice(&PAYLOAD);
        buf
    });
    v.visit("byte_pool", |n| {
        // Reuses a block only when its length equals n exactly.
        let mut buf = impls.byte_pool.alloc(n);
        buf[..PAYLOAD.len()].copy_from_slice(&PAYLOAD);
        buf
    });
    v.visit("santh_bufpool", |n| {
        // Zeroes the whole capacity on every return.
        let mut buf = impls.santh.checkout(n).expect("size within limits");
        buf[..PAYLOAD.len()].copy_from_slice(&PAYLOAD);
        buf
    });
}

// ---------------------------------------------------------------------------
// 1. hot_path

struct HotPath<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    case: &'g SizeCase,
}

impl Visitor for HotPath<'_, '_> {
    fn visit<T: Send, F: Fn(usize) -> T + Sync>(&mut self, name: &'static str, produce: F) {
        if self.case.mixed && name == "byte_pool" {
            // byte-pool reuses only exact lengths and pushes every miss back:
            // with varied sizes its queue grows without bound.
            return;
        }
        let sizes = &self.case.sizes[..];
        let mask = sizes.len() - 1;
        debug_assert!(sizes.len().is_power_of_two());
        self.group
            .bench_function(BenchmarkId::new(name, self.case.label), |b| {
                let mut i = 0usize;
                b.iter(|| {
                    let n = sizes[i & mask];
                    i = i.wrapping_add(1);
                    let mut buf = produce(black_box(n));
                    black_box(&mut buf);
                    drop(buf);
                })
            });
    }
}

fn hot_path(c: &mut Criterion, allocator: &str) {
    let mut group = c.benchmark_group(format!("hot_path/{allocator}"));
    let mut cases: Vec<SizeCase> = FIXED_SIZES
        .iter()
        .map(|&(n, l)| SizeCase::fixed(n, l))
        .collect();
    cases.push(SizeCase::mixed());
    for case in &cases {
        // Fresh pools per size: byte-pool only looks at the head of its
        // queue, so blocks left from another size would make it miss (and
        // grow) forever; no pool should profit from another size's leftovers.
        let impls = Impls::new();
        group.throughput(Throughput::Bytes(case.bytes_per_op()));
        visit_all(
            &impls,
            &mut HotPath {
                group: &mut group,
                case,
            },
        );
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// 2. fill_freeze

fn fill_freeze(c: &mut Criterion, allocator: &str) {
    let pool = tierpool::Pool::new();
    let data: Vec<u8> = (0..TIERS[2]).map(|i| i as u8).collect();
    let mut group = c.benchmark_group(format!("fill_freeze/{allocator}"));
    for (n, label) in FIXED_SIZES {
        let src = &data[..n];
        let half = n / 2;
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_function(BenchmarkId::new("tierpool", label), |b| {
            b.iter(|| {
                let mut buf = pool.get(black_box(n));
                buf.extend_from_slice(src);
                let frozen = buf.freeze();
                let head = frozen.slice(..half);
                let tail = frozen.slice(half..);
                black_box((&frozen, &head, &tail));
            })
        });
        // The copy floor: the same n-byte copy into one warm, 64-byte
        // aligned buffer, with no allocation, freeze or slice. Nothing that
        // fills n bytes can beat it.
        let mut scratch = vec![0u8; n + 64];
        let offset = scratch.as_ptr().align_offset(64);
        let dst = &mut scratch[offset..offset + n];
        group.bench_function(BenchmarkId::new("copy_floor", label), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(src));
                black_box(&*dst);
            })
        });
        group.bench_function(BenchmarkId::new("tierpool_into_bytes", label), |b| {
            b.iter(|| {
                let mut buf = pool.get(black_box(n));
                buf.extend_from_slice(src);
                let bytes: Bytes = buf.freeze().into_bytes();
                let head = bytes.slice(..half);
                let tail = bytes.slice(half..);
                black_box((&bytes, &head, &tail));
            })
        });
        group.bench_function(BenchmarkId::new("bytesmut_with_capacity", label), |b| {
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(black_box(n));
                buf.put_slice(src);
                let bytes = buf.freeze();
                let head = bytes.slice(..half);
                let tail = bytes.slice(half..);
                black_box((&bytes, &head, &tail));
            })
        });
        group.bench_function(BenchmarkId::new("vec_into_bytes", label), |b| {
            b.iter(|| {
                let mut buf = Vec::<u8>::with_capacity(black_box(n));
                buf.extend_from_slice(src);
                let bytes = Bytes::from(buf);
                let head = bytes.slice(..half);
                let tail = bytes.slice(half..);
                black_box((&bytes, &head, &tail));
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// 3. producer_consumer

/// Spins until `queue` takes `item`.
fn push_spinning<T>(queue: &ArrayQueue<T>, mut item: T) {
    while let Err(back) = queue.push(item) {
        item = back;
        std::hint::spin_loop();
    }
}

/// Spins until `queue` has an item.
fn pop_spinning<T>(queue: &ArrayQueue<T>) -> T {
    loop {
        if let Some(item) = queue.pop() {
            return item;
        }
        std::hint::spin_loop();
    }
}

/// Times `iters` items produced on this thread and dropped on a consumer
/// thread that is spawned before timing and lives for the whole benchmark.
///
/// Items travel in batches of [`BATCH`] through a bounded [`ArrayQueue`]
/// (the batch vectors come back through a second one, so the hand-off
/// allocates nothing), and both threads spin rather than park. Handing
/// items over one at a time made every item pay a cache-line round trip
/// between the cores, whose cost on this machine swung between 80 and 450
/// ns from run to run and drowned what is measured here: the price of
/// freeing on another thread. The clock stops when the consumer has
/// dropped the last item.
fn bench_pipeline<T: Send>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    produce: impl Fn() -> T,
) {
    // Each on its own cache line: the consumer bumps `consumed` once per
    // batch, which must not evict the queue fields the producer reads.
    // The queues' slots are padded too: unpadded, the two small slot arrays
    // could share a cache line on the heap, which one thread writes while
    // the other reads the neighbour.
    let full = CachePadded::new(ArrayQueue::<CachePadded<Vec<T>>>::new(BATCHES_IN_FLIGHT));
    let empty = CachePadded::new(ArrayQueue::<CachePadded<Vec<T>>>::new(
        BATCHES_IN_FLIGHT + 1,
    ));
    for _ in 0..=BATCHES_IN_FLIGHT {
        push_spinning(&empty, CachePadded::new(Vec::with_capacity(BATCH)));
    }
    let consumed = CachePadded::new(AtomicU64::new(0));
    let stop = CachePadded::new(AtomicBool::new(false));
    thread::scope(|s| {
        s.spawn(|| {
            let mut idle_spins = 0u32;
            loop {
                match full.pop() {
                    Some(mut batch) => {
                        let n = batch.len() as u64;
                        for item in batch.drain(..) {
                            drop(black_box(item));
                        }
                        push_spinning(&empty, batch);
                        consumed.fetch_add(n, Ordering::Release);
                        idle_spins = 0;
                    }
                    None if stop.load(Ordering::Acquire) => break,
                    None => {
                        // Spin while batches are coming; let criterion's
                        // analysis run between measurements.
                        idle_spins += 1;
                        if idle_spins < 1 << 16 {
                            std::hint::spin_loop();
                        } else {
                            thread::yield_now();
                        }
                    }
                }
            }
        });
        let mut produced = 0u64;
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut batch = pop_spinning(&empty);
                for _ in 0..iters {
                    batch.push(produce());
                    if batch.len() == BATCH {
                        push_spinning(&full, batch);
                        batch = pop_spinning(&empty);
                    }
                }
                if batch.is_empty() {
                    push_spinning(&empty, batch);
                } else {
                    push_spinning(&full, batch);
                }
                produced += iters;
                while consumed.load(Ordering::Acquire) != produced {
                    std::hint::spin_loop();
                }
                start.elapsed()
            })
        });
        stop.store(true, Ordering::Release);
    });
}

struct ProducerConsumer<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    n: usize,
    label: &'static str,
}

impl Visitor for ProducerConsumer<'_, '_> {
    fn visit<T: Send, F: Fn(usize) -> T + Sync>(&mut self, name: &'static str, produce: F) {
        // The floor is per thread by definition; vec_zeroed adds nothing
        // over vec_with_capacity here but a memset.
        if matches!(name, "tls_floor" | "vec_zeroed") {
            return;
        }
        let n = self.n;
        bench_pipeline(self.group, BenchmarkId::new(name, self.label), || {
            produce(black_box(n))
        });
    }
}

fn producer_consumer(c: &mut Criterion, allocator: &str) {
    let mut group = c.benchmark_group(format!("producer_consumer/{allocator}"));
    for (n, label) in [FIXED_SIZES[0], FIXED_SIZES[1]] {
        let impls = Impls::new(); // fresh per size, as in hot_path
        group.throughput(Throughput::Bytes(n as u64));
        // Baseline: the same hand-off carrying a small value.
        bench_pipeline(&mut group, BenchmarkId::new("queue_hop", label), || {
            black_box(n)
        });
        visit_all(
            &impls,
            &mut ProducerConsumer {
                group: &mut group,
                n,
                label,
            },
        );
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// 4. scaling

/// Times `threads` workers (spawned before timing, alive for the whole
/// benchmark) each running `op` `iters` times; reports wall time from the
/// start barrier to the end barrier.
fn bench_threads(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    threads: usize,
    op: impl Fn() + Sync,
) {
    let start = Barrier::new(threads + 1);
    let end = Barrier::new(threads + 1);
    let iters_now = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                start.wait();
                if stop.load(Ordering::Acquire) {
                    break;
                }
                for _ in 0..iters_now.load(Ordering::Acquire) {
                    op();
                }
                end.wait();
            });
        }
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                iters_now.store(iters, Ordering::Release);
                start.wait();
                let t0 = Instant::now();
                end.wait();
                t0.elapsed()
            })
        });
        stop.store(true, Ordering::Release);
        start.wait();
    });
}

struct Scaling<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    n: usize,
    label: &'static str,
    threads: usize,
}

impl Visitor for Scaling<'_, '_> {
    fn visit<T: Send, F: Fn(usize) -> T + Sync>(&mut self, name: &'static str, produce: F) {
        if matches!(name, "vec_zeroed" | "bytesmut_with_capacity") {
            return; // same allocator path as vec_with_capacity
        }
        let n = self.n;
        let param = format!("{}_{}t", self.label, self.threads);
        bench_threads(
            self.group,
            BenchmarkId::new(name, param),
            self.threads,
            || {
                let mut buf = produce(black_box(n));
                black_box(&mut buf);
                drop(buf);
            },
        );
    }
}

fn scaling(c: &mut Criterion, allocator: &str) {
    let mut group = c.benchmark_group(format!("scaling/{allocator}"));
    for (n, label) in [FIXED_SIZES[0], FIXED_SIZES[1]] {
        for threads in [1, 2] {
            // Fresh pools per point so one run's leftovers do not help the next.
            let impls = Impls::new();
            group.throughput(Throughput::Bytes((n * threads) as u64));
            visit_all(
                &impls,
                &mut Scaling {
                    group: &mut group,
                    n,
                    label,
                    threads,
                },
            );
        }
    }
    group.finish();
}

// ---------------------------------------------------------------------------

/// Registers every scenario group for the given allocator name (used in the
/// group names: `hot_path/<allocator>` and so on).
pub fn register_all(c: &mut Criterion, allocator: &str) {
    hot_path(c, allocator);
    fill_freeze(c, allocator);
    producer_consumer(c, allocator);
    scaling(c, allocator);
}

/// A `Criterion` with the crate's defaults; command-line flags override.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every implementation serves every size the scenarios request, and
    /// what it hands out holds the payload.
    struct ServeAll(Vec<usize>);

    impl Visitor for ServeAll {
        fn visit<T: Send, F: Fn(usize) -> T + Sync>(&mut self, name: &'static str, produce: F) {
            for &n in &self.0 {
                if name == "byte_pool" && !FIXED_SIZES.iter().any(|&(f, _)| f == n) {
                    continue;
                }
                drop(black_box(produce(n)));
            }
        }
    }

    #[test]
    fn every_impl_serves_every_size() {
        let impls = Impls::new();
        let mut sizes = mixed_sizes();
        assert!(sizes
            .iter()
            .all(|&n| (PAYLOAD.len()..=TIERS[2]).contains(&n)));
        sizes.extend(FIXED_SIZES.iter().map(|&(n, _)| n));
        visit_all(&impls, &mut ServeAll(sizes));
    }
}
