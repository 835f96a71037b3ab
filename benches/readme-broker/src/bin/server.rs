//! A broker as a new user writes it: per connection, a reader task that
//! reads length-prefixed frames and queues them (8 at most) to a writer
//! task that echoes them. Three arms: tierpool's README recipe, a fresh
//! BytesMut per frame, tokio-util's LengthDelimitedCodec.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

const MAX: usize = 16 << 20;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .map(|i| args[i + 1].clone())
}

async fn write_bytes(w: &mut OwnedWriteHalf, body: Bytes) -> std::io::Result<()> {
    let prefix = (body.len() as u32).to_be_bytes();
    let mut both = Buf::chain(&prefix[..], body);
    w.write_all_buf(&mut both).await
}

async fn serve_bytesmut(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, frames: Arc<AtomicU64>) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            write_bytes(&mut w, f).await.unwrap();
        }
    });
    loop {
        let mut prefix = [0u8; 4];
        if r.read_exact(&mut prefix).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes(prefix) as usize;
        assert!(len <= MAX);
        let mut buf = BytesMut::with_capacity(len);
        while buf.len() < len {
            let want = len - buf.len();
            let n = r.read_buf(&mut (&mut buf).limit(want)).await.unwrap();
            assert!(n > 0, "eof in body");
        }
        frames.fetch_add(1, Ordering::Relaxed);
        tx.send(buf.freeze()).await.unwrap();
    }
    drop(tx);
    writer.await.unwrap();
}

async fn serve_codec(r: OwnedReadHalf, mut w: OwnedWriteHalf, frames: Arc<AtomicU64>) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            write_bytes(&mut w, f).await.unwrap();
        }
    });
    let mut reader = FramedRead::new(
        r,
        LengthDelimitedCodec::builder()
            .max_frame_length(MAX)
            .new_codec(),
    );
    while let Some(frame) = reader.next().await {
        frames.fetch_add(1, Ordering::Relaxed);
        tx.send(frame.unwrap().freeze()).await.unwrap();
    }
    drop(tx);
    writer.await.unwrap();
}

async fn serve_tierpool(
    r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    pool: tierpool::Pool,
    frames: Arc<AtomicU64>,
) {
    use tierpool::io::{write_frame, FrameReader};
    let (tx, mut rx) = mpsc::channel::<tierpool::SharedChain>(8);
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            write_frame(&mut w, f).await.unwrap();
        }
    });
    let mut reader = FrameReader::new(r, &pool)
        .vectored_reads()
        .max_frame_len(MAX);
    while let Some(frame) = reader.read_frame().await.unwrap() {
        frames.fetch_add(1, Ordering::Relaxed);
        tx.send(frame).await.unwrap();
    }
    drop(tx);
    writer.await.unwrap();
}

fn vmhwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let arm = arg("--arm").expect("--arm");
    let port: u16 = arg("--port").expect("--port").parse().unwrap();
    let conns: usize = arg("--conns").map_or(8, |c| c.parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("listening");
        let pool = tierpool::Pool::new();
        let frames = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        let mut start = None;
        for _ in 0..conns {
            let (s, _) = listener.accept().await.unwrap();
            start.get_or_insert_with(Instant::now);
            s.set_nodelay(true).unwrap();
            let (r, w) = s.into_split();
            let frames = frames.clone();
            tasks.push(match arm.as_str() {
                "bytesmut" => tokio::spawn(serve_bytesmut(r, w, frames)),
                "codec" => tokio::spawn(serve_codec(r, w, frames)),
                "tierpool" => tokio::spawn(serve_tierpool(r, w, pool.clone(), frames)),
                other => panic!("unknown arm {other}"),
            });
        }
        for t in tasks {
            t.await.unwrap();
        }
        let wall = start.unwrap().elapsed().as_secs_f64();
        // SAFETY: `rusage` is plain data, valid when zeroed, and
        // `getrusage` only writes into the one it is given.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        println!(
            "{{\"arm\":\"{arm}\",\"frames\":{},\"user_s\":{:.4},\"sys_s\":{:.4},\"maxrss_kib\":{},\"vmhwm_kib\":{},\"minflt\":{},\"wall_s\":{:.4}}}",
            frames.load(Ordering::Relaxed),
            secs(ru.ru_utime),
            secs(ru.ru_stime),
            ru.ru_maxrss,
            vmhwm_kib(),
            ru.ru_minflt,
            wall
        );
    });
}
