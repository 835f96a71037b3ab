//! Size histograms: how many requests of which sizes an application
//! makes, from a trace file, any iterator of sizes, or a pool that records
//! what it is asked for. The [`advisor`](crate::advisor) turns one into tiers.

use std::collections::BTreeMap;
use std::io::BufRead;

use crate::stats::counters::LocalCounter;
use crate::sync::Mutex;

/// Sub-buckets per power of two: bucket bounds are at most 12.5% apart.
const SUB_BUCKET_BITS: u32 = 3;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// Sizes up to this are bucketed exactly (one bucket per size).
const LINEAR_LIMIT: usize = 2 * SUB_BUCKETS;
/// Number of buckets covering every `usize`.
pub(crate) const BUCKETS: usize =
    LINEAR_LIMIT + (usize::BITS - SUB_BUCKET_BITS) as usize * SUB_BUCKETS;

/// The bucket of `size`: sizes are grouped so that bucket bounds are at
/// most 12.5% apart (sizes below 16 get a bucket each).
pub(crate) fn bucket_of(size: usize) -> usize {
    if size < LINEAR_LIMIT {
        return size;
    }
    // `v` lies in [2^e, 2^(e+1)) with e >= 3; the bucket's bound is the
    // next multiple of 2^(e-3) at or above `size`.
    let v = size - 1;
    let e = usize::BITS - 1 - v.leading_zeros();
    let shift = e - SUB_BUCKET_BITS;
    let sub = (v >> shift) - SUB_BUCKETS;
    LINEAR_LIMIT + (e - SUB_BUCKET_BITS) as usize * SUB_BUCKETS + sub
}

/// The largest size that falls into `bucket` (saturating at `usize::MAX`).
pub(crate) fn bucket_bound(bucket: usize) -> usize {
    if bucket < LINEAR_LIMIT {
        return bucket;
    }
    let index = bucket - LINEAR_LIMIT;
    let shift = (index / SUB_BUCKETS) as u32;
    let sub = (index % SUB_BUCKETS) as u128;
    let bound = (SUB_BUCKETS as u128 + sub + 1) << shift;
    usize::try_from(bound).unwrap_or(usize::MAX)
}

/// A distribution of requested buffer sizes: per bucket (bounds at most
/// 12.5% apart), how many requests and how many bytes in total.
///
/// Fill it from any iterator of sizes, from a trace file
/// ([`read_trace`](Self::read_trace)), or let a pool record what it is asked
/// for ([`PoolBuilder::record_sizes`](crate::PoolBuilder::record_sizes),
/// [`Pool::size_histogram`](crate::Pool::size_histogram)).
///
/// # Examples
///
/// ```
/// let mut histogram = tierpool::SizeHistogram::new();
/// histogram.record(1500);
/// histogram.record_n(9000, 3);
/// assert_eq!(histogram.requests(), 4);
/// assert_eq!(histogram.requested_bytes(), 1500 + 27_000);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizeHistogram {
    /// bucket -> (requests, requested bytes)
    pub(crate) buckets: BTreeMap<usize, (u64, u128)>,
}

impl SizeHistogram {
    /// An empty histogram.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::SizeHistogram::new().requests(), 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one request of `size` bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut histogram = tierpool::SizeHistogram::new();
    /// histogram.record(100);
    /// assert_eq!(histogram.requests(), 1);
    /// ```
    pub fn record(&mut self, size: usize) {
        self.record_n(size, 1);
    }

    /// Records `count` requests of `size` bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut histogram = tierpool::SizeHistogram::new();
    /// histogram.record_n(100, 5);
    /// assert_eq!(histogram.requested_bytes(), 500);
    /// ```
    pub fn record_n(&mut self, size: usize, count: u64) {
        if count == 0 {
            return;
        }
        let entry = self.buckets.entry(bucket_of(size)).or_default();
        entry.0 += count;
        entry.1 += size as u128 * u128::from(count);
    }

