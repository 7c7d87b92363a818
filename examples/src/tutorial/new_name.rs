//! `await` on a coroutine that sleeps: the caller waits for it.
//!
//! ```python
//! import asyncio
//! async def main():
//!     print("old name is John")
//!     await new('Harry')
//! async def new(name):
//!     await asyncio.sleep(2)
//!     print('new name is :')
//!     print(name)
//! asyncio.run(main())
//! ```
//!
//! Prints "old name is John" at once, then, two seconds later, "new name is :" and "Harry".

use super::console::Console;
use std::time::Duration;

/// The tutorial's `main`.
pub async fn main(console: Console) {
    console.print("old name is John");
    new(&console, "Harry").await;
}

/// The tutorial's `new`: sleeps two seconds, then prints the new name.
async fn new(console: &Console, name: &str) {
    ringloop::sleep(Duration::from_secs(2)).await;
    console.print("new name is :");
    console.print(name);
}
