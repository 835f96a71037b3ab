//! `FrameReader`'s vectored reads against a scripted reader: the sealed
//! trait can be implemented only here, so these tests can count the reads
//! and the buffers each one was given, and run under Miri (the socket
//! round trips are in `tests/io.rs`).

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::vectored::sealed::Sealed;
use super::{FrameReader, ReadVectored, LENGTH_PREFIX_BYTES};
use crate::Pool;

/// The default tiers, or tiny ones under Miri: a small tier, the segment
/// tier and a larger one.
const TIERS: [usize; 3] = if cfg!(miri) {
    [16, 64, 1024]
} else {
    [4 << 10, 64 << 10, 1 << 20]
};
const SEG: usize = TIERS[1];

fn pool() -> Pool {
    Pool::builder()
        .tiers(TIERS)
        .segment_capacity(SEG)
        .build()
        .expect("a valid configuration")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn encode(lens: &[usize]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut wire = Vec::new();
    let mut frames = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let frame: Vec<u8> = (0..len).map(|j| (j * 31 + i * 7 + j / 251) as u8).collect();
        wire.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        wire.extend_from_slice(&frame);
        frames.push(frame);
    }
    (wire, frames)
}

/// A reader that gives at most `step` bytes per read (across the buffers
/// of a vectored read, in order), answers every other read with `Pending`
/// after waking itself, and then ends the stream, or stalls forever with
/// `stall`. It records its reads, the most buffers one read was given and,
/// with a pool, the most the pool had in use beyond twice the bytes read.
struct Scripted {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    pend: bool,
    stall: bool,
    pool: Option<Pool>,
    reads: usize,
    most_buffers: usize,
    over_twice_read: i64,
}

impl Scripted {
    fn new(data: Vec<u8>, step: usize) -> Self {
        Scripted {
            data,
            pos: 0,
            step,
            pend: false,
            stall: false,
            pool: None,
            reads: 0,
            most_buffers: 0,
            over_twice_read: i64::MIN,
        }
    }

    fn watching(mut self, pool: &Pool) -> Self {
        self.pool = Some(pool.clone());
        self
    }

