//! The handles users hold: [`Pool`] (this file), its builder
//! ([`builder`]), [`Quota`] ([`quota`]) and the tier advisor ([`advisor`]).
//! Policy and state live in the engine's
//! [`PoolState`](crate::engine::state::PoolState); these only route calls
//! there.
//!
//! The handles name each other, inherently: `Pool::builder` makes a
//! builder and `PoolBuilder::build` a pool; `Pool::quota` makes a quota
//! and `Quota::pool` gives the pool back.

pub(crate) mod advisor;
pub(crate) mod builder;
pub(crate) mod quota;

use std::fmt;
use std::time::Duration;

use crate::buf::chain::PooledChain;
use crate::buf::pooled::PooledBuf;
use crate::engine::config::PoolConfig;
use crate::engine::local_table;
use crate::engine::outstanding::OutstandingBuf;
use crate::engine::state::{OverLimit, PoolState, Target};
use crate::error::{allocation_panic, PoolError};
use crate::pool::builder::PoolBuilder;
use crate::pool::quota::Quota;
use crate::stats::histogram::SizeHistogram;
use crate::stats::{PoolStats, QuotaUsage};
use crate::sync::{unmodelled, Arc, Ordering};

/// A tiered buffer pool. Cloning gives another handle to the same pool.
///
/// [`get`](Self::get) hands out a [`PooledBuf`] from the smallest tier that
/// fits the request; dropping the buffer returns its block to the pool,
/// on whichever thread that happens. Requests above the largest tier are
/// served by plain allocations that are counted and never kept.
///
/// Each thread keeps a small cache per tier, so a get or a drop usually
/// touches no lock and no shared atomic; caches exchange buffers with a
/// bounded depot per tier in batches.
///
/// When the last handle drops, the depots and the dropping thread's cache are
/// freed; buffers still out stay valid and are freed when dropped; other
/// threads free what they cached for the pool when they exit, or when a new
/// pool takes over the pool's slot in their cache table.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// let pool = tierpool::Pool::new();
/// let mut buf = pool.get(1500);
/// assert_eq!(buf.capacity(), 4096);
/// write!(buf, "hello")?;
/// assert_eq!(&buf[..], b"hello");
///
/// let pool2 = pool.clone();
/// std::thread::spawn(move || drop(buf)).join().unwrap(); // returns to `pool`
/// assert_eq!(pool2.stats().tiers[0].in_use, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Pool {
    shared: Arc<PoolState>,
}

