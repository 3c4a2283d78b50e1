//! Helpers shared by the integration tests: loopback listeners, a hand-written client and
//! server handshake (plain and with permessage-deflate), a frame builder and a frame parser that
//! know nothing of wsx, and bounded reads.
//!
//! This is the one home of the raw-peer helpers: `tests/event_support` includes this file as
//! its own `common` submodule and re-exports what the `event_*` tests use.
//!
//! Every helper is bounded: reads stop at a byte cap, and tests wrap their bodies in
//! [`within`] (or [`within_for`]) so nothing can hang.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most any test may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The sample nonce of RFC 6455 §1.3 and its accept value.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The masking key of the example in RFC 6455 §5.7.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The largest HTTP head the hand-written peers read.
const MAX_HEAD: usize = 64 * 1024;

/// Runs a test body under [`TEST_TIMEOUT`].
pub async fn within<F: Future>(body: F) -> F::Output {
    within_for(TEST_TIMEOUT, body).await
}

/// Runs a test body under `limit`.
pub async fn within_for<F: Future>(limit: Duration, body: F) -> F::Output {
    tokio::time::timeout(limit, body)
        .await
        .expect("the test did not finish within its time limit")
}

/// A listener on an ephemeral loopback port.
pub async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The `ws://` URL of a listener.
pub fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// A valid opening handshake request with the sample key, plus `extra` header lines (each
/// ending in `\r\n`).
pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         {extra}\r\n"
    )
}

/// Reads an HTTP head one byte at a time (so nothing behind it is consumed), up to the empty
/// line. Panics on EOF (showing what came so far) or past [`MAX_HEAD`].
pub async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < MAX_HEAD, "HTTP head too long");
        let n = stream.read(&mut byte).await.expect("reading an HTTP head");
        assert!(
            n == 1,
            "EOF inside an HTTP head; got so far: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("HTTP head is not UTF-8")
}

/// The value of header `name` in a head, compared case-insensitively.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The status code of a response head.
pub fn status(head: &str) -> u16 {
    let line = head.split("\r\n").next().unwrap();
    let mut parts = line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    parts.next().unwrap().parse().unwrap()
}

/// Sends [`upgrade_request`] with `extra` headers on a stream connected to `addr` and reads the
/// response head. Returns the stream (positioned after the head) and the head; checks nothing.
pub async fn request_on(
    mut stream: TcpStream,
    addr: SocketAddr,
    extra: &str,
) -> (TcpStream, String) {
    stream
        .write_all(upgrade_request(addr, extra).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    (stream, head)
}

/// [`request_on`] a new connection to `addr`.
pub async fn raw_request(addr: SocketAddr, extra: &str) -> (TcpStream, String) {
    request_on(TcpStream::connect(addr).await.unwrap(), addr, extra).await
}

/// A client that does the opening handshake by hand (checking the `101` and the accept value)
/// and hands back the raw TCP stream.
pub async fn raw_handshake(addr: SocketAddr) -> TcpStream {
    handshake_on(TcpStream::connect(addr).await.unwrap(), addr).await
}

/// [`raw_handshake`] on a stream that is already connected to `addr`.
pub async fn handshake_on(stream: TcpStream, addr: SocketAddr) -> TcpStream {
    let (stream, head) = request_on(stream, addr, "").await;
    assert_eq!(status(&head), 101, "response: {head}");
    assert_eq!(header(&head, "Sec-WebSocket-Accept"), Some(SAMPLE_ACCEPT));
    stream
}

/// A client that offers a bare `permessage-deflate` by hand and checks that the server answered
/// with exactly that; hands back the raw TCP stream (frames carry RSV1 when compressed).
pub async fn raw_deflate_handshake(addr: SocketAddr) -> TcpStream {
    let (stream, head) =
        raw_request(addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
    assert_eq!(
        header(&head, "Sec-WebSocket-Extensions"),
        Some("permessage-deflate")
    );
    stream
}

/// `Sec-WebSocket-Accept` for `key`, computed here (RFC 6455 §4.2.2) rather than by wsx.
pub fn accept_value(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(sha.finalize())
}

/// The `101` response to the upgrade request `request_head`, with the right
/// `Sec-WebSocket-Accept` and `extra` header lines (each ending in `\r\n`).
pub fn switching_protocols(request_head: &str, extra: &str) -> String {
    let key = header(request_head, "Sec-WebSocket-Key").expect("request without a key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\
         {extra}\r\n",
        accept_value(key)
    )
}

/// A server that accepts one connection and does the opening handshake by hand, then hands back
/// the raw TCP stream.
pub async fn raw_accept(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().await.unwrap();
    let head = read_head(&mut stream).await;
    let response = switching_protocols(&head, "");
    stream.write_all(response.as_bytes()).await.unwrap();
    stream
}

/// A frame header: `fin`, RSV bits (`rsv` in 0..8, shifted into place), `opcode`, a declared
/// payload length, and the masking key if `mask` is given.
pub fn frame_header(fin: bool, rsv: u8, opcode: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 0x7) << 4) | (opcode & 0x0f)];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A complete masked frame (what a client sends).
pub fn masked_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(fin, rsv, opcode, payload.len() as u64, Some(MASK));
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A complete unmasked frame (what a server sends).
pub fn unmasked_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(fin, rsv, opcode, payload.len() as u64, None);
    out.extend_from_slice(payload);
    out
}

