//! The admin UI's protocol (`wsx_sio::admin`, npm `@socket.io/admin-ui` 0.5) as the
//! dashboard speaks it, with wsx-sio's client over loopback: basic authentication and
//! sessions, `config`, `server_stats`, `all_sockets`, the events of development mode, the
//! operations, production and read-only modes. The real dashboard in Chromium is
//! `tests/admin_ui.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod admin_support;

use admin_support::{HASH, dashboard, events, next, next_where, socket, socket_on};
use serde_json::{Value, json};
use std::time::Duration;
use wsx_sio::admin::{AdminAuth, AdminError, AdminMode, AdminOptions, instrument};
use wsx_sio::client::{ConnectError, Transports};
use wsx_sio::{Args, Server, Socket};

/// A server whose `/` sockets join and leave rooms on request, instrumented with `options`
/// on `/admin`; its address.
async fn start(options: AdminOptions) -> (Server, String) {
    let io = Server::default();
    io.on_connection(|socket: Socket| async move {
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on_with_ack("leave", |s: Socket, room: String, ack| async move {
            s.leave(&room);
            let _ = ack.send(&true);
        });
        socket.on("echo", |s: Socket, value: Value| async move {
            let _ = s.emit("echo", &value);
        });
    });
    instrument(&io, options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let serving = io.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    (io, url)
}

fn basic() -> AdminOptions {
    AdminOptions {
        namespace: "/admin".into(),
        auth: AdminAuth::basic("admin", HASH).unwrap(),
        mode: AdminMode::Development,
        stats_interval: Duration::from_millis(300),
        ..AdminOptions::default()
    }
}

fn refusal(result: Result<(), ConnectError>) -> String {
    match result {
        Err(ConnectError::Refused { message, .. }) => message,
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_get_invalid_credentials_and_a_login_gets_a_session() {
    let (_io, url) = start(basic()).await;
    for auth in [
        json!({"username": "admin", "password": "wrong"}),
        json!({"username": "root", "password": "s3cret"}),
        json!({"username": "admin"}),
        json!({"sessionId": "0123456789abcdef"}),
        Value::Null,
    ] {
        let refused = socket(&url, "/admin", auth.clone());
        assert_eq!(
            refusal(refused.connect().await),
            "invalid credentials",
            "{auth}"
        );
    }
    let (admin, mut rx) = dashboard(&url).await;
    let session = next(&mut rx, "session").await;
    let session = session[0].as_str().unwrap().to_owned();
    assert_eq!(session.len(), 16, "8 random bytes in hex: {session}");
    admin.disconnect();
    // The session id alone lets the dashboard back in (a page reload).
    let again = socket(&url, "/admin", json!({"sessionId": session}));
    again.connect().await.unwrap();
    // Other namespaces are not guarded.
    socket(&url, "/", Value::Null).connect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_gets_config_stats_and_every_socket_with_its_rooms() {
    let (_io, url) = start(basic()).await;
    let a = socket(&url, "/", Value::Null);
    let b = socket(&url, "/", Value::Null);
    a.connect().await.unwrap();
    b.connect().await.unwrap();
    let _: bool = a.emit_with_ack_as("join", &"lobby").await.unwrap();
    let _: bool = b.emit_with_ack_as("join", &"lobby").await.unwrap();
    let _: bool = b.emit_with_ack_as("join", &"vip").await.unwrap();

    let (_admin, mut rx) = dashboard(&url).await;
    let config = next(&mut rx, "config").await;
    assert_eq!(
        config[0],
        json!({"supportedFeatures": ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE",
            "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"]})
    );
    let stats = next(&mut rx, "server_stats").await;
    let stats = &stats[0];
    assert_eq!(stats["pid"], json!(std::process::id()));
    assert!(
        stats["serverId"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{}", std::process::id()))
    );
    assert_eq!(stats["clientsCount"], json!(3), "{stats}");
    assert_eq!(stats["pollingClientsCount"], json!(0));
    let namespaces = stats["namespaces"].as_array().unwrap();
    assert!(
        namespaces.contains(&json!({"name": "/", "socketsCount": 2})),
        "{stats}"
    );
    assert!(
        namespaces.contains(&json!({"name": "/admin", "socketsCount": 1})),
        "{stats}"
    );

    let all = next(&mut rx, "all_sockets").await;
    let all = all[0].as_array().unwrap();
    let (a_id, b_id) = (a.id().unwrap(), b.id().unwrap());
    let find = |id: &str| all.iter().find(|s| s["id"] == id).cloned().unwrap();
    let (sa, sb) = (find(&a_id), find(&b_id));
    assert_eq!(sa["nsp"], "/");
    assert_eq!(sa["rooms"], json!([a_id, "lobby"]));
    assert_eq!(sb["rooms"], json!([b_id, "lobby", "vip"]));
    assert_eq!(sa["transport"], "websocket");
    assert_eq!(sa["clientId"].as_str().unwrap().len(), 12);
    assert_ne!(
        sa["clientId"], sb["clientId"],
        "two connections, two clients"
    );
    assert_eq!(sa["data"], json!({}), "`_admin` is kept out of `data`");
    assert_eq!(sa["handshake"]["address"], "127.0.0.1");
    assert!(
        sa["handshake"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/socket.io/")
    );
    // The dashboard itself is a socket of `/admin`; its password is not shown.
    let me = all.iter().find(|s| s["nsp"] == "/admin").unwrap();
    assert!(me["handshake"].get("auth").is_none(), "{me}");
    assert!(!me.to_string().contains("s3cret"), "{me}");

    // Then every `stats_interval`.
    let started = tokio::time::Instant::now();
    next(&mut rx, "server_stats").await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_and_rooms_are_reported_as_they_change() {
    let (_io, url) = start(basic()).await;
    let (_admin, mut rx) = dashboard(&url).await;
    next(&mut rx, "all_sockets").await;

    let a = socket(&url, "/", Value::Null);
    a.connect().await.unwrap();
    let id = a.id().unwrap();
    let connected = next_where(&mut rx, "socket_connected", |args| args[0]["nsp"] == "/").await;
    assert_eq!(connected[0]["id"], json!(id));
    assert_eq!(connected[0]["rooms"], json!([id]));
    assert!(connected[1].as_str().unwrap().ends_with('Z'), "a JSON date");

    let _: bool = a.emit_with_ack_as("join", &"lobby").await.unwrap();
    // Every event a socket sends (reported before its handler runs, as Node's `onAny`).
    let received = next(&mut rx, "event_received").await;
    assert_eq!(
        &received[..3],
        &[json!("/"), json!(id), json!(["join", "lobby"])]
    );
    let joined = next_where(&mut rx, "room_joined", |args| args[1] == "lobby").await;
    assert_eq!(&joined[..3], &[json!("/"), json!("lobby"), json!(id)]);

    let _: bool = a.emit_with_ack_as("join", &"lobby").await.unwrap();
    let _: bool = a.emit_with_ack_as("leave", &"lobby").await.unwrap();
    let left = next(&mut rx, "room_left").await;
    assert_eq!(&left[..3], &[json!("/"), json!("lobby"), json!(id)]);
    // The second join of a room it was in reported nothing.
    let between: Vec<(String, Vec<Value>)> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        !between.iter().any(|(name, _)| name == "room_joined"),
        "{between:?}"
    );

    a.disconnect();
    let gone = next(&mut rx, "socket_disconnected").await;
    assert_eq!(
        &gone[..3],
        &[json!("/"), json!(id), json!("client namespace disconnect")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_client_is_shown_on_polling_and_its_upgrade_reported() {
    let (_io, url) = start(basic()).await;
    let (_admin, mut rx) = dashboard(&url).await;
    next(&mut rx, "all_sockets").await;

    let polling = socket_on(&url, "/", Transports::Polling);
    polling.connect().await.unwrap();
    let connected = next_where(&mut rx, "socket_connected", |args| args[0]["nsp"] == "/").await;
    assert_eq!(connected[0]["transport"], "polling");
    next_where(&mut rx, "server_stats", |args| {
        args[0]["pollingClientsCount"] == 1 && args[0]["clientsCount"] == 2
    })
    .await;

    let upgrading = socket_on(&url, "/", Transports::Default);
    upgrading.connect().await.unwrap();
    let id = upgrading.id().unwrap();
    let connected = next_where(&mut rx, "socket_connected", |args| args[0]["id"] == id).await;
    // Connected before or after its upgrade, depending on timing; if before, the next stats
    // tick reports it.
    if connected[0]["transport"] == "polling" {
        let updated = next_where(&mut rx, "socket_updated", |args| args[0]["id"] == id).await;
        assert_eq!(
            updated[0],
            json!({"id": id, "nsp": "/", "transport": "websocket"})
        );
    }
    // Either way, a dashboard that connects now sees it on WebSocket, the other on polling.
    let (_second, mut rx) = dashboard(&url).await;
    let all = next(&mut rx, "all_sockets").await;
    let transport = |id: &str| {
        all[0]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["transport"].clone())
    };
    assert_eq!(transport(&id), Some(json!("websocket")));
    assert_eq!(transport(&polling.id().unwrap()), Some(json!("polling")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_filter_by_room_or_socket_id() {
    let (io, url) = start(basic()).await;
    let a = socket(&url, "/", Value::Null);
    let b = socket(&url, "/", Value::Null);
    let mut a_rx = events(&a);
    let mut b_rx = events(&b);
    a.connect().await.unwrap();
    b.connect().await.unwrap();
    let _: bool = a.emit_with_ack_as("join", &"lobby").await.unwrap();
    let (a_id, b_id) = (a.id().unwrap(), b.id().unwrap());
    let (admin, mut rx) = dashboard(&url).await;
    next(&mut rx, "all_sockets").await;

    // emit(nsp, filter, event, ...args): a room.
    admin
        .emit_args(
            "emit",
            Args::new()
                .arg("/")
                .arg("lobby")
                .arg("hello")
                .arg(1)
                .arg("two"),
        )
        .unwrap();
    assert_eq!(next(&mut a_rx, "hello").await, vec![json!(1), json!("two")]);
    // No filter: everyone.
    admin
        .emit_args(
            "emit",
            Args::new().arg("/").arg(Value::Null).arg("all").arg(3),
        )
        .unwrap();
    assert_eq!(next(&mut b_rx, "all").await, vec![json!(3)]);
    // b never got `hello`: `all` came first.
    let before: Vec<_> = std::iter::from_fn(|| b_rx.try_recv().ok()).collect();
    assert!(!before.iter().any(|(n, _)| n == "hello"), "{before:?}");

    // join(nsp, room, filter): a socket id.
    admin
        .emit_args("join", Args::new().arg("/").arg("vip").arg(b_id.as_str()))
        .unwrap();
    let joined = next_where(&mut rx, "room_joined", |args| args[1] == "vip").await;
    assert_eq!(joined[2], json!(b_id));
    let hub = io.of("/");
    let sb = hub.get_socket(wsx_sio::Sid::parse(&b_id).unwrap()).unwrap();
    assert!(sb.rooms().contains(&"vip".to_owned()));
    // leave(nsp, room, filter): a room.
    admin
        .emit_args("leave", Args::new().arg("/").arg("vip").arg("vip"))
        .unwrap();
    let left = next_where(&mut rx, "room_left", |args| args[1] == "vip").await;
    assert_eq!(left[2], json!(b_id));
    assert!(!sb.rooms().contains(&"vip".to_owned()));
    // A namespace that does not exist is not created.
    admin
        .emit_args("join", Args::new().arg("/nope").arg("x"))
        .unwrap();
    // _disconnect(nsp, close, filter): a room.
    admin
        .emit_args("_disconnect", Args::new().arg("/").arg(false).arg("lobby"))
        .unwrap();
    let gone = next(&mut rx, "socket_disconnected").await;
    assert_eq!(
        &gone[..3],
        &[
            json!("/"),
            json!(a_id),
            json!("server namespace disconnect")
        ]
    );
    assert!(b.connected());
    assert!(
        io.of("/")
            .get_socket(wsx_sio::Sid::parse(&a_id).unwrap())
            .is_none()
    );
    assert_eq!(hub.local_count(), 1, "b is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_mode_sends_statistics_only_and_read_only_refuses_operations() {
    let (io, url) = start(AdminOptions {
        mode: AdminMode::Production,
        read_only: true,
        auth: AdminAuth::None,
        ..basic()
    })
    .await;
    let admin = socket(&url, "/admin", Value::Null);
    let mut rx = events(&admin);
    admin.connect().await.unwrap();
    assert_eq!(
        next(&mut rx, "config").await[0],
        json!({"supportedFeatures": ["AGGREGATED_EVENTS"]})
    );
    let a = socket(&url, "/", Value::Null);
    a.connect().await.unwrap();
    let _: bool = a.emit_with_ack_as("join", &"lobby").await.unwrap();
    // Read-only: the operations are not served.
    admin
        .emit_args("_disconnect", Args::new().arg("/").arg(true))
        .unwrap();
    // The stats tick after the client connected counts its connection.
    let stats = next_where(&mut rx, "server_stats", |args| {
        args[0]["aggregatedEvents"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["type"] == "rawConnection"))
    })
    .await;
    assert!(
        stats[0]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "/", "socketsCount": 1}))
    );
    next(&mut rx, "server_stats").await;
    let seen: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|(name, _)| name)
        .collect();
    for name in ["all_sockets", "socket_connected", "room_joined", "session"] {
        assert!(!seen.iter().any(|n| n == name), "{name} in {seen:?}");
    }
    assert!(a.connected(), "read-only: not disconnected");
    assert_eq!(io.of("/").local_count(), 1);
}

#[test]
fn instrument_refuses_a_missing_auth_option_and_a_password_that_is_not_a_hash() {
    assert!(matches!(
        AdminAuth::basic("admin", "changeit"),
        Err(AdminError::NotBcrypt(_))
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let io = Server::default();
        assert!(matches!(
            instrument(&io, AdminOptions::default()),
            Err(AdminError::AuthNotSet)
        ));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_sent_reports_a_socket_s_own_emits_and_the_broadcasts_reaching_it() {
    let (io, url) = start(basic()).await;
    let (_admin, mut rx) = dashboard(&url).await;
    next(&mut rx, "all_sockets").await;
    let a = socket(&url, "/", Value::Null);
    a.connect().await.unwrap();
    let id = a.id().unwrap();
    next_where(&mut rx, "socket_connected", |args| args[0]["id"] == id).await;

    // Its own emit (the server answers `echo`).
    a.emit("echo", &json!({"n": 1})).unwrap();
    let sent = next(&mut rx, "event_sent").await;
    assert_eq!(
        &sent[..3],
        &[json!("/"), json!(id), json!(["echo", {"n": 1}])]
    );
    assert!(sent[3].as_str().unwrap().ends_with('Z'), "a JSON date");
    // A broadcast of its namespace, and one to a room it is not in (not reported).
    io.of("/").to("nowhere").emit("news", &0).unwrap();
    io.of("/").emit("news", &2).unwrap();
    let sent = next(&mut rx, "event_sent").await;
    assert_eq!(&sent[..3], &[json!("/"), json!(id), json!(["news", 2])]);
    // The dashboard's own events (`server_stats`, ..) are not reported.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let seen: Vec<(String, Vec<Value>)> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        !seen.iter().any(|(name, _)| name == "event_sent"),
        "{seen:?}"
    );
}

/// The `aggregatedEvents` of the stats ticks, added up by `(type, subType)`; every entry is
/// one second's (`timestamp` a whole second in milliseconds), as Node's `EventBuffer`.
fn add_up(ticks: &[Vec<Value>]) -> std::collections::BTreeMap<(String, Option<String>), u64> {
    let mut sums = std::collections::BTreeMap::new();
    for tick in ticks {
        for event in tick[0]["aggregatedEvents"].as_array().unwrap() {
            assert_eq!(event["timestamp"].as_u64().unwrap() % 1000, 0, "{event}");
            let key = (
                event["type"].as_str().unwrap().to_owned(),
                event.get("subType").map(|s| s.as_str().unwrap().to_owned()),
            );
            *sums.entry(key).or_insert(0) += event["count"].as_u64().unwrap();
        }
    }
    sums
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_events_count_packets_and_bytes_each_way_as_node_does() {
    let (_io, url) = start(AdminOptions {
        mode: AdminMode::Production,
        auth: AdminAuth::None,
        stats_interval: Duration::from_millis(500),
        ..basic()
    })
    .await;
    let admin = socket(&url, "/admin", Value::Null);
    let mut rx = events(&admin);
    admin.connect().await.unwrap();
    let a = socket(&url, "/", Value::Null);
    let mut echoes = events(&a);
    a.connect().await.unwrap();
    // The connections are counted, without a subType.
    let tick = next_where(&mut rx, "server_stats", |args| {
        args[0]["aggregatedEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "rawConnection")
    })
    .await;
    let connected = add_up(&[tick]);
    assert!(connected[&("rawConnection".to_owned(), None)] >= 1);
    // A tick after which only our packets and the statistics themselves go through.
    let mut ticks = vec![next(&mut rx, "server_stats").await];

    const N: usize = 10;
    let text = "x".repeat(1000);
    for _ in 0..N {
        a.emit("echo", &text).unwrap();
    }
    for _ in 0..N {
        next(&mut echoes, "echo").await;
    }
    ticks.push(next(&mut rx, "server_stats").await);
    ticks.push(next(&mut rx, "server_stats").await);
    ticks.push(next(&mut rx, "server_stats").await);

    // Each way, an event is `2["echo","xxx..."]` (the Engine.IO `4` not counted): 1,012 bytes.
    let size = u64::try_from(format!("2[\"echo\",\"{text}\"]").len()).unwrap();
    assert_eq!(size, 1012);
    // What the dashboard was sent in the window: the statistics of every tick but the last
    // (each is written after its snapshot was taken), `2/admin,["server_stats",{..}]`.
    let stats: Vec<u64> = ticks[..ticks.len() - 1]
        .iter()
        .map(|tick| {
            let packet = format!(
                "2/admin,{}",
                serde_json::to_string(&json!(["server_stats", tick[0]])).unwrap()
            );
            u64::try_from(packet.len()).unwrap()
        })
        .collect();
    let n = N as u64;
    let sums = add_up(&ticks[1..]);
    let count = |kind: &str| sums.get(&(kind.to_owned(), None)).copied().unwrap_or(0);
    assert_eq!(count("packetsIn"), n, "{sums:?}");
    assert_eq!(count("bytesIn"), n * size, "{sums:?}");
    assert_eq!(count("packetsOut"), n + stats.len() as u64, "{sums:?}");
    assert_eq!(
        count("bytesOut"),
        n * size + stats.iter().sum::<u64>(),
        "{sums:?}"
    );
    assert_eq!(sums.len(), 4, "nothing else: {sums:?}");

    // A client that goes: `rawDisconnection` with the Engine.IO reason as its subType.
    a.disconnect();
    let tick = next_where(&mut rx, "server_stats", |args| {
        args[0]["aggregatedEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "rawDisconnection")
    })
    .await;
    let gone = add_up(&[tick]);
    assert_eq!(
        gone[&(
            "rawDisconnection".to_owned(),
            Some("transport close".to_owned())
        )],
        1,
        "{gone:?}"
    );
}
