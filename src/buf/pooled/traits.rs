//! The std and `bytes` traits of [`PooledBuf`]: deref to the written
//! bytes, `BufMut`/`Buf`, `io::Write` and `fmt::Write`, `Extend`,
//! `FromIterator` (into the global pool), conversions and comparisons.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytes::buf::UninitSlice;

use super::PooledBuf;
use crate::buf::view::SharedBuf;
use crate::engine::state::OverLimit;
use crate::fmt::Preview;

/// The written bytes: `len()` of them, **not the capacity**. A new buffer
/// derefs to an empty slice, so reading into `&mut buf[..]` reads nothing
/// and returns `Ok(0)`, which looks like end of stream; use
/// [`read_from`](PooledBuf::read_from) or `read_buf` (see
/// [Reading into a buffer](PooledBuf#reading-into-a-buffer-use-read_from-not-mut-buf)).
impl Deref for PooledBuf {
    type Target = [u8];

    /// The written bytes (`len()` of them, not the capacity).
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// The written bytes, mutably: `len()` of them, **not the capacity**, so
/// `reader.read(&mut buf)` on a new buffer reads nothing and returns
/// `Ok(0)`, and `read_exact` "succeeds" having read nothing; use
/// [`read_from`](PooledBuf::read_from) or `read_buf` (see
/// [Reading into a buffer](PooledBuf#reading-into-a-buffer-use-read_from-not-mut-buf)).
impl DerefMut for PooledBuf {
    /// The written bytes, mutably (`len()` of them, not the capacity).
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for PooledBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for PooledBuf {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl std::borrow::Borrow<[u8]> for PooledBuf {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

// SAFETY: `chunk_mut` returns exactly the spare capacity, which belongs to
// this buffer; `advance_mut` only extends `len` over bytes the caller has
// initialised, and checks that they lie within the capacity.
unsafe impl bytes::BufMut for PooledBuf {
    #[inline]
    fn remaining_mut(&self) -> usize {
        // Like `Vec<u8>` and `BytesMut`: the buffer grows on demand.
        isize::MAX as usize - self.len
    }

    #[inline]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        let remaining = self.cap() - self.len;
        assert!(
            cnt <= remaining,
            "advance_mut({cnt}) exceeds the {remaining} bytes of spare capacity"
        );
        self.len += cnt;
    }

    #[inline]
    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.len == self.cap() {
            // Double, like `Vec`: the next tier that holds twice the length.
            self.reserve(self.cap().max(64));
        }
        UninitSlice::uninit(self.spare())
    }

    #[inline]
    fn put_slice(&mut self, src: &[u8]) {
        self.extend_from_slice(src);
    }
}

/// Reading a `PooledBuf` consumes its written bytes from the front, as
/// reading a `BytesMut` does: [`advance`](bytes::Buf::advance) moves the
/// start of the buffer forward (the bytes passed over are given up, like
/// a frame split off with [`split_to`](PooledBuf::split_to) and dropped),
/// and [`copy_to_bytes`](bytes::Buf::copy_to_bytes) is a zero-copy
/// `split_to(len).into_bytes()`. The capacity shrinks accordingly;
/// [`reserve`](PooledBuf::reserve) takes the space back when it needs it.
///
/// # Examples
///
/// ```
/// use bytes::{Buf, BufMut};
///
/// let mut buf = tierpool::Pool::new().get(64);
/// buf.put_u16(7);
/// buf.put_slice(b"payload");
/// assert_eq!(buf.get_u16(), 7);
/// assert_eq!(buf.copy_to_bytes(7), b"payload"[..]);
/// assert!(!buf.has_remaining());
/// ```
impl bytes::Buf for PooledBuf {
    #[inline]
    fn remaining(&self) -> usize {
        self.len
    }

    #[inline]
    fn chunk(&self) -> &[u8] {
        self.as_slice()
    }

    #[inline]
    #[track_caller]
    fn advance(&mut self, cnt: usize) {
        assert!(
            cnt <= self.len,
            "advance({cnt}) past the end of a PooledBuf with {} bytes remaining",
            self.len
        );
        let start = self.start();
        // SAFETY: this is the block's only `PooledBuf`; `start + cnt <=
        // start + len <= end`.
        unsafe { self.block.set_region_start(start + cnt) };
        self.len -= cnt;
    }

