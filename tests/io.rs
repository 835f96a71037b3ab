//! The tokio integration (`tierpool::io`, feature `tokio`): `read_chain`
//! reads exactly what it is asked and takes blocks only as bytes arrive,
//! `FrameReader` splits a stream into frames (clean and unclean ends,
//! frames over the maximum refused before any allocation), and
//! `write_frame` sends prefix and body in vectored writes, over in-memory
//! streams, a loopback TCP connection and a multi-thread runtime.
//!
//! The in-memory tests run on a current-thread runtime without I/O or timer
//! drivers ([`block_on`]), small enough for Miri; the TCP and multi-thread
//! tests are skipped under Miri.
#![cfg(feature = "tokio")]

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tierpool::io::{
    read_chain, write_frame, FrameReader, DEFAULT_MAX_FRAME_LEN, LENGTH_PREFIX_BYTES,
};
use tierpool::{Backing, Pool, SharedChain};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};

mod common;
use common::chains::{
    assert_one_write_layout, block, frozen, gets, pattern, pool, LARGEST, SEG, SMALL,
};
use common::{assert_all_returned, Rng};

/// Runs `future` on a current-thread runtime without I/O or timer drivers
/// (the in-memory streams need neither).
/// Blocks allocated per tier (misses): a block given back and taken again
/// is a hit.
fn misses(pool: &Pool) -> Vec<u64> {
    pool.stats().tiers.iter().map(|t| t.misses).collect()
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// `len` as a frame's length prefix.
fn prefix(len: usize) -> [u8; LENGTH_PREFIX_BYTES] {
    u32::try_from(len).unwrap().to_be_bytes()
}

fn encode(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        out.extend_from_slice(&prefix(frame.len()));
        out.extend_from_slice(frame);
    }
    out
}

/// A reader that hands out at most `step` bytes per read, answers every
/// other read with `Pending` (waking itself first), then ends the stream
/// (or fails, with `fail`). With a pool, it records the most bytes the pool
/// had in use at any read.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    pend: bool,
    fail: Option<io::ErrorKind>,
    pool: Option<Pool>,
    max_in_use: u64,
    /// The most the pool had in use beyond twice the bytes read so far.
    max_over_twice_read: i64,
    reads: usize,
}

impl Trickle {
    fn new(data: Vec<u8>, step: usize) -> Self {
        Trickle {
            data,
            pos: 0,
            step,
            pend: false,
            fail: None,
            pool: None,
            max_in_use: 0,
            max_over_twice_read: i64::MIN,
            reads: 0,
        }
    }

