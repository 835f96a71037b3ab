//! Buffers and threads: cross-thread drops, thread exit, pools dropped
//! before their buffers, unwinding and thread-local destructors.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;

use bytes::Bytes;
use tierpool::{Pool, PooledBuf, SharedBuf, TierConfig};

mod common;
use common::assert_all_returned;

fn hits_misses(pool: &Pool) -> Vec<(u64, u64)> {
    pool.stats()
        .tiers
        .iter()
        .map(|t| (t.hits, t.misses))
        .collect()
}

fn filled(pool: &Pool, capacity: usize, tag: u8) -> PooledBuf {
    let mut buf = pool.get(capacity);
    buf.resize(capacity.min(100), tag);
    buf
}

#[test]
fn buffers_got_on_one_thread_and_dropped_on_another() {
    let pool = Pool::builder().build().unwrap();
    let bufs = vec![
        filled(&pool, 100, 1),
        filled(&pool, 5000, 2),
        filled(&pool, 70_000, 3),
        filled(&pool, 2 << 20, 4),
    ];
    assert_eq!(hits_misses(&pool), vec![(0, 1), (0, 1), (0, 1)]);
    thread::spawn(move || {
        for (i, buf) in bufs.into_iter().enumerate() {
            assert!(buf.iter().all(|&b| b == i as u8 + 1));
            drop(buf);
        }
    })
    .join()
    .unwrap();
    let stats = pool.stats();
    for tier in &stats.tiers {
        assert_eq!((tier.returns, tier.in_use, tier.cached), (1, 0, 1));
    }
    assert_eq!(stats.oversize.in_use, 0);

    // The worker exited, so its cache went to the depot: this thread gets
    // those blocks without allocating.
    let again = [pool.get(1), pool.get(5000), pool.get(70_000)];
    assert_eq!(hits_misses(&pool), vec![(1, 1), (1, 1), (1, 1)]);
    drop(again);

    // And the other way round: got there, dropped here.
    let (tx, rx) = mpsc::channel();
    let remote = pool.clone();
    let worker = thread::spawn(move || {
        for i in 0..3u8 {
            tx.send(filled(&remote, 10, i)).unwrap();
        }
    });
    worker.join().unwrap();
    let received: Vec<PooledBuf> = rx.iter().collect();
    assert_eq!(received.len(), 3);
    for (i, buf) in received.iter().enumerate() {
        assert!(buf.iter().all(|&b| b == i as u8));
    }
    assert_eq!(pool.stats().tiers[0].in_use, 3);
    drop(received);
    assert_all_returned(&pool);
}

#[test]
fn thread_exit_gives_cached_buffers_to_the_depot() {
    let pool = Pool::builder()
        .tier(
            TierConfig::new(256)
                .thread_cache_buffers(8)
                .depot_buffers(64),
        )
        .tier(
            TierConfig::new(4096)
                .thread_cache_buffers(1)
                .depot_buffers(8),
        )
        .build()
        .unwrap();
    let remote = pool.clone();
    thread::spawn(move || {
        let small: Vec<_> = (0..5).map(|_| remote.get(100)).collect();
        let large: Vec<_> = (0..3).map(|_| remote.get(1000)).collect();
        drop((small, large));
        // All 5 small ones stay in this thread's cache.
        assert_eq!(remote.stats().tiers[0].cached, 5);
    })
    .join()
    .unwrap();
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].cached, 5, "cached stays across the exit");
    assert_eq!(stats.tiers[1].cached, 3);
    assert_eq!(stats.tiers[0].dropped, 0);

    // Another thread takes them: hits, not misses.
    let remote = pool.clone();
    thread::spawn(move || {
        let small: Vec<_> = (0..5).map(|_| remote.get(100)).collect();
        let large: Vec<_> = (0..3).map(|_| remote.get(1000)).collect();
        assert_eq!(hits_misses(&remote), vec![(5, 5), (3, 3)]);
        drop((small, large));
    })
    .join()
    .unwrap();
    // This thread too.
    let small: Vec<_> = (0..5).map(|_| pool.get(100)).collect();
    assert_eq!(hits_misses(&pool), vec![(10, 5), (3, 3)]);
    drop(small);
    assert_all_returned(&pool);
}

