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

/// Two threads work one tier whose thread caches hold 2 and whose depot
/// holds 2 (batches of 1): one gets three buffers and drops them, so the
/// third drop spills to the depot and its exit flushes the rest (the depot
/// may be full: the excess is freed); the other gets two at once, refilling
/// from the depot when it can.
#[test]
fn depot_refill_and_spill() {
    run_model("depot_refill_and_spill", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let spiller = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let held: Vec<_> = (1..=3).map(|id| get_filled(&pool, &shadows, id)).collect();
                for (buf, stamp) in held {
                    stamp.check_buf(&buf);
                    drop(buf);
                }
            })
        };
        let taker = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let a = get_filled(&pool, &shadows, 4);
                let b = get_filled(&pool, &shadows, 5);
                a.1.check_buf(&a.0);
                b.1.check_buf(&b.0);
            })
        };
        spiller.join().unwrap();
        taker.join().unwrap();
        assert_settled(&pool, &shadows, 5);
    });
}

/// Buffers got on one thread are verified and dropped on another, while
/// the first keeps getting. The returning thread's cache holds two, so its
/// third return spills a block to the depot, where the getting thread (two
/// buffers at once, so its own cache runs dry) may pick it up.
#[test]
fn cross_thread_return() {
    run_model("cross_thread_return", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let sent: Vec<_> = (1..=3).map(|id| get_filled(&pool, &shadows, id)).collect();
        let returner = thread::spawn(move || {
            for (buf, stamp) in sent {
                stamp.check_buf(&buf);
                drop(buf);
            }
        });
        let a = get_filled(&pool, &shadows, 4);
        let b = get_filled(&pool, &shadows, 5);
        a.1.check_buf(&a.0);
        b.1.check_buf(&b.0);
        drop((a, b));
        returner.join().unwrap();
        assert_settled(&pool, &shadows, 5);
    });
}

/// Two views of one storage on two threads: one thread clones, slices and
/// converts its view into `Bytes`, the other drops its view; whichever
/// drops the last reference recycles the block into its own cache, and both
/// threads then get a buffer, so the recycler reuses the block at once.
/// Loom checks that every read through a view happens before the reuse.
#[test]
fn last_view_drop_races_clone() {
    run_model("last_view_drop_races_clone", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (buf, stamp) = get_filled(&pool, &shadows, 1);
        let frame = buf.freeze();
        let mine: SharedBuf = frame.slice(HEADER..);
        let theirs = mine.clone();
        drop(frame);
        let stamp = StdArc::new(stamp);
        let cloner = {
            let (pool, shadows, stamp) = (pool.clone(), shadows.clone(), StdArc::clone(&stamp));
            thread::spawn(move || {
                let copy = mine.clone();
                let head = copy.slice(..PATTERN / 2);
                let bytes = mine.into_bytes();
                stamp.check(&copy);
                stamp.check(&head);
                stamp.check(&bytes);
                drop((copy, head, bytes));
                let (buf, again) = get_filled(&pool, &shadows, 2);
                again.check_buf(&buf);
            })
        };
        let dropper = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                stamp.check(&theirs);
                drop(theirs);
                let (buf, again) = get_filled(&pool, &shadows, 3);
                again.check_buf(&buf);
            })
        };
        cloner.join().unwrap();
        dropper.join().unwrap();
        assert_settled(&pool, &shadows, 3);
    });
}

/// A codec splits a frame off the front of its buffer (moving the buffer's
/// region start, kept in the block header) and hands the frame to another
/// thread, then keeps writing after it. Either thread may drop the last
/// reference; both then get a buffer, so the block is reused at once by
/// whichever thread recycled it, and the reuse resets the region start.
/// Loom checks that the owner's writes of the region start happen before
/// the next holder's, on whatever thread that is.
#[test]
fn split_frame_dropped_on_another_thread() {
    run_model("split_frame_dropped_on_another_thread", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (mut buf, stamp) = get_filled(&pool, &shadows, 1);
        let frame = buf.split_to(HEADER + PATTERN);
        assert!(buf.is_empty());
        assert_eq!(buf.capacity(), TIER - HEADER - PATTERN);
        let receiver = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                stamp.check(&frame[HEADER..]);
                drop(frame);
                let (buf, again) = get_filled(&pool, &shadows, 2);
                again.check_buf(&buf);
            })
        };
        buf.extend_from_slice(&[9; PATTERN]);
        assert_eq!(&buf[..], &[9; PATTERN]);
        drop(buf);
        let (buf, again) = get_filled(&pool, &shadows, 3);
        again.check_buf(&buf);
        drop(buf);
        receiver.join().unwrap();
        assert_settled(&pool, &shadows, 3);
    });
}