impl Pool {
    /// A pool with the [`DEFAULT_TIERS`](crate::DEFAULT_TIERS) (4 KiB,
    /// 64 KiB, 1 MiB) and default limits (see
    /// [`TierConfig`](crate::TierConfig)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// assert_eq!(pool.tiers(), vec![4096, 65536, 1048576]);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        PoolBuilder::new()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder for a pool with custom tiers and limits.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().tiers([512, 8192]).build()?;
    /// assert_eq!(pool.get(600).capacity(), 8192);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    pub(crate) fn from_config(config: PoolConfig, name: unmodelled::Arc<str>) -> Self {
        Pool {
            shared: Arc::new(PoolState::new(config, name)),
        }
    }

    /// The pool's name: the one given to [`PoolBuilder::name`], or
    /// `pool-N` for the `N`th pool built without one.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().name("rpc").build()?;
    /// assert_eq!(pool.name(), "rpc");
    /// assert_eq!(pool.clone().name(), "rpc"); // every handle shares it
    /// assert_eq!(tierpool::global().name(), "global");
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// An empty buffer with room for at least `capacity` bytes.
    ///
    /// The buffer comes from the smallest tier whose capacity is at least
    /// `capacity`; above the largest tier it is a plain allocation of exactly
    /// `capacity` bytes, counted in [`PoolStats::oversize`] and freed on drop.
    /// It is always empty (`len() == 0`): bytes an earlier holder wrote are
    /// not readable.
    ///
    /// # Reading into it
    ///
    /// **`read(&mut buf)` reads nothing into a fresh buffer.** The buffer
    /// dereferences to its *written* bytes, which are none, so
    /// `sock.read(&mut pool.get(10))` compiles and returns `Ok(0)` at once
    /// (which looks like end of file), and `read_exact` "succeeds" having
    /// read nothing. Read into the spare capacity instead: tokio's
    /// `read_buf` or `bytes::BufMut` users take the buffer as is,
    /// [`PooledBuf::read_from`] does it for `std::io::Read`, and
    /// [`resize`](PooledBuf::resize) first if you want `&mut [u8]`.
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let pool = tierpool::Pool::new();
    /// let mut input: &[u8] = b"ping";
    ///
    /// let mut wrong = pool.get(10);
    /// assert_eq!(input.read(&mut wrong)?, 0); // an empty slice: no bytes read
    ///
    /// let mut right = pool.get(10);
    /// assert_eq!(right.read_from(&mut input)?, 4);
    /// assert_eq!(&right[..], b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If a block must be allocated and cannot be:
    ///
    /// * `capacity` is above the largest tier and larger than `isize::MAX`
    ///   bytes (with the alignment), or the allocator refuses it;
    /// * the tier has no idle block and the allocator refuses a new one: out
    ///   of memory, or a tier larger than the machine can provide (the
    ///   builder accepts any capacity up to `isize::MAX`; see
    ///   [`PoolBuilder::build`]).
    ///
    /// A budget never makes `get` panic: over
    /// [`max_in_use_bytes`](PoolBuilder::max_in_use_bytes) it serves the
    /// buffer and counts it. Use [`try_get`](Self::try_get) for an error
    /// instead of a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let buf = pool.get(4097);
    /// assert!(buf.is_empty());
    /// assert_eq!(buf.capacity(), 64 << 10);
    /// assert_eq!(buf.tier(), Some(64 << 10));
    ///
    /// let huge = pool.get(3 << 20);
    /// assert_eq!(huge.tier(), None);
    /// assert_eq!(huge.capacity(), 3 << 20);
    /// ```
    // Always inlined: the fast path is a handful of instructions, and
    // inlined it keeps the buffer in registers (see `implementation`).
    #[inline(always)]
    #[track_caller]
    pub fn get(&self, capacity: usize) -> PooledBuf {
        if !self.shared.governed {
            if let Some(tier) = self.shared.route(capacity) {
                if let Some(idle) = local_table::take(&self.shared, tier) {
                    return PooledBuf::from_block(idle.into_ref());
                }
            }
        }
        self.get_slow(capacity)
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn get_slow(&self, capacity: usize) -> PooledBuf {
        let target = self.shared.target(capacity);
        match PoolState::handout(&self.shared, target, capacity, OverLimit::Serve) {
            Ok(block) => PooledBuf::from_block(block),
            Err(err) => allocation_panic(err),
        }
    }

    /// An empty buffer from the smallest tier that fits, never a plain
    /// allocation.
    ///
    /// # Errors
    ///
    /// [`PoolError::Oversize`] if `capacity` is above the largest tier;
    /// [`PoolError::Exhausted`] if the pool's
    /// [`max_in_use_bytes`](PoolBuilder::max_in_use_bytes) would be
    /// exceeded; [`PoolError::OutOfMemory`] if the tier had no idle buffer
    /// and the allocator refused a new one (out of memory, or a tier larger
    /// than the machine can provide). `try_get` never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::PoolError;
    ///
    /// let pool = tierpool::Pool::new();
    /// assert_eq!(pool.try_get(100)?.capacity(), 4096);
    /// assert!(matches!(pool.try_get(usize::MAX), Err(PoolError::Oversize { .. })));
    /// # Ok::<(), PoolError>(())
    /// ```
    #[inline]
    pub fn try_get(&self, capacity: usize) -> Result<PooledBuf, PoolError> {
        let Some(tier) = self.shared.route(capacity) else {
            PoolState::record_size(&self.shared, capacity);
            return Err(PoolError::Oversize {
                requested: capacity,
                largest_tier: self.shared.largest_tier(),
            });
        };
        if !self.shared.governed {
            if let Some(idle) = local_table::take(&self.shared, tier) {
                return Ok(PooledBuf::from_block(idle.into_ref()));
            }
        }
        PoolState::handout(
            &self.shared,
            Target::Tier(tier),
            capacity,
            OverLimit::Refuse,
        )
        .map(PooledBuf::from_block)
    }

    /// An empty buffer, like [`try_get`](Self::try_get), that waits for
    /// memory instead of failing: while handing it out would take the
    /// pool over [`max_in_use_bytes`](PoolBuilder::max_in_use_bytes), the
    /// future waits until enough bytes come back.
    ///
    /// * **Order.** Waiters are served first come, first served: bytes
    ///   returned go to the oldest waiter, and while anyone waits, new
    ///   requests queue behind (and `try_get` fails), so a large request
    ///   is never starved by later small ones.
    /// * **Cancellation.** Dropping the future at any point reserves
    ///   nothing, and lets whoever can now be served go.
    /// * **Wake-ups** come from every return of bytes, on any thread: a
    ///   dropped [`PooledBuf`], the last view or `Bytes` of a frozen one, a
    ///   chain's segment.
    /// * **Any executor.** The future uses nothing but the `Waker` it is
    ///   polled with: no runtime, no timer, no thread of its own (the tests
    ///   drive it with tokio, smol and `futures::executor`).
    ///
    /// Without a cap it never waits: it is `get` returning errors instead
    /// of panicking. Above the largest tier it serves a plain allocation,
    /// as [`get`](Self::get) does, counted against the cap like any block.
    ///
    /// [`get`](Self::get) and growth ([`PooledBuf::reserve`], writes past
    /// the capacity) never wait: they serve at once, over the cap if need
    /// be, and count it in [`PoolStats::over_limit`]; the bytes they hold
    /// delay waiters until they come back. Use
    /// [`try_reserve`](PooledBuf::try_reserve) to grow only within the cap.
    ///
    /// # Errors
    ///
    /// [`PoolError::OverLimit`] at once if the block is larger than the
    /// whole cap (no wait could serve it); [`PoolError::CapacityOverflow`]
    /// or [`PoolError::OutOfMemory`] if the block cannot be allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = tierpool::Pool::builder().max_in_use_bytes(8192).build()?;
    /// let first = pool.get_async(4096).await?;
    /// let second = pool.get_async(4096).await?;
    /// assert!(pool.try_get(100).is_err()); // the cap is reached
    ///
    /// let waiting = pool.get_async(100); // would wait for a return
    /// drop(first); // ... which this is
    /// let third = waiting.await?;
    /// assert_eq!(third.capacity(), 4096);
    ///
    /// assert!(matches!(
    ///     pool.get_async(1 << 20).await,
    ///     Err(tierpool::PoolError::OverLimit { .. })
    /// ));
    /// # drop((second, third));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_async(&self, capacity: usize) -> Result<PooledBuf, PoolError> {
        let target = self.shared.target(capacity);
        PoolState::handout_waiting(&self.shared, target, capacity, None)
            .await
            .map(PooledBuf::from_block)
    }

    /// A [`Quota`]: a cap of `max_bytes` on the buffers handed out through
    /// it, within this pool (and its own cap). Give one to each
    /// connection, tenant or stream, so that one that holds memory (a slow
    /// consumer) waits on its own quota without starving the others.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let connection = pool.quota(64 << 10);
    /// let frame = connection.get(1000);
    /// assert_eq!(connection.stats().used, 4096);
    /// assert!(connection.try_get(64 << 10).is_err());
    /// # drop(frame);
    /// ```
    pub fn quota(&self, max_bytes: usize) -> Quota {
        Quota::new(self.clone(), max_bytes)
    }

    /// Who holds the memory: every live [`Quota`] of this pool (one with
    /// a handle or a buffer still out), with the bytes charged to it, the
    /// most first. A broker under overload reads it to find the
    /// connection to cut, as the example below does.
    ///
    /// It takes a lock that only making a quota and this call take, and
    /// reads each quota's count: the get and return paths never wait for
    /// it. The figures are each exact at some moment during the call.
    ///
    /// # Examples
    ///
    /// Shedding: once requests have waited for the pool's cap too long
    /// (`pool.stats().waiting.oldest_wait` above a limit), close the
    /// connection whose quota holds the most. Here, finding it:
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// let pool = tierpool::Pool::builder().max_in_use_bytes(1 << 20).build()?;
    /// let mut connections = HashMap::new();
    /// for name in ["a", "b", "c"] {
    ///     let quota = pool.quota(1 << 20);
    ///     connections.insert(quota.id(), (name, quota));
    /// }
    /// let held: Vec<_> = connections
    ///     .values()
    ///     .map(|(name, quota)| quota.get(if *name == "b" { 500_000 } else { 100 }))
    ///     .collect();
    ///
    /// let largest = pool.quotas()[0];
    /// let (name, _quota) = &connections[&largest.id];
    /// assert_eq!((*name, largest.used), ("b", 1 << 20));
    /// # drop(held);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn quotas(&self) -> Vec<QuotaUsage> {
        self.shared.quotas.usages()
    }

    /// The state shared by every handle.
    pub(crate) fn shared(&self) -> &Arc<PoolState> {
        &self.shared
    }

    /// An empty segmented buffer: a message of any length held as a chain
    /// of blocks of the pool's segment tier (see
    /// [`PoolBuilder::segment_capacity`]), taken as bytes are written. See
    /// [`PooledChain`] for when to prefer it over [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BufMut;
    ///
    /// let pool = tierpool::Pool::new();
    /// let mut chain = pool.chain();
    /// chain.put_bytes(0, 5 << 20); // above the largest tier, still pooled
    /// let message = chain.freeze();
    /// assert_eq!(message.segment_count(), 80);
    /// assert_eq!(pool.stats().oversize.allocations, 0);
    /// ```
    pub fn chain(&self) -> PooledChain {
        PooledChain::new(Arc::clone(&self.shared))
    }

    /// The capacities of the tiers, smallest first.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::Pool::new().tiers(), tierpool::DEFAULT_TIERS.to_vec());
    /// ```
    #[must_use]
    pub fn tiers(&self) -> Vec<usize> {
        self.shared.capacities().collect()
    }

    /// A snapshot of the pool's counters, summed over all threads, with
    /// the pool's [`name`](Self::name).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let buf = pool.get(10);
    /// assert_eq!(pool.stats().tiers[0].in_use, 1);
    /// drop(buf);
    /// assert_eq!(pool.stats().tiers[0].in_use, 0);
    /// ```
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let mut stats = self.shared.stats();
        stats.name = self.shared.name.to_string();
        stats
    }

    /// Publishes the pool's counters and gauges through the
    /// [`metrics`](https://docs.rs/metrics) facade, to whatever recorder
    /// the program installed (a Prometheus exporter, an OpenTelemetry
    /// bridge, ...), and returns the snapshot it published.
    ///
    /// It takes one [`stats`](Self::stats) snapshot: the hot path does not
    /// change and pays nothing for metrics. Call it periodically (every
    /// few seconds, or before each scrape) from a thread or task of your
    /// own; counters move only when it runs.
    ///
    /// | metric | kind | labels | value, from the [`PoolStats`] snapshot |
    /// |---|---|---|---|
    /// | `tierpool_hits_total` | counter | `pool`, `tier` | gets served from an idle buffer: `hits` (none for oversize) |
    /// | `tierpool_returns_total` | counter | `pool`, `tier` | buffers whose last holder let go: `returns`; oversize: `allocations - in_use` (frees) |
    /// | `tierpool_misses_total` | counter | `pool`, `tier` | gets that allocated a block: `misses`; oversize: `oversize.allocations` |
    /// | `tierpool_dropped_total` | counter | `pool`, `tier`, `reason` | returns freed, not kept: `reason="full"` counts `dropped` (thread cache and depot full), `reason="max_cached_bytes"` counts `dropped_over_limit` |
    /// | `tierpool_trimmed_total` | counter | `pool`, `tier` | idle buffers freed by trims and idle collection: `trimmed` |
    /// | `tierpool_exhausted_total` | counter | `pool` | `try_get`/`try_reserve` refused over `max_in_use_bytes`: `exhausted` |
    /// | `tierpool_over_limit_total` | counter | `pool` | buffers served over `max_in_use_bytes` by `get` or growth: `over_limit` |
    /// | `tierpool_in_use_bytes` | gauge | `pool`, `tier` | capacity handed out: [`in_use_bytes()`](crate::TierStats::in_use_bytes); oversize: `oversize.in_use_bytes` |
    /// | `tierpool_cached_bytes` | gauge | `pool`, `tier` | idle capacity kept: [`cached_bytes()`](crate::TierStats::cached_bytes) |
    /// | `tierpool_max_in_use_bytes` | gauge | `pool` | the [`max_in_use_bytes`](PoolBuilder::max_in_use_bytes) limit, if set |
    /// | `tierpool_max_cached_bytes` | gauge | `pool` | the [`max_cached_bytes`](PoolBuilder::max_cached_bytes) limit, if set |
    /// | `tierpool_waiting_requests` | gauge | `pool` | requests waiting for `max_in_use_bytes`: [`waiting.requests`](crate::WaitStats::requests) |
    /// | `tierpool_waiting_bytes` | gauge | `pool` | the bytes they wait for: [`waiting.bytes`](crate::WaitStats::bytes) |
    /// | `tierpool_oldest_wait_seconds` | gauge | `pool` | how long the head of that queue has waited: [`waiting.oldest_wait`](crate::WaitStats::oldest_wait), 0 when none waits |
    /// | `tierpool_quotas` | gauge | `pool` | live quotas: [`quotas.live`](crate::QuotaSummary::live) |
    /// | `tierpool_quota_used_bytes` | gauge | `pool` | bytes charged to them: [`quotas.used`](crate::QuotaSummary::used) |
    /// | `tierpool_largest_quota_bytes` | gauge | `pool` | bytes charged to the quota that holds the most, 0 without quotas |
    ///
    /// `pool` is the pool's [`name`](Self::name). `tier` is a tier's
    /// capacity in bytes (`"4096"`), or `"oversize"` for requests above the
    /// largest tier, which are plain allocations (never cached, dropped or
    /// trimmed). The names follow the stats' fields. So, per pool,
    /// `hits + misses - returns` is the number of buffers out, summing
    /// `tierpool_in_use_bytes` over `tier` gives
    /// [`PoolStats::in_use_bytes`], and `rate(hits) / rate(hits + misses)`,
    /// summed over tiers, is [`PoolStats::hit_rate`].
    ///
    /// Counters are set with `Counter::absolute`, since the snapshot holds
    /// totals; recorders keep the largest value they were given. Give
    /// every pool you publish a name of its own: two live pools with one
    /// name would mix their figures, and a pool that takes the name of an
    /// earlier one shows that pool's totals until its own pass them. Each
    /// call also describes the metrics (unit and help text), so a
    /// recorder installed late still gets them.
    ///
    /// # Examples
    ///
    /// ```
    /// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    ///
    /// let pool = tierpool::Pool::builder().name("ingest").build()?;
    /// drop(pool.get(100));
    /// drop(pool.get(100));
    ///
    /// // A program installs its exporter once; a test can use a local recorder.
    /// let recorder = DebuggingRecorder::new();
    /// let stats = metrics::with_local_recorder(&recorder, || pool.publish_metrics());
    /// assert_eq!(stats.tiers[0].hits, 1);
    ///
    /// let hits = recorder.snapshotter().snapshot().into_vec().into_iter().find(|(key, ..)| {
    ///     let labels: Vec<_> = key.key().labels().map(|l| (l.key(), l.value())).collect();
    ///     key.key().name() == "tierpool_hits_total"
    ///         && labels == [("pool", "ingest"), ("tier", "4096")]
    /// });
    /// assert_eq!(hits.unwrap().3, DebugValue::Counter(1));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    ///
    /// Publishing every 10 seconds from a thread of its own:
    ///
    /// ```no_run
    /// let pool = tierpool::Pool::builder().name("ingest").build()?;
    /// let publisher = pool.clone();
    /// std::thread::spawn(move || loop {
    ///     publisher.publish_metrics();
    ///     std::thread::sleep(std::time::Duration::from_secs(10));
    /// });
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn publish_metrics(&self) -> PoolStats {
        let stats = self.stats();
        crate::stats::metrics::publish(&stats, &self.shared.name);
        stats
    }

    /// Frees every idle buffer: in the depots and in every thread's cache,
    /// including the caches of threads that are parked and never use the
    /// pool again (on systems where
    /// [`trims_reach_parked_threads`](crate::Pool::trims_reach_parked_threads)
    /// holds; elsewhere each thread frees its share at its next get or
    /// return). Buffers in use are not touched. With
    /// [`Backing::Regions`](crate::Backing::Regions) it then purges every
    /// dirty slot (see [backing memory](crate::operations#backing-memory)),
    /// as [`trim_idle`](Self::trim_idle) does.
    ///
    /// A trim costs one process-wide memory barrier plus the frees; the
    /// threads' gets and returns never wait for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// drop(pool.get(10));
    /// assert_eq!(pool.stats().tiers[0].cached, 1);
    /// pool.trim();
    /// assert_eq!(pool.stats().tiers[0].cached, 0);
    /// assert_eq!(pool.stats().tiers[0].trimmed, 1);
    /// ```
    pub fn trim(&self) {
        self.shared.trim();
    }

    /// Frees the idle buffers nobody needed since the previous idle
    /// collection: in each tier's depot and in every thread's cache (as
    /// [`trim`](Self::trim) reaches them), the blocks below the low-water
    /// mark (the fewest idle blocks held since the last collection). With
    /// [`Backing::Regions`](crate::Backing::Regions) it then purges every
    /// dirty slot of the regions, as [`trim`](Self::trim) does.
    ///
    /// The pool already runs a gentler collection by itself as it serves
    /// traffic (see [idle memory](crate::implementation#idle-memory)), so
    /// memory decays toward the working set without a background thread.
    /// When there is no traffic nothing runs, so call this from a timer
    /// every period `P` (or spawn `trim_idle_every`, feature `tokio`):
    /// a buffer left idle for `2 × P` has then been freed, whatever the
    /// threads that cached it are doing. Calling it twice in a row frees
    /// everything that stayed unused in between.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let burst: Vec<_> = (0..100).map(|_| pool.get(4096)).collect();
    /// drop(burst); // 100 idle buffers now
    /// pool.trim_idle(); // starts a period: nothing was unused for a whole one yet
    /// drop(pool.get(4096)); // steady use needs one buffer
    /// pool.trim_idle(); // frees what stayed unused since the last call
    /// assert!(pool.stats().tiers[0].cached <= 1);
    /// ```
    pub fn trim_idle(&self) {
        self.shared.trim_idle();
    }

    /// A task that calls [`trim_idle`](Self::trim_idle) every `period`, for
    /// `tokio::spawn`: idle memory then decays even when no thread uses the
    /// pool, and a buffer left idle for `2 × period` has been freed. It
    /// holds no `Pool` handle: it ends at the first tick after the last
    /// handle drops. The first call is one period after the task starts.
    ///
    /// Runs on tokio's timer, so it needs a runtime with time enabled.
    ///
    /// # Panics
    ///
    /// The task panics on its first poll if `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = tierpool::Pool::new();
    /// let trimmer = tokio::spawn(pool.trim_idle_every(Duration::from_secs(10)));
    /// drop(pool.get(4096)); // one idle buffer, never used again
    /// tokio::time::sleep(Duration::from_secs(21)).await;
    /// assert_eq!(pool.stats().cached_bytes(), 0);
    /// drop(pool); // the task ends at its next tick
    /// trimmer.await.unwrap();
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn trim_idle_every(
        &self,
        period: Duration,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick completes at once.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if shared.closed.load(Ordering::Acquire) {
                    return;
                }
                shared.trim_idle();
            }
        }
    }

    /// The buffers handed out and not yet returned, oldest first, when the
    /// pool was built with
    /// [`leak_detection`](crate::PoolBuilder::leak_detection);
    /// empty otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder()
    ///     .leak_detection(tierpool::LeakDetection::Full { backtraces: false })
    ///     .build()?;
    /// let old = pool.get(10).freeze();
    /// let young = pool.get(100_000);
    /// let report = pool.outstanding();
    /// assert_eq!(report.len(), 2);
    /// assert_eq!(report[0].tier, Some(4096)); // the oldest comes first
    /// assert!(report[0].age >= report[1].age);
    /// # drop((old, young));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn outstanding(&self) -> Vec<OutstandingBuf> {
        self.shared.outstanding(Duration::ZERO)
    }

    /// The buffers of [`outstanding`](Self::outstanding) held for at least
    /// `threshold`, oldest first: the long holds to look at. Empty unless
    /// [`leak_detection`](PoolBuilder::leak_detection) is on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = tierpool::Pool::builder()
    ///     .leak_detection(tierpool::LeakDetection::Full { backtraces: false })
    ///     .build()?;
    /// let old = pool.get(100);
    /// std::thread::sleep(Duration::from_millis(20));
    /// let _new = pool.get(100);
    /// let long = pool.held_longer_than(Duration::from_millis(10));
    /// assert_eq!(long.len(), 1);
    /// assert!(long[0].age >= Duration::from_millis(20));
    /// # drop(old);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn held_longer_than(&self, threshold: Duration) -> Vec<OutstandingBuf> {
        self.shared.outstanding(threshold)
    }

    /// The sizes requested from this pool so far (by `get`, `try_get` and
    /// growth), summed over all threads, when it was built with
    /// [`record_sizes`](crate::PoolBuilder::record_sizes); empty otherwise.
    /// Feed it to [`SizeHistogram::advise`] to choose tiers.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().record_sizes(true).build()?;
    /// for size in [100, 1500, 1500, 9000] {
    ///     drop(pool.get(size));
    /// }
    /// let histogram = pool.size_histogram();
    /// assert_eq!(histogram.requests(), 4);
    /// println!("{}", histogram.advise(&pool.tiers(), 2));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn size_histogram(&self) -> SizeHistogram {
        self.shared.size_histogram()
    }

    /// What backs the pool's blocks now (see
    /// [`PoolBuilder::backing`](crate::PoolBuilder::backing)): the regions
    /// mapped, their bytes locked and of huge pages, the bytes of dirty
    /// slots (freed, pages kept for reuse) and the purges, the blocks that
    /// fell back to the heap, and the refusals of the system behind each
    /// fallback. Empty with heap backing. Takes the regions' lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, Pool, RegionConfig};
    ///
    /// let pool = Pool::builder()
    ///     .tiers([4096])
    ///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
    ///     .build()?;
    /// assert_eq!(pool.backing_report().mapped_bytes, 0); // nothing until needed
    /// let buf = pool.get(10);
    /// let report = pool.backing_report();
    /// assert_eq!(report.mapped_bytes, 1 << 20);
    /// assert!(report.regions[0].contains(buf.as_ptr()));
    /// drop(buf);
    /// pool.trim(); // the region's last block is freed and purged: it is unmapped
    /// assert_eq!(pool.backing_report().mapped_bytes, 0);
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn backing_report(&self) -> crate::BackingReport {
        self.shared.backing_report()
    }

    /// Maps regions for the tier that serves `capacity` until it has at
    /// least `regions` of them, and returns how many were mapped: memory
    /// mapped up front, so that `Pool::register_regions` (feature
    /// `io-uring`, Linux) covers it. Pages are touched only as blocks are
    /// used (or when the regions are locked or registered). Like any
    /// region, one of these is unmapped once a block of it has been used,
    /// its last block is freed and its dirty slots are purged (see
    /// [backing memory](crate::operations#backing-memory)), unless the
    /// pool has been registered.
    ///
    /// # Errors
    ///
    /// The refusal of the system when a region cannot be mapped at all
    /// (huge pages or locks refused fall back, as for an allocation,
    /// unless the regions are [strict](crate::RegionConfig::strict)).
    ///
    /// # Panics
    ///
    /// If the pool is heap-backed, or `capacity` is above the largest
    /// tier.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, Pool, RegionConfig};
    ///
    /// let pool = Pool::builder()
    ///     .tiers([4096, 65536])
    ///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
    ///     .build()?;
    /// assert_eq!(pool.map_regions(65536, 2)?, 2);
    /// assert_eq!(pool.map_regions(65536, 2)?, 0); // already there
    /// let report = pool.backing_report();
    /// assert_eq!(report.mapped_bytes, 2 << 20);
    /// assert!(report.regions.iter().all(|r| r.tier_capacity == 65536));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_regions(
        &self,
        capacity: usize,
        regions: usize,
    ) -> Result<usize, crate::BackingError> {
        let shared = &self.shared;
        let backing = shared
            .regions
            .as_ref()
            .expect("map_regions needs Backing::Regions");
        let tier = shared
            .route(capacity)
            .unwrap_or_else(|| panic!("map_regions: {capacity} bytes is above the largest tier"));
        backing.map_up_front(tier, regions)
    }

    /// Whether [`Pool::trim`](Self::trim) and
    /// [`Pool::trim_idle`](Self::trim_idle) free the idle buffers cached
    /// by other threads themselves, parked threads included, on this system.
    ///
    /// `true` on Linux and Android when the kernel offers the `membarrier`
    /// system call (Linux 4.3 and later, unless a seccomp policy refuses it).
    /// Otherwise a trim asks each other thread to free its share, which it does
    /// at its next get or return on the pool; memory cached by a thread that
    /// never uses the pool again stays until that thread exits.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let parked = {
    ///     let pool = pool.clone();
    ///     std::thread::spawn(move || {
    ///         drop(pool.get(4096)); // cached by this thread
    ///         std::thread::park(); // and never touched again
    ///     })
    /// };
    /// while pool.stats().cached_bytes() == 0 {
    ///     std::thread::yield_now();
    /// }
    /// pool.trim();
    /// if tierpool::Pool::trims_reach_parked_threads() {
    ///     assert_eq!(pool.stats().cached_bytes(), 0);
    /// }
    /// parked.thread().unpark();
    /// parked.join().unwrap();
    /// ```
    #[must_use]
    pub fn trims_reach_parked_threads() -> bool {
        crate::sync::asymmetric::available()
    }

    /// Whether two handles refer to the same pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = tierpool::Pool::new();
    /// assert!(a.same_pool(&a.clone()));
    /// assert!(!a.same_pool(&tierpool::Pool::new()));
    /// ```
    #[must_use]
    pub fn same_pool(&self, other: &Pool) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new()
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name())
            .field("tiers", &self.tiers())
            .field("alignment", &self.shared.alignment)
            .finish_non_exhaustive()
    }
}
