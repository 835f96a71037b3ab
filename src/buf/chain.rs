//! Segmented buffers: a message of any length as a chain of pooled blocks
//! ([`PooledChain`], which says why, and its frozen [`SharedChain`]).

use std::fmt;
use std::io::IoSlice;
use std::ops::{Bound, RangeBounds};

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::buf::bounds;
use crate::buf::pooled::PooledBuf;
use crate::buf::view::SharedBuf;
use crate::engine::quota_account::QuotaAccount;
use crate::engine::state::{OverLimit, PoolState};
use crate::error::allocation_panic;
use crate::error::PoolError;
use crate::sync::Arc;

/// Segments a chain keeps without allocating a list.
const INLINE_SEGMENTS: usize = 4;

/// The segments of a chain, in order: inline up to [`INLINE_SEGMENTS`],
/// then in a `Vec`. Segments consumed from the front (by [`Buf::advance`])
/// are dropped at once, so their blocks go back to the pool while the rest
/// of the message is still being written out.
#[derive(Clone)]
struct Segments {
    slots: Slots,
    /// Live segments are `slots[front..end]`; every one of them is `Some`.
    front: usize,
    end: usize,
}

#[derive(Clone)]
enum Slots {
    Inline([Option<SharedBuf>; INLINE_SEGMENTS]),
    Spilled(Vec<Option<SharedBuf>>),
}

impl Segments {
    const fn new() -> Self {
        Segments {
            slots: Slots::Inline([None, None, None, None]),
            front: 0,
            end: 0,
        }
    }

    fn slots(&self) -> &[Option<SharedBuf>] {
        match &self.slots {
            Slots::Inline(slots) => slots,
            Slots::Spilled(slots) => slots,
        }
    }

    fn slots_mut(&mut self) -> &mut [Option<SharedBuf>] {
        match &mut self.slots {
            Slots::Inline(slots) => slots,
            Slots::Spilled(slots) => slots,
        }
    }

