//! `SharedBuf`: frozen, refcounted, sliceable views of pooled blocks.

use std::cmp::Ordering as CmpOrdering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Bound, Deref, RangeBounds};
use std::ptr::NonNull;

use crate::buf::bounds;
use crate::buf::pooled::PooledBuf;
use crate::engine::block::BlockRef;
use crate::engine::state::PoolState;
use crate::fmt::{Preview, RangeDisplay};
use crate::sync::Arc;

/// An immutable, cheaply cloneable view of bytes in pooled blocks.
///
/// Made by [`PooledBuf::freeze`] or [`PooledBuf::split_to`]. Cloning and
/// slicing increment a reference count kept with the block: they never
/// allocate and never copy. When the last view (and the `PooledBuf`, if it
/// still holds part of the block) is dropped, on any thread, the block
/// returns to its pool.
///
/// `SharedBuf` converts into [`bytes::Bytes`] without copying (see
/// [`into_bytes`](Self::into_bytes)), and implements [`bytes::Buf`].
///
/// A view left empty by an operation holds no block, as in `bytes` 1.12:
/// [`truncate(0)`](Self::truncate), advancing to the end, and splitting
/// off everything ([`split_to(len)`](Self::split_to),
/// [`split_off(0)`](Self::split_off)) let go of the view's share of the
/// block at once, so the other holders can become unique and the block can
/// return to the pool; and every empty view an operation returns (an empty
/// [`slice`](Self::slice), the empty part of a split) holds none either.
/// Such a view is never [`is_unique`](Self::is_unique), has no
/// [`tier`](Self::tier), and [`try_into_mut`](Self::try_into_mut) gives it
/// back. (Freezing an empty buffer keeps its block, as
/// `BytesMut::freeze` does.)
///
/// # Examples
///
/// ```
/// let pool = tierpool::Pool::new();
/// let mut buf = pool.get(64);
/// buf.extend_from_slice(b"header:body");
/// let frame = buf.freeze();
///
/// let header = frame.slice(..6);
/// let body = frame.slice(7..);
/// assert_eq!(header, b"header"[..]);
/// assert_eq!(body, b"body"[..]);
/// assert_eq!(body.as_ptr(), frame[7..].as_ptr()); // no copy
///
/// drop((frame, header));
/// assert_eq!(pool.stats().tiers[0].in_use, 1); // `body` keeps the block
/// drop(body);
/// assert_eq!(pool.stats().tiers[0].in_use, 0);
/// ```
#[must_use = "dropping the last view returns the block at once"]
pub struct SharedBuf {
    /// The block; `None` only for an empty view (see the type docs).
    block: Option<BlockRef>,
    /// The first byte. An empty view keeps the address it was taken at
    /// (as `Bytes` does) but no provenance: its block may be reused.
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a view only reads `[ptr, ptr + len)`, which no holder can write
// any more: the `PooledBuf` it came from gave up those bytes when it froze
// or split them off. `BlockRef` is `Send`.
unsafe impl Send for SharedBuf {}
// SAFETY: as above, shared access only reads immutable bytes.
unsafe impl Sync for SharedBuf {}

impl SharedBuf {
    /// A view of the `len` bytes at `ptr` in `block`.
    pub(crate) fn new(block: BlockRef, ptr: NonNull<u8>, len: usize) -> Self {
        SharedBuf {
            block: Some(block),
            ptr,
            len,
        }
    }

    /// An empty view at `ptr`'s address, holding no block.
    pub(crate) fn empty_at(ptr: NonNull<u8>) -> Self {
        SharedBuf {
            block: None,
            // The address without the provenance: the block `ptr` points
            // into may be freed or reused while this view lives, and an
            // empty slice needs no provenance.
            ptr: NonNull::dangling().with_addr(ptr.addr()),
            len: 0,
        }
    }

    /// A view of `len` bytes from `offset` in this one, sharing the block
    /// (`offset + len <= self.len`).
    fn sub(&self, offset: usize, len: usize) -> SharedBuf {
        debug_assert!(offset + len <= self.len);
        // SAFETY: `offset <= self.len`, so the pointer stays within the view
        // or one past its end (an empty view only ever adds 0).
        let ptr = unsafe { self.ptr.add(offset) };
        match &self.block {
            Some(block) if len > 0 => SharedBuf {
                block: Some(block.share()),
                ptr,
                len,
            },
            _ => SharedBuf::empty_at(ptr),
        }
    }

    /// The block (`None` for an empty view), first byte and length: what
    /// `fixed` reports.
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn fixed_parts(&self) -> (Option<&BlockRef>, NonNull<u8>, usize) {
        (self.block.as_ref(), self.ptr, self.len)
    }

