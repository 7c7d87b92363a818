//! Which reactor backend a runtime gets.

use ringloop::{Backend, BackendChoice, Builder, Flavor};

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

/// `Auto` tries io_uring first on both flavours (the multi-thread flavour used to mean epoll
/// while the io_uring poll-removal bug, `deregister_of_a_poll_ready_at_arming_closes_the_socket`
/// in the reactor's tests, made it hang under socket traffic).
#[test]
fn auto_prefers_io_uring_on_both_flavours() {
    if std::env::var_os("RINGLOOP_BACKEND").is_some() {
        return; // forced from outside: nothing to check here
    }
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = Builder::new_multi_thread()
            .flavor(flavor)
            .worker_threads(2)
            .build()
            .unwrap();
        let uring_works = Builder::new_multi_thread()
            .flavor(flavor)
            .worker_threads(2)
            .backend(BackendChoice::IoUring)
            .build()
            .is_ok();
        let expected = if uring_works {
            Backend::IoUring
        } else {
            Backend::Epoll
        };
        assert_eq!(rt.backend(), expected, "{flavor:?}");
        assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    }
}
