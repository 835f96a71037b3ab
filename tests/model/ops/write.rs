//! Writes into buffers: `Extend`, `Fill`, `Resize`, `Poke`, `Truncate`,
//! `Clear`, `ReadFrom`.

use super::*;

impl Model {
    /// Writes into a `PooledBuf` (growth included), and shortening it.
    pub(super) fn apply_write(&mut self, op: Op) {
        use Kind::{Buf as B, View as V};
        match op {
            Op::Extend { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let bytes = self.pattern(usize::from(len));
                    self.write(id, &bytes, Write::Slice);
                }
            }
            Op::ExtendIter { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let bytes = self.pattern(usize::from(len));
                    self.write(id, &bytes, Write::ByteAtATime);
                }
            }
            Op::Fill { h, over } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let holder = &self.holders[&id];
                    let n = holder.cap - holder.data.len() + usize::from(over);
                    if holder.data.len() + n <= FILL_LIMIT {
                        let bytes = self.pattern(n);
                        self.write(id, &bytes, Write::Slice);
                    }
                }
            }
            Op::Resize { h, len, val } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    self.resize(id, usize::from(len), val);
                }
            }
            Op::Poke { h, pos, val } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    let len = self.holders[&id].data.len();
                    if len > 0 {
                        let pos = usize::from(pos) % len;
                        self.buf_mut(id)[pos] = val;
                        self.holders.get_mut(&id).expect("holder").data[pos] = val;
                    }
                }
            }
            Op::Truncate { h, len } => {
                if let Some(id) = self.pick(h, &[B, V], false) {
                    let len = usize::from(len) % (self.holders[&id].data.len() + 2);
                    match self.real.get_mut(&id) {
                        Some(Real::Buf(b)) => b.truncate(len),
                        Some(Real::View(v)) => v.truncate(len),
                        _ => unreachable!(),
                    }
                    let holder = self.holders.get_mut(&id).expect("holder");
                    holder.data.truncate(len);
                    if holder.kind == V && len == 0 {
                        // `truncate(0)` lets go of the view's storage.
                        holder.storage = None;
                    }
                }
            }
            Op::Clear { h } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    self.buf_mut(id).clear();
                    self.holders.get_mut(&id).expect("holder").data.clear();
                }
            }
            Op::ReadFrom { h, len } => {
                if let Some(id) = self.pick(h, &[B], false) {
                    self.read_from(id, usize::from(len));
                }
            }
            _ => unreachable!("{op:?} is not a write"),
        }
    }

    /// `resize(new_len, val)` on buffer `id`.
    pub(super) fn resize(&mut self, id: u64, new_len: usize, val: u8) {
        let old_len = self.holders[&id].data.len();
        if new_len <= old_len {
            self.buf_mut(id).resize(new_len, val);
            self.holders
                .get_mut(&id)
                .expect("holder")
                .data
                .truncate(new_len);
        } else {
            // Same growth rule as a write of the difference.
            let before = self.stats();
            let grown = self.grow_model(id, new_len - old_len);
            self.buf_mut(id).resize(new_len, val);
            self.holders
                .get_mut(&id)
                .expect("holder")
                .data
                .resize(new_len, val);
            if grown.is_some() {
                self.relearn_base(id);
            }
            let grown: Vec<_> = grown.into_iter().collect();
            self.count_requests(grown.len() as u64, 0);
            self.check_counted(before, &grown, "resize");
        }
    }

    /// `read_from` a reader holding `len` bytes into buffer `id`.
    pub(super) fn read_from(&mut self, id: u64, len: usize) {
        let input = self.pattern(len);
        let holder = &self.holders[&id];
        let (old_len, cap) = (holder.data.len(), holder.cap);
        let before = self.stats();
        let grown = if old_len == cap {
            self.grow_model(id, cap.max(64))
        } else {
            None
        };
        let room = self.holders[&id].cap - old_len;
        let expected = room.min(input.len());
        let got = self
            .buf_mut(id)
            .read_from(&mut &input[..])
            .expect("reading from a slice cannot fail");
        assert_eq!(got, expected, "read_from into {room} spare bytes");
        self.holders
            .get_mut(&id)
            .expect("holder")
            .data
            .extend_from_slice(&input[..got]);
        if grown.is_some() {
            self.relearn_base(id);
        }
        let grown: Vec<_> = grown.into_iter().collect();
        self.count_requests(grown.len() as u64, 0);
        self.check_counted(before, &grown, "read_from");
    }
}
