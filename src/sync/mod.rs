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

/// std's own types where no loom model needs to see the access, also under
/// loom: pool names shared with metrics labels, the numbering of unnamed
/// pools, a ring's tail shared with the kernel.
/// Importing them from here keeps this module the one place that says
/// which primitives the crate uses.
pub(crate) mod unmodelled {
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    pub(crate) use std::sync::atomic::AtomicU16;
    pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
    pub(crate) use std::sync::Arc;
}

pub(crate) mod asymmetric;

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
