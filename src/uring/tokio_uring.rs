//! tokio-uring's buffer traits for the pool's buffers (Linux, feature
//! `tokio-uring`): [`PooledBuf`] is `IoBuf + IoBufMut`, so reads fill it
//! and writes send it; [`SharedBuf`] is `IoBuf`, so a frozen view (or a
//! slice of one) is written without a copy. See
//! [tokio-uring](crate::operations#tokio-uring) in the operations guide.
//!
//! The traits are unsafe to implement: while the runtime owns a buffer,
//! the kernel reads or writes the memory behind `stable_ptr` even if the
//! value moves. Both types qualify for the same reason: their bytes are in
//! a pooled block (or an oversize allocation) that the value points to,
//! never inside the value, and the block stays theirs until the value is
//! dropped. tokio-uring keeps a buffer alive until its operation completes,
//! even when the future is dropped, so the block returns to the pool only
//! after the kernel is done with it.
//!
//! Bytes an earlier holder wrote stay unreachable. `bytes_init` is the
//! buffer's length, so a write sends only the bytes this holder wrote; a
//! read hands the kernel the whole capacity, and only
//! [`IoBufMut::set_init`], whose caller vouches that the bytes are
//! initialised (tokio-uring calls it with the count the kernel reported
//! writing), extends the length over them.
//!
//! There is no impl for [`SharedChain`](crate::SharedChain): `IoBuf` is one
//! contiguous range, and a chain is several. tokio-uring's vectored write
//! takes a `Vec` of buffers instead, so a chain goes out whole, without a
//! copy, as its segments:
//! `file.writev_at(chain.into_segments().collect::<Vec<_>>(), pos)`.

use ::tokio_uring::buf::{IoBuf, IoBufMut};

use crate::{PooledBuf, SharedBuf};

/// The pooled buffer as the source of a write (its `len()` written bytes)
/// or the destination of a read (up to its `capacity()`).
// SAFETY: `PooledBuf` is `Unpin` (a block pointer and a length) and
// `'static` (it borrows nothing), as the trait's bounds check. Its data
// pointer points into the block, not into the value, so it is the same
// wherever the value moves; and it changes only through `&mut self`
// methods that regrow or split the buffer (`reserve`, `split_to`, ...),
// which nobody can call while the runtime owns the value. The first
// `len` bytes from it are initialised, and `capacity` bytes from it are
// the buffer's own.
unsafe impl IoBuf for PooledBuf {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        // The block's pointer, not `as_slice`'s: it covers the capacity.
        self.ptr().as_ptr()
    }

    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }

    #[inline]
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

/// A read fills the buffer from its start, as for `Vec<u8>`; a completed
/// read of `n` bytes makes its length `n` unless it was longer already
/// (`set_init` never shortens). To append after the written bytes, read
/// into `buf.slice(len..)`, `len` being `buf.len()` (tokio-uring's
/// `BoundedBuf::slice`).
// SAFETY: as for `IoBuf`: the pointer is the block's, valid for writes of
// `capacity` bytes that belong to this buffer alone (a `PooledBuf` is the
// one holder of its region; views split off earlier lie before it).
unsafe impl IoBufMut for PooledBuf {
    #[inline]
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr().as_ptr()
    }

    /// Grows the length to `pos` if it is shorter; like `Vec<u8>`'s and
    /// `BytesMut`'s impls, it never shrinks it.
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must be initialised (tokio-uring calls it
    /// with the bytes the kernel wrote), and `pos` at most the capacity.
    #[inline]
    unsafe fn set_init(&mut self, pos: usize) {
        if pos > self.len() {
            // SAFETY: the caller guarantees that the first `pos` bytes are
            // initialised and within the buffer.
            unsafe { self.set_len(pos) };
        }
    }
}

/// A frozen view as the source of a write: its `len()` bytes, all of them
/// initialised (`bytes_init` and `bytes_total` are both the length).
// SAFETY: `SharedBuf` is `Unpin` and `'static` (a block reference, a
// pointer and a length), as the trait's bounds check. Its pointer is into
// the block, so moving the value does not move it, and no method changes
// it through `&self`. The bytes are initialised and immutable while any
// view of them exists, and this view keeps the block alive; the runtime
// only reads them.
unsafe impl IoBuf for SharedBuf {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        self.as_slice().as_ptr()
    }

    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }

    #[inline]
    fn bytes_total(&self) -> usize {
        self.len()
    }
}
