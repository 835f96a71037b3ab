//! Backing memory: where the blocks of a pool's tiers come from.
//!
//! With [`Backing::Heap`] every block is one allocation of the global
//! allocator. With [`Backing::Regions`] (the default on Linux and Android)
//! the blocks of each tier
//! are carved out of large regions mapped from the system, which can be
//! backed by huge pages and locked in memory, and which can be registered
//! with io_uring as fixed buffers, one region each (feature `io-uring`). See
//! [backing memory](crate::operations#backing-memory) for the options,
//! their fallbacks and the memlock limits.
//!
//! The regions are taken and given back on the cold paths only: a slot is
//! taken when the pool allocates a new block (a cache miss) and given back
//! when it frees one (a trim, idle decay, a full depot, the pool's close).
//! One mutex guards them; it is a leaf lock (nothing else is locked while
//! it is held).
//!
//! A slot given back keeps its pages: it is *dirty*, and the next block of
//! its tier takes the most recently freed dirty slot (LIFO) before any
//! clean one, so it faults no page in. Dirty slots are *purged* (their
//! pages released with `MADV_DONTNEED`, or their region unmapped when it
//! holds no other block) once they have been dirty for the decay period,
//! oldest first when the dirty bytes exceed the bound, and all at once on
//! a trim: the model is jemalloc's dirty-page decay, without its
//! background thread (the checks run when a slot is taken or given back).

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

pub(crate) mod config;
pub(crate) mod report;

pub(crate) use self::config::{Backing, HugePages, RegionConfig, HUGE_PAGE, MAX_REGION_SIZE};
pub(crate) use self::report::{BackingError, BackingOp, BackingReport, RegionInfo};

/// Where a block's region stands with io_uring: see [`Regions::lookup`].
#[cfg(all(feature = "io-uring", target_os = "linux"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegionLookup {
    /// The region was registered: its index, start and length.
    Registered {
        index: usize,
        start: usize,
        len: usize,
    },
    /// The pool was registered, but not since this region was mapped.
    Late,
    /// The pool's regions were never registered.
    NeverRegistered,
}

/// The regions of one pool.
#[derive(Debug)]
pub(crate) struct Regions {
    config: RegionConfig,
    /// Per tier: the capacity and the distance between two blocks.
    tiers: Box<[(usize, usize)]>,
    /// The alignment of a region's start.
    align: usize,
    /// How long a slot stays dirty before it is purged.
    decay: Duration,
    /// The most dirty bytes kept: beyond, the oldest dirty slots are purged.
    max_dirty: usize,
    /// The origin of the times in [`Dirty::since`].
    epoch: Instant,
    state: Mutex<State>,
}

/// A free slot that kept its pages: see [`State::dirty`].
#[derive(Debug, Clone, Copy)]
struct Dirty {
    /// The index of its region.
    region: usize,
    slot: usize,
    /// When it was given back (since [`Regions::epoch`]).
    since: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Indexed by region index; `None` for an index free for reuse.
    regions: Vec<Option<Region>>,
    /// Per tier: the dirty slots (free, pages kept), oldest first. Taken
    /// from the back, purged from the front. Slots of locked and of
    /// registered regions are never dirty: their pages stay anyway.
    dirty: Box<[VecDeque<Dirty>]>,
    /// Bytes (block sizes) of the dirty slots.
    dirty_bytes: usize,
    /// Dirty slots purged since the pool was built.
    purges: u64,
    /// `(start address, index)` of every region, sorted by address: finds
    /// a freed block's region.
    by_start: Vec<(usize, usize)>,
    heap_fallbacks: u64,
    refusals: u64,
    errors: Vec<BackingError>,
    /// Registrations with io_uring under way (between `pin_table` and
    /// `record_registration`).
    pending: usize,
    /// Registrations that succeeded.
    registrations: u64,
}

