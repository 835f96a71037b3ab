//! Provided buffer rings for io_uring (`IORING_REGISTER_PBUF_RING`) fed
//! from the pool: a receive takes a pooled buffer only when data arrives,
//! and its completion hands back a [`PooledBuf`]. Linux, feature
//! `io-uring`; see
//! [provided buffer rings](crate::operations#provided-buffer-rings).
//!
//! The ring is `entries` slots of 16 bytes (`io_uring_buf`) in page-aligned
//! memory this module allocates; the kernel reads the slots between its
//! head and the tail this side publishes (kept in the last two bytes of
//! slot 0). Each published slot names a buffer by its buffer id (bid),
//! the index of the [`PooledBuf`] in `table`.
//!
//! Invariants (every `unsafe` block relies on them):
//!
//! * `table[bid]` is `Some` exactly while that buffer is lent: published
//!   in the ring and not yet handed back by [`ProvidedBuffers::take`].
//!   `lent` counts them.
//! * The kernel's unread slots, `[head, tail)`, each name a lent buffer,
//!   so there are at most `lent` of them. A slot is published only for a
//!   bid that is not lent (`lent < entries` then), so the slot at `tail`
//!   is never one the kernel has still to read.
//! * While `registered`, the kernel may read the ring memory and write
//!   into every lent buffer: neither is freed or handed out until the
//!   group is unregistered.

use crate::sync::unmodelled::{AtomicU16, Ordering};
use std::alloc::{self, Layout};
use std::fmt;
use std::io;
use std::mem::size_of;
use std::ptr::NonNull;

use io_uring::cqueue;
use io_uring::types::BufRingEntry;

use crate::uring::provided_errors::{ProvideError, TakeError};
use crate::{Pool, PooledBuf};

/// The most entries one provided buffer ring takes (the kernel's limit,
/// 32768).
///
/// # Examples
///
/// ```
/// # let Ok(ring) = io_uring::IoUring::new(8) else { return Ok(()) };
/// use tierpool::uring::MAX_PROVIDED_ENTRIES;
///
/// let pool = tierpool::Pool::builder().tiers([64]).build()?;
/// let provided = pool.provide_buffers(&ring.submitter(), 0, MAX_PROVIDED_ENTRIES, 64)?;
/// assert_eq!(provided.provided(), 32768);
/// // SAFETY: no operation uses the group.
/// unsafe { provided.unregister(&ring.submitter()) }?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_PROVIDED_ENTRIES: u16 = 1 << 15;

/// A ring of pooled buffers provided to an io_uring ring as buffer group
/// [`group`](Self::group): from [`Pool::provide_buffers`].
///
/// Operations that select a buffer from the group (`RecvMulti`, or `Recv`
/// and `Read` with `buf_group` and `BUFFER_SELECT`) take one only when
/// data arrives; [`take`](Self::take) turns their completion into the
/// [`PooledBuf`] the kernel filled, exactly the bytes it wrote, and lends a
/// fresh pooled buffer under the same buffer id in its place. The buffer
/// returns to the pool when dropped, on any thread, like any other.
///
/// # Teardown
///
/// [`unregister`](Self::unregister) unregisters the group, then frees the
/// ring memory and returns the lent buffers to the pool. Dropping a
/// `ProvidedBuffers` that is still registered **leaks** them instead: the
/// kernel may still read the ring and write into the buffers, so neither
/// may be freed. The leaked buffers stay counted as in use
/// ([`TierStats::in_use`](crate::TierStats::in_use)) and listed by
/// [`Pool::outstanding`] where leak detection is on, and the pool's shared
/// state (with its regions) stays allocated.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// use io_uring::{cqueue, opcode, types, IoUring};
///
/// let pool = tierpool::Pool::new();
/// let Ok(mut ring) = IoUring::new(8) else {
///     return Ok(()); // io_uring refused here (seccomp, io_uring_disabled)
/// };
/// let mut provided = pool.provide_buffers(&ring.submitter(), 1, 4, 1500)?;
/// assert_eq!((provided.provided(), provided.buffer_capacity()), (4, 4096));
///
/// let (mut peer, sock) = UnixStream::pair()?;
/// let recv = opcode::RecvMulti::new(types::Fd(sock.as_raw_fd()), provided.group());
/// // SAFETY: the socket outlives the receive, which ends at end of stream.
/// unsafe { ring.submission().push(&recv.build()).expect("room") };
/// ring.submit()?;
///
/// peer.write_all(b"hello")?;
/// ring.submit_and_wait(1)?;
/// let cqe = ring.completion().next().expect("a completion");
/// assert!(cqueue::more(cqe.flags())); // the receive goes on
/// // SAFETY: the ring's completion of a receive from this group, taken once.
/// let buf = unsafe { provided.take(&cqe) }?.expect("a buffer");
/// assert_eq!(&buf[..], b"hello");
/// assert_eq!(provided.provided(), 4); // a fresh buffer took its place
///
/// drop(peer); // end of stream ends the receive
/// ring.submit_and_wait(1)?;
/// let last = ring.completion().next().expect("a completion");
/// assert_eq!(last.result(), 0);
/// assert!(!cqueue::more(last.flags()));
/// // SAFETY: as above.
/// assert!(unsafe { provided.take(&last) }?.is_none());
/// // SAFETY: the only receive of the group has ended.
/// unsafe { provided.unregister(&ring.submitter()) }?;
/// drop(buf);
/// assert_eq!(pool.stats().tiers[0].in_use, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a registered ProvidedBuffers leaks its buffers; unregister it"]
pub struct ProvidedBuffers {
    /// Where fresh buffers come from.
    pool: Pool,
    /// The ring memory: `entries` slots, zeroed, page-aligned.
    ring: NonNull<BufRingEntry>,
    layout: Layout,
    /// The buffer lent under each bid; `None` where the pool refused one.
    table: Box<[Option<PooledBuf>]>,
    /// The `Some` entries of `table`.
    lent: usize,
    /// The next slot to publish (modulo `entries`); what the ring's tail
    /// says after [`Self::publish_tail`].
    tail: u16,
    group: u16,
    /// The capacity asked for, which routes to the buffers' tier.
    capacity: usize,
    /// The tier's capacity: the bytes each buffer offers the kernel.
    buffer_capacity: u32,
    /// Whether the kernel knows the ring: if so, dropping leaks.
    registered: bool,
}

