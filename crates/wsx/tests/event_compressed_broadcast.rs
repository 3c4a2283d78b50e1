//! Compressed broadcasts (`Config::deflate_shared_broadcasts`): the server answers
//! permessage-deflate with `server_no_context_takeover`, deflates a broadcast once per distinct
//! setting and sends the same compressed frame to every connection with that setting; the
//! plain frame to connections without compression, to messages under the threshold and to
//! messages prepared with `compress(false)`. Checked on raw frames and with wsx's own clients,
//! over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{next, serve, within};
use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsx::proto::deflate::DeflateConfig;
use wsx::{Client, Config, Conn, MessageType, PreparedMessage, Server};

/// A compressing server (shared broadcasts on or off) that reports its connections.
async fn server(shared: bool) -> (event_support::Running, mpsc::UnboundedReceiver<Conn>) {
    let config = Config {
        compression: Some(DeflateConfig::default()),
        deflate_shared_broadcasts: shared,
        ..Config::default()
    };
    let server = Server::new(config);
    let (tx, rx) = mpsc::unbounded_channel();
    server.on_connection(move |conn| {
        let _ = tx.send(conn);
    });
    (serve(server).await, rx)
}

/// A raw TCP client that offered `extensions` (none: no header) and read the 101; returns the
/// stream and the `Sec-WebSocket-Extensions` the server answered.
async fn raw_client(
    running: &event_support::Running,
    extensions: Option<&str>,
) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(running.addr).await.unwrap();
    let offer = extensions.map_or(String::new(), |e| {
        format!("Sec-WebSocket-Extensions: {e}\r\n")
    });
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n",
        running.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "handshake response");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let answered = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("sec-websocket-extensions:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (tcp, answered)
}

