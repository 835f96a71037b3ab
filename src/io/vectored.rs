//! [`ReadVectored`]: readers that fill several pooled blocks with one
//! system call (tokio's TCP and Unix stream sockets and their halves).

use std::io;
use std::mem::MaybeUninit;
use std::task::{Context, Poll};

use tokio::io::AsyncRead;

/// A reader that can fill several buffers with one system call: tokio's
/// TCP and Unix stream sockets and their halves (owned or borrowed).
///
/// [`FrameReader::vectored_reads`](crate::io::FrameReader::vectored_reads)
/// takes such a reader: inside a long frame it then reads into several
/// blocks at once (one `readv`), where a plain [`AsyncRead`] fills one
/// block per system call. tokio's `AsyncRead` has no vectored read, hence
/// this trait. It is sealed: the crate implements it for the socket types
/// listed below. Off Linux and Android, their reads fill one block at a
/// time.
///
/// # Examples
///
/// ```
/// fn vectored<R: tierpool::io::ReadVectored>() {}
/// vectored::<tokio::net::tcp::OwnedReadHalf>();
/// vectored::<tokio::net::UnixStream>();
/// ```
pub trait ReadVectored: AsyncRead + Unpin + sealed::Sealed {}

pub(crate) mod sealed {
    use super::{io, Context, MaybeUninit, Poll};

    /// The read behind [`ReadVectored`](super::ReadVectored), out of
    /// users' reach.
    pub trait Sealed {
        /// Reads into `bufs` in order, as one `readv`: returns how many
        /// bytes it wrote, the first `n` bytes of the buffers taken in
        /// order, now initialised. `Ok(0)` is the end of the stream.
        fn poll_read_spare(
            &mut self,
            cx: &mut Context<'_>,
            bufs: &mut [&mut [MaybeUninit<u8>]],
        ) -> Poll<io::Result<usize>>;
    }
}

/// Implements [`ReadVectored`] for socket types whose `as_ref()` is the
/// stream `$stream` (tokio's `TcpStream` or `UnixStream`).
#[cfg(not(loom))]
macro_rules! socket_reads {
    ($stream:ty: $($reader:ty),+ $(,)?) => {$(
        impl sealed::Sealed for $reader {
            fn poll_read_spare(
                &mut self,
                cx: &mut Context<'_>,
                bufs: &mut [&mut [MaybeUninit<u8>]],
            ) -> Poll<io::Result<usize>> {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                {
                    let stream: &$stream = self.as_ref();
                    poll_readv(stream, cx, bufs)
                }
                #[cfg(not(any(target_os = "linux", target_os = "android")))]
                {
                    poll_read_first(self, cx, bufs)
                }
            }
        }

        impl ReadVectored for $reader {}
    )+};
}

// tokio has no `net` under loom.
#[cfg(not(loom))]
socket_reads!(tokio::net::TcpStream:
    tokio::net::TcpStream,
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::ReadHalf<'_>,
);

#[cfg(all(unix, not(loom)))]
socket_reads!(tokio::net::UnixStream:
    tokio::net::UnixStream,
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::ReadHalf<'_>,
);

/// A tokio stream socket's readiness and its file descriptor: what a
/// `readv` on it needs.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(loom)))]
trait Socket {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn try_read_io(&self, read: impl FnOnce() -> io::Result<usize>) -> io::Result<usize>;
    fn fd(&self) -> std::os::fd::RawFd;
}

#[cfg(all(any(target_os = "linux", target_os = "android"), not(loom)))]
macro_rules! socket {
    ($($stream:ty),+) => {$(
        impl Socket for $stream {
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$stream>::poll_read_ready(self, cx)
            }

            fn try_read_io(&self, read: impl FnOnce() -> io::Result<usize>) -> io::Result<usize> {
                self.try_io(tokio::io::Interest::READABLE, read)
            }

            fn fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self)
            }
        }
    )+};
}

#[cfg(all(any(target_os = "linux", target_os = "android"), not(loom)))]
socket!(tokio::net::TcpStream, tokio::net::UnixStream);

/// The most buffers one read fills.
pub(crate) const MAX_READ_BUFFERS: usize = 16;

/// One `readv` into `bufs` once `socket` is readable.
///
/// As tokio's own `poll_read` does on epoll, a read that fills less than
/// it was given shows that the socket is drained, and clears its
/// readiness with the readiness event seen before the read (an event that
/// came after it is kept): the next poll waits for data instead of making
/// a system call that would find none.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(loom)))]
fn poll_readv(
    socket: &impl Socket,
    cx: &mut Context<'_>,
    bufs: &mut [&mut [MaybeUninit<u8>]],
) -> Poll<io::Result<usize>> {
    let given = bufs.len().min(MAX_READ_BUFFERS);
    let bufs = &mut bufs[..given];
    let mut iovecs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_READ_BUFFERS];
    for (iovec, buf) in iovecs.iter_mut().zip(bufs.iter_mut()) {
        iovec.iov_base = buf.as_mut_ptr().cast();
        iovec.iov_len = buf.len();
    }
    let iovecs = &iovecs[..bufs.len()];
    let wanted: usize = bufs.iter().map(|buf| buf.len()).sum();
    loop {
        std::task::ready!(socket.poll_read_ready(cx))?;
        let mut drained = None;
        let read = socket.try_read_io(|| {
            // SAFETY: each iovec points into one of `bufs`, borrowed
            // mutably for this whole function, with that buffer's length;
            // the kernel only writes into them (uninitialised memory is
            // fine to write), and `readv` returns how many bytes it wrote,
            // in order. `iovecs.len()` is at most MAX_READ_BUFFERS (16),
            // far below IOV_MAX.
            let read =
                unsafe { libc::readv(socket.fd(), iovecs.as_ptr(), iovecs.len() as libc::c_int) };
            let read = usize::try_from(read).map_err(|_| io::Error::last_os_error())?;
            if 0 < read && read < wanted {
                // Drained: report "would block" to tokio so that it
                // clears the readiness seen before this read.
                drained = Some(read);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(read)
        });
        match read {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if let Some(read) = drained {
                    return Poll::Ready(Ok(read));
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            read => return Poll::Ready(read),
        }
    }
}

/// Off Linux and Android: the reader's own `poll_read`, into the first
/// buffer.
#[cfg(all(not(any(target_os = "linux", target_os = "android")), not(loom)))]
fn poll_read_first<R: AsyncRead + Unpin>(
    reader: &mut R,
    cx: &mut Context<'_>,
    bufs: &mut [&mut [MaybeUninit<u8>]],
) -> Poll<io::Result<usize>> {
    let Some(first) = bufs.first_mut() else {
        return Poll::Ready(Ok(0));
    };
    let mut buf = tokio::io::ReadBuf::uninit(first);
    std::task::ready!(std::pin::Pin::new(reader).poll_read(cx, &mut buf))?;
    Poll::Ready(Ok(buf.filled().len()))
}
