//! Pool statistics: per-thread counters on the hot path, summed on read.
//!
//! Two kinds of counter, two types ([`counters`]): a [`LocalCounter`] has
//! one writer (the thread whose cache it belongs to) and is bumped with a
//! plain load and store, so the hot path pays no locked instruction; a
//! [`SharedCounter`] is bumped by any thread with `fetch_add`, on paths
//! that are already slow. [`PoolCounters`] ([`registry`]) keeps every
//! thread's counters and sums them into a [`PoolStats`] snapshot (this
//! file) when asked. [`histogram`] records requested sizes;
//! `metrics` publishes a snapshot through the `metrics` facade.

use std::fmt;
use std::time::Duration;

use crate::fmt::ByteSize;

pub(crate) mod counters;
pub(crate) mod histogram;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod registry;

pub(crate) use self::counters::{Event, LocalCounter, SharedCounter, TierCounters, TierTotals};
pub(crate) use self::registry::{PoolCounters, ThreadCounters};

/// A snapshot of a pool's counters, from [`Pool::stats`](crate::Pool::stats).
///
/// Counters are kept per thread and summed when read, so a snapshot taken
/// while other threads work is not one instant: each counter is exact as of
/// some moment during the call, totals never go backwards between snapshots,
/// and derived gauges (`in_use`, `cached`) are clamped at zero.
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// drop(pool.get(100));
/// drop(pool.get(100));
/// let stats = pool.stats();
/// assert_eq!(stats.tiers[0].misses, 1);
/// assert_eq!(stats.tiers[0].hits, 1);
/// assert_eq!(stats.hit_rate(), 0.5);
/// println!("{stats}");
/// ```
///
/// With the `serde` feature, a snapshot and the types inside it implement
/// `serde::Serialize`, field for field (the derived figures such as
/// [`hit_rate`](Self::hit_rate) are methods, not fields):
///
/// ```
/// # #[cfg(feature = "serde")] {
/// let pool = tierpool::Pool::builder().name("ingest").build()?;
/// drop(pool.get(100));
/// let json = serde_json::to_value(pool.stats()).unwrap();
/// assert_eq!(json["name"], "ingest");
/// assert_eq!(json["tiers"][0]["capacity"], 4096);
/// assert_eq!(json["tiers"][0]["cached"], 1);
/// # }
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The pool's [name](crate::Pool::name).
    pub name: String,
    /// One entry per tier, smallest first.
    pub tiers: Vec<TierStats>,
    /// Requests larger than the largest tier, served by plain allocations.
    pub oversize: OversizeStats,
    /// `try_get`/`try_reserve` requests refused with
    /// [`PoolError::Exhausted`](crate::PoolError::Exhausted).
    pub exhausted: u64,
    /// Buffers handed out by `get` or growth although they exceeded
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes).
    pub over_limit: u64,
    /// The [`max_cached_bytes`](crate::PoolBuilder::max_cached_bytes)
    /// limit, if one is set: its limit and the exact idle bytes charged to
    /// it. Unlike [`cached_bytes`](Self::cached_bytes), which sums
    /// per-thread counters read one after another, this is one shared
    /// counter read at one instant. A returning buffer is charged just
    /// before the limit is checked, so it can exceed the limit by one
    /// buffer per thread returning at that instant.
    pub cached_limit: Option<LimitStats>,
    /// The [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes)
    /// limit, if one is set: its limit and the exact bytes handed out and
    /// charged to it.
    pub in_use_limit: Option<LimitStats>,
    /// Requests waiting in [`Pool::get_async`](crate::Pool::get_async)
    /// (and the async hand-outs of quotas and chains) for
    /// `max_in_use_bytes`: all zero without that limit. Requests waiting
    /// on their own quota are counted in [`QuotaUsage::waiting`] instead.
    pub waiting: WaitStats,
    /// The pool's live [quotas](crate::Quota): how many, the bytes charged
    /// to them, and the largest holders.
    pub quotas: QuotaSummary,
}

