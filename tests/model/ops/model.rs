//! The model: what it knows of every storage and holder, the pool
//! configuration as limits, [`run`], and the ops every family shares (gets,
//! writes, growth); each family of ops is in a module of its own.

use super::*;

/// A storage the model knows about.
#[derive(Debug, Clone, Copy)]
pub(super) struct StorageModel {
    /// Tier index, or `None` for an oversize allocation.
    pub(super) tier: Option<usize>,
    pub(super) cap: usize,
    /// Address of the first byte, learned when the storage was handed out.
    pub(super) base: usize,
}

/// A holder as the model sees it.
#[derive(Debug, Clone)]
pub(super) struct Holder {
    pub(super) kind: Kind,
    /// `None` for an empty `Bytes`, for a view left empty by an operation
    /// or returned empty by one (which hold no storage; a view frozen from
    /// an empty buffer does), and for chains (see `segments`).
    pub(super) storage: Option<u64>,
    /// Offset of the first byte from the storage's base.
    pub(super) offset: usize,
    pub(super) data: Vec<u8>,
    /// Capacity from `offset` to the end of the storage (buffers only).
    pub(super) cap: usize,
    /// `Bytes` clones share one reference to the storage: one group each.
    pub(super) group: u64,
    pub(super) at_helper: bool,
    /// Chains only (whose `storage` is `None`): one reference per segment,
    /// in order. A `PooledChain`'s last segment is the block being written
    /// (possibly still empty), and its `cap` is that block's capacity.
    pub(super) segments: Vec<Segment>,
}

/// A segment of a chain: `len` bytes from `offset` in `storage`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub(super) storage: u64,
    pub(super) offset: usize,
    pub(super) len: usize,
}

pub(super) struct Limits {
    pub(super) tiers: Vec<usize>,
    pub(super) thread_cache: Vec<usize>,
    pub(super) depot: Vec<usize>,
    pub(super) alignment: usize,
    pub(super) zero_on_return: bool,
    /// Blocks from regions of this size.
    pub(super) regions: Option<usize>,
    pub(super) track_outstanding: bool,
    pub(super) record_sizes: bool,
    pub(super) max_in_use_bytes: Option<usize>,
    pub(super) max_cached_bytes: Option<usize>,
    /// The tier chains are made of (the pool's default).
    pub(super) segment: usize,
}

impl Limits {
    pub(super) fn of(config: &Config) -> Self {
        let tiers = TIER_SETS[usize::from(config.tier_set) % TIER_SETS.len()].to_vec();
        let pick = |i: u8| LIMITS[usize::from(i) % LIMITS.len()];
        let g = config.governance;
        let largest = *tiers.last().expect("at least one tier");
        let alignment = ALIGNMENTS[usize::from(config.alignment) % ALIGNMENTS.len()];
        Limits {
            regions: (config.alignment & 0x80 != 0)
                .then(|| 4 * largest.next_multiple_of(alignment)),
            thread_cache: (0..tiers.len()).map(|t| pick(config.limits[t].0)).collect(),
            depot: (0..tiers.len()).map(|t| pick(config.limits[t].1)).collect(),
            alignment,
            zero_on_return: g & 1 != 0,
            track_outstanding: g & 2 != 0,
            record_sizes: g & 4 != 0,
            max_in_use_bytes: (g & 8 != 0).then(|| largest << ((g >> 4) & 3)),
            max_cached_bytes: (g & 64 != 0).then(|| largest * (1 + 2 * usize::from(g >> 7))),
            // The default segment tier: the largest of at most 64 KiB.
            segment: tiers.iter().rposition(|&t| t <= 64 << 10).unwrap_or(0),
            tiers,
        }
    }

    pub(super) fn build(&self) -> Pool {
        let mut builder = Pool::builder()
            .alignment(self.alignment)
            .zero_on_return(self.zero_on_return)
            .leak_detection(if self.track_outstanding {
                tierpool::LeakDetection::Full { backtraces: false }
            } else {
                tierpool::LeakDetection::Off
            })
            .record_sizes(self.record_sizes);
        if let Some(bytes) = self.max_in_use_bytes {
            builder = builder.max_in_use_bytes(bytes);
        }
        if let Some(bytes) = self.max_cached_bytes {
            builder = builder.max_cached_bytes(bytes);
        }
        if let Some(size) = self.regions {
            builder = builder.backing(Backing::Regions(RegionConfig::new().size(size)));
        }
        for t in 0..self.tiers.len() {
            builder = builder.tier(
                TierConfig::new(self.tiers[t])
                    .thread_cache_buffers(self.thread_cache[t])
                    .depot_buffers(self.depot[t]),
            );
        }
        builder
            .build()
            .expect("the model's configurations are valid")
    }

