//! The event loop's network methods: `LoopHandle::create_server` and `create_connection`
//! (asyncio's `loop.create_server` / `loop.create_connection`), on both flavours, on 127.0.0.1.

mod net_support;

use net_support::Echo;
use ringloop::net::{Protocol, Transport};
use ringloop::{Builder, EventLoop, Flavor};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Collects what it receives and says when `want` bytes have come.
struct Collect {
    got: Arc<Mutex<Vec<u8>>>,
    want: usize,
    done: Option<std::sync::mpsc::Sender<()>>,
}

impl Protocol for Collect {
    fn connection_made(&mut self, _transport: Transport) {}
    fn data_received(&mut self, data: &[u8]) {
        let mut got = self.got.lock().unwrap();
        got.extend_from_slice(data);
        if got.len() >= self.want {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

fn new_loop(flavor: Flavor) -> EventLoop {
    EventLoop::with_builder(&Builder::new_multi_thread().flavor(flavor).worker_threads(2)).unwrap()
}

#[test]
fn a_protocol_server_and_client_made_through_the_loop_echo_byte_exact() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let mut lp = new_loop(flavor);
        let got = lp.run_until_complete(async move {
            let lp = ringloop::get_running_loop().unwrap();
            let server = lp.create_server(Echo::new, "127.0.0.1", 0).await.unwrap();
            let port = server.sockets()[0].port();
            let message: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            let got = Arc::new(Mutex::new(Vec::new()));
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let collect = Collect {
                got: got.clone(),
                want: message.len(),
                done: Some(done_tx),
            };
            let (transport, _protocol) = lp
                .create_connection(move || collect, "127.0.0.1", port)
                .await
                .unwrap();
            transport.write(&message);
            // Wait (on the loop) until the echo is complete, at most 10 s.
            for _ in 0..10_000 {
                if done_rx.try_recv().is_ok() {
                    break;
                }
                ringloop::sleep(Duration::from_millis(1)).await;
            }
            transport.close();
            server.close();
            let got = got.lock().unwrap().clone();
            assert_eq!(got, message, "{flavor:?}");
            got.len()
        });
        assert_eq!(got.unwrap(), 100_000);
    }
}

#[test]
fn the_loops_network_methods_refuse_to_run_outside_the_loop() {
    let mut lp = new_loop(Flavor::CurrentThread);
    let handle = lp
        .run_until_complete(async { ringloop::get_running_loop().unwrap() })
        .unwrap();
    // Awaited on another runtime: an error that says where to await it, not a server bound on
    // the wrong runtime.
    let other = Builder::new_current_thread().build().unwrap();
    let Err(err) = other.block_on(handle.create_server(Echo::new, "127.0.0.1", 0)) else {
        panic!("create_server outside its loop must fail");
    };
    assert!(
        err.to_string().contains("inside its loop"),
        "unexpected error: {err}"
    );
    let Err(err) = other.block_on(handle.create_connection(Echo::new, "127.0.0.1", 1)) else {
        panic!("create_connection outside its loop must fail");
    };
    assert!(err.to_string().contains("inside its loop"), "{err}");
}
