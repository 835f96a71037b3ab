//! The broker benchmark: does the pool help a real service?
//!
//! A length-prefixed echo broker runs in its own process on loopback, and a
//! load generator (this bench's parent process) drives it over 8 TCP
//! connections. The broker is the same code for every arm; only the way it
//! reads a connection's frames differs:
//!
//! - `tierpool-frames`: the README's recipe, `FrameReader::new(read_half,
//!   &pool).vectored_reads()` on `Pool::new()`: reads ahead into pooled
//!   blocks (several per `readv` inside long frames), frames are
//!   `SharedChain`s of views of them (no `BufReader`, no copy);
//! - `tierpool-frames-plain`: the same without `vectored_reads()`, one
//!   block per read (only with `--arm`);
//! - `tierpool-frames-heap`: the same, from a pool whose blocks are
//!   heap allocations (`Backing::Heap`; `Pool::new()` carves them from
//!   mapped regions on Linux);
//! - `tierpool`: a `BufReader` for the prefix, then `pool.get(len)` filled
//!   in place and frozen (contiguous; only with `--arm`);
//! - `codec`: tokio-util's `FramedRead` with a `LengthDelimitedCodec`, what
//!   a tokio user writes without the pool;
//! - `bytesmut`: a `BufReader` for the prefix, then a fresh
//!   `BytesMut::with_capacity(len)`, frozen;
//! - `vec`: as `bytesmut` with a `Vec` (only with `--arm`).
//!
//! Per connection, the broker's reader task reads each frame and sends it
//! through a bounded channel (8 deep) to the connection's writer task,
//! which writes the prefix and the body back in one vectored write and
//! drops the body. The broker runs on a tokio multi-thread runtime with 2
//! workers and refuses frames above 8 MiB (the sample trace reaches
//! 6.2 MiB). The load generator checks every echo's length and three of
//! its bytes; a mismatch fails the bench. It drives each connection in one
//! of two shapes:
//!
//! - `level`: at most 8 frames ahead of the echoes, echoes read as they
//!   come; the broker holds a few frames per connection, steadily;
//! - `swing`: a slow consumer, up to 32 frames ahead, echoes read for
//!   20 ms then not for 20 ms (connections offset in phase): the broker's
//!   queues fill and drain, so the bytes it holds swing.
//!
//! Every run starts a fresh broker process (the bench binary re-executed
//! with `TIERPOOL_SERVICE_SERVER=<arm>`), so its peak RSS is that arm's
//! alone. Arms alternate within each repetition (`for rep { for arm }`) and
//! every arm replays the same frame sizes (same seed). For each
//! distribution, shape and arm the bench prints the medians over the repetitions:
//!
//! ```text
//! service dist=<name> shape=<name> arm=<name> frames_per_s=<f> cpu_s_per_100k=<f> peak_rss_mib=<f> minor_faults=<n> cpu_range=<min>-<max> rss_range=<min>-<max>
//! ```
//!
//! - `frames_per_s`: frames echoed per second of load-generator wall time,
//!   from the first send to the last echo received;
//! - `cpu_s_per_100k`: the broker's user + system CPU seconds
//!   (`getrusage(RUSAGE_SELF)` at exit) per 100,000 frames;
//! - `peak_rss_mib`: the broker's peak resident set (`VmHWM` in
//!   `/proc/self/status`), in MiB;
//! - `minor_faults`: the broker's minor page faults (`ru_minflt`) per
//!   100,000 frames. Process start-up and the runtime's own faults (a few
//!   thousand) are included, so compare arms, not absolute values;
//! - `cpu_range`, `rss_range`: the smallest and largest repetition.
//!
//! Below each `service` line, a `detail` line gives the payload throughput
//! (MB/s, one direction) and wall time, and for pool arms a `pool` line
//! gives the pool's peak in-use bytes (sampled every 20 ms), the idle bytes
//! it keeps at the end, its hit rate and its oversize allocations. Each
//! distribution and shape ends with `ratio` lines: every arm against
//! `bytesmut` and against `codec` (above 1 means more), the median of the
//! ratios of each repetition's pair of runs and their range
//! (`cpu_per_frame=<median> cpu_per_frame_range=<min>-<max>`, and so for
//! `frames_per_s`, `peak_rss`, `minor_faults`). A margin inside the range
//! is not a result. The lines are also written to
//! `target/tierpool-service/latest.txt` (under `CARGO_TARGET_DIR` when
//! set), which `scripts/bench_table.py --service` renders as a Markdown
//! table.
//!
//! Frame size distributions:
//!
//! - `loguniform`: log-uniform from 100 B to 2 MiB;
//! - `small`: log-uniform from 100 B to 64 KiB;
//! - `trace`: drawn from a size trace, one `SIZE` or `SIZE COUNT` per line
//!   with `#` comments: `examples/sizes.trace` unless `TIERPOOL_TRACE`
//!   names another file.
//!
//! Run (Linux only: the broker measures itself through `/proc` and
//! `getrusage`):
//!
//! ```sh
//! cargo bench --features tokio --bench service              # every distribution and shape, the default arms, 3 repetitions
//! cargo bench --features tokio --bench service -- --quick   # fewer frames per run, still 3 repetitions
//! cargo bench --features tokio --bench service -- --dist loguniform --shape swing --arm tierpool-frames,codec --reps 5
//! ```
//!
//! Options: `--quick`, `--dist NAME`, `--shape NAME` and `--arm NAME`
//! (repeatable, or comma-separated), `--reps N` (at least 1; default 3),
//! `--frames N` (frames per run, for every distribution). Other arguments
//! (such as the `--bench` cargo passes) are ignored. Every run is bounded
//! by its frame count and by a 10-minute timeout; the broker exits by
//! itself once the load generator closes its connections, or if none
//! connects.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, BufRead as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_core::Stream as _;
use tierpool::{Backing, Pool};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// Connections between the load generator and the broker.
const CONNECTIONS: usize = 8;
/// Worker threads of each runtime (the machine this was tuned on has 2 cores).
const WORKER_THREADS: usize = 2;
/// Depth of the channel from a connection's reader task to its writer task.
const CHANNEL_DEPTH: usize = 8;
/// Frames per connection the load generator sends ahead of the echoes
/// (`level` shape).
const IN_FLIGHT: usize = 8;
/// The same in the `swing` shape, where the broker's queues fill.
const SWING_IN_FLIGHT: usize = 32;
/// In the `swing` shape, how long each connection's reading side reads
/// echoes, then pauses; connections are offset in phase.
const SWING_READ: Duration = Duration::from_millis(20);
const SWING_PAUSE: Duration = Duration::from_millis(20);
/// The broker's read buffer; larger reads go straight into the body buffer.
const READ_BUFFER: usize = 16 << 10;
/// The load generator's read buffer and the chunk it checks echoes in.
const LOAD_READ_BUFFER: usize = 64 << 10;
/// The longest frame body the broker accepts.
const MAX_FRAME: usize = 8 << 20;
/// Seed of the frame sizes, the same for every arm.
const SEED: u64 = 0x7469_6572_706f_6f6c;
/// Bound on one run, in the broker and in the load generator.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the broker waits for each connection, and the bench for the
/// broker's address and its report.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the broker samples its pool's in-use bytes.
const POOL_SAMPLE_PERIOD: Duration = Duration::from_millis(20);
/// Repetitions unless `--reps` says otherwise.
const DEFAULT_REPS: usize = 3;
/// Set in the broker process's environment to the arm it serves.
const SERVER_ENV: &str = "TIERPOOL_SERVICE_SERVER";

