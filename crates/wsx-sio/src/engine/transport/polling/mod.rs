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

mod payload;
mod shared;

pub use shared::{PollShared, PollingError, Refusal, Slot, UpgradeSocket};

use super::{CloseCause, Frame, Held, Transport, TransportError, Wire};
use crate::sid::Sid;
use shared::{Incoming, Phase, lock};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// The bounds of a polling session.
#[derive(Debug, Clone, Copy)]
pub struct PollLimits {
    /// Bytes queued for the client past which the session waits for a `GET` (the server's
    /// `max_pending_bytes`; a Socket.IO connection counts these bytes in its own bound, see
    /// [`Transport::held`], and closes a client past it before this wait is long).
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

    /// How many polling sessions are open and not upgraded (Node's admin UI's
    /// `pollingClientsCount`).
    #[must_use]
    pub fn polling_count(&self) -> usize {
        let sessions: Vec<Arc<PollShared>> = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        // Each session's own lock is taken with the map's released.
        sessions.iter().filter(|s| !s.upgraded()).count()
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
        self.shared.held.clear();
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

/// How long a session the client closed keeps the noop for a `GET` that arrives just after the
/// close `POST`.
const CLIENT_CLOSE_GRACE: Duration = Duration::from_secs(1);

impl Transport for PollingTransport {
    fn held(&self) -> Option<Arc<Held>> {
        Some(self.shared.held.clone())
    }

    fn pong_deadline(&mut self, deadline: Option<std::time::Instant>) {
        if self.ws.is_none() {
            self.shared.set_pong_deadline(deadline);
        }
    }

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

    async fn feed_wire(&mut self, frame: Frame, wire: Wire) -> Result<(), TransportError> {
        match &mut self.ws {
            // Upgraded: no broadcast was encoded for this WebSocket's settings (the outbox
            // knew only the polling transport), but an uncompressed frame is the same on all.
            Some(ws) if wire == Wire::Uncompressed => {
                ws.drain(&mut self.backlog).await?;
                ws.feed_wire(frame, wire).await
            }
            _ => self.feed(frame).await,
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
                self.shared.held.add(frame.len());
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
                    if self.shared.held.get() <= self.queue_limit
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
        let wait = {
            let mut state = lock(&self.shared.state);
            match state.phase {
                Phase::Closed => return,
                // Closed by the client (or failed with a `GET` waiting): its last answer is
                // queued; a `GET` that is on its way gets it.
                Phase::Closing => CLIENT_CLOSE_GRACE,
                Phase::Polling | Phase::Upgrading | Phase::Upgraded => {
                    if matches!(cause, CloseCause::PeerGone | CloseCause::Overflow) {
                        // The client is gone or broke the heartbeat: a waiting `GET` gets the
                        // close packet, nothing waits for another one. A slow consumer's
                        // backlog is let go at once too: its next `GET` gets the close packet
                        // alone (it reconnects), within the stall timeout.
                        state.out.clear();
                        self.shared.held.clear();
                        if cause == CloseCause::PeerGone && !state.get_active {
                            state.phase = Phase::Closed;
                            return;
                        }
                    }
                    // Closed on purpose: what is queued and the close packet go with the
                    // next `GET`.
                    state.out.push_back(Frame::Text("1".into()));
                    state.phase = Phase::Closing;
                    self.stall_timeout
                }
            }
        };
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
        let _ = tokio::time::timeout(wait, fetched).await;
    }
}
