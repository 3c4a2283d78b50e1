//! Our broadcasts with acknowledgements across the cluster, as `@socket.io/redis-adapter`
//! (7.2+) makes them (`broadcastWithAck` in its `lib/index.ts`): the request `{uid,
//! requestId, type: BROADCAST, packet, opts}` goes, MessagePack-encoded, on the request
//! channel; each other server sends the packet to its sockets and answers on the response
//! channel first `{type: BROADCAST_CLIENT_COUNT, requestId, clientCount}` (JSON), then one
//! `{type: BROADCAST_ACK, requestId, packet}` (MessagePack, the client's first argument with
//! its binary in place) per acknowledgement. Those answers are handed, in arrival order, to
//! the namespace waiting for them ([`crate::adapter::AckBroadcast`]); how many servers to
//! hear from is `PUBSUB NUMSUB` minus this one. The request is forgotten after its timeout
//! (late answers are dropped), as Node does. Answering the other servers' requests is in
//! `answer.rs`.

use super::NsAdapter;
use super::wire::{self, WireError, request_type as rt};
use crate::adapter::{AckReport, AdapterError, BroadcastOptions};
use crate::args::Args;
use rmpv::Value as Mp;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// `BROADCAST_CLIENT_COUNT`, `BROADCAST_ACK` (`RequestType` in `lib/index.ts`).
const BROADCAST_CLIENT_COUNT: u64 = 8;
const BROADCAST_ACK: u64 = 9;

