//! The keep-alive HTTP/1.1 connections from this node to the owners of forwarded sessions:
//! at most [`IDLE_MAX`] idle ones per owner, each reused for at most [`IDLE_FOR`] (a node may
//! close a connection that sends no request for `Config::handshake_timeout`, 10 s by
//! default; reusing one that old would race that close. Should it happen anyway, the request
//! comes back unsent and goes on a new connection: see `proxy.rs`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The request side of a connection to an owner.
pub(super) type Sender = SendRequest<Full<Bytes>>;

/// Idle connections kept per owner.
const IDLE_MAX: usize = 64;
/// How long an idle connection is reused.
const IDLE_FOR: Duration = Duration::from_secs(4);

/// Idle connections by owner address.
#[derive(Default)]
pub(super) struct Pool(Mutex<HashMap<String, Vec<(Sender, Instant)>>>);

impl Pool {
    /// An idle connection to `address` that is still open, if any (await its `ready` before
    /// sending: the connection's task may not have seen the end of the last answer yet).
    pub(super) fn take(&self, address: &str) -> Option<Sender> {
        let mut idle = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(address)?;
        while let Some((sender, since)) = list.pop() {
            if since.elapsed() < IDLE_FOR && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Keeps a connection whose exchange is over, for the next request to `address`.
    pub(super) fn put(&self, address: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(address.to_owned()).or_default();
        list.retain(|(sender, since)| since.elapsed() < IDLE_FOR && !sender.is_closed());
        if list.len() < IDLE_MAX {
            list.push((sender, Instant::now()));
        }
    }
}

/// Opens a connection to `address` (its task runs until the connection closes); with
/// `upgrades`, the connection can be taken over after a `101`.
pub(super) async fn open(address: &str, upgrades: bool) -> std::io::Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let _ = tcp.set_nodelay(true);
    let io = hyper_util::rt::TokioIo::new(tcp);
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(std::io::Error::other)?;
    if upgrades {
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(%err, "forwarding: tunnel connection ended with an error");
            }
        });
    } else {
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "forwarding: connection ended with an error");
            }
        });
    }
    Ok(sender)
}
