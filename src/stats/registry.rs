//! Every thread's counters for one pool, registered as threads start using
//! it and folded into retired totals as they exit, summed on read.

use crate::stats::counters::{LocalCounter, SharedCounter, TierCounters, TierTotals};
use crate::stats::histogram::{SizeHistogram, SizeRecorder};
use crate::stats::{LimitStats, OversizeStats, PoolStats, QuotaSummary, TierStats, WaitStats};
use crate::sync::{Arc, CachePadded, Mutex};

/// The counters one thread keeps for one pool. Each tier sits on its own
/// cache line, so two threads' counters never share one.
#[derive(Debug)]
pub(crate) struct ThreadCounters {
    /// Shared with the thread's cache stacks, which bump them directly.
    pub(crate) tiers: Box<[Arc<CachePadded<TierCounters<LocalCounter>>>]>,
    /// Requested sizes, when the pool records them.
    pub(crate) sizes: Option<SizeRecorder>,
}

impl ThreadCounters {
    fn new(tiers: usize, record_sizes: bool) -> Self {
        Self {
            tiers: (0..tiers)
                .map(|_| Arc::new(CachePadded::default()))
                .collect(),
            sizes: record_sizes.then(SizeRecorder::new),
        }
    }
}

/// Counters of oversize (unpooled) allocations.
#[derive(Debug, Default)]
pub(crate) struct OversizeCounters {
    pub(crate) allocations: SharedCounter,
    pub(crate) frees: SharedCounter,
    pub(crate) bytes_allocated: SharedCounter,
    pub(crate) bytes_freed: SharedCounter,
}

impl OversizeCounters {
    fn snapshot(&self) -> OversizeStats {
        // Frees are read first: a free is counted after its allocation, so
        // reading them first can only over-report what is in use.
        let frees = self.frees.get();
        let bytes_freed = self.bytes_freed.get();
        let allocations = self.allocations.get();
        let bytes_allocated = self.bytes_allocated.get();
        OversizeStats {
            allocations,
            in_use: allocations.saturating_sub(frees),
            in_use_bytes: bytes_allocated.saturating_sub(bytes_freed),
        }
    }
}

/// Counters of threads that use the pool, and of threads that have exited.
#[derive(Debug)]
struct Registry {
    threads: Vec<Arc<ThreadCounters>>,
    retired: Vec<TierTotals>,
    retired_sizes: SizeHistogram,
}

/// Every counter of one pool.
#[derive(Debug)]
pub(crate) struct PoolCounters {
    registry: Mutex<Registry>,
    record_sizes: bool,
    /// Per tier, events on paths that run without a thread cache (trims,
    /// returns while a thread exits, returns freed over the cached budget).
    pub(crate) fallback: Box<[TierCounters<SharedCounter>]>,
    pub(crate) oversize: OversizeCounters,
    /// `try_get`/`try_reserve` refusals because of `max_in_use_bytes`.
    pub(crate) exhausted: SharedCounter,
    /// Hand-outs by `get`/growth beyond `max_in_use_bytes`.
    pub(crate) over_limit: SharedCounter,
}

impl PoolCounters {
    pub(crate) fn new(tier_count: usize, record_sizes: bool) -> Self {
        Self {
            registry: Mutex::new(Registry {
                threads: Vec::new(),
                retired: vec![TierTotals::default(); tier_count],
                retired_sizes: SizeHistogram::new(),
            }),
            record_sizes,
            fallback: (0..tier_count).map(|_| TierCounters::default()).collect(),
            oversize: OversizeCounters::default(),
            exhausted: SharedCounter::default(),
            over_limit: SharedCounter::default(),
        }
    }

    /// New counters for a thread that starts using the pool, registered so
    /// that [`snapshot`](Self::snapshot) sums them.
    pub(crate) fn register(&self) -> Arc<ThreadCounters> {
        let counters = Arc::new(ThreadCounters::new(self.fallback.len(), self.record_sizes));
        self.registry.lock().threads.push(Arc::clone(&counters));
        counters
    }

    /// Folds an exiting thread's counters into the retired totals.
    pub(crate) fn retire(&self, counters: &Arc<ThreadCounters>) {
        let mut registry = self.registry.lock();
        if let Some(pos) = registry
            .threads
            .iter()
            .position(|c| Arc::ptr_eq(c, counters))
        {
            registry.threads.swap_remove(pos);
            for (total, c) in registry.retired.iter_mut().zip(counters.tiers.iter()) {
                total.add(c);
            }
            if let Some(sizes) = &counters.sizes {
                sizes.add_to(&mut registry.retired_sizes);
            }
        }
    }

    /// The requested sizes recorded so far, summed over all threads.
    pub(crate) fn size_histogram(&self) -> SizeHistogram {
        let registry = self.registry.lock();
        let mut histogram = registry.retired_sizes.clone();
        for thread in &registry.threads {
            if let Some(sizes) = &thread.sizes {
                sizes.add_to(&mut histogram);
            }
        }
        histogram
    }

    /// Sums every thread's counters into a snapshot; `capacities` are the
    /// tiers' capacities, in order.
    pub(crate) fn snapshot(
        &self,
        capacities: impl Iterator<Item = usize>,
        cached_limit: Option<LimitStats>,
        in_use_limit: Option<LimitStats>,
    ) -> PoolStats {
        let mut totals = {
            let registry = self.registry.lock();
            let mut totals = registry.retired.clone();
            for thread in &registry.threads {
                for (total, c) in totals.iter_mut().zip(thread.tiers.iter()) {
                    total.add(c);
                }
            }
            totals
        };
        for (total, c) in totals.iter_mut().zip(self.fallback.iter()) {
            total.add(c);
        }
        PoolStats {
            // Filled in by `Pool::stats`, which holds the name.
            name: String::new(),
            tiers: capacities
                .zip(totals)
                .map(|(capacity, totals)| TierStats::from_totals(capacity, &totals))
                .collect(),
            oversize: self.oversize.snapshot(),
            exhausted: self.exhausted.get(),
            over_limit: self.over_limit.get(),
            cached_limit,
            in_use_limit,
            // Filled in by `PoolState::stats`, which holds the queues.
            waiting: WaitStats::default(),
            quotas: QuotaSummary::default(),
        }
    }
}
