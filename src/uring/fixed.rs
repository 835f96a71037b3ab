//! Fixed (registered) buffers for io_uring: the pool's regions registered
//! with a ring, and the fixed-buffer identity of every buffer, view and
//! chain segment. Linux, feature `io-uring`; see
//! [registered memory](crate::operations#registered-memory-for-io_uring).

use std::fmt;
use std::io;
use std::ptr::NonNull;

use crate::engine::block::{flags, BlockRef};
use crate::engine::state::PoolState;
use crate::memory::region::RegionLookup;
use crate::sync::Arc;
use crate::{Pool, PooledBuf, SharedBuf};

/// The most buffers one ring registers (`IORING_MAX_REG_BUFFERS`): region
/// indices beyond it cannot be fixed-buffer indices.
pub const MAX_FIXED_BUFFERS: usize = 1 << 14;

/// The fixed-buffer identity of a buffer, view or chain segment: from
/// [`PooledBuf::fixed`] or [`SharedBuf::fixed`].
///
/// `Registered` names the ring's buffer (`buf_index`) and the bytes of this
/// buffer (`addr`, `len`); any sub-range of them may be passed to
/// `ReadFixed` or `WriteFixed` with the same `buf_index`. Every other
/// buffer says why it is not registered, so that no I/O falls back to the
/// slow path unnoticed.
///
/// # Examples
///
/// ```
/// use tierpool::{Backing, Pool};
/// use tierpool::uring::{Fixed, Unregistered};
///
/// let pool = Pool::builder().backing(Backing::Heap).build()?; // nothing to register
/// let buf = pool.get(100);
/// assert_eq!(buf.fixed(), Fixed::Unregistered(Unregistered::Heap));
/// assert_eq!(buf.fixed().buf_index(), None);
/// assert_eq!(pool.get(64 << 20).fixed(), Fixed::Unregistered(Unregistered::Oversize));
/// # Ok::<(), tierpool::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fixed {
    /// The memory is part of a registered fixed buffer.
    Registered {
        /// The fixed-buffer index: the index of the block's region.
        buf_index: u16,
        /// The first byte of this buffer (or view).
        addr: *const u8,
        /// Its bytes: the capacity from `addr` for a [`PooledBuf`], the
        /// length for a [`SharedBuf`].
        len: usize,
    },
    /// The memory is not part of a registered buffer: I/O on it must use
    /// the plain opcodes (`Read`, `Write`).
    Unregistered(Unregistered),
}

impl Fixed {
    /// The fixed-buffer index, if the memory is registered.
    ///
    /// # Examples
    ///
    /// See [`Fixed`].
    #[must_use]
    pub fn buf_index(&self) -> Option<u16> {
        match *self {
            Fixed::Registered { buf_index, .. } => Some(buf_index),
            Fixed::Unregistered(_) => None,
        }
    }

    /// Whether the memory is registered.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!tierpool::Pool::new().get(1).fixed().is_registered());
    /// ```
    #[must_use]
    pub fn is_registered(&self) -> bool {
        matches!(self, Fixed::Registered { .. })
    }
}

/// Why a buffer is not part of a registered fixed buffer.
///
/// # Examples
///
/// See [`Fixed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unregistered {
    /// An oversize request (above the largest tier): a heap allocation of
    /// its own.
    Oversize,
    /// A tier block of a pool with [`Backing::Heap`](crate::Backing::Heap).
    Heap,
    /// A tier block that fell back to the heap because no region could be
    /// mapped (see [`BackingReport::heap_fallbacks`](crate::BackingReport)).
    Fallback,
    /// A block of a region mapped after the pool's registrations (map
    /// regions up front with [`Pool::map_regions`], or register with room
    /// and call [`Registration::update`]).
    LateRegion,
    /// A block of a region of a pool that was never registered.
    NotRegistered,
    /// An empty view, which holds no memory.
    Empty,
}

impl fmt::Display for Unregistered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unregistered::Oversize => "an oversize buffer, allocated on the heap",
            Unregistered::Heap => "a block of a heap-backed pool",
            Unregistered::Fallback => "a block that fell back to the heap",
            Unregistered::LateRegion => "a block of a region mapped after registration",
            Unregistered::NotRegistered => "a block of a pool never registered",
            Unregistered::Empty => "an empty view",
        })
    }
}

