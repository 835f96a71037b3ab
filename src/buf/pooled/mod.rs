//! `PooledBuf`: the mutable buffer handed out by a pool.

use std::mem::MaybeUninit;
use std::ops::RangeBounds;
use std::ptr::NonNull;

use crate::buf::bounds;
use crate::buf::view::SharedBuf;
use crate::engine::block::{block_layout, BlockRef};
use crate::engine::state::{OverLimit, PoolState, Target};
use crate::error::allocation_panic;
use crate::error::PoolError;
use crate::fmt::RangeDisplay;
use crate::sync::Arc;

mod traits;

/// A growable byte buffer whose block returns to its pool when dropped.
///
/// It behaves like a `Vec<u8>` that starts empty: `len()` bytes are written
/// and readable through `Deref<Target = [u8]>`; the rest of the capacity is
/// only reachable as uninitialised memory
/// ([`spare_capacity_mut`](Self::spare_capacity_mut),
/// [`BufMut::chunk_mut`](bytes::BufMut::chunk_mut)), so nothing an earlier
/// holder of the block wrote can be read.
///
/// Writing past the capacity moves the contents to the smallest tier that
/// fits (beyond the largest tier, to a plain allocation, at least doubling),
/// and the old block goes back to the pool.
///
/// A `PooledBuf` is `Send + Sync + 'static`: it holds no borrow of the pool,
/// and may be dropped on any thread, after the pool's last handle is gone,
/// or during unwinding.
///
/// # Reading into a buffer: use `read_from`, not `&mut buf[..]`
///
/// **A new buffer is empty, and its slice is its written bytes, not its
/// capacity.** `Deref` and `DerefMut` give `len()` bytes, so for a fresh
/// buffer an empty slice: `sock.read(&mut pool.get(4096))` compiles and
/// returns `Ok(0)` at once, which looks like end of stream, and
/// `read_exact` into it "succeeds" having read nothing. Read into the
/// spare capacity instead: [`read_from`](Self::read_from) for
/// `std::io::Read`, or an async `read_buf` (tokio's `AsyncReadExt`), which
/// takes the buffer as [`BufMut`](bytes::BufMut). (Or [`resize`](Self::resize)
/// it first, to read into `n` zeroed bytes.)
///
/// ```
/// use std::io::Read;
///
/// let pool = tierpool::Pool::new();
/// let mut sock: &[u8] = b"hello";
/// let mut buf = pool.get(4096);
/// assert_eq!(sock.read(&mut buf)?, 0); // the trap: an empty slice, not EOF
/// assert_eq!(buf.read_from(&mut sock)?, 5); // reads into the capacity
/// assert_eq!(&buf[..], b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Examples
///
/// ```
/// use bytes::BufMut;
///
/// let pool = tierpool::Pool::new();
/// let mut buf = pool.get(16);
/// buf.put_u32(0xdead_beef);
/// buf.extend_from_slice(b"payload");
/// assert_eq!(buf.len(), 11);
/// assert_eq!(&buf[4..], b"payload");
/// ```
#[must_use = "dropping a PooledBuf returns it to the pool at once"]
pub struct PooledBuf {
    /// The block. Its header keeps where this buffer's region starts and
    /// ends ([`BlockRef::region_start`], [`BlockRef::region_end`]; see the
    /// [`implementation`](crate::implementation#blocks) note for why);
    /// bytes before the start may belong to views split off earlier, and
    /// the region runs to the end of the block unless
    /// views were split off after it.
    block: BlockRef,
    /// Initialised bytes from the region's start.
    len: usize,
}

impl PooledBuf {
    /// A buffer over the whole of a block nobody else holds.
    #[inline(always)]
    pub(crate) fn from_block(block: BlockRef) -> Self {
        // Bytes an earlier holder wrote are not this hand-out's: the region
        // counts as uninitialised, unless the pool zeroed the block.
        // SAFETY: the block was just handed out, so this buffer is its only
        // holder, let alone its only `PooledBuf`.
        unsafe { block.reset_region() };
        PooledBuf { block, len: 0 }
    }

    /// Offset of this buffer's region from the start of the block.
    #[inline(always)]
    fn start(&self) -> usize {
        // SAFETY: a block has at most one `PooledBuf` (`from_block`,
        // `grow` and `from_parts` only build one over a block nobody else
        // holds mutably), and this is it.
        unsafe { self.block.region_start() }
    }