// SAFETY: the ring memory is owned by this value alone on the process's
// side (the kernel's reads do not depend on which thread publishes), and
// it is only touched through `&mut self` or on drop; `Pool` and
// `PooledBuf` are `Send`. No `&self` method reads the ring memory, but
// nothing needs `Sync`, so it is not claimed.
unsafe impl Send for ProvidedBuffers {}

impl ProvidedBuffers {
    /// Checks the arguments and allocates the ring memory; registers
    /// nothing and lends nothing yet.
    fn prepare(
        pool: &Pool,
        group: u16,
        entries: u16,
        capacity: usize,
    ) -> Result<ProvidedBuffers, ProvideError> {
        if !entries.is_power_of_two() || entries > MAX_PROVIDED_ENTRIES {
            return Err(ProvideError::Entries { entries });
        }
        let shared = pool.shared();
        let Some(tier) = shared.route(capacity) else {
            return Err(ProvideError::Oversize {
                requested: capacity,
                largest_tier: shared.largest_tier(),
            });
        };
        let tier_capacity = shared
            .capacities()
            .nth(tier)
            .expect("route gives a tier's index");
        let buffer_capacity =
            u32::try_from(tier_capacity).map_err(|_| ProvideError::TooLarge { tier_capacity })?;
        let bytes = usize::from(entries) * size_of::<BufRingEntry>();
        let layout = Layout::from_size_align(bytes, page_size())
            .expect("at most 512 KiB, aligned to a power of two");
        // SAFETY: `layout` has a non-zero size (`entries >= 1`).
        let memory = unsafe { alloc::alloc_zeroed(layout) };
        let Some(ring) = NonNull::new(memory.cast::<BufRingEntry>()) else {
            alloc::handle_alloc_error(layout);
        };
        Ok(ProvidedBuffers {
            pool: pool.clone(),
            ring,
            layout,
            table: (0..entries).map(|_| None).collect(),
            lent: 0,
            tail: 0,
            group,
            capacity,
            buffer_capacity,
            registered: false,
        })
    }

