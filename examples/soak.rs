//! A soak of the frame path under a memory cap, hostile peers and
//! overload, bounded in time, with nothing lost.
//!
//! The server is a broker as the README builds one (`FrameReader` with
//! vectored reads, `write_frame`, a bounded queue of 8 frames between a
//! connection's reader and writer), with a pool capped at
//! `max_in_use_bytes` = 32 MiB and a `Quota` of 8 MiB per connection. A
//! child process (this program with `--clients`) connects over loopback
//! with a mix of clients, each reconnecting as it finishes:
//!
//! * well-behaved clients, frames from 1 byte to 2 MiB (log-uniform), two
//!   in flight, every echoed byte checked;
//! * slow readers, which send 1 MiB frames and never read their echoes:
//!   their writer stalls, their queue and quota fill, and their reader
//!   waits on their quota;
//! * peers that disconnect inside a length prefix or inside a body, and
//!   peers that reset (`SO_LINGER` 0) inside a body;
//! * peers that announce more than the maximum frame length, and peers
//!   that trickle a byte every 50 ms after announcing 1 GiB (within the
//!   maximum, but more than a quota could ever hold: refused at once) or
//!   4 MiB (held as the bytes come).
//!
//! Meanwhile a timer trims the pool (`trim` and `trim_idle` in turn), and
//! a shedder closes the connection whose quota holds the most once
//! requests have waited more than 250 ms for the pool's cap, if that
//! quota holds more than any well-behaved client can (6 MiB: two frames
//! of at most 2 MiB, rounded up to blocks): the overload policy an
//! operator would run, reading `PoolStats::waiting` and `Pool::quotas`.
//!
//! At the end, once every connection is closed, it prints one line:
//!
//! `soak secs=<n> conns=<n> frames=<n> bytes=<n> hostile=<n> errors=<kind:n,...> lost=0 in_use_after=0 quotas_after=0 peak_in_use_mib=<x> peak_rss_mib=<x>`
//!
//! `frames` and `bytes` are the well-behaved clients' frames echoed intact;
//! `lost` those not echoed intact; `errors` the server's read and write
//! errors by kind, and `shed` for connections the shedder closed;
//! `in_use_after` the pool's bytes in use and `quotas_after` the bytes
//! charged to quotas once every connection is closed. It exits non-zero
//! if `lost`, `in_use_after` or `quotas_after` is not 0, if the bytes in
//! use ever exceeded the cap, or if the server's peak RSS (`VmHWM`, this
//! process alone: the clients are the child) exceeded the cap plus
//! [`RSS_ALLOWANCE`], which `BENCHMARKS.md` explains.
//!
//! Run: `cargo run --release --features tokio --example soak -- --secs 600`
//! (default 30 seconds; `.ci/run` runs it for 20).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tierpool::io::{write_frame, FrameReader};
use tierpool::{Pool, QuotaId, SharedChain};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::AbortHandle;

const MIB: usize = 1 << 20;
/// The pool's `max_in_use_bytes`.
const CAP: usize = 32 * MIB;
/// Idle bytes the pool may keep (`max_cached_bytes`).
const CACHED: usize = 16 * MIB;
/// Each connection's quota.
const QUOTA: usize = 8 * MIB;
/// The largest frame the server accepts: 1 GiB announcements are within
/// it (and trickled), `u32::MAX` is over it.
const MAX_FRAME: usize = (1 << 30) + MIB;
/// The largest frame of a well-behaved client.
const GOOD_MAX: usize = 2 * MIB;
/// Frames a well-behaved client has in flight.
const WINDOW: usize = 2;
/// The shedder cuts a quota holding more than this...
const SHED_AT: usize = 6 * MIB;
/// ...once a request has waited this long for the pool's cap.
const SHED_AFTER: Duration = Duration::from_millis(250);
/// Peak RSS allowed above the cap: idle blocks the pool keeps
/// ([`CACHED`]), freed region slots that keep their pages (8 MiB by
/// default), and the program itself (runtime, threads' stacks, buffers,
/// code): see `BENCHMARKS.md`, "Soak".
const RSS_ALLOWANCE: usize = 32 * MIB;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<u64>().expect("a number"))
    };
    let secs = value("--secs").unwrap_or(30);
    if let Some(port) = value("--clients") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let counts = runtime.block_on(clients(port as u16, Duration::from_secs(secs)));
        println!(
            "{} {} {} {} {}",
            counts.frames.load(Ordering::Relaxed),
            counts.bytes.load(Ordering::Relaxed),
            counts.lost.load(Ordering::Relaxed),
            counts.hostile.load(Ordering::Relaxed),
            counts.good_conns.load(Ordering::Relaxed),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(server(secs))
}

