//! A server on `Parser::MsgPack` against a raw client that writes socket.io-msgpack-parser's
//! packets by hand (the bytes the official client's encoder produces, quirks included), over
//! WebSocket and HTTP long-polling: connect, events, acks both ways, binary, broadcasts,
//! namespaces, server-side disconnect, and what it does with text or malformed packets. And
//! wsx-sio's own client on the msgpack parser through the demo contract (feature `client`).

mod common;

#[cfg(feature = "client")]
#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

#[cfg(feature = "client")]
#[path = "../examples/sio_client_check/checks.rs"]
#[allow(dead_code)]
mod check;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use common::http::{get, open_session, post, session_url};
use common::{Raw, start};
use serde_json::{Value, json};
use std::time::Duration;
use wsx::Message;
use wsx_sio::packet::msgpack;
use wsx_sio::packet::socket::{Body, Packet};
use wsx_sio::{Args, Config, Parser, Server, Socket};

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The official client's CONNECT to `/` without auth: `{type: 0, data: undefined, nsp: "/"}`.
const CONNECT_ROOT: &str = "83a47479706500a464617461d40000a36e7370a12f";

fn server() -> Server {
    let io = Server::new(Config::default().parser(Parser::MsgPack));
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |s: Socket, args: Args| async move {
            let _ = s.emit_args("echo", args);
        });
        socket.on_with_ack("echo-ack", |_s: Socket, args: Args, ack| async move {
            let _ = ack.send_args(args);
        });
        socket.on("broadcast", |s: Socket, args: Args| async move {
            let _ = s.hub().emit_args("broadcast", args);
        });
        socket.on("ask-me", |s: Socket, _: Args| async move {
            let answer = s.emit_with_ack("question", &"why?").await;
            let _ = match answer {
                Ok(args) => s.emit_args("answered", args),
                Err(err) => s.emit("answered", &err.to_string()),
            };
        });
        socket.on("kick-me", |s: Socket, _: Args| async move {
            s.disconnect();
        });
    });
    io.of("/admin")
        .on_connection(|_socket: Socket| async move {});
    io
}

