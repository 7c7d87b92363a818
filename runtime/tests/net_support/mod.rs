//! Shared helpers of the `net_*` tests: the {epoll, io_uring} x {current-thread,
//! multi-thread} matrix, and a descriptor count.
#![allow(dead_code)]

use ringloop::{BackendChoice, Builder, Flavor, Runtime};

/// One runtime configuration of the matrix.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub backend: BackendChoice,
    pub flavor: Flavor,
}

/// Every configuration; io_uring is skipped (with a message) where the kernel refuses it.
pub fn matrix() -> Vec<(Config, Runtime)> {
    let mut out = Vec::new();
    for backend in [BackendChoice::Epoll, BackendChoice::IoUring] {
        for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
            match build(backend, flavor) {
                Ok(rt) => out.push((Config { backend, flavor }, rt)),
                Err(e) => eprintln!("skipping {backend:?}/{flavor:?}: {e}"),
            }
        }
    }
    out
}

pub fn build(backend: BackendChoice, flavor: Flavor) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .flavor(flavor)
        .worker_threads(2)
        .backend(backend)
        .build()
}

/// Runs `body` on every configuration, each bounded by `limit` (a hang fails the test).
pub fn each<F, Fut>(limit: std::time::Duration, body: F)
where
    F: Fn(Config) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    each_where(limit, |_| true, body)
}

/// Like [`each`], on the configurations `keep` accepts.
pub fn each_where<F, Fut>(limit: std::time::Duration, keep: impl Fn(&Config) -> bool, body: F)
where
    F: Fn(Config) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for (config, rt) in matrix() {
        if !keep(&config) {
            eprintln!("not running on {config:?}");
            continue;
        }
        eprintln!("running on {config:?}");
        let fut = body(config);
        let out = rt.block_on(ringloop::wait_for(fut, limit));
        assert!(out.is_ok(), "{config:?}: timed out after {limit:?}");
    }
}

/// io_uring runtimes (both flavours) whose rings have no provided-buffer ring: its
/// registration fails by fault injection while they are built, so stream reads take the
/// single-shot receive path of kernels older than 6.0. Empty where io_uring is refused.
pub fn single_shot_matrix() -> Vec<(Config, Runtime)> {
    use ringloop_reactor::sys::{fault, Syscall};
    let mut out = Vec::new();
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        // Rings are set up on this thread, so the fault applies to each of them.
        fault::inject(Syscall::IoUringRegisterBufRing, 1_000, libc::EINVAL);
        let built = build(BackendChoice::IoUring, flavor);
        fault::inject(Syscall::IoUringRegisterBufRing, 0, 0);
        match built {
            Ok(rt) => out.push((
                Config {
                    backend: BackendChoice::IoUring,
                    flavor,
                },
                rt,
            )),
            Err(e) => eprintln!("skipping io_uring/{flavor:?} without provided buffers: {e}"),
        }
    }
    out
}

/// Like [`each`], on [`single_shot_matrix`].
pub fn each_single_shot<F, Fut>(limit: std::time::Duration, body: F)
where
    F: Fn(Config) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for (config, rt) in single_shot_matrix() {
        eprintln!("running on {config:?}, single-shot receives");
        let fut = body(config);
        let out = rt.block_on(ringloop::wait_for(fut, limit));
        assert!(out.is_ok(), "{config:?}: timed out after {limit:?}");
    }
}

/// A connected pair of TCP streams on 127.0.0.1: (client, server).
pub async fn tcp_pair() -> (ringloop::net::TcpStream, ringloop::net::TcpStream) {
    let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = ringloop::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A small deterministic generator (xorshift), so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A protocol that echoes every byte back (and, on EOF, lets the transport close once the
/// echo is flushed).
pub struct Echo {
    transport: Option<ringloop::net::Transport>,
}

impl Echo {
    pub fn new() -> Echo {
        Echo { transport: None }
    }
}

impl ringloop::net::Protocol for Echo {
    fn connection_made(&mut self, transport: ringloop::net::Transport) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.transport.as_ref().unwrap().write(data);
    }
    fn eof_received(&mut self) -> bool {
        // Returning false closes the transport after the echo is flushed.
        false
    }
}
