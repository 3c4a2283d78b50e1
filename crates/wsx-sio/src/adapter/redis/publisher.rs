//! Publishing, shared by both Redis adapters (`PUBLISH` for the classic one, `SPUBLISH` for
//! the sharded one): emitters never wait on Redis. They queue a message and return; one task
//! sends what has queued up, in order. What cannot be queued (the queue is full) or sent
//! (Redis is down, after one retry) is dropped and counted: [`Publisher::failures`], the
//! metric `wsx_sio_redis_publish_failures_total`, and a warning per 1,000.

use redis::aio::ConnectionLike;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// At most this many messages wait to be published; past it, publishing fails at once.
const QUEUE: usize = 1 << 16;
/// At most this many messages go out in one batch.
const BATCH: usize = 512;

/// A message to publish.
struct Outgoing {
    channel: String,
    payload: Vec<u8>,
}

/// How a batch goes out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Batching {
    /// One pipeline (one server: one round trip for the batch).
    Pipeline,
    /// One command after the other (a Redis Cluster: each channel's slot may live on another
    /// node, and redis-rs routes a pipeline as a whole).
    OneByOne,
}

/// The queue in front of the publishing task. Dropping it ends the task.
pub(super) struct Publisher {
    queue: mpsc::Sender<Outgoing>,
    failures: Arc<Failures>,
}

impl Publisher {
    /// Starts the task that sends `command` (`PUBLISH`, `SPUBLISH`) over `conn`, which must
    /// reconnect by itself (a `ConnectionManager`, a cluster connection).
    pub(super) fn start<C>(conn: C, command: &'static str, batching: Batching) -> Self
    where
        C: ConnectionLike + Send + 'static,
    {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let failures = Arc::new(Failures(AtomicU64::new(0)));
        tokio::spawn(run(conn, command, batching, receiver, failures.clone()));
        Self { queue, failures }
    }

    /// Queues a message; `false` (and counted) when the queue is full.
    pub(super) fn publish(&self, channel: String, payload: Vec<u8>) -> bool {
        match self.queue.try_send(Outgoing { channel, payload }) {
            Ok(()) => true,
            Err(_) => {
                self.failures.add(1, "the publish queue is full");
                false
            }
        }
    }

    /// Messages that could not be published since the start.
    pub(super) fn failures(&self) -> u64 {
        self.failures.0.load(Ordering::Relaxed)
    }
}

struct Failures(AtomicU64);

impl Failures {
    fn add(&self, n: usize, why: &str) {
        let before = self.0.fetch_add(n as u64, Ordering::Relaxed);
        metrics::counter!("wsx_sio_redis_publish_failures_total").increment(n as u64);
        // One warning per 1,000 failures: an outage must not flood the log.
        if before.is_multiple_of(1000) {
            tracing::warn!(
                dropped = n,
                total = before + n as u64,
                "redis publish failed: {why}"
            );
        }
    }
}

/// Sends queued messages, a batch at a time, until the queue's sender is dropped.
async fn run<C: ConnectionLike>(
    mut conn: C,
    command: &'static str,
    batching: Batching,
    mut queue: mpsc::Receiver<Outgoing>,
    failures: Arc<Failures>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let failed = match batching {
            Batching::Pipeline => {
                let mut pipe = redis::pipe();
                for message in &batch {
                    pipe.cmd(command)
                        .arg(&message.channel)
                        .arg(&message.payload)
                        .ignore();
                }
                send(&mut conn, &pipe)
                    .await
                    .err()
                    .map(|err| (batch.len(), err))
            }
            Batching::OneByOne => {
                let mut failed = None;
                for (i, message) in batch.iter().enumerate() {
                    let mut pipe = redis::pipe();
                    pipe.cmd(command)
                        .arg(&message.channel)
                        .arg(&message.payload)
                        .ignore();
                    if let Err(err) = send(&mut conn, &pipe).await {
                        // The connection is down: the rest of the batch would fail too.
                        failed = Some((batch.len() - i, err));
                        break;
                    }
                }
                failed
            }
        };
        if let Some((n, err)) = failed {
            failures.add(n, &err.to_string());
        }
        batch.clear();
    }
}

/// Sends once, and once more after a dropped connection: a connection that died while idle
/// is found dead by the first command after it; the connection reconnects, and one more try
/// sends over the new connection (a dropped connection did not deliver it, so this does not
/// duplicate). The Streams adapter's `XADD`s go out through it too.
pub(super) async fn send<C: ConnectionLike>(
    conn: &mut C,
    pipe: &redis::Pipeline,
) -> redis::RedisResult<()> {
    query(conn, pipe).await
}

/// [`send`], keeping the replies (the Streams adapter's entry ids).
pub(super) async fn query<C: ConnectionLike, T: redis::FromRedisValue>(
    conn: &mut C,
    pipe: &redis::Pipeline,
) -> redis::RedisResult<T> {
    let mut sent = pipe.query_async::<T>(conn).await;
    if let Err(err) = &sent
        && (err.is_connection_dropped() || err.is_io_error())
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sent = pipe.query_async::<T>(conn).await;
    }
    sent
}
