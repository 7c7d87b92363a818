//! Choosing a backend: fallback from io_uring to epoll through fault injection, forced
//! backends failing loudly, and clear errors when the reactor's own descriptors cannot be
//! created.

use std::io;

use ringloop_reactor::sys::{fault, Syscall};
use ringloop_reactor::{Backend, BackendChoice, Reactor};

fn auto_falls_back_on(errno: i32) {
    fault::reset();
    fault::inject(Syscall::IoUringSetup, 1, errno);
    let r = Reactor::new(BackendChoice::Auto).unwrap();
    assert_eq!(r.backend(), Backend::Epoll);
    let why = r.fallback_reason().expect("a reason");
    assert!(why.contains("io_uring unavailable"), "{why}");
    assert_eq!(fault::calls(Syscall::IoUringSetup), 1);
    assert_eq!(
        fault::calls(Syscall::EpollCreate),
        2,
        "epoll set and registry clone"
    );
    fault::reset();
}

#[test]
fn auto_falls_back_on_eperm() {
    auto_falls_back_on(libc::EPERM);
}

#[test]
fn auto_falls_back_on_enosys() {
    auto_falls_back_on(libc::ENOSYS);
}

#[test]
fn auto_falls_back_on_enomem() {
    auto_falls_back_on(libc::ENOMEM);
}

#[test]
fn auto_falls_back_when_the_probe_fails() {
    fault::reset();
    fault::inject(Syscall::IoUringRegister, 1, libc::EINVAL);
    let r = Reactor::new(BackendChoice::Auto).unwrap();
    assert_eq!(r.backend(), Backend::Epoll);
    assert!(r.fallback_reason().unwrap().contains("probe"));
    fault::reset();
}

#[test]
fn auto_prefers_io_uring_when_it_works() {
    let r = Reactor::new(BackendChoice::Auto).unwrap();
    assert_eq!(r.backend(), Backend::IoUring);
    assert!(r.fallback_reason().is_none());
    assert_eq!(r.backend().to_string(), "io_uring");
    assert_eq!(Backend::Epoll.to_string(), "epoll");
}

#[test]
fn auto_does_not_hide_other_setup_errors() {
    fault::reset();
    fault::inject(Syscall::IoUringSetup, 1, libc::EFAULT);
    let e = Reactor::new(BackendChoice::Auto).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EFAULT));
    fault::reset();
}

#[test]
fn forcing_io_uring_where_it_cannot_start_is_an_error() {
    fault::reset();
    fault::inject(Syscall::IoUringSetup, 1, libc::EPERM);
    let e = Reactor::new(BackendChoice::IoUring).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    let msg = e.to_string();
    assert!(msg.contains("forced") && msg.contains("io_uring"), "{msg}");
    assert_eq!(fault::calls(Syscall::EpollCreate), 0, "no silent fallback");
    fault::reset();
}

#[test]
fn forcing_epoll_never_touches_io_uring() {
    fault::reset();
    let r = Reactor::new(BackendChoice::Epoll).unwrap();
    assert_eq!(r.backend(), Backend::Epoll);
    assert_eq!(fault::calls(Syscall::IoUringSetup), 0);
}

#[test]
fn emfile_creating_the_waker_is_a_clear_error() {
    for choice in [BackendChoice::Epoll, BackendChoice::IoUring] {
        fault::reset();
        fault::inject(Syscall::EventfdCreate, 1, libc::EMFILE);
        let e = Reactor::new(choice).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{choice:?}: {e}");
    }
    fault::reset();
    fault::inject(Syscall::TimerfdCreate, 1, libc::EMFILE);
    let e = Reactor::new(BackendChoice::Epoll).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
    fault::reset();
}

#[test]
fn zero_ring_entries_is_invalid_input() {
    let e = Reactor::builder().ring_entries(0).build().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn parse_backend_values() {
    assert_eq!(
        BackendChoice::parse("epoll").unwrap(),
        Some(BackendChoice::Epoll)
    );
    assert_eq!(
        BackendChoice::parse(" IO_URING ").unwrap(),
        Some(BackendChoice::IoUring)
    );
    assert_eq!(BackendChoice::parse("").unwrap(), None);
    let e = BackendChoice::parse("kqueue").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("RINGLOOP_BACKEND"), "{e}");
    assert_eq!(BackendChoice::default(), BackendChoice::Auto);
}

#[test]
fn eagain_registering_is_surfaced_not_spun() {
    let r = Reactor::new(BackendChoice::Epoll).unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    fault::reset();
    fault::inject(Syscall::EpollCtl, 1, libc::ENOMEM);
    let e = r
        .register(
            std::os::fd::AsRawFd::as_raw_fd(&a),
            ringloop_reactor::Token(1),
            ringloop_reactor::Interest::READABLE,
        )
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
    fault::reset();
}
