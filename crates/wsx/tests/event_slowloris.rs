//! A client that sends its handshake one byte at a time is cut at `handshake_timeout`, and
//! never becomes a connection.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{serve, upgrade_request, within};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx::{Config, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_by_byte_handshake_is_cut_at_handshake_timeout() {
    within(async {
        let config = Config {
            handshake_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let server = Server::new(config);
        let connections = Arc::new(AtomicUsize::new(0));
        {
            let connections = connections.clone();
            server.on_connection(move |_| {
                connections.fetch_add(1, Ordering::SeqCst);
            });
        }
        let running = serve(server).await;

        let tcp = TcpStream::connect(running.addr).await.unwrap();
        let started = Instant::now();
        let (mut read_half, mut write_half) = tcp.into_split();
        let request = upgrade_request(running.addr, "").into_bytes();
        // One byte every 100 ms: the whole request would take far longer than the timeout.
        let dribble = tokio::spawn(async move {
            for byte in request {
                if write_half.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), read_half.read(&mut buf))
            .await
            .expect("the slow client was never cut off");
        let cut_after = started.elapsed();
        dribble.abort();
        match read {
            // EOF, or a reset: either way no response.
            Ok(0) | Err(_) => {}
            Ok(n) => panic!(
                "expected the connection to be cut, got a response: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
        }
        assert!(
            cut_after >= Duration::from_millis(250),
            "cut after {cut_after:?}, before handshake_timeout (300 ms)"
        );
        assert!(
            cut_after <= Duration::from_millis(300) + Duration::from_millis(1200),
            "cut after {cut_after:?}, want about handshake_timeout (300 ms)"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 0, "on_connection calls");
        assert_eq!(running.server.connection_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tcp_client_is_cut_at_handshake_timeout() {
    within(async {
        let config = Config {
            handshake_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let running = serve(Server::new(config)).await;
        let mut tcp = TcpStream::connect(running.addr).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("the silent client was never cut off");
        assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
        let cut_after = started.elapsed();
        assert!(
            cut_after <= Duration::from_millis(1500),
            "cut after {cut_after:?}, want about 300 ms"
        );
    })
    .await;
}

/// The same deadline on a paused clock over an in-memory pipe (`Server::serve_connection`):
/// the dribbling client is cut at exactly `handshake_timeout` of virtual time, and
/// `serve_connection` says why.
#[tokio::test(start_paused = true)]
async fn a_dribbling_handshake_on_a_pipe_is_cut_at_exactly_handshake_timeout() {
    within(async {
        let config = Config {
            handshake_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let server = Server::new(config);
        let started = tokio::time::Instant::now();
        let (io, task) = event_support::memory::serve_pipe(&server);
        let (mut read_half, mut write_half) = tokio::io::split(io);
        let request = upgrade_request(event_support::memory::peer(), "").into_bytes();
        let dribble = tokio::spawn(async move {
            for byte in request {
                if write_half.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut buf = [0u8; 1024];
        let read = read_half.read(&mut buf).await;
        let cut_after = started.elapsed();
        dribble.abort();
        assert!(matches!(read, Ok(0)), "expected EOF, got {read:?}");
        assert!(
            cut_after >= Duration::from_millis(300) && cut_after <= Duration::from_millis(302),
            "cut after {cut_after:?} of virtual time, handshake_timeout is 300 ms"
        );
        let outcome = task.await.unwrap();
        assert!(
            matches!(outcome, Err(wsx::Error::Timeout("opening handshake"))),
            "{outcome:?}"
        );
        assert_eq!(server.connection_count(), 0);
    })
    .await;
}
