//! Frozen views and chains: the last view racing a clone, views and
//! segments dropped on other threads, `try_into_mut`, zeroing on return.

use super::*;

/// Two views of one storage on two threads: one thread clones, slices and
/// converts its view into `Bytes`, the other drops its view; whichever
/// drops the last reference recycles the block into its own cache, and both
/// threads then get a buffer, so the recycler reuses the block at once.
/// Loom checks that every read through a view happens before the reuse.
#[test]
fn last_view_drop_races_clone() {
    run_model("last_view_drop_races_clone", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (buf, stamp) = get_filled(&pool, &shadows, 1);
        let frame = buf.freeze();
        let mine: SharedBuf = frame.slice(HEADER..);
        let theirs = mine.clone();
        drop(frame);
        let stamp = StdArc::new(stamp);
        let cloner = {
            let (pool, shadows, stamp) = (pool.clone(), shadows.clone(), StdArc::clone(&stamp));
            thread::spawn(move || {
                let copy = mine.clone();
                let head = copy.slice(..PATTERN / 2);
                let bytes = mine.into_bytes();
                stamp.check(&copy);
                stamp.check(&head);
                stamp.check(&bytes);
                drop((copy, head, bytes));
                let (buf, again) = get_filled(&pool, &shadows, 2);
                again.check_buf(&buf);
            })
        };
        let dropper = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                stamp.check(&theirs);
                drop(theirs);
                let (buf, again) = get_filled(&pool, &shadows, 3);
                again.check_buf(&buf);
            })
        };
        cloner.join().unwrap();
        dropper.join().unwrap();
        assert_settled(&pool, &shadows, 3);
    });
}

/// A codec splits a frame off the front of its buffer (moving the buffer's
/// region start, kept in the block header) and hands the frame to another
/// thread, then keeps writing after it. Either thread may drop the last
/// reference; both then get a buffer, so the block is reused at once by
/// whichever thread recycled it, and the reuse resets the region start.
/// Loom checks that the owner's writes of the region start happen before
/// the next holder's, on whatever thread that is.
#[test]
fn split_frame_dropped_on_another_thread() {
    run_model("split_frame_dropped_on_another_thread", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (mut buf, stamp) = get_filled(&pool, &shadows, 1);
        let frame = buf.split_to(HEADER + PATTERN);
        assert!(buf.is_empty());
        assert_eq!(buf.capacity(), TIER - HEADER - PATTERN);
        let receiver = {
            let (pool, shadows) = (pool.clone(), shadows.clone());
            thread::spawn(move || {
                stamp.check(&frame[HEADER..]);
                drop(frame);
                let (buf, again) = get_filled(&pool, &shadows, 2);
                again.check_buf(&buf);
            })
        };
        buf.extend_from_slice(&[9; PATTERN]);
        assert_eq!(&buf[..], &[9; PATTERN]);
        drop(buf);
        let (buf, again) = get_filled(&pool, &shadows, 3);
        again.check_buf(&buf);
        drop(buf);
        receiver.join().unwrap();
        assert_settled(&pool, &shadows, 3);
    });
}

/// A message of two segment blocks is written and frozen on the main
/// thread; a clone goes to another thread, which reads it and advances
/// through both segments (each `advance` past a segment drops that
/// segment's reference at once) while the main thread reads and drops its
/// copy. Either thread may release a block last, and both then get a
/// buffer, so a block is reused at once by whichever thread recycled it:
/// loom checks that every read of a segment happens before the reuse. The
/// reader hands its chain back empty but alive, so the consumed segments
/// must already be back in the pool, not merely when the chain drops.
///
/// Shown to catch: `Segments::pop_front` cloning the slot instead of taking
/// it, and `SharedChain::advance` forgetting (`mem::forget`) a consumed
/// segment instead of dropping it; both fail the `in_use == 0` check after
/// the join ("consumed segments go back before the chain drops", `in_use:
/// 2`).
#[test]
fn chain_segments_released_while_advancing_on_another_thread() {
    run_model(
        "chain_segments_released_while_advancing_on_another_thread",
        || {
            let pool = tiny_pool(2, 2);
            let shadows = Shadows::new();
            let mut chain = pool.chain();
            assert_eq!(chain.segment_capacity(), TIER);
            let first = StdArc::new(shadows.fill_chain_block(&mut chain, 1));
            let second = StdArc::new(shadows.fill_chain_block(&mut chain, 2));
            let message = chain.freeze();
            assert_eq!((message.len(), message.segment_count()), (2 * TIER, 2));
            let theirs = message.clone();
            let reader = {
                let (pool, shadows) = (pool.clone(), shadows.clone());
                let (first, second) = (StdArc::clone(&first), StdArc::clone(&second));
                thread::spawn(move || {
                    let mut theirs = theirs;
                    first.check(&theirs.chunk()[HEADER..]);
                    theirs.advance(TIER);
                    assert_eq!(theirs.segment_count(), 1);
                    second.check(&theirs.chunk()[HEADER..]);
                    theirs.advance(TIER);
                    assert!(theirs.is_empty());
                    let (buf, again) = get_filled(&pool, &shadows, 3);
                    again.check_buf(&buf);
                    drop(buf);
                    theirs
                })
            };
            for (segment, stamp) in message.segments().zip([&first, &second]) {
                stamp.check(&segment[HEADER..]);
            }
            drop(message);
            let (buf, again) = get_filled(&pool, &shadows, 4);
            again.check_buf(&buf);
            drop(buf);
            let emptied = reader.join().unwrap();
            let_exited_threads_finish();
            assert_eq!(
                tier_stats(&pool).in_use,
                0,
                "consumed segments go back before the chain drops: {:?}",
                tier_stats(&pool)
            );
            drop(emptied);
            assert_settled(&pool, &shadows, 4);
        },
    );
}