/// The fixed-buffer identity of the `len` bytes at `ptr` in `block`.
fn fixed_of(block: Option<&BlockRef>, ptr: NonNull<u8>, len: usize) -> Fixed {
    let Some(block) = block else {
        return Fixed::Unregistered(Unregistered::Empty);
    };
    let flags = block.flags();
    if flags & flags::UNPOOLED != 0 {
        return Fixed::Unregistered(Unregistered::Oversize);
    }
    let Some(regions) = block.pool().regions.as_ref() else {
        return Fixed::Unregistered(Unregistered::Heap);
    };
    if flags & flags::REGION == 0 {
        return Fixed::Unregistered(Unregistered::Fallback);
    }
    match regions.lookup(block.data().as_ptr().addr()) {
        RegionLookup::Registered {
            index,
            start,
            len: region_len,
        } => {
            debug_assert!(ptr.as_ptr().addr() - start + len <= region_len);
            Fixed::Registered {
                buf_index: u16::try_from(index).expect("registered indices fit the ring's table"),
                addr: ptr.as_ptr(),
                len,
            }
        }
        RegionLookup::Late => Fixed::Unregistered(Unregistered::LateRegion),
        RegionLookup::NeverRegistered => Fixed::Unregistered(Unregistered::NotRegistered),
    }
}

impl PooledBuf {
    /// The buffer's fixed-buffer identity: its registered buffer index, and
    /// its first byte and capacity, or why it is not registered.
    ///
    /// The range covers the whole capacity, written or not: read into the
    /// spare capacity with `ReadFixed` at `addr + len()` (or take the
    /// pointer from [`spare_capacity_mut`](Self::spare_capacity_mut)) and
    /// [`set_len`](Self::set_len) after the completion; write the bytes
    /// with `WriteFixed` at `addr`.
    ///
    /// Cost: a registered pool's block is found by address in the table of
    /// regions under the regions' lock, `O(log regions)`, some tens of
    /// nanoseconds; no lock at all for heap and oversize blocks. Ask once
    /// per buffer and keep the answer for its I/O.
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, Pool, RegionConfig};
    /// use tierpool::uring::{Fixed, Unregistered};
    ///
    /// let pool = Pool::builder()
    ///     .tiers([4096])
    ///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
    ///     .build()?;
    /// let buf = pool.get(4096);
    /// // Registered only after `pool.register_regions(&ring.submitter())`.
    /// assert_eq!(buf.fixed(), Fixed::Unregistered(Unregistered::NotRegistered));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn fixed(&self) -> Fixed {
        let (block, ptr, len) = self.fixed_parts();
        fixed_of(Some(block), ptr, len)
    }
}

impl SharedBuf {
    /// The view's fixed-buffer identity: its registered buffer index, and
    /// its first byte and length, or why it is not registered. A slice or
    /// split of a view reports its own bytes in the same buffer, so
    /// `WriteFixed` can send any part of a frozen message; so does every
    /// segment of a [`SharedChain`](crate::SharedChain)
    /// ([`segments`](crate::SharedChain::segments)). Costs as
    /// [`PooledBuf::fixed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, Pool};
    /// use tierpool::uring::{Fixed, Unregistered};
    ///
    /// let pool = Pool::builder().backing(Backing::Heap).build()?;
    /// let mut buf = pool.get(16);
    /// buf.extend_from_slice(b"hello");
    /// let view = buf.freeze();
    /// assert_eq!(view.slice(1..3).fixed(), Fixed::Unregistered(Unregistered::Heap));
    /// assert_eq!(view.slice(0..0).fixed(), Fixed::Unregistered(Unregistered::Empty));
    /// # Ok::<(), tierpool::ConfigError>(())
    /// ```
    #[must_use]
    pub fn fixed(&self) -> Fixed {
        let (block, ptr, len) = self.fixed_parts();
        fixed_of(block, ptr, len)
    }
}