// --- the server ------------------------------------------------------------

#[derive(Default)]
struct Server {
    /// Every open connection's task, by its quota.
    connections: Mutex<HashMap<QuotaId, AbortHandle>>,
    accepted: AtomicU64,
    open: AtomicUsize,
    errors: Mutex<BTreeMap<String, u64>>,
    peak_in_use: AtomicUsize,
}

impl Server {
    fn error(&self, kind: String) {
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }
}

/// Reads frames into the connection's quota and queues them (8 at most)
/// to its writer, which echoes them: one task, so that shedding it closes
/// both halves and drops every frame it holds.
async fn serve(quota: tierpool::Quota, socket: TcpStream, server: Arc<Server>) {
    let server = &*server;
    let (read_half, mut write_half) = socket.into_split();
    let (to_writer, mut from_reader) = mpsc::channel::<SharedChain>(8);
    let mut frames = FrameReader::with_quota(read_half, &quota)
        .vectored_reads()
        .max_frame_len(MAX_FRAME);
    let read = async {
        loop {
            match frames.read_frame().await {
                Ok(Some(frame)) => {
                    if to_writer.send(frame).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    server.error(format!("read_{:?}", err.kind()));
                    break;
                }
            }
        }
        drop(to_writer);
    };
    // It owns the queue's receiving end: if the peer stops taking its
    // echoes (a write fails), the queue closes with it and the reader,
    // which may be waiting to queue a frame, stops too.
    let write = async move {
        while let Some(frame) = from_reader.recv().await {
            if let Err(err) = write_frame(&mut write_half, frame).await {
                server.error(format!("write_{:?}", err.kind()));
                return;
            }
        }
        let _ = write_half.shutdown().await;
    };
    tokio::join!(read, write);
}

