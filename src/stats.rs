//! Pool statistics: per-thread counters on the hot path, summed on read.

use std::fmt;

use crate::advisor::SizeRecorder;
use crate::sync::{Arc, AtomicU64, CachePadded, Ordering};

/// Event counters of one tier, written by one thread.
#[derive(Debug, Default)]
pub(crate) struct TierCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) returns: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) dropped_over_budget: AtomicU64,
    pub(crate) trimmed: AtomicU64,
}

/// The counters one thread keeps for one pool.
///
/// Only the owning thread writes them, with a plain load and store (no
/// read-modify-write, so no locked instruction on the hot path); `stats()`
/// reads them from any thread. Each tier sits on its own cache line so two
/// threads' counters never share one.
#[derive(Debug)]
pub(crate) struct ThreadCounters {
    /// Shared with the thread's cache stacks, which bump them directly.
    pub(crate) tiers: Box<[Arc<CachePadded<TierCounters>>]>,
    /// Requested sizes, when the pool records them.
    pub(crate) sizes: Option<SizeRecorder>,
}

impl ThreadCounters {
    pub(crate) fn new(tiers: usize, record_sizes: bool) -> Self {
        Self {
            tiers: (0..tiers)
                .map(|_| Arc::new(CachePadded::default()))
                .collect(),
            sizes: record_sizes.then(SizeRecorder::new),
        }
    }
}

/// Adds `n` to a counter that only the calling thread writes; returns the
/// new count.
///
/// The `Release` store (a plain store on x86) pairs with the `Acquire`
/// loads in [`TierTotals::add`]: a reader that sees a count also sees every
/// count the thread made before it, so reading `hits` before `returns` can
/// never report more buffers in use than the thread really had out.
#[inline(always)]
pub(crate) fn add_local(counter: &AtomicU64, n: u64) -> u64 {
    let value = counter.load(Ordering::Relaxed).wrapping_add(n);
    counter.store(value, Ordering::Release);
    value
}