/// The pool's regions registered with one ring: from
/// [`Pool::register_regions`].
///
/// It keeps the pool's regions mapped (it holds the pool's shared state,
/// as a buffer does) so that the ring never names unmapped memory: keep it
/// until the ring's buffers are unregistered
/// (`Submitter::unregister_buffers`) or the ring is dropped.
///
/// # Examples
///
/// ```
/// use tierpool::{Backing, Pool, RegionConfig};
///
/// let pool = Pool::builder()
///     .tiers([4096])
///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
///     .build()?;
/// pool.map_regions(4096, 1)?;
/// let Ok(ring) = io_uring::IoUring::new(8) else {
///     return Ok(()); // io_uring refused here (seccomp, io_uring_disabled)
/// };
/// let registration = pool.register_regions(&ring.submitter())?;
/// assert_eq!((registration.regions(), registration.table_len()), (1, 1));
/// assert_eq!(registration.bytes(), 1 << 20);
/// assert!(registration.contains(0));
/// drop(pool); // the registration keeps the regions mapped
/// ring.submitter().unregister_buffers()?;
/// drop(registration);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registration {
    /// Keeps the regions mapped.
    pool: Arc<PoolState>,
    /// Whether each index of the ring's table holds a region.
    table: Vec<bool>,
    bytes: usize,
}

