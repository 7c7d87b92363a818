//! `as_completed`: asyncio's `asyncio.as_completed(aws)`, results in the order they finish.

use super::Slot;
use crate::task::TaskError;
use std::future::Future;
use std::task::Poll;

/// Runs every future of `futures` as a task and hands back their results as they finish.
///
/// asyncio's `as_completed` yields awaitables; the Rust form is an async `next`:
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let mut results = ringloop::as_completed([30u64, 10, 20].map(|ms| async move {
///         ringloop::sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut order = Vec::new();
///     while let Some(r) = results.next().await {
///         order.push(r.unwrap());
///     }
///     assert_eq!(order, vec![10, 20, 30]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future + Send + 'static,
    <I::Item as Future>::Output: Send + 'static,
{
    AsCompleted {
        slots: futures
            .into_iter()
            .map(|f| Slot::Running(crate::create_task(f)))
            .collect(),
    }
}

/// The results of [`as_completed`], in completion order.
pub struct AsCompleted<T> {
    slots: Vec<Slot<T>>,
}

impl<T> AsCompleted<T> {
    /// The next result to finish, or `None` when every one has been handed out.
    pub async fn next(&mut self) -> Option<Result<T, TaskError>> {
        std::future::poll_fn(|cx| {
            if self.slots.is_empty() {
                return Poll::Ready(None);
            }
            for i in 0..self.slots.len() {
                if self.slots[i].poll(cx) {
                    let mut slot = self.slots.swap_remove(i);
                    return Poll::Ready(Some(slot.take()));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// How many results are still to come.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when every result has been handed out.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}
