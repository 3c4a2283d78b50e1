//! No allocation per message in steady state on the stream path: after a warm-up, echoing
//! single-frame messages through a `WebSocket` server must not allocate per message (the
//! payload is a slice of the read buffer, replies are coalesced into a reused write buffer).
//! A counting global allocator measures the whole process: server and client in one
//! current-thread runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use wsx::{Message, WebSocketConfig};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

async fn round_trips(
    client: &mut wsx::WebSocket<tokio::net::TcpStream>,
    payload: &Message,
    count: usize,
) {
    for _ in 0..count {
        client.send(payload.clone()).await.unwrap();
        let echoed = client.next().await.unwrap().unwrap();
        assert_eq!(
            echoed.into_payload().len(),
            payload.clone().into_payload().len()
        );
    }
}

fn steady_state_allocations(payload: Message, count: usize) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (mut ws, _) = wsx::accept_with(
                tcp,
                &wsx::handshake::ServerOptions::default(),
                WebSocketConfig::default(),
            )
            .await
            .unwrap();
            while let Some(Ok(message)) = ws.next().await {
                if message.is_data() && ws.send(message).await.is_err() {
                    break;
                }
            }
        });
        let (mut client, _) = wsx::connect(&format!("ws://{addr}/")).await.unwrap();
        // Warm-up: buffers reach their working size, tokio's internals settle.
        round_trips(&mut client, &payload, 2_000).await;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        round_trips(&mut client, &payload, count).await;
        let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
        client.close(None).await.unwrap();
        server.await.unwrap();
        during
    })
}

#[test]
fn echoing_single_frame_messages_does_not_allocate_per_message() {
    let cases = [
        ("binary 16 B", Message::binary(vec![7u8; 16]), 10_000),
        ("binary 1 KiB", Message::binary(vec![7u8; 1024]), 10_000),
        ("text 1 KiB", Message::text("a".repeat(1024)), 10_000),
        (
            "binary 64 KiB",
            Message::binary(vec![7u8; 64 * 1024]),
            2_000,
        ),
    ];
    for (name, payload, count) in cases {
        let allocations = steady_state_allocations(payload, count);
        // Each round trip is two messages through the core (client and server). Measured: 0.
        // A stray allocation or two (a buffer regrowing once) would be fine; one per message
        // (thousands) is not.
        assert!(
            allocations < 20,
            "{name}: {allocations} allocations in {count} round trips"
        );
        println!("{name}: {allocations} allocations in {count} round trips");
    }
}