/// A thread fills its cache and exits, flushing the cache to the depot,
/// while another thread gets two buffers from the same tier (refilling from
/// the depot, possibly mid-flush).
#[test]
fn thread_exit_flush_races_get() {
    run_model("thread_exit_flush_races_get", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let exiting = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let a = get_filled(&pool, &shadows, 1);
                let b = get_filled(&pool, &shadows, 2);
                a.1.check_buf(&a.0);
                b.1.check_buf(&b.0);
                // Both go to this thread's cache, flushed when it exits.
            })
        };
        let getter = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let c = get_filled(&pool, &shadows, 3);
                let d = get_filled(&pool, &shadows, 4);
                c.1.check_buf(&c.0);
                d.1.check_buf(&d.0);
            })
        };
        exiting.join().unwrap();
        getter.join().unwrap();
        assert_settled(&pool, &shadows, 4);
    });
}

/// The last `Pool` handle is dropped while buffers are out and being
/// returned on another thread, which also holds a handle and gets a buffer
/// with it: either thread may close the pool. Whatever the order, every
/// block must be freed: returned after the close, cached by a thread and
/// flushed (or refused) at its exit, or drained by the close.
#[test]
fn pool_drop_while_buffers_out() {
    run_model("pool_drop_while_buffers_out", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let returner = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                stamp_a.check_buf(&a);
                drop(a);
                let (c, stamp_c) = get_filled(&pool, &shadows, 3);
                drop(pool);
                let view = b.freeze().slice(HEADER..);
                let copy = view.clone();
                stamp_b.check(&view);
                drop(view);
                stamp_b.check(&copy);
                drop(copy);
                stamp_c.check_buf(&c);
            })
        };
        drop(pool);
        returner.join().unwrap();
    });
}

/// `trim` on two threads, each racing the other's gets and drops: one
/// thread spills a block to the depot, and both trim their own cache and
/// the depot, then get again. Trimmed blocks are freed exactly once (loom
/// tracks the frees), and the `trimmed` counter adds up: the blocks the
/// stats still call cached are really there.
#[test]
fn trim_races_get_and_drop() {
    run_model("trim_races_get_and_drop", || {
        let pool = tiny_pool(1, 2);
        let shadows = Shadows::new();
        let spiller = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let a = get_filled(&pool, &shadows, 1);
                let b = get_filled(&pool, &shadows, 2);
                drop(a); // to the thread cache (it holds one)
                drop(b); // spills `a` to the depot, caches `b`
                pool.trim();
                let (c, stamp) = get_filled(&pool, &shadows, 3);
                stamp.check_buf(&c);
            })
        };
        let trimmer = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (d, stamp) = get_filled(&pool, &shadows, 4);
                stamp.check_buf(&d);
                drop(d);
                pool.trim();
                let (e, stamp) = get_filled(&pool, &shadows, 5);
                stamp.check_buf(&e);
            })
        };
        spiller.join().unwrap();
        trimmer.join().unwrap();
        assert_settled(&pool, &shadows, 5);
    });
}

/// A trim on one thread takes the idle blocks of another thread's cache
/// while that thread gets and returns (with the asymmetric fences modelled
/// as `SeqCst` fences: see `sync::asymmetric`): the handshake of `thread_cache`
/// (the owner's `busy` flag and light fence against the trim's `STEALING`
/// request and heavy fence). Loom checks that the two never touch the
/// stacks at once (the stacks are loom cells), that each side sees the
/// other's changes to them, and that every block ends up exactly once in a
/// cache, the depot or freed: whichever way the trim went (taking the
/// blocks, or, finding the owner busy, asking it to free them itself).
#[test]
fn trim_takes_a_working_threads_cache() {
    let _fenced = model_handshake(HandshakeModel::Fenced);
    run_model("trim_takes_a_working_threads_cache", || {
        let pool = tiny_pool(2, 0);
        let shadows = Shadows::new();
        let owner = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (a, stamp) = get_filled(&pool, &shadows, 1);
                stamp.check_buf(&a);
                drop(a); // cached here
                let (b, stamp) = get_filled(&pool, &shadows, 2);
                stamp.check_buf(&b);
                drop(b);
            })
        };
        let trimmer = {
            let pool = pool.clone();
            thread::spawn(move || pool.trim())
        };
        trimmer.join().unwrap();
        owner.join().unwrap();
        // Whatever the trim found, a second one takes what is left once
        // the owner is done (its cache flushed to the depot).
        let_exited_threads_finish();
        pool.trim();
        let stats = tier_stats(&pool);
        assert_eq!(stats.cached, 0, "a trim leaves nothing idle: {stats:?}");
        assert_settled(&pool, &shadows, 2);
    });
}

