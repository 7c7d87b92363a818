//! Addresses, and host names resolved without blocking a worker.
//!
//! `getaddrinfo(3)` is a blocking call (it may wait seconds on a DNS server) and Linux has no
//! non-blocking form of it, so a name is resolved on the runtime's blocking pool
//! ([`crate::to_thread`], as asyncio's `getaddrinfo` uses its default executor) and the awaiting
//! task is woken when the answer arrives; the workers keep running other tasks. IP literals
//! (`"127.0.0.1:8080"`, `("::1", 80)`, a `SocketAddr`) never leave the calling thread.
//! ringloop simplifies here: no cache.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// What can name a socket address: an address, `(host, port)`, or `"host:port"`.
///
/// Implemented for [`SocketAddr`], `(IpAddr, u16)`, `(&str, u16)`, `(String, u16)`, `&str`,
/// `String` and `&[SocketAddr]`. A host name is resolved by [`lookup_host`] (off the worker).
pub trait ToSocketAddrs {
    /// The addresses, or the host name and port still to resolve.
    #[doc(hidden)]
    fn to_target(&self) -> io::Result<Target>;
}

/// Either known addresses or a name to look up.
#[doc(hidden)]
#[derive(Debug)]
pub enum Target {
    /// Already addresses.
    Addrs(Vec<SocketAddr>),
    /// A host name and a port.
    Name(String, u16),
}

impl ToSocketAddrs for SocketAddr {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![*self]))
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![SocketAddr::new(self.0, self.1)]))
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_target(&self) -> io::Result<Target> {
        Ok(match self.0.parse::<IpAddr>() {
            Ok(ip) => Target::Addrs(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Target::Name(self.0.to_string(), self.1),
        })
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_target(&self) -> io::Result<Target> {
        (self.0.as_str(), self.1).to_target()
    }
}

impl ToSocketAddrs for str {
    fn to_target(&self) -> io::Result<Target> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Target::Addrs(vec![addr]));
        }
        let (host, port) = self.rsplit_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{self:?}: expected \"host:port\""),
            )
        })?;
        let port = port.parse::<u16>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{self:?}: invalid port number"),
            )
        })?;
        (host, port).to_target()
    }
}

impl ToSocketAddrs for &str {
    fn to_target(&self) -> io::Result<Target> {
        (**self).to_target()
    }
}

impl ToSocketAddrs for String {
    fn to_target(&self) -> io::Result<Target> {
        self.as_str().to_target()
    }
}

impl ToSocketAddrs for &[SocketAddr] {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(self.to_vec()))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &&T {
    fn to_target(&self) -> io::Result<Target> {
        (**self).to_target()
    }
}

/// Resolves `addr` to socket addresses; a host name is looked up on a helper thread, so no
/// worker blocks (asyncio's `loop.getaddrinfo`). An empty answer is an error.
///
/// ```
/// ringloop::run(async {
///     let addrs = ringloop::net::lookup_host(("localhost", 80)).await.unwrap();
///     assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
/// });
/// ```
pub async fn lookup_host(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_target()? {
        Target::Addrs(addrs) => addrs,
        Target::Name(host, port) => resolve(host, port).await?,
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address",
        ));
    }
    Ok(addrs)
}

/// Resolves `host` on the blocking pool.
async fn resolve(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    let job = crate::try_to_thread(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(|it| it.collect())
    })
    .map_err(io::Error::other)?;
    // A panic in getaddrinfo's caller (or a shutdown that dropped the job) becomes an error.
    job.await.map_err(|e| io::Error::other(e.to_string()))?
}

/// Tries each address in turn and returns the first success, or the last error
/// (asyncio's `create_connection` does the same over `getaddrinfo`'s list).
pub(crate) async fn first_ok<T, F, Fut>(addrs: Vec<SocketAddr>, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match f(addr).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to try")))
}
