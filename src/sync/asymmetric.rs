//! Asymmetric fences: a pair of [`light`](light) (on a hot
//! path) and [`heavy`](heavy) (on a rare one) orders memory as a
//! pair of `SeqCst` fences would, while the light half costs no
//! instruction. The heavy half makes every running thread of the process
//! execute a full barrier (Linux's `membarrier`); a thread that is not
//! running passed through one when it was switched out.
//!
//! This is the pattern of the store-buffering litmus test: thread A stores
//! `x`, fences, loads `y`; thread B stores `y`, fences, loads `x`. With one
//! fence light and the other heavy, as with two `SeqCst` fences, at least
//! one of the loads sees the other thread's store. The thread caches use
//! it so that a trim on any thread can take idle blocks from a parked
//! thread's cache while the owner's get and return stay free of locks and
//! read-modify-writes (see `thread_cache`).
//!
//! Under Miri both halves are `SeqCst` fences, which Miri models. Under
//! loom a model chooses ([`HandshakeModel`](HandshakeModel)):
//! by default the owner's half of the handshake is skipped and the heavy
//! fence reports that it cannot be issued, so trims only ask (a trim that
//! cannot fence never touches another thread's stacks, and three more
//! atomic operations per get and return would multiply the interleavings
//! of every model); the models of the handshake run it with the light half
//! a no-op (what it is for the CPU) and the heavy half unavailable, or
//! with both halves `SeqCst` fences. Only those models get the fences:
//! loom orders its `SeqCst` fences globally, which would also order every
//! store after a light fence and hide the other models' missing
//! `Release`s. Elsewhere than Linux (and on a Linux whose kernel refuses
//! `membarrier`), [`heavy`](heavy) reports that it cannot issue
//! the barrier, and callers fall back to asking the owner.

/// How a loom model runs the handshake of the thread caches.
#[cfg(loom)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandshakeModel {
    /// The owner skips its half; trims only ask (the default).
    Skipped,
    /// The owner runs its half; the heavy fence is unavailable, so
    /// trims only ask, and owners answer.
    Asking,
    /// Both halves are `SeqCst` fences: trims take blocks themselves.
    Fenced,
}

#[cfg(loom)]
std::thread_local! {
    /// The running model's choice (loom runs a model's threads on the
    /// thread that called `model`).
    static MODEL: std::cell::Cell<HandshakeModel> =
        const { std::cell::Cell::new(HandshakeModel::Skipped) };
}

/// Runs the loom models this thread starts in `model` until the
/// returned guard drops.
#[cfg(all(loom, test))]
pub(crate) fn model_handshake(model: HandshakeModel) -> impl Drop {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            MODEL.with(|m| m.set(HandshakeModel::Skipped));
        }
    }
    MODEL.with(|m| m.set(model));
    Reset
}

/// The running loom model's choice.
#[cfg(loom)]
pub(crate) fn handshake_model() -> HandshakeModel {
    MODEL.with(std::cell::Cell::get)
}

/// The hot path's half: a compiler fence (a `SeqCst` fence under Miri
/// and in loom's models of the handshake).
#[inline(always)]
pub(crate) fn light() {
    #[cfg(loom)]
    if handshake_model() == HandshakeModel::Fenced {
        super::fence(super::Ordering::SeqCst);
    }
    #[cfg(miri)]
    super::fence(super::Ordering::SeqCst);
    #[cfg(not(any(loom, miri)))]
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// The rare path's half. Returns `false`, having ordered nothing beyond
/// a `SeqCst` fence, where the system offers no process-wide barrier.
pub(crate) fn heavy() -> bool {
    #[cfg(loom)]
    {
        let fenced = handshake_model() == HandshakeModel::Fenced;
        if fenced {
            super::fence(super::Ordering::SeqCst);
        }
        fenced
    }
    #[cfg(miri)]
    {
        super::fence(super::Ordering::SeqCst);
        true
    }
    #[cfg(all(not(any(loom, miri)), any(target_os = "linux", target_os = "android")))]
    {
        linux::membarrier()
    }
    #[cfg(all(
        not(any(loom, miri)),
        not(any(target_os = "linux", target_os = "android"))
    ))]
    {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        false
    }
}

/// Whether [`heavy`] issues the process-wide barrier on this system.
pub(crate) fn available() -> bool {
    #[cfg(loom)]
    return handshake_model() == HandshakeModel::Fenced;
    #[cfg(miri)]
    return true;
    #[cfg(all(not(any(loom, miri)), any(target_os = "linux", target_os = "android")))]
    return linux::command().is_some();
    #[cfg(all(
        not(any(loom, miri)),
        not(any(target_os = "linux", target_os = "android"))
    ))]
    return false;
}

#[cfg(all(not(any(loom, miri)), any(target_os = "linux", target_os = "android")))]
mod linux {
    use std::sync::OnceLock;

    // The kernel's `enum membarrier_cmd` (linux/membarrier.h); the
    // libc crate has the syscall number but not these.
    const CMD_QUERY: libc::c_long = 0;
    const CMD_GLOBAL: libc::c_long = 1 << 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn call(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` reads and
        // writes no memory of ours; an unknown or refused command
        // returns -1 with errno set.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// The command that makes every running thread of this process
    /// execute a full barrier: the expedited one (microseconds, Linux
    /// 4.14+, after registering once), else the global one (waits for
    /// a scheduler grace period, milliseconds, Linux 4.3+), else none
    /// (an old kernel, or a seccomp filter that refuses the call).
    pub(super) fn command() -> Option<libc::c_long> {
        static COMMAND: OnceLock<Option<libc::c_long>> = OnceLock::new();
        *COMMAND.get_or_init(|| {
            let supported = call(CMD_QUERY);
            if supported < 0 {
                return None;
            }
            if supported & CMD_PRIVATE_EXPEDITED != 0 && call(CMD_REGISTER_PRIVATE_EXPEDITED) == 0 {
                return Some(CMD_PRIVATE_EXPEDITED);
            }
            (supported & CMD_GLOBAL != 0).then_some(CMD_GLOBAL)
        })
    }

    /// Issues the process-wide barrier; `false` if the kernel offers none.
    pub(super) fn membarrier() -> bool {
        // The caller's own half, in case no barrier can be issued.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        command().is_some_and(|cmd| call(cmd) == 0)
    }
}