impl Registration {
    /// The length of the ring's buffer table: the largest registered
    /// region index plus one.
    ///
    /// # Examples
    ///
    /// See [`Registration`].
    #[must_use]
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The regions registered (the table's entries that are not holes).
    ///
    /// # Examples
    ///
    /// See [`Registration`].
    #[must_use]
    pub fn regions(&self) -> usize {
        self.table.iter().filter(|&&r| r).count()
    }

    /// The bytes registered (and pinned in memory by the kernel).
    ///
    /// # Examples
    ///
    /// See [`Registration`].
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Registers the regions mapped since the registration (or the last
    /// update) whose indices fall inside the ring's table, each into its
    /// hole ([`Pool::register_regions_with_room`] leaves room), and returns
    /// how many. Their buffers then report `Registered`. Regions beyond
    /// the table stay [`Unregistered::LateRegion`]. Pass the submitter of
    /// the ring this registration was made with: another ring's table
    /// would be changed instead.
    ///
    /// Cheap when nothing was mapped (a look at the regions under their
    /// lock); one `io_uring_register` call per new region otherwise. Call
    /// it where the service could have grown: after a burst, from a
    /// timer, or when a buffer reports `LateRegion`.
    ///
    /// # Errors
    ///
    /// The kernel's refusal ([`RegisterError::Memlock`] above
    /// `RLIMIT_MEMLOCK`, ...). The regions registered before the refusal
    /// stay registered and counted.
    ///
    /// # Examples
    ///
    /// See [`Pool::register_regions_with_room`].
    pub fn update(&mut self, submitter: &io_uring::Submitter<'_>) -> Result<usize, RegisterError> {
        let regions = self
            .pool
            .regions
            .as_ref()
            .expect("a registration is of a region-backed pool");
        let table = regions.pin_table();
        let mut added = Vec::new();
        let mut result = Ok(());
        for (index, entry) in table.iter().enumerate().take(self.table.len()) {
            let Some((start, len)) = *entry else { continue };
            if self.table[index] {
                continue;
            }
            let iovec = libc::iovec {
                iov_base: start.as_ptr().cast(),
                iov_len: len,
            };
            let offset = u32::try_from(index).expect("table indices fit MAX_FIXED_BUFFERS");
            // SAFETY: as in `register_regions_with_room`: the region is
            // pinned by `pin_table`, and no region of a registered pool is
            // unmapped before its shared state drops, which this
            // registration prevents. The entry at `offset` is a hole of
            // this ring's table (`self.table[index]` is false), so no
            // buffer the ring may be using is replaced.
            match unsafe { submitter.register_buffers_update(offset, &[iovec], None) } {
                Ok(()) => {
                    self.table[index] = true;
                    self.bytes += len;
                    added.push(index);
                }
                Err(err) => {
                    result = Err(RegisterError::from_refusal(err, len));
                    break;
                }
            }
        }
        regions.record_registration(Some(&added));
        result.map(|()| added.len())
    }

    /// Whether this registration holds a region at `buf_index`.
    ///
    /// # Examples
    ///
    /// See [`Registration`].
    #[must_use]
    pub fn contains(&self, buf_index: u16) -> bool {
        self.table
            .get(usize::from(buf_index))
            .copied()
            .unwrap_or(false)
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("table_len", &self.table_len())
            .field("regions", &self.regions())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// Why [`Pool::register_regions`] failed.
///
/// # Examples
///
/// ```
/// use tierpool::Pool;
/// use tierpool::uring::RegisterError;
///
/// let err = RegisterError::Memlock { bytes: 64 << 20, limit: Some(8 << 20) };
/// assert!(err.to_string().contains("RLIMIT_MEMLOCK"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RegisterError {
    /// The pool is heap-backed: only [`Backing::Regions`](crate::Backing)
    /// can be registered.
    NotRegionBacked,
    /// The pool has no region mapped: map some first with
    /// [`Pool::map_regions`] (or get buffers).
    NoRegions,
    /// The regions' indices reach beyond the ring's table
    /// ([`MAX_FIXED_BUFFERS`]).
    TooManyRegions {
        /// The table length the regions need.
        table_len: usize,
    },
    /// The kernel refused to pin the memory (`ENOMEM`): registered memory
    /// counts against `RLIMIT_MEMLOCK` unless the process has
    /// `CAP_IPC_LOCK`.
    Memlock {
        /// The bytes asked for.
        bytes: usize,
        /// The soft `RLIMIT_MEMLOCK`, `None` if unlimited or unknown.
        limit: Option<u64>,
    },
    /// The ring has a buffer table already (`EBUSY`): unregister it first.
    AlreadyRegistered,
    /// Another refusal of `io_uring_register`.
    Io(io::Error),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::NotRegionBacked => {
                f.write_str("the pool is heap-backed; only regions can be registered")
            }
            RegisterError::NoRegions => {
                f.write_str("the pool has no region mapped (see Pool::map_regions)")
            }
            RegisterError::TooManyRegions { table_len } => write!(
                f,
                "{table_len} region indices exceed the {MAX_FIXED_BUFFERS} fixed buffers of a ring"
            ),
            RegisterError::Memlock { bytes, limit } => {
                write!(f, "registering {bytes} bytes with io_uring failed: ")?;
                write!(f, "the kernel would exceed RLIMIT_MEMLOCK")?;
                match limit {
                    Some(limit) => write!(f, " ({limit} bytes)")?,
                    None => f.write_str(" (or is out of memory)")?,
                }
                f.write_str("; raise it (ulimit -l, LimitMEMLOCK=) or grant CAP_IPC_LOCK")
            }
            RegisterError::AlreadyRegistered => {
                f.write_str("the ring has registered buffers already; unregister them first")
            }
            RegisterError::Io(err) => write!(f, "registering buffers with io_uring failed: {err}"),
        }
    }
}

impl std::error::Error for RegisterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegisterError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl Pool {
    /// Registers every region mapped now with the ring of `submitter` as
    /// its fixed buffers: region [`index`](crate::RegionInfo::index) `i` is
    /// buffer index `i`. Indices without a region (freed before
    /// registration) are holes in the table (sparse entries). Feature
    /// `io-uring`, Linux.
    ///
    /// From the first successful registration on, no region of the pool
    /// is unmapped (nor while a registration is under way), and a
    /// registered region's free slots keep their pages (the kernel pins
    /// them; releasing them would leave the ring writing to pages the
    /// process no longer maps): trims free blocks but no memory of
    /// registered regions. Registering pins (and so faults in) every page
    /// of the regions; without `CAP_IPC_LOCK` they count against
    /// `RLIMIT_MEMLOCK` ([`RegisterError::Memlock`]). Regions mapped later
    /// are not registered: their buffers report
    /// [`Unregistered::LateRegion`]; map regions up front with
    /// [`Pool::map_regions`], or leave room for them with
    /// [`register_regions_with_room`](Self::register_regions_with_room).
    ///
    /// A ring has one buffer table ([`RegisterError::AlreadyRegistered`]
    /// otherwise). Several rings may each register the pool; a buffer
    /// reports `Registered` if any registration covered its region, and
    /// [`Registration::contains`] tells for one ring.
    ///
    /// Keep the [`Registration`] until the ring's buffers are unregistered
    /// or the ring dropped: it keeps the regions mapped.
    ///
    /// # Errors
    ///
    /// See [`RegisterError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    ///
    /// use io_uring::{opcode, types, IoUring};
    /// use tierpool::{Backing, Pool, RegionConfig};
    ///
    /// let pool = Pool::builder()
    ///     .tiers([4096])
    ///     .alignment(4096)
    ///     .backing(Backing::Regions(RegionConfig::new().size(4 << 20)))
    ///     .build()?;
    /// pool.map_regions(4096, 1)?;
    /// let Ok(mut ring) = IoUring::new(8) else {
    ///     return Ok(()); // io_uring refused here (seccomp, io_uring_disabled)
    /// };
    /// let _registration = pool.register_regions(&ring.submitter())?;
    ///
    /// let path = std::env::temp_dir().join(format!("tierpool-doc-{}", std::process::id()));
    /// std::fs::write(&path, b"hello, fixed buffers")?;
    /// let file = std::fs::File::open(&path)?;
    /// let mut buf = pool.get(4096);
    /// let index = buf.fixed().buf_index().expect("registered");
    /// let spare = buf.spare_capacity_mut();
    /// let read = opcode::ReadFixed::new(
    ///     types::Fd(file.as_raw_fd()),
    ///     spare.as_mut_ptr().cast(),
    ///     spare.len() as u32,
    ///     index,
    /// );
    /// // SAFETY: `buf` is neither moved nor touched until the completion.
    /// unsafe { ring.submission().push(&read.build()).expect("room") };
    /// ring.submit_and_wait(1)?;
    /// let n = ring.completion().next().expect("a completion").result();
    /// assert_eq!(n, 20);
    /// // SAFETY: the kernel wrote `n` bytes.
    /// unsafe { buf.set_len(n as usize) };
    /// assert_eq!(&buf[..], b"hello, fixed buffers");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_regions(
        &self,
        submitter: &io_uring::Submitter<'_>,
    ) -> Result<Registration, RegisterError> {
        self.register_regions_with_room(submitter, 0)
    }

