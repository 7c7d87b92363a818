//! The byte-stream surface shared by [`TcpStream`](super::TcpStream) and
//! [`UnixStream`](super::UnixStream): async `read`/`write`, `try_*`, and the futures-io traits.
//!
//! Both types wrap an [`Async`](crate::io::Async) around the `std` socket, whose `Read` and
//! `Write` impls work on `&T`. Every method is "try the syscall; on `WouldBlock` wait for the
//! next edge and try again" (the edge-triggered contract is in `io/registration.rs`): an epoll
//! wake-up is followed by reads until `WouldBlock`, because no second edge comes otherwise.
//! On TCP a read that returns fewer bytes than asked for also ends the loop: the socket was
//! drained (tokio's shortcut, which spares one `recv(2)` per message), unless urgent data
//! (`MSG_OOB`) stopped the read with bytes queued behind it, which the descriptor's
//! priority readiness shows (`Registration::clear_after_short`; tokio does not look, and a
//! stream there can stall: test `a_read_stopped_short_by_urgent_data_still_gets_the_rest`).
//! Unix streams keep reading until `WouldBlock`: a read there also stops early where the
//! queued data changes sender credentials or carries descriptors, with no bit to show it.
//! The futures-io traits are implemented for the type and for `&Type`, so one task can read
//! while another writes through a shared reference (or an `Arc`).
//!
//! On the io_uring backend reads and writes take the completion path instead
//! (`uring_read.rs`, `uring_write.rs`); the type's `uring()` says which.

