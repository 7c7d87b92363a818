//! The task's `Waker`: a pointer to the task header with a `RawWakerVTable`.
//!
//! Cloning a waker adds a reference; dropping it removes one; waking it runs the notify
//! transitions of `state.rs` and, if they say so, submits the task to its scheduler. Wakers
//! work from any thread.

use super::raw::{Header, RawTask};
use super::state::TransitionToNotified;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that borrows the caller's reference: dropping it changes no count.
pub(super) fn borrowed(header: NonNull<Header>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(header.as_ptr() as *const (), &VTABLE);
    // SAFETY: VTABLE's functions uphold the RawWaker contract for task headers, and the
    // ManuallyDrop keeps this waker from dropping the reference it does not own.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

fn raw_task(ptr: *const ()) -> RawTask {
    // SAFETY: every RawWaker with VTABLE was made from a non-null header pointer.
    RawTask::from_raw(unsafe { NonNull::new_unchecked(ptr as *mut Header) })
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    raw_task(ptr).state().ref_inc();
    RawWaker::new(ptr, &VTABLE)
}

unsafe fn wake(ptr: *const ()) {
    let task = raw_task(ptr);
    match task.state().transition_to_notified_by_val() {
        TransitionToNotified::Submit => task.schedule(),
        TransitionToNotified::DoNothing => {}
        TransitionToNotified::Dealloc => task.dealloc(),
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    let task = raw_task(ptr);
    match task.state().transition_to_notified_by_ref() {
        TransitionToNotified::Submit => task.schedule(),
        TransitionToNotified::DoNothing | TransitionToNotified::Dealloc => {}
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    raw_task(ptr).drop_reference();
}
