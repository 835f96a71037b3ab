//! What a quota counts: its budget and counters, shared by the
//! [`Quota`](crate::Quota) handles and by every block charged to it. The
//! handle, which also holds the pool, is one layer up.

use std::fmt;

use crate::memory::budget::WaitableBudget;
use crate::stats::SharedCounter;

/// A quota's count and counters, shared by its handles and by every block
/// charged to it.
///
/// It holds no pool handle: a buffer charged to a quota keeps the pool's
/// state alive, as every buffer does, but not the pool open. Once the last
/// [`Pool`](crate::Pool) and [`Quota`](crate::Quota) handles are gone,
/// blocks that come back are freed, whoever they were charged to.
pub(crate) struct QuotaAccount {
    pub(crate) budget: WaitableBudget,
    pub(crate) gets: SharedCounter,
    pub(crate) exhausted: SharedCounter,
    pub(crate) over_limit: SharedCounter,
}

impl fmt::Debug for QuotaAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuotaAccount")
            .field("limit", &self.budget.limit())
            .field("used", &self.budget.used())
            .finish_non_exhaustive()
    }
}

// Unwind safety, as for `PoolState` (see the argument there): the count is
// one atomic and the wait queue is consistent wherever an executor's waker
// could panic.
impl std::panic::RefUnwindSafe for QuotaAccount {}

impl QuotaAccount {
    pub(crate) fn new(limit: usize) -> Self {
        QuotaAccount {
            budget: WaitableBudget::new(limit),
            gets: SharedCounter::default(),
            exhausted: SharedCounter::default(),
            over_limit: SharedCounter::default(),
        }
    }

    /// Counts one hand-out charged to the quota.
    pub(crate) fn count_get(&self) {
        self.gets.add(1);
    }
}
