//! Caps on the bytes out and waiting for memory under them:
//! `Pool::get_async` and `PooledChain::reserve_block_async` under
//! `max_in_use_bytes`, driven by tokio, smol and `futures::executor`; the
//! arrival-order model of the wait queue (proptest); and `Pool::quota`, a
//! cap per tenant charged together with the pool's (`mod quotas`).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BufMut;
use common::assert_all_returned;
use tierpool::{Pool, PoolError};

const KIB: usize = 1024;

fn capped(limit: usize) -> Pool {
    Pool::builder()
        .tiers([4 * KIB, 64 * KIB])
        .max_in_use_bytes(limit)
        .build()
        .unwrap()
}

fn used(pool: &Pool) -> u64 {
    pool.stats().in_use_limit.unwrap().used
}

/// A waker that counts its wake-ups, to drive futures by hand.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand: `poll` says whether it is ready yet.
struct Manual<F: Future> {
    future: Pin<Box<F>>,
    wakes: Arc<CountingWaker>,
    output: Option<F::Output>,
}

impl<F: Future> Manual<F> {
    fn new(future: F) -> Self {
        Self {
            future: Box::pin(future),
            wakes: Arc::default(),
            output: None,
        }
    }

    fn poll(&mut self) -> bool {
        if self.output.is_none() {
            let waker = Waker::from(Arc::clone(&self.wakes));
            if let Poll::Ready(out) = self.future.as_mut().poll(&mut Context::from_waker(&waker)) {
                self.output = Some(out);
            }
        }
        self.output.is_some()
    }

    fn woken(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }

    fn take(mut self) -> F::Output {
        assert!(self.poll(), "the future is not ready");
        self.output.take().unwrap()
    }
}

#[test]
fn without_a_cap_get_async_is_get() {
    let pool = Pool::new();
    let buf = futures::executor::block_on(pool.get_async(100)).unwrap();
    assert_eq!(buf.capacity(), 4096);
    let huge = futures::executor::block_on(pool.get_async(3 << 20)).unwrap();
    assert_eq!(huge.tier(), None);
    assert!(matches!(
        futures::executor::block_on(pool.get_async(usize::MAX)),
        Err(PoolError::CapacityOverflow { .. })
    ));
}

#[test]
fn a_request_above_the_whole_cap_fails_at_once() {
    let pool = capped(16 * KIB);
    let err = futures::executor::block_on(pool.get_async(64 * KIB)).unwrap_err();
    assert_eq!(
        err,
        PoolError::OverLimit {
            requested: 64 * KIB,
            limit: 16 * KIB
        }
    );
    assert!(err.to_string().contains("can never fit"), "{err}");
    let mut chain = pool.chain();
    let err = futures::executor::block_on(chain.reserve_block_async(1 << 20)).unwrap_err();
    assert!(matches!(err, PoolError::OverLimit { .. }), "{err}");
    assert_eq!(used(&pool), 0);
}

/// A large request that came first is served before later small ones,
/// even though the small ones would fit earlier; `try_get` does not
/// overtake it either.
#[test]
fn waiters_are_served_in_arrival_order() {
    let pool = capped(64 * KIB);
    let held: Vec<_> = (0..16).map(|_| pool.try_get(4 * KIB).unwrap()).collect();
    let mut big = Manual::new(pool.get_async(64 * KIB));
    assert!(!big.poll());
    let mut small = Manual::new(pool.get_async(100));
    assert!(!small.poll());

    let mut held = held.into_iter();
    drop(held.next()); // 4 KiB free: the small one would fit, but waits
    assert!(!small.poll());
    assert_eq!(small.woken(), 0);
    assert!(matches!(
        pool.try_get(100),
        Err(PoolError::Exhausted { .. })
    ));

    drop(held); // everything back: the big one goes first
    assert_eq!(big.woken(), 1);
    assert!(!small.poll());
    let big = big.take().unwrap();
    assert_eq!(big.capacity(), 64 * KIB);
    drop(big);
    assert_eq!(small.woken(), 1);
    let small = small.take().unwrap();
    assert_eq!(used(&pool), 4 * KIB as u64);
    drop(small);
    assert_eq!(used(&pool), 0);
    assert_all_returned(&pool);
}

