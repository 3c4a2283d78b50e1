//! The two Redis connections a server keeps, shared by all its namespaces (as Node's adapter
//! shares its `pubClient` and `subClient`):
//!
//! - publishing: a [`ConnectionManager`] (reconnects by itself) behind the queue and task of
//!   `publisher.rs` (shared with the sharded adapter): each batch goes out as one pipeline of
//!   `PUBLISH`es, order kept; what cannot be sent is counted ([`Link::publish_failures`]).
//! - subscribing: a pub/sub connection owned by one task that reconnects with backoff (100 ms
//!   doubling to 2 s) and subscribes again to every registered namespace's channels, then hands
//!   each message to the namespace whose channels it matches. A namespace closed with the
//!   server ([`Link::unregister`]) is unsubscribed and left out of later resubscriptions.

use super::NsAdapter;
use super::publisher::{Batching, Publisher};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A change of the subscriptions, for the subscriber task.
pub(crate) enum Change {
    /// Subscribe a namespace's channels.
    Subscribe(Arc<NsAdapter>),
    /// Unsubscribe them; the sender learns when it is done (dropped: the connection is down,
    /// so nothing is subscribed).
    Unsubscribe(Arc<NsAdapter>, oneshot::Sender<()>),
}

/// The shared connections. See the module docs.
pub(crate) struct Link {
    publisher: Publisher,
    commands: ConnectionManager,
    subscribe: mpsc::UnboundedSender<Change>,
    namespaces: RwLock<HashMap<String, Weak<NsAdapter>>>,
    subscribed: AtomicBool,
    /// Bumped whenever a subscription is made (for [`Link::wait_subscribed`]).
    changes: tokio::sync::watch::Sender<u64>,
}

impl Link {
    /// Connects both connections; fails when Redis cannot be reached now (later outages are
    /// survived).
    pub(crate) async fn connect(client: redis::Client) -> redis::RedisResult<Arc<Self>> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let commands = client.get_connection_manager_with_config(config).await?;
        let first = client.get_async_pubsub().await?;
        let (subscribe, to_subscribe) = mpsc::unbounded_channel();
        let link = Arc::new(Self {
            publisher: Publisher::start(commands.clone(), "PUBLISH", Batching::Pipeline),
            commands,
            subscribe,
            namespaces: RwLock::default(),
            subscribed: AtomicBool::new(false),
            changes: tokio::sync::watch::Sender::new(0),
        });
        tokio::spawn(subscriber(
            Arc::downgrade(&link),
            client,
            Some(first),
            to_subscribe,
        ));
        Ok(link)
    }

    /// Registers a namespace's adapter: its channels are subscribed now and after every
    /// reconnection.
    pub(crate) fn register(&self, adapter: &Arc<NsAdapter>) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(adapter.nsp.clone(), Arc::downgrade(adapter));
        let _ = self.subscribe.send(Change::Subscribe(adapter.clone()));
    }

    /// Forgets a namespace's adapter and unsubscribes its channels; waits at most 2 s for
    /// Redis to confirm.
    pub(crate) async fn unregister(&self, adapter: &Arc<NsAdapter>) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&adapter.nsp);
        let (done, confirmed) = oneshot::channel();
        if self
            .subscribe
            .send(Change::Unsubscribe(adapter.clone(), done))
            .is_ok()
        {
            let _ = tokio::time::timeout(Duration::from_secs(2), confirmed).await;
        }
        self.mark(adapter, false);
    }

    /// The commands connection (it reconnects by itself), for plain key commands.
    pub(crate) fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// Queues a message; `false` (and counted) when the queue is full.
    pub(crate) fn publish(&self, channel: String, payload: Vec<u8>) -> bool {
        self.publisher.publish(channel, payload)
    }

    /// How many subscribers a channel has (`PUBSUB NUMSUB`): the number of servers.
    pub(crate) async fn numsub(&self, channel: &str) -> redis::RedisResult<usize> {
        let mut conn = self.commands.clone();
        let (_, count): (String, usize) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }

    /// Messages that could not be published since the start.
    pub(crate) fn publish_failures(&self) -> u64 {
        self.publisher.failures()
    }

    /// Whether the subscriber connection is up and every registered namespace subscribed.
    pub(crate) fn subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
            && self
                .adapters()
                .iter()
                .all(|a| a.subscribed.load(Ordering::Acquire))
    }

    /// Waits at most `timeout` for [`Self::subscribed`]; returns it.
    pub(crate) async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut changes = self.changes.subscribe();
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

    fn mark(&self, adapter: &NsAdapter, subscribed: bool) {
        adapter.subscribed.store(subscribed, Ordering::Release);
        self.changes.send_modify(|n| *n += 1);
    }

    fn adapters(&self) -> Vec<Arc<NsAdapter>> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// Keeps a subscribed connection and dispatches its messages, until the link is gone.
