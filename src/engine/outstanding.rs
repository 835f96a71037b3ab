//! Leak and long-hold detection: the opt-in outstanding-buffer report, at
//! one of three levels.

use crate::sync::unmodelled::Arc as StdArc;
use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::engine::block::BlockRef;
use crate::sync::Mutex;

/// How much of a pool's hand-outs the outstanding-buffer report
/// ([`Pool::outstanding`](crate::Pool::outstanding),
/// [`Pool::held_longer_than`](crate::Pool::held_longer_than)) follows, as
/// Netty's leak detector levels do. Set with
/// [`PoolBuilder::leak_detection`](crate::PoolBuilder::leak_detection).
///
/// What each level costs on a get and drop is measured in
/// `benches/pool_vs_alloc.rs` (see
/// [`BENCHMARKS.md`](https://github.com/tierpool/tierpool/blob/main/BENCHMARKS.md)).
///
/// # Examples
///
/// ```
/// use tierpool::{LeakDetection, Pool};
///
/// let pool = Pool::builder()
///     .leak_detection(LeakDetection::Sampled { one_in: 1 })
///     .build()?;
/// let kept = pool.get(100);
/// assert_eq!(pool.outstanding().len(), 1);
/// assert!(pool.outstanding()[0].backtrace.is_some()); // sampled ones have one
/// # drop(kept);
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LeakDetection {
    /// Nothing is recorded, and nothing is paid (the default).
    #[default]
    Off,
    /// One hand-out in `one_in` is followed, with the backtrace of where it
    /// was taken; the others pay only for leaving the inlined fast path. A
    /// leak that keeps leaking shows up in the report, at its rate, without
    /// following everything. `one_in: 0` is taken as 1.
    Sampled {
        /// One block in this many is followed.
        one_in: u32,
    },
    /// Every hand-out is recorded, with a backtrace if `backtraces` (for
    /// debugging: capturing one costs microseconds).
    Full {
        /// Capture the backtrace of every get.
        backtraces: bool,
    },
}

impl LeakDetection {
    /// Whether every block is followed (the others are sampled at
    /// allocation, or none).
    pub(crate) fn follows_every_block(self) -> bool {
        matches!(self, LeakDetection::Full { .. })
    }

    /// For a sampling level, one hand-out in how many is followed.
    pub(crate) fn sample_interval(self) -> Option<u64> {
        match self {
            LeakDetection::Sampled { one_in } => Some(u64::from(one_in.max(1))),
            _ => None,
        }
    }

    pub(crate) fn backtraces(self) -> bool {
        match self {
            LeakDetection::Off => false,
            LeakDetection::Sampled { .. } => true,
            LeakDetection::Full { backtraces } => backtraces,
        }
    }
}

/// What a pool does with the buffers still out when its last handle drops,
/// from [`PoolBuilder::on_close_with_outstanding`](crate::PoolBuilder::on_close_with_outstanding).
#[derive(Clone)]
pub(crate) struct OnClose(pub(crate) StdArc<ReportFn>);

/// A report of outstanding buffers, called by the pool.
type ReportFn = dyn Fn(&[OutstandingBuf]) + Send + Sync;

// The pool calls the report once, after it has closed, and keeps no state
// of its own that the report could leave half-updated: as for a thread's
// closure, what the report captures is its own concern.
impl std::panic::RefUnwindSafe for OnClose {}
impl std::panic::UnwindSafe for OnClose {}

impl fmt::Debug for OnClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnClose(..)")
    }
}

/// A buffer handed out and not yet returned, from
/// [`Pool::outstanding`](crate::Pool::outstanding).
///
/// "Returned" means its block went back: a buffer frozen into views stays
/// outstanding until the last view (or `Bytes`) drops, which is what makes
/// the report useful for finding views that pin pooled memory.
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::builder()
///     .leak_detection(tierpool::LeakDetection::Full { backtraces: false })
///     .build()?;
/// let view = pool.get(100).freeze();
/// let report = pool.outstanding();
/// assert_eq!(report[0].tier, Some(4096));
/// assert!(report[0].backtrace.is_none()); // not asked for
/// # drop(view);
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutstandingBuf {
    /// Capacity of the block in bytes.
    pub capacity: usize,
    /// The tier's capacity, or `None` for an oversize allocation.
    pub tier: Option<usize>,
    /// Time since the buffer was handed out.
    pub age: Duration,
    /// Where it was got, with
    /// [`LeakDetection::Full`]`{ backtraces: true }`.
    pub backtrace: Option<String>,
}

#[derive(Debug)]
struct Record {
    capacity: usize,
    tier: Option<usize>,
    since: Instant,
    backtrace: Option<Backtrace>,
}

/// Shards of the log: gets and returns of different blocks rarely take
/// the same lock.
const SHARDS: usize = 16;

/// Live hand-outs keyed by block address, in [`SHARDS`] locked maps.
#[derive(Debug)]
pub(crate) struct OutstandingLog {
    backtraces: bool,
    shards: Box<[Mutex<HashMap<usize, Record>>]>,
}

impl OutstandingLog {
    pub(crate) fn new(backtraces: bool) -> Self {
        Self {
            backtraces,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: usize) -> &Mutex<HashMap<usize, Record>> {
        // Block headers are at least 64 bytes apart.
        &self.shards[(key >> 6) % SHARDS]
    }

    pub(crate) fn insert(&self, block: &BlockRef) {
        let record = Record {
            capacity: block.capacity(),
            tier: block.tier_capacity(),
            since: Instant::now(),
            backtrace: self.backtraces.then(Backtrace::force_capture),
        };
        self.shard(block.key()).lock().insert(block.key(), record);
    }

    pub(crate) fn remove(&self, key: usize) {
        self.shard(key).lock().remove(&key);
    }

    /// The live records held at least `min_age`, oldest first.
    pub(crate) fn report(&self, min_age: Duration) -> Vec<OutstandingBuf> {
        let now = Instant::now();
        let mut report = Vec::new();
        for shard in self.shards.iter() {
            let live = shard.lock();
            report.extend(live.values().filter_map(|r| {
                let age = now.saturating_duration_since(r.since);
                (age >= min_age).then(|| OutstandingBuf {
                    capacity: r.capacity,
                    tier: r.tier,
                    age,
                    backtrace: r.backtrace.as_ref().map(ToString::to_string),
                })
            }));
        }
        report.sort_by_key(|r| std::cmp::Reverse(r.age));
        report
    }
}
