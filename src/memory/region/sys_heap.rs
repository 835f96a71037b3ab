//! Regions from the heap: elsewhere than Linux and Android, and under Miri
//! and loom (which cannot map memory). Blocks are carved the same way;
//! huge pages and locking are refused, and pages are given back only when
//! a whole region is.

use std::alloc::Layout;
use std::ptr::NonNull;

use super::{BackingError, BackingOp, HugePages};
use crate::sync::{alloc_zeroed, dealloc};

#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the allocation is plain memory owned by this value; the
// regions are moved between threads only inside their mutex.
unsafe impl Send for Mapping {}

impl Mapping {
    pub(super) fn start(&self) -> usize {
        self.ptr.as_ptr().addr()
    }

    pub(super) fn len(&self) -> usize {
        self.layout.size()
    }

    pub(super) fn at(&self, offset: usize) -> NonNull<u8> {
        assert!(offset < self.len());
        // SAFETY: `offset` is within the allocation (checked above).
        unsafe { self.ptr.add(offset) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: allocated by `map` with this layout, freed only here;
        // no block of it is alive any more (see `Regions::give_back`).
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// 1: the heap has no pages to give back or to align to.
pub(super) fn page_size() -> usize {
    1
}

pub(super) fn map(
    len: usize,
    align: usize,
    huge_pages: HugePages,
) -> Result<(Mapping, HugePages, Option<BackingError>), BackingError> {
    let refused = BackingError::new(BackingOp::Map, None, len);
    let layout = Layout::from_size_align(len, align).map_err(|_| refused.clone())?;
    // Zeroed, as mapped pages are: a region starts with no bytes of
    // any earlier owner of its memory, whatever the backend (the loom
    // models tell blocks apart by what their previous holder wrote).
    // SAFETY: `len` is non-zero (at least one block, validated).
    let ptr = unsafe { alloc_zeroed(layout) };
    let ptr = NonNull::new(ptr).ok_or(refused)?;
    let refusal = match huge_pages {
        HugePages::Off => None,
        HugePages::Transparent => Some(BackingOp::TransparentHugePages),
        HugePages::Explicit => Some(BackingOp::ExplicitHugePages),
    };
    Ok((
        Mapping { ptr, layout },
        HugePages::Off,
        refusal.map(|op| BackingError::new(op, None, len)),
    ))
}

pub(super) fn lock(map: &Mapping) -> Result<(), BackingError> {
    Err(BackingError::new(BackingOp::Lock, None, map.len()))
}

pub(super) fn release(_map: &Mapping, _offset: usize, _len: usize) {}