async fn subscriber(
    link: Weak<Link>,
    client: redis::Client,
    mut first: Option<redis::aio::PubSub>,
    mut to_subscribe: mpsc::UnboundedReceiver<Change>,
) {
    use futures_util::StreamExt;
    let mut backoff = Duration::from_millis(100);
    loop {
        let pubsub = match first.take() {
            Some(pubsub) => Ok(pubsub),
            None => client.get_async_pubsub().await,
        };
        if let Ok(pubsub) = pubsub {
            let (mut sink, mut stream) = pubsub.split();
            let Some(adapters) = link.upgrade().map(|l| l.adapters()) else {
                return;
            };
            let mut ok = true;
            for adapter in adapters {
                ok &= subscribe(&link, &mut sink, &adapter).await;
            }
            if ok {
                backoff = Duration::from_millis(100);
                if let Some(link) = link.upgrade() {
                    link.subscribed.store(true, Ordering::Release);
                    link.changes.send_modify(|n| *n += 1);
                }
                tracing::debug!("redis adapter subscribed");
                loop {
                    tokio::select! {
                        message = stream.next() => match message {
                            Some(message) => {
                                let Some(link) = link.upgrade() else { return };
                                dispatch(&link, &message);
                            }
                            None => break,
                        },
                        change = to_subscribe.recv() => match change {
                            Some(Change::Subscribe(adapter)) => {
                                if !subscribe(&link, &mut sink, &adapter).await {
                                    break;
                                }
                            }
                            Some(Change::Unsubscribe(adapter, done)) => {
                                if !unsubscribe(&mut sink, &adapter).await {
                                    break;
                                }
                                let _ = done.send(());
                            }
                            None => return,
                        },
                    }
                }
            }
            match link.upgrade() {
                Some(link) => {
                    link.subscribed.store(false, Ordering::Release);
                    for adapter in link.adapters() {
                        link.mark(&adapter, false);
                    }
                }
                None => return,
            }
            tracing::warn!("redis adapter: subscription connection lost; reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
        // Registrations made while disconnected are in the map already.
        while to_subscribe.try_recv().is_ok() {}
    }
}

/// Subscribes one namespace's channels; `false` when the connection failed.
async fn subscribe(
    link: &Weak<Link>,
    sink: &mut redis::aio::PubSubSink,
    adapter: &NsAdapter,
) -> bool {
    let c = &adapter.channels;
    let ok = sink.psubscribe(c.pattern()).await.is_ok()
        && sink
            .subscribe(&[&c.request, &c.response, &c.specific_response])
            .await
            .is_ok();
    if ok && let Some(link) = link.upgrade() {
        link.mark(adapter, true);
    }
    ok
}

/// Unsubscribes one namespace's channels; `false` when the connection failed.
async fn unsubscribe(sink: &mut redis::aio::PubSubSink, adapter: &NsAdapter) -> bool {
    let c = &adapter.channels;
    sink.punsubscribe(c.pattern()).await.is_ok()
        && sink
            .unsubscribe(&[&c.request, &c.response, &c.specific_response])
            .await
            .is_ok()
}

fn dispatch(link: &Link, message: &redis::Msg) {
    let channel = message.get_channel_name();
    let adapter = link
        .namespaces
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .filter_map(Weak::upgrade)
        .find(|adapter| adapter.owns(channel));
    if let Some(adapter) = adapter {
        adapter.on_message(channel, message.get_payload_bytes());
    }
}