#[derive(Debug)]
struct Region {
    map: sys::Mapping,
    tier: usize,
    stride: usize,
    slots: usize,
    /// Slots from here on were never used.
    fresh: usize,
    /// Slots used before and free now, their pages given back (or kept by
    /// a lock or a registration).
    free: Vec<usize>,
    /// Slots in [`State::dirty`].
    dirty: usize,
    in_use: usize,
    locked: bool,
    huge_pages: HugePages,
    /// Registered with at least one io_uring ring: its pages are pinned by
    /// the kernel, so they are never released (a released page would be
    /// replaced by a new one the ring does not see).
    registered: bool,
}

impl Region {
    /// Whether it has a clean slot (free or never used).
    fn has_room(&self) -> bool {
        self.in_use + self.dirty < self.slots
    }

    /// Whether it holds no block and no dirty slot: unmapped then, unless
    /// the regions are pinned.
    fn is_empty(&self) -> bool {
        self.in_use == 0 && self.dirty == 0
    }

    /// The unit its pages are released in.
    fn granule(&self) -> usize {
        match self.huge_pages {
            HugePages::Off => sys::page_size(),
            _ => HUGE_PAGE,
        }
    }
}

impl Regions {
    /// Regions for tiers of these capacities, blocks aligned to `alignment`
    /// (a power of two), whose free slots stay dirty for `decay` (the
    /// pool's idle decay period).
    pub(crate) fn new(
        config: RegionConfig,
        capacities: &[usize],
        alignment: usize,
        decay: Duration,
    ) -> Self {
        let tiers = capacities
            .iter()
            .map(|&capacity| (capacity, round_up(capacity, alignment)))
            .collect();
        let mut align = alignment.max(sys::page_size());
        if config.huge_pages != HugePages::Off {
            align = align.max(HUGE_PAGE);
        }
        let state = State {
            dirty: capacities.iter().map(|_| VecDeque::new()).collect(),
            ..State::default()
        };
        Self {
            max_dirty: config.dirty_bound(),
            config,
            tiers,
            align,
            decay,
            epoch: Instant::now(),
            state: Mutex::new(state),
        }
    }

    /// The time since [`epoch`](Self::epoch). Loom's clock stands still:
    /// every interleaving it explores must take the same decisions, so
    /// only a zero decay period purges there.
    fn now(&self) -> Duration {
        if cfg!(loom) {
            Duration::ZERO
        } else {
            self.epoch.elapsed()
        }
    }

    /// The smallest valid region size for tiers of these capacities: the
    /// largest block.
    pub(crate) fn min_size(capacities: &[usize], alignment: usize) -> usize {
        capacities
            .iter()
            .map(|&c| round_up(c, alignment))
            .max()
            .unwrap_or(0)
    }

    /// Takes a slot for a new block of `tier`: `Ok(None)` if no region
    /// could be mapped and the block should come from the heap.
    pub(crate) fn take(&self, tier: usize) -> Result<Option<NonNull<u8>>, BackingError> {
        self.take_at(tier, self.now())
    }

    /// Counts a block of a tier that came from the heap because `take`
    /// found no region (`BackingReport::heap_fallbacks`).
    pub(crate) fn count_heap_fallback(&self) {
        self.state.lock().heap_fallbacks += 1;
    }

