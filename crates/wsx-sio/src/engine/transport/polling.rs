//! The HTTP long-polling transport (engine.io-protocol v4, "Transports" and "Upgrade").
//!
//! A polling session has two sides that meet in a [`PollShared`]:
//! - the HTTP side ([`crate::server`]'s request handlers, one call per request): a `GET`
//!   waits until packets are queued and takes them all (one payload, packets joined by
//!   `0x1e`, binary as `b` + base64); a `POST` decodes its payload and hands the packets over;
//! - the session side, [`PollingTransport`], the [`super::Transport`] the session's task
//!   reads and writes like a WebSocket.
//!
//! The rules the Node server follows, and so do we: one `GET` and one `POST` at a time per
//! session (a second concurrent one is answered 400 and closes the session; the waiting `GET`
//! gets the close packet `1`); a client's close packet `1` answers the waiting `GET` with a
//! noop `6`; a session closed on an error or a timeout is forgotten at once (its next request
//! gets 400 "Session ID unknown"), one the server closes on purpose keeps its queued packets
//! and the close packet for the client's next `GET`.
//!
//! The upgrade: a WebSocket with the session's `sid` does the probe (`2probe` -> `3probe`) on
//! its own task (the pending `GET` is answered with a noop so that the client can pause
//! polling); at `5` the session is marked upgraded (HTTP requests for it are refused from then
//! on) and the WebSocket goes to the session's task through the same channel as the `POST`ed
//! packets, so it arrives after every packet the client posted before it. The session's task
//! then writes what was still queued for polling over the WebSocket, in order, and carries on
//! over it.

use super::websocket::WsTransport;
use super::{CloseCause, Frame, Transport, TransportError};
use crate::packet::engine::{self, EngineError, MAX_PAYLOAD_PACKETS, SEPARATOR};
use crate::sid::Sid;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use wsx::Utf8Bytes;

/// The WebSocket a polling session upgrades to (it always comes through hyper).
pub type UpgradeSocket = WsTransport<wsx::upgrade::Io>;

/// Why a polling session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PollingError {
    /// A second `GET` arrived while one was waiting.
    #[error("two GET requests at once on one session")]
    GetOverlap,
    /// A second `POST` arrived while one was being read.
    #[error("two POST requests at once on one session")]
    PostOverlap,
    /// A `POST` body is not an Engine.IO payload.
    #[error("malformed polling payload: {0}")]
    Payload(#[from] EngineError),
    /// A `POST` body is not UTF-8 text.
    #[error("polling payload is not UTF-8")]
    NotUtf8,
    /// A `POST` body is larger than `maxPayload`.
    #[error("polling payload larger than maxPayload")]
    TooLarge,
    /// The client fetched nothing while its queue was full for longer than
    /// `pingInterval + pingTimeout`.
    #[error("the client stopped fetching its packets")]
    Stalled,
}

/// Why an HTTP request for a polling session is refused (the server answers HTTP 400 with
/// the Engine.IO error body of the matching code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Code 1: no such session (never was, closed, or forgotten).
    UnknownSid,
    /// Code 3: a request the session's state does not allow (an overlapping `GET` or `POST`,
    /// polling after the upgrade, a second upgrade).
    BadRequest,
}

/// What the HTTP side hands the session's task.
#[derive(Debug)]
enum Incoming {
    /// The packets of one `POST`.
    Frames(Vec<Frame>),
    /// The upgraded WebSocket, probe done.
    Upgrade(Box<UpgradeSocket>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Polling,
    /// A WebSocket with this sid is probing; polling goes on meanwhile.
    Upgrading,
    /// The client sent `5` on the WebSocket: HTTP requests for the session are refused.
    Upgraded,
    /// Closing: the next `GET` takes what is queued (ending with `1` or `6`), then `Closed`.
    Closing,
    Closed,
}

#[derive(Debug)]
struct State {
    out: VecDeque<Frame>,
    out_bytes: usize,
    phase: Phase,
    get_active: bool,
    post_active: bool,
    failure: Option<PollingError>,
}

/// The state a polling session's HTTP requests and its task share.
#[derive(Debug)]
pub struct PollShared {
    state: Mutex<State>,
    /// Wakes the waiting `GET`.
    readable: Notify,
    /// Wakes the session's task: the queue was fetched, or the session failed.
    wake_task: Notify,
    incoming: mpsc::Sender<Incoming>,
    /// The most packets one `GET` answer holds.
    max_poll_packets: usize,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update under the lock is complete: a poisoned lock is still consistent.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request's claim on its session's `GET` or `POST` slot; frees it when the request ends,
/// also when hyper drops the request half way.
#[derive(Debug)]
pub struct Slot<'a>(&'a PollShared, bool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        if self.1 {
            state.get_active = false;
        } else {
            state.post_active = false;
        }
    }
}

