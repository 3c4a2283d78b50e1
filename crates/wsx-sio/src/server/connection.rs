//! One client connection: its Engine.IO session and the Socket.IO sockets on it, driven by a
//! single task.
//!
//! The task reads packets in arrival order and turns each into a job (connect, event,
//! disconnect); its [`Scheduler`] starts the jobs in that order and polls the pending ones
//! together, alongside the transport, the outbound queue and the timers. So:
//! - handlers of one client are started in arrival order and each runs to its first await
//!   before the next starts, as in Node, on any runtime (never a task per event, which is how
//!   emits get reordered); with `Config::sequential_handlers`, each runs to its end first;
//! - a handler that awaits (even on an acknowledgement from this very client) holds neither
//!   the task's reading nor the next events: acknowledgements and heartbeats are handled at
//!   once, and the next events start;
//! - a panic in a handler is caught where the job is polled: it closes this connection only;
//! - different clients are different tasks and never wait for each other.

use super::scheduler::{Panicked, Scheduler};
use super::state::ServerInner;
use crate::args::Args;
use crate::engine::transport::{CloseCause, Transport};
use crate::engine::{CloseReason, Event, Session};
use crate::error::ConnectError;
use crate::frames::frames;
use crate::namespace::conn::ConnShared;
use crate::namespace::connect::{connect, connect_job, persist};
use crate::namespace::jobs::{
    Job, connect_barrier, disconnect_job, event_job, run_disconnect_handlers,
};
use crate::namespace::outbox::{Item, Outbox};
use crate::namespace::{DisconnectReason, StoredHandshake};
use crate::packet::binary::{self, BinaryError, Reassembly};
use crate::packet::socket::{self as sio, Body, Packet};
use crate::packet::{MsgPackError, Parser, SocketError, msgpack};
use crate::sid::Sid;
use bytes::Bytes;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wsx::Utf8Bytes;

/// How long the handlers still due when a connection ends may run.
const FINISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the connection ends, and how the transport is closed.
struct Ending {
    reason: DisconnectReason,
    detail: Option<String>,
}

impl Ending {
    fn new(reason: DisconnectReason) -> Self {
        Self {
            reason,
            detail: None,
        }
    }

    fn because(reason: DisconnectReason, detail: impl std::fmt::Display) -> Self {
        Self {
            reason,
            detail: Some(detail.to_string()),
        }
    }
}