/// Spawns a thread that caches two blocks of `pool` and parks until the
/// returned sender is used; then it runs `then`. Returns once the two
/// blocks are cached.
fn park_with_two_cached(
    pool: &Pool,
    shadows: &Shadows,
    then: impl FnOnce(&Pool, &Shadows) + Send + 'static,
) -> (thread::JoinHandle<()>, loom::sync::mpsc::Sender<()>) {
    let (parked_tx, parked_rx) = loom::sync::mpsc::channel();
    let (release_tx, release_rx) = loom::sync::mpsc::channel::<()>();
    let owner = {
        let (pool, shadows) = (pool.clone(), shadows.clone());
        thread::spawn(move || {
            let a = get_filled(&pool, &shadows, 1);
            let b = get_filled(&pool, &shadows, 2);
            drop((a, b)); // both cached here
            parked_tx.send(()).unwrap();
            // Parked: the pool is not touched until released.
            release_rx.recv().unwrap();
            then(&pool, &shadows);
        })
    };
    parked_rx.recv().unwrap();
    (owner, release_tx)
}

/// A thread that cached blocks and stopped using the pool: a trim from
/// another thread takes them, with no help from the owner.
#[test]
fn trim_reaches_a_parked_threads_cache() {
    let _fenced = model_handshake(HandshakeModel::Fenced);
    run_model("trim_reaches_a_parked_threads_cache", || {
        let pool = tiny_pool(2, 0);
        let shadows = Shadows::new();
        let (owner, release) = park_with_two_cached(&pool, &shadows, |_, _| {});
        pool.trim();
        let stats = tier_stats(&pool);
        assert_eq!(
            (stats.cached, stats.trimmed),
            (0, 2),
            "the parked thread's blocks were freed: {stats:?}"
        );
        release.send(()).unwrap();
        owner.join().unwrap();
        assert_settled(&pool, &shadows, 2);
    });
}

/// Where the heavy fence cannot be issued, a trim asks instead: a parked
/// thread's cache stays as it is until its owner's next get, which frees
/// every block the trim asked for before serving the get.
#[test]
fn trim_asks_an_owner_it_cannot_reach() {
    let _asking = model_handshake(HandshakeModel::Asking);
    run_model("trim_asks_an_owner_it_cannot_reach", || {
        let pool = tiny_pool(2, 0);
        let shadows = Shadows::new();
        let (owner, trimmed) = park_with_two_cached(&pool, &shadows, |pool, shadows| {
            let (c, stamp) = get_filled(pool, shadows, 3);
            stamp.check_buf(&c);
            let stats = tier_stats(pool);
            assert_eq!(
                (stats.trimmed, stats.misses),
                (2, 3),
                "the owner freed what the trim asked for, then missed: {stats:?}"
            );
        });
        pool.trim();
        assert_eq!(tier_stats(&pool).cached, 2, "no fence: nothing taken");
        trimmed.send(()).unwrap();
        owner.join().unwrap();
        assert_settled(&pool, &shadows, 3);
    });
}

/// `stats` read on one thread while another thread gets, returns and exits
/// (its counters move from the live list to the retired totals): totals
/// never go backwards between successive reads, and `in_use` never exceeds
/// the gets made.
///
/// The reader first waits (yielding) until the worker's counts show, so that
/// a later read can race the worker's exit within two preemptions.
#[test]
fn stats_while_counting() {
    run_model("stats_while_counting", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let worker = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (a, stamp) = get_filled(&pool, &shadows, 1);
                stamp.check_buf(&a);
                drop(a);
                let (b, stamp) = get_filled(&pool, &shadows, 2);
                stamp.check_buf(&b);
            })
        };
        let check = |stats: &PoolStats| {
            let t = &stats.tiers[0];
            assert!(t.hits + t.misses <= 2, "more gets than made: {t:?}");
            // The worker never holds more than one buffer at a time.
            assert!(t.in_use <= 1, "more in use than ever held: {t:?}");
        };
        let mut last = loop {
            let stats = pool.stats();
            check(&stats);
            if stats.tiers[0].returns > 0 {
                break stats;
            }
            thread::yield_now();
        };
        for _ in 0..2 {
            thread::yield_now();
            let stats = pool.stats();
            check(&stats);
            assert_monotonic(&last, &stats);
            last = stats;
        }
        worker.join().unwrap();
        let_exited_threads_finish();
        let stats = pool.stats();
        assert_monotonic(&last, &stats);
        assert_settled(&pool, &shadows, 2);
    });
}

