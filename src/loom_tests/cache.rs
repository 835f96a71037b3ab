//! Thread caches and depots: batch refill and spill, returns from other
//! threads, a thread that exits, a pool dropped while buffers are out.

use super::*;

/// Two threads work one tier whose thread caches hold 2 and whose depot
/// holds 2 (batches of 1): one gets three buffers and drops them, so the
/// third drop spills to the depot and its exit flushes the rest (the depot
/// may be full: the excess is freed); the other gets two at once, refilling
/// from the depot when it can.
#[test]
fn depot_refill_and_spill() {
    run_model("depot_refill_and_spill", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let spiller = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let held: Vec<_> = (1..=3).map(|id| get_filled(&pool, &shadows, id)).collect();
                for (buf, stamp) in held {
                    stamp.check_buf(&buf);
                    drop(buf);
                }
            })
        };
        let taker = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let a = get_filled(&pool, &shadows, 4);
                let b = get_filled(&pool, &shadows, 5);
                a.1.check_buf(&a.0);
                b.1.check_buf(&b.0);
            })
        };
        spiller.join().unwrap();
        taker.join().unwrap();
        assert_settled(&pool, &shadows, 5);
    });
}

/// Buffers got on one thread are verified and dropped on another, while
/// the first keeps getting. The returning thread's cache holds two, so its
/// third return spills a block to the depot, where the getting thread (two
/// buffers at once, so its own cache runs dry) may pick it up.
#[test]
fn cross_thread_return() {
    run_model("cross_thread_return", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let sent: Vec<_> = (1..=3).map(|id| get_filled(&pool, &shadows, id)).collect();
        let returner = thread::spawn(move || {
            for (buf, stamp) in sent {
                stamp.check_buf(&buf);
                drop(buf);
            }
        });
        let a = get_filled(&pool, &shadows, 4);
        let b = get_filled(&pool, &shadows, 5);
        a.1.check_buf(&a.0);
        b.1.check_buf(&b.0);
        drop((a, b));
        returner.join().unwrap();
        assert_settled(&pool, &shadows, 5);
    });
}

/// A thread fills its cache and exits, flushing the cache to the depot,
/// while another thread gets two buffers from the same tier (refilling from
/// the depot, possibly mid-flush).
#[test]
fn thread_exit_flush_races_get() {
    run_model("thread_exit_flush_races_get", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let exiting = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let a = get_filled(&pool, &shadows, 1);
                let b = get_filled(&pool, &shadows, 2);
                a.1.check_buf(&a.0);
                b.1.check_buf(&b.0);
                // Both go to this thread's cache, flushed when it exits.
            })
        };
        let getter = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let c = get_filled(&pool, &shadows, 3);
                let d = get_filled(&pool, &shadows, 4);
                c.1.check_buf(&c.0);
                d.1.check_buf(&d.0);
            })
        };
        exiting.join().unwrap();
        getter.join().unwrap();
        assert_settled(&pool, &shadows, 4);
    });
}

/// The last `Pool` handle is dropped while buffers are out and being
/// returned on another thread, which also holds a handle and gets a buffer
/// with it: either thread may close the pool. Whatever the order, every
/// block must be freed: returned after the close, cached by a thread and
/// flushed (or refused) at its exit, or drained by the close.
#[test]
fn pool_drop_while_buffers_out() {
    run_model("pool_drop_while_buffers_out", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (a, stamp_a) = get_filled(&pool, &shadows, 1);
        let (b, stamp_b) = get_filled(&pool, &shadows, 2);
        let returner = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                stamp_a.check_buf(&a);
                drop(a);
                let (c, stamp_c) = get_filled(&pool, &shadows, 3);
                drop(pool);
                let view = b.freeze().slice(HEADER..);
                let copy = view.clone();
                stamp_b.check(&view);
                drop(view);
                stamp_b.check(&copy);
                drop(copy);
                stamp_c.check_buf(&c);
            })
        };
        drop(pool);
        returner.join().unwrap();
    });
}
