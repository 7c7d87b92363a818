//! A chat server: every line a client sends is broadcast to every other client.
//!
//! ```text
//! cargo run --example chat_server -- 8889
//! # then, in several terminals:  nc 127.0.0.1 8889
//! ```
//!
//! Each connection is a task running `handle_client` (asyncio's `start_server` callback).
//! The room is a map from client id to its `StreamWriter`; a broadcast writes to every other
//! writer without waiting (the writes are buffered), so a slow client cannot stall the
//! others. A client whose buffer grows past 1 MiB is too slow to keep: it is dropped.

use ringloop::streams::{start_server, StreamReader, StreamWriter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Room = Arc<Mutex<HashMap<u64, Arc<StreamWriter>>>>;

const TOO_SLOW: usize = 1024 * 1024;

fn broadcast(room: &Room, from: u64, message: &[u8]) {
    let mut room = room.lock().unwrap();
    room.retain(|id, writer| {
        if *id == from {
            return true;
        }
        writer.write(message);
        if writer.write_buffer_size() > TOO_SLOW {
            writer.close();
            return false;
        }
        true
    });
}

async fn handle_client(id: u64, room: Room, mut reader: StreamReader, writer: StreamWriter) {
    let name = writer
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| format!("client {id}"));
    let writer = Arc::new(writer);
    writer.write(
        format!(
            "welcome, {name}; {} others here\n",
            room.lock().unwrap().len()
        )
        .as_bytes(),
    );
    room.lock().unwrap().insert(id, writer.clone());
    broadcast(&room, id, format!("* {name} joined\n").as_bytes());
    println!("{name} joined");
    while let Ok(line) = reader.readline().await {
        if line.is_empty() {
            break;
        }
        let mut message = format!("[{name}] ").into_bytes();
        message.extend_from_slice(&line);
        broadcast(&room, id, &message);
    }
    room.lock().unwrap().remove(&id);
    broadcast(&room, id, format!("* {name} left\n").as_bytes());
    println!("{name} left");
    writer.close();
}

fn main() {
    let port: u16 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 8889,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("usage: chat_server [PORT]   (0 picks a free port)");
            std::process::exit(2)
        }
    };
    ringloop::run(async move {
        let room: Room = Arc::default();
        let next_id = Arc::new(AtomicU64::new(0));
        let server = start_server(
            move |reader, writer| {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                handle_client(id, room.clone(), reader, writer)
            },
            "127.0.0.1",
            port,
        )
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        });
        println!("chat server on {}", server.sockets()[0]);
        server.serve_forever().await;
    });
}
