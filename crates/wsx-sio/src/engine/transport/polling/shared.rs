//! The state a polling session's HTTP requests and its task share: the queue for the next
//! `GET`, the `GET`/`POST` slots, the phase (polling, upgrading, upgraded, closing), and the
//! rules of engine.io-protocol v4 for each request in each phase.

use super::super::websocket::WsTransport;
use super::super::{Frame, Held};
use super::payload::{decode_payload, encode_payload};
use crate::packet::engine::EngineError;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

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
    /// The client's pong came later than `pingTimeout` (seen by a request before the
    /// session's own timer).
    #[error("ping timeout")]
    PingTimeout,
    /// The client fetched nothing while its queue was over `max_pending_bytes` for longer
    /// than `pingInterval + pingTimeout` (a bound of its own for the Engine.IO-only server;
    /// a Socket.IO server closes such a client as a slow consumer before).
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
pub(super) enum Incoming {
    /// The packets of one `POST`.
    Frames(Vec<Frame>),
    /// The upgraded WebSocket, probe done.
    Upgrade(Box<UpgradeSocket>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
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
pub(super) struct State {
    pub(super) out: VecDeque<Frame>,
    pub(super) phase: Phase,
    pub(super) get_active: bool,
    post_active: bool,
    pub(super) failure: Option<PollingError>,
    /// When the pong of the ping that is out is due.
    pub(super) pong_deadline: Option<Instant>,
}

/// The state a polling session's HTTP requests and its task share.
#[derive(Debug)]
pub struct PollShared {
    pub(super) state: Mutex<State>,
    /// Wakes the waiting `GET`.
    pub(super) readable: Notify,
    /// Wakes the session's task: the queue was fetched, or the session failed.
    pub(super) wake_task: Notify,
    incoming: mpsc::Sender<Incoming>,
    /// The most packets one `GET` answer holds.
    max_poll_packets: usize,
    /// The bytes of `state.out` (updated under the state's lock; read without it by the
    /// connection's outbound bound, see [`super::super::Transport::held`]).
    pub(super) held: Arc<Held>,
}

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
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
    pub(super) fn new(incoming: mpsc::Sender<Incoming>, max_poll_packets: usize) -> Self {
        Self {
            state: Mutex::new(State {
                out: VecDeque::new(),
                phase: Phase::Polling,
                get_active: false,
                post_active: false,
                failure: None,
                pong_deadline: None,
            }),
            readable: Notify::new(),
            wake_task: Notify::new(),
            incoming,
            max_poll_packets: max_poll_packets.max(1),
            held: Arc::default(),
        }
    }

    /// Fails the session: a waiting `GET` gets the close packet, later requests get 400.
    pub(super) fn fail(&self, state: &mut State, error: PollingError) {
        tracing::debug!(%error, "polling session failed");
        state.out.clear();
        self.held.clear();
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

    /// Whether the session is dead by the clock (its pong is overdue): then it is failed,
    /// so that a request that arrives after the deadline is refused even if the session's
    /// timer has not run yet (engine.io-protocol: the session is closed after pingTimeout).
    fn expired(&self, state: &mut State) -> bool {
        if state
            .pong_deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            self.fail(state, PollingError::PingTimeout);
            return true;
        }
        false
    }

    /// A `GET`: waits until packets are queued and returns them as one payload.
    ///
    /// # Errors
    /// The session is unknown (closed) or does not take a `GET` now.
    pub async fn poll(&self) -> Result<String, Refusal> {
        {
            let mut state = lock(&self.state);
            if state.phase != Phase::Closing && self.expired(&mut state) {
                return Err(Refusal::UnknownSid);
            }
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
                if state.phase == Phase::Upgraded {
                    // The queue now belongs to the WebSocket: end this poll empty-handed.
                    return Ok("6".into());
                }
                if !state.out.is_empty() {
                    // At most `max_poll_packets`: the rest waits for the next `GET`.
                    let take = state.out.len().min(self.max_poll_packets);
                    let frames: VecDeque<Frame> = state.out.drain(..take).collect();
                    let taken: usize = frames.iter().map(Frame::len).sum();
                    self.held.sub(taken);
                    if state.phase == Phase::Closing && state.out.is_empty() {
                        state.phase = Phase::Closed;
                    }
                    drop(state);
                    self.wake_task.notify_one();
                    return Ok(encode_payload(frames));
                }
                if matches!(state.phase, Phase::Closed | Phase::Closing) {
                    return Err(Refusal::UnknownSid);
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
        if state.phase != Phase::Closing && self.expired(&mut state) {
            return Err(Refusal::UnknownSid);
        }
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
        if frames
            .iter()
            .any(|f| matches!(f, Frame::Text(t) if t.starts_with('3')))
        {
            lock(&self.state).pong_deadline = None;
        }
        if self.incoming.send(Incoming::Frames(frames)).await.is_err() {
            return Err(Refusal::UnknownSid);
        }
        if closes {
            // engine.io: the client's close packet ends the waiting `GET` with a noop, and
            // the session is gone for the requests after it. The client's `GET` may also
            // arrive a moment after this `POST` (two connections, either order): the noop
            // waits for it a short while (the transport's close), then the session is gone.
            let mut state = lock(&self.state);
            state.out.clear();
            self.held.clear();
            state.out.push_back(Frame::Text("6".into()));
            state.phase = Phase::Closing;
            self.readable.notify_waiters();
        }
        Ok(())
    }

    /// The session's heartbeat deadline (see [`super::super::Transport::pong_deadline`]).
    pub(super) fn set_pong_deadline(&self, deadline: Option<Instant>) {
        lock(&self.state).pong_deadline = deadline;
    }

    /// A body that is not UTF-8 arrived: the session is closed.
    pub fn malformed(&self) {
        self.fail(&mut lock(&self.state), PollingError::NotUtf8);
    }

    /// A body larger than `maxPayload` arrived: the session is closed.
    pub fn too_large(&self) {
        self.fail(&mut lock(&self.state), PollingError::TooLarge);
    }

    /// Whether the session moved to its WebSocket (the client sent `5`).
    #[must_use]
    pub fn upgraded(&self) -> bool {
        lock(&self.state).phase == Phase::Upgraded
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
            self.held.add(1);
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
