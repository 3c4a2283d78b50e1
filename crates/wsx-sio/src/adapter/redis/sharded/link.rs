//! The sharded adapter's connections, shared by all the namespaces of a server:
//!
//! - commands: `SPUBLISH` (through `publisher.rs`'s queue and task, shared with the classic
//!   adapter) and `PUBSUB SHARDNUMSUB`, over a `ConnectionManager` (one Redis) or a cluster
//!   connection (Redis Cluster: each command goes to the node that owns its channel's slot;
//!   `SHARDNUMSUB` is asked of every node and summed, as Node's `PUBSUB` helper does).
//! - subscriptions: one RESP3 connection whose pushes (`smessage`) come through a channel.
//!   redis-rs has no sharded subscribe on its single-server pub/sub connection, so on one
//!   Redis this is a multiplexed connection on which `SSUBSCRIBE` is sent one channel at a
//!   time (one confirmation per command, which redis-rs pairs with the command); on a Redis
//!   Cluster it is the cluster connection's own `ssubscribe`, which sends each channel to the
//!   node of its slot. One task owns it: it connects, subscribes every wanted channel, hands
//!   each message to its namespace; on a lost connection it backs off (100 ms doubling to
//!   2 s), connects again and subscribes again.
//!
//! The same link speaks classic pub/sub (`SUBSCRIBE`, `PUBLISH`, `PUBSUB NUMSUB`, `message`
//! pushes) in the [`PubSub::Classic`] flavor: the Streams adapter's ephemeral messages travel
//! there by default, as Node's `@socket.io/redis-streams-adapter` sends them
//! (`super::super::streams`).
//!
//! The wanted channels are a set (each namespace's two, plus one per room in the dynamic
//! mode); a change is sent to the task, which applies it before it dispatches the next
//! message, so a subscription asked while handling a message (another server's `socketsJoin`)
//! is made before anything published after that message is read.

use super::ShardedNs;
use super::message;
use crate::adapter::redis::publisher::{Batching, Publisher};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, PushKind};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Which pub/sub the link speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PubSub {
    /// Redis 7's sharded pub/sub: `SSUBSCRIBE`, `SPUBLISH`, `PUBSUB SHARDNUMSUB`.
    Sharded,
    /// Classic pub/sub: `SUBSCRIBE`, `PUBLISH`, `PUBSUB NUMSUB` (on a Redis Cluster a
    /// classic message reaches every node, and each node counts its own subscribers).
    Classic,
}

impl PubSub {
    fn publish(self) -> &'static str {
        match self {
            Self::Sharded => "SPUBLISH",
            Self::Classic => "PUBLISH",
        }
    }

    fn numsub(self) -> &'static str {
        match self {
            Self::Sharded => "SHARDNUMSUB",
            Self::Classic => "NUMSUB",
        }
    }

    fn message(self) -> PushKind {
        match self {
            Self::Sharded => PushKind::SMessage,
            Self::Classic => PushKind::Message,
        }
    }
}

/// Where Redis is.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// One server.
    Single(ConnectionInfo),
    /// A Redis Cluster, by some of its nodes.
    Cluster(Vec<ConnectionInfo>),
}

impl Endpoint {
    fn resp3(info: &ConnectionInfo) -> ConnectionInfo {
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        info.clone().set_redis_settings(redis)
    }
}