    /// Takes the whole view out of `self`, leaving an empty view at its
    /// start that holds no block: moves the block instead of sharing it.
    fn take_all(&mut self) -> SharedBuf {
        std::mem::replace(self, SharedBuf::empty_at(self.ptr))
    }

    /// Number of bytes in the view.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// assert_eq!(buf.freeze().len(), 3);
    /// ```
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tierpool::Pool::new().get(8).freeze().is_empty());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The viewed bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// assert_eq!(buf.freeze().as_slice(), b"abc");
    /// ```
    #[inline]
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `[ptr, ptr + len)` lies in the live block, was
        // initialised before the view was made, and is never written again
        // while a view exists.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The capacity of the block's tier, or `None` for a plain allocation
    /// or an empty view (which holds no block).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// assert_eq!(buf.freeze().tier(), Some(4096));
    /// ```
    #[must_use]
    pub fn tier(&self) -> Option<usize> {
        self.block.as_ref().and_then(BlockRef::tier_capacity)
    }

    /// A view of `range` within this view, sharing the block (an empty
    /// range gives an empty view, which holds no block).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds or decreasing; the message names the
    /// range and the length. [`try_slice`](Self::try_slice) returns `None`
    /// instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abcdef");
    /// let view = buf.freeze();
    /// assert_eq!(view.slice(1..3), b"bc"[..]);
    /// assert_eq!(view.slice(4..), b"ef"[..]);
    /// ```
    #[track_caller]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> SharedBuf {
        let (start, end) = bounds(&range, self.len);
        match self.try_slice((Bound::Included(start), Bound::Excluded(end))) {
            Some(view) => view,
            None => panic!(
                "range {} out of bounds for a SharedBuf of length {}",
                RangeDisplay(&range),
                self.len
            ),
        }
    }

    /// A view of `range` within this view, or `None` if the range is out of
    /// bounds or decreasing.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// let view = buf.freeze();
    /// assert_eq!(view.try_slice(1..).unwrap(), b"bc"[..]);
    /// assert!(view.try_slice(2..9).is_none());
    /// ```
    #[must_use]
    pub fn try_slice(&self, range: impl RangeBounds<usize>) -> Option<SharedBuf> {
        let (start, end) = bounds(&range, self.len);
        if start > end || end > self.len {
            return None;
        }
        Some(self.sub(start, end - start))
    }

    /// A view of `subset`, a slice of this view's bytes, sharing the block:
    /// turns a `&[u8]` borrowed from the view (by a parser, say) into an
    /// owned view without copying, as `Bytes::slice_ref` does. An empty
    /// `subset` gives an empty view, wherever it points.
    ///
    /// # Panics
    ///
    /// If `subset` is not empty and does not lie within this view's bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(16);
    /// buf.extend_from_slice(b"key=value");
    /// let line = buf.freeze();
    /// let value: &[u8] = line.split(|&b| b == b'=').nth(1).unwrap();
    /// let owned = line.slice_ref(value);
    /// assert_eq!(owned, b"value"[..]);
    /// assert_eq!(owned.as_ptr(), value.as_ptr()); // no copy
    /// ```
    #[track_caller]
    pub fn slice_ref(&self, subset: &[u8]) -> SharedBuf {
        if subset.is_empty() {
            return SharedBuf::empty_at(NonNull::from(subset).cast());
        }
        let (mine, theirs) = (self.ptr.addr().get(), subset.as_ptr().addr());
        let offset = theirs.wrapping_sub(mine);
        assert!(
            theirs >= mine && offset + subset.len() <= self.len,
            "slice_ref: subset {:p} of length {} is not within the SharedBuf {:p} of length {}",
            subset.as_ptr(),
            subset.len(),
            self.ptr,
            self.len
        );
        self.sub(offset, subset.len())
    }

    /// Splits off and returns the first `at` bytes; `self` keeps the rest.
    /// Whichever part is empty holds no block.
    ///
    /// # Panics
    ///
    /// If `at > len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abcdef");
    /// let mut rest = buf.freeze();
    /// let head = rest.split_to(2);
    /// assert_eq!((head.as_slice(), rest.as_slice()), (&b"ab"[..], &b"cdef"[..]));
    /// ```
    #[track_caller]
    pub fn split_to(&mut self, at: usize) -> SharedBuf {
        assert!(
            at <= self.len,
            "split_to({at}) out of bounds for a SharedBuf of length {}",
            self.len
        );
        if at == self.len {
            // The head takes the block; `self` is left empty at the end.
            // SAFETY: `at == len`: one past the end of the view.
            let end = unsafe { self.ptr.add(at) };
            return std::mem::replace(self, SharedBuf::empty_at(end));
        }
        let head = self.sub(0, at);
        self.advance_by(at);
        head
    }

    /// Splits off and returns the bytes from `at` on; `self` keeps the first
    /// `at`. Whichever part is empty holds no block.
    ///
    /// # Panics
    ///
    /// If `at > len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abcdef");
    /// let mut head = buf.freeze();
    /// let tail = head.split_off(4);
    /// assert_eq!((head.as_slice(), tail.as_slice()), (&b"abcd"[..], &b"ef"[..]));
    /// ```
    #[track_caller]
    pub fn split_off(&mut self, at: usize) -> SharedBuf {
        assert!(
            at <= self.len,
            "split_off({at}) out of bounds for a SharedBuf of length {}",
            self.len
        );
        if at == self.len {
            return self.sub(at, 0);
        }
        if at == 0 {
            return self.take_all();
        }
        let tail = self.sub(at, self.len - at);
        self.len = at;
        tail
    }

    /// Shortens the view to `len` bytes; does nothing if it is shorter.
    /// `truncate(0)` lets go of the view's share of the block (as
    /// `Bytes::truncate(0)` does since bytes 1.12.2).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abcdef");
    /// let mut view = buf.freeze();
    /// let other = view.clone();
    /// view.truncate(3);
    /// assert_eq!(view, b"abc"[..]);
    /// view.truncate(0);
    /// assert!(other.is_unique()); // `view` holds no block now
    /// ```
    pub fn truncate(&mut self, len: usize) {
        if len == 0 {
            drop(self.take_all());
        } else if len < self.len {
            self.len = len;
        }
    }

    /// Whether this is the only reference to the block (no other view, no
    /// `PooledBuf` still writing into it, no `Bytes` made from a view).
    /// An empty view holds no block and is never unique.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// let view = buf.freeze();
    /// assert!(view.is_unique());
    /// let other = view.clone();
    /// assert!(!view.is_unique());
    /// drop(other);
    /// assert!(view.is_unique());
    /// ```
    #[must_use]
    pub fn is_unique(&self) -> bool {
        self.block.as_ref().is_some_and(BlockRef::is_unique)
    }

    /// Turns the view back into a mutable buffer, without copying, if it is
    /// the only reference to its block; otherwise gives it back unchanged.
    ///
    /// The buffer holds the view's bytes, and its capacity runs from the
    /// start of the view to the end of the block.
    ///
    /// # Errors
    ///
    /// Returns `self` if other views (or the `PooledBuf` it was split from)
    /// still share the block, or if the view is empty (it holds no block).
    /// [`PooledBuf::from`] always succeeds, copying when needed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(8);
    /// buf.extend_from_slice(b"abc");
    /// let view = buf.freeze();
    /// let other = view.clone();
    /// let view = view.try_into_mut().unwrap_err(); // shared
    /// drop(other);
    /// let mut buf = view.try_into_mut().unwrap(); // unique now
    /// buf.extend_from_slice(b"def");
    /// assert_eq!(&buf[..], b"abcdef");
    /// ```
    pub fn try_into_mut(self) -> Result<PooledBuf, SharedBuf> {
        if !self.is_unique() {
            return Err(self);
        }
        let SharedBuf { block, ptr, len } = self;
        let block = block.expect("a unique view holds a block");
        // SAFETY: both pointers are in the same block allocation, and the
        // view starts at or after the start of the block.
        let offset = unsafe { ptr.offset_from(block.data()) } as usize;
        // SAFETY: this view is the only reference, so the block from
        // `offset` on belongs to it alone; the first `len` bytes from there
        // are initialised (they are the view's bytes).
        Ok(unsafe { PooledBuf::from_parts(block, offset, len) })
    }

    /// The pool of the view's block (`None` for an empty view holding
    /// none).
    pub(crate) fn pool(&self) -> Option<&Arc<PoolState>> {
        self.block.as_ref().map(BlockRef::pool)
    }

    /// Whether this view starts at `ptr` in `block` (held by a
    /// `PooledBuf`) and the two are the block's only references: then the
    /// buffer may take the view's bytes back.
    pub(crate) fn follows_alone(&self, block: &BlockRef, ptr: NonNull<u8>) -> bool {
        self.ptr == ptr
            && self
                .block
                .as_ref()
                .is_some_and(|mine| mine.is_pair_with(block))
    }

    /// Drops the first `cnt` bytes (`cnt <= len`); a view advanced to its
    /// end lets go of the block (as consumed chain segments do).
    pub(crate) fn advance_by(&mut self, cnt: usize) {
        debug_assert!(cnt <= self.len);
        // SAFETY: `cnt <= len`, so the pointer stays within the view (an
        // empty view only ever adds 0).
        let ptr = unsafe { self.ptr.add(cnt) };
        if cnt == self.len {
            *self = SharedBuf::empty_at(ptr);
        } else {
            self.ptr = ptr;
            self.len -= cnt;
        }
    }

    /// Whether two views share the same block (made from the same
    /// buffer, directly or through clones, slices and splits). Empty views
    /// hold no block and share none.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tierpool::Pool::new();
    /// let mut buf = pool.get(8);
    /// buf.extend_from_slice(b"abcd");
    /// let view = buf.freeze();
    /// assert!(view.same_block(&view.slice(1..)));
    /// assert!(!view.same_block(&pool.get(8).freeze()));
    /// ```
    #[must_use]
    pub fn same_block(&self, other: &SharedBuf) -> bool {
        match (&self.block, &other.block) {
            (Some(a), Some(b)) => a.same_block(b),
            _ => false,
        }
    }
}

