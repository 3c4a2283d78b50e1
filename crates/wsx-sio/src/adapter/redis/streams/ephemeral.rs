//! The Streams adapter's ephemeral messages, as `@socket.io/redis-streams-adapter` 0.3 sends
//! them (`lib/adapter.ts`: `isEphemeral`, `doPublish`, `doPublishResponse`, `serverCount`):
//! the messages that need not survive a Redis reconnection (a request outlives no outage)
//! travel over pub/sub instead of the stream.
//!
//! - Which: broadcasts with acknowledgements, server-side emits (with or without an ack),
//!   `fetchSockets` requests (`entry::is_ephemeral`), and every answer (fetch results,
//!   server-side acks, the client counts and acknowledgements of a broadcast).
//! - Where: requests and broadcasts on `<channelPrefix>#<nsp>#`, answers on the requester's
//!   `<channelPrefix>#<nsp>#<uid>#`; each server subscribes both, on one connection for all
//!   its namespaces. Classic pub/sub (`SUBSCRIBE`, `PUBLISH`) by default; Redis 7's sharded
//!   pub/sub (`SSUBSCRIBE`, `SPUBLISH`) with `useShardedPubSub: true`
//!   ([`super::StreamsOptions::use_sharded_pub_sub`]). Every server of a cluster must make the
//!   same choice: the two kinds of channel never meet.
//! - How: always MessagePack (`@msgpack/msgpack` 2.8's `encode(message)`), the whole
//!   `{type, data, uid, nsp}` message, binary as `bin` in place. Node decodes nothing else: a
//!   JSON payload (what `createShardedAdapter` sends when there is no binary) is dropped there.
//!   [`encode`] writes the bytes Node writes (the tests below compare them with captures).
//! - Servers: `PUBSUB NUMSUB <channelPrefix>#<nsp>#` (`SHARDNUMSUB` with sharded pub/sub).
//!   The adapter is a plain `ClusterAdapter`, not a `ClusterAdapterWithHeartbeat`: no
//!   heartbeats, no list of nodes, so a request waits for as many answers as Redis counts
//!   subscribers, and a server that hangs with its connection open makes requests time out
//!   (5 s) rather than be left out.
//!
//! The sharded adapter's code handles all of it in its static mode (`super::super::sharded`,
//! on a link of the chosen flavor, with this file's encoder).

use super::super::sharded::{PubSub, ShardedOptions, ShardedRedis, SubscriptionMode};
use super::super::wire;
use super::StreamsOptions;
use crate::adapter::AdapterError;
use rmpv::Value as Mp;

/// The pub/sub connections of a Streams adapter's server, in the flavor `options` ask for.
pub(super) async fn connect(
    url: &str,
    options: &StreamsOptions,
) -> Result<ShardedRedis, AdapterError> {
    let pubsub = if options.use_sharded_pub_sub {
        PubSub::Sharded
    } else {
        PubSub::Classic
    };
    let sharded = ShardedOptions {
        channel_prefix: options.channel_prefix.clone(),
        // The two channels of each namespace, never one per room.
        subscription_mode: SubscriptionMode::Static,
        requests_timeout: options.requests_timeout,
    };
    ShardedRedis::connect_with(url, sharded, pubsub, encode).await
}