    fn count(&self) -> usize {
        self.end - self.front
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = &SharedBuf> + ExactSizeIterator {
        self.slots()[self.front..self.end]
            .iter()
            .map(|slot| slot.as_ref().expect("live segments are present"))
    }

    fn push(&mut self, segment: SharedBuf) {
        if self.end == self.slots().len() {
            self.make_room();
        }
        let end = self.end;
        self.slots_mut()[end] = Some(segment);
        self.end += 1;
    }

    /// Makes room for one more segment at the end: moves the live segments
    /// to the front, or into a `Vec` twice as long.
    #[cold]
    fn make_room(&mut self) {
        let (front, end) = (self.front, self.end);
        let live: Vec<Option<SharedBuf>> = self.slots_mut()[front..end]
            .iter_mut()
            .map(Option::take)
            .collect();
        let count = live.len();
        let mut slots = live;
        slots.resize_with((count * 2).max(INLINE_SEGMENTS * 2), || None);
        self.slots = Slots::Spilled(slots);
        self.front = 0;
        self.end = count;
    }

    fn front_mut(&mut self) -> Option<&mut SharedBuf> {
        let front = self.front;
        if front == self.end {
            return None;
        }
        self.slots_mut()[front].as_mut()
    }

    fn pop_front(&mut self) -> Option<SharedBuf> {
        if self.front == self.end {
            return None;
        }
        let front = self.front;
        self.front += 1;
        self.slots_mut()[front].take()
    }
}

impl FromIterator<SharedBuf> for Segments {
    fn from_iter<I: IntoIterator<Item = SharedBuf>>(iter: I) -> Self {
        let mut segments = Segments::new();
        for segment in iter {
            segments.push(segment);
        }
        segments
    }
}

/// A growable message held as a chain of pooled blocks.
///
/// A contiguous buffer must be as large as its message, so a pool of a few
/// tiers rounds a 100 KiB message up to a 1 MiB block and cannot pool
/// messages above its largest tier at all. A chain holds a message as a run
/// of blocks. It grows by blocks of the *segment tier* (64 KiB by default,
/// see [`PoolBuilder::segment_capacity`](crate::PoolBuilder::segment_capacity));
/// when the writer says how many bytes are still to come (as
/// [`put_slice`](BufMut::put_slice) does), each block is the largest tier,
/// from the segment tier up, that those bytes fill completely, and the last
/// one the smallest tier that holds the rest: 2 MiB written at once is two
/// 1 MiB blocks, 200 KB three 64 KiB blocks and a 4 KiB one. (Readers of a
/// peer's bytes, like `tierpool::io`, let blocks grow only with the bytes
/// already received.) So:
///
/// - the capacity wasted per message is less than one segment: only the
///   last block can be partly filled;
/// - long messages take few, large blocks: few reads and few iovecs;
/// - any length is pooled, however large;
/// - a socket reads straight into the blocks ([`PooledChain`] is
///   [`BufMut`]), and a frozen [`SharedChain`] is [`Buf`] with
///   [`chunks_vectored`](Buf::chunks_vectored), so `write_all_buf` sends a
///   whole message with vectored writes;
/// - the list of segments is kept inline up to four segments, so a message
///   of up to four blocks allocates nothing but its blocks.
///
/// Made by [`Pool::chain`](crate::Pool::chain). It is written through
/// [`BufMut`] (so `read_buf` fills its blocks straight from a socket) or
/// [`io::Write`](std::io::Write), and grows one block at a time, taking
/// blocks from the pool only as bytes arrive: at most one block is ever
/// partly written. [`freeze`](Self::freeze) turns it into a [`SharedChain`].
///
/// Like every pooled buffer it never shows bytes an earlier holder of its
/// blocks wrote, it is `Send + Sync + 'static`, and its blocks return to
/// the pool on any thread; the pool's budgets and stats count them.
///
/// # Examples
///
/// ```
/// use bytes::{Buf, BufMut};
///
/// let pool = tierpool::Pool::new();
/// let mut chain = pool.chain();
/// chain.put_slice(&vec![7u8; 100_000]); // two 64 KiB blocks
/// assert_eq!(chain.len(), 100_000);
/// assert_eq!(chain.segment_count(), 2);
///
/// let message = chain.freeze();
/// assert_eq!(message.len(), 100_000);
/// assert_eq!(message.chunk().len(), 64 << 10);
/// assert!(message.segments().all(|s| s.iter().all(|&b| b == 7)));
/// ```
#[must_use = "dropping a PooledChain returns its blocks to the pool at once"]
pub struct PooledChain {
    pool: Arc<PoolState>,
    /// The quota every block is charged to, for a chain from
    /// [`Quota::chain`](crate::Quota::chain).
    quota: Option<Arc<QuotaAccount>>,
    /// Blocks already written, frozen.
    filled: Segments,
    /// The block being written, if any.
    tail: Option<PooledBuf>,
    /// Bytes written, in `filled` and `tail` together.
    len: usize,
}

impl PooledChain {
    pub(crate) fn new(pool: Arc<PoolState>) -> Self {
        PooledChain {
            pool,
            quota: None,
            filled: Segments::new(),
            tail: None,
            len: 0,
        }
    }

    pub(crate) fn with_quota(pool: Arc<PoolState>, quota: Arc<QuotaAccount>) -> Self {
        PooledChain {
            quota: Some(quota),
            ..PooledChain::new(pool)
        }
    }

    /// Number of bytes written.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.write_all(b"abc")?;
    /// assert_eq!(chain.len(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are written.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tierpool::Pool::new().chain().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of blocks the chain holds (the one being written included).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// assert_eq!(chain.segment_count(), 0); // no block until bytes come
    /// chain.extend_from_slice(b"x");
    /// assert_eq!(chain.segment_count(), 1);
    /// ```
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.filled.count() + usize::from(self.tail.is_some())
    }

    /// The capacity of the blocks the chain grows by: the pool's segment
    /// tier.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::Pool::new().chain().segment_capacity(), 64 << 10);
    /// ```
    #[must_use]
    pub fn segment_capacity(&self) -> usize {
        self.pool.segment_capacity()
    }

    /// Room left in the block being written, without taking another.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// assert_eq!(chain.spare_capacity(), 0);
    /// chain.reserve_block(100);
    /// assert_eq!(chain.spare_capacity(), 4096); // the smallest tier for 100 bytes
    /// ```
    #[must_use]
    pub fn spare_capacity(&self) -> usize {
        self.tail
            .as_ref()
            .map_or(0, |tail| tail.capacity() - tail.len())
    }

