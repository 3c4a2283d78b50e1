//! What a server waits for from the other servers, and how it answers their broadcasts with
//! acknowledgements: the bookkeeping both Redis protocols share (the classic one of
//! `lib/index.ts`, the sharded one of socket.io-adapter's `ClusterAdapter`), whatever their
//! message shapes.
//!
//! - [`Requests`]: our requests (fetch, rooms, server-side events with acks), each waiting for
//!   as many answers as servers were counted, failing with [`AdapterError::Timeout`] after the
//!   requests timeout.
//! - [`AckRequests`]: our broadcasts with acknowledgements, each fed the other servers' reports
//!   in arrival order until its own timeout (then late reports are dropped, as Node does).
//! - [`answer_ack_broadcast`]: another server's broadcast with acknowledgements, sent to our
//!   sockets; the client count, then each acknowledgement, handed back to be published.

use super::random_id;
use crate::adapter::{AckReport, AckWait, AdapterError, Host};
use crate::args::Args;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A request of ours waiting for answers.
struct Pending<T> {
    expected: usize,
    answers: Vec<T>,
    done: Option<oneshot::Sender<Vec<T>>>,
}

/// Our requests waiting for answers, by request id.
pub(super) struct Requests<T> {
    pending: Mutex<HashMap<String, Pending<T>>>,
}

impl<T> Default for Requests<T> {
    fn default() -> Self {
        Self {
            pending: Mutex::default(),
        }
    }
}

/// A request opened with [`Requests::open`]: its id, to publish, and its answers.
pub(super) struct Opened<T> {
    pub(super) id: String,
    answers: oneshot::Receiver<Vec<T>>,
    expected: usize,
}

impl<T: Send + 'static> Requests<T> {
    /// Registers a new request expecting `expected` answers (before it is published, so that
    /// no answer can come first).
    pub(super) fn open(&self, expected: usize) -> Opened<T> {
        let id = random_id(12);
        let (done, answers) = oneshot::channel();
        self.lock().insert(
            id.clone(),
            Pending {
                expected,
                answers: Vec::new(),
                done: Some(done),
            },
        );
        Opened {
            id,
            answers,
            expected,
        }
    }

    /// Forgets a request that could not be published.
    pub(super) fn cancel(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Collects an answer to the request `id` (ignored when it is not ours, or is over).
    pub(super) fn answer(&self, id: &str, answer: T) {
        let mut pending = self.lock();
        let Some(request) = pending.get_mut(id) else {
            return;
        };
        request.answers.push(answer);
        if request.answers.len() >= request.expected
            && let Some(request) = pending.remove(id)
            && let Some(done) = request.done
        {
            let _ = done.send(request.answers);
        }
    }

    /// Waits at most `timeout` for every answer of `opened`.
    ///
    /// # Errors
    /// [`AdapterError::Timeout`], with how many answers came.
    pub(super) async fn wait(
        &self,
        opened: Opened<T>,
        timeout: Duration,
    ) -> Result<Vec<T>, AdapterError> {
        match tokio::time::timeout(timeout, opened.answers).await {
            Ok(Ok(answers)) => Ok(answers),
            _ => {
                let got = self
                    .lock()
                    .remove(&opened.id)
                    .map_or(0, |p| p.answers.len());
                Err(AdapterError::Timeout {
                    got,
                    expected: opened.expected,
                })
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Pending<T>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Our broadcasts with acknowledgements waiting for the other servers' reports.
#[derive(Default)]
pub(super) struct AckRequests {
    waiting: Mutex<HashMap<String, mpsc::UnboundedSender<AckReport>>>,
}

impl AckRequests {
    /// Registers a broadcast with acknowledgements; its reports come through the receiver
    /// until `timeout` has passed. Returns its request id.
    pub(super) fn open(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> (String, mpsc::UnboundedReceiver<AckReport>) {
        let id = random_id(12);
        let (reports, received) = mpsc::unbounded_channel();
        self.lock().insert(id.clone(), reports);
        let requests = Arc::downgrade(self);
        let forget = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(requests) = requests.upgrade() {
                requests.lock().remove(&forget);
            }
        });
        (id, received)
    }

    /// Forgets a broadcast that could not be published.
    pub(super) fn cancel(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Passes a report on to the broadcast `id` (dropped when it is not ours, or is over).
    pub(super) fn report(&self, id: &str, report: AckReport) {
        let mut waiting = self.lock();
        if let Some(reports) = waiting.get(id)
            && reports.send(report).is_err()
        {
            // Nobody waits any more (the caller gave up): forget it now.
            waiting.remove(id);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<AckReport>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Another server's broadcast with acknowledgements, sent to this server's sockets among
/// `targets` with `flags`: each gets the event with an ack id (encoded once for all); the
/// waits for their answers, for [`answer_ack_broadcast`].
pub(super) fn emit_acks(
    host: &dyn Host,
    targets: &[crate::sid::Sid],
    event: &str,
    args: &Args,
    timeout: Duration,
    flags: crate::rooms::EmitFlags,
) -> Vec<AckWait> {
    if targets.is_empty() {
        Vec::new()
    } else {
        host.emit_many_with_ack(targets, event, args, timeout, flags)
    }
}

/// Answers another server's broadcast with acknowledgements sent as `waits` ([`emit_acks`]):
/// `count` is called with how many sockets got it, before `ack` is called with each
/// acknowledgement's arguments (one task per broadcast, not per socket, polls them
/// together).
pub(super) fn answer_ack_broadcast(
    waits: Vec<AckWait>,
    count: impl FnOnce(usize),
    ack: impl Fn(Args) + Send + 'static,
) {
    count(waits.len());
    if waits.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut waits: FuturesUnordered<_> = waits.into_iter().collect();
        while let Some(answer) = waits.next().await {
            if let Ok(args) = answer {
                ack(args);
            }
        }
    });
}

/// The timeout another server gave its broadcast with acknowledgements (milliseconds; 5 s
/// when it gave none, at most 10 minutes).
pub(super) fn ack_timeout(timeout_ms: Option<u64>) -> Duration {
    Duration::from_millis(timeout_ms.unwrap_or(5000).min(600_000))
}