    /// The buffer group id: the `buf_group` of the operations that select
    /// from these buffers.
    ///
    /// # Examples
    ///
    /// See [`ProvidedBuffers`].
    #[must_use]
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The ring's entries: the most buffers lent at once; buffer ids run
    /// from 0 to `entries() - 1`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let Ok(ring) = io_uring::IoUring::new(8) else { return Ok(()) };
    /// let pool = tierpool::Pool::new();
    /// let provided = pool.provide_buffers(&ring.submitter(), 0, 16, 4096)?;
    /// assert_eq!(provided.entries(), 16);
    /// # unsafe { provided.unregister(&ring.submitter()) }?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn entries(&self) -> u16 {
        u16::try_from(self.table.len()).expect("at most 32768 entries")
    }

    /// The buffers lent to the kernel: published in the ring, or filled by
    /// an operation whose completion has not been [taken](Self::take) yet.
    /// Fewer than [`entries`](Self::entries) when the pool refused buffers
    /// (see [`replenish`](Self::replenish)).
    ///
    /// # Examples
    ///
    /// See [`ProvidedBuffers`] and [`replenish`](Self::replenish).
    #[must_use]
    pub fn provided(&self) -> usize {
        self.lent
    }

    /// The bytes each buffer offers the kernel: the capacity of the tier
    /// the requested capacity routes to. A completion's buffer holds at
    /// most this many bytes.
    ///
    /// # Examples
    ///
    /// See [`ProvidedBuffers`].
    #[must_use]
    pub fn buffer_capacity(&self) -> usize {
        self.buffer_capacity as usize
    }

    /// Lends a buffer to every empty slot, as far as the pool allows, and
    /// returns how many it lent.
    ///
    /// Slots are empty where the pool refused a buffer
    /// ([`Pool::try_get`]): over its
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes), or the
    /// allocator failed. [`Pool::provide_buffers`] and [`take`](Self::take)
    /// leave such slots empty rather than fail; call `replenish` once
    /// buffers have come back. It stops at the first refusal.
    ///
    /// # Examples
    ///
    /// ```
    /// # let Ok(ring) = io_uring::IoUring::new(8) else { return Ok(()) };
    /// let pool = tierpool::Pool::builder().tiers([4096]).max_in_use_bytes(3 * 4096).build()?;
    /// let held = pool.get(1);
    /// let mut provided = pool.provide_buffers(&ring.submitter(), 0, 4, 4096)?;
    /// assert_eq!(provided.provided(), 2); // the budget allows two more
    /// drop(held);
    /// assert_eq!(provided.replenish(), 1);
    /// assert_eq!(provided.provided(), 3);
    /// # unsafe { provided.unregister(&ring.submitter()) }?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replenish(&mut self) -> usize {
        let mut lent = 0;
        for bid in 0..self.entries() {
            if self.table[usize::from(bid)].is_some() {
                continue;
            }
            let Ok(buf) = self.pool.try_get(self.capacity) else {
                break;
            };
            self.lend(bid, buf);
            lent += 1;
        }
        if lent > 0 {
            self.publish_tail();
        }
        lent
    }

    /// The buffer a completion carries, if any: see
    /// [`take_parts`](Self::take_parts), which this calls with the
    /// completion's result and flags.
    ///
    /// # Errors
    ///
    /// As [`take_parts`](Self::take_parts).
    ///
    /// # Safety
    ///
    /// As [`take_parts`](Self::take_parts).
    ///
    /// # Examples
    ///
    /// See [`ProvidedBuffers`].
    pub unsafe fn take(&mut self, cqe: &cqueue::Entry) -> Result<Option<PooledBuf>, TakeError> {
        // SAFETY: the caller's contract is `take_parts`'s.
        unsafe { self.take_parts(cqe.result(), cqe.flags()) }
    }

    /// The buffer a completion carries, from its `result` and `flags`.
    ///
    /// * **A buffer with data** (`IORING_CQE_F_BUFFER` set, `result > 0`):
    ///   the buffer of that id, its length exactly `result`, the bytes the
    ///   kernel wrote. A fresh buffer from the pool takes its place in the
    ///   ring at once; if the pool refuses one (a budget), the slot stays
    ///   empty until [`replenish`](Self::replenish), and the buffer is
    ///   returned all the same.
    /// * **A buffer without data** (`IORING_CQE_F_BUFFER` set, `result <=
    ///   0`): `Ok(None)`, and the same buffer, still empty, is provided
    ///   again. `result` is `0` at end of stream, or an error.
    /// * **No buffer**: `Ok(None)`. An error (`-result` is the `errno`;
    ///   `ENOBUFS` when the group had no buffer left, which ends a
    ///   multishot receive: take the buffers and arm it again), end of
    ///   stream, or another operation's completion.
    ///
    /// A multishot receive goes on while its completions have
    /// `IORING_CQE_F_MORE` (`io_uring::cqueue::more`).
    ///
    /// # Errors
    ///
    /// A buffer id beyond the ring ([`TakeError::UnknownBuffer`]), or of
    /// a slot with no buffer lent ([`TakeError::NotLent`]), or a result
    /// longer than the buffer ([`TakeError::TooLong`]): none can come from
    /// a completion that meets the contract below, and each is checked,
    /// whatever the completion's origin, before anything changes.
    ///
    /// # Safety
    ///
    /// The kernel marks a completion's buffer by its id alone, so whether
    /// the buffer was filled only the caller can tell. A completion with
    /// `IORING_CQE_F_BUFFER` must be one the kernel posted, on the ring
    /// this group is registered with, for an operation that selected one
    /// buffer from this group (its `buf_group`; not a bundle receive,
    /// which takes several), and each such completion must be taken once.
    /// Otherwise the buffer handed out may be one the kernel still holds
    /// and writes to, or its bytes may not be the kernel's.
    ///
    /// # Examples
    ///
    /// ```
    /// # let Ok(ring) = io_uring::IoUring::new(8) else { return Ok(()) };
    /// use tierpool::uring::TakeError;
    ///
    /// let pool = tierpool::Pool::new();
    /// let mut provided = pool.provide_buffers(&ring.submitter(), 0, 4, 100)?;
    /// // No buffer: nothing to take (here ENOBUFS, 105 on Linux).
    /// // SAFETY: no `IORING_CQE_F_BUFFER`.
    /// assert!(unsafe { provided.take_parts(-105, 0) }?.is_none());
    /// // A buffer id beyond the 4 of the ring: refused.
    /// let forged = 1 | (9 << 16); // IORING_CQE_F_BUFFER, bid 9
    /// // SAFETY: an id beyond the ring is checked.
    /// let err = unsafe { provided.take_parts(5, forged) }.unwrap_err();
    /// assert_eq!(err, TakeError::UnknownBuffer { bid: 9, entries: 4 });
    /// # unsafe { provided.unregister(&ring.submitter()) }?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn take_parts(
        &mut self,
        result: i32,
        flags: u32,
    ) -> Result<Option<PooledBuf>, TakeError> {
        let Some(bid) = cqueue::buffer_select(flags) else {
            return Ok(None);
        };
        let (entries, buffer_capacity) = (self.entries(), self.buffer_capacity());
        let Some(slot) = self.table.get_mut(usize::from(bid)) else {
            return Err(TakeError::UnknownBuffer { bid, entries });
        };
        let Some(lent) = slot.as_ref() else {
            return Err(TakeError::NotLent { bid });
        };
        // What `lend` published.
        let capacity = lent.capacity().min(buffer_capacity);
        let len = usize::try_from(result).unwrap_or(0);
        if len > capacity {
            return Err(TakeError::TooLong { bid, len, capacity });
        }
        let mut buf = slot.take().expect("checked above");
        self.lent -= 1;
        if len == 0 {
            // The kernel consumed the slot but wrote nothing: lend the
            // same (empty) buffer again.
            self.lend(bid, buf);
            self.publish_tail();
            return Ok(None);
        }
        // SAFETY: by the caller's contract the kernel took this buffer
        // from the ring and wrote `len` bytes from the address published
        // for it, the start of its spare capacity while its length was 0;
        // `len <= capacity` was checked. The kernel is done with it: the
        // buffer is the caller's alone from here.
        unsafe { buf.set_len(len) };
        if let Ok(fresh) = self.pool.try_get(self.capacity) {
            self.lend(bid, fresh);
            self.publish_tail();
        }
        Ok(Some(buf))
    }

    /// Unregisters the group from the ring, then frees the ring memory and
    /// returns every lent buffer to the pool.
    ///
    /// # Errors
    ///
    /// If the kernel refuses (`unregister_buf_ring`): the group stays
    /// registered as far as this side knows, so the buffers and the ring
    /// memory are leaked, as when a registered `ProvidedBuffers` is
    /// dropped.
    ///
    /// # Safety
    ///
    /// `submitter` must be of the ring the group was provided to, and no
    /// operation that may have selected a buffer of the group may still
    /// be in flight: unregistering stops the kernel from selecting more,
    /// but not an operation that holds one already (one issued from the
    /// kernel's worker threads keeps its buffer until it completes) from
    /// writing into it. A multishot receive has ended when a completion
    /// comes without `IORING_CQE_F_MORE`; cancel one (`AsyncCancel`) and
    /// reap that completion first. The completions need not have been
    /// taken.
    ///
    /// # Examples
    ///
    /// See [`ProvidedBuffers`].
    pub unsafe fn unregister(mut self, submitter: &io_uring::Submitter<'_>) -> io::Result<()> {
        submitter.unregister_buf_ring(self.group)?;
        // The kernel no longer reads the ring, and by the caller's
        // contract writes into no buffer: drop frees and returns them.
        self.registered = false;
        Ok(())
    }

    /// Lends `buf` under `bid`: writes it into the slot at `tail`, which
    /// the caller publishes with [`Self::publish_tail`].
    fn lend(&mut self, bid: u16, mut buf: PooledBuf) {
        debug_assert!(
            self.table[usize::from(bid)].is_none(),
            "bid {bid} is lent already"
        );
        debug_assert!(self.lent < self.table.len());
        // The start of the spare capacity (the buffer is empty), where the
        // kernel writes and from where `take_parts` reads `result` bytes.
        let addr = buf.spare_capacity_mut().as_mut_ptr().addr() as u64;
        let len = u32::try_from(buf.capacity()).map_or(self.buffer_capacity, |capacity| {
            capacity.min(self.buffer_capacity)
        });
        let index = usize::from(self.tail) & (self.table.len() - 1);
        // SAFETY: `index < entries`, so the slot lies in the ring memory,
        // which lives as long as `self`; nothing else on this side
        // references it (`&mut self`), and the kernel does not read it
        // now: it reads only `[head, tail)`, which `lent < entries` slots
        // at most, and this is the slot at `tail`. The setters write the
        // address, length and id; the tail, in the last two bytes of slot
        // 0, is written only by `publish_tail`.
        let entry = unsafe { &mut *self.ring.as_ptr().add(index) };
        entry.set_addr(addr);
        entry.set_len(len);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.table[usize::from(bid)] = Some(buf);
        self.lent += 1;
    }

    /// Publishes the slots written since the last call: stores the tail,
    /// after them (release), where the kernel loads it (acquire).
    fn publish_tail(&self) {
        // SAFETY: `ring` points to slot 0 of the ring memory, initialised
        // (zeroed, then written by `lend`); the tail is its `resv` field,
        // a `u16` at offset 14, aligned for `AtomicU16`, which the kernel
        // only reads and this side only accesses atomically, here.
        let tail =
            unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.ring.as_ptr()).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for ProvidedBuffers {
    fn drop(&mut self) {
        if self.registered {
            // The kernel may still read the ring and write into the lent
            // buffers: leak both rather than free memory it may use.
            for buf in self.table.iter_mut().filter_map(Option::take) {
                std::mem::forget(buf);
            }
            return;
        }
        // SAFETY: allocated in `prepare` with `layout`; the kernel does
        // not know it (never registered, or unregistered), and no
        // reference to it outlives `self`.
        unsafe { alloc::dealloc(self.ring.as_ptr().cast(), self.layout) };
        // The table drops after this: the buffers go back to the pool.
    }
}

