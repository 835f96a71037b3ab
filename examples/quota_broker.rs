//! Backpressure with per-connection quotas: a tokio echo broker in which one
//! consumer is slow, and memory stays under the caps.
//!
//! Each connection gets a `Quota` of 1 MiB inside a pool capped at 4 MiB
//! (`max_in_use_bytes`). The server reads frames with
//! `FrameReader::with_quota` and queues them, without any bound of its own,
//! to a writer task that echoes them. One connection's writer is slow (it
//! sleeps before each echo), so its frames pile up: when they hold its
//! whole quota, its reader waits for memory (`get_async` under the hood)
//! until the writer lets go of a frame. The other connections share the
//! same pool and are not held back. At the end it prints the caps and the
//! peak bytes in use, per connection and for the pool.
//!
//! Run: `cargo run --release --example quota_broker`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Buf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use tierpool::io::{write_frame, FrameReader};
use tierpool::{Pool, Quota, SharedChain};

const CLIENTS: usize = 4;
const SLOW_CLIENT: usize = 0;
const FRAMES_PER_CLIENT: u64 = 150;
const QUOTA: usize = 1 << 20;
const POOL_CAP: usize = 4 << 20;
const MAX_FRAME: usize = 256 << 10;

/// The largest bytes in use seen, per connection and for the pool.
#[derive(Default)]
struct Peaks {
    connections: [AtomicUsize; CLIENTS],
    pool: AtomicUsize,
}

/// Echoes one connection's frames. The queue to the writer is unbounded:
/// the connection's quota is what bounds the memory it holds.
async fn serve(
    id: usize,
    pool: Pool,
    quota: Quota,
    socket: TcpStream,
    peaks: Arc<Peaks>,
) -> std::io::Result<()> {
    let (read_half, mut write_half) = socket.into_split();
    let (to_writer, mut from_reader) = mpsc::unbounded_channel::<SharedChain>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = from_reader.recv().await {
            if id == SLOW_CLIENT {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            write_frame(&mut write_half, frame).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut frames = FrameReader::with_quota(read_half, &quota).max_frame_len(MAX_FRAME);
    while let Some(frame) = frames.read_frame().await? {
        peaks.connections[id].fetch_max(quota.stats().used, Ordering::Relaxed);
        let in_use = pool.stats().in_use_limit.expect("the pool has a cap").used;
        peaks.pool.fetch_max(in_use as usize, Ordering::Relaxed);
        if to_writer.send(frame).is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop(to_writer);
    writer.await.expect("the writer task does not panic")
}

/// A frame length from 1 KiB to 256 KiB, log-uniform, from a seed.
fn frame_len(seed: u64) -> usize {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
    (1024.0 * 256f64.powf(unit)) as usize
}

/// Sends every frame at once and checks every echo; returns the bytes
/// echoed and the time the last echo took to arrive.
async fn client(id: u64, socket: TcpStream) -> std::io::Result<(u64, Duration)> {
    let start = Instant::now();
    let (read_half, mut write_half) = socket.into_split();
    let sender = tokio::spawn(async move {
        for n in 0..FRAMES_PER_CLIENT {
            let body = vec![(n % 251) as u8; frame_len(id * FRAMES_PER_CLIENT + n)];
            write_frame(&mut write_half, &body[..]).await?;
        }
        Ok::<_, std::io::Error>(write_half) // dropping it would close the socket early
    });
    let echo_pool = Pool::new(); // the client's own memory
    let mut echoes = FrameReader::new(read_half, &echo_pool);
    let mut bytes = 0;
    for n in 0..FRAMES_PER_CLIENT {
        let mut echo = echoes.read_frame().await?.expect("an echo for every frame");
        assert_eq!(echo.len(), frame_len(id * FRAMES_PER_CLIENT + n));
        bytes += echo.len() as u64;
        while echo.has_remaining() {
            assert!(echo.chunk().iter().all(|&b| b == (n % 251) as u8));
            echo.advance(echo.chunk().len());
        }
    }
    drop(sender.await.expect("the sender does not panic")?);
    Ok((bytes, start.elapsed()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let pool = Pool::builder().max_in_use_bytes(POOL_CAP).build().unwrap();
    let peaks = Arc::new(Peaks::default());
    let quotas: Vec<Quota> = (0..CLIENTS).map(|_| pool.quota(QUOTA)).collect();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;

    let server = tokio::spawn({
        let (pool, quotas, peaks) = (pool.clone(), quotas.clone(), Arc::clone(&peaks));
        async move {
            let mut connections = Vec::new();
            for _ in 0..CLIENTS {
                let (socket, _) = listener.accept().await?;
                let id = connections.len();
                connections.push(tokio::spawn(serve(
                    id,
                    pool.clone(),
                    quotas[id].clone(),
                    socket,
                    Arc::clone(&peaks),
                )));
            }
            for connection in connections {
                connection.await.expect("a connection does not panic")?;
            }
            Ok::<_, std::io::Error>(())
        }
    });

    // Connected one after another, so the server accepts connection `i`
    // from client `i`.
    let mut clients = Vec::new();
    for id in 0..CLIENTS as u64 {
        let socket = TcpStream::connect(addr).await?;
        clients.push(tokio::spawn(client(id, socket)));
    }
    let mut results = Vec::new();
    for handle in clients {
        results.push(handle.await.expect("a client does not panic")?);
    }
    server.await.expect("the server does not panic")?;

    println!(
        "pool cap {} KiB, quota {} KiB per connection, connection {SLOW_CLIENT} consumes slowly",
        POOL_CAP >> 10,
        QUOTA >> 10
    );
    for (id, quota) in quotas.iter().enumerate() {
        let stats = quota.stats();
        println!(
            "connection {id}: peak in use {:>5} KiB of {} KiB, {} blocks",
            peaks.connections[id].load(Ordering::Relaxed) >> 10,
            stats.limit >> 10,
            stats.gets
        );
        assert!(peaks.connections[id].load(Ordering::Relaxed) <= QUOTA);
        assert_eq!(stats.used, 0, "every block came back");
        assert_eq!(stats.over_limit, 0);
    }
    for (id, (bytes, took)) in results.iter().enumerate() {
        println!(
            "client {id}: {:.1} MiB echoed in {took:.2?}",
            *bytes as f64 / (1 << 20) as f64
        );
    }
    let peak = peaks.pool.load(Ordering::Relaxed);
    println!(
        "pool: peak in use {} KiB of {} KiB",
        peak >> 10,
        POOL_CAP >> 10
    );
    assert!(peak <= POOL_CAP);
    assert_eq!(pool.stats().over_limit, 0);
    Ok(())
}