    /// Offset of the end of this buffer's region from the start of the
    /// block.
    #[inline(always)]
    fn end(&self) -> usize {
        // SAFETY: as for `start`.
        unsafe { self.block.region_end() }
    }

    /// Start of this buffer's region, with the provenance of the whole
    /// block (unlike a pointer taken from `as_slice`, which covers `len`
    /// bytes only).
    #[inline(always)]
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        // SAFETY: `start() <= capacity`, so the pointer stays within the
        // block's allocation (or one past its end).
        unsafe { self.block.data().add(self.start()) }
    }

    /// Bytes from the region's start to its end.
    #[inline(always)]
    fn cap(&self) -> usize {
        self.end() - self.start()
    }

    /// The block, and the start and length of this buffer's region: what
    /// `fixed` reports.
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn fixed_parts(&self) -> (&BlockRef, NonNull<u8>, usize) {
        (&self.block, self.ptr(), self.cap())
    }

    /// Number of bytes written.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// assert_eq!(buf.len(), 3);
    /// ```
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are written.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tierpool::Pool::new().get(8).is_empty());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the buffer can hold without moving.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tierpool::Pool::new().get(8).capacity(), 4096);
    /// ```
    #[inline]
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.cap()
    }

    /// The capacity of the tier the block belongs to, or `None` for a
    /// plain (oversize) allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// assert_eq!(pool.get(10).tier(), Some(4096));
    /// assert_eq!(pool.get(2 << 20).tier(), None);
    /// ```
    #[must_use]
    pub fn tier(&self) -> Option<usize> {
        self.block.tier_capacity()
    }

    /// Empties the buffer, keeping its capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// buf.clear();
    /// assert!(buf.is_empty());
    /// ```
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the buffer to `len` bytes; does nothing if it is shorter.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abcdef");
    /// buf.truncate(2);
    /// assert_eq!(&buf[..], b"ab");
    /// ```
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }

    /// Sets the length without writing anything.
    ///
    /// # Safety
    ///
    /// `len` must be at most [`capacity`](Self::capacity), and the first
    /// `len` bytes must have been initialised (for example through
    /// [`spare_capacity_mut`](Self::spare_capacity_mut)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(4);
    /// for byte in &mut buf.spare_capacity_mut()[..4] {
    ///     byte.write(7);
    /// }
    /// // SAFETY: the first 4 bytes were just written.
    /// unsafe { buf.set_len(4) };
    /// assert_eq!(&buf[..], &[7, 7, 7, 7]);
    /// ```
    #[inline]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(
            len <= self.cap(),
            "set_len({len}) beyond capacity {}",
            self.cap()
        );
        self.len = len;
    }

    /// The unwritten part of the capacity, as uninitialised bytes.
    ///
    /// Fill a prefix of it, then call [`set_len`](Self::set_len).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(100);
    /// assert_eq!(buf.spare_capacity_mut().len(), 4096);
    /// ```
    #[inline]
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        // The caller may write `MaybeUninit::uninit()` into it: forget that
        // `read_from` initialised it.
        // SAFETY: this is the block's one `PooledBuf`; `false` claims
        // nothing.
        unsafe {
            if self.block.region_initialised() {
                self.block.set_region_initialised(false);
            }
        }
        self.spare()
    }

    /// The spare capacity, without forgetting that it may be initialised:
    /// for callers that only write initialised bytes into it (through
    /// `UninitSlice`, whose contract forbids writing uninitialised ones).
    #[inline(always)]
    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `[ptr + len, ptr + cap)` lies in the block and belongs to
        // this buffer alone; `MaybeUninit` makes no claim about its contents.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr().as_ptr().add(self.len).cast::<MaybeUninit<u8>>(),
                self.cap() - self.len,
            )
        }
    }

    /// Makes room for at least `additional` more bytes.
    ///
    /// When the spare capacity is too small, the buffer first tries to stay
    /// in its block, as `BytesMut::reserve` does: if no view shares the
    /// block any more (the frames split off its front, or the tail split
    /// off its end, were dropped) and `len() + additional` bytes fit in the
    /// whole block, it takes the block back, moving the written bytes to
    /// its front if needed (see [`try_reclaim`](Self::try_reclaim)). So a
    /// codec that splits frames off one buffer and drops them keeps
    /// reusing the same block. Otherwise the bytes move to a block of the
    /// smallest tier that fits `len() + additional` (beyond the largest
    /// tier, to a plain allocation, at least doubling), and the old block
    /// goes back to the pool or stays with its views.
    ///
    /// # Panics
    ///
    /// If the new capacity overflows or cannot be allocated; see
    /// [`try_reserve`](Self::try_reserve).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let mut buf = pool.get(10);
    /// buf.extend_from_slice(b"kept");
    /// buf.reserve(5000);
    /// assert_eq!(buf.capacity(), 64 << 10);
    /// assert_eq!(&buf[..], b"kept");
    ///
    /// // 100 KB of frames split off one buffer and dropped: one block.
    /// for _ in 0..1000 {
    ///     buf.extend_from_slice(&[7; 100]);
    ///     drop(buf.split_to(100));
    /// }
    /// assert_eq!(buf.len(), 4);
    /// assert_eq!(pool.stats().tiers[1].misses, 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn reserve(&mut self, additional: usize) {
        if self.cap() - self.len < additional {
            if let Err(err) = self.grow(additional, OverLimit::Serve) {
                allocation_panic(err);
            }
        }
    }

    /// Like [`reserve`](Self::reserve), but reports failure.
    ///
    /// # Errors
    ///
    /// [`PoolError::CapacityOverflow`] if `len + additional` overflows or
    /// exceeds `isize::MAX`; [`PoolError::OutOfMemory`] if the allocator
    /// refuses; [`PoolError::Exhausted`] if the pool's
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes) would be
    /// exceeded. The buffer is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(10);
    /// assert!(buf.try_reserve(usize::MAX).is_err());
    /// assert!(buf.try_reserve(100).is_ok());
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), PoolError> {
        if self.cap() - self.len < additional {
            self.grow(additional, OverLimit::Refuse)
        } else {
            Ok(())
        }
    }

    /// Tries to make room for `additional` more bytes without taking a new
    /// block, and returns whether there is room now.
    ///
    /// Like `BytesMut::try_reclaim`: `true` at once if the spare capacity
    /// suffices; otherwise, if no view (and no `Bytes` made from one)
    /// shares the block and `len() + additional` bytes fit in the whole
    /// block, the buffer takes the block back, restoring the capacity a
    /// [`split_off`](Self::split_off) gave up and moving the written bytes
    /// to the front of the block if they do not fit where they are (a copy
    /// of `len()` bytes, never an allocation). [`reserve`](Self::reserve)
    /// does this before it moves to another block.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::builder().tiers([16]).build()?.get(16);
    /// buf.extend_from_slice(b"0123456789abcdef");
    /// let frame = buf.split_to(12);
    /// assert_eq!(buf.capacity(), 4);
    /// assert!(!buf.try_reclaim(8)); // `frame` still reads the front
    /// drop(frame);
    /// assert!(buf.try_reclaim(8)); // "cdef" moves to the front
    /// assert_eq!(buf.capacity(), 16);
    /// assert_eq!(&buf[..], b"cdef");
    /// assert!(!buf.try_reclaim(13)); // more than the block holds
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use = "try_reclaim only makes room; check whether it did"]
    pub fn try_reclaim(&mut self, additional: usize) -> bool {
        self.cap() - self.len >= additional || self.reclaim(additional)
    }

    /// The slow half of [`try_reclaim`](Self::try_reclaim): the spare
    /// capacity is short of `additional`. Changes nothing when it fails.
    #[cold]
    #[inline(never)]
    fn reclaim(&mut self, additional: usize) -> bool {
        let capacity = self.block.capacity();
        if self
            .len
            .checked_add(additional)
            .is_none_or(|n| n > capacity)
        {
            return false;
        }
        if !self.block.is_unique() {
            return false;
        }
        let start = self.start();
        // SAFETY: this is the block's one `PooledBuf`, and no view shares
        // the block (`is_unique`, whose `Acquire` orders the reads of views
        // that let go before our writes), so every byte of it is ours.
        // `ptr::copy` allows the overlap; `[start, start + len)` is
        // initialised, and `len <= capacity`.
        unsafe {
            if self.end() != capacity {
                // Past the old end the bytes may be uninitialised.
                self.block.set_region_end(capacity);
                self.block.set_region_initialised(false);
            }
            if capacity - start - self.len < additional {
                let data = self.block.data().as_ptr();
                std::ptr::copy(data.add(start), data, self.len);
                self.block.set_region_start(0);
            }
        }
        true
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, additional: usize, over_limit: OverLimit) -> Result<(), PoolError> {
        if self.reclaim(additional) {
            return Ok(());
        }
        let needed = self
            .len
            .checked_add(additional)
            .ok_or(PoolError::CapacityOverflow {
                requested: usize::MAX,
            })?;
        let pool = self.block.pool();
        let target = match pool.route(needed) {
            Some(tier) => Target::Tier(tier),
            None => {
                // Beyond the tiers: grow geometrically, as `Vec` does.
                let doubled = self.cap().saturating_mul(2);
                let fits = |n| block_layout(n, pool.alignment).is_some();
                if doubled > needed && fits(doubled) {
                    Target::Oversize(doubled)
                } else if fits(needed) {
                    Target::Oversize(needed)
                } else {
                    return Err(PoolError::CapacityOverflow { requested: needed });
                }
            }
        };
        // SAFETY: this is the block's only `PooledBuf`.
        let quota = unsafe { self.block.quota() };
        let block = PoolState::handout_charged(pool, target, needed, over_limit, quota)?;
        let mut new = PooledBuf::from_block(block);
        // SAFETY: the new buffer has room for `needed >= len` bytes in a
        // different allocation from ours; `[ptr, ptr + len)` is initialised.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr().as_ptr(), new.ptr().as_ptr(), self.len);
        }
        new.len = self.len;
        // The old block goes back to the pool (or stays with its views).
        *self = new;
        Ok(())
    }

    /// Appends `bytes`, growing if needed.
    ///
    /// # Panics
    ///
    /// If growing fails (see [`reserve`](Self::reserve)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(2);
    /// buf.extend_from_slice(b"hello");
    /// assert_eq!(&buf[..], b"hello");
    /// ```
    #[inline]
    #[track_caller]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        // SAFETY: `reserve` made room for `bytes.len()` bytes after `len`;
        // `bytes` cannot alias our spare capacity, which no one else can see.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr().as_ptr().add(self.len),
                bytes.len(),
            );
        }
        self.len += bytes.len();
    }

    /// Resizes to `new_len` bytes, filling new bytes with `value`.
    ///
    /// # Panics
    ///
    /// If growing fails (see [`reserve`](Self::reserve)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.resize(4, 0);
    /// assert_eq!(&buf[..], &[0, 0, 0, 0]);
    /// buf.resize(1, 9);
    /// assert_eq!(&buf[..], &[0]);
    /// ```
    #[track_caller]
    pub fn resize(&mut self, new_len: usize, value: u8) {
        if new_len <= self.len {
            self.len = new_len;
            return;
        }
        let extra = new_len - self.len;
        self.reserve(extra);
        // SAFETY: `reserve` made room for `extra` bytes after `len`.
        unsafe {
            std::ptr::write_bytes(self.ptr().as_ptr().add(self.len), value, extra);
        }
        self.len = new_len;
    }

    /// Reads once from `reader` into the spare capacity and returns how
    /// many bytes were appended (0 at end of stream). A full buffer first
    /// grows like a `Vec` would, to the next tier that fits.
    ///
    /// `std::io::Read` needs initialised memory, so the first call on a
    /// block zeroes its spare capacity, and the block remembers it (as
    /// std's `BorrowedBuf` does): later calls zero nothing, so filling a
    /// buffer costs time in proportion to the bytes read, however small
    /// the reads. The reader may therefore be handed bytes an earlier
    /// read of this same buffer left behind (after a `truncate`, say),
    /// never bytes an earlier holder of the block wrote.
    /// [`spare_capacity_mut`](Self::spare_capacity_mut) makes the next call
    /// zero again, since uninitialised bytes may be written through it.
    /// Async readers that accept uninitialised memory can use the
    /// [`BufMut`](bytes::BufMut) implementation instead (e.g. tokio's
    /// `read_buf`).
    ///
    /// # Errors
    ///
    /// Whatever `reader.read` returns (`Interrupted` is retried).
    ///
    /// # Panics
    ///
    /// If growing a full buffer fails (see [`reserve`](Self::reserve)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(16);
    /// let mut input: &[u8] = b"streamed bytes";
    /// while buf.read_from(&mut input)? > 0 {}
    /// assert_eq!(&buf[..], b"streamed bytes");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_from(&mut self, reader: &mut impl std::io::Read) -> std::io::Result<usize> {
        if self.len == self.cap() {
            self.reserve(self.cap().max(64));
        }
        let start = self.len;
        let spare = self.cap() - start;
        // SAFETY: `[ptr + len, ptr + cap)` is our spare capacity, the rest
        // of the region. Unless the header says the region is initialised
        // already, zeroing it makes it so (and the bytes before it always
        // are), so it can be handed to `read` as `&mut [u8]`; a reader
        // cannot de-initialise bytes through `&mut [u8]`, so it stays so.
        let target = unsafe {
            let spare_ptr = self.ptr().as_ptr().add(start);
            if !self.block.region_initialised() {
                std::ptr::write_bytes(spare_ptr, 0, spare);
                self.block.set_region_initialised(true);
            }
            std::slice::from_raw_parts_mut(spare_ptr, spare)
        };
        let n = loop {
            match reader.read(target) {
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                result => break result?,
            }
        };
        assert!(n <= spare, "a reader claimed {n} bytes read into {spare}");
        self.len = start + n;
        Ok(n)
    }

    /// The written bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"ab");
    /// assert_eq!(buf.as_slice(), b"ab");
    /// ```
    #[inline]
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `[ptr, ptr + len)` is initialised and ours.
        unsafe { std::slice::from_raw_parts(self.ptr().as_ptr(), self.len) }
    }

    /// The written bytes, mutably: `len()` of them, not the capacity (see
    /// [Reading into a buffer](Self#reading-into-a-buffer-use-read_from-not-mut-buf)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"ab");
    /// buf.as_mut_slice()[0] = b'x';
    /// assert_eq!(&buf[..], b"xb");
    /// ```
    #[inline]
    #[must_use]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `[ptr, ptr + len)` is initialised and ours alone.
        unsafe { std::slice::from_raw_parts_mut(self.ptr().as_ptr(), self.len) }
    }

    /// Rebuilds a buffer over the bytes of `block` from `start` to its
    /// end, the first `len` of them written.
    ///
    /// # Safety
    ///
    /// `block` must be the block's only reference, and its bytes from
    /// `start` to `start + len` must be initialised (`start + len` at most
    /// the capacity).
    pub(crate) unsafe fn from_parts(block: BlockRef, start: usize, len: usize) -> Self {
        debug_assert!(start
            .checked_add(len)
            .is_some_and(|end| end <= block.capacity()));
        // SAFETY: the caller guarantees `block` is the only reference, so
        // no view reads any byte of it. The block is still in the hand-out
        // that initialised its region, if it was: the flag stays true only
        // while the region keeps its end.
        unsafe {
            block.set_region_start(start);
            if block.region_end() != block.capacity() {
                block.set_region_end(block.capacity());
                block.set_region_initialised(false);
            }
        }
        PooledBuf { block, len }
    }

    /// Turns the written bytes into an immutable, shareable view, without
    /// copying or allocating. The unwritten capacity is given up; the whole
    /// block returns to the pool when the last view drops.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(100);
    /// buf.extend_from_slice(b"frozen");
    /// let ptr = buf.as_ptr();
    /// let view = buf.freeze();
    /// assert_eq!(view.as_ptr(), ptr);
    /// let copy = view.clone(); // a refcount increment
    /// assert_eq!(copy, b"frozen"[..]);
    /// ```
    pub fn freeze(self) -> SharedBuf {
        let ptr = self.ptr();
        let PooledBuf { block, len } = self;
        SharedBuf::new(block, ptr, len)
    }

    /// Freezes the first `at` written bytes into a view and keeps writing
    /// after them in the same block: the pattern of
    /// `BytesMut::split_to(n).freeze()` in codecs.
    ///
    /// Unlike `BytesMut::split_to`, the part split off is a frozen
    /// [`SharedBuf`]: a block has one mutable buffer (see the
    /// [`implementation`](crate::implementation#blocks) note).
    /// [`try_into_mut`](SharedBuf::try_into_mut) or
    /// [`PooledBuf::from`] turn it back into a buffer.
    ///
    /// The buffer keeps the remaining bytes and capacity. The block goes
    /// back to the pool once the buffer and every view are gone (an empty
    /// view, from `split_to(0)`, holds no block). If later
    /// writes need more room than is left, the buffer moves to a fresh block
    /// (copying only its own bytes) and the views keep the old one alive.
    ///
    /// # Panics
    ///
    /// If `at > len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(64);
    /// buf.extend_from_slice(b"frame1frame2-partial");
    /// let one = buf.split_to(6);
    /// let two = buf.split_to(6);
    /// assert_eq!((one.as_slice(), two.as_slice()), (&b"frame1"[..], &b"frame2"[..]));
    /// assert_eq!(&buf[..], b"-partial");
    /// buf.extend_from_slice(b" continues");
    /// assert_eq!(&buf[..], b"-partial continues");
    /// ```
    #[track_caller]
    pub fn split_to(&mut self, at: usize) -> SharedBuf {
        assert!(
            at <= self.len,
            "split_to({at}) out of bounds for a PooledBuf of length {}",
            self.len
        );
        if at == 0 {
            return SharedBuf::empty_at(self.ptr());
        }
        let start = self.start();
        let view = SharedBuf::new(self.block.share(), self.ptr(), at);
        // SAFETY: this is the block's only `PooledBuf`; `start + at <= start
        // + len <= capacity`.
        unsafe { self.block.set_region_start(start + at) };
        self.len -= at;
        view
    }

    /// Freezes every written byte into a view and keeps the spare
    /// capacity, empty: [`split_to(len())`](Self::split_to), the pattern of
    /// `BytesMut::split` (which returns a `BytesMut`; this returns a
    /// frozen view, as `split_to` does).
    ///
    /// Being an inherent method, it hides `<[u8]>::split` (split by a
    /// predicate), as on `BytesMut`; call that one as `buf[..].split(..)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(64);
    /// buf.extend_from_slice(b"frame");
    /// let frame = buf.split();
    /// assert_eq!(frame, b"frame"[..]);
    /// assert!(buf.is_empty());
    /// assert_eq!(buf.capacity(), 4096 - 5); // writes go on in the same block
    /// ```
    pub fn split(&mut self) -> SharedBuf {
        self.split_to(self.len)
    }

    /// Freezes the written bytes from `at` on into a view; the buffer keeps
    /// the first `at`.
    ///
    /// As with `BytesMut::split_off`, the buffer's capacity becomes `at`:
    /// the view reads the block right after it. Writing more first takes
    /// the block back if the view (and every copy of it) is gone, else
    /// moves the buffer to a new block (see [`reserve`](Self::reserve));
    /// [`unsplit`](Self::unsplit) joins the two again without copying.
    ///
    /// Two differences from `BytesMut::split_off`, which returns a
    /// `BytesMut` holding the spare capacity too: the tail is a frozen
    /// [`SharedBuf`] of written bytes, so `at` may not exceed `len()`; and
    /// when nothing is split off (`at == len()`) the returned view is
    /// empty, holds no block, and the buffer keeps its capacity.
    ///
    /// # Panics
    ///
    /// If `at > len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(64);
    /// buf.extend_from_slice(b"header:body");
    /// let body = buf.split_off(7);
    /// assert_eq!((&buf[..], &body[..]), (&b"header:"[..], &b"body"[..]));
    /// assert_eq!(buf.capacity(), 7);
    /// drop(body);
    /// buf.extend_from_slice(b"more"); // the block is ours again: no move
    /// assert_eq!(&buf[..], b"header:more");
    /// assert_eq!(buf.capacity(), 4096);
    /// ```
    #[track_caller]
    pub fn split_off(&mut self, at: usize) -> SharedBuf {
        assert!(
            at <= self.len,
            "split_off({at}) out of bounds for a PooledBuf of length {}",
            self.len
        );
        // SAFETY: `at <= len`: within the written bytes or one past them.
        let tail_ptr = unsafe { self.ptr().add(at) };
        if at == self.len {
            return SharedBuf::empty_at(tail_ptr);
        }
        let start = self.start();
        let tail = SharedBuf::new(self.block.share(), tail_ptr, self.len - at);
        // SAFETY: this is the block's only `PooledBuf`; the region now ends
        // where the view begins, so the buffer never writes what it reads.
        unsafe { self.block.set_region_end(start + at) };
        self.len = at;
        tail
    }

    /// Appends the bytes of `other`, without copying when `other` was split
    /// off the end of this buffer ([`split_off`](Self::split_off)) and
    /// nothing else shares the block: then the buffer takes the block
    /// back, its capacity included. Otherwise copies, like
    /// [`extend_from_slice`](Self::extend_from_slice) (an empty buffer
    /// takes the block of a view nobody shares, as
    /// [`try_into_mut`](SharedBuf::try_into_mut) would). This is
    /// `BytesMut::unsplit`, with a frozen view for the other half.
    ///
    /// # Panics
    ///
    /// If growing fails (see [`reserve`](Self::reserve)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(64);
    /// buf.extend_from_slice(b"aaabbbccc");
    /// let ptr = buf.as_ptr();
    /// let tail = buf.split_off(3);
    /// buf.unsplit(tail);
    /// assert_eq!(&buf[..], b"aaabbbccc");
    /// assert_eq!(buf.as_ptr(), ptr); // no copy
    /// assert_eq!(buf.capacity(), 4096);
    /// ```
    #[track_caller]
    pub fn unsplit(&mut self, other: SharedBuf) {
        if other.is_empty() {
            return;
        }
        // SAFETY: one past the written bytes, within the region.
        let end = unsafe { self.ptr().add(self.len) };
        if other.follows_alone(&self.block, end) {
            let n = other.len();
            // The block's only other reference goes: the block is ours.
            drop(other);
            // SAFETY: this is the block's only `PooledBuf` and now its only
            // reference; the `n` bytes after ours were `other`'s, which
            // were initialised, and lie in the block. Past the old end of
            // the region the bytes may be uninitialised.
            unsafe {
                if self.end() != self.block.capacity() {
                    self.block.set_region_end(self.block.capacity());
                    self.block.set_region_initialised(false);
                }
            }
            self.len += n;
            return;
        }
        if self.is_empty() {
            match other.try_into_mut() {
                Ok(buf) => *self = buf,
                Err(other) => self.extend_from_slice(&other),
            }
            return;
        }
        self.extend_from_slice(&other);
    }

    /// Appends a copy of the written bytes in `src`, growing if needed, as
    /// `Vec::extend_from_within` and `BytesMut::extend_from_within` do.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds or decreasing, or if growing fails
    /// (see [`reserve`](Self::reserve)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(16);
    /// buf.extend_from_slice(b"abc-");
    /// buf.extend_from_within(..3);
    /// assert_eq!(&buf[..], b"abc-abc");
    /// ```
    #[track_caller]
    pub fn extend_from_within(&mut self, src: impl RangeBounds<usize>) {
        let (start, end) = bounds(&src, self.len);
        if start > end || end > self.len {
            panic!(
                "range {} out of bounds for a PooledBuf of length {}",
                RangeDisplay(&src),
                self.len
            );
        }
        let n = end - start;
        self.reserve(n);
        // SAFETY: `reserve` made room for `n` bytes after `len` (the block
        // may have moved: the pointer is taken afterwards); the source lies
        // in the written bytes, before `len`, so the two do not overlap.
        unsafe {
            let ptr = self.ptr().as_ptr();
            std::ptr::copy_nonoverlapping(ptr.add(start), ptr.add(self.len), n);
        }
        self.len += n;
    }

    /// An empty buffer from `pool` with room for `capacity` bytes, as
    /// `Pool::get` gives (serving over `max_in_use_bytes`, as growth does).
    #[track_caller]
    fn new_in(pool: &Arc<PoolState>, capacity: usize) -> PooledBuf {
        let target = match pool.route(capacity) {
            Some(tier) => Target::Tier(tier),
            None => Target::Oversize(capacity.max(1)),
        };
        match PoolState::handout(pool, target, capacity, OverLimit::Serve) {
            Ok(block) => PooledBuf::from_block(block),
            Err(err) => allocation_panic(err),
        }
    }

    /// A copy of `bytes` in a new buffer from `pool`.
    #[track_caller]
    fn copy_in(pool: &Arc<PoolState>, bytes: &[u8]) -> PooledBuf {
        let mut buf = PooledBuf::new_in(pool, bytes.len());
        buf.extend_from_slice(bytes);
        buf
    }
}
