//! Blocks: the heap memory behind every buffer, with its header.
//!
//! A block is one allocation of its tier's capacity plus a small header
//! ([`Block`]) that lives as long as the memory does. See the
//! [`implementation`](crate::implementation#blocks) note for what the header
//! holds and why.
//!
//! Two owning handles exist:
//!
//! * [`BlockRef`]: one counted reference held by a `PooledBuf` or a
//!   `SharedBuf`. Dropping the last one hands the block to
//!   [`PoolState::recycle`], the one place that decides where it goes.
//! * [`IdleBlock`]: a block nobody holds, kept by a thread cache or a depot.
//!   Dropping it frees the memory.

use std::alloc::Layout;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use crate::engine::quota_account::QuotaAccount;
use crate::engine::state::PoolState;
use crate::error::PoolError;
use crate::sync::{alloc, dealloc, fence, Arc, AtomicUsize, Ordering, UnsafeCell};

/// Per-block copies of the pool's opt-in behaviours, read from the header
/// (already in cache) instead of the pool on the return path, and tested
/// all at once: a block with no flags takes the plain return path.
pub(crate) mod flags {
    /// Zero the memory when its last holder lets go.
    pub(crate) const ZERO_ON_RETURN: u8 = 1;
    /// Count the block's bytes against `max_cached_bytes` while idle.
    pub(crate) const CACHED_BUDGET: u8 = 2;
    /// Count the block's bytes against `max_in_use_bytes` while out.
    pub(crate) const IN_USE_BUDGET: u8 = 4;
    /// Record the block in the outstanding-buffer report while out.
    pub(crate) const TRACKED: u8 = 8;
    /// A block of no tier (an oversize request): freed, never cached, when
    /// its last holder lets go. The only record of "unpooled".
    pub(crate) const UNPOOLED: u8 = 16;
    /// Charged to a [`Quota`](crate::Quota) while out: the one flag set per
    /// hand-out (with the header's `quota`) rather than at allocation.
    pub(crate) const QUOTA: u8 = 32;
    /// The memory is a slot of one of the pool's regions (see
    /// [`Regions`](crate::memory::region::Regions)), given back to it when the
    /// block is freed, rather than a heap allocation. Fixed at allocation,
    /// and no behaviour of the return path: [`OPT_IN`] leaves it out.
    pub(crate) const REGION: u8 = 64;
    /// The flags that take a returned block off the plain return path.
    pub(crate) const OPT_IN: u8 = !REGION;
}

/// Refcounts above this abort the process, as `Arc` does: they can only be
/// reached by leaking views in a loop, and wrapping would be unsound.
const MAX_REFS: usize = isize::MAX as usize;

/// The layout of a block's memory, or `None` if no allocation can have it
/// (the capacity rounded up to the alignment exceeds `isize::MAX`).
pub(crate) fn block_layout(capacity: usize, alignment: usize) -> Option<Layout> {
    Layout::from_size_align(capacity, alignment).ok()
}

/// The header of a block.
#[derive(Debug)]
pub(crate) struct Block {
    data: NonNull<u8>,
    capacity: usize,
    /// The tier's index; meaningless for an unpooled block. (`u8`: a pool
    /// has at most `MAX_TIERS` (64) tiers, and the small fields share one
    /// word, which keeps the header at 64 bytes.)
    tier: u8,
    /// The pool's slot in the thread-cache tables (copied from the pool so
    /// that returning a block reads only this header).
    slot: u32,
    /// The `flags` above. Fixed at allocation, except [`QUOTA`](flags::QUOTA)
    /// and, with sampled leak detection, [`TRACKED`](flags::TRACKED): those
    /// are set by the hand-out they concern and cleared by its return, each
    /// time by the block's only holder.
    flags: UnsafeCell<u8>,
    /// Whether every byte of the block before `region_end` is initialised
    /// (so `read_from` need not zero the spare capacity again). Bytes
    /// before the buffer's start plus length always are; this says the
    /// rest of the region is too, having been zeroed by `read_from` during
    /// this hand-out (or while idle, in a zero-on-return pool). Same
    /// ownership as `region_start`.
    region_initialised: UnsafeCell<bool>,
    /// Whether a region field may differ from a fresh hand-out's (start 0,
    /// end at the capacity, initialised only if the block is zeroed while
    /// idle): set by every region setter, so that taking a block checks one
    /// byte instead of three fields. Same ownership as `region_start`.
    region_moved: UnsafeCell<bool>,
    /// Holders of this block: the mutable buffer plus every live view.
    /// Exactly 1 while the block is idle or held by one `PooledBuf`.
    refs: AtomicUsize,
    /// Where the `PooledBuf` holding this block starts, as an offset from
    /// `data` (bytes before it belong to views split off earlier). Only
    /// that buffer reads or writes it: a block has at most one, views never
    /// look at it, and it is set anew each time a buffer takes the block.
    region_start: UnsafeCell<usize>,
    /// Where that buffer's region ends, as an offset from `data`: the
    /// capacity, except after `PooledBuf::split_off` left views of the
    /// bytes beyond it. Same ownership as `region_start`.
    region_end: UnsafeCell<usize>,
    /// The quota this hand-out is charged to, with [`flags::QUOTA`]. Same
    /// ownership as `flags`: written when the block is handed out, taken
    /// back by the last holder's return.
    quota: UnsafeCell<Option<Arc<QuotaAccount>>>,
    pool: Arc<PoolState>,
}