async fn server(secs: u64) -> ExitCode {
    let pool = Pool::builder()
        .name("soak")
        .max_in_use_bytes(CAP)
        .max_cached_bytes(CACHED)
        .build()
        .expect("a valid configuration");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Arc::new(Server::default());
    let started = Instant::now();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--clients", &port.to_string(), "--secs", &secs.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the client process starts");

    let acceptor = tokio::spawn({
        let (pool, server) = (pool.clone(), Arc::clone(&server));
        async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                server.accepted.fetch_add(1, Ordering::Relaxed);
                server.open.fetch_add(1, Ordering::SeqCst);
                let quota = pool.quota(QUOTA);
                let id = quota.id();
                // Registered before the task can end and unregister.
                let mut connections = server.connections.lock().unwrap();
                let task = tokio::spawn({
                    let server = Arc::clone(&server);
                    async move {
                        let _open = OpenGuard(Arc::clone(&server), id);
                        serve(quota, socket, server).await;
                    }
                });
                connections.insert(id, task.abort_handle());
            }
        }
    });

    // Watch the pool: the peak in use, the shedder, the trims.
    let watcher = tokio::spawn({
        let (pool, server) = (pool.clone(), Arc::clone(&server));
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            for n in 0u64.. {
                tick.tick().await;
                let stats = pool.stats();
                let used = stats.in_use_limit.map_or(0, |limit| limit.used) as usize;
                server.peak_in_use.fetch_max(used, Ordering::Relaxed);
                if stats
                    .waiting
                    .oldest_wait
                    .is_some_and(|wait| wait > SHED_AFTER)
                {
                    if let Some(top) = stats.quotas.largest.first().filter(|q| q.used > SHED_AT) {
                        if let Some(task) = server.connections.lock().unwrap().remove(&top.id) {
                            task.abort();
                            server.error("shed".into());
                        }
                    }
                }
                match n % 200 {
                    100 => pool.trim(),
                    0 => pool.trim_idle(),
                    _ => {}
                }
            }
        }
    });

    let output = tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        (child.wait().unwrap(), out)
    })
    .await
    .unwrap();
    let (status, out) = output;
    assert!(status.success(), "the client process failed: {status}");
    let counts: Vec<u64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    let [frames, bytes, lost, hostile, _good_conns] = counts[..] else {
        panic!("the client process said {out:?}");
    };

    // Every client has closed; the server's side follows.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.open.load(Ordering::SeqCst) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} connections still open 30 s after the clients left; {}; the largest quotas: {:?}",
            server.open.load(Ordering::SeqCst),
            pool.stats(),
            pool.quotas().iter().take(5).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acceptor.abort();
    watcher.abort();
    let _ = (acceptor.await, watcher.await);

    let stats = pool.stats();
    let in_use_after = stats.in_use_bytes();
    let quotas_after = stats.quotas.used;
    let peak_in_use = server.peak_in_use.load(Ordering::Relaxed);
    let peak_rss = peak_rss_bytes();
    let errors: Vec<String> = server
        .errors
        .lock()
        .unwrap()
        .iter()
        .map(|(kind, n)| format!("{kind}:{n}"))
        .collect();
    let mib = |bytes: usize| bytes as f64 / MIB as f64;
    println!(
        "soak secs={} conns={} frames={frames} bytes={bytes} hostile={hostile} errors={} \
         lost={lost} in_use_after={in_use_after} quotas_after={quotas_after} \
         peak_in_use_mib={:.1} peak_rss_mib={}",
        started.elapsed().as_secs(),
        server.accepted.load(Ordering::Relaxed),
        errors.join(","),
        mib(peak_in_use),
        peak_rss.map_or("unknown".into(), |rss| format!("{:.1}", mib(rss))),
    );
    let mut failed = Vec::new();
    if lost != 0 {
        failed.push(format!("{lost} well-behaved frames not echoed intact"));
    }
    if frames == 0 {
        failed.push("no well-behaved frame was echoed".into());
    }
    if in_use_after != 0 || quotas_after != 0 {
        failed.push(format!(
            "memory still held once every connection closed: {stats}"
        ));
    }
    if peak_in_use > CAP {
        failed.push(format!("peak in use {peak_in_use} over the cap {CAP}"));
    }
    if let Some(rss) = peak_rss.filter(|&rss| rss > CAP + RSS_ALLOWANCE) {
        failed.push(format!(
            "peak RSS {:.1} MiB over the cap plus {:.0} MiB",
            mib(rss),
            mib(RSS_ALLOWANCE)
        ));
    }
    for failure in &failed {
        eprintln!("soak failed: {failure}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Counts a connection open until its task ends or is aborted.
struct OpenGuard(Arc<Server>, QuotaId);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connections.lock().unwrap().remove(&self.1);
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The process's peak resident set (`VmHWM`), where `/proc` has it.
fn peak_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// --- the clients (the child process) ---------------------------------------

#[derive(Default)]
struct Counts {
    frames: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
    hostile: AtomicU64,
    good_conns: AtomicU64,
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Log-uniform in `1..=max`.
    fn log_uniform(&mut self, max: usize) -> usize {
        let bits = usize::BITS - max.leading_zeros();
        let scale = self.below(u64::from(bits)) as u32;
        let len = (1usize << scale) + self.below(1 << scale) as usize;
        len.clamp(1, max)
    }
}

/// Byte `at` of frame `frame` of connection `conn`.
fn pattern(conn: u64, frame: u64, at: usize) -> u8 {
    (conn.wrapping_mul(131) ^ frame.wrapping_mul(31)).wrapping_add(at as u64) as u8
}

fn fill(buf: &mut [u8], conn: u64, frame: u64, from: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(conn, frame, from + i);
    }
}

async fn clients(port: u16, run_for: Duration) -> Arc<Counts> {
    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + run_for;
    let next_conn = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // How many clients of each kind run at once.
    let kinds = [
        (4, Kind::Good),
        (6, Kind::SlowReader),
        (1, Kind::CutInPrefix),
        (1, Kind::CutInBody),
        (1, Kind::Reset),
        (1, Kind::OverMaximum),
        (20, Kind::Trickle),
    ];
    for (n, kind) in kinds {
        for _ in 0..n {
            let (counts, next_conn) = (Arc::clone(&counts), Arc::clone(&next_conn));
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let conn = next_conn.fetch_add(1, Ordering::Relaxed);
                    let socket = connect(port, kind).await;
                    if kind == Kind::Good {
                        counts.good_conns.fetch_add(1, Ordering::Relaxed);
                        good(socket, conn, &counts).await;
                    } else {
                        counts.hostile.fetch_add(1, Ordering::Relaxed);
                        hostile(socket, conn, kind).await;
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    counts
}

/// A connection to the server; a slow reader's receive buffer is small,
/// so that its echoes back up into the server soon.
async fn connect(port: u16, kind: Kind) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if kind == Kind::SlowReader {
        socket.set_recv_buffer_size(16 << 10).unwrap();
    }
    socket.connect(([127, 0, 0, 1], port).into()).await.unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Good,
    SlowReader,
    CutInPrefix,
    CutInBody,
    Reset,
    OverMaximum,
    Trickle,
}

/// A well-behaved client: 20 to 100 frames, two in flight, every echoed
/// byte checked; frames not echoed intact are lost.
async fn good(socket: TcpStream, conn: u64, counts: &Counts) {
    let mut rng = Rng(conn);
    let lens: Arc<Vec<usize>> = Arc::new(
        (0..20 + rng.below(81))
            .map(|_| rng.log_uniform(GOOD_MAX))
            .collect(),
    );
    let (mut read_half, mut write_half) = socket.into_split();
    let window = Arc::new(Semaphore::new(WINDOW));
    let writer = tokio::spawn({
        let (lens, window) = (Arc::clone(&lens), Arc::clone(&window));
        async move {
            let mut chunk = vec![0; 64 << 10];
            for (frame, &len) in lens.iter().enumerate() {
                window.acquire().await.unwrap().forget();
                write_half.write_all(&(len as u32).to_be_bytes()).await?;
                let mut sent = 0;
                while sent < len {
                    let n = chunk.len().min(len - sent);
                    fill(&mut chunk[..n], conn, frame as u64, sent);
                    write_half.write_all(&chunk[..n]).await?;
                    sent += n;
                }
            }
            write_half.shutdown().await
        }
    });
    let mut intact = 0u64;
    let mut chunk = vec![0; 64 << 10];
    let mut expected = vec![0; 64 << 10];
    'frames: for (frame, &len) in lens.iter().enumerate() {
        let mut prefix = [0; 4];
        if read_half.read_exact(&mut prefix).await.is_err()
            || u32::from_be_bytes(prefix) as usize != len
        {
            break;
        }
        let mut got = 0;
        while got < len {
            let n = chunk.len().min(len - got);
            if read_half.read_exact(&mut chunk[..n]).await.is_err() {
                break 'frames;
            }
            fill(&mut expected[..n], conn, frame as u64, got);
            if chunk[..n] != expected[..n] {
                break 'frames;
            }
            got += n;
        }
        intact += 1;
        counts.bytes.fetch_add(len as u64, Ordering::Relaxed);
        window.add_permits(1);
    }
    // After the last echo, the server closes its side.
    let mut rest = [0; 1];
    let ended = intact == lens.len() as u64 && matches!(read_half.read(&mut rest).await, Ok(0));
    let _ = writer.await;
    counts.frames.fetch_add(intact, Ordering::Relaxed);
    let lost = lens.len() as u64 - intact + u64::from(intact == lens.len() as u64 && !ended);
    counts.lost.fetch_add(lost, Ordering::Relaxed);
}

fn prefix(len: u32) -> [u8; 4] {
    len.to_be_bytes()
}

/// A hostile or careless peer; what the server makes of it shows in its
/// error counts, not here.
async fn hostile(mut socket: TcpStream, conn: u64, kind: Kind) {
    let mut rng = Rng(conn ^ 0xDEAD_BEEF);
    match kind {
        Kind::Good => unreachable!(),
        Kind::SlowReader => {
            // Sends without ever reading, for a while (or until shed); the
            // frame being written when time is up is cut off.
            let until = Instant::now() + Duration::from_millis(2000 + rng.below(4000));
            let mut frame = prefix(1 << 20).to_vec();
            frame.resize(4 + (1 << 20), conn as u8);
            let send = async { while socket.write_all(&frame).await.is_ok() {} };
            let _ = tokio::time::timeout_at(until.into(), send).await;
        }
        Kind::CutInPrefix => {
            let _ = socket.write_all(&prefix(1000)[..2]).await;
        }
        Kind::CutInBody => {
            let _ = socket.write_all(&prefix(100_000)).await;
            let _ = socket.write_all(&[7; 5000]).await;
        }
        Kind::Reset => {
            let _ = socket.write_all(&prefix(100_000)).await;
            let _ = socket.write_all(&[7; 5000]).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = socket.set_zero_linger(); // closing sends a reset
        }
        Kind::OverMaximum => {
            let _ = socket.write_all(&prefix(u32::MAX)).await;
            let mut rest = Vec::new();
            let _ = socket.read_to_end(&mut rest).await; // the server closes
        }
        Kind::Trickle => {
            // Half announce 1 GiB, more than their quota could ever hold
            // (refused at once), half 4 MiB (held as it trickles in).
            let announced = if conn % 2 == 0 { 1 << 30 } else { 4 << 20 };
            let _ = socket.write_all(&prefix(announced)).await;
            let until = Instant::now() + Duration::from_millis(500 + rng.below(2500));
            while Instant::now() < until {
                if socket.write_all(&[1]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
}
