//! The runtime against tokio (being written).
#![allow(missing_docs)]
fn main() {}
