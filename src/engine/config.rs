//! A pool's configuration once validated: what the engine reads. The
//! public builder that makes it, with the defaults and the checks, is
//! [`PoolBuilder`](crate::PoolBuilder) one layer up.

use std::time::Duration;

use crate::engine::outstanding::{LeakDetection, OnClose};
use crate::memory::region::Backing;

/// A validated tier with every limit resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TierSpec {
    pub(crate) capacity: usize,
    pub(crate) thread_cache: usize,
    pub(crate) batch: usize,
    pub(crate) depot: usize,
}

/// A validated pool configuration.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    pub(crate) tiers: Vec<TierSpec>,
    pub(crate) alignment: usize,
    pub(crate) max_cached_bytes: Option<usize>,
    pub(crate) max_in_use_bytes: Option<usize>,
    pub(crate) zero_on_return: bool,
    pub(crate) leak_detection: LeakDetection,
    pub(crate) on_close: Option<OnClose>,
    pub(crate) record_sizes: bool,
    /// Index of the tier chains are made of.
    pub(crate) segment_tier: usize,
    pub(crate) idle_decay: Duration,
    pub(crate) backing: Backing,
}