/// Who waits for memory under a pool's
/// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes). See
/// [`PoolStats::waiting`].
///
/// An operator reads it to tell a pool that is merely busy from one that
/// is stuck full: `oldest_wait` grows while nothing comes back.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context, Poll};
///
/// let pool = tierpool::Pool::builder().max_in_use_bytes(4096).build()?;
/// let held = pool.get(100);
/// let mut waiting = pin!(pool.get_async(100));
/// let waker = futures::task::noop_waker();
/// assert!(waiting.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
///
/// let stats = pool.stats().waiting;
/// assert_eq!((stats.requests, stats.bytes), (1, 4096));
/// assert!(stats.oldest_wait.is_some());
///
/// drop(held); // serves the waiter
/// assert_eq!(pool.stats().waiting.requests, 0);
/// assert!(matches!(waiting.poll(&mut Context::from_waker(&waker)), Poll::Ready(Ok(_))));
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitStats {
    /// Requests queued and not yet served.
    pub requests: usize,
    /// The bytes they wait for: each request's block capacity, summed.
    pub bytes: u64,
    /// How long the request at the head of the queue (the one served
    /// next) has waited; `None` when nobody waits.
    pub oldest_wait: Option<Duration>,
}

/// Identifies one [`Quota`](crate::Quota) (and its clones) within its
/// pool: numbered from 1 in the order the quotas were made. See
/// [`Quota::id`](crate::Quota::id).
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// let (a, b) = (pool.quota(1 << 20), pool.quota(1 << 20));
/// assert_ne!(a.id(), b.id());
/// assert_eq!(a.clone().id(), a.id());
/// assert_eq!(a.id().to_string(), "quota#1");
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaId(pub(crate) u64);

impl QuotaId {
    /// The number, as `Display` shows it after `quota#`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// assert_eq!(pool.quota(100).id().get(), 1);
    /// ```
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for QuotaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quota#{}", self.0)
    }
}

/// What one live quota holds, from [`Pool::quotas`](crate::Pool::quotas)
/// and [`QuotaSummary::largest`].
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// let quota = pool.quota(1 << 20);
/// let _frame = quota.get(100);
/// let usage = pool.quotas()[0];
/// assert_eq!((usage.id, usage.limit, usage.used), (quota.id(), 1 << 20, 4096));
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaUsage {
    /// Which quota.
    pub id: QuotaId,
    /// Its cap, in bytes.
    pub limit: usize,
    /// The bytes charged to it: the capacity of its blocks still out.
    pub used: usize,
    /// Requests waiting on it in its `get_async`.
    pub waiting: usize,
}

/// The pool's live quotas, summed. See [`PoolStats::quotas`].
///
/// A quota is live while a handle to it exists or a buffer charged to it
/// is still out.
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// let (small, large) = (pool.quota(1 << 20), pool.quota(1 << 20));
/// let _a = small.get(100);
/// let _b = large.get(100_000);
/// let quotas = pool.stats().quotas;
/// assert_eq!((quotas.live, quotas.used), (2, 4096 + (1 << 20)));
/// assert_eq!(quotas.largest[0].id, large.id());
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaSummary {
    /// Quotas alive.
    pub live: usize,
    /// The bytes charged to all of them.
    pub used: u64,
    /// The [`QuotaSummary::LARGEST`] quotas holding the most bytes, the
    /// largest first (see [`Pool::quotas`](crate::Pool::quotas) for all).
    pub largest: Vec<QuotaUsage>,
}

impl QuotaSummary {
    /// How many quotas [`largest`](Self::largest) lists at most.
    pub const LARGEST: usize = 8;
}

/// Counters of one tier. See [`PoolStats`].
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// let buf = pool.get(5000);
/// let tier = &pool.stats().tiers[1];
/// assert_eq!(tier.capacity, 64 << 10);
/// assert_eq!(tier.in_use, 1);
/// drop(buf);
/// assert_eq!(pool.stats().tiers[1].cached, 1);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Capacity of this tier's buffers, in bytes.
    pub capacity: usize,
    /// Gets served from a thread cache or the depot.
    pub hits: u64,
    /// Gets that allocated a fresh block.
    pub misses: u64,
    /// Buffers returned to the pool (block whose last holder dropped).
    pub returns: u64,
    /// Returned buffers freed because the thread cache and the depot were
    /// full (their per-tier limits).
    pub dropped: u64,
    /// Returned buffers freed because the pool's idle bytes had reached
    /// [`max_cached_bytes`](crate::PoolBuilder::max_cached_bytes).
    pub dropped_over_limit: u64,
    /// Idle buffers freed by [`Pool::trim`](crate::Pool::trim),
    /// [`Pool::trim_idle`](crate::Pool::trim_idle) and the automatic idle
    /// collection.
    pub trimmed: u64,
    /// Buffers handed out and not yet returned (views included).
    pub in_use: u64,
    /// Idle buffers the pool holds, in the depot and in thread caches.
    pub cached: u64,
}