/// Dropping a waiting future reserves nothing and lets the next one go,
/// at each point of its life: never polled, queued, and granted but not
/// yet polled again.
#[test]
fn cancelling_at_any_point_reserves_nothing() {
    let pool = capped(64 * KIB);
    let hog = pool.try_get(64 * KIB).unwrap();

    drop(pool.get_async(4 * KIB)); // never polled
    let mut queued = Manual::new(pool.get_async(64 * KIB));
    assert!(!queued.poll());
    let mut behind = Manual::new(pool.get_async(4 * KIB));
    assert!(!behind.poll());
    drop(hog);
    // The 64 KiB waiter was granted the bytes; it is dropped before it
    // collects them, which must hand them to the next waiter.
    assert_eq!(queued.woken(), 1);
    assert!(!behind.poll());
    drop(queued);
    assert_eq!(behind.woken(), 1);
    let buf = behind.take().unwrap();
    assert_eq!(used(&pool), 4 * KIB as u64);

    // A queued head that leaves lets a smaller request behind it through.
    let mut head = Manual::new(pool.get_async(64 * KIB));
    assert!(!head.poll());
    let mut next = Manual::new(pool.get_async(4 * KIB));
    assert!(!next.poll());
    drop(head);
    assert_eq!(next.woken(), 1);
    let next = next.take().unwrap();
    drop((buf, next));
    assert_eq!(used(&pool), 0);
    assert_all_returned(&pool);
}

/// Each way bytes come back wakes a waiter on another thread: a dropped
/// buffer, the last view of a frozen one, the last `Bytes` made from it,
/// a chain's segments.
#[test]
fn every_kind_of_return_wakes_a_waiter_on_another_thread() {
    type Holder = Box<dyn FnOnce() + Send>;
    type Case = (&'static str, fn(&Pool) -> Holder);
    let cases: Vec<Case> = vec![
        ("PooledBuf", |pool| {
            let buf = pool.try_get(64 * KIB).unwrap();
            Box::new(move || drop(buf))
        }),
        ("last SharedBuf view", |pool| {
            let mut buf = pool.try_get(64 * KIB).unwrap();
            buf.extend_from_slice(b"frame");
            let view = buf.freeze();
            let slice = view.slice(1..3);
            drop(view);
            Box::new(move || drop(slice))
        }),
        ("last Bytes", |pool| {
            let mut buf = pool.try_get(64 * KIB).unwrap();
            buf.extend_from_slice(b"frame");
            let bytes = buf.freeze().into_bytes();
            let clone = bytes.clone();
            drop(bytes);
            Box::new(move || drop(clone))
        }),
        ("chain segments", |pool| {
            let mut chain = pool.chain();
            chain.put_bytes(1, 64 * KIB);
            let chain = chain.freeze();
            Box::new(move || {
                let mut chain = chain;
                bytes::Buf::advance(&mut chain, 64 * KIB);
                assert!(chain.is_empty()); // advancing released the segment
            })
        }),
    ];
    for (name, hold) in cases {
        let pool = capped(64 * KIB);
        let release = hold(&pool);
        assert_eq!(used(&pool), 64 * KIB as u64, "{name}");
        let waiter = std::thread::spawn({
            let pool = pool.clone();
            move || futures::executor::block_on(pool.get_async(64 * KIB)).unwrap()
        });
        // The waiter blocks until the release, wherever it happens.
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished(), "{name}: served over the cap");
        std::thread::spawn(release).join().unwrap();
        let buf = waiter.join().unwrap();
        assert_eq!(used(&pool), 64 * KIB as u64, "{name}");
        drop(buf);
        assert_eq!(used(&pool), 0, "{name}");
    }
}

