//! [`Transport`] and the task that drives a [`Protocol`]: asyncio's low-level API
//! ([`create_server`], [`create_connection`]).
//!
//! Each connection has one task. It calls `connection_made`, then reads (into one 64 KiB
//! buffer reused for the connection's life) and calls `data_received` with what arrived,
//! until end of stream (`eof_received`), an error, or a `close` from the protocol. Writes go
//! through the same write queue as the streams' (`write_queue.rs`): sent at once when the
//! kernel takes them, otherwise buffered and flushed in the background.
//!
//! `pause_reading` is a flag the reading task checks before each read: while it is set the
//! task stops reading, the kernel's receive buffer fills, and TCP's window tells the peer to
//! stop sending: back-pressure all the way to the other end.
//!
//! The end of a connection: the task waits until the write queue has sent everything and
//! closed (or failed), then calls `connection_lost` exactly once.

use super::conn::{Conn, PeerAddr};
use super::write_queue::WriteQueue;
use super::{Protocol, Server, TcpStream};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// A connection as the protocol sees it (asyncio's `Transport`). Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    queue: Arc<WriteQueue>,
    ctl: Arc<ReadControl>,
}

/// The reading task's switches: paused, closing; and its waker, to notice them.
#[derive(Default)]
struct ReadControl {
    paused: AtomicBool,
    closing: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ReadControl {
    fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Transport {
    /// Queues `data`; never blocks (see [`get_write_buffer_size`](Transport::get_write_buffer_size)).
    pub fn write(&self, data: &[u8]) {
        self.queue.write(data);
    }

    /// Queues each buffer in order.
    pub fn writelines<I: IntoIterator<Item = B>, B: AsRef<[u8]>>(&self, lines: I) {
        for line in lines {
            self.queue.write(line.as_ref());
        }
    }

    /// Half-closes once the buffered bytes are sent.
    pub fn write_eof(&self) {
        self.queue.write_eof();
    }

    /// Always `true` for stream sockets.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes after the buffered bytes are sent; `connection_lost(None)` follows.
    pub fn close(&self) {
        self.queue.close();
        self.ctl.closing.store(true, Ordering::Release);
        self.ctl.wake();
    }

    /// Closes now, discarding buffered bytes; `connection_lost(None)` follows, as in asyncio.
    pub fn abort(&self) {
        self.queue.abort();
        self.ctl.closing.store(true, Ordering::Release);
        self.ctl.wake();
    }

    /// Whether `close` or `abort` was called.
    pub fn is_closing(&self) -> bool {
        self.ctl.closing.load(Ordering::Acquire) || self.queue.is_closing()
    }

    /// Stops calling `data_received` until [`resume_reading`](Transport::resume_reading).
    pub fn pause_reading(&self) {
        self.ctl.paused.store(true, Ordering::Release);
    }

    /// Resumes reading.
    pub fn resume_reading(&self) {
        self.ctl.paused.store(false, Ordering::Release);
        self.ctl.wake();
    }

    /// Whether reading is on (not paused).
    pub fn is_reading(&self) -> bool {
        !self.ctl.paused.load(Ordering::Acquire)
    }

    /// Bytes written and not yet sent.
    pub fn get_write_buffer_size(&self) -> usize {
        self.queue.buffer_size()
    }

    /// The write-buffer water marks; `low > high` is an `InvalidInput` error.
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.queue.set_limits(high, low)
    }

    /// The peer's address (asyncio's `get_extra_info('peername')`).
    pub fn peer_addr(&self) -> io::Result<PeerAddr> {
        self.queue.conn().peer_name()
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("closing", &self.is_closing())
            .field("reading", &self.is_reading())
            .field("write_buffer", &self.get_write_buffer_size())
            .finish()
    }
}

/// Calls `connection_made` now, and spawns the task that reads for `protocol`.
fn attach<P: Protocol>(conn: Arc<dyn Conn>, protocol: Arc<Mutex<P>>) -> io::Result<Transport> {
    let transport = Transport {
        queue: WriteQueue::new(conn.clone()),
        ctl: Arc::default(),
    };
    lock(&protocol).connection_made(transport.clone());
    let t = transport.clone();
    let _detached = crate::try_create_task(drive(conn, protocol, t)).map_err(io::Error::other)?;
    Ok(transport)
}

fn lock<P>(p: &Mutex<P>) -> std::sync::MutexGuard<'_, P> {
    p.lock().unwrap_or_else(|p| p.into_inner())
}

enum Step {
    Closing,
    Read(io::Result<usize>),
}

/// The connection's task: read, call back, and finish with `connection_lost`.
async fn drive<P: Protocol>(conn: Arc<dyn Conn>, protocol: Arc<Mutex<P>>, transport: Transport) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut eof = false;
    let ctl = transport.ctl.clone();
    let error = loop {
        let step = std::future::poll_fn(|cx| {
            *ctl.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            if ctl.closing.load(Ordering::Acquire) {
                return Poll::Ready(Step::Closing);
            }
            if eof || ctl.paused.load(Ordering::Acquire) {
                // Woken by resume_reading or close.
                return Poll::Pending;
            }
            conn.poll_read(cx, &mut buf).map(Step::Read)
        })
        .await;
        match step {
            Step::Closing => break None,
            Step::Read(Ok(0)) => {
                eof = true;
                if !lock(&protocol).eof_received() {
                    transport.close();
                }
            }
            Step::Read(Ok(n)) => lock(&protocol).data_received(&buf[..n]),
            Step::Read(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Step::Read(Err(e)) => {
                transport.queue.abort();
                break Some(e);
            }
        }
    };
    // Everything written is sent (or failed) before the protocol hears the end.
    std::future::poll_fn(|cx| transport.queue.poll_closed(cx)).await;
    let error = error.or_else(|| {
        // A write error that came first (a reset noticed while sending) is the cause.
        std::future::poll_fn(|cx| transport.queue.poll_drain(cx))
            .now_or_never()
            .and_then(|r| r.err())
            .filter(|e| e.kind() != io::ErrorKind::ConnectionAborted || !transport.is_closing())
    });
    lock(&protocol).connection_lost(error);
}

/// Polls a future once (the drain check above never waits: the queue is closed).
trait NowOrNever: std::future::Future + Sized {
    fn now_or_never(self) -> Option<Self::Output> {
        let waker = Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut fut = std::pin::pin!(self);
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
}

impl<F: std::future::Future> NowOrNever for F {}

/// Listens on `host:port` and drives a new protocol from `factory` on every connection
/// (asyncio's `loop.create_server(protocol_factory, host, port)`).
pub async fn create_server<P, F>(factory: F, host: &str, port: u16) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    let listeners = crate::streams::bind_all(host, port).await?;
    Server::start(listeners, move |stream: TcpStream, _peer| {
        // Only fails when the runtime shuts down; the connection is then dropped.
        let _ = attach(Arc::new(stream), Arc::new(Mutex::new(factory())));
    })
}

/// Connects to `host:port` and drives `factory()`'s protocol on the connection (asyncio's
/// `loop.create_connection`). `connection_made` has been called when this returns.
pub async fn create_connection<P, F>(
    factory: F,
    host: &str,
    port: u16,
) -> io::Result<(Transport, Arc<Mutex<P>>)>
where
    P: Protocol,
    F: FnOnce() -> P,
{
    let stream = TcpStream::connect((host, port)).await?;
    let protocol = Arc::new(Mutex::new(factory()));
    let transport = attach(Arc::new(stream), protocol.clone())?;
    Ok((transport, protocol))
}
