//! Byte budgets: exact shared counters, used only when a cap is configured.

use crate::sync::{AtomicUsize, CachePadded, Ordering};

/// A byte count with a cap.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: CachePadded<AtomicUsize>,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Adds `bytes` unconditionally.
    pub(crate) fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Removes `bytes` that were added earlier.
    pub(crate) fn sub(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "budget underflow: {before} - {bytes}");
    }

    /// Adds `bytes` if the total stays within the cap.
    pub(crate) fn try_add(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(bytes).filter(|&n| n <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => used = actual,
            }
        }
    }

    /// Whether the count is above the cap.
    pub(crate) fn is_over(&self) -> bool {
        self.used() > self.limit
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Budget;

    #[test]
    fn try_add_respects_the_cap() {
        let budget = Budget::new(10);
        assert!(budget.try_add(6));
        assert!(!budget.try_add(5));
        assert!(budget.try_add(4));
        assert_eq!(budget.used(), 10);
        assert!(!budget.try_add(usize::MAX));
        budget.sub(10);
        assert_eq!(budget.used(), 0);
        budget.add(11);
        assert!(budget.is_over());
    }
}
