//! Accepting under descriptor exhaustion (`EMFILE`) neither spins nor dies: the accept loop
//! backs off, other tasks keep running, and accepting resumes once descriptors are free
//! (the failures of tokio #3529 and #4782).
//!
//! The limit is lowered with `setrlimit` in a child process (this same test binary, running
//! the ignored `emfile_child` test), so the parent and the other tests keep their
//! descriptors. The parent runs the child once per backend and flavour.

mod net_support;

use ringloop::net::TcpSocket;
use ringloop::streams::start_server;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
const WINDOW: Duration = Duration::from_millis(300);
const ENV: &str = "RINGLOOP_EMFILE_CHILD";

#[test]
fn accept_under_emfile_backs_off_and_resumes() {
    let exe = std::env::current_exe().unwrap();
    for config in [
        "epoll/current",
        "epoll/multi",
        "io_uring/current",
        "io_uring/multi",
    ] {
        let out = Command::new(&exe)
            .args([
                "emfile_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, config)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("SKIP:") {
            eprintln!(
                "{config}: {}",
                text.lines().find(|l| l.contains("SKIP:")).unwrap()
            );
            continue;
        }
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{config}: child failed:\n{text}"
        );
        eprintln!(
            "{config}: {}",
            text.lines()
                .find(|l| l.contains("EMFILE window"))
                .unwrap_or("")
        );
    }
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a live, writable rusage for the call.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Lowers the soft descriptor limit to what is open now plus `headroom`.
fn lower_fd_limit(headroom: usize) {
    let open = net_support::open_fds();
    // SAFETY: an all-zero rlimit is a valid value for getrlimit to overwrite.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `lim` is a live, writable rlimit for the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = (open + headroom) as libc::rlim_t;
    // SAFETY: `lim` is a valid rlimit; lowering the soft limit needs no privilege.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

/// Duplicates stdin's descriptor until the process is out of descriptors, adding to
/// `fillers`.
fn exhaust_fds(fillers: &mut Vec<OwnedFd>) {
    loop {
        // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor takes no pointers.
        let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
            return;
        }
        // SAFETY: the kernel just returned this descriptor and nothing else owns it.
        fillers.push(unsafe { OwnedFd::from_raw_fd(fd) });
        assert!(fillers.len() < 10_000, "the limit did not apply");
    }
}

#[test]
#[ignore = "the child half of accept_under_emfile_backs_off_and_resumes"]
fn emfile_child() {
    let Ok(config) = std::env::var(ENV) else {
        return;
    };
    let (backend, flavor) = config.split_once('/').unwrap();
    let backend = match backend {
        "epoll" => ringloop::BackendChoice::Epoll,
        _ => ringloop::BackendChoice::IoUring,
    };
    let flavor = match flavor {
        "current" => ringloop::Flavor::CurrentThread,
        _ => ringloop::Flavor::MultiThread,
    };
    let rt = match net_support::build(backend, flavor) {
        Ok(rt) => rt,
        Err(e) => {
            println!("SKIP: {e}");
            return;
        }
    };
    rt.block_on(async {
        // Lowered before the server starts: an io_uring accept reads the descriptor limit
        // when it is submitted, so a multishot accept armed before a lower limit would still
        // accept under the old one (as a real server meets the limit it started with).
        lower_fd_limit(32);
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = accepted.clone();
        let server = start_server(
            move |mut reader, writer| {
                a.fetch_add(1, Ordering::SeqCst);
                async move {
                    let byte = reader.readexactly(1).await.unwrap();
                    writer.write(&byte);
                    writer.drain().await.unwrap();
                }
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let addr = server.sockets()[0];
        // Client sockets made before the limit bites; connecting needs no new descriptor.
        let sockets: Vec<TcpSocket> = (0..CLIENTS).map(|_| TcpSocket::new_v4().unwrap()).collect();
        // A ticker: other tasks must keep running while the accept loop waits.
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = ringloop::create_task(async move {
            loop {
                ringloop::sleep(Duration::from_millis(10)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
        });

        // Before filling the table, wait until the accept loop is idle. Every syscall that
        // makes a descriptor (accept(2) answering EAGAIN, an io_uring accept being armed)
        // reserves a slot first and gives it back when it has nothing to accept: if a worker
        // does that while this thread fills the table, a slot comes free after the fill and
        // the clients below are accepted through it (CI saw that once on io_uring
        // multi-thread). A first client's round trip proves the loop has run; its handler's
        // socket is closed (the client sees EOF) before the fill, and then the fill is
        // topped up after a pause, in case a slot was held during the first pass.
        let warm = TcpSocket::new_v4().unwrap().connect(addr).await.unwrap();
        warm.write_all(b"w").await.unwrap();
        let mut echo = [0u8; 2];
        let n = warm.read(&mut echo).await.unwrap();
        assert_eq!(&echo[..n], b"w");
        assert_eq!(warm.read(&mut echo).await.unwrap(), 0, "the handler closes");
        drop(warm);
        let mut fillers = Vec::new();
        exhaust_fds(&mut fillers);
        ringloop::sleep(Duration::from_millis(50)).await;
        exhaust_fds(&mut fillers);
        let before = accepted.load(Ordering::SeqCst);
        let mut clients = Vec::new();
        for socket in sockets {
            // The kernel completes the handshake from the backlog; accept(2) is what fails.
            let stream = socket.connect(addr).await.unwrap();
            stream.write_all(b"x").await.unwrap();
            clients.push(stream);
        }
        let (cpu0, ticks0, wall0) = (cpu_time(), ticks.load(Ordering::SeqCst), Instant::now());
        ringloop::sleep(WINDOW).await;
        let (cpu, ticked, wall) = (
            cpu_time() - cpu0,
            ticks.load(Ordering::SeqCst) - ticks0,
            wall0.elapsed(),
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            before,
            "accepted while out of descriptors"
        );
        println!("EMFILE window: {wall:?} wall, {cpu:?} CPU, {ticked} ticks");
        // A spinning accept loop burns a whole core for the whole window.
        assert!(
            cpu < wall / 2,
            "the accept loop spun: {cpu:?} CPU in {wall:?}"
        );
        assert!(
            ticked >= 5,
            "other tasks starved: {ticked} ticks in {wall:?}"
        );

        // Free the descriptors: every client is accepted and echoed.
        drop(fillers);
        for client in &clients {
            let mut buf = [0u8; 1];
            let n = ringloop::wait_for(client.read(&mut buf), Duration::from_secs(5))
                .await
                .expect("accepting did not resume")
                .unwrap();
            assert_eq!((n, buf[0]), (1, b'x'), "fd {}", client.as_raw_fd());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), before + CLIENTS);
        ticker.cancel();
        server.close();
    });
}
