//! The cluster's address book for forwarding (`crate::server::forward`) on the sharded
//! adapter's connection: the same keys as the classic adapter's (`../nodes.rs`),
//! `<channel_prefix>#wsx-node#<tag>` = `host:port` with a time to live; on a Redis Cluster each
//! key lives on the node that owns its slot.

use super::ShardedRedis;
use crate::adapter::AdapterError;
use std::time::Duration;

fn unavailable(err: redis::RedisError) -> AdapterError {
    AdapterError::Unavailable(err.to_string())
}

impl ShardedRedis {
    fn node_key(&self, node: &str) -> String {
        format!("{}#wsx-node#{node}", self.options.channel_prefix)
    }

    /// `SET <prefix>#wsx-node#<node> <address> PX <ttl>`.
    pub(crate) async fn advertise_node(
        &self,
        node: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<(), AdapterError> {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.node_key(node)).arg(address).arg("PX").arg(ttl);
        self.link.query::<()>(&cmd).await.map_err(unavailable)
    }

    /// `GET <prefix>#wsx-node#<node>`.
    pub(crate) async fn lookup_node(&self, node: &str) -> Result<Option<String>, AdapterError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.node_key(node));
        self.link.query(&cmd).await.map_err(unavailable)
    }

    /// `DEL <prefix>#wsx-node#<node>`.
    pub(crate) async fn withdraw_node(&self, node: &str) -> Result<(), AdapterError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.node_key(node));
        self.link.query::<()>(&cmd).await.map_err(unavailable)
    }
}
