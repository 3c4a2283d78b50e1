//! The server's opening handshake over real TCP, driven by a client that writes its bytes by
//! hand: every refused request gets the right HTTP status and a short text body, then the
//! connection is closed; a valid request is upgraded, bytes behind it are kept, and the
//! subprotocol is negotiated the same way on both sides.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{
    Ending, SAMPLE_KEY, bind, header, masked_frame, read_frame, read_head, read_until_closed,
    status, upgrade_request, url, within,
};
use http::HeaderMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use wsx::handshake::{ClientOptions, ServerOptions};
use wsx::{Error, HandshakeError, Message, WebSocket, WebSocketConfig};

type Accepted = Result<(WebSocket<TcpStream>, http::Request<()>), Error>;

/// Accepts one connection with `accept_with` and hands back its result.
fn serve_one(listener: TcpListener, options: ServerOptions) -> JoinHandle<Accepted> {
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        wsx::accept_with(tcp, &options, WebSocketConfig::default()).await
    })
}

/// What a refused client saw, and what the server returned.
struct Refusal {
    status: u16,
    head: String,
    body: String,
    error: HandshakeError,
}

/// Sends `request` (built for the listener's address) in one write, reads the whole response
/// until the server closes the connection, and checks what every refusal must have: a clean
/// close after the response, `Connection: close`, and a short text body whose length matches
/// `Content-Length`.
async fn refused(options: ServerOptions, request: impl FnOnce(SocketAddr) -> Vec<u8>) -> Refusal {
    let (listener, addr) = bind().await;
    let server = serve_one(listener, options);
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(&request(addr)).await.unwrap();
    let (bytes, ending) = read_until_closed(&mut client).await;
    assert_eq!(
        ending,
        Ending::Eof,
        "the server must close cleanly after refusing"
    );

    let text = String::from_utf8(bytes).expect("the response is not UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head in {text:?}"));
    let head = format!("{head}\r\n\r\n");
    let length: usize = header(&head, "Content-Length")
        .expect("no Content-Length")
        .parse()
        .unwrap();
    assert_eq!(length, body.len(), "Content-Length does not match the body");
    assert!(
        !body.trim().is_empty() && body.len() < 200,
        "the body should be a short reason: {body:?}"
    );
    assert!(
        header(&head, "Content-Type").is_some_and(|v| v.starts_with("text/plain")),
        "{head}"
    );
    assert_eq!(header(&head, "Connection"), Some("close"), "{head}");

    let error = match server.await.expect("the server task panicked") {
        Err(Error::Handshake(error)) => error,
        Err(other) => panic!("expected a handshake error, got {other:?}"),
        Ok(_) => panic!("the server accepted a request it answered with an error"),
    };
    Refusal {
        status: status(&head),
        head,
        body: body.to_owned(),
        error,
    }
}

/// A request head from lines (without the final empty line).
fn head_of(lines: &[&str]) -> Vec<u8> {
    let mut out = lines.join("\r\n");
    out.push_str("\r\n\r\n");
    out.into_bytes()
}

#[tokio::test]
async fn request_without_host_is_refused_with_400() {
    within(async {
        let r = refused(ServerOptions::default(), |_| {
            head_of(&[
                "GET / HTTP/1.1",
                "Upgrade: websocket",
                "Connection: Upgrade",
                &format!("Sec-WebSocket-Key: {SAMPLE_KEY}"),
                "Sec-WebSocket-Version: 13",
            ])
        })
        .await;
        assert_eq!(r.status, 400, "{}", r.head);
        assert_eq!(r.error, HandshakeError::MissingHeader("Host"));
    })
    .await;
}