    /// Prepares the next block, when the one being written is full, for
    /// `additional` bytes still to come: the largest tier, from the segment
    /// tier up, that they fill completely; below one segment, the smallest
    /// tier that holds them. Does nothing while spare capacity remains, so
    /// a chain never holds more than one partly written block, and never
    /// takes more than one block ahead of the bytes.
    ///
    /// Writers that know how many bytes are still to come call this before
    /// each write, so the last block is no larger than needed;
    /// [`put_slice`](BufMut::put_slice) does it by itself, and
    /// [`chunk_mut`](BufMut::chunk_mut) without it takes a whole segment.
    ///
    /// # Panics
    ///
    /// If the allocator refuses a new block; see
    /// [`try_reserve_block`](Self::try_reserve_block).
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BufMut;
    ///
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.reserve_block(68_000);
    /// assert_eq!(chain.spare_capacity(), 64 << 10); // what 68,000 bytes fill
    /// chain.put_bytes(1, 64 << 10);
    /// chain.reserve_block(68_000 - (64 << 10));
    /// assert_eq!(chain.spare_capacity(), 4096); // the rest fits a 4 KiB block
    ///
    /// let mut big = tierpool::Pool::new().chain();
    /// big.reserve_block(3 << 20);
    /// assert_eq!(big.spare_capacity(), 1 << 20); // filled completely: one read
    /// ```
    #[track_caller]
    pub fn reserve_block(&mut self, additional: usize) {
        if let Err(err) = self.grow(additional, OverLimit::Serve) {
            allocation_panic(err);
        }
    }

    /// Like [`reserve_block`](Self::reserve_block), but reports failure.
    ///
    /// # Errors
    ///
    /// [`PoolError::Exhausted`] if the block would take the pool over
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes);
    /// [`PoolError::OutOfMemory`] if the allocator refuses. The chain is
    /// unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::builder().max_in_use_bytes(64 << 10).build()?;
    /// let mut first = pool.chain();
    /// first.try_reserve_block(64 << 10)?;
    /// let mut second = pool.chain();
    /// assert!(second.try_reserve_block(1).is_err()); // the budget is spent
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve_block(&mut self, additional: usize) -> Result<(), PoolError> {
        self.grow(additional, OverLimit::Refuse)
    }

    /// Like [`reserve_block`](Self::reserve_block), but waits for memory
    /// under the pool's
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes) instead of
    /// exceeding it, as [`Pool::get_async`](crate::Pool::get_async) does
    /// (first come, first served; dropping the future reserves nothing).
    /// Call it before each write to write a message under a cap:
    /// `tierpool::io::read_chain` (feature `tokio`) does.
    ///
    /// # Errors
    ///
    /// [`PoolError::OverLimit`] if the next block is larger than the whole
    /// cap; [`PoolError::OutOfMemory`] if the allocator refuses. The chain
    /// is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use bytes::BufMut;
    ///
    /// let pool = tierpool::Pool::builder().max_in_use_bytes(64 << 10).build()?;
    /// let mut message = pool.chain();
    /// message.reserve_block_async(100_000).await?; // one 64 KiB block
    /// message.put_bytes(7, 64 << 10);
    /// assert_eq!(message.spare_capacity(), 0);
    ///
    /// // The next block must wait until the first is returned.
    /// let sent = message.freeze();
    /// let mut next = pool.chain();
    /// let wait = next.reserve_block_async(100);
    /// drop(sent);
    /// wait.await?;
    /// assert_eq!(next.spare_capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn reserve_block_async(&mut self, additional: usize) -> Result<(), PoolError> {
        if additional == 0 || self.spare_capacity() > 0 {
            return Ok(());
        }
        let tier = self.pool.chain_tier(additional);
        let capacity = self.pool.tiers[tier].spec.capacity;
        let reserved = PoolState::reserve(&self.pool, capacity, self.quota.as_ref()).await?;
        self.next_block(additional, reserved)
    }

    /// Takes the next block if the one being written is full.
    #[inline]
    pub(crate) fn grow(
        &mut self,
        additional: usize,
        over_limit: OverLimit,
    ) -> Result<(), PoolError> {
        if additional == 0 || self.spare_capacity() > 0 {
            return Ok(());
        }
        self.next_block(additional, over_limit)
    }

    #[cold]
    #[inline(never)]
    fn next_block(&mut self, additional: usize, over_limit: OverLimit) -> Result<(), PoolError> {
        let tier = self.pool.chain_tier(additional);
        let wanted = additional.min(self.pool.tiers[tier].spec.capacity);
        let block = PoolState::get_tier(&self.pool, tier, wanted, over_limit, self.quota.as_ref())?;
        let full = self.tail.replace(PooledBuf::from_block(block));
        if let Some(full) = full {
            self.filled.push(full.freeze());
        }
        Ok(())
    }

    /// Appends `bytes`, growing block by block.
    ///
    /// # Panics
    ///
    /// If the allocator refuses a new block.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(b"hello ");
    /// chain.extend_from_slice(b"world");
    /// assert_eq!(chain.freeze().to_vec(), b"hello world");
    /// ```
    #[track_caller]
    pub fn extend_from_slice(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.reserve_block(bytes.len());
            let tail = self.tail.as_mut().expect("reserve_block left room");
            let n = bytes.len().min(tail.capacity() - tail.len());
            tail.extend_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }

    /// Turns the written bytes into an immutable, cloneable chain, without
    /// copying. The unwritten capacity of the last block is given up.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(b"frozen");
    /// let message = chain.freeze();
    /// assert_eq!(message, b"frozen"[..]);
    /// ```
    pub fn freeze(self) -> SharedChain {
        let PooledChain {
            mut filled,
            tail,
            len,
            ..
        } = self;
        if let Some(tail) = tail.filter(|tail| !tail.is_empty()) {
            filled.push(tail.freeze());
        }
        SharedChain {
            segments: filled,
            len,
        }
    }
}

