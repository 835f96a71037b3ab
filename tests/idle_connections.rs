//! What an idle connection costs with the README's recipe: 10,000 TCP
//! connections, each with a `FrameReader` (`vectored_reads`, a 16 MiB
//! maximum) that has read frames and now waits for the next one, hold no
//! pooled memory, and each reader's own state (its size beyond the socket
//! half it owns, plus the heap it keeps) stays under 1 KiB.
//!
//! The heap is measured with a counting global allocator (process-wide
//! live bytes), which is why this is a test binary of its own with a
//! single test. The pool is region-backed where that is the default:
//! region blocks never reach the global allocator, and the pool holds
//! none of them while the connections are idle anyway.
//!
//! 10,000 connections need 20,000 descriptors with both ends in one
//! process, more than a default hard limit of 20,000 leaves. So the client
//! ends live in a child process (a few lines of Python) when `python3` is
//! there; otherwise they live here, and the test measures as many
//! connections as the descriptor limit allows, and says so.
#![cfg(all(feature = "tokio", unix))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::Poll;

use tierpool::io::FrameReader;
use tierpool::Pool;
use tokio::io::AsyncWriteExt as _;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::raise_descriptor_limit;

struct Counting;

/// Bytes allocated and not yet freed, by every thread.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only a counter is
// updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const CONNECTIONS: usize = 10_000;
/// The most a reader may keep of its own, per the docs.
const PER_READER_LIMIT: usize = 1024;

fn prefix(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap().to_be_bytes()
}

/// The length of the frame the client sends on connection `i`: 100 bytes,
/// and 1 MiB on every hundredth (read with vectored reads over many
/// blocks).
fn frame_len(i: usize) -> usize {
    if i % 100 == 0 {
        1 << 20
    } else {
        100
    }
}

/// The client ends, here or in a child process.
enum Clients {
    Local(Vec<TcpStream>),
    Child(std::process::Child),
}

/// The child: connects `n` times, says `ready`; on a line from the test,
/// sends `frame_len(i)` bytes of `i % 256` behind a prefix on connection
/// `i`, in order; holds the connections until its input closes.
const CHILD: &str = r#"
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("ready", flush=True)
sys.stdin.readline()
for i, conn in enumerate(conns):
    size = 1 << 20 if i % 100 == 0 else 100
    conn.sendall(size.to_bytes(4, "big") + bytes([i % 256]) * size)
print("sent", flush=True)
sys.stdin.read()
"#;

impl Clients {
    /// Starts the child, if `python3` runs here.
    fn spawn_child(port: u16, n: usize) -> Option<Self> {
        use std::process::{Command, Stdio};
        let child = Command::new("python3")
            .args(["-c", CHILD, &port.to_string(), &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        Some(Clients::Child(child))
    }

    /// Waits for the child's line `expected`.
    fn expect_line(&mut self, expected: &str) {
        use std::io::BufRead as _;
        let Clients::Child(child) = self else { return };
        let mut line = String::new();
        let stdout = child.stdout.as_mut().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), expected, "the client process");
    }
}

/// Polls every reader once; each must be waiting for a frame.
async fn poll_all_pending(readers: &mut [FrameReader<OwnedReadHalf>]) {
    for reader in readers {
        let pending =
            std::future::poll_fn(|cx| Poll::Ready(reader.poll_frame(cx).is_pending())).await;
        assert!(pending, "an idle connection has no frame ready");
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not run sockets")]
fn ten_thousand_idle_connections_hold_no_pooled_memory_and_under_a_kib_each() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = Pool::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (connections, mut clients) = match Clients::spawn_child(address.port(), CONNECTIONS) {
            Some(child) => (CONNECTIONS, child),
            None => {
                let fit = raise_descriptor_limit(CONNECTIONS);
                println!(
                    "no python3 for the client ends: they live here, and {fit} connections fit"
                );
                (fit, Clients::Local(Vec::with_capacity(fit)))
            }
        };
        assert!(connections >= 1000, "too few descriptors to measure");
        let mut read_halves = Vec::with_capacity(connections);
        let mut write_halves = Vec::with_capacity(connections);
        for _ in 0..connections {
            let accepted = match &mut clients {
                Clients::Local(local) => {
                    let (client, accepted) =
                        tokio::join!(TcpStream::connect(address), listener.accept());
                    local.push(client.unwrap());
                    accepted
                }
                Clients::Child(_) => listener.accept().await,
            };
            let (read_half, write_half) = accepted.unwrap().0.into_split();
            read_halves.push(read_half);
            write_halves.push(write_half);
        }
        clients.expect_line("ready");

        // The README's recipe, on every connection. Building the readers
        // in place of the halves changes the heap by the readers' size
        // beyond the halves, plus whatever each reader allocates.
        let before = live_bytes();
        let mut readers: Vec<FrameReader<OwnedReadHalf>> = read_halves
            .into_iter()
            .map(|half| {
                FrameReader::new(half, &pool)
                    .vectored_reads()
                    .max_frame_len(16 << 20)
            })
            .collect();
        poll_all_pending(&mut readers).await;
        let new = live_bytes() - before;

        // One frame on every connection, read and dropped.
        if let Clients::Child(child) = &mut clients {
            use std::io::Write as _;
            writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
        }
        for (i, reader) in readers.iter_mut().enumerate() {
            let len = frame_len(i);
            let frame = match &mut clients {
                Clients::Local(local) => {
                    let mut frame = prefix(len).to_vec();
                    frame.resize(4 + len, i as u8);
                    let (written, read) =
                        tokio::join!(local[i].write_all(&frame), reader.read_frame());
                    written.unwrap();
                    read
                }
                Clients::Child(_) => reader.read_frame().await,
            };
            let frame = frame.unwrap().expect("a frame");
            assert_eq!(frame.len(), len);
            assert!(
                frame
                    .segments()
                    .all(|segment| segment.iter().all(|&b| b == i as u8)),
                "connection {i}"
            );
        }
        clients.expect_line("sent");
        poll_all_pending(&mut readers).await;
        let stats = pool.stats();
        assert_eq!(
            stats.in_use_bytes(),
            0,
            "idle connections hold pooled memory: {stats}"
        );
        let idle = live_bytes() - before;

        let per = |bytes: isize| bytes as f64 / connections as f64;
        let inline = std::mem::size_of::<FrameReader<OwnedReadHalf>>()
            - std::mem::size_of::<OwnedReadHalf>();
        println!(
            "{connections} idle connections: reader state {:.0} B each when new \
             ({inline} B inline beyond the socket half), {:.0} B each after a frame; \
             pooled memory in use: 0",
            per(new),
            per(idle)
        );
        assert!(
            per(new) < PER_READER_LIMIT as f64,
            "{} B per new reader",
            per(new)
        );
        assert!(
            per(idle) < PER_READER_LIMIT as f64,
            "{} B per idle reader",
            per(idle)
        );
        drop((readers, write_halves));
        if let Clients::Child(mut child) = clients {
            drop(child.stdin.take());
            assert!(child.wait().unwrap().success(), "the client process failed");
        }
    });
}