/// A malformed Socket.IO packet.
#[derive(Debug, thiserror::Error)]
enum PacketError {
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Binary(#[from] BinaryError),
    #[error(transparent)]
    MsgPack(#[from] MsgPackError),
    /// A text message where the msgpack parser expects binary ones only.
    #[error("text message with the msgpack parser")]
    TextWithMsgPack,
}

/// A binary packet waiting for its attachments, and the bytes it holds so far.
struct Partial {
    waiting: Reassembly<Packet>,
    bytes: usize,
}

/// The state the connection's task keeps.
struct Connection {
    server: Arc<ServerInner>,
    shared: Arc<ConnShared>,
    /// A binary packet waiting for its attachments.
    partial: Option<Box<Partial>>,
    /// The jobs not ended, with the bytes of the packet each holds: reading stops past
    /// `Config::max_queued_events` jobs or `Config::max_buffered` bytes, so a client that
    /// floods slow handlers is slowed down, not buffered without bound.
    jobs: Scheduler,
}

/// The task of a connection whose transport is already accepted. The session is built here,
/// synchronously, so that the task's future holds it once (an idle client's memory is mostly
/// this future).
pub(crate) fn start<T: Transport>(
    server: Arc<ServerInner>,
    sid: Sid,
    mut transport: T,
    handshake: StoredHandshake,
) -> impl Future<Output = ()> + Send {
    let config = &server.config;
    let direct = transport.direct_writer();
    let shared = Arc::new(ConnShared {
        sid,
        outbox: Outbox::new(config.max_pending_bytes, transport.held(), direct)
            .counting(server.traffic.clone())
            .encoding(transport.shared_encoding()),
        handshake,
        sockets: Mutex::new(Vec::new()),
        ack_timeout: config.ack_timeout,
        parser: config.parser,
        connecting: AtomicBool::new(false),
    });
    let session = Session::new(sid, transport, &config.engine);
    run(server, session, shared)
}

/// Runs a connection until it ends. Not an `async fn`: its future would move the arguments
/// into locals and keep both copies (the session twice, WebSocket included: 704 bytes more
/// per client); an `async move` block uses what it captured in place.
#[allow(clippy::manual_async_fn)] // on purpose: see above
fn run<T: Transport>(
    server: Arc<ServerInner>,
    mut session: Session<T>,
    shared: Arc<ConnShared>,
) -> impl Future<Output = ()> + Send {
    async move {
        let config = &server.config;
        // Seen by `Server::shutdown` from here on, or refused because it began.
        if !server.register(shared.sid, &shared) {
            tracing::debug!(sid = %shared.sid, "server shutting down; session refused");
            return;
        }
        if let Err(err) = session.open(&config.engine).await {
            tracing::debug!(%err, "could not send the open packet");
            server.unregister(shared.sid, DisconnectReason::TransportError);
            return;
        }
        // Socket.IO's connectTimeout, cleared once a namespace is joined (as Node's `Client`
        // clears it): boxed, so that the task of a connected client does not keep it.
        let mut connect_timer = Some(Box::pin(tokio::time::sleep(config.connect_timeout)));
        let max_jobs = config.max_queued_events;
        let mut conn = Connection {
            server: server.clone(),
            shared: shared.clone(),
            partial: None,
            jobs: Scheduler::new(config.sequential_handlers),
        };
        let max_bytes = config.max_buffered;

        let ending = loop {
            if connect_timer.is_some() && !shared.has_no_socket() {
                connect_timer = None;
            }
            tokio::select! {
                biased;
                result = std::future::poll_fn(|cx| conn.jobs.poll_next_done(cx, &shared.connecting)) => {
                    if let Err(Panicked) = result {
                        break Ending::because(DisconnectReason::HandlerPanic, "a handler panicked");
                    }
                }
                () = shared.outbox.notified() => {
                    if let Some(ending) = write_out(&server.traffic, &shared, &mut conn.jobs, &mut session).await {
                        break ending;
                    }
                }
                event = session.recv(), if conn.jobs.len() < max_jobs && conn.jobs.bytes() <= max_bytes => match event {
                    Event::Text(text) => {
                        server.traffic.received(text.len());
                        if let Err(err) = conn.on_text(&text) {
                            break Ending::because(DisconnectReason::ParseError, err);
                        }
                    }
                    Event::Binary(data) => {
                        server.traffic.received(data.len());
                        if let Err(err) = conn.on_binary(data) {
                            break Ending::because(DisconnectReason::ParseError, err);
                        }
                    }
                    Event::Closed(reason) => {
                        let detail = reason.to_string();
                        break Ending::because(DisconnectReason::from(&reason), detail);
                    }
                },
                () = std::future::poll_fn(|cx| match &mut connect_timer {
                    Some(timer) => timer.as_mut().poll(cx),
                    None => std::task::Poll::Pending,
                }), if connect_timer.is_some() => {
                    // A client that joined no namespace in time is closed.
                    connect_timer = None;
                    if shared.has_no_socket() && conn.jobs.is_idle()
                    {
                        break Ending::because(DisconnectReason::ForcedServerClose, "no CONNECT in time");
                    }
                }
            }
        };
        let reason = ending.reason;
        // Boxed: the closing path is taken once and must not weigh on every idle task.
        Box::pin(conn.finish(session, ending)).await;
        // Not a drop guard: that would be state the task keeps for its whole life. A task
        // dropped unfinished (its runtime shutting down) leaves a dead weak entry, harmless.
        server.unregister(shared.sid, reason);
    }
}

/// Writes out what the outbox holds, until it is empty (disconnect handlers it holds join
/// `jobs`); returns why the connection ends, if it does. A write that waits for a client that
/// does not read ends at once when the client becomes a slow consumer (the outbox's bound),
/// so that its memory is let go.
async fn write_out<T: Transport>(
    traffic: &crate::engine::traffic::Traffic,
    shared: &ConnShared,
    jobs: &mut Scheduler,
    session: &mut Session<T>,
) -> Option<Ending> {
    let outbox = &shared.outbox;
    loop {
        let mut out = Vec::new();
        // The frames of `out` with a way of their own onto the wire (`outbox::Item::Wire`).
        let mut wires = Vec::new();
        let mut bytes = 0;
        let mut close = None;
        let items = outbox.take();
        if items.is_empty() {
            return None;
        }
        for item in items {
            match item {
                Item::Frame(frame) => {
                    bytes += frame.len();
                    out.push(frame);
                }
                Item::Wire(frame, wire) => {
                    bytes += frame.len();
                    wires.push((out.len(), wire));
                    out.push(frame);
                }
                Item::Disconnected(socket, reason) => {
                    jobs.push(disconnect_job(socket, reason), 0);
                }
                Item::Close(reason) => close = Some(reason),
            }
        }
        if !out.is_empty() {
            traffic.written(&out);
            let sent = tokio::select! {
                biased;
                sent = session.send_wired(out, wires) => sent,
                () = outbox.overflowed() => return Some(Ending::new(DisconnectReason::SlowConsumer)),
            };
            outbox.written(bytes);
            if let Err(err) = sent {
                let reason = CloseReason::from(err);
                return Some(Ending::because(DisconnectReason::from(&reason), reason));
            }
        }
        if let Some(reason) = close {
            return Some(Ending::new(reason));
        }
    }
}

impl Connection {
    fn push_job(&mut self, job: Job, bytes: usize) {
        self.jobs.push(job, bytes);
    }

    /// A text message: a Socket.IO packet (JSON parser only).
    fn on_text(&mut self, text: &Utf8Bytes) -> Result<(), PacketError> {
        if self.shared.parser == Parser::MsgPack {
            return Err(PacketError::TextWithMsgPack);
        }
        if let Some(partial) = &self.partial {
            return Err(BinaryError::MissingAttachments {
                missing: partial.waiting.missing(),
            }
            .into());
        }
        let packet = sio::decode_with(text, self.server.config.max_attachments)?;
        let count = packet.attachments();
        if count > 0 {
            self.partial = Some(Box::new(Partial {
                waiting: Reassembly::new(packet, count),
                bytes: text.len(),
            }));
            return Ok(());
        }
        self.dispatch(packet, Vec::new(), text.len())
    }

    /// A binary message: the next attachment of the waiting packet, or with the msgpack
    /// parser a whole packet (its binary values share `data`'s buffer).
    fn on_binary(&mut self, data: Bytes) -> Result<(), PacketError> {
        if self.shared.parser == Parser::MsgPack {
            let max = self.server.config.max_attachments;
            let (packet, attachments) = msgpack::decode_bytes(&data, max)?;
            return self.dispatch(packet, attachments, data.len());
        }
        let Partial { waiting, bytes } = *self
            .partial
            .take()
            .ok_or(BinaryError::UnexpectedAttachment)?;
        let bytes = bytes + data.len();
        // One packet's attachments are bounded as a whole, not only one by one (maxPayload).
        let limit = self.server.config.max_buffered;
        if bytes > limit {
            return Err(BinaryError::AttachmentsTooLarge { limit }.into());
        }
        match waiting.push(data) {
            Ok((packet, attachments)) => self.dispatch(packet, attachments, bytes),
            Err(waiting) => {
                self.partial = Some(Box::new(Partial { waiting, bytes }));
                Ok(())
            }
        }
    }

    /// Handles a complete packet holding `bytes` bytes (text and attachments).
    fn dispatch(
        &mut self,
        packet: Packet,
        attachments: Vec<Bytes>,
        bytes: usize,
    ) -> Result<(), PacketError> {
        let Packet { namespace, body } = packet;
        match body {
            Body::Connect(auth) => self.on_connect(namespace, auth),
            Body::Disconnect => {
                // Effective at once: the socket leaves its rooms and gets nothing more; its
                // handlers run in turn.
                if let Some(socket) = self.shared.socket(&namespace)
                    && socket.mark_disconnected()
                {
                    self.push_job(
                        disconnect_job(socket, DisconnectReason::ClientNamespaceDisconnect),
                        0,
                    );
                } else {
                    let shared = self.shared.clone();
                    self.push_job(
                        crate::namespace::jobs::job(async move {
                            if let Some(socket) = shared.socket(&namespace)
                                && socket.mark_disconnected()
                            {
                                run_disconnect_handlers(
                                    socket,
                                    DisconnectReason::ClientNamespaceDisconnect,
                                )
                                .await;
                            }
                        }),
                        0,
                    );
                }
            }
            Body::Event {
                name, args, ack, ..
            } => {
                binary::check_placeholders(&args, attachments.len())?;
                crate::metrics::event_received(&namespace);
                let args = Args {
                    values: args,
                    attachments,
                };
                let job = event_job(self.shared.clone(), namespace, name, args, ack);
                self.push_job(job, bytes);
            }
            Body::Ack { id, args, .. } => {
                binary::check_placeholders(&args, attachments.len())?;
                if let Some(socket) = self.shared.socket(&namespace) {
                    socket.resolve_ack(
                        id,
                        Args {
                            values: args,
                            attachments,
                        },
                    );
                }
            }
            Body::ConnectError(_) => {
                tracing::debug!(namespace, "CONNECT_ERROR from a client; ignored");
            }
        }
        Ok(())
    }

    fn on_connect(&mut self, namespace: String, auth: Option<Value>) {
        let auth = auth.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        let skip_middlewares = self
            .server
            .config
            .recovery
            .as_ref()
            .is_some_and(|r| r.skip_middlewares);
        let Some(ns) = self.server.namespace(&namespace) else {
            if self.server.parents.is_empty() {
                refuse_namespace(&self.shared, &namespace);
            } else {
                // A dynamic namespace: its parents' rules may await, so they run as a job, in
                // order with the connection's other packets.
                let (server, shared) = (self.server.clone(), self.shared.clone());
                self.push_job(
                    connect_barrier(shared.clone(), async move {
                        match server.parents.find(&namespace, &auth).await {
                            Some(parent) => {
                                let ns = server.namespace_or_create(&namespace, Some(&parent));
                                connect(ns, shared, auth, skip_middlewares).await;
                            }
                            None => refuse_namespace(&shared, &namespace),
                        }
                    }),
                    0,
                );
            }
            return;
        };
        if self.shared.socket(&namespace).is_some() {
            tracing::debug!(
                namespace,
                "CONNECT for a namespace already connected; ignored"
            );
            return;
        }
        self.push_job(
            connect_job(ns, self.shared.clone(), auth, skip_middlewares),
            0,
        );
    }

    /// Ends the connection: closes the transport, disconnects every socket, and runs the
    /// handlers still due (events that arrived before the end, then disconnect handlers).
    async fn finish<T: Transport>(mut self, mut session: Session<T>, ending: Ending) {
        let Ending { reason, detail } = ending;
        match &detail {
            Some(detail) => {
                tracing::debug!(sid = %self.shared.sid, %reason, detail, "connection closed")
            }
            None => tracing::debug!(sid = %self.shared.sid, %reason, "connection closed"),
        }
        // Anything queued for the client is dropped; control items still run.
        for item in self.shared.outbox.close() {
            if let Item::Disconnected(socket, why) = item {
                self.push_job(disconnect_job(socket, why), 0);
            }
        }
        let cause = match reason {
            DisconnectReason::ParseError => {
                CloseCause::PeerError(detail.as_deref().unwrap_or("parse error"))
            }
            DisconnectReason::HandlerPanic => CloseCause::ServerError("handler panic"),
            DisconnectReason::SlowConsumer => CloseCause::Overflow,
            DisconnectReason::TransportClose
            | DisconnectReason::TransportError
            | DisconnectReason::PingTimeout => CloseCause::PeerGone,
            _ => CloseCause::Normal,
        };
        // Socket.IO: these ends leave the socket recoverable (connection state recovery).
        let recoverable = matches!(
            reason,
            DisconnectReason::TransportClose
                | DisconnectReason::TransportError
                | DisconnectReason::PingTimeout
                | DisconnectReason::ForcedServerClose
        );
        // The sockets leave their rooms before the transport's close, which may wait for the
        // client (a slow consumer's close frame, up to `close_timeout`): broadcasts stop
        // targeting them at once.
        for socket in self.shared.take_sockets() {
            if socket.mark_disconnected() {
                if recoverable {
                    persist(&socket);
                }
                self.push_job(disconnect_job(socket, reason), 0);
            }
        }
        session.close(cause).await;
        // A panicking job is gone already; the others still run. Handlers still due get a
        // bounded time: one that never ends must not keep the connection's memory forever.
        let sid = self.shared.sid;
        let drain = self.jobs.drain(&self.shared.connecting, sid);
        if tokio::time::timeout(FINISH_TIMEOUT, drain).await.is_err() {
            tracing::warn!(%sid, "handlers still running {FINISH_TIMEOUT:?} after the connection closed; dropped");
        }
    }
}

/// CONNECT_ERROR "Invalid namespace": no such namespace, and no dynamic namespace takes it.
fn refuse_namespace(shared: &ConnShared, namespace: &str) {
    let refusal = ConnectError::new("Invalid namespace").payload();
    let _ = shared.outbox.push(frames(
        shared.parser,
        namespace,
        Body::ConnectError(refusal),
        &[],
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transport::websocket::WsTransport;

    /// An idle client costs mostly its task: the future of `start`. Regression guard for the
    /// memory per idle client (it was 5.9 KiB when the handshake and the session shared one
    /// task and the transport was moved through three async functions, 2,208 bytes while
    /// `run` was an `async fn` holding its session twice, 1,504 since).
    #[tokio::test]
    async fn the_connection_task_is_small() {
        let server = crate::Server::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (tcp, _) = listener.accept().await.expect("accept");
        let ws = wsx::WebSocket::from_raw(
            tcp,
            wsx::Role::Server,
            server.config().websocket(),
            &[],
            None,
            None,
        );
        let request = http::Request::new(());
        let task = start(
            server.0.clone(),
            Sid::random(),
            WsTransport::new(ws),
            StoredHandshake::from_request(request, None),
        );
        let size = std::mem::size_of_val(&task);
        eprintln!("connection task future: {size} bytes");
        assert!(size <= 1600, "{size} bytes");
    }
}
