//! Helpers shared by the integration tests: the backend matrix macro and small I/O tools.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringloop_reactor::{BackendChoice, Event, Events, Op, OpId, Reactor, Readiness, Token};

/// Expands each named test body `fn name(choice: BackendChoice)` into `epoll::name` and
/// `io_uring::name`: one body, both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod epoll {
            $(
                #[test]
                fn $name() {
                    super::$name(ringloop_reactor::BackendChoice::Epoll);
                }
            )*
        }
        mod io_uring {
            $(
                #[test]
                fn $name() {
                    super::$name(ringloop_reactor::BackendChoice::IoUring);
                }
            )*
        }
    };
}

/// A reactor on `choice`; forcing means a machine without io_uring fails loudly here.
pub fn reactor(choice: BackendChoice) -> Reactor {
    Reactor::new(choice).expect("reactor")
}

/// Readiness events of one poll, as (token, readiness).
pub fn ready(events: &Events) -> Vec<(Token, Readiness)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Ready { token, readiness } => Some((*token, *readiness)),
            _ => None,
        })
        .collect()
}

/// Polls once with a deadline `wait` from now and returns the readiness events.
pub fn poll_for(r: &Reactor, events: &mut Events, wait: Duration) -> Vec<(Token, Readiness)> {
    r.poll(events, Some(Instant::now() + wait)).expect("poll");
    ready(events)
}

/// Polls until an event for `token` arrives (at most 5 s) and returns how many events for
/// `token` that poll held.
pub fn wait_for_token(r: &Reactor, events: &mut Events, token: Token) -> (usize, Readiness) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        r.poll(events, Some(end)).expect("poll");
        let hits: Vec<_> = ready(events)
            .into_iter()
            .filter(|(t, _)| *t == token)
            .collect();
        if !hits.is_empty() {
            let merged = hits.iter().fold(Readiness::default(), |a, (_, r)| a | *r);
            return (hits.len(), merged);
        }
        assert!(Instant::now() < end, "no event for {token:?} within 5 s");
    }
}

/// Reads until WouldBlock (the edge-triggered contract); returns the bytes read, or `None`
/// on EOF.
pub fn read_all(src: &mut impl Read) -> Option<usize> {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        match src.read(&mut buf) {
            Ok(0) => return if total == 0 { None } else { Some(total) },
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(total),
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// A non-blocking, close-on-exec IPv4 TCP socket.
pub fn tcp_socket() -> OwnedFd {
    // SAFETY: socket takes no pointers; the flags are valid constants.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: socket just returned this descriptor; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Sorted copy, and the value at quantile `q` (0..=1).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

/// Completions collected while waiting for a particular one.
#[derive(Default)]
pub struct Harvest {
    stash: HashMap<OpId, (Token, io::Result<u32>, Op)>,
}

impl Harvest {
    /// Polls until the completion of `id` arrives (5 s at most), keeping the others for
    /// later calls: (token, result, op).
    pub fn wait(&mut self, r: &Reactor, id: OpId) -> (Token, io::Result<u32>, Op) {
        let end = Instant::now() + Duration::from_secs(5);
        let mut ev = Events::with_capacity(64);
        loop {
            if let Some(done) = self.stash.remove(&id) {
                return done;
            }
            r.poll(&mut ev, Some(end)).unwrap();
            for e in ev.drain() {
                if let Event::Completed {
                    token,
                    id,
                    result,
                    op,
                } = e
                {
                    assert!(self.stash.insert(id, (token, result, op)).is_none());
                }
            }
            assert!(Instant::now() < end, "no completion within 5 s");
        }
    }
}

pub fn fd_pair() -> (Arc<OwnedFd>, Arc<OwnedFd>) {
    let (a, b) = UnixStream::pair().unwrap();
    (Arc::new(a.into()), Arc::new(b.into()))
}
