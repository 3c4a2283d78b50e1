//! `wsx serve`, run as the built binary on a free loopback port: the page, `/echo` and
//! `/chat` (with permessage-deflate negotiated), `/metrics` moving with traffic, a 404 and a
//! 426, `wss://` with `--tls-cert/--tls-key`, and Ctrl-C closing every client with 1001.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::serve::{Serve, TlsFiles};
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;
use wsx::proto::deflate::DeflateConfig;
use wsx::{Client, Config, Conn};

fn deflate_client() -> Client {
    Client::new(Config {
        compression: Some(DeflateConfig::default()),
        ..Config::default()
    })
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message in time")
        .expect("open channel")
}

/// The next message as JSON (key order is the encoder's business, not the test's).
async fn recv_json(rx: &mut mpsc::UnboundedReceiver<String>) -> serde_json::Value {
    serde_json::from_str(&recv(rx).await).expect("JSON")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}

fn listen(conn: &Conn) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    conn.on_message(move |_, _, data| {
        let _ = tx.send(String::from_utf8_lossy(&data).into_owned());
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_routes_echo_chat_metrics_and_shuts_down_with_1001() {
    let serve = Serve::start(&[]);
    let (status, page) = serve.get("/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>wsx chat</title>") && page.contains("/chat"),
        "{page}"
    );
    assert_eq!(serve.get("/nothing-here").0, 404);
    // Socket.IO over HTTP long-polling on the same port: the open packet offers the upgrade.
    let (status, open) = serve.get("/socket.io/?EIO=4&transport=polling");
    assert_eq!(status, 200);
    assert!(
        open.starts_with("0{") && open.contains(r#""upgrades":["websocket"]"#),
        "{open}"
    );
    assert_eq!(
        serve.get("/echo").0,
        426,
        "a plain GET on a WebSocket endpoint"
    );
    let received_before = serve.metric("wsx_messages_received_total{type=\"text\"}");

    let ws = serve.base.replace("http://", "ws://");
    let echo = deflate_client()
        .connect_url(&format!("{ws}/echo"))
        .await
        .unwrap();
    assert!(
        echo.headers()
            .get("sec-websocket-extensions")
            .is_some_and(|v| v.to_str().unwrap().contains("permessage-deflate")),
        "compression is on for every endpoint"
    );
    let mut echoes = listen(&echo);
    echo.write_text("echo me").unwrap();
    assert_eq!(recv(&mut echoes).await, "echo me");

    let ana = deflate_client()
        .connect_url(&format!("{ws}/chat"))
        .await
        .unwrap();
    let mut ana_rx = listen(&ana);
    assert_eq!(
        recv_json(&mut ana_rx).await,
        json(r#"{"event":"welcome","data":{"online":1,"http":"HTTP/1.1"}}"#)
    );
    let bea = deflate_client()
        .connect_url(&format!("{ws}/chat"))
        .await
        .unwrap();
    let mut bea_rx = listen(&bea);
    assert_eq!(
        recv_json(&mut bea_rx).await,
        json(r#"{"event":"welcome","data":{"online":2,"http":"HTTP/1.1"}}"#)
    );
    ana.emit("join", "ana").unwrap();
    let joined = r#"{"event":"joined","data":{"nick":"ana","online":2}}"#;
    assert_eq!(recv_json(&mut ana_rx).await, json(joined));
    assert_eq!(recv_json(&mut bea_rx).await, json(joined));
    ana.emit("say", "hello bea").unwrap();
    let said = r#"{"event":"said","data":{"nick":"ana","text":"hello bea"}}"#;
    assert_eq!(recv_json(&mut bea_rx).await, json(said));
    assert_eq!(recv_json(&mut ana_rx).await, json(said));

    // The wsx tool's own client talks to it too.
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args([
            "connect",
            &format!("{ws}/echo"),
            "-x",
            "from wsx connect",
            "-w",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("< from wsx connect"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // /metrics moved: four text messages received since the first scrape (three here, one
    // from wsx connect).
    let received_after = serve.metric("wsx_messages_received_total{type=\"text\"}");
    assert_eq!(received_after - received_before, 4.0);
    assert_eq!(serve.metric("wsx_connections_active"), 3.0);

    // Ctrl-C: every client gets 1001, the process exits 0.
    let pid = serve.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    for conn in [&echo, &ana, &bea] {
        let (code, _) = tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .unwrap();
        assert_eq!(u16::from(code), 1001);
    }
    let mut serve = serve;
    let status = serve.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_tls() {
    let tls = TlsFiles::localhost("serve-tls");
    let serve = Serve::start(&tls.args());
    assert!(serve.base.starts_with("https://"), "{}", serve.base);
    let port = serve.base.rsplit(':').next().unwrap();
    let mut roots = wsx::tls::rustls::RootCertStore::empty();
    roots.add(tls.der.clone()).unwrap();
    let conn = Client::default()
        .with_root_certificates(roots)
        .unwrap()
        .connect_url(&format!("wss://localhost:{port}/echo"))
        .await
        .unwrap();
    let mut rx = listen(&conn);
    conn.write_text("secure").unwrap();
    assert_eq!(recv(&mut rx).await, "secure");
}

#[test]
fn bad_tls_files_are_one_clear_line_and_a_failure_status() {
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");
}

#[test]
fn a_fresh_servers_metrics_list_every_family_at_zero() {
    let serve = Serve::start(&[]);
    let (status, body) = serve.get("/metrics");
    assert_eq!(status, 200);
    for family in [
        "wsx_connections_active",
        "wsx_connections_total",
        "wsx_handshakes_total",
        "wsx_messages_received_total",
        "wsx_messages_sent_total",
        "wsx_bytes_received_total",
        "wsx_bytes_sent_total",
    ] {
        assert!(
            body.contains(&format!("# HELP {family} "))
                && body.contains(&format!("# TYPE {family} ")),
            "{family} is not described before the first connection:\n{body}"
        );
    }
    assert_eq!(serve.metric("wsx_connections_total"), 0.0);
}