    fn watching(mut self, pool: &Pool) -> Self {
        self.pool = Some(pool.clone());
        self
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        me.pend = !me.pend;
        if me.pend {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        me.reads += 1;
        if let Some(pool) = &me.pool {
            let in_use = pool.stats().in_use_bytes();
            me.max_in_use = me.max_in_use.max(in_use);
            me.max_over_twice_read = me
                .max_over_twice_read
                .max(in_use as i64 - 2 * me.pos as i64);
        }
        let n = me.step.min(me.data.len() - me.pos).min(buf.remaining());
        if n == 0 {
            if let Some(kind) = me.fail {
                return Poll::Ready(Err(io::Error::new(kind, "the peer went away")));
            }
        }
        buf.put_slice(&me.data[me.pos..me.pos + n]);
        me.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// A writer that takes at most `limit` bytes per call, records how many
/// non-empty slices each vectored call offered and, with a pool, how many
/// blocks the pool had in use at each call.
struct Recorder {
    out: Vec<u8>,
    limit: usize,
    slices: Vec<usize>,
    pool: Option<Pool>,
    in_use: Vec<u64>,
}

impl Recorder {
    fn new(limit: usize) -> Self {
        Recorder {
            out: Vec::new(),
            limit,
            slices: Vec::new(),
            pool: None,
            in_use: Vec::new(),
        }
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        me.slices
            .push(bufs.iter().filter(|b| !b.is_empty()).count());
        if let Some(pool) = &me.pool {
            me.in_use
                .push(pool.stats().tiers.iter().map(|t| t.in_use).sum());
        }
        let mut taken = 0;
        for buf in bufs {
            let n = buf.len().min(me.limit - taken);
            me.out.extend_from_slice(&buf[..n]);
            taken += n;
            if taken == me.limit {
                break;
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn read_chain_reads_exactly_the_length_asked() {
    let pool = pool();
    block_on(async {
        for (seed, len) in [0, 1, SMALL - 1, SEG, SEG + 1, 3 * SEG + SMALL + 1]
            .into_iter()
            .enumerate()
        {
            let input = pattern(seed as u64, len + 7);
            let mut reader = &input[..];
            let before = gets(&pool);
            let chain = read_chain(&mut reader, &pool, len).await.unwrap();
            assert_eq!(chain, input[..len], "len {len}");
            assert_eq!(
                reader,
                &input[len..],
                "len {len}: nothing read past the end"
            );
            assert_one_write_layout(&chain);
            let taken: u64 = gets(&pool).iter().zip(&before).map(|(a, b)| a - b).sum();
            assert_eq!(taken, chain.segment_count() as u64, "one get per block");
            drop(chain);
            assert_all_returned(&pool);
        }
    });
}

#[test]
fn read_chain_at_the_end_of_stream_says_how_many_bytes_arrived() {
    let pool = pool();
    block_on(async {
        for (arrived, len) in [(0, 5), (10, 100), (2 * SEG + 1, 3 * SEG)] {
            let input = pattern(1, arrived);
            let err = read_chain(&mut &input[..], &pool, len).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            assert_eq!(
                err.to_string(),
                format!("the stream ended after {arrived} of {len} bytes")
            );
            assert_all_returned(&pool);
        }
    });
}

#[test]
fn read_chain_passes_reader_errors_on_and_returns_its_blocks() {
    let pool = pool();
    block_on(async {
        let mut reader = Trickle::new(pattern(2, SEG + 3), SEG / 2);
        reader.fail = Some(io::ErrorKind::ConnectionReset);
        let err = read_chain(&mut reader, &pool, 2 * SEG).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(err.to_string(), "the peer went away");
    });
    assert_all_returned(&pool);
}

#[test]
fn read_chain_assembles_one_byte_reads() {
    let pool = pool();
    let len = SEG + 3;
    let input = pattern(3, len);
    let chain = block_on(async {
        let mut reader = Trickle::new(input.clone(), 1);
        let chain = read_chain(&mut reader, &pool, len).await.unwrap();
        assert_eq!(reader.reads, len, "one read per byte");
        chain
    });
    assert_eq!(chain, input);
    // The same blocks as one large read: each is taken when the one before
    // is full, sized by what remains.
    assert_one_write_layout(&chain);
    assert_eq!(gets(&pool).iter().sum::<u64>(), 2);
    drop(chain);
    assert_all_returned(&pool);
}

/// A peer announces a gigabyte and sends a few bytes: `read_chain` takes a
/// single block, holds it only while reading, and says how much arrived.
#[test]
fn read_chain_takes_one_block_for_a_length_that_never_arrives() {
    let pool = pool();
    let arrived = 100.min(SEG / 2);
    let declared = 1 << 30;
    // Nothing has arrived yet, so the declared length buys one segment.
    let first_block = block(SEG) as u64;
    block_on(async {
        let mut reader = Trickle::new(pattern(4, arrived), 10).watching(&pool);
        let err = read_chain(&mut reader, &pool, declared).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            err.to_string(),
            format!("the stream ended after {arrived} of {declared} bytes")
        );
        assert_eq!(reader.max_in_use, first_block, "one block while reading");
    });
    assert_eq!(gets(&pool).iter().sum::<u64>(), 1, "a single block");
    assert_eq!(pool.stats().in_use_bytes(), 0);

    // The same through a frame that announces a gigabyte.
    block_on(async {
        let mut input = prefix(declared).to_vec();
        input.extend_from_slice(&pattern(5, arrived));
        let reader = Trickle::new(input, 7).watching(&pool);
        let mut frames = FrameReader::new(reader, &pool).max_frame_len(2 << 30);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            err.to_string(),
            format!("the stream ended after {arrived} of {declared} bytes")
        );
        // Memory held stays below twice what came plus one segment; when
        // the prefix and the bytes fit the small read block, that is all.
        let reader = frames.get_ref();
        assert!(reader.max_over_twice_read <= SEG as i64);
        if LENGTH_PREFIX_BYTES + arrived <= SMALL {
            assert_eq!(reader.max_in_use, SMALL as u64);
        }
    });
    assert_all_returned(&pool);
}

/// What the `tierpool::io` module docs promise: "a peer that announces a
/// 2 GiB frame and sends 10 bytes costs one small block". Blocks are to be
/// taken as bytes arrive, so a declared length the bytes never back must
/// cost at most one segment.
#[test]
fn a_peer_announcing_a_huge_frame_costs_at_most_one_segment() {
    let pool = pool();
    let declared = 1 << 30;
    block_on(async {
        let mut input = prefix(declared).to_vec();
        input.extend_from_slice(&pattern(6, 100.min(SEG / 2)));
        let reader = Trickle::new(input, 10).watching(&pool);
        let mut frames = FrameReader::new(reader, &pool).max_frame_len(2 << 30);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let over = frames.get_ref().max_over_twice_read;
        assert!(over <= SEG as i64, "{over} bytes beyond twice what came");
        if LENGTH_PREFIX_BYTES + 100.min(SEG / 2) <= SMALL {
            assert_eq!(frames.get_ref().max_in_use, SMALL as u64, "one small block");
        }
    });
    assert_eq!(gets(&pool)[2], 0, "no block above the segment tier");
    assert_all_returned(&pool);
}

#[test]
fn a_dropped_read_returns_its_blocks() {
    let pool = pool();
    block_on(async {
        // Delivers part of the frame, then stalls (`Pending` forever).
        struct Stalled(Vec<u8>);
        impl AsyncRead for Stalled {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if self.0.is_empty() {
                    return Poll::Pending;
                }
                let n = self.0.len().min(buf.remaining());
                buf.put_slice(&self.0[..n]);
                self.0.drain(..n);
                Poll::Ready(Ok(()))
            }
        }
        let mut reader = Stalled(pattern(6, SEG + 1));
        let read = read_chain(&mut reader, &pool, 3 * SEG);
        tokio::select! {
            biased;
            _ = read => panic!("the reader stalled"),
            _ = async {} => {}
        }
    });
    assert_eq!(gets(&pool), vec![0, 2, 0]);
    assert_all_returned(&pool);
}

#[test]
fn frame_reader_ends_cleanly_between_frames() {
    let pool = pool();
    block_on(async {
        let mut frames = FrameReader::new(&b""[..], &pool);
        assert!(frames.read_frame().await.unwrap().is_none());
        assert!(
            frames.read_frame().await.unwrap().is_none(),
            "and stays ended"
        );

        let input = encode(&[b"one".to_vec(), b"two".to_vec()]);
        let mut frames = FrameReader::new(&input[..], &pool);
        assert_eq!(frames.read_frame().await.unwrap().unwrap(), b"one"[..]);
        assert_eq!(frames.read_frame().await.unwrap().unwrap(), b"two"[..]);
        assert!(frames.read_frame().await.unwrap().is_none());
        assert!(frames.into_inner().is_empty());
    });
    assert_all_returned(&pool);
}

#[test]
fn frame_reader_fails_at_an_end_inside_a_prefix() {
    let pool = pool();
    block_on(async {
        for input in [&[0u8][..], &[0, 0, 0], &[0, 0, 0, 1, b'x', 0, 0]] {
            let mut frames = FrameReader::new(input, &pool);
            if input.len() > LENGTH_PREFIX_BYTES {
                assert_eq!(frames.read_frame().await.unwrap().unwrap(), b"x"[..]);
            }
            let err = frames.read_frame().await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{input:?}");
            assert_eq!(err.to_string(), "the stream ended inside a length prefix");
        }
        // A prefix that arrives a byte at a time is assembled.
        let reader = Trickle::new(encode(&[b"split".to_vec()]), 1);
        let mut frames = FrameReader::new(reader, &pool);
        assert_eq!(frames.read_frame().await.unwrap().unwrap(), b"split"[..]);
        assert!(frames.read_frame().await.unwrap().is_none());
    });
    assert_eq!(
        misses(&pool),
        vec![1, 0, 0],
        "one small read block at a time: prefixes and bodies share it, and a \
         reader that finds nothing to read gives it back to the cache"
    );
    assert_all_returned(&pool);
}

#[test]
fn frame_reader_fails_at_an_end_inside_a_body() {
    let pool = pool();
    block_on(async {
        let mut input = prefix(10).to_vec();
        input.extend_from_slice(b"four");
        let mut frames = FrameReader::new(&input[..], &pool);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(err.to_string(), "the stream ended after 4 of 10 bytes");

        let mut input = prefix(3 * SEG).to_vec();
        input.extend_from_slice(&pattern(7, 2 * SEG + 1));
        let mut frames = FrameReader::new(&input[..], &pool);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the stream ended after {} of {} bytes",
                2 * SEG + 1,
                3 * SEG
            )
        );
    });
    assert_all_returned(&pool);
}

#[test]
fn frames_over_the_maximum_are_refused_before_any_allocation() {
    let pool = pool();
    block_on(async {
        let mut input = prefix(1001).to_vec();
        input.extend_from_slice(&[0; 1001]);
        let mut frames = FrameReader::new(&input[..], &pool).max_frame_len(1000);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            "a frame of 1001 bytes exceeds the maximum of 1000 bytes"
        );
        assert_eq!(
            gets(&pool),
            vec![1, 0, 0],
            "only the small block the prefix was read into, nothing for the body"
        );
        assert_eq!(pool.stats().in_use_bytes(), 0, "and it was given back");

        // Exactly the maximum is fine.
        let mut input = prefix(1000).to_vec();
        input.extend_from_slice(&pattern(8, 1000));
        let mut frames = FrameReader::new(&input[..], &pool).max_frame_len(1000);
        assert_eq!(
            frames.read_frame().await.unwrap().unwrap(),
            pattern(8, 1000)
        );

        // The default maximum, and the largest prefix there is.
        let before = gets(&pool);
        let over = prefix(DEFAULT_MAX_FRAME_LEN + 1);
        let mut frames = FrameReader::new(&over[..], &pool);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut frames = FrameReader::new(&[0xff; 4][..], &pool);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "a frame of {} bytes exceeds the maximum of {DEFAULT_MAX_FRAME_LEN} bytes",
                u32::MAX
            )
        );
        let after = gets(&pool);
        let taken: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        assert_eq!(
            taken,
            vec![2, 0, 0],
            "one small read block each, nothing for the bodies"
        );
    });
    assert_all_returned(&pool);
}