/// Many tasks on a multi-threaded runtime, each holding its buffers for a
/// while: the cap holds throughout and every task finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "Miri does not run the multi-thread runtime here")]
async fn tokio_tasks_share_a_cap_and_all_finish() {
    let limit = 64 * KIB;
    let pool = capped(limit);
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let pool = pool.clone();
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                for round in 0..20 {
                    let size = if (i + round) % 5 == 0 {
                        64 * KIB
                    } else {
                        4 * KIB
                    };
                    let mut buf = pool.get_async(size).await.unwrap();
                    buf.put_bytes(i as u8, 10);
                    let in_use = pool.stats().in_use_limit.unwrap().used as usize;
                    peak.fetch_max(in_use, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                    assert_eq!(&buf[..], &[i as u8; 10]);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(peak.load(Ordering::Relaxed) <= limit);
    assert_eq!(used(&pool), 0);
    assert_eq!(pool.stats().over_limit, 0);
}

/// A timed-out wait (tokio's `timeout` drops the future) reserves nothing.
#[tokio::test]
async fn a_timed_out_wait_reserves_nothing() {
    let pool = capped(64 * KIB);
    let hog = pool.try_get(64 * KIB).unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(10), pool.get_async(4 * KIB)).await;
    assert!(waited.is_err());
    assert_eq!(used(&pool), 64 * KIB as u64);
    drop(hog);
    assert_eq!(used(&pool), 0);
    assert!(pool.try_get(64 * KIB).is_ok());
}

/// `read_chain` under a cap waits for memory instead of exceeding it: a
/// slow consumer holding frames holds back the reader.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn read_chain_waits_under_a_cap() {
    let pool = capped(128 * KIB);
    let data = vec![3u8; 256 * KIB];
    let mut input: &[u8] = &data;
    let first = tierpool::io::read_chain(&mut input, &pool, 128 * KIB)
        .await
        .unwrap();
    assert_eq!(used(&pool), 128 * KIB as u64);
    let pool2 = pool.clone();
    let second = tokio::spawn(async move {
        let mut input: &[u8] = &[4u8; 128 * KIB];
        tierpool::io::read_chain(&mut input, &pool2, 128 * KIB).await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!second.is_finished(), "the reader did not wait for memory");
    drop(first);
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.len(), 128 * KIB);
    assert_eq!(pool.stats().over_limit, 0);
    drop(second);
    assert_eq!(used(&pool), 0);
}