impl PollShared {
    fn new(incoming: mpsc::Sender<Incoming>, max_poll_packets: usize) -> Self {
        Self {
            state: Mutex::new(State {
                out: VecDeque::new(),
                out_bytes: 0,
                phase: Phase::Polling,
                get_active: false,
                post_active: false,
                failure: None,
            }),
            readable: Notify::new(),
            wake_task: Notify::new(),
            incoming,
            max_poll_packets: max_poll_packets.max(1),
        }
    }

    /// Fails the session: a waiting `GET` gets the close packet, later requests get 400.
    fn fail(&self, state: &mut State, error: PollingError) {
        tracing::debug!(%error, "polling session failed");
        state.out.clear();
        state.out_bytes = 0;
        if state.get_active {
            state.out.push_back(Frame::Text("1".into()));
            state.phase = Phase::Closing;
        } else {
            state.phase = Phase::Closed;
        }
        state.failure.get_or_insert(error);
        self.readable.notify_waiters();
        self.wake_task.notify_one();
    }

    /// A `GET`: waits until packets are queued and returns them as one payload.
    ///
    /// # Errors
    /// The session is unknown (closed) or does not take a `GET` now.
    pub async fn poll(&self) -> Result<String, Refusal> {
        {
            let mut state = lock(&self.state);
            match state.phase {
                Phase::Closed => return Err(Refusal::UnknownSid),
                Phase::Upgraded => return Err(Refusal::BadRequest),
                Phase::Polling | Phase::Upgrading | Phase::Closing => {}
            }
            if state.get_active {
                // engine.io: "overlap from client" closes the session.
                self.fail(&mut state, PollingError::GetOverlap);
                return Err(Refusal::BadRequest);
            }
            state.get_active = true;
        }
        let _active = Slot(self, true);
        loop {
            let notified = self.readable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = lock(&self.state);
                if !state.out.is_empty() {
                    // At most `max_poll_packets`: the rest waits for the next `GET`.
                    let take = state.out.len().min(self.max_poll_packets);
                    let frames: VecDeque<Frame> = state.out.drain(..take).collect();
                    let taken: usize = frames.iter().map(Frame::len).sum();
                    state.out_bytes = state.out_bytes.saturating_sub(taken);
                    if state.phase == Phase::Closing && state.out.is_empty() {
                        state.phase = Phase::Closed;
                    }
                    drop(state);
                    self.wake_task.notify_one();
                    return Ok(encode_payload(frames));
                }
                match state.phase {
                    Phase::Closed | Phase::Closing => return Err(Refusal::UnknownSid),
                    // Only reached if the noop was taken by nobody: end the poll cleanly.
                    Phase::Upgraded => return Ok("6".into()),
                    Phase::Polling | Phase::Upgrading => {}
                }
            }
            notified.await;
        }
    }

    /// Claims the `POST` slot; the returned guard frees it.
    ///
    /// # Errors
    /// The session is unknown (closed) or does not take a `POST` now (one is already being
    /// read: that closes the session, as the Node server does).
    pub fn begin_post(&self) -> Result<Slot<'_>, Refusal> {
        let mut state = lock(&self.state);
        match state.phase {
            Phase::Closed | Phase::Closing => return Err(Refusal::UnknownSid),
            Phase::Upgraded => return Err(Refusal::BadRequest),
            Phase::Polling | Phase::Upgrading => {}
        }
        if state.post_active {
            self.fail(&mut state, PollingError::PostOverlap);
            return Err(Refusal::BadRequest);
        }
        state.post_active = true;
        Ok(Slot(self, false))
    }

    /// A `POST` body (the caller holds the slot of [`Self::begin_post`]): decodes it and hands
    /// its packets to the session's task, waiting while the task is behind (backpressure).
    ///
    /// # Errors
    /// A malformed payload (the session is closed) or a closed session.
    pub async fn push(&self, body: &str) -> Result<(), Refusal> {
        let frames = match decode_payload(body) {
            Ok(frames) => frames,
            Err(err) => {
                self.fail(&mut lock(&self.state), err.into());
                return Err(Refusal::BadRequest);
            }
        };
        let closes = frames
            .iter()
            .any(|f| matches!(f, Frame::Text(t) if t.as_str() == "1"));
        if self.incoming.send(Incoming::Frames(frames)).await.is_err() {
            return Err(Refusal::UnknownSid);
        }
        if closes {
            // engine.io: the client's close packet ends the waiting `GET` with a noop, and
            // the session is gone for the requests after it.
            let mut state = lock(&self.state);
            state.out.clear();
            state.out_bytes = 0;
            if state.get_active {
                state.out.push_back(Frame::Text("6".into()));
                state.phase = Phase::Closing;
            } else {
                state.phase = Phase::Closed;
            }
            self.readable.notify_waiters();
        }
        Ok(())
    }

    /// A body that is not UTF-8 arrived: the session is closed.
    pub fn malformed(&self) {
        self.fail(&mut lock(&self.state), PollingError::NotUtf8);
    }

    /// A body larger than `maxPayload` arrived: the session is closed.
    pub fn too_large(&self) {
        self.fail(&mut lock(&self.state), PollingError::TooLarge);
    }

    /// A WebSocket with this sid asks to upgrade.
    ///
    /// # Errors
    /// The session is closed, or already upgrading or upgraded.
    pub fn begin_upgrade(&self) -> Result<(), Refusal> {
        let mut state = lock(&self.state);
        match state.phase {
            Phase::Polling => {
                state.phase = Phase::Upgrading;
                Ok(())
            }
            Phase::Closed | Phase::Closing => Err(Refusal::UnknownSid),
            Phase::Upgrading | Phase::Upgraded => Err(Refusal::BadRequest),
        }
    }

    /// The probe arrived: the waiting (or next) `GET` is answered with a noop, so that the
    /// client can pause polling.
    pub fn probed(&self) {
        let mut state = lock(&self.state);
        if state.phase == Phase::Upgrading {
            state.out.push_back(Frame::Text("6".into()));
            state.out_bytes += 1;
            self.readable.notify_waiters();
        }
    }

    /// The upgrade failed (bad probe, timeout, WebSocket gone): polling goes on.
    pub fn abort_upgrade(&self) {
        let mut state = lock(&self.state);
        if state.phase == Phase::Upgrading {
            state.phase = Phase::Polling;
        }
    }

    /// The client sent `5`: the session moves to `ws`. HTTP requests are refused from now on.
    pub async fn complete_upgrade(&self, ws: UpgradeSocket) -> Result<(), UpgradeSocket> {
        {
            let mut state = lock(&self.state);
            if state.phase != Phase::Upgrading {
                return Err(ws);
            }
            state.phase = Phase::Upgraded;
            self.readable.notify_waiters();
        }
        match self.incoming.send(Incoming::Upgrade(Box::new(ws))).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(Incoming::Upgrade(ws))) => Err(*ws),
            Err(_) => unreachable!("the message sent is an upgrade"),
        }
    }
}

