//! Three printers under `gather`, inside `wait_for` with a three-second timeout, then
//! "Time over". `cargo run --example gather_wait_for`

use ringloop_examples::tutorial::{console::Console, gather_wait_for};

fn main() -> std::io::Result<()> {
    // asyncio.run(main()) on the current-thread flavour: the printers print A, B, C in the
    // order they were gathered, as in asyncio (worker threads could interleave them).
    let rt = ringloop::Builder::new_current_thread().build()?;
    rt.block_on(gather_wait_for::main(Console::stdout()));
    Ok(())
}
