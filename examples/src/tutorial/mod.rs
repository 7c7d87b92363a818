//! The asyncio tutorial's examples: one module per program, each with the tutorial's Python
//! beside the Rust in its doc.
//!
//! The modules only use `ringloop` and [`console`]; they refer to each other with `super::`
//! paths, so the tutorial test can compile this directory into itself as it is.

pub mod console;
pub mod create_task;
pub mod gather_wait_for;
pub mod never_awaited;
pub mod new_name;
pub mod sequential;
pub mod two_coroutines;
pub mod welcome;
