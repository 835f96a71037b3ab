//! Counters that one thread writes and any thread reads, counters that any
//! thread bumps, and the per-tier set of events they count.

use std::ops::Index;

use crate::sync::{AtomicU64, Ordering};

/// A counter that only one thread writes and any thread may read.
#[derive(Debug, Default)]
pub(crate) struct LocalCounter(AtomicU64);

impl LocalCounter {
    /// Adds `n`; returns the new count. Only the owning thread may call it.
    ///
    /// The `Release` store (a plain store on x86) pairs with the `Acquire`
    /// load in [`get`](Self::get): a reader that sees a count also sees
    /// every count the thread made before it, so reading gets before
    /// returns can never report more buffers in use than the thread had.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64) -> u64 {
        let value = self.0.load(Ordering::Relaxed).wrapping_add(n);
        self.0.store(value, Ordering::Release);
        value
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A counter that several threads may add to.
#[derive(Debug, Default)]
pub(crate) struct SharedCounter(AtomicU64);

impl SharedCounter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Reading either kind of counter, for summing.
pub(crate) trait ReadCounter {
    fn read(&self) -> u64;
}

impl ReadCounter for LocalCounter {
    fn read(&self) -> u64 {
        self.get()
    }
}

impl ReadCounter for SharedCounter {
    fn read(&self) -> u64 {
        self.get()
    }
}

/// What a tier counts. Summed in this order: gets before returns, returns
/// before frees, so the derived gauges of a racy snapshot err low.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    /// A get served from a thread cache or the depot.
    Hit,
    /// A get that allocated a new block.
    Miss,
    /// A block whose last holder let go.
    Return,
    /// A returned block freed because the thread cache and depot were full.
    Dropped,
    /// A returned block freed because of `max_cached_bytes`.
    DroppedOverLimit,
    /// An idle block freed by a trim or an idle collection.
    Trimmed,
}

const EVENTS: usize = 6;

/// One counter per [`Event`] of one tier.
#[derive(Debug)]
pub(crate) struct TierCounters<C>([C; EVENTS]);

impl<C: Default> Default for TierCounters<C> {
    fn default() -> Self {
        Self(std::array::from_fn(|_| C::default()))
    }
}

impl<C> Index<Event> for TierCounters<C> {
    type Output = C;

    #[inline(always)]
    fn index(&self, event: Event) -> &C {
        &self.0[event as usize]
    }
}

/// Sums of [`TierCounters`], indexed by [`Event`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TierTotals(pub(crate) [u64; EVENTS]);

impl TierTotals {
    /// Adds one set of counters, in [`Event`] order.
    pub(crate) fn add<C: ReadCounter>(&mut self, counters: &TierCounters<C>) {
        for (total, counter) in self.0.iter_mut().zip(counters.0.iter()) {
            *total = total.wrapping_add(counter.read());
        }
    }
}

impl Index<Event> for TierTotals {
    type Output = u64;

    fn index(&self, event: Event) -> &u64 {
        &self.0[event as usize]
    }
}