    /// [`register_regions`](Self::register_regions) in a table of at least
    /// `table_len` entries: the indices without a region now are holes
    /// that [`Registration::update`] fills with the regions mapped later,
    /// so that a pool that grows after registration stays registered.
    /// A pool with no region yet may be registered this way (`table_len`
    /// holes). A hole pins no memory: what is pinned is the regions.
    ///
    /// # Errors
    ///
    /// As [`register_regions`](Self::register_regions), and
    /// [`RegisterError::TooManyRegions`] if `table_len` is above
    /// [`MAX_FIXED_BUFFERS`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tierpool::{Backing, Pool, RegionConfig};
    /// use tierpool::uring::{Fixed, Unregistered};
    ///
    /// let pool = Pool::builder()
    ///     .tiers([4096, 65536])
    ///     .backing(Backing::Regions(RegionConfig::new().size(1 << 20)))
    ///     .build()?;
    /// let Ok(ring) = io_uring::IoUring::new(8) else {
    ///     return Ok(()); // io_uring refused here (seccomp, io_uring_disabled)
    /// };
    /// // Nothing mapped yet: 8 holes.
    /// let mut registration = pool.register_regions_with_room(&ring.submitter(), 8)?;
    /// let buf = pool.get(4096); // maps region 0
    /// assert_eq!(buf.fixed(), Fixed::Unregistered(Unregistered::LateRegion));
    /// assert_eq!(registration.update(&ring.submitter())?, 1);
    /// assert_eq!(buf.fixed().buf_index(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_regions_with_room(
        &self,
        submitter: &io_uring::Submitter<'_>,
        table_len: usize,
    ) -> Result<Registration, RegisterError> {
        let shared = self.shared();
        let regions = shared
            .regions
            .as_ref()
            .ok_or(RegisterError::NotRegionBacked)?;
        let table = regions.pin_table();
        let (iovecs, indices, bytes) = match iovecs(&table, table_len) {
            Ok(parts) => parts,
            Err(err) => {
                regions.record_registration(None);
                return Err(err);
            }
        };
        // SAFETY: every iovec is a region of this pool, pinned by
        // `pin_table`: it stays mapped until the pool's shared state drops,
        // which the returned `Registration` prevents while the ring may use
        // it. (Were the memory unmapped with the ring still registered, the
        // kernel would keep its own reference to the pinned pages: no
        // memory of the process is written, only pages it no longer maps.)
        // Holes are null with length 0, which the kernel registers as
        // sparse entries.
        let result = unsafe { submitter.register_buffers(&iovecs) };
        if let Err(err) = result {
            regions.record_registration(None);
            return Err(RegisterError::from_refusal(err, bytes));
        }
        regions.record_registration(Some(&indices));
        let mut registered = vec![false; iovecs.len()];
        for &index in &indices {
            registered[index] = true;
        }
        Ok(Registration {
            pool: Arc::clone(shared),
            table: registered,
            bytes,
        })
    }
}

