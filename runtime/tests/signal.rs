//! Unix signals (`ringloop::signal`, `LoopHandle::add_signal_handler`), with real signals sent
//! to this process by `kill(2)`. Each test uses its own signal number: the tests of this binary
//! run in parallel and a signal goes to the whole process.

use ringloop::signal::{ctrl_c, signal};
use ringloop::{Builder, EventLoop, Runtime};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn runtimes() -> Vec<(&'static str, Runtime)> {
    vec![
        ("ct", Builder::new_current_thread().build().unwrap()),
        (
            "mt",
            Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap(),
        ),
    ]
}

fn raise(signum: i32) {
    // SAFETY: kill(2) with this process's id and a signal whose handler is installed.
    let r = unsafe { libc::kill(libc::getpid(), signum) };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
}

/// Waits at most 10 s for one delivery: `true` if it came.
async fn recv_within(sig: &mut ringloop::signal::Signal, limit: Duration) -> bool {
    ringloop::wait_for(sig.recv(), limit).await.is_ok()
}

#[test]
fn a_delivery_completes_recv_on_both_flavours() {
    for (name, rt) in runtimes() {
        let got = rt.block_on(async {
            let mut sig = signal(libc::SIGUSR1).unwrap();
            let sender = ringloop::create_task(async {
                ringloop::sleep(Duration::from_millis(5)).await;
                raise(libc::SIGUSR1);
            });
            let got = recv_within(&mut sig, Duration::from_secs(10)).await;
            sender.await.unwrap();
            got
        });
        assert!(got, "{name}: SIGUSR1 never arrived");
    }
}

/// Every `Signal` of a signal number sees a delivery, across runtimes; deliveries are never
/// reported more often than they happened.
#[test]
fn every_listener_sees_a_delivery_and_none_sees_it_twice() {
    let (_, ct) = runtimes().remove(0);
    let mt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut a = signal(libc::SIGUSR2).unwrap();
    let mut b = signal(libc::SIGUSR2).unwrap();
    raise(libc::SIGUSR2);
    raise(libc::SIGUSR2);
    raise(libc::SIGUSR2);
    for (name, rt, sig) in [("ct", &ct, &mut a), ("mt", &mt, &mut b)] {
        let seen = rt.block_on(async {
            let mut seen = 0;
            while recv_within(sig, Duration::from_millis(300)).await {
                seen += 1;
            }
            seen
        });
        assert!(
            (1..=3).contains(&seen),
            "{name}: 3 deliveries reported {seen} times"
        );
    }
}

#[test]
fn a_signal_created_after_a_delivery_does_not_see_it() {
    let (_, rt) = runtimes().remove(0);
    rt.block_on(async {
        let mut first = signal(libc::SIGWINCH).unwrap();
        raise(libc::SIGWINCH);
        assert!(recv_within(&mut first, Duration::from_secs(10)).await);
        // The delivery was dispatched (`first` saw it) before `late` existed.
        let mut late = signal(libc::SIGWINCH).unwrap();
        assert!(!recv_within(&mut late, Duration::from_millis(100)).await);
        // A new delivery reaches both.
        raise(libc::SIGWINCH);
        assert!(recv_within(&mut late, Duration::from_secs(10)).await);
        assert!(recv_within(&mut first, Duration::from_secs(10)).await);
    });
}

#[test]
fn signals_that_must_not_be_handled_are_refused() {
    for signum in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        0,
        -1,
        65,
    ] {
        let err = signal(signum).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {signum}");
    }
}

#[test]
fn ctrl_c_completes_on_sigint() {
    let (_, rt) = runtimes().remove(1);
    let done = rt.block_on(async {
        // From here on SIGINT is caught, never fatal to the test process.
        let _installed = signal(libc::SIGINT).unwrap();
        let waiter = ringloop::create_task(ctrl_c());
        // `ctrl_c` listens from its first poll: raise until it has seen one.
        for _ in 0..1000 {
            if waiter.done() {
                break;
            }
            raise(libc::SIGINT);
            ringloop::sleep(Duration::from_millis(10)).await;
        }
        ringloop::wait_for(waiter, Duration::from_secs(10))
            .await
            .is_ok_and(|r| r.unwrap().is_ok())
    });
    assert!(done);
}

/// asyncio's `loop.add_signal_handler`: the callback runs on the loop for a delivery; a new
/// handler replaces the old; after `remove_signal_handler` nothing runs.
#[test]
fn loop_signal_handlers_run_replace_and_remove() {
    let mut event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let first = Arc::new(AtomicUsize::new(0));
    let second = Arc::new(AtomicUsize::new(0));
    let f = first.clone();
    handle
        .add_signal_handler(libc::SIGHUP, move || {
            f.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let (f, s) = (first.clone(), second.clone());
    event_loop
        .run_until_complete(async move {
            raise(libc::SIGHUP);
            for _ in 0..1000 {
                if f.load(Ordering::SeqCst) > 0 {
                    break;
                }
                ringloop::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(f.load(Ordering::SeqCst), 1, "the handler ran once");
            let s2 = s.clone();
            ringloop::get_running_loop()
                .unwrap()
                .add_signal_handler(libc::SIGHUP, move || {
                    s2.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            raise(libc::SIGHUP);
            for _ in 0..1000 {
                if s.load(Ordering::SeqCst) > 0 {
                    break;
                }
                ringloop::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(s.load(Ordering::SeqCst), 1, "the new handler ran");
            assert_eq!(f.load(Ordering::SeqCst), 1, "the replaced one did not");
        })
        .unwrap();
    assert!(handle.remove_signal_handler(libc::SIGHUP));
    assert!(!handle.remove_signal_handler(libc::SIGHUP));
    let s = second.clone();
    event_loop
        .run_until_complete(async move {
            raise(libc::SIGHUP);
            ringloop::sleep(Duration::from_millis(100)).await;
            assert_eq!(s.load(Ordering::SeqCst), 1, "a removed handler ran");
        })
        .unwrap();
    let err = handle.add_signal_handler(libc::SIGKILL, || {}).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    event_loop.close();
    assert!(handle.add_signal_handler(libc::SIGHUP, || {}).is_err());
}