/// A frame longer than the memory its reader may ever hold (its quota,
/// or the pool's in-use limit if less) is refused at its prefix instead of
/// waiting for ever on memory its own blocks would hold; one that fits
/// exactly is read.
#[test]
fn frames_that_could_never_fit_the_quota_or_the_cap_are_refused() {
    let pool = Pool::builder()
        .tiers([SMALL, SEG])
        .segment_capacity(SEG)
        .max_in_use_bytes(16 * SEG)
        .backing(Backing::Heap)
        .build()
        .unwrap();
    block_on(async {
        let quota = pool.quota(4 * SEG);
        let over = 4 * SEG + 1;
        let mut input = prefix(over).to_vec();
        input.extend_from_slice(&[1; 100]);
        let mut frames = FrameReader::with_quota(&input[..], &quota).max_frame_len(1 << 30);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            format!(
                "a frame of {over} bytes can never fit the quota of {} bytes",
                4 * SEG
            )
        );
        assert_eq!(quota.stats().used, 0);

        // Under a larger quota, the pool's limit is the one that binds.
        let roomy = pool.quota(1 << 30);
        let over = 16 * SEG + 1;
        let input = prefix(over);
        let mut frames = FrameReader::with_quota(&input[..], &roomy).max_frame_len(1 << 30);
        let err = frames.read_frame().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "a frame of {over} bytes can never fit the pool's in-use limit of {} bytes",
                16 * SEG
            )
        );
        let mut frames = FrameReader::new(&input[..], &pool).max_frame_len(1 << 30);
        assert!(frames
            .read_frame()
            .await
            .unwrap_err()
            .to_string()
            .contains("never fit"));

        // A frame of the quota's whole size, alone, is read.
        let body = pattern(3, 3 * SEG);
        let mut input = prefix(body.len()).to_vec();
        input.extend_from_slice(&body);
        let mut frames = FrameReader::with_quota(&input[..], &quota).max_frame_len(1 << 30);
        assert_eq!(frames.read_frame().await.unwrap().unwrap(), body);
    });
    assert_all_returned(&pool);
}

