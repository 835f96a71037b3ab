//! The helper thread: a long-lived second thread that holds, gets and
//! drops on request.

use super::*;

pub(super) enum Cmd {
    Keep(u64, Real),
    Drop(u64),
    Return(u64),
    Get(usize),
    Snapshot,
    ClosePool,
    Exit,
}

pub(super) enum Reply {
    Done,
    Real(Real),
    Got(PooledBuf),
    Snapshot(Vec<(u64, Seen)>),
}

pub(super) struct Helper {
    pub(super) commands: mpsc::Sender<Cmd>,
    pub(super) replies: mpsc::Receiver<Reply>,
    pub(super) thread: Option<thread::JoinHandle<()>>,
}

impl Helper {
    pub(super) fn start(pool: Pool) -> Self {
        let (commands, rx) = mpsc::channel::<Cmd>();
        let (tx, replies) = mpsc::channel::<Reply>();
        let thread = thread::spawn(move || {
            let mut pool = Some(pool);
            let mut held: BTreeMap<u64, Real> = BTreeMap::new();
            for cmd in rx {
                let reply = match cmd {
                    Cmd::Keep(id, real) => {
                        held.insert(id, real);
                        Reply::Done
                    }
                    Cmd::Drop(id) => {
                        drop(held.remove(&id).expect("the helper holds it"));
                        Reply::Done
                    }
                    Cmd::Return(id) => Reply::Real(held.remove(&id).expect("the helper holds it")),
                    Cmd::Get(size) => Reply::Got(pool.as_ref().expect("pool is open").get(size)),
                    Cmd::Snapshot => {
                        Reply::Snapshot(held.iter().map(|(&id, r)| (id, observe(r))).collect())
                    }
                    Cmd::ClosePool => {
                        pool = None;
                        Reply::Done
                    }
                    Cmd::Exit => break,
                };
                if tx.send(reply).is_err() {
                    break;
                }
            }
            // Everything still held is dropped here, on this thread, before
            // its thread cache is torn down.
            drop(held);
            drop(pool);
        });
        Helper {
            commands,
            replies,
            thread: Some(thread),
        }
    }

    pub(super) fn call(&self, cmd: Cmd) -> Reply {
        self.commands.send(cmd).expect("helper thread is alive");
        self.replies.recv().expect("helper thread replied")
    }

    pub(super) fn exit(&mut self) {
        let _ = self.commands.send(Cmd::Exit);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("helper thread did not panic");
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // On a failed check, do not hang or double-panic: just let it go.
        let _ = self.commands.send(Cmd::Exit);
    }
}
