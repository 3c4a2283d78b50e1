//! `Server::shutdown`: every client gets its DISCONNECT and then its connection closed, on
//! WebSocket and on long-polling (fetched over a new TCP connection: the accept loop serves
//! until the sessions ended); disconnect handlers run with "server shutting down"; then the
//! accept loop returns and nothing new is accepted.

mod common;

use common::Raw;
use common::http::{get, open_session, post, session_url};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use wsx_sio::{DisconnectReason, Server, Socket};

const PATH: &str = "/socket.io/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_disconnects_every_client_then_closes_and_stops_accepting() {
    let io = Server::default();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    for name in ["/", "/chat"] {
        let reasons = reasons.clone();
        io.of(name).on_connection(move |socket: Socket| {
            let reasons = reasons.clone();
            async move {
                socket.on_disconnect(move |s: Socket, reason| {
                    let reasons = reasons.clone();
                    async move {
                        reasons
                            .lock()
                            .expect("lock")
                            .push((s.namespace().to_owned(), reason))
                    }
                });
            }
        });
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = tokio::spawn({
        let io = io.clone();
        async move { io.serve(listener).await }
    });

    // A WebSocket client in two namespaces, one that joined none, one on long-polling.
    let (mut ws, _) = Raw::connect_root(addr).await;
    ws.send("40/chat,").await;
    assert!(ws.text().await.starts_with("40/chat,"));
    let mut idle = Raw::connect(addr).await;
    let sid = open_session(addr, PATH).await;
    let url = session_url(PATH, &sid);
    assert_eq!(post(addr, &url, "40").await.text(), "ok");
    assert!(get(addr, &url).await.text().starts_with("40{"));
    // The clients read while the server shuts down, as real ones do (a WebSocket's close
    // handshake waits for the client's answer).
    let ws_reader = tokio::spawn(async move {
        let mut disconnects = vec![ws.text().await, ws.text().await];
        disconnects.sort();
        (disconnects, ws.closed().await)
    });
    let idle_reader = tokio::spawn(async move { idle.closed().await });

    let shutting = tokio::spawn({
        let io = io.clone();
        async move { io.shutdown().await }
    });

    // WebSocket: DISCONNECT of each namespace, then the close frame.
    let (disconnects, close) = ws_reader.await.expect("WebSocket client");
    assert_eq!(disconnects, ["41", "41/chat,"]);
    assert!(close.is_some(), "a close frame");
    assert!(
        idle_reader.await.expect("idle client").is_some(),
        "a close frame"
    );
    // Long-polling: a GET made once the shutdown began, on a new TCP connection, gets the
    // DISCONNECT and the close packet; the session ends.
    assert_eq!(get(addr, &url).await.text(), "41\u{1e}1");
    tokio::time::timeout(Duration::from_secs(10), shutting)
        .await
        .expect("shutdown in time")
        .expect("shutdown");

    let mut reasons = reasons.lock().expect("lock").clone();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        reasons,
        [
            ("/".to_owned(), DisconnectReason::ServerShuttingDown),
            ("/".to_owned(), DisconnectReason::ServerShuttingDown),
            ("/chat".to_owned(), DisconnectReason::ServerShuttingDown),
        ]
    );
    assert_eq!(
        DisconnectReason::ServerShuttingDown.as_str(),
        "server shutting down"
    );
    assert!(io.of("/").local_count() == 0 && io.of("/chat").local_count() == 0);

    // The accept loop returned and dropped its listener.
    let served = tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("serve returned");
    assert!(matches!(served, Ok(Ok(()))));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // Once more: nothing left to wait for.
    tokio::time::timeout(Duration::from_secs(1), io.shutdown())
        .await
        .expect("a second shutdown returns at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_started_after_shutdown_is_refused() {
    let io = Server::default();
    io.shutdown().await;
    // Mounted elsewhere (here: a listener of our own), a new session does not start.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = io.clone();
    tokio::spawn(async move {
        let (tcp, remote) = listener.accept().await.expect("accept");
        server.serve_connection(tcp, Some(remote)).await;
    });
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = wsx::connect(&url)
        .await
        .expect("the upgrade itself is answered");
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("closed in time");
    assert!(
        !matches!(next, Some(Ok(wsx::Message::Text(_)))),
        "no open packet: {next:?}"
    );
}
