//! io_uring integrations (Linux only): the pool's regions registered as
//! fixed buffers ([`Registration`], [`Fixed`]), provided buffer rings fed
//! from the pool ([`ProvidedBuffers`]), and, with the `tokio-uring`
//! feature, pooled buffers and views as tokio-uring's `IoBuf`/`IoBufMut`.
//!
//! With the `io-uring` feature, registration is
//! [`Pool::register_regions`](crate::Pool::register_regions) and provided
//! rings are [`Pool::provide_buffers`](crate::Pool::provide_buffers); the
//! types they return live here.
//!
//! `provided` and `provided_errors` name each other: the ring returns the
//! errors, and the errors name the ring's limit (`MAX_PROVIDED_ENTRIES`)
//! and link to its methods. They are one concept kept in two files for
//! length.

#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub(crate) mod fixed;
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub(crate) mod provided;
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub(crate) mod provided_errors;
#[cfg(all(feature = "tokio-uring", target_os = "linux"))]
mod tokio_uring;

#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub use self::fixed::{Fixed, RegisterError, Registration, Unregistered, MAX_FIXED_BUFFERS};
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub use self::provided::{ProvidedBuffers, MAX_PROVIDED_ENTRIES};
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub use self::provided_errors::{ProvideError, TakeError};
