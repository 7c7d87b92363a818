//! Which reactor backend a runtime gets.

use ringloop::{Backend, BackendChoice, Builder, Flavor};

#[test]
fn auto_on_the_multi_thread_flavour_is_epoll_for_now() {
    if std::env::var_os("RINGLOOP_BACKEND").is_some() {
        return; // forced from outside: nothing to check here
    }
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    assert_eq!(rt.backend(), Backend::Epoll);
    assert_eq!(rt.block_on(async { 1 + 1 }), 2);
}

#[test]
fn forcing_io_uring_on_the_multi_thread_flavour_still_gets_it() {
    let forced = Builder::new_multi_thread()
        .worker_threads(2)
        .backend(BackendChoice::IoUring)
        .build();
    match forced {
        Ok(rt) => assert_eq!(rt.backend(), Backend::IoUring),
        Err(e) => eprintln!("io_uring unavailable here: {e}"),
    }
}

#[test]
fn auto_on_the_current_thread_flavour_prefers_io_uring() {
    if std::env::var_os("RINGLOOP_BACKEND").is_some() {
        return;
    }
    let rt = Builder::new_current_thread().build().unwrap();
    let uring_works = Builder::new_multi_thread()
        .flavor(Flavor::CurrentThread)
        .backend(BackendChoice::IoUring)
        .build()
        .is_ok();
    let expected = if uring_works {
        Backend::IoUring
    } else {
        Backend::Epoll
    };
    assert_eq!(rt.backend(), expected);
}
