//! An echo server written as a `Protocol` (asyncio's low-level API: `loop.create_server`).
//!
//! ```text
//! cargo run --example protocol_echo -- 8890
//! ```
//!
//! The asyncio original ("TCP Echo Server" with protocols):
//!
//! ```python
//! class EchoServerProtocol(asyncio.Protocol):
//!     def connection_made(self, transport):
//!         self.transport = transport
//!     def data_received(self, data):
//!         self.transport.write(data)
//!
//! server = await loop.create_server(EchoServerProtocol, '127.0.0.1', 8888)
//! ```

use ringloop::net::{create_server, Protocol, Transport};
use std::io;

#[derive(Default)]
struct EchoServerProtocol {
    transport: Option<Transport>,
}

impl Protocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: Transport) {
        let peer = transport
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!("Connection from {peer}");
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        let transport = self
            .transport
            .as_ref()
            .expect("connection_made comes first");
        transport.write(data);
        // A peer that does not read its echo: drop it once 1 MiB waits for it.
        if transport.get_write_buffer_size() > 1024 * 1024 {
            transport.close();
        }
    }

    fn eof_received(&mut self) -> bool {
        println!("The peer half-closed; closing");
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        match error {
            None => println!("Connection closed"),
            Some(e) => println!("Connection lost: {e}"),
        }
    }
}

fn main() {
    let port: u16 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 8890,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("usage: protocol_echo [PORT]   (0 picks a free port)");
            std::process::exit(2)
        }
    };
    ringloop::run(async move {
        let server = create_server(EchoServerProtocol::default, "127.0.0.1", port)
            .await
            .unwrap_or_else(|e| {
                eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1)
            });
        println!("serving on {}", server.sockets()[0]);
        server.serve_forever().await;
    });
}
