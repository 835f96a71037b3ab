//! What a quota counts: its budget and counters, shared by the
//! [`Quota`](crate::Quota) handles and by every block charged to it. The
//! handle, which also holds the pool, is one layer up.

use std::fmt;

use crate::memory::budget::WaitableBudget;
use crate::stats::{QuotaId, QuotaSummary, QuotaUsage, SharedCounter};
use crate::sync::{Arc, Mutex};

/// A quota's count and counters, shared by its handles and by every block
/// charged to it.
///
/// It holds no pool handle: a buffer charged to a quota keeps the pool's
/// state alive, as every buffer does, but not the pool open. Once the last
/// [`Pool`](crate::Pool) and [`Quota`](crate::Quota) handles are gone,
/// blocks that come back are freed, whoever they were charged to.
pub(crate) struct QuotaAccount {
    pub(crate) id: QuotaId,
    pub(crate) budget: WaitableBudget,
    pub(crate) gets: SharedCounter,
    pub(crate) exhausted: SharedCounter,
    pub(crate) over_limit: SharedCounter,
}

impl fmt::Debug for QuotaAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuotaAccount")
            .field("id", &self.id)
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
    fn new(id: QuotaId, limit: usize) -> Self {
        QuotaAccount {
            id,
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

    /// What the quota holds now.
    pub(crate) fn usage(&self) -> QuotaUsage {
        QuotaUsage {
            id: self.id,
            limit: self.budget.limit(),
            used: self.budget.used(),
            waiting: self.budget.waiting(),
        }
    }
}

/// A pool's quotas, for [`Pool::quotas`](crate::Pool::quotas) and the
/// stats: who holds the memory.
///
/// Only making a quota and reading the list take the lock; the get and
/// return paths never touch the registry (a block charged to a quota holds
/// its account directly). The registry keeps a strong reference to each
/// account and drops the ones nothing else refers to any more (no handle,
/// no block charged), when it is read and, amortised, when quotas are
/// made: a strong count of 1 cannot rise again, since only the registry
/// could clone that reference.
#[derive(Debug)]
pub(crate) struct QuotaRegistry {
    inner: Mutex<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    /// Quotas made so far: the last id given.
    made: u64,
    accounts: Vec<Arc<QuotaAccount>>,
    /// Prune once `accounts` is this long.
    prune_at: usize,
}

impl RegistryInner {
    fn prune(&mut self) {
        self.accounts
            .retain(|account| Arc::strong_count(account) > 1);
        self.prune_at = (2 * self.accounts.len()).max(64);
    }
}

impl QuotaRegistry {
    pub(crate) fn new() -> Self {
        QuotaRegistry {
            inner: Mutex::new(RegistryInner::default()),
        }
    }

    /// A new account of `limit` bytes, listed from now on.
    pub(crate) fn register(&self, limit: usize) -> Arc<QuotaAccount> {
        let mut inner = self.inner.lock();
        inner.made += 1;
        let account = Arc::new(QuotaAccount::new(QuotaId(inner.made), limit));
        if inner.accounts.len() >= inner.prune_at {
            inner.prune();
        }
        inner.accounts.push(Arc::clone(&account));
        account
    }

    /// Every live quota's usage, the most bytes charged first (then the
    /// oldest quota first).
    pub(crate) fn usages(&self) -> Vec<QuotaUsage> {
        let mut usages: Vec<QuotaUsage> = {
            let mut inner = self.inner.lock();
            inner.prune();
            inner
                .accounts
                .iter()
                .map(|account| account.usage())
                .collect()
        };
        usages.sort_unstable_by(|a, b| b.used.cmp(&a.used).then(a.id.cmp(&b.id)));
        usages
    }

    /// The summary that [`PoolStats::quotas`](crate::PoolStats::quotas)
    /// gives.
    pub(crate) fn summary(&self) -> QuotaSummary {
        let mut usages = self.usages();
        let used = usages.iter().map(|usage| usage.used as u64).sum();
        let live = usages.len();
        usages.truncate(QuotaSummary::LARGEST);
        QuotaSummary {
            live,
            used,
            largest: usages,
        }
    }
}
