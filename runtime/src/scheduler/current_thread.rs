//! The current-thread scheduler: asyncio's own model, everything on the thread that calls
//! `block_on`.
//!
//! One loop, as in asyncio's `BaseEventLoop._run_once`:
//!
//! ```text
//! loop {
//!     if the main future was woken: poll it; if it is ready, return its output
//!     run up to EVENT_INTERVAL tasks from the run queue (FIFO)
//!     fire due timers, take in tasks woken from other threads, poll the reactor:
//!         without blocking if tasks are ready, else until the next timer or event
//! }
//! ```
//!
//! Tasks woken on this thread go straight into the run queue (a `VecDeque` nobody else
//! touches); tasks woken on other threads go into the injector (a locked queue) and wake the
//! reactor. Checking the timers and the reactor after every batch is what keeps a task that
//! wakes itself forever from starving I/O, timers and the injector.
//!
//! The run queue and the timer wheel belong to the runtime, not to one `block_on` call: tasks
//! and timers persist from one `block_on` (asyncio: `run_until_complete`) to the next.

use super::LocalCore;
use crate::context::{self, ThreadContext};
use crate::driver::Driver;
use crate::hooks::Hooks;
use crate::runtime::Handle;
use crate::task::{self, Notified, RawTask, Schedule, SpawnError, Task, TaskList};
use crate::time::TimeCore;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// How many tasks run between two looks at timers, the injector and the reactor.
const EVENT_INTERVAL: usize = 61;

/// State shared with wakers and handles on other threads.
pub(crate) struct Shared {
    pub(crate) driver: Driver,
    pub(crate) tasks: TaskList,
    pub(crate) hooks: Hooks,
    /// Tasks woken from other threads; `None` once shut down.
    injector: Mutex<Option<VecDeque<Notified>>>,
    has_injected: AtomicBool,
}

/// The thread-owned part: the run queue.
pub(crate) struct Core {
    shared: Arc<Shared>,
    queue: RefCell<VecDeque<Notified>>,
}

/// The current-thread scheduler.
pub(crate) struct CurrentThread {
    shared: Arc<Shared>,
    /// The persistent thread context (run queue, timer wheel), lent to whichever thread is in
    /// `block_on`; a second concurrent `block_on` waits for the first.
    context: Mutex<Option<Box<ThreadContext>>>,
}

impl CurrentThread {
    pub(crate) fn new(driver: Driver, hooks: Hooks) -> (CurrentThread, Arc<Shared>) {
        let shared = Arc::new(Shared {
            driver,
            tasks: TaskList::new(),
            hooks,
            injector: Mutex::new(Some(VecDeque::new())),
            has_injected: AtomicBool::new(false),
        });
        let ct = CurrentThread {
            shared: shared.clone(),
            context: Mutex::new(None),
        };
        (ct, shared)
    }

    /// Builds the thread context once the runtime's handle exists.
    pub(crate) fn init(&self, handle: Handle) {
        let ctx = ThreadContext {
            time: TimeCore::new(self.shared.driver.time.clone()),
            local: LocalCore::CurrentThread(Core {
                shared: self.shared.clone(),
                queue: RefCell::new(VecDeque::with_capacity(256)),
            }),
            handle,
        };
        *self.context.lock() = Some(Box::new(ctx));
    }

    /// Runs `future` to completion on this thread, running tasks meanwhile.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let slot = self.context.lock();
        let ctx = slot
            .as_deref()
            .expect("block_on on a runtime that was shut down");
        let _enter = context::enter(ctx);
        let LocalCore::CurrentThread(core) = &ctx.local else {
            unreachable!()
        };
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            driver_waker: self.shared.driver.ring(0).waker.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let mut budget = EVENT_INTERVAL;
        let out = loop {
            if main.woken.swap(false, Ordering::AcqRel) {
                budget = budget.saturating_sub(1);
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    break out;
                }
            }
            budget = core.run_batch(budget);
            // Timers, remote wakes and I/O every EVENT_INTERVAL polls, or as soon as nothing
            // is ready to run.
            if budget == 0 || !core.has_ready(&main.woken) {
                core.maintenance(&ctx.time, &main.woken);
                budget = EVENT_INTERVAL;
            }
        };
        drop(_enter);
        drop(slot);
        out
    }

    /// Shuts down: cancels every task (dropping each future once), then drops the queues and
    /// the timer wheel.
    pub(crate) fn shutdown(&self) {
        let Some(ctx) = self.context.lock().take() else {
            return;
        };
        {
            // Futures dropped here may touch their timers (a `Sleep` cancels its entry): let them
            // find this thread's context. If this thread runs another runtime (the runtime is
            // dropped inside one of its tasks), they find none, and their timers simply go
            // with this runtime's wheel below.
            let _enter = context::try_enter(&ctx);
            self.shared.tasks.close();
            let injected = self.shared.injector.lock().take();
            drop(injected);
            if let LocalCore::CurrentThread(core) = &ctx.local {
                let queued = std::mem::take(&mut *core.queue.borrow_mut());
                drop(queued);
            }
            task::shutdown_all(&self.shared.tasks);
        }
        drop(ctx);
    }
}

