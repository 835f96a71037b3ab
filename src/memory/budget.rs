//! Byte budgets: exact shared counters, used only when a cap is configured,
//! and the queue of tasks waiting for bytes under a cap.
//!
//! # Waiting for bytes
//!
//! [`WaitableBudget`] is a byte semaphore with three properties the async
//! hand-outs ([`Pool::get_async`](crate::Pool::get_async)) promise:
//!
//! * **First come, first served.** Waiters queue in arrival order, and
//!   bytes returned go to the head of the queue: while anyone waits, a new
//!   request that respects the cap queues behind them (or, from `try_get`,
//!   fails), so a large request is never starved by later small ones.
//! * **Cancel-safe.** A waiter that gives up (its future dropped) leaves the
//!   queue, or gives back the bytes it had just been granted, and the queue
//!   is served again: whoever can now go, goes.
//! * **Woken by any return.** Every release checks for waiters, from
//!   whatever thread drops the last holder of a block.
//!
//! The count lives in one atomic, as before, with a bit that says whether
//! anyone waits (see [`WaitableBudget`]); the queue sits behind a mutex
//! that only waiters and the releases that find the bit set take.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{AtomicUsize, CachePadded, Mutex, Ordering};

/// A byte count with a cap.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: CachePadded<AtomicUsize>,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Adds `bytes` unconditionally.
    pub(crate) fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Removes `bytes` that were added earlier.
    pub(crate) fn sub(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "budget underflow: {before} - {bytes}");
    }

    /// Whether the count is above the cap.
    pub(crate) fn is_over(&self) -> bool {
        self.used() > self.limit
    }
}

/// Set in [`WaitableBudget::state`] while the queue has waiters.
const WAITERS: usize = 1 << (usize::BITS - 1);

/// A byte budget that requests can wait on, first come, first served.
///
/// One atomic holds both the bytes charged and a `WAITERS` bit, set and
/// cleared under the queue's lock. So a release learns whether anyone
/// waits from the very read-modify-write that returns its bytes, and a new
/// waiter, which sets the bit before it retries, either sees those bytes or
/// is seen by that release: both act on one location, in one order, and no
/// ordering stronger than `Relaxed` is needed (the queue itself is behind
/// the mutex). Bytes charged stay below `WAITERS`: they are the capacity of
/// live blocks, which the address space bounds far below 2^63.
#[derive(Debug)]
pub(crate) struct WaitableBudget {
    limit: usize,
    /// Bytes charged, plus `WAITERS` while someone waits.
    state: CachePadded<AtomicUsize>,
    queue: Mutex<WaitQueue>,
}

#[derive(Debug, Default)]
struct WaitQueue {
    next_id: u64,
    /// Ids in arrival order; ids of waiters that left are skipped lazily.
    order: VecDeque<u64>,
    waiters: HashMap<u64, Waiter>,
    /// Waiters in `waiters` not yet granted.
    queued: usize,
    /// The bytes those waiters ask for.
    queued_bytes: usize,
}

/// Who waits on a [`WaitableBudget`], from [`WaitableBudget::waiters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Waiters {
    /// Requests queued and not yet granted.
    pub(crate) requests: usize,
    /// The bytes they ask for, in all.
    pub(crate) bytes: usize,
    /// How long the one at the head of the queue has waited.
    pub(crate) oldest: Option<Duration>,
}

#[derive(Debug)]
struct Waiter {
    bytes: usize,
    waker: Option<Waker>,
    /// Its bytes are charged; it has not collected them yet.
    granted: bool,
    /// When it joined the queue.
    since: Instant,
}

