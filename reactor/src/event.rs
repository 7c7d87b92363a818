//! What [`poll`](crate::Reactor::poll) hands back: readiness and completions.

use std::io;

use crate::{Op, OpId, Readiness, Token};

/// One thing that happened during a poll.
#[derive(Debug)]
pub enum Event {
    /// A registered descriptor became ready (edge-triggered; at most one event per token
    /// per poll, with the readiness bits of that poll merged).
    Ready {
        /// The token given at registration.
        token: Token,
        /// What became ready.
        readiness: Readiness,
    },
    /// A submitted io_uring operation finished (or was cancelled). The operation comes back
    /// with its buffers: this is the moment the kernel stopped using them. (A multishot
    /// operation's intermediate completions carry a fresh op with [`Op::more`] set instead;
    /// the submitted one comes back with the last.)
    Completed {
        /// The token given at submission.
        token: Token,
        /// The id [`submit`](crate::Reactor::submit) returned.
        id: OpId,
        /// The kernel's result: bytes transferred, `0` for connect/close/timeout, or an
        /// error (`ECANCELED` after a successful cancel).
        result: io::Result<u32>,
        /// The operation, owning its buffers again.
        op: Op,
    },
}

/// A reusable buffer of events, filled by [`poll`](crate::Reactor::poll).
///
/// Its capacity bounds how many events one poll returns; the rest wait in the kernel for the
/// next poll (which then does not block). `poll` clears it first. One exception: the epoll
/// backend reads up to its own buffer's worth of readiness (see
/// [`ReactorBuilder::epoll_events`](crate::ReactorBuilder::epoll_events)) and delivers all of
/// it, because an edge-triggered event taken from the kernel cannot be put back.
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    /// A buffer for at most `capacity` events per poll (at least 1).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            list: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// The events of the last poll.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    /// Takes the events out (completions own their operations, so callers usually drain).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Event> {
        self.list.drain(..)
    }

    /// How many events the last poll returned.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the last poll returned nothing (a wake, the deadline, or a spurious return).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The most events one poll will return.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops the events (and any operations they carry).
    pub fn clear(&mut self) {
        self.list.clear();
    }

    pub(crate) fn room(&self) -> usize {
        self.capacity - self.list.len().min(self.capacity)
    }

    pub(crate) fn push(&mut self, e: Event) {
        self.list.push(e);
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Event> {
        self.list.get_mut(i)
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
