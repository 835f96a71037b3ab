//! Async I/O with tokio (feature `tokio`): frames read from an
//! [`AsyncRead`] straight into pooled chains (from a socket, several
//! blocks per vectored read: [`ReadVectored`]), and written back with
//! vectored writes.
//!
//! Memory is taken as bytes arrive, never reserved from a length the peer
//! sent: a peer that announces a 2 GiB frame and
//! sends 10 bytes costs one small block, and a frame above the declared
//! maximum is refused before anything is allocated. A connection that is
//! idle between frames holds no pooled memory, and its reader keeps under
//! 200 bytes of its own ([`FrameReader`], "Memory").
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tierpool::io::{write_frame, FrameReader};
//! use tokio::io::AsyncWriteExt;
//!
//! let pool = tierpool::Pool::new();
//! let (client, server) = tokio::io::duplex(1 << 16);
//!
//! let (mut client_read, mut client_write) = tokio::io::split(client);
//! write_frame(&mut client_write, &b"hello"[..]).await?;
//! client_write.shutdown().await?; // the server sees the end of stream
//!
//! // A server: read frames into pooled chains, echo each one back.
//! let (server_read, mut server_write) = tokio::io::split(server);
//! let mut frames = FrameReader::new(server_read, &pool).max_frame_len(16 << 20);
//! while let Some(frame) = frames.read_frame().await? {
//!     assert_eq!(frame, b"hello"[..]);
//!     write_frame(&mut server_write, frame).await?; // one vectored write
//! }
//! server_write.shutdown().await?;
//!
//! let mut echoes = FrameReader::new(&mut client_read, &pool);
//! assert_eq!(echoes.read_frame().await?.unwrap(), b"hello"[..]);
//! assert!(echoes.read_frame().await?.is_none()); // clean end of stream
//! # Ok(())
//! # }
//! ```

use std::io;

use bytes::{Buf, BufMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::buf::chain::{PooledChain, SharedChain};
use crate::pool::Pool;

mod frame_reader;
#[cfg(test)]
mod tests;
mod vectored;

pub use self::frame_reader::FrameReader;
pub use self::vectored::ReadVectored;

/// Bytes of the length prefix [`FrameReader`] and [`write_frame`] use: a
/// big-endian `u32`, as tokio-util's `LengthDelimitedCodec` does by default.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// The default largest frame a [`FrameReader`] accepts: 8 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 8 << 20;

/// Reads exactly `len` bytes from `reader` into a new chain of `pool`'s
/// blocks, taking each block only when the bytes before it have arrived.
///
/// `len` usually comes from the peer, so it never sizes a block by
/// itself: a block is at most one segment (64 KiB by default) or as large
/// as the bytes already received, whichever is more, and never larger
/// than what remains (see [`PooledChain::reserve_block`]). Memory held is
/// thus at most twice what the peer has sent plus one segment; a peer
/// that announces 1 GiB and sends 10 bytes costs one small block. Long
/// frames still move in large reads once their bytes flow: the second
/// half of a 2 MiB frame lands in one 1 MiB block.
///
/// Under the pool's
/// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes), each block
/// waits for memory ([`PooledChain::reserve_block_async`]) before it is
/// read into: while the frames already read are held (a slow consumer),
/// the reader waits instead of going over the cap.
///
/// Not cancel-safe: if the future is dropped, the bytes read so far are
/// lost (and their blocks returned to the pool).
///
/// # Errors
///
/// `UnexpectedEof` if the stream ends first; whatever `reader` returns;
/// `OutOfMemory` if the allocator refuses a block, or if one block is
/// larger than the whole cap ([`PoolError::OverLimit`](crate::PoolError::OverLimit)).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let pool = tierpool::Pool::new();
/// let mut input: &[u8] = &[9; 100_000];
/// let chain = tierpool::io::read_chain(&mut input, &pool, 68_000).await?;
/// assert_eq!(chain.len(), 68_000);
/// let blocks: Vec<_> = chain.segments().map(|s| s.tier()).collect();
/// assert_eq!(blocks, vec![Some(64 << 10), Some(4 << 10)]);
/// # Ok(())
/// # }
/// ```
pub async fn read_chain<R>(reader: &mut R, pool: &Pool, len: usize) -> io::Result<SharedChain>
where
    R: AsyncRead + Unpin + ?Sized,
{
    read_chain_into(reader, pool.chain(), len).await
}

/// [`read_chain`] into a chain you made: one from
/// [`Quota::chain`](crate::Quota::chain), so that its blocks count against
/// a connection's or tenant's quota (and wait for it), or one that already
/// holds a header. Reads until the chain holds `len` more bytes, with the
/// same block sizing and waiting as `read_chain`.
///
/// # Errors
///
/// As [`read_chain`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let pool = tierpool::Pool::new();
/// let connection = pool.quota(1 << 20);
/// let mut input: &[u8] = &[9; 100_000];
/// let frame = tierpool::io::read_chain_into(&mut input, connection.chain(), 68_000).await?;
/// assert_eq!(frame.len(), 68_000);
/// assert_eq!(connection.stats().used, (64 << 10) + (4 << 10)); // charged to the quota
/// # Ok(())
/// # }
/// ```
pub async fn read_chain_into<R>(
    reader: &mut R,
    mut chain: PooledChain,
    len: usize,
) -> io::Result<SharedChain>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let len = chain.len().checked_add(len).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the chain's length overflows")
    })?;
    while chain.len() < len {
        let remaining = len - chain.len();
        // Backed by bytes received, not by the declared length alone.
        let next_block = remaining.min(chain.len().max(chain.segment_capacity()));
        chain
            .reserve_block_async(next_block)
            .await
            .map_err(|err| io::Error::new(io::ErrorKind::OutOfMemory, err))?;
        let read = reader.read_buf(&mut (&mut chain).limit(remaining)).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ended after {} of {len} bytes", chain.len()),
            ));
        }
    }
    Ok(chain.freeze())
}

/// Writes `frame` with a big-endian `u32` length prefix, prefix and body
/// together in vectored writes (one `writev` when the writer supports
/// them and takes everything at once).
///
/// # Errors
///
/// `InvalidInput` for a frame longer than `u32::MAX` bytes; whatever the
/// writer returns.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mut out = Vec::new();
/// tierpool::io::write_frame(&mut out, &b"abc"[..]).await?;
/// assert_eq!(out, b"\0\0\0\x03abc");
/// # Ok(())
/// # }
/// ```
pub async fn write_frame<W, B>(writer: &mut W, frame: B) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    B: Buf,
{
    let len = u32::try_from(frame.remaining()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a frame of {} bytes does not fit a u32 length prefix",
                frame.remaining()
            ),
        )
    })?;
    let prefix = len.to_be_bytes();
    writer
        .write_all_buf(&mut Buf::chain(&prefix[..], frame))
        .await
}
