//! How the pool works inside: a design note (this module has no items).
//!
//! # Architecture
//!
//! ```text
//!  get(n) ──► route: smallest tier >= n ──(none)──► plain allocation, counted,
//!             │                                    freed when dropped
//!             ▼
//!   thread cache[pool slot][tier]  ── hit: pop, no lock, no shared atomic ──► PooledBuf
//!             │ empty: take a batch (half the cache depth) under one lock
//!             ▼
//!   depot[tier] (bounded stack, mutex) ── empty: allocate a block
//!             ▲
//!             │ cache full: move a batch of the oldest blocks; depot full: free
//!   drop(PooledBuf / last SharedBuf / last Bytes) ──► dropping thread's cache[tier]
//! ```
//!
//! # Vocabulary
//!
//! - A **tier** is a size class. Outside the crate a tier is known by its
//!   **capacity** (`Pool::tiers`, `PooledBuf::tier`, `TierStats::capacity`);
//!   inside, by its index in the pool's list.
//! - A **block** is the memory behind a buffer: one allocation of its tier's
//!   capacity (or, for an oversize request, of exactly the size asked for:
//!   an *unpooled* block). A block is *idle* when nobody holds it.
//! - A **buffer** (`PooledBuf`) writes into a block; a **view** (`SharedBuf`)
//!   reads a frozen part of one.
//! - **Depth** is a number of buffers (`thread_cache_buffers`,
//!   `depot_buffers`); **bytes** are bytes.
//!
//! # Reading order
//!
//! `src/` is a stack of layers, one folder each. A file uses only its own
//! folder and the layers below it (`scripts/module_graph.py` prints the
//! graph and fails on a cycle between folders; `.ci/run` runs it). Read
//! bottom-up to see each piece before what builds on it, or top-down to
//! follow a call:
//!
//! ```text
//!  io.rs           tokio: frames read into chains, vectored frame writes
//!  uring/          io_uring: fixed buffers, provided rings, tokio-uring
//!  pool/           the handles: Pool (mod.rs), PoolBuilder and TierConfig
//!                  (builder.rs), Quota (quota.rs), the tier advisor
//!  buf/            what users hold: PooledBuf (pooled.rs), SharedBuf
//!                  (view.rs), the chains (chain.rs), Bytes interop
//!  engine/         one pool's state and machinery: PoolState and its policy,
//!                  hand-out and return side by side (state.rs); the tier
//!                  router; per-thread caches (thread_cache.rs) and the
//!                  thread-local table that finds them (local_table.rs); the
//!                  bounded depots; the block header (block.rs); the
//!                  outstanding log; the quota's account; the validated config
//!  stats/          single-writer and shared counters (counters.rs), the
//!                  per-thread registry, the PoolStats snapshot (mod.rs),
//!                  size histograms, the metrics publisher
//!  memory/         byte budgets (budget.rs); region backing (region/: the
//!                  slot allocator, its configuration, reports, and the
//!                  system calls per OS)
//!  error.rs fmt.rs errors and the panic of the infallible entry points;
//!                  display helpers
//!  sync/           the one switch between std and loom (mod.rs), and the
//!                  asymmetric fences (asymmetric.rs)
//! ```
//!
//! Three knots remain, each inside one folder and inherent to what it
//! joins: in `engine/`, the last `BlockRef` of a block hands it back
//! through `PoolState::recycle`, so the block and the state name each
//! other; in `buf/`, `PooledBuf::freeze` makes a view and
//! `SharedBuf::try_into_mut` makes a buffer again (as `bytes` joins `Bytes`
//! and `BytesMut`); in `pool/`, `Pool::builder` and `PoolBuilder::build`,
//! and `Pool::quota` and `Quota::pool`. Each folder's module doc says the
//! same for its own files.
//!
//! # Blocks
//!
//! Every buffer's memory is a *block*: one allocation of the tier's capacity
//! (aligned as configured) plus a small header allocated with it once and
//! reused with it. The header holds:
//!
//! - the reference count shared by the mutable [`PooledBuf`](crate::PooledBuf)
//!   and every [`SharedBuf`](crate::SharedBuf) view of the block, so freeze,
//!   clone and slice allocate nothing;
//! - the tier, and a strong reference to the pool, so a block can be
//!   returned from any thread, after every `Pool` handle is gone;
//! - copies of the pool's opt-in flags (zero on return, budgets, tracking,
//!   oversize), so the hot path reads them from a cache line it already
//!   holds, and tests them all at once;
//! - where the `PooledBuf` holding the block starts (it moves forward as
//!   `split_to` freezes frames off the front) and ends (the end of the
//!   block, unless `split_off` froze a tail that views still read), and
//!   whether the rest of its region is initialised already (so `read_from`
//!   zeroes a block's spare capacity once per hand-out, not on every call,
//!   as std's `BorrowedBuf` remembers). Only that buffer touches them, and
//!   keeping them here makes a `PooledBuf` two words (block and length),
//!   which functions pass and return in registers. The header stays 64
//!   bytes. When the buffer needs room and no view shares the block any
//!   more, it takes the whole block back (as `BytesMut::reserve` does).
//!
//! That last point is also why [`PooledBuf::split_to`](crate::PooledBuf::split_to)
//! and [`split_off`](crate::PooledBuf::split_off) return a frozen
//! `SharedBuf`, where `BytesMut`'s return another `BytesMut`: a block has
//! at most one mutable buffer, whose region lives in the header. Two mutable halves would each need their own start, making
//! every buffer three words and every get and drop slower, for a pattern
//! (writing into a part already split off) that codecs rarely need.
//!
//! A block that nobody holds is *idle*: it sits in a thread cache or a depot
//! with a reference count of 1. The last holder to let go (the `PooledBuf`
//! or a view, with an acquire fence after its release decrement, as `Arc`
//! does) recycles it.
//!
//! # Thread caches
//!
//! Each thread has one table of caches indexed by the pools' *slots* (a
//! small number each pool takes from a process-wide registry when built and
//! gives back when its last handle drops). Two pools used from one thread
//! therefore never evict each other. An entry holds a stack of idle blocks
//! per tier, its own event counters, and a strong reference to its pool; a
//! slot reused by a new pool is recognised by pointer and the stale entry
//! freed.
//!
//! A get pops from the stack; a drop pushes onto the dropping thread's
//! stack. When a stack is empty it takes a batch from the depot; when full
//! it moves a batch of its oldest blocks there, so the depot's lock is taken
//! once per batch, not once per operation (Bonwick's magazines, jemalloc's
//! tcache). A thread that exits hands its cached blocks to the depots.
//!
//! A trim on any thread also reaches the other threads' stacks: the pool
//! keeps a registry of its thread caches, and a trim takes blocks out of a
//! cache whose owner is not in the middle of a get or a return. The two
//! sides meet in a store-buffering handshake: the owner sets a `busy` flag,
//! issues a compiler-only fence and checks for a pending trim; the trim
//! marks every cache, issues one process-wide barrier (`membarrier` on
//! Linux, which makes every running thread of the process execute a full
//! fence) and checks the `busy` flags. One side always sees the other, so
//! the owner's fast path needs no lock and no atomic read-modify-write: two
//! plain stores and a load, on a cache line it alone writes. An owner that
//! finds a trim at work goes to the depot for that one operation; a trim
//! that finds an owner busy, or that cannot issue the barrier, leaves a
//! request the owner answers at its next operation. This is the asymmetric
//! fence pattern of folly's hazard pointers and of the C++ proposal P1202.
//!
//! # Statistics
//!
//! Counters live in the thread's cache entry and are written with a plain
//! load and store (no read-modify-write); `stats()` sums every thread's
//! counters plus those of threads that have exited. Gauges (`in_use`,
//! `cached`) are derived from the counters and clamped at zero, since a
//! snapshot taken while threads work may see a return before its get.
//!
//! # Idle memory
//!
//! Each thread cache and each depot remembers its low-water mark: the fewest
//! idle blocks it held since the last collection. Blocks below that mark
//! were not needed by anyone in the meantime. A thread looks at the clock
//! every 4096 gets served from one tier of its cache (counted by the hit
//! counter it keeps anyway; on a thread that mostly returns buffers, every
//! 4096 returns). If the pool's idle decay period
//! ([`PoolBuilder::idle_decay_period`](crate::PoolBuilder::idle_decay_period))
//! has passed since its last collection, it moves three quarters of its
//! unneeded blocks to the depot and frees three quarters of the depot's. So
//! retained memory decays geometrically toward the working set, about once
//! a period, without a background thread;
//! [`Pool::trim_idle`](crate::Pool::trim_idle) does a full collection on
//! demand, of every thread's cache, and [`Pool::trim`](crate::Pool::trim)
//! frees everything idle. With no traffic at all, a timer calling
//! `trim_idle` (or `Pool::trim_idle_every`, a tokio task) bounds idle
//! memory in time: see [operations](crate::operations#decay-over-time).
//!
//! The period is measured in time, not in operations, because freeing is
//! not free: a block the pool frees usually stays resident in the
//! allocator's heap, and a burst that allocates it again can land
//! elsewhere and grow the heap: in the broker benchmark, collections every
//! 4096 hits (some 50 ms apart) raised peak RSS by half over no periodic
//! collection, where periods of a second or more did not (the figures are in
//! [`BENCHMARKS.md`](https://github.com/tierpool/tierpool/blob/main/BENCHMARKS.md)).
//!
//! Region backing applies the same period one level down, as jemalloc's
//! dirty-page decay does: a freed block's slot keeps its pages (dirty)
//! and is the first its tier reuses, and only slots dirty for a whole
//! period (or beyond a bound on dirty bytes, oldest first) give their
//! pages back, checked when slots are taken and given back; trims purge
//! them all (see [backing memory](crate::operations#backing-memory)).
//!
//! # Chains
//!
//! A [`PooledChain`](crate::PooledChain) is a list of frozen, full
//! [`SharedBuf`](crate::SharedBuf) segments plus one `PooledBuf` being
//! written. A block is taken only when the one being written is full, so
//! a chain never holds more than one partly written block, and a reader
//! that knows how many bytes remain sizes that block to them. Freezing
//! moves the last buffer into the list; a [`SharedChain`](crate::SharedChain)
//! is that list (inline up to four segments) and a length. Every segment
//! is an ordinary view, so chains need no new unsafe code and no new place
//! where threads meet: their blocks return through the same path as any
//! view's.
//!
//! # Waiting for memory
//!
//! `max_in_use_bytes` and each [`Quota`](crate::Quota) are byte semaphores
//! (`budget.rs`): one atomic holds the bytes charged and a *waiters* bit;
//! a FIFO queue of waiters sits behind a mutex. The bit is set and cleared
//! under that mutex, so a return learns whether anyone waits from the same
//! `fetch_sub` that gives its bytes back, and a new waiter that sets the
//! bit and then retries cannot miss a return: both act on one location,
//! and `Relaxed` is enough. Returned bytes go to the head of the queue;
//! requests that do not wait (`try_get`) are refused while anyone waits,
//! so nobody overtakes the queue. A future dropped while queued leaves it
//! (and serves it again: it may have been the head); one dropped after
//! being granted gives the bytes back.
//!
//! A block charged to a quota carries it in its header (an `Arc`, and a
//! `QUOTA` bit in the header's flags), written by the hand-out while the
//! block has one holder and taken back by the last holder's return; the
//! bit keeps the return's fast path a single test of the flags byte.
//!
//! # Verification
//!
//! `src/sync/` is the only module that imports synchronisation primitives;
//! under `--cfg loom` it switches to loom's, and the loom models in
//! `src/loom_tests/` (one file per topic: caches, views, trims, stats,
//! budgets, memory) explore batch transfer, cross-thread returns, last-view
//! drops racing clones and `try_into_mut`, thread exit, pool drop with
//! buffers out, trimming, stats reads, every opt-in path (both byte
//! budgets, zero on return, the outstanding report, size recording) and the
//! wait queue of `get_async` and quotas; `scripts/loom_mutants.py` shows
//! that each model catches a bug injected into a copy of the crate. Miri
//! runs the unit and integration tests under stacked and
//! tree borrows; a proptest state machine and a fuzz target check every
//! operation against a reference model.
