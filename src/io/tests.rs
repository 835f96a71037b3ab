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

/// The reference parser of `tests/frame_path.rs`, in short: the bodies
/// of the whole frames of `stream` (frames of at most `max` bytes), and
/// the error after them (`None` for a clean end between frames).
fn reference(stream: &[u8], max: usize) -> (Vec<std::ops::Range<usize>>, Option<io::ErrorKind>) {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let Some((prefix, body)) = stream[pos..].split_first_chunk::<LENGTH_PREFIX_BYTES>() else {
            return (frames, Some(io::ErrorKind::UnexpectedEof));
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > max {
            return (frames, Some(io::ErrorKind::InvalidData));
        }
        if body.len() < len {
            return (frames, Some(io::ErrorKind::UnexpectedEof));
        }
        pos += LENGTH_PREFIX_BYTES;
        frames.push(pos..pos + len);
        pos += len;
    }
    (frames, None)
}

/// Records whether it was woken.
struct WakeFlag(std::sync::atomic::AtomicBool);

impl std::task::Wake for WakeFlag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Polls `future` to completion without a runtime; panics if it returns
/// `Pending` without a wake-up (`Scripted` always wakes itself, so the
/// reader would be waiting for something that never comes).
fn drive<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::atomic::Ordering;
    let mut future = std::pin::pin!(future);
    let flag = std::sync::Arc::new(WakeFlag(false.into()));
    let waker = std::task::Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        assert!(flag.0.load(Ordering::SeqCst), "Pending without a wake-up");
    }
}

/// Vectored reads against the reference: for each seed, frames of mixed
/// lengths (most several segments long, so that reads fill several
/// blocks), sometimes cut short or with a bit of a prefix flipped, a
/// maximum frame length around them, reads of a varying size, and
/// `read_frame` futures polled once with a no-op waker and dropped (the
/// cancel-safety promise). The frames (contents) and the error (kind) must
/// be the reference's, the frames must be intact after the later reads,
/// and nothing may be in use once they and the reader are dropped.
#[test]
fn vectored_reads_match_the_reference() {
    // Tiny tiers, on the heap: the same reads natively and under Miri.
    const SEGMENT: usize = 64;
    let pool = Pool::builder()
        .tiers([16, SEGMENT, 256, 1024])
        .segment_capacity(SEGMENT)
        .backing(crate::Backing::Heap)
        .build()
        .expect("a valid configuration");
    let (seeds, longest) = if cfg!(miri) { (3, 700) } else { (300, 4000) };
    let mut vectored_reads = 0;
    for seed in 0..seeds {
        // xorshift64*, seeded per case.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (seed + 1);
        let mut next = |bound: usize| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
        };
        let lens: Vec<usize> = (0..1 + next(5))
            .map(|_| match next(4) {
                0 => next(10),
                1 => next(4 * SEGMENT),
                _ => next(longest),
            })
            .collect();
        let (mut wire, _) = encode(&lens);
        match next(4) {
            0 => wire.truncate(next(wire.len() + 1)),
            1 => {
                let byte = next(4);
                wire[byte] ^= 1 << next(8);
            }
            _ => {}
        }
        let max = match next(3) {
            0 => lens[next(lens.len())].saturating_sub(next(2)),
            _ => u32::MAX as usize,
        };
        let step = [1, 7, SEGMENT - 1, 3 * SEGMENT, 1000, usize::MAX][next(6)];
        let (want, end) = reference(&wire, max);
        let mut frames = FrameReader::new(Scripted::new(wire.clone(), step), &pool)
            .max_frame_len(max)
            .vectored_reads();
        let mut got = Vec::new();
        let outcome = loop {
            let mut early = None;
            for _ in 0..next(3) {
                let waker = futures::task::noop_waker();
                let mut cx = Context::from_waker(&waker);
                if let Poll::Ready(result) =
                    std::future::Future::poll(std::pin::pin!(frames.read_frame()), &mut cx)
                {
                    early = Some(result);
                    break;
                }
            }
            match early.unwrap_or_else(|| drive(frames.read_frame())) {
                Ok(Some(frame)) => {
                    let i = got.len();
                    let Some(range) = want.get(i) else {
                        panic!("seed {seed}: frame {i} past the reference's {}", want.len());
                    };
                    assert!(
                        frame == wire[range.clone()],
                        "seed {seed}: frame {i} differs"
                    );
                    got.push(frame);
                }
                Ok(None) => break None,
                Err(err) => break Some(err.kind()),
            }
        };
        assert_eq!(
            got.len(),
            want.len(),
            "seed {seed}: frames ({lens:?}, max {max})"
        );
        assert_eq!(outcome, end, "seed {seed}: the end ({lens:?}, max {max})");
        for (i, (frame, range)) in got.iter().zip(&want).enumerate() {
            assert!(
                frame == &wire[range.clone()],
                "seed {seed}: frame {i} changed"
            );
        }
        vectored_reads += usize::from(frames.get_ref().most_buffers > 1);
        drop((frames, got));
        assert_eq!(
            pool.stats().in_use_bytes(),
            0,
            "seed {seed}: in use after drop"
        );
    }
    // The property is about vectored reads: some cases must make them.
    assert!(vectored_reads > 0, "no read filled more than one block");
}
