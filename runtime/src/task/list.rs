//! The runtime's list of every live task, so shutdown can find the tasks that no queue holds
//! (those waiting on a timer or a socket are referenced only by their wakers).
//!
//! An intrusive doubly linked list through `Header::links`, behind one lock: insertion at
//! spawn, removal at completion, both O(1). The list holds one reference to each task.
//! Once closed (at shutdown), it refuses new tasks, which is how spawning after shutdown
//! becomes an error instead of a leak.
//!
//! Simplification: one lock for the whole list. tokio shards it by task id; ringloop will too
//! if a benchmark shows contention on it.

use super::raw::{Header, RawTask};
use parking_lot::Mutex;
use std::ptr::NonNull;

/// Every live task of one runtime.
pub(crate) struct TaskList {
    inner: Mutex<Inner>,
}

struct Inner {
    head: Option<NonNull<Header>>,
    len: usize,
    closed: bool,
}

// SAFETY: the raw pointers in Inner are only followed under the mutex, and the tasks they point
// to are kept alive by the list's reference.
unsafe impl Send for Inner {}

impl TaskList {
    pub(crate) fn new() -> TaskList {
        TaskList {
            inner: Mutex::new(Inner {
                head: None,
                len: 0,
                closed: false,
            }),
        }
    }

    /// Adds a new task (whose initial state holds the list's reference). Fails once closed.
    pub(crate) fn push(&self, task: RawTask) -> Result<(), ()> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(());
        }
        let ptr = task.header_ptr();
        // SAFETY: links are only touched under this lock; `ptr` is live (we hold a reference)
        // and so is the old head (the list holds a reference to it).
        unsafe {
            let links = &mut *task.header().links.get();
            links.prev = None;
            links.next = inner.head;
            if let Some(head) = inner.head {
                (*head.as_ref().links.get()).prev = Some(ptr);
            }
        }
        inner.head = Some(ptr);
        inner.len += 1;
        Ok(())
    }

    /// Removes a completed task. Returns false if it was not in the list (shutdown popped it).
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let mut inner = self.inner.lock();
        let ptr = task.header_ptr();
        // SAFETY: under the lock; the task is live (the caller holds a reference) and its
        // neighbours are live (the list holds references to them).
        unsafe {
            let links = &mut *task.header().links.get();
            if links.prev.is_none() && inner.head != Some(ptr) {
                return false;
            }
            match links.prev {
                Some(prev) => (*prev.as_ref().links.get()).next = links.next,
                None => inner.head = links.next,
            }
            if let Some(next) = links.next {
                (*next.as_ref().links.get()).prev = links.prev;
            }
            links.prev = None;
            links.next = None;
        }
        inner.len -= 1;
        true
    }

    /// Closes the list to new tasks.
    pub(crate) fn close(&self) {
        self.inner.lock().closed = true;
    }

    /// Takes one task out, handing its list reference to the caller.
    pub(crate) fn pop(&self) -> Option<RawTask> {
        let mut inner = self.inner.lock();
        let head = inner.head?;
        let task = RawTask::from_raw(head);
        // SAFETY: under the lock; head is live (the list's reference).
        unsafe {
            let links = &mut *task.header().links.get();
            inner.head = links.next;
            if let Some(next) = links.next {
                (*next.as_ref().links.get()).prev = None;
            }
            links.next = None;
        }
        inner.len -= 1;
        Some(task)
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().len
    }

    /// Calls `f` on every live task, under the lock (keep `f` short; it must not spawn).
    pub(crate) fn for_each(&self, mut f: impl FnMut(RawTask)) {
        let inner = self.inner.lock();
        let mut cur = inner.head;
        while let Some(ptr) = cur {
            let task = RawTask::from_raw(ptr);
            f(task);
            // SAFETY: under the lock; the task is live (the list's reference).
            cur = unsafe { (*task.header().links.get()).next };
        }
    }
}
