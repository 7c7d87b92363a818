//! The asyncio tutorial's first program: plain sequential code. `cargo run --example sequential`
//!
//! See `ringloop_examples::tutorial::sequential` for the Python and the body.

use ringloop_examples::tutorial::{console::Console, sequential};

fn main() {
    sequential::main(&Console::stdout());
}