impl WaitableBudget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            state: CachePadded::new(AtomicUsize::new(0)),
            queue: Mutex::new(WaitQueue::default()),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The cap compared against: no allocation exceeds `isize::MAX` bytes,
    /// so neither does the sum of live ones, and a larger cap is the same as
    /// `isize::MAX`, which keeps the `WAITERS` bit out of reach.
    fn cap(&self) -> usize {
        self.limit.min(isize::MAX as usize)
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.state.load(Ordering::Relaxed) & !WAITERS
    }

    /// No bytes charged, nobody waiting (nor bytes asked for), no
    /// `WAITERS` bit: the state a loom model must end in.
    #[cfg(all(test, loom))]
    pub(crate) fn is_idle(&self) -> bool {
        let queue = self.queue.lock();
        self.state.load(Ordering::Relaxed) == 0
            && queue.queued == 0
            && queue.queued_bytes == 0
            && queue.waiters.is_empty()
    }

    /// Requests waiting now. Takes the queue's lock only if the
    /// `WAITERS` bit says someone may wait.
    pub(crate) fn waiting(&self) -> usize {
        if self.state.load(Ordering::Relaxed) & WAITERS == 0 {
            return 0;
        }
        self.queue.lock().queued
    }

    /// How many wait, for how many bytes, and for how long the oldest has
    /// waited. Takes the queue's lock, which the get and return paths
    /// take only while someone waits.
    pub(crate) fn waiters(&self) -> Waiters {
        let queue = self.queue.lock();
        // The head of `order` that is still queued: ids of waiters that
        // left, and of granted ones, are skipped.
        let oldest = queue
            .order
            .iter()
            .filter_map(|id| queue.waiters.get(id))
            .find(|waiter| !waiter.granted)
            .map(|waiter| waiter.since.elapsed());
        Waiters {
            requests: queue.queued,
            bytes: queue.queued_bytes,
            oldest,
        }
    }

    /// Adds `bytes` if the count stays within `cap` and, unless
    /// `overtake`, nobody waits.
    fn add_within(&self, bytes: usize, cap: usize, overtake: bool) -> bool {
        let add = |state: usize| {
            if state & WAITERS != 0 && !overtake {
                return None;
            }
            let used = (state & !WAITERS)
                .checked_add(bytes)
                .filter(|&n| n <= cap)?;
            Some(used | (state & WAITERS))
        };
        self.state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, add)
            .is_ok()
    }

    /// Charges `bytes` if they fit and nobody waits: the refusing
    /// hand-outs (`try_get`) never overtake a waiter.
    pub(crate) fn try_acquire(&self, bytes: usize) -> bool {
        self.add_within(bytes, self.cap(), false)
    }

    /// Charges `bytes` if they fit, waiters or not (`get` and growth, which
    /// serve at once whatever happens).
    pub(crate) fn try_acquire_now(&self, bytes: usize) -> bool {
        self.add_within(bytes, self.cap(), true)
    }

    /// Charges `bytes` whether or not they fit the cap (`get` and growth
    /// serve over it). Fails only if the bytes charged would exceed
    /// `isize::MAX`, which no allocation could then satisfy anyway.
    pub(crate) fn force_acquire(&self, bytes: usize) -> bool {
        self.add_within(bytes, isize::MAX as usize, true)
    }

    /// Gives back `bytes` charged earlier, then serves the queue if anyone
    /// waits.
    pub(crate) fn release(&self, bytes: usize) {
        let before = self.state.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(
            before & !WAITERS >= bytes,
            "budget underflow: {before} - {bytes}"
        );
        if before & WAITERS != 0 {
            self.serve();
        }
    }

    #[cold]
    fn serve(&self) {
        let wake = self.serve_locked(&mut self.queue.lock());
        wake_all(wake, None);
    }

    /// Grants waiters from the head while their bytes fit, and clears
    /// `WAITERS` once none is left; returns the wakers to call after the
    /// lock is released.
    fn serve_locked(&self, queue: &mut WaitQueue) -> Vec<Waker> {
        let mut wake = Vec::new();
        while let Some(&id) = queue.order.front() {
            let Some(waiter) = queue.waiters.get_mut(&id) else {
                queue.order.pop_front(); // it left the queue
                continue;
            };
            if !self.try_acquire_now(waiter.bytes) {
                break;
            }
            waiter.granted = true;
            let bytes = waiter.bytes;
            wake.extend(waiter.waker.take());
            queue.order.pop_front();
            queue.queued -= 1;
            queue.queued_bytes -= bytes;
        }
        if queue.queued == 0 {
            queue.order.clear();
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
        wake
    }

    /// Waits until `bytes` can be charged, in arrival order. `bytes` must
    /// be at most the cap (the caller checks, and fails at once otherwise).
    pub(crate) fn acquire(&self, bytes: usize) -> Acquire<'_> {
        debug_assert!(bytes <= self.limit());
        Acquire {
            budget: self,
            bytes,
            state: AcquireState::Start,
        }
    }
}

fn wake_all(wakers: Vec<Waker>, except: Option<&Waker>) {
    for waker in wakers {
        if !except.is_some_and(|own| own.will_wake(&waker)) {
            waker.wake();
        }
    }
}

/// The future of [`WaitableBudget::acquire`]: resolves once `bytes` are
/// charged. Dropping it before then charges nothing and serves the queue.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Acquire<'a> {
    budget: &'a WaitableBudget,
    bytes: usize,
    state: AcquireState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcquireState {
    Start,
    Queued(u64),
    Done,
}