/// The command connection.
#[derive(Clone)]
enum Commands {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The subscription connection.
enum Subscriber {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Subscriber {
    async fn connect(
        endpoint: &Endpoint,
    ) -> redis::RedisResult<(Self, mpsc::UnboundedReceiver<redis::PushInfo>)> {
        let (pushes, received) = mpsc::unbounded_channel();
        let conn = match endpoint {
            Endpoint::Single(info) => {
                let client = redis::Client::open(Endpoint::resp3(info))?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_push_sender(pushes);
                Self::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                )
            }
            Endpoint::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.iter().map(Endpoint::resp3))
                    .use_protocol(ProtocolVersion::RESP3)
                    .connection_timeout(Duration::from_secs(2))
                    .response_timeout(Duration::from_secs(2))
                    .push_sender(pushes)
                    .build()?;
                Self::Cluster(client.get_async_connection().await?)
            }
        };
        Ok((conn, received))
    }

    async fn subscribe(&mut self, pubsub: PubSub, channel: &str) -> redis::RedisResult<()> {
        match (self, pubsub) {
            // One channel per command: one confirmation, which is the command's reply.
            (Self::Single(conn), PubSub::Sharded) => {
                redis::cmd("SSUBSCRIBE").arg(channel).exec_async(conn).await
            }
            (Self::Single(conn), PubSub::Classic) => conn.subscribe(channel).await,
            (Self::Cluster(conn), PubSub::Sharded) => conn.ssubscribe(channel).await,
            (Self::Cluster(conn), PubSub::Classic) => conn.subscribe(channel).await,
        }
    }

    async fn unsubscribe(&mut self, pubsub: PubSub, channel: &str) -> redis::RedisResult<()> {
        match (self, pubsub) {
            (Self::Single(conn), PubSub::Sharded) => {
                redis::cmd("SUNSUBSCRIBE")
                    .arg(channel)
                    .exec_async(conn)
                    .await
            }
            (Self::Single(conn), PubSub::Classic) => conn.unsubscribe(channel).await,
            (Self::Cluster(conn), PubSub::Sharded) => conn.sunsubscribe(channel).await,
            (Self::Cluster(conn), PubSub::Classic) => conn.unsubscribe(channel).await,
        }
    }
}

/// A change of the wanted channels, for the subscriber task.
enum Change {
    Subscribe(String),
    /// The sender learns when it is done (dropped: the connection is down, so nothing is
    /// subscribed).
    Unsubscribe(String, Option<oneshot::Sender<()>>),
}

#[derive(Default)]
struct Subscriptions {
    /// The channels wanted.
    wanted: HashSet<String>,
    /// The channels Redis confirmed on the current connection.
    confirmed: HashSet<String>,
    /// Whether the subscription connection is up.
    up: bool,
}

/// The shared connections. See the module docs.
pub(crate) struct ShardLink {
    pubsub: PubSub,
    publisher: Publisher,
    commands: Commands,
    changes: mpsc::UnboundedSender<Change>,
    subscriptions: Mutex<Subscriptions>,
    /// Bumped whenever a subscription is confirmed (for [`ShardLink::wait_subscribed`]).
    confirmations: watch::Sender<u64>,
    namespaces: RwLock<HashMap<String, Weak<ShardedNs>>>,
}

