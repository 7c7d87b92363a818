//! asyncio streams' edge cases on every backend and flavour: a separator split across reads,
//! end of stream in the middle of `readexactly`/`readuntil`/`readline`, limit overruns, and
//! `drain` back-pressure against a slow reader.

mod net_support;

use net_support::{each, tcp_pair};
use ringloop::streams::{
    from_tcp, from_tcp_with_limit, IncompleteReadError, LimitOverrunError, StreamReader,
};
use std::io;
use std::net::Shutdown;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// A connected pair on 127.0.0.1: (raw writer side, the other side).
/// A reader fed by `chunks`, written with a pause between them (so each arrives in its own
/// read), then end of stream.
async fn fed_reader(chunks: Vec<Vec<u8>>, limit: usize) -> StreamReader {
    let (raw, other) = tcp_pair().await;
    let _feeder = ringloop::create_task(async move {
        for chunk in chunks {
            raw.write_all(&chunk).await.unwrap();
            ringloop::sleep(Duration::from_millis(5)).await;
        }
        raw.shutdown(Shutdown::Write).unwrap();
        // Keep the socket open until the reader is done with it.
        ringloop::sleep(Duration::from_secs(5)).await;
    });
    from_tcp_with_limit(other, limit).0
}

fn incomplete(e: &io::Error) -> IncompleteReadError {
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    IncompleteReadError::from_io(e)
        .expect("not an IncompleteReadError")
        .clone()
}

fn overrun(e: &io::Error) -> LimitOverrunError {
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    LimitOverrunError::from_io(e)
        .expect("not a LimitOverrunError")
        .clone()
}

#[test]
fn readuntil_finds_a_separator_split_across_reads() {
    each(LIMIT, |_| async move {
        let chunks = vec![b"abc\r".to_vec(), b"\ndef\r".to_vec(), b"\n".to_vec()];
        let mut r = fed_reader(chunks, 1024).await;
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"abc\r\n");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"def\r\n");
        let e = r.readuntil(b"\r\n").await.unwrap_err();
        assert_eq!(incomplete(&e).partial, b"");
        assert!(r.at_eof());
    });
}

#[test]
fn readuntil_with_eof_in_the_middle_is_incomplete_with_the_partial_bytes() {
    each(LIMIT, |_| async move {
        let mut r = fed_reader(vec![b"no sep".to_vec(), b"arator".to_vec()], 1024).await;
        let e = r.readuntil(b"\n").await.unwrap_err();
        let inc = incomplete(&e);
        assert_eq!(inc.partial, b"no separator");
        assert_eq!(inc.expected, None);
        assert!(r.at_eof());
        assert_eq!(
            r.read(10).await.unwrap(),
            b"",
            "the partial bytes were consumed"
        );
    });
}

#[test]
fn readexactly_across_reads_and_with_eof_in_the_middle() {
    each(LIMIT, |_| async move {
        let chunks = vec![b"12".to_vec(), b"345".to_vec(), b"6789".to_vec()];
        let mut r = fed_reader(chunks, 1024).await;
        assert_eq!(r.readexactly(4).await.unwrap(), b"1234");
        assert!(!r.at_eof());
        let e = r.readexactly(10).await.unwrap_err();
        let inc = incomplete(&e);
        assert_eq!(inc.partial, b"56789");
        assert_eq!(inc.expected, Some(10));
        assert!(r.at_eof());
        assert_eq!(r.readexactly(0).await.unwrap(), b"");
    });
}