/// Frame lengths for the back-to-back tests: empty frames, around block
/// boundaries, and some random ones.
fn frame_lengths(seed: u64, random: usize) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut lens = vec![0, 1, SMALL, 0, SEG, SEG + 1, 3 * SEG + 2, 0];
    lens.extend((0..random).map(|_| rng.range(0, 2 * SEG)));
    lens
}

#[test]
fn many_frames_back_to_back() {
    let pool = pool();
    let frames: Vec<Vec<u8>> = frame_lengths(9, if cfg!(miri) { 4 } else { 40 })
        .into_iter()
        .enumerate()
        .map(|(i, len)| pattern(100 + i as u64, len))
        .collect();
    let encoded = encode(&frames);
    block_on(async {
        // Encoded with `write_frame`, from chains and from slices.
        let mut out = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            if i % 2 == 0 {
                write_frame(&mut out, frozen(&pool, frame)).await.unwrap();
            } else {
                write_frame(&mut out, &frame[..]).await.unwrap();
            }
        }
        assert_eq!(out, encoded);
        assert_all_returned(&pool);

        // Read back whole, through a `BufReader`, and in dribbles.
        for how in 0..3 {
            let mut reader_frames: Vec<SharedChain> = Vec::new();
            match how {
                0 => {
                    let mut reader = FrameReader::new(&encoded[..], &pool);
                    while let Some(frame) = reader.read_frame().await.unwrap() {
                        reader_frames.push(frame);
                    }
                }
                1 => {
                    let mut reader = FrameReader::new(BufReader::new(&encoded[..]), &pool);
                    while let Some(frame) = reader.read_frame().await.unwrap() {
                        reader_frames.push(frame);
                    }
                    assert!(reader.get_mut().buffer().is_empty());
                }
                _ => {
                    let trickle = Trickle::new(encoded.clone(), SMALL / 2 + 3);
                    let mut reader = FrameReader::new(trickle, &pool);
                    while let Some(frame) = reader.read_frame().await.unwrap() {
                        reader_frames.push(frame);
                    }
                    assert_eq!(reader.get_ref().pos, encoded.len());
                }
            }
            assert_eq!(reader_frames.len(), frames.len(), "how {how}");
            for (got, want) in reader_frames.iter().zip(&frames) {
                assert_eq!(*got, *want, "how {how}");
                assert!(got.segments().all(|s| !s.is_empty()), "how {how}");
            }
            drop(reader_frames);
            assert_all_returned(&pool);
        }
    });
}

