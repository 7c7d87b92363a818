//! ringloop-reactor: the layer of ringloop that talks to the kernel.
//!
//! It knows nothing of tasks, futures or timer wheels. It answers three questions for the
//! runtime above it: *which descriptors are ready* (readiness), *which operations finished*
//! (completions), and *wake me at this instant, or when another thread says so*.
//!
//! # The pieces, one file each
//!
//! | file | concept |
//! |---|---|
//! | [`reactor`](Reactor) | the public API, dispatching to a backend |
//! | `epoll.rs` | backend 1: epoll (through mio) + a timerfd for deadlines |
//! | `uring/` | backend 2: io_uring: multishot polls, owned operations, the wait's timeout |
//! | `uring/slots.rs` | the state machine of an in-flight io_uring entry |
//! | `uring/prep.rs`, `uring/reap.rs` | an op into a submission entry; completions into events |
//! | [`op`](Op) | operations that own their buffers |
//! | `waker/` | cross-thread wake-up: an eventfd; `waker/state.rs`, the coalescing state word (loom-checked) |
//! | [`sys`] | the one syscall layer, with counters and fault injection |
//! | [`backend`](BackendChoice) | choosing a backend, with fallback |
//!
//! # The loop a runtime writes
//!
//! ```
//! use ringloop_reactor::{BackendChoice, Event, Events, Interest, Reactor, Token};
//! use std::io::{Read, Write};
//! use std::os::fd::AsRawFd;
//! use std::os::unix::net::UnixStream;
//!
//! let reactor = Reactor::new(BackendChoice::Auto)?;
//! let (mut a, mut b) = UnixStream::pair()?;
//! a.set_nonblocking(true)?;
//! reactor.register(a.as_raw_fd(), Token(7), Interest::READABLE)?;
//! b.write_all(b"hello")?;
//!
//! let mut events = Events::with_capacity(64);
//! reactor.poll(&mut events, None)?;
//! for event in events.iter() {
//!     if let Event::Ready { token: Token(7), readiness } = event {
//!         assert!(readiness.is_readable());
//!         // Edge-triggered: read until WouldBlock before waiting again.
//!         let mut buf = [0u8; 64];
//!         loop {
//!             match a.read(&mut buf) {
//!                 Ok(0) => break,
//!                 Ok(n) => assert_eq!(&buf[..n], b"hello"),
//!                 Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!     }
//! }
//! reactor.deregister(a.as_raw_fd())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The readiness contract (both backends)
//!
//! Registrations are **edge-triggered**: an event says readiness *changed*. After a readable
//! event, read until `WouldBlock`; after a writable one, write until `WouldBlock` (or until
//! you have nothing left). Only then does the next poll promise to report new readiness.
//! Readiness is never lost (data arriving after you saw `WouldBlock` produces an event) and
//! never delivered twice (one arrival, one event; several arrivals between two polls may
//! merge into one event per descriptor per poll). The tests check all of that on both
//! backends.
//!
//! # The completion path (io_uring)
//!
//! [`Reactor::submit`] takes an [`Op`] by value (its buffer, its fd) and returns an
//! [`OpId`]; the op comes back in [`Event::Completed`] when the kernel is done with it. The
//! reactor keeps it alive until then, whatever the submitter does, and dropping the reactor
//! cancels every in-flight op and waits for its completion before freeing anything. (If the
//! kernel ignored cancellation for ten seconds, the buffers and the ring are leaked rather
//! than freed: a documented last resort that no test reaches.) On epoll, `submit` returns an
//! `Unsupported` error: the runtime uses readiness there.
//!
//! # Deadlines and wakes
//!
//! `poll(events, Some(deadline))` never returns before `deadline` because of it, with
//! nanosecond resolution (a timerfd on epoll, the wait's own timeout on io_uring); see
//! `epoll.rs` for why epoll's millisecond timeout is not used. [`ReactorWaker::wake`] costs
//! a syscall only when a poller is actually blocked, and at most one per blocked poll.
//!
//! # Where ringloop simplifies
//!
//! - No registered buffers, fixed files or `SQPOLL`: plain entries. One provided-buffer ring
//!   per reactor serves multishot receives ([`Op::recv_multishot`], `uring/bufring.rs`), and
//!   its buffers are copied out as they complete rather than lent to the caller.
//! - `reregister` on io_uring removes the old poll and arms a new one (two entries), rather
//!   than using `POLL_UPDATE`.
//! - Each reactor's submission queue is guarded by a mutex, so any thread may submit. The
//!   runtime gives each multi-thread worker its own reactor (`runtime/src/driver.rs`), so the
//!   mutex is almost never contended, and builds those reactors as *single-issuer* rings
//!   ([`ReactorBuilder::single_issuer`]: `IORING_SETUP_SINGLE_ISSUER` and `DEFER_TASKRUN`):
//!   other threads' entries still go into the queue, and the owner hands them to the kernel
//!   (`uring/mod.rs`, "One owner thread"). The current-thread runtime keeps a plain ring,
//!   since `block_on` may be called from any thread.

pub mod backend;
mod epoll;
mod event;
mod interest;
pub mod op;
mod reactor;
pub mod sys;
mod uring;
mod waker;

pub use backend::{Backend, BackendChoice};
pub use event::{Event, Events};
pub use interest::{Interest, Readiness, Token};
pub use op::{Op, OpId};
pub use reactor::{Reactor, ReactorBuilder};
pub use waker::ReactorWaker;
