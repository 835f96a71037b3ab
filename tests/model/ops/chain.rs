//! Chains: `PooledChain` written every way, reserved, frozen, and the
//! `SharedChain` it becomes, sliced, advanced and taken apart.

use super::*;

impl Model {
    /// Chains: writing a `PooledChain` (taking blocks as bytes come),
    /// freezing it, and the `SharedChain`'s clones, slices, advancing and
    /// conversions.
    pub(super) fn apply_chain(&mut self, op: Op) {
        use Kind::{Chain as C, Frozen as F, View as V};
        match op {
            Op::ChainWrite { h, len, how } => self.chain_write(h, usize::from(len), how),
            Op::ChainReserve { h, additional } => {
                if let Some(id) = self.pick(h, &[C], false) {
                    self.chain_reserve(id, usize::from(additional));
                }
            }
            Op::ChainFreeze { h } => {
                if let Some(id) = self.pick(h, &[C], false) {
                    self.chain_freeze(id);
                }
            }
            Op::ChainClone { h } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    if self.room() {
                        let copy = self.frozen_mut(id).clone();
                        let holder = self.holders[&id].clone();
                        let new = self.fresh_id();
                        self.holders.insert(new, holder);
                        self.real.insert(new, Real::Frozen(copy));
                    }
                }
            }
            Op::ChainSlice { h, start, end } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    if self.room() {
                        self.chain_slice(id, usize::from(start), usize::from(end));
                    }
                }
            }
            Op::ChainAdvance { h, n } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    let n = usize::from(n) % (self.holders[&id].data.len() + 1);
                    self.frozen_mut(id).advance(n);
                    self.chain_model_advance(id, n);
                }
            }
            Op::ChainCopyToBytes { h, n } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    if self.room() {
                        self.chain_copy_to_bytes(id, usize::from(n));
                    }
                }
            }
            Op::ChainIntoBytes { h } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    let Real::Frozen(chain) = self.take_real(id) else {
                        unreachable!()
                    };
                    let holder = self.holders.remove(&id).expect("holder");
                    let bytes = chain.into_bytes();
                    // One segment becomes `Bytes` without a copy; several are
                    // copied into a new allocation.
                    match holder.segments.as_slice() {
                        [only] => self.add_chain_bytes(Some(*only), holder.data, bytes),
                        _ => self.add_chain_bytes(None, holder.data, bytes),
                    }
                }
            }
            Op::ChainIntoSegments { h } => {
                if let Some(id) = self.pick(h, &[F], false) {
                    self.chain_into_segments(id);
                }
            }
            Op::ChainFromView { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    let Real::View(view) = self.take_real(id) else {
                        unreachable!()
                    };
                    let chain = SharedChain::from(view);
                    let holder = self.holders.get_mut(&id).expect("holder");
                    let sid = holder.storage.take();
                    if let Some(sid) = sid.filter(|_| !holder.data.is_empty()) {
                        holder.segments = vec![Segment {
                            storage: sid,
                            offset: holder.offset,
                            len: holder.data.len(),
                        }];
                    }
                    holder.kind = F;
                    holder.offset = 0;
                    holder.cap = 0;
                    self.real.insert(id, Real::Frozen(chain));
                }
            }
            _ => unreachable!("{op:?} is not a chain op"),
        }
    }

    pub(super) fn chain_mut(&mut self, id: u64) -> &mut PooledChain {
        match self.real.get_mut(&id) {
            Some(Real::Chain(c)) => c,
            _ => panic!("holder {id} is not a PooledChain on the main thread"),
        }
    }

    pub(super) fn frozen_mut(&mut self, id: u64) -> &mut SharedChain {
        match self.real.get_mut(&id) {
            Some(Real::Frozen(c)) => c,
            _ => panic!("holder {id} is not a SharedChain on the main thread"),
        }
    }

    /// Room left in the block a `PooledChain` holder is writing.
    pub(super) fn chain_spare(&self, h: &Holder) -> usize {
        h.segments
            .last()
            .map_or(0, |last| h.cap - last.offset - last.len)
    }

    /// Models chain `id` taking an empty block of `tier`.
    pub(super) fn chain_take_block(&mut self, id: u64, tier: usize) {
        let cap = self.limits.tiers[tier];
        let sid = self.fresh_id();
        // The base is learned when the chain is frozen.
        self.storages.insert(
            sid,
            StorageModel {
                tier: Some(tier),
                cap,
                base: 0,
            },
        );
        let h = self.holders.get_mut(&id).expect("holder");
        h.segments.push(Segment {
            storage: sid,
            offset: 0,
            len: 0,
        });
        h.cap = cap;
    }

    /// Models one write call of `bytes` into chain `id`: a block is taken
    /// only when the last one is full, sized by what remains of the call
    /// (with `whole_segments`, a whole segment: what `chunk_mut` takes).
    /// Returns the tiers of the blocks taken.
    pub(super) fn chain_model_write(
        &mut self,
        id: u64,
        bytes: &[u8],
        whole_segments: bool,
    ) -> Vec<Option<usize>> {
        let mut taken = Vec::new();
        let mut left = bytes.len();
        while left > 0 {
            let spare = self.chain_spare(&self.holders[&id]);
            if spare == 0 {
                let tier = if whole_segments {
                    self.limits.segment
                } else {
                    self.limits.chain_block(left)
                };
                self.chain_take_block(id, tier);
                taken.push(Some(tier));
                continue;
            }
            let k = left.min(spare);
            let h = self.holders.get_mut(&id).expect("holder");
            h.segments.last_mut().expect("a block with room").len += k;
            left -= k;
        }
        let h = self.holders.get_mut(&id).expect("holder");
        h.data.extend_from_slice(bytes);
        taken
    }

    /// `ChainWrite`: `len` bytes into a chain on the main thread, or into a
    /// new one (the slot past the chains).
    pub(super) fn chain_write(&mut self, h: u8, len: usize, how: u8) {
        let chains = self.eligible(&[Kind::Chain], false);
        let can_start = self.pool.is_some() && self.room();
        let slots = chains.len() + usize::from(can_start);
        if slots == 0 {
            return;
        }
        let id = match chains.get(usize::from(h) % slots) {
            Some(&id) => id,
            None => {
                let chain = self.pool.as_ref().expect("open").chain();
                let segment = self.limits.tiers[self.limits.segment];
                assert_eq!(chain.segment_capacity(), segment, "segment_capacity()");
                assert_eq!((chain.len(), chain.segment_count()), (0, 0));
                let id = self.fresh_id();
                self.holders.insert(
                    id,
                    Holder {
                        kind: Kind::Chain,
                        storage: None,
                        offset: 0,
                        data: Vec::new(),
                        cap: 0,
                        group: 0,
                        at_helper: false,
                        segments: Vec::new(),
                    },
                );
                self.real.insert(id, Real::Chain(chain));
                id
            }
        };
        let len = len % (CHAIN_WRITE_LIMIT + 1);
        let step = 1 + 3 * usize::from(how >> 2);
        let bytes = self.pattern(len);
        let before = self.stats();
        let mut taken = Vec::new();
        match how % 4 {
            0 => {
                taken = self.chain_model_write(id, &bytes, false);
                self.chain_mut(id).put_slice(&bytes);
            }
            1 => {
                for piece in bytes.chunks(step) {
                    taken.extend(self.chain_model_write(id, piece, false));
                    std::io::Write::write_all(self.chain_mut(id), piece)
                        .expect("writing to a chain cannot fail");
                }
            }
            2 => {
                let mut written = 0;
                while written < len {
                    let spare = self.chain_spare(&self.holders[&id]);
                    let room = match spare {
                        0 => self.limits.tiers[self.limits.segment],
                        spare => spare,
                    };
                    let n = room.min(step).min(len - written);
                    let piece = &bytes[written..written + n];
                    taken.extend(self.chain_model_write(id, piece, true));
                    let chain = self.chain_mut(id);
                    let chunk = chain.chunk_mut();
                    assert_eq!(chunk.len(), room, "chunk_mut() is the spare capacity");
                    chunk[..n].copy_from_slice(piece);
                    // SAFETY: the first `n` bytes of the chunk were just written.
                    unsafe { chain.advance_mut(n) };
                    written += n;
                }
            }
            _ => {
                let val = bytes.first().copied().unwrap_or(0);
                taken = self.chain_model_write(id, &vec![val; len], true);
                self.chain_mut(id).put_bytes(val, len);
            }
        }
        self.count_requests(taken.len() as u64, 0);
        self.check_counted(before, &taken, "chain write");
    }

    /// `try_reserve_block(additional)` on chain `id`: takes a block only
    /// when the last one is full, and is refused with `Exhausted` exactly
    /// when that block would take the pool over `max_in_use_bytes`.
    pub(super) fn chain_reserve(&mut self, id: u64, additional: usize) {
        let spare = self.chain_spare(&self.holders[&id]);
        let before = self.stats();
        let got = self.chain_mut(id).try_reserve_block(additional);
        if additional == 0 || spare > 0 {
            assert_eq!(
                got,
                Ok(()),
                "try_reserve_block({additional}), {spare} spare"
            );
            self.check_counted(before, &[], "try_reserve_block with room");
            return;
        }
        let tier = self.limits.chain_block(additional);
        let cap = self.limits.tiers[tier];
        let over_cap = self
            .limits
            .max_in_use_bytes
            .is_some_and(|limit| self.in_use_bytes() + cap > limit);
        match got {
            Ok(()) if !over_cap => {
                self.chain_take_block(id, tier);
                self.count_requests(1, 0);
                self.check_counted(before, &[Some(tier)], "try_reserve_block");
            }
            Err(err) if over_cap => {
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
                self.check_counted(before, &[], "refused try_reserve_block");
            }
            got => panic!(
                "try_reserve_block({additional}) gave {got:?} with {} bytes in use (cap {:?})",
                self.in_use_bytes(),
                self.limits.max_in_use_bytes
            ),
        }
    }

    /// `freeze`: the written blocks become the segments (an unwritten last
    /// block goes back), and their addresses are learned.
    pub(super) fn chain_freeze(&mut self, id: u64) {
        let Real::Chain(chain) = self.take_real(id) else {
            unreachable!()
        };
        let frozen = chain.freeze();
        let h = self.holders.get_mut(&id).expect("holder");
        if h.segments.last().is_some_and(|last| last.len == 0) {
            h.segments.pop();
        }
        h.kind = Kind::Frozen;
        h.cap = 0;
        let segments = h.segments.clone();
        assert_eq!(
            frozen.segment_count(),
            segments.len(),
            "freeze keeps the written blocks"
        );
        for (real, seg) in frozen.segments().zip(&segments) {
            let addr = real.as_ptr() as usize;
            assert_eq!(addr % self.limits.alignment, 0, "chain block alignment");
            let storage = self.storages.get_mut(&seg.storage).expect("storage");
            assert_eq!(storage.base, 0, "a chain block is learned once");
            storage.base = addr - seg.offset;
        }
        self.real.insert(id, Real::Frozen(frozen));
    }

    /// `slice` of chain `id`, with the range taken within bounds.
    pub(super) fn chain_slice(&mut self, id: u64, start: usize, end: usize) {
        let mut holder = self.holders[&id].clone();
        let len = holder.data.len();
        let start = start % (len + 1);
        let end = start + end % (len - start + 1);
        let slice = self.frozen_mut(id).slice(start..end);
        let mut offset = 0;
        let mut segments = Vec::new();
        for seg in &holder.segments {
            let (from, to) = (offset, offset + seg.len);
            offset = to;
            let (lo, hi) = (start.max(from), end.min(to));
            if lo < hi {
                segments.push(Segment {
                    storage: seg.storage,
                    offset: seg.offset + lo - from,
                    len: hi - lo,
                });
            }
        }
        holder.segments = segments;
        holder.data = holder.data[start..end].to_vec();
        holder.at_helper = false;
        let new = self.fresh_id();
        self.holders.insert(new, holder);
        self.real.insert(new, Real::Frozen(slice));
    }

    /// Models `advance(n)` on chain `id`: consumed segments are dropped.
    pub(super) fn chain_model_advance(&mut self, id: u64, n: usize) {
        let h = self.holders.get_mut(&id).expect("holder");
        h.data.drain(..n);
        let mut left = n;
        while left > 0 {
            let front = &mut h.segments[0];
            if left < front.len {
                front.offset += left;
                front.len -= left;
                break;
            }
            left -= front.len;
            h.segments.remove(0);
        }
    }

    /// `copy_to_bytes(n)` on chain `id`: without a copy when the bytes lie
    /// in the front segment.
    pub(super) fn chain_copy_to_bytes(&mut self, id: u64, n: usize) {
        let holder = self.holders[&id].clone();
        let n = n % (holder.data.len() + 1);
        let bytes = self.frozen_mut(id).copy_to_bytes(n);
        let data = holder.data[..n].to_vec();
        let zero_copy = holder.segments.first().filter(|front| n <= front.len);
        let source = zero_copy.map(|front| Segment { len: n, ..*front });
        self.add_chain_bytes(source, data, bytes);
        self.chain_model_advance(id, n);
    }

    /// Adds a `Bytes` holder made from a chain: sharing `source`'s storage,
    /// or (`None`) a copy.
    pub(super) fn add_chain_bytes(&mut self, source: Option<Segment>, data: Vec<u8>, bytes: Bytes) {
        assert_eq!(bytes.len(), data.len());
        // An empty `Bytes` holds no storage.
        let source = source.filter(|_| !data.is_empty());
        let group = self.fresh_id();
        let id = self.fresh_id();
        self.holders.insert(
            id,
            Holder {
                kind: Kind::Bytes,
                storage: source.map(|s| s.storage),
                offset: source.map_or(0, |s| s.offset),
                data,
                cap: 0,
                group,
                at_helper: false,
                segments: Vec::new(),
            },
        );
        self.real.insert(id, Real::Bytes(bytes));
    }

    /// `into_segments` of chain `id`: a view holder per segment, if they
    /// fit under [`MAX_HOLDERS`].
    pub(super) fn chain_into_segments(&mut self, id: u64) {
        let count = self.holders[&id].segments.len();
        if self.holders.len() - 1 + count > MAX_HOLDERS {
            return;
        }
        let Real::Frozen(chain) = self.take_real(id) else {
            unreachable!()
        };
        let holder = self.holders.remove(&id).expect("holder");
        let views: Vec<SharedBuf> = chain.into_segments().collect();
        assert_eq!(views.len(), count, "into_segments yields every segment");
        let mut offset = 0;
        for (view, seg) in views.into_iter().zip(&holder.segments) {
            let data = holder.data[offset..offset + seg.len].to_vec();
            offset += seg.len;
            let new = self.fresh_id();
            self.holders.insert(
                new,
                Holder {
                    kind: Kind::View,
                    storage: Some(seg.storage),
                    offset: seg.offset,
                    data,
                    cap: 0,
                    group: 0,
                    at_helper: false,
                    segments: Vec::new(),
                },
            );
            self.real.insert(new, Real::View(view));
        }
    }
}