#[test]
fn frames_of_zero_bytes() {
    let pool = pool();
    block_on(async {
        let mut out = Vec::new();
        write_frame(&mut out, SharedChain::new()).await.unwrap();
        write_frame(&mut out, pool.chain().freeze()).await.unwrap();
        write_frame(&mut out, &b""[..]).await.unwrap();
        write_frame(&mut out, Bytes::new()).await.unwrap();
        assert_eq!(out, [0; 4 * LENGTH_PREFIX_BYTES]);
        let mut frames = FrameReader::new(&out[..], &pool);
        for _ in 0..4 {
            let frame = frames.read_frame().await.unwrap().expect("a frame");
            assert!(frame.is_empty());
            assert_eq!(frame.segment_count(), 0);
        }
        assert!(frames.read_frame().await.unwrap().is_none());
        assert_eq!(read_chain(&mut &b"x"[..], &pool, 0).await.unwrap().len(), 0);
    });
    assert!(
        gets(&pool).iter().sum::<u64>() <= 2,
        "only read blocks for the prefixes (and the end); empty frames take none: {:?}",
        gets(&pool)
    );
}

#[test]
fn write_frame_sends_prefix_and_segments_in_one_vectored_write() {
    let pool = pool();
    let bytes = pattern(10, 2 * SEG + SMALL / 2);
    block_on(async {
        let mut writer = Recorder::new(usize::MAX);
        write_frame(&mut writer, frozen(&pool, &bytes))
            .await
            .unwrap();
        assert_eq!(writer.slices, vec![4], "prefix and three segments at once");
        assert_eq!(writer.out[..LENGTH_PREFIX_BYTES], prefix(bytes.len()));
        assert_eq!(writer.out[LENGTH_PREFIX_BYTES..], bytes[..]);
    });
    assert_all_returned(&pool);
}

#[test]
fn write_frame_releases_segments_as_they_are_written() {
    let pool = pool();
    let bytes = pattern(11, 4 * SEG);
    block_on(async {
        let mut writer = Recorder::new(SEG / 2 + 1);
        writer.pool = Some(pool.clone());
        write_frame(&mut writer, frozen(&pool, &bytes))
            .await
            .unwrap();
        assert_eq!(writer.out.len(), LENGTH_PREFIX_BYTES + bytes.len());
        assert_eq!(writer.out[LENGTH_PREFIX_BYTES..], bytes[..]);
        assert_eq!(writer.in_use.first(), Some(&4));
        assert_eq!(writer.in_use.last(), Some(&1), "written segments went back");
        assert!(writer.in_use.windows(2).all(|w| w[1] <= w[0]));
        assert!(writer.slices.iter().all(|&n| n >= 1));
    });
    assert_all_returned(&pool);
}