/// The next packet: a binary message holding one msgpack packet (pings are answered).
async fn packet(raw: &mut Raw) -> (Packet, Vec<Bytes>) {
    loop {
        match raw.next().await {
            Some(Message::Binary(b)) => return msgpack::decode(&b, 16).expect("msgpack packet"),
            Some(Message::Text(t)) if t.as_str() == "2" => raw.send("3").await,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
}

async fn connect_root(addr: std::net::SocketAddr) -> (Raw, String) {
    let mut raw = Raw::connect(addr).await;
    raw.send_binary(&hex(CONNECT_ROOT)).await;
    let (answer, _) = packet(&mut raw).await;
    let Body::Connect(Some(data)) = answer.body else {
        panic!("expected CONNECT, got {answer:?}")
    };
    assert_eq!(answer.namespace, "/");
    (raw, data["sid"].as_str().expect("sid").to_owned())
}

fn event(ns: &str, name: &str, args: Vec<Value>, ack: Option<u64>) -> Packet {
    Packet::new(
        ns,
        Body::Event {
            name: name.into(),
            args,
            ack,
            attachments: None,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_acks_with_binary_over_websocket() {
    let io = server();
    let addr = start(&io).await;
    let (mut raw, sid) = connect_root(addr).await;
    assert_eq!(sid.len(), 20);

    // {type: 2, data: ["echo-ack", Buffer [1,2,3], {deep: [new Uint8Array([9])]}, undefined],
    //  options: {compress: true}, id: 4, nsp: "/"}, as the client's notepack writes it.
    raw.send_binary(&hex(
        "85 a474797065 02 a464617461 94 a8 6563686f2d61636b c403010203
         81 a4 64656570 91 c7 01 00 09 d40000
         a76f7074696f6e73 81 a8636f6d7072657373 c3 a26964 04 a36e7370 a12f",
    ))
    .await;
    let (ack, attachments) = packet(&mut raw).await;
    assert_eq!(
        ack,
        Packet::new(
            "/",
            Body::Ack {
                id: 4,
                args: vec![
                    json!({"_placeholder": true, "num": 0}),
                    json!({"deep": [{"_placeholder": true, "num": 1}]}),
                    Value::Null,
                ],
                attachments: Some(2),
            }
        )
    );
    assert_eq!(
        attachments,
        vec![Bytes::from_static(&[1, 2, 3]), Bytes::from_static(&[9])]
    );

    // An event answered with an event: the server's bytes are what the npm parser writes.
    raw.send_binary(&msgpack::encode(
        &event("/", "echo", vec![json!("hi")], None),
        &[],
    ))
    .await;
    let bytes = raw.binary().await;
    assert_eq!(
        bytes,
        hex("83 a474797065 02 a464617461 92 a46563686f a26869 a36e7370 a12f")
    );

    // The server asks, the client answers with an ack packet.
    raw.send_binary(&msgpack::encode(&event("/", "ask-me", vec![], None), &[]))
        .await;
    let (question, _) = packet(&mut raw).await;
    let Body::Event {
        name,
        args,
        ack: Some(id),
        ..
    } = question.body
    else {
        panic!("expected a question with an ack id, got {question:?}")
    };
    assert_eq!((name.as_str(), args), ("question", vec![json!("why?")]));
    let answer = Packet::new(
        "/",
        Body::Ack {
            id,
            args: vec![json!("because"), json!({"_placeholder": true, "num": 0})],
            attachments: Some(1),
        },
    );
    raw.send_binary(&msgpack::encode(&answer, &[Bytes::from_static(b"!")]))
        .await;
    let (answered, attachments) = packet(&mut raw).await;
    assert_eq!(
        answered,
        Packet::new(
            "/",
            Body::Event {
                name: "answered".into(),
                args: vec![json!("because"), json!({"_placeholder": true, "num": 0})],
                ack: None,
                attachments: Some(1),
            }
        )
    );
    assert_eq!(attachments, vec![Bytes::from_static(b"!")]);

    // The server disconnects the socket: DISCONNECT in msgpack.
    raw.send_binary(&msgpack::encode(&event("/", "kick-me", vec![], None), &[]))
        .await;
    assert_eq!(raw.binary().await, hex("82 a474797065 01 a36e7370 a12f"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_broadcasts() {
    let io = server();
    let addr = start(&io).await;
    let (mut a, _) = connect_root(addr).await;
    let (mut b, _) = connect_root(addr).await;

    // A broadcast is encoded once: both get the same bytes.
    let payload = event("/", "broadcast", vec![json!({"n": 1})], None);
    a.send_binary(&msgpack::encode(&payload, &[])).await;
    let (got_a, got_b) = (a.binary().await, b.binary().await);
    assert_eq!(got_a, got_b);
    assert_eq!(msgpack::decode(&got_a, 0), Ok((payload, vec![])));

    // /admin on the same connection; an unknown namespace is refused.
    a.send_binary(&hex(
        "83 a474797065 00 a464617461 81 a1 78 01 a36e7370 a6 2f61646d696e",
    ))
    .await;
    let (admin, _) = packet(&mut a).await;
    assert_eq!(admin.namespace, "/admin");
    assert!(matches!(admin.body, Body::Connect(Some(_))), "{admin:?}");
    a.send_binary(&hex("82 a474797065 00 a36e7370 a5 2f6e6f7065"))
        .await;
    assert_eq!(
        packet(&mut a).await,
        (
            Packet::new(
                "/nope",
                Body::ConnectError(json!({"message": "Invalid namespace"}))
            ),
            vec![]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_malformed_packets_close_the_connection() {
    let io = server();
    let addr = start(&io).await;
    let cases: Vec<(Message, &str)> = vec![
        // The JSON parser's CONNECT: text is not a msgpack packet.
        (Message::text("40"), "text message with the msgpack parser"),
        // type 5 (BINARY_EVENT) does not exist in the msgpack parser.
        (
            Message::binary(hex("83 a474797065 05 a464617461 91 a161 a36e7370 a12f")),
            "invalid packet type",
        ),
        (Message::binary(hex("93 01 02 03")), "must be a map"),
        (Message::binary(hex("83 a474797065")), "truncated"),
    ];
    for (message, reason) in cases {
        let mut raw = Raw::connect(addr).await;
        raw.ws.send(message.clone()).await.expect("send");
        let (code, text) = raw.closed().await.expect("a close frame");
        assert_eq!(code, 1008, "{message:?}");
        assert!(text.contains(reason), "{message:?}: {text}");
    }
}

/// Over long-polling each packet is one binary Engine.IO message: `b<base64>` in the payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_acks_over_polling() {
    let io = server();
    let addr = start(&io).await;
    let path = "/socket.io/";
    let sid = open_session(addr, path).await;
    let url = session_url(path, &sid);
    let b64 = |bytes: &[u8]| format!("b{}", STANDARD.encode(bytes));
    let packets = |body: String| -> Vec<(Packet, Vec<Bytes>)> {
        body.split('\u{1e}')
            .filter(|p| *p != "2")
            .map(|p| {
                let data = STANDARD
                    .decode(
                        p.strip_prefix('b')
                            .unwrap_or_else(|| panic!("not binary: {p}")),
                    )
                    .expect("base64");
                msgpack::decode(&data, 16).expect("msgpack")
            })
            .collect()
    };

    let response = post(addr, &url, &b64(&hex(CONNECT_ROOT))).await;
    assert_eq!(response.status, 200);
    let got = packets(get(addr, &url).await.text());
    assert!(
        matches!(
            &got[..],
            [(
                Packet {
                    body: Body::Connect(Some(_)),
                    ..
                },
                _
            )]
        ),
        "{got:?}"
    );

    let ask = Packet::new(
        "/",
        Body::Event {
            name: "echo-ack".into(),
            args: vec![json!(1), json!({"_placeholder": true, "num": 0})],
            ack: Some(9),
            attachments: Some(1),
        },
    );
    let body = [
        b64(&msgpack::encode(&ask, &[Bytes::from_static(&[0, 255])])),
        b64(&msgpack::encode(
            &event("/", "echo", vec![json!("two")], None),
            &[],
        )),
    ]
    .join("\u{1e}");
    assert_eq!(post(addr, &url, &body).await.status, 200);
    let mut got = Vec::new();
    for _ in 0..10 {
        got.extend(packets(get(addr, &url).await.text()));
        if got.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        got,
        vec![
            (
                Packet::new(
                    "/",
                    Body::Ack {
                        id: 9,
                        args: vec![json!(1), json!({"_placeholder": true, "num": 0})],
                        attachments: Some(1),
                    }
                ),
                vec![Bytes::from_static(&[0, 255])]
            ),
            (event("/", "echo", vec![json!("two")], None), vec![]),
        ]
    );
}

/// wsx-sio's own client on its msgpack parser runs the demo contract
/// (`examples/sio_client_check/checks.rs`) against the demo on `Parser::MsgPack`, on each
/// transport setting: the two ends share `packet::msgpack`, and the Node tests check each end
/// against npm's parser.
#[cfg(feature = "client")]
mod own_client {
    use super::{check, sio_demo};
    use wsx_sio::client::Transports;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wsx_sio_client_passes_the_contract_against_the_msgpack_demo() {
        let io = sio_demo::server_with(sio_demo::config().parser(wsx_sio::Parser::MsgPack));
        let addr = crate::common::start(&io).await;
        for transport in [
            Transports::WebSocket,
            Transports::Default,
            Transports::Polling,
        ] {
            let results = check::run(
                &format!("http://{addr}"),
                transport,
                wsx_sio::client::Parser::MsgPack,
            )
            .await;
            let failed: Vec<String> = results
                .iter()
                .filter_map(|(name, outcome)| {
                    outcome.as_ref().err().map(|why| format!("{name}: {why}"))
                })
                .collect();
            assert!(failed.is_empty(), "{transport:?}: {failed:#?}");
            assert!(results.len() >= 15, "only {} checks ran", results.len());
        }
    }
}