type Error = Box<dyn StdError + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let outcome = match std::env::var(SERVER_ENV) {
        Ok(arm) => Arm::from_name(&arm)
            .ok_or_else(|| Error::from(format!("{SERVER_ENV}={arm}: unknown arm")))
            .and_then(run_server),
        Err(_) => run_bench(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("service bench: {err}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Arms: how the broker obtains a frame body.

/// One way of reading a connection's frames.
///
/// Adding an arm: a variant here, its entry in `ALL` and `name` (and
/// `uses_pool` if it has a pool, `DEFAULT` if it runs unless named), a
/// [`Framing`] implementation, and its line in the `match` of
/// [`run_server`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arm {
    /// The README's recipe: `FrameReader::new(read_half,
    /// &pool).vectored_reads()` on `Pool::new()`, frames as `SharedChain`s
    /// of views of its read blocks.
    TierpoolFrames,
    /// As `TierpoolFrames`, without vectored reads.
    TierpoolFramesPlain,
    /// As `TierpoolFrames`, with heap-backed blocks.
    TierpoolFramesHeap,
    /// `pool.get(len)` behind a `BufReader`, filled in place, frozen.
    Tierpool,
    /// tokio-util's `FramedRead` with a `LengthDelimitedCodec`.
    Codec,
    /// A fresh `BytesMut::with_capacity(len)` behind a `BufReader`, frozen.
    BytesMut,
    /// A fresh `Vec::with_capacity(len)` behind a `BufReader`.
    Vec,
}

impl Arm {
    /// Every arm, in the order runs alternate through them.
    const ALL: &'static [Arm] = &[
        Arm::TierpoolFrames,
        Arm::TierpoolFramesPlain,
        Arm::TierpoolFramesHeap,
        Arm::Tierpool,
        Arm::Codec,
        Arm::BytesMut,
        Arm::Vec,
    ];
    /// The arms that run unless `--arm` names others.
    const DEFAULT: &'static [Arm] = &[
        Arm::TierpoolFrames,
        Arm::TierpoolFramesHeap,
        Arm::Codec,
        Arm::BytesMut,
    ];
    /// The arms the others are compared with.
    const BASELINES: &'static [Arm] = &[Arm::BytesMut, Arm::Codec];

    fn name(self) -> &'static str {
        match self {
            Arm::TierpoolFrames => "tierpool-frames",
            Arm::TierpoolFramesPlain => "tierpool-frames-plain",
            Arm::TierpoolFramesHeap => "tierpool-frames-heap",
            Arm::Tierpool => "tierpool",
            Arm::Codec => "codec",
            Arm::BytesMut => "bytesmut",
            Arm::Vec => "vec",
        }
    }

    fn from_name(name: &str) -> Option<Arm> {
        Arm::ALL.iter().copied().find(|arm| arm.name() == name)
    }

    /// Whether the broker reports pool statistics for this arm.
    fn uses_pool(self) -> bool {
        matches!(
            self,
            Arm::TierpoolFrames
                | Arm::TierpoolFramesPlain
                | Arm::TierpoolFramesHeap
                | Arm::Tierpool
        )
    }
}

/// How one arm reads a connection's frames: the only code that differs
/// between arms (the writer side is common).
trait Framing: Send + Sync + 'static {
    /// A frame's body, handed to the connection's writer task.
    type Body: Buf + Send + 'static;
    /// What reads a connection's frames.
    type Reader: Send + 'static;

    fn reader(&self, read_half: OwnedReadHalf) -> Self::Reader;

    /// The next frame's body; `None` when the peer closed between frames.
    fn next_frame(
        &self,
        reader: &mut Self::Reader,
    ) -> impl Future<Output = io::Result<Option<Self::Body>>> + Send;
}

/// The `tierpool-frames` arms: `tierpool::io::FrameReader` on the socket,
/// with vectored reads or not.
struct PooledFrames {
    pool: Pool,
    vectored: bool,
}

impl Framing for PooledFrames {
    type Body = tierpool::SharedChain;
    type Reader = tierpool::io::FrameReader<OwnedReadHalf>;

    fn reader(&self, read_half: OwnedReadHalf) -> Self::Reader {
        let reader = tierpool::io::FrameReader::new(read_half, &self.pool).max_frame_len(MAX_FRAME);
        if self.vectored {
            reader.vectored_reads()
        } else {
            reader
        }
    }

