//! Drops and threads: `Drop` on this thread, `Send` to the helper thread and
//! `HelperReturn` from it, `HelperDrop` there, `DropOnNewThread`. (Gets on
//! the helper thread, `HelperGet`, go through `Model::get`.)

use super::*;

impl Model {
    /// Drops, here or on another thread, and moving holders to the helper
    /// thread and back (holders of every kind: with no chain alive, these
    /// pick exactly as they did before chains existed).
    pub(super) fn apply_threads(&mut self, op: Op) {
        match op {
            Op::Drop { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, false) {
                    drop(self.take_real(id));
                    self.holders.remove(&id);
                }
            }
            Op::Send { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, false) {
                    let real = self.take_real(id);
                    assert!(matches!(self.helper.call(Cmd::Keep(id, real)), Reply::Done));
                    self.holders.get_mut(&id).expect("holder").at_helper = true;
                }
            }
            Op::HelperDrop { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, true) {
                    assert!(matches!(self.helper.call(Cmd::Drop(id)), Reply::Done));
                    self.holders.remove(&id);
                }
            }
            Op::HelperReturn { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, true) {
                    let Reply::Real(real) = self.helper.call(Cmd::Return(id)) else {
                        panic!("helper answered a return with something else")
                    };
                    self.real.insert(id, real);
                    self.holders.get_mut(&id).expect("holder").at_helper = false;
                }
            }
            Op::DropOnNewThread { h } => {
                if let Some(id) = self.pick(h, &ALL_KINDS, false) {
                    let real = self.take_real(id);
                    thread::spawn(move || drop(real))
                        .join()
                        .expect("dropping on another thread does not panic");
                    self.holders.remove(&id);
                }
            }
            _ => unreachable!("{op:?} is not a drop or a move between threads"),
        }
    }
}
