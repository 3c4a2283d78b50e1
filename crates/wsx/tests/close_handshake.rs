//! The close handshake (RFC 6455 §5.5.1, §7): started by either side between two wsx peers
//! over loopback TCP, against a peer that never answers (bounded by `close_timeout`, on a paused
//! clock over an in-memory pipe), and against a peer that drops TCP without closing (1006).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{bind, masked_frame, raw_accept, raw_handshake, read_frame, url, within};
use http::HeaderMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use wsx::handshake::{ClientOptions, ServerOptions, Target};
use wsx::proto::State;
use wsx::{CloseCode, CloseFrame, Error, Message, WebSocket, WebSocketConfig};

/// Longer than any close handshake between two live local peers takes; a close that waited
/// this long was not answered.
const GENEROUS: Duration = Duration::from_secs(8);

fn config(close_timeout: Duration) -> WebSocketConfig {
    WebSocketConfig {
        close_timeout,
        ..WebSocketConfig::default()
    }
}

async fn accept_one(listener: &TcpListener, config: WebSocketConfig) -> WebSocket<TcpStream> {
    let (tcp, _) = listener.accept().await.unwrap();
    wsx::accept_with(tcp, &ServerOptions::default(), config)
        .await
        .unwrap()
        .0
}

async fn connect(addr: std::net::SocketAddr, config: WebSocketConfig) -> WebSocket<TcpStream> {
    wsx::connect_with(
        &url(addr),
        &HeaderMap::new(),
        &ClientOptions::default(),
        config,
    )
    .await
    .unwrap()
    .0
}

#[tokio::test]
async fn client_close_is_received_by_the_server_which_then_closes_tcp() {
    within(async {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let mut ws = accept_one(&listener, config(GENEROUS)).await;
            let close = ws.next().await.unwrap().unwrap();
            let end = ws.next().await;
            (close, end.is_none(), ws.close_code(), ws.state())
        });
        let mut client = connect(addr, config(GENEROUS)).await;

        let started = Instant::now();
        client
            .close(Some(CloseFrame::new(1000, "bye")))
            .await
            .unwrap();
        // The client waits for the server to close TCP (RFC 6455 §7.1.1) up to close_timeout;
        // returning well before it means the server did close.
        assert!(
            started.elapsed() < GENEROUS / 2,
            "close() took {:?}: the server did not close TCP",
            started.elapsed()
        );
        assert_eq!(client.close_code(), CloseCode::NORMAL_CLOSURE);
        assert_eq!(client.state(), State::Closed);
        assert_eq!(
            client.close_frame().map(|f| f.code),
            Some(CloseCode::NORMAL_CLOSURE)
        );

        let (close, ended, code, state) = server.await.unwrap();
        assert_eq!(close, Message::Close(Some(CloseFrame::new(1000, "bye"))));
        assert!(ended, "the server's stream must end after the close");
        assert_eq!(code, CloseCode::NORMAL_CLOSURE);
        assert_eq!(state, State::Closed);
    })
    .await;
}

#[tokio::test]
async fn server_close_is_received_by_the_client_whose_stream_then_ends() {
    within(async {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let mut ws = accept_one(&listener, config(GENEROUS)).await;
            let started = Instant::now();
            ws.close(Some(CloseFrame::new(4001, "going")))
                .await
                .unwrap();
            (started.elapsed(), ws.close_code())
        });
        let mut client = connect(addr, config(GENEROUS)).await;

        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame::new(4001, "going")))
        );
        assert!(client.next().await.is_none(), "the stream must end");
        assert!(client.next().await.is_none(), "and stay ended");
        assert_eq!(client.close_code(), CloseCode::from(4001));

        let (took, code) = server.await.unwrap();
        assert!(took < GENEROUS / 2, "the client's reply took {took:?}");
        assert_eq!(code, CloseCode::from(4001), "the client echoes the code");
    })
    .await;
}

#[tokio::test]
async fn close_without_a_status_code_is_reported_as_1005() {
    within(async {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let mut ws = accept_one(&listener, config(GENEROUS)).await;
            let close = ws.next().await.unwrap().unwrap();
            assert!(ws.next().await.is_none());
            (close, ws.close_code())
        });
        let mut client = connect(addr, config(GENEROUS)).await;
        client.close(None).await.unwrap();
        let (close, code) = server.await.unwrap();
        assert_eq!(close, Message::Close(None));
        assert_eq!(code, CloseCode::NO_STATUS_RECEIVED);
        assert_eq!(client.close_code(), CloseCode::NO_STATUS_RECEIVED);
    })
    .await;
}

