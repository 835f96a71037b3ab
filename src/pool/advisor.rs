//! The tier advisor: record the sizes an application asks for, and turn
//! that distribution into a tier configuration that wastes less memory.
//!
//! ```
//! use tierpool::SizeHistogram;
//!
//! // Sizes seen in production (or recorded by a pool with `record_sizes`).
//! let sizes = (0..1000).map(|i| if i % 10 == 0 { 20_000 } else { 1_500 });
//! let histogram: SizeHistogram = sizes.collect();
//! let advice = histogram.advise(&tierpool::DEFAULT_TIERS, 2);
//! assert!(advice.recommended.waste_ratio() < advice.current.waste_ratio());
//! println!("{advice}");
//! ```

use std::fmt;

use crate::fmt::ByteSize;
use crate::pool::builder::{default_thread_cache, DEFAULT_THREAD_CACHE_BYTES};
use crate::stats::histogram::{bucket_bound, SizeHistogram};

/// The optimiser: inherent methods of [`SizeHistogram`] that judge and
/// choose tiers.
impl SizeHistogram {
    /// How `tiers` (ascending capacities) would serve these requests.
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram = [1000, 3000, 5000].into_iter().collect();
    /// let report = histogram.evaluate(&[4096]);
    /// assert_eq!(report.pooled_requests, 2);
    /// assert_eq!(report.oversize_requests, 1);
    /// assert_eq!(report.handed_out_bytes, 2 * 4096);
    /// ```
    #[must_use]
    pub fn evaluate(&self, tiers: &[usize]) -> TierReport {
        let mut report = TierReport {
            tiers: tiers.to_vec(),
            requests: 0,
            pooled_requests: 0,
            oversize_requests: 0,
            pooled_requested_bytes: 0,
            handed_out_bytes: 0,
            requests_per_tier: vec![0; tiers.len()],
            thread_cache_bytes: tiers
                .iter()
                .map(|&t| default_thread_cache(t, DEFAULT_THREAD_CACHE_BYTES) * t)
                .collect(),
        };
        for (&bucket, &(count, bytes)) in &self.buckets {
            report.requests += count;
            // A histogram keeps only a bucket's bound, not its sizes, so a
            // bucket counts as served by the first tier that holds its bound
            // (every size in it fits there). A tier that falls inside a
            // bucket is judged conservatively: the bucket goes to the next
            // tier up. Tiers the advisor recommends are bucket bounds, so
            // they are judged exactly.
            let bound = bucket_bound(bucket);
            match tiers.iter().position(|&t| t >= bound) {
                Some(index) => {
                    report.pooled_requests += count;
                    report.pooled_requested_bytes += bytes;
                    report.handed_out_bytes += tiers[index] as u128 * u128::from(count);
                    report.requests_per_tier[index] += count;
                }
                None => report.oversize_requests += count,
            }
        }
        report
    }

    /// The `k` tier capacities that minimise wasted capacity (capacity
    /// handed out minus bytes requested) for these requests, with the
    /// largest tier holding every recorded size.
    ///
    /// Tier capacities are bucket bounds (at most 12.5% above a recorded
    /// size); the choice is exact over those candidates (dynamic
    /// programming). Fewer than `k` tiers come back when there are fewer
    /// distinct buckets; none for an empty histogram.
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram =
    ///     [512, 512, 512, 8192, 8192, 60_000].into_iter().collect();
    /// assert_eq!(histogram.recommend(3), vec![512, 8192, 61_440]);
    /// assert_eq!(histogram.recommend(1), vec![61_440]);
    /// ```
    #[must_use]
    pub fn recommend(&self, k: usize) -> Vec<usize> {
        self.recommend_covering(k, 1.0)
    }

