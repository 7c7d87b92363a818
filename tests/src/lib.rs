//! Helpers shared by ringloop's integration tests.
