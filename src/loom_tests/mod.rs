//! Loom models of every place where threads meet.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
//!     CARGO_TARGET_DIR=target/loom cargo test --release --lib loom_tests
//! ```
//!
//! Every model checks three kinds of property:
//!
//! * **Ownership of the bytes.** Each holder writes a holder-unique pattern
//!   and verifies it before dropping the buffer (or its views). The bytes
//!   themselves are raw memory that loom cannot see, so each block also gets
//!   a *shadow cell*: a `loom::cell::UnsafeCell` that every holder writes
//!   when it takes the block and reads when it verifies it. Loom then checks
//!   that each holder's accesses happen before the next holder's, i.e. that
//!   the pool's hand-over (refcount orderings, depot lock, thread caches)
//!   really transfers ownership. See [`Shadows`].
//! * **Stats.** After every thread has finished, `in_use == 0`,
//!   `hits + misses` equals the number of gets, and every buffer the stats
//!   call `cached` can really be taken again without allocating
//!   ([`assert_settled`]).
//! * **No leak.** Block memory comes from `loom::alloc::alloc` and every
//!   block header holds a `loom::sync::Arc` to the pool, so loom fails the
//!   model if any block is neither freed nor returned once the last `Pool`
//!   handle, every buffer and every thread (their caches included) are gone.
//!   loom drops the main thread's thread-locals at the end of each
//!   execution, before it checks for leaks, so the main thread may use the
//!   pool too.
//!
//! Models that turn on an opt-in behaviour (budgets, zeroing, the
//! outstanding report, size recording) also check what it promises: exact
//! byte counts, zeroed memory, a complete report, exact size totals.
//!
//! Every model is shown to catch a bug: `scripts/loom_mutants.toml` names,
//! for each, at least one bug injected into a copy of the crate and the
//! failure it causes, and `python3 scripts/loom_mutants.py` checks them all
//! (see CONTRIBUTING.md). A new model comes with its mutation.
//!
//! Two loom quirks shape the models:
//!
//! * loom's `join` returns before the joined thread's thread-locals are
//!   dropped (std's waits for them), so a joined thread may still be
//!   flushing its cache: [`let_exited_threads_finish`] yields to it before
//!   the final checks.
//! * When a model fails, loom unwinds and then drops the remaining threads'
//!   thread-locals outside the model; the thread cache's destructor then
//!   touches loom state and panics again, which aborts the test process.
//!   The first panic message (printed before the abort) is the failure; run
//!   one model at a time (`--exact`) when chasing one.

use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::time::Instant;

use std::future::Future;
use std::pin::pin;
use std::task::Context;

use bytes::{Buf, BufMut};
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

use crate::memory::budget::WaitableBudget;
use crate::sync::asymmetric::{model_handshake, HandshakeModel};
use crate::{
    Pool, PoolBuilder, PoolError, PoolStats, PooledBuf, PooledChain, SharedBuf, TierConfig,
};

/// Bytes of the per-block header a holder writes: a tag and a shadow index.
const HEADER: usize = 16;
/// Bytes of holder-unique pattern after the header.
const PATTERN: usize = 8;
/// The one tier every model uses.
const TIER: usize = 64;
/// Tags a block header written by this module ("tierpool").
const MAGIC: u64 = 0x7469_6572_706f_6f6c;

/// Runs `f` as a loom model, reporting its name, iterations and run time.
///
/// The preemption bound comes from `LOOM_MAX_PREEMPTIONS`, or 2.
fn run_model(name: &'static str, f: impl Fn() + Sync + Send + 'static) {
    run_model_with_branches(name, None, f);
}

/// [`run_model`], allowing `max_branches` loom operations per execution
/// (loom's default, 1000, or `LOOM_MAX_BRANCHES`, if `None`): a model
/// whose executions are long but not spinning says how long they may be.
fn run_model_with_branches(
    name: &'static str,
    max_branches: Option<usize>,
    f: impl Fn() + Sync + Send + 'static,
) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemption_bound());
    if let Some(max_branches) = max_branches {
        builder.max_branches = max_branches;
    }
    let iterations = StdArc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = StdArc::clone(&iterations);
    let start = Instant::now();
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!(
        "loom model {name}: {} iterations in {:.2?} (preemption bound {})",
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed(),
        preemption_bound(),
    );
}

