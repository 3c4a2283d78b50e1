//! The cluster's address book on Redis, for forwarding requests to the node that owns their
//! session (`crate::server::forward`): one key per node, `<prefix>#wsx-node#<tag>` =
//! `host:port`, with a time to live that the node renews while it runs. Plain keys on an
//! adapter's commands connection (on a Redis Cluster, the node that owns the key's slot); no
//! channel, nothing that Node's adapter reads or writes. The keys and commands are written
//! once, here; each adapter only says how it runs a command ([`NodeBook`]).

use super::super::AdapterError;
use super::Redis;
use std::future::Future;
use std::time::Duration;

/// A Redis adapter's connection seen as the address book: the keys' prefix and a way to run
/// one command. The classic adapter ([`Redis`]) and the sharded one
/// ([`super::sharded::ShardedRedis`], also under the Streams adapter) implement it.
pub(crate) trait NodeBook: Send + Sync + 'static {
    /// The prefix of the keys (the adapter's key or channel prefix, `socket.io` by default).
    fn node_prefix(&self) -> &str;

    /// Runs `cmd` on the adapter's commands connection.
    fn run<T: redis::FromRedisValue + Send>(
        &self,
        cmd: redis::Cmd,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send;
}

fn node_key(book: &impl NodeBook, node: &str) -> String {
    format!("{}#wsx-node#{node}", book.node_prefix())
}

fn unavailable(err: redis::RedisError) -> AdapterError {
    AdapterError::Unavailable(err.to_string())
}

/// `SET <prefix>#wsx-node#<node> <address> PX <ttl>`.
pub(crate) async fn advertise_node(
    book: &impl NodeBook,
    node: &str,
    address: &str,
    ttl: Duration,
) -> Result<(), AdapterError> {
    let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut cmd = redis::cmd("SET");
    cmd.arg(node_key(book, node))
        .arg(address)
        .arg("PX")
        .arg(ttl);
    book.run::<()>(cmd).await.map_err(unavailable)
}

/// `GET <prefix>#wsx-node#<node>`.
pub(crate) async fn lookup_node(
    book: &impl NodeBook,
    node: &str,
) -> Result<Option<String>, AdapterError> {
    let mut cmd = redis::cmd("GET");
    cmd.arg(node_key(book, node));
    book.run(cmd).await.map_err(unavailable)
}

/// `DEL <prefix>#wsx-node#<node>`.
pub(crate) async fn withdraw_node(book: &impl NodeBook, node: &str) -> Result<(), AdapterError> {
    let mut cmd = redis::cmd("DEL");
    cmd.arg(node_key(book, node));
    book.run::<()>(cmd).await.map_err(unavailable)
}

impl NodeBook for Redis {
    fn node_prefix(&self) -> &str {
        &self.options.key
    }

    fn run<T: redis::FromRedisValue + Send>(
        &self,
        cmd: redis::Cmd,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send {
        let mut conn = self.link.commands();
        async move { cmd.query_async(&mut conn).await }
    }
}
