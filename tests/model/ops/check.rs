//! The checks run after every op, and at the end.

use super::*;

impl Model {
    /// Everything observable, from both threads.
    pub(super) fn observe_all(&self) -> Vec<(u64, Seen)> {
        let mut seen: Vec<(u64, Seen)> =
            self.real.iter().map(|(&id, r)| (id, observe(r))).collect();
        if self.holders.values().any(|h| h.at_helper) {
            match self.helper.call(Cmd::Snapshot) {
                Reply::Snapshot(remote) => seen.extend(remote),
                _ => panic!("helper answered a snapshot with something else"),
            }
        }
        seen
    }

    pub(super) fn check(&self, when: &str) {
        let seen = self.observe_all();
        assert_eq!(seen.len(), self.holders.len(), "{when}: holder count");
        let mut writable = Vec::new();
        let mut readable = Vec::new();
        for (id, s) in &seen {
            let h = self
                .holders
                .get(id)
                .unwrap_or_else(|| panic!("{when}: unknown holder {id}"));
            assert_eq!(s.kind, h.kind, "{when}: holder {id} kind");
            if matches!(h.kind, Kind::Chain | Kind::Frozen) {
                self.check_chain(when, *id, s, h, &mut readable);
                continue;
            }
            assert_eq!(
                s.contents.len(),
                h.data.len(),
                "{when}: holder {id} ({:?}) length",
                h.kind
            );
            assert!(
                s.contents == h.data,
                "{when}: holder {id} ({:?}) contents differ",
                h.kind
            );
            let Some(sid) = h.storage else {
                if h.kind == Kind::View {
                    assert_eq!(s.tier, Some(None), "{when}: an empty view has no tier()");
                }
                continue;
            };
            let storage = self.storages[&sid];
            if h.kind == Kind::Buf || !h.data.is_empty() {
                assert_eq!(
                    s.addr,
                    storage.base + h.offset,
                    "{when}: holder {id} ({:?}) is not where its storage is",
                    h.kind
                );
            }
            if let Some(tier) = s.tier {
                assert_eq!(
                    tier,
                    storage.tier.map(|t| self.limits.tiers[t]),
                    "{when}: tier()"
                );
            }
            match h.kind {
                Kind::Buf => {
                    assert_eq!(s.cap, h.cap, "{when}: holder {id} capacity");
                    assert!(
                        h.offset + h.cap <= storage.cap,
                        "{when}: model capacity bound"
                    );
                    writable.push((*id, s.addr, s.addr + s.cap));
                }
                _ if s.cap > 0 => readable.push((*id, s.addr, s.addr + s.cap)),
                _ => {}
            }
        }
        for (i, &(a, a0, a1)) in writable.iter().enumerate() {
            if a0 == a1 {
                continue;
            }
            for &(b, b0, b1) in writable[i + 1..].iter().chain(readable.iter()) {
                assert!(
                    a1 <= b0 || b1 <= a0 || b0 == b1,
                    "{when}: PooledBuf {a} [{a0:#x}, {a1:#x}) overlaps holder {b} [{b0:#x}, {b1:#x})"
                );
            }
        }
        self.check_views(when);
        self.check_equality(when);
        self.check_stats(when);
    }

    /// Buffers and views compare (both ways) and iterate as their bytes.
    pub(super) fn check_equality(&self, when: &str) {
        for (id, real) in &self.real {
            let data = &self.holders[id].data;
            // Each impl once: `PartialEq<Vec<u8>>`, `PartialEq<[u8]>` and
            // their mirrors.
            let (forward, backward, iterated) = match real {
                Real::Buf(b) => (
                    *b == *data && *b == data[..],
                    *data == *b && data[..] == *b,
                    b.into_iter().copied().collect::<Vec<u8>>(),
                ),
                Real::View(v) => (
                    *v == *data && *v == data[..],
                    *data == *v && data[..] == *v,
                    v.into_iter().copied().collect::<Vec<u8>>(),
                ),
                _ => continue,
            };
            assert!(forward && backward, "{when}: holder {id} == its bytes");
            assert!(iterated == *data, "{when}: holder {id} iterates its bytes");
        }
    }

    /// Checks a chain holder; adds a `SharedChain`'s segments to the bytes
    /// no `PooledBuf` may overlap.
    pub(super) fn check_chain(
        &self,
        when: &str,
        id: u64,
        s: &Seen,
        h: &Holder,
        readable: &mut Vec<(u64, usize, usize)>,
    ) {
        let c = s.chain.as_ref().expect("a chain is seen as one");
        assert_eq!(c.len, h.data.len(), "{when}: chain {id} length");
        assert_eq!(
            c.segment_count,
            h.segments.len(),
            "{when}: chain {id} ({:?}) segment count",
            h.kind
        );
        if h.kind == Kind::Chain {
            assert_eq!(
                c.spare,
                self.chain_spare(h),
                "{when}: chain {id} spare capacity"
            );
            return;
        }
        assert!(s.contents == h.data, "{when}: chain {id} contents differ");
        for (i, (&(addr, len, tier), seg)) in c.segments.iter().zip(&h.segments).enumerate() {
            let storage = self.storages[&seg.storage];
            assert!(len > 0, "{when}: chain {id} segment {i} is empty");
            assert_eq!(len, seg.len, "{when}: chain {id} segment {i} length");
            assert_eq!(
                tier,
                storage.tier.map(|t| self.limits.tiers[t]),
                "{when}: chain {id} segment {i} tier()"
            );
            assert_eq!(
                addr,
                storage.base + seg.offset,
                "{when}: chain {id} segment {i} is not where its storage is"
            );
            assert!(
                seg.offset + len <= storage.cap,
                "{when}: model segment bound"
            );
            readable.push((id, addr, addr + len));
        }
    }