/// A message of two segment blocks is written and frozen on the main
/// thread; a clone goes to another thread, which reads it and advances
/// through both segments (each `advance` past a segment drops that
/// segment's reference at once) while the main thread reads and drops its
/// copy. Either thread may release a block last, and both then get a
/// buffer, so a block is reused at once by whichever thread recycled it:
/// loom checks that every read of a segment happens before the reuse. The
/// reader hands its chain back empty but alive, so the consumed segments
/// must already be back in the pool, not merely when the chain drops.
///
/// Shown to catch: `Segments::pop_front` cloning the slot instead of taking
/// it, and `SharedChain::advance` forgetting (`mem::forget`) a consumed
/// segment instead of dropping it; both fail the `in_use == 0` check after
/// the join ("consumed segments go back before the chain drops", `in_use:
/// 2`).
#[test]
fn chain_segments_released_while_advancing_on_another_thread() {
    run_model(
        "chain_segments_released_while_advancing_on_another_thread",
        || {
            let pool = tiny_pool(2, 2);
            let shadows = Shadows::new();
            let mut chain = pool.chain();
            assert_eq!(chain.segment_capacity(), TIER);
            let first = StdArc::new(shadows.fill_chain_block(&mut chain, 1));
            let second = StdArc::new(shadows.fill_chain_block(&mut chain, 2));
            let message = chain.freeze();
            assert_eq!((message.len(), message.segment_count()), (2 * TIER, 2));
            let theirs = message.clone();
            let reader = {
                let (pool, shadows) = (pool.clone(), shadows.clone());
                let (first, second) = (StdArc::clone(&first), StdArc::clone(&second));
                thread::spawn(move || {
                    let mut theirs = theirs;
                    first.check(&theirs.chunk()[HEADER..]);
                    theirs.advance(TIER);
                    assert_eq!(theirs.segment_count(), 1);
                    second.check(&theirs.chunk()[HEADER..]);
                    theirs.advance(TIER);
                    assert!(theirs.is_empty());
                    let (buf, again) = get_filled(&pool, &shadows, 3);
                    again.check_buf(&buf);
                    drop(buf);
                    theirs
                })
            };
            for (segment, stamp) in message.segments().zip([&first, &second]) {
                stamp.check(&segment[HEADER..]);
            }
            drop(message);
            let (buf, again) = get_filled(&pool, &shadows, 4);
            again.check_buf(&buf);
            drop(buf);
            let emptied = reader.join().unwrap();
            let_exited_threads_finish();
            assert_eq!(
                tier_stats(&pool).in_use,
                0,
                "consumed segments go back before the chain drops: {:?}",
                tier_stats(&pool)
            );
            drop(emptied);
            assert_settled(&pool, &shadows, 4);
        },
    );
}

/// A frozen frame is sliced and the slice sent to another thread, which
/// reads it and drops it, while the owner calls `try_into_mut` until it
/// succeeds and then writes into the block. The uniqueness check's
/// `Acquire` load, pairing with the slice's `Release` decrement, is what
/// makes the new owner's writes safe: loom checks (through the block's
/// shadow cell) that the reader's accesses happen before them.
#[test]
fn try_into_mut_after_slice_dropped_on_another_thread() {
    run_model("try_into_mut_after_slice_dropped_on_another_thread", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (buf, stamp) = get_filled(&pool, &shadows, 1);
        let frame = buf.freeze();
        let slice = frame.slice(HEADER..);
        let stamp = StdArc::new(stamp);
        let reader = {
            let stamp = StdArc::clone(&stamp);
            thread::spawn(move || {
                stamp.check(&slice);
                drop(slice);
            })
        };
        let mut view = frame;
        let mut buf = loop {
            match view.try_into_mut() {
                Ok(buf) => break buf,
                Err(shared) => {
                    view = shared;
                    thread::yield_now();
                }
            }
        };
        assert_eq!(buf.capacity(), TIER, "the frame starts the block");
        stamp.check_buf(&buf);
        buf.clear();
        let again = shadows.fill(&mut buf, 2);
        again.check_buf(&buf);
        drop(buf);
        reader.join().unwrap();
        assert_settled(&pool, &shadows, 1);
    });
}

/// Tries to get a buffer under the one-buffer in-use cap of
/// [`in_use_cap_races_try_get`], as holder `id`; `out` counts the buffers
/// held at once. Returns whether the pool granted it.
fn try_hold(pool: &Pool, shadows: &Shadows, out: &std::sync::atomic::AtomicUsize, id: u8) -> bool {
    use std::sync::atomic::Ordering::SeqCst;
    match pool.try_get(HEADER + PATTERN) {
        Ok(mut buf) => {
            let held = out.fetch_add(1, SeqCst) + 1;
            assert_eq!(held, 1, "holder {id}: two buffers out under a cap of one");
            let stamp = shadows.fill(&mut buf, id);
            stamp.check_buf(&buf);
            out.fetch_sub(1, SeqCst);
            true
        }
        Err(PoolError::Exhausted { requested, limit }) => {
            assert_eq!((requested, limit), (TIER, TIER), "holder {id}");
            false
        }
        Err(err) => panic!("holder {id}: {err}"),
    }
}

