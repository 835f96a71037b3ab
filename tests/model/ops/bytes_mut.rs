//! What `BytesMut` and `Bytes` offer besides: `split_off`, `split`,
//! `unsplit`, `Buf` on a buffer, `try_reclaim`, `extend_from_within`,
//! `clone`, `From<SharedBuf>`, `slice_ref`, `Vec::from`, `fmt::Write`,
//! `Extend<SharedBuf>`.

use super::*;

impl Model {
    /// What `BytesMut` and `Bytes` offer besides: `split_off`, `split`,
    /// `Buf` on a buffer, `try_reclaim`, `unsplit`, `extend_from_within`,
    /// `clone`, `From<SharedBuf>`, `slice_ref`, `Vec::from`, `fmt::Write`
    /// and `Extend<SharedBuf>`.
    pub(super) fn apply_bytes_mut(&mut self, op: Op) {
        use Kind::{Buf as B, View as V};
        match op {
            Op::BufSplitOff { h, at } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        self.buf_split_off(id, usize::from(at));
                    }
                }
            }
            Op::BufSplit { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        self.buf_split(id);
                    }
                }
            }
            Op::BufAdvance { h, n } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let n = usize::from(n) % (self.holders[&id].data.len() + 1);
                    Buf::advance(self.buf_mut(id), n);
                    let me = self.holders.get_mut(&id).expect("holder");
                    me.data.drain(..n);
                    me.offset += n;
                    me.cap -= n;
                }
            }
            Op::BufCopyToBytes { h, n } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        let holder = self.holders[&id].clone();
                        let n = usize::from(n) % (holder.data.len() + 1);
                        let bytes = self.buf_mut(id).copy_to_bytes(n);
                        if n > 0 {
                            assert_eq!(
                                bytes.as_ptr() as usize,
                                self.storages[&holder.storage.expect("buffer")].base
                                    + holder.offset,
                                "copy_to_bytes does not copy"
                            );
                        }
                        self.add_bytes(&holder, holder.offset, holder.data[..n].to_vec(), bytes);
                        let me = self.holders.get_mut(&id).expect("holder");
                        me.data.drain(..n);
                        me.offset += n;
                        me.cap -= n;
                    }
                }
            }
            Op::TryReclaim { h, additional } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let additional = usize::from(additional);
                    let holder = &self.holders[&id];
                    let expected = holder.cap - holder.data.len() >= additional
                        || self.reclaim_model(id, additional);
                    let got = self.buf_mut(id).try_reclaim(additional);
                    assert_eq!(got, expected, "try_reclaim({additional})");
                }
            }
            Op::Unsplit { h, v } => {
                if let (Some(id), Some(vid)) =
                    (self.pick(h, &[B], false), self.pick(v, &[V], false))
                {
                    self.unsplit(id, vid);
                }
            }
            Op::ExtendFromWithin { h, start, end } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let data = &self.holders[&id].data;
                    let len = data.len();
                    let start = usize::from(start) % (len + 1);
                    let end = start + usize::from(end) % (len - start + 1);
                    let bytes = data[start..end].to_vec();
                    self.write(id, &bytes, Write::Within(start, end));
                }
            }
            Op::BufClone { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if self.room() {
                        let data = self.holders[&id].data.clone();
                        let before = self.stats();
                        let copy = self.buf_mut(id).clone();
                        self.adopt_copy(copy, data, before, "clone");
                    }
                }
            }
            Op::IntoMut { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    self.buf_from_view(id);
                }
            }
            Op::SliceRef { h, start, end } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        let holder = self.holders[&id].clone();
                        let len = holder.data.len();
                        let start = usize::from(start) % (len + 1);
                        let end = start + usize::from(end) % (len - start + 1);
                        let view = self.view_mut(id);
                        let sub = view.slice_ref(&view[start..end]);
                        let data = holder.data[start..end].to_vec();
                        let new = self.add_derived(
                            &holder,
                            V,
                            holder.offset + start,
                            data,
                            Real::View(sub),
                        );
                        self.let_go_if_empty(new);
                    }
                }
            }
            Op::IntoVec { h } => {
                if let Some(id) = self.pick(h, &[B, V], false) {
                    let vec: Vec<u8> = match self.take_real(id) {
                        Real::Buf(b) => b.into(),
                        Real::View(v) => v.into(),
                        _ => unreachable!(),
                    };
                    let holder = self.holders.remove(&id).expect("holder");
                    assert!(vec == holder.data, "Vec::from gives the bytes");
                }
            }
            Op::FmtWrite { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let text: Vec<u8> = self
                        .pattern(usize::from(len))
                        .iter()
                        .map(|b| b' ' + b % 95)
                        .collect();
                    self.write(id, &text, Write::Fmt);
                }
            }
            Op::ExtendViews { h, v } => {
                if let (Some(id), Some(vid)) =
                    (self.pick(h, &[B], false), self.pick(v, &[V], false))
                {
                    let bytes = self.holders[&vid].data.clone();
                    self.write(id, &bytes, Write::View(vid));
                }
            }
            _ => unreachable!("{op:?} is not a BytesMut op"),
        }
    }

    /// `PooledBuf::split_off` of buffer `id`: the tail becomes a view and
    /// the buffer's capacity ends where it begins (nothing split off: an
    /// empty view holding no storage, the capacity kept).
    pub(super) fn buf_split_off(&mut self, id: u64, at: usize) {
        let holder = self.holders[&id].clone();
        let len = holder.data.len();
        let at = at % (len + 1);
        let tail = self.buf_mut(id).split_off(at);
        let new = self.add_derived(
            &holder,
            Kind::View,
            holder.offset + at,
            holder.data[at..].to_vec(),
            Real::View(tail),
        );
        if at == len {
            self.let_go_if_empty(new);
        } else {
            let me = self.holders.get_mut(&id).expect("holder");
            me.data.truncate(at);
            me.cap = at;
        }
    }

    /// `PooledBuf::split` of buffer `id`: `split_to(len)`.
    pub(super) fn buf_split(&mut self, id: u64) {
        let holder = self.holders[&id].clone();
        let len = holder.data.len();
        let view = self.buf_mut(id).split();
        let new = self.add_derived(
            &holder,
            Kind::View,
            holder.offset,
            holder.data.clone(),
            Real::View(view),
        );
        self.let_go_if_empty(new);
        let me = self.holders.get_mut(&id).expect("holder");
        me.data.clear();
        me.offset += len;
        me.cap -= len;
    }

    /// `unsplit` of view `vid` into buffer `id`: joined without a copy when
    /// the view follows the buffer's bytes and the two are the storage's
    /// only references; an empty buffer takes a view nobody shares; else
    /// the bytes are copied (growing as a write would, the view alive).
    pub(super) fn unsplit(&mut self, id: u64, vid: u64) {
        let (buf, view) = (self.holders[&id].clone(), self.holders[&vid].clone());
        let bytes = view.data.clone();
        let Real::View(real_view) = self.take_real(vid) else {
            unreachable!()
        };
        let sid = buf.storage.expect("buffers hold storage");
        let follows = view.storage == Some(sid)
            && view.offset == buf.offset + buf.data.len()
            && self.refs(sid) == 2;
        let takes =
            !follows && buf.data.is_empty() && view.storage.is_some_and(|vs| self.refs(vs) == 1);
        let before = self.stats();
        let grown = if bytes.is_empty() || follows || takes {
            None
        } else {
            // Copied, with the view still alive (`refs` counts it).
            self.grow_model(id, bytes.len())
        };
        self.buf_mut(id).unsplit(real_view);
        self.holders.remove(&vid);
        if bytes.is_empty() {
            return;
        }
        if takes {
            let vs = view.storage.expect("a storage");
            let cap = self.storages[&vs].cap - view.offset;
            let me = self.holders.get_mut(&id).expect("holder");
            me.storage = Some(vs);
            me.offset = view.offset;
            me.cap = cap;
            me.data = bytes;
            return;
        }
        let cap = self.storages[&sid].cap;
        let me = self.holders.get_mut(&id).expect("holder");
        me.data.extend_from_slice(&bytes);
        if follows {
            me.cap = cap - me.offset;
        }
        if grown.is_some() {
            self.relearn_base(id);
        }
        let grown: Vec<_> = grown.into_iter().collect();
        self.count_requests(grown.len() as u64, 0);
        self.check_counted(before, &grown, "unsplit");
    }

    /// `PooledBuf::from(SharedBuf)` of view `id`: the storage itself when
    /// nothing else references it, else a copy in a fresh storage from the
    /// pool (an empty view holding no storage becomes a buffer of the
    /// global pool, which the model does not follow: it is dropped).
    pub(super) fn buf_from_view(&mut self, id: u64) {
        let holder = self.holders[&id].clone();
        let unique = holder.storage.is_some_and(|sid| self.refs(sid) == 1);
        let Real::View(view) = self.take_real(id) else {
            unreachable!()
        };
        let ptr = view.as_ptr();
        let before = self.stats();
        let buf = PooledBuf::from(view);
        if unique {
            assert_eq!(buf.as_ptr(), ptr, "From<SharedBuf> of a unique view");
            self.real.insert(id, Real::Buf(buf));
            let cap = self.storages[&holder.storage.expect("unique")].cap;
            let me = self.holders.get_mut(&id).expect("holder");
            me.kind = Kind::Buf;
            me.cap = cap - me.offset;
            return;
        }
        self.holders.remove(&id);
        if holder.storage.is_none() {
            assert!(buf.is_empty());
            return;
        }
        self.adopt_copy(buf, holder.data, before, "From<SharedBuf>");
    }

    /// Records a buffer holding a copy of `data` in a fresh storage, got
    /// from the pool for `data.len()` bytes (one get, after `before`).
    pub(super) fn adopt_copy(
        &mut self,
        buf: PooledBuf,
        data: Vec<u8>,
        before: Option<PoolStats>,
        what: &str,
    ) {
        let (tier, cap) = self.limits.get_shape(data.len());
        assert_eq!(buf.capacity(), cap, "{what}: capacity");
        assert_eq!(
            buf.tier(),
            tier.map(|t| self.limits.tiers[t]),
            "{what}: tier()"
        );
        assert!(buf[..] == data[..], "{what}: contents");
        let base = buf.as_ptr() as usize;
        assert_eq!(base % self.limits.alignment, 0, "{what}: alignment");
        self.count_requests(1, 0);
        self.check_counted(before, &[tier], what);
        let sid = self.fresh_id();
        self.storages.insert(sid, StorageModel { tier, cap, base });
        let id = self.fresh_id();
        self.holders.insert(
            id,
            Holder {
                kind: Kind::Buf,
                storage: Some(sid),
                offset: 0,
                data,
                cap,
                group: 0,
                at_helper: false,
                segments: Vec::new(),
            },
        );
        self.real.insert(id, Real::Buf(buf));
    }
}
