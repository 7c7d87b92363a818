//! `SharedStream`: a stream socket owned through an `Arc<OwnedFd>`, usable as a `std` stream;
//! and `UringStream`, the completion-path read and write state of such a socket.
//!
//! io_uring operations own the descriptor they work on (`Op` takes an `Arc<OwnedFd>`), so
//! that closing the stream cannot recycle the descriptor number under an operation still in
//! the kernel. The stream and its in-flight operations therefore share one `Arc`; the socket
//! closes when the last of them lets go. The `std` stream here (`std::net::TcpStream` or
//! `std::os::unix::net::UnixStream`) is only a *view* of that descriptor (never dropped, so it
//! never closes it), giving us `std`'s socket methods without a second descriptor.

use super::uring_read::UringReader;
use super::uring_write::UringWriter;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// A stream socket whose descriptor is shared with in-flight operations.
pub(crate) struct SharedStream<S> {
    fd: Arc<OwnedFd>,
    /// A non-owning view of `fd` (ManuallyDrop: dropping it would close `fd`).
    view: ManuallyDrop<S>,
}

impl<S: FromRawFd + From<OwnedFd>> SharedStream<S>
where
    OwnedFd: From<S>,
{
    pub(crate) fn new(stream: S) -> SharedStream<S> {
        let fd = Arc::new(OwnedFd::from(stream));
        // SAFETY: `fd` is open and stays open while `self.fd` holds it, which outlives the
        // view; the view is never dropped, so it never closes the descriptor it borrows.
        let view = ManuallyDrop::new(unsafe { S::from_raw_fd(fd.as_raw_fd()) });
        SharedStream { fd, view }
    }

    /// The shared descriptor, for an operation to hold.
    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    /// The `std` stream back; if operations still hold the descriptor, a duplicate.
    pub(crate) fn into_std(self) -> io::Result<S> {
        let owned = match Arc::try_unwrap(self.fd) {
            Ok(fd) => fd,
            Err(shared) => shared.try_clone()?,
        };
        Ok(S::from(owned))
    }
}

impl<S> Deref for SharedStream<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.view
    }
}

impl<S> Read for &SharedStream<S>
where
    for<'a> &'a S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.view).read(buf)
    }
}

impl<S> Write for &SharedStream<S>
where
    for<'a> &'a S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.view).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self.view).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S> AsRawFd for SharedStream<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl<S> AsFd for SharedStream<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A stream socket's io_uring completion path: receives and sends into runtime-owned buffers
/// (`uring_read.rs`, `uring_write.rs`).
pub(crate) struct UringStream {
    pub(crate) reader: UringReader,
    pub(crate) writer: UringWriter,
}

/// Whether the current runtime (if any) runs on io_uring, where sockets take the completion
/// path.
pub(crate) fn uring_backend() -> bool {
    matches!(crate::Handle::try_current(), Some(h) if h.backend() == ringloop_reactor::Backend::IoUring)
}

impl UringStream {
    /// The completion path for `fd` when the current runtime runs on io_uring; `None` on
    /// epoll (readiness) or outside a runtime.
    pub(crate) fn for_current(fd: &Arc<OwnedFd>) -> Option<UringStream> {
        uring_backend().then(|| UringStream {
            reader: UringReader::new(fd.clone()),
            writer: UringWriter::new(fd.clone()),
        })
    }
}
