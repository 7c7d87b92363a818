//! An echo server on asyncio's streams: every line a client sends comes back.
//!
//! ```text
//! cargo run --example echo_server -- 8888      # port 0 picks a free one
//! ```
//!
//! The asyncio original (`asyncio` docs, "TCP echo server using streams"):
//!
//! ```python
//! async def handle_echo(reader, writer):
//!     while line := await reader.readline():
//!         writer.write(line)
//!         await writer.drain()
//!     writer.close()
//!     await writer.wait_closed()
//!
//! server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//! async with server:
//!     await server.serve_forever()
//! ```

use ringloop::streams::{start_server, StreamReader, StreamWriter};

async fn handle_echo(mut reader: StreamReader, writer: StreamWriter) {
    let peer = writer
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("{peer} connected");
    loop {
        match reader.readline().await {
            Ok(line) if line.is_empty() => break, // end of stream
            Ok(line) => {
                writer.write(&line);
                if let Err(e) = writer.drain().await {
                    println!("{peer}: {e}");
                    break;
                }
            }
            Err(e) => {
                println!("{peer}: {e}");
                break;
            }
        }
    }
    writer.close();
    writer.wait_closed().await;
    println!("{peer} disconnected");
}

fn port_argument() -> u16 {
    match std::env::args().nth(1) {
        None => 8888,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: echo_server [PORT]   (PORT is 0..=65535; 0 picks a free port)");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let port = port_argument();
    ringloop::run(async move {
        let server = match start_server(handle_echo, "127.0.0.1", port).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1)
            }
        };
        println!("serving on {}", server.sockets()[0]);
        server.serve_forever().await;
    });
}
