//! A broadcast deflated once for every connection that compresses without context
//! (`Config::per_message_deflate`: permessage-deflate answered with `server_no_context_takeover`,
//! RFC 7692 §7.1.1.1). Such a connection compresses each message from an empty window, so the
//! compressed bytes of a message depend only on the payload, the level and the window: one
//! compression serves them all (wsx's [`wsx::proto::deflate::deflate_frame`], as wsx's own
//! `PreparedMessage` does for `Server::broadcast`), where a connection that compressed its
//! messages itself would compress the broadcast once per recipient.

use crate::engine::transport::Frame;
use bytes::Bytes;
use wsx::proto::{OpCode, SharedEncoding, deflate::deflate_frame, encode_server_frame};

/// The WebSocket frames of one packet for the connections of one [`SharedEncoding::Deflate`].
#[derive(Debug, Clone)]
pub(crate) struct Deflated {
    /// The setting they were made for.
    pub(crate) encoding: SharedEncoding,
    /// One complete server frame per Engine.IO frame of the packet: deflated (RSV1) when its
    /// payload reaches the threshold, else plain, as the connection's own codec would send it.
    pub(crate) frames: Vec<Bytes>,
    /// The same frames back to back, for a direct write (one `send`).
    pub(crate) joined: Bytes,
}

impl Deflated {
    /// `frames` for `encoding`; `None` for an encoding that is not deflate, or when the
    /// compressor failed (the connections then compress the packet themselves).
    pub(crate) fn new(frames: &[Frame], encoding: SharedEncoding) -> Option<Self> {
        let SharedEncoding::Deflate {
            level,
            window_bits,
            threshold,
        } = encoding
        else {
            return None;
        };
        let encoded = frames
            .iter()
            .map(|frame| {
                let (opcode, payload) = match frame {
                    Frame::Text(text) => (OpCode::Text, &text.as_bytes()[..]),
                    Frame::Binary(data) => (OpCode::Binary, &data[..]),
                };
                if payload.len() < threshold as usize {
                    Some(encode_server_frame(opcode, payload))
                } else {
                    deflate_frame(opcode, payload, u32::from(level), window_bits).ok()
                }
            })
            .collect::<Option<Vec<Bytes>>>()?;
        let joined = match &encoded[..] {
            [one] => one.clone(),
            many => many.concat().into(),
        };
        Some(Self {
            encoding,
            frames: encoded,
            joined,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFLATE: SharedEncoding = SharedEncoding::Deflate {
        level: 1,
        window_bits: 15,
        threshold: 100,
    };

    #[test]
    fn frames_past_the_threshold_are_deflated_the_others_plain() {
        let big = Frame::Text(format!("42[\"e\",\"{}\"]", "ab".repeat(200)).into());
        let small = Frame::Binary(Bytes::from_static(b"tiny"));
        let d = Deflated::new(&[big, small], DEFLATE).expect("deflates");
        assert_eq!(d.frames.len(), 2);
        assert_eq!(d.frames[0][0], 0x80 | 0x40 | 0x1, "FIN, RSV1, text");
        assert!(
            d.frames[0].len() < 100,
            "compressed: {} bytes",
            d.frames[0].len()
        );
        assert_eq!(&d.frames[1][..], &[0x82, 4, b't', b'i', b'n', b'y']);
        assert_eq!(d.joined.len(), d.frames[0].len() + d.frames[1].len());
        assert!(Deflated::new(&[], SharedEncoding::Plain).is_none());
    }
}
