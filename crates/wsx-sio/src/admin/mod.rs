//! The admin UI: [`instrument`] makes a [`Server`] speak the protocol of npm
//! `@socket.io/admin-ui` 0.5 (its `dist/index.js` and `typed-events.d.ts` are the
//! specification), so that its dashboard (<https://admin.socket.io>, or the `ui/dist` folder of
//! the npm package served anywhere) shows the server's sockets, rooms and clients, and joins,
//! leaves, disconnects or emits to them by hand.
//!
//! ```no_run
//! use wsx_sio::admin::{AdminAuth, AdminMode, AdminOptions, instrument};
//! use wsx_sio::{AllowOrigin, Config, Cors, Server};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The dashboard is a page of another origin that sends credentials.
//! let config = Config {
//!     cors: Some(Cors::origins(["https://admin.socket.io"]).with_credentials()),
//!     ..Config::default()
//! };
//! let io = Server::new(config);
//! instrument(&io, AdminOptions {
//!     namespace: "/admin".into(),
//!     // A bcrypt hash, as `bcrypt.hashSync("changeit", 10)` gives it (Node's option too).
//!     auth: AdminAuth::basic("admin", "$2a$10$/Il/Bs1ET8CPQC4iDvO4q.NSLESWBkL8EC510VJLBTVIMUBVznh2O")?,
//!     mode: AdminMode::Development,
//!     ..AdminOptions::default()
//! })?;
//! io.listen("127.0.0.1:3000").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What is served
//!
//! On the admin namespace (`/admin` by default), as Node's `instrument` does:
//! - **authentication** ([`AdminAuth`]): basic (the CONNECT's `auth` carries `username` and
//!   `password`, checked against a bcrypt hash; a socket that passes gets a `session` event with
//!   a session id, and a later CONNECT with `auth.sessionId` set to it passes too), or none.
//!   Wrong credentials get CONNECT_ERROR `{"message": "invalid credentials"}`, the text the
//!   dashboard looks for;
//! - on connect: `config` (`{supportedFeatures}`: `EMIT`, `JOIN`, `LEAVE`, `DISCONNECT`,
//!   `MJOIN`, `MLEAVE`, `MDISCONNECT` unless [`AdminOptions::read_only`], then
//!   `AGGREGATED_EVENTS`, and `ALL_EVENTS` in development mode), `server_stats`, and in
//!   development mode `all_sockets` (every socket of every namespace, on every server);
//! - `server_stats` every [`AdminOptions::stats_interval`] (2 s): server id, hostname, pid,
//!   uptime, connection counts (`clientsCount`, `pollingClientsCount`), the sockets per
//!   namespace, and `aggregatedEvents`: what happened since the last one, per second, as
//!   Node's `EventBuffer` counts it (`rawConnection`, `rawDisconnection` with the Engine.IO
//!   close reason as `subType`, `packetsIn` / `bytesIn` and `packetsOut` / `bytesOut` for the
//!   Engine.IO message packets each way: `crate::server`'s `traffic.rs`);
//! - in development mode ([`AdminMode::Development`]), as it happens: `socket_connected`,
//!   `socket_updated` (a polling client that upgraded to WebSocket, seen at the next stats
//!   tick), `socket_disconnected` with the reason, `room_joined` and `room_left` (whoever made
//!   the socket join: itself, `sockets_join`, another server, the dashboard),
//!   `event_received` (every event a socket sends) and `event_sent` (every event it is
//!   sent: its own emits and the broadcasts reaching it, another server's included; Node's
//!   `onAnyOutgoing`);
//! - the operations the dashboard sends: `emit(nsp, filter, event, ...args)`,
//!   `join(nsp, room, filter)`, `leave(nsp, room, filter)`, `_disconnect(nsp, close,
//!   filter)`, where `filter` is a room name or a socket id (every socket of the namespace
//!   without one). A namespace that does not exist is ignored (never created).
//!
//! The events and the sockets' descriptions follow `typed-events.d.ts`: a socket is
//! `{id, clientId, transport, nsp, handshake, rooms, data}` (the handshake without its `auth`,
//! which holds the password), timestamps are JSON dates (ISO 8601 strings).
//!
//! # Across a cluster
//!
//! Everything goes through the namespaces' adapters, as in Node, so with the Redis adapter
//! (feature `redis`) one dashboard sees the whole cluster, wsx-sio and Node nodes alike:
//! - the events (`server_stats`, `socket_connected`, ..) are broadcasts of the admin
//!   namespace: every node's reach every dashboard, whichever node it is connected to; each
//!   node's `server_stats` is one row of the dashboard's servers (by server id);
//! - `all_sockets` is each namespace's `fetch_sockets` (Node's `fetchSockets`: every node's
//!   sockets); a socket's client id and transport travel in its `data._admin`, as Node's;
//! - the operations are `to(filter).emit`, `sockets_join`, `sockets_leave` and
//!   `disconnect_sockets`: each reaches the sockets on every node.
//!
//! What stays per node: the sessions of basic authentication (a dashboard that reconnects to
//! another node logs in again; Node's `RedisStore` is not implemented), `event_received` and
//! the upgrades (reported by the node the socket is on, which is what Node does too).
//!
//! # Differences from Node
//! - `server_stats` is also sent to a dashboard as it connects (with no `aggregatedEvents`).
//! - The server id defaults to `hostname#pid` (Node's is the hostname unless in a Node
//!   cluster worker), so that several wsx-sio processes on one host are told apart.