    pub(super) fn largest(&self) -> usize {
        *self.tiers.last().expect("at least one tier")
    }

    pub(super) fn route(&self, n: usize) -> Option<usize> {
        self.tiers.iter().position(|&t| n <= t)
    }

    pub(super) fn size(&self, s: Size) -> usize {
        let class = usize::from(s.class) % (self.tiers.len() + 1);
        let delta = isize::from(s.delta);
        if class == self.tiers.len() {
            self.largest() + 1 + delta.unsigned_abs()
        } else {
            self.tiers[class].saturating_add_signed(delta)
        }
    }

    /// The tier of the block a chain takes when `remaining` more bytes are
    /// expected (`PooledChain::reserve_block`, which `put_slice` follows):
    /// the largest tier, from the segment tier up, that they fill
    /// completely; below one segment, the smallest tier that holds them.
    /// (`chunk_mut` with no room left takes a whole segment.)
    pub(super) fn chain_block(&self, remaining: usize) -> usize {
        if remaining < self.tiers[self.segment] {
            return self
                .route(remaining.max(1))
                .expect("below the segment tier");
        }
        (self.segment..self.tiers.len())
            .take_while(|&t| self.tiers[t] <= remaining)
            .last()
            .expect("the segment tier")
    }

    /// Tier and capacity of a fresh get of `n` bytes.
    pub(super) fn get_shape(&self, n: usize) -> (Option<usize>, usize) {
        match self.route(n) {
            Some(t) => (Some(t), self.tiers[t]),
            None => (None, n),
        }
    }
}

pub(super) struct Model {
    pub(super) limits: Limits,
    pub(super) pool: Option<Pool>,
    pub(super) helper: Helper,
    pub(super) real: BTreeMap<u64, Real>,
    pub(super) holders: BTreeMap<u64, Holder>,
    pub(super) storages: BTreeMap<u64, StorageModel>,
    pub(super) next_id: u64,
    pub(super) next_byte: u8,
    /// Whether the last op was a trim (tightens the `cached` bound).
    pub(super) trimmed: bool,
    /// Requests `size_histogram` must have seen: failed `try_get`s may or
    /// may not be recorded, so a range.
    pub(super) requests: (u64, u64),
    /// `try_get`s refused by `max_in_use_bytes`.
    pub(super) exhausted: u64,
    /// Whether this check reads `size_histogram()` back: after every op,
    /// but under Miri only every [`HISTOGRAM_EVERY`] ops, after the last
    /// and before the pool closes (see there).
    pub(super) histogram_due: bool,
}

/// Under Miri, a `size_histogram()` snapshot sums some thousand buckets
/// and took half the time of the model's tests when read after every op;
/// its counts only grow, so reading it every 8 ops (and at the end) still
/// catches a request counted wrong, a few ops later.
const HISTOGRAM_EVERY: usize = 8;

/// Runs a scenario, panicking with a description at the first mismatch.
pub fn run(scenario: &Scenario) {
    let limits = Limits::of(&scenario.config);
    let pool = limits.build();
    let helper = Helper::start(pool.clone());
    let mut model = Model {
        limits,
        pool: Some(pool),
        helper,
        real: BTreeMap::new(),
        holders: BTreeMap::new(),
        storages: BTreeMap::new(),
        next_id: 0,
        next_byte: 0,
        trimmed: false,
        requests: (0, 0),
        exhausted: 0,
        histogram_due: true,
    };
    let trace = !cfg!(miri) && std::env::var_os("TIERPOOL_MODEL_TRACE").is_some();
    model.check("start");
    for (i, op) in scenario.ops.iter().enumerate() {
        model.trimmed = false;
        model.histogram_due = !cfg!(miri)
            || i % HISTOGRAM_EVERY == HISTOGRAM_EVERY - 1
            || i + 1 == scenario.ops.len()
            || matches!(scenario.ops.get(i + 1), Some(Op::ClosePool { .. }));
        model.apply(*op);
        if trace {
            model.trace(i, op);
        }
        model.check(&format!("after op {i}: {op:?}"));
    }
    model.finish();
}

