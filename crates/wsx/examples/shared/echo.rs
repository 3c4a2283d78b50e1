//! The echo loop both conformance examples use: every text and binary message goes back as it
//! came; replies are batched (queued while more messages are already readable, flushed once).

use futures_util::FutureExt;
use wsx::{Error, Message, WebSocket};

/// Echoes until the connection closes. Returns how it ended.
pub async fn echo<S>(ws: &mut WebSocket<S>) -> Result<(), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(item) = ws.next().await {
        handle(ws, item?).await?;
        // Batch: answer everything already readable before flushing.
        while let Some(Some(item)) = ws.next().now_or_never() {
            handle(ws, item?).await?;
        }
        match ws.flush().await {
            Ok(()) | Err(Error::ConnectionClosed) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn handle<S>(ws: &mut WebSocket<S>, message: Message) -> Result<(), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if message.is_data() {
        match ws.feed(message).await {
            // The peer started closing while we echoed: the read side finishes the handshake.
            Ok(()) | Err(Error::AlreadyClosing | Error::ConnectionClosed) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Limits high enough for the Autobahn TestSuite's 16 MiB messages.
#[allow(dead_code)]
pub fn conformance_config() -> wsx::WebSocketConfig {
    wsx::WebSocketConfig {
        limits: wsx::Limits {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
        },
        ..wsx::WebSocketConfig::default()
    }
}