/// `LOOM_MAX_PREEMPTIONS`, or 2.
fn preemption_bound() -> usize {
    std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// A pool with one tier of [`TIER`] bytes and tiny limits, so that spills,
/// refills and full depots happen within a few operations.
fn tiny_pool(thread_cache: usize, depot: usize) -> Pool {
    tiny_builder(thread_cache, depot)
        .build()
        .expect("a valid configuration")
}

/// [`tiny_pool`]'s configuration, for a model to add the opt-in behaviour
/// it checks.
fn tiny_builder(thread_cache: usize, depot: usize) -> PoolBuilder {
    Pool::builder().tier(
        TierConfig::new(TIER)
            .thread_cache_buffers(thread_cache)
            .depot_buffers(depot),
    )
}

/// A loom cell that shadows the bytes of one block.
struct ShadowCell(loom::cell::UnsafeCell<u64>);

// SAFETY: the cell is only accessed through `with`/`with_mut`, which loom
// checks for data races: sharing it between threads is exactly what the
// models want loom to verify.
unsafe impl Sync for ShadowCell {}
// SAFETY: as above; the value is a plain `u64`.
unsafe impl Send for ShadowCell {}

/// Gives every block a shadow cell, found again through the header that a
/// holder writes into the block's first bytes.
///
/// The registry is deliberately guarded by a `std` mutex, which loom does
/// not see: looking up a shadow must not add a happens-before edge that
/// the pool itself does not provide. The mutex is never held across a loom
/// operation, so it cannot block a loom thread switch.
///
/// A block that comes back from the pool still holds the header its last
/// holder wrote (the pool never clears storage); a fresh block does not
/// (the header also holds the registry's address, and the allocator
/// overwrites the first word of every chunk it frees), so it gets a new
/// shadow cell.
#[derive(Clone)]
struct Shadows(StdArc<StdMutex<Vec<StdArc<ShadowCell>>>>);

/// A holder's claim on a block: its shadow cell and its pattern byte.
struct Stamp {
    cell: StdArc<ShadowCell>,
    id: u8,
}

impl Shadows {
    fn new() -> Self {
        Shadows(StdArc::new(StdMutex::new(Vec::new())))
    }

    fn tag(&self) -> u64 {
        MAGIC ^ (StdArc::as_ptr(&self.0) as usize as u64)
    }

    /// Takes ownership of the empty buffer `buf` as holder `id`: writes the
    /// shadow cell (loom checks that every earlier holder's accesses happen
    /// before this), then the header and `PATTERN` bytes of `id`.
    fn fill(&self, buf: &mut PooledBuf, id: u8) -> Stamp {
        assert!(buf.is_empty(), "holder {id}: a fresh buffer must be empty");
        assert!(buf.capacity() >= HEADER + PATTERN);
        let spare = buf.spare_capacity_mut();
        // SAFETY: the spare capacity is at least `HEADER` bytes. They are
        // either what the block's previous holder wrote or what the
        // allocator left in a fresh block; a volatile read of plain bytes
        // that are only compared is fine for this test-only bookkeeping.
        let old = unsafe { std::ptr::read_volatile(spare.as_ptr().cast::<[u8; HEADER]>()) };
        let (index, stamp) = self.claim(old, id);
        buf.extend_from_slice(&self.tag().to_le_bytes());
        buf.extend_from_slice(&(index as u64).to_le_bytes());
        buf.extend_from_slice(&[id; PATTERN]);
        stamp
    }

    /// Takes ownership of the next block of `chain` as holder `id`, like
    /// [`fill`](Self::fill): the chain takes a fresh segment block (its
    /// last one must be full), which is filled entirely, header first and
    /// then `id`, so the next call takes another block.
    fn fill_chain_block(&self, chain: &mut PooledChain, id: u8) -> Stamp {
        assert_eq!(
            chain.spare_capacity(),
            0,
            "holder {id}: the last block is full"
        );
        let segments = chain.segment_count();
        let spare = chain.chunk_mut();
        assert_eq!(spare.len(), TIER, "holder {id}: a whole segment block");
        // SAFETY: as in `fill`: `HEADER` bytes of the block, only compared.
        let old = unsafe { std::ptr::read_volatile(spare.as_mut_ptr().cast::<[u8; HEADER]>()) };
        assert_eq!(chain.segment_count(), segments + 1);
        let (index, stamp) = self.claim(old, id);
        chain.put_slice(&self.tag().to_le_bytes());
        chain.put_slice(&(index as u64).to_le_bytes());
        chain.put_slice(&[id; TIER - HEADER]);
        assert_eq!(chain.spare_capacity(), 0);
        stamp
    }

    /// Finds (from the `old` header a previous holder left) or makes the
    /// block's shadow cell, and writes it as holder `id`. Returns the cell's
    /// index, for the new header.
    fn claim(&self, old: [u8; HEADER], id: u8) -> (usize, Stamp) {
        let old_tag = u64::from_le_bytes(old[..8].try_into().unwrap());
        let old_index = u64::from_le_bytes(old[8..].try_into().unwrap()) as usize;
        let known = {
            let cells = self.0.lock().unwrap();
            (old_tag == self.tag())
                .then(|| cells.get(old_index).cloned())
                .flatten()
        };
        let (index, cell) = match known {
            Some(cell) => (old_index, cell),
            None => {
                let cell = StdArc::new(ShadowCell(loom::cell::UnsafeCell::new(0)));
                let mut cells = self.0.lock().unwrap();
                cells.push(StdArc::clone(&cell));
                (cells.len() - 1, cell)
            }
        };
        // SAFETY: loom checks this access against every other one.
        cell.0.with_mut(|value| unsafe { *value = u64::from(id) });
        (index, Stamp { cell, id })
    }
}

impl Stamp {
    /// Checks that `bytes` (all or part of the pattern) still read `id`,
    /// and reads the shadow cell: loom checks this read happens after the
    /// holder's write and before the next holder's.
    fn check(&self, bytes: &[u8]) {
        let id = self.id;
        // SAFETY: loom checks this access against every other one.
        let shadow = self.cell.0.with(|value| unsafe { *value });
        assert_eq!(shadow, u64::from(id), "holder {id}: shadow overwritten");
        assert!(
            bytes.iter().all(|&b| b == id),
            "holder {id}: pattern overwritten: {bytes:?}"
        );
    }

    /// Checks a whole buffer filled by [`Shadows::fill`].
    fn check_buf(&self, buf: &PooledBuf) {
        assert_eq!(buf.len(), HEADER + PATTERN);
        self.check(&buf[HEADER..]);
    }
}

/// Gets a buffer, fills it as holder `id` and checks it.
fn get_filled(pool: &Pool, shadows: &Shadows, id: u8) -> (PooledBuf, Stamp) {
    let mut buf = pool.get(HEADER + PATTERN);
    assert_eq!(buf.tier(), Some(TIER));
    assert_eq!(buf.capacity(), TIER, "a fresh buffer spans its whole block");
    let stamp = shadows.fill(&mut buf, id);
    stamp.check_buf(&buf);
    (buf, stamp)
}

/// Lets threads that were joined finish their thread-local destructors.
///
/// `loom::thread::JoinHandle::join` (loom 0.7.3) returns as soon as the
/// thread's closure has returned, *before* loom drops the thread's
/// thread-locals (`rt::thread_done`), whereas `std`'s `join` waits for them.
/// So a joined thread may still be flushing its cache to the depot. Yielding
/// hands the processor to such threads; loom only switches back to this one
/// early by preempting them, which it does at most `preemption_bound` times,
/// so a few more yields than that let every pending teardown complete.
fn let_exited_threads_finish() {
    // More than the preemption bound plus the threads a model joins.
    for _ in 0..preemption_bound() + 6 {
        thread::yield_now();
    }
}

/// The stats of the one tier.
fn tier_stats(pool: &Pool) -> crate::TierStats {
    pool.stats().tiers[0]
}

/// Checks the stats once every buffer is back and every other thread has
/// exited: nothing is in use, `hits + misses == gets`, and each of the
/// `cached` idle blocks is really there: taking that many buffers (from
/// this thread's cache and the depot) allocates nothing.
fn assert_settled(pool: &Pool, shadows: &Shadows, gets: u64) {
    let_exited_threads_finish();
    let before = tier_stats(pool);
    assert_eq!(before.in_use, 0, "everything was dropped: {before:?}");
    assert_eq!(before.hits + before.misses, gets, "{before:?}");
    assert_eq!(before.returns, gets, "every get was returned: {before:?}");
    let held: Vec<_> = (0..before.cached)
        .map(|i| get_filled(pool, shadows, 200 + i as u8))
        .collect();
    let after = tier_stats(pool);
    assert_eq!(
        (after.hits - before.hits, after.misses),
        (before.cached, before.misses),
        "the cached blocks must be reusable: before {before:?}, after {after:?}"
    );
    assert_eq!(after.in_use, before.cached);
    for (buf, stamp) in held {
        stamp.check_buf(&buf);
    }
}

/// Fields of `later` that must not be below `earlier`'s.
fn assert_monotonic(earlier: &PoolStats, later: &PoolStats) {
    let (a, b) = (&earlier.tiers[0], &later.tiers[0]);
    let pairs = [
        ("hits", a.hits, b.hits),
        ("misses", a.misses, b.misses),
        ("returns", a.returns, b.returns),
        ("dropped", a.dropped, b.dropped),
        ("trimmed", a.trimmed, b.trimmed),
    ];
    for (name, x, y) in pairs {
        assert!(x <= y, "{name} went backwards: {a:?} then {b:?}");
    }
}

mod budget;
mod cache;
mod memory;
mod stats;
mod trim;
mod views;