    pub(crate) fn add_bucket(&mut self, bucket: usize, count: u64, bytes: u128) {
        if count > 0 {
            let entry = self.buckets.entry(bucket).or_default();
            entry.0 += count;
            entry.1 += bytes;
        }
    }

    /// Adds every request recorded in `other`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut a: tierpool::SizeHistogram = [1, 2].into_iter().collect();
    /// let b: tierpool::SizeHistogram = [3].into_iter().collect();
    /// a.merge(&b);
    /// assert_eq!(a.requests(), 3);
    /// ```
    pub fn merge(&mut self, other: &SizeHistogram) {
        for (&bucket, &(count, bytes)) in &other.buckets {
            self.add_bucket(bucket, count, bytes);
        }
    }

    /// Number of requests recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram = [10, 20].into_iter().collect();
    /// assert_eq!(histogram.requests(), 2);
    /// ```
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.buckets.values().map(|&(count, _)| count).sum()
    }

    /// Total bytes requested.
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram = [10, 20].into_iter().collect();
    /// assert_eq!(histogram.requested_bytes(), 30);
    /// ```
    #[must_use]
    pub fn requested_bytes(&self) -> u128 {
        self.buckets.values().map(|&(_, bytes)| bytes).sum()
    }

    /// The buckets with requests, smallest first: `(largest size in the
    /// bucket, requests, requested bytes)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let histogram: tierpool::SizeHistogram = [4000, 4090, 100].into_iter().collect();
    /// let buckets: Vec<_> = histogram.buckets().collect();
    /// assert_eq!(buckets, vec![(104, 1, 100), (4096, 2, 8090)]);
    /// ```
    pub fn buckets(&self) -> impl Iterator<Item = (usize, u64, u128)> + '_ {
        self.buckets
            .iter()
            .map(|(&bucket, &(count, bytes))| (bucket_bound(bucket), count, bytes))
    }

    /// Reads a size trace: one request per line, either `SIZE` or
    /// `SIZE COUNT` (whitespace- or comma-separated). Blank lines and lines
    /// starting with `#` are skipped.
    ///
    /// # Errors
    ///
    /// An `InvalidData` error naming the line that is not a size, or the
    /// reader's own error.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = "# size count\n1500\n9000 3\n";
    /// let histogram = tierpool::SizeHistogram::read_trace(trace.as_bytes())?;
    /// assert_eq!(histogram.requests(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_trace(reader: impl BufRead) -> std::io::Result<Self> {
        let mut histogram = SizeHistogram::new();
        for (index, line) in reader.lines().enumerate() {
            let line = line?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|f| !f.is_empty());
            let bad = || {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "line {}: expected `SIZE` or `SIZE COUNT`, found {line:?}",
                        index + 1
                    ),
                )
            };
            let size: usize = fields.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            let count: u64 = match fields.next() {
                Some(count) => count.parse().map_err(|_| bad())?,
                None => 1,
            };
            if fields.next().is_some() {
                return Err(bad());
            }
            histogram.record_n(size, count);
        }
        Ok(histogram)
    }
}

impl FromIterator<usize> for SizeHistogram {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut histogram = SizeHistogram::new();
        histogram.extend(iter);
        histogram
    }
}

impl Extend<usize> for SizeHistogram {
    fn extend<I: IntoIterator<Item = usize>>(&mut self, iter: I) {
        for size in iter {
            self.record(size);
        }
    }
}

/// Per-thread recording of requested sizes: bucket counters written by one
/// thread with plain loads and stores, summed on read.
///
/// Byte totals are exact, as in [`SizeHistogram`]: a bucket's `u64` total
/// that would wrap (requests near `usize::MAX` reach it after two calls) is
/// first moved into `carried`, a `u128` per bucket behind a lock taken only
/// then and by readers. Readers take the lock around their reads of the
/// `u64` totals, so they never see a total both moved and still counted.
#[derive(Debug)]
pub(crate) struct SizeRecorder {
    counts: Box<[LocalCounter]>,
    bytes: Box<[LocalCounter]>,
    carried: Mutex<BTreeMap<usize, u128>>,
}

