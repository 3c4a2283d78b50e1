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
    /// Redis 7.0, captured by `tests/cluster/streams_capture.js` (hex), between the servers
    /// `6ec494a161d40089` (asking) and `68237af2c08100d0` (answering).
    mod node {
        pub(super) const ASKER: &str = "6ec494a161d40089";
        pub(super) const ANSWERER: &str = "68237af2c08100d0";
        /// `io.serverSideEmit("relay", "x", 1)`, on `socket.io#/#`.
        pub(super) const SERVER_SIDE: &str = "84a47479706509a46461746181a67061636b657493a572656c6179a17801a3756964b036656334393461313631643430303839a36e7370a12f";
        /// `io.serverSideEmitWithAck("ping-nodes", [2])`, request `c6f826fa45284106`.
        pub(super) const SERVER_SIDE_ACK: &str = "84a47479706509a46461746182a9726571756573744964b063366638323666613435323834313036a67061636b657492aa70696e672d6e6f6465739102a3756964b036656334393461313631643430303839a36e7370a12f";
        /// Its answer `{got: [2], n: 1.5}`, on `socket.io#/#6ec494a161d40089#`.
        pub(super) const SERVER_SIDE_RESPONSE: &str = "84a4747970650aa46461746182a9726571756573744964b063366638323666613435323834313036a67061636b657482a3676f749102a16ecb3ff8000000000000a3756964b036383233376166326330383130306430a36e7370a12f";
        /// `io.in("r").fetchSockets()`, request `535baebf49c68515`.
        pub(super) const FETCH: &str = "84a47479706507a46461746182a46f70747383a5726f6f6d7391a172a665786365707490a5666c61677380a9726571756573744964b035333562616562663439633638353135a3756964b036656334393461313631643430303839a36e7370a12f";
        /// Its answer: no sockets.
        pub(super) const FETCH_RESPONSE: &str = "84a47479706508a46461746182a9726571756573744964b035333562616562663439633638353135a7736f636b65747390a3756964b036383233376166326330383130306430a36e7370a12f";
        /// `io.to("r").timeout(300).emit("q", Buffer.from([7]), cb)`, request
        /// `0d57e51b1d076bf5`.
        pub(super) const ASK: &str = "84a47479706503a46461746183a67061636b657482a47479706502a46461746192a171c40107a9726571756573744964b030643537653531623164303736626635a46f70747383a5726f6f6d7391a172a665786365707490a5666c61677381a774696d656f7574cd012ca3756964b036656334393461313631643430303839a36e7370a12f";
        /// The answering server's client count (0).
        pub(super) const CLIENT_COUNT: &str = "84a4747970650ba46461746182a9726571756573744964b030643537653531623164303736626635ab636c69656e74436f756e7400a3756964b036383233376166326330383130306430a36e7370a12f";
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
        let packet = |v: serde_json::Value| message::from_json(&v);
        let server_side = encode(
            node::ASKER,
            "/",
            kind::SERVER_SIDE_EMIT,
            vec![("packet", packet(json!(["relay", "x", 1])))],
        );
        assert_eq!(hex(&server_side), node::SERVER_SIDE);
        let with_ack = encode(
            node::ASKER,
            "/",
            kind::SERVER_SIDE_EMIT,
            vec![
                ("requestId", Mp::from("c6f826fa45284106")),
                ("packet", packet(json!(["ping-nodes", [2]]))),
            ],
        );
        assert_eq!(hex(&with_ack), node::SERVER_SIDE_ACK);
        let fetch = encode(
            node::ASKER,
            "/",
            kind::FETCH_SOCKETS,
            vec![
                ("opts", message::opts(&room_r())),
                ("requestId", Mp::from("535baebf49c68515")),
            ],
        );
        assert_eq!(hex(&fetch), node::FETCH);
        let args = Args::new().binary_arg(Bytes::from_static(&[7]));
        let ask = encode(
            node::ASKER,
            "/",
            kind::BROADCAST,
            broadcast_data(
                "q",
                &args,
                &room_r(),
                Some(("0d57e51b1d076bf5", Duration::from_millis(300))),
            ),
        );
        assert_eq!(hex(&ask), node::ASK);
    }

    #[test]
    fn answers_are_byte_for_byte_what_node_publishes() {
        // A float written as a whole number in JSON is an integer to JavaScript.
        let answer = encode(
            node::ANSWERER,
            "/",
            kind::SERVER_SIDE_EMIT_RESPONSE,
            vec![
                ("requestId", Mp::from("c6f826fa45284106")),
                (
                    "packet",
                    message::from_json(&json!({"got": [2.0], "n": 1.5})),
                ),
            ],
        );
        assert_eq!(hex(&answer), node::SERVER_SIDE_RESPONSE);
        let fetched = encode(
            node::ANSWERER,
            "/",
            kind::FETCH_SOCKETS_RESPONSE,
            vec![
                ("requestId", Mp::from("535baebf49c68515")),
                ("sockets", Mp::Array(Vec::new())),
            ],
        );
        assert_eq!(hex(&fetched), node::FETCH_RESPONSE);
        let count = encode(
            node::ANSWERER,
            "/",
            kind::BROADCAST_CLIENT_COUNT,
            vec![
                ("requestId", Mp::from("0d57e51b1d076bf5")),
                ("clientCount", Mp::from(0u64)),
            ],
        );
        assert_eq!(hex(&count), node::CLIENT_COUNT);
    }

    #[test]
    fn what_node_publishes_decodes() {
        let mut ask = message::decode(&unhex(node::ASK)).expect("decodes");
        assert_eq!(
            (ask.uid.as_str(), ask.nsp.as_str(), ask.kind),
            (node::ASKER, "/", kind::BROADCAST)
        );
        assert_eq!(ask.request_id().as_deref(), Some("0d57e51b1d076bf5"));
        let (opts, timeout) = ask.opts().expect("opts");
        assert_eq!((opts.rooms, timeout), (vec!["r".to_owned()], Some(300)));
        assert_eq!(
            ask.event().expect("an event"),
            (
                "q".to_owned(),
                Args::new().binary_arg(Bytes::from_static(&[7]))
            )
        );
        let mut answer = message::decode(&unhex(node::SERVER_SIDE_RESPONSE)).expect("decodes");
        assert_eq!(answer.kind, kind::SERVER_SIDE_EMIT_RESPONSE);
        assert_eq!(answer.json("packet"), json!({"got": [2], "n": 1.5}));
        let mut fetch = message::decode(&unhex(node::FETCH)).expect("decodes");
        assert_eq!(fetch.request_id().as_deref(), Some("535baebf49c68515"));
        for raw in [
            node::SERVER_SIDE,
            node::SERVER_SIDE_ACK,
            node::FETCH_RESPONSE,
        ] {
            assert!(message::decode(&unhex(raw)).is_ok(), "{raw}");
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
