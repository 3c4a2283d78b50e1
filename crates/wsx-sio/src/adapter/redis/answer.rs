//! Answering the other servers: their requests on `key-request#nsp#` (fetch, rooms, joins,
//! leaves, disconnects, server-side events, broadcasts with acks), each done locally and, when
//! the protocol wants an answer, answered on the response channel.

use super::wire::{self, request_type as rt};
use super::{NsAdapter, exchange};
use crate::adapter::{Adapter, BroadcastOptions, Host, ServerAck};
use serde_json::{Map, Value, json};
use std::sync::Arc;

impl NsAdapter {
    /// Handles a request from another server.
    pub(super) fn on_request(self: &Arc<Self>, host: &dyn Host, payload: &[u8]) {
        match wire::decode_ack_broadcast(payload) {
            Ok(Some(request)) => return self.on_ack_broadcast(host, request),
            Ok(None) => {}
            Err(err) => {
                tracing::debug!(%err, "redis adapter: request dropped");
                return;
            }
        }
        let request = match wire::decode_object(payload) {
            Ok(request) => request,
            Err(err) => {
                tracing::debug!(%err, "redis adapter: request dropped");
                return;
            }
        };
        if wire::str_field(&request, "uid") == Some(&*self.uid) {
            return;
        }
        let request_id = request.get("requestId").cloned().unwrap_or(Value::Null);
        let kind = request.get("type").and_then(Value::as_u64);
        let answer = match kind {
            Some(rt::SOCKETS) => {
                let opts = BroadcastOptions {
                    rooms: wire::request_opts(&json_rooms(&request)).rooms,
                    ..BroadcastOptions::default()
                };
                let ids: Vec<String> = self
                    .memory
                    .local_targets(&opts, host)
                    .into_iter()
                    .map(|sid| sid.to_string())
                    .collect();
                json!({"requestId": request_id, "sockets": ids})
            }
            Some(rt::ALL_ROOMS) => {
                json!({"requestId": request_id, "rooms": self.local_rooms(host)})
            }
            Some(kind @ (rt::REMOTE_JOIN | rt::REMOTE_LEAVE | rt::REMOTE_DISCONNECT)) => {
                let opts = match request.get("opts") {
                    Some(_) => wire::request_opts(&request),
                    // The older form: one socket by id, answered.
                    None => BroadcastOptions {
                        rooms: wire::str_field(&request, "sid")
                            .map(|s| vec![s.to_owned()])
                            .unwrap_or_default(),
                        ..BroadcastOptions::default()
                    },
                };
                // The older form is answered by the server that holds the socket only.
                let legacy = request.get("opts").is_none();
                let held = |room: &String| {
                    crate::sid::Sid::parse(room).is_some_and(|sid| host.has_socket(sid))
                };
                if legacy && !opts.rooms.first().is_some_and(held) {
                    return;
                }
                let rooms = string_list(request.get("rooms"))
                    .into_iter()
                    .chain(wire::str_field(&request, "room").map(str::to_owned))
                    .collect::<Vec<_>>();
                let close = request.get("close").and_then(Value::as_bool) == Some(true);
                match kind {
                    rt::REMOTE_JOIN => self.local_add(&opts, &rooms, host),
                    rt::REMOTE_LEAVE => self.local_del(&opts, &rooms, host),
                    _ => host.disconnect(&self.memory.local_targets(&opts, host), close),
                }
                if !legacy {
                    return;
                }
                json!({"requestId": request_id})
            }
            Some(rt::REMOTE_FETCH) => {
                let opts = wire::request_opts(&request);
                let sockets: Vec<Value> = self
                    .memory
                    .local_targets(&opts, host)
                    .into_iter()
                    .filter_map(|sid| host.describe(sid))
                    .map(|socket| socket.to_json())
                    .collect();
                json!({"requestId": request_id, "sockets": sockets})
            }
            Some(rt::SERVER_SIDE_EMIT) => {
                let data = match request.get("data") {
                    Some(Value::Array(data)) => data.clone(),
                    _ => return,
                };
                let ack = match request.get("requestId").and_then(Value::as_str) {
                    Some(id) => {
                        let (adapter, id) = (self.clone(), id.to_owned());
                        // Node publishes these answers on the shared response channel.
                        ServerAck::new(move |value| {
                            let answer = json!({"type": rt::SERVER_SIDE_EMIT, "requestId": id, "data": value});
                            adapter.publish(
                                adapter.channels.response.clone(),
                                answer.to_string().into_bytes(),
                            );
                        })
                    }
                    None => ServerAck::none(),
                };
                host.server_side(data, ack);
                return;
            }
            _ => return,
        };
        let requester = wire::str_field(&request, "uid").unwrap_or_default();
        self.respond(requester, answer.to_string().into_bytes());
    }

    /// Another node's broadcast with acknowledgements: our sockets get the event with an ack
    /// id each; the client count, then every acknowledgement, go back to that node.
    fn on_ack_broadcast(self: &Arc<Self>, host: &dyn Host, request: wire::AckBroadcast) {
        if *request.uid == *self.uid {
            return;
        }
        let targets = self.memory.local_targets(&request.opts, host);
        let (adapter, uid, id) = (self.clone(), request.uid, request.request_id);
        let (requester, count_id) = (uid.clone(), id.clone());
        let waits = exchange::emit_acks(
            host,
            &targets,
            &request.event,
            &request.args,
            exchange::ack_timeout(request.timeout_ms),
            request.opts.flags,
        );
        exchange::answer_ack_broadcast(
            waits,
            |clients| {
                let count = json!({"type": 8, "requestId": count_id, "clientCount": clients});
                self.respond(&requester, count.to_string().into_bytes());
            },
            move |args| adapter.respond(&uid, wire::encode_broadcast_ack(&id, args)),
        );
    }

    /// Publishes an answer to a request from `requester`.
    fn respond(&self, requester: &str, answer: Vec<u8>) {
        let channel = if self.options.publish_on_specific_response_channel {
            format!("{}{requester}#", self.channels.response)
        } else {
            self.channels.response.clone()
        };
        self.publish(channel, answer);
    }
}

/// `{"opts": {"rooms": request.rooms}}`, to read a SOCKETS request's rooms like the others.
fn json_rooms(request: &Map<String, Value>) -> Map<String, Value> {
    let mut wrapped = Map::new();
    wrapped.insert(
        "opts".into(),
        json!({"rooms": request.get("rooms").cloned().unwrap_or(Value::Null)}),
    );
    wrapped
}

pub(super) fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
