//! Socket.IO metrics through the [`metrics`] facade (with no recorder installed, no-ops):
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `wsx_sio_sockets` | gauge | `namespace` | connected sockets |
//! | `wsx_sio_room_joins_total`, `wsx_sio_room_leaves_total` | counter | `namespace` | room memberships added and removed by `Socket::join` and `Socket::leave` |
//! | `wsx_sio_events_received_total` | counter | `namespace` | events from clients |
//! | `wsx_sio_events_sent_total` | counter | `namespace` | events queued for clients (a broadcast counts once per receiver) |
//! | `wsx_sio_ack_timeouts_total` | counter | `namespace` | `emit_with_ack` that got no acknowledgement in time |
//! | `wsx_sio_slow_consumers_total` | counter | | connections closed because what was sent to them and not taken passed `Config::max_pending_bytes` (reason "slow consumer") |
//! | `wsx_sio_volatile_dropped_total` | counter | | volatile packets dropped for a client that had something else waiting |
//! | `wsx_sio_redis_publish_failures_total` | counter | | messages for other servers the Redis adapter could not publish (Redis down, or its queue full; feature `redis`) |
//!
//! The WebSocket layer below reports its own (`wsx_*`, see `wsx::metrics`).

use metrics::{counter, gauge};

pub(crate) fn socket_connected(namespace: &str) {
    gauge!("wsx_sio_sockets", "namespace" => namespace.to_owned()).increment(1.0);
}

pub(crate) fn socket_disconnected(namespace: &str) {
    gauge!("wsx_sio_sockets", "namespace" => namespace.to_owned()).decrement(1.0);
}

pub(crate) fn room_joined(namespace: &str, n: usize) {
    counter!("wsx_sio_room_joins_total", "namespace" => namespace.to_owned()).increment(n as u64);
}

pub(crate) fn room_left(namespace: &str) {
    counter!("wsx_sio_room_leaves_total", "namespace" => namespace.to_owned()).increment(1);
}

pub(crate) fn event_received(namespace: &str) {
    counter!("wsx_sio_events_received_total", "namespace" => namespace.to_owned()).increment(1);
}

pub(crate) fn events_sent(namespace: &str, receivers: usize) {
    counter!("wsx_sio_events_sent_total", "namespace" => namespace.to_owned())
        .increment(receivers as u64);
}

pub(crate) fn slow_consumer() {
    counter!("wsx_sio_slow_consumers_total").increment(1);
}

#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn volatile_dropped() {
    counter!("wsx_sio_volatile_dropped_total").increment(1);
}

pub(crate) fn ack_timeout(namespace: &str) {
    counter!("wsx_sio_ack_timeouts_total", "namespace" => namespace.to_owned()).increment(1);
}
