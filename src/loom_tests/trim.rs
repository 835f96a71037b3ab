//! Trims that reach other threads' caches: working, parked, and owners
//! that must be asked.

use super::*;

/// `trim` on two threads, each racing the other's gets and drops: one
/// thread spills a block to the depot, and both trim their own cache and
/// the depot, then get again. Trimmed blocks are freed exactly once (loom
/// tracks the frees), and the `trimmed` counter adds up: the blocks the
/// stats still call cached are really there.
#[test]
fn trim_races_get_and_drop() {
    run_model("trim_races_get_and_drop", || {
        let pool = tiny_pool(1, 2);
        let shadows = Shadows::new();
        let spiller = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let a = get_filled(&pool, &shadows, 1);
                let b = get_filled(&pool, &shadows, 2);
                drop(a); // to the thread cache (it holds one)
                drop(b); // spills `a` to the depot, caches `b`
                pool.trim();
                let (c, stamp) = get_filled(&pool, &shadows, 3);
                stamp.check_buf(&c);
            })
        };
        let trimmer = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (d, stamp) = get_filled(&pool, &shadows, 4);
                stamp.check_buf(&d);
                drop(d);
                pool.trim();
                let (e, stamp) = get_filled(&pool, &shadows, 5);
                stamp.check_buf(&e);
            })
        };
        spiller.join().unwrap();
        trimmer.join().unwrap();
        assert_settled(&pool, &shadows, 5);
    });
}

/// A trim on one thread takes the idle blocks of another thread's cache
/// while that thread gets and returns (with the asymmetric fences modelled
/// as `SeqCst` fences: see `sync::asymmetric`): the handshake of `thread_cache`
/// (the owner's `busy` flag and light fence against the trim's `STEALING`
/// request and heavy fence). Loom checks that the two never touch the
/// stacks at once (the stacks are loom cells), that each side sees the
/// other's changes to them, and that every block ends up exactly once in a
/// cache, the depot or freed: whichever way the trim went (taking the
/// blocks, or, finding the owner busy, asking it to free them itself).
#[test]
fn trim_takes_a_working_threads_cache() {
    let _fenced = model_handshake(HandshakeModel::Fenced);
    run_model("trim_takes_a_working_threads_cache", || {
        let pool = tiny_pool(2, 0);
        let shadows = Shadows::new();
        let owner = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                let (a, stamp) = get_filled(&pool, &shadows, 1);
                stamp.check_buf(&a);
                drop(a); // cached here
                let (b, stamp) = get_filled(&pool, &shadows, 2);
                stamp.check_buf(&b);
                drop(b);
            })
        };
        let trimmer = {
            let pool = pool.clone();
            thread::spawn(move || pool.trim())
        };
        trimmer.join().unwrap();
        owner.join().unwrap();
        // Whatever the trim found, a second one takes what is left once
        // the owner is done (its cache flushed to the depot).
        let_exited_threads_finish();
        pool.trim();
        let stats = tier_stats(&pool);
        assert_eq!(stats.cached, 0, "a trim leaves nothing idle: {stats:?}");
        assert_settled(&pool, &shadows, 2);
    });
}

/// Spawns a thread that caches two blocks of `pool` and parks until the
/// returned sender is used; then it runs `then`. Returns once the two
/// blocks are cached.
fn park_with_two_cached(
    pool: &Pool,
    shadows: &Shadows,
    then: impl FnOnce(&Pool, &Shadows) + Send + 'static,
) -> (thread::JoinHandle<()>, loom::sync::mpsc::Sender<()>) {
    let (parked_tx, parked_rx) = loom::sync::mpsc::channel();
    let (release_tx, release_rx) = loom::sync::mpsc::channel::<()>();
    let owner = {
        let (pool, shadows) = (pool.clone(), shadows.clone());
        thread::spawn(move || {
            let a = get_filled(&pool, &shadows, 1);
            let b = get_filled(&pool, &shadows, 2);
            drop((a, b)); // both cached here
            parked_tx.send(()).unwrap();
            // Parked: the pool is not touched until released.
            release_rx.recv().unwrap();
            then(&pool, &shadows);
        })
    };
    parked_rx.recv().unwrap();
    (owner, release_tx)
}

/// A thread that cached blocks and stopped using the pool: a trim from
/// another thread takes them, with no help from the owner.
#[test]
fn trim_reaches_a_parked_threads_cache() {
    let _fenced = model_handshake(HandshakeModel::Fenced);
    run_model("trim_reaches_a_parked_threads_cache", || {
        let pool = tiny_pool(2, 0);
        let shadows = Shadows::new();
        let (owner, release) = park_with_two_cached(&pool, &shadows, |_, _| {});
        pool.trim();
        let stats = tier_stats(&pool);
        assert_eq!(
            (stats.cached, stats.trimmed),
            (0, 2),
            "the parked thread's blocks were freed: {stats:?}"
        );
        release.send(()).unwrap();
        owner.join().unwrap();
        assert_settled(&pool, &shadows, 2);
    });
}

/// Where the heavy fence cannot be issued, a trim asks instead: a parked
/// thread's cache stays as it is until its owner's next get, which frees
/// every block the trim asked for before serving the get.
#[test]
fn trim_asks_an_owner_it_cannot_reach() {
    let _asking = model_handshake(HandshakeModel::Asking);
    run_model("trim_asks_an_owner_it_cannot_reach", || {
        let pool = tiny_pool(2, 0);
        let shadows = Shadows::new();
        let (owner, trimmed) = park_with_two_cached(&pool, &shadows, |pool, shadows| {
            let (c, stamp) = get_filled(pool, shadows, 3);
            stamp.check_buf(&c);
            let stats = tier_stats(pool);
            assert_eq!(
                (stats.trimmed, stats.misses),
                (2, 3),
                "the owner freed what the trim asked for, then missed: {stats:?}"
            );
        });
        pool.trim();
        assert_eq!(tier_stats(&pool).cached, 2, "no fence: nothing taken");
        trimmed.send(()).unwrap();
        owner.join().unwrap();
        assert_settled(&pool, &shadows, 3);
    });
}
