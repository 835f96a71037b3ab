//! [`FrameReader`]: length-prefixed frames read ahead into pooled blocks
//! and handed out as views of them, without a copy and without a system
//! call per prefix.

use std::fmt;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut};
use tokio::io::{AsyncRead, ReadBuf};

use crate::buf::chain::SharedChain;
use crate::buf::pooled::PooledBuf;
use crate::buf::view::SharedBuf;
use crate::engine::state::PoolState;
use crate::error::PoolError;
use crate::io::vectored::MAX_READ_BUFFERS;
use crate::io::{ReadVectored, DEFAULT_MAX_FRAME_LEN, LENGTH_PREFIX_BYTES};
use crate::pool::quota::Quota;
use crate::pool::Pool;
use crate::sync::Arc;

/// Reads length-prefixed frames (a big-endian `u32` length, then that many
/// bytes) into pooled blocks, and hands each frame out as a [`SharedChain`]
/// of views of those blocks.
///
/// A read takes as many bytes as the reader has ready, up to the room in
/// the block being filled, so one read may bring several small frames and
/// the next frame's prefix: those frames are views of one block (no copy),
/// and a prefix already read costs no system call. No
/// [`BufReader`](tokio::io::BufReader) is needed in front of a socket (it
/// would only add a copy). On tokio's TCP and Unix sockets, turn on
/// [`vectored_reads`](Self::vectored_reads): a long frame then fills
/// several blocks per system call.
///
/// # Memory
///
/// Blocks are taken as bytes arrive, never sized by a length the peer
/// sent. Between frames, a read goes into the pool's smallest tier, or
/// into a segment (the tier chains grow by, 64 KiB by default) while the
/// peer keeps the previous read's room full. Inside a frame, the blocks
/// one read goes into (one, or several with vectored reads) hold together
/// at most as many bytes as the frame has already received or one
/// segment, whichever is more, and at most what the frame still needs
/// rounded up to a tier: a peer that announces 1 GiB and sends 10 bytes
/// holds one small block, and memory held for a frame stays below twice
/// what its peer sent plus one segment. A frame above the
/// [maximum](Self::max_frame_len) is refused as soon as its prefix is
/// read, before any block is taken for its body.
///
/// A reader whose peer has sent nothing since its last frame holds no
/// pooled memory: a read that finds no data gives its empty block back.
/// Bytes read past the last frame handed out are held until the next call.
/// What an idle reader keeps of its own is small: 144 bytes beyond the
/// socket half it owns on x86-64 Linux, and 185 bytes per connection
/// measured (heap included) over 10,000 idle TCP connections with the
/// README's recipe after each had read a frame (`tests/idle_connections.rs`
/// checks it stays under 1 KiB).
/// Frames hold their blocks until dropped, and a block shared by several
/// small frames returns to the pool when the last of them is dropped.
///
/// Under the pool's
/// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes) (or a
/// [`Quota`]), a block that does not fit waits for memory, first come,
/// first served: while the frames already read are held (a slow
/// consumer), the reader waits instead of going over the limit, and
/// lets go of the block it has filled first. A frame whose blocks could
/// never fit that limit (the quota's, or the pool's if less; blocks round
/// up to tiers, so this can be a frame somewhat shorter than the limit)
/// would wait for ever on memory its own blocks hold: it is refused as
/// soon as its prefix is read, as a frame above the maximum is
/// (`InvalidData`, naming the limit). A frame that fits may wait until
/// the frames read before it are dropped; while a reader waits for memory
/// it does not read, so it learns that its peer has gone only once it
/// gets the memory (see [`Pool::quotas`](crate::Pool::quotas) for
/// shedding under overload).
///
/// # Cancel safety
///
/// [`read_frame`](Self::read_frame) is cancel-safe when the reader's
/// `poll_read` is (tokio's sockets, pipes and files are): the frame being
/// read lives in the `FrameReader`, not in the future, so a `read_frame`
/// dropped in a `select!` loses nothing and the next call continues where
/// it stopped. `FrameReader` is also a [`Stream`](futures_core::Stream) of
/// frames.
///
/// # Errors
///
/// After an error the stream is out of step with its frames: the reader
/// drops what it held, and further reads start afresh from the bytes that
/// follow, which is rarely meaningful. Drop the connection.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let pool = tierpool::Pool::new();
/// let input: &[u8] = b"\0\0\0\x03abc\0\0\0\x01d";
/// let mut frames = tierpool::io::FrameReader::new(input, &pool);
/// let abc = frames.read_frame().await?.unwrap();
/// let d = frames.read_frame().await?.unwrap();
/// assert_eq!(abc, b"abc"[..]);
/// assert_eq!(d, b"d"[..]);
/// assert!(abc.segments().next().unwrap().same_block(d.segments().next().unwrap())); // one read
/// assert!(frames.read_frame().await?.is_none());
/// # Ok(())
/// # }
/// ```
///
/// As a stream, with `StreamExt`:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use futures::StreamExt;
///
/// let pool = tierpool::Pool::new();
/// let input: &[u8] = b"\0\0\0\x01a\0\0\0\x01b";
/// let frames = tierpool::io::FrameReader::new(input, &pool);
/// let all: Vec<_> = frames.map(|frame| frame.unwrap().to_vec()).collect().await;
/// assert_eq!(all, [b"a", b"b"]);
/// # Ok(())
/// # }
/// ```
pub struct FrameReader<R> {
    reader: R,
    source: Source,
    max_frame_len: usize,
    /// Bytes read and not yet handed out (the rest of the current frame
    /// and the start of the next ones), with room after them for the next
    /// read. `None` while nothing is held.
    buffered: Option<PooledBuf>,
    /// The length of the frame being read, once its prefix is in.
    frame_len: Option<usize>,
    /// The full blocks of the frame being read, when it spans several.
    filled: Vec<SharedBuf>,
    /// Bytes in `filled`.
    filled_len: usize,
    /// Whether the last read filled all its room: the peer sends faster
    /// than one small block per read, so reads between frames take a
    /// segment.
    streaming: bool,
    /// A block being waited for under a memory limit.
    waiting: Option<Waiting>,
    /// The start of a length prefix (at most three bytes), moved out of
    /// a full block so that the block goes back while the reader waits
    /// for the next one: the held block would count against the very
    /// limit waited on.
    carry: ([u8; LENGTH_PREFIX_BYTES - 1], u8),
    /// The reader's vectored read, once
    /// [`vectored_reads`](Self::vectored_reads) turned it on.
    read_vectored: Option<ReadVectoredFn<R>>,
    /// Empty blocks taken for one vectored read after `buffered`; empty
    /// between reads (kept for its allocation).
    ahead: Vec<PooledBuf>,
}