mod auth;
mod observer;
mod ops;
mod serialize;
mod stats;
mod time;

pub use auth::AdminAuth;

use crate::server::Server;
use std::sync::Arc;
use std::time::Duration;

/// How much the dashboard is told (Node's `mode` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminMode {
    /// Every socket and room as it changes (`all_sockets`, `socket_connected`, `room_joined`,
    /// `event_received`, ..): the dashboard's sockets, rooms, clients and events pages.
    /// Costs one broadcast to the admin namespace per socket event.
    #[default]
    Development,
    /// Statistics only (`server_stats`): the dashboard's overview; nothing is done per socket.
    Production,
}

/// The settings of [`instrument`].
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// The admin namespace, which the dashboard connects to (default `/admin`).
    pub namespace: String,
    /// How the dashboard authenticates. No default: the default value makes [`instrument`]
    /// fail with [`AdminError::AuthNotSet`], as Node's refuses a missing `auth` option; say
    /// [`AdminAuth::None`] to turn it off.
    pub auth: AdminAuth,
    /// What the dashboard is told (default [`AdminMode::Development`]).
    pub mode: AdminMode,
    /// Whether the dashboard may only look (no `emit`, `join`, `leave`, `_disconnect`).
    pub read_only: bool,
    /// This server's id in the dashboard's servers list (default `hostname#pid`).
    pub server_id: Option<String>,
    /// How often `server_stats` is sent (default 2 s, Node's fixed period).
    pub stats_interval: Duration,
}

impl Default for AdminOptions {
    fn default() -> Self {
        Self {
            namespace: "/admin".to_owned(),
            auth: AdminAuth::Unset,
            mode: AdminMode::default(),
            read_only: false,
            server_id: None,
            stats_interval: Duration::from_secs(2),
        }
    }
}

/// Why [`instrument`] refused its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// [`AdminOptions::auth`] was left at its default.
    #[error("the `auth` option must be set (AdminAuth::None turns authentication off)")]
    AuthNotSet,
    /// The password of [`AdminAuth::basic`] is not a bcrypt hash.
    #[error("the password must be a valid bcrypt hash: {0}")]
    NotBcrypt(String),
}

/// A feature of the admin protocol (`Feature` of `typed-events.d.ts`).
const OPERATIONS: [&str; 7] = [
    "EMIT",
    "JOIN",
    "LEAVE",
    "DISCONNECT",
    "MJOIN",
    "MLEAVE",
    "MDISCONNECT",
];

/// What the instrumentation of one server shares.
struct Admin {
    server: crate::server::instrument::WeakServer,
    hub: crate::namespace::hub::WeakHub,
    mode: AdminMode,
    /// Whether the operations are served ([`AdminOptions::read_only`] off).
    operations: bool,
    features: Vec<&'static str>,
    stats: stats::Stats,
}

/// Serves the admin UI's protocol on `server` (see the module docs). Call it inside a Tokio
/// runtime (a task sends the statistics; it ends when the server is dropped).
///
/// # Errors
/// [`AdminError`]: authentication not set, or its password is not a bcrypt hash.
pub fn instrument(server: &Server, options: AdminOptions) -> Result<(), AdminError> {
    let auth = auth::Checker::new(options.auth)?;
    let namespace = server.of(&options.namespace);
    let mut features: Vec<&'static str> = if options.read_only {
        Vec::new()
    } else {
        OPERATIONS.to_vec()
    };
    features.push("AGGREGATED_EVENTS");
    if options.mode == AdminMode::Development {
        features.push("ALL_EVENTS");
    }
    let admin = Arc::new(Admin {
        server: server.downgrade(),
        hub: namespace.hub().downgrade(),
        mode: options.mode,
        operations: !options.read_only,
        features,
        stats: stats::Stats::new(server, options.server_id),
    });
    auth.install(&namespace);
    let on_connect = admin.clone();
    let sessions = auth.clone();
    namespace.on_connection(move |socket| {
        let admin = on_connect.clone();
        let sessions = sessions.clone();
        async move {
            sessions.greet(&socket);
            admin.greet(socket).await;
        }
    });
    if options.mode == AdminMode::Development {
        server.observe_all(Arc::new(observer::AdminObserver::new(admin.clone())));
    }
    stats::spawn(admin, options.stats_interval);
    Ok(())
}

impl Admin {
    /// A dashboard connected: its operations, then `config`, `server_stats` and (development
    /// mode) `all_sockets`.
    async fn greet(self: Arc<Self>, socket: crate::namespace::Socket) {
        if self.operations {
            ops::register(&socket, self.server.clone());
        }
        let _ = socket.emit(
            "config",
            &serde_json::json!({ "supportedFeatures": self.features }),
        );
        let Some(server) = self.server.upgrade() else {
            return;
        };
        let _ = socket.emit("server_stats", &self.stats.snapshot(&server, false));
        if self.mode == AdminMode::Development {
            let sockets = serialize::all_sockets(&server).await;
            let _ = socket.emit("all_sockets", &sockets);
        }
    }
}
