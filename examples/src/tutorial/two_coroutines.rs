//! Two coroutines driven by the loop object: `loop.run_until_complete(asyncio.wait(...))`.
//!
//! ```python
//! import asyncio
//! async def cor1():
//!     print("cor 1 started")
//!     for i in range(5):
//!         await asyncio.sleep(1.5)
//!         print("cor1", i)
//! async def cor2():
//!     print("cor 2 started")
//!     for i in range(8):
//!         await asyncio.sleep(1)
//!         print("cor2", i)
//! loop = asyncio.get_event_loop()
//! cors = asyncio.wait([cor1(), cor2()])
//! loop.run_until_complete(cors)
//! ```
//!
//! cor1 prints at 1.5 s, 3 s, 4.5 s, 6 s and 7.5 s; cor2 every second from 1 s to 8 s. The
//! lines interleave by time:
//!
//! ```text
//! cor 2 started   0 s       cor1 2   4.5 s
//! cor 1 started   0 s       cor2 4   5 s
//! cor2 0          1 s       cor1 3   6 s  } same instant:
//! cor1 0          1.5 s     cor2 5   6 s  } either order
//! cor2 1          2 s       cor2 6   7 s
//! cor2 2          3 s  } same instant:    cor1 4   7.5 s
//! cor1 1          3 s  } either order     cor2 7   8 s
//! cor2 3          4 s
//! ```
//!
//! **At 3 s and at 6 s both coroutines wake at the same instant**, and either line may come
//! first: the two sleeps end together and no order between them is promised (not by asyncio,
//! whose heap does not break ties between equal deadlines, nor by ringloop, whose timer wheel
//! fires the timers of one tick together). The tutorial's own listing shows cor2 first at 3 s
//! and cor1 first at 6 s. On the real clock the tie is broken by how late each sleep woke,
//! which is noise.
//!
//! `asyncio.get_event_loop()` is [`EventLoop`]`::new()` (or [`EventLoop::with_builder`], which
//! the tutorial test uses to pick a virtual clock); `asyncio.wait` is [`ringloop::wait`], which
//! takes tasks (asyncio wraps the coroutines in tasks for you).

use super::console::Console;
use ringloop::{Builder, EventLoop, ReturnWhen};
use std::error::Error;
use std::time::Duration;

/// The tutorial's `cor1`: five steps of 1.5 s.
async fn cor1(console: Console) {
    console.print("cor 1 started");
    for i in 0..5 {
        ringloop::sleep(Duration::from_millis(1500)).await;
        console.print(format!("cor1 {i}"));
    }
}

/// The tutorial's `cor2`: eight steps of 1 s.
async fn cor2(console: Console) {
    console.print("cor 2 started");
    for i in 0..8 {
        ringloop::sleep(Duration::from_secs(1)).await;
        console.print(format!("cor2 {i}"));
    }
}

/// The program, on a loop built from `builder` (the example passes a current-thread one:
/// asyncio's loop is single-threaded).
pub fn main(console: &Console, builder: &Builder) -> Result<(), Box<dyn Error>> {
    let mut event_loop = EventLoop::with_builder(builder)?;
    // `asyncio.wait([cor1(), cor2()])` makes a *set* of the two coroutines and wraps them in
    // tasks in the set's (hash) order: in the tutorial's run that was cor2 first, hence "cor 2
    // started" before "cor 1 started". ringloop's `wait` keeps the order it is given, so giving
    // cor2 first reproduces the listing.
    let tasks = vec![
        event_loop.create_task(cor2(console.clone()))?,
        event_loop.create_task(cor1(console.clone()))?,
    ];
    let cors = ringloop::wait(tasks, None, ReturnWhen::AllCompleted);
    let (done, pending) = event_loop.run_until_complete(cors)?;
    assert_eq!((done.len(), pending.len()), (2, 0), "no timeout was given");
    event_loop.close();
    Ok(())
}
