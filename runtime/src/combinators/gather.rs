//! `gather`: asyncio's `asyncio.gather(*aws, return_exceptions=...)`.
//!
//! Each future becomes a task at once (asyncio wraps coroutines in tasks too), so they run
//! concurrently from the start, even before the gather is awaited. Results come back in the
//! order the futures were given.
//!
//! - By default the first error (a panic or a cancellation of a child) is returned as soon as
//!   it happens, and, as in asyncio, **the other children keep running** (detached): use a
//!   [`TaskGroup`](crate::TaskGroup) to have them cancelled instead.
//! - [`Gather::return_exceptions`] waits for every child and returns every result.
//! - Cancelling the task that awaits a gather cancels every child, waits for them, then
//!   cancels the awaiting task (asyncio: the gather raises `CancelledError`).

use super::{GroupCancel, Slot};
use crate::task::TaskError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs every future of `futures` as a task and waits for all of them: asyncio's `gather`.
///
/// ```
/// ringloop::run(async {
///     let squares = ringloop::gather((1..=4u64).map(|i| async move { i * i })).await;
///     assert_eq!(squares.unwrap(), vec![1, 4, 9, 16]);
/// });
/// ```
pub fn gather<I>(futures: I) -> Gather<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future + Send + 'static,
    <I::Item as Future>::Output: Send + 'static,
{
    Gather {
        slots: futures
            .into_iter()
            .map(|f| Slot::Running(crate::create_task(f)))
            .collect(),
        cancel: GroupCancel::default(),
    }
}

/// The future returned by [`gather`]: all the results in order, or the first error.
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<T> {
    slots: Vec<Slot<T>>,
    cancel: GroupCancel,
}

/// The future returned by [`Gather::return_exceptions`]: every result, in order.
#[must_use = "futures do nothing unless awaited"]
pub struct GatherAll<T> {
    inner: Gather<T>,
}

impl<T> Gather<T> {
    /// Waits for every child and returns each one's result, errors included: asyncio's
    /// `return_exceptions=True`.
    pub fn return_exceptions(self) -> GatherAll<T> {
        GatherAll { inner: self }
    }

    /// Polls every child. `Ready(Some(e))`: fail fast with a child's error. `Ready(None)`: all
    /// done.
    fn poll_children(&mut self, cx: &mut Context<'_>, fail_fast: bool) -> Poll<Option<TaskError>> {
        let slots = &mut self.slots;
        let forwarded = self.cancel.forward(|msg| {
            for slot in slots.iter() {
                slot.cancel(msg.clone());
            }
        });
        let mut all_done = true;
        for slot in self.slots.iter_mut() {
            if !slot.poll(cx) {
                all_done = false;
            } else if fail_fast && !forwarded && slot.error().is_some() {
                let Err(e) = slot.take() else { unreachable!() };
                return Poll::Ready(Some(e));
            }
        }
        if !all_done {
            self.cancel.arm();
            return Poll::Pending;
        }
        if self.cancel.must_deliver() {
            return Poll::Pending;
        }
        if fail_fast {
            // After a cancellation that was taken elsewhere, children may have failed.
            if let Some(slot) = self.slots.iter_mut().find(|s| s.error().is_some()) {
                let Err(e) = slot.take() else { unreachable!() };
                return Poll::Ready(Some(e));
            }
        }
        Poll::Ready(None)
    }
}

impl<T> Future for Gather<T> {
    type Output = Result<Vec<T>, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.poll_children(cx, true) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(e)) => Poll::Ready(Err(e)),
            Poll::Ready(None) => Poll::Ready(this.slots.iter_mut().map(Slot::take).collect()),
        }
    }
}

impl<T> Future for GatherAll<T> {
    type Output = Vec<Result<T, TaskError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut self.get_mut().inner;
        match this.poll_children(cx, false) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(this.slots.iter_mut().map(Slot::take).collect()),
        }
    }
}

// Slots hold task handles and results, never pinned data.
impl<T> Unpin for Gather<T> {}

/// The tuple form of [`gather`], for futures of different types:
/// `gather!(a, b, c).await` gives `Result<(A, B, C), TaskError>`, and
/// `gather!(return_exceptions; a, b).await` gives `(Result<A, TaskError>, Result<B, TaskError>)`.
///
/// ```
/// ringloop::run(async {
///     let (n, s) = ringloop::gather!(async { 1 + 1 }, async { "two" }).await.unwrap();
///     assert_eq!((n, s), (2, "two"));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    (return_exceptions; $($fut:expr),+ $(,)?) => {
        $crate::__private::GatherTuple::new(($($crate::create_task($fut),)+)).return_exceptions()
    };
    ($($fut:expr),+ $(,)?) => {
        $crate::__private::GatherTuple::new(($($crate::create_task($fut),)+))
    };
}