    /// [`take`](Self::take) at time `now`: the most recently freed dirty
    /// slot of `tier`, or else a clean one.
    fn take_at(&self, tier: usize, now: Duration) -> Result<Option<NonNull<u8>>, BackingError> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        self.purge_due(state, now);
        if let Some(dirty) = state.dirty[tier].pop_back() {
            let region = state.regions[dirty.region]
                .as_mut()
                .expect("a dirty slot's region is mapped");
            region.dirty -= 1;
            region.in_use += 1;
            state.dirty_bytes -= region.stride;
            return Ok(Some(region.map.at(dirty.slot * region.stride)));
        }
        let found = state
            .regions
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.tier == tier && r.has_room()));
        let index = match found {
            Some(index) => index,
            None => match self.map_region(state, tier, self.config.strict) {
                Ok(Some(index)) => index,
                // The caller counts the fallback once the heap has given
                // the block (`count_heap_fallback`).
                Ok(None) => return Ok(None),
                Err(err) => return Err(err),
            },
        };
        let region = state.regions[index]
            .as_mut()
            .expect("the index names a mapped region");
        let slot = region.free.pop().unwrap_or_else(|| {
            region.fresh += 1;
            region.fresh - 1
        });
        region.in_use += 1;
        Ok(Some(region.map.at(slot * region.stride)))
    }

    /// Maps a region for `tier`, records it and returns its index;
    /// `Ok(None)` if the mapping failed and the caller may fall back.
    fn map_region(
        &self,
        state: &mut State,
        tier: usize,
        strict: bool,
    ) -> Result<Option<usize>, BackingError> {
        let (_, stride) = self.tiers[tier];
        let granule = match self.config.huge_pages {
            HugePages::Off => sys::page_size(),
            _ => HUGE_PAGE,
        };
        let len = round_up(self.config.size, granule);
        let mapped = match sys::map(len, self.align, self.config.huge_pages) {
            Ok(mapped) => mapped,
            Err(err) => {
                state.refuse(err.clone());
                return if strict { Err(err) } else { Ok(None) };
            }
        };
        let (map, huge_pages, refusal) = mapped;
        if let Some(err) = refusal {
            state.refuse(err.clone());
            if strict {
                return Err(err);
            }
        }
        let mut locked = false;
        if self.config.lock {
            match sys::lock(&map) {
                Ok(()) => locked = true,
                Err(err) => {
                    state.refuse(err.clone());
                    if strict {
                        return Err(err);
                    }
                }
            }
        }
        let start = map.start();
        let region = Region {
            slots: map.len() / stride,
            map,
            tier,
            stride,
            fresh: 0,
            free: Vec::new(),
            dirty: 0,
            in_use: 0,
            locked,
            huge_pages,
            registered: false,
        };
        let index = match state.regions.iter().position(Option::is_none) {
            Some(index) => {
                state.regions[index] = Some(region);
                index
            }
            None => {
                state.regions.push(Some(region));
                state.regions.len() - 1
            }
        };
        let at = state.by_start.partition_point(|&(s, _)| s < start);
        state.by_start.insert(at, (start, index));
        Ok(Some(index))
    }

    /// Gives back the slot of a block that [`take`](Self::take) returned
    /// and that is freed now: the slot stays dirty (its pages kept) until
    /// it is taken again or purged; slots dirty for the decay period, or
    /// beyond the bound, are purged now.
    pub(crate) fn give_back(&self, data: NonNull<u8>) {
        self.give_back_at(data, self.now());
    }

    /// [`give_back`](Self::give_back) at time `now`.
    fn give_back_at(&self, data: NonNull<u8>, now: Duration) {
        let addr = data.as_ptr().addr();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let at = state.by_start.partition_point(|&(s, _)| s <= addr);
        let index = at
            .checked_sub(1)
            .map(|at| state.by_start[at].1)
            .filter(|&i| {
                state.regions[i]
                    .as_ref()
                    .is_some_and(|r| addr - r.map.start() < r.map.len())
            })
            .expect("a block marked as from a region is not in any region");
        let region = state.regions[index]
            .as_mut()
            .expect("the index names a mapped region");
        let offset = addr - region.map.start();
        debug_assert_eq!(offset % region.stride, 0, "a block starts at a slot");
        region.in_use -= 1;
        let slot = offset / region.stride;
        if region.locked || region.registered {
            // Its pages stay anyway: reused like any free slot.
            region.free.push(slot);
        } else {
            region.dirty += 1;
            state.dirty_bytes += region.stride;
            let (tier, dirty) = (
                region.tier,
                Dirty {
                    region: index,
                    slot,
                    since: now,
                },
            );
            state.dirty[tier].push_back(dirty);
        }
        state.unmap_if_empty(index);
        self.purge_due(state, now);
    }

    /// Purges the slots dirty for the decay period, then the oldest ones
    /// while the dirty bytes exceed the bound.
    fn purge_due(&self, state: &mut State, now: Duration) {
        for tier in 0..state.dirty.len() {
            while let Some(&oldest) = state.dirty[tier].front() {
                if now.saturating_sub(oldest.since) < self.decay {
                    break;
                }
                state.dirty[tier].pop_front();
                state.purge(oldest);
            }
        }
        while state.dirty_bytes > self.max_dirty {
            let tier = (0..state.dirty.len())
                .filter_map(|t| state.dirty[t].front().map(|d| (d.since, t)))
                .min()
                .map(|(_, t)| t)
                .expect("dirty bytes are in dirty slots");
            let oldest = state.dirty[tier].pop_front().expect("just seen");
            state.purge(oldest);
        }
    }

    /// Purges every dirty slot: on [`Pool::trim`](crate::Pool::trim) and
    /// [`Pool::trim_idle`](crate::Pool::trim_idle), after they freed the
    /// idle blocks.
    pub(crate) fn purge_all(&self) {
        let mut state = self.state.lock();
        for tier in 0..state.dirty.len() {
            while let Some(oldest) = state.dirty[tier].pop_front() {
                state.purge(oldest);
            }
        }
    }

    /// Maps regions for `tier` until it has at least `count`: how many
    /// were mapped. A region that cannot be mapped at all fails (with the
    /// refusal, also recorded in the report); refused huge pages or locks
    /// fall back as for an allocation, unless the regions are strict.
    pub(crate) fn map_up_front(&self, tier: usize, count: usize) -> Result<usize, BackingError> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let mut have = state
            .regions
            .iter()
            .filter(|r| r.as_ref().is_some_and(|r| r.tier == tier))
            .count();
        let mut mapped = 0;
        while have < count {
            match self.map_region(state, tier, self.config.strict)? {
                Some(_) => {
                    have += 1;
                    mapped += 1;
                }
                None => {
                    let err = state
                        .errors
                        .iter()
                        .find(|e| e.op() == BackingOp::Map)
                        .cloned()
                        .expect("a failed mapping records its refusal");
                    return Err(err);
                }
            }
        }
        Ok(mapped)
    }

    /// Begins a registration (no region is unmapped until it ends with
    /// [`record_registration`](Self::record_registration)) and returns the
    /// table to register: for each region index, the region's start and
    /// length, or `None` for an index no region has now (a hole).
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn pin_table(&self) -> Vec<Option<(NonNull<u8>, usize)>> {
        let mut state = self.state.lock();
        state.pending += 1;
        let mut table: Vec<_> = state
            .regions
            .iter()
            .map(|r| r.as_ref().map(|r| (r.map.at(0), r.map.len())))
            .collect();
        while table.last().is_some_and(Option::is_none) {
            table.pop();
        }
        table
    }

    /// Records the end of a registration that [`pin_table`](Self::pin_table)
    /// began: of the regions at `indices` (still mapped: none is unmapped
    /// while a registration is under way), or `None` if it failed. Once
    /// one succeeded, no region is unmapped any more.
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn record_registration(&self, indices: Option<&[usize]>) {
        let mut state = self.state.lock();
        state.pending -= 1;
        let Some(indices) = indices else { return };
        state.registrations += 1;
        for &index in indices {
            state.regions[index]
                .as_mut()
                .expect("a pinned region stays mapped")
                .registered = true;
        }
    }

    /// Where the block at `addr` stands with io_uring: the index and start
    /// of its region if that region is registered. Takes the regions' lock
    /// and searches the table of regions by address (`O(log regions)`).
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) fn lookup(&self, addr: usize) -> RegionLookup {
        let state = self.state.lock();
        let at = state.by_start.partition_point(|&(s, _)| s <= addr);
        let region = at.checked_sub(1).and_then(|at| {
            let index = state.by_start[at].1;
            state.regions[index]
                .as_ref()
                .filter(|r| addr - r.map.start() < r.map.len())
                .map(|r| (index, r))
        });
        match region {
            Some((index, region)) if region.registered => RegionLookup::Registered {
                index,
                start: region.map.start(),
                len: region.map.len(),
            },
            _ if state.registrations == 0 => RegionLookup::NeverRegistered,
            _ => RegionLookup::Late,
        }
    }

    /// What backs the pool now.
    pub(crate) fn report(&self) -> BackingReport {
        let state = self.state.lock();
        let mut report = BackingReport {
            heap_fallbacks: state.heap_fallbacks,
            refusals: state.refusals,
            dirty_bytes: state.dirty_bytes,
            purges: state.purges,
            errors: state.errors.clone(),
            ..BackingReport::default()
        };
        for (index, region) in state.regions.iter().enumerate() {
            let Some(region) = region else { continue };
            let len = region.map.len();
            report.mapped_bytes += len;
            if region.locked {
                report.locked_bytes += len;
            }
            if region.huge_pages != HugePages::Off {
                report.huge_page_bytes += len;
            }
            report.regions.push(RegionInfo {
                index,
                start: region.map.start(),
                len,
                tier_capacity: self.tiers[region.tier].0,
                block_size: region.stride,
                slots: region.slots,
                slots_in_use: region.in_use,
                slots_dirty: region.dirty,
                locked: region.locked,
                huge_pages: region.huge_pages,
            });
        }
        report
    }
}