/// Encodes frames as a polling payload.
fn encode_payload(frames: VecDeque<Frame>) -> String {
    let mut out = String::new();
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        match frame {
            Frame::Text(text) => out.push_str(&text),
            Frame::Binary(data) => {
                out.push('b');
                STANDARD.encode_string(&data, &mut out);
            }
        }
    }
    out
}

/// Decodes a polling payload into frames, checking every text packet.
fn decode_payload(payload: &str) -> Result<Vec<Frame>, EngineError> {
    let mut frames = Vec::new();
    for part in payload.split(SEPARATOR) {
        if frames.len() == MAX_PAYLOAD_PACKETS {
            return Err(EngineError::TooManyPackets);
        }
        let frame = match part.strip_prefix('b') {
            Some(b64) => Frame::Binary(Bytes::from(
                STANDARD
                    .decode(b64)
                    .map_err(|_| EngineError::InvalidBase64)?,
            )),
            None => {
                engine::decode_text(part)?;
                Frame::Text(Utf8Bytes::from(part.to_owned()))
            }
        };
        frames.push(frame);
    }
    Ok(frames)
}

/// The bounds of a polling session.
#[derive(Debug, Clone, Copy)]
pub struct PollLimits {
    /// Bytes queued for the client past which the session waits for a `GET`.
    pub queue_limit: usize,
    /// How long the session waits for a `GET` while its queue is full (and how long a
    /// closing session keeps its last packets for the client).
    pub stall_timeout: Duration,
    /// The most packets one `GET` answer holds.
    pub max_poll_packets: usize,
}