/// `{type, data, uid, nsp}` as Node's Streams adapter publishes it: MessagePack, whatever the
/// data holds.
pub(crate) fn encode(uid: &str, nsp: &str, kind: u64, data: Vec<(&str, Mp)>) -> Vec<u8> {
    let data = Mp::Map(
        data.into_iter()
            .map(|(k, v)| (Mp::from(k), as_javascript(v)))
            .collect(),
    );
    wire::write(&Mp::Map(vec![
        (Mp::from("type"), Mp::from(kind)),
        (Mp::from("data"), data),
        (Mp::from("uid"), Mp::from(uid)),
        (Mp::from("nsp"), Mp::from(nsp)),
    ]))
}

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A value as JavaScript would hand it to `@msgpack/msgpack`: one number type, so a whole
/// number (`Number.isSafeInteger`) is written as the smallest integer, whatever way it was
/// written in JSON (`1.0`); others stay float64.
fn as_javascript(value: Mp) -> Mp {
    let whole = |f: f64| f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER;
    match value {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole and safe
        Mp::F64(f) if whole(f) => {
            if f >= 0.0 {
                Mp::from(f as u64)
            } else {
                Mp::from(f as i64)
            }
        }
        Mp::F32(f) => as_javascript(Mp::F64(f64::from(f))),
        Mp::Array(items) => Mp::Array(items.into_iter().map(as_javascript).collect()),
        Mp::Map(entries) => Mp::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, as_javascript(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::sharded::message::{self, broadcast_data, kind};
    use super::*;
    use crate::args::Args;
    use crate::rooms::BroadcastOptions;
    use bytes::Bytes;
    use serde_json::json;
    use std::time::Duration;

    /// What socket.io 4.8.1 with `@socket.io/redis-streams-adapter` 0.3.1 publishes on
    /// Redis 7.0 (`uids ASKER ANSWERER`, then `label channel hex` lines), captured by
    /// `tests/cluster/streams_capture.js`: `serverSideEmit("relay", "x")`,
    /// `serverSideEmitWithAck("ping-nodes", [2])` answered `{got: [2], n: 1.5}`,
    /// `in("r").fetchSockets()` answered with no socket, `to("r").timeout(300).emit("q",
    /// Buffer.from([7]), cb)` answered with a client count of 0.
    const CAPTURE: &str = include_str!("../../../../tests/cluster/streams_node_capture.txt");

    struct Capture {
        asker: String,
        answerer: String,
        messages: Vec<(String, String, Vec<u8>)>,
    }

    impl Capture {
        fn read() -> Self {
            let mut lines = CAPTURE.lines();
            let uids: Vec<&str> = lines.next().expect("uids").split(' ').collect();
            let messages = lines
                .map(|line| {
                    let parts: Vec<&str> = line.split(' ').collect();
                    (parts[0].to_owned(), parts[1].to_owned(), unhex(parts[2]))
                })
                .collect();
            Self {
                asker: uids[1].to_owned(),
                answerer: uids[2].to_owned(),
                messages,
            }
        }

        /// The message labelled `label`: its channel and bytes.
        fn get(&self, label: &str) -> (&str, &[u8]) {
            let (_, channel, bytes) = self
                .messages
                .iter()
                .find(|(l, _, _)| l == label)
                .unwrap_or_else(|| panic!("{label} captured"));
            (channel, bytes)
        }

        /// The `requestId` of the message labelled `label`.
        fn request_id(&self, label: &str) -> String {
            let mut message = message::decode(self.get(label).1).expect("decodes");
            message.request_id().expect("a request id")
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

    fn room_r() -> BroadcastOptions {
        BroadcastOptions {
            rooms: vec!["r".into()],
            ..BroadcastOptions::default()
        }
    }

    #[test]
    fn requests_are_byte_for_byte_what_node_publishes() {
        let node = Capture::read();
        let packet = |v: serde_json::Value| message::from_json(&v);
        let ours = |kind, data| hex(&encode(&node.asker, "/", kind, data));
        let server_side = ours(
            kind::SERVER_SIDE_EMIT,
            vec![("packet", packet(json!(["relay", "x"])))],
        );
        assert_eq!(server_side, hex(node.get("server-side").1));
        let with_ack = ours(
            kind::SERVER_SIDE_EMIT,
            vec![
                ("requestId", Mp::from(node.request_id("server-side-ack"))),
                ("packet", packet(json!(["ping-nodes", [2]]))),
            ],
        );
        assert_eq!(with_ack, hex(node.get("server-side-ack").1));
        let fetch = ours(
            kind::FETCH_SOCKETS,
            vec![
                ("opts", message::opts(&room_r())),
                ("requestId", Mp::from(node.request_id("fetch"))),
            ],
        );
        assert_eq!(fetch, hex(node.get("fetch").1));
        let args = Args::new().binary_arg(Bytes::from_static(&[7]));
        let id = node.request_id("ask");
        let ask = ours(
            kind::BROADCAST,
            broadcast_data(
                "q",
                &args,
                &room_r(),
                Some((&id, Duration::from_millis(300))),
            ),
        );
        assert_eq!(ask, hex(node.get("ask").1));
        for label in ["server-side", "server-side-ack", "fetch", "ask"] {
            assert_eq!(node.get(label).0, "socket.io#/#", "{label}");
        }
    }

    #[test]
    fn answers_are_byte_for_byte_what_node_publishes() {
        let node = Capture::read();
        let ours = |kind, data| hex(&encode(&node.answerer, "/", kind, data));
        // A float written as a whole number in JSON is an integer to JavaScript.
        let answer = ours(
            kind::SERVER_SIDE_EMIT_RESPONSE,
            vec![
                ("requestId", Mp::from(node.request_id("server-side-ack"))),
                (
                    "packet",
                    message::from_json(&json!({"got": [2.0], "n": 1.5})),
                ),
            ],
        );
        assert_eq!(answer, hex(node.get("server-side-response").1));
        let fetched = ours(
            kind::FETCH_SOCKETS_RESPONSE,
            vec![
                ("requestId", Mp::from(node.request_id("fetch"))),
                ("sockets", Mp::Array(Vec::new())),
            ],
        );
        assert_eq!(fetched, hex(node.get("fetch-response").1));
        let count = ours(
            kind::BROADCAST_CLIENT_COUNT,
            vec![
                ("requestId", Mp::from(node.request_id("ask"))),
                ("clientCount", Mp::from(0u64)),
            ],
        );
        assert_eq!(count, hex(node.get("client-count").1));
        // On the asker's own channel.
        let own = format!("socket.io#/#{}#", node.asker);
        for label in ["server-side-response", "fetch-response", "client-count"] {
            assert_eq!(node.get(label).0, own, "{label}");
        }
    }

    #[test]
    fn what_node_publishes_decodes() {
        let node = Capture::read();
        let mut ask = message::decode(node.get("ask").1).expect("decodes");
        assert_eq!(
            (ask.uid.as_str(), ask.nsp.as_str(), ask.kind),
            (node.asker.as_str(), "/", kind::BROADCAST)
        );
        assert!(ask.request_id().is_some());
        let (opts, timeout) = ask.opts().expect("opts");
        assert_eq!((opts.rooms, timeout), (vec!["r".to_owned()], Some(300)));
        assert_eq!(
            ask.event().expect("an event"),
            (
                "q".to_owned(),
                Args::new().binary_arg(Bytes::from_static(&[7]))
            )
        );
        let mut answer = message::decode(node.get("server-side-response").1).expect("decodes");
        assert_eq!(answer.kind, kind::SERVER_SIDE_EMIT_RESPONSE);
        assert_eq!(answer.json("packet"), json!({"got": [2], "n": 1.5}));
        for (label, _, bytes) in &node.messages {
            assert!(message::decode(bytes).is_ok(), "{label}");
        }
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        let cases = [
            (json!(1.0), "01"),
            (json!(-0.0), "00"),
            (json!(-33.0), "d0df"),
            (json!(300.0), "cd012c"),
            (json!(1.5), "cb3ff8000000000000"),
            // Past Number.MAX_SAFE_INTEGER JavaScript writes a float64.
            (json!(9_007_199_254_740_992.0), "cb4340000000000000"),
        ];
        for (number, want) in cases {
            let raw = encode("u", "/", 9, vec![("n", message::from_json(&number))]);
            // `{type: 9, data: {n: <number>}, uid: "u", nsp: "/"}`
            let expected = format!("84a47479706509a46461746181a16e{want}a3756964a175a36e7370a12f");
            assert_eq!(hex(&raw), expected, "{number}");
        }
    }
}
