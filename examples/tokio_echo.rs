//! A loopback echo server on tokio that reads into pooled buffers with
//! `AsyncReadExt::read_buf` (through `bytes::BufMut`, no zeroing) and
//! writes the reply from a frozen view of the same storage.
//!
//! Run: `cargo run --release --example tokio_echo`

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use tierpool::Pool;

const CLIENTS: usize = 8;
const MESSAGES: usize = 500;

async fn serve(pool: Pool, mut socket: TcpStream) -> std::io::Result<()> {
    loop {
        let mut buf = pool.get(4096);
        let n = socket.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(()); // the client closed its side
        }
        let reply = buf.freeze(); // zero-copy view of what was read
        socket.write_all(&reply).await?;
    }
}

async fn client(id: usize, addr: std::net::SocketAddr) -> std::io::Result<usize> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut echoed = 0;
    let mut reply = vec![0; 1024];
    for n in 0..MESSAGES {
        let message = format!("client {id} message {n}: {}", "x".repeat(n % 200));
        stream.write_all(message.as_bytes()).await?;
        let mut got = 0;
        while got < message.len() {
            got += stream.read(&mut reply[got..message.len()]).await?;
        }
        assert_eq!(&reply[..got], message.as_bytes());
        echoed += got;
    }
    Ok(echoed)
}

#[tokio::main(flavor = "current_thread")]
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
            connection.await.expect("connection task panicked")?;
        }
        Ok::<(), std::io::Error>(())
    });

    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(id, addr)))
        .collect();
    let mut total = 0;
    for c in clients {
        total += c.await.expect("client task panicked")?;
    }
    server.await.expect("server task panicked")?;

    let stats = pool.stats();
    println!(
        "{CLIENTS} clients echoed {total} bytes in {} messages",
        CLIENTS * MESSAGES
    );
    println!("\n{stats}");
    assert_eq!(stats.in_use_bytes(), 0);
    Ok(())
}