impl NsAdapter {
    /// Publishes a broadcast with acknowledgements for the other servers; their reports come
    /// through the returned receiver until `timeout` has passed.
    ///
    /// # Errors
    /// The publish queue is full (nothing was sent to the other servers).
    pub(super) fn request_ack_broadcast(
        self: &Arc<Self>,
        event: &str,
        args: &Args,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> Result<mpsc::UnboundedReceiver<AckReport>, AdapterError> {
        let (request_id, received) = self.ack_requests.open(timeout);
        let message = encode_ack_request(
            &self.uid,
            &request_id,
            &self.nsp,
            event,
            args,
            opts,
            timeout,
        );
        if !self.publish(self.channels.request.clone(), message) {
            self.ack_requests.cancel(&request_id);
            return Err(AdapterError::Unavailable(
                "the Redis publish queue is full".into(),
            ));
        }
        Ok(received)
    }

    /// Passes on a report about one of our broadcasts with acknowledgements; `false` when
    /// the response is not one (another request's answer).
    pub(super) fn on_ack_response(&self, payload: &[u8]) -> bool {
        let (request_id, report) = match decode_ack_response(payload) {
            Ok(Some(found)) => found,
            Ok(None) => return false,
            Err(err) => {
                tracing::debug!(%err, "redis adapter: acknowledgement dropped");
                return true;
            }
        };
        self.ack_requests.report(&request_id, report);
        true
    }
}

/// `{uid, requestId, type: 7, packet: {type: 2, data: [event, ...args], nsp}, opts: {rooms,
/// except, flags: {timeout}}}`, MessagePack as Node sends it.
fn encode_ack_request(
    uid: &str,
    request_id: &str,
    nsp: &str,
    event: &str,
    args: &Args,
    opts: &BroadcastOptions,
    timeout: Duration,
) -> Vec<u8> {
    let packet = Mp::Map(vec![
        (Mp::from("type"), Mp::from(2u64)),
        (Mp::from("data"), wire::event_data(event, args)),
        (Mp::from("nsp"), Mp::from(nsp)),
    ]);
    let raw_opts = wire::raw_opts_with_timeout(opts, timeout);
    wire::write(&Mp::Map(vec![
        (Mp::from("uid"), Mp::from(uid)),
        (Mp::from("requestId"), Mp::from(request_id)),
        (Mp::from("type"), Mp::from(rt::BROADCAST)),
        (Mp::from("packet"), packet),
        (Mp::from("opts"), raw_opts),
    ]))
}

/// A response about a broadcast with acknowledgements: its request id and what it reports;
/// `Ok(None)` for any other response. JSON (how Node sends the client count) or MessagePack
/// (how it sends an acknowledgement, binary in place).
fn decode_ack_response(message: &[u8]) -> Result<Option<(String, AckReport)>, WireError> {
    if message.first() == Some(&b'{') {
        let response = wire::decode_object(message)?;
        let Some(id) = wire::str_field(&response, "requestId") else {
            return Ok(None);
        };
        let report = match response.get("type").and_then(Value::as_u64) {
            Some(BROADCAST_CLIENT_COUNT) => {
                let count = response
                    .get("clientCount")
                    .and_then(Value::as_u64)
                    .ok_or(WireError::Shape("a client count"))?;
                AckReport::Clients(usize::try_from(count).unwrap_or(usize::MAX))
            }
            Some(BROADCAST_ACK) => AckReport::Response(
                Args::new().arg(response.get("packet").cloned().unwrap_or(Value::Null)),
            ),
            _ => return Ok(None),
        };
        return Ok(Some((id.to_owned(), report)));
    }
    let mut response =
        wire::map_entries(wire::read(message)?).ok_or(WireError::Shape("a response is a map"))?;
    let kind = wire::take(&mut response, "type").and_then(|t| t.as_u64());
    if !matches!(kind, Some(BROADCAST_CLIENT_COUNT | BROADCAST_ACK)) {
        return Ok(None);
    }
    let Some(Mp::String(id)) = wire::take(&mut response, "requestId") else {
        return Ok(None);
    };
    let id = id
        .into_str()
        .ok_or(WireError::Shape("the requestId is UTF-8"))?;
    let report = if kind == Some(BROADCAST_CLIENT_COUNT) {
        let count = wire::take(&mut response, "clientCount")
            .and_then(|c| c.as_u64())
            .ok_or(WireError::Shape("a client count"))?;
        AckReport::Clients(usize::try_from(count).unwrap_or(usize::MAX))
    } else {
        let packet = wire::take(&mut response, "packet").unwrap_or(Mp::Nil);
        AckReport::Response(Args::from_data(vec![wire::mp_to_data(packet)?]))
    };
    Ok(Some((id, report)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn our_request_reads_back_as_the_other_servers_read_it() {
        let args = Args::new()
            .arg("text")
            .binary_arg(Bytes::from_static(b"\x01\x02"));
        let opts = BroadcastOptions {
            rooms: vec!["r".into()],
            except: vec!["x".into()],
            ..BroadcastOptions::default()
        };
        let message = encode_ack_request(
            "me",
            "req1",
            "/",
            "question",
            &args,
            &opts,
            Duration::from_millis(1500),
        );
        let request = wire::decode_ack_broadcast(&message)
            .expect("decodes")
            .expect("a broadcast with acks");
        assert_eq!(
            (
                &*request.uid,
                &*request.request_id,
                &*request.event,
                request.timeout_ms
            ),
            ("me", "req1", "question", Some(1500))
        );
        assert_eq!(request.args, args);
        assert_eq!(request.opts, opts);
    }

    #[test]
    fn client_counts_and_acknowledgements_are_read_in_both_encodings() {
        let count = br#"{"type":8,"requestId":"abc","clientCount":3}"#;
        assert_eq!(
            decode_ack_response(count).expect("decodes"),
            Some(("abc".to_owned(), AckReport::Clients(3)))
        );
        let answer = Args::new().binary_arg(Bytes::from_static(b"\x07"));
        let ack = wire::encode_broadcast_ack("abc", answer.clone());
        assert_eq!(
            decode_ack_response(&ack).expect("decodes"),
            Some(("abc".to_owned(), AckReport::Response(answer)))
        );
        let json_ack = br#"{"type":9,"requestId":"abc","packet":{"k":1}}"#;
        assert_eq!(
            decode_ack_response(json_ack).expect("decodes"),
            Some((
                "abc".to_owned(),
                AckReport::Response(Args::new().arg(serde_json::json!({"k": 1})))
            ))
        );
        // Other responses are not for us.
        assert_eq!(
            decode_ack_response(br#"{"requestId":"abc","sockets":[]}"#).expect("decodes"),
            None
        );
    }
}