// SAFETY: `chunk_mut` returns exactly the spare capacity of the block being
// written, which belongs to this chain alone; `advance_mut` only extends
// its length over bytes the caller initialised, after checking that they
// lie within that spare capacity.
unsafe impl BufMut for PooledChain {
    #[inline]
    fn remaining_mut(&self) -> usize {
        // Like `Vec<u8>` and `BytesMut`: the chain grows on demand.
        isize::MAX as usize - self.len
    }

    #[inline]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        let spare = self.spare_capacity();
        assert!(
            cnt <= spare,
            "advance_mut({cnt}) exceeds the {spare} bytes of spare capacity"
        );
        if let Some(tail) = &mut self.tail {
            // SAFETY: the caller initialised `cnt` bytes of the spare
            // capacity, which `tail` holds.
            unsafe { tail.set_len(tail.len() + cnt) };
            self.len += cnt;
        }
    }

    #[inline]
    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.spare_capacity() == 0 {
            // Length unknown: one segment, the most a chain may waste.
            self.reserve_block(self.pool.segment_capacity());
        }
        let tail = self.tail.as_mut().expect("a block with spare capacity");
        UninitSlice::uninit(tail.spare_capacity_mut())
    }

    fn put_slice(&mut self, src: &[u8]) {
        self.extend_from_slice(src);
    }
}

impl std::io::Write for PooledChain {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for PooledChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledChain")
            .field("len", &self.len)
            .field("segments", &self.segment_count())
            .field("spare_capacity", &self.spare_capacity())
            .finish()
    }
}

