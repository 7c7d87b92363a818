//! `asyncio.run(main())`: run a coroutine on a fresh event loop.
//!
//! ```python
//! import asyncio
//! async def main():
//!     print("Welcome")
//! asyncio.run(main())
//! ```
//!
//! The program (`examples/welcome.rs`) is `ringloop::run(main(console))`: `run` builds a
//! runtime, runs the future to completion, and shuts the runtime down, as `asyncio.run`
//! creates a loop, runs `main` and closes the loop. (The tutorial's text says it prints
//! "hello"; its code prints "Welcome", and so does this.)

use super::console::Console;

/// The tutorial's `main` coroutine.
pub async fn main(console: Console) {
    console.print("Welcome");
}