impl ShardLink {
    /// Connects both connections; fails when Redis cannot be reached now (later outages are
    /// survived).
    pub(crate) async fn connect(
        endpoint: Endpoint,
        pubsub: PubSub,
    ) -> redis::RedisResult<Arc<Self>> {
        let (commands, batching) = match &endpoint {
            Endpoint::Single(info) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                let client = redis::Client::open(info.clone())?;
                let manager = client.get_connection_manager_with_config(config).await?;
                (Commands::Single(manager), Batching::Pipeline)
            }
            Endpoint::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(Duration::from_secs(2))
                    .response_timeout(Duration::from_secs(2))
                    .retries(2)
                    .build()?;
                let conn = client.get_async_connection().await?;
                (Commands::Cluster(conn), Batching::OneByOne)
            }
        };
        let first = Subscriber::connect(&endpoint).await?;
        let publisher = match &commands {
            Commands::Single(conn) => Publisher::start(conn.clone(), pubsub.publish(), batching),
            Commands::Cluster(conn) => Publisher::start(conn.clone(), pubsub.publish(), batching),
        };
        let (changes, to_apply) = mpsc::unbounded_channel();
        let link = Arc::new(Self {
            pubsub,
            publisher,
            commands,
            changes,
            subscriptions: Mutex::default(),
            confirmations: watch::Sender::new(0),
            namespaces: RwLock::default(),
        });
        tokio::spawn(subscriber(
            Arc::downgrade(&link),
            endpoint,
            Some(first),
            to_apply,
        ));
        Ok(link)
    }

    /// Registers a namespace: messages for it are handed to it.
    pub(crate) fn register(&self, adapter: &Arc<ShardedNs>) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(adapter.nsp.clone(), Arc::downgrade(adapter));
    }

    /// Forgets a namespace.
    pub(crate) fn unregister(&self, nsp: &str) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(nsp);
    }

    /// Subscribes a channel, now and after every reconnection.
    pub(crate) fn subscribe(&self, channel: &str) {
        if self.lock().wanted.insert(channel.to_owned()) {
            let _ = self.changes.send(Change::Subscribe(channel.to_owned()));
        }
    }

    /// Unsubscribes a channel; the returned receiver says when Redis confirmed it.
    pub(crate) fn unsubscribe(&self, channel: &str) -> oneshot::Receiver<()> {
        let (done, confirmed) = oneshot::channel();
        let mut subscriptions = self.lock();
        if subscriptions.wanted.remove(channel) {
            subscriptions.confirmed.remove(channel);
            let _ = self
                .changes
                .send(Change::Unsubscribe(channel.to_owned(), Some(done)));
        }
        confirmed
    }

    /// Queues a message for `SPUBLISH` (`PUBLISH`); `false` (and counted) when the queue is
    /// full.
    pub(crate) fn publish(&self, channel: String, payload: Vec<u8>) -> bool {
        self.publisher.publish(channel, payload)
    }

    /// How many subscribers a channel has on the whole of Redis (`PUBSUB SHARDNUMSUB`, or
    /// `NUMSUB` in the classic flavor; every node's count summed on a cluster, as Node's
    /// `PUBSUB` helpers do): the number of servers.
    pub(crate) async fn numsub(&self, channel: &str) -> redis::RedisResult<usize> {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg(self.pubsub.numsub()).arg(channel);
        let value: redis::Value = match self.commands.clone() {
            Commands::Single(mut conn) => cmd.query_async(&mut conn).await?,
            Commands::Cluster(mut conn) => cmd.query_async(&mut conn).await?,
        };
        Ok(numsub_count(&value, channel))
    }

    /// Runs a plain command on the commands connection (on a cluster, on the node that owns
    /// its key): the forwarding's address book (`nodes.rs`).
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        match self.commands.clone() {
            Commands::Single(mut conn) => cmd.query_async(&mut conn).await,
            Commands::Cluster(mut conn) => cmd.query_async(&mut conn).await,
        }
    }

    /// Messages that could not be published since the start.
    pub(crate) fn publish_failures(&self) -> u64 {
        self.publisher.failures()
    }

    /// Whether the subscription connection is up and every wanted channel confirmed.
    pub(crate) fn subscribed(&self) -> bool {
        let subscriptions = self.lock();
        subscriptions.up && subscriptions.wanted.is_subset(&subscriptions.confirmed)
    }

    /// Waits at most `timeout` for [`Self::subscribed`]; returns it.
    pub(crate) async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut changes = self.confirmations.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            while !self.subscribed() {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        });
        let _ = waited.await;
        self.subscribed()
    }

    /// The channels subscribed on Redis now (for tests and metrics).
    pub(crate) fn confirmed(&self) -> Vec<String> {
        let mut channels: Vec<String> = self.lock().confirmed.iter().cloned().collect();
        channels.sort();
        channels
    }

    fn lock(&self) -> MutexGuard<'_, Subscriptions> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn confirm(&self, channel: &str) {
        let mut subscriptions = self.lock();
        // Unsubscribed meanwhile: not wanted any more (its Unsubscribe follows).
        if subscriptions.wanted.contains(channel) {
            subscriptions.confirmed.insert(channel.to_owned());
        }
        drop(subscriptions);
        self.confirmations.send_modify(|n| *n += 1);
    }

    fn set_up(&self, up: bool) {
        let mut subscriptions = self.lock();
        subscriptions.up = up;
        if !up {
            subscriptions.confirmed.clear();
        }
        drop(subscriptions);
        self.confirmations.send_modify(|n| *n += 1);
    }

    /// Hands a message to its namespace.
    fn dispatch(&self, channel: &str, payload: &[u8]) {
        let message = match message::decode(payload) {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(%err, channel, "sharded redis adapter: message dropped");
                return;
            }
        };
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