#[tokio::test]
async fn sending_after_close_fails_instead_of_writing() {
    within(async {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let mut ws = accept_one(&listener, config(GENEROUS)).await;
            while let Some(item) = ws.next().await {
                item.unwrap();
            }
        });
        let mut client = connect(addr, config(GENEROUS)).await;
        client.close(None).await.unwrap();
        let err = client.send(Message::text("too late")).await.unwrap_err();
        assert!(
            matches!(err, Error::ConnectionClosed | Error::AlreadyClosing),
            "{err:?}"
        );
        // A second close is harmless.
        client.close(None).await.unwrap();
        server.await.unwrap();
    })
    .await;
}

/// A pipe's buffer in each direction, like a socket buffer.
const PIPE: usize = 64 * 1024;

/// A wsx client over an in-memory pipe whose server end is handed back after a handshake done
/// by hand: a server that does only what the test writes.
async fn client_on_pipe(config: WebSocketConfig) -> (WebSocket<DuplexStream>, DuplexStream) {
    let (client_end, mut server_end) = tokio::io::duplex(PIPE);
    let accept = tokio::spawn(async move {
        let head = common::read_head(&mut server_end).await;
        let response = common::switching_protocols(&head, "");
        server_end.write_all(response.as_bytes()).await.unwrap();
        server_end
    });
    let target = Target::parse("ws://in-memory/").unwrap();
    let (ws, _) = wsx::client_handshake(
        client_end,
        &target,
        &HeaderMap::new(),
        &ClientOptions::default(),
        config,
    )
    .await
    .unwrap();
    (ws, accept.await.unwrap())
}

/// A wsx server over an in-memory pipe whose client end is handed back after a handshake done
/// by hand.
async fn server_on_pipe(config: WebSocketConfig) -> (WebSocket<DuplexStream>, DuplexStream) {
    let (mut client_end, server_end) = tokio::io::duplex(PIPE);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 80));
    client_end
        .write_all(common::upgrade_request(addr, "").as_bytes())
        .await
        .unwrap();
    let (ws, _) = wsx::accept_with(server_end, &ServerOptions::default(), config)
        .await
        .unwrap();
    let head = common::read_head(&mut client_end).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (ws, client_end)
}

/// Runs `close()` against a peer that never answers and checks that it returned exactly
/// `close_timeout` after it was called (paused clock, in-memory pipe: virtual time is exact),
/// reporting 1006.
async fn close_unanswered<S>(ws: &mut WebSocket<S>, frame: CloseFrame, close_timeout: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let started = tokio::time::Instant::now();
    let result = ws.close(Some(frame)).await;
    let took = started.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        took >= close_timeout && took <= close_timeout + Duration::from_millis(2),
        "close() returned after {took:?} of virtual time, close_timeout is {close_timeout:?}"
    );
    assert_eq!(ws.close_code(), CloseCode::ABNORMAL_CLOSURE);
}

/// What the silent peer reads: the close frame (`masked` from a client, RFC 6455 §5.1) with
/// `code`, then the end of the connection while the WebSocket value still exists: `close()`
/// "then closes the transport".
async fn expect_close_then_eof(silent: &mut DuplexStream, masked: bool, code: u16) {
    let mut buf = Vec::new();
    let close = read_frame(silent, &mut buf).await.expect("no close frame");
    assert_eq!((close.opcode, close.masked), (0x8, masked), "{close:?}");
    assert_eq!(close.close_code(), Some(code));
    let end = read_frame(silent, &mut buf).await;
    assert!(
        end.is_none(),
        "after close() returned the silent peer saw {end:?}, not EOF"
    );
}

/// `close()` returns exactly `close_timeout` after it sent its close frame when the peer never
/// answers, then closes the transport.
#[tokio::test(start_paused = true)]
async fn client_close_unanswered_by_a_silent_server_returns_after_close_timeout() {
    within(async {
        let close_timeout = Duration::from_millis(300);
        let (mut client, mut silent) = client_on_pipe(config(close_timeout)).await;
        close_unanswered(&mut client, CloseFrame::new(1000, "bye"), close_timeout).await;
        expect_close_then_eof(&mut silent, true, 1000).await;
        drop(client);
    })
    .await;
}

/// The same for a server, which closes the transport first (RFC 6455 §7.1.1), answered or not.
#[tokio::test(start_paused = true)]
async fn server_close_unanswered_by_a_silent_client_returns_after_close_timeout() {
    within(async {
        let close_timeout = Duration::from_millis(300);
        let (mut ws, mut silent) = server_on_pipe(config(close_timeout)).await;
        close_unanswered(&mut ws, CloseFrame::new(1001, "away"), close_timeout).await;
        expect_close_then_eof(&mut silent, false, 1001).await;
        drop(ws);
    })
    .await;
}