/// A close frame payload: the code and the reason bytes.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason);
    out
}

/// A frame as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The status code of a close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 0x8, "not a close frame: {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Parses one frame from the start of `buf`; `None` when it is incomplete.
pub fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    let [b0, b1, ..] = *buf else { return None };
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap())),
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()), 10),
        n => (u64::from(n), 2),
    };
    let key = if masked {
        let key: [u8; 4] = buf.get(pos..pos + 4)?.try_into().unwrap();
        pos += 4;
        Some(key)
    } else {
        None
    };
    let len = usize::try_from(len).unwrap();
    let mut payload = buf.get(pos..pos + len)?.to_vec();
    if let Some(key) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    let frame = Frame {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0f,
        masked,
        payload,
    };
    Some((frame, pos + len))
}

/// Parses every complete frame in `buf`; panics on trailing bytes that are not a whole frame.
pub fn parse_frames(mut buf: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !buf.is_empty() {
        let (frame, used) = parse_frame(buf).unwrap_or_else(|| {
            panic!("{} trailing bytes are not a whole frame", buf.len());
        });
        frames.push(frame);
        buf = &buf[used..];
    }
    frames
}

/// Reads one frame, keeping bytes behind it in `buf`. `None` on a clean EOF between frames.
pub async fn read_frame(stream: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> Option<Frame> {
    loop {
        if let Some((frame, used)) = parse_frame(buf) {
            buf.drain(..used);
            return Some(frame);
        }
        assert!(buf.len() < MAX_HEAD, "frame too large for a test peer");
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            assert!(buf.is_empty(), "EOF inside a frame");
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until EOF (or an error), at most `cap` bytes; `Ok(bytes)` on a clean EOF.
pub async fn read_to_eof(stream: &mut (impl AsyncRead + Unpin), cap: usize) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf[..n]);
        assert!(all.len() <= cap, "more than {cap} bytes before EOF");
    }
}

/// How the peer ended the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A clean end of file (FIN).
    Eof,
    /// The connection was reset.
    Reset,
}

/// Reads everything until the peer closes the connection (at most 1 MiB).
pub async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Ending) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        assert!(out.len() < 1 << 20, "the peer keeps sending");
        match stream.read(&mut chunk).await {
            Ok(0) => return (out, Ending::Eof),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (out, Ending::Reset),
            Err(e) => panic!("read failed: {e}"),
        }
    }
}
