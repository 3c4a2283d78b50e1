//! The sharded adapter's side of the other servers' messages (`onMessage` and `onResponse`
//! of socket.io-adapter's `ClusterAdapter`): their broadcasts (with acknowledgements or
//! without), room changes, disconnections, fetches and server-side events, each done locally
//! and, when the protocol wants it, answered on the requester's own channel; and the answers
//! to our own requests.

use super::super::exchange;
use super::ShardedNs;
use super::message::{self, Message, kind};
use crate::adapter::{AckReport, Adapter as _, Host, ServerAck};
use crate::frames::broadcast_frames;
use rmpv::Value as Mp;
use serde_json::Value;
use std::sync::Arc;

impl ShardedNs {
    /// Handles a message from Redis (on the subscriber task: nothing here waits).
    pub(crate) fn on_message(self: &Arc<Self>, mut message: Message) {
        if *message.uid == *self.uid {
            return;
        }
        let Some(host) = self.host() else { return };
        let host = &*host;
        let result = match message.kind {
            kind::BROADCAST => self.on_broadcast(host, &mut message),
            kind::SOCKETS_JOIN | kind::SOCKETS_LEAVE => message.opts().map(|(opts, _)| {
                let rooms = message.rooms();
                if message.kind == kind::SOCKETS_JOIN {
                    self.local_add(&opts, &rooms, host);
                } else {
                    self.local_del(&opts, &rooms, host);
                }
            }),
            kind::DISCONNECT_SOCKETS => message.opts().map(|(opts, _)| {
                let close = matches!(message.take("close"), Some(Mp::Boolean(true)));
                host.disconnect(&self.memory.local_targets(&opts, host), close);
            }),
            kind::FETCH_SOCKETS => message.opts().map(|(opts, _)| {
                let Some(id) = message.request_id() else {
                    return;
                };
                let sockets: Vec<Value> = self
                    .memory
                    .local_targets(&opts, host)
                    .into_iter()
                    .filter_map(|sid| host.describe(sid))
                    .map(|socket| socket.to_json())
                    .collect();
                self.respond(
                    &message.uid,
                    kind::FETCH_SOCKETS_RESPONSE,
                    vec![
                        ("requestId", Mp::from(id)),
                        ("sockets", message::from_json(&Value::Array(sockets))),
                    ],
                );
            }),
            kind::SERVER_SIDE_EMIT => {
                self.on_server_side(host, &mut message);
                Ok(())
            }
            kind::FETCH_SOCKETS_RESPONSE
            | kind::SERVER_SIDE_EMIT_RESPONSE
            | kind::BROADCAST_CLIENT_COUNT
            | kind::BROADCAST_ACK => self.on_response(message),
            // Heartbeats and the like are for adapters that count servers by them.
            _ => Ok(()),
        };
        if let Err(err) = result {
            tracing::debug!(%err, "sharded redis adapter: message dropped");
        }
    }

    fn on_broadcast(
        self: &Arc<Self>,
        host: &dyn Host,
        message: &mut Message,
    ) -> Result<(), super::super::wire::WireError> {
        let request_id = message.request_id();
        let (opts, timeout_ms) = message.opts()?;
        let (event, args) = message.event()?;
        let targets = self.memory.local_targets(&opts, host);
        let Some(id) = request_id else {
            let (frames, args) = broadcast_frames(host.parser(), &self.nsp, &event, args);
            // With the sender's flags and our receivers' outgoing listeners (Node's
            // in-memory adapter applying another server's broadcast).
            let sent = host.push_event(&targets, &frames, opts.flags, &event, &args);
            crate::metrics::events_sent(&self.nsp, sent);
            return Ok(());
        };
        let (adapter, requester) = (self.clone(), message.uid.clone());
        let count_id = id.clone();
        let waits = exchange::emit_acks(
            host,
            &targets,
            &event,
            &args,
            exchange::ack_timeout(timeout_ms),
            opts.flags,
        );
        exchange::answer_ack_broadcast(
            waits,
            |clients| {
                self.respond(
                    &message.uid,
                    kind::BROADCAST_CLIENT_COUNT,
                    vec![
                        ("requestId", Mp::from(count_id)),
                        ("clientCount", Mp::from(clients as u64)),
                    ],
                );
            },
            move |args| {
                adapter.respond(
                    &requester,
                    kind::BROADCAST_ACK,
                    vec![
                        ("requestId", Mp::from(id.as_str())),
                        ("packet", message::ack_packet(args)),
                    ],
                );
            },
        );
        Ok(())
    }

    fn on_server_side(self: &Arc<Self>, host: &dyn Host, message: &mut Message) {
        let Value::Array(packet) = message.json("packet") else {
            return;
        };
        let ack = match message.request_id() {
            Some(id) => {
                let (adapter, requester) = (self.clone(), message.uid.clone());
                ServerAck::new(move |value| {
                    adapter.respond(
                        &requester,
                        kind::SERVER_SIDE_EMIT_RESPONSE,
                        vec![
                            ("requestId", Mp::from(id)),
                            ("packet", message::from_json(&value)),
                        ],
                    );
                })
            }
            None => ServerAck::none(),
        };
        host.server_side(packet, ack);
    }

    /// An answer to one of our requests or broadcasts with acknowledgements.
    fn on_response(&self, mut message: Message) -> Result<(), super::super::wire::WireError> {
        let Some(id) = message.request_id() else {
            return Ok(());
        };
        match message.kind {
            kind::BROADCAST_CLIENT_COUNT => {
                let count = message
                    .take("clientCount")
                    .and_then(|c| c.as_u64())
                    .unwrap_or(0);
                let count = usize::try_from(count).unwrap_or(usize::MAX);
                self.ack_requests.report(&id, AckReport::Clients(count));
            }
            kind::BROADCAST_ACK => {
                let packet = message.take("packet").unwrap_or(Mp::Nil);
                let args = message::ack_args(packet)?;
                self.ack_requests.report(&id, AckReport::Response(args));
            }
            _ => self.requests.answer(&id, message.data),
        }
        Ok(())
    }
}
