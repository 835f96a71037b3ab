//! Pooled JSON encoding: serialise straight into a pooled buffer, freeze it,
//! and hand it to the `bytes` ecosystem (an HTTP body, a message queue)
//! without copying. The storage returns to the pool once the `Bytes` is
//! dropped.
//!
//! Run: `cargo run --release --example json`

use bytes::Bytes;
use serde::Serialize;
use tierpool::Pool;

#[derive(Serialize)]
struct Order<'a> {
    id: u64,
    customer: &'a str,
    items: Vec<Item<'a>>,
    total_cents: u64,
}

#[derive(Serialize)]
struct Item<'a> {
    sku: &'a str,
    quantity: u32,
    price_cents: u64,
}

fn encode(pool: &Pool, order: &Order<'_>) -> serde_json::Result<Bytes> {
    let mut buf = pool.get(4096);
    serde_json::to_writer(&mut buf, order)?; // PooledBuf implements io::Write
    Ok(buf.freeze().into_bytes())
}

fn main() -> serde_json::Result<()> {
    let pool = Pool::new();
    let mut total_bytes = 0;
    for id in 0..10_000u64 {
        let items: Vec<Item<'_>> = (0..(id % 7 + 1))
            .map(|i| Item {
                sku: if i % 2 == 0 { "WIDGET-1" } else { "GADGET-22" },
                quantity: (i + 1) as u32,
                price_cents: 199 + i * 100,
            })
            .collect();
        let order = Order {
            id,
            customer: "ACME Corporation",
            total_cents: items
                .iter()
                .map(|i| u64::from(i.quantity) * i.price_cents)
                .sum(),
            items,
        };
        let body: Bytes = encode(&pool, &order)?;
        if id == 0 {
            println!("first body: {}", std::str::from_utf8(&body).unwrap());
        }
        let parsed: serde_json::Value = serde_json::from_slice(&body)?;
        assert_eq!(parsed["id"], id);
        total_bytes += body.len();
        // `body` drops here: its storage goes back to the pool.
    }
    let stats = pool.stats();
    println!("encoded 10000 orders, {total_bytes} bytes of JSON");
    println!("\n{stats}");
    assert!(stats.hit_rate() > 0.99, "storage was reused");
    assert_eq!(stats.in_use_bytes(), 0);
    Ok(())
}
