//! `wait`: asyncio's `asyncio.wait(aws, timeout=None, return_when=ALL_COMPLETED)`.
//!
//! Waits until the condition holds (or the timeout passes) and returns the tasks split into
//! `(done, pending)`, each keeping its result for a later `await`. It cancels nothing, on
//! timeout or otherwise, as in asyncio. Difference: asyncio returns two sets; ringloop returns
//! two `Vec`s, each in the order the tasks were given.

use crate::task::Task;
use crate::time::{sleep_until, Sleep};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// When [`wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task finishes (asyncio's `FIRST_COMPLETED`).
    FirstCompleted,
    /// As soon as any task fails (panics or is cancelled), or all finish
    /// (`FIRST_EXCEPTION`).
    FirstException,
    /// When all tasks finish (`ALL_COMPLETED`, the default).
    AllCompleted,
}

/// Waits for `tasks` as `return_when` says, for at most `timeout` (`None`: no limit); returns
/// `(done, pending)`.
///
/// ```
/// use ringloop::ReturnWhen;
/// use std::time::Duration;
/// ringloop::run(async {
///     let fast = ringloop::create_task(async { 1 });
///     let slow = ringloop::create_task(ringloop::sleep(Duration::from_secs(60)));
///     let tasks = vec![ringloop::create_task(async { fast.await.unwrap() }), ringloop::create_task(async move { slow.await.unwrap(); 2 })];
///     let (done, pending) = ringloop::wait(tasks, Some(Duration::from_millis(20)), ReturnWhen::AllCompleted).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
/// });
/// ```
pub fn wait<T, I>(tasks: I, timeout: Option<Duration>, return_when: ReturnWhen) -> Wait<T>
where
    I: IntoIterator<Item = Task<T>>,
{
    let tasks: Vec<Task<T>> = tasks.into_iter().collect();
    Wait {
        done: vec![false; tasks.len()],
        tasks,
        timer: timeout.filter(|t| *t != Duration::MAX).map(|t| {
            let now = crate::now();
            sleep_until(
                now.checked_add(t)
                    .unwrap_or(now + Duration::from_secs(u32::MAX as u64)),
            )
        }),
        return_when,
    }
}

/// The future returned by [`wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T> {
    tasks: Vec<Task<T>>,
    done: Vec<bool>,
    timer: Option<Sleep>,
    return_when: ReturnWhen,
}

impl<T> Unpin for Wait<T> {}

impl<T> Wait<T> {
    fn split(&mut self) -> (Vec<Task<T>>, Vec<Task<T>>) {
        let mut done = Vec::new();
        let mut pending = Vec::new();
        for (task, finished) in self.tasks.drain(..).zip(self.done.iter()) {
            if *finished {
                done.push(task);
            } else {
                pending.push(task);
            }
        }
        (done, pending)
    }
}

impl<T> Future for Wait<T> {
    type Output = (Vec<Task<T>>, Vec<Task<T>>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut any_done = false;
        let mut any_failed = false;
        for (task, finished) in this.tasks.iter_mut().zip(this.done.iter_mut()) {
            if !*finished && task.poll_complete(cx).is_ready() {
                *finished = true;
            }
            if *finished {
                any_done = true;
                any_failed |= task.failed();
            }
        }
        let all_done = this.done.iter().all(|d| *d);
        let ready = all_done
            || match this.return_when {
                ReturnWhen::FirstCompleted => any_done,
                ReturnWhen::FirstException => any_failed,
                ReturnWhen::AllCompleted => false,
            };
        let timed_out = this
            .timer
            .as_mut()
            .is_some_and(|t| Pin::new(t).poll(cx).is_ready());
        if ready || timed_out {
            Poll::Ready(this.split())
        } else {
            Poll::Pending
        }
    }
}