#[cfg(target_pointer_width = "64")]
#[test]
fn write_frame_refuses_frames_longer_than_a_u32_prefix() {
    /// Claims more bytes than a `u32` counts; never read.
    struct Huge;
    impl Buf for Huge {
        fn remaining(&self) -> usize {
            u32::MAX as usize + 1
        }
        fn chunk(&self) -> &[u8] {
            &[0; 16]
        }
        fn advance(&mut self, _cnt: usize) {
            unreachable!("nothing is written");
        }
    }
    block_on(async {
        let mut out = Vec::new();
        let err = write_frame(&mut out, Huge).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "a frame of 4294967296 bytes does not fit a u32 length prefix"
        );
        assert!(out.is_empty());
    });
}

#[test]
fn write_frame_round_trip_over_duplex() {
    let pool = pool();
    let frames: Vec<Vec<u8>> = frame_lengths(12, if cfg!(miri) { 2 } else { 20 })
        .into_iter()
        .enumerate()
        .map(|(i, len)| pattern(200 + i as u64, len))
        .collect();
    block_on(async {
        // A small pipe: every frame needs many partial writes.
        let (client, server) = tokio::io::duplex(SMALL);
        let writer = {
            let (pool, frames) = (pool.clone(), frames.clone());
            tokio::spawn(async move {
                let mut client = client;
                for frame in &frames {
                    write_frame(&mut client, frozen(&pool, frame))
                        .await
                        .unwrap();
                }
                client.shutdown().await.unwrap();
            })
        };
        let mut reader = FrameReader::new(server, &pool).max_frame_len(4 * SEG);
        for want in &frames {
            let frame = reader.read_frame().await.unwrap().expect("a frame");
            assert_eq!(frame, *want);
        }
        assert!(reader.read_frame().await.unwrap().is_none());
        writer.await.unwrap();
    });
    assert_all_returned(&pool);
}

#[tokio::test]
#[cfg_attr(miri, ignore = "Miri does not run sockets")]
async fn write_frame_round_trip_over_loopback_tcp() {
    use tokio::net::{TcpListener, TcpStream};

    let pool = pool();
    let frames: Vec<Vec<u8>> = frame_lengths(13, 30)
        .into_iter()
        .enumerate()
        .map(|(i, len)| pattern(300 + i as u64, len))
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    // An echo server: each frame is read into a chain and written back.
    let server = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut frames = FrameReader::new(BufReader::new(read), &pool);
            let mut echoed = 0;
            while let Some(frame) = frames.read_frame().await.unwrap() {
                write_frame(&mut write, frame).await.unwrap();
                echoed += 1;
            }
            write.shutdown().await.unwrap();
            echoed
        })
    };

    let socket = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = socket.into_split();
    let sender = {
        let (pool, frames) = (pool.clone(), frames.clone());
        tokio::spawn(async move {
            for frame in &frames {
                write_frame(&mut write, frozen(&pool, frame)).await.unwrap();
            }
            write.shutdown().await.unwrap();
        })
    };
    let mut echoes = FrameReader::new(BufReader::new(read), &pool);
    for want in &frames {
        let echo = echoes.read_frame().await.unwrap().expect("an echo");
        assert_eq!(echo, *want);
    }
    assert!(echoes.read_frame().await.unwrap().is_none());
    sender.await.unwrap();
    assert_eq!(server.await.unwrap(), frames.len());
    drop(echoes);
    assert_all_returned(&pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "Miri does not run the multi-thread runtime here")]
async fn frames_read_on_one_task_are_dropped_on_another() {
    let pool = pool();
    let count = 200;
    let frames: Vec<Vec<u8>> = (0..count)
        .map(|i| pattern(400 + i as u64, (i * 997) % (3 * SEG)))
        .collect();
    let (client, server) = tokio::io::duplex(SEG);
    let writer = {
        let frames = frames.clone();
        tokio::spawn(async move {
            let mut client = client;
            for frame in &frames {
                write_frame(&mut client, &frame[..]).await.unwrap();
            }
            client.shutdown().await.unwrap();
        })
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, SharedChain)>(8);
    let reader = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut frames = FrameReader::new(server, &pool);
            let mut drops = Vec::new();
            let mut i = 0;
            while let Some(frame) = frames.read_frame().await.unwrap() {
                // Half the frames: a clone is dropped on a blocking thread.
                if i % 2 == 0 {
                    let copy = frame.clone();
                    drops.push(tokio::task::spawn_blocking(move || drop(copy)));
                }
                tx.send((i, frame)).await.unwrap();
                i += 1;
            }
            (i, drops)
        })
    };
    let consumer = tokio::spawn(async move {
        let mut seen = 0;
        while let Some((i, mut frame)) = rx.recv().await {
            assert_eq!(frame, frames[i]);
            frame.advance(frame.len() / 2);
            assert_eq!(frame, frames[i][frames[i].len() / 2..]);
            tokio::task::yield_now().await;
            drop(frame);
            seen += 1;
        }
        seen
    });
    writer.await.unwrap();
    let (read, drops) = reader.await.unwrap();
    assert_eq!(read, count);
    for dropped in drops {
        dropped.await.unwrap();
    }
    assert_eq!(consumer.await.unwrap(), count);
    assert_all_returned(&pool);
}

