//! The Redis adapters' connections as the cluster's [`Directory`] (feature `redis`), the
//! classic one's and the sharded one's (the Streams adapter's too, through its sharded
//! pub/sub connection): one implementation over `adapter/redis/nodes.rs`, which holds the
//! keys (the same for every adapter).

use super::{Directory, DirectoryFuture};
use crate::adapter::redis::nodes::{NodeBook, advertise_node, lookup_node, withdraw_node};
use std::time::Duration;

impl<B: NodeBook> Directory for B {
    fn advertise<'a>(
        &'a self,
        node: &'a str,
        address: &'a str,
        ttl: Duration,
    ) -> DirectoryFuture<'a, ()> {
        Box::pin(advertise_node(self, node, address, ttl))
    }

    fn lookup<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, Option<String>> {
        Box::pin(lookup_node(self, node))
    }

    fn withdraw<'a>(&'a self, node: &'a str) -> DirectoryFuture<'a, ()> {
        Box::pin(withdraw_node(self, node))
    }

    fn name(&self) -> &str {
        "Redis"
    }
}