impl TierStats {
    pub(crate) fn from_totals(capacity: usize, t: &TierTotals) -> Self {
        let hits = t[Event::Hit];
        let returns = t[Event::Return];
        let handed_out = hits.wrapping_add(t[Event::Miss]);
        let cached = returns
            .saturating_sub(hits)
            .saturating_sub(t[Event::Dropped])
            .saturating_sub(t[Event::DroppedOverLimit])
            .saturating_sub(t[Event::Trimmed]);
        Self {
            capacity,
            hits,
            misses: t[Event::Miss],
            returns,
            dropped: t[Event::Dropped],
            dropped_over_limit: t[Event::DroppedOverLimit],
            trimmed: t[Event::Trimmed],
            in_use: handed_out.saturating_sub(returns),
            cached,
        }
    }

    /// Bytes of capacity handed out now (`in_use * capacity`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let _buf = pool.get(10);
    /// assert_eq!(pool.stats().tiers[0].in_use_bytes(), 4096);
    /// ```
    #[must_use]
    pub fn in_use_bytes(&self) -> u64 {
        self.in_use.saturating_mul(self.capacity as u64)
    }

    /// Bytes of idle capacity the pool keeps (`cached * capacity`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// drop(pool.get(10));
    /// assert_eq!(pool.stats().tiers[0].cached_bytes(), 4096);
    /// ```
    #[must_use]
    pub fn cached_bytes(&self) -> u64 {
        self.cached.saturating_mul(self.capacity as u64)
    }
}

/// A memory limit and the bytes charged to it. See
/// [`PoolStats::cached_limit`] and [`PoolStats::in_use_limit`].
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::builder().max_in_use_bytes(1 << 20).build()?;
/// let _buf = pool.get(10);
/// let in_use = pool.stats().in_use_limit.unwrap();
/// assert_eq!((in_use.limit, in_use.used), (1 << 20, 4096));
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitStats {
    /// The configured limit, in bytes.
    pub limit: usize,
    /// The bytes charged to it when the snapshot was taken.
    pub used: u64,
}

impl LimitStats {
    pub(crate) fn of(limit: usize, used: usize) -> Self {
        Self {
            limit,
            used: used as u64,
        }
    }
}

/// Counters of unpooled (oversize) allocations. See [`PoolStats`].
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// let big = pool.get(3 << 20);
/// let stats = pool.stats();
/// assert_eq!(stats.oversize.allocations, 1);
/// assert_eq!(stats.oversize.in_use, 1);
/// assert_eq!(stats.oversize.in_use_bytes, 3 << 20);
/// # drop(big);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OversizeStats {
    /// Plain allocations made for requests above the largest tier (and for
    /// buffers that grew past it).
    pub allocations: u64,
    /// Such allocations still alive.
    pub in_use: u64,
    /// Their total capacity in bytes.
    pub in_use_bytes: u64,
}

impl PoolStats {
    /// Bytes of capacity handed out now: every tier's
    /// [`in_use_bytes`](TierStats::in_use_bytes) plus oversize allocations.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let _a = pool.get(10);
    /// let _b = pool.get(2 << 20);
    /// assert_eq!(pool.stats().in_use_bytes(), 4096 + (2 << 20));
    /// ```
    #[must_use]
    pub fn in_use_bytes(&self) -> u64 {
        self.tiers.iter().map(TierStats::in_use_bytes).sum::<u64>() + self.oversize.in_use_bytes
    }

    /// Bytes of idle capacity the pool retains (depots and thread caches).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// drop(pool.get(10));
    /// drop(pool.get(10_000));
    /// assert_eq!(pool.stats().cached_bytes(), 4096 + 65536);
    /// ```
    #[must_use]
    pub fn cached_bytes(&self) -> u64 {
        self.tiers.iter().map(TierStats::cached_bytes).sum()
    }

