//! The Streams adapter's pub/sub messages against Node's, on a real Redis (a module of
//! `tests/adapters.rs`): a stand-in for a Node server subscribes where a Node server with
//! `@socket.io/redis-streams-adapter` 0.3 subscribes, and publishes the bytes such a server
//! published (`cluster/streams_node_capture.txt`, made by `cluster/streams_capture.js`). What
//! the wsx server publishes for the same requests and answers must be those bytes, the
//! server ids and request ids aside; and it must understand Node's. On classic pub/sub (Node's
//! default) and on sharded pub/sub (`useShardedPubSub`).

use super::harness;
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value as Rv};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use wsx_sio::adapter::redis::streams::{StreamsOptions, StreamsRedis};
use wsx_sio::{Args, Server};

const CAPTURE: &str = include_str!("../cluster/streams_node_capture.txt");

/// The capture: `uids ASKER ANSWERER`, then `label channel hex` lines.
struct Capture {
    asker: String,
    answerer: String,
    messages: Vec<(String, Vec<u8>)>,
}

impl Capture {
    fn read() -> Self {
        let mut lines = CAPTURE.lines();
        let uids: Vec<&str> = lines.next().expect("uids").split(' ').collect();
        let messages = lines
            .map(|line| {
                let parts: Vec<&str> = line.split(' ').collect();
                (parts[0].to_owned(), unhex(parts[2]))
            })
            .collect();
        Self {
            asker: uids[1].to_owned(),
            answerer: uids[2].to_owned(),
            messages,
        }
    }

