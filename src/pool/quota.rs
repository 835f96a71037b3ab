//! Quotas: a share of a pool's memory for one tenant, connection or
//! stream.

use std::fmt;

use crate::buf::chain::PooledChain;
use crate::buf::pooled::PooledBuf;
use crate::engine::quota_account::QuotaAccount;
use crate::engine::state::{OverLimit, PoolState, Target};
use crate::error::allocation_panic;
use crate::error::PoolError;
use crate::pool::Pool;
use crate::stats::QuotaId;
use crate::sync::Arc;

/// A cap on the bytes one holder of the handle may have out of a pool: a
/// connection, a tenant, a stream. Made by [`Pool::quota`].
///
/// Every buffer a quota hands out is charged to the quota *and* to the
/// pool (its [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes),
/// if set), by its block's capacity. The charge is released when the block
/// comes back: when the buffer, every view of it and every `Bytes` made
/// from them are gone, and for a chain, segment by segment. Growing a
/// buffer charges its new block to the same quota.
///
/// The methods mirror the pool's:
///
/// * [`get`](Self::get) serves at once, over the quota if need be, and
///   counts it in [`QuotaStats::over_limit`];
/// * [`try_get`](Self::try_get) refuses with [`PoolError::Exhausted`];
/// * [`get_async`](Self::get_async) waits for the quota, then for the pool,
///   each first come, first served; dropping the future reserves nothing.
///   So a slow consumer that holds its frames stalls the producer that
///   shares its quota, and nobody else.
///
/// A `Quota` is a cheap, cloneable handle, `Send + Sync`; clones share one
/// count. It keeps the pool open (it counts as a [`Pool`] handle).
///
/// The buffers charged to a quota do not keep the pool open, any more than
/// other buffers do: once the last `Pool` and `Quota` handles are gone, the
/// pool is closed (leak reports fire, blocks that come back are freed), and
/// each buffer still releases its charge when it drops.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tierpool::LeakDetection;
///
/// let reported = Arc::new(Mutex::new(0));
/// let seen = Arc::clone(&reported);
/// let pool = tierpool::Pool::builder()
///     .leak_detection(LeakDetection::Full { backtraces: false })
///     .on_close_with_outstanding(move |report| *seen.lock().unwrap() = report.len())
///     .build()?;
/// let quota = pool.quota(1 << 20);
/// let charged = quota.get(100);
/// drop((pool, quota)); // the pool closes with `charged` still out
/// assert_eq!(*reported.lock().unwrap(), 1);
/// drop(charged);
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::builder().max_in_use_bytes(1 << 20).build()?;
/// let tenant = pool.quota(8192);
/// let a = tenant.try_get(100)?;
/// let b = tenant.try_get(100)?;
/// assert!(tenant.try_get(100).is_err()); // 2 × 4 KiB: the quota is full
/// assert!(pool.try_get(100).is_ok()); // the pool is not
///
/// let view = a.freeze();
/// drop(b);
/// assert_eq!(tenant.stats().used, 4096); // the view still holds its block
/// drop(view);
/// assert_eq!(tenant.stats().used, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Quota {
    pool: Pool,
    account: Arc<QuotaAccount>,
}

/// A snapshot of a [`Quota`]'s counters, from [`Quota::stats`].
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// let quota = pool.quota(4096);
/// let buf = quota.get(100);
/// let _more = quota.get(100); // served over the quota, and counted
/// let stats = quota.stats();
/// assert_eq!((stats.limit, stats.used), (4096, 8192));
/// assert_eq!((stats.gets, stats.over_limit), (2, 1));
/// # drop(buf);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaStats {
    /// The cap, in bytes.
    pub limit: usize,
    /// Bytes charged now: the capacity of the blocks out under this quota.
    pub used: usize,
    /// Requests waiting in [`Quota::get_async`] for this quota.
    pub waiting: usize,
    /// Buffers and chain blocks handed out under this quota.
    pub gets: u64,
    /// Requests refused because of this quota (`try_get`, or a request
    /// larger than the whole quota).
    pub exhausted: u64,
    /// Hand-outs served over the quota by [`Quota::get`] or growth.
    pub over_limit: u64,
}

impl Quota {
    pub(crate) fn new(pool: Pool, limit: usize) -> Self {
        let account = pool.shared().quotas.register(limit);
        Quota { pool, account }
    }

    fn shared(&self) -> &Arc<PoolState> {
        self.pool.shared()
    }

    /// The cap, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::Pool::new().quota(1 << 20).limit(), 1 << 20);
    /// ```
    #[must_use]
    pub fn limit(&self) -> usize {
        self.account.budget.limit()
    }