/// The count of `channel` in a `PUBSUB SHARDNUMSUB` (or `NUMSUB`) reply: a flat array `[channel, count]`
/// (RESP2) or a map (RESP3, and redis-rs' combination of every cluster node's replies).
fn numsub_count(value: &redis::Value, channel: &str) -> usize {
    use redis::Value as V;
    let number = |v: &V| match v {
        V::Int(n) => usize::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    let is_channel = |v: &V| match v {
        V::BulkString(b) => b.as_slice() == channel.as_bytes(),
        V::SimpleString(s) => s == channel,
        _ => false,
    };
    match value {
        V::Array(items) => items
            .chunks(2)
            .filter(|pair| pair.len() == 2 && is_channel(&pair[0]))
            .map(|pair| number(&pair[1]))
            .sum(),
        V::Map(pairs) => pairs
            .iter()
            .filter(|(k, _)| is_channel(k))
            .map(|(_, v)| number(v))
            .sum(),
        _ => 0,
    }
}

/// Keeps the subscription connection and dispatches its messages, until the link is gone.
async fn subscriber(
    link: Weak<ShardLink>,
    endpoint: Endpoint,
    mut first: Option<(Subscriber, mpsc::UnboundedReceiver<redis::PushInfo>)>,
    mut changes: mpsc::UnboundedReceiver<Change>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = match first.take() {
            Some(connected) => Ok(connected),
            None => Subscriber::connect(&endpoint).await,
        };
        if let Ok((mut conn, mut pushes)) = connected {
            let Some(wanted) = link.upgrade().map(|l| l.lock().wanted.clone()) else {
                return;
            };
            let Some(pubsub) = link.upgrade().map(|l| l.pubsub) else {
                return;
            };
            let mut ok = true;
            for channel in &wanted {
                ok = ok && conn.subscribe(pubsub, channel).await.is_ok();
                if ok && let Some(link) = link.upgrade() {
                    link.confirm(channel);
                }
            }
            if ok {
                backoff = Duration::from_millis(100);
                match link.upgrade() {
                    Some(link) => link.set_up(true),
                    None => return,
                }
                tracing::debug!("sharded redis adapter subscribed");
                if !serve(&link, pubsub, &mut conn, &mut pushes, &mut changes).await {
                    return;
                }
            }
            match link.upgrade() {
                Some(link) => link.set_up(false),
                None => return,
            }
            tracing::warn!("sharded redis adapter: subscription connection lost; reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
        // What was asked meanwhile is in the wanted set already.
        while changes.try_recv().is_ok() {}
    }
}

/// Serves one connection: changes first, then messages. Returns `false` when the link is gone
/// (stop), `true` when the connection was lost (reconnect).
async fn serve(
    link: &Weak<ShardLink>,
    pubsub: PubSub,
    conn: &mut Subscriber,
    pushes: &mut mpsc::UnboundedReceiver<redis::PushInfo>,
    changes: &mut mpsc::UnboundedReceiver<Change>,
) -> bool {
    loop {
        tokio::select! {
            biased;
            change = changes.recv() => match change {
                Some(Change::Subscribe(channel)) => {
                    if conn.subscribe(pubsub, &channel).await.is_err() {
                        return true;
                    }
                    match link.upgrade() {
                        Some(link) => link.confirm(&channel),
                        None => return false,
                    }
                }
                Some(Change::Unsubscribe(channel, done)) => {
                    if conn.unsubscribe(pubsub, &channel).await.is_err() {
                        return true;
                    }
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                None => return false,
            },
            push = pushes.recv() => match push {
                Some(push) => match push.kind {
                    kind if kind == pubsub.message() => {
                        let Some(link) = link.upgrade() else { return false };
                        if let [redis::Value::BulkString(channel), redis::Value::BulkString(payload)] =
                            push.data.as_slice()
                        {
                            link.dispatch(&String::from_utf8_lossy(channel), payload);
                        }
                    }
                    PushKind::Disconnection => return true,
                    _ => {}
                },
                None => return true,
            },
        }
    }
}

/// Parses the URLs of a Redis Cluster's nodes.
pub(crate) fn cluster_endpoint(nodes: &[&str]) -> redis::RedisResult<Endpoint> {
    let infos = nodes
        .iter()
        .map(|node| node.into_connection_info())
        .collect::<redis::RedisResult<Vec<_>>>()?;
    Ok(Endpoint::Cluster(infos))
}

/// Parses the URL of one Redis server.
pub(crate) fn single_endpoint(url: &str) -> redis::RedisResult<Endpoint> {
    Ok(Endpoint::Single(url.into_connection_info()?))
}

#[cfg(test)]
mod tests {
    use super::numsub_count;
    use redis::Value as V;

    #[test]
    fn shard_numsub_replies_in_both_protocols() {
        let resp2 = V::Array(vec![V::BulkString(b"c#/#".to_vec()), V::Int(3)]);
        assert_eq!(numsub_count(&resp2, "c#/#"), 3);
        let map = V::Map(vec![(V::BulkString(b"c#/#".to_vec()), V::Int(2))]);
        assert_eq!(numsub_count(&map, "c#/#"), 2);
        assert_eq!(numsub_count(&map, "other"), 0);
        assert_eq!(numsub_count(&V::Nil, "c#/#"), 0);
    }
}