    async fn next_frame(&self, reader: &mut Self::Reader) -> io::Result<Option<Self::Body>> {
        reader.read_frame().await
    }
}

/// The `codec` arm: tokio-util's `FramedRead` + `LengthDelimitedCodec`
/// (4-byte big-endian length, not counting itself, as here).
struct CodecFrames;

impl Framing for CodecFrames {
    type Body = Bytes;
    type Reader = FramedRead<OwnedReadHalf, LengthDelimitedCodec>;

    fn reader(&self, read_half: OwnedReadHalf) -> Self::Reader {
        let codec = LengthDelimitedCodec::builder()
            .max_frame_length(MAX_FRAME)
            .new_codec();
        FramedRead::new(read_half, codec)
    }

    async fn next_frame(&self, reader: &mut Self::Reader) -> io::Result<Option<Self::Body>> {
        let next = std::future::poll_fn(|cx| Pin::new(&mut *reader).poll_next(cx)).await;
        next.transpose().map(|frame| frame.map(BytesMut::freeze))
    }
}

/// The arms that read the prefix themselves through a `BufReader` and only
/// differ in how they obtain the body buffer.
struct Prefixed<S>(S);

impl<S: BodySource> Framing for Prefixed<S> {
    type Body = S::Body;
    type Reader = BufReader<OwnedReadHalf>;

    fn reader(&self, read_half: OwnedReadHalf) -> Self::Reader {
        BufReader::with_capacity(READ_BUFFER, read_half)
    }

    async fn next_frame(&self, reader: &mut Self::Reader) -> io::Result<Option<Self::Body>> {
        match read_frame_len(reader).await? {
            Some(len) => self.0.read_body(reader, len).await.map(Some),
            None => Ok(None),
        }
    }
}

/// How a [`Prefixed`] arm obtains and fills the buffer for one frame body.
trait BodySource: Send + Sync + 'static {
    /// The filled, immutable body handed to the connection's writer task.
    type Body: Buf + Send + 'static;

    /// Reads exactly `len` bytes of body from `reader`.
    fn read_body(
        &self,
        reader: &mut BufReader<OwnedReadHalf>,
        len: usize,
    ) -> impl Future<Output = io::Result<Self::Body>> + Send;
}

/// The `tierpool` arm: one contiguous pooled buffer per frame.
struct PooledBodies(Pool);

impl BodySource for PooledBodies {
    type Body = tierpool::SharedBuf;

    async fn read_body(
        &self,
        reader: &mut BufReader<OwnedReadHalf>,
        len: usize,
    ) -> io::Result<Self::Body> {
        let mut body = self.0.get(len);
        read_exactly(reader, &mut body, len).await?;
        Ok(body.freeze())
    }
}

/// The `bytesmut` arm: a fresh `BytesMut` per frame.
struct BytesMutBodies;

impl BodySource for BytesMutBodies {
    type Body = Bytes;

    async fn read_body(
        &self,
        reader: &mut BufReader<OwnedReadHalf>,
        len: usize,
    ) -> io::Result<Self::Body> {
        let mut body = BytesMut::with_capacity(len);
        read_exactly(reader, &mut body, len).await?;
        Ok(body.freeze())
    }
}

/// The `vec` arm: a fresh `Vec` per frame.
struct VecBodies;

impl BodySource for VecBodies {
    type Body = Bytes;

    async fn read_body(
        &self,
        reader: &mut BufReader<OwnedReadHalf>,
        len: usize,
    ) -> io::Result<Self::Body> {
        let mut body = Vec::with_capacity(len);
        read_exactly(reader, &mut body, len).await?;
        Ok(Bytes::from(body))
    }
}

/// Appends exactly `len` bytes from `reader` to `buf` with `read_buf`,
/// never reading past the frame.
async fn read_exactly<B: BufMut>(
    reader: &mut BufReader<OwnedReadHalf>,
    buf: &mut B,
    len: usize,
) -> io::Result<()> {
    let mut remaining = len;
    while remaining > 0 {
        let read = reader.read_buf(&mut (&mut *buf).limit(remaining)).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed {remaining} bytes before the end of a {len}-byte frame"),
            ));
        }
        remaining -= read;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The broker process.

/// Serves one arm until the load generator's connections close, then
/// reports its resource use on stdout.
fn run_server(arm: Arm) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    let pool = match arm {
        Arm::TierpoolFramesHeap => Pool::builder().backing(Backing::Heap).build()?,
        _ => Pool::new(),
    };
    let watched = arm.uses_pool().then(|| pool.clone());
    let served = runtime.block_on(async {
        let serving = async {
            match arm {
                Arm::TierpoolFrames | Arm::TierpoolFramesPlain | Arm::TierpoolFramesHeap => {
                    let vectored = arm != Arm::TierpoolFramesPlain;
                    serve(
                        PooledFrames {
                            pool: pool.clone(),
                            vectored,
                        },
                        watched,
                    )
                    .await
                }
                Arm::Tierpool => serve(Prefixed(PooledBodies(pool.clone())), watched).await,
                Arm::Codec => serve(CodecFrames, watched).await,
                Arm::BytesMut => serve(Prefixed(BytesMutBodies), watched).await,
                Arm::Vec => serve(Prefixed(VecBodies), watched).await,
            }
        };
        timeout(RUN_TIMEOUT, serving)
            .await
            .map_err(|_| format!("broker: not done after {RUN_TIMEOUT:?}"))?
    })?;
    drop(runtime);

    let usage = ProcessUsage::read()?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "result frames={} cpu_s={:.6} peak_rss_kib={} minor_faults={}",
        served.frames, usage.cpu_s, usage.peak_rss_kib, usage.minor_faults
    )?;
    if arm.uses_pool() {
        let stats = pool.stats();
        writeln!(
            out,
            "pool peak_in_use_bytes={} in_use_bytes={} cached_bytes={} hit_rate={:.6} oversize_allocations={}",
            served.peak_pool_in_use,
            stats.in_use_bytes(),
            stats.cached_bytes(),
            stats.hit_rate(),
            stats.oversize.allocations
        )?;
    }
    writeln!(out, "done")?;
    out.flush()?;
    Ok(())
}

