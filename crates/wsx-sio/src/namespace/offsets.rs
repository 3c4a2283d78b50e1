//! Emits whose recovery offset the adapter assigns ([`crate::adapter::Adapter::assigns_offsets`]:
//! the Redis Streams adapter, whose offsets are the entry ids of the stream every server
//! reads, so that a client can resume on any server).
//!
//! With connection state recovery on and such an adapter, an event without acknowledgement
//! (a broadcast, or an emit to one socket, which Node sends as a broadcast to the socket's
//! own room) is published first; this server's sockets get it once the adapter knows its
//! offset, with the offset appended as its last argument, as Node's `ClusterAdapter` does
//! (`publishAndReturnOffset`, then `addOffsetIfNecessary`, then the local broadcast). So local
//! delivery waits about one Redis round trip here, and only here: that is the price of an
//! offset any server understands. The adapter calls back in the order of the emits, so a
//! client gets its events in the order they were emitted.

use super::flags::{Delivery, EmitFlags};
use super::hub::Hub;
use crate::args::Args;
use crate::error::EmitError;
use crate::frames::event_frames;
use crate::rooms::BroadcastOptions;
use serde_json::Value;
use std::sync::atomic::Ordering;

/// Whether an emit with `flags` on `hub` takes this path.
pub(crate) fn applies(hub: &Hub, flags: EmitFlags) -> bool {
    !flags.volatile && hub.recovery().is_some() && hub.adapter().assigns_offsets()
}

/// Publishes the event and delivers it to this server's sockets once its offset is known.
/// Returns how many of this server's sockets `opts` addresses now (they get it with the
/// offset, a round trip later).
///
/// # Errors
/// The adapter could not queue it (local delivery was done all the same, without an offset).
pub(crate) fn emit(
    hub: &Hub,
    opts: BroadcastOptions,
    flags: EmitFlags,
    event: &str,
    args: Args,
) -> Result<usize, EmitError> {
    if opts.local {
        // Nothing to publish: this server's sockets only, at once, without an offset (one
        // made up here would mean nothing to the other servers, and a client resuming from
        // it elsewhere would lose its session).
        return Ok(deliver(hub, &opts, flags, event, args, None));
    }
    let targets = hub.adapter().local_targets(&opts, hub.host()).len();
    let weak = hub.downgrade();
    let (owned_event, owned_args, owned_opts) = (event.to_owned(), args.clone(), opts.clone());
    hub.adapter().broadcast_with_offset(
        event,
        &args,
        &opts,
        Box::new(move |offset| {
            if let Some(hub) = weak.upgrade() {
                let _ = deliver(&hub, &owned_opts, flags, &owned_event, owned_args, offset);
            }
        }),
    )?;
    Ok(targets)
}

/// This server's part: the offset appended (and the packet kept by the store, if it keeps
/// packets), then the adapter's local delivery.
fn deliver(
    hub: &Hub,
    opts: &BroadcastOptions,
    flags: EmitFlags,
    event: &str,
    args: Args,
    offset: Option<String>,
) -> usize {
    let ns = &*hub.0;
    let mut with_offset = args.clone();
    if let Some(offset) = &offset {
        with_offset.values.push(Value::String(offset.clone()));
    }
    let frames = event_frames(ns.parser, hub.name(), event, with_offset, None);
    if let (Some(offset), Some(store)) = (&offset, hub.recovery()) {
        store.store(hub.name(), offset, opts, &frames);
    }
    let local = BroadcastOptions {
        local: true,
        ..opts.clone()
    };
    let delivery;
    let host: &dyn crate::adapter::Host =
        if flags.is_plain() && ns.outgoing_sockets.load(Ordering::Acquire) == 0 {
            ns
        } else {
            delivery = Delivery {
                ns,
                flags,
                event,
                args: &args,
            };
            &delivery
        };
    let sent = hub
        .adapter()
        .broadcast(event, &args, &frames, &local, host)
        .unwrap_or(0);
    crate::metrics::events_sent(hub.name(), sent);
    sent
}
