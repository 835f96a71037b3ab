//! Operating a pool in production: what to watch, what each counter means,
//! how to size the limits from what the stats show, what to do under
//! overload, how idle memory is given back, and what memory backs the
//! blocks.
//!
//! # What to watch
//!
//! Take [`Pool::stats`](crate::Pool::stats) from a timer (every few
//! seconds is plenty: it sums per-thread counters under one lock, and the
//! get/drop path never waits for it) and look at, in this order:
//!
//! 1. **Hit rate** ([`PoolStats::hit_rate`](crate::PoolStats::hit_rate)).
//!    Above 0.99 in a steady service. A low rate means buffers are
//!    allocated afresh: caches too shallow for the traffic's bursts, or
//!    buffers dropped on a different thread from the one that gets them
//!    faster than the depot can carry them back.
//! 2. **In use** ([`PoolStats::in_use_bytes`](crate::PoolStats::in_use_bytes))
//!    against your memory budget. It includes blocks pinned by views and
//!    `Bytes` that are still alive: a steady rise with flat traffic is a
//!    leak or a slow consumer (see [leaks](#leaks-and-long-holds)).
//! 3. **Cached** ([`PoolStats::cached_bytes`](crate::PoolStats::cached_bytes)):
//!    idle memory the pool keeps for the next burst. It decays by itself as
//!    traffic runs ([idle memory](crate::implementation#idle-memory));
//!    [`Pool::trim`](crate::Pool::trim) and
//!    [`Pool::trim_idle`](crate::Pool::trim_idle) release it on demand.
//! 4. **Dropped** and **exhausted**: see the table.
//! 5. **Oversize** ([`PoolStats::oversize`](crate::PoolStats::oversize)):
//!    requests above the largest tier, served by plain allocations. Many
//!    of them mean a tier is missing (see [sizing](#sizing-the-limits)), or
//!    that messages of any length belong in chains
//!    ([`Pool::chain`](crate::Pool::chain)), which pool every length.
//!
//! `println!("{}", pool.stats())` prints all of it as a table, one row per
//! tier. With the `metrics` feature, `Pool::publish_metrics` on that timer
//! sends the same figures to a Prometheus exporter or an OpenTelemetry
//! bridge, labelled by pool and tier (its documentation lists the
//! metrics); the hit rate is then
//! `sum(rate(tierpool_hits_total[5m])) / (sum(rate(tierpool_hits_total[5m])) + sum(rate(tierpool_misses_total[5m])))`.
//!
//! # What each counter means
//!
//! Per tier ([`TierStats`](crate::TierStats)):
//!
//! | counter | counts | when it grows |
//! |---|---|---|
//! | `hits` | gets served by an idle block (thread cache or depot) | the normal case |
//! | `misses` | gets that allocated a new block | at start-up, and when the caches ran dry: a burst beyond what was kept |
//! | `returns` | blocks whose last holder let go | every drop of a buffer, of the last view, of the last `Bytes` |
//! | `dropped` | returned blocks freed because the thread cache **and** the depot of the tier were full | buffers flow in one direction (got on one thread, dropped on another) faster than the depot's depth: raise `depot_buffers` |
//! | `dropped_over_limit` | returned blocks freed because idle bytes reached `max_cached_bytes` | the cap is doing its job; if `misses` climb with it, the cap is below the working set |
//! | `trimmed` | idle blocks freed by `trim`, `trim_idle` or the automatic idle collection | memory going back to the system after a burst |
//! | `in_use` | blocks out now (`hits + misses - returns`) | |
//! | `cached` | idle blocks kept now | |
//!
//! Pool-wide ([`PoolStats`](crate::PoolStats)): `exhausted` counts
//! `try_get`/`try_reserve` refusals by `max_in_use_bytes` (and requests
//! larger than the whole cap); `over_limit` counts buffers that `get` or
//! growth handed out beyond it. Budgets report their limit and the exact
//! bytes charged (`cached_limit`, `in_use_limit`). Each
//! [`Quota`](crate::Quota) has its own [`QuotaStats`](crate::QuotaStats).
//!
//! # Sizing the limits
//!
//! * **Tiers.** Record what the service asks for
//!   ([`PoolBuilder::record_sizes`](crate::PoolBuilder::record_sizes)) for a
//!   while, then let the advisor choose
//!   ([`SizeHistogram::advise`](crate::SizeHistogram::advise)); it prints
//!   the capacity wasted by the current tiers and by the advised ones.
//! * **Thread cache depth** (`thread_cache_bytes`, `thread_cache_buffers`).
//!   Each thread that uses the pool keeps up to this much idle memory per
//!   tier. If `misses` keep growing in a steady state, the caches are
//!   shallower than the bursts; if `cached` stays far above what a burst
//!   uses, they are deeper than needed.
//! * **Depot depth** (`depot_buffers`). Sized for the blocks in flight
//!   between threads: raise it while `dropped` grows.
//! * **`max_cached_bytes`.** Set it to what you can afford to keep idle;
//!   watch `dropped_over_limit` against `misses`.
//! * **`max_in_use_bytes`** and quotas. The service's memory budget for
//!   buffers. With [`Pool::get_async`](crate::Pool::get_async), producers
//!   wait at the cap instead of failing; watch `in_use_limit.used`,
//!   `exhausted` and, per quota, `waiting`. A quota per connection or
//!   tenant keeps one slow consumer from holding everyone's memory.
//!
//! # Overload: who holds the memory, and shedding
//!
//! When a capped pool is full, tasks wait in `get_async` (and readers of
//! frames wait for blocks) until memory comes back. That is the cap doing
//! its job while the wait is short; a wait that keeps growing means the
//! memory is held by someone who will not let go soon (a slow consumer, a
//! stalled peer). Two readings tell which, neither of them on the get and
//! return path:
//!
//! * [`PoolStats::waiting`](crate::PoolStats::waiting): how many requests
//!   wait for `max_in_use_bytes`, for how many bytes, and for how long the
//!   oldest has waited (with `metrics`: `tierpool_waiting_requests`,
//!   `tierpool_waiting_bytes`, `tierpool_oldest_wait_seconds`);
//! * [`Pool::quotas`](crate::Pool::quotas): every live quota with the bytes
//!   charged to it, the largest first ([`PoolStats::quotas`](crate::PoolStats::quotas)
//!   has the count, the total and the eight largest;
//!   `tierpool_largest_quota_bytes` the largest).
//!
//! Give each connection its own quota and keep its [`QuotaId`](crate::QuotaId)
//! with the connection's task. The policy Envoy's overload manager uses,
//! resetting the most expensive streams, is then a few lines on a timer:
//! once `waiting.oldest_wait` passes a limit, close the connection of
//! `pool.quotas()[0]` if it holds more than a well-behaved connection
//! ever does. `examples/soak.rs` runs exactly that under hostile load, and
//! the `quota` tests show the other connections proceed once the largest
//! holder is cut.
//!
//! # Leaks and long holds
//!
//! [`PoolBuilder::leak_detection`](crate::PoolBuilder::leak_detection)
//! follows hand-outs until their blocks come back:
//! [`LeakDetection::Sampled`](crate::LeakDetection::Sampled) in production
//! (one hand-out in N, with backtraces), `Full` while debugging.
//! [`Pool::held_longer_than`](crate::Pool::held_longer_than) lists the
//! buffers held longer than a threshold (a view kept in a cache pins its
//! whole block); [`PoolBuilder::on_close_with_outstanding`](crate::PoolBuilder::on_close_with_outstanding)
//! reports what is still out when the pool shuts down.
//!
//! # Idle memory and parked threads
//!
//! Idle memory lives in the depots (shared) and in each thread's cache.
//! [`Pool::trim`](crate::Pool::trim) frees all of it, and
//! [`Pool::trim_idle`](crate::Pool::trim_idle) what stayed unused since its
//! previous call, in the depots **and in every thread's cache**, whichever
//! thread calls them: a thread that stopped using the pool without exiting
//! (a parked worker, an idle runtime thread, a blocking pool's spare
//! thread) keeps nothing once a trim has run. The owner of a cache pays
//! nothing for this on its get and drop path (no lock, no atomic
//! read-modify-write); the trim pays one process-wide barrier, Linux's
//! `membarrier` (its cost is measured in the repository's
//! [`BENCHMARKS.md`]). Where that barrier is not available
//! (other systems, or a kernel or seccomp policy that refuses it:
//! [`Pool::trims_reach_parked_threads`](crate::Pool::trims_reach_parked_threads) tells), each thread frees its share at
//! its next get or return instead, and a parked thread keeps at most
//! `thread_cache_bytes` per tier.
//!
//! ## Decay over time
//!
//! * **With traffic**, each thread collects by itself, about once per
//!   [`idle_decay_period`](crate::PoolBuilder::idle_decay_period): three quarters of what it kept unused for a whole period go
//!   back ([idle memory](crate::implementation#idle-memory)).
//! * **Without traffic** nothing runs on the threads, so call
//!   [`Pool::trim_idle`](crate::Pool::trim_idle) from a timer of yours
//!   every period `P`, or, with the `tokio` feature, spawn the ready-made
//!   task `tokio::spawn(pool.trim_idle_every(P))`, which ends when the
//!   last `Pool` handle drops. The pool starts no thread of its own.
//!
//! The bound, in time: each call frees every idle buffer that nobody took
//! since the previous call, so **a buffer idle for `2 × P` has been
//! freed**, and right after a call what stays cached in a thread cache or
//! depot is at most what was taken out of it during the last period.
//!
//! Reclaiming the idle memory of 16 parked threads, with the figures, is
//! `cargo run --release --example trim`.
//!
//! # Backing memory
//!
//! With [`Backing::Heap`](crate::Backing::Heap) every block is one
//! allocation of the global allocator, and freeing it hands it back to the
//! allocator. With [`Backing::Regions`](crate::Backing::Regions), the
//! default on Linux and Android, the tiers' blocks are carved out of large
//! regions instead: memory that can be registered with
//! io_uring as fixed buffers ([below](#registered-memory-for-io_uring)),
//! and that can be made of huge pages and locked. Oversize (unpooled) blocks
//! always come from the heap.
//!
//! Regions are also the leaner choice for a service whose messages reach
//! the large tiers: a block the pool frees keeps its pages for a while,
//! and the next miss of its tier reuses them without faulting pages in,
//! where a heap block freed and allocated again leaves the allocator's
//! heap a little larger each time.
//! The broker benchmark (frames of 100 B to 2 MiB read into chains)
//! measures both backings against a fresh `BytesMut` per frame; its
//! figures are in [`BENCHMARKS.md`]: with regions its peak RSS is about a
//! quarter lower at the same CPU per frame, which is why regions are the
//! default where the crate maps them itself (Linux and Android);
//! [`Backing::default`](crate::Backing::default) lists what they cost. Choose
//! [`Backing::Heap`](crate::Backing::Heap) in a process with many small
//! pools, or one that must not map memory up front.
//!
//! * **Regions.** Each holds the blocks of one tier: `size / block size`
//!   of them, a block's size being its tier's capacity rounded up to the
//!   alignment. A region is mapped (`mmap`, anonymous and private) when a
//!   tier misses and its regions are full, so the first block of a tier
//!   maps a whole region (the default size is that of
//!   [`RegionConfig::new`](crate::RegionConfig::new); the largest,
//!   [`MAX_REGION_SIZE`](crate::MAX_REGION_SIZE), is the most io_uring
//!   registers as one buffer). Pages are touched only as blocks
//!   are used, unless the region is locked.
//! * **Returning memory.** Freeing a block (a trim, idle decay, a full
//!   depot, the pool's close) gives its slot back *dirty*: it keeps its
//!   pages, and the next block of its tier takes the most recently freed
//!   dirty slot before any clean one, so a reused slot costs no page fault
//!   and no new page. A dirty slot is *purged* (its whole pages go back to
//!   the system with `madvise(MADV_DONTNEED)`; pages shared with a
//!   neighbouring slot stay) once it has been dirty for the pool's
//!   [`idle_decay_period`](crate::PoolBuilder::idle_decay_period) (1 s by
//!   default), or, oldest first, when the dirty bytes of all tiers exceed
//!   [`RegionConfig::max_dirty_bytes`](crate::RegionConfig::max_dirty_bytes)
//!   (8 MiB by default, at most the region size; `0` purges every slot as
//!   it is freed).
//!   These checks run when a slot is taken or given back; there is no
//!   background thread, so a pool with no traffic keeps its dirty slots
//!   until a trim: [`Pool::trim`](crate::Pool::trim) and
//!   [`Pool::trim_idle`](crate::Pool::trim_idle) purge every dirty slot
//!   (after freeing the idle blocks), so they still lower the RSS. A
//!   region with no block stays mapped while it has dirty slots, and is
//!   unmapped when the last one is purged (except in a pool registered
//!   with io_uring: see [below](#registered-memory-for-io_uring)).
//!   [`BackingReport::dirty_bytes`](crate::BackingReport::dirty_bytes) is
//!   the memory kept this way (`RegionInfo::slots_dirty` per region) and
//!   [`BackingReport::purges`](crate::BackingReport::purges) counts the
//!   purges. Slots are taken and given back under one mutex, on these
//!   cold paths only; the get and drop paths are the same as with heap
//!   backing.
//! * **Huge pages** ([`HugePages`](crate::HugePages)). `Transparent`
//!   aligns regions to 2 MiB and advises `MADV_HUGEPAGE`; the kernel uses
//!   huge pages when `/sys/kernel/mm/transparent_hugepage/enabled` says
//!   `always` or `madvise`. `Explicit` maps with `MAP_HUGETLB` from the
//!   pages reserved in `/proc/sys/vm/nr_hugepages`; with none reserved the
//!   mapping fails with `ENOMEM` and the region falls back to normal
//!   pages. Purged slots release whole huge pages only (no split).
//! * **Locking** ([`RegionConfig::lock`](crate::RegionConfig::lock)).
//!   `mlock` faults the whole region in and keeps it resident. A locked
//!   region keeps its pages until it is unmapped (its free slots are never
//!   dirty, since there is nothing to purge): `MADV_DONTNEED` is
//!   refused (`EINVAL`) on locked pages, and a locked region is asked for
//!   so that its memory stays put (io_uring pins registered buffers
//!   anyway). The limit is `RLIMIT_MEMLOCK` (`ulimit -l`), often only
//!   8 MiB for an unprivileged process (64 KiB on older systems), far
//!   below one default region; root and processes with `CAP_IPC_LOCK` are
//!   not limited. Raise the limit (`LimitMEMLOCK=` of a systemd unit,
//!   `/etc/security/limits.conf`) or use smaller regions.
//!
//! **Fallbacks.** When the system refuses an option, the pool falls back
//! and goes on: explicit huge pages become normal pages, a refused
//! `MADV_HUGEPAGE` leaves the region as mapped, a refused `mlock` leaves
//! it unlocked, and a failed `mmap` makes that block a heap allocation.
//! Each refusal is kept as a [`BackingError`](crate::BackingError) (the
//! system call, its `errno`, the bytes and, for `mlock`, the
//! `RLIMIT_MEMLOCK` in force) in
//! [`Pool::backing_report`](crate::Pool::backing_report), with the regions,
//! the bytes mapped, locked and of huge pages, and the heap fallbacks.
//! Check it once after start-up. With
//! [`RegionConfig::strict`](crate::RegionConfig::strict) a refusal fails
//! the allocation instead: `try_get` returns
//! [`PoolError::Backing`](crate::PoolError::Backing) and `get` panics.
//!
//! Regions are mapped on Linux and Android. Elsewhere, and under Miri and
//! loom, they are heap allocations: blocks are carved the same way, but
//! huge pages and locking are refused (reported with no `errno`) and a
//! region's memory goes back only when the whole region does (dirty slots
//! are counted and purged the same way, but a purge releases nothing).
//!
//! ```
//! use tierpool::{Backing, HugePages, Pool, RegionConfig};
//!
//! let pool = Pool::builder()
//!     .backing(Backing::Regions(
//!         RegionConfig::new()
//!             .size(8 << 20)
//!             .huge_pages(HugePages::Transparent)
//!             .lock(true),
//!     ))
//!     .build()?;
//! let buf = pool.get(4096);
//! let report = pool.backing_report();
//! assert!(report.regions.iter().any(|region| region.contains(buf.as_ptr())));
//! for refusal in &report.errors {
//!     eprintln!("backing memory: {refusal}"); // e.g. the memlock limit
//! }
//! # Ok::<(), tierpool::ConfigError>(())
//! ```
//!
//! # Registered memory for io_uring
//!
//! With the `io-uring` feature (Linux only; it adds the `io-uring` crate,
//! the binding tokio-uring and monoio use), `Pool::register_regions` takes
//! a ring's `io_uring::Submitter` and registers the pool's regions as the
//! ring's fixed buffers: region index `i` (`RegionInfo::index`) is buffer
//! index `i`, and an index with no region now is a sparse entry (a hole)
//! in the table. Every `PooledBuf` and `SharedBuf` (so every slice, split
//! and chain segment) then answers `fixed()` with
//! `Fixed::Registered { buf_index, addr, len }`: its own bytes in that
//! buffer, which `ReadFixed` and `WriteFixed` take whole or in part. A
//! buffer of memory no ring knows says why
//! (`Fixed::Unregistered(Unregistered::..)`): an oversize buffer, a
//! heap-backed pool, a block that fell back to the heap, a region mapped
//! after the registration, a pool never registered, an empty view. Send
//! those with the plain `Read` and `Write`; nothing falls back to the slow
//! path unnoticed.
//!
//! * **Map first, or leave room.** Registration covers the regions mapped
//!   at the time. Map the regions the service will use up front with
//!   [`Pool::map_regions`](crate::Pool::map_regions) (per tier), then
//!   register. Or register with `Pool::register_regions_with_room(submitter,
//!   table_len)`, whose table has holes for the indices of regions mapped
//!   later, and call `Registration::update(submitter)` when the pool may
//!   have grown: it registers each new region into its hole (the ring's
//!   buffers in use are untouched). Until then, and for a region whose
//!   index is beyond the table, buffers report `LateRegion`.
//! * **Regions stay mapped.** From the first registration on (a failed
//!   one is undone), no region of the pool is unmapped, and the free slots
//!   of a registered region keep their pages (they are never dirty, and
//!   no slot is purged while a registration is under way). The kernel pins registered
//!   pages: were a region unmapped, the ring would keep the old pages
//!   while its index named a new region, and a slot released with
//!   `MADV_DONTNEED` would be mapped afresh on its next use while the
//!   ring went on reading and writing the old, pinned pages (a test shows
//!   the lost data). Trims still free idle blocks, but the memory of
//!   registered regions stays with the process until the pool is gone.
//!   The `Registration` holds the pool's state, so the regions outlive
//!   every pool handle: keep it until the ring's buffers are unregistered
//!   or the ring is dropped.
//! * **Memory limits.** Registering pins, and so faults in, every page of
//!   the regions. Without `CAP_IPC_LOCK` the pinned bytes count against
//!   `RLIMIT_MEMLOCK` (8 MiB for an unprivileged process on many systems);
//!   beyond it the kernel refuses with `ENOMEM`, reported as
//!   `RegisterError::Memlock` with the limit. A region is at most 1 GiB,
//!   the kernel's limit for one fixed buffer; a ring takes at most 16384
//!   (`MAX_FIXED_BUFFERS`).
//! * **Cost of `fixed()`.** The block header has no room for a region
//!   index (it is exactly 64 bytes), so `fixed()` finds a region block's
//!   region by address: a binary search of the sorted table of regions
//!   under the regions' mutex (measured in [`BENCHMARKS.md`]), contended only by
//!   other `fixed()` calls and by the cold paths that map regions and
//!   give slots back. Heap and oversize blocks answer from the header's
//!   flags alone. Ask once per buffer and reuse the answer for its I/O.
//! * **Several rings.** Each ring registers the pool once (a second
//!   `register_regions` on the same ring is `AlreadyRegistered`). A
//!   buffer reports `Registered` if any registration covered its region;
//!   `Registration::contains` answers for one ring.
//!
//! ```
//! # #[cfg(all(feature = "io-uring", target_os = "linux"))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tierpool::{Backing, Pool, RegionConfig};
//! use tierpool::uring::Fixed;
//!
//! let pool = Pool::builder()
//!     .tiers([4096, 65536])
//!     .alignment(4096) // for O_DIRECT
//!     .backing(Backing::Regions(RegionConfig::new().size(4 << 20)))
//!     .build()?;
//! pool.map_regions(4096, 1)?; // map what the service will use
//! let Ok(ring) = io_uring::IoUring::new(64) else { return Ok(()) };
//! let mut registration = pool.register_regions_with_room(&ring.submitter(), 16)?;
//!
//! let buf = pool.get(4096);
//! match buf.fixed() {
//!     Fixed::Registered { buf_index, addr, len } => {
//!         // opcode::ReadFixed::new(fd, addr as *mut u8, len as u32, buf_index)
//!         assert_eq!((addr, len), (buf.as_ptr(), 4096));
//!         assert!(registration.contains(buf_index));
//!     }
//!     Fixed::Unregistered(why) => println!("plain Read: {why}"),
//! }
//! let big = pool.get(65536); // a region mapped after registering
//! registration.update(&ring.submitter())?; // joins the ring's table
//! assert!(big.fixed().is_registered());
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "io-uring", target_os = "linux")))]
//! # fn main() {}
//! ```
//!
//! `cargo run --release --features io-uring --example io_uring_fixed`
//! compares `O_DIRECT` reads and writes through registered pooled buffers
//! with the same buffers unregistered; [`BENCHMARKS.md`] has its figures.
//!
//! ## Provided buffer rings
//!
//! A receive into a buffer of its own holds that buffer from the moment it
//! is armed, whether data comes or not: ten thousand idle connections,
//! ten thousand idle buffers. A provided buffer ring
//! (`IORING_REGISTER_PBUF_RING`, Linux 5.19 and later) lets the kernel
//! pick a buffer only when data arrives. `Pool::provide_buffers(&submitter,
//! group, entries, capacity)` registers a ring of `entries` pooled buffers
//! (of the tier `capacity` routes to) as buffer group `group`; receives
//! name the group (`opcode::RecvMulti::new(fd, group)`, or `Recv` with
//! `buf_group` and `BUFFER_SELECT`), and `ProvidedBuffers::take(&cqe)`
//! turns each completion into the `PooledBuf` the kernel filled, its
//! length exactly the bytes received, while a fresh pooled buffer takes
//! its place in the ring. The buffer is an ordinary `PooledBuf`: freeze
//! it, split it, send it to another thread; it returns to the pool when
//! dropped.
//!
//! * **Sizing.** `entries` (a power of two up to 32768) bounds the
//!   buffers the kernel holds at once, so the ring's memory is
//!   `entries × tier capacity` whatever the number of connections, plus
//!   the buffers taken and not yet dropped. The kernel may fill a whole
//!   buffer, the tier's capacity (`ProvidedBuffers::buffer_capacity`).
//! * **Running dry.** When every buffer is filled and none taken, the
//!   next receive completes with `-ENOBUFS` and without
//!   `IORING_CQE_F_MORE`: the multishot receive has ended, and the data
//!   waits in the socket. Take the completions, then arm it again. Take
//!   completions promptly: a buffer waiting in the completion queue is
//!   not in the ring.
//! * **Budgets.** Buffers come from `Pool::try_get`: over
//!   `max_in_use_bytes` the pool refuses, and the ring is provided fewer
//!   (`ProvidedBuffers::provided`); a buffer taken is then not replaced.
//!   `ProvidedBuffers::replenish` fills the empty slots once buffers have
//!   come back.
//! * **Completions are trusted.** A completion names its buffer by id
//!   alone, so `take` is `unsafe`: the completion must be the kernel's,
//!   for an operation on this group, taken once. Ids beyond the ring, ids
//!   with no buffer lent and results longer than the buffer are checked
//!   and refused (`TakeError`), whatever their origin.
//! * **Teardown.** `ProvidedBuffers::unregister` unregisters the group,
//!   then frees the ring and returns the buffers. It is `unsafe` because
//!   unregistering does not stop an operation that holds a buffer
//!   already: end or cancel the group's receives and reap their last
//!   completions first. Dropping a `ProvidedBuffers` still registered
//!   leaks its buffers and ring memory, since the kernel may still write
//!   to them: they stay counted in `TierStats::in_use`.
//!
//! ## tokio-uring
//!
//! With the `tokio-uring` feature (Linux only; it adds the `tokio-uring`
//! crate), tokio-uring's operations take the pool's buffers as they are,
//! with no newtype: a `PooledBuf` is its `IoBuf` and `IoBufMut`, a
//! `SharedBuf` its `IoBuf`. A write sends a buffer's or view's `len()`
//! bytes; a read fills a `PooledBuf` from its start, up to its capacity,
//! and the completion sets its length to the bytes read, as for a `Vec`
//! (never shorter than it was). The kernel's pointer is into the pooled
//! block, which stays the buffer's while the runtime holds it: a buffer
//! whose operation is cancelled returns to the pool only when the kernel
//! is done.
//!
//! ```
//! # #[cfg(all(feature = "tokio-uring", target_os = "linux"))]
//! # fn main() -> std::io::Result<()> {
//! use tokio_uring::fs::File;
//!
//! let pool = tierpool::Pool::new();
//! let path = std::env::temp_dir().join(format!("tierpool-doc-uring-{}", std::process::id()));
//! // `tokio_uring::start(..)` is this, but panics where the kernel refuses
//! // a ring (seccomp, `kernel.io_uring_disabled`); here that returns.
//! let Ok(runtime) = tokio_uring::Runtime::new(&tokio_uring::builder()) else {
//!     return Ok(());
//! };
//! runtime.block_on(async {
//!     let mut buf = pool.get(1500);
//!     buf.extend_from_slice(b"hello, tokio-uring");
//!     let view = buf.freeze();
//!
//!     let file = File::create(&path).await?;
//!     let (res, view) = file.write_at(view, 0).submit().await; // no copy
//!     assert_eq!(res?, view.len());
//!     file.close().await?;
//!
//!     let file = File::open(&path).await?;
//!     let (res, buf) = file.read_at(pool.get(4096), 0).await;
//!     assert_eq!(buf.len(), res?); // the bytes read
//!     assert_eq!(buf, view);
//!     file.close().await?;
//!     std::fs::remove_file(&path)
//! })?;
//! assert_eq!(pool.stats().tiers[0].in_use, 0); // both back in the pool
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "tokio-uring", target_os = "linux")))]
//! # fn main() {}
//! ```
//!
//! * **Appending.** A read into a buffer that holds bytes overwrites them
//!   from the start. To keep them, read into the spare capacity: with
//!   `len = buf.len()`, `file.read_at(buf.slice(len..), pos)`, then
//!   `into_inner()` on the `Slice` it returns.
//! * **Two `slice`s.** While tokio-uring's `BoundedBuf` is in scope,
//!   `view.slice(range)` on an owned view is its `BoundedBuf::slice`, a
//!   `Slice<SharedBuf>` (also writable; `into_inner()` gives the view
//!   back). For tierpool's, a `SharedBuf`, write
//!   `SharedBuf::slice(&view, range)`.
//! * **Chains.** `SharedChain` is no `IoBuf`, which is one contiguous
//!   range; send a chain's segments, each a `SharedBuf`, with the vectored
//!   `writev_at(chain.into_segments().collect::<Vec<_>>(), pos)`.
//! * **Earlier holders' bytes.** A pooled buffer starts empty, and a read
//!   counts as written only the bytes the kernel reports (tokio-uring
//!   calls the unsafe `IoBufMut::set_init` with them): bytes a previous
//!   holder left in the block are never sent and never readable.
//! * **Fixed buffers.** tokio-uring registers fixed buffers itself
//!   (`tokio_uring::buf::fixed`) and builds on io-uring 0.6, a different
//!   crate from the `io-uring` feature's 0.7: `Pool::register_regions`
//!   does not take its ring.
//!
//! [`BENCHMARKS.md`]: https://github.com/tierpool/tierpool/blob/main/BENCHMARKS.md
