//! The opt-in outstanding-buffer report.

use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::block::BlockRef;
use crate::sync::Mutex;

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
/// let pool = tierpool::Pool::builder().track_outstanding(true).build()?;
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
    /// [`capture_backtraces`](crate::PoolBuilder::capture_backtraces).
    pub backtrace: Option<String>,
}

#[derive(Debug)]
struct Record {
    capacity: usize,
    tier: Option<usize>,
    since: Instant,
    backtrace: Option<Backtrace>,
}

/// Live hand-outs keyed by block address.
#[derive(Debug)]
pub(crate) struct OutstandingLog {
    backtraces: bool,
    live: Mutex<HashMap<usize, Record>>,
}

impl OutstandingLog {
    pub(crate) fn new(backtraces: bool) -> Self {
        Self {
            backtraces,
            live: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn insert(&self, block: &BlockRef) {
        let record = Record {
            capacity: block.capacity(),
            tier: block.tier_capacity(),
            since: Instant::now(),
            backtrace: self.backtraces.then(Backtrace::force_capture),
        };
        self.live.lock().insert(block.key(), record);
    }

    pub(crate) fn remove(&self, key: usize) {
        self.live.lock().remove(&key);
    }

    /// The live records, oldest first.
    pub(crate) fn report(&self) -> Vec<OutstandingBuf> {
        let now = Instant::now();
        let live = self.live.lock();
        let mut report: Vec<OutstandingBuf> = live
            .values()
            .map(|r| OutstandingBuf {
                capacity: r.capacity,
                tier: r.tier,
                age: now.saturating_duration_since(r.since),
                backtrace: r.backtrace.as_ref().map(ToString::to_string),
            })
            .collect();
        drop(live);
        report.sort_by_key(|r| std::cmp::Reverse(r.age));
        report
    }
}
