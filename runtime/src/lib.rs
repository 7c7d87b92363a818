//! ringloop: Python asyncio's programming model in Rust.
//!
//! Work in progress: the runtime core lands with issue 4.