/// The polling sessions of a server, by sid.
#[derive(Debug, Default)]
pub struct Sessions(Mutex<HashMap<Sid, Arc<PollShared>>>);

impl Sessions {
    /// The live session `sid`.
    #[must_use]
    pub fn get(&self, sid: &Sid) -> Option<Arc<PollShared>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sid)
            .cloned()
    }

    /// How many polling sessions are open (upgraded ones included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no polling session is open.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a session `sid`: its shared state (for the HTTP side) and its transport (for
    /// the session's task). The session is forgotten when the transport is dropped.
    pub fn open(
        self: &Arc<Self>,
        sid: Sid,
        limits: PollLimits,
    ) -> (Arc<PollShared>, PollingTransport) {
        // One `POST` at a time per session: a short channel is enough, and it makes a client
        // that posts faster than its handlers run wait (backpressure).
        let (tx, rx) = mpsc::channel(2);
        let shared = Arc::new(PollShared::new(tx, limits.max_poll_packets));
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sid, shared.clone());
        let transport = PollingTransport {
            sid,
            sessions: self.clone(),
            shared: shared.clone(),
            incoming: rx,
            received: VecDeque::new(),
            unflushed: Vec::new(),
            ws: None,
            backlog: VecDeque::new(),
            queue_limit: limits.queue_limit,
            stall_timeout: limits.stall_timeout,
        };
        (shared, transport)
    }
}

/// The session's side of a polling session (see the module docs). Upgrades to a WebSocket
/// in place.
#[derive(Debug)]
pub struct PollingTransport {
    sid: Sid,
    sessions: Arc<Sessions>,
    shared: Arc<PollShared>,
    incoming: mpsc::Receiver<Incoming>,
    /// Packets of a `POST` not handed up yet.
    received: VecDeque<Frame>,
    /// Frames fed and not flushed.
    unflushed: Vec<Frame>,
    ws: Option<Box<UpgradeSocket>>,
    /// What was queued for polling when the upgrade came: written first over the WebSocket.
    backlog: VecDeque<Frame>,
    queue_limit: usize,
    stall_timeout: Duration,
}

impl Drop for PollingTransport {
    fn drop(&mut self) {
        {
            let mut state = lock(&self.shared.state);
            if state.phase != Phase::Closing {
                state.phase = Phase::Closed;
                state.out.clear();
            }
        }
        self.shared.readable.notify_waiters();
        self.sessions
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.sid);
    }
}

impl PollingTransport {
    /// Moves to the upgraded WebSocket: what polling had not delivered goes first.
    fn switch(&mut self, ws: Box<UpgradeSocket>) {
        let mut state = lock(&self.shared.state);
        let queued = std::mem::take(&mut state.out);
        state.out_bytes = 0;
        drop(state);
        // Noops only ended a `GET`; over the WebSocket they mean nothing.
        self.backlog = queued
            .into_iter()
            .chain(self.unflushed.drain(..))
            .filter(|f| !matches!(f, Frame::Text(t) if t.as_str() == "6"))
            .collect();
        self.ws = Some(ws);
    }

    fn failure(&self) -> Option<PollingError> {
        lock(&self.shared.state).failure.clone()
    }
}