/// Small frames that arrive together are read together: one read brings
/// many frames and the prefixes between them, and the frames are views of
/// one block, with no copy.
#[test]
fn small_frames_share_one_read_and_one_block() {
    let pool = pool();
    // Frames of 1 to 3 bytes (at most 7 bytes each with their prefix), as
    // many as fit one small block.
    let count = ((SMALL - 1) / 7).min(50);
    let frames: Vec<Vec<u8>> = (0..count).map(|i| pattern(i as u64, 1 + i % 3)).collect();
    let encoded = encode(&frames);
    assert!(encoded.len() < SMALL);
    block_on(async {
        let mut trickle = Trickle::new(encoded.clone(), encoded.len());
        trickle.pend = true; // the first poll reads at once
        let mut reader = FrameReader::new(trickle, &pool);
        let mut got = Vec::new();
        while let Some(frame) = reader.read_frame().await.unwrap() {
            got.push(frame);
        }
        assert_eq!(got.len(), frames.len());
        for (got, want) in got.iter().zip(&frames) {
            assert_eq!(*got, *want);
        }
        // One read for every frame, one more that found the end.
        assert_eq!(reader.get_ref().reads, 2);
        let first = got[0].segments().next().unwrap();
        assert!(got
            .iter()
            .all(|frame| frame.segments().all(|s| s.same_block(first))));
        assert_eq!(pool.stats().in_use_bytes(), SMALL as u64);
    });
    // The frames' block, and the one the end of stream was read into (the
    // reader gave its empty block back while the trickle was pending).
    assert_eq!(gets(&pool), vec![2, 0, 0]);
    assert_all_returned(&pool);
}

/// `read_frame` dropped while it waits for bytes loses nothing: the frame
/// being read lives in the reader. A reader that waits between frames
/// holds no pooled memory.
#[test]
fn read_frame_is_cancel_safe_and_idle_readers_hold_nothing() {
    let pool = pool();
    let frames: Vec<Vec<u8>> = [0, 3, SMALL + 5, SEG + 7, 2]
        .iter()
        .enumerate()
        .map(|(i, &len)| pattern(40 + i as u64, len))
        .collect();
    let encoded = encode(&frames);
    block_on(async {
        // Every other poll of the reader is pending; each `read_frame` is
        // polled once and dropped, then called again.
        let mut reader = FrameReader::new(Trickle::new(encoded.clone(), 1000), &pool);
        let mut got = Vec::new();
        let mut cancelled = 0;
        loop {
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let polled = {
                let mut read = std::pin::pin!(reader.read_frame());
                read.as_mut().poll(&mut cx)
            };
            match polled {
                Poll::Ready(frame) => match frame.unwrap() {
                    Some(frame) => got.push(frame.to_vec()),
                    None => break,
                },
                Poll::Pending => cancelled += 1,
            }
        }
        assert_eq!(got, frames);
        assert!(cancelled > 1, "{cancelled} cancelled reads");
    });
    assert_all_returned(&pool);

    // Between frames, a reader whose peer sends nothing holds no block.
    block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut reader = FrameReader::new(server, &pool);
        write_frame(&mut client, &b"hello"[..]).await.unwrap();
        let frame = reader.read_frame().await.unwrap().unwrap();
        assert_eq!(frame, b"hello"[..]);
        drop(frame);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(reader.poll_frame(&mut cx).is_pending());
        assert_eq!(
            pool.stats().in_use_bytes(),
            0,
            "an idle reader holds nothing"
        );
        // Half a prefix: the reader holds the block it is in, and goes on.
        client.write_all(&prefix(3)[..2]).await.unwrap();
        assert!(reader.poll_frame(&mut cx).is_pending());
        assert_eq!(pool.stats().in_use_bytes(), SMALL as u64);
        client.write_all(&prefix(3)[2..]).await.unwrap();
        client.write_all(b"abc").await.unwrap();
        assert_eq!(reader.read_frame().await.unwrap().unwrap(), b"abc"[..]);
    });
    assert_all_returned(&pool);
}

