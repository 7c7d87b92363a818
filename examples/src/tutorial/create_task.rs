//! `create_task`: two tasks run concurrently, so the program takes one second, not two.
//!
//! ```python
//! import asyncio
//! import time
//! async def main():
//!     task1 = asyncio.create_task(foo('task 1'))
//!     task2 = asyncio.create_task(foo('task 2'))
//!     print(f"started at {time.strftime('%X')}")
//!     await task1
//!     await task2
//!     print(f"finished at {time.strftime('%X')}")
//! async def foo(text):
//!     print(text)
//!     await asyncio.sleep(1)
//! asyncio.run(main())
//! ```
//!
//! Output: "started at 14:54:06", "task 1", "task 2", "finished at 14:54:07".
//!
//! **The tutorial's listing says "finished at 14:54:08", two seconds later; its own code cannot
//! produce that.** Both tasks start sleeping at the same moment, so when `task1` is done (one
//! second later) `task2` is done too, and `await task2` returns at once: one second passes in
//! all. (Two seconds is what awaiting `foo('task 1')` and then `foo('task 2')` directly, without
//! tasks, would take.) The tutorial test checks the one second on a virtual clock.
//!
//! "started at" comes before "task 1" because creating a task does not run it: it runs when
//! `main` next waits. That holds on the current-thread flavour, asyncio's model, which the
//! example uses; on the multi-thread flavour a worker may start the tasks at once.

use super::console::Console;
use std::time::Duration;

/// The tutorial's `main`.
pub async fn main(console: Console) {
    let task1 = ringloop::create_task(foo(console.clone(), "task 1"));
    let task2 = ringloop::create_task(foo(console.clone(), "task 2"));
    console.print(format!("started at {}", console.wall_clock()));
    // A task's result is `Result<T, TaskError>`: an error only if it panicked or was cancelled.
    task1.await.expect("task 1 neither panics nor is cancelled");
    task2.await.expect("task 2 neither panics nor is cancelled");
    console.print(format!("finished at {}", console.wall_clock()));
}

/// The tutorial's `foo`: prints its text, then sleeps one second.
async fn foo(console: Console, text: &'static str) {
    console.print(text);
    ringloop::sleep(Duration::from_secs(1)).await;
}