impl Block {
    #[inline(always)]
    fn flags(&self) -> u8 {
        // SAFETY: `flags` is only written by a block's only holder (see the
        // field), never while another reference can read it.
        self.flags.with(|flags| unsafe { *flags })
    }
}

/// An idle block owned by a cache or a depot. Dropping it frees the block.
#[derive(Debug)]
pub(crate) struct IdleBlock(NonNull<Block>);

// SAFETY: an `IdleBlock` is the only handle to its block (refs == 1 and no
// `BlockRef` exists), so moving it to another thread moves sole ownership of
// plain heap memory; the `Arc<PoolState>` inside is itself `Send`.
unsafe impl Send for IdleBlock {}

impl IdleBlock {
    /// Allocates a block of `capacity` bytes aligned to the pool's
    /// alignment; `tier: None` makes an unpooled block.
    pub(crate) fn allocate(
        pool: &Arc<PoolState>,
        tier: Option<usize>,
        capacity: usize,
    ) -> Result<Self, PoolError> {
        debug_assert!(capacity > 0, "blocks are never empty");
        let layout = block_layout(capacity, pool.alignment).ok_or(PoolError::CapacityOverflow {
            requested: capacity,
        })?;
        let mut flags = pool.block_flags;
        // Unpooled blocks stay on the heap; so does a tier's block when no
        // region can be mapped (unless the regions are strict).
        let slot = match (tier, &pool.regions) {
            (Some(tier), Some(regions)) => regions.take(tier).map_err(PoolError::Backing)?,
            _ => None,
        };
        let data = match slot {
            Some(data) => {
                // A slot of a region, maybe used by an earlier block: its
                // bytes are treated as uninitialised, as a new heap
                // allocation's are (`region_initialised` below).
                flags |= flags::REGION;
                data
            }
            None => {
                // SAFETY: `layout` has a non-zero size: tiers are validated
                // to be non-zero and oversize requests are larger than the
                // largest tier.
                let data = unsafe { alloc(layout) };
                let data = NonNull::new(data).ok_or(PoolError::OutOfMemory { capacity })?;
                if let (Some(_), Some(regions)) = (tier, &pool.regions) {
                    regions.count_heap_fallback();
                }
                data
            }
        };
        if tier.is_none() {
            // Unpooled blocks are never idle in the pool.
            flags &= !flags::CACHED_BUDGET;
            flags |= flags::UNPOOLED;
        }
        if flags & (flags::ZERO_ON_RETURN | flags::UNPOOLED) == flags::ZERO_ON_RETURN {
            // Every idle block of a zero-on-return pool is zeroed, so a
            // buffer taking one starts with its whole region initialised
            // (see `PooledBuf::from_block`); a new block is no exception.
            // SAFETY: `data` was just allocated with `capacity` bytes.
            unsafe { std::ptr::write_bytes(data.as_ptr(), 0, capacity) };
        }
        let block = Box::new(Block {
            data,
            capacity,
            tier: tier.map_or(0, |t| u8::try_from(t).expect("at most MAX_TIERS tiers")),
            slot: u32::try_from(pool.slot).expect("fewer than 2^32 pools at once"),
            flags: UnsafeCell::new(flags),
            region_initialised: UnsafeCell::new(
                flags & (flags::ZERO_ON_RETURN | flags::UNPOOLED) == flags::ZERO_ON_RETURN,
            ),
            region_moved: UnsafeCell::new(false),
            refs: AtomicUsize::new(1),
            region_start: UnsafeCell::new(0),
            region_end: UnsafeCell::new(capacity),
            quota: UnsafeCell::new(None),
            pool: Arc::clone(pool),
        });
        let idle = IdleBlock(NonNull::from(Box::leak(block)));
        idle.count_idle();
        Ok(idle)
    }

