//! Quick start: get buffers, write into them, share frozen views across
//! threads, and watch the pool reuse storage.
//!
//! Run: `cargo run --release --example quickstart`

use std::io::Write;
use std::thread;

use bytes::Bytes;
use tierpool::Pool;

fn main() -> std::io::Result<()> {
    let pool = Pool::new(); // tiers: 4 KiB, 64 KiB, 1 MiB

    // 1. Get a buffer from the smallest tier that fits, write, drop: the
    //    storage goes back to this thread's cache.
    let mut request = pool.get(1500);
    write!(request, "GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n")?;
    println!(
        "wrote {} bytes into a {} byte buffer (tier {:?})",
        request.len(),
        request.capacity(),
        request.tier()
    );
    drop(request);

    // 2. Reuse: the next get of that tier is served from the cache, empty.
    let reused = pool.get(100);
    assert!(reused.is_empty());
    drop(reused);

    // 3. Freeze a filled buffer into a view, slice it without copying, and
    //    share the slices with other threads. The storage comes back when the
    //    last view is dropped, wherever that happens.
    let mut response = pool.get(64 << 10);
    response.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
    response.resize(response.len() + 10_000, b'x');
    let frame = response.freeze();
    let header = frame.slice(..17);
    let body = frame.slice(19..);
    assert_eq!(
        body.as_ptr(),
        frame[19..].as_ptr(),
        "slices share the storage"
    );

    let workers: Vec<_> = (0..4)
        .map(|i| {
            let body = body.clone(); // a refcount increment, no copy
            thread::spawn(move || {
                let checksum: u64 = body.iter().map(|&b| u64::from(b)).sum();
                println!("worker {i}: {} body bytes, checksum {checksum}", body.len());
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker panicked");
    }

    // 4. Hand the header to the `bytes` ecosystem without copying.
    let header: Bytes = header.into_bytes();
    println!(
        "header as Bytes: {:?}",
        std::str::from_utf8(&header).unwrap()
    );
    drop((frame, body, header));

    // 5. Buffers got on one thread and dropped on another go back too.
    let producer_pool = pool.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel(256);
    let producer = thread::spawn(move || {
        for i in 0..10_000u32 {
            let mut buf = producer_pool.get(4096);
            buf.extend_from_slice(&i.to_le_bytes());
            tx.send(buf).expect("consumer hung up");
        }
    });
    let mut sum = 0u64;
    for buf in rx {
        sum += u64::from(u32::from_le_bytes(buf[..4].try_into().unwrap()));
    }
    producer.join().expect("producer panicked");
    println!("consumer summed {sum} from 10000 pooled messages");

    let stats = pool.stats();
    println!("\n{stats}");
    assert_eq!(stats.in_use_bytes(), 0, "every buffer came back");
    Ok(())
}
