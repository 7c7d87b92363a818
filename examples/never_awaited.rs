//! A coroutine that is called but never awaited. `cargo run --example never_awaited`
//!
//! See `ringloop_examples::tutorial::never_awaited` for the Python, the compile-time warning
//! Rust gives instead of asyncio's `RuntimeWarning`, and the body.

use ringloop_examples::tutorial::{console::Console, never_awaited};

fn main() {
    never_awaited::main(&Console::stdout());
}
