//! A coroutine called but never awaited does nothing.
//!
//! ```python
//! import asyncio
//! async def main():
//!     print("Hello")
//! main()          # RuntimeWarning: coroutine 'main' was never awaited
//! print(main())   # <coroutine object main at 0x00000000026DACC0>
//! ```
//!
//! In Rust, calling an `async fn` builds a future and runs none of its body, exactly like
//! calling a coroutine function. The warning comes at *compile* time instead of run time:
//! writing `hello();` alone as a statement gives
//!
//! ```text
//! warning: unused implementer of `Future` that must be used
//!  --> examples/src/tutorial/never_awaited.rs
//!   |
//!   |     hello();
//!   |     ^^^^^^^
//!   |
//!   = note: futures do nothing unless you `.await` or poll them
//!   = note: `#[warn(unused_must_use)]` (part of `#[warn(unused)]`) on by default
//! ```
//!
//! (This file binds the future to a name instead, which is allowed and warns about nothing, so
//! the examples build without warnings.)

use super::console::Console;

/// The tutorial's `main` coroutine: it would print "Hello", if anyone polled it.
async fn hello(console: Console) {
    console.print("Hello");
}

/// Describes a future the way Python prints a coroutine object: its type and size.
fn describe<F: std::future::Future>(future: &F) -> String {
    format!(
        "<future {} ({} bytes), never polled>",
        std::any::type_name::<F>(),
        std::mem::size_of_val(future)
    )
}

/// The program: build the future, never await it, and print what it is. "Hello" is never
/// printed, since the future's body never runs.
pub fn main(console: &Console) {
    let unawaited = hello(console.clone());
    console.print(describe(&unawaited));
    // Dropping it is the end of it: the body never ran.
    drop(unawaited);
}
