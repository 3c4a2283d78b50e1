//! What the server sends, handled on the manager's task: Socket.IO packets decoded with
//! [`crate::packet::socket`], binary packets reassembled with their attachments, each packet
//! given to its namespace's socket (CONNECT answers, refusals, server disconnects, events to
//! the handlers, acknowledgements), and the connection's end.

use super::{Driver, call_hooks};
use crate::Args;
use crate::client::engine::{CloseCause, EngineEvent, Inbound};
use crate::client::error::{ClientError, ConnectError};
use crate::client::options::Parser;
use crate::client::reason::DisconnectReason;
use crate::client::socket_core::{Core, Status, lock};
use crate::packet::binary::{self, Reassembly};
use crate::packet::msgpack;
use crate::packet::socket::{self as sio, Body, DEFAULT_MAX_ATTACHMENTS, Packet};
use serde_json::Value;
use std::sync::Arc;

impl Driver {
    pub(super) fn on_engine(&mut self, event: EngineEvent) {
        if self.shared.ctx.options.parser == Parser::MsgPack
            && let EngineEvent::Message(message) = event
        {
            // socket.io-msgpack-parser: every packet is one binary message.
            return match message {
                Inbound::Binary(data) => {
                    match msgpack::decode_bytes(&data, DEFAULT_MAX_ATTACHMENTS) {
                        Ok((packet, attachments)) => self.dispatch(packet, attachments),
                        Err(err) => self.parse_error(&err.to_string()),
                    }
                }
                Inbound::Text(_) => self.parse_error("a text message with the msgpack parser"),
            };
        }
        match event {
            EngineEvent::Message(Inbound::Text(text)) => {
                if self.partial.is_some() {
                    return self.parse_error("a packet came before the attachments due");
                }
                match sio::decode_with(&text, DEFAULT_MAX_ATTACHMENTS) {
                    Ok(packet) if packet.attachments() > 0 => {
                        let count = packet.attachments();
                        self.partial = Some(Reassembly::new(packet, count));
                    }
                    Ok(packet) => self.dispatch(packet, Vec::new()),
                    Err(err) => self.parse_error(&err.to_string()),
                }
            }
            EngineEvent::Message(Inbound::Binary(data)) => match self.partial.take() {
                Some(partial) => match partial.push(data) {
                    Ok((packet, attachments)) => self.dispatch(packet, attachments),
                    Err(partial) => self.partial = Some(partial),
                },
                None => self.parse_error("an attachment no packet announced"),
            },
            EngineEvent::Upgraded => *lock(&self.shared.transport) = Some("websocket"),
            EngineEvent::Ping => {
                let hooks = lock(&self.shared.hooks).ping.clone();
                call_hooks(&hooks, |f| f());
            }
            EngineEvent::Closed(cause) => self.on_closed(match cause {
                CloseCause::PingTimeout => DisconnectReason::PingTimeout,
                CloseCause::TransportClose => DisconnectReason::TransportClose,
                CloseCause::TransportError(ClientError::Transport(why)) => {
                    DisconnectReason::TransportError(why)
                }
                CloseCause::TransportError(err) => {
                    DisconnectReason::TransportError(err.to_string())
                }
            }),
        }
    }

    /// socket.io-client closes the connection on a packet it cannot decode ("parse error")
    /// and reconnects.
    fn parse_error(&mut self, why: &str) {
        tracing::debug!("wsx-sio client: parse error: {why}");
        if let Some(engine) = self.engine.take() {
            engine.close();
        }
        self.on_closed(DisconnectReason::ParseError);
    }

    /// The connection is lost (not on purpose): sockets disconnect, then reconnect.
    pub(super) fn on_closed(&mut self, reason: DisconnectReason) {
        self.engine = None;
        self.partial = None;
        *lock(&self.shared.transport) = None;
        *lock(&self.shared.engine_id) = None;
        let sockets: Vec<Arc<Core>> = self.sockets.values().cloned().collect();
        for socket in &sockets {
            let was_connected = {
                let mut state = lock(&socket.state);
                let was = state.connected;
                state.connected = false;
                state.id = None;
                state.received.clear();
                was
            };
            lock(&socket.acks).fail_sent();
            if was_connected {
                self.fire_disconnect(socket, reason.clone());
            } else {
                socket.set_status(Status::Failed(ConnectError::Client(
                    ClientError::Transport(reason.to_string()),
                )));
            }
        }
        self.schedule_reconnect();
    }

