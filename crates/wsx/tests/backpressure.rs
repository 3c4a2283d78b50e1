//! A peer that stops reading must not make a connection buffer without bound: sends stall once
//! the write buffer and the (deliberately small) socket buffers are full, and pongs owed to a
//! peer that pings but never reads do not pile up either (RFC 6455 §5.5.3 lets an endpoint
//! answer only the most recent ping).
//!
//! Socket buffers are set small on both ends so that what the kernel can hold is a known,
//! small amount; anything far beyond it must have been buffered by wsx.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bytes::Bytes;
use common::{handshake_on, masked_frame, read_frame, within};
use futures_util::FutureExt as _;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use wsx::{Message, WebSocket};

/// SO_SNDBUF / SO_RCVBUF asked for on every socket (Linux doubles it).
const SOCKET_BUFFER: u32 = 32 * 1024;

/// Far more than the kernel buffers of both ends plus wsx's 128 KiB write buffer.
const UNBOUNDED: usize = 16 << 20;

async fn small_listener() -> (TcpListener, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A hand-driven client with small socket buffers, after the opening handshake, and the wsx
/// server side of the same connection.
async fn small_pair() -> (TcpStream, WebSocket<TcpStream>) {
    let (listener, addr) = small_listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        wsx::accept(tcp).await.unwrap()
    });
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let tcp = handshake_on(tcp, addr).await;
    (tcp, server.await.unwrap())
}

#[tokio::test]
async fn feeding_a_peer_that_never_reads_stalls_instead_of_buffering_without_bound() {
    within(async {
        let (mut client, mut server) = small_pair().await;
        let chunk: Bytes = (0..64 * 1024).map(|i| (i % 251) as u8).collect();

        // Feed without ever yielding to the peer: a feed that cannot complete at once is the
        // stall we are looking for.
        let mut fed = 0;
        let mut stalled = false;
        while fed < UNBOUNDED {
            match server.feed(Message::Binary(chunk.clone())).now_or_never() {
                Some(result) => {
                    result.unwrap();
                    fed += chunk.len();
                }
                None => {
                    stalled = true;
                    break;
                }
            }
        }
        assert!(
            stalled,
            "{fed} bytes were fed to a peer that reads nothing, and feed never waited"
        );
        assert!(fed < 4 << 20, "feed waited only after {fed} bytes");

        // Once the peer reads, everything fed arrives intact and the flush completes.
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut received = 0;
            while received < fed {
                let frame = read_frame(&mut client, &mut buf).await.unwrap();
                assert_eq!(frame.opcode, 0x2);
                assert!(frame.payload == chunk, "a payload changed");
                received += frame.payload.len();
            }
            received
        });
        server.flush().await.unwrap();
        assert_eq!(reader.await.unwrap(), fed);
    })
    .await;
}

#[tokio::test]
async fn pings_from_a_peer_that_never_reads_do_not_queue_pongs_without_bound() {
    within(async {
        let (mut client, mut server) = small_pair().await;
        let server = tokio::spawn(async move {
            let mut pings = 0usize;
            while let Some(Ok(message)) = server.next().await {
                if matches!(message, Message::Ping(_)) {
                    pings += 1;
                }
            }
            pings
        });

        // 64 pings of 125 bytes per write; the client never reads the pongs.
        let batch: Vec<u8> = (0..64)
            .flat_map(|_| masked_frame(true, 0, 0x9, &[0x70; 125]))
            .collect();
        let mut pushed = 0;
        let mut stalled = false;
        while pushed < UNBOUNDED {
            // A bounded server stops reading (or answers only the latest ping and keeps
            // reading, which the second half checks); a write that makes no progress for a
            // second is taken as the first. A server that is merely slow can only make this
            // test pass wrongly, never fail wrongly.
            match tokio::time::timeout(Duration::from_secs(1), client.write_all(&batch)).await {
                Ok(result) => {
                    result.unwrap();
                    pushed += batch.len();
                }
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
        }
        if !stalled {
            // The server kept reading: it must have dropped pongs it could not send.
            client
                .write_all(&masked_frame(true, 0, 0x8, &1000u16.to_be_bytes()))
                .await
                .unwrap();
            let mut buf = Vec::new();
            let mut pong_bytes = 0;
            let mut frames = 0;
            while let Some(frame) = read_frame(&mut client, &mut buf).await {
                frames += 1;
                assert!(frames <= 1 << 20, "too many frames");
                if frame.opcode == 0xa {
                    pong_bytes += 2 + frame.payload.len();
                }
                if frame.opcode == 0x8 {
                    break;
                }
            }
            let pings = server.await.unwrap();
            assert!(
                pong_bytes < 4 << 20,
                "a peer that never read sent {pushed} bytes of pings ({pings} pings) and the \
                 server queued {pong_bytes} bytes of pongs for it"
            );
        }
    })
    .await;
}