    /// Like [`recommend`](Self::recommend), but the largest tier only has to
    /// hold `coverage` (0.0 to 1.0) of the requests: the rarest, largest
    /// requests are left to plain allocations instead of making the pool
    /// keep huge buffers for them.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut sizes = vec![4096; 999];
    /// sizes.push(50 << 20); // one 50 MiB request
    /// let histogram: tierpool::SizeHistogram = sizes.into_iter().collect();
    /// assert_eq!(histogram.recommend_covering(2, 0.99), vec![4096]);
    /// ```
    #[must_use]
    pub fn recommend_covering(&self, k: usize, coverage: f64) -> Vec<usize> {
        let buckets: Vec<(usize, u64, u128)> = self.buckets().collect();
        if k == 0 || buckets.is_empty() {
            return Vec::new();
        }
        // Keep the smallest prefix of buckets that reaches `coverage`.
        let total = self.requests() as f64;
        let mut seen = 0u64;
        let mut keep = buckets.len();
        for (i, &(_, count, _)) in buckets.iter().enumerate() {
            seen += count;
            if seen as f64 >= total * coverage.clamp(0.0, 1.0) {
                keep = i + 1;
                break;
            }
        }
        let buckets = &buckets[..keep];
        let m = buckets.len();
        let k = k.min(m);
        // Prefix sums of counts and bytes, for the waste of serving buckets
        // a..=b with a tier of capacity bound(b).
        let mut counts = vec![0u128; m + 1];
        let mut bytes = vec![0u128; m + 1];
        for (i, &(_, count, b)) in buckets.iter().enumerate() {
            counts[i + 1] = counts[i] + u128::from(count);
            bytes[i + 1] = bytes[i] + b;
        }
        let waste = |a: usize, b: usize| {
            (counts[b + 1] - counts[a]) * buckets[b].0 as u128 - (bytes[b + 1] - bytes[a])
        };
        // best[j][i]: least waste serving buckets 0..=i with j+1 tiers, the
        // largest at bound(i).
        let mut best = vec![vec![u128::MAX; m]; k];
        let mut from = vec![vec![usize::MAX; m]; k];
        for (i, cost) in best[0].iter_mut().enumerate() {
            *cost = waste(0, i);
        }
        for j in 1..k {
            for i in j..m {
                for p in (j - 1)..i {
                    if best[j - 1][p] == u128::MAX {
                        continue;
                    }
                    let cost = best[j - 1][p] + waste(p + 1, i);
                    if cost < best[j][i] {
                        best[j][i] = cost;
                        from[j][i] = p;
                    }
                }
            }
        }
        let mut tiers = Vec::with_capacity(k);
        let mut i = m - 1;
        for j in (0..k).rev() {
            tiers.push(buckets[i].0);
            if j > 0 {
                i = from[j][i];
            }
        }
        tiers.reverse();
        tiers
    }

    /// Compares `current` tiers with the best `k` tiers for these requests
    /// that serve at least the same share of them (so both waste ratios are
    /// over comparable requests: if the current largest tier leaves the
    /// biggest 0.1% to plain allocations, so does the recommendation).
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram = (1..=100).map(|i| i * 300).collect();
    /// let advice = histogram.advise(&tierpool::DEFAULT_TIERS, 3);
    /// assert_eq!(advice.recommended.tiers.len(), 3);
    /// assert!(advice.recommended.waste_ratio() <= advice.current.waste_ratio());
    /// ```
    #[must_use]
    pub fn advise(&self, current: &[usize], k: usize) -> TierAdvice {
        let current = self.evaluate(current);
        let recommended = self.evaluate(&self.recommend_covering(k, current.pooled_share()));
        TierAdvice {
            current,
            recommended,
        }
    }
}

/// How a tier set serves a [`SizeHistogram`], from
/// [`SizeHistogram::evaluate`].
///
/// # Examples
///
/// ```
/// let histogram: tierpool::SizeHistogram = [1000, 1000].into_iter().collect();
/// let report = histogram.evaluate(&[1024]);
/// assert_eq!(report.waste_ratio(), 48.0 / 2048.0);
/// assert_eq!(report.pooled_share(), 1.0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierReport {
    /// The tier capacities evaluated.
    pub tiers: Vec<usize>,
    /// All requests.
    pub requests: u64,
    /// Requests a tier would serve.
    pub pooled_requests: u64,
    /// Requests above the largest tier (plain allocations).
    pub oversize_requests: u64,
    /// Bytes asked for by the pooled requests.
    pub pooled_requested_bytes: u128,
    /// Tier capacity handed out for the pooled requests.
    pub handed_out_bytes: u128,
    /// Pooled requests per tier.
    pub requests_per_tier: Vec<u64>,
    /// Bytes a thread cache of each tier pins at the default depth
    /// (see [`TierConfig`](crate::TierConfig)).
    pub thread_cache_bytes: Vec<usize>,
}

