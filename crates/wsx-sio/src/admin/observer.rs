//! Development mode's events, as Node's `registerVerboseListeners`: what happens to the
//! sockets of every namespace (the admin namespace's own included) is broadcast to the admin
//! namespace as it happens: `socket_connected`, `socket_disconnected`, `room_joined`,
//! `room_left`, and `event_received` / `event_sent` for every event a socket of another
//! namespace sends / is sent (Node's `onAny` / `onAnyOutgoing`).
//! A broadcast of the admin namespace goes through its adapter: with a networked one it
//! reaches the dashboards connected to every server.

use super::Admin;
use super::serialize::{ADMIN_DATA, admin_data, serialize_local};
use super::time::now_json;
use crate::args::Args;
use crate::namespace::Socket;
use crate::namespace::observe::{NsEvent, Observer};
use crate::sid::Sid;
use serde_json::Value;
use std::sync::Arc;

/// The admin UI's observer of every namespace.
pub(super) struct AdminObserver {
    admin: Arc<Admin>,
}

impl AdminObserver {
    pub(super) fn new(admin: Arc<Admin>) -> Self {
        Self { admin }
    }

    fn connected(&self, namespace: &str, socket: &Socket) {
        let Some(serialized) = serialize_local(socket) else {
            return;
        };
        if serialized["transport"] == "polling" {
            // Its upgrade is reported by the statistics' tick.
            self.admin
                .stats
                .watch_upgrade(socket.engine_id(), namespace, socket.id());
        }
        self.admin.emit(
            "socket_connected",
            Args::new().arg(serialized).arg(now_json()),
        );
        let is_admin = self
            .admin
            .hub
            .upgrade()
            .is_some_and(|hub| hub.name() == namespace);
        if !is_admin {
            let admin = self.admin.clone();
            socket.on_any(move |socket: Socket, event: String, args: Args| {
                admin.socket_event(&socket, "event_received", event, args);
                std::future::ready(())
            });
            // Node's `onAnyOutgoing`: every event sent to the socket, its own emits and the
            // broadcasts that reach it (those another server started included).
            let admin = self.admin.clone();
            socket.on_any_outgoing(move |socket: &Socket, event: &str, args: &Args| {
                admin.socket_event(socket, "event_sent", event.to_owned(), args.clone());
            });
        }
    }
}

impl Observer for AdminObserver {
    fn event(&self, namespace: &str, event: NsEvent<'_>) {
        match event {
            NsEvent::Connected(socket) => self.connected(namespace, socket),
            NsEvent::Disconnected(socket, reason) => self.admin.emit(
                "socket_disconnected",
                Args::new()
                    .arg(namespace)
                    .arg(socket.id().as_str())
                    .arg(reason.to_string())
                    .arg(now_json()),
            ),
            NsEvent::Joined(sid, room) => {
                self.admin.room_event("room_joined", namespace, sid, room)
            }
            NsEvent::Left(sid, room) => self.admin.room_event("room_left", namespace, sid, room),
        }
    }

    fn data(&self, socket: &Socket) -> Option<(String, Value)> {
        let server = self.admin.server.upgrade()?;
        Some((ADMIN_DATA.to_owned(), admin_data(&server, socket)))
    }
}

impl Admin {
    /// Broadcasts `event` to the admin namespace (every dashboard, on every server).
    pub(super) fn emit(&self, event: &str, args: Args) {
        if let Some(hub) = self.hub.upgrade()
            && let Err(err) = hub.emit_args(event, args)
        {
            tracing::debug!(event, %err, "admin UI: event not sent");
        }
    }

    fn room_event(&self, event: &str, namespace: &str, sid: Sid, room: &str) {
        self.emit(
            event,
            Args::new()
                .arg(namespace)
                .arg(room)
                .arg(sid.as_str())
                .arg(now_json()),
        );
    }

    /// `event_received(nsp, id, [event, ...args], timestamp)` (or `event_sent`, as `kind`
    /// says); binary arguments stay binary (their placeholders keep pointing at the same
    /// attachments).
    fn socket_event(&self, socket: &Socket, kind: &str, event: String, args: Args) {
        let mut values = Vec::with_capacity(args.values.len() + 1);
        values.push(Value::String(event));
        values.extend(args.values);
        self.emit(
            kind,
            Args {
                values: vec![
                    Value::from(socket.namespace()),
                    Value::from(socket.id().as_str()),
                    Value::Array(values),
                    Value::String(now_json()),
                ],
                attachments: args.attachments,
            },
        );
    }
}
