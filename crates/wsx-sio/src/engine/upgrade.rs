//! The upgrade from HTTP long-polling to WebSocket (engine.io-protocol v4, "Upgrade"), on the
//! new WebSocket's side: the client sends the probe `2probe` and gets `3probe`; the polling
//! session's waiting `GET` is answered with a noop `6` so that the client can pause polling;
//! the client sends `5`, and the WebSocket goes to the session
//! ([`super::transport::polling::PollShared::complete_upgrade`]).
//!
//! Anything else before `5`, or no `5` within `upgrade_timeout`, fails the upgrade: the
//! WebSocket is closed and the session goes on polling, as with the Node server.

use super::transport::polling::{PollShared, UpgradeSocket};
use super::transport::{CloseCause, Frame, Transport};
use std::time::Duration;

/// Runs the probe on `ws` for the session `shared` (which [`PollShared::begin_upgrade`]
/// accepted) and hands the WebSocket over, or fails the upgrade.
pub async fn probe(shared: &PollShared, mut ws: UpgradeSocket, timeout: Duration) {
    let exchange = async {
        loop {
            match ws.recv().await {
                Some(Ok(Frame::Text(text))) if text.as_str() == "2probe" => {
                    if ws.feed(Frame::Text("3probe".into())).await.is_err()
                        || ws.flush().await.is_err()
                    {
                        return false;
                    }
                    shared.probed();
                }
                Some(Ok(Frame::Text(text))) if text.as_str() == "5" => return true,
                _ => return false,
            }
        }
    };
    let upgraded = tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(false);
    if !upgraded {
        tracing::debug!("upgrade to WebSocket failed: no probe and upgrade packet in time");
        shared.abort_upgrade();
        ws.close(CloseCause::PeerError("invalid upgrade")).await;
        return;
    }
    if let Err(mut ws) = shared.complete_upgrade(ws).await {
        // The session ended meanwhile.
        ws.close(CloseCause::Normal).await;
    }
}
