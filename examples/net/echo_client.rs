//! An echo client on asyncio's streams: sends each message as a line, prints the echo.
//!
//! ```text
//! cargo run --example echo_server -- 8888 &
//! cargo run --example echo_client -- 8888 hello world
//! ```
//!
//! The asyncio original ("TCP echo client using streams"):
//!
//! ```python
//! reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
//! writer.write(message.encode())
//! await writer.drain()
//! data = await reader.readline()
//! writer.close()
//! await writer.wait_closed()
//! ```

use ringloop::streams::open_connection;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = match args.next().map(|a| a.parse()) {
        Some(Ok(port)) => port,
        _ => {
            eprintln!("usage: echo_client PORT [MESSAGE...]");
            std::process::exit(2)
        }
    };
    let mut messages: Vec<String> = args.collect();
    if messages.is_empty() {
        messages.push("Hello World!".into());
    }
    ringloop::run(async move {
        println!("connecting to 127.0.0.1:{port}");
        let (mut reader, writer) = match open_connection("127.0.0.1", port).await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("cannot connect to 127.0.0.1:{port}: {e}");
                std::process::exit(1)
            }
        };
        for message in messages {
            println!("Send: {message:?}");
            writer.write(format!("{message}\n").as_bytes());
            writer.drain().await.expect("send failed");
            let line = reader.readline().await.expect("receive failed");
            println!("Received: {:?}", String::from_utf8_lossy(&line).trim_end());
        }
        println!("Close the connection");
        writer.close();
        writer.wait_closed().await;
    });
}