/// The reference model of the wait queue: first come, first served, and
/// bytes conserved.
mod model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    const CAP: usize = 192 * KIB;
    /// Requested sizes: a 4 KiB block, a 64 KiB block, an oversize block
    /// of exactly 100,000 bytes.
    const SIZES: [usize; 3] = [100, 5000, 100_000];

    fn charged(size: usize) -> usize {
        match size {
            0..=4096 => 4 * KIB,
            4097..=65536 => 64 * KIB,
            _ => size,
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// `get_async`, polled once.
        Wait(usize),
        /// `try_get`.
        TryGet(usize),
        /// Drop the n-th pending waiter (modulo their number).
        Cancel(usize),
        /// Drop the n-th held buffer (modulo their number).
        Release(usize),
        /// Freeze the n-th held buffer and drop the view on another thread.
        ReleaseElsewhere(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..SIZES.len()).prop_map(Step::Wait),
            1 => (0..SIZES.len()).prop_map(Step::TryGet),
            1 => any::<usize>().prop_map(Step::Cancel),
            2 => any::<usize>().prop_map(Step::Release),
            1 => any::<usize>().prop_map(Step::ReleaseElsewhere),
        ]
    }

    type Waiting = Manual<
        std::pin::Pin<Box<dyn Future<Output = Result<tierpool::PooledBuf, PoolError>> + Send>>,
    >;

    struct Model {
        used: usize,
        /// Waiter ids in arrival order, with their charge.
        queue: VecDeque<(u64, usize)>,
        /// Ids granted and not yet collected.
        granted: Vec<u64>,
    }

    impl Model {
        fn serve(&mut self) {
            while let Some(&(id, bytes)) = self.queue.front() {
                if self.used + bytes > CAP {
                    break;
                }
                self.used += bytes;
                self.granted.push(id);
                self.queue.pop_front();
            }
        }
    }

    fn run(steps: Vec<Step>) {
        let pool = capped(CAP);
        let mut model = Model {
            used: 0,
            queue: VecDeque::new(),
            granted: Vec::new(),
        };
        let mut held: Vec<tierpool::PooledBuf> = Vec::new();
        let mut waiting: Vec<(u64, usize, Waiting)> = Vec::new();
        let mut next_id = 0;
        for step in steps {
            match step {
                Step::Wait(i) => {
                    let size = SIZES[i];
                    let id = next_id;
                    next_id += 1;
                    let pool = pool.clone();
                    let future: std::pin::Pin<Box<dyn Future<Output = _> + Send>> =
                        Box::pin(async move { pool.get_async(size).await });
                    let mut manual = Manual::new(future);
                    let ready = manual.poll();
                    let fits = model.queue.is_empty() && model.used + charged(size) <= CAP;
                    assert_eq!(ready, fits, "get_async({size}) with {} used", model.used);
                    if ready {
                        model.used += charged(size);
                        held.push(manual.take().unwrap());
                    } else {
                        model.queue.push_back((id, charged(size)));
                        waiting.push((id, size, manual));
                    }
                }
                Step::TryGet(i) => {
                    let size = SIZES[i];
                    let result = pool.try_get(size);
                    let fits = model.queue.is_empty() && model.used + charged(size) <= CAP;
                    match result {
                        Ok(buf) => {
                            assert!(fits, "try_get({size}) overtook the queue or the cap");
                            model.used += charged(size);
                            held.push(buf);
                        }
                        Err(PoolError::Oversize { .. }) => assert!(size > 64 * KIB),
                        Err(err) => assert!(!fits, "try_get({size}) refused: {err}"),
                    }
                }
                Step::Cancel(n) if !waiting.is_empty() => {
                    // Granted waiters were collected after the last step,
                    // so this one is still queued (the case of a waiter
                    // dropped between its grant and its next poll is
                    // `cancelling_at_any_point_reserves_nothing`).
                    let (id, _, manual) = waiting.remove(n % waiting.len());
                    drop(manual);
                    model.queue.retain(|&(q, _)| q != id);
                    model.serve();
                }
                Step::Release(n) if !held.is_empty() => {
                    let buf = held.swap_remove(n % held.len());
                    model.used -= buf.capacity();
                    drop(buf);
                    model.serve();
                }
                Step::ReleaseElsewhere(n) if !held.is_empty() => {
                    let buf = held.swap_remove(n % held.len());
                    model.used -= buf.capacity();
                    let view = buf.freeze();
                    std::thread::spawn(move || drop(view)).join().unwrap();
                    model.serve();
                }
                _ => {}
            }
            // Exactly the waiters the model granted are ready; collect them.
            let mut still = Vec::new();
            for (id, size, mut manual) in waiting.drain(..) {
                let granted = model.granted.contains(&id);
                assert_eq!(manual.poll(), granted, "waiter {id} for {size}");
                if granted {
                    model.granted.retain(|&g| g != id);
                    held.push(manual.take().unwrap());
                } else {
                    still.push((id, size, manual));
                }
            }
            waiting = still;
            assert_eq!(used(&pool), model.used as u64);
            assert!(model.used <= CAP);
            assert_eq!(
                held.iter()
                    .map(tierpool::PooledBuf::capacity)
                    .sum::<usize>(),
                model.used
            );
        }
        drop(waiting);
        drop(held);
        assert_eq!(used(&pool), 0);
    }

    proptest! {
        // Failing cases are shrunk and printed, not written to a file.
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 2 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn arrival_order_and_conservation(steps in proptest::collection::vec(step(), 1..if cfg!(miri) { 12 } else { 48 })) {
            run(steps);
        }
    }
}