impl Transport for PollingTransport {
    fn upgrades(&self) -> &'static [&'static str] {
        if self.ws.is_some() {
            &[]
        } else {
            &["websocket"]
        }
    }

    async fn recv(&mut self) -> Option<Result<Frame, TransportError>> {
        loop {
            if let Some(ws) = &mut self.ws {
                if let Err(err) = ws.drain(&mut self.backlog).await {
                    return Some(Err(err));
                }
                return ws.recv().await;
            }
            if let Some(frame) = self.received.pop_front() {
                return Some(Ok(frame));
            }
            if let Some(err) = self.failure() {
                return Some(Err(err.into()));
            }
            tokio::select! {
                message = self.incoming.recv() => match message {
                    None => return None,
                    Some(Incoming::Frames(frames)) => self.received.extend(frames),
                    Some(Incoming::Upgrade(ws)) => self.switch(ws),
                },
                () = self.shared.wake_task.notified() => {}
            }
        }
    }

    async fn feed(&mut self, frame: Frame) -> Result<(), TransportError> {
        match &mut self.ws {
            Some(ws) => {
                ws.drain(&mut self.backlog).await?;
                ws.feed(frame).await
            }
            None => {
                self.unflushed.push(frame);
                Ok(())
            }
        }
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        if let Some(ws) = &mut self.ws {
            ws.drain(&mut self.backlog).await?;
            return ws.flush().await;
        }
        {
            let mut state = lock(&self.shared.state);
            if matches!(state.phase, Phase::Closed | Phase::Closing) {
                self.unflushed.clear();
                return Ok(());
            }
            for frame in self.unflushed.drain(..) {
                state.out_bytes += frame.len();
                state.out.push_back(frame);
            }
        }
        self.shared.readable.notify_waiters();
        // A client that does not fetch cannot make the server queue without bound: wait for
        // a `GET` while the queue is over the limit, and give up after the stall timeout.
        let wait = async {
            loop {
                let notified = self.shared.wake_task.notified();
                {
                    let state = lock(&self.shared.state);
                    if state.out_bytes <= self.queue_limit
                        || matches!(
                            state.phase,
                            Phase::Closed | Phase::Closing | Phase::Upgraded
                        )
                    {
                        return;
                    }
                }
                notified.await;
            }
        };
        if tokio::time::timeout(self.stall_timeout, wait)
            .await
            .is_err()
        {
            self.shared
                .fail(&mut lock(&self.shared.state), PollingError::Stalled);
            return Err(PollingError::Stalled.into());
        }
        Ok(())
    }

    async fn close(&mut self, cause: CloseCause<'_>) {
        if let Some(ws) = &mut self.ws {
            let _ = ws.drain(&mut self.backlog).await;
            return ws.close(cause).await;
        }
        {
            let mut state = lock(&self.shared.state);
            match state.phase {
                Phase::Closed | Phase::Closing => return,
                Phase::Polling | Phase::Upgrading | Phase::Upgraded => {}
            }
            if cause == CloseCause::PeerGone {
                // The client is gone or broke the heartbeat: a waiting `GET` gets the close
                // packet, nothing waits for another one.
                state.out.clear();
                if !state.get_active {
                    state.phase = Phase::Closed;
                    return;
                }
            }
            // Closed on purpose: what is queued and the close packet go with the next `GET`.
            state.out.push_back(Frame::Text("1".into()));
            state.phase = Phase::Closing;
        }
        self.shared.readable.notify_waiters();
        let fetched = async {
            loop {
                let notified = self.shared.wake_task.notified();
                if lock(&self.shared.state).phase == Phase::Closed {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(self.stall_timeout, fetched).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let frames = decode_payload("4hello\u{1e}bAQIDBA==\u{1e}2").expect("payload");
        assert_eq!(
            frames,
            vec![
                Frame::Text("4hello".into()),
                Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])),
                Frame::Text("2".into()),
            ]
        );
        assert_eq!(
            encode_payload(frames.into()),
            "4hello\u{1e}bAQIDBA==\u{1e}2"
        );
        assert!(matches!(
            decode_payload("abc"),
            Err(EngineError::UnknownType('a'))
        ));
        assert!(matches!(
            decode_payload("4a\u{1e}"),
            Err(EngineError::Empty)
        ));
        assert!(matches!(
            decode_payload("b!!"),
            Err(EngineError::InvalidBase64)
        ));
    }
}