/// The tuple form's machinery, public only for the `gather!` macro.
#[doc(hidden)]
pub mod tuple {
    use super::super::{GroupCancel, Slot};
    use crate::task::{Task, TaskError};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A tuple of tasks gathered together (built by `gather!`).
    pub struct GatherTuple<S> {
        slots: S,
        cancel: GroupCancel,
    }

    /// The `return_exceptions` form of [`GatherTuple`].
    pub struct GatherTupleAll<S> {
        inner: GatherTuple<S>,
    }

    /// A tuple of tasks, turned into the tuple of slots a [`GatherTuple`] polls.
    pub trait IntoSlots {
        /// The tuple of slots.
        type Slots;
        /// Wraps each task in a slot.
        fn into_slots(self) -> Self::Slots;
    }

    impl<S> GatherTuple<S> {
        /// Gathers a tuple of tasks.
        pub fn new<T: IntoSlots<Slots = S>>(tasks: T) -> Self {
            GatherTuple {
                slots: tasks.into_slots(),
                cancel: GroupCancel::default(),
            }
        }

        /// Waits for every child and returns every result.
        pub fn return_exceptions(self) -> GatherTupleAll<S> {
            GatherTupleAll { inner: self }
        }
    }

    impl<S> Unpin for GatherTuple<S> {}

    macro_rules! tuple_impl {
        ($($T:ident $i:tt),+) => {
            impl<$($T),+> IntoSlots for ($(Task<$T>,)+) {
                type Slots = ($(Slot<$T>,)+);
                fn into_slots(self) -> Self::Slots {
                    ($(Slot::Running(self.$i),)+)
                }
            }

            impl<$($T),+> GatherTuple<($(Slot<$T>,)+)> {
                fn poll_children(&mut self, cx: &mut Context<'_>, fail_fast: bool) -> Poll<Option<TaskError>> {
                    let slots = &self.slots;
                    let forwarded = self.cancel.forward(|msg| { $(slots.$i.cancel(msg.clone());)+ });
                    let mut all_done = true;
                    $(
                        if !self.slots.$i.poll(cx) {
                            all_done = false;
                        } else if fail_fast && !forwarded && self.slots.$i.error().is_some() {
                            let Err(e) = self.slots.$i.take() else { unreachable!() };
                            return Poll::Ready(Some(e));
                        }
                    )+
                    if !all_done {
                        self.cancel.arm();
                        return Poll::Pending;
                    }
                    if self.cancel.must_deliver() {
                        return Poll::Pending;
                    }
                    $(
                        if fail_fast && self.slots.$i.error().is_some() {
                            let Err(e) = self.slots.$i.take() else { unreachable!() };
                            return Poll::Ready(Some(e));
                        }
                    )+
                    Poll::Ready(None)
                }
            }

            impl<$($T),+> Future for GatherTuple<($(Slot<$T>,)+)> {
                type Output = Result<($($T,)+), TaskError>;

                fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                    let this = self.get_mut();
                    match this.poll_children(cx, true) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Some(e)) => Poll::Ready(Err(e)),
                        Poll::Ready(None) => Poll::Ready(Ok(($(
                            match this.slots.$i.take() { Ok(v) => v, Err(_) => unreachable!("fail-fast returned errors") },
                        )+))),
                    }
                }
            }

            impl<$($T),+> Future for GatherTupleAll<($(Slot<$T>,)+)> {
                type Output = ($(Result<$T, TaskError>,)+);

                fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                    let this = &mut self.get_mut().inner;
                    match this.poll_children(cx, false) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(_) => Poll::Ready(($(this.slots.$i.take(),)+)),
                    }
                }
            }
        };
    }

    tuple_impl!(A 0);
    tuple_impl!(A 0, B 1);
    tuple_impl!(A 0, B 1, C 2);
    tuple_impl!(A 0, B 1, C 2, D 3);
    tuple_impl!(A 0, B 1, C 2, D 3, E 4);
    tuple_impl!(A 0, B 1, C 2, D 3, E 4, F 5);
    tuple_impl!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    tuple_impl!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
}