mod quotas {
    use super::*;

    fn quota_used(quota: &tierpool::Quota) -> usize {
        quota.stats().used
    }

    /// Bytes are charged to the quota and the pool, and released only when
    /// the buffer, every view and every `Bytes` made from it are gone.
    #[test]
    fn charges_quota_and_pool_until_the_last_holder_is_gone() {
        let pool = capped(256 * KIB);
        let quota = pool.quota(64 * KIB);
        let mut buf = quota.try_get(100).unwrap();
        assert_eq!((quota_used(&quota), used(&pool)), (4 * KIB, 4 * KIB as u64));
        buf.extend_from_slice(b"hello world");
        let view = buf.freeze();
        let bytes = view.slice(0..5).into_bytes();
        drop(view);
        assert_eq!(quota_used(&quota), 4 * KIB);
        let elsewhere = std::thread::spawn(move || drop(bytes));
        elsewhere.join().unwrap();
        assert_eq!((quota_used(&quota), used(&pool)), (0, 0));
        assert_eq!(quota.stats().gets, 1);
    }

    /// `try_get` names the cap that refused: the quota's, or the pool's.
    #[test]
    fn try_get_refuses_over_either_cap() {
        let pool = capped(64 * KIB);
        let small = pool.quota(8 * KIB);
        let big = pool.quota(1 << 20);
        let held = [small.try_get(100).unwrap(), small.try_get(100).unwrap()];
        assert_eq!(
            small.try_get(100).unwrap_err(),
            PoolError::Exhausted {
                requested: 4 * KIB,
                limit: 8 * KIB
            }
        );
        assert_eq!(small.stats().exhausted, 1);
        // 64 KiB does not fit the pool beside the 8 KiB held: the pool's
        // cap refuses, and the quota's charge is given back.
        assert_eq!(
            big.try_get(5000).unwrap_err(),
            PoolError::Exhausted {
                requested: 64 * KIB,
                limit: 64 * KIB
            }
        );
        assert_eq!(quota_used(&big), 0);
        let rest: Vec<_> = (0..14).map(|_| big.try_get(100).unwrap()).collect();
        assert_eq!(
            big.try_get(100).unwrap_err(),
            PoolError::Exhausted {
                requested: 4 * KIB,
                limit: 64 * KIB
            }
        );
        // The quota's charge was given back when the pool refused.
        assert_eq!(quota_used(&big), 14 * 4 * KIB);
        drop((held, rest));
        assert_eq!(
            (quota_used(&small), quota_used(&big), used(&pool)),
            (0, 0, 0)
        );
    }

    /// `get` serves over the quota and counts it; growth charges the new
    /// block to the same quota.
    #[test]
    fn get_and_growth_stay_charged_to_the_quota() {
        let pool = Pool::new();
        let quota = pool.quota(8 * KIB);
        let mut buf = quota.get(100);
        buf.extend_from_slice(&[1; 5000]); // moves to a 64 KiB block
        assert_eq!(buf.capacity(), 64 * KIB);
        assert_eq!(quota_used(&quota), 64 * KIB);
        let stats = quota.stats();
        assert_eq!((stats.gets, stats.over_limit), (2, 1));
        drop(buf);
        assert_eq!(quota_used(&quota), 0);
        // A buffer grown from a quota-less block stays quota-less.
        let mut plain = pool.get(100);
        plain.extend_from_slice(&[1; 5000]);
        assert_eq!(quota.stats().gets, 2);
    }