impl State {
    /// Whether no region may be unmapped: while a registration is under
    /// way or once one succeeded (a region's index would be reused while
    /// a ring may still name it).
    fn pinned(&self) -> bool {
        self.pending > 0 || self.registrations > 0
    }

    /// Unmaps the region at `index` if it is empty and the regions are not
    /// pinned: whether it did.
    fn unmap_if_empty(&mut self, index: usize) -> bool {
        let region = self.regions[index]
            .as_ref()
            .expect("the index names a mapped region");
        if region.is_empty() && !self.pinned() {
            // Unmapped when the region drops.
            self.regions[index] = None;
            self.by_start.retain(|&(_, i)| i != index);
            return true;
        }
        false
    }

    /// Purges a dirty slot, just taken off its tier's list: its region is
    /// unmapped if it is empty now, or else its whole pages go back to the
    /// system (pages shared with a neighbouring slot stay). The pages of a
    /// registered region, or of one being registered, are never released:
    /// the kernel pins them, and a released page would be replaced by a
    /// new one the ring does not see.
    fn purge(&mut self, dirty: Dirty) {
        let region = self.regions[dirty.region]
            .as_mut()
            .expect("a dirty slot's region is mapped");
        region.dirty -= 1;
        self.dirty_bytes -= region.stride;
        if self.unmap_if_empty(dirty.region) {
            self.purges += 1;
            return;
        }
        let pending = self.pending > 0;
        let region = self.regions[dirty.region]
            .as_mut()
            .expect("the region is still mapped");
        region.free.push(dirty.slot);
        if region.registered || pending {
            return;
        }
        self.purges += 1;
        let granule = region.granule();
        let offset = dirty.slot * region.stride;
        let from = round_up(offset, granule);
        let to = (offset + region.stride) / granule * granule;
        if from < to {
            sys::release(&region.map, from, to - from);
        }
    }

