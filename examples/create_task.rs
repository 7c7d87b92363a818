//! Two tasks created with `create_task` run concurrently: one second passes, not two.
//! `cargo run --example create_task`

use ringloop_examples::tutorial::{console::Console, create_task};

fn main() -> std::io::Result<()> {
    // asyncio.run(main()) on the current-thread flavour, asyncio's single-thread model, so that
    // "started at" comes before the tasks' first lines as in the tutorial (with worker threads,
    // a worker may start the tasks before `main` prints).
    let rt = ringloop::Builder::new_current_thread().build()?;
    rt.block_on(create_task::main(Console::stdout()));
    Ok(())
}
