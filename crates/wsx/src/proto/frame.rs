//! Frame headers (RFC 6455 §5.2): decoding and encoding of FIN, RSV1-3, opcode, MASK, the
//! 7/16/64-bit payload length and the masking key.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! ```
#![forbid(unsafe_code)]

use crate::proto::error::{ProtocolError, SendError};

/// RFC 6455 §5.5: a control frame (close, ping, pong) carries at most 125 bytes of payload.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The one check of an outgoing control frame's payload size, for every path that sends one
/// (the core's `send`, the event API before it queues).
pub(crate) fn check_control_payload(len: usize) -> Result<(), SendError> {
    if len > MAX_CONTROL_PAYLOAD {
        return Err(SendError::Invalid("control frame payload over 125 bytes"));
    }
    Ok(())
}

/// The largest header: 2 bytes, 8 bytes of 64-bit length, 4 bytes of masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// RSV1, RSV2 and RSV3 as they sit in the first header byte.
pub const RSV_MASK: u8 = 0x70;
/// RSV1 (used by permessage-deflate).
pub const RSV1: u8 = 0x40;

/// A frame opcode (RFC 6455 §5.2, §11.8). Reserved opcodes are rejected when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: text (UTF-8).
    Text = 0x1,
    /// 0x2: binary.
    Binary = 0x2,
    /// 0x8: close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// Whether this is a control opcode (close, ping, pong).
    #[must_use]
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// The opcode for a 4-bit value.
    ///
    /// # Errors
    /// [`ProtocolError::ReservedOpcode`] for 0x3-0x7 and 0xB-0xF.
    pub const fn from_u8(value: u8) -> Result<Self, ProtocolError> {
        Ok(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last frame of a message.
    pub fin: bool,
    /// RSV1-3 in their first-byte positions (`0x40`, `0x20`, `0x10`).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on frames from a client.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`. `Ok(None)` means more bytes are needed;
    /// `Ok(Some((header, len)))` gives the header and its length in bytes.
    ///
    /// Checks every rule that a header alone can break: reserved opcodes, fragmented or
    /// oversized control frames (RFC 6455 §5.5), the most significant bit of a 64-bit length
    /// (§5.2). RSV bits and masking depend on the connection and are checked by the decoder.
    ///
    /// # Errors
    /// The header breaks one of the rules above.
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & RSV_MASK;
        let opcode = OpCode::from_u8(b0 & 0x0f)?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7f;
        if opcode.is_control() {
            // RFC 6455 §5.5: control frames MUST NOT be fragmented and carry at most 125 bytes.
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if usize::from(len7) > MAX_CONTROL_PAYLOAD {
                return Err(ProtocolError::ControlFrameTooLarge(u64::from(len7)));
            }
        }
        let (payload_len, mut pos) = match len7 {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(b);
                    let len = u64::from_be_bytes(be);
                    // RFC 6455 §5.2: the most significant bit MUST be 0.
                    if len >> 63 != 0 {
                        return Err(ProtocolError::InvalidLength);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            match buf.get(pos..pos + 4) {
                Some(k) => {
                    pos += 4;
                    Some([k[0], k[1], k[2], k[3]])
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some((
            Self {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// The length of the encoded header for a payload of `payload_len` bytes.
    #[must_use]
    pub const fn encoded_len(payload_len: u64, masked: bool) -> usize {
        let len = if payload_len <= 125 {
            2
        } else if payload_len <= 0xffff {
            4
        } else {
            10
        };
        if masked { len + 4 } else { len }
    }

    /// Encodes the header into `out`, using the minimal length encoding, and returns its length.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | (self.rsv & RSV_MASK) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = if self.payload_len <= 125 {
            out[1] = mask_bit | self.payload_len as u8;
            2
        } else if let Ok(len) = u16::try_from(self.payload_len) {
            out[1] = mask_bit | 0x7e; // 126: a 16-bit length follows (RFC 6455 §5.2)
            out[2..4].copy_from_slice(&len.to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(h: FrameHeader) {
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        assert_eq!(n, FrameHeader::encoded_len(h.payload_len, h.mask.is_some()));
        assert_eq!(FrameHeader::decode(&out[..n]), Ok(Some((h, n))));
        // Every strict prefix asks for more bytes.
        for i in 0..n {
            assert_eq!(
                FrameHeader::decode(&out[..i]),
                Ok(None),
                "prefix {i} of {h:?}"
            );
        }
    }

    #[test]
    fn every_opcode_and_length_boundary_round_trips() {
        let data_ops = [OpCode::Continuation, OpCode::Text, OpCode::Binary];
        let lens = [
            0u64,
            1,
            125,
            126,
            127,
            0xffff,
            0x1_0000,
            0x7fff_ffff_ffff_ffff,
        ];
        for op in data_ops {
            for &len in &lens {
                for mask in [None, Some([1, 2, 3, 4])] {
                    for fin in [true, false] {
                        for rsv in [0, RSV1, 0x20, 0x10, RSV_MASK] {
                            roundtrip(FrameHeader {
                                fin,
                                rsv,
                                opcode: op,
                                mask,
                                payload_len: len,
                            });
                        }
                    }
                }
            }
        }
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            for len in [0u64, 1, 2, 124, 125] {
                roundtrip(FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: op,
                    mask: None,
                    payload_len: len,
                });
            }
        }
    }

    #[test]
    fn length_encodings_at_the_boundaries() {
        let cases: &[(u64, &[u8])] = &[
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0, 126]),
            (65535, &[0x82, 126, 0xff, 0xff]),
            (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ];
        for &(len, bytes) in cases {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: len,
            };
            let mut out = [0u8; MAX_HEADER_LEN];
            let n = h.encode(&mut out);
            assert_eq!(&out[..n], bytes, "len {len}");
        }
    }

    #[test]
    fn reserved_opcodes_are_rejected() {
        for op in (0x3..=0x7).chain(0xb..=0xf) {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn control_frame_rules() {
        // Ping without FIN.
        assert_eq!(
            FrameHeader::decode(&[0x09, 0]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        // Close with 126 bytes (16-bit length form).
        assert_eq!(
            FrameHeader::decode(&[0x88, 126, 0, 126]),
            Err(ProtocolError::ControlFrameTooLarge(126))
        );
        assert_eq!(
            FrameHeader::decode(&[0x8a, 127]),
            Err(ProtocolError::ControlFrameTooLarge(127))
        );
    }

    #[test]
    fn sixty_four_bit_length_with_top_bit_is_rejected() {
        let buf = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::decode(&buf), Err(ProtocolError::InvalidLength));
    }

    #[test]
    fn rfc_examples_decode() {
        // RFC 6455 §5.7: unmasked "Hello", masked "Hello", 256-byte and 64 KiB binary.
        let (h, n) = FrameHeader::decode(&[0x81, 0x05, 0x48]).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, n),
            (true, OpCode::Text, 5, 2)
        );
        let (h, n) = FrameHeader::decode(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d])
            .unwrap()
            .unwrap();
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));
        let (h, _) = FrameHeader::decode(&[0x01, 0x03]).unwrap().unwrap();
        assert!(!h.fin);
        let (h, _) = FrameHeader::decode(&[0x82, 0x7e, 0x01, 0x00])
            .unwrap()
            .unwrap();
        assert_eq!(h.payload_len, 256);
        let (h, _) = FrameHeader::decode(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0])
            .unwrap()
            .unwrap();
        assert_eq!(h.payload_len, 65536);
    }
}