impl RegisterError {
    /// The error for the kernel's refusal `err` to register `bytes`.
    fn from_refusal(err: io::Error, bytes: usize) -> RegisterError {
        match err.raw_os_error() {
            Some(libc::ENOMEM) => RegisterError::Memlock {
                bytes,
                limit: memlock_limit(),
            },
            Some(libc::EBUSY) => RegisterError::AlreadyRegistered,
            _ => RegisterError::Io(err),
        }
    }
}

/// The iovecs of a table from `pin_table`, padded with holes to at least
/// `table_len` entries, the indices of its regions and their bytes.
pub(crate) fn iovecs(
    table: &[Option<(NonNull<u8>, usize)>],
    table_len: usize,
) -> Result<(Vec<libc::iovec>, Vec<usize>, usize), RegisterError> {
    if table.is_empty() && table_len == 0 {
        return Err(RegisterError::NoRegions);
    }
    let table_len = table_len.max(table.len());
    if table_len > MAX_FIXED_BUFFERS {
        return Err(RegisterError::TooManyRegions { table_len });
    }
    let mut bytes = 0;
    let mut indices = Vec::new();
    let iovecs = table
        .iter()
        .chain(std::iter::repeat_n(&None, table_len - table.len()))
        .enumerate()
        .map(|(index, entry)| match *entry {
            Some((start, len)) => {
                bytes += len;
                indices.push(index);
                libc::iovec {
                    iov_base: start.as_ptr().cast(),
                    iov_len: len,
                }
            }
            None => libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
        })
        .collect();
    Ok((iovecs, indices, bytes))
}

