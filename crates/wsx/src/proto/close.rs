//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).
#![forbid(unsafe_code)]

use crate::proto::error::{ProtocolError, SendError};
use crate::proto::frame::MAX_CONTROL_PAYLOAD;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// A newtype over `u16` with the codes of RFC 6455 as associated constants, so that any code a
/// peer sends can be represented while the well-known ones have names. Codes 3000-3999 are
/// registered with IANA for libraries and frameworks, 4000-4999 are for private use by
/// applications.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL_CLOSURE: Self = Self(1000);
    /// 1001: an endpoint is going away (server shutdown, browser navigating away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the endpoint received a type of data it cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1004: reserved; never sent.
    pub const RESERVED: Self = Self(1004);
    /// 1005: no status code was present in the close frame. Never sent on the wire; reported
    /// locally when the peer's close frame had an empty payload.
    pub const NO_STATUS_RECEIVED: Self = Self(1005);
    /// 1006: the connection closed without a close frame. Never sent on the wire; reported
    /// locally.
    pub const ABNORMAL_CLOSURE: Self = Self(1006);
    /// 1007: a message's data was inconsistent with its type (for example invalid UTF-8 text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension it did not.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (the server is overloaded).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway or proxy received an invalid response from upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed. Never sent on the wire; reported locally.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// The numeric value.
    #[must_use]
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code may appear in a close frame on the wire (RFC 6455 §7.4.1-2): the defined
    /// codes except 1004, 1005, 1006 and 1015, and the 3000-4999 ranges.
    #[must_use]
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The one check of a close code about to be sent, for every path that sends one (the
    /// core's `send`, the event API's `close` before it queues).
    pub(crate) fn check_sendable(self) -> Result<(), SendError> {
        if self.is_valid_on_wire() {
            Ok(())
        } else {
            Err(SendError::Invalid("close code may not be sent on the wire"))
        }
    }

    /// Whether this code is in the 3000-4999 range of library and application codes.
    #[must_use]
    pub const fn is_application(self) -> bool {
        matches!(self.0, 3000..=4999)
    }

    /// A short English description of the code's meaning.
    #[must_use]
    pub const fn meaning(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1004 => "reserved",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid frame payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal server error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            3000..=3999 => "registered library/framework code",
            4000..=4999 => "private application code",
            _ => "unassigned",
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({} {})", self.0, self.meaning())
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.meaning())
    }
}

/// The payload of a close frame: a code and a UTF-8 reason of at most 123 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason; at most 123 bytes of UTF-8 so that the frame fits in 125 bytes.
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`.
    #[must_use]
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            reason: reason.into(),
        }
    }

    /// Parses a received close payload (RFC 6455 §5.5.1): empty, or a 2-byte code that is valid
    /// on the wire followed by UTF-8.
    ///
    /// # Errors
    /// A 1-byte payload, a code that must not be sent, or a reason that is not UTF-8.
    pub fn parse(payload: &[u8]) -> Result<Option<Self>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    simdutf8::basic::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(Self {
                    code,
                    reason: reason.to_owned(),
                }))
            }
        }
    }

    /// Encodes the payload. The reason is cut at a character boundary so that the payload fits
    /// the 125-byte limit of control frames.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut reason = self.reason.as_str();
        // The code takes 2 bytes of the control frame's 125.
        let max_reason = MAX_CONTROL_PAYLOAD - 2;
        if reason.len() > max_reason {
            let mut end = max_reason;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason = &reason[..end];
        }
        let mut buf = BytesMut::with_capacity(2 + reason.len());
        buf.put_u16(self.code.0);
        buf.put_slice(reason.as_bytes());
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_of_every_code() {
        for code in 0..=u16::MAX {
            let valid = CloseCode(code).is_valid_on_wire();
            let expected = matches!(code, 1000 | 1001 | 1002 | 1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(valid, expected, "code {code}");
        }
    }

    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(
            CloseFrame::parse(&[3]),
            Err(ProtocolError::InvalidClosePayload)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, b'o', b'k']),
            Ok(Some(CloseFrame::new(1000, "ok")))
        );
        for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let p = bad.to_be_bytes();
            assert_eq!(
                CloseFrame::parse(&p),
                Err(ProtocolError::InvalidCloseCode(bad)),
                "{bad}"
            );
        }
        for good in [
            1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 3999, 4000, 4999,
        ] {
            let p = good.to_be_bytes();
            assert_eq!(
                CloseFrame::parse(&p),
                Ok(Some(CloseFrame::new(good, ""))),
                "{good}"
            );
        }
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, 0xce, 0xba, 0xe1]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn encode_truncates_reason_at_char_boundary() {
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, "é".repeat(100));
        let payload = frame.encode();
        assert!(payload.len() <= 125);
        assert!(CloseFrame::parse(&payload).is_ok());
        assert_eq!(u16::from(CloseCode::from(4001)), 4001);
    }
}
