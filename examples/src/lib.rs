//! Shared pieces of ringloop's runnable examples.