    /// Share of all requests (oversize included) served without allocating:
    /// `hits / (hits + misses + oversize allocations)`, from 0.0 to 1.0.
    /// A pool that has served nothing reports 0.0.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// for _ in 0..100 {
    ///     drop(pool.get(1000));
    /// }
    /// assert_eq!(pool.stats().hit_rate(), 0.99);
    /// ```
    #[must_use]
    pub fn hit_rate(&self) -> f64 {
        let hits: u64 = self.tiers.iter().map(|t| t.hits).sum();
        let misses: u64 = self.tiers.iter().map(|t| t.misses).sum();
        let total = hits + misses + self.oversize.allocations;
        if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        }
    }
}

impl fmt::Display for PoolStats {
    /// The pool's name, a table with one row per tier, then the oversize
    /// line and hit rate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pool: {}", self.name)?;
        writeln!(
            f,
            "{:>9} {:>12} {:>10} {:>12} {:>9} {:>9} {:>8} {:>8} {:>11}",
            "tier",
            "hits",
            "misses",
            "returns",
            "dropped",
            "trimmed",
            "in_use",
            "cached",
            "cached_mem"
        )?;
        for t in &self.tiers {
            writeln!(
                f,
                "{:>9} {:>12} {:>10} {:>12} {:>9} {:>9} {:>8} {:>8} {:>11}",
                ByteSize(t.capacity as u64),
                t.hits,
                t.misses,
                t.returns,
                t.dropped,
                t.trimmed,
                t.in_use,
                t.cached,
                ByteSize(t.cached_bytes()),
            )?;
        }
        writeln!(
            f,
            "oversize: {} allocations, {} in use ({})",
            self.oversize.allocations,
            self.oversize.in_use,
            ByteSize(self.oversize.in_use_bytes)
        )?;
        write!(
            f,
            "in use: {}, cached: {}",
            ByteSize(self.in_use_bytes()),
            ByteSize(self.cached_bytes())
        )?;
        let over: u64 = self.tiers.iter().map(|t| t.dropped_over_limit).sum();
        if let Some(budget) = self.cached_limit {
            write!(
                f,
                " (limit {}, {over} returns freed over it)",
                ByteSize(budget.limit as u64)
            )?;
        }
        if let Some(budget) = self.in_use_limit {
            write!(
                f,
                "; in-use limit {}: {} refused, {} served over it",
                ByteSize(budget.limit as u64),
                self.exhausted,
                self.over_limit
            )?;
        }
        if let Some(oldest) = self.waiting.oldest_wait {
            write!(
                f,
                "\nwaiting: {} requests for {}, the oldest for {oldest:.1?}",
                self.waiting.requests,
                ByteSize(self.waiting.bytes)
            )?;
        }
        if self.quotas.live > 0 {
            write!(
                f,
                "\nquotas: {} live, holding {}",
                self.quotas.live,
                ByteSize(self.quotas.used)
            )?;
            if let Some(top) = self.quotas.largest.first().filter(|q| q.used > 0) {
                write!(
                    f,
                    "; the largest: {} with {} of {}",
                    top.id,
                    ByteSize(top.used as u64),
                    ByteSize(top.limit as u64)
                )?;
            }
        }
        write!(f, "\nhit rate: {:.2}%", self.hit_rate() * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_gauges_clamp_at_zero() {
        // A racy snapshot may see a return before its get.
        let mut totals = TierTotals::default();
        totals.0[Event::Return as usize] = 1;
        totals.0[Event::Dropped as usize] = 3;
        let t = TierStats::from_totals(64, &totals);
        assert_eq!(t.in_use, 0);
        assert_eq!(t.cached, 0);
    }

    #[test]
    fn totals_sum_both_kinds_of_counter_by_event() {
        let local = TierCounters::<LocalCounter>::default();
        let shared = TierCounters::<SharedCounter>::default();
        local[Event::Hit].add(2);
        shared[Event::Hit].add(3);
        shared[Event::Trimmed].add(1);
        let mut totals = TierTotals::default();
        totals.add(&local);
        totals.add(&shared);
        assert_eq!((totals[Event::Hit], totals[Event::Trimmed]), (5, 1));
        assert_eq!(totals[Event::Miss], 0);
    }
}
