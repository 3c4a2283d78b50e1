//! The cluster's address book on Redis, for forwarding requests to the node that owns their
//! session (`crate::server::forward`): one key per node, `<key>#wsx-node#<tag>` = `host:port`,
//! with a time to live that the node renews while it runs. Plain keys on the commands
//! connection; no channel, nothing that Node's adapter reads or writes.

use super::super::AdapterError;
use super::Redis;
use std::time::Duration;

fn unavailable(err: redis::RedisError) -> AdapterError {
    AdapterError::Unavailable(err.to_string())
}

impl Redis {
    fn node_key(&self, node: &str) -> String {
        format!("{}#wsx-node#{node}", self.options.key)
    }

    /// `SET <key>#wsx-node#<node> <address> PX <ttl>`.
    pub(crate) async fn advertise_node(
        &self,
        node: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<(), AdapterError> {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        redis::cmd("SET")
            .arg(self.node_key(node))
            .arg(address)
            .arg("PX")
            .arg(ttl)
            .query_async::<()>(&mut self.link.commands())
            .await
            .map_err(unavailable)
    }

    /// `GET <key>#wsx-node#<node>`.
    pub(crate) async fn lookup_node(&self, node: &str) -> Result<Option<String>, AdapterError> {
        redis::cmd("GET")
            .arg(self.node_key(node))
            .query_async::<Option<String>>(&mut self.link.commands())
            .await
            .map_err(unavailable)
    }

    /// `DEL <key>#wsx-node#<node>`.
    pub(crate) async fn withdraw_node(&self, node: &str) -> Result<(), AdapterError> {
        redis::cmd("DEL")
            .arg(self.node_key(node))
            .query_async::<()>(&mut self.link.commands())
            .await
            .map_err(unavailable)
    }
}
