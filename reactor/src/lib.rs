//! ringloop-reactor: OS readiness and completion (epoll through mio, io_uring), timerfd,
//! cross-thread wake.
//!
//! Work in progress: the backends land with issue 3.
