//! cor1 and cor2 interleaved by the loop object's `run_until_complete` over `wait`.
//! `cargo run --example two_coroutines` (eight seconds)

use ringloop_examples::tutorial::{console::Console, two_coroutines};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // asyncio.get_event_loop(): a current-thread loop, single-threaded as asyncio's is.
    two_coroutines::main(&Console::stdout(), &ringloop::Builder::new_current_thread())
}
