//! A length-prefixed echo broker on tokio whose frames live in pooled chains.
//!
//! The server reads each frame with `tierpool::io::FrameReader` (blocks are
//! taken as bytes arrive; frames above the maximum are refused before any
//! memory is taken), hands it to a writer task through a bounded channel,
//! and writes it back with `write_frame` (prefix and body in vectored
//! writes). Clients send frames from 100 bytes to 1 MiB, well above what
//! a contiguous 64 KiB buffer holds, and check every echo. At the end it
//! prints the pool's table: every frame was pooled, none was a plain
//! allocation, and all blocks came back.
//!
//! Run: `cargo run --release --example broker`

use std::net::SocketAddr;

use bytes::Buf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use tierpool::io::{write_frame, FrameReader};
use tierpool::{Pool, SharedChain};

const CLIENTS: usize = 4;
const FRAMES_PER_CLIENT: u64 = 200;
const MAX_FRAME: usize = 4 << 20;

/// Echoes one connection's frames; the reader and the writer run apart so a
/// slow writer holds at most 8 frames before the reader waits.
async fn serve(pool: Pool, socket: TcpStream) -> std::io::Result<()> {
    let (read_half, mut write_half) = socket.into_split();
    let (to_writer, mut from_reader) = mpsc::channel::<SharedChain>(8);
    let writer = tokio::spawn(async move {
        while let Some(frame) = from_reader.recv().await {
            write_frame(&mut write_half, frame).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut frames = FrameReader::new(read_half, &pool).max_frame_len(MAX_FRAME);
    while let Some(frame) = frames.read_frame().await? {
        if to_writer.send(frame).await.is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop(to_writer);
    writer.await.expect("the writer task does not panic")
}

/// A frame length from 100 bytes to 1 MiB, log-uniform, from a seed.
fn frame_len(seed: u64) -> usize {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
    (100.0 * (10_485.76f64).powf(unit)) as usize
}

async fn client(id: u64, addr: SocketAddr, pool: Pool) -> std::io::Result<u64> {
    let (read_half, mut write_half) = TcpStream::connect(addr).await?.into_split();
    let sender = tokio::spawn(async move {
        for n in 0..FRAMES_PER_CLIENT {
            let len = frame_len(id * FRAMES_PER_CLIENT + n);
            let body = vec![(n % 251) as u8; len];
            write_frame(&mut write_half, &body[..]).await?;
        }
        Ok::<_, std::io::Error>(write_half) // dropping it would close the socket early
    });
    let mut echoes = FrameReader::new(read_half, &pool).max_frame_len(MAX_FRAME);
    let mut bytes = 0;
    for n in 0..FRAMES_PER_CLIENT {
        let mut echo = echoes.read_frame().await?.expect("an echo for every frame");
        let len = frame_len(id * FRAMES_PER_CLIENT + n);
        assert_eq!(echo.len(), len, "client {id} frame {n}");
        while echo.has_remaining() {
            assert!(echo.chunk().iter().all(|&b| b == (n % 251) as u8));
            echo.advance(echo.chunk().len());
        }
        bytes += len as u64;
    }
    drop(sender.await.expect("the sender does not panic")?);
    Ok(bytes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let pool = Pool::new();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_pool = pool.clone();
    let server = tokio::spawn(async move {
        let mut connections = Vec::new();
        for _ in 0..CLIENTS {
            let (socket, _) = listener.accept().await?;
            connections.push(tokio::spawn(serve(server_pool.clone(), socket)));
        }
        for connection in connections {
            connection
                .await
                .expect("a connection task does not panic")?;
        }
        Ok::<_, std::io::Error>(())
    });

    let client_pool = Pool::new(); // the clients' own pool, for their echoes
    let clients: Vec<_> = (0..CLIENTS as u64)
        .map(|id| tokio::spawn(client(id, addr, client_pool.clone())))
        .collect();
    let mut total = 0;
    for handle in clients {
        total += handle.await.expect("a client does not panic")?;
    }
    server.await.expect("the server does not panic")?;

    let stats = pool.stats();
    println!(
        "{CLIENTS} clients echoed {} frames, {:.1} MiB, through pooled chains",
        CLIENTS as u64 * FRAMES_PER_CLIENT,
        total as f64 / (1 << 20) as f64
    );
    println!("{stats}");
    assert_eq!(stats.oversize.allocations, 0, "every frame was pooled");
    assert_eq!(stats.in_use_bytes(), 0, "every block came back");
    Ok(())
}