/// Reads one whole server frame: (first header byte, payload).
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(head[1] & 0x80, 0, "unmasked");
    let len = match head[1] & 0x7f {
        126 => usize::from(tcp.read_u16().await.unwrap()),
        127 => usize::try_from(tcp.read_u64().await.unwrap()).unwrap(),
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

/// Inflates one compressed message from an empty window (RFC 7692 §7.2.2: with its tail).
fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut out = Vec::with_capacity(64 * 1024);
    Decompress::new(false)
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

/// A JSON message well over the default threshold (64 bytes).
fn news(i: usize) -> String {
    format!(
        r#"{{"event":"chat","data":{{"room":"lobby","user":"ana","n":{i},"text":"the quick brown fox jumps over the lazy dog, the quick brown fox jumps again"}}}}"#
    )
}

#[tokio::test]
async fn a_broadcast_is_deflated_once_and_the_same_frame_goes_to_every_compressed_connection() {
    within(async {
        let (running, mut conns) = server(true).await;
        let (mut a, answer) = raw_client(&running, Some("permessage-deflate")).await;
        assert!(
            answer.contains("server_no_context_takeover"),
            "the server keeps no context: {answer}"
        );
        let (mut b, _) =
            raw_client(&running, Some("permessage-deflate; client_max_window_bits")).await;
        // Asks for a smaller window: a setting of its own, deflated separately.
        let (mut small, answer) = raw_client(
            &running,
            Some("permessage-deflate; server_max_window_bits=10"),
        )
        .await;
        assert!(answer.contains("server_max_window_bits=10"), "{answer}");
        let (mut plain, answer) = raw_client(&running, None).await;
        assert!(answer.is_empty());
        for _ in 0..4 {
            next(&mut conns, "a connection").await;
        }

        let text = news(1);
        let prepared = PreparedMessage::new(MessageType::Text, text.clone()).unwrap();
        assert_eq!(running.server.broadcast_prepared(&prepared), 4);
        let (fa, pa) = read_frame(&mut a).await;
        let (fb, pb) = read_frame(&mut b).await;
        let (fs, ps) = read_frame(&mut small).await;
        let (fp, pp) = read_frame(&mut plain).await;
        assert_eq!(fa, 0x80 | 0x40 | 0x1, "FIN, RSV1 (compressed), text");
        assert_eq!((fa, &pa), (fb, &pb), "the same compressed frame");
        assert!(pa.len() < text.len());
        assert_eq!(inflate(&pa), text.as_bytes());
        assert_eq!(fs, 0xc1);
        assert_eq!(inflate(&ps), text.as_bytes());
        assert_eq!((fp, pp), (0x81, text.clone().into_bytes()), "plain");

        // compress(false), and a message under the threshold: the plain frame for everyone.
        let off = PreparedMessage::new(MessageType::Text, text.clone())
            .unwrap()
            .compress(false);
        assert_eq!(running.server.broadcast_prepared(&off), 4);
        running
            .server
            .broadcast(MessageType::Binary, vec![7u8; 10])
            .unwrap();
        for tcp in [&mut a, &mut b, &mut small, &mut plain] {
            assert_eq!(read_frame(tcp).await, (0x81, text.clone().into_bytes()));
            assert_eq!(read_frame(tcp).await, (0x82, vec![7u8; 10]));
        }

        // Each message starts from an empty window: the second inflates on its own too.
        running
            .server
            .broadcast(MessageType::Text, news(2))
            .unwrap();
        let (f, p) = read_frame(&mut a).await;
        assert_eq!(f, 0xc1);
        assert_eq!(inflate(&p), news(2).as_bytes());
    })
    .await;
}

#[tokio::test]
async fn compressed_broadcasts_reach_wsx_clients_with_and_without_compression() {
    within(async {
        for shared in [true, false] {
            let (running, mut conns) = server(shared).await;
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut clients = Vec::new();
            for (i, compression) in [
                Some(DeflateConfig::default()),
                Some(DeflateConfig {
                    server_max_window_bits: 9,
                    ..DeflateConfig::default()
                }),
                None,
            ]
            .into_iter()
            .enumerate()
            {
                let config = Config {
                    compression,
                    ..Config::default()
                };
                let conn = Client::new(config)
                    .connect(&running.url(), http::HeaderMap::new())
                    .await
                    .unwrap();
                let tx = tx.clone();
                conn.on_message(move |_, kind, data| {
                    let _ = tx.send((i, kind, data));
                });
                clients.push(conn);
                next(&mut conns, "the connection").await;
            }
            for round in 0..20 {
                let prepared = PreparedMessage::new(MessageType::Text, news(round))
                    .unwrap()
                    .compress(round % 3 != 0);
                assert_eq!(running.server.broadcast_prepared(&prepared), 3);
            }
            let mut got = vec![Vec::new(); 3];
            for _ in 0..60 {
                let (i, kind, data) = next(&mut rx, "a broadcast").await;
                assert_eq!(kind, MessageType::Text);
                got[i].push(data);
            }
            let want: Vec<Bytes> = (0..20).map(|r| Bytes::from(news(r))).collect();
            for (i, messages) in got.iter().enumerate() {
                assert_eq!(messages, &want, "client {i} (shared {shared}), in order");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn with_context_takeover_each_connection_compresses_and_compress_false_sends_plain() {
    within(async {
        let (running, mut conns) = server(false).await;
        let (mut a, answer) = raw_client(&running, Some("permessage-deflate")).await;
        assert!(!answer.contains("server_no_context_takeover"), "{answer}");
        next(&mut conns, "the connection").await;
        running
            .server
            .broadcast(MessageType::Text, news(1))
            .unwrap();
        let (f, p) = read_frame(&mut a).await;
        assert_eq!(f, 0xc1, "compressed by the connection");
        assert_eq!(inflate(&p), news(1).as_bytes());
        let off = PreparedMessage::new(MessageType::Text, news(2))
            .unwrap()
            .compress(false);
        assert_eq!(running.server.broadcast_prepared(&off), 1);
        assert_eq!(read_frame(&mut a).await, (0x81, news(2).into_bytes()));
    })
    .await;
}
