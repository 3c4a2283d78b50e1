//! The client's opening handshake over real TCP against a server written by hand: the request
//! carries what RFC 6455 §4.1 requires, a good `101` is accepted with the bytes behind it kept,
//! and every bad answer is refused with the matching `HandshakeError`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{bind, header, read_head, switching_protocols, unmasked_frame, url, within};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use wsx::handshake::ClientOptions;
use wsx::{Error, HandshakeError, Message, WebSocket, WebSocketConfig};

/// Serves one connection by hand: reads the request head, answers with `respond(head)`, then
/// closes. Returns the request head.
async fn serve_raw(
    respond: impl FnOnce(&str) -> Vec<u8> + Send + 'static,
) -> (String, JoinHandle<String>) {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let head = read_head(&mut tcp).await;
        let response = respond(&head);
        tcp.write_all(&response).await.unwrap();
        tcp.shutdown().await.unwrap();
        head
    });
    (url(addr), server)
}

/// A `101` answering the request head, with `extra` header lines.
fn switching(head: &str, extra: &str) -> Vec<u8> {
    switching_protocols(head, extra).into_bytes()
}

type Connected = Result<(WebSocket<TcpStream>, http::Response<()>), Error>;

async fn connect_offering(url: &str, subprotocols: &[&str], headers: &HeaderMap) -> Connected {
    let options = ClientOptions {
        subprotocols: subprotocols.iter().map(ToString::to_string).collect(),
        ..ClientOptions::default()
    };
    wsx::connect_with(url, headers, &options, WebSocketConfig::default()).await
}

fn handshake_error(result: Connected) -> HandshakeError {
    match result {
        Err(Error::Handshake(err)) => err,
        Err(other) => panic!("expected a handshake error, got {other:?}"),
        Ok(_) => panic!("the client accepted a bad handshake"),
    }
}

#[tokio::test]
async fn request_carries_the_required_headers_and_the_callers_own() {
    within(async {
        let (url, server) = serve_raw(|head| switching(head, "")).await;
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ORIGIN,
            HeaderValue::from_static("https://app.example"),
        );
        let (_ws, response) = connect_offering(&format!("{url}chat?room=1"), &["v1"], &headers)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);

        let head = server.await.unwrap();
        let request_line = head.split("\r\n").next().unwrap();
        assert_eq!(request_line, "GET /chat?room=1 HTTP/1.1");
        let authority = url.trim_start_matches("ws://").trim_end_matches('/');
        assert_eq!(header(&head, "Host"), Some(authority));
        assert!(
            header(&head, "Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
            "{head}"
        );
        assert!(
            header(&head, "Connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
            "{head}"
        );
        assert_eq!(header(&head, "Sec-WebSocket-Version"), Some("13"));
        let key = header(&head, "Sec-WebSocket-Key").unwrap();
        assert_eq!(STANDARD.decode(key).map(|k| k.len()), Ok(16), "key {key:?}");
        assert_eq!(header(&head, "Sec-WebSocket-Protocol"), Some("v1"));
        assert_eq!(header(&head, "Origin"), Some("https://app.example"));
    })
    .await;
}

#[tokio::test]
async fn each_connection_uses_a_fresh_key() {
    within(async {
        let mut keys = Vec::new();
        for _ in 0..3 {
            let (url, server) = serve_raw(|head| switching(head, "")).await;
            connect_offering(&url, &[], &HeaderMap::new())
                .await
                .unwrap();
            let head = server.await.unwrap();
            keys.push(header(&head, "Sec-WebSocket-Key").unwrap().to_owned());
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 3, "keys repeat: {keys:?}");
    })
    .await;
}

#[tokio::test]
async fn frame_sent_in_the_same_write_as_the_101_is_received() {
    within(async {
        let (url, _server) = serve_raw(|head| {
            let mut bytes = switching(head, "");
            bytes.extend(unmasked_frame(true, 0, 0x1, b"welcome"));
            bytes
        })
        .await;
        let (mut ws, _) = connect_offering(&url, &[], &HeaderMap::new())
            .await
            .unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("welcome"));
    })
    .await;
}

#[tokio::test]
async fn wrong_accept_value_is_refused() {
    within(async {
        let (url, _server) = serve_raw(|_| {
            b"HTTP/1.1 101 Switching Protocols\r\n\
              Upgrade: websocket\r\n\
              Connection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                .to_vec()
        })
        .await;
        let err = handshake_error(connect_offering(&url, &[], &HeaderMap::new()).await);
        assert_eq!(err, HandshakeError::AcceptMismatch);
    })
    .await;
}

#[tokio::test]
async fn status_other_than_101_is_refused() {
    within(async {
        let (url, _server) =
            serve_raw(|_| b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope\n".to_vec())
                .await;
        let err = handshake_error(connect_offering(&url, &[], &HeaderMap::new()).await);
        assert_eq!(err, HandshakeError::UnexpectedStatus(StatusCode::FORBIDDEN));
    })
    .await;
}

#[tokio::test]
async fn subprotocol_that_was_not_offered_is_refused() {
    within(async {
        for offered in [&["a"][..], &[]] {
            let (url, _server) =
                serve_raw(|head| switching(head, "Sec-WebSocket-Protocol: zzz\r\n")).await;
            let err = handshake_error(connect_offering(&url, offered, &HeaderMap::new()).await);
            assert_eq!(
                err,
                HandshakeError::UnofferedSubprotocol("zzz".into()),
                "offered {offered:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn extension_that_was_not_offered_is_refused() {
    within(async {
        let (url, _server) =
            serve_raw(|head| switching(head, "Sec-WebSocket-Extensions: permessage-deflate\r\n"))
                .await;
        let err = handshake_error(connect_offering(&url, &[], &HeaderMap::new()).await);
        assert!(
            matches!(err, HandshakeError::UnofferedExtension(_)),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn server_closing_before_answering_is_an_unexpected_eof() {
    within(async {
        let (url, _server) = serve_raw(|_| Vec::new()).await;
        let err = handshake_error(connect_offering(&url, &[], &HeaderMap::new()).await);
        assert_eq!(err, HandshakeError::UnexpectedEof);
    })
    .await;
}

#[tokio::test]
async fn server_closing_mid_response_is_an_unexpected_eof() {
    within(async {
        let (url, _server) =
            serve_raw(|_| b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs".to_vec()).await;
        let err = handshake_error(connect_offering(&url, &[], &HeaderMap::new()).await);
        assert_eq!(err, HandshakeError::UnexpectedEof);
    })
    .await;
}

#[tokio::test]
async fn wss_url_without_tls_is_refused_before_connecting() {
    within(async {
        // Refused before any connection (port 1 has no listener): a URL error, not a failed
        // handshake or a refused connection.
        for url in ["wss://127.0.0.1:1/", "http://127.0.0.1:1/"] {
            let result = connect_offering(url, &[], &HeaderMap::new()).await;
            assert!(
                matches!(result, Err(Error::InvalidUrl(_))),
                "{url}: {result:?}"
            );
        }
    })
    .await;
}
