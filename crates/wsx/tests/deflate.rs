//! permessage-deflate (RFC 7692) over loopback: wsx against wsx with every parameter, the
//! handshake's accept/decline/refuse rules on the wire, and wsx against Python's `websockets`
//! (which compresses by default) in both directions.
//!
//! The Python tests use the virtualenv `target/pyws-venv` (created on first use with
//! `python3 -m venv target/pyws-venv && target/pyws-venv/bin/pip install websockets` when
//! `python3` is present). Without Python each prints a `SKIPPED` line saying why and passes,
//! unless `WSX_REQUIRE_PYTHON` is set (as CI does), which makes them fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod skip;

use bytes::Bytes;
use common::{
    bind, header, masked_frame, parse_frame, raw_deflate_handshake, raw_request, read_head, status,
    switching_protocols, url, within,
};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use wsx::handshake::{ClientOptions, ServerOptions, Target};
use wsx::proto::deflate::{DeflateCodec, DeflateConfig, DeflateParams, PerMessageDeflate};
use wsx::proto::{Extension, ExtensionFactory};
use wsx::{Error, HandshakeError, Message, Role, WebSocketConfig};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A transport that counts the bytes read and written through it.
struct Counting<S> {
    inner: S,
    read: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read
            .fetch_add(buf.filled().len() - before, Ordering::Relaxed);
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            self.written.fetch_add(n, Ordering::Relaxed);
        }
        result
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn server_options(config: DeflateConfig) -> ServerOptions {
    ServerOptions {
        extensions: vec![Arc::new(PerMessageDeflate::new(config))],
        ..ServerOptions::default()
    }
}

fn client_options(config: DeflateConfig) -> ClientOptions {
    ClientOptions {
        extensions: vec![Arc::new(PerMessageDeflate::new(config))],
        ..ClientOptions::default()
    }
}

fn big_config() -> WebSocketConfig {
    WebSocketConfig {
        limits: wsx::Limits {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
        },
        ..WebSocketConfig::default()
    }
}

