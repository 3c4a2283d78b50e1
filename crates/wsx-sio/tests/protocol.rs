//! The server against a raw client that writes the wire protocol by hand: handshake, heartbeat,
//! namespaces, events, acks, binary, limits, and malformed packets.

mod common;

use common::{Raw, fast_config, start};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wsx::Message;
use wsx_sio::{Args, ConnectError, DisconnectReason, Server, Socket};

/// Waits (at most 5 s) until `n` disconnect reasons were recorded: handlers run on the
/// connections' tasks, after the clients saw the close.
async fn settle(reasons: &Mutex<Vec<DisconnectReason>>, n: usize) {
    for _ in 0..500 {
        if reasons.lock().expect("lock").len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn echo_server(config: wsx_sio::Config) -> Server {
    let io = Server::new(config);
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |s: Socket, args: Args| async move {
            let _ = s.emit_args("echo", args);
        });
        socket.on_with_ack("echo-ack", |_s: Socket, args: Args, ack| async move {
            let _ = ack.send_args(args);
        });
    });
    io
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_packet_and_first_ping_after_the_interval() {
    let io = echo_server(fast_config(300, 300));
    let addr = start(&io).await;
    let started = Instant::now();
    let mut raw = Raw::connect(addr).await;
    assert_eq!(raw.open["upgrades"], json!([]));
    assert_eq!(raw.open["pingInterval"], json!(300));
    assert_eq!(raw.open["pingTimeout"], json!(300));
    assert_eq!(raw.open["maxPayload"], json!(1_000_000));
    assert_eq!(raw.open["sid"].as_str().map(str::len), Some(20));
    // Three heartbeat cycles: each ping comes an interval after the previous pong.
    for _ in 0..3 {
        let before = Instant::now();
        match raw.next().await {
            Some(Message::Text(t)) => assert_eq!(t.as_str(), "2"),
            other => panic!("expected a ping, got {other:?}"),
        }
        assert!(
            before.elapsed() >= Duration::from_millis(250),
            "ping too early"
        );
        raw.send("3").await;
    }
    assert!(started.elapsed() >= Duration::from_millis(850));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_pong_closes_with_ping_timeout() {
    let io = Server::new(fast_config(200, 200));
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    io.on_connection(move |socket: Socket| {
        let seen = seen.clone();
        async move {
            socket.on_disconnect(move |_s, reason| {
                let seen = seen.clone();
                async move { seen.lock().unwrap().push(reason) }
            });
        }
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    match raw.next().await {
        Some(Message::Text(t)) => assert_eq!(t.as_str(), "2"),
        other => panic!("expected a ping, got {other:?}"),
    }
    // No pong: closed about pingTimeout later.
    raw.closed().await;
    settle(&reasons, 1).await;
    assert_eq!(
        *reasons.lock().unwrap(),
        vec![DisconnectReason::PingTimeout]
    );
}

async fn http_response(addr: std::net::SocketAddr, target: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    // Read until the server closes, or (after a 101) until the head is complete.
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            // A refusal served by hyper keeps the connection: stop at the end of its body.
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if out.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn bad_queries_get_400_with_the_engine_io_error_body() {
    let io = Server::default();
    let addr = start(&io).await;
    let cases = [
        (
            "/socket.io/?EIO=3&transport=websocket",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "/socket.io/?transport=websocket",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "/socket.io/?EIO=4&transport=xhr",
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "/socket.io/?EIO=4",
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "/socket.io/?EIO=4&transport=websocket&sid=x",
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
    ];
    for (target, body) in cases {
        let response = http_response(addr, target).await;
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{target}: {response}"
        );
        assert!(
            response
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{response}"
        );
        assert!(response.ends_with(body), "{target}: {response}");
    }
    let response = http_response(addr, "/elsewhere/?EIO=4&transport=websocket").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
}

#[tokio::test]
async fn custom_path() {
    let io = Server::new(wsx_sio::Config {
        path: "/rt/".into(),
        ..wsx_sio::Config::default()
    });
    let addr = start(&io).await;
    let ok = http_response(addr, "/rt/?EIO=4&transport=websocket").await;
    assert!(ok.starts_with("HTTP/1.1 101"), "{ok}");
    let moved = http_response(addr, "/socket.io/?EIO=4&transport=websocket").await;
    assert!(moved.starts_with("HTTP/1.1 404"), "{moved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_middlewares_and_auth() {
    let io = Server::default();
    io.of("/admin").use_middleware(|socket: Socket| async move {
        match socket.auth()["token"].as_str() {
            Some("secret") => Ok(()),
            _ => Err(ConnectError::new("Not authorized").with_data(json!({"code": 401}))),
        }
    });
    io.of("/admin").on_connection(|socket: Socket| async move {
        let _ = socket.emit("hello", &socket.handshake().query_param("x"));
    });
    let addr = start(&io).await;
    let mut raw = Raw::connect(addr).await;
    raw.send("40/nope,").await;
    assert_eq!(
        raw.text().await,
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
    raw.send(r#"40/admin,{"token":"wrong"}"#).await;
    assert_eq!(
        raw.text().await,
        r#"44/admin,{"message":"Not authorized","data":{"code":401}}"#
    );
    raw.send(r#"40/admin,{"token":"secret"}"#).await;
    let answer = raw.text().await;
    assert!(answer.starts_with(r#"40/admin,{"sid":""#), "{answer}");
    assert_eq!(raw.text().await, r#"42/admin,["hello",null]"#);
    // Multiplexed with `/` on the same connection.
    raw.send("40").await;
    assert!(raw.text().await.starts_with(r#"40{"sid":""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_acks_and_binary() {
    let io = echo_server(wsx_sio::Config::default());
    let asked = Arc::new(Mutex::new(None));
    let got = asked.clone();
    io.of("/").on_connection(move |socket: Socket| {
        let got = got.clone();
        async move {
            let ack = socket.emit_with_ack("ask", &1);
            tokio::spawn(async move {
                *got.lock().unwrap() = Some(ack.await.map(|a| a.values));
            });
        }
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    // Both connection handlers ran, in order: the ask comes right after the CONNECT answer.
    assert_eq!(raw.text().await, r#"420["ask",1]"#);
    raw.send(r#"430["yes",{"n":9007199254740991}]"#).await;

    let exact = r#"42["echo",9007199254740991,-1.5e-300,"😀\u2028",{"b":1,"a":[true,null]}]"#;
    raw.send(exact).await;
    let back = raw.text().await;
    let want: Value = serde_json::from_str(&exact[2..]).unwrap();
    let got_back: Value = serde_json::from_str(&back[2..]).unwrap();
    assert_eq!(got_back, want);
    assert_eq!(
        back,
        "42[\"echo\",9007199254740991,-1.5e-300,\"😀\u{2028}\",{\"b\":1,\"a\":[true,null]}]"
    );

    raw.send(r#"4212["echo-ack","x"]"#).await;
    assert_eq!(raw.text().await, r#"4312["x"]"#);

    // Binary at depth, a zero-length buffer, then a binary ack.
    raw.send(r#"452-["echo",{"a":[{"_placeholder":true,"num":0}]},{"_placeholder":true,"num":1}]"#)
        .await;
    raw.send_binary(b"\x01\x02").await;
    raw.send_binary(b"").await;
    assert_eq!(
        raw.text().await,
        r#"452-["echo",{"a":[{"_placeholder":true,"num":0}]},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(raw.binary().await, b"\x01\x02");
    assert_eq!(raw.binary().await, b"");
    raw.send(r#"451-7["echo-ack",{"_placeholder":true,"num":0}]"#)
        .await;
    raw.send_binary(b"z").await;
    assert_eq!(raw.text().await, r#"461-7[{"_placeholder":true,"num":0}]"#);
    assert_eq!(raw.binary().await, b"z");

    let mut ack = None;
    for _ in 0..100 {
        ack = asked.lock().unwrap().take();
        if ack.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match ack {
        Some(Ok(values)) => assert_eq!(
            values,
            vec![json!("yes"), json!({"n": 9_007_199_254_740_991_u64})]
        ),
        other => panic!("ack: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_clients_events_run_in_order_and_slow_clients_do_not_stall_others() {
    // One at a time, every emit keeps the order of the events (by default only those made
    // before a handler's first await do: tests/handler_order.rs).
    let io = Server::new(wsx_sio::Config::default().sequential_handlers(true));
    io.on_connection(|socket: Socket| async move {
        socket.on("n", |s: Socket, n: u64| async move {
            // Uneven handler times would reorder a task-per-event server.
            tokio::time::sleep(Duration::from_micros((n * 7919) % 500)).await;
            let _ = s.emit("n", &n);
        });
        socket.on("slow", |_s: Socket, ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        });
    });
    let addr = start(&io).await;
    let (mut slow, _) = Raw::connect_root(addr).await;
    slow.send(r#"42["slow",3000]"#).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    let started = Instant::now();
    for n in 0..100 {
        raw.send(&format!(r#"42["n",{n}]"#)).await;
    }
    for n in 0..100 {
        assert_eq!(raw.text().await, format!(r#"42["n",{n}]"#));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stalled by another client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_close_that_client_only() {
    let io = echo_server(wsx_sio::Config::default());
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    io.of("/").on_connection(move |socket: Socket| {
        let seen = seen.clone();
        async move {
            socket.on_disconnect(move |_s, reason| {
                let seen = seen.clone();
                async move { seen.lock().unwrap().push(reason) }
            });
        }
    });
    let addr = start(&io).await;
    let (mut bystander, _) = Raw::connect_root(addr).await;
    let cases: &[(&[&str], &str)] = &[
        (&["9"], "unknown Engine.IO packet type"),
        (&["4x"], "unknown Socket.IO packet type"),
        (&["42[1]"], "invalid payload"),
        (&["42[\"a\""], "invalid JSON"),
        (
            &["451-[\"a\",{\"_placeholder\":true,\"num\":3}]", "BIN"],
            "placeholder num 3 out of range",
        ),
        (&["451-[\"a\"]", "42[\"b\"]"], "attachments missing"),
        (&["BIN"], "unexpected binary attachment"),
        (&["45999999-[\"a\"]"], "attachments announced"),
        (&["1x"], "takes no payload"),
    ];
    for (packets, reason) in cases {
        let (mut bad, _) = Raw::connect_root(addr).await;
        for packet in *packets {
            if *packet == "BIN" {
                bad.send_binary(b"x").await;
            } else {
                bad.send(packet).await;
            }
        }
        let (code, text) = bad.closed().await.expect("a close frame");
        assert_eq!(code, 1008, "{packets:?}");
        assert!(text.contains(reason), "{packets:?}: {text}");
        // The other client is untouched.
        bystander.send(r#"42["echo","still here"]"#).await;
        assert_eq!(bystander.text().await, r#"42["echo","still here"]"#);
    }
    settle(&reasons, cases.len()).await;
    let reasons = reasons.lock().unwrap();
    assert_eq!(reasons.len(), cases.len());
    assert!(
        reasons.iter().all(|r| *r == DisconnectReason::ParseError),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_max_payload_closes_the_session() {
    let mut config = wsx_sio::Config::default();
    config.engine.max_payload = 1000;
    let io = echo_server(config);
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    let fits = format!(r#"42["echo","{}"]"#, "a".repeat(980));
    raw.send(&fits).await;
    assert_eq!(raw.text().await, fits);
    raw.send(&format!(r#"42["echo","{}"]"#, "a".repeat(1000)))
        .await;
    let (code, _) = raw.closed().await.expect("a close frame");
    assert_eq!(code, 1009);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_costs_its_client_only() {
    let io = echo_server(wsx_sio::Config::default());
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("boom", |_s: Socket, _: Args| async move {
            panic!("handler bug")
        });
    });
    let addr = start(&io).await;
    let (mut bystander, _) = Raw::connect_root(addr).await;
    let (mut victim, _) = Raw::connect_root(addr).await;
    victim.send(r#"42["boom"]"#).await;
    let (code, _) = victim.closed().await.expect("a close frame");
    assert_eq!(code, 1011);
    bystander.send(r#"42["echo",1]"#).await;
    assert_eq!(bystander.text().await, r#"42["echo",1]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_closes_idle_sessions() {
    let io = Server::new(wsx_sio::Config {
        connect_timeout: Duration::from_millis(200),
        ..wsx_sio::Config::default()
    });
    let addr = start(&io).await;
    let mut raw = Raw::connect(addr).await;
    raw.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_broadcasts_and_client_disconnect() {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on("to", |s: Socket, (room, v): (String, Value)| async move {
            let _ = s.to(room).emit("msg", &v);
        });
        socket.on("all", |s: Socket, v: Value| async move {
            let _ = s.hub().emit("all", &v);
        });
    });
    let addr = start(&io).await;
    let (mut a, _) = Raw::connect_root(addr).await;
    let (mut b, _) = Raw::connect_root(addr).await;
    let (mut c, _) = Raw::connect_root(addr).await;
    for raw in [&mut a, &mut b] {
        raw.send(r#"421["join","r"]"#).await;
        assert_eq!(raw.text().await, "431[true]");
    }
    a.send(r#"42["to","r",1]"#).await;
    assert_eq!(b.text().await, r#"42["msg",1]"#);
    // b leaves the namespace: it is out of the room and gets nothing more. (A client ping is
    // answered by b's task after it handled the DISCONNECT before it.)
    b.send("41").await;
    b.send("2").await;
    match b.next().await {
        Some(Message::Text(t)) => assert_eq!(t.as_str(), "3"),
        other => panic!("b got {other:?}"),
    }
    a.send(r#"42["to","r",2]"#).await;
    a.send(r#"42["all",3]"#).await;
    assert_eq!(a.text().await, r#"42["all",3]"#);
    assert_eq!(c.text().await, r#"42["all",3]"#);
    c.send(r#"42["to","r",4]"#).await;
    assert_eq!(a.text().await, r#"42["msg",4]"#);
    let sockets = io.of("/").fetch_sockets().await.unwrap();
    assert_eq!(sockets.len(), 2);
    // Nothing reached b after its DISCONNECT.
    let nothing = tokio::time::timeout(Duration::from_millis(300), b.ws.next()).await;
    assert!(nothing.is_err(), "b got {nothing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_packets_attachments_are_bounded_in_total() {
    let io = echo_server(wsx_sio::Config {
        max_buffered: 10_000,
        ..wsx_sio::Config::default()
    });
    let addr = start(&io).await;
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    raw.send_binary(&[1; 6000]).await;
    raw.send_binary(&[2; 6000]).await;
    let (code, reason) = raw.closed().await.expect("a close frame");
    assert_eq!(code, 1008);
    assert!(
        reason.contains("attachments larger than 10000 bytes"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_reasons_of_the_transport() {
    let io = Server::default();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    io.on_connection(move |socket: Socket| {
        let seen = seen.clone();
        async move {
            socket.on("bye", |s: Socket, _: Args| async move { s.disconnect() });
            socket.on_disconnect(move |_s, reason| {
                let seen = seen.clone();
                async move { seen.lock().unwrap().push(reason) }
            });
        }
    });
    let addr = start(&io).await;
    // A WebSocket close, a TCP connection dropped without one, an Engine.IO close packet.
    let (mut a, _) = Raw::connect_root(addr).await;
    a.ws.close(None).await.expect("close");
    let (b, _) = Raw::connect_root(addr).await;
    drop(b);
    let (mut c, _) = Raw::connect_root(addr).await;
    c.send("1").await;
    c.closed().await;
    // The server disconnects the socket: the client gets DISCONNECT, the connection stays.
    let (mut d, _) = Raw::connect_root(addr).await;
    d.send(r#"42["bye"]"#).await;
    assert_eq!(d.text().await, "41");
    d.send("2").await;
    assert_eq!(d.text().await, "3");
    settle(&reasons, 4).await;
    let mut got = reasons.lock().unwrap().clone();
    got.sort_by_key(|r| r.as_str());
    assert_eq!(
        got,
        vec![
            DisconnectReason::ServerNamespaceDisconnect,
            DisconnectReason::TransportClose,
            DisconnectReason::TransportClose,
            DisconnectReason::TransportClose,
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_beside_other_routes_on_one_port() {
    use wsx::handshake::server::{ServerOptions, parse_request};
    let io = echo_server(wsx_sio::Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = io.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, remote)) = listener.accept().await {
            let io = router.clone();
            tokio::spawn(async move {
                let mut buf = bytes::BytesMut::new();
                let (request, len) = loop {
                    if let Ok(Some(parsed)) = parse_request(&buf, &ServerOptions::default()) {
                        break parsed;
                    }
                    if !matches!(tcp.read_buf(&mut buf).await, Ok(n) if n > 0) {
                        return;
                    }
                };
                if io.handles(&request) {
                    io.upgrade(tcp, request, &buf[len..], Some(remote)).await;
                } else {
                    let _ = tcp
                        .write_all(b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    let (mut raw, _) = Raw::connect_root(addr).await;
    raw.send(r#"42["echo","routed"]"#).await;
    assert_eq!(raw.text().await, r#"42["echo","routed"]"#);
    let other = http_response(addr, "/elsewhere").await;
    assert!(other.starts_with("HTTP/1.1 418"), "{other}");
    let bad = http_response(addr, "/socket.io/?EIO=3&transport=websocket").await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
}
