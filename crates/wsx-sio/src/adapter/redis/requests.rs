//! Our requests to the other servers (`fetch_sockets`, `all_rooms`,
//! `server_side_emit_with_ack`): each gets an id, waits for as many answers as servers were
//! counted, and fails with [`AdapterError::Timeout`] when they do not all come in time (the
//! bookkeeping is `exchange.rs`'s, shared with the sharded adapter).

use super::{NsAdapter, wire};
use crate::adapter::AdapterError;
use serde_json::{Map, Value};
use std::sync::Arc;

impl NsAdapter {
    /// Collects an answer to one of our requests.
    pub(super) fn on_response(&self, payload: &[u8]) {
        let Ok(response) = wire::decode_object(payload) else {
            return;
        };
        let Some(id) = wire::str_field(&response, "requestId").map(str::to_owned) else {
            return;
        };
        self.pending.answer(&id, response);
    }

    /// Publishes a request and collects `expected` answers, or fails after the timeout.
    pub(super) fn request(
        self: &Arc<Self>,
        mut body: Map<String, Value>,
        expected: usize,
    ) -> impl Future<Output = Result<Vec<Map<String, Value>>, AdapterError>> + use<> {
        let opened = self.pending.open(expected);
        body.insert("uid".into(), Value::from(&*self.uid));
        body.insert("requestId".into(), Value::from(opened.id.as_str()));
        let published = self.publish(
            self.channels.request.clone(),
            Value::Object(body).to_string().into_bytes(),
        );
        let adapter = self.clone();
        let timeout = self.options.requests_timeout;
        async move {
            if !published {
                adapter.pending.cancel(&opened.id);
                return Err(AdapterError::Unavailable(
                    "the publish queue is full".into(),
                ));
            }
            adapter.pending.wait(opened, timeout).await
        }
    }
}