/// Connects to `url` offering permessage-deflate with `config`, with limits big enough for
/// every test message.
async fn connect_deflate(
    url: &str,
    config: DeflateConfig,
) -> Result<(wsx::WebSocket<tokio::net::TcpStream>, http::Response<()>), Error> {
    wsx::connect_with(
        url,
        &http::HeaderMap::new(),
        &client_options(config),
        big_config(),
    )
    .await
}
/// A wsx echo server with `config`; returns its address. Each connection echoes until closed.
async fn wsx_echo_server(config: DeflateConfig) -> std::net::SocketAddr {
    let (listener, addr) = bind().await;
    let options = Arc::new(server_options(config));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let options = options.clone();
            tokio::spawn(async move {
                let Ok((mut ws, _)) = wsx::accept_with(tcp, &options, big_config()).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_data() && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Deterministic chat-like JSON: repetitive keys, varied values.
fn json_message(i: usize) -> String {
    format!(
        r#"{{"type":"message","id":{i},"room":"room-{}","user":{{"id":{},"name":"user{}","online":{}}},"text":"message number {i} says hello to everyone in the room","tags":["chat","json","{}"],"ts":{}}}"#,
        i % 7,
        i * 31 % 1000,
        i % 50,
        i.is_multiple_of(3),
        ["a", "b", "c"][i % 3],
        1_700_000_000_000u64 + i as u64 * 1234
    )
}

/// The messages every echo test sends: JSON text, repetitive and noisy binary, empty, tiny and
/// large ones.
fn test_messages() -> Vec<Message> {
    let mut messages: Vec<Message> = (0..50).map(|i| Message::text(json_message(i))).collect();
    messages.push(Message::text(""));
    messages.push(Message::text("x"));
    messages.push(Message::binary(vec![0u8; 300_000]));
    let mut x = 0x9e37_79b9u32;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    messages.push(Message::binary(noise));
    messages.push(Message::text("é".repeat(100_000)));
    messages.push(Message::text(
        (0..2000).map(json_message).collect::<Vec<_>>().join(","),
    ));
    messages
}

/// Sends every test message over `ws` and checks each echo.
async fn echo_all<S>(ws: &mut wsx::WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for (i, message) in test_messages().into_iter().enumerate() {
        ws.send(message.clone()).await.unwrap();
        let echo = ws.next().await.expect("connection ended").unwrap();
        assert!(echo == message, "echo of message {i} differs");
    }
}

// ---------------------------------------------------------------------------------------------
// wsx <-> wsx.

#[tokio::test]
async fn wsx_client_and_server_compress_json() {
    within(async {
        let addr = wsx_echo_server(DeflateConfig::default()).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let read = Arc::new(AtomicUsize::new(0));
        let counting = Counting {
            inner: tcp,
            read: read.clone(),
            written: Arc::new(AtomicUsize::new(0)),
        };
        let target = Target::parse(&url(addr)).unwrap();
        let (mut ws, response) = wsx::client_handshake(
            counting,
            &target,
            &http::HeaderMap::new(),
            &client_options(DeflateConfig::default()),
            big_config(),
        )
        .await
        .unwrap();
        assert_eq!(
            response.headers()["sec-websocket-extensions"],
            "permessage-deflate"
        );
        echo_all(&mut ws).await;

        // 1000 chat messages: with context takeover they cost a fraction of their size.
        let before = read.load(Ordering::Relaxed);
        let mut plain = 0;
        for i in 0..1000 {
            let text = json_message(i);
            plain += text.len();
            ws.send(Message::text(text)).await.unwrap();
            ws.next().await.unwrap().unwrap();
        }
        let wire = read.load(Ordering::Relaxed) - before;
        println!("1000 JSON messages: {plain} bytes, {wire} on the wire");
        assert!(wire * 4 < plain, "{wire} bytes on the wire for {plain}");
        ws.close(None).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn wsx_every_parameter_combination() {
    within(async {
        for (server_bits, client_bits) in [(15, 15), (8, 8), (9, 12), (12, 9), (10, 15)] {
            for server_reset in [false, true] {
                for client_reset in [false, true] {
                    let server = DeflateConfig {
                        server_max_window_bits: server_bits,
                        client_max_window_bits: client_bits,
                        server_no_context_takeover: server_reset,
                        ..DeflateConfig::default()
                    };
                    let client = DeflateConfig {
                        client_no_context_takeover: client_reset,
                        threshold: 0,
                        ..DeflateConfig::default()
                    };
                    let addr = wsx_echo_server(server).await;
                    let (mut ws, response) = connect_deflate(&url(addr), client).await.unwrap();
                    let answer = response.headers()["sec-websocket-extensions"]
                        .to_str()
                        .unwrap();
                    assert_eq!(
                        answer.contains("server_no_context_takeover"),
                        server_reset,
                        "{answer}"
                    );
                    // JSON, empty, tiny, and one message larger than every window.
                    let mut messages: Vec<Message> =
                        (0..30).map(|i| Message::text(json_message(i))).collect();
                    messages.push(Message::text(""));
                    messages.push(Message::text("x"));
                    messages.push(Message::text(
                        (0..200).map(json_message).collect::<Vec<_>>().join(","),
                    ));
                    for message in messages {
                        ws.send(message.clone()).await.unwrap();
                        assert!(ws.next().await.unwrap().unwrap() == message, "{answer}");
                    }
                    ws.close(None).await.unwrap();
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn deflate_off_on_either_side_means_no_extension() {
    within(async {
        let off = DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        };
        for (server, client) in [
            (off.clone(), DeflateConfig::default()),
            (DeflateConfig::default(), off),
        ] {
            let addr = wsx_echo_server(server).await;
            let (mut ws, response) = connect_deflate(&url(addr), client).await.unwrap();
            assert!(response.headers().get("sec-websocket-extensions").is_none());
            echo_all(&mut ws).await;
            ws.close(None).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn server_declines_malformed_offers_and_answers_the_first_valid_one() {
    within(async {
        let addr = wsx_echo_server(DeflateConfig::default()).await;
        let cases = [
            ("permessage-deflate; bogus", None),
            ("permessage-deflate; server_max_window_bits=7", None),
            ("permessage-deflate; client_no_context_takeover=1", None),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                None,
            ),
            (
                "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10",
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            ("x-other, permessage-deflate", Some("permessage-deflate")),
        ];
        for (offer, want) in cases {
            let (mut tcp, head) =
                raw_request(addr, &format!("Sec-WebSocket-Extensions: {offer}\r\n")).await;
            assert_eq!(status(&head), 101, "{offer}: {head}");
            assert_eq!(header(&head, "Sec-WebSocket-Extensions"), want, "{offer}");
            if want.is_none() {
                // Without the extension, RSV1 is a protocol error (RFC 6455 §5.2).
                tcp.write_all(&masked_frame(true, 4, 0x1, b"x"))
                    .await
                    .unwrap();
                let close = read_frame(&mut tcp).await;
                assert_eq!(close.close_code(), Some(1002), "{offer}");
            }
        }
    })
    .await;
}

/// A server answering the handshake with `extensions` as its `Sec-WebSocket-Extensions`.
async fn server_answering(extensions: &'static str) -> std::net::SocketAddr {
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let head = read_head(&mut tcp).await;
            let response = switching_protocols(
                &head,
                &format!("Sec-WebSocket-Extensions: {extensions}\r\n"),
            );
            let _ = tcp.write_all(response.as_bytes()).await;
        }
    });
    addr
}

#[tokio::test]
async fn client_refuses_responses_it_did_not_allow() {
    within(async {
        let demanding = DeflateConfig {
            server_no_context_takeover: true,
            server_max_window_bits: 10,
            client_max_window_bits: 12,
            ..DeflateConfig::default()
        };
        let cases: [(&DeflateConfig, &'static str); 7] = [
            (&demanding, "permessage-deflate; server_max_window_bits=10"),
            (&demanding, "permessage-deflate; server_no_context_takeover"),
            (&demanding, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11"),
            (
                &demanding,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13",
            ),
            (&DeflateConfig::default(), "permessage-deflate; unknown"),
            (&DeflateConfig::default(), "permessage-deflate; client_max_window_bits"),
            (
                &DeflateConfig::default(),
                "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            ),
        ];
        for (config, answer) in cases {
            let addr = server_answering(answer).await;
            let result = connect_deflate(&url(addr), config.clone()).await;
            assert!(
                matches!(result, Err(Error::Handshake(HandshakeError::UnofferedExtension(_)))),
                "{answer}: {result:?}"
            );
        }
        // And a response it did allow.
        let addr = server_answering(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8",
        )
        .await;
        connect_deflate(&url(addr), demanding).await
        .unwrap();
    })
    .await;
}

/// Reads frames from `tcp` until a close frame, which it returns.
async fn read_frame(tcp: &mut TcpStream) -> common::Frame {
    let mut buf = Vec::new();
    loop {
        if let Some((frame, used)) = parse_frame(&buf) {
            if frame.opcode == 0x8 {
                return frame;
            }
            buf.drain(..used);
            continue;
        }
        let mut chunk = [0u8; 4096];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "EOF before a close frame");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn invalid_deflate_data_closes_with_1002() {
    within(async {
        let addr = wsx_echo_server(DeflateConfig::default()).await;
        let mut tcp = raw_deflate_handshake(addr).await;
        // RFC 7692 §7.2.3.1's "Hello" is fine, then a block of reserved type 3 is not.
        tcp.write_all(&masked_frame(
            true,
            4,
            0x1,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        ))
        .await
        .unwrap();
        tcp.write_all(&masked_frame(true, 4, 0x1, &[0x07, 0x00]))
            .await
            .unwrap();
        let mut buf = vec![0u8; 64];
        let mut got = Vec::new();
        while parse_frame(&got).is_none() {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        let (echo, _) = parse_frame(&got).unwrap();
        assert_eq!(echo.opcode, 0x1);
        let close = read_frame(&mut tcp).await;
        assert_eq!(close.close_code(), Some(1002));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Python: the zlib oracle for 8-bit windows, and `websockets` both ways.

/// `python3`, if present.
fn system_python() -> Option<PathBuf> {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| PathBuf::from("python3"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}

/// Skips (or, with `WSX_REQUIRE_PYTHON=1`, fails) a test that needs Python.
fn skip(why: &str) {
    skip::skip("WSX_REQUIRE_PYTHON", why);
}

/// The Python of `target/pyws-venv` with `websockets` installed, creating it if needed.
fn websockets_python() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = target_dir().join("pyws-venv");
        let python = venv.join("bin/python");
        let usable = |python: &Path| {
            Command::new(python)
                .args(["-c", "import websockets.asyncio.server"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if usable(&python) {
            return Ok(python);
        }
        let Some(system) = system_python() else {
            return Err("python3 is not installed".into());
        };
        eprintln!("creating {} with websockets", venv.display());
        let created = Command::new(&system)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "websockets"])
                .status()
                .is_ok_and(|s| s.success());
        if created && usable(&python) {
            Ok(python)
        } else {
            Err(format!(
                "cannot set up {} (run: python3 -m venv target/pyws-venv && target/pyws-venv/bin/pip install websockets)",
                venv.display()
            ))
        }
    })
    .clone()
}

/// A window limit of 8 bits is compressed with zlib's 9-bit window, whose distances stay within
/// 250 bytes: check that a strict 256-byte-window inflater (Python's zlib, fed back through its
/// window in small steps) decodes every message, and that it does catch a larger window.
#[test]
fn window_bits_8_output_inflates_with_a_256_byte_window() {
    let Some(python) = system_python() else {
        skip("python3 is not installed");
        return;
    };
    let messages: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            (0..(i * 97 % 13) + 1)
                .map(json_message)
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes()
        })
        .collect();
    let compress = |bits: u8, level: u32| -> Vec<u8> {
        // One stream: the server compresses with context takeover, limited to `bits`.
        let p = DeflateParams {
            server_max_window_bits: bits,
            ..DeflateParams::default()
        };
        let config = DeflateConfig {
            threshold: 0,
            level,
            ..DeflateConfig::default()
        };
        let mut codec = DeflateCodec::new(Role::Server, p, &config);
        let mut stream = Vec::new();
        for message in &messages {
            let mut out = bytes::BytesMut::new();
            if codec.encode(message, &mut out).unwrap().is_some() {
                stream.extend_from_slice(&out);
                stream.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
            }
        }
        stream
    };
    let script = r#"
import sys, zlib
data = sys.stdin.buffer.read()
d = zlib.decompressobj(wbits=-8)
out = bytearray()
while data:
    out += d.decompress(data, 16)  # small steps: every back reference goes through the window
    data = d.unconsumed_tail
print(len(out))
"#;
    let run = |stream: &[u8]| {
        use std::io::Write;
        let mut child = Command::new(&python)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stream).unwrap();
        child.wait_with_output().unwrap()
    };
    let total: usize = messages.iter().map(Vec::len).sum();
    // Every zlib-rs strategy: stored, quick (1), fast (2-3), medium (4-6), slow (7-9).
    for level in [0, 1, 2, 4, 6, 9] {
        let strict = run(&compress(8, level));
        assert!(
            strict.status.success(),
            "level {level}: {}",
            String::from_utf8_lossy(&strict.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&strict.stdout).trim(),
            total.to_string()
        );
    }
    // The oracle is strict: 10-bit output does not inflate with a 256-byte window.
    let loose = run(&compress(10, 6));
    assert!(
        !loose.status.success(),
        "a 256-byte window inflated 10-bit output"
    );
    assert!(String::from_utf8_lossy(&loose.stderr).contains("too far back"));
}

/// Python side: `server PORTFILE FACTORY_KWARGS` runs an echo server; `client URL FACTORY_KWARGS`
/// sends messages and checks their echoes. FACTORY_KWARGS is a Python dict literal for
/// websockets' permessage-deflate factory (`{}`: websockets' defaults).
const PY_PEER: &str = r#"
import ast, asyncio, json, sys
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory)

def messages():
    out = []
    for i in range(300):
        out.append(json.dumps({"type": "message", "id": i, "user": "user%d" % (i % 17),
                               "text": "hello number %d from python" % i, "ok": i % 2 == 0}))
    out += ["", "x", "é" * 50000, b"\x00" * 200000, bytes(range(256)) * 300]
    return out

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def server(portfile, kwargs):
    ext = [ServerPerMessageDeflateFactory(**kwargs)] if kwargs else None
    opts = {"extensions": ext} if ext else {"compression": "deflate"}
    async with serve(echo, "127.0.0.1", 0, max_size=None, **opts) as srv:
        port = srv.sockets[0].getsockname()[1]
        with open(portfile + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.rename(portfile + ".tmp", portfile)
        await asyncio.sleep(60)

async def client(url, kwargs):
    ext = [ClientPerMessageDeflateFactory(**kwargs)] if kwargs else None
    opts = {"extensions": ext} if ext else {"compression": "deflate"}
    async with connect(url, max_size=None, **opts) as ws:
        print("extensions:", ws.protocol.extensions, flush=True)
        assert ws.protocol.extensions, "permessage-deflate was not negotiated"
        for m in messages():
            await ws.send(m)
            echo = await ws.recv()
            assert echo == m, "echo differs for a message of %d bytes" % len(m)
    print("ok", flush=True)

mode, arg, kwargs = sys.argv[1], sys.argv[2], ast.literal_eval(sys.argv[3])
asyncio.run(server(arg, kwargs) if mode == "server" else client(arg, kwargs))
"#;

/// Python `websockets` clients (default and tuned factories) against a wsx echo server.
#[test]
fn python_websockets_client_against_wsx_server() {
    let python = match websockets_python() {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = runtime.block_on(wsx_echo_server(DeflateConfig::default()));
    let small = runtime.block_on(wsx_echo_server(DeflateConfig {
        server_max_window_bits: 9,
        client_max_window_bits: 10,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    }));
    for (addr, kwargs) in [
        (addr, "{}"),
        (
            addr,
            "{'client_max_window_bits': 9, 'server_max_window_bits': 8}",
        ),
        (
            addr,
            "{'server_no_context_takeover': True, 'client_no_context_takeover': True}",
        ),
        (
            addr,
            "{'server_max_window_bits': 12, 'client_max_window_bits': None}",
        ),
        (small, "{}"),
    ] {
        let output = Command::new(&python)
            .args(["-c", PY_PEER, "client", &url(addr), kwargs])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("ok"),
            "{kwargs}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!(
            "python client {kwargs}: {}",
            stdout.lines().next().unwrap_or("")
        );
    }
}

/// wsx clients (default and tuned) against Python `websockets` echo servers (default and
/// tuned).
#[test]
fn wsx_client_against_python_websockets_server() {
    let python = match websockets_python() {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cases = [
        ("{}", DeflateConfig::default()),
        (
            "{'server_max_window_bits': 10, 'client_max_window_bits': 9}",
            DeflateConfig::default(),
        ),
        (
            "{'server_no_context_takeover': True, 'client_no_context_takeover': True}",
            DeflateConfig::default(),
        ),
        (
            "{'client_max_window_bits': 8}",
            DeflateConfig {
                server_no_context_takeover: true,
                server_max_window_bits: 11,
                threshold: 0,
                ..DeflateConfig::default()
            },
        ),
    ];
    for (kwargs, config) in cases {
        let dir = target_dir().join("tmp");
        std::fs::create_dir_all(&dir).unwrap();
        let portfile = dir.join(format!("pyws-port-{}-{}", std::process::id(), kwargs.len()));
        let _ = std::fs::remove_file(&portfile);
        let mut child = Command::new(&python)
            .args(["-c", PY_PEER, "server", portfile.to_str().unwrap(), kwargs])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&portfile) {
                break text.trim().parse::<u16>().unwrap();
            }
            assert!(
                start.elapsed().as_secs() < 20,
                "the python server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let _ = std::fs::remove_file(&portfile);
        let result = runtime.block_on(within(async {
            let (mut ws, response) =
                connect_deflate(&format!("ws://127.0.0.1:{port}/"), config.clone())
                    .await
                    .unwrap();
            let answer = response.headers()["sec-websocket-extensions"]
                .to_str()
                .unwrap()
                .to_owned();
            echo_all(&mut ws).await;
            for i in 0..200 {
                let message = Message::text(json_message(i));
                ws.send(message.clone()).await.unwrap();
                assert!(ws.next().await.unwrap().unwrap() == message);
            }
            ws.close(None).await.unwrap();
            answer
        }));
        let _ = child.kill();
        let _ = child.wait();
        println!("python server {kwargs}: {result}");
    }
}

#[test]
fn factory_is_usable_as_a_trait_object() {
    let factory: Arc<dyn ExtensionFactory> = Arc::new(PerMessageDeflate::default());
    assert_eq!(factory.name(), "permessage-deflate");
    let (answer, mut codec) = factory.accept(&factory.offer()).unwrap();
    assert_eq!(answer.to_string(), "permessage-deflate");
    assert_eq!(codec.rsv_bits(), 0x40);
    let mut out = bytes::BytesMut::new();
    let _ = codec
        .encode(&Bytes::from_static(&[b'a'; 1000]), &mut out)
        .unwrap();
    let _: &dyn Extension = codec.as_ref();
}
