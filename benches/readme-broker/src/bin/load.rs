//! The load generator, another process: `--conns` connections, each
//! sending its share of `--frames` frames (log-uniform lengths) and
//! checking every echo. `level`: at most 4 frames in flight per
//! connection. `swing`: up to 32 in flight, and the reader stalls 50 ms
//! every 64 frames, so the server's queues fill and drain.
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .map(|i| args[i + 1].clone())
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log_uniform(&mut self, lo: f64, hi: f64) -> usize {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp() as usize
    }
}

fn byte(frame: usize, at: usize) -> u8 {
    (frame.wrapping_mul(7).wrapping_add(at)) as u8
}

fn main() {
    let port: u16 = arg("--port").unwrap().parse().unwrap();
    let conns: usize = arg("--conns").map_or(8, |c| c.parse().unwrap());
    let frames: usize = arg("--frames").unwrap().parse().unwrap();
    let dist = arg("--dist").unwrap_or("loguniform".into());
    let swing = arg("--shape").as_deref() == Some("swing");
    let seed: u64 = arg("--seed").map_or(1, |s| s.parse().unwrap());
    let hi = if dist == "small" {
        65536.0
    } else {
        2.0 * 1048576.0
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..conns {
            let mut rng = SplitMix(seed * 1000 + c as u64);
            let lens: Arc<Vec<usize>> = Arc::new(
                (0..frames / conns)
                    .map(|_| rng.log_uniform(100.0, hi))
                    .collect(),
            );
            let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut r, mut w) = stream.into_split();
            let window = Arc::new(Semaphore::new(if swing { 32 } else { 4 }));
            let (wl, ww) = (lens.clone(), window.clone());
            tasks.push(tokio::spawn(async move {
                let mut buf = Vec::new();
                for (k, &len) in wl.iter().enumerate() {
                    ww.acquire().await.unwrap().forget();
                    buf.clear();
                    buf.extend_from_slice(&(len as u32).to_be_bytes());
                    buf.extend((0..len).map(|j| byte(k, j)));
                    w.write_all(&buf).await.unwrap();
                }
                w.shutdown().await.unwrap();
            }));
            tasks.push(tokio::spawn(async move {
                let mut body = Vec::new();
                for (k, &len) in lens.iter().enumerate() {
                    if swing && k % 64 == 63 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let mut prefix = [0u8; 4];
                    r.read_exact(&mut prefix).await.unwrap();
                    assert_eq!(u32::from_be_bytes(prefix) as usize, len, "frame {k} length");
                    body.resize(len, 0);
                    r.read_exact(&mut body).await.unwrap();
                    assert!(
                        body.iter().enumerate().all(|(j, &b)| b == byte(k, j)),
                        "frame {k} bytes"
                    );
                    window.add_permits(1);
                }
                let mut rest = [0u8; 1];
                assert_eq!(r.read(&mut rest).await.unwrap(), 0);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}
