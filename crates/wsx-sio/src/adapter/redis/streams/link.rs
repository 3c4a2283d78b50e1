//! The Streams adapter's two Redis connections: one that appends our messages to the stream
//! (`XADD .. MAXLEN ~ n *`, pipelined in batches from a queue, so that the stream holds them
//! in the order they were sent, retried once on a dropped connection as the publisher does), and one that reads it (`XREAD BLOCK .. COUNT .. STREAMS s <id>`) and
//! hands each entry to its namespace's adapter.
//!
//! With connection state recovery on ([`super::StreamsRedis::recovery`]), the writer hands
//! each entry id back to whoever waits for it (the namespace's local delivery, `offsets.rs`),
//! and the reader keeps the decoded tail in the ring (`ring.rs`) and delivers other servers'
//! broadcasts with their entry id appended (the offset).
//!
//! The reader starts from the stream's last entry as it was when the link connected (not `$`
//! at its first read, which would miss what other servers wrote in between), and after an
//! error reconnects and goes on from the last id it handled, so an outage shorter than the
//! stream's length loses nothing.

use super::super::sharded::ShardedAdapter;
use super::super::sharded::message::Message;
use super::StreamsOptions;
use super::entry;
use super::ring::{EntryId, Logged, Replay, Ring};
use crate::adapter::{Adapter, Host, OffsetDelivery};
use redis::Value as Rv;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How many messages may wait to be appended before an emit reports the queue full.
const QUEUE: usize = 4096;
/// At most this many entries go out in one pipeline.
const BATCH: usize = 256;