impl Model {
    /// Prints the holders after op `i` (set `TIERPOOL_MODEL_TRACE=1`).
    pub(super) fn trace(&self, i: usize, op: &Op) {
        eprintln!("op {i}: {op:?}");
        for (id, h) in &self.holders {
            let storage = h.storage.map(|sid| self.storages[&sid]);
            eprintln!(
                "    #{id} {:?}{} len {} cap {} offset {} storage {:?} {:?}",
                h.kind,
                if h.at_helper { " (helper)" } else { "" },
                h.data.len(),
                h.cap,
                h.offset,
                h.storage,
                storage.map(|s| (s.tier, s.cap)),
            );
            for seg in &h.segments {
                let s = self.storages[&seg.storage];
                eprintln!(
                    "        segment of storage {} ({:?}, cap {}): offset {} len {}",
                    seg.storage, s.tier, s.cap, seg.offset, seg.len
                );
            }
        }
        if let Some(stats) = self.stats() {
            let gauges: Vec<(u64, u64)> =
                stats.tiers.iter().map(|t| (t.in_use, t.cached)).collect();
            eprintln!("    (in_use, cached) per tier: {gauges:?}");
        }
    }

    /// Records `sure` requests that `size_histogram` must count and `maybe`
    /// that it may count.
    pub(super) fn count_requests(&mut self, sure: u64, maybe: u64) {
        self.requests.0 += sure;
        self.requests.1 += sure + maybe;
    }

    /// Capacity of every live storage, tiers and oversize: what
    /// `max_in_use_bytes` counts.
    pub(super) fn in_use_bytes(&self) -> usize {
        self.live_sids()
            .iter()
            .map(|sid| self.storages[sid].cap)
            .sum()
    }

    /// Every storage a holder keeps alive, chain segments included.
    pub(super) fn live_sids(&self) -> BTreeSet<u64> {
        let mut sids: BTreeSet<u64> = self.holders.values().filter_map(|h| h.storage).collect();
        for h in self.holders.values() {
            sids.extend(h.segments.iter().map(|s| s.storage));
        }
        sids
    }

    pub(super) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn pattern(&mut self, len: usize) -> Vec<u8> {
        let salt = self.next_byte;
        self.next_byte = self.next_byte.wrapping_add(37);
        (0..len)
            .map(|i| salt.wrapping_add((i as u8).wrapping_mul(13)) ^ (i >> 8) as u8)
            .collect()
    }

    /// Ids of holders at `at_helper` whose kind is in `kinds`.
    pub(super) fn eligible(&self, kinds: &[Kind], at_helper: bool) -> Vec<u64> {
        self.holders
            .iter()
            .filter(|(_, h)| h.at_helper == at_helper && kinds.contains(&h.kind))
            .map(|(&id, _)| id)
            .collect()
    }

    pub(super) fn pick(&self, h: u8, kinds: &[Kind], at_helper: bool) -> Option<u64> {
        let ids = self.eligible(kinds, at_helper);
        if ids.is_empty() {
            None
        } else {
            Some(ids[usize::from(h) % ids.len()])
        }
    }

    pub(super) fn room(&self) -> bool {
        self.holders.len() < MAX_HOLDERS
    }

    pub(super) fn stats(&self) -> Option<PoolStats> {
        self.pool.as_ref().map(Pool::stats)
    }

    /// Gets counted so far in `tier` (`None`: allocations beyond the tiers).
    pub(super) fn handed_out(stats: &PoolStats, tier: Option<usize>) -> u64 {
        match tier {
            Some(t) => stats.tiers[t].hits + stats.tiers[t].misses,
            None => stats.oversize.allocations,
        }
    }

    /// Checks that between `before` and now exactly the gets in `expected`
    /// were counted (one entry per get: its tier, `None` beyond the tiers).
    pub(super) fn check_counted(
        &self,
        before: Option<PoolStats>,
        expected: &[Option<usize>],
        what: &str,
    ) {
        let (Some(before), Some(after)) = (before, self.stats()) else {
            return;
        };
        for tier in (0..self.limits.tiers.len()).map(Some).chain([None]) {
            let want = expected.iter().filter(|&&g| g == tier).count() as u64;
            let got = Self::handed_out(&after, tier) - Self::handed_out(&before, tier);
            assert_eq!(got, want, "{what}: gets counted in tier {tier:?}");
        }
    }

