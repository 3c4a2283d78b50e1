//! The Redis adapters' connections as the cluster's [`Directory`] (feature `redis`), the
//! classic one's and the sharded one's: see `adapter/redis/nodes.rs` and
//! `adapter/redis/sharded/nodes.rs` for the keys (the same in both).

use super::{Directory, DirectoryFuture};
use crate::adapter::redis::Redis;
use crate::adapter::redis::sharded::ShardedRedis;
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

impl Directory for ShardedRedis {
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
