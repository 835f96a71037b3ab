//! Byte budgets: the in-use and cached caps, and waiting for memory
//! (`WaitableBudget`, quotas). A waiter that is never woken makes loom
//! report a deadlock; accounting is checked exactly at the end of each
//! execution.

use super::*;

/// Tries to get a buffer under the one-buffer in-use cap of
/// [`in_use_cap_races_try_get`], as holder `id`; `out` counts the buffers
/// held at once. Returns whether the pool granted it.
fn try_hold(pool: &Pool, shadows: &Shadows, out: &std::sync::atomic::AtomicUsize, id: u8) -> bool {
    use std::sync::atomic::Ordering::SeqCst;
    match pool.try_get(HEADER + PATTERN) {
        Ok(mut buf) => {
            let held = out.fetch_add(1, SeqCst) + 1;
            assert_eq!(held, 1, "holder {id}: two buffers out under a cap of one");
            let stamp = shadows.fill(&mut buf, id);
            stamp.check_buf(&buf);
            out.fetch_sub(1, SeqCst);
            true
        }
        Err(PoolError::Exhausted { requested, limit }) => {
            assert_eq!((requested, limit), (TIER, TIER), "holder {id}");
            false
        }
        Err(err) => panic!("holder {id}: {err}"),
    }
}

/// Two threads race `try_get` against a `max_in_use_bytes` cap that fits
/// one buffer: the charge is a compare-and-swap, so at most one buffer is
/// ever out, at least one request is granted, every refusal is counted in
/// `exhausted`, and once both buffers are back the budget charges exactly
/// nothing.
///
/// `out` is a `std` atomic, which loom does not see: it adds no
/// happens-before edge, and loom runs one thread at a time, so it counts
/// the buffers held at any instant exactly.
#[test]
fn in_use_cap_races_try_get() {
    run_model("in_use_cap_races_try_get", || {
        let pool = tiny_builder(2, 2)
            .max_in_use_bytes(TIER)
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let out = StdArc::new(std::sync::atomic::AtomicUsize::new(0));
        let other = {
            let (pool, shadows, out) = (pool.clone(), shadows.clone(), StdArc::clone(&out));
            thread::spawn(move || try_hold(&pool, &shadows, &out, 1))
        };
        let mine = try_hold(&pool, &shadows, &out, 2);
        let theirs = other.join().unwrap();
        let_exited_threads_finish();
        let granted = u64::from(mine) + u64::from(theirs);
        let stats = pool.stats();
        assert!(granted >= 1, "a refusal needs a buffer out: {stats:?}");
        assert_eq!(stats.exhausted, 2 - granted, "{stats:?}");
        assert_eq!(stats.over_limit, 0, "{stats:?}");
        let budget = stats.in_use_limit.expect("an in-use budget");
        assert_eq!(
            budget.used, 0,
            "every granted buffer was returned: {stats:?}"
        );
        assert_settled(&pool, &shadows, granted);
    });
}

/// Two buffers are returned at once, on two threads, to a pool whose
/// `max_cached_bytes` fits one block: each return charges the budget and
/// then frees its block if the budget is over (both may see the other's
/// charge, and both free). Once both threads are done the budget charges
/// exactly the idle blocks the pool keeps, within the cap, and each return
/// was either kept or counted in `dropped_over_limit`.
#[test]
fn cached_cap_races_returns() {
    run_model("cached_cap_races_returns", || {
        let pool = tiny_builder(2, 2)
            .max_cached_bytes(TIER)
            .build()
            .expect("a valid configuration");
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let returner = thread::spawn(move || {
            stamp_a.check_buf(&a);
            drop(a);
        });
        stamp_b.check_buf(&b);
        drop(b);
        returner.join().unwrap();
        let_exited_threads_finish();
        let stats = pool.stats();
        let tier = stats.tiers[0];
        let budget = stats.cached_limit.expect("a cached budget");
        assert_eq!(
            budget.used,
            tier.cached * TIER as u64,
            "the budget charges exactly the idle blocks: {stats:?}"
        );
        assert!(budget.used <= TIER as u64, "over the cap: {stats:?}");
        assert_eq!(tier.cached + tier.dropped_over_limit, 2, "{stats:?}");
        assert_settled(&pool, &shadows, 2);
    });
}

/// A release on one thread and a request that must wait for it on
/// another: the waiter is always woken (no lost wake-up), and gets
/// exactly the bytes released.
#[test]
fn budget_release_races_a_new_waiter() {
    run_model("budget_release_races_a_new_waiter", || {
        let budget = Arc::new(WaitableBudget::new(10));
        assert!(budget.try_acquire(10));
        let releaser = thread::spawn({
            let budget = Arc::clone(&budget);
            move || {
                // What an operator reads: the waiter, whole or not at all.
                let seen = budget.waiters();
                assert!(seen.requests <= 1, "{seen:?}");
                assert_eq!(seen.bytes, seen.requests * 10, "{seen:?}");
                assert_eq!(seen.oldest.is_some(), seen.requests == 1, "{seen:?}");
                budget.release(10);
            }
        });
        block_on(budget.acquire(10));
        releaser.join().unwrap();
        assert_eq!(budget.used(), 10);
        budget.release(10);
        assert!(budget.is_idle(), "the budget ends idle: {budget:?}");
    });
}

