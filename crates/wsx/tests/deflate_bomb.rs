//! Decompression bombs (RFC 7692 §8.1 leaves the bound to the implementation): a compressed
//! message that would inflate to a gigabyte, and a single small frame that inflates to many
//! megabytes, both fail the connection with 1009 once past `max_message_size`, while this
//! process's heap (counted by the global allocator below) stays within a few megabytes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{bind, masked_frame, parse_frame, raw_deflate_handshake, within};
use flate2::{Compress, Compression, FlushCompress};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx::handshake::ServerOptions;
use wsx::proto::deflate::PerMessageDeflate;
use wsx::{Limits, WebSocketConfig};

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The server's message limit.
const LIMIT: usize = 1 << 20;

/// `chunks` MiB of zeros as one raw DEFLATE stream in pieces: the first MiB, then the
/// steady-state piece that every further MiB compresses to (the window is all zeros by then),
/// each ending with a sync flush. Returns (first, repeated); the repeated piece is about 1 KB.
fn zero_pieces() -> (Vec<u8>, Vec<u8>) {
    let zeros = vec![0u8; 1 << 20];
    let mut deflater = Compress::new(Compression::best(), false);
    let mut piece = || {
        let mut out = Vec::with_capacity(64 * 1024);
        deflater
            .compress_vec(&zeros, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out
    };
    let first = piece();
    let second = piece();
    let third = piece();
    assert_eq!(second, third, "no steady state");
    (first, second)
}

/// Opens a connection to a deflate-enabled wsx server limited to [`LIMIT`].
async fn connect_to_bounded_server() -> TcpStream {
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        let options = ServerOptions {
            extensions: vec![Arc::new(PerMessageDeflate::default())],
            ..ServerOptions::default()
        };
        let config = WebSocketConfig {
            limits: Limits {
                max_frame_size: 16 << 20,
                max_message_size: LIMIT,
            },
            ..WebSocketConfig::default()
        };
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok((mut ws, _)) = wsx::accept_with(tcp, &options, config).await else {
                continue;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_data() && ws.send(msg).await.is_err() {
                    break;
                }
            }
        }
    });
    raw_deflate_handshake(addr).await
}

/// Writes `frames` while reading, until the server's close frame arrives; returns its code.
/// Writing stops being possible once the server closes, which is expected.
async fn send_until_closed(tcp: TcpStream, frames: Vec<Vec<u8>>) -> Option<u16> {
    let (mut rd, mut wr) = tcp.into_split();
    let writer = tokio::spawn(async move {
        for frame in frames {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        wr
    });
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let code = loop {
        if let Some((frame, used)) = parse_frame(&buf) {
            if frame.opcode == 0x8 {
                break frame.close_code();
            }
            buf.drain(..used);
            continue;
        }
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    writer.abort();
    code
}

/// Both bombs in one test: the heap high-water mark is process-wide, so they must not overlap
/// with anything else.
#[test]
fn decompression_bombs_close_with_1009_in_bounded_memory() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(within(async {
        let (first, repeated) = zero_pieces();
        println!(
            "1 MiB of zeros deflates to {} bytes, each further MiB to {}",
            first.len(),
            repeated.len()
        );

        // A gigabyte of zeros in about 1 MB: one message of 1024 frames.
        let mut frames = Vec::with_capacity(1024);
        frames.push(masked_frame(false, 4, 0x2, &first));
        for i in 1..1024 {
            let fin = i == 1023;
            let payload = if fin {
                &repeated[..repeated.len() - 4]
            } else {
                &repeated[..]
            };
            frames.push(masked_frame(fin, 0, 0x0, payload));
        }
        let wire: usize = frames.iter().map(Vec::len).sum();
        let tcp = connect_to_bounded_server().await;
        let baseline = LIVE.load(Ordering::Relaxed);
        PEAK.store(baseline, Ordering::Relaxed);
        let code = send_until_closed(tcp, frames).await;
        let peak = PEAK.load(Ordering::Relaxed) - baseline;
        println!("1 GiB bomb in {wire} bytes: close code {code:?}, heap peak +{peak} bytes");
        assert_eq!(code, Some(1009));
        assert!(peak < 4 * LIMIT, "heap grew by {peak} bytes");

        // One frame of a few KB that inflates to 4 MiB.
        let mut bomb = first.clone();
        for _ in 0..3 {
            bomb.extend_from_slice(&repeated);
        }
        bomb.truncate(bomb.len() - 4);
        let tcp = connect_to_bounded_server().await;
        let baseline = LIVE.load(Ordering::Relaxed);
        PEAK.store(baseline, Ordering::Relaxed);
        let code = send_until_closed(tcp, vec![masked_frame(true, 4, 0x1, &bomb)]).await;
        let peak = PEAK.load(Ordering::Relaxed) - baseline;
        println!(
            "4 MiB bomb in one frame of {} bytes: close code {code:?}, heap peak +{peak} bytes",
            bomb.len()
        );
        assert_eq!(code, Some(1009));
        assert!(peak < 4 * LIMIT, "heap grew by {peak} bytes");
    }));
}
