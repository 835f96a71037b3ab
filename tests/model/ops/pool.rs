//! The pool itself: `Trim`, `TrimIdle`, `Churn`, `MapRegions`, `ClosePool`.

use super::*;

impl Model {
    /// Pool-wide ops: trims, bursts of get/drop pairs, closing the pool.
    pub(super) fn apply_pool(&mut self, op: Op) {
        match op {
            Op::Trim => {
                if let Some(pool) = &self.pool {
                    pool.trim();
                    self.trimmed = true;
                }
            }
            Op::TrimIdle => {
                if let Some(pool) = &self.pool {
                    pool.trim_idle();
                }
            }
            Op::Churn { size, rounds } => self.churn(size, rounds),
            Op::MapRegions { size, count } => self.map_regions(size, count),
            Op::ClosePool { helper_last } => {
                if let Some(pool) = self.pool.take() {
                    if helper_last {
                        drop(pool);
                        assert!(matches!(self.helper.call(Cmd::ClosePool), Reply::Done));
                    } else {
                        assert!(matches!(self.helper.call(Cmd::ClosePool), Reply::Done));
                        drop(pool);
                    }
                }
            }
            _ => unreachable!("{op:?} is not a pool-wide op"),
        }
    }

    /// Regions mapped up front: the tier has `count % 4` of them (or as
    /// many as before, if more), and the stats do not move.
    pub(super) fn map_regions(&mut self, size: Size, count: u8) {
        let (Some(pool), Some(_)) = (&self.pool, self.limits.regions) else {
            return;
        };
        let n = self.limits.size(size);
        let (Some(tier), capacity) = self.limits.get_shape(n) else {
            return; // oversize: no tier to map for
        };
        let count = usize::from(count % 4);
        let of_tier = |pool: &Pool| {
            let report = pool.backing_report();
            let regions = report
                .regions
                .iter()
                .filter(|r| r.tier_capacity == capacity);
            regions.count()
        };
        let before_stats = self.stats();
        let before = of_tier(pool);
        let mapped = pool.map_regions(n, count).expect("mapping a small region");
        let after = of_tier(pool);
        assert_eq!(after, before.max(count), "map_regions in tier {tier}");
        assert_eq!(mapped, after - before);
        self.check_counted(before_stats, &[], "map_regions");
    }

    /// `rounds * 64` get-and-drop pairs of one size (a few under Miri).
    pub(super) fn churn(&mut self, size: Size, rounds: u8) {
        let Some(pool) = &self.pool else { return };
        let n = self.limits.size(size);
        let (tier, cap) = self.limits.get_shape(n);
        let count = if cfg!(miri) {
            usize::from(rounds % 4)
        } else {
            usize::from(rounds) * 64
        };
        let before = self.stats();
        for _ in 0..count {
            let mut buf = pool.get(n);
            assert!(buf.is_empty(), "churn: a recycled buffer is empty");
            // Within the capacity: no growth.
            buf.extend_from_slice(&[0xC5; 8][..cap.min(8)]);
        }
        self.count_requests(count as u64, 0);
        self.check_counted(before, &vec![tier; count], "churn");
    }
}