/// A waiter that gives up (polled once, then dropped) races a release
/// and a second waiter: whatever the order, the second waiter is
/// served, the first one keeps nothing, and no waiter bit is left.
#[test]
fn budget_cancel_races_release_and_a_new_waiter() {
    run_model("budget_cancel_races_release_and_a_new_waiter", || {
        let budget = Arc::new(WaitableBudget::new(10));
        assert!(budget.try_acquire(10));
        let releaser = thread::spawn({
            let budget = Arc::clone(&budget);
            move || budget.release(10)
        });
        let quitter = thread::spawn({
            let budget = Arc::clone(&budget);
            move || {
                let mut give_up = pin!(budget.acquire(4));
                let waker = futures::task::noop_waker();
                // Served or queued, it leaves now; served bytes are
                // the caller's, so it gives them back itself.
                let polled = give_up.as_mut().poll(&mut Context::from_waker(&waker));
                if polled.is_ready() {
                    budget.release(4);
                }
            }
        });
        block_on(budget.acquire(10));
        releaser.join().unwrap();
        quitter.join().unwrap();
        assert_eq!(budget.used(), 10);
        budget.release(10);
        assert!(budget.is_idle(), "the budget ends idle: {budget:?}");
    });
}

/// A large waiter at the head, which holds back a smaller one that
/// would fit, gives up on another thread: the smaller one is served
/// then, with no release to wake it.
#[test]
fn budget_head_that_leaves_lets_the_next_one_through() {
    run_model("budget_head_that_leaves_lets_the_next_one_through", || {
        let budget = Arc::new(WaitableBudget::new(10));
        assert!(budget.try_acquire(6));
        let quitter = thread::spawn({
            let budget = Arc::clone(&budget);
            move || {
                let mut too_big = pin!(budget.acquire(10));
                let waker = futures::task::noop_waker();
                let polled = too_big.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(polled.is_pending(), "10 bytes cannot fit while 6 are held");
            }
        });
        block_on(budget.acquire(4));
        quitter.join().unwrap();
        assert_eq!(budget.used(), 10);
        budget.release(10);
        assert!(budget.is_idle(), "the budget ends idle: {budget:?}");
    });
}

/// A quota inside a capped pool: a view charged to both, dropped on
/// another thread, wakes a request waiting on the quota, and both
/// counts settle exactly (the quota's charge and the pool's are
/// released by the same return).
#[test]
fn budget_quota_and_pool_release_together() {
    run_model("budget_quota_and_pool_release_together", || {
        let pool = Pool::builder()
            .tier(TierConfig::new(64).thread_cache_buffers(1).depot_buffers(1))
            .max_in_use_bytes(128)
            .build()
            .unwrap();
        let quota = pool.quota(64);
        let mut buf = quota.try_get(64).unwrap();
        buf.extend_from_slice(b"frame");
        let view = buf.freeze();
        let reader = thread::spawn(move || drop(view));
        let again = block_on(quota.get_async(64)).unwrap();
        reader.join().unwrap();
        assert_eq!(quota.stats().used, 64);
        assert_eq!(pool.stats().in_use_limit.unwrap().used, 64);
        drop(again);
        assert_eq!(quota.stats().used, 0);
        assert_eq!(pool.stats().in_use_limit.unwrap().used, 0);
        assert_eq!(quota.stats().gets, 2);
    });
}

/// The wake-up path end to end: the last view of a buffer, dropped on
/// another thread, wakes a task waiting in `get_async` for its bytes.
#[test]
fn budget_view_drop_wakes_get_async() {
    run_model("budget_view_drop_wakes_get_async", || {
        let pool = Pool::builder()
            .tier(TierConfig::new(64).thread_cache_buffers(1).depot_buffers(1))
            .max_in_use_bytes(64)
            .build()
            .unwrap();
        let mut buf = pool.try_get(64).unwrap();
        buf.extend_from_slice(b"frame");
        let view = buf.freeze();
        let reader = thread::spawn(move || {
            assert_eq!(&view[..], b"frame");
            drop(view);
        });
        let again = block_on(pool.get_async(64)).unwrap();
        assert_eq!(again.capacity(), 64);
        reader.join().unwrap();
        assert_eq!(pool.stats().in_use_limit.unwrap().used, 64);
        drop(again);
        assert_eq!(pool.stats().in_use_limit.unwrap().used, 0);
        assert_eq!(pool.stats().over_limit, 0);
    });
}

/// Quotas made and dropped on one thread, with a buffer charged to one of
/// them dropped on another, while `Pool::quotas` lists them: a listing
/// shows each live quota once, with a charge of none or its one block,
/// and once every handle and buffer is gone the pool lists none.
#[test]
fn quota_registry_lists_live_quotas_while_they_come_and_go() {
    run_model(
        "quota_registry_lists_live_quotas_while_they_come_and_go",
        || {
            let pool = Pool::builder()
                .tier(TierConfig::new(64).thread_cache_buffers(1).depot_buffers(1))
                .build()
                .unwrap();
            let quota = pool.quota(64);
            let buf = quota.get(64);
            let other = thread::spawn({
                let pool = pool.clone();
                move || {
                    let short = pool.quota(64);
                    drop(short);
                    drop(buf);
                }
            });
            let listed = pool.quotas();
            assert!(!listed.is_empty() && listed.len() <= 2, "{listed:?}");
            assert!(
                listed.iter().all(|q| q.used == 0 || q.used == 64),
                "{listed:?}"
            );
            drop(quota);
            other.join().unwrap();
            let_exited_threads_finish();
            assert_eq!(pool.quotas(), [], "nothing holds a quota any more");
            assert_eq!(pool.stats().quotas.live, 0);
        },
    );
}
