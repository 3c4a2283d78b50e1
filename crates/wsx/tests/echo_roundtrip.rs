//! A wsx client against a wsx echo server over loopback TCP: messages of every length class
//! come back intact, a batch fed before one flush comes back complete and in order, and a ping
//! is answered with a pong carrying its payload.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bytes::Bytes;
use common::{bind, url, within};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use wsx::{CloseCode, CloseFrame, Message, WebSocket};

/// Payload lengths around every boundary of the frame header: empty, 7-bit, the largest 7-bit,
/// the smallest and largest 16-bit, the smallest 64-bit, and 1 MiB.
const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

/// Serves one connection: echoes every data message until the connection ends; returns the
/// number of messages echoed and how the connection ended.
async fn spawn_echo_server() -> (String, JoinHandle<(usize, CloseCode)>) {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = wsx::accept(tcp).await.unwrap();
        let mut echoed = 0;
        while let Some(message) = ws.next().await {
            let message = message.unwrap();
            if message.is_data() {
                ws.send(message).await.unwrap();
                echoed += 1;
            }
        }
        (echoed, ws.close_code())
    });
    (url(addr), server)
}

async fn client(url: &str) -> WebSocket<TcpStream> {
    wsx::connect(url).await.unwrap().0
}

/// Closes the client normally and checks that the server saw as many messages as expected.
async fn finish(mut ws: WebSocket<TcpStream>, server: JoinHandle<(usize, CloseCode)>, n: usize) {
    ws.close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "done")))
        .await
        .unwrap();
    assert_eq!(ws.close_code(), CloseCode::NORMAL_CLOSURE);
    let (echoed, code) = server.await.unwrap();
    assert_eq!(echoed, n);
    assert_eq!(code, CloseCode::NORMAL_CLOSURE);
}

/// Text of `len` bytes that is not all one character, so a shifted or torn payload shows.
fn text_of(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn binary_of(len: usize) -> Bytes {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn text_of_every_length_class_comes_back_intact() {
    within(async {
        let (url, server) = spawn_echo_server().await;
        let mut ws = client(&url).await;
        for len in SIZES {
            let text = text_of(len);
            ws.send(Message::text(text.clone())).await.unwrap();
            match ws.next().await.unwrap().unwrap() {
                Message::Text(echo) => {
                    assert_eq!(echo.len(), len);
                    assert!(
                        echo.as_str() == text,
                        "text of {len} bytes came back changed"
                    );
                }
                other => panic!("expected text of {len} bytes, got {other:?}"),
            }
        }
        finish(ws, server, SIZES.len()).await;
    })
    .await;
}

#[tokio::test]
async fn binary_of_every_length_class_comes_back_intact() {
    within(async {
        let (url, server) = spawn_echo_server().await;
        let mut ws = client(&url).await;
        for len in SIZES {
            let data = binary_of(len);
            ws.send(Message::Binary(data.clone())).await.unwrap();
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(echo) => {
                    assert_eq!(echo.len(), len);
                    assert!(echo == data, "binary of {len} bytes came back changed");
                }
                other => panic!("expected binary of {len} bytes, got {other:?}"),
            }
        }
        finish(ws, server, SIZES.len()).await;
    })
    .await;
}

#[tokio::test]
async fn thousand_messages_fed_then_flushed_once_come_back_in_order() {
    within(async {
        const N: usize = 1000;
        let (url, server) = spawn_echo_server().await;
        let mut ws = client(&url).await;
        for i in 0..N {
            let message = if i % 2 == 0 {
                Message::text(format!("message {i}"))
            } else {
                Message::binary(format!("message {i}").into_bytes())
            };
            ws.feed(message).await.unwrap();
        }
        ws.flush().await.unwrap();
        for i in 0..N {
            let echo = ws.next().await.unwrap().unwrap();
            let expected = format!("message {i}");
            match (i % 2, &echo) {
                (0, Message::Text(t)) => assert_eq!(t.as_str(), expected),
                (1, Message::Binary(b)) => assert_eq!(&b[..], expected.as_bytes()),
                _ => panic!("message {i} came back as {echo:?}"),
            }
        }
        finish(ws, server, N).await;
    })
    .await;
}

#[tokio::test]
async fn ping_is_answered_with_a_pong_carrying_its_payload() {
    within(async {
        let (url, server) = spawn_echo_server().await;
        let mut ws = client(&url).await;
        for payload in [&b""[..], b"x", b"ping payload \x00\xff", &[0x5a; 125]] {
            let payload = Bytes::copy_from_slice(payload);
            ws.send(Message::Ping(payload.clone())).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::Pong(payload));
        }
        finish(ws, server, 0).await;
    })
    .await;
}

#[tokio::test]
async fn ping_between_messages_is_answered_while_messages_keep_their_order() {
    within(async {
        let (url, server) = spawn_echo_server().await;
        let mut ws = client(&url).await;
        ws.feed(Message::text("before")).await.unwrap();
        ws.feed(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        ws.feed(Message::text("after")).await.unwrap();
        ws.flush().await.unwrap();
        let mut data = Vec::new();
        let mut pongs = Vec::new();
        for _ in 0..3 {
            match ws.next().await.unwrap().unwrap() {
                Message::Pong(payload) => pongs.push(payload),
                other => data.push(other),
            }
        }
        assert_eq!(data, [Message::text("before"), Message::text("after")]);
        assert_eq!(pongs, [Bytes::from_static(b"p")]);
        finish(ws, server, 2).await;
    })
    .await;
}