    /// Returns the next `len` bytes as `Bytes` without copying them.
    #[track_caller]
    fn copy_to_bytes(&mut self, len: usize) -> bytes::Bytes {
        assert!(
            len <= self.len,
            "copy_to_bytes({len}) past the end of a PooledBuf with {} bytes remaining",
            self.len
        );
        self.split_to(len).into_bytes()
    }
}

impl std::io::Write for PooledBuf {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Extend<u8> for PooledBuf {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for byte in iter {
            if self.len == self.cap() {
                self.reserve(1);
            }
            // SAFETY: there is spare capacity for one byte.
            unsafe { self.ptr().as_ptr().add(self.len).write(byte) };
            self.len += 1;
        }
    }
}

impl<'a> Extend<&'a u8> for PooledBuf {
    fn extend<I: IntoIterator<Item = &'a u8>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl Extend<SharedBuf> for PooledBuf {
    /// Appends a copy of each view's bytes, as `BytesMut` extends with
    /// `Bytes`.
    fn extend<I: IntoIterator<Item = SharedBuf>>(&mut self, iter: I) {
        for view in iter {
            self.extend_from_slice(&view);
        }
    }
}

#[cfg(not(loom))]
impl FromIterator<u8> for PooledBuf {
    /// Collects into a buffer of the [`global`](crate::global) pool.
    ///
    /// An iterator brings no pool, so this is the one constructor that
    /// picks one: the process-wide pool that [`tierpool::get`](crate::get)
    /// uses too. To fill a buffer of another pool, `extend` one from it.
    ///
    /// # Examples
    ///
    /// ```
    /// let buf: tierpool::PooledBuf = (b'a'..=b'e').collect();
    /// assert_eq!(buf, b"abcde"[..]);
    ///
    /// let pool = tierpool::Pool::new();
    /// let mut mine = pool.get(5);
    /// mine.extend(b'a'..=b'e');
    /// assert_eq!(mine, buf);
    /// ```
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut buf = crate::global().get(iter.size_hint().0);
        buf.extend(iter);
        buf
    }
}

impl<'a> IntoIterator for &'a PooledBuf {
    type Item = &'a u8;
    type IntoIter = std::slice::Iter<'a, u8>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl Clone for PooledBuf {
    /// A new buffer from the same pool holding a copy of the written
    /// bytes, from the smallest tier that holds them (like `BytesMut`'s
    /// clone, whose capacity is the length). It counts as a get in the
    /// pool's statistics.
    ///
    /// # Panics
    ///
    /// If the copy cannot be allocated (see [`reserve`](Self::reserve)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(64);
    /// buf.extend_from_slice(b"original");
    /// let mut copy = buf.clone();
    /// copy[0] = b'O';
    /// assert_eq!((&buf[..], &copy[..]), (&b"original"[..], &b"Original"[..]));
    /// ```
    #[track_caller]
    fn clone(&self) -> Self {
        PooledBuf::copy_in(self.block.pool(), self)
    }
}

// Not under loom, which has no global pool (see `From::from`).
#[cfg(not(loom))]
impl From<SharedBuf> for PooledBuf {
    /// The view's bytes as a buffer: without copying when the view is the
    /// only reference to its block (see
    /// [`SharedBuf::try_into_mut`]), else as a copy in a new buffer from
    /// the view's pool, like `BytesMut::from(Bytes)`. An empty view that
    /// holds no block does not know its pool: it becomes an empty buffer
    /// of the [`global`](crate::global) pool.
    ///
    /// # Panics
    ///
    /// If the copy cannot be allocated (see [`reserve`](Self::reserve)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::PooledBuf;
    ///
    /// let mut buf = tierpool::Pool::new().get(16);
    /// buf.extend_from_slice(b"abc");
    /// let view = buf.freeze();
    /// let ptr = view.as_ptr();
    /// let shared = view.clone();
    /// let copy = PooledBuf::from(view); // `shared` still reads the block
    /// assert_ne!(copy.as_ptr(), ptr);
    /// let back = PooledBuf::from(shared); // the only reference now
    /// assert_eq!(back.as_ptr(), ptr);
    /// assert_eq!((&copy[..], &back[..]), (&b"abc"[..], &b"abc"[..]));
    /// ```
    #[track_caller]
    fn from(view: SharedBuf) -> Self {
        let view = match view.try_into_mut() {
            Ok(buf) => return buf,
            Err(view) => view,
        };
        match view.pool() {
            Some(pool) => PooledBuf::copy_in(pool, &view),
            None => crate::global().get(0),
        }
    }
}

impl From<PooledBuf> for Vec<u8> {
    /// Copies the written bytes (pooled memory cannot become a `Vec`'s);
    /// the block returns to the pool.
    fn from(buf: PooledBuf) -> Self {
        buf.as_slice().to_vec()
    }
}

impl fmt::Write for PooledBuf {
    /// Appends the string, growing as any write does (over
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes) too, as
    /// growth is served); fails with `fmt::Error`, instead of panicking,
    /// only if the allocator refuses or the length overflows.
    ///
    /// Code that imports both `std::fmt::Write` and `std::io::Write` must
    /// say which `write!` means, as for any type with both.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::fmt::Write;
    ///
    /// let mut buf = tierpool::Pool::new().get(16);
    /// write!(buf, "{}-{}", 1, "two")?;
    /// assert_eq!(buf, "1-two");
    /// # Ok::<(), std::fmt::Error>(())
    /// ```
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cap() - self.len < s.len() {
            self.grow(s.len(), OverLimit::Serve)
                .map_err(|_| fmt::Error)?;
        }
        self.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl PartialEq for PooledBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for PooledBuf {}

macro_rules! impl_eq_with {
    ($($other:ty),*) => {$(
        impl PartialEq<$other> for PooledBuf {
            fn eq(&self, other: &$other) -> bool {
                self.as_slice() == AsRef::<[u8]>::as_ref(other)
            }
        }

        impl PartialEq<PooledBuf> for $other {
            fn eq(&self, other: &PooledBuf) -> bool {
                AsRef::<[u8]>::as_ref(self) == other.as_slice()
            }
        }
    )*};
}

impl_eq_with!([u8], &[u8], Vec<u8>, str, &str);

impl PartialEq<SharedBuf> for PooledBuf {
    fn eq(&self, other: &SharedBuf) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for PooledBuf {
    /// Shows the length, capacity, tier and at most the first 32 bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("len", &self.len)
            .field("capacity", &self.cap())
            .field("tier", &self.tier())
            .field("head", &Preview(self.as_slice()))
            .finish()
    }
}
