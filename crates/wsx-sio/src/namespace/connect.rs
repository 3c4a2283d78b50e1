//! Connecting a socket to a namespace: connect middlewares in order (a recovered socket may
//! skip them), connection state recovery (a CONNECT with the `pid` and `offset` of a lost
//! socket gets it back, [`crate::recovery`]), the CONNECT answer, the packets a recovered
//! socket missed, then the connection handlers; and keeping a socket whose connection was lost.

use super::NsInner;
use super::conn::ConnShared;
use super::hub::Hub;
use super::jobs::{Job, connect_barrier};
use super::observe::NsEvent;
use super::socket::Socket;
use crate::frames::frames;
use crate::packet::socket::Body;
use crate::recovery::SavedSession;
use crate::sid::Sid;
use serde_json::Value;
use std::sync::Arc;

/// Keeps a socket whose connection was lost, for connection state recovery (when it is on).
pub(crate) fn persist(socket: &Socket) {
    if let (Some(store), Some(pid)) = (socket.hub().recovery(), socket.pid()) {
        store.persist(SavedSession {
            sid: socket.id(),
            pid,
            namespace: socket.namespace().to_owned(),
            rooms: socket.rooms_at_disconnect(),
        });
    }
}

/// Connects a socket: middlewares in order (unless a recovered socket skips them), then
/// CONNECT answer, then the packets a recovered socket missed, then connection handlers. The
/// jobs behind it start once it answered ([`connect_barrier`]).
pub(crate) fn connect_job(
    ns: Arc<NsInner>,
    shared: Arc<ConnShared>,
    auth: Value,
    skip_middlewares: bool,
) -> Job {
    connect_barrier(shared.clone(), connect(ns, shared, auth, skip_middlewares))
}

/// What [`connect_job`] runs (a dynamic namespace's job runs it once the namespace exists).
pub(crate) async fn connect(
    ns: Arc<NsInner>,
    shared: Arc<ConnShared>,
    auth: Value,
    skip_middlewares: bool,
) {
    {
        let hub = Hub(ns.clone());
        // Connection state recovery: a CONNECT with the `pid` and `offset` of a lost session.
        let restoring = ns.recovery.as_ref().and_then(|store| {
            let pid = auth.get("pid")?.as_str()?;
            let offset = auth.get("offset")?.as_str()?;
            Some(store.restore(&ns.name, pid, offset, shared.parser))
        });
        let restored = match restoring {
            Some(restoring) => restoring.await,
            None => None,
        };
        let (socket, rooms, missed) = match restored {
            Some((session, missed)) => (
                Socket::with_session(
                    session.sid,
                    Some(session.pid),
                    true,
                    hub,
                    shared.clone(),
                    auth,
                ),
                session.rooms,
                missed,
            ),
            None => {
                let pid = ns.recovery.is_some().then(Sid::random);
                let socket =
                    Socket::with_session(Sid::random(), pid, false, hub, shared.clone(), auth);
                (socket, Vec::new(), Vec::new())
            }
        };
        let middlewares = if socket.recovered() && skip_middlewares {
            Vec::new()
        } else {
            ns.middleware_list()
        };
        for middleware in middlewares {
            if let Err(refusal) = middleware(socket.clone()).await {
                let _ = shared.outbox.push(frames(
                    shared.parser,
                    &ns.name,
                    Body::ConnectError(refusal.payload()),
                    &[],
                ));
                return;
            }
        }
        // Closed meanwhile, or a second CONNECT for the namespace that was quicker.
        if shared.outbox.is_closed() || shared.socket(&ns.name).is_some() {
            return;
        }
        socket.mark_connected();
        crate::metrics::socket_connected(&ns.name);
        for room in rooms {
            if room != socket.id().as_str() {
                socket.join(room);
            }
        }
        if let (Some(store), Some(pid)) = (&ns.recovery, socket.pid()) {
            let (hub, sid) = (socket.hub().downgrade(), socket.id());
            store.track(
                SavedSession {
                    sid,
                    pid,
                    namespace: ns.name.clone(),
                    rooms: socket.rooms(),
                },
                Box::new(move || {
                    let socket = hub.upgrade()?.get_socket(sid)?;
                    socket.connected().then(|| socket.rooms())
                }),
            );
        }
        let mut answer = serde_json::Map::new();
        answer.insert("sid".into(), Value::String(socket.id().to_string()));
        if let Some(pid) = socket.pid() {
            answer.insert("pid".into(), Value::String(pid.to_string()));
        }
        let _ = shared.outbox.push(frames(
            shared.parser,
            &ns.name,
            Body::Connect(Some(Value::Object(answer))),
            &[],
        ));
        for packet in missed {
            let _ = shared.outbox.push(packet);
        }
        if ns.observed() {
            // Node's socket joins the room of its own id as it connects.
            ns.notify(NsEvent::Joined(socket.id(), socket.id().as_str()));
            ns.notify(NsEvent::Connected(&socket));
        }
        // The client may send events from here on: they start as the handlers await.
        shared.answered();
        for handler in ns.connection_handlers() {
            handler(socket.clone()).await;
        }
        socket.share_handlers();
    }
}
