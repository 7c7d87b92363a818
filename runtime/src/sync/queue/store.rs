//! Where a queue keeps its items: the one thing that differs between [`Queue`](super::Queue),
//! [`LifoQueue`](super::LifoQueue) and [`PriorityQueue`](super::PriorityQueue).
//!
//! asyncio does the same with subclassing: `LifoQueue` and `PriorityQueue` override `_init`,
//! `_put`, `_get` and `_qsize`. Here those four are the [`QueueStore`] trait, and the queue is
//! generic over it, so the waiting, counting and shutdown logic exists once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The container behind a queue (asyncio's `_put` / `_get` / `_qsize` hooks).
///
/// Called with the queue's mutex held: implementations must not block or touch the queue.
pub trait QueueStore<T>: Default {
    /// Stores an item.
    fn push(&mut self, item: T);
    /// Takes the next item out, or `None` if there is none.
    fn pop(&mut self) -> Option<T>;
    /// How many items are stored.
    fn len(&self) -> usize;
    /// Whether no item is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out (asyncio's `Queue`): a ring buffer.
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out (asyncio's `LifoQueue`): a stack.
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

/// Smallest first (asyncio's `PriorityQueue`, a `heapq`): a binary heap of `Reverse<T>`, since
/// Rust's `BinaryHeap` pops the largest. Equal items come out in no particular order, as with
/// `heapq`; put `(priority, sequence, item)` tuples in for a stable order.
#[derive(Debug)]
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> QueueStore<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> QueueStore<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> QueueStore<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
