//! The server's opening handshake over an async transport: read the request, validate and
//! negotiate ([`crate::handshake::server`]), answer 101 or an HTTP error, hand over a
//! [`WebSocket`].
#![forbid(unsafe_code)]

use super::{HeadError, read_head};
use crate::error::{Error, HandshakeError};
use crate::handshake::server::{self, ServerOptions};
use crate::proto::Role;
use crate::stream::{WebSocket, WebSocketConfig};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Accepts a WebSocket connection on `stream` with default options.
///
/// # Errors
/// See [`accept_with`].
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (ws, _) = accept_with(
        stream,
        &ServerOptions::default(),
        WebSocketConfig::default(),
    )
    .await?;
    Ok(ws)
}

/// Accepts a WebSocket connection on `stream`: reads the HTTP request (bounded by
/// `options.max_head_size` and `max_headers`), validates it, runs the Origin check and the
/// subprotocol and extension negotiation, and answers `101 Switching Protocols`. Bytes that
/// arrived behind the request are kept as the start of the frame stream. Returns the connection
/// and the request (for its path, headers and cookies).
///
/// A bad request is answered with an HTTP error status and a short reason (400, 403, 405, 426
/// with `Sec-WebSocket-Version: 13`, 431), the transport is shut down, and the error returned.
/// Bound the whole call with a timeout against slow peers.
///
/// # Errors
/// [`Error::Handshake`] for a request that was refused, [`Error::Io`] for transport errors.
pub async fn accept_with<S>(
    mut stream: S,
    options: &ServerOptions,
    config: WebSocketConfig,
) -> Result<(WebSocket<S>, http::Request<()>), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(1024);
    let head = read_head(&mut stream, &mut buf, |bytes| {
        server::parse_request(bytes, options)
    })
    .await;
    let (request, head_len) = match head {
        Ok(head) => head,
        Err(HeadError::Invalid(err)) => return Err(reject(&mut stream, err).await),
        Err(other) => return Err(other.into()),
    };
    let negotiated = match server::accept(&request, options) {
        Ok(negotiated) => negotiated,
        Err(err) => return Err(reject(&mut stream, err).await),
    };
    let mut response = Vec::with_capacity(256);
    server::write_response(&negotiated.response, &mut response);
    stream.write_all(&response).await?;
    stream.flush().await?;
    let ws = WebSocket::from_raw(
        stream,
        Role::Server,
        config,
        &buf[head_len..],
        negotiated.extension,
        negotiated.subprotocol,
    );
    Ok((ws, request))
}

/// Answers a refused handshake with its HTTP error and closes the transport.
async fn reject<S>(stream: &mut S, err: HandshakeError) -> Error
where
    S: AsyncWrite + Unpin,
{
    let response = server::error_response(&err);
    // The peer may already be gone; the handshake error is what matters.
    if stream.write_all(&response).await.is_ok() {
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
    }
    Error::Handshake(err)
}