/// Two threads race `try_get` against a `max_in_use_bytes` cap that fits
/// one buffer: the charge is a compare-and-swap, so at most one buffer is
/// ever out, at least one request is granted, every refusal is counted in
/// `exhausted`, and once both buffers are back the budget charges exactly
/// nothing.
///
/// `out` is a `std` atomic, which loom does not see: it adds no
/// happens-before edge, and loom runs one thread at a time, so it counts
/// the buffers held at any instant exactly.
#[test]
fn in_use_cap_races_try_get() {
    run_model("in_use_cap_races_try_get", || {
        let pool = tiny_builder(2, 2)
            .max_in_use_bytes(TIER)
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let out = StdArc::new(std::sync::atomic::AtomicUsize::new(0));
        let other = {
            let (pool, shadows, out) = (pool.clone(), shadows.clone(), StdArc::clone(&out));
            thread::spawn(move || try_hold(&pool, &shadows, &out, 1))
        };
        let mine = try_hold(&pool, &shadows, &out, 2);
        let theirs = other.join().unwrap();
        let_exited_threads_finish();
        let granted = u64::from(mine) + u64::from(theirs);
        let stats = pool.stats();
        assert!(granted >= 1, "a refusal needs a buffer out: {stats:?}");
        assert_eq!(stats.exhausted, 2 - granted, "{stats:?}");
        assert_eq!(stats.over_budget, 0, "{stats:?}");
        let budget = stats.in_use_budget.expect("an in-use budget");
        assert_eq!(
            budget.used, 0,
            "every granted buffer was returned: {stats:?}"
        );
        assert_settled(&pool, &shadows, granted);
    });
}

/// Two buffers are returned at once, on two threads, to a pool whose
/// `max_cached_bytes` fits one block: each return charges the budget and
/// then frees its block if the budget is over (both may see the other's
/// charge, and both free). Once both threads are done the budget charges
/// exactly the idle blocks the pool keeps, within the cap, and each return
/// was either kept or counted in `dropped_over_budget`.
#[test]
fn cached_cap_races_returns() {
    run_model("cached_cap_races_returns", || {
        let pool = tiny_builder(2, 2)
            .max_cached_bytes(TIER)
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let returner = thread::spawn(move || {
            stamp_a.check_buf(&a);
            drop(a);
        });
        stamp_b.check_buf(&b);
        drop(b);
        returner.join().unwrap();
        let_exited_threads_finish();
        let stats = pool.stats();
        let tier = stats.tiers[0];
        let budget = stats.cached_budget.expect("a cached budget");
        assert_eq!(
            budget.used,
            tier.cached * TIER as u64,
            "the budget charges exactly the idle blocks: {stats:?}"
        );
        assert!(budget.used <= TIER as u64, "over the cap: {stats:?}");
        assert_eq!(tier.cached + tier.dropped_over_budget, 2, "{stats:?}");
        assert_settled(&pool, &shadows, 2);
    });
}

/// What [`zero_on_return_races_last_view_drop`] writes before the block is
/// zeroed.
const SECRET: u8 = 0xa5;

/// A frame of a `zero_on_return` pool, written over its whole block, is
/// split into two views, one per thread. Each thread checks its half (the
/// secret must still be there: the block is zeroed only after the last
/// view is gone), drops it and gets a buffer. The thread that dropped last
/// zeroed the block and cached it, so it gets the same block back (the
/// other may too, later): every byte must read zero. Nothing is freed while the threads run, so the
/// address identifies the block, and a shadow cell for it lets loom check
/// that the other thread's read happened before the zeroing and reuse.
#[test]
fn zero_on_return_races_last_view_drop() {
    run_model("zero_on_return_races_last_view_drop", || {
        let pool = tiny_builder(2, 2)
            .zero_on_return(true)
            .build()
            .expect("a valid configuration");
        let mut buf = pool.get(TIER);
        assert_eq!(buf.capacity(), TIER);
        let block = buf.as_ptr().addr();
        buf.resize(TIER, SECRET);
        let shadow = StdArc::new(ShadowCell(loom::cell::UnsafeCell::new(1)));
        let mut mine = buf.freeze();
        let theirs = mine.split_off(TIER / 2);
        // Checks `view`, drops it and gets a buffer; returns whether that
        // buffer is the block of `view`, zeroed.
        let check_drop_get = move |pool: &Pool, view: SharedBuf, shadow: &ShadowCell| {
            // SAFETY: loom checks this access against every other one.
            let seen = shadow.0.with(|value| unsafe { *value });
            assert_eq!(seen, 1, "the block was reused while a view was alive");
            assert!(
                view.iter().all(|&b| b == SECRET),
                "a view was zeroed while alive: {view:?}"
            );
            drop(view);
            let mut again = pool.get(TIER);
            if again.as_ptr().addr() != block {
                return false;
            }
            // SAFETY: as above.
            shadow.0.with_mut(|value| unsafe { *value = 2 });
            // SAFETY: every byte of the block was written (`resize`) before
            // it went back, then zeroed by the pool (or, if it was not,
            // still holds the secret), so all `TIER` bytes are initialised.
            unsafe { again.set_len(TIER) };
            let dirty = again.iter().filter(|&&b| b != 0).count();
            assert_eq!(
                dirty, 0,
                "a reused block was not zeroed: {dirty} bytes are not 0"
            );
            true
        };
        let other = {
            let (pool, shadow) = (pool.clone(), StdArc::clone(&shadow));
            thread::spawn(move || check_drop_get(&pool, theirs, &shadow))
        };
        let reused_here = check_drop_get(&pool, mine, &shadow);
        let reused_there = other.join().unwrap();
        // The thread that dropped last gets the block from its own cache;
        // the other may get it too, once the first has let go of it again.
        assert!(reused_here || reused_there, "the block was not reused");
        assert_settled(&pool, &Shadows::new(), 3);
    });
}