/// A frozen frame is sliced and the slice sent to another thread, which
/// reads it and drops it, while the owner calls `try_into_mut` until it
/// succeeds and then writes into the block. The uniqueness check's
/// `Acquire` load, pairing with the slice's `Release` decrement, is what
/// makes the new owner's writes safe: loom checks (through the block's
/// shadow cell) that the reader's accesses happen before them.
#[test]
fn try_into_mut_after_slice_dropped_on_another_thread() {
    run_model("try_into_mut_after_slice_dropped_on_another_thread", || {
        let pool = tiny_pool(2, 2);
        let shadows = Shadows::new();
        let (buf, stamp) = get_filled(&pool, &shadows, 1);
        let frame = buf.freeze();
        let slice = frame.slice(HEADER..);
        let stamp = StdArc::new(stamp);
        let reader = {
            let stamp = StdArc::clone(&stamp);
            thread::spawn(move || {
                stamp.check(&slice);
                drop(slice);
            })
        };
        let mut view = frame;
        let mut buf = loop {
            match view.try_into_mut() {
                Ok(buf) => break buf,
                Err(shared) => {
                    view = shared;
                    thread::yield_now();
                }
            }
        };
        assert_eq!(buf.capacity(), TIER, "the frame starts the block");
        stamp.check_buf(&buf);
        buf.clear();
        let again = shadows.fill(&mut buf, 2);
        again.check_buf(&buf);
        drop(buf);
        reader.join().unwrap();
        assert_settled(&pool, &shadows, 1);
    });
}

/// What [`zero_on_return_races_last_view_drop`] writes before the block is
/// zeroed.
const SECRET: u8 = 0xa5;

/// A frame of a `zero_on_return` pool, written over its whole block, is
/// split into two views, one per thread. Each thread checks its half (the
/// secret must still be there: the block is zeroed only after the last
/// view is gone), drops it and gets a buffer. The thread that dropped last
/// zeroed the block and cached it, so it gets the same block back (the
/// other may too, later): every byte must read zero. Nothing is freed while the threads run, so the
/// address identifies the block, and a shadow cell for it lets loom check
/// that the other thread's read happened before the zeroing and reuse.
#[test]
fn zero_on_return_races_last_view_drop() {
    run_model("zero_on_return_races_last_view_drop", || {
        let pool = tiny_builder(2, 2)
            .zero_on_return(true)
            .build()
            .expect("a valid configuration");
        let mut buf = pool.get(TIER);
        assert_eq!(buf.capacity(), TIER);
        let block = buf.as_ptr().addr();
        buf.resize(TIER, SECRET);
        let shadow = StdArc::new(ShadowCell(loom::cell::UnsafeCell::new(1)));
        let mut mine = buf.freeze();
        let theirs = mine.split_off(TIER / 2);
        // Checks `view`, drops it and gets a buffer; returns whether that
        // buffer is the block of `view`, zeroed.
        let check_drop_get = move |pool: &Pool, view: SharedBuf, shadow: &ShadowCell| {
            // SAFETY: loom checks this access against every other one.
            let seen = shadow.0.with(|value| unsafe { *value });
            assert_eq!(seen, 1, "the block was reused while a view was alive");
            assert!(
                view.iter().all(|&b| b == SECRET),
                "a view was zeroed while alive: {view:?}"
            );
            drop(view);
            let mut again = pool.get(TIER);
            if again.as_ptr().addr() != block {
                return false;
            }
            // SAFETY: as above.
            shadow.0.with_mut(|value| unsafe { *value = 2 });
            // SAFETY: every byte of the block was written (`resize`) before
            // it went back, then zeroed by the pool (or, if it was not,
            // still holds the secret), so all `TIER` bytes are initialised.
            unsafe { again.set_len(TIER) };
            let dirty = again.iter().filter(|&&b| b != 0).count();
            assert_eq!(
                dirty, 0,
                "a reused block was not zeroed: {dirty} bytes are not 0"
            );
            true
        };
        let other = {
            let (pool, shadow) = (pool.clone(), StdArc::clone(&shadow));
            thread::spawn(move || check_drop_get(&pool, theirs, &shadow))
        };
        let reused_here = check_drop_get(&pool, mine, &shadow);
        let reused_there = other.join().unwrap();
        // The thread that dropped last gets the block from its own cache;
        // the other may get it too, once the first has let go of it again.
        assert!(reused_here || reused_there, "the block was not reused");
        assert_settled(&pool, &Shadows::new(), 3);
    });
}