    #[inline]
    fn block(&self) -> &Block {
        // SAFETY: the block stays allocated until this handle frees it.
        unsafe { self.0.as_ref() }
    }

    /// Counts the block as idle against `max_cached_bytes` (every
    /// `IdleBlock` is counted from creation until `into_ref` or drop;
    /// [`BlockRef::release`] leaves this to [`PoolState::recycle`]).
    #[inline]
    pub(crate) fn count_idle(&self) {
        let block = self.block();
        if block.flags() & flags::CACHED_BUDGET != 0 {
            if let Some(budget) = &block.pool.cached_limit {
                budget.add(block.capacity);
            }
        }
    }

    #[inline(always)]
    fn uncount_idle(&self) {
        let block = self.block();
        if block.flags() & flags::CACHED_BUDGET != 0 {
            if let Some(budget) = &block.pool.cached_limit {
                budget.sub(block.capacity);
            }
        }
    }

    #[inline]
    pub(crate) fn flags(&self) -> u8 {
        self.block().flags()
    }

    /// Clears a flag that one hand-out set.
    pub(crate) fn clear_flag(&self, flag: u8) {
        // SAFETY: an idle block has one handle, this one, which is not
        // `Sync`: no other thread can reach the header through it.
        self.block()
            .flags
            .with_mut(|flags| unsafe { *flags &= !flag });
    }

    /// Takes the quota this block was charged to, clearing
    /// [`flags::QUOTA`].
    pub(crate) fn take_quota(&mut self) -> Option<Arc<QuotaAccount>> {
        let block = self.block();
        // SAFETY: an idle block has one handle, this one, borrowed mutably.
        unsafe {
            block.flags.with_mut(|flags| *flags &= !flags::QUOTA);
            block.quota.with_mut(|quota| (*quota).take())
        }
    }

    /// The pool's slot in the thread-cache tables.
    #[inline]
    pub(crate) fn slot(&self) -> usize {
        self.block().slot as usize
    }

    /// The pool, as a pointer for identity checks (no reference counting).
    #[inline]
    pub(crate) fn pool_ptr(&self) -> *const PoolState {
        Arc::as_ptr(&self.block().pool)
    }

    /// Address of the block, as a key for the outstanding-buffer report.
    pub(crate) fn key(&self) -> usize {
        self.0.as_ptr().addr()
    }

    /// Overwrites the whole block with zeroes. In a zero-on-return pool
    /// every returned block passes here before it is idle, which is what
    /// lets [`PooledBuf::from_block`](crate::PooledBuf) treat such blocks as
    /// initialised.
    pub(crate) fn zero(&mut self) {
        let block = self.block();
        // SAFETY: an idle block has no holder; its `capacity` bytes are ours
        // to write.
        unsafe { std::ptr::write_bytes(block.data.as_ptr(), 0, block.capacity) };
    }

    /// The tier's index (the block must be pooled).
    #[inline]
    pub(crate) fn tier(&self) -> usize {
        debug_assert_eq!(
            self.flags() & flags::UNPOOLED,
            0,
            "unpooled blocks have no tier"
        );
        self.block().tier as usize
    }

    pub(crate) fn capacity(&self) -> usize {
        self.block().capacity
    }

    pub(crate) fn pool(&self) -> &Arc<PoolState> {
        &self.block().pool
    }

    /// Hands the block out to a single holder.
    #[inline(always)]
    pub(crate) fn into_ref(self) -> BlockRef {
        debug_assert_eq!(self.block().refs.load(Ordering::Relaxed), 1);
        self.uncount_idle();
        let this = ManuallyDrop::new(self);
        BlockRef(this.0)
    }
}

