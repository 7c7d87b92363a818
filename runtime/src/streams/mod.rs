//! asyncio's streams: [`open_connection`] and [`start_server`], with [`StreamReader`] and
//! [`StreamWriter`].
//!
//! ```
//! use ringloop::streams::{open_connection, start_server};
//! ringloop::run(async {
//!     // An echo server: every line comes back.
//!     let server = start_server(
//!         |mut reader, writer| async move {
//!             while let Ok(line) = reader.readline().await {
//!                 if line.is_empty() {
//!                     break; // end of stream
//!                 }
//!                 writer.write(&line);
//!                 if writer.drain().await.is_err() {
//!                     break;
//!                 }
//!             }
//!             writer.close();
//!         },
//!         "127.0.0.1",
//!         0,
//!     )
//!     .await
//!     .unwrap();
//!     let port = server.sockets()[0].port();
//!
//!     let (mut reader, writer) = open_connection("127.0.0.1", port).await.unwrap();
//!     writer.write(b"hello\n");
//!     writer.drain().await.unwrap();
//!     assert_eq!(reader.readline().await.unwrap(), b"hello\n");
//!     writer.close();
//!     writer.wait_closed().await;
//!     server.close();
//!     server.wait_closed().await;
//! });
//! ```
//!
//! # How it is built
//!
//! A connection is shared, as `Arc<dyn Conn>`, by its reader and its writer. The reader pulls
//! from the socket when its buffer cannot answer (`reader.rs`). The writer pushes into a write
//! queue that sends at once when it can and otherwise hands the rest to a background task
//! (`net/write_queue.rs`); `drain` is the back-pressure point. The server is the same
//! [`Server`] as the low-level [`create_server`](crate::net::create_server)'s, whose accept
//! loop backs off when the process runs out of descriptors instead of spinning.
//!
//! # Differences from asyncio
//!
//! - Errors are `io::Error`; asyncio's `IncompleteReadError` and `LimitOverrunError` ride
//!   inside them ([`IncompleteReadError::from_io`], [`LimitOverrunError::from_io`]).
//! - `read(-1)` is [`StreamReader::read_to_end`].
//! - The reader reads from the socket only when asked, so a connection nobody reads from
//!   exerts back-pressure on its peer through TCP itself (asyncio pauses its transport at
//!   twice the limit instead).

mod error;
mod reader;
mod writer;

pub use crate::net::Server;
pub use error::{IncompleteReadError, LimitOverrunError};
pub use reader::{StreamReader, DEFAULT_LIMIT};
pub use writer::StreamWriter;

use crate::net::conn::Conn;
use crate::net::write_queue::WriteQueue;
use crate::net::{lookup_host, TcpListener, TcpStream, UnixStream};
use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Splits a connection into asyncio's reader and writer pair.
fn pair(conn: Arc<dyn Conn>, limit: usize) -> (StreamReader, StreamWriter) {
    let queue = WriteQueue::new(conn.clone());
    (StreamReader::new(conn, limit), StreamWriter::new(queue))
}

/// Wraps a connected TCP stream as a reader and a writer (the default 64 KiB limit).
pub fn from_tcp(stream: TcpStream) -> (StreamReader, StreamWriter) {
    pair(Arc::new(stream), DEFAULT_LIMIT)
}

/// Like [`from_tcp`], with a reader buffer limit other than 64 KiB.
pub fn from_tcp_with_limit(stream: TcpStream, limit: usize) -> (StreamReader, StreamWriter) {
    pair(Arc::new(stream), limit)
}

/// Wraps a connected Unix-domain stream as a reader and a writer.
pub fn from_unix(stream: UnixStream) -> (StreamReader, StreamWriter) {
    pair(Arc::new(stream), DEFAULT_LIMIT)
}

/// Connects to `host:port` (a name is resolved off the worker) and returns the reader and
/// writer (asyncio's `open_connection`).
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(from_tcp(TcpStream::connect((host, port)).await?))
}

/// Like [`open_connection`], with a buffer limit other than 64 KiB.
pub async fn open_connection_with_limit(
    host: &str,
    port: u16,
    limit: usize,
) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(pair(
        Arc::new(TcpStream::connect((host, port)).await?),
        limit,
    ))
}

/// Connects to the Unix-domain socket at `path` (asyncio's `open_unix_connection`).
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(from_unix(UnixStream::connect(path).await?))
}

/// Listens on `host:port` (every address `host` resolves to; port 0 picks a free port) and
/// runs `callback(reader, writer)` as a new task for every connection (asyncio's
/// `start_server`). The server is serving when this returns; see [`Server`].
pub async fn start_server<F, Fut>(callback: F, host: &str, port: u16) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    start_server_with_limit(callback, host, port, DEFAULT_LIMIT).await
}

/// Like [`start_server`], with a reader buffer limit other than 64 KiB.
pub async fn start_server_with_limit<F, Fut>(
    callback: F,
    host: &str,
    port: u16,
    limit: usize,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listeners = bind_all(host, port).await?;
    Server::start(listeners, move |stream, _peer| {
        let (reader, writer) = pair(Arc::new(stream), limit);
        // A failed spawn means the runtime is shutting down: the connection is dropped.
        let _ = crate::try_create_task(callback(reader, writer));
    })
}

/// Binds a listener on every address `host` resolves to (asyncio binds them all).
pub(crate) async fn bind_all(host: &str, port: u16) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for addr in lookup_host((host, port)).await? {
        listeners.push(TcpListener::bind(addr).await?);
    }
    Ok(listeners)
}