    /// One quota full and waiting does not hold back another: a slow
    /// consumer stalls its own producer only.
    #[test]
    fn a_full_quota_waits_without_holding_back_another() {
        let pool = capped(1 << 20);
        let slow = pool.quota(8 * KIB);
        let fast = pool.quota(8 * KIB);
        let stuck: Vec<_> = (0..2).map(|_| slow.try_get(100).unwrap()).collect();
        let mut waiting = Manual::new(slow.get_async(100));
        assert!(!waiting.poll());
        assert_eq!(slow.stats().waiting, 1);
        let mut other = Manual::new(fast.get_async(100));
        assert!(other.poll(), "another quota's request waited");
        drop(other.take().unwrap());
        drop(stuck);
        assert_eq!(waiting.woken(), 1);
        let buf = waiting.take().unwrap();
        assert_eq!(quota_used(&slow), 4 * KIB);
        drop(buf);
        assert_eq!(slow.stats().waiting, 0);
    }

    /// Waiting on the pool after the quota was granted, then giving up,
    /// gives the quota's bytes back.
    #[test]
    fn a_wait_dropped_between_the_two_caps_gives_the_quota_back() {
        let pool = capped(64 * KIB);
        let quota = pool.quota(64 * KIB);
        let hog = pool.try_get(64 * KIB).unwrap(); // the pool is full
        let mut waiting = Manual::new(quota.get_async(100));
        assert!(!waiting.poll());
        assert_eq!(quota_used(&quota), 4 * KIB, "the quota's part is charged");
        drop(waiting);
        assert_eq!(quota_used(&quota), 0);
        drop(hog);
        assert_eq!(used(&pool), 0);
    }

    /// A chain from a quota charges each block; async reservation waits
    /// for the quota, `try_reserve_block` refuses.
    #[test]
    fn chains_charge_each_block() {
        let pool = Pool::new();
        let quota = pool.quota(128 * KIB);
        let mut first = quota.chain();
        first.put_bytes(1, 128 * KIB);
        assert_eq!(quota_used(&quota), 128 * KIB);
        let mut second = quota.chain();
        assert!(matches!(
            second.try_reserve_block(100),
            Err(PoolError::Exhausted { .. })
        ));
        let first = first.freeze();
        let mut waiting = Manual::new(async move {
            second.reserve_block_async(100).await.unwrap();
            second
        });
        assert!(!waiting.poll());
        let mut first = first;
        bytes::Buf::advance(&mut first, 64 * KIB); // releases one segment
        assert_eq!(waiting.woken(), 1);
        let second = waiting.take();
        assert_eq!(second.spare_capacity(), 4 * KIB);
        assert_eq!(quota_used(&quota), 64 * KIB + 4 * KIB);
        drop((first, second));
        assert_eq!(quota_used(&quota), 0);
        assert!(matches!(
            futures::executor::block_on(quota.chain().reserve_block_async(1 << 20)),
            Err(PoolError::OverLimit { .. })
        ));
    }

    /// Many tokio tasks, each with its own quota inside a pool cap: every
    /// quota and the pool stay within their caps, and all tasks finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(miri, ignore = "Miri does not run the multi-thread runtime here")]
    async fn tasks_with_quotas_stay_under_every_cap() {
        let pool = capped(128 * KIB);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let quota = pool.quota(16 * KIB);
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut held = std::collections::VecDeque::new();
                    for round in 0..50 {
                        held.push_back(quota.get_async(100 + round).await.unwrap());
                        if held.len() > 3 {
                            held.pop_front();
                        }
                        assert!(quota.stats().used <= 16 * KIB, "task {i}");
                        assert!(used(&pool) <= 128 * KIB as u64);
                        tokio::task::yield_now().await;
                    }
                    drop(held);
                    assert_eq!(quota.stats().used, 0);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(used(&pool), 0);
        assert_eq!(pool.stats().over_limit, 0);
    }
}