    fn dispatch(&mut self, packet: Packet, attachments: Vec<bytes::Bytes>) {
        let Some(socket) = self.sockets.get(&packet.namespace).cloned() else {
            return;
        };
        match packet.body {
            Body::Connect(payload) => self.on_connect(&socket, payload),
            Body::ConnectError(payload) => {
                let (message, data) = match payload {
                    Value::String(message) => (message, None),
                    Value::Object(mut map) => (
                        match map.remove("message") {
                            Some(Value::String(message)) => message,
                            Some(other) => other.to_string(),
                            None => String::new(),
                        },
                        map.remove("data"),
                    ),
                    other => (other.to_string(), None),
                };
                self.sockets.remove(&socket.namespace);
                lock(&socket.state).active = false;
                self.fire_connect_error(&socket, ConnectError::Refused { message, data });
                if self.sockets.is_empty() {
                    self.close_engine();
                }
            }
            Body::Disconnect => {
                self.sockets.remove(&socket.namespace);
                let was_connected = {
                    let mut state = lock(&socket.state);
                    let was = state.connected;
                    state.active = false;
                    state.connected = false;
                    state.id = None;
                    was
                };
                lock(&socket.acks).fail_all();
                if was_connected {
                    self.fire_disconnect(&socket, DisconnectReason::IoServerDisconnect);
                }
                socket.set_status(Status::Disconnected);
                if self.sockets.is_empty() {
                    self.close_engine();
                }
            }
            Body::Event {
                name, args, ack, ..
            } => {
                if binary::check_placeholders(&args, attachments.len()).is_err() {
                    return self.parse_error("a placeholder refers to no attachment");
                }
                self.on_event(
                    &socket,
                    name,
                    Args {
                        values: args,
                        attachments,
                    },
                    ack,
                );
            }
            Body::Ack { id, args, .. } => {
                if binary::check_placeholders(&args, attachments.len()).is_err() {
                    return self.parse_error("a placeholder refers to no attachment");
                }
                lock(&socket.acks).resolve(
                    id,
                    Args {
                        values: args,
                        attachments,
                    },
                );
            }
        }
    }

    fn on_connect(&mut self, socket: &Arc<Core>, payload: Option<Value>) {
        let sid = payload
            .as_ref()
            .and_then(|p| p.get("sid"))
            .and_then(Value::as_str);
        let Some(sid) = sid else {
            // socket.io-client: a CONNECT without sid is a v2 server.
            self.sockets.remove(&socket.namespace);
            lock(&socket.state).active = false;
            let err =
                ClientError::Protocol("CONNECT without a sid (a Socket.IO v2 server?)".into());
            return self.fire_connect_error(socket, ConnectError::Client(err));
        };
        let pid = payload
            .as_ref()
            .and_then(|p| p.get("pid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (received, buffered) = {
            let mut state = lock(&socket.state);
            state.id = Some(sid.to_owned());
            state.recovered = pid.is_some() && state.pid == pid;
            state.pid = pid;
            state.connected = true;
            (
                std::mem::take(&mut state.received),
                std::mem::take(&mut state.buffer),
            )
        };
        // socket.io-client's `emitBuffered`: what arrived first, then what waited to go.
        for (name, args, ack) in received {
            self.on_event(socket, name, args, ack);
        }
        for packet in buffered {
            self.write(socket, packet);
        }
        socket.set_status(Status::Connected);
        let handler = lock(&socket.handlers).connect.clone();
        if let Some(handler) = handler {
            self.spawn(|| handler());
        }
    }

    fn on_event(&mut self, socket: &Arc<Core>, name: String, args: Args, ack: Option<u64>) {
        {
            let mut state = lock(&socket.state);
            if !state.connected {
                if state.active {
                    state.received.push((name, args, ack));
                }
                return;
            }
            // Connection state recovery: the server appends the offset as the last argument
            // (of events that ask for no ack: socket.io-client's `emitEvent` looks at the
            // last argument, which is the ack function otherwise).
            if state.pid.is_some()
                && ack.is_none()
                && let Some(Value::String(offset)) = args.values.last()
            {
                state.offset = Some(offset.clone());
            }
        }
        let (any, handler) = {
            let handlers = lock(&socket.handlers);
            (handlers.any.clone(), handlers.events.get(&name).cloned())
        };
        for f in any {
            let (name, args) = (name.clone(), args.clone());
            self.spawn(move || f(name, args));
        }
        if let Some(handler) = handler {
            self.spawn(move || handler(args, ack));
        }
    }

    pub(super) fn fire_disconnect(&mut self, socket: &Arc<Core>, reason: DisconnectReason) {
        let handler = lock(&socket.handlers).disconnect.clone();
        if let Some(handler) = handler {
            self.spawn(move || handler(reason));
        }
    }

    pub(super) fn fire_connect_error(&mut self, socket: &Arc<Core>, err: ConnectError) {
        socket.set_status(Status::Failed(err.clone()));
        let handler = lock(&socket.handlers).connect_error.clone();
        if let Some(handler) = handler {
            self.spawn(move || handler(err));
        }
    }
}