/// [`Sealed::poll_read_spare`](crate::io::vectored::sealed::Sealed) of a
/// [`ReadVectored`] reader, kept as a function pointer so that
/// `FrameReader<R>` needs only `R: AsyncRead`.
type ReadVectoredFn<R> =
    fn(&mut R, &mut Context<'_>, &mut [&mut [MaybeUninit<u8>]]) -> Poll<io::Result<usize>>;

/// A block being waited for: `get_async` of the source, boxed so that the
/// reader can be polled as a stream. Taken only when the pool or quota is
/// full.
type Waiting = Pin<Box<dyn Future<Output = Result<PooledBuf, PoolError>> + Send>>;

/// Where a [`FrameReader`] takes its blocks.
#[derive(Debug)]
enum Source {
    Pool(Pool),
    Quota(Quota),
}

impl Source {
    fn pool(&self) -> &Pool {
        match self {
            Source::Pool(pool) => pool,
            Source::Quota(quota) => quota.pool(),
        }
    }

    fn state(&self) -> &Arc<PoolState> {
        self.pool().shared()
    }

    fn try_get(&self, capacity: usize) -> Result<PooledBuf, PoolError> {
        match self {
            Source::Pool(pool) => pool.try_get(capacity),
            Source::Quota(quota) => quota.try_get(capacity),
        }
    }

    /// The most bytes a frame could ever hold from this source: the
    /// quota's limit and the pool's `max_in_use_bytes`, whichever is
    /// less, with what it is called; `None` without either.
    fn limit(&self) -> Option<(usize, &'static str)> {
        let pool_cap = self
            .state()
            .in_use_cap()
            .map(|cap| (cap, "the pool's in-use limit"));
        match self {
            Source::Pool(_) => pool_cap,
            Source::Quota(quota) => {
                let quota = (quota.limit(), "the quota");
                Some(pool_cap.map_or(quota, |cap| if cap.0 < quota.0 { cap } else { quota }))
            }
        }
    }

    fn wait_for(&self, capacity: usize) -> Waiting {
        match self {
            Source::Pool(pool) => {
                let pool = pool.clone();
                Box::pin(async move { pool.get_async(capacity).await })
            }
            Source::Quota(quota) => {
                let quota = quota.clone();
                Box::pin(async move { quota.get_async(capacity).await })
            }
        }
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `reader` into `pool`'s blocks, at most
    /// [`DEFAULT_MAX_FRAME_LEN`] bytes each. For tokio's TCP and Unix
    /// sockets, add [`vectored_reads`](Self::vectored_reads).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let pool = tierpool::Pool::new();
    /// let input: &[u8] = b"\0\0\0\x02hi";
    /// let mut frames = tierpool::io::FrameReader::new(input, &pool);
    /// assert_eq!(frames.read_frame().await?.unwrap().to_vec(), b"hi");
    /// assert!(frames.read_frame().await?.is_none()); // a clean end
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(reader: R, pool: &Pool) -> Self {
        FrameReader::with_source(reader, Source::Pool(pool.clone()))
    }

    /// Frames from `reader` into blocks charged to `quota`: while the
    /// frames already read hold the whole quota (a slow consumer), the next
    /// read waits for them, and other quotas are not held back.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let pool = tierpool::Pool::new();
    /// let connection = pool.quota(64 << 10);
    /// let input: &[u8] = b"\0\0\0\x03abc";
    /// let mut frames = tierpool::io::FrameReader::with_quota(input, &connection);
    /// let frame = frames.read_frame().await?.unwrap();
    /// assert_eq!(connection.stats().used, 4096);
    /// # drop(frame);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_quota(reader: R, quota: &Quota) -> Self {
        FrameReader::with_source(reader, Source::Quota(quota.clone()))
    }

    fn with_source(reader: R, source: Source) -> Self {
        FrameReader {
            reader,
            source,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            buffered: None,
            frame_len: None,
            filled: Vec::new(),
            filled_len: 0,
            streaming: false,
            carry: ([0; LENGTH_PREFIX_BYTES - 1], 0),
            waiting: None,
            read_vectored: None,
            ahead: Vec::new(),
        }
    }

    /// Turns on vectored reads (tokio's TCP and Unix stream sockets and
    /// their halves): inside a frame that has already received more than
    /// one segment, one `readv` fills the block being read into and the
    /// next ones, up to what the frame still needs and at most as many
    /// bytes as it has received, so a long frame takes a number of system
    /// calls that grows with the logarithm of its length (a 2 MiB frame
    /// whose bytes are all there: 8 reads instead of 34). The memory bounds in the [type
    /// docs](Self#memory) hold as they are. A read that finds the socket
    /// drained clears its readiness, as tokio's own reads do, so the next
    /// read waits for data instead of making a system call that finds
    /// none.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use tierpool::io::{write_frame, FrameReader};
    ///
    /// let pool = tierpool::Pool::new();
    /// let (mut client, server) = tokio::net::UnixStream::pair()?;
    /// let (read_half, _write_half) = server.into_split();
    /// let mut frames = FrameReader::new(read_half, &pool).vectored_reads();
    /// let body = vec![7; 300_000];
    /// // More than the socket buffers: write while reading.
    /// let (written, frame) = tokio::join!(write_frame(&mut client, &body[..]), frames.read_frame());
    /// written?;
    /// assert_eq!(frame?.unwrap().len(), 300_000);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn vectored_reads(mut self) -> Self
    where
        R: ReadVectored,
    {
        self.read_vectored = Some(R::poll_read_spare);
        self
    }

    /// Sets the largest frame accepted; longer ones fail with
    /// `InvalidData` as soon as their prefix is read, before any memory is
    /// taken for their body.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = tierpool::Pool::new();
    /// let input: &[u8] = b"\x7f\xff\xff\xffmore bytes than anyone should send";
    /// let mut frames = tierpool::io::FrameReader::new(input, &pool).max_frame_len(1 << 20);
    /// let err = frames.read_frame().await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    /// assert_eq!(pool.stats().in_use_bytes(), 0); // nothing is held
    /// # }
    /// ```
    #[must_use]
    pub fn max_frame_len(mut self, max: usize) -> Self {
        self.max_frame_len = max;
        self
    }

    /// Reads the next frame; `None` at a clean end of stream (between
    /// frames). Cancel-safe (see the [type docs](Self#cancel-safety)).
    ///
    /// # Errors
    ///
    /// `InvalidData` for a frame longer than the maximum; `UnexpectedEof`
    /// if the stream ends inside a prefix or a frame; `OutOfMemory` if the
    /// allocator refuses a block, or if a block is larger than the whole
    /// limit ([`PoolError::OverLimit`]); whatever the reader returns.
    pub async fn read_frame(&mut self) -> io::Result<Option<SharedChain>> {
        std::future::poll_fn(|cx| self.poll_frame(cx)).await
    }

    /// Polls for the next frame: [`read_frame`](Self::read_frame) as a
    /// poll function, for hand-written futures and streams.
    ///
    /// # Errors
    ///
    /// As [`read_frame`](Self::read_frame).
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<SharedChain>>> {
        let polled = self.poll_frame_inner(cx);
        if let Poll::Ready(Err(_)) = polled {
            self.reset();
        }
        polled
    }

    fn poll_frame_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<SharedChain>>> {
        loop {
            if let Some(frame) = self.take_buffered_frame()? {
                return Poll::Ready(Ok(Some(frame)));
            }
            if self.room() == 0 {
                ready!(self.poll_next_block(cx))?;
            }
            match self.poll_fill(cx) {
                Poll::Pending => {
                    // Nothing to read: an idle connection holds no block.
                    if self.buffered.as_ref().is_some_and(PooledBuf::is_empty) {
                        self.buffered = None;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Ready(Ok(0)) => return Poll::Ready(self.end_of_stream()),
                Poll::Ready(Ok(_)) => self.streaming = self.room() == 0,
            }
        }
    }

    /// The next frame, if its bytes are all in; parses a prefix on the way.
    fn take_buffered_frame(&mut self) -> io::Result<Option<SharedChain>> {
        let Some(buffered) = self.buffered.as_mut() else {
            return Ok(None);
        };
        let len = match self.frame_len {
            Some(len) => len,
            None => {
                let Some(prefix) = buffered.get(..LENGTH_PREFIX_BYTES) else {
                    return Ok(None);
                };
                let len = u32::from_be_bytes(prefix.try_into().expect("four bytes")) as usize;
                if len > self.max_frame_len {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a frame of {len} bytes exceeds the maximum of {} bytes",
                            self.max_frame_len
                        ),
                    ));
                }
                // A frame that could never be held would wait for memory
                // for ever, its own blocks holding the limit it waits on.
                // (Its blocks round up to tiers, and the first is shared
                // with the prefix: what counts is their capacity.)
                if let Some((limit, name)) = self.source.limit() {
                    let first = buffered.capacity();
                    if len > limit || Self::frame_footprint(self.source.state(), first, len) > limit
                    {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("a frame of {len} bytes can never fit {name} of {limit} bytes"),
                        ));
                    }
                }
                buffered.advance(LENGTH_PREFIX_BYTES);
                self.frame_len = Some(len);
                len
            }
        };
        let rest = len - self.filled_len;
        if buffered.len() < rest {
            return Ok(None);
        }
        let tail = buffered.split_to(rest);
        self.frame_len = None;
        self.filled_len = 0;
        Ok(Some(SharedChain::from_segments(
            self.filled.drain(..).chain(Some(tail)),
        )))
    }

    /// Room for the next read in the block being filled.
    fn room(&self) -> usize {
        self.buffered
            .as_ref()
            .map_or(0, |buffered| buffered.capacity() - buffered.len())
    }

    /// Takes the block the next read goes into, waiting for it under a
    /// memory limit, and moves what the full block holds in front of it.
    fn poll_next_block(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let block = match self.waiting.as_mut() {
            Some(waiting) => {
                let block = ready!(waiting.as_mut().poll(cx));
                self.waiting = None;
                block
            }
            None => {
                let (capacity, least) = self.next_block_capacity();
                match self.source.try_get(capacity) {
                    Err(PoolError::Exhausted { .. }) if least < capacity => {
                        match self.source.try_get(least) {
                            Err(PoolError::Exhausted { .. }) => {
                                return self.wait_for_block(cx, least)
                            }
                            block => block,
                        }
                    }
                    Err(PoolError::Exhausted { .. }) => return self.wait_for_block(cx, least),
                    block => block,
                }
            }
        };
        let mut block = block.map_err(|err| io::Error::new(io::ErrorKind::OutOfMemory, err))?;
        let (carried, carried_len) = std::mem::take(&mut self.carry);
        block.extend_from_slice(&carried[..usize::from(carried_len)]);
        if let Some(mut full) = self.buffered.take() {
            if self.frame_len.is_some() {
                // Part of the frame being read: kept as one of its blocks.
                self.push_filled(full.split_to(full.len()));
            } else {
                // Part of a prefix (at most three bytes): moved.
                block.extend_from_slice(&full);
            }
        }
        self.buffered = Some(block);
        Poll::Ready(Ok(()))
    }

    /// Waits for a block of `capacity` under a memory limit. The full
    /// block is let go first: inside a frame it joins the frame's blocks,
    /// between frames its few prefix bytes move to `carry`, so that it
    /// does not hold the memory waited for.
    fn wait_for_block(&mut self, cx: &mut Context<'_>, capacity: usize) -> Poll<io::Result<()>> {
        if let Some(mut full) = self.buffered.take() {
            if self.frame_len.is_some() {
                self.push_filled(full.split_to(full.len()));
            } else {
                let carried = full.len();
                debug_assert!(carried < LENGTH_PREFIX_BYTES, "a whole prefix is parsed");
                self.carry.0[..carried].copy_from_slice(&full);
                self.carry.1 = carried as u8;
            }
        }
        self.waiting = Some(self.source.wait_for(capacity));
        self.poll_next_block(cx)
    }

    /// The capacity of the next block, and the least it may be: bounded
    /// by the bytes already received, never by a length the peer
    /// announced alone. While the peer keeps reads full, the block is a
    /// segment, so that reads take several small frames at once; under a
    /// memory limit that cannot serve a segment, the least block serves.
    fn next_block_capacity(&self) -> (usize, usize) {
        let state = self.source.state();
        let segment = state.segment_capacity();
        let buffered = self.buffered.as_ref().map_or(0, PooledBuf::len);
        let least = match self.frame_len {
            None => {
                let tier = state.route(LENGTH_PREFIX_BYTES);
                state.tier_capacity(tier.unwrap_or_else(|| state.largest_tier()))
            }
            Some(len) => Self::frame_block(state, len, self.filled_len + buffered),
        };
        if self.streaming && least < segment {
            (segment, least)
        } else {
            (least, least)
        }
    }

    /// The block a frame of `len` bytes that has `received` of them takes
    /// next: at most as many bytes as it has received or one segment,
    /// whichever is more, and at most what it still needs, as a chain tier.
    fn frame_block(state: &PoolState, len: usize, received: usize) -> usize {
        let allowed = received.max(state.segment_capacity());
        let wanted = (len - received).min(allowed);
        state.tier_capacity(state.chain_tier(wanted))
    }

    /// The block capacity a frame of `len` bytes holds once read, from
    /// the block its prefix starts (`first` bytes of room from the
    /// prefix on) on, each block taken when the one before is full and at
    /// its least size: what a limit must hold for the frame to be read.
    fn frame_footprint(state: &PoolState, first: usize, len: usize) -> usize {
        let mut held = first;
        let mut received = (first - LENGTH_PREFIX_BYTES).min(len);
        while received < len {
            let block = Self::frame_block(state, len, received);
            held += block;
            received += block;
        }
        held
    }

    /// Reads into the room of the block being filled and, with vectored
    /// reads inside a long frame, into the blocks taken after it.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(read_vectored) = self.read_vectored else {
            return self.poll_fill_one(cx);
        };
        self.take_ahead();
        let buffered = self
            .buffered
            .as_mut()
            .expect("a block with room is taken before reading");
        let room = buffered.capacity() - buffered.len();
        let given = 1 + self.ahead.len();
        let mut bufs: [&mut [MaybeUninit<u8>]; MAX_READ_BUFFERS] = Default::default();
        bufs[0] = buffered.spare_capacity_mut();
        for (buf, block) in bufs[1..].iter_mut().zip(self.ahead.iter_mut()) {
            *buf = block.spare_capacity_mut();
        }
        let wanted: usize = bufs[..given].iter().map(|buf| buf.len()).sum();
        let count = match read_vectored(&mut self.reader, cx, &mut bufs[..given]) {
            Poll::Ready(Ok(count)) => count,
            other => {
                self.ahead.clear();
                return other;
            }
        };
        assert!(
            count <= wanted,
            "the reader reported {count} bytes read into {wanted} bytes of room"
        );
        let first = count.min(room);
        // SAFETY: the reader initialised the first `count` bytes of the
        // buffers it was given, in order (`poll_read_spare`'s contract);
        // the first `first` of them are the spare capacity of `buffered`.
        unsafe { buffered.advance_mut(first) };
        let mut rest = count - first;
        if rest > 0 {
            // The read went on into the blocks after `buffered`: those
            // are taken only inside a frame, for bytes the frame still
            // needs, so `buffered` and every block filled up but the last
            // hold only the frame's bytes.
            let mut full = self.buffered.take().expect("read into above");
            self.push_filled(full.split_to(full.len()));
            let mut ahead = std::mem::take(&mut self.ahead);
            for mut block in ahead.drain(..) {
                let filled = rest.min(block.capacity());
                // SAFETY: as above: the next `filled` bytes the reader
                // initialised are this block's spare capacity (an empty
                // block's whole capacity).
                unsafe { block.advance_mut(filled) };
                rest -= filled;
                if rest == 0 {
                    self.buffered = Some(block);
                    break;
                }
                self.push_filled(block.split_to(filled));
            }
            // The blocks left empty go back to the pool here.
            self.ahead = ahead;
        }
        self.ahead.clear();
        Poll::Ready(Ok(count))
    }

    /// Adds a full block of the frame being read to its blocks.
    fn push_filled(&mut self, segment: SharedBuf) {
        self.filled_len += segment.len();
        self.filled.push(segment);
    }

    /// Takes the empty blocks a vectored read fills after `buffered`: only
    /// inside a frame that has already received more than one segment,
    /// for at most what the frame still needs (the last block rounded up
    /// to a tier) and, with `buffered`'s room, at most as many bytes as
    /// the frame has received. Never waits: under a memory limit a block
    /// that does not fit is just not taken.
    fn take_ahead(&mut self) {
        let Some(len) = self.frame_len else {
            return;
        };
        let (buffered, room) = self.buffered.as_ref().map_or((0, 0), |buffered| {
            (buffered.len(), buffered.capacity() - buffered.len())
        });
        let state = self.source.state();
        let segment = state.segment_capacity();
        let received = self.filled_len + buffered;
        let needed = len - received;
        if received <= segment || needed <= room {
            return;
        }
        let budget = needed.min(received);
        let mut left = budget.saturating_sub(room);
        while left > 0 && self.ahead.len() + 1 < MAX_READ_BUFFERS {
            if left < segment && budget < needed {
                break; // a block past what the frame has received
            }
            let capacity = state.tier_capacity(state.chain_tier(left));
            let Ok(block) = self.source.try_get(capacity) else {
                break;
            };
            self.ahead.push(block);
            left = left.saturating_sub(capacity);
        }
    }

    /// Reads into the room of the block being filled, through `poll_read`.
    fn poll_fill_one(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let buffered = self
            .buffered
            .as_mut()
            .expect("a block with room is taken before reading");
        let mut read = ReadBuf::uninit(buffered.spare_capacity_mut());
        let start = read.filled().as_ptr();
        ready!(Pin::new(&mut self.reader).poll_read(cx, &mut read))?;
        assert_eq!(
            start,
            read.filled().as_ptr(),
            "the reader replaced the buffer it was given"
        );
        let count = read.filled().len();
        // SAFETY: the reader initialised the first `count` bytes of the
        // spare capacity (`ReadBuf::filled`), checked above to be the
        // buffer we gave it.
        unsafe { buffered.advance_mut(count) };
        Poll::Ready(Ok(count))
    }

    /// What the end of the stream means here: a clean end between frames,
    /// or a frame cut short.
    fn end_of_stream(&mut self) -> io::Result<Option<SharedChain>> {
        let buffered = self.buffered.as_ref().map_or(0, PooledBuf::len);
        match self.frame_len {
            None if buffered == 0 => {
                self.buffered = None;
                Ok(None)
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside a length prefix",
            )),
            Some(len) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the stream ended after {} of {len} bytes",
                    self.filled_len + buffered
                ),
            )),
        }
    }

    /// Drops everything held, after an error.
    fn reset(&mut self) {
        self.buffered = None;
        self.carry.1 = 0;
        self.frame_len = None;
        self.filled.clear();
        self.filled_len = 0;
        self.streaming = false;
        self.waiting = None;
        self.ahead.clear();
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably. Reading from it directly
    /// desynchronises the framing.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Gives back the underlying reader. Bytes read ahead of the frames
    /// handed out are dropped.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncRead + Unpin> futures_core::Stream for FrameReader<R> {
    type Item = io::Result<SharedChain>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_frame(cx).map(Result::transpose)
    }
}

impl<R: fmt::Debug> fmt::Debug for FrameReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("reader", &self.reader)
            .field("source", &self.source)
            .field("max_frame_len", &self.max_frame_len)
            .field(
                "buffered",
                &self.buffered.as_ref().map_or(0, PooledBuf::len),
            )
            .field("frame_len", &self.frame_len)
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}