/// What the broker served.
struct Served {
    frames: u64,
    peak_pool_in_use: u64,
}

/// Binds an ephemeral loopback port, prints it, accepts the load
/// generator's connections and serves them until all of them close.
async fn serve<F: Framing>(framing: F, watched: Option<Pool>) -> Result<Served> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening {}", listener.local_addr()?)?;
        out.flush()?;
    }

    let peak_pool_in_use = Arc::new(AtomicU64::new(0));
    let sampler = watched.map(|pool| {
        let peak = Arc::clone(&peak_pool_in_use);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(POOL_SAMPLE_PERIOD);
            loop {
                ticks.tick().await;
                peak.fetch_max(pool.stats().in_use_bytes(), Ordering::Relaxed);
            }
        })
    });

    let framing = Arc::new(framing);
    let mut connections = JoinSet::new();
    for accepted in 0..CONNECTIONS {
        let (stream, _) = timeout(START_TIMEOUT, listener.accept())
            .await
            .map_err(|_| {
                format!("broker: {accepted} of {CONNECTIONS} connections after {START_TIMEOUT:?}")
            })??;
        stream.set_nodelay(true)?;
        connections.spawn(serve_connection(stream, Arc::clone(&framing)));
    }
    drop(listener);

    let mut frames = 0;
    while let Some(joined) = connections.join_next().await {
        frames += joined??;
    }
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    Ok(Served {
        frames,
        peak_pool_in_use: peak_pool_in_use.load(Ordering::Relaxed),
    })
}

/// Echoes one connection's frames until it closes; returns the frame count.
async fn serve_connection<F: Framing>(stream: TcpStream, framing: Arc<F>) -> Result<u64> {
    let (read_half, mut write_half) = stream.into_split();
    let (bodies, mut queued) = mpsc::channel::<F::Body>(CHANNEL_DEPTH);
    let writer = tokio::spawn(async move {
        while let Some(body) = queued.recv().await {
            let header = frame_header(body.remaining())?;
            // Prefix and body in one vectored write.
            let mut frame = Buf::chain(&header[..], body);
            write_half.write_all_buf(&mut frame).await?;
        }
        write_half.shutdown().await
    });

    let mut reader = framing.reader(read_half);
    let mut frames = 0;
    let read = async {
        while let Some(body) = framing.next_frame(&mut reader).await? {
            if bodies.send(body).await.is_err() {
                break; // the writer failed; its error is reported below
            }
            frames += 1;
        }
        Ok::<_, io::Error>(())
    }
    .await;
    drop(bodies);
    let written = writer.await?;
    read?;
    written?;
    Ok(frames)
}

/// Reads a frame's length prefix; `None` when the peer closed between
/// frames.
async fn read_frame_len(reader: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<usize>> {
    if reader.fill_buf().await?.is_empty() {
        return Ok(None);
    }
    let len = reader.read_u32().await? as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes, the limit is {MAX_FRAME}"),
        ));
    }
    Ok(Some(len))
}

/// The 4-byte big-endian length prefix of a frame.
fn frame_header(len: usize) -> io::Result<[u8; 4]> {
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))
}

/// The broker's own resource use.
struct ProcessUsage {
    cpu_s: f64,
    minor_faults: u64,
    peak_rss_kib: u64,
}

impl ProcessUsage {
    #[cfg(target_os = "linux")]
    fn read() -> Result<ProcessUsage> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` is valid for writes of a `rusage`, which
        // `getrusage` fills on success.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error().into());
        }
        // SAFETY: `getrusage` succeeded, and an all-zero `rusage` (integers
        // only) is valid anyway.
        let usage = unsafe { usage.assume_init() };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;

        let status = fs::read_to_string("/proc/self/status")?;
        let peak_rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or("no VmHWM in /proc/self/status")?;
        Ok(ProcessUsage {
            cpu_s: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            minor_faults: usage.ru_minflt as u64,
            peak_rss_kib,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn read() -> Result<ProcessUsage> {
        Err("the service bench measures the broker through /proc: Linux only".into())
    }
}

// ---------------------------------------------------------------------------
// Frame sizes.

/// SplitMix64: a small, fast, deterministic generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A frame size distribution.
enum Distribution {
    /// Log-uniform between two sizes, inclusive.
    LogUniform {
        name: &'static str,
        min: usize,
        max: usize,
    },
    /// Sizes drawn with the weights of a trace.
    Trace {
        /// `(running count, size)`, the running count increasing.
        cumulative: Vec<(u64, usize)>,
    },
}

impl Distribution {
    const NAMES: [&'static str; 3] = ["loguniform", "small", "trace"];

    fn load(name: &str) -> Result<Distribution> {
        match name {
            "loguniform" => Ok(Distribution::LogUniform {
                name: "loguniform",
                min: 100,
                max: 2 << 20,
            }),
            "small" => Ok(Distribution::LogUniform {
                name: "small",
                min: 100,
                max: 64 << 10,
            }),
            "trace" => {
                let path = trace_path();
                Distribution::read_trace(&path)
                    .map_err(|err| format!("trace {}: {err}", path.display()).into())
            }
            _ => Err(format!(
                "unknown distribution {name:?} (known: {})",
                Distribution::NAMES.join(", ")
            )
            .into()),
        }
    }

    /// Reads a trace: one `SIZE` or `SIZE COUNT` per line, `#` comments.
    fn read_trace(path: &Path) -> Result<Distribution> {
        let file = File::open(path)?;
        let mut cumulative = Vec::new();
        let mut running = 0u64;
        for (index, line) in io::BufReader::new(file).lines().enumerate() {
            let line = line?;
            let fields: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let (size, count) = match fields[..] {
                [] => continue,
                [size] => (size, "1"),
                [size, count] => (size, count),
                _ => {
                    return Err(
                        format!("line {}: expected `SIZE` or `SIZE COUNT`", index + 1).into(),
                    )
                }
            };
            let bad = |what: &str| format!("line {}: bad {what}", index + 1);
            let size: usize = size.parse().map_err(|_| bad("size"))?;
            let count: u64 = count.parse().map_err(|_| bad("count"))?;
            if size > MAX_FRAME {
                return Err(format!(
                    "line {}: {size} bytes is above the broker's {MAX_FRAME}-byte limit",
                    index + 1
                )
                .into());
            }
            if count > 0 {
                running = running
                    .checked_add(count)
                    .ok_or_else(|| bad("count (total overflows)"))?;
                cumulative.push((running, size));
            }
        }
        if cumulative.is_empty() {
            return Err("no sizes".into());
        }
        Ok(Distribution::Trace { cumulative })
    }

