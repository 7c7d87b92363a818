//! `asyncio.run(main())` printing "Welcome". `cargo run --example welcome`

use ringloop_examples::tutorial::{console::Console, welcome};

fn main() {
    ringloop::run(welcome::main(Console::stdout()));
}