impl Clone for SharedBuf {
    /// Another view of the same bytes: a refcount increment, no allocation.
    fn clone(&self) -> Self {
        SharedBuf {
            block: self.block.as_ref().map(BlockRef::share),
            ptr: self.ptr,
            len: self.len,
        }
    }
}

impl Deref for SharedBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SharedBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for SharedBuf {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl bytes::Buf for SharedBuf {
    #[inline]
    fn remaining(&self) -> usize {
        self.len
    }

    #[inline]
    fn chunk(&self) -> &[u8] {
        self.as_slice()
    }

    /// Skips `cnt` bytes; a view advanced to its end lets go of its block.
    #[inline]
    #[track_caller]
    fn advance(&mut self, cnt: usize) {
        assert!(
            cnt <= self.len,
            "advance({cnt}) past the end of a SharedBuf with {} bytes remaining",
            self.len
        );
        self.advance_by(cnt);
    }

    /// Returns the next `len` bytes as `Bytes` without copying them.
    #[track_caller]
    fn copy_to_bytes(&mut self, len: usize) -> bytes::Bytes {
        assert!(
            len <= self.len,
            "copy_to_bytes({len}) past the end of a SharedBuf with {} bytes remaining",
            self.len
        );
        self.split_to(len).into_bytes()
    }
}

impl From<PooledBuf> for SharedBuf {
    fn from(buf: PooledBuf) -> Self {
        buf.freeze()
    }
}

impl From<SharedBuf> for Vec<u8> {
    /// Copies the bytes (pooled memory cannot become a `Vec`'s); the view
    /// is dropped, and its block returns to the pool if it was the last.
    fn from(view: SharedBuf) -> Self {
        view.as_slice().to_vec()
    }
}

impl<'a> IntoIterator for &'a SharedBuf {
    type Item = &'a u8;
    type IntoIter = std::slice::Iter<'a, u8>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

#[cfg(not(loom))]
impl FromIterator<u8> for SharedBuf {
    /// Collects into a buffer of the [`global`](crate::global) pool and
    /// freezes it: an iterator brings no pool (see `FromIterator` for
    /// [`PooledBuf`]).
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        PooledBuf::from_iter(iter).freeze()
    }
}

impl PartialEq for SharedBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SharedBuf {}

impl PartialOrd for SharedBuf {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedBuf {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for SharedBuf {
    /// Hashes like `[u8]`, so views can be looked up by byte slices.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

macro_rules! impl_eq_with {
    ($($other:ty),*) => {$(
        impl PartialEq<$other> for SharedBuf {
            fn eq(&self, other: &$other) -> bool {
                self.as_slice() == AsRef::<[u8]>::as_ref(other)
            }
        }

        impl PartialEq<SharedBuf> for $other {
            fn eq(&self, other: &SharedBuf) -> bool {
                AsRef::<[u8]>::as_ref(self) == other.as_slice()
            }
        }

        impl PartialOrd<$other> for SharedBuf {
            fn partial_cmp(&self, other: &$other) -> Option<CmpOrdering> {
                self.as_slice().partial_cmp(AsRef::<[u8]>::as_ref(other))
            }
        }

        impl PartialOrd<SharedBuf> for $other {
            fn partial_cmp(&self, other: &SharedBuf) -> Option<CmpOrdering> {
                AsRef::<[u8]>::as_ref(self).partial_cmp(other.as_slice())
            }
        }
    )*};
}

impl_eq_with!([u8], &[u8], Vec<u8>, str, &str);

impl PartialEq<PooledBuf> for SharedBuf {
    fn eq(&self, other: &PooledBuf) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for SharedBuf {
    /// Shows the length, tier and at most the first 32 bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuf")
            .field("len", &self.len)
            .field("tier", &self.tier())
            .field("head", &Preview(self.as_slice()))
            .finish()
    }
}