/// The soft `RLIMIT_MEMLOCK`, or `None` if unlimited or unknown.
fn memlock_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit`, which `limit` is.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Backing, RegionConfig};

    fn pool() -> Pool {
        Pool::builder()
            .tiers([1024, 4096])
            .backing(Backing::Regions(
                RegionConfig::new().size(16 << 10).max_dirty_bytes(0),
            ))
            .build()
            .unwrap()
    }

    /// One 4 KiB tier in 16 KiB regions, without caches or depot: every
    /// drop gives its slot back at once.
    /// A pool whose returns free the block, and whose freed slots are
    /// purged at once (no dirty slots): a region is unmapped as its last
    /// block is freed, unless pinned.
    fn uncached_pool() -> Pool {
        Pool::builder()
            .tier(
                crate::TierConfig::new(4096)
                    .thread_cache_buffers(0)
                    .depot_buffers(0),
            )
            .backing(Backing::Regions(
                RegionConfig::new().size(16 << 10).max_dirty_bytes(0),
            ))
            .build()
            .unwrap()
    }

    /// Registers without a ring: what `register_regions` does around the
    /// system call.
    fn register_without_ring(pool: &Pool) -> Vec<usize> {
        let regions = pool.shared().regions.as_ref().unwrap();
        let table = regions.pin_table();
        let (_, indices, _) = iovecs(&table, 0).unwrap();
        regions.record_registration(Some(&indices));
        indices
    }

    #[test]
    fn buffers_views_and_segments_report_their_region_and_range() {
        let pool = pool();
        assert_eq!(pool.map_regions(1024, 2).unwrap(), 2);
        assert_eq!(pool.map_regions(1024, 2).unwrap(), 0);
        let mut buf = pool.get(1000);
        assert_eq!(
            buf.fixed(),
            Fixed::Unregistered(Unregistered::NotRegistered)
        );
        assert_eq!(register_without_ring(&pool), vec![0, 1]);
        let report = pool.backing_report();
        let Fixed::Registered {
            buf_index,
            addr,
            len,
        } = buf.fixed()
        else {
            panic!("registered: {:?}", buf.fixed());
        };
        let region = &report.regions[usize::from(buf_index)];
        assert!(region.contains(addr));
        assert_eq!((addr, len), (buf.as_ptr(), 1024));
        buf.extend_from_slice(&[7; 100]);
        let head = buf.split_to(10);
        let view = buf.freeze();
        for (part, offset, n) in [(&head, 0, 10), (&view, 10, 90)] {
            assert_eq!(
                part.fixed(),
                Fixed::Registered {
                    buf_index,
                    addr: addr.wrapping_add(offset),
                    len: n
                }
            );
        }
        assert_eq!(
            view.slice(5..7).fixed(),
            Fixed::Registered {
                buf_index,
                addr: addr.wrapping_add(15),
                len: 2
            }
        );
        // A region of the other tier, mapped after registration.
        let late = pool.get(4096);
        assert_eq!(late.fixed(), Fixed::Unregistered(Unregistered::LateRegion));
        assert_eq!(
            pool.get(1 << 20).fixed(),
            Fixed::Unregistered(Unregistered::Oversize)
        );
    }

    #[test]
    fn registered_regions_stay_mapped_and_failed_registrations_unpin() {
        let freeing = uncached_pool();
        let regions = freeing.shared().regions.as_ref().unwrap();
        drop(freeing.get(1));
        assert!(freeing.backing_report().regions.is_empty(), "unmapped");
        drop(freeing.get(1));
        regions.pin_table();
        regions.record_registration(None);
        drop(freeing.get(1));
        assert!(freeing.backing_report().regions.is_empty(), "unpinned");
        freeing.map_regions(4096, 1).unwrap();
        assert_eq!(register_without_ring(&freeing), vec![0]);
        let buf = freeing.get(1);
        let index = buf.fixed().buf_index();
        drop(buf);
        freeing.trim();
        let report = freeing.backing_report();
        assert_eq!(report.regions.len(), 1, "still mapped");
        assert_eq!(report.regions[0].slots_in_use, 0);
        assert_eq!(freeing.get(1).fixed().buf_index(), index);
    }

    #[test]
    fn a_failed_registration_leaves_one_under_way_pinned() {
        let pool = uncached_pool();
        let regions = pool.shared().regions.as_ref().unwrap();
        let buf = pool.get(1);
        let first = regions.pin_table();
        let second = regions.pin_table();
        assert_eq!(first.len(), 1);
        regions.record_registration(None); // the first fails
        drop(buf);
        let report = pool.backing_report();
        assert_eq!(report.regions.len(), 1, "the second is under way");
        let (_, indices, _) = iovecs(&second, 0).unwrap();
        regions.record_registration(Some(&indices));
        assert!(pool.get(1).fixed().is_registered());
    }

    #[test]
    fn holes_are_sparse_entries_and_limits_are_checked() {
        let a = NonNull::<u8>::dangling();
        let (table, indices, bytes) = iovecs(&[None, Some((a, 4096)), None], 0).unwrap();
        assert_eq!(indices, vec![1]);
        assert_eq!(bytes, 4096);
        assert!(table[0].iov_base.is_null() && table[0].iov_len == 0);
        assert!(matches!(iovecs(&[], 0), Err(RegisterError::NoRegions)));
        let (padded, indices, _) = iovecs(&[None, Some((a, 4096))], 4).unwrap();
        assert_eq!((padded.len(), indices), (4, vec![1]));
        assert!(padded[2..]
            .iter()
            .all(|v| v.iov_base.is_null() && v.iov_len == 0));
        assert_eq!(iovecs(&[], 3).unwrap().0.len(), 3, "room alone");
        let err = iovecs(&[Some((a, 4096))], MAX_FIXED_BUFFERS + 1).unwrap_err();
        assert!(
            matches!(err, RegisterError::TooManyRegions { table_len } if table_len == MAX_FIXED_BUFFERS + 1)
        );
        let many = vec![None; MAX_FIXED_BUFFERS + 1];
        let err = iovecs(&many, 0).unwrap_err();
        assert!(err.to_string().contains("16384 fixed buffers"), "{err}");
    }
}
