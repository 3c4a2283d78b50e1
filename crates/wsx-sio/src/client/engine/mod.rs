//! The client side of Engine.IO v4 (engine.io-protocol v4): the handshake, the heartbeat
//! (the server pings, the client answers; no ping within `pingInterval + pingTimeout` is a
//! dead connection), and the upgrade from long-polling to WebSocket, as engine.io-client
//! does it:
//!
//! 1. open a WebSocket with the session's `sid`, send `2probe`, wait for `3probe`;
//! 2. pause polling: the pending `GET` returns (the server ends it with a `noop`) and the
//!    queued `POST`s go out; what the application sends meanwhile waits;
//! 3. send `5` (upgrade) on the WebSocket, which carries everything from then on.
//!
//! A failed probe leaves the session on polling. One task per connection owns the transports
//! and the timers; the manager talks to it through two channels ([`Engine`]).

mod polling;
mod websocket;
mod wire;

pub(crate) use websocket::ws_client;
pub(crate) use wire::{CloseCause, EngineEvent, Inbound, Outbound};

use super::error::ClientError;
use super::options::{ClientOptions, ServerUrl, Transports};
use polling::{Http, Polling};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;
use tokio::time::Instant;
use websocket::WebSocket;
use wire::{Event, Packet, Tag};

enum Command {
    Send(Vec<Outbound>),
    Close,
}

/// The manager's handle on an open Engine.IO connection. Dropping it closes the connection.
pub(crate) struct Engine {
    /// The session id.
    pub sid: String,
    /// The server's messages, then one [`EngineEvent::Closed`].
    pub events: UnboundedReceiver<EngineEvent>,
    commands: UnboundedSender<Command>,
}

impl Engine {
    /// Queues packets; false once the connection is gone.
    pub fn send(&self, packets: Vec<Outbound>) -> bool {
        self.commands.send(Command::Send(packets)).is_ok()
    }

    /// Closes the connection (a close packet, then the transport).
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

/// The open packet's handshake data (engine.io-protocol v4, "Handshake").
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Handshake {
    sid: String,
    #[serde(default)]
    upgrades: Vec<String>,
    ping_interval: u64,
    ping_timeout: u64,
    #[serde(default)]
    max_payload: Option<u64>,
}

impl Handshake {
    fn parse(json: &str) -> Result<Self, ClientError> {
        serde_json::from_str(json)
            .map_err(|e| ClientError::Protocol(format!("open packet {json:?}: {e}")))
    }
}

/// What every connection of a manager shares.
pub(crate) struct Context {
    pub url: Arc<ServerUrl>,
    pub options: Arc<ClientOptions>,
    pub ws: wsx::Client,
}

/// Opens an Engine.IO connection (within the `timeout` option) and starts its task.
pub(crate) async fn open(ctx: &Context) -> Result<Engine, ClientError> {
    let timeout = if ctx.options.timeout.is_zero() {
        Duration::from_secs(20)
    } else {
        ctx.options.timeout
    };
    tokio::time::timeout(timeout, open_inner(ctx))
        .await
        .map_err(|_| ClientError::Timeout("opening the Engine.IO connection"))?
}

async fn open_inner(ctx: &Context) -> Result<Engine, ClientError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (handshake, active) = match ctx.options.transports {
        Transports::WebSocket => {
            let url = ctx.url.engine_url(&ctx.options, "websocket", None);
            // The messages go straight to the manager (no upgrade can follow).
            let direct = Some(events_tx.clone());
            let ws = WebSocket::open(&ctx.ws, &url, &ctx.options, 0, tx.clone(), direct).await?;
            let handshake = match rx.recv().await {
                Some((_, Event::Packet(Packet::Open(json)))) => Handshake::parse(&json)?,
                Some((_, Event::Error(err))) => return Err(err),
                _ => {
                    return Err(ClientError::Protocol(
                        "the first WebSocket message is not an open packet".into(),
                    ));
                }
            };
            (handshake, Active::WebSocket(ws))
        }
        Transports::Polling | Transports::Default => {
            let mut get = Http::new(ctx.url.clone(), ctx.options.clone());
            let url = ctx.url.engine_url(&ctx.options, "polling", None);
            let body = get.request(http::Method::GET, &url, None).await?;
            let mut packets = polling::decode_body(&body)?.into_iter();
            let handshake = match packets.next() {
                Some(Packet::Open(json)) => Handshake::parse(&json)?,
                _ => {
                    return Err(ClientError::Protocol(
                        "the handshake's answer is not an open packet".into(),
                    ));
                }
            };
            // Anything after the open packet comes first, in order.
            for packet in packets {
                let _ = tx.send((0, Event::Packet(packet)));
            }
            let max_payload = handshake
                .max_payload
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(1_000_000);
            let polling = Polling::start(
                get,
                ctx.url.clone(),
                ctx.options.clone(),
                &handshake.sid,
                max_payload,
                0,
                tx.clone(),
            );
            (handshake, Active::Polling(polling))
        }
    };
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let heartbeat = Duration::from_millis(
        handshake
            .ping_interval
            .saturating_add(handshake.ping_timeout),
    );
    let upgrade = matches!(active, Active::Polling(_))
        && ctx.options.transports == Transports::Default
        && ctx.options.upgrade
        && handshake.upgrades.iter().any(|u| u == "websocket");
    let sid = handshake.sid.clone();
    let mut task = Task {
        active,
        active_tag: 0,
        next_tag: 1,
        probe: None,
        probe_opening: None,
        probe_deadline: None,
        paused: (false, false),
        upgrading: false,
        held: Vec::new(),
        heartbeat,
        ping_deadline: Instant::now() + heartbeat,
        inbound: rx,
        inbound_tx: tx,
        events: events_tx,
        commands: commands_rx,
    };
    if upgrade {
        task.start_probe(ctx, &sid);
    }
    tokio::spawn(task.run());
    Ok(Engine {
        sid,
        events,
        commands,
    })
}