impl Future for Acquire<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let budget = this.budget;
        match this.state {
            AcquireState::Done => Poll::Ready(()),
            AcquireState::Start => {
                if budget.try_acquire(this.bytes) {
                    this.state = AcquireState::Done;
                    return Poll::Ready(());
                }
                let mut queue = budget.queue.lock();
                let id = queue.next_id;
                queue.next_id += 1;
                queue.order.push_back(id);
                queue.waiters.insert(
                    id,
                    Waiter {
                        bytes: this.bytes,
                        waker: Some(cx.waker().clone()),
                        granted: false,
                        since: Instant::now(),
                    },
                );
                queue.queued += 1;
                queue.queued_bytes += this.bytes;
                budget.state.fetch_or(WAITERS, Ordering::Relaxed);
                // Retry with the bit set: a release that returned bytes
                // before it could see the bit is caught here.
                let wake = budget.serve_locked(&mut queue);
                let granted = queue.waiters.get(&id).is_some_and(|w| w.granted);
                if granted {
                    queue.waiters.remove(&id);
                    this.state = AcquireState::Done;
                } else {
                    this.state = AcquireState::Queued(id);
                }
                drop(queue);
                wake_all(wake, Some(cx.waker()));
                if granted {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
            AcquireState::Queued(id) => {
                let mut queue = budget.queue.lock();
                let waiter = queue
                    .waiters
                    .get_mut(&id)
                    .expect("a queued waiter stays in the map until it is done");
                if waiter.granted {
                    queue.waiters.remove(&id);
                    this.state = AcquireState::Done;
                    return Poll::Ready(());
                }
                match &mut waiter.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let AcquireState::Queued(id) = self.state else {
            return;
        };
        let budget = self.budget;
        let mut queue = budget.queue.lock();
        let waiter = queue
            .waiters
            .remove(&id)
            .expect("a queued waiter stays in the map until it is done");
        if waiter.granted {
            // Granted but never collected: give the bytes back.
            drop(queue);
            budget.release(self.bytes);
        } else {
            queue.queued -= 1;
            queue.queued_bytes -= waiter.bytes;
            // It may have been the head that held back smaller requests.
            let wake = budget.serve_locked(&mut queue);
            drop(queue);
            wake_all(wake, None);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Budget, WaitableBudget};
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    #[test]
    fn counts_respect_the_cap() {
        let budget = Budget::new(10);
        budget.add(6);
        assert!(!budget.is_over());
        budget.add(5);
        assert!(budget.is_over());
        budget.sub(11);
        assert_eq!(budget.used(), 0);

        let budget = WaitableBudget::new(10);
        assert!(budget.try_acquire(6));
        assert!(!budget.try_acquire(5));
        assert!(budget.try_acquire(4));
        assert_eq!(budget.used(), 10);
        assert!(!budget.try_acquire(usize::MAX));
        assert!(budget.force_acquire(5));
        assert_eq!(budget.used(), 15);
        assert!(!budget.force_acquire(usize::MAX));
        budget.release(15);
        assert_eq!(budget.used(), 0);
        // A cap above `isize::MAX` cannot reach the waiters bit.
        let unbounded = WaitableBudget::new(usize::MAX);
        assert!(unbounded.try_acquire(isize::MAX as usize));
        assert!(!unbounded.try_acquire(1));
        assert!(!unbounded.force_acquire(1));
        assert_eq!(unbounded.used(), isize::MAX as usize);
    }

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn woken(count: &Arc<Count>) -> usize {
        count.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn waiters_are_served_in_arrival_order_and_block_refusing_requests() {
        let budget = WaitableBudget::new(10);
        assert!(budget.try_acquire(8));
        let (big_wakes, small_wakes) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let big_waker = Waker::from(Arc::clone(&big_wakes));
        let small_waker = Waker::from(Arc::clone(&small_wakes));
        let mut big = pin!(budget.acquire(10));
        let mut small = pin!(budget.acquire(1));
        assert!(big
            .as_mut()
            .poll(&mut Context::from_waker(&big_waker))
            .is_pending());
        // 2 bytes are free, but the big waiter came first.
        assert!(small
            .as_mut()
            .poll(&mut Context::from_waker(&small_waker))
            .is_pending());
        assert!(!budget.try_acquire(1), "try_acquire overtook a waiter");
        budget.release(8);
        assert_eq!((woken(&big_wakes), woken(&small_wakes)), (1, 0));
        assert_eq!(
            big.as_mut().poll(&mut Context::from_waker(&big_waker)),
            Poll::Ready(())
        );
        budget.release(10);
        assert_eq!(woken(&small_wakes), 1);
        assert_eq!(
            small.as_mut().poll(&mut Context::from_waker(&small_waker)),
            Poll::Ready(())
        );
        assert_eq!(budget.used(), 1);
    }

    #[test]
    fn a_dropped_waiter_charges_nothing_and_lets_the_next_one_go() {
        let budget = WaitableBudget::new(10);
        assert!(budget.try_acquire(5));
        let wakes = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        {
            let mut head = Box::pin(budget.acquire(10));
            assert!(head.as_mut().poll(&mut cx).is_pending());
            let mut next = Box::pin(budget.acquire(5));
            assert!(next.as_mut().poll(&mut cx).is_pending());
            drop(head);
            // The head leaving lets the second one in.
            assert_eq!(woken(&wakes), 1);
            assert_eq!(next.as_mut().poll(&mut cx), Poll::Ready(()));
        }
        assert_eq!(budget.used(), 10);
        // A waiter granted and then dropped before it polled gives back.
        let mut granted = Box::pin(budget.acquire(3));
        assert!(granted.as_mut().poll(&mut cx).is_pending());
        budget.release(5);
        assert_eq!(budget.used(), 8);
        drop(granted);
        assert_eq!(budget.used(), 5);
        assert!(budget.try_acquire(5));
    }
}