/// An entry waiting to be appended, and who waits for its id.
struct Queued {
    fields: Vec<(&'static str, String)>,
    deliver: Option<OffsetDelivery>,
}

/// One server's stream link, shared by its namespaces' adapters.
pub(crate) struct StreamLink {
    queue: mpsc::Sender<Queued>,
    namespaces: RwLock<HashMap<String, Weak<ShardedAdapter>>>,
    failures: Arc<AtomicU64>,
    /// This server's id (its own entries are not delivered again).
    uid: Arc<str>,
    /// The namespaces as hosts, for the broadcasts delivered with their offsets.
    hosts: RwLock<HashMap<String, Weak<dyn Host>>>,
    /// Connection state recovery is on: offsets are entry ids, and the ring is kept.
    offsets: AtomicBool,
    /// Sockets whose rooms changed since the store last looked (`store.rs` keeps their
    /// sessions up to date in Redis), when offsets are on.
    touched: Mutex<Vec<(String, crate::sid::Sid)>>,
    /// The stream's tail as read (`ring.rs`), and its last id for restores to wait on.
    ring: Mutex<Ring>,
    last_read: watch::Sender<EntryId>,
    /// For the restores' reads (`XRANGE`) and session keys: the writer's connection (the
    /// manager multiplexes; reconnects by itself).
    pub(crate) conn: redis::aio::ConnectionManager,
    pub(crate) options: Arc<StreamsOptions>,
}

impl StreamLink {
    /// Connects both connections and starts their tasks.
    pub(crate) async fn connect(
        client: redis::Client,
        options: Arc<StreamsOptions>,
        uid: Arc<str>,
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
        let from = EntryId::parse(&start).unwrap_or(EntryId(0, 0));
        let link = Arc::new(Self {
            queue,
            namespaces: RwLock::default(),
            failures: Arc::default(),
            uid,
            hosts: RwLock::default(),
            offsets: AtomicBool::new(false),
            touched: Mutex::default(),
            ring: Mutex::new(Ring::new(from, options.max_len)),
            last_read: watch::Sender::new(from),
            conn: writer.clone(),
            options: options.clone(),
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
        self.hosts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(nsp);
    }

    /// The namespace `nsp` as a host, for the broadcasts delivered with their offsets.
    pub(crate) fn register_host(&self, nsp: &str, host: Weak<dyn Host>) {
        self.hosts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned(), host);
    }

    /// Turns connection state recovery's offsets on (entry ids; the ring is kept from now).
    pub(crate) fn enable_offsets(&self) {
        self.offsets.store(true, Ordering::Release);
    }

    /// The rooms of socket `sid` of `nsp` changed (with offsets on: recovery is on).
    pub(crate) fn touch(&self, nsp: &str, sid: crate::sid::Sid) {
        if self.offsets() {
            self.touched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((nsp.to_owned(), sid));
        }
    }

    /// The sockets whose rooms changed since the last call.
    pub(crate) fn take_touched(&self) -> Vec<(String, crate::sid::Sid)> {
        std::mem::take(&mut *self.touched.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether offsets are entry ids.
    pub(crate) fn offsets(&self) -> bool {
        self.offsets.load(Ordering::Acquire)
    }

    /// What the ring knows after `offset`, once the reader got as far as `offset` (another
    /// server may have handed it out before our `XREAD` returned it: wait up to `wait`).
    pub(crate) async fn after(&self, offset: EntryId, wait: Duration) -> super::ring::After {
        let mut last = self.last_read.subscribe();
        let _ = tokio::time::timeout(wait, last.wait_for(|last| *last >= offset)).await;
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .after(offset)
    }

    /// Queues an entry; false when the queue is full (the entry is dropped and counted).
    pub(crate) fn append(&self, fields: Vec<(&'static str, String)>) -> bool {
        self.append_then(fields, None).is_ok()
    }

    /// Queues an entry, and `deliver` to call with its id once appended (with `None` if it
    /// could not be); gives `deliver` back when the queue is full.
    pub(crate) fn append_then(
        &self,
        fields: Vec<(&'static str, String)>,
        deliver: Option<OffsetDelivery>,
    ) -> Result<(), Option<OffsetDelivery>> {
        match self.queue.try_send(Queued { fields, deliver }) {
            Ok(()) => Ok(()),
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(err.into_inner().deliver)
            }
        }
    }

    /// An entry the reader read: kept in the ring when offsets are on, then handed on (a
    /// broadcast of another server delivered here with its id appended).
    fn on_entry(&self, id: &str, mut message: super::super::sharded::message::Message) {
        if !self.offsets() {
            self.dispatch(message);
            return;
        }
        let Some(entry_id) = EntryId::parse(id) else {
            self.dispatch(message);
            return;
        };
        let plain = Replay::is_plain_broadcast(&message);
        let replay = if plain {
            Replay::of(&mut message)
        } else {
            None
        };
        let logged = Arc::new(Logged {
            id: entry_id,
            nsp: message.nsp.clone(),
            replay,
        });
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(logged.clone());
        if !plain {
            self.dispatch(message);
        } else if let Some(replay) = &logged.replay
            && *message.uid != *self.uid
        {
            self.deliver(&logged.nsp, replay, id);
        }
    }

    /// Another server's broadcast to this server's sockets, its entry id appended.
    fn deliver(&self, nsp: &str, replay: &Replay, id: &str) {
        let adapter = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(nsp)
            .and_then(Weak::upgrade);
        let host = self
            .hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(nsp)
            .and_then(Weak::upgrade);
        let (Some(adapter), Some(host)) = (adapter, host) else {
            return;
        };
        let targets = adapter.local_targets(&replay.opts, &*host);
        if targets.is_empty() {
            return;
        }
        let offset = (!replay.volatile).then_some(id);
        let frames = replay.frames(host.parser(), nsp, offset);
        let sent = host.push(&targets, &frames);
        crate::metrics::events_sent(nsp, sent);
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
    mut to_write: mpsc::Receiver<Queued>,
    failures: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::with_capacity(BATCH);
    while to_write.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for Queued { fields, deliver } in batch.drain(..) {
            waiting.push(deliver);
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
        }
        // The ids, in order: each to whoever waits for it (`offsets.rs`), in order too.
        let ids: Vec<Option<String>> =
            match super::super::publisher::query::<_, Vec<Rv>>(&mut conn, &pipe).await {
                Ok(ids) => ids.into_iter().map(text).collect(),
                Err(err) => {
                    failures.fetch_add(pipe.len() as u64, Ordering::Relaxed);
                    tracing::debug!(%err, "redis streams adapter: XADD failed");
                    Vec::new()
                }
            };
        let mut ids = ids.into_iter();
        for deliver in waiting.drain(..) {
            let id = ids.next().flatten();
            if let Some(deliver) = deliver {
                deliver(id);
            }
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
        let mut read_any = false;
        // `[[stream, [[id, [field, value, ..]], ..]]]`, or nil when the block timed out.
        let Rv::Array(streams) = reply else { continue };
        for stream in streams {
            let Rv::Array(mut pair) = stream else {
                continue;
            };
            let Some(found) = pair.pop() else { continue };
            for (id, fields) in entries(found) {
                match entry::decode(fields.iter().map(|(k, v)| (k.as_str(), v.as_slice()))) {
                    Ok(message) => link.on_entry(&id, message),
                    Err(err) => tracing::debug!(%err, %id, "redis streams adapter: entry skipped"),
                }
                last = id;
                read_any = true;
            }
        }
        if read_any && let Some(id) = EntryId::parse(&last) {
            link.last_read.send_replace(id);
        }
    }
}

pub(crate) type Fields = Vec<(String, Vec<u8>)>;

/// The entries of an `XRANGE`/`XREAD` reply part: `[[id, [field, value, ..]], ..]`.
pub(crate) fn entries(reply: Rv) -> Vec<(String, Fields)> {
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
