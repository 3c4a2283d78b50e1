//! The Streams adapter's two Redis connections: one that appends our messages to the stream
//! (`XADD .. MAXLEN ~ n *`, pipelined in batches from a queue, so that the stream holds them
//! in the order they were sent, retried once on a dropped connection as the publisher does), and one that reads it (`XREAD BLOCK .. COUNT .. STREAMS s <id>`) and
//! hands each entry to its namespace's adapter.
//!
//! The reader starts from the stream's last entry as it was when the link connected (not `$`
//! at its first read, which would miss what other servers wrote in between), and after an
//! error reconnects and goes on from the last id it handled, so an outage shorter than the
//! stream's length loses nothing.

use super::super::sharded::ShardedAdapter;
use super::super::sharded::message::Message;
use super::StreamsOptions;
use super::entry;
use redis::Value as Rv;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many messages may wait to be appended before an emit reports the queue full.
const QUEUE: usize = 4096;
/// At most this many entries go out in one pipeline.
const BATCH: usize = 256;

/// One server's stream link, shared by its namespaces' adapters.
pub(crate) struct StreamLink {
    queue: mpsc::Sender<Vec<(&'static str, String)>>,
    namespaces: RwLock<HashMap<String, Weak<ShardedAdapter>>>,
    failures: Arc<AtomicU64>,
}

impl StreamLink {
    /// Connects both connections and starts their tasks.
    pub(crate) async fn connect(
        client: redis::Client,
        options: Arc<StreamsOptions>,
    ) -> redis::RedisResult<Arc<Self>> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let mut writer = client.get_connection_manager_with_config(config).await?;
        // Where reading starts: the last entry now ("0-0" for an empty stream).
        let last: Rv = redis::cmd("XREVRANGE")
            .arg(&options.stream_name)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut writer)
            .await?;
        let start = entries(last)
            .last()
            .map_or_else(|| "0-0".to_owned(), |(id, _)| id.clone());
        let reader = reader_connection(&client, &options).await?;
        let (queue, to_write) = mpsc::channel(QUEUE);
        let link = Arc::new(Self {
            queue,
            namespaces: RwLock::default(),
            failures: Arc::default(),
        });
        tokio::spawn(write(
            writer,
            options.clone(),
            to_write,
            link.failures.clone(),
        ));
        tokio::spawn(read(Arc::downgrade(&link), client, reader, options, start));
        Ok(link)
    }

    /// Hands the stream's messages for `nsp` to `adapter`.
    pub(crate) fn register(&self, nsp: &str, adapter: Weak<ShardedAdapter>) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned(), adapter);
    }

    /// Stops handing `nsp`'s messages on.
    pub(crate) fn unregister(&self, nsp: &str) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(nsp);
    }

    /// Queues an entry; false when the queue is full (the entry is dropped and counted).
    pub(crate) fn append(&self, fields: Vec<(&'static str, String)>) -> bool {
        let queued = self.queue.try_send(fields).is_ok();
        if !queued {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Entries that could not be appended since the start.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn dispatch(&self, message: Message) {
        let adapter = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&message.nsp)
            .and_then(Weak::upgrade);
        if let Some(adapter) = adapter {
            adapter.on_message(message);
        }
    }
}

async fn reader_connection(
    client: &redis::Client,
    options: &StreamsOptions,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    // A blocked XREAD answers after at most `block_time`: wait that long and a little more.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(options.block_time + Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Appends queued entries, a batch in one pipeline, in order; a batch that cannot be sent
/// (after the shared publisher's one retry on a dropped connection) is counted and dropped.
async fn write(
    mut conn: redis::aio::ConnectionManager,
    options: Arc<StreamsOptions>,
    mut to_write: mpsc::Receiver<Vec<(&'static str, String)>>,
    failures: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while to_write.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for fields in batch.drain(..) {
            let cmd = pipe
                .cmd("XADD")
                .arg(&options.stream_name)
                .arg("MAXLEN")
                .arg("~")
                .arg(options.max_len)
                .arg("*");
            for (name, value) in fields {
                cmd.arg(name).arg(value);
            }
            cmd.ignore();
        }
        if let Err(err) = super::super::publisher::send(&mut conn, &pipe).await {
            failures.fetch_add(pipe.len() as u64, Ordering::Relaxed);
            tracing::debug!(%err, "redis streams adapter: XADD failed");
        }
    }
}

async fn read(
    link: Weak<StreamLink>,
    client: redis::Client,
    mut conn: redis::aio::MultiplexedConnection,
    options: Arc<StreamsOptions>,
    mut last: String,
) {
    let block_ms = u64::try_from(options.block_time.as_millis()).unwrap_or(u64::MAX);
    loop {
        if link.strong_count() == 0 {
            return;
        }
        let reply: redis::RedisResult<Rv> = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(block_ms)
            .arg("COUNT")
            .arg(options.read_count)
            .arg("STREAMS")
            .arg(&options.stream_name)
            .arg(&last)
            .query_async(&mut conn)
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                tracing::debug!(%err, "redis streams adapter: XREAD failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(fresh) = reader_connection(&client, &options).await {
                    conn = fresh;
                }
                continue;
            }
        };
        let Some(link) = link.upgrade() else { return };
        // `[[stream, [[id, [field, value, ..]], ..]]]`, or nil when the block timed out.
        let Rv::Array(streams) = reply else { continue };
        for stream in streams {
            let Rv::Array(mut pair) = stream else {
                continue;
            };
            let Some(found) = pair.pop() else { continue };
            for (id, fields) in entries(found) {
                match entry::decode(fields.iter().map(|(k, v)| (k.as_str(), v.as_slice()))) {
                    Ok(message) => link.dispatch(message),
                    Err(err) => tracing::debug!(%err, %id, "redis streams adapter: entry skipped"),
                }
                last = id;
            }
        }
    }
}

type Fields = Vec<(String, Vec<u8>)>;

/// The entries of an `XRANGE`/`XREAD` reply part: `[[id, [field, value, ..]], ..]`.
fn entries(reply: Rv) -> Vec<(String, Fields)> {
    let Rv::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Rv::Array(mut pair) = item else {
                return None;
            };
            if pair.len() != 2 {
                return None;
            }
            let fields = pair.pop()?;
            let id = text(pair.pop()?)?;
            let Rv::Array(flat) = fields else {
                return Some((id, Vec::new()));
            };
            let mut fields = Vec::new();
            let mut flat = flat.into_iter();
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                if let (Some(name), Rv::BulkString(value)) = (text(name), value) {
                    fields.push((name, value));
                }
            }
            Some((id, fields))
        })
        .collect()
}

fn text(value: Rv) -> Option<String> {
    match value {
        Rv::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Rv::SimpleString(s) => Some(s),
        _ => None,
    }
}