#[test]
fn thread_exit_into_a_full_depot_counts_dropped() {
    let pool = Pool::builder()
        .tier(TierConfig::new(64).thread_cache_buffers(4).depot_buffers(2))
        .build()
        .unwrap();
    let remote = pool.clone();
    thread::spawn(move || {
        let bufs: Vec<_> = (0..4).map(|_| remote.get(1)).collect();
        drop(bufs);
    })
    .join()
    .unwrap();
    let s = pool.stats().tiers[0];
    assert_eq!((s.returns, s.dropped, s.cached), (4, 2, 2), "{s:?}");
    assert_all_returned(&pool);
}

#[test]
fn many_short_lived_threads_reuse_each_others_buffers() {
    let pool = Pool::builder().build().unwrap();
    let threads = if cfg!(miri) { 4 } else { 50 };
    for i in 0..threads {
        let remote = pool.clone();
        thread::spawn(move || {
            let mut buf = remote.get(1000);
            buf.extend_from_slice(&[i as u8; 1000]);
            assert!(buf.iter().all(|&b| b == i as u8));
        })
        .join()
        .unwrap();
    }
    let s = pool.stats().tiers[0];
    assert_eq!(
        s.misses, 1,
        "every later thread found the first one's block"
    );
    assert_eq!(s.hits, threads - 1);
    assert_all_returned(&pool);
}

#[test]
fn buffers_outlive_every_pool_handle() {
    let pool = Pool::builder().tiers([64, 256]).build().unwrap();
    let mut small = pool.get(10);
    small.extend_from_slice(b"small");
    let mut mid = pool.get(100);
    mid.extend_from_slice(b"mid");
    let mut over = pool.get(1000);
    over.extend_from_slice(b"over");
    let mut split = pool.get(10);
    split.extend_from_slice(b"head|tail");
    let head = split.split_to(5);
    let view = {
        let mut b = pool.get(10);
        b.extend_from_slice(b"frozen view");
        b.freeze()
    };
    let bytes: Bytes = view.slice(..6).into_bytes();
    let to_other_thread = vec![pool.get(1), pool.get(200), pool.get(5000)];
    // Some idle blocks in this thread's cache and the depot, too.
    drop((pool.get(1), pool.get(1), pool.get(1)));
    drop(pool);

    // Everything still works: writes, growth (through the closed pool),
    // freezing, views, Bytes.
    small.extend_from_slice(&[b'!'; 100]); // grows into the closed pool's tier
    assert_eq!(small.capacity(), 256);
    assert_eq!(&small[..5], b"small");
    mid.extend_from_slice(&[b'?'; 300]); // beyond the tiers
    assert_eq!(mid.tier(), None);
    assert_eq!(&mid[..3], b"mid");
    over.extend_from_slice(&[0; 2000]);
    assert_eq!(&over[..4], b"over");
    split.extend_from_slice(&[1; 100]);
    assert_eq!(&split[..4], b"tail");
    assert_eq!(head, b"head|"[..]);
    assert_eq!(view, b"frozen view"[..]);
    assert_eq!(&bytes[..], b"frozen");
    let refrozen = small.freeze();
    let again = refrozen.slice(..5).try_into_mut().unwrap_err();
    assert_eq!(again, b"small"[..]);

    // Drop some here, the rest on another thread, in mixed order.
    let travelling = (to_other_thread, view, bytes, split);
    thread::spawn(move || {
        let (bufs, view, bytes, split) = travelling;
        drop(view);
        drop(bufs);
        assert_eq!(&bytes[..], b"frozen");
        drop(bytes);
        drop(split);
    })
    .join()
    .unwrap();
    drop((mid, over, head, refrozen, again));

    // A new pool (possibly in the same slot) starts from nothing.
    let fresh = Pool::builder().tiers([32]).build().unwrap();
    let buf = fresh.get(1);
    assert_eq!(buf.capacity(), 32);
    assert_eq!(hits_misses(&fresh), vec![(0, 1)]);
    drop(buf);
    assert_all_returned(&fresh);
}