enum Active {
    WebSocket(WebSocket),
    Polling(Polling),
}

struct Task {
    active: Active,
    active_tag: Tag,
    next_tag: Tag,
    /// The upgrade's WebSocket once open, and its tag.
    probe: Option<(Tag, Option<WebSocket>)>,
    /// The upgrade's WebSocket being opened.
    probe_opening: Option<oneshot::Receiver<Result<WebSocket, ClientError>>>,
    /// When a probe that got no `3probe` is given up (polling goes on).
    probe_deadline: Option<Instant>,
    /// (the `GET` loop stopped, the writer drained) during the upgrade.
    paused: (bool, bool),
    /// Between `3probe` and the switch: writes are held.
    upgrading: bool,
    held: Vec<Outbound>,
    heartbeat: Duration,
    ping_deadline: Instant,
    inbound: UnboundedReceiver<(Tag, Event)>,
    inbound_tx: UnboundedSender<(Tag, Event)>,
    events: UnboundedSender<EngineEvent>,
    commands: UnboundedReceiver<Command>,
}

/// Whether the task goes on.
type Flow = Result<(), CloseCause>;

impl Task {
    fn start_probe(&mut self, ctx: &Context, sid: &str) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.probe = Some((tag, None));
        let url = ctx.url.engine_url(&ctx.options, "websocket", Some(sid));
        let client = ctx.ws.clone();
        let options = ctx.options.clone();
        let events = self.inbound_tx.clone();
        let (opened, opening) = oneshot::channel();
        self.probe_opening = Some(opening);
        tokio::spawn(async move {
            let opening = WebSocket::open(&client, &url, &options, tag, events, None);
            let _ = opened.send(opening.await);
        });
    }

    async fn run(mut self) {
        // One timer for the connection's life, moved when a ping moves the deadline (not a
        // new one per turn of the loop: an emit would insert and remove a timer each).
        let ping_timer = tokio::time::sleep_until(self.ping_deadline);
        tokio::pin!(ping_timer);
        let outcome = loop {
            if ping_timer.deadline() != self.ping_deadline {
                ping_timer.as_mut().reset(self.ping_deadline);
            }
            let flow = tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Send(packets)) => self.write(packets).await,
                    Some(Command::Close) | None => {
                        self.close().await;
                        return;
                    }
                },
                Some((tag, event)) = self.inbound.recv() => self.on_event(tag, event).await,
                opened = probe_opened(&mut self.probe_opening) => {
                    self.on_probe_opened(opened).await;
                    Ok(())
                }
                () = &mut ping_timer => self.ping_expired().await,
                () = sleep_until(self.probe_deadline), if self.probe_deadline.is_some() => {
                    tracing::debug!("wsx-sio client: no 3probe in time, staying on polling");
                    self.probe_deadline = None;
                    self.probe = None;
                    self.set_probing(false);
                    Ok(())
                }
            };
            if let Err(cause) = flow {
                break cause;
            }
        };
        let _ = self.events.send(EngineEvent::Closed(outcome));
    }

    /// The ping deadline passed. In a process short of CPU the timer and the socket that
    /// holds the ping become ready in the same turn of the runtime, and the timer's task may
    /// run first: the ping is then read, but not yet handed over. One yield lets the
    /// transport's task run; what it handed over is looked at before giving up. (A ping still
    /// missing after that is a dead connection, as in engine.io-client.)
    async fn ping_expired(&mut self) -> Flow {
        tokio::task::yield_now().await;
        while let Ok((tag, event)) = self.inbound.try_recv() {
            self.on_event(tag, event).await?;
        }
        if Instant::now() < self.ping_deadline {
            Ok(())
        } else {
            Err(CloseCause::PingTimeout)
        }
    }

    async fn write(&mut self, packets: Vec<Outbound>) -> Flow {
        if self.upgrading {
            self.held.extend(packets);
            return Ok(());
        }
        let sent = match &self.active {
            Active::WebSocket(ws) => ws.send(packets).await,
            Active::Polling(polling) => polling.send(packets),
        };
        sent.map_err(CloseCause::TransportError)
    }

    async fn on_event(&mut self, tag: Tag, event: Event) -> Flow {
        if tag == self.active_tag {
            return match event {
                Event::Packet(Packet::Ping(data)) => {
                    self.ping_deadline = Instant::now() + self.heartbeat;
                    let _ = self.events.send(EngineEvent::Ping);
                    self.write(vec![Outbound::Text(format!("3{data}"))]).await
                }
                Event::Packet(Packet::Message(message)) => {
                    let _ = self.events.send(EngineEvent::Message(message));
                    Ok(())
                }
                Event::Packet(Packet::Close) | Event::Closed => Err(CloseCause::TransportClose),
                Event::Error(err) => Err(CloseCause::TransportError(err)),
                Event::Paused => {
                    self.paused.0 = true;
                    self.finish_upgrade().await
                }
                Event::Drained => {
                    self.paused.1 = true;
                    self.finish_upgrade().await
                }
                Event::Packet(_) => Ok(()),
            };
        }
        let Some((probe_tag, probe)) = &mut self.probe else {
            return Ok(());
        };
        if tag != *probe_tag {
            return Ok(());
        }
        match event {
            Event::Packet(Packet::Pong(data)) if data == "probe" && probe.is_some() => {
                self.upgrading = true;
                self.probe_deadline = None;
                if let Active::Polling(polling) = &mut self.active {
                    polling.pause();
                }
                Ok(())
            }
            Event::Error(err) if self.upgrading => Err(CloseCause::TransportError(err)),
            Event::Closed if self.upgrading => Err(CloseCause::TransportClose),
            Event::Error(err) => {
                // engine.io-client's upgradeError: the session stays on polling.
                tracing::debug!("wsx-sio client: upgrade failed: {err}");
                self.probe = None;
                self.set_probing(false);
                Ok(())
            }
            Event::Closed => {
                self.probe = None;
                self.set_probing(false);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The upgrade's WebSocket opened (or not): send the probe on it.
    async fn on_probe_opened(&mut self, opened: Result<WebSocket, ClientError>) {
        let sent = match opened {
            Ok(ws) => match ws.send(vec![Outbound::Text("2probe".into())]).await {
                Ok(()) => Ok(ws),
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
        match (sent, &mut self.probe) {
            (Ok(ws), Some((_, probe))) => {
                *probe = Some(ws);
                self.probe_deadline = Some(Instant::now() + self.heartbeat);
                self.set_probing(true);
            }
            (Err(err), _) => {
                // engine.io-client's upgradeError: the session stays on polling.
                tracing::debug!("wsx-sio client: upgrade failed: {err}");
                self.probe = None;
            }
            (Ok(_), None) => {}
        }
    }

    /// Tells the polling transport whether a probe is out.
    fn set_probing(&self, probing: bool) {
        if let Active::Polling(polling) = &self.active {
            polling.set_probing(probing);
        }
    }

    /// Switches to the WebSocket once polling is paused and drained.
    async fn finish_upgrade(&mut self) -> Flow {
        if self.paused != (true, true) {
            return Ok(());
        }
        let Some((tag, Some(ws))) = self.probe.take() else {
            return Err(CloseCause::TransportError(ClientError::Protocol(
                "polling paused without an upgrade".into(),
            )));
        };
        ws.send(vec![Outbound::Text("5".into())])
            .await
            .map_err(CloseCause::TransportError)?;
        self.active = Active::WebSocket(ws);
        self.active_tag = tag;
        self.upgrading = false;
        let held = std::mem::take(&mut self.held);
        self.write(held).await?;
        let _ = self.events.send(EngineEvent::Upgraded);
        Ok(())
    }

    /// Closes on the manager's request: a close packet, then the transport.
    async fn close(&mut self) {
        let close = vec![Outbound::Text("1".into())];
        match &self.active {
            Active::WebSocket(ws) => {
                let _ = ws.send(close).await;
            }
            Active::Polling(polling) => {
                let _ = polling.send(close);
            }
        }
    }
}

/// The upgrade's WebSocket once opened (taking the receiver); pending when none is being
/// opened.
async fn probe_opened(
    opening: &mut Option<oneshot::Receiver<Result<WebSocket, ClientError>>>,
) -> Result<WebSocket, ClientError> {
    let opened = match opening {
        Some(rx) => rx.await,
        None => std::future::pending().await,
    };
    *opening = None;
    opened.unwrap_or(Err(ClientError::Closed))
}

/// Sleeps until `at`; pending forever when `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
