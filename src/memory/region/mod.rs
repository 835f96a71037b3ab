//! Backing memory: where the blocks of a pool's tiers come from.
//!
//! With [`Backing::Heap`] (the default) every block is one allocation of
//! the global allocator. With [`Backing::Regions`] the blocks of each tier
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

use std::ptr::NonNull;

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
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Indexed by region index; `None` for an index free for reuse.
    regions: Vec<Option<Region>>,
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
    /// Slots used before and free now.
    free: Vec<usize>,
    in_use: usize,
    locked: bool,
    huge_pages: HugePages,
    /// Registered with at least one io_uring ring: its pages are pinned by
    /// the kernel, so they are never released (a released page would be
    /// replaced by a new one the ring does not see).
    registered: bool,
}

impl Region {
    fn has_room(&self) -> bool {
        self.in_use < self.slots
    }
}

impl Regions {
    /// Regions for tiers of these capacities, blocks aligned to `alignment`
    /// (a power of two).
    pub(crate) fn new(config: RegionConfig, capacities: &[usize], alignment: usize) -> Self {
        let tiers = capacities
            .iter()
            .map(|&capacity| (capacity, round_up(capacity, alignment)))
            .collect();
        let mut align = alignment.max(sys::page_size());
        if config.huge_pages != HugePages::Off {
            align = align.max(HUGE_PAGE);
        }
        Self {
            config,
            tiers,
            align,
            state: Mutex::new(State::default()),
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
        let mut state = self.state.lock();
        let found = state
            .regions
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.tier == tier && r.has_room()));
        let index = match found {
            Some(index) => index,
            None => match self.map_region(&mut state, tier, self.config.strict) {
                Ok(Some(index)) => index,
                Ok(None) => {
                    state.heap_fallbacks += 1;
                    return Ok(None);
                }
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
    /// and that is freed now: its pages go back to the system (unless the
    /// region is locked), and a region left empty is unmapped.
    pub(crate) fn give_back(&self, data: NonNull<u8>) {
        let addr = data.as_ptr().addr();
        let mut state = self.state.lock();
        let pinned = state.pinned();
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
        if region.in_use == 0 && !pinned {
            // Unmapped when the region drops.
            state.regions[index] = None;
            state.by_start.retain(|&(_, i)| i != index);
            return;
        }
        region.free.push(offset / region.stride);
        if !region.locked && !region.registered {
            // Only whole pages of the slot: a neighbour may use the others.
            let granule = match region.huge_pages {
                HugePages::Off => sys::page_size(),
                _ => HUGE_PAGE,
            };
            let from = round_up(offset, granule);
            let to = (offset + region.stride) / granule * granule;
            if from < to {
                sys::release(&region.map, from, to - from);
            }
        }
    }

    /// Maps regions for `tier` until it has at least `count`: how many
    /// were mapped. A region that cannot be mapped at all fails (with the
    /// refusal, also recorded in the report); refused huge pages or locks
    /// fall back as for an allocation, unless the regions are strict.
    pub(crate) fn map_up_front(&self, tier: usize, count: usize) -> Result<usize, BackingError> {
        let mut state = self.state.lock();
        let mut have = state
            .regions
            .iter()
            .filter(|r| r.as_ref().is_some_and(|r| r.tier == tier))
            .count();
        let mut mapped = 0;
        while have < count {
            match self.map_region(&mut state, tier, self.config.strict)? {
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

    #[test]
    fn slots_are_reused_and_empty_regions_unmapped() {
        let regions = Regions::new(RegionConfig::new().size(4096), &[1000, 4096], 64);
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
}