#[test]
fn a_closed_pools_cache_on_another_thread_is_not_handed_to_a_new_pool() {
    let rounds = if cfg!(miri) { 2 } else { 20 };
    for _ in 0..rounds {
        let (cached_tx, cached_rx) = mpsc::channel::<()>();
        let (pool_tx, pool_rx) = mpsc::channel::<Pool>();
        let (buf_tx, buf_rx) = mpsc::channel::<PooledBuf>();
        let old = Pool::builder().tiers([4096]).build().unwrap();
        let remote = old.clone();
        let worker = thread::spawn(move || {
            // Fill this thread's cache for the old pool.
            let bufs: Vec<_> = (0..3).map(|_| remote.get(1)).collect();
            drop(bufs);
            let keep = remote.get(1);
            drop(remote);
            cached_tx.send(()).unwrap();
            // Use the new pool, which may have taken the old one's slot.
            let fresh = pool_rx.recv().unwrap();
            let mut buf = fresh.get(1);
            assert_eq!(buf.capacity(), 100, "a block of the closed pool leaked in");
            buf.extend_from_slice(b"new");
            let stats = fresh.stats().tiers[0];
            assert_eq!((stats.hits, stats.misses), (0, 1));
            // A buffer of the closed pool dropped here is freed, not cached
            // for the new pool.
            drop(keep);
            drop(buf_rx.recv().unwrap());
            drop(buf);
            let again = fresh.get(1);
            assert_eq!(again.capacity(), 100);
            assert_eq!(&again[..], b"", "a recycled buffer is empty");
            let stats = fresh.stats().tiers[0];
            assert_eq!((stats.hits, stats.misses), (1, 1));
            drop(again);
        });
        cached_rx.recv().unwrap();
        let outstanding = old.get(1);
        drop(old); // the last handle
        let fresh = Pool::builder().tiers([100]).build().unwrap();
        pool_tx.send(fresh.clone()).unwrap();
        buf_tx.send(outstanding).unwrap();
        worker.join().unwrap();
        // Here too, nothing of the old pool shows up.
        let buf = fresh.get(1);
        assert_eq!(buf.capacity(), 100);
        drop(buf);
        assert_all_returned(&fresh);
    }
}

#[test]
fn a_surviving_handle_on_another_thread_sees_every_return() {
    let pool = Pool::builder().build().unwrap();
    let observer = pool.clone();
    let bufs: Vec<PooledBuf> = [100, 5000, 70_000, 3 << 20]
        .iter()
        .enumerate()
        .map(|(i, &n)| filled(&pool, n, i as u8))
        .collect();
    let view = filled(&pool, 10, 9).freeze();
    drop(pool); // not the last handle
    let watcher = thread::spawn(move || {
        let before = observer.stats();
        assert_eq!(before.tiers[0].in_use, 2);
        assert_eq!(before.tiers[1].in_use, 1);
        assert_eq!(before.oversize.in_use, 1);
        observer
    });
    let observer = watcher.join().unwrap();
    let views: Vec<SharedBuf> = (0..3).map(|_| view.clone()).collect();
    thread::scope(|s| {
        s.spawn(move || drop(bufs));
        s.spawn(move || drop(views));
    });
    drop(view);
    assert_all_returned(&observer);
    let returns: u64 = observer.stats().tiers.iter().map(|t| t.returns).sum();
    assert_eq!(returns, 4);
}

#[test]
fn buffers_dropped_during_unwinding_return_to_the_pool() {
    let pool = Pool::builder().build().unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut a = pool.get(10);
        a.extend_from_slice(b"abc");
        let view = a.freeze();
        let _slice = view.slice(1..);
        let _bytes = view.clone().into_bytes();
        let mut b = pool.get(70_000);
        b.extend_from_slice(b"def");
        let _big = pool.get(5 << 20);
        assert_eq!(pool.stats().tiers[0].in_use, 1);
        panic!("boom");
    }));
    assert!(result.is_err());
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].returns, 1);
    assert_eq!(stats.tiers[2].returns, 1);
    assert_all_returned(&pool);

    // A thread that panics while holding buffers.
    let remote = pool.clone();
    let joined = thread::spawn(move || {
        let held = [remote.get(10), remote.get(10), remote.get(5000)];
        let _view = {
            let mut b = remote.get(10);
            b.extend_from_slice(b"x");
            b.freeze()
        };
        assert_eq!(held.len(), 3);
        panic!("worker failed");
    })
    .join();
    assert!(joined.is_err());
    assert_all_returned(&pool);
    // Its cache went to the depot when it exited.
    let bufs: Vec<_> = (0..3).map(|_| pool.get(10)).collect();
    // 1 from this thread's cache, 3 from the depot; 1 + 3 misses before.
    let s = pool.stats().tiers[0];
    assert_eq!((s.hits, s.misses), (3, 4), "{s:?}");
    drop(bufs);
    assert_all_returned(&pool);
}

