//! Publishing a stats snapshot through the `metrics` facade (feature
//! `metrics`); see [`Pool::publish_metrics`](crate::Pool::publish_metrics)
//! for the names, labels and what each value is.
//!
//! Nothing here runs on the get/drop path: a publish reads one
//! [`PoolStats`] snapshot, the same one [`Pool::stats`](crate::Pool::stats)
//! returns, and hands its figures to whatever recorder is installed.

use crate::sync::unmodelled::Arc;

use ::metrics::{counter, describe_counter, describe_gauge, gauge, Label, SharedString, Unit};

use crate::stats::PoolStats;

/// Gets served from an idle buffer (`TierStats::hits`); none for oversize.
pub(crate) const HITS: &str = "tierpool_hits_total";
/// Buffers whose last holder let go.
pub(crate) const RETURNS: &str = "tierpool_returns_total";
/// Gets that allocated a block (`TierStats::misses`), or oversize
/// allocations.
pub(crate) const MISSES: &str = "tierpool_misses_total";
/// Returned buffers freed instead of kept, by `reason`.
pub(crate) const DROPPED: &str = "tierpool_dropped_total";
/// Idle buffers freed by trims and idle collection.
pub(crate) const TRIMMED: &str = "tierpool_trimmed_total";
/// `try_get`/`try_reserve` refusals because of `max_in_use_bytes`.
pub(crate) const EXHAUSTED: &str = "tierpool_exhausted_total";
/// Hand-outs by `get` or growth beyond `max_in_use_bytes`.
pub(crate) const OVER_LIMIT: &str = "tierpool_over_limit_total";
/// Capacity handed out now.
pub(crate) const IN_USE_BYTES: &str = "tierpool_in_use_bytes";
/// Idle capacity kept now.
pub(crate) const CACHED_BYTES: &str = "tierpool_cached_bytes";
/// The `max_in_use_bytes` limit, when set.
pub(crate) const MAX_IN_USE_BYTES: &str = "tierpool_max_in_use_bytes";
/// The `max_cached_bytes` limit, when set.
pub(crate) const MAX_CACHED_BYTES: &str = "tierpool_max_cached_bytes";

/// Requests waiting for `max_in_use_bytes`.
pub(crate) const WAITING_REQUESTS: &str = "tierpool_waiting_requests";
/// The bytes they wait for.
pub(crate) const WAITING_BYTES: &str = "tierpool_waiting_bytes";
/// How long the oldest of them has waited.
pub(crate) const OLDEST_WAIT_SECONDS: &str = "tierpool_oldest_wait_seconds";
/// Live quotas.
pub(crate) const QUOTAS: &str = "tierpool_quotas";
/// Bytes charged to all quotas.
pub(crate) const QUOTA_USED_BYTES: &str = "tierpool_quota_used_bytes";
/// Bytes charged to the quota that holds the most.
pub(crate) const LARGEST_QUOTA_BYTES: &str = "tierpool_largest_quota_bytes";

/// The `tier` label of oversize (unpooled) allocations.
pub(crate) const OVERSIZE_TIER: &str = "oversize";
/// `reason` of a return freed because the thread cache and depot were full.
pub(crate) const REASON_FULL: &str = "full";
/// `reason` of a return freed because of `max_cached_bytes`.
pub(crate) const REASON_MAX_CACHED_BYTES: &str = "max_cached_bytes";