    /// Records a fresh buffer: checks its shape and learns its base address.
    pub(super) fn adopt_buf(
        &mut self,
        buf: PooledBuf,
        tier: Option<usize>,
        cap: usize,
        what: &str,
    ) {
        assert!(
            buf.is_empty(),
            "{what}: a fresh buffer has length {}",
            buf.len()
        );
        assert_eq!(buf.capacity(), cap, "{what}: capacity");
        assert_eq!(
            buf.tier(),
            tier.map(|t| self.limits.tiers[t]),
            "{what}: tier()"
        );
        let base = buf.as_ptr() as usize;
        assert_eq!(base % self.limits.alignment, 0, "{what}: alignment");
        let sid = self.fresh_id();
        self.storages.insert(sid, StorageModel { tier, cap, base });
        let id = self.fresh_id();
        self.holders.insert(
            id,
            Holder {
                kind: Kind::Buf,
                storage: Some(sid),
                offset: 0,
                data: Vec::new(),
                cap,
                group: 0,
                at_helper: false,
                segments: Vec::new(),
            },
        );
        self.real.insert(id, Real::Buf(buf));
    }

    pub(super) fn take_real(&mut self, id: u64) -> Real {
        self.real.remove(&id).expect("main thread holds it")
    }

    pub(super) fn buf_mut(&mut self, id: u64) -> &mut PooledBuf {
        match self.real.get_mut(&id) {
            Some(Real::Buf(b)) => b,
            _ => panic!("holder {id} is not a PooledBuf on the main thread"),
        }
    }

    pub(super) fn view_mut(&mut self, id: u64) -> &mut SharedBuf {
        match self.real.get_mut(&id) {
            Some(Real::View(v)) => v,
            _ => panic!("holder {id} is not a SharedBuf on the main thread"),
        }
    }

    pub(super) fn bytes_ref(&self, id: u64) -> &Bytes {
        match self.real.get(&id) {
            Some(Real::Bytes(b)) => b,
            _ => panic!("holder {id} is not a Bytes on the main thread"),
        }
    }

    /// Adds a holder on the main thread that shares `template`'s storage
    /// (and `Bytes` group); returns its id.
    pub(super) fn add_derived(
        &mut self,
        template: &Holder,
        kind: Kind,
        offset: usize,
        data: Vec<u8>,
        real: Real,
    ) -> u64 {
        let mut holder = template.clone();
        holder.kind = kind;
        holder.offset = offset;
        holder.data = data;
        holder.cap = 0;
        holder.at_helper = false;
        let id = self.fresh_id();
        self.holders.insert(id, holder);
        self.real.insert(id, real);
        id
    }

    /// Adds a `Bytes` made from a view modelled by `template`.
    pub(super) fn add_bytes(
        &mut self,
        template: &Holder,
        offset: usize,
        data: Vec<u8>,
        bytes: Bytes,
    ) {
        let empty = data.is_empty();
        let group = self.fresh_id();
        let id = self.add_derived(template, Kind::Bytes, offset, data, Real::Bytes(bytes));
        let holder = self.holders.get_mut(&id).expect("just added");
        holder.group = group;
        if empty {
            // An empty view becomes `Bytes::new()` and lets go of its storage.
            holder.storage = None;
        }
    }

    /// References to storage `sid`: buffers, views, and `Bytes` groups.
    pub(super) fn refs(&self, sid: u64) -> usize {
        let mut groups = BTreeSet::new();
        let mut refs = 0;
        for h in self.holders.values().filter(|h| h.storage == Some(sid)) {
            match h.kind {
                Kind::Bytes => {
                    groups.insert(h.group);
                }
                _ => refs += 1,
            }
        }
        // A chain holds one reference per segment, and no two of its
        // segments share a storage.
        refs += self
            .holders
            .values()
            .filter(|h| h.segments.iter().any(|s| s.storage == sid))
            .count();
        refs + groups.len()
    }

