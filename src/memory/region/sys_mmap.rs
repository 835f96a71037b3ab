//! Regions mapped from the system: Linux and Android, outside Miri and
//! loom.

use crate::sync::OnceLock;
use std::ptr::NonNull;

use super::{BackingError, BackingOp, HugePages, HUGE_PAGE};

/// An anonymous private mapping, unmapped on drop.
#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; the regions
// are moved between threads only inside their mutex.
unsafe impl Send for Mapping {}

impl Mapping {
    pub(super) fn start(&self) -> usize {
        self.ptr.as_ptr().addr()
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// A pointer `offset` bytes into the mapping.
    pub(super) fn at(&self, offset: usize) -> NonNull<u8> {
        assert!(offset < self.len);
        // SAFETY: `offset` is within the mapping (checked above).
        unsafe { self.ptr.add(offset) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr + len` is a mapping this value owns, made
        // by `map`; no block of it is alive any more (the region is
        // dropped when its last slot is given back, or with the pool,
        // which every block keeps alive). Unmapping also unlocks it.
        let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        debug_assert_eq!(rc, 0, "munmap of a region failed");
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub(super) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: `sysconf` reads no memory of ours.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(page)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Maps `len` bytes (a multiple of the page size) starting at a
/// multiple of `align` (a power of two, at least a page).
fn map_aligned(len: usize, align: usize, extra_flags: libc::c_int) -> Result<Mapping, i32> {
    let slack = if extra_flags & libc::MAP_HUGETLB != 0 {
        // Huge page mappings start on a huge page already.
        align.saturating_sub(HUGE_PAGE)
    } else {
        align - page_size()
    };
    let total = len.checked_add(slack).ok_or(libc::ENOMEM)?;
    // SAFETY: an anonymous private mapping at an address of the
    // kernel's choice touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(errno());
    }
    let ptr = ptr.cast::<u8>();
    let head = ptr.align_offset(align);
    debug_assert!(head <= slack);
    let tail = slack - head;
    if head > 0 {
        // SAFETY: the first `head` bytes belong to the mapping just
        // made, and nothing refers to them.
        unsafe { libc::munmap(ptr.cast(), head) };
    }
    if tail > 0 {
        // SAFETY: as for the head, the last `tail` bytes.
        unsafe { libc::munmap(ptr.add(head + len).cast(), tail) };
    }
    // SAFETY: `head <= slack`, within the mapping, which is not null.
    let start = unsafe { NonNull::new_unchecked(ptr.add(head)) };
    Ok(Mapping { ptr: start, len })
}

/// Maps a region of `len` bytes (a multiple of the huge page size if
/// `huge_pages` is on): the mapping, the huge pages it got, and the
/// refusal that made it fall back to fewer, if any.
pub(super) fn map(
    len: usize,
    align: usize,
    huge_pages: HugePages,
) -> Result<(Mapping, HugePages, Option<BackingError>), BackingError> {
    let mut refusal = None;
    if huge_pages == HugePages::Explicit {
        match map_aligned(len, align, libc::MAP_HUGETLB) {
            Ok(map) => return Ok((map, HugePages::Explicit, None)),
            Err(errno) => {
                refusal = Some(BackingError::new(
                    BackingOp::ExplicitHugePages,
                    Some(errno),
                    len,
                ));
            }
        }
    }
    let map = map_aligned(len, align, 0)
        .map_err(|errno| BackingError::new(BackingOp::Map, Some(errno), len))?;
    if huge_pages == HugePages::Transparent {
        // SAFETY: advice on a mapping this function owns; MADV_HUGEPAGE
        // changes how the kernel backs it, not its contents.
        let rc = unsafe { libc::madvise(map.ptr.as_ptr().cast(), len, libc::MADV_HUGEPAGE) };
        if rc == 0 {
            return Ok((map, HugePages::Transparent, None));
        }
        refusal = Some(BackingError::new(
            BackingOp::TransparentHugePages,
            Some(errno()),
            len,
        ));
    }
    Ok((map, HugePages::Off, refusal))
}

/// Locks the mapping in memory.
pub(super) fn lock(map: &Mapping) -> Result<(), BackingError> {
    // SAFETY: `mlock` of a mapping we own changes no memory contents.
    if unsafe { libc::mlock(map.ptr.as_ptr().cast(), map.len) } == 0 {
        return Ok(());
    }
    let err = BackingError::new(BackingOp::Lock, Some(errno()), map.len);
    Err(err.with_memlock_limit(memlock_limit()))
}

/// The soft `RLIMIT_MEMLOCK`, or `None` if unlimited or unknown.
pub(super) fn memlock_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit`, which `limit` is.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    // `rlim_t` is `u32` on 32-bit Android.
    #[allow(clippy::unnecessary_cast)]
    let current = limit.rlim_cur as u64;
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(current)
}

/// Gives the pages of `len` bytes at `offset` back to the system; they
/// read as zeroes when touched again.
pub(super) fn release(map: &Mapping, offset: usize, len: usize) {
    debug_assert!(offset + len <= map.len);
    // SAFETY: the range is within the mapping, in a free slot that no
    // block refers to; MADV_DONTNEED on a private anonymous mapping
    // only replaces its pages by zero pages.
    let rc = unsafe {
        libc::madvise(
            map.ptr.as_ptr().add(offset).cast(),
            len,
            libc::MADV_DONTNEED,
        )
    };
    debug_assert_eq!(rc, 0, "MADV_DONTNEED of a free slot failed");
}