/// Describes every metric to the installed recorder. Called at each
/// publish rather than once per process: a recorder installed after the
/// first publish (or a thread-local one) then still gets the descriptions,
/// and exporters keep the first description of a name, so repeating costs
/// a map look-up per metric.
fn describe() {
    describe_counter!(
        HITS,
        Unit::Count,
        "Gets served from an idle buffer of the tier, without allocating."
    );
    describe_counter!(
        RETURNS,
        Unit::Count,
        "Buffers whose last holder (buffer or view) let go."
    );
    describe_counter!(
        MISSES,
        Unit::Count,
        "Gets that allocated a block: no idle buffer of the tier could serve them, or oversize allocations."
    );
    describe_counter!(
        DROPPED,
        Unit::Count,
        "Returned buffers freed instead of kept: reason=full when the thread cache and depot \
         were full, reason=max_cached_bytes when the pool's idle bytes were at their limit."
    );
    describe_counter!(
        TRIMMED,
        Unit::Count,
        "Idle buffers freed by trim, trim_idle and the automatic idle collection."
    );
    describe_counter!(
        EXHAUSTED,
        Unit::Count,
        "try_get/try_reserve requests refused because max_in_use_bytes would be exceeded."
    );
    describe_counter!(
        OVER_LIMIT,
        Unit::Count,
        "Buffers handed out by get or growth although they exceeded max_in_use_bytes."
    );
    describe_gauge!(
        IN_USE_BYTES,
        Unit::Bytes,
        "Capacity of the buffers handed out and not yet returned."
    );
    describe_gauge!(
        CACHED_BYTES,
        Unit::Bytes,
        "Capacity of the idle buffers the pool keeps, in depots and thread caches."
    );
    describe_gauge!(
        MAX_IN_USE_BYTES,
        Unit::Bytes,
        "The pool's max_in_use_bytes limit."
    );
    describe_gauge!(
        MAX_CACHED_BYTES,
        Unit::Bytes,
        "The pool's max_cached_bytes limit."
    );
    describe_gauge!(
        WAITING_REQUESTS,
        Unit::Count,
        "Requests waiting in get_async for the pool's max_in_use_bytes."
    );
    describe_gauge!(
        WAITING_BYTES,
        Unit::Bytes,
        "The block capacity those waiting requests ask for, summed."
    );
    describe_gauge!(
        OLDEST_WAIT_SECONDS,
        Unit::Seconds,
        "How long the request at the head of the max_in_use_bytes queue has waited; 0 when none waits."
    );
    describe_gauge!(QUOTAS, Unit::Count, "Live quotas of the pool.");
    describe_gauge!(
        QUOTA_USED_BYTES,
        Unit::Bytes,
        "Capacity of the buffers out under the pool's quotas, summed."
    );
    describe_gauge!(
        LARGEST_QUOTA_BYTES,
        Unit::Bytes,
        "Capacity of the buffers out under the quota that holds the most."
    );
}

/// Publishes `stats`, the snapshot of the pool called `name`.
pub(crate) fn publish(stats: &PoolStats, name: &Arc<str>) {
    describe();
    // Every label of this pool shares the one name; no copy per metric.
    let pool = Label::new("pool", SharedString::from(Arc::clone(name)));
    let labels = |tier: SharedString| vec![pool.clone(), Label::new("tier", tier)];
    for t in &stats.tiers {
        let tier = SharedString::from(t.capacity.to_string());
        let tier_labels = labels(tier.clone());
        counter!(HITS, tier_labels.iter()).absolute(t.hits);
        counter!(RETURNS, tier_labels.iter()).absolute(t.returns);
        counter!(MISSES, tier_labels.iter()).absolute(t.misses);
        counter!(TRIMMED, tier_labels.iter()).absolute(t.trimmed);
        for (reason, count) in [
            (REASON_FULL, t.dropped),
            (REASON_MAX_CACHED_BYTES, t.dropped_over_limit),
        ] {
            let mut reason_labels = tier_labels.clone();
            reason_labels.push(Label::from_static_parts("reason", reason));
            counter!(DROPPED, reason_labels).absolute(count);
        }
        gauge!(IN_USE_BYTES, tier_labels.iter()).set(t.in_use_bytes() as f64);
        gauge!(CACHED_BYTES, tier_labels).set(t.cached_bytes() as f64);
    }

    // Oversize allocations: every request is an allocation, every return
    // a free, nothing is cached. `in_use` is exactly allocations - frees.
    let o = &stats.oversize;
    let oversize = labels(SharedString::const_str(OVERSIZE_TIER));
    counter!(RETURNS, oversize.iter()).absolute(o.allocations.saturating_sub(o.in_use));
    counter!(MISSES, oversize.iter()).absolute(o.allocations);
    gauge!(IN_USE_BYTES, oversize).set(o.in_use_bytes as f64);

    let pool_labels = [pool];
    counter!(EXHAUSTED, pool_labels.iter()).absolute(stats.exhausted);
    counter!(OVER_LIMIT, pool_labels.iter()).absolute(stats.over_limit);
    if let Some(budget) = stats.in_use_limit {
        gauge!(MAX_IN_USE_BYTES, pool_labels.iter()).set(budget.limit as f64);
    }
    if let Some(budget) = stats.cached_limit {
        gauge!(MAX_CACHED_BYTES, pool_labels.iter()).set(budget.limit as f64);
    }
    let waiting = &stats.waiting;
    gauge!(WAITING_REQUESTS, pool_labels.iter()).set(waiting.requests as f64);
    gauge!(WAITING_BYTES, pool_labels.iter()).set(waiting.bytes as f64);
    gauge!(OLDEST_WAIT_SECONDS, pool_labels.iter())
        .set(waiting.oldest_wait.map_or(0.0, |wait| wait.as_secs_f64()));
    let quotas = &stats.quotas;
    gauge!(QUOTAS, pool_labels.iter()).set(quotas.live as f64);
    gauge!(QUOTA_USED_BYTES, pool_labels.iter()).set(quotas.used as f64);
    let largest = quotas.largest.first().map_or(0, |quota| quota.used);
    gauge!(LARGEST_QUOTA_BYTES, pool_labels.iter()).set(largest as f64);
}
