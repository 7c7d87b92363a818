//! The `ringloop-bench` command's workloads and runners.
