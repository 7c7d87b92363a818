//! `gather` inside `wait_for`: three printers until a three-second timeout, then "Time over".
//!
//! ```python
//! import asyncio
//! async def printing(task, text):
//!     while True:
//!         print(task, text)
//!         try:
//!             await asyncio.sleep(0.50)
//!         except asyncio.CancelledError:
//!             break
//! async def main():
//!     try:
//!         await asyncio.wait_for(
//!             asyncio.gather(
//!                 printing("A", "Message"),
//!                 printing("B", "Calling"),
//!                 printing("C", "Meeting")
//!             ), 3, )
//!     except asyncio.TimeoutError:
//!         print("Time over")
//! asyncio.run(main())
//! ```
//!
//! Each printer prints every half second: at 0, 0.5, 1, 1.5, 2 and 2.5 s. At 3 s `wait_for`
//! times out: it cancels the gather, which cancels the three printers; each one's
//! [`catch_cancel`](ringloop::catch_cancel) (the `except asyncio.CancelledError: break`) takes
//! the cancellation and leaves its loop; once they have all finished, `wait_for` returns its
//! `TimeoutError` and "Time over" is printed.
//!
//! On a virtual clock the printers' sixth sleep also ends at exactly 3 s, the same instant as
//! the timeout, and which one the loop sees first is not promised (see `two_coroutines`): a
//! printer may print a seventh line at 3 s before it is cancelled. On the real clock each
//! sleep starts a little after the previous one ended, so the printers drift late and the
//! timeout comes first, as in the tutorial.

use super::console::Console;
use std::time::Duration;

/// The tutorial's `printing`: prints, sleeps half a second, until cancelled.
async fn printing(console: Console, task: &'static str, text: &'static str) {
    loop {
        console.print(format!("{task} {text}"));
        let nap = ringloop::sleep(Duration::from_millis(500));
        if ringloop::catch_cancel(nap).await.is_err() {
            break;
        }
    }
}

/// The program's `main`, run as a task.
///
/// `asyncio.run(main())` runs `main` as a task. A future given to `block_on` is not a task, and
/// `wait_for` outside a task has no task to deliver its cancellation through (it would just drop
/// the gather); so this spawns the tutorial's `main` and awaits it.
pub async fn main(console: Console) {
    ringloop::create_task(tutorial_main(console))
        .await
        .expect("main neither panics nor is cancelled");
}

/// The tutorial's `main`.
async fn tutorial_main(console: Console) {
    let printers = ringloop::gather!(
        printing(console.clone(), "A", "Message"),
        printing(console.clone(), "B", "Calling"),
        printing(console.clone(), "C", "Meeting"),
    );
    match ringloop::wait_for(printers, Duration::from_secs(3)).await {
        Ok(_) => console.print("all printers returned before the timeout"),
        Err(ringloop::TimeoutError { .. }) => console.print("Time over"),
    }
}
