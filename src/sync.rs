//! The one place that chooses synchronisation primitives.
//!
//! Normal builds use `std`, `parking_lot` and `crossbeam-utils`; builds with
//! `RUSTFLAGS="--cfg loom"` use [`loom`]'s checked versions, so every place
//! where threads meet is explored by the loom models. No other module imports
//! `std::sync`, `std::thread_local!`, `std::alloc` or `std::cell::UnsafeCell`.

pub(crate) use crossbeam_utils::CachePadded;

#[cfg(not(loom))]
pub(crate) use self::std_impl::*;

#[cfg(loom)]
pub(crate) use self::loom_impl::*;

/// A process-wide mutex for registries that outlive any single pool (and,
/// under loom, any single model execution). Critical sections guarded by it
/// never block on anything else, so it cannot deadlock a loom model.
#[cfg(not(miri))]
pub(crate) type StaticMutex<T> = parking_lot::Mutex<T>;
#[cfg(miri)]
pub(crate) type StaticMutex<T> = self::std_impl::StdMutex<T>;

/// Declares a thread-local with a constant initialiser and no destructor:
/// `const`-initialised under `std`, so reading it is a plain thread-local
/// load with no lazy-initialisation check; lazily initialised under loom,
/// whose `thread_local!` has no `const` form.
macro_rules! const_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        std::thread_local! {
            $(#[$attr])* static $name: $t = const { $init };
        }
        #[cfg(loom)]
        loom::thread_local! {
            $(#[$attr])* static $name: $t = $init;
        }
    };
}
pub(crate) use const_thread_local;

/// Asymmetric fences: a pair of [`light`](asymmetric::light) (on a hot
/// path) and [`heavy`](asymmetric::heavy) (on a rare one) orders memory as a
/// pair of `SeqCst` fences would, while the light half costs no
/// instruction. The heavy half makes every running thread of the process
/// execute a full barrier (Linux's `membarrier`); a thread that is not
/// running passed through one when it was switched out.
///
/// This is the pattern of the store-buffering litmus test: thread A stores
/// `x`, fences, loads `y`; thread B stores `y`, fences, loads `x`. With one
/// fence light and the other heavy, as with two `SeqCst` fences, at least
/// one of the loads sees the other thread's store. The thread caches use
/// it so that a trim on any thread can take idle blocks from a parked
/// thread's cache while the owner's get and return stay free of locks and
/// read-modify-writes (see `thread_cache`).
///
/// Under Miri both halves are `SeqCst` fences, which Miri models. Under
/// loom a model chooses ([`HandshakeModel`](asymmetric::HandshakeModel)):
/// by default the owner's half of the handshake is skipped and the heavy
/// fence reports that it cannot be issued, so trims only ask (a trim that
/// cannot fence never touches another thread's stacks, and three more
/// atomic operations per get and return would multiply the interleavings
/// of every model); the models of the handshake run it with the light half
/// a no-op (what it is for the CPU) and the heavy half unavailable, or
/// with both halves `SeqCst` fences. Only those models get the fences:
/// loom orders its `SeqCst` fences globally, which would also order every
/// store after a light fence and hide the other models' missing
/// `Release`s. Elsewhere than Linux (and on a Linux whose kernel refuses
/// `membarrier`), [`heavy`](asymmetric::heavy) reports that it cannot issue
/// the barrier, and callers fall back to asking the owner.
pub(crate) mod asymmetric {
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
                if supported & CMD_PRIVATE_EXPEDITED != 0
                    && call(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
                {
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
}

#[cfg(not(loom))]
mod std_impl {
    /// For regions on the heap (see `region`): elsewhere than Linux and
    /// under Miri.
    #[cfg(any(miri, not(any(target_os = "linux", target_os = "android"))))]
    pub(crate) use std::alloc::alloc_zeroed;
    pub(crate) use std::alloc::{alloc, dealloc};
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Arc, OnceLock};
    pub(crate) use std::thread_local;

    /// `parking_lot::Mutex`, whose `lock` cannot be poisoned.
    #[cfg(not(miri))]
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    /// Under Miri, `std`'s mutex: `parking_lot` casts integers to pointers
    /// when a lock is contended, which `-Zmiri-strict-provenance` rejects.
    #[cfg(miri)]
    pub(crate) type Mutex<T> = StdMutex<T>;

    /// `std::sync::Mutex` behind `parking_lot`'s API (no poisoning).
    #[cfg(miri)]
    #[derive(Debug)]
    pub(crate) struct StdMutex<T>(std::sync::Mutex<T>);

    #[cfg(miri)]
    impl<T> StdMutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }

    /// `std::cell::UnsafeCell` with loom's closure-based access API, so every
    /// access goes through one checked path in both builds.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
mod loom_impl {
    pub(crate) use loom::alloc::{alloc, alloc_zeroed, dealloc};
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::thread_local;

    /// loom's mutex behind `parking_lot`'s API (no poisoning).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}