impl Drop for IdleBlock {
    fn drop(&mut self) {
        self.uncount_idle();
        // SAFETY: `self` is the only handle to a block created by
        // `Box::leak` in `allocate`; nothing uses it after this point.
        let block = unsafe { Box::from_raw(self.0.as_ptr()) };
        if block.flags() & flags::REGION != 0 {
            // Before the header (and its reference to the pool, which owns
            // the regions) is dropped.
            block
                .pool
                .regions
                .as_ref()
                .expect("a block from a region belongs to a pool with regions")
                .give_back(block.data);
            return;
        }
        let layout = block_layout(block.capacity, block.pool.alignment)
            .expect("the layout was valid when the block was allocated");
        // SAFETY: `data` was allocated with exactly this layout in `allocate`
        // and is freed only here, once.
        unsafe { dealloc(block.data.as_ptr(), layout) };
    }
}

/// One counted reference to a block, held by a buffer or a view.
///
/// Dropping the last reference recycles the block into its pool.
#[derive(Debug)]
pub(crate) struct BlockRef(NonNull<Block>);

// SAFETY: the header's fields are immutable after allocation except `refs`
// (an atomic); the region fields (`region_start`, `region_end`,
// `region_initialised`), which only the block's one `PooledBuf` touches
// (see `region_start`); and `flags`/`quota`, written only by the block's
// sole holder at hand-out and at return (see `quota`; the `Arc<QuotaAccount>`
// is `Send + Sync`). The data bytes are partitioned between
// holders by the buffer types, which only hand out `&[u8]` to bytes no
// holder can write. So moving a reference to another thread is sound.
unsafe impl Send for BlockRef {}
// SAFETY: `&BlockRef` gives access to immutable header fields and the
// atomic counter; the region fields and `quota` are reachable only
// through the `unsafe` accessors, whose contract (one `PooledBuf` per
// block, which needs `&mut` to change them; a quota set only at hand-out)
// keeps two threads from touching them at once, and `flags` is written only
// while the block has a single holder.
unsafe impl Sync for BlockRef {}

impl BlockRef {
    #[inline(always)]
    fn block(&self) -> &Block {
        // SAFETY: a `BlockRef` is a counted reference, so the block is live.
        unsafe { self.0.as_ref() }
    }

    /// Start of the block's memory.
    #[inline(always)]
    pub(crate) fn data(&self) -> NonNull<u8> {
        self.block().data
    }

