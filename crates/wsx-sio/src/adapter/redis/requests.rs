//! Our requests to the other servers (`fetch_sockets`, `all_rooms`,
//! `server_side_emit_with_ack`): each gets an id, waits for as many answers as servers were
//! counted, and fails with [`AdapterError::Timeout`] when they do not all come in time.

use super::{NsAdapter, random_id, wire};
use crate::adapter::AdapterError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use tokio::sync::oneshot;

/// A request of ours waiting for answers.
pub(super) struct Pending {
    expected: usize,
    answers: Vec<Map<String, Value>>,
    done: Option<oneshot::Sender<Vec<Map<String, Value>>>>,
}

impl NsAdapter {
    /// Collects an answer to one of our requests.
    pub(super) fn on_response(&self, payload: &[u8]) {
        let Ok(response) = wire::decode_object(payload) else {
            return;
        };
        let Some(id) = wire::str_field(&response, "requestId").map(str::to_owned) else {
            return;
        };
        let mut pending = self.lock_pending();
        let Some(request) = pending.get_mut(&id) else {
            return;
        };
        request.answers.push(response);
        if request.answers.len() >= request.expected
            && let Some(request) = pending.remove(&id)
            && let Some(done) = request.done
        {
            let _ = done.send(request.answers);
        }
    }

    /// Publishes a request and collects `expected` answers, or fails after the timeout.
    pub(super) fn request(
        self: &Arc<Self>,
        mut body: Map<String, Value>,
        expected: usize,
    ) -> impl Future<Output = Result<Vec<Map<String, Value>>, AdapterError>> + use<> {
        let id = random_id(12);
        body.insert("uid".into(), Value::from(&*self.uid));
        body.insert("requestId".into(), Value::from(id.as_str()));
        let (done, answers) = oneshot::channel();
        self.lock_pending().insert(
            id.clone(),
            Pending {
                expected,
                answers: Vec::new(),
                done: Some(done),
            },
        );
        let published = self.publish(
            self.channels.request.clone(),
            Value::Object(body).to_string().into_bytes(),
        );
        let adapter = self.clone();
        let timeout = self.options.requests_timeout;
        async move {
            if !published {
                adapter.lock_pending().remove(&id);
                return Err(AdapterError::Unavailable(
                    "the publish queue is full".into(),
                ));
            }
            match tokio::time::timeout(timeout, answers).await {
                Ok(Ok(answers)) => Ok(answers),
                _ => {
                    let got = adapter
                        .lock_pending()
                        .remove(&id)
                        .map_or(0, |p| p.answers.len());
                    Err(AdapterError::Timeout { got, expected })
                }
            }
        }
    }

    pub(super) fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