impl fmt::Debug for ProvidedBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvidedBuffers")
            .field("group", &self.group)
            .field("entries", &self.table.len())
            .field("provided", &self.lent)
            .field("buffer_capacity", &self.buffer_capacity)
            .field("registered", &self.registered)
            .finish()
    }
}

/// The page size, to which the kernel wants the ring memory aligned.
fn page_size() -> usize {
    // SAFETY: `sysconf` reads no memory of ours.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

impl Pool {
    /// Provides `entries` buffers of at least `capacity` bytes to the ring
    /// of `submitter` as buffer group `group` (a provided buffer ring,
    /// `IORING_REGISTER_PBUF_RING`, Linux 5.19 and later). Feature
    /// `io-uring`, Linux.
    ///
    /// Each buffer is a [`PooledBuf`] of the tier `capacity` routes to (as
    /// for [`Pool::get`]); the kernel may fill all of the tier's capacity
    /// ([`ProvidedBuffers::buffer_capacity`]). Operations that select from
    /// the group take a buffer only when data arrives, and
    /// [`ProvidedBuffers::take`] turns each completion into its filled
    /// buffer, lending a fresh one in its place.
    ///
    /// Buffers the pool refuses ([`Pool::try_get`]: over
    /// [`max_in_use_bytes`](crate::PoolBuilder::max_in_use_bytes), or the
    /// allocator failed) are not an error: fewer are provided
    /// ([`ProvidedBuffers::provided`]), and
    /// [`ProvidedBuffers::replenish`] fills the rest later.
    ///
    /// The ring memory (16 bytes an entry, page-aligned) is allocated
    /// here. Unregister the group with [`ProvidedBuffers::unregister`]:
    /// dropping it registered leaks the buffers and the ring memory.
    ///
    /// # Errors
    ///
    /// [`ProvideError::Entries`] unless `entries` is a power of two from
    /// 1 to 32768; [`ProvideError::Oversize`] above the largest tier;
    /// [`ProvideError::TooLarge`] for a tier above `u32::MAX` bytes;
    /// [`ProvideError::GroupInUse`] if the ring has the group already;
    /// [`ProvideError::Io`] for other refusals of the kernel. Nothing is
    /// registered or held then.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::uring::ProvideError;
    ///
    /// let pool = tierpool::Pool::new();
    /// let Ok(ring) = io_uring::IoUring::new(8) else {
    ///     return Ok(()); // io_uring refused here (seccomp, io_uring_disabled)
    /// };
    /// let provided = pool.provide_buffers(&ring.submitter(), 3, 64, 64 << 10)?;
    /// assert_eq!(pool.stats().tiers[1].in_use, 64);
    /// assert!(matches!(
    ///     pool.provide_buffers(&ring.submitter(), 3, 64, 1),
    ///     Err(ProvideError::GroupInUse { group: 3 })
    /// ));
    /// assert!(matches!(
    ///     pool.provide_buffers(&ring.submitter(), 4, 100, 1),
    ///     Err(ProvideError::Entries { entries: 100 })
    /// ));
    /// // SAFETY: no operation uses the group.
    /// unsafe { provided.unregister(&ring.submitter()) }?;
    /// assert_eq!(pool.stats().tiers[1].in_use, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn provide_buffers(
        &self,
        submitter: &io_uring::Submitter<'_>,
        group: u16,
        entries: u16,
        capacity: usize,
    ) -> Result<ProvidedBuffers, ProvideError> {
        let mut provided = ProvidedBuffers::prepare(self, group, entries, capacity)?;
        let addr = provided.ring.as_ptr().addr() as u64;
        // SAFETY: `addr` is the ring memory, `entries` slots, zeroed (an
        // empty ring: tail 0) and page-aligned. It stays allocated until
        // the group is unregistered (`unregister`), or forever (a
        // registered `ProvidedBuffers` leaks it on drop), so it outlives
        // the kernel's use of it, even past the ring's own teardown.
        let registered = unsafe { submitter.register_buf_ring_with_flags(addr, entries, group, 0) };
        if let Err(err) = registered {
            return Err(match err.raw_os_error() {
                Some(libc::EEXIST) => ProvideError::GroupInUse { group },
                _ => ProvideError::Io(err),
            });
        }
        provided.registered = true;
        provided.replenish();
        Ok(provided)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `IORING_CQE_F_BUFFER`, and the buffer id above it.
    fn with_buffer(bid: u16) -> u32 {
        1 | (u32::from(bid) << 16)
    }

    fn pool(tier: usize) -> Pool {
        Pool::builder().tiers([tier]).build().unwrap()
    }

    fn in_use(pool: &Pool) -> u64 {
        pool.stats().tiers[0].in_use
    }

    impl ProvidedBuffers {
        /// What `provide_buffers` does, without a ring: nothing is
        /// registered, and the ring starts at `start`.
        fn without_ring(
            pool: &Pool,
            entries: u16,
            capacity: usize,
            start: u16,
        ) -> Result<ProvidedBuffers, ProvideError> {
            let mut provided = ProvidedBuffers::prepare(pool, 0, entries, capacity)?;
            provided.tail = start;
            provided.replenish();
            Ok(provided)
        }
    }

    /// The kernel's side of a ring: its head, and selecting buffers as
    /// the kernel does.
    struct Kernel {
        head: u16,
    }

    impl Kernel {
        /// The next published slot's bid, address and length, or `None`
        /// when the ring is empty (`ENOBUFS`).
        fn select(&mut self, provided: &ProvidedBuffers) -> Option<(u16, u64, u32)> {
            // SAFETY: as in `publish_tail`; this is the kernel's load.
            let tail = unsafe {
                AtomicU16::from_ptr(BufRingEntry::tail(provided.ring.as_ptr()).cast_mut())
            }
            .load(Ordering::Acquire);
            if tail == self.head {
                return None;
            }
            let index = usize::from(self.head) & (provided.table.len() - 1);
            // SAFETY: `index < entries`, in the ring memory; published.
            let entry = unsafe { &*provided.ring.as_ptr().add(index) };
            self.head = self.head.wrapping_add(1);
            Some((entry.bid(), entry.addr(), entry.len()))
        }

        /// Receives `data` into the next buffer: the result and flags of
        /// the completion, or `None` when the ring is empty.
        fn receive(&mut self, provided: &mut ProvidedBuffers, data: &[u8]) -> Option<(i32, u32)> {
            let (bid, addr, len) = self.select(provided)?;
            assert!(data.len() <= len as usize);
            let buf = provided.table[usize::from(bid)]
                .as_mut()
                .expect("a selected buffer is lent");
            let spare = buf.spare_capacity_mut();
            assert_eq!(spare.as_mut_ptr().addr() as u64, addr, "bid {bid}");
            assert_eq!(spare.len(), len as usize);
            for (dst, &src) in spare.iter_mut().zip(data) {
                dst.write(src);
            }
            Some((i32::try_from(data.len()).unwrap(), with_buffer(bid)))
        }
    }

    /// Takes a completion the fake kernel posted.
    fn take(provided: &mut ProvidedBuffers, (result, flags): (i32, u32)) -> Option<PooledBuf> {
        // SAFETY: the fake kernel selected this buffer and wrote `result`
        // bytes into it; each completion is taken once.
        unsafe { provided.take_parts(result, flags) }.unwrap()
    }

    #[test]
    fn every_slot_is_lent_and_published() {
        let pool = pool(1024);
        let provided = ProvidedBuffers::without_ring(&pool, 4, 100, 0).unwrap();
        assert_eq!(provided.provided(), 4);
        assert_eq!(provided.entries(), 4);
        assert_eq!(provided.buffer_capacity(), 1024);
        assert_eq!(in_use(&pool), 4);
        let mut kernel = Kernel { head: 0 };
        let mut seen: Vec<_> = (0..4).map(|_| kernel.select(&provided).unwrap()).collect();
        assert_eq!(kernel.select(&provided), None, "four published");
        seen.sort_unstable();
        for (bid, (seen_bid, addr, len)) in seen.iter().enumerate() {
            assert_eq!((usize::from(*seen_bid), *len), (bid, 1024));
            let buf = provided.table[bid].as_ref().unwrap();
            assert_eq!(*addr, buf.as_ptr().addr() as u64);
        }
        drop(provided);
        assert_eq!(in_use(&pool), 0, "not registered: the buffers return");
    }

    #[test]
    fn take_hands_back_the_bytes_written_and_lends_a_fresh_buffer() {
        let pool = pool(1024);
        let mut provided = ProvidedBuffers::without_ring(&pool, 4, 1024, 0).unwrap();
        let mut kernel = Kernel { head: 0 };
        let completion = kernel.receive(&mut provided, b"hello").unwrap();
        let bid = cqueue::buffer_select(completion.1).unwrap();
        let buf = take(&mut provided, completion).unwrap();
        assert_eq!(&buf[..], b"hello");
        assert_eq!((buf.len(), buf.capacity()), (5, 1024));
        assert_eq!(provided.provided(), 4);
        assert_eq!(in_use(&pool), 5);
        // The three left, then the fresh buffer under the same id.
        for _ in 0..3 {
            assert_ne!(kernel.select(&provided).unwrap().0, bid);
        }
        let (again, addr, _) = kernel.select(&provided).unwrap();
        assert_eq!(again, bid);
        assert_ne!(addr, buf.as_ptr().addr() as u64);
        assert_eq!(kernel.select(&provided), None);
        drop(buf);
        assert_eq!(in_use(&pool), 4);
    }

    #[test]
    fn a_refill_shows_none_of_an_earlier_holders_bytes() {
        let pool = pool(64);
        let mut provided = ProvidedBuffers::without_ring(&pool, 1, 64, 0).unwrap();
        let mut kernel = Kernel { head: 0 };
        let first = kernel.receive(&mut provided, b"first").unwrap();
        // A block with a secret goes back to this thread's cache, where
        // the refill comes from.
        let mut secret = pool.get(64);
        secret.extend_from_slice(&[b'S'; 64]);
        let secret_addr = secret.as_ptr().addr();
        drop(secret);
        let first = take(&mut provided, first).unwrap();
        assert_eq!(&first[..], b"first");
        let refill = provided.table[0].as_ref().unwrap();
        assert_eq!(refill.as_ptr().addr(), secret_addr, "the same block");
        assert!(refill.is_empty());
        let second = kernel.receive(&mut provided, b"ab").unwrap();
        let second = take(&mut provided, second).unwrap();
        assert_eq!(&second[..], b"ab");
        assert_eq!(second.len(), 2);
    }

    #[test]
    fn completions_without_data_change_nothing_or_lend_the_buffer_again() {
        let pool = pool(1024);
        let mut provided = ProvidedBuffers::without_ring(&pool, 1, 1, 0).unwrap();
        let mut kernel = Kernel { head: 0 };
        for (result, flags) in [(-105, 0), (0, 0), (7, 0), (-125, 2)] {
            assert!(take(&mut provided, (result, flags)).is_none());
            assert_eq!((provided.provided(), provided.tail), (1, 1));
        }
        // End of stream (0) or an error, with the buffer consumed: the
        // same buffer is lent again, still empty.
        for result in [0, -104] {
            let (bid, addr, _) = kernel.select(&provided).unwrap();
            assert!(take(&mut provided, (result, with_buffer(bid))).is_none());
            assert_eq!(provided.provided(), 1);
            assert_eq!(kernel.select(&provided), Some((bid, addr, 1024)));
            assert!(take(&mut provided, (0, with_buffer(bid))).is_none());
        }
        assert!(provided.table[0].as_ref().unwrap().is_empty());
        assert_eq!(in_use(&pool), 1);
    }

    #[test]
    fn unknown_unlent_and_overlong_buffers_are_refused() {
        let pool = Pool::builder()
            .tiers([1024])
            .max_in_use_bytes(2048)
            .build()
            .unwrap();
        let mut provided = ProvidedBuffers::without_ring(&pool, 4, 1, 0).unwrap();
        assert_eq!(provided.provided(), 2, "the budget allows two");
        let mut kernel = Kernel { head: 0 };
        let (result, flags) = kernel.receive(&mut provided, b"data").unwrap();
        let bid = cqueue::buffer_select(flags).unwrap();
        let tail = provided.tail;
        let refusals = [
            (
                4,
                with_buffer(4),
                TakeError::UnknownBuffer { bid: 4, entries: 4 },
            ),
            (
                4,
                with_buffer(u16::MAX),
                TakeError::UnknownBuffer {
                    bid: u16::MAX,
                    entries: 4,
                },
            ),
            (4, with_buffer(2), TakeError::NotLent { bid: 2 }),
            (4, with_buffer(3), TakeError::NotLent { bid: 3 }),
            (
                1025,
                flags,
                TakeError::TooLong {
                    bid,
                    len: 1025,
                    capacity: 1024,
                },
            ),
        ];
        for (result, flags, expected) in refusals {
            // SAFETY: ids beyond the ring or not lent, and results longer
            // than the buffer, are checked.
            let err = unsafe { provided.take_parts(result, flags) }.unwrap_err();
            assert_eq!(err, expected);
            assert!(!err.to_string().is_empty());
            assert_eq!((provided.provided(), provided.tail), (2, tail));
        }
        let buf = take(&mut provided, (result, flags)).unwrap();
        assert_eq!(&buf[..], b"data");
    }

    #[test]
    fn a_budget_leaves_slots_empty_until_replenished() {
        let pool = Pool::builder()
            .tiers([1024])
            .max_in_use_bytes(2048)
            .build()
            .unwrap();
        let mut provided = ProvidedBuffers::without_ring(&pool, 4, 1, 0).unwrap();
        let mut kernel = Kernel { head: 0 };
        let completion = kernel.receive(&mut provided, b"x").unwrap();
        let buf = take(&mut provided, completion).unwrap();
        assert_eq!(provided.provided(), 1, "no refill over the budget");
        assert_eq!(provided.replenish(), 0);
        drop(buf);
        assert_eq!(provided.replenish(), 1);
        assert_eq!(provided.provided(), 2);
        let (first, _, _) = kernel.select(&provided).unwrap();
        let (second, _, _) = kernel.select(&provided).unwrap();
        assert_eq!((first, second), (1, 0), "the first empty slot refilled");
        assert_eq!(kernel.select(&provided), None);
    }

    #[test]
    fn the_ring_wraps_around() {
        let pool = pool(64);
        let start = u16::MAX - 4;
        let mut provided = ProvidedBuffers::without_ring(&pool, 2, 64, start).unwrap();
        let mut kernel = Kernel { head: start };
        let mut bids = Vec::new();
        for round in 0..12u8 {
            let message = [round; 10];
            let completion = kernel.receive(&mut provided, &message).unwrap();
            bids.push(cqueue::buffer_select(completion.1).unwrap());
            let buf = take(&mut provided, completion).unwrap();
            assert_eq!(&buf[..], &message);
        }
        assert_eq!(bids, [0, 1].repeat(6));
        assert_eq!(provided.tail, start.wrapping_add(14));
        assert_eq!(in_use(&pool), 2);
    }

    #[test]
    fn taken_buffers_return_from_any_thread() {
        let pool = pool(1024);
        let mut provided = ProvidedBuffers::without_ring(&pool, 2, 1, 0).unwrap();
        let mut kernel = Kernel { head: 0 };
        let completion = kernel.receive(&mut provided, b"moved").unwrap();
        let buf = take(&mut provided, completion).unwrap();
        assert_eq!(in_use(&pool), 3);
        std::thread::spawn(move || assert_eq!(&buf[..], b"moved"))
            .join()
            .unwrap();
        assert_eq!(in_use(&pool), 2);
        // The whole ring may move too.
        let provided = std::thread::spawn(move || provided).join().unwrap();
        drop(provided);
        assert_eq!(in_use(&pool), 0);
    }

    #[test]
    fn arguments_are_checked() {
        let pool = Pool::builder().tiers([1024, 4096]).build().unwrap();
        for entries in [0, 3, 100, 40_000, u16::MAX] {
            let err = ProvidedBuffers::without_ring(&pool, entries, 1, 0).unwrap_err();
            assert!(matches!(err, ProvideError::Entries { entries: e } if e == entries));
            assert!(err.to_string().contains("power of two"), "{err}");
        }
        // A budget of two buffers keeps the largest ring cheap under Miri.
        let budget = Pool::builder()
            .tiers([1024])
            .max_in_use_bytes(2048)
            .build()
            .unwrap();
        for entries in [1, 2, MAX_PROVIDED_ENTRIES] {
            let provided = ProvidedBuffers::without_ring(&budget, entries, 0, 0).unwrap();
            assert_eq!(provided.entries(), entries);
            assert_eq!(provided.provided(), usize::from(entries.min(2)));
            let align = provided.layout.align();
            assert!(align >= 4096 && align.is_power_of_two());
            assert_eq!(provided.ring.as_ptr().addr() % align, 0, "page-aligned");
        }
        let err = ProvidedBuffers::without_ring(&pool, 1, 4097, 0).unwrap_err();
        assert!(matches!(
            err,
            ProvideError::Oversize {
                requested: 4097,
                largest_tier: 4096
            }
        ));
        assert_eq!(in_use(&pool), 0);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn tiers_beyond_u32_are_refused() {
        let pool = Pool::builder().tiers([1024, 8 << 30]).build().unwrap();
        let err = ProvidedBuffers::without_ring(&pool, 1, 5000, 0).unwrap_err();
        assert!(
            matches!(err, ProvideError::TooLarge { tier_capacity } if tier_capacity == 8 << 30)
        );
        assert!(err.to_string().contains("u32::MAX"), "{err}");
    }
}