impl Core {
    fn next_task(&self) -> Option<Notified> {
        self.queue.borrow_mut().pop_front()
    }

    /// Runs the tasks that are ready now (not those they wake), up to `budget` polls, as
    /// asyncio's `_run_once` runs the callbacks ready at the start of an iteration: a task or
    /// main future that yields lets every task that was ready run before it goes on. Returns
    /// the budget left.
    fn run_batch(&self, mut budget: usize) -> usize {
        let ready = self.queue.borrow().len();
        for _ in 0..ready.min(budget) {
            match self.next_task() {
                Some(task) => task.run(),
                None => break,
            }
            budget -= 1;
        }
        budget
    }

    /// True if a task or the main future can run now.
    fn has_ready(&self, main_woken: &AtomicBool) -> bool {
        main_woken.load(Ordering::Relaxed) || !self.queue.borrow().is_empty()
    }

    /// Fires timers, takes in remote wakes, and polls the reactor: blocking only if nothing
    /// is ready to run.
    fn maintenance(&self, time: &TimeCore, main_woken: &AtomicBool) {
        time.turn();
        self.take_injected();
        let idle = self.queue.borrow().is_empty() && !main_woken.load(Ordering::Acquire);
        let driver = &self.shared.driver;
        if idle && driver.time.clock.is_virtual() {
            // Nothing can run: let I/O and remote wakes in without waiting, and if still idle,
            // jump the virtual clock to the next timer.
            driver.ring(0).park(time, false);
            self.take_injected();
            if self.queue.borrow().is_empty() && !main_woken.load(Ordering::Acquire) {
                match time.next_expiration() {
                    Some(next) => driver.time.clock.advance_virtual(next),
                    None => {
                        driver.ring(0).park(time, true);
                    }
                }
            }
        } else {
            driver.ring(0).park(time, idle);
        }
        time.turn();
        self.take_injected();
    }

    fn take_injected(&self) {
        if !self.shared.has_injected.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut injector = self.shared.injector.lock();
        if let Some(injected) = injector.as_mut() {
            self.queue.borrow_mut().extend(injected.drain(..));
        }
    }
}

impl Shared {
    /// Spawns a task on this runtime.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        name: Option<String>,
    ) -> Result<Task<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (notified, handle) = task::spawn(future, self.clone(), &self.tasks, name)?;
        self.schedule(notified);
        Ok(handle)
    }

    fn push_remote(&self, task: Notified) {
        let mut injector = self.injector.lock();
        match injector.as_mut() {
            Some(queue) => {
                queue.push_back(task);
                self.has_injected.store(true, Ordering::Release);
                drop(injector);
                self.driver.ring(0).waker.wake();
            }
            // Shut down: the task itself was (or will be) cancelled through the task list;
            // only this queue reference goes.
            None => drop(task),
        }
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        let remote = context::with_opt(|ctx| match ctx.map(|c| &c.local) {
            Some(LocalCore::CurrentThread(core)) if Arc::ptr_eq(&core.shared, self) => {
                core.queue.borrow_mut().push_back(task);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = remote {
            self.push_remote(task);
        }
    }

    fn release(&self, task: RawTask) -> bool {
        self.tasks.remove(task)
    }

    fn hooks(&self) -> &crate::hooks::Hooks {
        &self.hooks
    }
}

/// The waker of the future passed to `block_on`: it is not a task, just a flag the loop checks.
struct MainWaker {
    woken: AtomicBool,
    driver_waker: ringloop_reactor::ReactorWaker,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        // Free when the loop is not blocked in the reactor (the reactor coalesces wakes).
        self.driver_waker.wake();
    }
}
