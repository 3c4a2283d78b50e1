//! The Redis adapter's connection as the cluster's [`Directory`] (feature `redis`): see
//! `adapter/redis/nodes.rs` for the keys.

use super::{Directory, DirectoryFuture};
use crate::adapter::redis::Redis;
use std::time::Duration;

impl Directory for Redis {
    fn advertise<'a>(
        &'a self,
        node: &'a str,
        address: &'a str,
        ttl: Duration,
    ) -> DirectoryFuture<'a, ()> {
        Box::pin(self.advertise_node(node, address, ttl))
    }

    fn lookup<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, Option<String>> {
        Box::pin(self.lookup_node(node))
    }

    fn withdraw<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, ()> {
        Box::pin(self.withdraw_node(node))
    }

    fn name(&self) -> &str {
        "Redis"
    }
}
