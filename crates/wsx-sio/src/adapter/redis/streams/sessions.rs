//! The session keys' traffic, batched (issue 27 §3, recovery storms): Node takes each
//! session with its own `MULTI GET DEL EXEC` and stores each with its own `SET .. PX`; here
//! one task takes every request that arrived meanwhile (up to [`BATCH`]) and sends them in
//! one `MULTI`: the `SET`s and `DEL`s in arrival order, then one `MGET` of the keys to take
//! and one `DEL` of them. A thousand clients recovering at once cost a few round trips, not a thousand.
//!
//! The keys and values are Node's (`session.rs`), so a Node server of the cluster reads what
//! this one stores and the other way round; taking a key with `GET`+`DEL` in one `MULTI` is
//! atomic as Node's is, so two servers never both restore one session.

use redis::Value as Rv;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// At most this many requests go out in one `MULTI`.
const BATCH: usize = 512;

enum Op {
    Set {
        key: String,
        value: String,
        ttl: Duration,
    },
    Take {
        key: String,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    Del {
        key: String,
    },
}

/// The handle of the session task. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Sessions {
    queue: mpsc::UnboundedSender<Op>,
}

impl Sessions {
    /// Starts the task on `conn` (call inside a Tokio runtime).
    pub(crate) fn start(conn: redis::aio::ConnectionManager) -> Self {
        let (queue, ops) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, ops));
        Self { queue }
    }

    /// Stores `value` under `key` for `ttl` (`SET key value PX ms`).
    pub(crate) fn set(&self, key: String, value: String, ttl: Duration) {
        let _ = self.queue.send(Op::Set { key, value, ttl });
    }

    /// Deletes `key`.
    pub(crate) fn del(&self, key: String) {
        let _ = self.queue.send(Op::Del { key });
    }

    /// Takes the value of `key` (`GET` and `DEL`, atomically); `None` when there is none or
    /// Redis could not be asked.
    pub(crate) async fn take(&self, key: String) -> Option<Vec<u8>> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Op::Take { key, reply }).ok()?;
        answer.await.ok().flatten()
    }
}

async fn run(mut conn: redis::aio::ConnectionManager, mut ops: mpsc::UnboundedReceiver<Op>) {
    let mut batch = Vec::with_capacity(BATCH);
    while ops.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut takes = Vec::new();
        for op in batch.drain(..) {
            match op {
                Op::Set { key, value, ttl } => {
                    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("PX")
                        .arg(ms)
                        .ignore();
                }
                Op::Take { key, reply } => takes.push((key, reply)),
                Op::Del { key } => {
                    pipe.cmd("DEL").arg(key).ignore();
                }
            }
        }
        if takes.is_empty() {
            if let Err(err) = super::super::publisher::send(&mut conn, &pipe).await {
                tracing::debug!(%err, "redis streams adapter: session SET failed");
            }
            continue;
        }
        let keys: Vec<&str> = takes.iter().map(|(k, _)| k.as_str()).collect();
        pipe.cmd("MGET").arg(&keys);
        pipe.cmd("DEL").arg(&keys).ignore();
        // An atomic pipeline answers with the replies not ignored: the `MGET`'s.
        let values: Vec<Option<Vec<u8>>> =
            match super::super::publisher::query::<_, (Vec<Rv>,)>(&mut conn, &pipe).await {
                Ok((values,)) => values
                    .into_iter()
                    .map(|v| match v {
                        Rv::BulkString(bytes) => Some(bytes),
                        _ => None,
                    })
                    .collect(),
                Err(err) => {
                    tracing::debug!(%err, "redis streams adapter: session GET+DEL failed");
                    Vec::new()
                }
            };
        let mut values = values.into_iter();
        for (_, reply) in takes {
            let _ = reply.send(values.next().flatten());
        }
    }
}
