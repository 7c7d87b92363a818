//! The socket syscalls the net layer makes itself, in one place.
//!
//! Most socket work goes through `std` (`read`, `write`, `shutdown`, `peer_addr`, `set_ttl`
//! ...), which already turns `-1` into `io::Error`. What `std` cannot do without blocking or
//! without an extra syscall lives here: creating a socket `NONBLOCK | CLOEXEC` in one call,
//! a non-blocking `connect`, `accept4` straight into non-blocking mode, and the socket options
//! `std` lacks (`SO_REUSEPORT`, buffer sizes, `SO_LINGER`). Every call goes through
//! [`cvt`], the reactor's "-1 means errno" helper, so errors carry the OS's `ErrorKind`
//! (`ConnectionRefused`, `AddrInUse`, ...).

use ringloop_reactor::sys::cvt;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Creates a socket, non-blocking and close-on-exec from birth (no window in which a
/// concurrent `fork` + `exec` could inherit it).
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; the flags are valid constants.
    let fd =
        cvt(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The address family of `addr`, for [`socket`].
pub(crate) fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// A socket address in the kernel's layout.
pub(crate) struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn zeroed() -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid (AF_UNSPEC) value.
        let storage = unsafe { MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init() };
        RawAddr {
            storage,
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// An IP address in the kernel's layout.
    pub(crate) fn from_inet(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::zeroed();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe {
                    std::ptr::write(&mut raw.storage as *mut _ as *mut libc::sockaddr_in, sin)
                };
                raw.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe {
                    std::ptr::write(&mut raw.storage as *mut _ as *mut libc::sockaddr_in6, sin6)
                };
                raw.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// A filesystem path as an `AF_UNIX` address; too long a path is an `InvalidInput` error.
    pub(crate) fn from_path(path: &Path) -> io::Result<RawAddr> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let mut raw = RawAddr::zeroed();
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
        let sun = unsafe { &mut *(&mut raw.storage as *mut _ as *mut libc::sockaddr_un) };
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unix socket path is {} bytes; the limit is {}",
                    bytes.len(),
                    sun.sun_path.len() - 1
                ),
            ));
        }
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unix socket path contains a NUL byte",
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let offset = size_of::<libc::sa_family_t>();
        raw.len = (offset + bytes.len() + 1) as libc::socklen_t;
        Ok(raw)
    }

    /// An address the kernel filled in (a received datagram's source, say).
    pub(crate) fn from_parts(storage: libc::sockaddr_storage, len: libc::socklen_t) -> RawAddr {
        RawAddr { storage, len }
    }

    /// The kernel's layout, by value (for an io_uring operation to own).
    pub(crate) fn to_parts(&self) -> (libc::sockaddr_storage, libc::socklen_t) {
        (self.storage, self.len)
    }

    /// Back to `std`, for a Unix-domain address: a path, an abstract name, or unnamed (a
    /// sender that never bound, or a length too short to hold a path).
    pub(crate) fn to_unix(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::net::SocketAddr as UnixAddr;
        let offset = size_of::<libc::sa_family_t>();
        let len = (self.len as usize).min(size_of::<libc::sockaddr_un>());
        if self.storage.ss_family as libc::c_int != libc::AF_UNIX || len <= offset {
            return unnamed_unix_addr();
        }
        // SAFETY: the family says the storage holds a sockaddr_un (the storage is larger than
        // and aligned for one).
        let sun = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_un) };
        let path: Vec<u8> = sun.sun_path[..len - offset]
            .iter()
            .map(|&c| c as u8)
            .collect();
        if path[0] == 0 {
            return UnixAddr::from_abstract_name(&path[1..]);
        }
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        UnixAddr::from_pathname(Path::new(std::ffi::OsStr::from_bytes(&path[..end])))
    }

    /// Back to `std`, for an IP address.
    pub(crate) fn to_inet(&self) -> Option<SocketAddr> {
        match self.storage.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// The address of an unnamed Unix-domain socket. `std` has no constructor for one; an empty
/// path gives it (the length then covers only the family field), and if a future `std`
/// refused that, the address of a fresh unbound socket does.
fn unnamed_unix_addr() -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::unix::net::SocketAddr as UnixAddr;
    match UnixAddr::from_pathname("") {
        Ok(a) if a.is_unnamed() => Ok(a),
        _ => std::os::unix::net::UnixDatagram::unbound()?.local_addr(),
    }
}

