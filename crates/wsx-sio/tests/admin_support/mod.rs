//! What the admin UI's tests share: a dashboard and client sockets on wsx-sio's client, and
//! waiting for the events they get.
#![allow(dead_code)] // Each test file uses part of it.

use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx_sio::Args;
use wsx_sio::client::{self, ClientOptions, Transports};

/// `s3cret` hashed by bcryptjs at cost 4 (cheap to check in a debug build).
pub const HASH: &str = "$2a$04$J.W2YPLIEwZMMwoZAlvIqOui/m3hCZvYOuTInVW/gzEhMP.soH5Ie";
pub const WAIT: Duration = Duration::from_secs(5);

/// What a socket got, in order: `(event, args)`.
pub type Events = mpsc::UnboundedReceiver<(String, Vec<Value>)>;

/// A client socket of `namespace`, over WebSocket, with this CONNECT auth.
pub fn socket(url: &str, namespace: &str, auth: Value) -> client::Socket {
    let auth: Option<Map<String, Value>> = match auth {
        Value::Object(map) => Some(map),
        _ => None,
    };
    let options = ClientOptions {
        transports: Transports::WebSocket,
        reconnection: false,
        auth,
        ..ClientOptions::default()
    };
    client::io(&format!("{url}{namespace}"), options).unwrap()
}

/// Every event the socket gets, in order: `(name, args)`.
pub fn events(socket: &client::Socket) -> mpsc::UnboundedReceiver<(String, Vec<Value>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    socket.on_any(move |_s, name: String, args: Args| {
        let _ = tx.send((name, args.values));
        async {}
    });
    rx
}

/// The next event named `name` (others are skipped).
pub async fn next(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<Value>)>,
    name: &str,
) -> Vec<Value> {
    tokio::time::timeout(WAIT, async {
        loop {
            let (got, args) = rx.recv().await.expect("socket gone");
            if got == name {
                return args;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{name}` within {WAIT:?}"))
}

/// The next event named `name` whose arguments `pick` accepts.
pub async fn next_where(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<Value>)>,
    name: &str,
    pick: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    tokio::time::timeout(WAIT, async {
        loop {
            let (got, args) = rx.recv().await.expect("socket gone");
            if got == name && pick(&args) {
                return args;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching `{name}` within {WAIT:?}"))
}

/// A logged-in dashboard and its events.
pub async fn dashboard(
    url: &str,
) -> (
    client::Socket,
    mpsc::UnboundedReceiver<(String, Vec<Value>)>,
) {
    let admin = socket(
        url,
        "/admin",
        json!({"username": "admin", "password": "s3cret"}),
    );
    let rx = events(&admin);
    admin.connect().await.unwrap();
    (admin, rx)
}

/// A client socket of `namespace` on `transports`, without auth.
pub fn socket_on(url: &str, namespace: &str, transports: Transports) -> client::Socket {
    let options = ClientOptions {
        transports,
        reconnection: false,
        ..ClientOptions::default()
    };
    client::io(&format!("{url}{namespace}"), options).unwrap()
}
