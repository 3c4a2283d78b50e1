//! Broadcasts written straight to an idle connection's socket (the direct path of
//! `Server::broadcast`): every frame arrives whole and in order, behind what was queued before
//! it, the rest of a frame the socket took in part goes before anything else, and the close
//! frame stays last, whoever started the close. Checked on the raw bytes a client reads, over
//! loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{next, serve, within};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsx::{CloseCode, Config, Conn, MessageType, Server};

/// A server whose connections are handed to the test, and its address.
async fn server(config: Config) -> (event_support::Running, mpsc::UnboundedReceiver<Conn>) {
    let server = Server::new(config);
    let (tx, rx) = mpsc::unbounded_channel();
    server.on_connection(move |conn| {
        let _ = tx.send(conn);
    });
    (serve(server).await, rx)
}

/// A raw TCP client that has done the opening handshake (and nothing else).
async fn raw_client(running: &event_support::Running) -> TcpStream {
    let mut tcp = TcpStream::connect(running.addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        running.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "handshake response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// The frames in `bytes` (server frames: unmasked, unfragmented), as (opcode, payload); fails
/// on a frame cut short.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "a frame header cut short");
        assert_eq!(bytes[0] & 0xf0, 0x80, "FIN, no RSV bits: {:#x}", bytes[0]);
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let opcode = bytes[0] & 0x0f;
        let (len, header) = match bytes[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().unwrap())).unwrap(),
                10,
            ),
            n => (usize::from(n), 2),
        };
        assert!(bytes.len() >= header + len, "a frame cut short");
        out.push((opcode, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    out
}

/// A payload of `len` bytes tagged with `tag` and `seq`, the rest a pattern of both.
fn payload(tag: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut p = vec![tag];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((p.len()..len).map(|i| (i as u32 ^ seq).to_le_bytes()[0] ^ tag));
    p
}

/// Reads everything until the server closes TCP.
async fn read_to_end(tcp: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    tcp.read_to_end(&mut all).await.unwrap();
    all
}

/// Sends `BURST` large broadcasts, then `MIXED` rounds of a broadcast and a write of the
/// connection's own, from a thread of its own (racing the connection's task), then closes; with
/// `read_during`, the client reads all along, else only once everything was sent. Checks the
/// raw bytes: every frame whole, in the order sent, then the close.
async fn burst(read_during: bool, burst: u32, mixed: u32, size: usize) {
    let config = Config {
        max_pending_bytes: 64 << 20,
        ..Config::default()
    };
    let (running, mut conns) = server(config).await;
    let tcp = raw_client(&running).await;
    let conn = next(&mut conns, "the connection").await;
    // Give the connection's task time to park: the first broadcasts find it idle.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut tcp = Some(tcp);
    let reading = read_during.then(|| {
        let mut tcp = tcp.take().unwrap();
        tokio::spawn(async move { read_to_end(&mut tcp).await })
    });
    let (server, c) = (running.server.clone(), conn.clone());
    let sender = tokio::task::spawn_blocking(move || {
        for seq in 0..burst {
            let reached = server.broadcast(MessageType::Binary, payload(b'B', seq, size));
            assert_eq!(reached.unwrap(), 1);
        }
        for seq in burst..burst + mixed {
            server
                .broadcast(MessageType::Binary, payload(b'B', seq, size))
                .unwrap();
            c.write_binary(payload(b'W', seq, 100)).unwrap();
        }
        c.close(CloseCode::NORMAL_CLOSURE, "done").unwrap();
    });
    let bytes = match reading {
        Some(reading) => {
            sender.await.unwrap();
            reading.await.unwrap()
        }
        None => {
            sender.await.unwrap();
            read_to_end(tcp.as_mut().unwrap()).await
        }
    };
    let got = frames(&bytes);
    let mut expected = Vec::new();
    for seq in 0..burst {
        expected.push((2u8, payload(b'B', seq, size)));
    }
    for seq in burst..burst + mixed {
        expected.push((2, payload(b'B', seq, size)));
        expected.push((2, payload(b'W', seq, 100)));
    }
    assert_eq!(
        got.len(),
        expected.len() + 1,
        "every message, then the close"
    );
    for (i, (frame, want)) in got.iter().zip(&expected).enumerate() {
        assert!(
            frame == want,
            "frame {i} differs: tag {:?} seq {:?}",
            frame.1.first(),
            frame.1.get(1..5)
        );
    }
    let (opcode, close) = got.last().unwrap();
    assert_eq!((*opcode, &close[..2]), (8, &1000u16.to_be_bytes()[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_to_a_client_that_stops_reading_arrive_whole_and_in_order() {
    // ~9.6 MB, past what loopback's socket buffers hold: the direct writes fill the socket,
    // one is taken in part, its rest and everything after it queue (and go first when the
    // client reads again).
    within(burst(false, 600, 20, 16 * 1024)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_never_overtakes_a_write_queued_before_it() {
    // The client reads all along: the connection parks often, and a broadcast that finds the
    // socket idle must still queue behind the connection's own write queued just before it.
    within(burst(true, 0, 2000, 64)).await;
}

/// Broadcasts keep coming from another thread while the connection closes: whichever side
/// starts the close, nothing follows our close frame (RFC 6455 §5.5.1).
async fn close_stays_last(peer_closes: bool) {
    let (running, mut conns) = server(Config::default()).await;
    let mut tcp = raw_client(&running).await;
    let conn = next(&mut conns, "the connection").await;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU32::new(0));
    let broadcaster = {
        let (server, stop, count) = (running.server.clone(), stop.clone(), count.clone());
        std::thread::spawn(move || {
            let mut seq = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let _ = server.broadcast(MessageType::Binary, payload(b'B', seq, 64));
                seq += 1;
                count.store(seq, Ordering::Relaxed);
                if seq.is_multiple_of(64) {
                    std::thread::yield_now();
                }
            }
            seq
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    if peer_closes {
        // A masked close frame, code 1000 (mask 0: the payload is unchanged).
        tcp.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
            .await
            .unwrap();
    } else {
        conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
    }
    let got = frames(&read_to_end(&mut tcp).await);
    // Broadcasts go on past the close (on a loaded machine the thread may not have run since):
    // some of them must find the connection closed.
    let at_close = count.load(Ordering::Relaxed);
    while count.load(Ordering::Relaxed) < at_close + 64 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let sent = broadcaster.join().unwrap();
    let (opcode, close) = got.last().expect("frames");
    assert_eq!((*opcode, &close[..2]), (8, &1000u16.to_be_bytes()[..]));
    let data: Vec<_> = got[..got.len() - 1].iter().collect();
    assert!(
        data.iter().all(|(op, _)| *op == 2),
        "only data before the close"
    );
    assert!(
        !data.is_empty() && data.len() < sent as usize,
        "{} of {sent} broadcasts before the close",
        data.len()
    );
    // Broadcasts refused by a full queue are skipped; the others come whole, in order.
    let mut last = None;
    for (_, p) in data {
        let seq = u32::from_be_bytes(p[1..5].try_into().unwrap());
        assert_eq!(p, &payload(b'B', seq, 64), "broadcast {seq} whole");
        assert!(
            last.is_none_or(|l| seq > l),
            "broadcast {seq} after {last:?}"
        );
        last = Some(seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_follows_the_close_frame_when_the_server_closes_during_broadcasts() {
    within(close_stays_last(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_follows_the_close_frame_when_the_peer_closes_during_broadcasts() {
    within(close_stays_last(true)).await;
}
