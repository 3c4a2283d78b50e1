//! The few WebSocket pieces (RFC 6455) that the raw fan-out server and its load generator
//! write by hand, so that neither carries a WebSocket library's per-message work: the opening
//! handshake of both sides, and frames that fit in one buffer (no fragmentation, no
//! extensions: these programs only exchange small single-frame messages).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// RFC 6455 §4.2.2: the GUID appended to the client's key before hashing it.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Opcodes (RFC 6455 §5.2) these programs send or look at.
pub mod op {
    /// A text frame.
    pub const TEXT: u8 = 0x1;
    /// A binary frame.
    pub const BINARY: u8 = 0x2;
    /// A close frame.
    pub const CLOSE: u8 = 0x8;
    /// A ping frame.
    pub const PING: u8 = 0x9;
    /// A pong frame.
    pub const PONG: u8 = 0xA;
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2 step 5.4).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.digest().bytes())
}

/// Where the HTTP head ends (the index after its blank line), if it is complete in `buf`.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// A client's opening handshake, parsed: its path and the 101 response to send, or the 400
/// response for a request that is not a WebSocket upgrade (RFC 6455 §4.2.1).
pub fn server_handshake(head: &[u8]) -> Result<(String, Vec<u8>), Vec<u8>> {
    let bad =
        || b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(bad()),
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let key = header("sec-websocket-key").map(<[u8]>::trim_ascii);
    let ok = req.method == Some("GET")
        && has_token("upgrade", "websocket")
        && has_token("connection", "upgrade")
        && header("sec-websocket-version") == Some(b"13");
    let (Some(key), true) = (key, ok) else {
        return Err(bad());
    };
    let path = req.path.unwrap_or("/").to_owned();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    Ok((path, response.into_bytes()))
}

/// A client's opening handshake request for `path` on `host`, with `key` (16 bytes of the
/// caller's choosing: these clients only talk to servers on this machine).
pub fn client_request(host: &str, path: &str, key: [u8; 16]) -> (Vec<u8>, String) {
    let key = STANDARD.encode(key);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let accept = accept_key(key.as_bytes());
    (request.into_bytes(), accept)
}

/// Checks a server's handshake response: status 101 and the expected accept key.
pub fn client_check(head: &[u8], accept: &str) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(head) {
        Ok(httparse::Status::Complete(_)) if res.code == Some(101) => {}
        _ => {
            return Err(format!(
                "not a 101 response: {}",
                String::from_utf8_lossy(head).lines().next().unwrap_or("")
            ));
        }
    }
    let got = res
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value.trim_ascii());
    if got == Some(accept.as_bytes()) {
        Ok(())
    } else {
        Err("wrong Sec-WebSocket-Accept".into())
    }
}

/// One frame header plus `payload`, FIN set; masked with `mask` when one is given (a
/// client's frames, RFC 6455 §5.3), unmasked otherwise (a server's).
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame parsed from the front of a buffer.
pub struct Frame {
    /// Its opcode.
    pub opcode: u8,
    /// Its payload, unmasked.
    pub payload: Vec<u8>,
    /// How many bytes of the buffer it took.
    pub len: usize,
}

/// The largest frame these programs accept (their messages are small).
pub const MAX_FRAME: usize = 1 << 20;

/// Parses the first frame of `buf`: `Ok(None)` while it is incomplete, an error for a frame
/// these programs do not take (fragmented, reserved bits, or larger than [`MAX_FRAME`]).
pub fn decode(buf: &[u8]) -> Result<Option<Frame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 || b0 & 0x80 == 0 {
        return Err("fragmented frame or reserved bits set".into());
    }
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (
                usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                10,
            )
        }
        126 | 127 => return Ok(None),
        n => (usize::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes"));
    }
    let mut key = [0u8; 4];
    if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        key.copy_from_slice(&buf[at..at + 4]);
        at += 4;
    }
    if buf.len() < at + len {
        return Ok(None);
    }
    let mut payload = buf[at..at + len].to_vec();
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Some(Frame {
        opcode: b0 & 0x0F,
        payload,
        len: at + len,
    }))
}

/// Wall clock in nanoseconds since the Unix epoch (comparable across processes on one host).
pub fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