    /// Models the growth a write of `additional` bytes causes, if any, and
    /// returns the tier that hands out the new storage.
    pub(super) fn grow_model(&mut self, id: u64, additional: usize) -> Option<Option<usize>> {
        let h = &self.holders[&id];
        let (needed, old_cap) = (h.data.len() + additional, h.cap);
        if needed <= old_cap {
            return None;
        }
        if self.reclaim_model(id, additional) {
            return None;
        }
        let (tier, cap) = match self.limits.route(needed) {
            Some(t) => (Some(t), self.limits.tiers[t]),
            None => (None, (old_cap * 2).max(needed)),
        };
        let sid = self.fresh_id();
        // The base is learned after the real operation (`relearn_base`).
        self.storages
            .insert(sid, StorageModel { tier, cap, base: 0 });
        let h = self.holders.get_mut(&id).expect("holder exists");
        h.storage = Some(sid);
        h.offset = 0;
        h.cap = cap;
        Some(tier)
    }

    /// Models `try_reclaim(additional)` on buffer `id` (its spare capacity
    /// short of `additional`): when nothing else holds the storage and the
    /// bytes fit in it, the buffer takes the whole storage back, moving its
    /// bytes to the front only if they do not fit where they are.
    pub(super) fn reclaim_model(&mut self, id: u64, additional: usize) -> bool {
        let h = &self.holders[&id];
        let needed = h.data.len() + additional;
        let sid = h.storage.expect("buffers hold storage");
        let storage_cap = self.storages[&sid].cap;
        if needed > storage_cap || self.refs(sid) != 1 {
            return false;
        }
        let h = self.holders.get_mut(&id).expect("holder exists");
        if h.offset + needed > storage_cap {
            h.offset = 0;
        }
        h.cap = storage_cap - h.offset;
        true
    }

    /// After a growth, records where the new storage is.
    pub(super) fn relearn_base(&mut self, id: u64) {
        let addr = self.buf_mut(id).as_ptr() as usize;
        let sid = self.holders[&id].storage.expect("buffers hold storage");
        let storage = self.storages.get_mut(&sid).expect("storage exists");
        assert_eq!(addr % self.limits.alignment, 0, "grown buffer alignment");
        storage.base = addr;
    }

    /// Writes `bytes` into buffer `id` the way `extend_from_slice` does,
    /// checking that growth is counted in the right tier.
    pub(super) fn write(&mut self, id: u64, bytes: &[u8], how: Write) {
        let before = self.stats();
        let mut grown = Vec::new();
        match how {
            Write::Slice | Write::Within(..) | Write::Fmt | Write::View(_) => {
                grown.extend(self.grow_model(id, bytes.len()));
                match how {
                    Write::Slice => self.buf_mut(id).extend_from_slice(bytes),
                    Write::Within(start, end) => self.buf_mut(id).extend_from_within(start..end),
                    Write::Fmt => {
                        let text = std::str::from_utf8(bytes).expect("ASCII");
                        std::fmt::Write::write_str(self.buf_mut(id), text)
                            .expect("fmt::Write grows like any write");
                    }
                    Write::View(v) => {
                        let copy = self.view_mut(v).clone();
                        self.buf_mut(id).extend([copy]);
                    }
                    Write::ByteAtATime => unreachable!(),
                }
                let data = &mut self.holders.get_mut(&id).expect("holder").data;
                data.extend_from_slice(bytes);
            }
            Write::ByteAtATime => {
                for &byte in bytes {
                    grown.extend(self.grow_model(id, 1));
                    self.holders.get_mut(&id).expect("holder").data.push(byte);
                }
                // `filter` hides the length, so `Extend` reserves a byte at
                // a time.
                self.buf_mut(id)
                    .extend(bytes.iter().copied().filter(|_| true));
            }
        }
        if !grown.is_empty() {
            self.relearn_base(id);
        }
        self.count_requests(grown.len() as u64, 0);
        self.check_counted(before, &grown, "growth");
    }