/// With `track_outstanding` and no thread caches, a buffer is returned on
/// one thread while the main thread gets one: the returned block goes
/// straight to the depot, where the getter may take it at once, so the
/// report's remove (keyed by block address) races the next holder's insert
/// for the same key. The report must list exactly the buffers out: one,
/// then at least the getter's own, then only that one, then none.
#[test]
fn outstanding_report_races_return() {
    run_model("outstanding_report_races_return", || {
        let pool = tiny_builder(0, 2)
            .track_outstanding(true)
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        assert_eq!(pool.outstanding().len(), 1);
        let returner = thread::spawn(move || {
            stamp_a.check_buf(&a);
            drop(a);
        });
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let during = pool.outstanding().len();
        assert!(
            (1..=2).contains(&during),
            "the report misses the buffer just got: {during} entries"
        );
        returner.join().unwrap();
        let_exited_threads_finish();
        let report = pool.outstanding();
        assert_eq!(report.len(), 1, "one buffer out: {report:?}");
        assert_eq!((report[0].capacity, report[0].tier), (TIER, Some(TIER)));
        stamp_b.check_buf(&b);
        drop(b);
        let report = pool.outstanding();
        assert!(report.is_empty(), "nothing out: {report:?}");
        assert_settled(&pool, &shadows, 2);
    });
}

/// With `record_sizes`, a worker requests two sizes and exits (its
/// histogram folds into the pool's retired totals) while the main thread
/// reads `size_histogram`: the totals never go backwards and never exceed
/// what was requested, and once the worker is gone they are exact.
///
/// As in [`stats_while_counting`], the reader first waits (yielding) until
/// the worker's requests show, so that a later read can race its exit.
/// Each read loads two counters per histogram bucket from every thread
/// (some thousand loom operations), hence the larger branch limit: room
/// for a few dozen reads, where a spinning bug still fails.
#[test]
fn size_recording_while_reading() {
    const SIZES: [usize; 3] = [10, 40, 64];
    let per_read = 2 * 2 * crate::stats::histogram::BUCKETS + 16;
    let branches = Some(40 * per_read);
    run_model_with_branches("size_recording_while_reading", branches, || {
        let pool = tiny_builder(2, 2)
            .record_sizes(true)
            .build()
            .expect("a valid configuration");
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || {
                drop(pool.get(SIZES[0]));
                drop(pool.get(SIZES[1]));
            })
        };
        let totals = || {
            let histogram = pool.size_histogram();
            let totals = (histogram.requests(), histogram.requested_bytes());
            assert!(totals.0 <= 2, "more requests than made: {totals:?}");
            assert!(
                totals.1 <= (SIZES[0] + SIZES[1]) as u128,
                "more bytes than requested: {totals:?}"
            );
            totals
        };
        let mut last = loop {
            let seen = totals();
            if seen.0 == 2 {
                break seen;
            }
            thread::yield_now();
        };
        for _ in 0..2 {
            thread::yield_now();
            let seen = totals();
            assert!(
                seen.0 >= last.0 && seen.1 >= last.1,
                "size totals went backwards: {last:?} then {seen:?}"
            );
            last = seen;
        }
        worker.join().unwrap();
        let_exited_threads_finish();
        drop(pool.get(SIZES[2]));
        let histogram = pool.size_histogram();
        assert_eq!(
            (histogram.requests(), histogram.requested_bytes()),
            (3, SIZES.iter().sum::<usize>() as u128),
            "every request recorded once: {histogram:?}"
        );
        assert_settled(&pool, &Shadows::new(), 3);
    });
}

// --- waiting for memory (src/budget.rs, src/quota.rs) ---------------------
//
// A waiter that is never woken makes loom report a deadlock; accounting is
// checked exactly at the end of each execution.