    /// An empty buffer charged to this quota, served at once like
    /// [`Pool::get`]: over the quota (or the pool's cap) if need be,
    /// counted in [`QuotaStats::over_limit`].
    ///
    /// # Panics
    ///
    /// As [`Pool::get`]: if the block cannot be allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// let quota = tierpool::Pool::new().quota(64 << 10);
    /// let buf = quota.get(5000);
    /// assert_eq!(buf.capacity(), 64 << 10);
    /// assert_eq!(quota.stats().used, 64 << 10);
    /// ```
    #[track_caller]
    pub fn get(&self, capacity: usize) -> PooledBuf {
        match PoolState::handout_charged(
            self.shared(),
            self.shared().target(capacity),
            capacity,
            OverLimit::Serve,
            Some(&self.account),
        ) {
            Ok(block) => PooledBuf::from_block(block),
            Err(err) => allocation_panic(err),
        }
    }

    /// An empty buffer charged to this quota, or an error if it does not
    /// fit the quota or the pool's cap, or if anyone waits for either.
    ///
    /// # Errors
    ///
    /// As [`Pool::try_get`], and [`PoolError::Exhausted`] (naming the
    /// quota's limit) if the quota is full.
    ///
    /// # Examples
    ///
    /// ```
    /// let quota = tierpool::Pool::new().quota(4096);
    /// let held = quota.try_get(4096)?;
    /// assert!(matches!(quota.try_get(1), Err(tierpool::PoolError::Exhausted { limit: 4096, .. })));
    /// # drop(held);
    /// # Ok::<(), tierpool::PoolError>(())
    /// ```
    pub fn try_get(&self, capacity: usize) -> Result<PooledBuf, PoolError> {
        let Some(tier) = self.shared().route(capacity) else {
            return self.pool.try_get(capacity);
        };
        PoolState::handout_charged(
            self.shared(),
            Target::Tier(tier),
            capacity,
            OverLimit::Refuse,
            Some(&self.account),
        )
        .map(PooledBuf::from_block)
    }

    /// An empty buffer charged to this quota, waiting until it fits the
    /// quota and then the pool's cap, each first come, first served, as
    /// [`Pool::get_async`] does. Dropping the future at any point reserves
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`PoolError::OverLimit`] at once if the block is larger than the
    /// whole quota or the pool's whole cap; as [`Pool::get_async`]
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = tierpool::Pool::new();
    /// let quota = pool.quota(4096);
    /// let first = quota.get_async(100).await?;
    /// drop(first);
    /// let second = quota.get_async(100).await?; // waited for `first`
    /// assert_eq!(quota.stats().gets, 2);
    /// # drop(second);
    /// # Ok::<(), tierpool::PoolError>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_async(&self, capacity: usize) -> Result<PooledBuf, PoolError> {
        let shared = self.shared();
        PoolState::handout_waiting(
            shared,
            shared.target(capacity),
            capacity,
            Some(&self.account),
        )
        .await
        .map(PooledBuf::from_block)
    }

    /// An empty segmented buffer whose blocks are charged to this quota as
    /// they are taken (see [`Pool::chain`]): writes serve at once, over the
    /// quota if need be; [`PooledChain::reserve_block_async`] waits;
    /// [`PooledChain::try_reserve_block`] refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BufMut;
    ///
    /// let quota = tierpool::Pool::new().quota(1 << 20);
    /// let mut message = quota.chain();
    /// message.put_bytes(7, 100_000);
    /// assert_eq!(quota.stats().used, message.segment_count() * (64 << 10));
    /// drop(message);
    /// assert_eq!(quota.stats().used, 0);
    /// ```
    pub fn chain(&self) -> PooledChain {
        PooledChain::with_quota(Arc::clone(self.shared()), Arc::clone(&self.account))
    }

    /// A snapshot of the quota's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let quota = tierpool::Pool::new().quota(1 << 20);
    /// let _buf = quota.get(100);
    /// assert_eq!(quota.stats().used, 4096);
    /// ```
    #[must_use]
    pub fn stats(&self) -> QuotaStats {
        let inner = &self.account;
        QuotaStats {
            limit: inner.budget.limit(),
            used: inner.budget.used(),
            waiting: inner.budget.waiting(),
            gets: inner.gets.get(),
            exhausted: inner.exhausted.get(),
            over_limit: inner.over_limit.get(),
        }
    }

    /// Which quota this is, within its pool: the id that
    /// [`Pool::quotas`] and [`PoolStats::quotas`](crate::PoolStats::quotas)
    /// list it under. Clones share it.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let quota = pool.quota(1 << 20);
    /// let _frame = quota.get(100);
    /// assert_eq!(pool.quotas()[0].id, quota.id());
    /// ```
    #[must_use]
    pub fn id(&self) -> QuotaId {
        self.account.id
    }

    /// The pool the quota draws from.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let quota = pool.quota(1 << 20);
    /// assert_eq!(quota.pool().tiers(), pool.tiers());
    /// ```
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl fmt::Debug for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quota")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