    fn name(&self) -> &'static str {
        match self {
            Distribution::LogUniform { name, .. } => name,
            Distribution::Trace { .. } => "trace",
        }
    }

    /// Frames per run, full and quick: on the 2-core machine this was tuned
    /// on (loopback echoes 1.5–2.5 GB/s there), a full run lasts about 15 s
    /// and a quick one about 3–4 s. A trace given in `TIERPOOL_TRACE` gets
    /// the `trace` counts; `--frames` overrides them all.
    fn frames(&self, quick: bool) -> u64 {
        let (full, quick_frames) = match self.name() {
            "loguniform" => (160_000, 40_000),
            "small" => (3_000_000, 600_000),
            _ => (1_000_000, 250_000),
        };
        if quick {
            quick_frames
        } else {
            full
        }
    }

    fn max_size(&self) -> usize {
        match self {
            Distribution::LogUniform { max, .. } => *max,
            Distribution::Trace { cumulative } => {
                cumulative.iter().map(|&(_, size)| size).max().unwrap_or(0)
            }
        }
    }

    fn sample(&self, rng: &mut SplitMix64) -> usize {
        match self {
            Distribution::LogUniform { min, max, .. } => {
                let (low, high) = ((*min as f64).ln(), (*max as f64).ln());
                let size = (low + rng.next_f64() * (high - low)).exp().round() as usize;
                size.clamp(*min, *max)
            }
            Distribution::Trace { cumulative } => {
                let total = cumulative.last().map_or(1, |&(running, _)| running);
                let pick = rng.next_u64() % total;
                cumulative[cumulative.partition_point(|&(running, _)| running <= pick)].1
            }
        }
    }
}

/// The trace of the `trace` distribution.
fn trace_path() -> PathBuf {
    match std::env::var_os("TIERPOOL_TRACE") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join("sizes.trace"),
    }
}

/// The frame sizes one connection sends, in order (the same for every arm).
struct FrameSizes {
    distribution: Arc<Distribution>,
    rng: SplitMix64,
}

impl FrameSizes {
    fn new(distribution: Arc<Distribution>, connection: usize) -> Self {
        let stream = (connection as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        FrameSizes {
            distribution,
            rng: SplitMix64(SEED ^ stream),
        }
    }

    fn next_size(&mut self) -> usize {
        self.distribution.sample(&mut self.rng)
    }
}

// ---------------------------------------------------------------------------
// The load generator (runs in the bench's parent process).

/// The payload pattern: byte `i` is `i % 256`. Frame `n` is the slice
/// starting at `pattern_offset(n)`, so its byte `i` is
/// `(pattern_offset(n) + i) % 256`.
fn payload_pattern(max_size: usize) -> Bytes {
    (0..max_size + 256)
        .map(|i| i as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn pattern_offset(frame: u64) -> usize {
    (frame.wrapping_mul(7) % 256) as usize
}

/// How the load generator drives each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// At most `IN_FLIGHT` frames ahead, echoes read as fast as they come:
    /// the broker holds a few frames per connection, steadily.
    Level,
    /// A slow consumer: up to `SWING_IN_FLIGHT` frames ahead, and the
    /// echoes read for `SWING_READ`, then not for `SWING_PAUSE`. While a
    /// connection pauses, the broker's writer blocks, its queue of
    /// `CHANNEL_DEPTH` frames fills and its reader stalls; then it all
    /// drains. The bytes the broker holds swing between a few frames and
    /// the full queues of the connections in pause.
    Swing,
}

impl Shape {
    const ALL: &'static [Shape] = &[Shape::Level, Shape::Swing];

    fn name(self) -> &'static str {
        match self {
            Shape::Level => "level",
            Shape::Swing => "swing",
        }
    }

    fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL
            .iter()
            .copied()
            .find(|shape| shape.name() == name)
    }

    fn in_flight(self) -> usize {
        match self {
            Shape::Level => IN_FLIGHT,
            Shape::Swing => SWING_IN_FLIGHT,
        }
    }
}

/// What the load generator measured.
struct Load {
    frames: u64,
    bytes: u64,
    wall: Duration,
}

/// Connects to the broker, sends `frames` frames over the connections and
/// checks every echo.
async fn generate_load(
    addr: SocketAddr,
    distribution: Arc<Distribution>,
    pattern: Bytes,
    frames: u64,
    shape: Shape,
) -> Result<Load> {
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }

    let start = Instant::now();
    let mut connections = JoinSet::new();
    for (connection, stream) in streams.into_iter().enumerate() {
        let share = frames / CONNECTIONS as u64
            + u64::from((connection as u64) < frames % CONNECTIONS as u64);
        connections.spawn(drive_connection(
            stream,
            connection,
            share,
            Arc::clone(&distribution),
            pattern.clone(),
            shape,
        ));
    }
    let mut bytes = 0;
    while let Some(joined) = connections.join_next().await {
        bytes += joined??;
    }
    Ok(Load {
        frames,
        bytes,
        wall: start.elapsed(),
    })
}

