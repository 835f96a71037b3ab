//! `Bytes` made from views: `CopyToBytes`, `IntoBytes`, `BytesClone`,
//! `BytesSlice`.

use super::*;

impl Model {
    /// Views becoming `Bytes`, and `Bytes` clones and slices.
    pub(super) fn apply_bytes(&mut self, op: Op) {
        use Kind::{Bytes as Y, View as V};
        match op {
            Op::CopyToBytes { h, n } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    if !self.room() {
                        return;
                    }
                    let holder = self.holders[&id].clone();
                    let at = usize::from(n) % (holder.data.len() + 1);
                    let bytes = self.view_mut(id).copy_to_bytes(at);
                    self.add_bytes(&holder, holder.offset, holder.data[..at].to_vec(), bytes);
                    let me = self.holders.get_mut(&id).expect("holder");
                    me.data.drain(..at);
                    me.offset += at;
                    // `split_to(at)`: everything split off leaves the view
                    // empty, holding no storage.
                    if at == holder.data.len() {
                        me.storage = None;
                    }
                }
            }
            Op::IntoBytes { h } => {
                if let Some(id) = self.pick(h, &[V], false) {
                    let Real::View(view) = self.take_real(id) else {
                        unreachable!()
                    };
                    let holder = self.holders.remove(&id).expect("holder");
                    let ptr = view.as_ptr();
                    let bytes = view.into_bytes();
                    if !bytes.is_empty() {
                        assert_eq!(bytes.as_ptr(), ptr, "into_bytes does not copy");
                    }
                    self.add_bytes(&holder, holder.offset, holder.data.clone(), bytes);
                }
            }
            Op::BytesClone { h } => {
                if let Some(id) = self.pick(h, &[Y], false) {
                    if self.room() {
                        let copy = self.bytes_ref(id).clone();
                        let holder = self.holders[&id].clone();
                        let new = self.fresh_id();
                        self.holders.insert(new, holder);
                        self.real.insert(new, Real::Bytes(copy));
                    }
                }
            }
            Op::BytesSlice { h, start, end } => {
                if let Some(id) = self.pick(h, &[Y], false) {
                    if !self.room() {
                        return;
                    }
                    let mut holder = self.holders[&id].clone();
                    let len = holder.data.len();
                    let start = usize::from(start) % (len + 1);
                    let end = start + usize::from(end) % (len - start + 1);
                    let slice = self.bytes_ref(id).slice(start..end);
                    holder.data = holder.data[start..end].to_vec();
                    holder.offset += start;
                    if start == end {
                        // `Bytes::slice` returns an empty, static `Bytes`.
                        holder.storage = None;
                    }
                    let new = self.fresh_id();
                    self.holders.insert(new, holder);
                    self.real.insert(new, Real::Bytes(slice));
                }
            }
            _ => unreachable!("{op:?} is not a bytes op"),
        }
    }
}
