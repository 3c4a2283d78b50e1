//! The frames of a Socket.IO packet as the connection writes them, in the server's
//! [`Parser`]'s form:
//! - JSON (socket.io-protocol v5, "Packet encoding"): its text as an Engine.IO message `4...`,
//!   then its binary attachments as binary messages;
//! - msgpack (socket.io-msgpack-parser): one binary message holding the whole packet, binary
//!   values in place.
//!
//! A broadcast encodes its packet once here and shares the frames (`Bytes` clones) among its
//! receivers.

use crate::args::Args;
use crate::engine::transport::Frame;
use crate::packet::Parser;
use crate::packet::msgpack;
use crate::packet::socket::{self as sio, Body};
use bytes::Bytes;

/// The frames of a packet.
fn packet_frames(parser: Parser, packet: &sio::Packet, attachments: &[Bytes]) -> Vec<Frame> {
    match parser {
        Parser::Json => {
            let mut text = String::from("4");
            sio::encode_into(packet, &mut text);
            let mut frames = Vec::with_capacity(1 + attachments.len());
            frames.push(Frame::Text(text.into()));
            frames.extend(attachments.iter().cloned().map(Frame::Binary));
            frames
        }
        Parser::MsgPack => vec![Frame::Binary(msgpack::encode(packet, attachments).into())],
    }
}

/// The frames of a packet of `namespace`.
pub(crate) fn frames(
    parser: Parser,
    namespace: &str,
    body: Body,
    attachments: &[Bytes],
) -> Vec<Frame> {
    let packet = sio::Packet {
        namespace: namespace.to_owned(),
        body,
    };
    packet_frames(parser, &packet, attachments)
}

/// The frames of an event (with `ack`, one that asks for an acknowledgement).
pub(crate) fn event_frames(
    parser: Parser,
    namespace: &str,
    event: &str,
    args: Args,
    ack: Option<u64>,
) -> Vec<Frame> {
    let attachments = args.has_binary().then_some(args.attachments.len());
    frames(
        parser,
        namespace,
        Body::Event {
            name: event.to_owned(),
            args: args.values,
            ack,
            attachments,
        },
        &args.attachments,
    )
}

/// The frames of an event for a broadcast, and its arguments back (a networked adapter
/// passes them on to other servers): encoded once, without copying the arguments.
pub(crate) fn broadcast_frames(
    parser: Parser,
    namespace: &str,
    event: &str,
    args: Args,
) -> (Vec<Frame>, Args) {
    let Args {
        values,
        attachments,
    } = args;
    let binary = (!attachments.is_empty()).then_some(attachments.len());
    let packet = sio::Packet {
        namespace: namespace.to_owned(),
        body: Body::Event {
            name: event.to_owned(),
            args: values,
            ack: None,
            attachments: binary,
        },
    };
    let frames = packet_frames(parser, &packet, &attachments);
    let values = match packet.body {
        Body::Event { args, .. } => args,
        _ => Vec::new(),
    };
    (
        frames,
        Args {
            values,
            attachments,
        },
    )
}
