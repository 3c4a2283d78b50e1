//! The sharded adapter's connection as the forwarding's address book
//! (`crate::server::forward`): the same keys and commands as the classic adapter's
//! (`../nodes.rs`), prefixed with the channel prefix; on a Redis Cluster each key lives on the
//! node that owns its slot.

use super::super::nodes::NodeBook;
use super::ShardedRedis;

impl NodeBook for ShardedRedis {
    fn node_prefix(&self) -> &str {
        &self.options.channel_prefix
    }

    async fn run<T: redis::FromRedisValue + Send>(&self, cmd: redis::Cmd) -> redis::RedisResult<T> {
        self.link.query(&cmd).await
    }
}
