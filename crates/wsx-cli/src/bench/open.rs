//! Opening the load's connections: TCP (with `TCP_NODELAY`), then the RFC 6455 opening
//! handshake made and checked by wsx's sans-I/O `wsx::handshake::client` (random key,
//! `Sec-WebSocket-Accept` checked, `101` required; no extension offered, so the server sends
//! plain frames). At most [`MAX_IN_FLIGHT`] handshakes run at once (below the usual listen
//! backlog of 128, so no SYN is dropped and retried a second later), and `--ramp` spaces the
//! starts out in time.

use super::stats::{Errors, Kind};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use wsx::handshake::client::ClientHandshake;
use wsx::handshake::{ClientOptions, Target};

/// Connects and handshakes in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;

/// An open connection, after the handshake.
#[derive(Debug)]
pub struct Opened {
    /// The transport.
    pub stream: TcpStream,
    /// Bytes read past the handshake response (the start of the frame stream).
    pub buf: BytesMut,
}

/// How to open connections.
#[derive(Debug, Clone)]
pub struct OpenPlan {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The parsed URL (path and Host header for the request).
    pub target: Target,
    /// Raw TCP: no handshake at all.
    pub raw: bool,
    /// Limit for the connect plus the handshake of one connection.
    pub timeout: Duration,
    /// Connections started per second; `None`: as fast as [`MAX_IN_FLIGHT`] allows.
    pub ramp: Option<f64>,
}

/// Opens one connection; the error says which step failed.
async fn open_one(plan: &OpenPlan) -> Result<Opened, (Kind, String)> {
    let stream = tokio::time::timeout(plan.timeout, TcpStream::connect(plan.addr))
        .await
        .map_err(|_| (Kind::Connect, "connect timed out".to_owned()))?
        .map_err(|e| (Kind::Connect, e.to_string()))?;
    let _ = stream.set_nodelay(true);
    if plan.raw {
        return Ok(Opened {
            stream,
            buf: BytesMut::new(),
        });
    }
    tokio::time::timeout(plan.timeout, handshake(stream, &plan.target))
        .await
        .map_err(|_| (Kind::Handshake, "handshake timed out".to_owned()))?
}

async fn handshake(mut stream: TcpStream, target: &Target) -> Result<Opened, (Kind, String)> {
    let failed = |e: &dyn std::fmt::Display| (Kind::Handshake, e.to_string());
    let (handshake, request) =
        ClientHandshake::new(target, &http::HeaderMap::new(), &ClientOptions::default());
    stream.write_all(&request).await.map_err(|e| failed(&e))?;
    let mut buf = BytesMut::with_capacity(1024);
    let (response, head_len) = loop {
        if let Some(parsed) = handshake.parse_response(&buf).map_err(|e| failed(&e))? {
            break parsed;
        }
        buf.reserve(1024);
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Err(failed(&"server closed the connection during the handshake")),
            Ok(_) => {}
            Err(e) => return Err(failed(&e)),
        }
    };
    handshake.validate(&response).map_err(|e| match e {
        wsx::HandshakeError::UnexpectedStatus(status) => (
            Kind::Handshake,
            crate::refusal::explain(&crate::refusal::url_of(target, false), status),
        ),
        other => failed(&other),
    })?;
    let rest = buf.split_off(head_len);
    Ok(Opened { stream, buf: rest })
}

/// Opens `count` connections; `up` counts the successes as they happen (for the progress
/// bar). Returns the open connections and the errors of the others.
pub async fn open_all(
    plan: Arc<OpenPlan>,
    count: usize,
    up: Arc<AtomicUsize>,
) -> (Vec<Opened>, Errors) {
    let gate = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        if let Some(rate) = plan.ramp {
            // At most a day ahead: a tiny --ramp must not overflow the clock.
            let delay = Duration::try_from_secs_f64(i as f64 / rate)
                .unwrap_or(Duration::MAX)
                .min(Duration::from_secs(86_400));
            tokio::time::sleep_until(start + delay).await;
        }
        // Cannot fail: the semaphore is never closed.
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let plan = plan.clone();
        let up = up.clone();
        tasks.push(tokio::spawn(async move {
            let opened = open_one(&plan).await;
            drop(permit);
            if opened.is_ok() {
                up.fetch_add(1, Ordering::Relaxed);
            }
            opened
        }));
    }
    let mut open = Vec::with_capacity(count);
    let mut errors = Errors::default();
    for task in tasks {
        match task.await {
            Ok(Ok(opened)) => open.push(opened),
            Ok(Err((kind, detail))) => errors.add(kind, detail),
            Err(e) => errors.add(Kind::Connect, e),
        }
    }
    (open, errors)
}
