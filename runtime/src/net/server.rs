//! [`Server`]: listening sockets with their accept loops (asyncio's `Server` object, returned
//! by both [`start_server`](crate::streams::start_server) and [`create_server`]).
//!
//! # The accept loop, and descriptor exhaustion
//!
//! Each listening socket gets one task that accepts and hands every connection to the
//! server's handler. When the process is out of descriptors, `accept(2)` fails with `EMFILE`
//! (or `ENFILE`, `ENOBUFS`, `ENOMEM`) and leaves the connection in the backlog, so the socket
//! is *still readable*: retrying at once is a 100% CPU spin (tokio #3529), and giving up
//! kills the server (tokio #4782 discusses both). The loop here does neither: it sleeps, 1 ms
//! at first and doubling up to 100 ms, while the other tasks keep running; a successful
//! accept resets the delay. Errors that concern one connection only (`ECONNABORTED`: the
//! client gave up while queued) are skipped at once.
//!
//! [`create_server`]: crate::net::create_server

use super::TcpListener;
use crate::sync::Event;
use crate::task::Task;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BACKOFF_START: Duration = Duration::from_millis(1);
const BACKOFF_MAX: Duration = Duration::from_millis(100);

/// Listening sockets and their accept loops. Cloning gives another handle to the same server.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    addrs: Vec<SocketAddr>,
    loops: Mutex<Vec<Task<()>>>,
    closed: Event,
}

impl Server {
    /// Starts one accept loop per listener; `on_accept` is called (on the accepting task) with
    /// every new connection.
    pub(crate) fn start<F>(listeners: Vec<TcpListener>, on_accept: F) -> io::Result<Server>
    where
        F: Fn(super::TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        let on_accept = Arc::new(on_accept);
        let mut addrs = Vec::new();
        let mut loops = Vec::new();
        for listener in listeners {
            addrs.push(listener.local_addr()?);
            let on_accept = on_accept.clone();
            let task = crate::try_create_task(accept_loop(listener, move |s, a| on_accept(s, a)))
                .map_err(io::Error::other)?;
            loops.push(task);
        }
        Ok(Server {
            inner: Arc::new(Inner {
                addrs,
                loops: Mutex::new(loops),
                closed: Event::new(),
            }),
        })
    }

    /// The addresses the server listens on (asyncio's `[s.getsockname() for s in
    /// server.sockets]`).
    pub fn sockets(&self) -> Vec<SocketAddr> {
        self.inner.addrs.clone()
    }

    /// Whether the server still accepts connections.
    pub fn is_serving(&self) -> bool {
        !self.inner.closed.is_set()
    }

    /// Stops accepting: the accept loops are cancelled and the listening sockets closed.
    /// Connections already accepted are not touched (asyncio's `Server.close`).
    pub fn close(&self) {
        let loops =
            std::mem::take(&mut *self.inner.loops.lock().unwrap_or_else(|p| p.into_inner()));
        for task in &loops {
            task.cancel();
        }
        self.inner.closed.set();
    }

    /// Waits until the server is closed and its listening sockets are released.
    pub async fn wait_closed(&self) {
        self.inner.closed.wait().await;
    }

    /// Serves until the server is closed (by [`close`](Server::close) from elsewhere), or
    /// until this future is cancelled, which closes the server (asyncio's `serve_forever`).
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Server);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _guard = CloseOnDrop(self);
        self.inner.closed.wait().await;
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.inner.addrs)
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// Whether an accept error means "out of a resource; wait before trying again".
fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts forever; backs off on exhaustion instead of spinning or failing.
pub(crate) async fn accept_loop<F>(listener: TcpListener, on_accept: F)
where
    F: Fn(super::TcpStream, SocketAddr) + Send + Sync + 'static,
{
    let mut backoff = BACKOFF_START;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = BACKOFF_START;
                on_accept(stream, peer);
            }
            Err(e) if is_exhaustion(&e) => {
                crate::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            // ECONNABORTED, EPROTO, EPERM (a firewall): this connection only.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ECONNABORTED | libc::EPROTO | libc::EPERM | libc::EINTR)
                ) => {}
            // Anything else is unexpected on a healthy listener; never spin on it.
            Err(_) => {
                crate::sleep(BACKOFF_MAX).await;
            }
        }
    }
}