/// Sends one connection's frames from a writer task, at most the shape's
/// in-flight count ahead of the echoes, and reads and checks the echoes
/// (pausing as the shape says); returns the payload bytes echoed.
async fn drive_connection(
    stream: TcpStream,
    connection: usize,
    frames: u64,
    distribution: Arc<Distribution>,
    pattern: Bytes,
    shape: Shape,
) -> Result<u64> {
    let (read_half, mut write_half) = stream.into_split();
    let window = Arc::new(Semaphore::new(shape.in_flight()));

    let mut sizes = FrameSizes::new(Arc::clone(&distribution), connection);
    let send_window = Arc::clone(&window);
    let writer = tokio::spawn(async move {
        for frame in 0..frames {
            let len = sizes.next_size();
            send_window.acquire().await?.forget();
            let offset = pattern_offset(frame);
            let header = frame_header(len)?;
            let mut frame = Buf::chain(&header[..], pattern.slice(offset..offset + len));
            write_half.write_all_buf(&mut frame).await?;
        }
        write_half.shutdown().await?;
        Ok::<_, Error>(())
    });

    let mut reader = BufReader::with_capacity(LOAD_READ_BUFFER, read_half);
    let mut expected = FrameSizes::new(distribution, connection);
    let echoed = async {
        let mut scratch = vec![0; LOAD_READ_BUFFER];
        let mut bytes = 0;
        // Connection `i` first pauses `i / CONNECTIONS` of a period in.
        let period = SWING_READ + SWING_PAUSE;
        let mut pause_at = Instant::now() + period * connection as u32 / CONNECTIONS as u32;
        for frame in 0..frames {
            if shape == Shape::Swing && Instant::now() >= pause_at {
                tokio::time::sleep(SWING_PAUSE).await;
                pause_at = Instant::now() + SWING_READ;
            }
            let want = expected.next_size();
            let len = reader.read_u32().await? as usize;
            if len != want {
                return Err(format!(
                    "connection {connection}, frame {frame}: echoed length {len}, sent {want}"
                )
                .into());
            }
            check_echo(&mut reader, &mut scratch, frame, len)
                .await
                .map_err(|err| format!("connection {connection}, frame {frame}: {err}"))?;
            window.add_permits(1);
            bytes += len as u64;
        }
        if reader.read(&mut scratch[..1]).await? != 0 {
            return Err(format!("connection {connection}: data after the last echo").into());
        }
        Ok::<_, Error>(bytes)
    }
    .await;
    if echoed.is_err() {
        window.close(); // stops the writer if it waits for the window
    }
    let sent = writer.await?;
    let bytes = echoed?;
    sent?;
    Ok(bytes)
}

/// Reads a `len`-byte echo body in chunks and checks its first, middle and
/// last bytes against the pattern.
async fn check_echo(
    reader: &mut BufReader<OwnedReadHalf>,
    scratch: &mut [u8],
    frame: u64,
    len: usize,
) -> Result<()> {
    let probes = [0, len / 2, len.saturating_sub(1)];
    let base = pattern_offset(frame);
    let mut done = 0;
    while done < len {
        let chunk = (len - done).min(scratch.len());
        reader.read_exact(&mut scratch[..chunk]).await?;
        for &probe in &probes {
            if (done..done + chunk).contains(&probe) {
                let (got, want) = (scratch[probe - done], (base + probe) as u8);
                if got != want {
                    return Err(
                        format!("byte {probe} of {len} is {got:#04x}, sent {want:#04x}").into(),
                    );
                }
            }
        }
        done += chunk;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The bench: runs, medians, report.

/// Command-line options.
struct Options {
    quick: bool,
    distributions: Vec<String>,
    shapes: Vec<Shape>,
    arms: Vec<Arm>,
    reps: usize,
    frames: Option<u64>,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut options = Options {
            quick: false,
            distributions: Vec::new(),
            shapes: Vec::new(),
            arms: Vec::new(),
            reps: DEFAULT_REPS,
            frames: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--dist" => {
                    for name in value("--dist")?.split(',') {
                        Distribution::load(name)?; // reject unknown names before any run
                        options.distributions.push(name.to_owned());
                    }
                }
                "--shape" => {
                    for name in value("--shape")?.split(',') {
                        let shape = Shape::from_name(name).ok_or_else(|| {
                            format!("unknown shape {name:?} (known: level, swing)")
                        })?;
                        options.shapes.push(shape);
                    }
                }
                "--arm" => {
                    for name in value("--arm")?.split(',') {
                        let arm = Arm::from_name(name).ok_or_else(|| {
                            let known: Vec<_> = Arm::ALL.iter().map(|arm| arm.name()).collect();
                            format!("unknown arm {name:?} (known: {})", known.join(", "))
                        })?;
                        options.arms.push(arm);
                    }
                }
                "--reps" => {
                    options.reps = value("--reps")?
                        .parse()
                        .map_err(|_| "--reps needs a number")?;
                    if options.reps == 0 {
                        return Err("--reps must be at least 1".into());
                    }
                }
                "--frames" => {
                    let frames: u64 = value("--frames")?
                        .parse()
                        .map_err(|_| "--frames needs a number")?;
                    if frames < CONNECTIONS as u64 {
                        return Err(format!("--frames must be at least {CONNECTIONS}").into());
                    }
                    options.frames = Some(frames);
                }
                _ => {} // `--bench` from cargo, filters meant for other benches
            }
        }
        if options.distributions.is_empty() {
            options.distributions = Distribution::NAMES
                .iter()
                .map(|&name| name.to_owned())
                .collect();
        }
        if options.shapes.is_empty() {
            options.shapes = Shape::ALL.to_vec();
        }
        options.shapes.dedup();
        if options.arms.is_empty() {
            options.arms = Arm::DEFAULT.to_vec();
        }
        options
            .arms
            .sort_by_key(|arm| Arm::ALL.iter().position(|a| a == arm));
        options.arms.dedup();
        Ok(options)
    }
}

