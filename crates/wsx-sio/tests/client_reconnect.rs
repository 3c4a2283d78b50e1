//! wsx-sio's client when the network fails (a proxy between it and sio_demo cuts, refuses or
//! freezes connections): reconnection with backoff and its events, the send buffer (volatile
//! emits dropped), acknowledgements that time out or fail on a lost connection, a dead
//! server found by its missing pings, and the auth payload.

#[path = "../examples/sio_demo.rs"]
#[allow(dead_code)]
mod sio_demo;

#[allow(dead_code)]
mod client_support;

use client_support::proxy::{Mode, Proxy};
use client_support::start_demo;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::timeout;
use wsx_sio::client::{
    AckError, Args, ClientOptions, DisconnectReason, Manager, Socket, Transports,
};

fn options() -> ClientOptions {
    ClientOptions {
        reconnection_delay: Duration::from_millis(100),
        reconnection_delay_max: Duration::from_millis(400),
        randomization_factor: 0.0,
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

async fn demo_behind_proxy() -> Proxy {
    Proxy::start(start_demo(sio_demo::server()).await).await
}

/// The reasons `socket` disconnects with.
fn disconnects(socket: &Socket) -> tokio::sync::mpsc::UnboundedReceiver<DisconnectReason> {
    let (tx, rx) = unbounded_channel();
    socket.on_disconnect(move |_s, reason| {
        let _ = tx.send(reason);
        async {}
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_with_backoff_and_sends_what_was_buffered_but_not_volatile_emits() {
    let proxy = demo_behind_proxy().await;
    let s = Manager::new(&proxy.url(), options())
        .expect("manager")
        .socket("/");
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let (errors, reconnected) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(None)));
    {
        let manager = s.manager();
        let a = attempts.clone();
        manager.on_reconnect_attempt(move |n| a.lock().expect("lock").push(n));
        let e = errors.clone();
        manager.on_reconnect_error(move |_| *e.lock().expect("lock") += 1);
        let r = reconnected.clone();
        manager.on_reconnect(move |n| *r.lock().expect("lock") = Some(n));
    }
    let (echo_tx, mut echo) = unbounded_channel();
    s.on("echo", move |_s, text: String| {
        let _ = echo_tx.send(text);
        async {}
    });
    let mut gone = disconnects(&s);
    s.connect().await.expect("connect");
    let first_id = s.id();

    proxy.set(Mode::Refuse);
    let reason = timeout(Duration::from_secs(5), gone.recv())
        .await
        .expect("in time");
    // Closed (WebSocket) or failed (a pending poll), as the official client says.
    assert!(
        matches!(
            reason,
            Some(DisconnectReason::TransportClose | DisconnectReason::TransportError(_))
        ),
        "{reason:?}"
    );
    assert!(!s.connected());
    s.emit("echo", &"buffered-1").expect("emit");
    s.volatile().emit("echo", &"volatile").expect("emit");
    s.emit("echo", &"buffered-2").expect("emit");
    // Attempts fail while the proxy refuses: 100, 200, 400, 400 ms apart.
    let started = Instant::now();
    while *errors.lock().expect("lock") < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "attempts stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set(Mode::Pass);
    assert_eq!(
        timeout(Duration::from_secs(5), echo.recv())
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("buffered-1")
    );
    assert_eq!(
        timeout(Duration::from_secs(5), echo.recv())
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("buffered-2")
    );
    assert!(
        timeout(Duration::from_millis(300), echo.recv())
            .await
            .is_err(),
        "a volatile emit was buffered"
    );
    let attempts = attempts.lock().expect("lock").clone();
    let made = u32::try_from(attempts.len()).expect("few");
    assert_eq!(attempts, (1..=made).collect::<Vec<u32>>());
    assert!(made >= 4, "{attempts:?}");
    assert_eq!(*reconnected.lock().expect("lock"), Some(made));
    assert!(s.connected() && s.id() != first_id && !s.recovered());
    s.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_the_reconnection_attempts() {
    let proxy = demo_behind_proxy().await;
    let options = ClientOptions {
        reconnection_attempts: Some(2),
        ..options()
    };
    let s = Manager::new(&proxy.url(), options)
        .expect("manager")
        .socket("/");
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let (failed_tx, mut failed) = unbounded_channel();
    let a = attempts.clone();
    s.manager()
        .on_reconnect_attempt(move |n| a.lock().expect("lock").push(n));
    s.manager().on_reconnect_failed(move || {
        let _ = failed_tx.send(());
    });
    s.connect().await.expect("connect");
    proxy.set(Mode::Refuse);
    timeout(Duration::from_secs(5), failed.recv())
        .await
        .expect("reconnect_failed in time");
    proxy.set(Mode::Pass);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(*attempts.lock().expect("lock"), vec![1, 2]);
    assert!(!s.connected(), "connected after giving up");
    s.disconnect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_pinging_is_found_dead() {
    let proxy = demo_behind_proxy().await;
    let options = ClientOptions {
        transports: Transports::WebSocket,
        reconnection: false,
        ..options()
    };
    let s = Manager::new(&proxy.url(), options)
        .expect("manager")
        .socket("/");
    let mut gone = disconnects(&s);
    s.connect().await.expect("connect");
    // The demo pings every 2 s and allows 2 s for the answer: silence for 4 s is death.
    proxy.set(Mode::Freeze);
    let frozen = Instant::now();
    let reason = timeout(Duration::from_secs(8), gone.recv())
        .await
        .expect("in time");
    assert_eq!(reason, Some(DisconnectReason::PingTimeout));
    let after = frozen.elapsed();
    assert!(
        after >= Duration::from_secs(2) && after < Duration::from_millis(4500),
        "{after:?}"
    );
    proxy.set(Mode::Refuse);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_time_out_and_fail_when_the_connection_is_lost() {
    let proxy = demo_behind_proxy().await;
    let s = Manager::new(
        &proxy.url(),
        ClientOptions {
            reconnection: false,
            ..options()
        },
    )
    .expect("manager")
    .socket("/");
    s.connect().await.expect("connect");
    // The demo never acknowledges `broadcast`.
    let started = Instant::now();
    let late = s
        .emit_args_with_ack("broadcast", Args::new().arg(1), Duration::from_millis(200))
        .await;
    assert!(matches!(late, Err(AckError::Timeout)), "{late:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let pending = s.emit_args_with_ack("broadcast", Args::new().arg(2), Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.set(Mode::Refuse);
    let lost = timeout(Duration::from_secs(5), pending)
        .await
        .expect("in time");
    assert!(matches!(lost, Err(AckError::Disconnected)), "{lost:?}");
    // A server's ack request answered: the demo asks on connection (sio_client_check
    // covers the round trip); an emit with a reserved name is refused.
    assert!(s.emit("disconnect", &1).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_payload_reaches_the_server() {
    // The protocol suite's server emits `auth` with the CONNECT payload.
    let addr = start_demo(sio_demo::protocol_test_server()).await;
    for transports in [Transports::WebSocket, Transports::Polling] {
        let mut auth = Map::new();
        auth.insert("token".into(), json!("abc"));
        let options = ClientOptions {
            transports,
            auth: Some(auth),
            ..options()
        };
        let s = Manager::new(&format!("ws://{addr}"), options)
            .expect("manager")
            .socket("/custom");
        let (tx, mut rx) = unbounded_channel();
        s.on("auth", move |_s, value: Value| {
            let _ = tx.send(value);
            async {}
        });
        s.connect().await.expect("connect");
        let got = timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("in time");
        assert_eq!(got, Some(json!({"token": "abc"})), "{transports:?}");
        s.disconnect();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_disconnect_is_final_and_closes_an_unused_connection() {
    let io = wsx_sio::Server::new(wsx_sio::Config::default());
    io.on_connection(|socket: wsx_sio::Socket| async move {
        socket.on("kick", |s: wsx_sio::Socket, _: Args| async move {
            s.disconnect();
        });
    });
    let addr = start_demo(io).await;
    let s = Manager::new(&format!("http://{addr}"), options())
        .expect("manager")
        .socket("/");
    let attempts = Arc::new(Mutex::new(0));
    let a = attempts.clone();
    s.manager()
        .on_reconnect_attempt(move |_| *a.lock().expect("lock") += 1);
    let mut gone = disconnects(&s);
    s.connect().await.expect("connect");
    s.emit("kick", &()).expect("emit");
    let reason = timeout(Duration::from_secs(5), gone.recv())
        .await
        .expect("in time");
    assert_eq!(reason, Some(DisconnectReason::IoServerDisconnect));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        *attempts.lock().expect("lock"),
        0,
        "reconnected after the server's disconnect"
    );
    assert!(!s.connected() && !s.active());
    assert_eq!(
        s.manager().transport(),
        None,
        "the connection is still open"
    );
    // It can connect again when asked.
    s.connect().await.expect("connect again");
    assert!(s.connected());
    s.disconnect();
}
