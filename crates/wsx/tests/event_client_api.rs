//! The client's conveniences and ownership rule: `connect_url` needs no `HeaderMap`,
//! `connect_request` takes a whole `http::Request` (through wsx's re-exported `http`), and a
//! client connection closes with 1000 once the `Client` and every handle that owns it are
//! dropped, but not before. Errors say what happened in one sentence: a plain server reached
//! with `wss://`, a refused TCP connection naming its address, a bad URL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use bytes::Bytes;
use event_support::{next, serve, within};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::{Client, Config, Conn, Error, Server, TlsError};

/// A server that reports every connection's `x-token` header and how each one closed.
fn reporting_server() -> (Server, mpsc::UnboundedReceiver<String>) {
    let server = Server::new(Config::default());
    let (tx, rx) = mpsc::unbounded_channel();
    server.on_connection(move |conn: Conn| {
        let token = conn
            .headers()
            .get("x-token")
            .map_or("-", |v| v.to_str().unwrap_or("?"))
            .to_owned();
        let _ = tx.send(format!("open {token}"));
        let tx = tx.clone();
        conn.on_close(move |_, code, _| {
            let _ = tx.send(format!("close {}", u16::from(code)));
        });
        conn.on_message(|c, kind, data| {
            let _ = c.write_message(kind, data);
        });
    });
    (server, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_url_and_connect_request() {
    within(async {
        let (server, mut events) = reporting_server();
        let running = serve(server).await;
        let client = Client::default();
        let plain = client.connect_url(&running.url()).await.unwrap();
        assert_eq!(next(&mut events, "open").await, "open -");
        let request = wsx::http::Request::builder()
            .uri(running.url())
            .header("x-token", "s3cret")
            .body(())
            .unwrap();
        let custom = client.connect_request(request).await.unwrap();
        assert_eq!(next(&mut events, "open").await, "open s3cret");
        let (tx, mut rx) = mpsc::unbounded_channel();
        custom.on_message(move |_, _, data| {
            let _ = tx.send(data);
        });
        custom.write_text("via request").unwrap();
        assert_eq!(next(&mut rx, "echo").await, Bytes::from("via request"));
        assert!(!plain.is_closed());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connection_closes_when_the_client_and_all_its_handles_are_dropped() {
    within(async {
        let (server, mut events) = reporting_server();
        let running = serve(server).await;

        // Handles dropped, client alive: the connection stays.
        let client = Client::default();
        let conn = client.connect_url(&running.url()).await.unwrap();
        next(&mut events, "open").await;
        let clone = conn.clone();
        drop(conn);
        drop(clone);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            events.try_recv().is_err(),
            "closed while its Client was alive"
        );
        assert_eq!(running.server.connection_count(), 1);
        // The client goes too: closed with 1000.
        drop(client);
        assert_eq!(next(&mut events, "close").await, "close 1000");

        // Client dropped, a handle alive: stays until the handle goes.
        let conn = Client::default().connect_url(&running.url()).await.unwrap();
        next(&mut events, "open").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            events.try_recv().is_err(),
            "closed while a handle was alive"
        );
        // A pull stream owns it like a handle.
        let messages = conn.messages();
        drop(conn);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            events.try_recv().is_err(),
            "closed while its Messages stream was alive"
        );
        drop(messages);
        assert_eq!(next(&mut events, "close").await, "close 1000");
        event_support::wait_for_no_connections(&running.server).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_happened() {
    within(async {
        // wss:// to a server that speaks plain ws://.
        let running = serve(Server::new(Config::default())).await;
        let url = format!("wss://localhost:{}/", running.addr.port());
        let err = Client::default().connect_url(&url).await.unwrap_err();
        let text = err.to_string();
        match &err {
            Error::Tls(tls) => assert!(matches!(**tls, TlsError::NotTls { .. }), "{tls:?}"),
            other => panic!("expected TlsError::NotTls, got {other:?}"),
        }
        assert!(text.contains("did not answer with TLS"), "{text}");
        assert!(!text.contains("InvalidContentType"), "{text}");

        // A refused TCP connection names the address.
        let (listener, addr) = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        };
        drop(listener);
        let err = Client::default()
            .connect_url(&format!("ws://{addr}/"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&addr.to_string()), "{text}");

        // A bad URL is not a failed handshake.
        let err = Client::default().connect_url("ftp://x/").await.unwrap_err();
        assert!(matches!(err, Error::InvalidUrl(_)), "{err:?}");

        // Every message is one sentence on one line.
        for err in [
            Error::ConnectionClosed,
            Error::AlreadyClosing,
            Error::Timeout("opening handshake"),
            Error::QueueFull {
                queued: 1,
                limit: 2,
            },
            Error::HandlerPanicked("oops".into()),
            Error::InvalidUrl("ftp://x/".into()),
        ] {
            let text = err.to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
            assert!(text.chars().next().unwrap().is_lowercase(), "{text:?}");
        }
    })
    .await;
}
