//! `SharedStream`: a TCP socket owned through an `Arc<OwnedFd>`, usable as a `std` stream.
//!
//! io_uring operations own the descriptor they work on (`Op` takes an `Arc<OwnedFd>`), so
//! that closing the stream cannot recycle the descriptor number under an operation still in
//! the kernel. The stream and its in-flight receives therefore share one `Arc`; the socket
//! closes when the last of them lets go. The `std::net::TcpStream` here is only a *view* of
//! that descriptor (never dropped, so it never closes it), giving us `std`'s socket methods
//! without a second descriptor.

use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// A TCP stream whose descriptor is shared with in-flight operations.
pub(crate) struct SharedStream {
    fd: Arc<OwnedFd>,
    /// A non-owning view of `fd` (ManuallyDrop: dropping it would close `fd`).
    view: ManuallyDrop<std::net::TcpStream>,
}

impl SharedStream {
    pub(crate) fn new(stream: std::net::TcpStream) -> SharedStream {
        let fd = Arc::new(OwnedFd::from(stream));
        // SAFETY: `fd` is open and stays open while `self.fd` holds it, which outlives the
        // view; the view is never dropped, so it never closes the descriptor it borrows.
        let view = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd.as_raw_fd()) });
        SharedStream { fd, view }
    }

    /// The shared descriptor, for an operation to hold.
    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    /// The `std` stream back; if operations still hold the descriptor, a duplicate.
    pub(crate) fn into_std(self) -> io::Result<std::net::TcpStream> {
        let owned = match Arc::try_unwrap(self.fd) {
            Ok(fd) => fd,
            Err(shared) => shared.try_clone()?,
        };
        Ok(std::net::TcpStream::from(owned))
    }
}

impl Deref for SharedStream {
    type Target = std::net::TcpStream;

    fn deref(&self) -> &std::net::TcpStream {
        &self.view
    }
}

impl Read for &SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.view).read(buf)
    }
}

impl Write for &SharedStream {
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

impl AsRawFd for SharedStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for SharedStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