/// Implements the stream methods and traits for `$ty`, which has a field `io: Async<$std>`.
/// `tcp`: whether `$ty` is a TCP stream, whose reads take the short-read shortcut (above).
macro_rules! stream_io {
    ($ty:ident, tcp = $tcp:literal) => {
        impl $ty {
            /// Reads into `buf`; `Ok(0)` is end of stream (the peer shut its write side).
            ///
            /// On the io_uring backend a read is a completion-based receive into a
            /// runtime-owned buffer; dropping this future cancels it, and any bytes it still
            /// received are returned by the next read (`net/uring_read.rs`).
            pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                if let Some(uring) = self.uring() {
                    return uring.reader.read(buf).await;
                }
                std::future::poll_fn(|cx| self.poll_read_priv(cx, buf)).await
            }

            /// Writes some of `buf` and returns how much (a short write is not an error).
            ///
            /// On the io_uring backend this is a completion-based send of a copy of `buf` (at
            /// most 256 KiB). Dropping this future cancels the send; how many of its bytes
            /// still went is returned by the next write, which then sends nothing: retry
            /// with the same bytes and nothing is lost or sent twice (`net/uring_write.rs`).
            pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
                if let Some(uring) = self.uring() {
                    return uring.writer.write(buf).await;
                }
                std::future::poll_fn(|cx| self.poll_write_priv(cx, buf)).await
            }

            /// Writes all of `buf`, waiting for buffer space as needed.
            pub async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    let n = self.write(buf).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::WriteZero.into());
                    }
                    buf = &buf[n..];
                }
                Ok(())
            }

            /// Writes from several buffers in one `writev(2)` (a vectored, gathering write; on
            /// io_uring one send of the buffers concatenated, as [`write`](Self::write)).
            pub async fn write_vectored(
                &self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                if let Some(uring) = self.uring() {
                    return uring.writer.write_vectored(bufs).await;
                }
                std::future::poll_fn(|cx| self.poll_write_vectored_priv(cx, bufs)).await
            }

            /// One non-blocking read, without waiting: `WouldBlock` if nothing is there (then
            /// [`readable`](Self::readable) waits for more). On io_uring, the bytes the
            /// stream's receive already took; if none, the receive is armed.
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                use std::io::Read;
                let direct = |buf: &mut [u8]| {
                    self.io
                        .try_with($crate::io::Direction::Read, |mut s| s.read(buf))
                };
                if let Some(uring) = self.uring() {
                    return uring.reader.try_read(buf, direct);
                }
                direct(buf)
            }

            /// One non-blocking write, without waiting: `WouldBlock` if the buffer is full
            /// (on io_uring also while a send is in flight; and a dropped write's count is
            /// returned first, as by [`write`](Self::write)).
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                use std::io::Write;
                let direct = || {
                    self.io
                        .try_with($crate::io::Direction::Write, |mut s| s.write(buf))
                };
                if let Some(uring) = self.uring() {
                    return uring.writer.try_write(direct);
                }
                direct()
            }

            /// Waits until a read would not block (data, end of stream or an error). On
            /// io_uring: until the stream's receive has bytes (or the end, or an error) for
            /// [`try_read`](Self::try_read).
            pub async fn readable(&self) {
                if let Some(uring) = self.uring() {
                    if std::future::poll_fn(|cx| uring.reader.poll_readable(cx)).await {
                        return;
                    }
                }
                self.io.readable().await
            }

            /// Waits until a write would not block (on io_uring: no send in flight, then
            /// writable).
            pub async fn writable(&self) {
                if let Some(uring) = self.uring() {
                    uring.writer.idle().await;
                }
                self.io.writable().await
            }

            /// Shuts down one direction (or both). `Shutdown::Write` is the half-close: the
            /// peer reads end of stream, and this side can still read what the peer sends.
            ///
            /// On io_uring, a write-side shutdown asked for while a send is in flight is done
            /// right after that send completes (never before: no byte handed over is cut),
            /// and `Ok` is returned at once.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                if let Some(uring) = self.uring() {
                    return uring.writer.shutdown(how);
                }
                self.io.get_ref().shutdown(how)
            }

            /// The pending socket error (`SO_ERROR`), if any; reading it clears it.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.io.get_ref().take_error()
            }

            pub(crate) fn poll_read_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Read;
                if let Some(uring) = self.uring() {
                    return uring.reader.poll_read(cx, buf);
                }
                if $tcp {
                    let len = buf.len();
                    return self.io.poll_tcp_read(cx, len, |mut s| s.read(buf));
                }
                self.io
                    .poll_with(cx, $crate::io::Direction::Read, |mut s| s.read(buf))
            }

            pub(crate) fn poll_write_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Write;
                if let Some(uring) = self.uring() {
                    return uring.writer.poll_write(cx, buf);
                }
                self.io
                    .poll_with(cx, $crate::io::Direction::Write, |mut s| s.write(buf))
            }

            pub(crate) fn poll_write_vectored_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Write;
                if let Some(uring) = self.uring() {
                    return uring.writer.poll_write_vectored(cx, bufs);
                }
                self.io
                    .poll_with(cx, $crate::io::Direction::Write, |mut s| {
                        s.write_vectored(bufs)
                    })
            }

            /// Ready when everything written has been handed to the kernel (on io_uring:
            /// no send in flight; on epoll at once).
            pub(crate) fn poll_flush_priv(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.uring() {
                    Some(uring) => uring.writer.poll_idle(cx).map(Ok),
                    None => std::task::Poll::Ready(Ok(())),
                }
            }
        }

        impl futures_io::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_priv(cx, buf)
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_priv(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_vectored_priv(cx, bufs)
            }

            /// Nothing to flush on epoll: writes go straight to the kernel. On io_uring,
            /// waits for the send in flight.
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.poll_flush_priv(cx)
            }

            /// Shuts down the write direction (the peer reads end of stream), after the send
            /// in flight on io_uring.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                if self.poll_flush_priv(cx)?.is_pending() {
                    return std::task::Poll::Pending;
                }
                std::task::Poll::Ready(match self.shutdown(std::net::Shutdown::Write) {
                    // Already shut or reset by the peer: closing is done either way.
                    Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
                    r => r,
                })
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let mut this: &$ty = &*self;
                std::pin::Pin::new(&mut this).poll_flush(cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let mut this: &$ty = &*self;
                std::pin::Pin::new(&mut this).poll_close(cx)
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.get_ref().as_fd()
            }
        }
    };
}

pub(crate) use stream_io;