    /// The next read: `None` for `Pending`, else how many bytes to give.
    fn next_read(&mut self, cx: &mut Context<'_>, buffers: usize, room: usize) -> Option<usize> {
        self.pend = !self.pend;
        let left = self.data.len() - self.pos;
        if self.pend || (left == 0 && self.stall) {
            if !self.stall || left > 0 {
                cx.waker().wake_by_ref();
            }
            return None;
        }
        self.reads += 1;
        self.most_buffers = self.most_buffers.max(buffers);
        if let Some(pool) = &self.pool {
            let in_use = i64::try_from(pool.stats().in_use_bytes()).unwrap();
            let read = i64::try_from(self.pos).unwrap();
            self.over_twice_read = self.over_twice_read.max(in_use - 2 * read);
        }
        Some(self.step.min(left).min(room))
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(n) = self.next_read(cx, 1, buf.remaining()) else {
            return Poll::Pending;
        };
        let pos = self.pos;
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl Sealed for Scripted {
    fn poll_read_spare(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &mut [&mut [MaybeUninit<u8>]],
    ) -> Poll<io::Result<usize>> {
        let room = bufs.iter().map(|buf| buf.len()).sum();
        let Some(n) = self.next_read(cx, bufs.len(), room) else {
            return Poll::Pending;
        };
        let mut left = n;
        for buf in bufs.iter_mut() {
            let take = left.min(buf.len());
            let start = self.pos + n - left;
            for (dst, &src) in buf[..take].iter_mut().zip(&self.data[start..start + take]) {
                dst.write(src);
            }
            left -= take;
        }
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl ReadVectored for Scripted {}

/// Reads every frame of `lens` through `step`-byte reads, vectored or not,
/// checks them, and returns the reader (for its records).
fn read_all(lens: &[usize], step: usize, vectored: bool, pool: &Pool) -> Scripted {
    let (wire, frames) = encode(lens);
    let max = lens.iter().copied().max().unwrap_or(0);
    block_on(async {
        let reader = Scripted::new(wire, step).watching(pool);
        let mut reader = FrameReader::new(reader, pool).max_frame_len(max);
        if vectored {
            reader = reader.vectored_reads();
        }
        for want in &frames {
            let frame = reader.read_frame().await.unwrap().expect("a frame");
            assert_eq!(frame.len(), want.len());
            assert!(frame == want[..], "a frame of {} bytes differs", want.len());
        }
        assert!(reader.read_frame().await.unwrap().is_none());
        assert_eq!(pool.stats().in_use_bytes(), 0, "nothing held after the end");
        reader.into_inner()
    })
}

#[test]
fn vectored_reads_give_the_frames_a_plain_reader_gives() {
    let seg = SEG;
    let lens = [
        0,
        1,
        seg - LENGTH_PREFIX_BYTES,
        seg,
        3 * seg + 17,
        20 * seg + 5,
        5,
        9 * seg,
        40 * seg + 1,
        2,
    ];
    // Under Miri, fewer of them (each costs seconds there).
    let steps: &[usize] = if cfg!(miri) {
        &[seg + 1, usize::MAX]
    } else {
        &[1, 7, seg / 3, seg + 1, 5 * seg, usize::MAX]
    };
    for &step in steps {
        // Reads of a byte or a few, or Miri: the shorter frames only.
        let lens = match step {
            _ if step < 8 => &lens[..4],
            _ if cfg!(miri) => &lens[..7],
            _ => &lens[..],
        };
        let pool = pool();
        let vectored = read_all(lens, step, true, &pool);
        assert!(
            vectored.over_twice_read <= SEG as i64,
            "step {step}: held {} bytes beyond twice what came",
            vectored.over_twice_read
        );
        let plain = read_all(lens, step, false, &pool);
        assert!(
            vectored.reads <= plain.reads,
            "step {step}: {} vectored reads, {} plain",
            vectored.reads,
            plain.reads
        );
    }
}

/// A long frame whose bytes are all there: each vectored read fills as
/// many blocks as the frame has received, so the reads grow geometrically
/// where plain reads take one segment each until a larger tier fits.
#[test]
fn a_long_frame_takes_a_logarithmic_number_of_vectored_reads() {
    let len = 2 * TIERS[2] - 100; // 2 MiB by default, in segments up to 1 MiB
    let pool = pool();
    let vectored = read_all(&[len], usize::MAX, true, &pool);
    let plain = read_all(&[len], usize::MAX, false, &pool);
    eprintln!("vectored {} reads, plain {}", vectored.reads, plain.reads);
    // Blocks of 64 KiB, then 64, 128, 256 and 512 KiB of segments in one
    // read each, then the 1 MiB tier once 1 MiB has arrived; and the read
    // that finds the end.
    assert!(
        vectored.reads <= 8,
        "{} vectored reads of a {len}-byte frame",
        vectored.reads
    );
    assert!(vectored.most_buffers > 4, "{}", vectored.most_buffers);
    assert!(
        plain.reads >= 17,
        "{} plain reads of a {len}-byte frame",
        plain.reads
    );
    assert!(vectored.over_twice_read <= SEG as i64);
}

/// A peer that announces a huge frame and sends a few bytes holds one
/// small block, vectored or not: nothing is taken ahead of bytes received.
#[test]
fn a_stalled_huge_frame_holds_one_small_block_with_vectored_reads() {
    let pool = pool();
    let mut wire = (1u32 << 30).to_be_bytes().to_vec();
    wire.extend_from_slice(&[1; 10]);
    let mut reader = Scripted::new(wire, usize::MAX);
    reader.stall = true;
    let mut frames = FrameReader::new(reader, &pool)
        .max_frame_len(2 << 30)
        .vectored_reads();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..4 {
        assert!(frames.poll_frame(&mut cx).is_pending());
    }
    assert_eq!(frames.get_ref().pos, 14, "the peer's bytes were read");
    assert_eq!(pool.stats().in_use_bytes(), TIERS[0] as u64);
    drop(frames);
    assert_eq!(pool.stats().in_use_bytes(), 0);
}