    fn get(&self, label: &str) -> &[u8] {
        self.messages
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, bytes)| bytes.as_slice())
            .unwrap_or_else(|| panic!("{label} captured"))
    }

    /// Node's message `label`, with the strings `from` replaced by `to` (MessagePack
    /// `fixstr`s: a server id, a request id), as hex.
    fn as_hex(&self, label: &str, swaps: &[(&str, &str)]) -> String {
        let mut text = hex(self.get(label));
        for (from, to) in swaps {
            text = text.replace(&fixstr(from), &fixstr(to));
        }
        text
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A string under 32 bytes as MessagePack writes it, in hex.
fn fixstr(s: &str) -> String {
    assert!(s.len() < 32);
    format!("{:02x}{}", 0xa0 + s.len(), hex(s.as_bytes()))
}

/// A message's `uid` and `data.requestId`.
fn ids(payload: &[u8]) -> (String, Option<String>) {
    let value = rmpv::decode::read_value(&mut &payload[..]).expect("MessagePack");
    let field = |map: &rmpv::Value, key: &str| {
        map.as_map()
            .and_then(|entries| entries.iter().find(|(k, _)| k.as_str() == Some(key)))
            .map(|(_, v)| v.clone())
    };
    let uid = field(&value, "uid").and_then(|v| v.as_str().map(str::to_owned));
    let request = field(&value, "data")
        .and_then(|data| field(&data, "requestId"))
        .and_then(|v| v.as_str().map(str::to_owned));
    (uid.unwrap_or_default(), request)
}

/// A stand-in for Node's server `asker`: subscribed to the namespace channel and its own.
struct FakeNode {
    conn: MultiplexedConnection,
    pushes: mpsc::UnboundedReceiver<PushInfo>,
    sharded: bool,
}

impl FakeNode {
    async fn connect(url: &str, asker: &str, sharded: bool) -> Self {
        let (tx, pushes) = mpsc::unbounded_channel();
        let client = redis::Client::open(format!("{url}?protocol=resp3")).expect("a URL");
        let config = AsyncConnectionConfig::new().set_push_sender(tx);
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("Redis");
        for channel in ["socket.io#/#".to_owned(), format!("socket.io#/#{asker}#")] {
            if sharded {
                redis::cmd("SSUBSCRIBE")
                    .arg(&channel)
                    .exec_async(&mut conn)
                    .await
                    .expect("SSUBSCRIBE");
            } else {
                conn.subscribe(&channel).await.expect("SUBSCRIBE");
            }
        }
        Self {
            conn,
            pushes,
            sharded,
        }
    }

    async fn publish(&mut self, channel: &str, payload: &[u8]) {
        redis::cmd(if self.sharded { "SPUBLISH" } else { "PUBLISH" })
            .arg(channel)
            .arg(payload)
            .exec_async(&mut self.conn)
            .await
            .expect("PUBLISH");
    }

    /// The next message `from` publishes (others, our own included, are skipped): its
    /// channel and bytes.
    async fn next_from(&mut self, from: &str) -> (String, Vec<u8>) {
        let kind = if self.sharded {
            PushKind::SMessage
        } else {
            PushKind::Message
        };
        loop {
            let push = tokio::time::timeout(Duration::from_secs(5), self.pushes.recv())
                .await
                .expect("a message within 5 s")
                .expect("the connection is up");
            if push.kind != kind {
                continue;
            }
            if let [Rv::BulkString(channel), Rv::BulkString(payload)] = push.data.as_slice()
                && ids(payload).0 == from
            {
                return (
                    String::from_utf8_lossy(channel).into_owned(),
                    payload.clone(),
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_pub_sub_messages_are_what_node_publishes() {
    let Some(redis_server) = harness::RedisServer::start() else {
        harness::missing("redis-server is not installed");
        return;
    };
    for sharded in [false, true] {
        node_and_wsx_exchange(&redis_server.url(), sharded).await;
    }
}

async fn node_and_wsx_exchange(url: &str, sharded: bool) {
    let node = Capture::read();
    let options = StreamsOptions {
        use_sharded_pub_sub: sharded,
        ..StreamsOptions::default()
    };
    let redis = StreamsRedis::connect(url, options).await.expect("Redis");
    let io = Server::with_adapter(wsx_sio::Config::default(), redis.factory());
    let (relayed_tx, mut relayed) = mpsc::unbounded_channel();
    io.of("/").on_server_side("relay", move |args, _ack| {
        let relayed = relayed_tx.clone();
        async move {
            let _ = relayed.send(args);
        }
    });
    io.of("/")
        .on_server_side("ping-nodes", |args, ack| async move {
            let _ = ack.send(&json!({"got": args.first(), "n": 1.5}));
        });
    assert!(redis.wait_subscribed(Duration::from_secs(10)).await);
    let mut fake = FakeNode::connect(url, &node.asker, sharded).await;
    // Counted as Node counts: PUBSUB NUMSUB (SHARDNUMSUB) of the namespace channel.
    assert_eq!(io.of("/").server_count().await.ok(), Some(2), "{sharded}");
    let uid = redis.uid().to_owned();
    let namespace = "socket.io#/#";

    // Our requests are Node's bytes (our uid and request ids in place of Node's).
    io.of("/")
        .server_side_emit("relay", &"x")
        .expect("published");
    let (channel, got) = fake.next_from(&uid).await;
    assert_eq!(channel, namespace);
    assert_eq!(
        hex(&got),
        node.as_hex("server-side", &[(&node.asker, &uid)])
    );

    let asked = tokio::spawn(io.of("/").server_side_emit_with_ack("ping-nodes", &[2]));
    let (channel, got) = fake.next_from(&uid).await;
    let node_id = ids(node.get("server-side-ack")).1.expect("an id");
    let id = ids(&got).1.expect("a request id");
    assert_eq!(channel, namespace);
    assert_eq!(
        hex(&got),
        node.as_hex("server-side-ack", &[(&node.asker, &uid), (&node_id, &id)])
    );
    // Node's answer, to our own channel, is understood.
    let answer = node.as_hex("server-side-response", &[(&node_id, &id)]);
    fake.publish(&format!("{namespace}{uid}#"), &unhex(&answer))
        .await;
    let answers = asked.await.expect("joined").expect("answered");
    assert_eq!(answers, vec![json!({"got": [2], "n": 1.5})]);

    let fetched = tokio::spawn(io.of("/").to("r").fetch_sockets());
    let (channel, got) = fake.next_from(&uid).await;
    let node_id = ids(node.get("fetch")).1.expect("an id");
    let id = ids(&got).1.expect("a request id");
    assert_eq!(channel, namespace);
    assert_eq!(
        hex(&got),
        node.as_hex("fetch", &[(&node.asker, &uid), (&node_id, &id)])
    );
    let answer = node.as_hex("fetch-response", &[(&node_id, &id)]);
    fake.publish(&format!("{namespace}{uid}#"), &unhex(&answer))
        .await;
    let sockets = fetched.await.expect("joined").expect("answered");
    assert!(sockets.is_empty());

    let args = Args::new().binary_arg(Bytes::from_static(&[7]));
    let acks = io
        .of("/")
        .to("r")
        .timeout(Duration::from_millis(300))
        .emit_args_with_ack("q", args);
    let acks = tokio::spawn(acks);
    let (channel, got) = fake.next_from(&uid).await;
    let node_id = ids(node.get("ask")).1.expect("an id");
    let id = ids(&got).1.expect("a request id");
    assert_eq!(channel, namespace);
    assert_eq!(
        hex(&got),
        node.as_hex("ask", &[(&node.asker, &uid), (&node_id, &id)])
    );
    let answer = node.as_hex("client-count", &[(&node_id, &id)]);
    fake.publish(&format!("{namespace}{uid}#"), &unhex(&answer))
        .await;
    let acks = acks.await.expect("joined").expect("sent");
    assert!(acks.responses.is_empty() && !acks.timed_out, "{sharded}");

    // Node's requests are understood, and our answers are Node's bytes (our uid in place of
    // the answering Node server's), on the asker's own channel.
    fake.publish(namespace, node.get("server-side")).await;
    let got = tokio::time::timeout(Duration::from_secs(5), relayed.recv())
        .await
        .expect("relayed within 5 s");
    assert_eq!(got, Some(vec![Value::from("x")]));
    let own = format!("{namespace}{}#", node.asker);
    for (request, answer) in [
        ("server-side-ack", "server-side-response"),
        ("fetch", "fetch-response"),
        ("ask", "client-count"),
    ] {
        fake.publish(namespace, node.get(request)).await;
        let (channel, got) = fake.next_from(&uid).await;
        assert_eq!(channel, own, "{answer}");
        assert_eq!(
            hex(&got),
            node.as_hex(answer, &[(&node.answerer, &uid)]),
            "{answer}"
        );
    }
    io.shutdown().await;
}
