//! The few frames the load generator needs, by hand (RFC 6455 §5.2): it encodes one masked
//! frame per connection up front and only parses the headers of what comes back, so that the
//! client's cost per message is a write and a read, not a WebSocket library's work. Pure code,
//! unit tested here.

/// Text frame opcode.
pub const TEXT: u8 = 0x1;
/// Binary frame opcode.
pub const BINARY: u8 = 0x2;
/// Continuation frame opcode.
pub const CONTINUATION: u8 = 0x0;
/// Close frame opcode.
pub const CLOSE: u8 = 0x8;
/// Ping frame opcode.
pub const PING: u8 = 0x9;
/// Pong frame opcode.
pub const PONG: u8 = 0xA;

/// Encodes one final, masked (client-to-server) frame with `opcode` and `payload`.
pub fn encode_masked(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 14);
    out.push(0x80 | (opcode & 0x0F));
    // §5.2: 7-bit length, or 126 + 16-bit, or 127 + 64-bit, always with the mask bit.
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A server frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN bit.
    pub fin: bool,
    /// The opcode.
    pub opcode: u8,
    /// Header length in bytes.
    pub header_len: usize,
    /// Payload length in bytes.
    pub payload_len: usize,
}

/// Why a server frame is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// §5.1: a server MUST NOT mask its frames.
    Masked,
    /// §5.2: RSV bits without a negotiated extension (the load generator offers none).
    Reserved,
    /// A payload larger than the limit.
    TooLarge(u64),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Masked => f.write_str("server sent a masked frame"),
            Self::Reserved => f.write_str("server frame has RSV bits set"),
            Self::TooLarge(n) => write!(f, "server frame of {n} bytes is over the limit"),
        }
    }
}

/// Parses a server frame header from the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_header(buf: &[u8], max_payload: usize) -> Result<Option<Header>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::Reserved);
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let (header_len, len) = match b1 & 0x7F {
        126 => {
            let Some(bytes) = buf.get(2..4) else {
                return Ok(None);
            };
            (4, u64::from(u16::from_be_bytes([bytes[0], bytes[1]])))
        }
        127 => {
            let Some(bytes) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut raw = [0u8; 8];
            raw.copy_from_slice(bytes);
            (10, u64::from_be_bytes(raw))
        }
        n => (2, u64::from(n)),
    };
    // §5.2: the most significant bit of a 64-bit length MUST be 0.
    let payload_len = usize::try_from(len)
        .ok()
        .filter(|_| len >> 63 == 0)
        .filter(|n| *n <= max_payload)
        .ok_or(FrameError::TooLarge(len))?;
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        header_len,
        payload_len,
    }))
}

/// The close code of a close frame's payload (1005 when it has none).
pub fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 1005,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_three_encodings() {
        let mask = [1, 2, 3, 4];
        assert_eq!(encode_masked(BINARY, &[0; 125], mask).len(), 2 + 4 + 125);
        assert_eq!(encode_masked(BINARY, &[0; 126], mask).len(), 4 + 4 + 126);
        assert_eq!(
            encode_masked(BINARY, &[0; 65_535], mask).len(),
            4 + 4 + 65_535
        );
        assert_eq!(
            encode_masked(BINARY, &[0; 65_536], mask).len(),
            10 + 4 + 65_536
        );
    }

    #[test]
    fn rfc_6455_masked_hello() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let frame = encode_masked(TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            frame,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn server_headers_parse() {
        // RFC 6455 §5.7: unmasked "Hello", and a 256-byte binary message.
        let h = parse_header(&[0x81, 0x05, b'H'], 1 << 20).expect("valid");
        assert_eq!(
            h,
            Some(Header {
                fin: true,
                opcode: TEXT,
                header_len: 2,
                payload_len: 5
            })
        );
        let h = parse_header(&[0x82, 0x7E, 0x01, 0x00], 1 << 20).expect("valid");
        assert_eq!(h.map(|h| (h.header_len, h.payload_len)), Some((4, 256)));
        let h = parse_header(&[0x02, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0], 1 << 20).expect("valid");
        assert_eq!(
            h.map(|h| (h.fin, h.opcode, h.header_len, h.payload_len)),
            Some((false, BINARY, 10, 65_536))
        );
    }

    #[test]
    fn short_input_asks_for_more() {
        assert_eq!(parse_header(&[], 10), Ok(None));
        assert_eq!(parse_header(&[0x82], 10), Ok(None));
        assert_eq!(parse_header(&[0x82, 0x7E, 0x01], 1 << 20), Ok(None));
        assert_eq!(parse_header(&[0x82, 0x7F, 0, 0, 0], 1 << 20), Ok(None));
    }

    #[test]
    fn bad_server_frames_are_refused() {
        assert_eq!(parse_header(&[0x82, 0x85], 10), Err(FrameError::Masked));
        assert_eq!(parse_header(&[0xC2, 0x05], 10), Err(FrameError::Reserved));
        assert_eq!(
            parse_header(&[0x82, 0x7E, 0x01, 0x00], 100),
            Err(FrameError::TooLarge(256))
        );
        let huge = [0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(
            parse_header(&huge, usize::MAX),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn close_codes() {
        assert_eq!(close_code(&[0x03, 0xE8, b'x']), 1000);
        assert_eq!(close_code(&[]), 1005);
    }
}