    fn refuse(&mut self, err: BackingError) {
        self.refusals += 1;
        match self.errors.iter_mut().find(|e| e.op() == err.op()) {
            Some(latest) => *latest = err,
            None => self.errors.push(err),
        }
    }
}

/// `n` rounded up to a multiple of `to` (a power of two).
fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Regions mapped from the system: Linux and Android, outside Miri and
/// loom.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri), not(loom)))]
#[path = "sys_mmap.rs"]
mod sys;
/// Regions from the heap: elsewhere, and under Miri and loom.
#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri), not(loom))))]
#[path = "sys_heap.rs"]
mod sys;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lock_errors_name_the_memlock_limit() {
        let err = BackingError::new(BackingOp::Lock, Some(12), 64 << 20)
            .with_memlock_limit(Some(8 << 20));
        let text = err.to_string();
        assert!(text.contains("locking 67108864 bytes"), "{text}");
        assert!(text.contains("RLIMIT_MEMLOCK is 8388608 bytes"), "{text}");
        assert_eq!(err.io_error().raw_os_error(), Some(12));
        assert_eq!(err.memlock_limit(), Some(8 << 20));
        let unsupported = BackingError::new(BackingOp::Lock, None, 4096);
        assert!(unsupported.to_string().contains("not supported"));
        assert_eq!(
            unsupported.io_error().kind(),
            std::io::ErrorKind::Unsupported
        );
    }

    /// Regions of `config` whose dirty slots decay after a second.
    fn regions(config: RegionConfig, capacities: &[usize]) -> Regions {
        Regions::new(config, capacities, 64, Duration::from_secs(1))
    }

    #[test]
    fn slots_are_reused_and_empty_regions_unmapped() {
        // No dirty slots: every slot is purged as it is given back.
        let regions = regions(
            RegionConfig::new().size(4096).max_dirty_bytes(0),
            &[1000, 4096],
        );
        // 1024-byte slots: four to a region.
        let blocks: Vec<_> = (0..5).map(|_| regions.take(0).unwrap().unwrap()).collect();
        let report = regions.report();
        assert_eq!(report.regions.len(), 2);
        assert_eq!(report.regions[0].slots, 4);
        assert_eq!(report.regions[0].block_size, 1024);
        assert_eq!(blocks[1].as_ptr().addr() - blocks[0].as_ptr().addr(), 1024);
        regions.give_back(blocks[1]);
        assert_eq!(regions.take(0).unwrap().unwrap(), blocks[1]);
        regions.give_back(blocks[4]);
        assert_eq!(regions.report().regions.len(), 1);
        for &block in &blocks[..4] {
            regions.give_back(block);
        }
        let report = regions.report();
        assert!(report.regions.is_empty());
        assert_eq!(report.mapped_bytes, 0);
    }

    const PAGE: usize = 4096;

    fn addr(ptr: NonNull<u8>) -> usize {
        ptr.as_ptr().addr()
    }

    #[test]
    fn dirty_slots_are_taken_newest_first_before_clean_ones() {
        let regions = regions(RegionConfig::new().size(8 * PAGE), &[PAGE]);
        let [a, b, c] = [0; 3].map(|_| regions.take(0).unwrap().unwrap());
        regions.give_back(a);
        regions.give_back(b);
        let report = regions.report();
        assert_eq!((report.dirty_bytes, report.purges), (2 * PAGE, 0));
        assert_eq!(report.regions[0].slots_dirty, 2);
        assert_eq!(report.regions[0].slots_in_use, 1);
        assert_eq!(regions.take(0).unwrap().unwrap(), b, "the newest first");
        assert_eq!(regions.take(0).unwrap().unwrap(), a);
        let d = regions.take(0).unwrap().unwrap();
        assert_eq!(addr(d) - addr(c), PAGE, "then a clean slot");
        assert_eq!(regions.report().dirty_bytes, 0);
    }

    #[test]
    fn the_bound_purges_the_oldest_dirty_slots() {
        let regions = regions(
            RegionConfig::new().size(8 * PAGE).max_dirty_bytes(2 * PAGE),
            &[PAGE],
        );
        let [a, b, c, _kept] = [0; 4].map(|_| regions.take(0).unwrap().unwrap());
        for block in [a, b, c] {
            regions.give_back(block);
        }
        let report = regions.report();
        assert_eq!((report.dirty_bytes, report.purges), (2 * PAGE, 1));
        // The two dirty ones, newest first; then `a`, purged (a clean free
        // slot, taken before the never used ones).
        let taken = [0; 3].map(|_| regions.take(0).unwrap().unwrap());
        assert_eq!(taken, [c, b, a]);
    }

    #[test]
    fn dirty_slots_decay_after_the_period() {
        // The decay period is a second: drive the clock by hand.
        let regions = regions(RegionConfig::new().size(8 * PAGE), &[PAGE]);
        let t = Duration::from_millis;
        let [a, b, c, d] = [0; 4].map(|_| regions.take_at(0, t(0)).unwrap().unwrap());
        regions.give_back_at(a, t(0));
        regions.give_back_at(b, t(500));
        regions.give_back_at(c, t(999));
        assert_eq!(regions.report().purges, 0);
        // A miss at 1.2 s purges `a` (dirty for 1.2 s), not `b` (0.7 s).
        let report = {
            let d = regions.take_at(0, t(1200)).unwrap().unwrap();
            assert_eq!(d, c);
            regions.report()
        };
        assert_eq!((report.dirty_bytes, report.purges), (PAGE, 1));
        regions.give_back_at(c, t(1200));
        regions.give_back_at(d, t(2200)); // `b` and `c` decay
        let report = regions.report();
        assert_eq!((report.dirty_bytes, report.purges), (PAGE, 3));
        assert_eq!(report.regions[0].slots_dirty, 1);
        assert_eq!(report.regions[0].slots_in_use, 0);
    }

    #[test]
    fn an_empty_region_stays_mapped_while_it_has_dirty_slots() {
        let regions = regions(RegionConfig::new().size(4 * PAGE), &[PAGE]);
        let [a, b] = [0; 2].map(|_| regions.take(0).unwrap().unwrap());
        regions.give_back(a);
        regions.give_back(b);
        let report = regions.report();
        assert_eq!(report.regions.len(), 1, "kept for its dirty slots");
        assert_eq!(report.regions[0].slots_dirty, 2);
        regions.purge_all();
        let report = regions.report();
        assert!(report.regions.is_empty(), "{report:?}");
        assert_eq!(
            (report.mapped_bytes, report.dirty_bytes, report.purges),
            (0, 0, 2)
        );
    }

    /// Whether the byte at `ptr`, written by the test before its slot was
    /// given back, is still there (a released page reads as zero).
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    fn kept(ptr: NonNull<u8>) -> bool {
        // SAFETY: `ptr` is the first byte of a slot of a region that is
        // still mapped (checked by the callers' reports); no block uses
        // the slot, and nothing else writes it while the test reads.
        unsafe { ptr.as_ptr().read() == 0xAB }
    }

    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    #[test]
    fn slots_of_registered_regions_and_of_regions_being_registered_keep_their_pages() {
        let regions = regions(
            RegionConfig::new().size(4 * PAGE).max_dirty_bytes(0),
            &[PAGE],
        );
        let blocks = [0; 3].map(|_| regions.take(0).unwrap().unwrap());
        for block in blocks {
            // SAFETY: the slot is taken and held by this test alone.
            unsafe { block.as_ptr().write(0xAB) };
        }
        let table = regions.pin_table();
        assert_eq!(table.len(), 1);
        // Being registered: purged at once (no dirty bytes), but its pages
        // stay, and it is not counted as a purge.
        regions.give_back(blocks[0]);
        let report = regions.report();
        assert_eq!((report.dirty_bytes, report.purges), (0, 0));
        assert!(kept(blocks[0]));
        regions.record_registration(Some(&[0]));
        // Registered: never dirty, never released.
        regions.give_back(blocks[1]);
        regions.purge_all();
        let report = regions.report();
        assert_eq!((report.dirty_bytes, report.purges), (0, 0));
        assert!(kept(blocks[1]));
        assert_eq!(report.regions[0].slots_dirty, 0);
        regions.give_back(blocks[2]);
        assert_eq!(
            regions.report().regions.len(),
            1,
            "a registered region stays"
        );
        assert!(kept(blocks[2]));
    }
}