    /// Size of the block's memory.
    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        self.block().capacity
    }

    /// The block's [`flags`].
    #[inline]
    pub(crate) fn flags(&self) -> u8 {
        self.block().flags()
    }

    /// The capacity of the block's tier, or `None` for an unpooled block:
    /// how the public API names a tier.
    pub(crate) fn tier_capacity(&self) -> Option<usize> {
        let block = self.block();
        (block.flags() & flags::UNPOOLED == 0).then_some(block.capacity)
    }

    /// The pool the block belongs to.
    pub(crate) fn pool(&self) -> &Arc<PoolState> {
        &self.block().pool
    }

    /// Address of the block, as a key for the outstanding-buffer report.
    pub(crate) fn key(&self) -> usize {
        self.0.as_ptr().addr()
    }

    /// Where the mutable buffer's region starts, as an offset from
    /// [`data`](Self::data).
    ///
    /// # Safety
    ///
    /// Only the `PooledBuf` holding the block may call this (or
    /// [`set_region_start`](Self::set_region_start)): a block has at most
    /// one, so no other thread can be writing the offset.
    #[inline(always)]
    pub(crate) unsafe fn region_start(&self) -> usize {
        // SAFETY: per the contract, the caller is the only one to access the
        // offset, and `&self` keeps the block alive.
        self.block().region_start.with(|start| unsafe { *start })
    }

    /// Moves the mutable buffer's region to `start` bytes from
    /// [`data`](Self::data).
    ///
    /// # Safety
    ///
    /// As for [`region_start`](Self::region_start).
    #[inline(always)]
    pub(crate) unsafe fn set_region_start(&self, start: usize) {
        debug_assert!(start <= self.capacity());
        // SAFETY: as for `region_start`.
        unsafe { self.mark_region_moved() };
        self.block()
            .region_start
            // SAFETY: as for `region_start`.
            .with_mut(|slot| unsafe { *slot = start });
    }

    /// Where the mutable buffer's region ends, as an offset from
    /// [`data`](Self::data): the capacity unless `split_off` left views
    /// after it.
    ///
    /// # Safety
    ///
    /// As for [`region_start`](Self::region_start).
    #[inline(always)]
    pub(crate) unsafe fn region_end(&self) -> usize {
        // SAFETY: as for `region_start`.
        self.block().region_end.with(|end| unsafe { *end })
    }

    /// Moves the end of the mutable buffer's region.
    ///
    /// # Safety
    ///
    /// As for [`region_start`](Self::region_start); also, no view may read
    /// bytes between the region's start and `end`.
    #[inline(always)]
    pub(crate) unsafe fn set_region_end(&self, end: usize) {
        debug_assert!(end <= self.capacity());
        // SAFETY: as for `region_start`.
        unsafe { self.mark_region_moved() };
        self.block()
            .region_end
            // SAFETY: as for `region_start`.
            .with_mut(|slot| unsafe { *slot = end });
    }

    /// Whether every byte of the block before the region's end is
    /// initialised.
    ///
    /// # Safety
    ///
    /// As for [`region_start`](Self::region_start).
    #[inline(always)]
    pub(crate) unsafe fn region_initialised(&self) -> bool {
        // SAFETY: as for `region_start`.
        self.block()
            .region_initialised
            .with(|init| unsafe { *init })
    }

    /// Records whether every byte before the region's end is initialised.
    ///
    /// # Safety
    ///
    /// As for [`region_start`](Self::region_start); `true` only if those
    /// bytes are indeed initialised.
    #[inline(always)]
    pub(crate) unsafe fn set_region_initialised(&self, initialised: bool) {
        // SAFETY: as for `region_start`.
        unsafe { self.mark_region_moved() };
        self.block()
            .region_initialised
            // SAFETY: as for `region_start`.
            .with_mut(|slot| unsafe { *slot = initialised });
    }

    /// Records that a region field may have moved from a fresh hand-out's.
    ///
    /// # Safety
    ///
    /// As for [`region_start`](Self::region_start).
    #[inline(always)]
    unsafe fn mark_region_moved(&self) {
        // SAFETY: as for `region_start`.
        self.block()
            .region_moved
            .with_mut(|moved| unsafe { *moved = true });
    }

    /// Gives a buffer taking the block a fresh region: the whole block,
    /// initialised only if the block is zeroed while idle. One byte is
    /// read when no earlier holder moved the region (the common case), so
    /// a block handed from thread to thread keeps its header cache line
    /// shared instead of writing it on every get.
    ///
    /// # Safety
    ///
    /// The caller must be the block's only holder (it was just handed out).
    #[inline(always)]
    pub(crate) unsafe fn reset_region(&self) {
        let block = self.block();
        // SAFETY: per the contract, nobody else touches the region fields.
        if !block.region_moved.with(|moved| unsafe { *moved }) {
            return;
        }
        let initialised = self.zeroed_when_idle();
        let capacity = block.capacity;
        // SAFETY: as above.
        unsafe {
            block.region_start.with_mut(|start| *start = 0);
            block.region_end.with_mut(|end| *end = capacity);
            block
                .region_initialised
                .with_mut(|init| *init = initialised);
            block.region_moved.with_mut(|moved| *moved = false);
        }
    }

    /// Whether the block is zeroed whenever it is idle: a pooled block of
    /// a zero-on-return pool ([`IdleBlock::allocate`] zeroes it, and
    /// `PoolState::recycle` zeroes it on every return).
    #[inline(always)]
    pub(crate) fn zeroed_when_idle(&self) -> bool {
        self.block().flags() & (flags::ZERO_ON_RETURN | flags::UNPOOLED) == flags::ZERO_ON_RETURN
    }

    /// Whether `self` and `other`, a reference to the same block, are the
    /// only two references to it.
    ///
    /// `Acquire`, as in [`is_unique`](Self::is_unique).
    pub(crate) fn is_pair_with(&self, other: &BlockRef) -> bool {
        self.same_block(other) && self.block().refs.load(Ordering::Acquire) == 2
    }

    /// The quota this hand-out is charged to.
    ///
    /// # Safety
    ///
    /// As for [`region_start`](Self::region_start).
    pub(crate) unsafe fn quota(&self) -> Option<&Arc<QuotaAccount>> {
        // SAFETY: per the contract, no one writes the field meanwhile.
        self.block()
            .quota
            .with(|quota| unsafe { (*quota).as_ref() })
    }

    /// Sets `flag` for this hand-out.
    ///
    /// # Safety
    ///
    /// The block must have just been handed out: `self` is its only
    /// reference.
    pub(crate) unsafe fn set_flag(&self, flag: u8) {
        // SAFETY: per the contract, nobody else can read the flags now.
        self.block()
            .flags
            .with_mut(|flags| unsafe { *flags |= flag });
    }

    /// Charges this hand-out to `quota`, setting [`flags::QUOTA`].
    ///
    /// # Safety
    ///
    /// The block must have just been handed out: `self` is its only
    /// reference and it carries no quota yet.
    pub(crate) unsafe fn set_quota(&self, quota: Arc<QuotaAccount>) {
        let block = self.block();
        // SAFETY: per the contract, nobody else can read these fields now;
        // the references made later see them through whatever hands the
        // block (or a view of it) to their thread.
        unsafe {
            block.quota.with_mut(|slot| {
                debug_assert!((*slot).is_none());
                *slot = Some(quota);
            });
            block.flags.with_mut(|flags| *flags |= flags::QUOTA);
        }
    }

    /// Whether `self` is the only reference to the block.
    ///
    /// `Acquire` pairs with the `Release` decrement of holders that dropped
    /// out, so their reads of the data happen before the caller's writes.
    pub(crate) fn is_unique(&self) -> bool {
        self.block().refs.load(Ordering::Acquire) == 1
    }

    /// Whether two references point at the same block.
    pub(crate) fn same_block(&self, other: &BlockRef) -> bool {
        self.0 == other.0
    }

    /// Takes one more reference to the same block.
    pub(crate) fn share(&self) -> BlockRef {
        // Relaxed is enough, as for `Arc::clone`: a new reference can only be
        // made from an existing one, which keeps the block alive.
        let old = self.block().refs.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFS {
            std::process::abort();
        }
        BlockRef(self.0)
    }

    /// Gives up this reference. Returns the block when it was the last one,
    /// not yet counted as idle: [`PoolState::recycle`] counts it when the
    /// block's flags ask for it.
    #[inline(always)]
    fn release(self) -> Option<IdleBlock> {
        let this = ManuallyDrop::new(self);
        let refs = &this.block().refs;
        // Sole holder: nobody else can take a reference, so no RMW is needed.
        // `Acquire` pairs with the `Release` decrement (below) of every
        // holder that let go before us: seeing 1 means they all did, and
        // their reads of the data happen before the block is reused.
        if refs.load(Ordering::Acquire) != 1 {
            if refs.fetch_sub(1, Ordering::Release) != 1 {
                return None;
            }
            // Synchronise with every other holder's `Release` decrement
            // before the block is reused, as `Arc::drop` does.
            fence(Ordering::Acquire);
            // Idle blocks keep a count of 1; we are the only one left.
            refs.store(1, Ordering::Relaxed);
        }
        Some(IdleBlock(this.0))
    }
}

impl Drop for BlockRef {
    #[inline(always)]
    fn drop(&mut self) {
        let this = BlockRef(self.0);
        if let Some(idle) = this.release() {
            PoolState::recycle(idle);
        }
    }
}

// SAFETY-free marker, argued here because `region_start` (like the other
// region fields, and `flags` and `quota`, written only at hand-out and
// return) is an `UnsafeCell` (which opts out of `RefUnwindSafe`): only the
// block's one `PooledBuf` touches it, through `&mut self` methods that set
// it and the length without calling anything that can panic in between,
// so no caller of `catch_unwind` can observe a region that disagrees with
// its buffer. The rest of the header is immutable or atomic; see the impl
// for `PoolState`.
impl std::panic::RefUnwindSafe for Block {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Block;

    /// The header is one allocation per block, made once and reused with
    /// it; 64 bytes is one size class of the common allocators (and a cache
    /// line when aligned).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_header_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Block>(), 64);
    }
}