    pub(super) fn get(&mut self, size: Size, on_helper: bool, fallible: bool) {
        if self.pool.is_none() || !self.room() {
            return;
        }
        let n = self.limits.size(size);
        let (tier, cap) = self.limits.get_shape(n);
        let before = self.stats();
        let over_cap = self
            .limits
            .max_in_use_bytes
            .is_some_and(|limit| self.in_use_bytes() + cap > limit);
        let buf = if on_helper {
            match self.helper.call(Cmd::Get(n)) {
                Reply::Got(buf) => buf,
                _ => panic!("helper answered a get with something else"),
            }
        } else if fallible {
            let pool = self.pool.as_ref().expect("open");
            match (pool.try_get(n), tier) {
                (Ok(buf), Some(_)) if !over_cap => buf,
                (Err(err), None) => {
                    assert_eq!(
                        err,
                        PoolError::Oversize {
                            requested: n,
                            largest_tier: self.limits.largest()
                        }
                    );
                    self.count_requests(0, 1);
                    return;
                }
                (Err(err), Some(_)) if over_cap => {
                    let limit = self.limits.max_in_use_bytes.expect("a cap");
                    assert_eq!(
                        err,
                        PoolError::Exhausted {
                            requested: cap,
                            limit
                        }
                    );
                    self.exhausted += 1;
                    self.count_requests(0, 1);
                    return;
                }
                (got, _) => panic!(
                    "try_get({n}) gave {got:?} with {} bytes in use (cap {:?})",
                    self.in_use_bytes(),
                    self.limits.max_in_use_bytes
                ),
            }
        } else {
            self.pool.as_ref().expect("open").get(n)
        };
        self.count_requests(1, 0);
        self.check_counted(before, &[tier], &format!("get({n})"));
        self.adopt_buf(buf, tier, cap, &format!("get({n})"));
    }

    /// Applies one op to the real objects and to the model. Each family of
    /// ops has its own function; `Model::check` runs after every op.
    pub(super) fn apply(&mut self, op: Op) {
        match op {
            Op::Get(size) => self.get(size, false, false),
            Op::TryGet(size) => self.get(size, false, true),
            Op::HelperGet(size) => self.get(size, true, false),
            Op::Extend { .. }
            | Op::ExtendIter { .. }
            | Op::Fill { .. }
            | Op::Resize { .. }
            | Op::Poke { .. }
            | Op::Truncate { .. }
            | Op::Clear { .. }
            | Op::ReadFrom { .. } => self.apply_write(op),
            Op::Freeze { .. }
            | Op::BufSplitTo { .. }
            | Op::Clone { .. }
            | Op::Slice { .. }
            | Op::ViewSplitTo { .. }
            | Op::ViewSplitOff { .. }
            | Op::Advance { .. }
            | Op::TryIntoMut { .. } => self.apply_view(op),
            Op::CopyToBytes { .. }
            | Op::IntoBytes { .. }
            | Op::BytesClone { .. }
            | Op::BytesSlice { .. } => self.apply_bytes(op),
            Op::Drop { .. }
            | Op::Send { .. }
            | Op::HelperDrop { .. }
            | Op::HelperReturn { .. }
            | Op::DropOnNewThread { .. } => self.apply_threads(op),
            Op::Trim
            | Op::TrimIdle
            | Op::Churn { .. }
            | Op::ClosePool { .. }
            | Op::MapRegions { .. } => self.apply_pool(op),
            Op::ChainWrite { .. }
            | Op::ChainReserve { .. }
            | Op::ChainFreeze { .. }
            | Op::ChainClone { .. }
            | Op::ChainSlice { .. }
            | Op::ChainAdvance { .. }
            | Op::ChainCopyToBytes { .. }
            | Op::ChainIntoBytes { .. }
            | Op::ChainIntoSegments { .. }
            | Op::ChainFromView { .. } => self.apply_chain(op),
            Op::TryReclaim { .. }
            | Op::BufAdvance { .. }
            | Op::BufCopyToBytes { .. }
            | Op::BufSplitOff { .. }
            | Op::BufSplit { .. }
            | Op::Unsplit { .. }
            | Op::ExtendFromWithin { .. }
            | Op::BufClone { .. }
            | Op::IntoMut { .. }
            | Op::SliceRef { .. }
            | Op::IntoVec { .. }
            | Op::FmtWrite { .. }
            | Op::ExtendViews { .. } => self.apply_bytes_mut(op),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Write {
    /// `extend_from_slice`.
    Slice,
    /// `Extend<u8>` with an iterator that hides its length.
    ByteAtATime,
    /// `extend_from_within(start..end)`.
    Within(usize, usize),
    /// `fmt::Write::write_str` (the bytes are ASCII).
    Fmt,
    /// `Extend<SharedBuf>` with a clone of this view (whose bytes these
    /// are).
    View(u64),
}
