//! `server_stats`, as Node's `initStatsEmitter`: sent to every dashboard every
//! `stats_interval` (and to each dashboard as it connects), by a task that ends with the
//! server. The same tick reports the polling clients that upgraded to WebSocket since
//! (`socket_updated`), which Node learns from the connection's `upgrade` event.

use super::Admin;
use crate::args::Args;
use crate::server::Server;
use crate::sid::Sid;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What the statistics keep between ticks.
pub(super) struct Stats {
    server_id: String,
    hostname: String,
    started: Instant,
    /// Sockets connected over long-polling, whose upgrade is still to report: the
    /// connection's Engine.IO id, the namespace, the socket id.
    polling: Mutex<Vec<(Sid, String, Sid)>>,
}

/// The machine's name (Node's `os.hostname()`), from the kernel; `localhost` when unknown.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Stats {
    pub(super) fn new(server: &Server, server_id: Option<String>) -> Self {
        let hostname = hostname();
        server.count_traffic();
        Self {
            server_id: server_id.unwrap_or_else(|| format!("{hostname}#{}", std::process::id())),
            hostname,
            started: Instant::now(),
            polling: Mutex::default(),
        }
    }

    /// Remembers a socket on long-polling, to report its upgrade.
    pub(super) fn watch_upgrade(&self, engine: Sid, namespace: &str, socket: Sid) {
        self.polling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((engine, namespace.to_owned(), socket));
    }

    /// The `server_stats` payload. With `tick`, `aggregatedEvents` holds what was counted
    /// since the last tick (`crate::server::traffic`: Node's `EventBuffer`, one entry per
    /// second, type and subtype; taken as reported); without, it is empty (a dashboard that
    /// just connected).
    pub(super) fn snapshot(&self, server: &Server, tick: bool) -> Value {
        let mut aggregated = Vec::new();
        if tick {
            for entry in server.take_traffic() {
                let mut event = json!({"timestamp": entry.second, "type": entry.kind});
                // Node's `subType: undefined` is left out of the JSON.
                if let Some(sub) = entry.sub {
                    event["subType"] = Value::from(sub);
                }
                event["count"] = Value::from(entry.count);
                aggregated.push(event);
            }
        }
        let namespaces: Vec<Value> = server
            .namespaces()
            .iter()
            .map(|hub| json!({"name": hub.name(), "socketsCount": hub.local_count()}))
            .collect();
        json!({
            "serverId": self.server_id,
            "hostname": self.hostname,
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "clientsCount": server.clients_count(),
            "pollingClientsCount": server.polling_clients_count(),
            "aggregatedEvents": aggregated,
            "namespaces": namespaces,
        })
    }

    /// The watched sockets whose connection upgraded: `(namespace, socket id)`. Sockets
    /// gone meanwhile are forgotten.
    fn upgraded(&self, server: &Server) -> Vec<(String, Sid)> {
        let mut polling = self.polling.lock().unwrap_or_else(PoisonError::into_inner);
        let mut upgraded = Vec::new();
        polling.retain(|(engine, namespace, socket)| {
            let here = server
                .existing_namespace(namespace)
                .is_some_and(|hub| hub.get_socket(*socket).is_some());
            if !here {
                return false;
            }
            if server.transport_of(*engine) == "polling" {
                return true;
            }
            upgraded.push((namespace.clone(), *socket));
            false
        });
        upgraded
    }
}

/// Sends `server_stats` now and every `interval`, until the server or its admin namespace is
/// gone.
pub(super) fn spawn(admin: Arc<Admin>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(server) = admin.server.upgrade() else {
                return;
            };
            if admin.hub.upgrade().is_none() {
                return;
            }
            for (namespace, socket) in admin.stats.upgraded(&server) {
                admin.emit(
                    "socket_updated",
                    Args::new().arg(json!({
                        "id": socket.as_str(),
                        "nsp": namespace,
                        "transport": "websocket",
                    })),
                );
            }
            admin.emit(
                "server_stats",
                Args::new().arg(admin.stats.snapshot(&server, true)),
            );
            drop(server);
        }
    });
}