/// The measurements of one run.
struct RunResult {
    frames_per_s: f64,
    mb_per_s: f64,
    wall_s: f64,
    cpu_s: f64,
    cpu_s_per_100k: f64,
    peak_rss_mib: f64,
    minor_faults_per_100k: f64,
    pool: Option<PoolSummary>,
}

/// The broker's pool at the end of a run (pool arms only).
struct PoolSummary {
    peak_in_use_mib: f64,
    cached_mib: f64,
    hit_rate: f64,
    oversize_allocations: f64,
}

fn run_bench() -> Result<()> {
    let options = Options::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    let mut results_file = ResultsFile::create(&options)?;
    println!(
        "service bench: {} distribution(s) x {} arm(s) x {} repetition(s){}; results also in {}",
        options.distributions.len(),
        options.arms.len(),
        options.reps,
        if options.quick { ", quick" } else { "" },
        results_file.path.display()
    );

    for name in &options.distributions {
        let distribution = Arc::new(Distribution::load(name)?);
        let frames = options
            .frames
            .unwrap_or_else(|| distribution.frames(options.quick));
        let pattern = payload_pattern(distribution.max_size());
        for &shape in &options.shapes {
            let label = format!("dist={name} shape={}", shape.name());
            let mut runs: Vec<(Arm, RunResult)> = Vec::new();
            for rep in 1..=options.reps {
                for &arm in &options.arms {
                    let result = run_once(&runtime, arm, &distribution, &pattern, frames, shape)
                        .map_err(|err| format!("{label} arm={} rep={rep}: {err}", arm.name()))?;
                    println!(
                    "run {label} arm={} rep={rep}/{} frames={frames} wall_s={:.2} frames_per_s={:.1} mb_per_s={:.1} cpu_s={:.2} peak_rss_mib={:.1} minor_faults={:.0}",
                    arm.name(),
                    options.reps,
                    result.wall_s,
                    result.frames_per_s,
                    result.mb_per_s,
                    result.cpu_s,
                    result.peak_rss_mib,
                    result.minor_faults_per_100k,
                );
                    runs.push((arm, result));
                }
            }
            let report = summarize(&label, &options.arms, options.reps, &runs);
            print!("{report}");
            results_file.append(&report)?;
        }
    }
    Ok(())
}

/// Starts a broker for `arm`, drives it with the load generator, and
/// collects both sides' measurements.
fn run_once(
    runtime: &tokio::runtime::Runtime,
    arm: Arm,
    distribution: &Arc<Distribution>,
    pattern: &Bytes,
    frames: u64,
    shape: Shape,
) -> Result<RunResult> {
    let mut broker = Broker::start(arm)?;
    let addr: SocketAddr = broker
        .expect_line("listening", START_TIMEOUT)?
        .parse()
        .map_err(|err| format!("broker address: {err}"))?;
    let load = runtime
        .block_on(async {
            let load = generate_load(
                addr,
                Arc::clone(distribution),
                pattern.clone(),
                frames,
                shape,
            );
            timeout(RUN_TIMEOUT, load).await
        })
        .map_err(|_| format!("load generator: not done after {RUN_TIMEOUT:?}"))??;

    let report = parse_fields(&broker.expect_line("result", START_TIMEOUT)?)?;
    let pool = if arm.uses_pool() {
        let fields = parse_fields(&broker.expect_line("pool", START_TIMEOUT)?)?;
        Some(PoolSummary {
            peak_in_use_mib: field(&fields, "peak_in_use_bytes")? / MIB,
            cached_mib: field(&fields, "cached_bytes")? / MIB,
            hit_rate: field(&fields, "hit_rate")?,
            oversize_allocations: field(&fields, "oversize_allocations")?,
        })
    } else {
        None
    };
    broker.expect_line("done", START_TIMEOUT)?;
    broker.wait(START_TIMEOUT)?;

    let served = field(&report, "frames")?;
    if served != load.frames as f64 {
        return Err(format!(
            "the broker served {served} frames, the load generator sent {}",
            load.frames
        )
        .into());
    }
    let frames = load.frames as f64;
    let wall_s = load.wall.as_secs_f64();
    let cpu_s = field(&report, "cpu_s")?;
    Ok(RunResult {
        frames_per_s: frames / wall_s,
        mb_per_s: load.bytes as f64 / wall_s / 1e6,
        wall_s,
        cpu_s,
        cpu_s_per_100k: cpu_s / frames * 1e5,
        peak_rss_mib: field(&report, "peak_rss_kib")? / 1024.0,
        minor_faults_per_100k: field(&report, "minor_faults")? / frames * 1e5,
        pool,
    })
}

const MIB: f64 = (1 << 20) as f64;

/// A broker process, killed if dropped before it exits.
struct Broker {
    child: Child,
    lines: std_mpsc::Receiver<io::Result<String>>,
    exited: bool,
}