#[tokio::test]
async fn duplicated_key_is_refused_with_400() {
    within(async {
        let r = refused(ServerOptions::default(), |addr| {
            upgrade_request(addr, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n").into_bytes()
        })
        .await;
        assert_eq!(r.status, 400, "{}", r.head);
        assert_eq!(
            r.error,
            HandshakeError::DuplicateHeader("Sec-WebSocket-Key")
        );
    })
    .await;
}

#[tokio::test]
async fn key_that_is_not_base64_of_16_bytes_is_refused_with_400() {
    within(async {
        // Base64 of 10 bytes, of 17 bytes, and not base64 at all.
        for key in [
            "dGhlIHNhbXBsZQ==",
            "AQIDBAUGBwgJCgsMDQ4PEBE=",
            "not base64 at all!!!!!==",
        ] {
            let r = refused(ServerOptions::default(), |addr| {
                head_of(&[
                    "GET / HTTP/1.1",
                    &format!("Host: {addr}"),
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    &format!("Sec-WebSocket-Key: {key}"),
                    "Sec-WebSocket-Version: 13",
                ])
            })
            .await;
            assert_eq!(r.status, 400, "key {key:?}: {}", r.head);
            assert_eq!(
                r.error,
                HandshakeError::InvalidHeader("Sec-WebSocket-Key"),
                "key {key:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn post_is_refused_with_405_allowing_get() {
    within(async {
        let r = refused(ServerOptions::default(), |addr| {
            upgrade_request(addr, "")
                .replacen("GET ", "POST ", 1)
                .into_bytes()
        })
        .await;
        assert_eq!(r.status, 405, "{}", r.head);
        assert_eq!(header(&r.head, "Allow"), Some("GET"));
        assert_eq!(r.error, HandshakeError::MethodNotGet("POST".into()));
    })
    .await;
}

#[tokio::test]
async fn http_1_0_is_refused_with_400() {
    within(async {
        let r = refused(ServerOptions::default(), |addr| {
            upgrade_request(addr, "")
                .replacen("HTTP/1.1", "HTTP/1.0", 1)
                .into_bytes()
        })
        .await;
        assert_eq!(r.status, 400, "{}", r.head);
        assert_eq!(r.error, HandshakeError::UnsupportedHttpVersion);
    })
    .await;
}

#[tokio::test]
async fn bytes_that_are_not_http_are_refused_with_400() {
    within(async {
        // The start of a TLS ClientHello, and a line that is no request line.
        let tls_hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec();
        for bytes in [tls_hello, b"hello\r\n\r\n".to_vec()] {
            let r = refused(ServerOptions::default(), |_| bytes.clone()).await;
            assert_eq!(r.status, 400, "{bytes:?}: {}", r.head);
            assert!(
                matches!(r.error, HandshakeError::MalformedHttp(_)),
                "{bytes:?}: {:?}",
                r.error
            );
        }
    })
    .await;
}

#[tokio::test]
async fn version_8_is_refused_with_426_naming_version_13() {
    within(async {
        let r = refused(ServerOptions::default(), |addr| {
            upgrade_request(addr, "")
                .replacen("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 1)
                .into_bytes()
        })
        .await;
        assert_eq!(r.status, 426, "{}", r.head);
        assert_eq!(header(&r.head, "Sec-WebSocket-Version"), Some("13"));
        assert_eq!(r.error, HandshakeError::UnsupportedVersion);
    })
    .await;
}

fn only_good_origin() -> ServerOptions {
    ServerOptions {
        check_origin: Some(Arc::new(|request: &http::Request<()>| {
            request
                .headers()
                .get(http::header::ORIGIN)
                .is_some_and(|origin| origin == "https://good.example")
        })),
        ..ServerOptions::default()
    }
}

#[tokio::test]
async fn origin_refused_by_check_origin_is_answered_403() {
    within(async {
        let r = refused(only_good_origin(), |addr| {
            upgrade_request(addr, "Origin: https://evil.example\r\n").into_bytes()
        })
        .await;
        assert_eq!(r.status, 403, "{}", r.head);
        assert_eq!(r.error, HandshakeError::OriginRefused);
        assert!(r.body.contains("origin"), "{:?}", r.body);
    })
    .await;
}

#[tokio::test]
async fn origin_allowed_by_check_origin_is_upgraded() {
    within(async {
        let (listener, addr) = bind().await;
        let server = serve_one(listener, only_good_origin());
        let mut client = TcpStream::connect(addr).await.unwrap();
        let request = upgrade_request(addr, "Origin: https://good.example\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut client).await;
        assert_eq!(status(&head), 101, "{head}");
        let (_ws, request) = server.await.unwrap().unwrap();
        assert_eq!(request.uri().path(), "/chat");
    })
    .await;
}

#[tokio::test]
async fn oversized_head_is_refused_with_431() {
    within(async {
        let options = ServerOptions {
            max_head_size: 1024,
            ..ServerOptions::default()
        };
        let r = refused(options, |addr| {
            let pad = format!("X-Padding: {}\r\n", "a".repeat(1500));
            upgrade_request(addr, &pad).into_bytes()
        })
        .await;
        assert_eq!(r.status, 431, "{}", r.head);
        assert_eq!(r.error, HandshakeError::HeadTooLarge(1024));
    })
    .await;
}

#[tokio::test]
async fn head_that_never_ends_is_refused_with_431_once_past_the_limit() {
    within(async {
        let options = ServerOptions {
            max_head_size: 1024,
            ..ServerOptions::default()
        };
        // No empty line at all: the server must not wait for one past its limit.
        let r = refused(options, |addr| {
            let mut bytes = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
            bytes.extend_from_slice(format!("X-Padding: {}", "a".repeat(1500)).as_bytes());
            bytes
        })
        .await;
        assert_eq!(r.status, 431, "{}", r.head);
        assert_eq!(r.error, HandshakeError::HeadTooLarge(1024));
    })
    .await;
}

#[tokio::test]
async fn too_many_headers_are_refused_with_431() {
    within(async {
        let options = ServerOptions {
            max_headers: 8,
            ..ServerOptions::default()
        };
        let r = refused(options, |addr| {
            let extra: String = (0..20).map(|i| format!("X-Extra-{i}: {i}\r\n")).collect();
            upgrade_request(addr, &extra).into_bytes()
        })
        .await;
        assert_eq!(r.status, 431, "{}", r.head);
        assert_eq!(r.error, HandshakeError::TooManyHeaders(8));
    })
    .await;
}

#[tokio::test]
async fn frame_sent_in_the_same_write_as_the_request_is_received() {
    within(async {
        let (listener, addr) = bind().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (mut ws, _) =
                wsx::accept_with(tcp, &ServerOptions::default(), WebSocketConfig::default())
                    .await
                    .unwrap();
            let first = ws.next().await.unwrap().unwrap();
            ws.send(first.clone()).await.unwrap();
            first
        });

        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut bytes = upgrade_request(addr, "").into_bytes();
        bytes.extend(masked_frame(true, 0, 0x1, b"hello behind the head"));
        client.write_all(&bytes).await.unwrap();

        let head = read_head(&mut client).await;
        assert_eq!(status(&head), 101, "{head}");
        let mut buf = Vec::new();
        let echo = read_frame(&mut client, &mut buf).await.expect("no echo");
        assert_eq!(
            (echo.fin, echo.opcode, echo.masked),
            (true, 0x1, false),
            "{echo:?}"
        );
        assert_eq!(echo.payload, b"hello behind the head");
        assert_eq!(
            server.await.unwrap(),
            Message::text("hello behind the head")
        );
    })
    .await;
}

/// Connects a wsx client offering `offered` to a wsx server speaking `spoken`; returns what
/// each side agreed.
async fn negotiate(offered: &[&str], spoken: &[&str]) -> (Option<String>, Option<String>) {
    let (listener, addr) = bind().await;
    let options = ServerOptions {
        subprotocols: spoken.iter().map(ToString::to_string).collect(),
        ..ServerOptions::default()
    };
    let server = serve_one(listener, options);
    let client_options = ClientOptions {
        subprotocols: offered.iter().map(ToString::to_string).collect(),
        ..ClientOptions::default()
    };
    let (client, response) = wsx::connect_with(
        &url(addr),
        &HeaderMap::new(),
        &client_options,
        WebSocketConfig::default(),
    )
    .await
    .unwrap();
    let (server, _) = server.await.unwrap().unwrap();
    let header = response
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header.as_deref(), server.subprotocol());
    (
        client.subprotocol().map(str::to_owned),
        server.subprotocol().map(str::to_owned),
    )
}

#[tokio::test]
async fn subprotocol_is_the_servers_first_preference_among_those_offered() {
    within(async {
        let (client, server) = negotiate(&["b", "a"], &["a", "b"]).await;
        assert_eq!(client.as_deref(), Some("a"));
        assert_eq!(server.as_deref(), Some("a"));
    })
    .await;
}

#[tokio::test]
async fn no_subprotocol_is_agreed_when_none_is_shared() {
    within(async {
        let (client, server) = negotiate(&["b"], &["a"]).await;
        assert_eq!(client, None);
        assert_eq!(server, None);
    })
    .await;
}

#[tokio::test]
async fn request_arriving_one_byte_at_a_time_is_upgraded() {
    within(async {
        let (listener, addr) = bind().await;
        let server = serve_one(listener, ServerOptions::default());
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        let mut bytes = upgrade_request(addr, "").into_bytes();
        bytes.extend(masked_frame(true, 0, 0x2, b"\x01\x02\x03"));
        for byte in bytes {
            client.write_all(&[byte]).await.unwrap();
            client.flush().await.unwrap();
        }
        let head = read_head(&mut client).await;
        assert_eq!(status(&head), 101, "{head}");
        let (mut ws, _) = server.await.unwrap().unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(&[1u8, 2, 3][..])
        );
    })
    .await;
}