#[test]
fn readuntil_past_the_limit_is_an_overrun_and_keeps_the_bytes() {
    each(LIMIT, |_| async move {
        // Default limit (64 KiB): 70 KiB with no separator.
        let data = vec![b'x'; 70 * 1024];
        let mut r = fed_reader(
            vec![data[..40 * 1024].to_vec(), data[40 * 1024..].to_vec()],
            ringloop::streams::DEFAULT_LIMIT,
        )
        .await;
        assert_eq!(r.limit(), 64 * 1024);
        let e = r.readuntil(b"\n").await.unwrap_err();
        let over = overrun(&e);
        assert!(over.consumed > 64 * 1024, "{over:?}");
        // The bytes stayed buffered (asyncio's behaviour): they can still be read.
        let rest = r.readexactly(70 * 1024).await.unwrap();
        assert_eq!(rest, data);

        // A separator found, but beyond the limit, is an overrun too.
        let mut r = fed_reader(vec![b"0123456789\n".to_vec()], 4).await;
        let e = r.readuntil(b"\n").await.unwrap_err();
        assert_eq!(overrun(&e).consumed, 10);
        assert_eq!(
            r.readuntil(b"\n").await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    });
}

#[test]
fn readline_edge_cases() {
    each(LIMIT, |_| async move {
        let chunks = vec![
            b"first\nsec".to_vec(),
            b"ond\n".to_vec(),
            b"this line is far too long\nshort\nlast, no newline".to_vec(),
        ];
        let mut r = fed_reader(chunks, 16).await;
        assert_eq!(r.readline().await.unwrap(), b"first\n");
        assert_eq!(r.readline().await.unwrap(), b"second\n");
        // Over the limit: an error, and the long line is discarded up to its newline.
        let e = r.readline().await.unwrap_err();
        overrun(&e);
        assert_eq!(r.readline().await.unwrap(), b"short\n");
        // End of stream: the partial last line, then empty lines.
        assert_eq!(r.readline().await.unwrap(), b"last, no newline");
        assert_eq!(r.readline().await.unwrap(), b"");
        assert!(r.at_eof());
    });
}

#[test]
fn an_empty_separator_is_invalid_input() {
    each(LIMIT, |_| async move {
        let mut r = fed_reader(vec![b"x".to_vec()], 16).await;
        let e = r.readuntil(b"").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn drain_applies_back_pressure_against_a_slow_reader() {
    // More than the reader's socket buffer and, on io_uring, the runtime's read-ahead
    // (256 KiB, `net/uring_read.rs`) can absorb, so the writer must wait for the reader.
    const TOTAL: usize = 2 * 1024 * 1024;
    const CHUNK: usize = 16 * 1024;
    each(LIMIT, |config| async move {
        let (raw_reader, writer_side) = tcp_pair().await;
        // A small send buffer, so the write queue, not the kernel, holds the backlog. (A tiny
        // receive buffer would make TCP itself stall on window updates: slow, not wrong.)
        writer_side.set_send_buffer_size(16 * 1024).unwrap();
        // No Nagle stalls behind delayed ACKs with these small windows.
        writer_side.set_nodelay(true).unwrap();
        let (_r, writer) = from_tcp(writer_side);
        let (low, high) = writer.write_buffer_limits();
        assert_eq!((low, high), (16 * 1024, 64 * 1024));
        assert_eq!(
            writer
                .set_write_buffer_limits(Some(10), Some(20))
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );

        // The slow reader: 16 KiB every 2 ms.
        let reader = ringloop::create_task(async move {
            let mut got = Vec::with_capacity(TOTAL);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = raw_reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                ringloop::sleep(Duration::from_millis(2)).await;
            }
            got
        });
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let mut max_buffered = 0;
        let mut waits = 0;
        for chunk in data.chunks(CHUNK) {
            writer.write(chunk);
            let buffered = writer.write_buffer_size();
            max_buffered = max_buffered.max(buffered);
            if buffered > high {
                waits += 1;
            }
            writer.drain().await.unwrap();
            // After drain, the buffer is at most the high-water mark.
            assert!(writer.write_buffer_size() <= high, "{config:?}");
        }
        writer.write_eof();
        let got = reader.await.unwrap();
        assert!(got == data, "{config:?}: {} bytes, or different", got.len());
        assert!(
            max_buffered <= high + CHUNK,
            "{config:?}: {max_buffered} buffered"
        );
        assert!(waits > 0, "{config:?}: drain never had to wait");
    });
}

#[test]
fn write_after_close_is_reported_by_drain() {
    each(LIMIT, |_| async move {
        let (_other, side) = tcp_pair().await;
        let (_r, w) = from_tcp(side);
        w.write(b"before");
        w.close();
        w.wait_closed().await;
        assert!(w.is_closing());
        w.write(b"after");
        assert_eq!(
            w.drain().await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    });
}