/// An immutable message held as a chain of pooled views, from
/// [`PooledChain::freeze`].
///
/// Cloning and slicing take references to the same blocks: no copy, and no
/// allocation for up to four segments. It is [`Buf`]: `chunk` is the front
/// segment, and [`chunks_vectored`](Buf::chunks_vectored) lists every
/// segment, so `write_all_buf` sends it with vectored writes, and consumed
/// segments go back to the pool as it advances. Each segment becomes a
/// `Bytes` without copying ([`segments`](Self::segments),
/// [`into_segments`](Self::into_segments)); the chain is copied into one
/// contiguous buffer only when asked ([`to_vec`](Self::to_vec),
/// [`into_bytes`](Self::into_bytes) of several segments).
///
/// # Examples
///
/// ```
/// use bytes::Buf;
/// use std::io::IoSlice;
///
/// let pool = tierpool::Pool::new();
/// let mut chain = pool.chain();
/// chain.extend_from_slice(&[1u8; 70_000]);
/// let message = chain.freeze();
///
/// let mut slices = [IoSlice::new(&[]); 4];
/// assert_eq!(message.chunks_vectored(&mut slices), 2); // 65536 + 4464 bytes
///
/// let tail = message.slice(65_000..);
/// assert_eq!(tail.len(), 5_000);
/// assert_eq!(tail.segment_count(), 2);
/// ```
#[derive(Clone)]
#[must_use = "dropping the last reference returns the blocks at once"]
pub struct SharedChain {
    segments: Segments,
    len: usize,
}

impl SharedChain {
    /// An empty chain, holding no block.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tierpool::SharedChain::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        SharedChain {
            segments: Segments::new(),
            len: 0,
        }
    }

    /// Number of bytes in the chain.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(b"abc");
    /// assert_eq!(chain.freeze().len(), 3);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the chain holds no bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tierpool::Pool::new().chain().freeze().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of segments (none of them empty).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(&[0; 200_000]);
    /// assert_eq!(chain.freeze().segment_count(), 4);
    /// ```
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.segments.count()
    }

    /// The segments, in order, as views.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(&[0; 100_000]);
    /// let lengths: Vec<usize> = chain.freeze().segments().map(|s| s.len()).collect();
    /// assert_eq!(lengths, vec![65536, 34464]);
    /// ```
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &SharedBuf> + ExactSizeIterator {
        self.segments.iter()
    }

    /// The segments, in order, by value: each one converts into `Bytes`
    /// without copying ([`SharedBuf::into_bytes`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(&[0; 100_000]);
    /// let parts: Vec<bytes::Bytes> = chain.freeze().into_segments().map(Into::into).collect();
    /// assert_eq!(parts.len(), 2);
    /// ```
    pub fn into_segments(mut self) -> impl Iterator<Item = SharedBuf> {
        std::iter::from_fn(move || self.segments.pop_front())
    }

    /// A chain of the bytes in `range`, sharing the blocks.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds or decreasing.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(b"header:body");
    /// let message = chain.freeze();
    /// assert_eq!(message.slice(7..), b"body"[..]);
    /// ```
    #[track_caller]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> SharedChain {
        let (start, end) = bounds(&range, self.len);
        assert!(
            start <= end && end <= self.len,
            "range {start}..{end} out of bounds for a SharedChain of length {}",
            self.len
        );
        let mut offset = 0;
        let segments = self
            .segments
            .iter()
            .filter_map(|segment| {
                let (from, to) = (offset, offset + segment.len());
                offset = to;
                let (lo, hi) = (start.max(from), end.min(to));
                (lo < hi).then(|| {
                    segment.slice((Bound::Included(lo - from), Bound::Excluded(hi - from)))
                })
            })
            .collect();
        SharedChain {
            segments,
            len: end - start,
        }
    }

    /// Copies the bytes into one `Vec`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(b"abc");
    /// assert_eq!(chain.freeze().to_vec(), b"abc");
    /// ```
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for segment in self.segments() {
            out.extend_from_slice(segment);
        }
        out
    }

    /// Converts into one `Bytes`: without copying when the chain has at
    /// most one segment, by copying into a new allocation otherwise (use
    /// [`into_segments`](Self::into_segments) to keep every segment
    /// zero-copy).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chain = tierpool::Pool::new().chain();
    /// chain.extend_from_slice(b"one segment");
    /// let message = chain.freeze();
    /// let ptr = message.segments().next().unwrap().as_ptr();
    /// assert_eq!(message.into_bytes().as_ptr(), ptr); // not copied
    /// ```
    #[must_use]
    pub fn into_bytes(mut self) -> Bytes {
        match self.segments.count() {
            0 => Bytes::new(),
            1 => self
                .segments
                .pop_front()
                .map(SharedBuf::into_bytes)
                .unwrap_or_default(),
            _ => Bytes::from(self.to_vec()),
        }
    }
}