impl TierReport {
    /// Share of the handed-out capacity that requests did not ask for:
    /// `(handed out - requested) / handed out`, over pooled requests.
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram = [512].into_iter().collect();
    /// assert_eq!(histogram.evaluate(&[1024]).waste_ratio(), 0.5);
    /// ```
    #[must_use]
    pub fn waste_ratio(&self) -> f64 {
        if self.handed_out_bytes == 0 {
            0.0
        } else {
            (self.handed_out_bytes - self.pooled_requested_bytes) as f64
                / self.handed_out_bytes as f64
        }
    }

    /// Share of requests served by a tier rather than a plain allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram = [10, 10_000].into_iter().collect();
    /// assert_eq!(histogram.evaluate(&[4096]).pooled_share(), 0.5);
    /// ```
    #[must_use]
    pub fn pooled_share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.pooled_requests as f64 / self.requests as f64
        }
    }
}

/// Current and recommended tiers side by side, from
/// [`SizeHistogram::advise`]. `Display` prints a comparison table.
///
/// # Examples
///
/// ```
/// let histogram: tierpool::SizeHistogram = [700, 700, 30_000].into_iter().collect();
/// let advice = histogram.advise(&[4096, 65536], 2);
/// assert_eq!(advice.recommended.tiers, vec![704, 30_720]);
/// let table = advice.to_string();
/// assert!(table.contains("waste"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierAdvice {
    /// How the current tiers serve the requests.
    pub current: TierReport,
    /// How the recommended tiers would.
    pub recommended: TierReport,
}

fn tier_list(tiers: &[usize]) -> String {
    let list: Vec<String> = tiers
        .iter()
        .map(|&t| ByteSize(t as u64).to_string())
        .collect();
    list.join(", ")
}

impl fmt::Display for TierAdvice {
    /// A two-column table, current against recommended tiers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, r) = (&self.current, &self.recommended);
        let percent = |share: f64| format!("{:.2}%", share * 100.0);
        let bytes = |n: u128| ByteSize(n.min(u128::from(u64::MAX)) as u64).to_string();
        let pinned =
            |report: &TierReport| bytes(report.thread_cache_bytes.iter().sum::<usize>() as u128);
        let rows = [
            ("", "current".to_string(), "recommended".to_string()),
            ("tiers", tier_list(&c.tiers), tier_list(&r.tiers)),
            ("requests", c.requests.to_string(), r.requests.to_string()),
            (
                "served by tiers",
                percent(c.pooled_share()),
                percent(r.pooled_share()),
            ),
            (
                "oversize (plain allocations)",
                c.oversize_requests.to_string(),
                r.oversize_requests.to_string(),
            ),
            (
                "waste (unused share of capacity)",
                percent(c.waste_ratio()),
                percent(r.waste_ratio()),
            ),
            (
                "capacity handed out",
                bytes(c.handed_out_bytes),
                bytes(r.handed_out_bytes),
            ),
            ("thread cache pins (per thread)", pinned(c), pinned(r)),
        ];
        for (i, (label, current, recommended)) in rows.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{label:<34} {current:>26} {recommended:>26}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::SizeHistogram;

    #[test]
    fn recommendation_is_exact_for_few_buckets() {
        let histogram: SizeHistogram = [100, 100, 100, 1000, 5000].into_iter().collect();
        assert_eq!(histogram.recommend(5), vec![104, 1024, 5120]);
        // 3 x 924 wasted at 1024 beats 4120 wasted on the 1000-byte request.
        assert_eq!(histogram.recommend(2), vec![1024, 5120]);
        let one = histogram.recommend(1);
        assert_eq!(one, vec![5120]);
        // Brute force over pairs of candidates agrees with the DP.
        let bounds: Vec<usize> = histogram.buckets().map(|b| b.0).collect();
        let mut best = (u128::MAX, vec![]);
        for a in 0..bounds.len() {
            let tiers = vec![bounds[a], bounds[bounds.len() - 1]];
            let report = histogram.evaluate(&tiers);
            let waste = report.handed_out_bytes - report.pooled_requested_bytes;
            if report.oversize_requests == 0 && waste < best.0 {
                best = (waste, tiers);
            }
        }
        assert_eq!(best.1, histogram.recommend(2));
    }
}
