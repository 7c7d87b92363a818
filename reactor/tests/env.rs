//! `RINGLOOP_BACKEND`: its own test binary (one test), because the environment is
//! process-wide and other tests create `Auto` reactors.

use std::io;

use ringloop_reactor::{Backend, BackendChoice, Reactor};

#[test]
fn environment_variable_forces_or_errors() {
    std::env::set_var("RINGLOOP_BACKEND", "epoll");
    assert_eq!(
        BackendChoice::from_env().unwrap(),
        Some(BackendChoice::Epoll)
    );
    assert_eq!(
        Reactor::new(BackendChoice::Auto).unwrap().backend(),
        Backend::Epoll
    );

    std::env::set_var("RINGLOOP_BACKEND", "io_uring");
    assert_eq!(
        Reactor::new(BackendChoice::Auto).unwrap().backend(),
        Backend::IoUring
    );
    // An explicit constructor choice wins over the environment.
    assert_eq!(
        Reactor::new(BackendChoice::Epoll).unwrap().backend(),
        Backend::Epoll
    );

    std::env::set_var("RINGLOOP_BACKEND", "bogus");
    let e = Reactor::new(BackendChoice::Auto).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("RINGLOOP_BACKEND"), "{e}");
    let e = BackendChoice::from_env().unwrap_err();
    assert!(e.to_string().contains("RINGLOOP_BACKEND"), "{e}");

    std::env::remove_var("RINGLOOP_BACKEND");
    assert_eq!(BackendChoice::from_env().unwrap(), None);
}