impl Default for SharedChain {
    fn default() -> Self {
        SharedChain::new()
    }
}

impl SharedChain {
    /// A chain of `segments`, in order; empty views are left out.
    #[cfg(feature = "tokio")]
    pub(crate) fn from_segments(segments: impl IntoIterator<Item = SharedBuf>) -> Self {
        let mut chain = SharedChain::new();
        for segment in segments {
            if !segment.is_empty() {
                chain.len += segment.len();
                chain.segments.push(segment);
            }
        }
        chain
    }
}

impl From<SharedBuf> for SharedChain {
    /// A one-segment chain (an empty view gives an empty chain).
    fn from(view: SharedBuf) -> Self {
        let len = view.len();
        let mut segments = Segments::new();
        if len > 0 {
            segments.push(view);
        }
        SharedChain { segments, len }
    }
}

impl From<PooledChain> for SharedChain {
    fn from(chain: PooledChain) -> Self {
        chain.freeze()
    }
}

impl Buf for SharedChain {
    #[inline]
    fn remaining(&self) -> usize {
        self.len
    }

    #[inline]
    fn chunk(&self) -> &[u8] {
        self.segments.iter().next().map_or(&[], |s| s.as_slice())
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, segment) in dst.iter_mut().zip(self.segments.iter()) {
            *slot = IoSlice::new(segment);
            filled += 1;
        }
        filled
    }

    #[track_caller]
    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.len,
            "advance({cnt}) past the end of a SharedChain with {} bytes remaining",
            self.len
        );
        self.len -= cnt;
        while cnt > 0 {
            let front = self.segments.front_mut().expect("bytes remain");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            // Consumed: its block can go back to the pool now.
            drop(self.segments.pop_front());
        }
    }

    /// The next `len` bytes as `Bytes`: without copying when they lie in
    /// one segment, copied otherwise.
    #[track_caller]
    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        assert!(
            len <= self.len,
            "copy_to_bytes({len}) past the end of a SharedChain with {} bytes remaining",
            self.len
        );
        if let Some(front) = self.segments.front_mut() {
            if len <= front.len() {
                let bytes = front.split_to(len).into_bytes();
                self.len -= len;
                if front.is_empty() {
                    drop(self.segments.pop_front());
                }
                return bytes;
            }
        }
        let mut out = BytesMut::with_capacity(len);
        out.put((&mut *self).take(len));
        out.freeze()
    }
}

impl PartialEq for SharedChain {
    /// Compares the bytes, whatever the segment boundaries.
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len {
            return false;
        }
        let (mut a, mut b) = (self.segments(), other.segments());
        let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
        loop {
            if x.is_empty() {
                match a.next() {
                    Some(segment) => x = segment,
                    None => return true, // equal lengths: `b` is done too
                }
            }
            if y.is_empty() {
                y = b.next().map_or(&[], |segment| segment.as_slice());
            }
            let n = x.len().min(y.len());
            // `n == 0` only if a segment were empty, which chains never
            // hold; refusing then keeps the loop finite regardless.
            if n == 0 || x[..n] != y[..n] {
                return false;
            }
            (x, y) = (&x[n..], &y[n..]);
        }
    }
}

impl Eq for SharedChain {}

impl PartialEq<[u8]> for SharedChain {
    fn eq(&self, other: &[u8]) -> bool {
        if self.len != other.len() {
            return false;
        }
        let mut rest = other;
        self.segments().all(|segment| {
            let (head, tail) = rest.split_at(segment.len());
            rest = tail;
            segment.as_slice() == head
        })
    }
}

impl PartialEq<&[u8]> for SharedChain {
    fn eq(&self, other: &&[u8]) -> bool {
        *self == **other
    }
}

impl PartialEq<Vec<u8>> for SharedChain {
    fn eq(&self, other: &Vec<u8>) -> bool {
        *self == other[..]
    }
}

impl fmt::Debug for SharedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedChain")
            .field("len", &self.len)
            .field("segments", &self.segment_count())
            .field(
                "head",
                &crate::fmt::Preview(self.segments.iter().next().map_or(&[], |s| s.as_slice())),
            )
            .finish()
    }
}
