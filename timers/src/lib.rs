//! ringloop-timers: the timer wheel, a pure data structure (no clock, no OS, no threads).
//!
//! Work in progress: the hierarchical wheel lands with issue 2.
