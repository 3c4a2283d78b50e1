//! Sockets as the admin UI shows them (`SerializedSocket` of `typed-events.d.ts`):
//! `{id, clientId, transport, nsp, data, handshake, rooms}`, made from what an adapter says of
//! a socket ([`SocketInfo`], this server's or another's) so that local and remote sockets look
//! the same.

use crate::adapter::SocketInfo;
use crate::namespace::Socket;
use crate::server::Server;
use serde_json::{Map, Value, json};

/// The key of `socket.data` where the admin UI keeps what it needs of a socket on every
/// server (Node's `socket.data._admin`).
pub(super) const ADMIN_DATA: &str = "_admin";

/// What this server keeps in a local socket's `data._admin`: the first 12 characters of its
/// Engine.IO session id (Node's `clientId`, which groups a client's sockets) and its transport.
pub(super) fn admin_data(server: &Server, socket: &Socket) -> Value {
    let engine = socket.engine_id().to_string();
    let client_id: String = engine.chars().take(12).collect();
    json!({
        "clientId": client_id,
        "transport": server.transport_of(socket.engine_id()),
    })
}

/// A socket for the dashboard, from its adapter's description.
pub(super) fn serialize(info: &SocketInfo, nsp: &str) -> Value {
    let admin = info.data.get(ADMIN_DATA);
    let field = |key: &str| admin.and_then(|a| a.get(key)).cloned();
    // Without `_admin` (a server that is not instrumented), the socket is its own client.
    let client_id = field("clientId").unwrap_or_else(|| Value::from(info.id.as_str()));
    let transport = field("transport").unwrap_or(Value::Null);
    let data = match &info.data {
        Value::Object(data) => Value::Object(
            data.iter()
                .filter(|(k, _)| k.as_str() != ADMIN_DATA)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => Value::Object(Map::new()),
    };
    let hs = &info.handshake;
    let header = |name: &str| {
        hs.get("headers")
            .and_then(|h| h.get(name))
            .filter(|v| !v.is_null())
            .cloned()
    };
    // Node's admin UI shows the client's address as a proxy in front saw it.
    let address = header("cf-connecting-ip")
        .or_else(|| header("x-forwarded-for"))
        .or_else(|| hs.get("address").cloned())
        .unwrap_or(Value::Null);
    let pick = |key: &str| hs.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "id": info.id,
        "clientId": client_id,
        "transport": transport,
        "nsp": nsp,
        "data": data,
        // Without `auth`: the admin namespace's holds the password.
        "handshake": {
            "address": address,
            "headers": pick("headers"),
            "query": pick("query"),
            "issued": pick("issued"),
            "secure": pick("secure"),
            "time": pick("time"),
            "url": pick("url"),
            "xdomain": pick("xdomain"),
        },
        "rooms": info.rooms,
    })
}

/// A local socket for the dashboard.
pub(super) fn serialize_local(socket: &Socket) -> Option<Value> {
    let info = socket.hub().host().describe(socket.id())?;
    Some(serialize(&info, socket.namespace()))
}

/// Every socket of every namespace of this server, on every server of the cluster (each
/// namespace's `fetch_sockets`; this server's only for a namespace whose adapter did not
/// answer).
pub(super) async fn all_sockets(server: &Server) -> Vec<Value> {
    let mut all = Vec::new();
    for hub in server.namespaces() {
        let found = match hub.fetch_sockets().await {
            Ok(found) => found,
            Err(err) => {
                tracing::debug!(namespace = hub.name(), %err, "admin UI: this server's sockets only");
                hub.local().fetch_sockets().await.unwrap_or_default()
            }
        };
        all.extend(found.iter().map(|s| serialize(s.info(), hub.name())));
    }
    all
}