/// Starts a non-blocking connect. `Ok(true)`: connected already (loopback often is);
/// `Ok(false)`: in progress, wait for writability and then read `SO_ERROR`.
pub(crate) fn connect(fd: RawFd, addr: &RawAddr) -> io::Result<bool> {
    // SAFETY: `addr.storage` is a valid socket address of `addr.len` bytes for the call.
    let r = unsafe {
        libc::connect(
            fd,
            &addr.storage as *const _ as *const libc::sockaddr,
            addr.len,
        )
    };
    match cvt(r) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        // A unix socket whose listener's backlog is full: not connecting; the caller retries.
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Binds `fd` to `addr`.
pub(crate) fn bind(fd: RawFd, addr: &RawAddr) -> io::Result<()> {
    // SAFETY: `addr.storage` is a valid socket address of `addr.len` bytes for the call.
    cvt(unsafe {
        libc::bind(
            fd,
            &addr.storage as *const _ as *const libc::sockaddr,
            addr.len,
        )
    })
    .map(drop)
}

/// Marks `fd` as a listening socket.
pub(crate) fn listen(fd: RawFd, backlog: u32) -> io::Result<()> {
    let backlog = backlog.min(libc::c_int::MAX as u32) as libc::c_int;
    // SAFETY: listen(2) takes no pointers.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// Accepts one connection, non-blocking and close-on-exec, with the peer's raw address.
pub(crate) fn accept(fd: RawFd) -> io::Result<(OwnedFd, RawAddr)> {
    let mut addr = RawAddr::zeroed();
    // SAFETY: `addr.storage` is writable for `addr.len` bytes, and `addr.len` is a valid
    // in/out length for the duration of the call.
    let new = cvt(unsafe {
        libc::accept4(
            fd,
            &mut addr.storage as *mut _ as *mut libc::sockaddr,
            &mut addr.len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok((unsafe { OwnedFd::from_raw_fd(new) }, addr))
}

/// Sets an integer socket option.
pub(crate) fn set_opt(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int for the call and the length says so.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Reads an integer socket option.
pub(crate) fn get_opt(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and writable for the call; `len` gives the size.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &mut value as *mut _ as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(value)
}

/// `SO_LINGER`: `Some(0)` makes `close` send a reset instead of a FIN.
pub(crate) fn set_linger(fd: &impl AsRawFd, linger: Option<std::time::Duration>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: linger.is_some() as libc::c_int,
        l_linger: linger.map_or(0, |d| {
            d.as_secs().min(libc::c_int::MAX as u64) as libc::c_int
        }),
    };
    // SAFETY: `value` is a live `linger` for the call and the length says so.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &value as *const _ as *const libc::c_void,
            size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockname(2)`: the address a socket is bound to.
pub(crate) fn local_addr(fd: RawFd) -> io::Result<RawAddr> {
    let mut addr = RawAddr::zeroed();
    // SAFETY: `addr.storage` is writable for `addr.len` bytes and `addr.len` is a valid
    // in/out length for the call.
    cvt(unsafe {
        libc::getsockname(
            fd,
            &mut addr.storage as *mut _ as *mut libc::sockaddr,
            &mut addr.len,
        )
    })?;
    Ok(addr)
}

/// `shutdown(2)`: ends one direction of the connected socket `fd`, or both.
pub(crate) fn shutdown(fd: &impl AsRawFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown(2) takes no pointers.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) }).map(drop)
}
