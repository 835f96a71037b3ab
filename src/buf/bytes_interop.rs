//! Conversions between pooled buffers and the `bytes` crate.

use bytes::Bytes;

use crate::buf::view::SharedBuf;

impl SharedBuf {
    /// Converts the view into [`Bytes`] without copying: the `Bytes` points
    /// at the same memory, and the block returns to the pool when the last
    /// clone of the `Bytes` (and every other view) is dropped.
    ///
    /// This goes through [`Bytes::from_owner`], which allocates one small
    /// control block (about 48 bytes) per conversion; cloning and slicing
    /// the resulting `Bytes` do not allocate. An empty view becomes
    /// `Bytes::new()` and releases its block at once.
    ///
    /// Converting the `Bytes` back into `BytesMut` copies (the `bytes` crate
    /// cannot reclaim foreign memory); use
    /// [`SharedBuf::try_into_mut`] before converting if you need the buffer
    /// back.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut buf = tierpool::Pool::new().get(100);
    /// buf.extend_from_slice(b"zero-copy");
    /// let view = buf.freeze();
    /// let ptr = view.as_ptr();
    /// let bytes: bytes::Bytes = view.into_bytes();
    /// assert_eq!(bytes.as_ptr(), ptr);
    /// assert_eq!(&bytes[..], b"zero-copy");
    /// ```
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        if self.is_empty() {
            return Bytes::new();
        }
        Bytes::from_owner(self)
    }
}

impl From<SharedBuf> for Bytes {
    /// See [`SharedBuf::into_bytes`].
    fn from(view: SharedBuf) -> Self {
        view.into_bytes()
    }
}

impl PartialEq<Bytes> for SharedBuf {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_ref()
    }
}

impl PartialEq<SharedBuf> for Bytes {
    fn eq(&self, other: &SharedBuf) -> bool {
        self.as_ref() == other.as_slice()
    }
}
