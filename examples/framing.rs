//! Zero-copy framing: a length-prefixed protocol over a loopback TCP
//! connection. The reader fills pooled buffers straight from the socket and
//! hands out every complete frame as a `SharedBuf` view of that same
//! storage — no copy per frame — the pattern of `BytesMut::split_to(n)
//! .freeze()` in tokio-util codecs.
//!
//! Run: `cargo run --release --example framing`

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use tierpool::{Pool, SharedBuf};

const FRAMES: u32 = 20_000;
const HEADER: usize = 4;
/// Room kept free for each read.
const READ_SIZE: usize = 16 << 10;

/// The payload of frame `n`: a length and contents both derived from `n`.
fn payload(n: u32) -> Vec<u8> {
    let len = (n.wrapping_mul(2_654_435_761) % 3000) as usize;
    (0..len).map(|i| (n as usize + i) as u8).collect()
}

/// Writes every frame as `[len: u32 BE][payload]`, in uneven write sizes so
/// frames arrive split across reads.
fn send_frames(mut stream: TcpStream) -> std::io::Result<()> {
    let mut pending = Vec::new();
    for n in 0..FRAMES {
        let body = payload(n);
        pending.extend_from_slice(&(body.len() as u32).to_be_bytes());
        pending.extend_from_slice(&body);
        if pending.len() > 7_000 + (n as usize % 5) * 1_000 {
            stream.write_all(&pending)?;
            pending.clear();
        }
    }
    stream.write_all(&pending)
}

/// Splits every complete frame off the front of `buf` as a view.
fn take_frames(buf: &mut tierpool::PooledBuf, frames: &mut Vec<SharedBuf>) {
    while buf.len() >= HEADER {
        let len = u32::from_be_bytes(buf[..HEADER].try_into().unwrap()) as usize;
        if buf.len() < HEADER + len {
            // Make room for the rest of this frame and then some; growing
            // copies only the partial frame into fresh pooled storage, the
            // views split off earlier keep the old storage alive.
            buf.reserve((HEADER + len - buf.len()).max(READ_SIZE));
            break;
        }
        let frame = buf.split_to(HEADER + len);
        frames.push(frame.slice(HEADER..));
    }
}

fn main() -> std::io::Result<()> {
    let pool = Pool::new();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sender = thread::spawn(move || -> std::io::Result<()> {
        let (stream, _) = listener.accept()?;
        send_frames(stream)
    });

    let mut stream = TcpStream::connect(addr)?;
    let mut buf = pool.get(READ_SIZE);
    let mut frames = Vec::new();
    let (mut received, mut bytes, mut reads) = (0u32, 0usize, 0usize);
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_SIZE);
        }
        let read = buf.read_from(&mut stream)?;
        reads += 1;
        take_frames(&mut buf, &mut frames);
        // Consume the frames: check them, then let them go.
        for frame in frames.drain(..) {
            assert_eq!(frame, payload(received), "frame {received} corrupted");
            bytes += frame.len();
            received += 1;
        }
        if read == 0 {
            break;
        }
    }
    sender.join().expect("sender panicked")?;
    assert_eq!(received, FRAMES);
    assert!(buf.is_empty(), "no partial frame left over");
    drop(buf);

    let stats = pool.stats();
    let reused: u64 = stats.tiers.iter().map(|t| t.hits).sum();
    let fresh: u64 = stats.tiers.iter().map(|t| t.misses).sum();
    println!("{received} frames, {bytes} payload bytes, handed out as views without copying");
    println!(
        "{reads} socket reads; storage: {reused} reuses from the pool, {fresh} fresh allocations"
    );
    println!("\n{stats}");
    assert_eq!(stats.in_use_bytes(), 0);
    Ok(())
}