impl Broker {
    /// Re-executes this bench binary as the broker for `arm`.
    fn start(arm: Arm) -> Result<Broker> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(SERVER_ENV, arm.name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("broker stdout not captured")?;
        let (send, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in io::BufReader::new(stdout).lines() {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Broker {
            child,
            lines,
            exited: false,
        })
    }

    /// Waits for the broker's next stdout line, which must start with
    /// `keyword`; returns the rest of it.
    fn expect_line(&mut self, keyword: &str, within: Duration) -> Result<String> {
        let line = match self.lines.recv_timeout(within) {
            Ok(line) => line?,
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!("no `{keyword}` line from the broker within {within:?}").into())
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "the broker exited before its `{keyword}` line (see its error above)"
                )
                .into())
            }
        };
        match line.strip_prefix(keyword) {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => Ok(rest.trim().to_owned()),
            _ => Err(format!("expected a `{keyword}` line from the broker, got {line:?}").into()),
        }
    }

    /// Waits for the broker to exit successfully.
    fn wait(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("the broker exited with {status}").into())
                };
            }
            if Instant::now() >= deadline {
                return Err(format!("the broker did not exit within {within:?}").into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Parses `key=value` fields separated by spaces.
fn parse_fields(text: &str) -> Result<HashMap<String, f64>> {
    text.split_whitespace()
        .map(|field| {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("bad field {field:?}"))?;
            let value = value
                .parse()
                .map_err(|_| format!("bad value in {field:?}"))?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

fn field(fields: &HashMap<String, f64>, key: &str) -> Result<f64> {
    fields
        .get(key)
        .copied()
        .ok_or_else(|| format!("the broker did not report {key}").into())
}

/// The median of some values (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.is_empty() {
        f64::NAN
    } else if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The smallest and largest of some values.
fn range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// The `service`, `detail`, `pool` and `ratio` lines of one distribution
/// and shape (`label`). Runs are in order: for each repetition, one per
/// arm of `arms`.
fn summarize(label: &str, arms: &[Arm], reps: usize, runs: &[(Arm, RunResult)]) -> String {
    let mut out = String::new();
    let of = |arm: Arm| -> Vec<&RunResult> {
        runs.iter()
            .filter(|(a, _)| *a == arm)
            .map(|(_, r)| r)
            .collect()
    };
    for &arm in arms {
        let mine = of(arm);
        let med = |metric: fn(&RunResult) -> f64| median(mine.iter().map(|r| metric(r)).collect());
        let spread = |metric: fn(&RunResult) -> f64| range(mine.iter().map(|r| metric(r)));
        let (cpu_lo, cpu_hi) = spread(|r| r.cpu_s_per_100k);
        let (rss_lo, rss_hi) = spread(|r| r.peak_rss_mib);
        let _ = writeln!(
            out,
            "service {label} arm={} frames_per_s={:.1} cpu_s_per_100k={:.3} peak_rss_mib={:.1} minor_faults={:.0} cpu_range={cpu_lo:.3}-{cpu_hi:.3} rss_range={rss_lo:.1}-{rss_hi:.1}",
            arm.name(),
            med(|r| r.frames_per_s),
            med(|r| r.cpu_s_per_100k),
            med(|r| r.peak_rss_mib),
            med(|r| r.minor_faults_per_100k),
        );
        let _ = writeln!(
            out,
            "  detail {label} arm={} mb_per_s={:.1} wall_s={:.2} cpu_s={:.2} runs={}",
            arm.name(),
            med(|r| r.mb_per_s),
            med(|r| r.wall_s),
            med(|r| r.cpu_s),
            mine.len(),
        );
        let pools: Vec<&PoolSummary> = mine.iter().filter_map(|r| r.pool.as_ref()).collect();
        if !pools.is_empty() {
            let med =
                |metric: fn(&PoolSummary) -> f64| median(pools.iter().map(|p| metric(p)).collect());
            let _ = writeln!(
                out,
                "  pool {label} arm={} peak_in_use_mib={:.1} cached_mib={:.1} hit_rate={:.4} oversize_allocations={:.0}",
                arm.name(),
                med(|p| p.peak_in_use_mib),
                med(|p| p.cached_mib),
                med(|p| p.hit_rate),
                med(|p| p.oversize_allocations),
            );
        }
    }
    // Ratios per repetition (the two arms of a pair ran one after the
    // other), then their median and range.
    for &base in Arm::BASELINES.iter().filter(|base| arms.contains(base)) {
        let theirs = of(base);
        for &arm in arms.iter().filter(|&&arm| arm != base) {
            let mine = of(arm);
            let ratios = |metric: fn(&RunResult) -> f64| -> Vec<f64> {
                (0..reps)
                    .map(|rep| metric(mine[rep]) / metric(theirs[rep]))
                    .collect()
            };
            let mut line = format!("ratio {label} arm={} vs={}", arm.name(), base.name());
            for (key, metric) in [
                (
                    "frames_per_s",
                    (|r| r.frames_per_s) as fn(&RunResult) -> f64,
                ),
                ("cpu_per_frame", |r| r.cpu_s_per_100k),
                ("peak_rss", |r| r.peak_rss_mib),
                ("minor_faults", |r| r.minor_faults_per_100k),
            ] {
                let each = ratios(metric);
                let (lo, hi) = range(each.iter().copied());
                let _ = write!(
                    line,
                    " {key}={:.3} {key}_range={lo:.3}-{hi:.3}",
                    median(each)
                );
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// `target/tierpool-service/latest.txt`: this invocation's summary lines.
struct ResultsFile {
    path: PathBuf,
}

impl ResultsFile {
    fn create(options: &Options) -> Result<ResultsFile> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => manifest_dir.join(dir), // an absolute dir replaces the base
            None => manifest_dir.join("target"),
        };
        let dir = target.join("tierpool-service");
        fs::create_dir_all(&dir)?;
        let path = dir.join("latest.txt");
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let arms: Vec<_> = options.arms.iter().map(|arm| arm.name()).collect();
        let args: Vec<String> = std::env::args().skip(1).collect();
        let header = format!(
            "# tierpool service bench\n\
             # unix_time={} cpus={cpus} reps={} mode={} frames={} arms={} args={:?}\n\
             # connections={CONNECTIONS} broker_workers={WORKER_THREADS} in_flight_level={IN_FLIGHT} in_flight_swing={SWING_IN_FLIGHT} channel_depth={CHANNEL_DEPTH} \
             minor_faults=per_100k_frames\n",
            since_epoch.as_secs(),
            options.reps,
            if options.quick { "quick" } else { "full" },
            options.frames.map_or_else(|| "default".to_owned(), |f| f.to_string()),
            arms.join(","),
            args.join(" "),
        );
        fs::write(&path, header)?;
        Ok(ResultsFile { path })
    }

    fn append(&mut self, text: &str) -> Result<()> {
        OpenOptions::new()
            .append(true)
            .open(&self.path)?
            .write_all(text.as_bytes())?;
        Ok(())
    }
}