impl SizeRecorder {
    pub(crate) fn new() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| LocalCounter::default()).collect(),
            bytes: (0..BUCKETS).map(|_| LocalCounter::default()).collect(),
            carried: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one request; only the owning thread calls this.
    pub(crate) fn record(&self, size: usize) {
        let bucket = bucket_of(size);
        self.counts[bucket].add(1);
        let size = size as u64;
        let bytes = &self.bytes[bucket];
        if bytes.get() > u64::MAX - size {
            self.carry(bucket, size);
        } else {
            bytes.add(size);
        }
    }

    /// Moves a bucket's byte total, plus `size`, into its `u128` carry.
    #[cold]
    fn carry(&self, bucket: usize, size: u64) {
        let mut carried = self.carried.lock();
        let bytes = &self.bytes[bucket];
        let total = u128::from(bytes.get()) + u128::from(size);
        *carried.entry(bucket).or_insert(0) += total;
        // Only this thread writes the counter: adding its negation zeroes it.
        bytes.add(bytes.get().wrapping_neg());
    }

    pub(crate) fn add_to(&self, histogram: &mut SizeHistogram) {
        let carried = self.carried.lock();
        for (bucket, (count, bytes)) in self.counts.iter().zip(self.bytes.iter()).enumerate() {
            let carry = carried.get(&bucket).copied().unwrap_or(0);
            histogram.add_bucket(bucket, count.get(), u128::from(bytes.get()) + carry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_tight_and_cover_their_sizes() {
        let mut previous_bound = 0;
        // Every size natively; under Miri (45 s for all of them) every 61st
        // and those around each power of two, where buckets change.
        let step = if cfg!(miri) { 61 } else { 1 };
        let mut sizes: Vec<usize> = (0..70_000).step_by(step).collect();
        if cfg!(miri) {
            sizes.extend((0..17).flat_map(|shift| {
                let p = 1usize << shift;
                [p - 1, p, p + 1]
            }));
            sizes.sort_unstable();
        }
        sizes.extend([usize::MAX / 2, usize::MAX - 1, usize::MAX]);
        for size in sizes {
            let bucket = bucket_of(size);
            assert!(bucket < BUCKETS, "size {size} -> bucket {bucket}");
            let bound = bucket_bound(bucket);
            assert!(bound >= size, "size {size} above its bucket bound {bound}");
            assert!(bound >= previous_bound);
            previous_bound = bound;
            if (LINEAR_LIMIT..usize::MAX / 2).contains(&size) {
                assert!(
                    (bound - size) as f64 <= size as f64 * 0.125,
                    "bound {bound} too far above {size}"
                );
            }
        }
        // Powers of two and their sub-bucket bounds are exact.
        for size in [16, 4096, 4608, 65536, 1 << 20] {
            assert_eq!(bucket_bound(bucket_of(size)), size);
        }
    }

    #[test]
    fn recorded_byte_totals_do_not_wrap() {
        let recorder = SizeRecorder::new();
        for _ in 0..3 {
            recorder.record(usize::MAX);
        }
        recorder.record(usize::MAX - 1);
        recorder.record(100);
        let mut histogram = SizeHistogram::new();
        recorder.add_to(&mut histogram);
        let max = usize::MAX as u128;
        assert_eq!(histogram.requests(), 5);
        assert_eq!(histogram.requested_bytes(), 4 * max - 1 + 100);
        // The same totals as a histogram fed the same sizes directly.
        let mut direct = SizeHistogram::new();
        direct.extend([usize::MAX, usize::MAX, usize::MAX, usize::MAX - 1, 100]);
        assert_eq!(histogram, direct);
    }

    #[test]
    fn read_trace_reports_the_bad_line() {
        let err = SizeHistogram::read_trace("10\nten\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 2"));
        let err = SizeHistogram::read_trace("10 2 3\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 1"));
    }
}