/// A peer that stopped reading: what is pending fills the pipe and the write buffer, and
/// `close()` still returns `close_timeout` after it was called, instead of waiting for room
/// for its close frame (which waited forever without a write timeout, and up to the write
/// timeout with one: a slow consumer's end in wsx-sio took 45 s).
#[tokio::test(start_paused = true)]
async fn close_behind_writes_a_silent_peer_never_takes_returns_after_close_timeout() {
    within(async {
        let close_timeout = Duration::from_millis(300);
        let (mut ws, silent) = server_on_pipe(config(close_timeout)).await;
        // Bigger than the pipe and the write buffer together: this send can never complete.
        let big = Message::binary(vec![7u8; 4 * PIPE + 128 * 1024]);
        let stuck = tokio::time::timeout(Duration::from_secs(1), ws.send(big)).await;
        assert!(stuck.is_err(), "the silent peer took everything: {stuck:?}");
        close_unanswered(&mut ws, CloseFrame::new(1013, "slow"), close_timeout).await;
        drop(silent);
    })
    .await;
}

/// Drains a stream that is expected to end because the peer vanished: at most one error, then
/// `None`. Returns the messages and the error seen.
async fn drain_after_drop(ws: &mut WebSocket<TcpStream>) -> (Vec<Message>, Option<Error>) {
    let mut messages = Vec::new();
    let mut error = None;
    for _ in 0..100 {
        match ws.next().await {
            Some(Ok(message)) => {
                assert!(error.is_none(), "a message after the error: {message:?}");
                messages.push(message);
            }
            Some(Err(e)) => {
                assert!(error.is_none(), "a second error: {e:?}");
                error = Some(e);
            }
            None => return (messages, error),
        }
    }
    panic!("the stream did not end");
}

#[tokio::test]
async fn client_dropping_tcp_mid_frame_ends_the_server_stream_with_1006() {
    within(async {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let mut ws = accept_one(&listener, config(GENEROUS)).await;
            let drained = drain_after_drop(&mut ws).await;
            (drained, ws.close_code())
        });
        let mut tcp = raw_handshake(addr).await;
        let mut bytes = masked_frame(true, 0, 0x1, b"one");
        // Half of a 100-byte frame.
        bytes.extend_from_slice(&masked_frame(true, 0, 0x2, &[7; 100])[..50]);
        tcp.write_all(&bytes).await.unwrap();
        drop(tcp);

        let ((messages, error), code) = server.await.unwrap();
        assert_eq!(messages, [Message::text("one")]);
        assert!(
            !matches!(error, Some(Error::Protocol(_))),
            "a vanished peer is not a protocol error: {error:?}"
        );
        assert_eq!(code, CloseCode::ABNORMAL_CLOSURE);
    })
    .await;
}

#[tokio::test]
async fn client_resetting_tcp_ends_the_server_stream_with_1006() {
    within(async {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let mut ws = accept_one(&listener, config(GENEROUS)).await;
            let drained = drain_after_drop(&mut ws).await;
            (drained, ws.close_code())
        });
        let mut tcp = raw_handshake(addr).await;
        tcp.write_all(&masked_frame(true, 0, 0x1, b"one"))
            .await
            .unwrap();
        tcp.set_zero_linger().unwrap();
        drop(tcp);

        let ((messages, _error), code) = server.await.unwrap();
        assert!(messages.len() <= 1, "{messages:?}");
        assert_eq!(code, CloseCode::ABNORMAL_CLOSURE);
    })
    .await;
}

#[tokio::test]
async fn server_dropping_tcp_mid_message_ends_the_client_stream_with_1006() {
    within(async {
        let (listener, addr) = bind().await;
        let peer = tokio::spawn(async move {
            let mut tcp = raw_accept(&listener).await;
            let mut bytes = common::unmasked_frame(true, 0, 0x2, b"one");
            // The first fragment of a message that never finishes.
            bytes.extend(common::unmasked_frame(false, 0, 0x1, b"to be cont"));
            tcp.write_all(&bytes).await.unwrap();
        });
        let mut client = connect(addr, config(GENEROUS)).await;
        // The peer's task ends by dropping its socket.
        peer.await.unwrap();

        let (messages, error) = drain_after_drop(&mut client).await;
        assert_eq!(messages, [Message::binary(&b"one"[..])]);
        assert!(
            !matches!(error, Some(Error::Protocol(_))),
            "a vanished peer is not a protocol error: {error:?}"
        );
        assert_eq!(client.close_code(), CloseCode::ABNORMAL_CLOSURE);
        let err = client.send(Message::text("anyone?")).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionClosed), "{err:?}");
    })
    .await;
}