/// A frame longer than the block its prefix came in continues in blocks
/// sized by what has arrived: memory held for a frame stays below twice
/// what its peer sent plus one segment, however large the frame announced.
#[test]
fn frame_blocks_grow_only_with_the_bytes_received() {
    let pool = pool();
    let len = 6 * SEG + 123;
    let frame = pattern(77, len);
    block_on(async {
        let reader = Trickle::new(encode(std::slice::from_ref(&frame)), SEG / 3).watching(&pool);
        let mut frames = FrameReader::new(reader, &pool).max_frame_len(len);
        let got = frames.read_frame().await.unwrap().unwrap();
        assert_eq!(got, frame);
        let over = frames.get_ref().max_over_twice_read;
        assert!(
            over <= SEG as i64,
            "held {over} bytes beyond twice what came"
        );
        assert!(got.segment_count() > 1);
    });
    assert_all_returned(&pool);
}

/// Vectored reads over real sockets (`FrameReader::vectored_reads`): a
/// writer task sends frames up to several segments past the largest tier
/// over a Unix socket pair and a loopback TCP connection (an owned half and
/// a borrowed one), and the reader gets each frame intact, in order.
#[tokio::test]
#[cfg_attr(miri, ignore = "Miri does not run sockets")]
async fn vectored_reads_over_unix_and_tcp_sockets_give_every_frame_intact() {
    use tokio::net::{TcpListener, TcpStream, UnixStream};

    let mut lens = frame_lengths(21, 30);
    lens.extend([LARGEST - 1, 2 * LARGEST + 5 * SEG + 3, 3 * SEG, 1, 0]);
    let frames: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &len)| pattern(500 + i as u64, len))
        .collect();
    let max = lens.iter().copied().max().unwrap();
    let pool = pool();

    async fn send(mut write: impl AsyncWrite + Unpin, frames: Vec<Vec<u8>>) {
        for frame in &frames {
            write_frame(&mut write, &frame[..]).await.unwrap();
        }
        write.shutdown().await.unwrap();
    }
    async fn check<R: AsyncRead + Unpin>(mut frames: FrameReader<R>, want: &[Vec<u8>]) {
        for want in want {
            let frame = frames.read_frame().await.unwrap().expect("a frame");
            assert!(frame == want[..], "a frame of {} bytes differs", want.len());
        }
        assert!(frames.read_frame().await.unwrap().is_none());
    }

    // A Unix socket pair, the owned read half.
    let (client, server) = UnixStream::pair().unwrap();
    let sender = tokio::spawn(send(client, frames.clone()));
    let (read, _write) = server.into_split();
    let reader = FrameReader::new(read, &pool)
        .max_frame_len(max)
        .vectored_reads();
    check(reader, &frames).await;
    sender.await.unwrap();
    assert_all_returned(&pool);

    // Loopback TCP, a borrowed read half.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let sender = tokio::spawn(send(client, frames.clone()));
    let (read, _write) = server.split();
    let reader = FrameReader::new(read, &pool)
        .max_frame_len(max)
        .vectored_reads();
    check(reader, &frames).await;
    sender.await.unwrap();
    assert_all_returned(&pool);
}

/// With vectored reads, a socket peer that announces 1 GiB and sends 10
/// bytes still holds one small block: nothing is taken ahead of bytes
/// received. A thousand such peers hold a thousand small blocks.
#[tokio::test]
#[cfg_attr(miri, ignore = "Miri does not run sockets")]
async fn stalled_socket_peers_announcing_huge_frames_hold_one_small_block_each() {
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::UnixStream;

    let pool = pool();
    let peers = 1000;
    assert_eq!(
        common::raise_descriptor_limit(peers),
        peers,
        "the descriptor limit leaves room for {peers} socket pairs"
    );
    let mut readers = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..peers {
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(&prefix(1 << 30)).await.unwrap();
        client.write_all(&[7; 10]).await.unwrap();
        clients.push(client);
        readers.push(
            FrameReader::new(server, &pool)
                .max_frame_len(2 << 30)
                .vectored_reads(),
        );
    }
    // Poll every reader until each has read its peer's 14 bytes (the
    // runtime's I/O driver runs between rounds).
    for _ in 0..50 {
        for reader in &mut readers {
            let polled = std::future::poll_fn(|cx| Poll::Ready(reader.poll_frame(cx).is_pending()));
            assert!(polled.await, "no frame is complete");
        }
        if pool.stats().in_use_bytes() == (peers * SMALL) as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        pool.stats().in_use_bytes(),
        (peers * SMALL) as u64,
        "one small block per peer"
    );
    drop(readers);
    assert_all_returned(&pool);
}
