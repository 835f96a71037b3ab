//! Views: `Freeze`, both `split_to`s (`BufSplitTo`, `ViewSplitTo`), `Clone`,
//! `Slice`, `ViewSplitOff`, `Advance`, `TryIntoMut`.

use super::*;

impl Model {
    /// Freezing a buffer into a `SharedBuf`, and making views of views.
    pub(super) fn apply_view(&mut self, op: Op) {
        use Kind::{Buf as B, View as V};
        match op {
            Op::Freeze { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let Real::Buf(buf) = self.take_real(id) else {
                        unreachable!()
                    };
                    let ptr = buf.as_ptr();
                    let view = buf.freeze();
                    assert_eq!(view.as_ptr(), ptr, "freeze does not copy");
                    self.real.insert(id, Real::View(view));
                    let holder = self.holders.get_mut(&id).expect("holder");
                    holder.kind = V;
                    holder.cap = 0;
                }
            }
            Op::BufSplitTo { h, at } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    if !self.room() {
                        return;
                    }
                    let holder = self.holders[&id].clone();
                    let at = usize::from(at) % (holder.data.len() + 1);
                    let view = self.buf_mut(id).split_to(at);
                    let head = holder.data[..at].to_vec();
                    let new = self.add_derived(&holder, V, holder.offset, head, Real::View(view));
                    self.let_go_if_empty(new);
                    let holder = self.holders.get_mut(&id).expect("holder");
                    holder.data.drain(..at);
                    holder.offset += at;
                    holder.cap -= at;
                }
            }
            Op::Clone { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        let copy = self.view_mut(id).clone();
                        let holder = self.holders[&id].clone();
                        let data = holder.data.clone();
                        self.add_derived(&holder, V, holder.offset, data, Real::View(copy));
                    }
                }
            }
            Op::Slice { h, start, end } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        self.slice_view(id, usize::from(start), usize::from(end));
                    }
                }
            }
            Op::ViewSplitTo { h, at } | Op::ViewSplitOff { h, at } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if self.room() {
                        let to = matches!(op, Op::ViewSplitTo { .. });
                        self.split_view(id, usize::from(at), to);
                    }
                }
            }
            Op::Advance { h, n } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    let n = usize::from(n) % (self.holders[&id].data.len() + 1);
                    self.view_mut(id).advance(n);
                    let me = self.holders.get_mut(&id).expect("holder");
                    me.data.drain(..n);
                    me.offset += n;
                    // Advanced to its end: lets go of its storage.
                    self.let_go_if_empty(id);
                }
            }
            Op::TryIntoMut { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    self.try_into_mut(id);
                }
            }
            _ => unreachable!("{op:?} is not a view op"),
        }
    }

    /// `slice` (for valid ranges, half the time) or `try_slice` of view
    /// `id`; `start` and `end` may be out of bounds.
    pub(super) fn slice_view(&mut self, id: u64, start: usize, end: usize) {
        use Kind::View as V;
        let holder = self.holders[&id].clone();
        let len = holder.data.len();
        let (start, end) = (start % (len + 2), end % (len + 2));
        let valid = start <= end && end <= len;
        let view = self.view_mut(id);
        let got = if valid && (start + end) % 2 == 1 {
            Some(view.slice(start..end))
        } else {
            view.try_slice(start..end)
        };
        assert_eq!(
            got.is_some(),
            valid,
            "try_slice({start}..{end}) of {len} bytes"
        );
        if let Some(slice) = got {
            let data = holder.data[start..end].to_vec();
            let new = self.add_derived(&holder, V, holder.offset + start, data, Real::View(slice));
            self.let_go_if_empty(new);
        }
    }

    /// `SharedBuf::split_to` (`to`) or `split_off` of view `id`.
    pub(super) fn split_view(&mut self, id: u64, at: usize, to: bool) {
        use Kind::View as V;
        let holder = self.holders[&id].clone();
        let at = at % (holder.data.len() + 1);
        let len = holder.data.len();
        let view = self.view_mut(id);
        // Splitting everything off moves the storage to the other part,
        // leaving this one empty, holding none; any other empty part
        // returned holds none either.
        if to {
            let head = view.split_to(at);
            let new = self.add_derived(
                &holder,
                V,
                holder.offset,
                holder.data[..at].to_vec(),
                Real::View(head),
            );
            let me = self.holders.get_mut(&id).expect("holder");
            me.data.drain(..at);
            me.offset += at;
            if at == len {
                me.storage = None;
            } else {
                self.let_go_if_empty(new);
            }
        } else {
            let tail = view.split_off(at);
            let new = self.add_derived(
                &holder,
                V,
                holder.offset + at,
                holder.data[at..].to_vec(),
                Real::View(tail),
            );
            let me = self.holders.get_mut(&id).expect("holder");
            me.data.truncate(at);
            if at == len {
                self.let_go_if_empty(new);
            } else if at == 0 {
                me.storage = None;
            }
        }
    }

    /// A view an operation returned empty holds no storage.
    pub(super) fn let_go_if_empty(&mut self, id: u64) {
        let holder = self.holders.get_mut(&id).expect("holder");
        if holder.kind == Kind::View && holder.data.is_empty() {
            holder.storage = None;
        }
    }

    /// `try_into_mut` of view `id`: succeeds exactly when it is the only
    /// reference to its storage (an empty view holds none).
    pub(super) fn try_into_mut(&mut self, id: u64) {
        let sid = self.holders[&id].storage;
        let unique = sid.is_some_and(|sid| self.refs(sid) == 1);
        let Real::View(view) = self.take_real(id) else {
            unreachable!()
        };
        match view.try_into_mut() {
            Ok(buf) => {
                assert!(unique, "try_into_mut succeeded on shared storage");
                self.real.insert(id, Real::Buf(buf));
                let cap = self.storages[&sid.expect("unique")].cap;
                let holder = self.holders.get_mut(&id).expect("holder");
                holder.kind = Kind::Buf;
                holder.cap = cap - holder.offset;
            }
            Err(view) => {
                assert!(!unique, "try_into_mut failed on unique storage");
                self.real.insert(id, Real::View(view));
            }
        }
    }
}