/// A release on one thread and a request that must wait for it on
/// another: the waiter is always woken (no lost wake-up), and gets
/// exactly the bytes released.
#[test]
fn budget_release_races_a_new_waiter() {
    run_model("budget_release_races_a_new_waiter", || {
        let budget = Arc::new(WaitableBudget::new(10));
        assert!(budget.try_acquire(10));
        let releaser = thread::spawn({
            let budget = Arc::clone(&budget);
            move || budget.release(10)
        });
        block_on(budget.acquire(10));
        releaser.join().unwrap();
        assert_eq!(budget.used(), 10);
        budget.release(10);
        assert!(budget.is_idle(), "the budget ends idle: {budget:?}");
    });
}

/// A waiter that gives up (polled once, then dropped) races a release
/// and a second waiter: whatever the order, the second waiter is
/// served, the first one keeps nothing, and no waiter bit is left.
#[test]
fn budget_cancel_races_release_and_a_new_waiter() {
    run_model("budget_cancel_races_release_and_a_new_waiter", || {
        let budget = Arc::new(WaitableBudget::new(10));
        assert!(budget.try_acquire(10));
        let releaser = thread::spawn({
            let budget = Arc::clone(&budget);
            move || budget.release(10)
        });
        let quitter = thread::spawn({
            let budget = Arc::clone(&budget);
            move || {
                let mut give_up = pin!(budget.acquire(4));
                let waker = futures::task::noop_waker();
                // Served or queued, it leaves now; served bytes are
                // the caller's, so it gives them back itself.
                let polled = give_up.as_mut().poll(&mut Context::from_waker(&waker));
                if polled.is_ready() {
                    budget.release(4);
                }
            }
        });
        block_on(budget.acquire(10));
        releaser.join().unwrap();
        quitter.join().unwrap();
        assert_eq!(budget.used(), 10);
        budget.release(10);
        assert!(budget.is_idle(), "the budget ends idle: {budget:?}");
    });
}

/// A large waiter at the head, which holds back a smaller one that
/// would fit, gives up on another thread: the smaller one is served
/// then, with no release to wake it.
#[test]
fn budget_head_that_leaves_lets_the_next_one_through() {
    run_model("budget_head_that_leaves_lets_the_next_one_through", || {
        let budget = Arc::new(WaitableBudget::new(10));
        assert!(budget.try_acquire(6));
        let quitter = thread::spawn({
            let budget = Arc::clone(&budget);
            move || {
                let mut too_big = pin!(budget.acquire(10));
                let waker = futures::task::noop_waker();
                let polled = too_big.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(polled.is_pending(), "10 bytes cannot fit while 6 are held");
            }
        });
        block_on(budget.acquire(4));
        quitter.join().unwrap();
        assert_eq!(budget.used(), 10);
        budget.release(10);
        assert!(budget.is_idle(), "the budget ends idle: {budget:?}");
    });
}

/// A quota inside a capped pool: a view charged to both, dropped on
/// another thread, wakes a request waiting on the quota, and both
/// counts settle exactly (the quota's charge and the pool's are
/// released by the same return).
#[test]
fn budget_quota_and_pool_release_together() {
    run_model("budget_quota_and_pool_release_together", || {
        let pool = Pool::builder()
            .tier(TierConfig::new(64).thread_cache_buffers(1).depot_buffers(1))
            .max_in_use_bytes(128)
            .build()
            .unwrap();
        let quota = pool.quota(64);
        let mut buf = quota.try_get(64).unwrap();
        buf.extend_from_slice(b"frame");
        let view = buf.freeze();
        let reader = thread::spawn(move || drop(view));
        let again = block_on(quota.get_async(64)).unwrap();
        reader.join().unwrap();
        assert_eq!(quota.stats().used, 64);
        assert_eq!(pool.stats().in_use_budget.unwrap().used, 64);
        drop(again);
        assert_eq!(quota.stats().used, 0);
        assert_eq!(pool.stats().in_use_budget.unwrap().used, 0);
        assert_eq!(quota.stats().gets, 2);
    });
}

/// The wake-up path end to end: the last view of a buffer, dropped on
/// another thread, wakes a task waiting in `get_async` for its bytes.
#[test]
fn budget_view_drop_wakes_get_async() {
    run_model("budget_view_drop_wakes_get_async", || {
        let pool = Pool::builder()
            .tier(TierConfig::new(64).thread_cache_buffers(1).depot_buffers(1))
            .max_in_use_bytes(64)
            .build()
            .unwrap();
        let mut buf = pool.try_get(64).unwrap();
        buf.extend_from_slice(b"frame");
        let view = buf.freeze();
        let reader = thread::spawn(move || {
            assert_eq!(&view[..], b"frame");
            drop(view);
        });
        let again = block_on(pool.get_async(64)).unwrap();
        assert_eq!(again.capacity(), 64);
        reader.join().unwrap();
        assert_eq!(pool.stats().in_use_budget.unwrap().used, 64);
        drop(again);
        assert_eq!(pool.stats().in_use_budget.unwrap().used, 0);
        assert_eq!(pool.stats().over_budget, 0);
    });
}