/// Who holds the memory and who waits for it: `Pool::quotas`, the
/// quota summary and the wait queue's figures in `PoolStats`, and a broker
/// that sheds its largest holder once the pool has been full too long.
mod overload {
    use super::*;
    use tierpool::QuotaSummary;

    /// `Pool::quotas` lists every live quota, the most bytes first (ties
    /// in the order the quotas were made); a quota whose handles are gone
    /// stays listed while a buffer charged to it is out, and leaves the
    /// list with its last buffer.
    #[test]
    fn quotas_are_listed_largest_first_while_they_hold_or_live() {
        let pool = Pool::new();
        let idle = pool.quota(1 << 20);
        let small = pool.quota(1 << 20);
        let large = pool.quota(1 << 20);
        let a = small.get(100);
        let b = large.get(5000);
        let ids: Vec<_> = pool.quotas().iter().map(|q| (q.id, q.used)).collect();
        assert_eq!(
            ids,
            [
                (large.id(), 64 * KIB),
                (small.id(), 4 * KIB),
                (idle.id(), 0)
            ]
        );
        let summary = pool.stats().quotas;
        assert_eq!((summary.live, summary.used), (3, (68 * KIB) as u64));
        assert_eq!(summary.largest.len(), 3);

        let large_id = large.id();
        drop((large, idle));
        let listed: Vec<_> = pool.quotas().iter().map(|q| q.id).collect();
        assert_eq!(listed, [large_id, small.id()], "`b` still holds its charge");
        drop(b);
        let listed: Vec<_> = pool.quotas().iter().map(|q| q.id).collect();
        assert_eq!(listed, [small.id()]);
        drop((a, small));
        assert!(pool.quotas().is_empty());
        assert_eq!(pool.stats().quotas, QuotaSummary::default());
    }

    /// Thousands of short-lived quotas (a connection each) leave nothing
    /// listed, and the summary lists at most `LARGEST`.
    #[test]
    fn short_lived_quotas_leave_the_list() {
        let pool = Pool::new();
        let n = if cfg!(miri) { 100 } else { 10_000 };
        for i in 0..n {
            let quota = pool.quota(1 << 20);
            drop(quota.get(i % 5000));
        }
        assert!(pool.quotas().is_empty());
        let held: Vec<_> = (0..20).map(|_| pool.quota(KIB)).collect();
        let bufs: Vec<_> = held.iter().map(|q| q.get(100)).collect();
        let summary = pool.stats().quotas;
        assert_eq!((summary.live, summary.used), (20, (20 * 4 * KIB) as u64));
        assert_eq!(summary.largest.len(), QuotaSummary::LARGEST);
        // Equal holdings: the oldest quotas first.
        let first: Vec<_> = held
            .iter()
            .take(QuotaSummary::LARGEST)
            .map(|q| q.id())
            .collect();
        let listed: Vec<_> = summary.largest.iter().map(|q| q.id).collect();
        assert_eq!(listed, first);
        drop(bufs);
    }

    /// The wait queue's figures: how many wait, for how many bytes, and
    /// the head's wait, which grows while it waits and is gone once it is
    /// served. A quota's own waiters show in its usage, not the pool's.
    #[test]
    fn waiting_requests_and_the_oldest_wait_are_seen() {
        let pool = capped(64 * KIB);
        assert_eq!(pool.stats().waiting, tierpool::WaitStats::default());
        let hog = pool.try_get(64 * KIB).unwrap();
        let mut first = Manual::new(pool.get_async(100));
        let mut second = Manual::new(pool.get_async(200));
        assert!(!first.poll() && !second.poll());
        let before = pool.stats().waiting;
        assert_eq!((before.requests, before.bytes), (2, (8 * KIB) as u64));
        std::thread::sleep(Duration::from_millis(5));
        let after = pool.stats().waiting.oldest_wait.unwrap();
        assert!(after >= before.oldest_wait.unwrap() + Duration::from_millis(5));
        assert!(pool
            .stats()
            .to_string()
            .contains("waiting: 2 requests for 8 KiB"));

        drop(hog); // serves both
        assert_eq!(pool.stats().waiting, tierpool::WaitStats::default());
        drop((first.take().unwrap(), second.take().unwrap()));

        let quota = pool.quota(4 * KIB);
        let held = quota.try_get(100).unwrap();
        let mut queued = Manual::new(quota.get_async(100));
        assert!(!queued.poll());
        assert_eq!(pool.quotas()[0].waiting, 1);
        assert_eq!(pool.stats().waiting.requests, 0, "it waits on its quota");
        drop(held);
        drop(queued.take().unwrap());
        assert_eq!(pool.quotas()[0].waiting, 0);
    }