    pub(super) fn check_views(&self, when: &str) {
        let views: Vec<(u64, &SharedBuf)> = self
            .real
            .iter()
            .filter_map(|(&id, r)| match r {
                Real::View(v) => Some((id, v)),
                _ => None,
            })
            .collect();
        for &(a, va) in &views {
            let sa = self.holders[&a].storage;
            assert_eq!(
                va.is_unique(),
                sa.is_some_and(|sid| self.refs(sid) == 1),
                "{when}: is_unique of view {a}"
            );
            for &(b, vb) in &views {
                assert_eq!(
                    va.same_block(vb),
                    sa.is_some() && sa == self.holders[&b].storage,
                    "{when}: same_block({a}, {b})"
                );
            }
        }
    }

    /// Live storages per tier and beyond the tiers, from the model.
    pub(super) fn live(&self) -> (Vec<u64>, u64, u64) {
        let sids = self.live_sids();
        let mut per_tier = vec![0; self.limits.tiers.len()];
        let (mut oversize, mut oversize_bytes) = (0, 0);
        for sid in sids {
            let s = self.storages[&sid];
            match s.tier {
                Some(t) => per_tier[t] += 1,
                None => {
                    oversize += 1;
                    oversize_bytes += s.cap as u64;
                }
            }
        }
        (per_tier, oversize, oversize_bytes)
    }

    pub(super) fn check_stats(&self, when: &str) {
        let Some(stats) = self.stats() else { return };
        let (per_tier, oversize, oversize_bytes) = self.live();
        for (t, tier) in stats.tiers.iter().enumerate() {
            assert_eq!(
                tier.capacity, self.limits.tiers[t],
                "{when}: tier {t} capacity"
            );
            assert_eq!(
                tier.in_use, per_tier[t],
                "{when}: tier {t} in_use (stats {stats:?})"
            );
            // Main thread and helper thread may each cache; fresh threads
            // that exited gave theirs to the depot.
            let bound = if self.trimmed {
                self.limits.thread_cache[t]
            } else {
                self.limits.depot[t] + 2 * self.limits.thread_cache[t]
            };
            assert!(
                tier.cached <= bound as u64,
                "{when}: tier {t} caches {} buffers, bound {bound} (stats {stats:?})",
                tier.cached
            );
        }
        assert_eq!(stats.oversize.in_use, oversize, "{when}: oversize in_use");
        assert_eq!(
            stats.oversize.in_use_bytes, oversize_bytes,
            "{when}: oversize in_use_bytes"
        );
        self.check_governance(when, &stats);
    }

    pub(super) fn check_governance(&self, when: &str, stats: &PoolStats) {
        let pool = self.pool.as_ref().expect("stats come from an open pool");
        if let Some(limit) = self.limits.max_cached_bytes {
            let cached: u64 = stats.tiers.iter().map(|t| t.cached_bytes()).sum();
            assert!(
                cached <= limit as u64,
                "{when}: {cached} bytes cached over max_cached_bytes {limit} (stats {stats:?})"
            );
        }
        assert_eq!(stats.exhausted, self.exhausted, "{when}: exhausted count");
        if self.limits.record_sizes && self.histogram_due {
            let requests = pool.size_histogram().requests();
            let (low, high) = self.requests;
            assert!(
                (low..=high).contains(&requests),
                "{when}: size_histogram has {requests} requests, expected {low}..={high}"
            );
        }
        if self.limits.track_outstanding {
            let mut reported: Vec<(Option<usize>, usize)> = pool
                .outstanding()
                .iter()
                .map(|b| (b.tier, b.capacity))
                .collect();
            reported.sort_unstable();
            let sids = self.live_sids();
            let mut expected: Vec<(Option<usize>, usize)> = sids
                .iter()
                .map(|sid| {
                    let s = self.storages[sid];
                    (s.tier.map(|t| self.limits.tiers[t]), s.cap)
                })
                .collect();
            expected.sort_unstable();
            assert_eq!(reported, expected, "{when}: outstanding() (tier, capacity)");
        } else {
            assert!(
                pool.outstanding().is_empty(),
                "{when}: untracked pool reports buffers"
            );
        }
    }

    /// Drops everything, stops the helper, and checks that nothing is still
    /// counted as in use.
    pub(super) fn finish(mut self) {
        // Helper-held holders are dropped on the helper as it exits.
        self.real.clear();
        self.holders.clear();
        self.helper.exit();
        if let Some(stats) = self.stats() {
            for (t, tier) in stats.tiers.iter().enumerate() {
                assert_eq!(tier.in_use, 0, "end: tier {t} in_use (stats {stats:?})");
                // Only the main thread's cache and the depot remain.
                let bound = self.limits.depot[t] + self.limits.thread_cache[t];
                assert!(
                    tier.cached <= bound as u64,
                    "end: tier {t} cached (stats {stats:?})"
                );
            }
            assert_eq!(stats.oversize.in_use, 0, "end: oversize in_use");
            assert_eq!(stats.oversize.in_use_bytes, 0, "end: oversize bytes");
        }
    }
}