/// Two threads free blocks of one region while a third allocates: with
/// no thread cache and no depot every return frees its block, so each
/// drop gives a slot back to the region (under the regions' lock) while
/// the third thread's miss takes one: a slot just given back (its shadow
/// cell then checks that the old holder's accesses happen before the new
/// one's, through that lock), or, when both are still out, a second
/// region. In the end every slot is free and every region is gone (loom's
/// leak check fails on a region that is never given back).
#[test]
fn region_slots_freed_while_another_thread_allocates() {
    run_model("region_slots_freed_while_another_thread_allocates", || {
        let pool = tiny_builder(0, 0)
            .backing(crate::Backing::Regions(
                crate::RegionConfig::new().size(2 * TIER),
            ))
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let report = pool.backing_report();
        assert_eq!(report.regions.len(), 1, "two slots to a region");
        assert_eq!(report.regions[0].slots_in_use, 2);
        let free_a = thread::spawn(move || {
            stamp_a.check_buf(&a);
            drop(a);
        });
        let free_b = thread::spawn(move || {
            stamp_b.check_buf(&b);
            drop(b);
        });
        let taker = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (c, stamp) = get_filled(&pool, &shadows, 3);
                let report = pool.backing_report();
                assert!(
                    report.regions.iter().any(|r| r.contains(c.as_ptr())),
                    "a block outside every region: {report:?}"
                );
                stamp.check_buf(&c);
            })
        };
        free_a.join().unwrap();
        free_b.join().unwrap();
        taker.join().unwrap();
        assert_settled(&pool, &shadows, 3);
        let report = pool.backing_report();
        assert_eq!(report.mapped_bytes, 0, "every slot is free: {report:?}");
    });
}

/// A registration with io_uring races the drop of the last block of the
/// pool's only region, and then a new block is taken. The registrar takes
/// the table of regions (`pin_table`), the system call would run, and it
/// records which regions the ring now names (`record_registration`).
/// Whichever way they interleave, a region the registrar put in its table
/// is still mapped at the same place when it records the registration
/// (were it unmapped in between, its index could go to a new region the
/// ring does not know), and stays mapped afterwards; a block taken after a
/// registration lies in a registered region and reports its index, or, if
/// the region went before the registrar looked, reports that the pool was
/// never registered.
#[cfg(all(feature = "io-uring", target_os = "linux"))]
#[test]
fn registration_races_the_last_block_of_a_region() {
    use crate::{Fixed, Unregistered};

    run_model("registration_races_the_last_block_of_a_region", || {
        let pool = tiny_builder(0, 0)
            .backing(crate::Backing::Regions(
                crate::RegionConfig::new().size(2 * TIER),
            ))
            .build()
            .expect("a valid configuration");
        let last = pool.get(TIER);
        let registrar = {
            let pool = pool.clone();
            thread::spawn(move || {
                let regions = pool.shared().regions.as_ref().expect("region-backed");
                let table = regions.pin_table();
                match crate::uring::fixed::iovecs(&table, 0) {
                    Ok((_, indices, _)) => regions.record_registration(Some(&indices)),
                    Err(_) => regions.record_registration(None),
                }
                table
                    .iter()
                    .map(|entry| entry.map(|(start, len)| (start.as_ptr().addr(), len)))
                    .collect::<Vec<_>>()
            })
        };
        let freer = thread::spawn(move || drop(last));
        let table = registrar.join().unwrap();
        freer.join().unwrap();

        let report = pool.backing_report();
        for (index, entry) in table.iter().enumerate() {
            let Some((start, len)) = *entry else { continue };
            assert!(
                report
                    .regions
                    .iter()
                    .any(|r| r.index == index && r.start == start && r.len == len),
                "registered region {index} was unmapped: {report:?}"
            );
        }
        let next = pool.get(TIER);
        match (next.fixed(), table.is_empty()) {
            (
                Fixed::Registered {
                    buf_index, addr, ..
                },
                false,
            ) => {
                let (start, len) = table[usize::from(buf_index)].expect("a registered index");
                assert!(
                    (start..start + len).contains(&addr.addr()),
                    "block {addr:?} outside registered region {buf_index}"
                );
            }
            (Fixed::Unregistered(Unregistered::NotRegistered), true) => {}
            (fixed, _) => panic!("after registering {table:?}: {fixed:?}"),
        }
    });
}