/// Drops its buffers, then gets and drops another one, from a thread-local
/// destructor.
struct DropsBuffersOnExit {
    pool: Option<Pool>,
    bufs: Vec<PooledBuf>,
    views: Vec<SharedBuf>,
    done: Option<mpsc::Sender<&'static str>>,
}

impl Drop for DropsBuffersOnExit {
    fn drop(&mut self) {
        self.bufs.clear();
        self.views.clear();
        if let Some(pool) = self.pool.take() {
            // Getting during thread teardown works too.
            let mut buf = pool.get(10);
            buf.extend_from_slice(b"teardown");
            let view = buf.freeze();
            assert_eq!(view, b"teardown"[..]);
            drop(view);
        }
        if let Some(done) = self.done.take() {
            done.send("teardown done").unwrap();
        }
    }
}

thread_local! {
    static HOLDER: RefCell<Option<DropsBuffersOnExit>> = const { RefCell::new(None) };
}

fn teardown_case(holder_first: bool) {
    let pool = Pool::builder().tiers([64, 4096]).build().unwrap();
    let remote = pool.clone();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        if holder_first {
            // Register the holder's destructor before the pool's thread
            // cache exists, so it runs after the cache is gone.
            HOLDER.with(|h| assert!(h.borrow().is_none()));
        }
        let bufs: Vec<PooledBuf> = (0..3).map(|i| filled(&remote, 10, i)).collect();
        let view = filled(&remote, 1000, 7).freeze();
        let views = vec![view.clone(), view.slice(2..4), view];
        HOLDER.with(|h| {
            *h.borrow_mut() = Some(DropsBuffersOnExit {
                pool: Some(remote),
                bufs,
                views,
                done: Some(done_tx),
            });
        });
    })
    .join()
    .unwrap();
    assert_eq!(done_rx.try_recv(), Ok("teardown done"));
    let stats = pool.stats();
    assert_eq!(stats.tiers[0].returns, 4, "{stats:?}");
    assert_eq!(stats.tiers[1].returns, 1, "{stats:?}");
    assert_all_returned(&pool);
    // Everything the thread returned is shared now.
    let before = hits_misses(&pool);
    let bufs: Vec<_> = (0..3).map(|_| pool.get(10)).collect();
    let big = pool.get(1000);
    let after = hits_misses(&pool);
    assert_eq!(after[0].0 - before[0].0, 3, "{before:?} -> {after:?}");
    assert_eq!(after[1].0 - before[1].0, 1, "{before:?} -> {after:?}");
    assert_eq!(after[0].1, before[0].1);
    drop((bufs, big));
    assert_all_returned(&pool);
}

#[test]
fn buffers_dropped_by_a_thread_local_destructor_after_the_cache() {
    teardown_case(true);
}

#[test]
fn buffers_dropped_by_a_thread_local_destructor_before_the_cache() {
    teardown_case(false);
}

#[test]
fn the_last_pool_handle_dropped_in_a_thread_local_destructor() {
    for holder_first in [true, false] {
        let pool = Pool::builder().tiers([64]).build().unwrap();
        let observer = Pool::builder().tiers([64]).build().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        thread::spawn(move || {
            if holder_first {
                HOLDER.with(|h| assert!(h.borrow().is_none()));
            }
            let bufs = vec![filled(&pool, 10, 1), filled(&pool, 10, 2)];
            drop(pool.get(1)); // an idle block in the cache
            let mut other = observer.get(1);
            other.extend_from_slice(b"other pool");
            HOLDER.with(|h| {
                *h.borrow_mut() = Some(DropsBuffersOnExit {
                    pool: Some(pool), // the only handle: closes on drop
                    bufs,
                    views: vec![other.freeze()],
                    done: Some(done_tx),
                });
            });
            drop(observer);
        })
        .join()
        .unwrap();
        assert_eq!(done_rx.try_recv(), Ok("teardown done"));
    }
}