    /// A broker under a pool cap with one slow consumer: its connection
    /// holds frames it never releases, the others wait in `get_async`
    /// for the pool. A shedder that sees the oldest wait pass a limit
    /// closes the connection of the largest quota, and only that one:
    /// every other connection then finishes all its frames.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(miri, ignore = "Miri does not run the multi-thread runtime here")]
    async fn shedding_the_largest_holder_lets_the_others_proceed() {
        use std::collections::HashMap;

        const FRAMES: usize = 200;
        let pool = capped(256 * KIB);
        let mut connections = HashMap::new();
        let mut finished = Vec::new();
        // The slow consumer: takes frames and never lets go.
        let hog = pool.quota(1 << 20);
        let hog_id = hog.id();
        let hog_task = tokio::spawn(async move {
            let mut kept = Vec::new();
            loop {
                kept.push(hog.get_async(60 * KIB).await.unwrap());
            }
        });
        connections.insert(hog_id, hog_task.abort_handle());
        // Let it fill the pool first.
        while used(&pool) < (256 - 64) as u64 * KIB as u64 {
            tokio::task::yield_now().await;
        }
        for _ in 0..3 {
            let quota = pool.quota(128 * KIB);
            let id = quota.id();
            let task = tokio::spawn(async move {
                for _ in 0..FRAMES {
                    let mut frame = quota.get_async(30 * KIB).await.unwrap();
                    frame.extend_from_slice(&[7; 100]);
                    tokio::task::yield_now().await;
                }
                FRAMES
            });
            connections.insert(id, task.abort_handle());
            finished.push(task);
        }

        // The shedder.
        let limit = Duration::from_millis(50);
        let shed = loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let waiting = pool.stats().waiting;
            if waiting.oldest_wait.is_some_and(|wait| wait > limit) {
                let largest = pool.quotas()[0];
                connections[&largest.id].abort();
                break largest;
            }
        };
        assert_eq!(shed.id, hog_id, "the largest holder is the slow consumer");
        assert!(shed.used >= 192 * KIB);
        assert!(hog_task.await.unwrap_err().is_cancelled());
        for task in finished {
            assert_eq!(
                task.await.unwrap(),
                FRAMES,
                "every other connection finishes"
            );
        }
        assert!(pool.quotas().is_empty());
        assert_all_returned(&pool);
    }
}

/// smol's executor drives `get_async` too: tasks on its global executor
/// share a cap, waiting for each other's returns.
#[test]
#[cfg(not(loom))]
#[cfg_attr(miri, ignore = "smol's reactor makes system calls Miri does not run")]
fn smol_tasks_share_a_cap() {
    let pool = capped(16 * KIB);
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let pool = pool.clone();
            smol::spawn(async move {
                for _ in 0..20 {
                    let mut buf = pool.get_async(100).await.unwrap();
                    buf.put_bytes(i, 8);
                    smol::future::yield_now().await;
                    assert_eq!(&buf[..], &[i; 8]);
                    assert!(used(&pool) <= 16 * KIB as u64);
                }
            })
        })
        .collect();
    smol::block_on(async {
        for task in tasks {
            task.await;
        }
    });
    assert_eq!(used(&pool), 0);
    assert_eq!(pool.stats().over_limit, 0);
}
