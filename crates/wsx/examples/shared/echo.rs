//! The echo loop both conformance examples use: every text and binary message goes back as it
//! came. Replies are only fed (encoded into the write buffer): `next` writes out everything fed
//! before it waits for more input, so replies to messages that arrived together leave together,
//! with no explicit flush and no extra read attempt per message.

use wsx::{Error, WebSocket};

/// Echoes until the connection closes. Returns how it ended.
pub async fn echo<S>(ws: &mut WebSocket<S>) -> Result<(), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(item) = ws.next().await {
        let message = item?;
        if message.is_data() {
            match ws.feed(message).await {
                // The peer started closing while we echoed: the read side finishes the handshake.
                Ok(()) | Err(Error::AlreadyClosing | Error::ConnectionClosed) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// permessage-deflate (RFC 7692) when `deflate` is true (the default of both examples;
/// `--no-deflate` turns it off): the server accepts it, the client offers it. Every message is
/// compressed (threshold 0): RFC 7692 lets small messages go uncompressed, but kosoku 0.1.0
/// errors on an uncompressed echo in a compression case.
#[allow(dead_code)]
pub fn extensions(deflate: bool) -> Vec<std::sync::Arc<dyn wsx::proto::ExtensionFactory>> {
    if !deflate {
        return Vec::new();
    }
    let config = wsx::proto::DeflateConfig {
        threshold: 0,
        ..wsx::proto::DeflateConfig::default()
    };
    let factory = wsx::proto::PerMessageDeflate::new(config);
    vec![std::sync::Arc::new(factory)]
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