/// Adds `n` to a counter that several threads may write.
#[inline]
pub(crate) fn add_shared(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Plain sums of [`TierCounters`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TierTotals {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) returns: u64,
    pub(crate) dropped: u64,
    pub(crate) dropped_over_budget: u64,
    pub(crate) trimmed: u64,
}

impl TierTotals {
    /// Adds one thread's counters. Gets are read before returns, and
    /// returns before frees, so the derived gauges err low, never high.
    pub(crate) fn add(&mut self, c: &TierCounters) {
        self.hits += c.hits.load(Ordering::Acquire);
        self.misses += c.misses.load(Ordering::Acquire);
        self.returns += c.returns.load(Ordering::Acquire);
        self.dropped += c.dropped.load(Ordering::Acquire);
        self.dropped_over_budget += c.dropped_over_budget.load(Ordering::Acquire);
        self.trimmed += c.trimmed.load(Ordering::Acquire);
    }
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// One entry per tier, smallest first.
    pub tiers: Vec<TierStats>,
    /// Requests larger than the largest tier, served by plain allocations.
    pub oversize: OversizeStats,
    /// `try_get`/`try_reserve` requests refused with
    /// [`PoolError::Exhausted`](crate::PoolError::Exhausted).
    pub exhausted: u64,
    /// Buffers handed out by `get` or growth although they exceeded
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes).
    pub over_budget: u64,
    /// The configured [`max_cached_bytes`](crate::PoolBuilder::max_cached_bytes).
    pub cached_bytes_limit: Option<usize>,
    /// The configured [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes).
    pub in_use_bytes_limit: Option<usize>,
    /// With [`max_cached_bytes`](crate::PoolBuilder::max_cached_bytes) set:
    /// the exact idle bytes counted against it (one shared counter, so
    /// unlike the per-tier `cached`, which sums per-thread counters read
    /// one after another, it is a single instant). A returning buffer is
    /// counted just before the cap is checked, so this can exceed the cap
    /// by one buffer per thread returning at that instant.
    pub cached_bytes_counted: Option<u64>,
    /// With [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes) set:
    /// the exact bytes counted against it.
    pub in_use_bytes_counted: Option<u64>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Capacity of this tier's buffers, in bytes.
    pub capacity: usize,
    /// Gets served from a thread cache or the depot.
    pub hits: u64,
    /// Gets that allocated fresh storage.
    pub misses: u64,
    /// Buffers returned to the pool (storage whose last holder dropped).
    pub returns: u64,
    /// Returned buffers freed because the thread cache and the depot were
    /// full (their per-tier limits).
    pub dropped: u64,
    /// Returned buffers freed because the pool's idle bytes had reached
    /// [`max_cached_bytes`](crate::PoolBuilder::max_cached_bytes).
    pub dropped_over_budget: u64,
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
    pub(crate) fn from_totals(capacity: usize, t: TierTotals) -> Self {
        let handed_out = t.hits.wrapping_add(t.misses);
        let in_use = handed_out.saturating_sub(t.returns);
        let cached = t
            .returns
            .saturating_sub(t.hits)
            .saturating_sub(t.dropped)
            .saturating_sub(t.dropped_over_budget)
            .saturating_sub(t.trimmed);
        Self {
            capacity,
            hits: t.hits,
            misses: t.misses,
            returns: t.returns,
            dropped: t.dropped,
            dropped_over_budget: t.dropped_over_budget,
            trimmed: t.trimmed,
            in_use,
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

/// Shared counters of oversize allocations (not on the pooled hot path).
#[derive(Debug, Default)]
pub(crate) struct OversizeCounters {
    pub(crate) allocations: AtomicU64,
    pub(crate) frees: AtomicU64,
    pub(crate) bytes_allocated: AtomicU64,
    pub(crate) bytes_freed: AtomicU64,
}

impl OversizeCounters {
    pub(crate) fn snapshot(&self) -> OversizeStats {
        // Frees are read first: a free is counted after its allocation, so
        // reading them first can only over-report what is in use.
        let frees = self.frees.load(Ordering::Acquire);
        let bytes_freed = self.bytes_freed.load(Ordering::Acquire);
        let allocations = self.allocations.load(Ordering::Acquire);
        let bytes_allocated = self.bytes_allocated.load(Ordering::Acquire);
        OversizeStats {
            allocations,
            in_use: allocations.saturating_sub(frees),
            in_use_bytes: bytes_allocated.saturating_sub(bytes_freed),
        }
    }
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

/// Formats a byte count with a binary unit (`4 KiB`, `1.5 MiB`).
pub(crate) struct ByteSize(pub(crate) u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        let text = if value.fract() == 0.0 {
            format!("{value} {}", UNITS[unit])
        } else {
            format!("{value:.1} {}", UNITS[unit])
        };
        f.pad(&text)
    }
}

impl fmt::Display for PoolStats {
    /// A table with one row per tier, then the oversize line and hit rate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        let over: u64 = self.tiers.iter().map(|t| t.dropped_over_budget).sum();
        if let Some(limit) = self.cached_bytes_limit {
            write!(
                f,
                " (limit {}, {over} returns freed over it)",
                ByteSize(limit as u64)
            )?;
        }
        if let Some(limit) = self.in_use_bytes_limit {
            write!(
                f,
                "; in-use limit {}: {} refused, {} served over it",
                ByteSize(limit as u64),
                self.exhausted,
                self.over_budget
            )?;
        }
        write!(f, "\nhit rate: {:.2}%", self.hit_rate() * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_read_naturally() {
        assert_eq!(ByteSize(4096).to_string(), "4 KiB");
        assert_eq!(ByteSize(1 << 20).to_string(), "1 MiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(10).to_string(), "10 B");
    }

    #[test]
    fn derived_gauges_clamp_at_zero() {
        // A racy snapshot may see a return before its get.
        let t = TierStats::from_totals(
            64,
            TierTotals {
                hits: 0,
                misses: 0,
                returns: 1,
                dropped: 3,
                dropped_over_budget: 0,
                trimmed: 0,
            },
        );
        assert_eq!(t.in_use, 0);
        assert_eq!(t.cached, 0);
    }
}
