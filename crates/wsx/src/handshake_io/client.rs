//! The client's opening handshake over an async transport, and [`connect`] for `ws://` URLs
//! over TCP.
#![forbid(unsafe_code)]

use super::read_head;
use crate::error::{Error, HandshakeError};
use crate::handshake::client::{ClientHandshake, ClientOptions, Target};
use crate::proto::Role;
use crate::stream::{WebSocket, WebSocketConfig};
use bytes::BytesMut;
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to a `ws://` URL over TCP with default options. Returns the connection and the
/// server's `101` response.
///
/// # Errors
/// See [`connect_with`].
pub async fn connect(url: &str) -> Result<(WebSocket<TcpStream>, http::Response<()>), Error> {
    connect_with(
        url,
        &HeaderMap::new(),
        &ClientOptions::default(),
        WebSocketConfig::default(),
    )
    .await
}

/// Connects to a `ws://` URL over TCP (with `TCP_NODELAY`), sending `headers` (Origin,
/// Authorization, cookies...) with the request. `wss://` needs TLS: use the event API's
/// `Client`, or open a TLS stream yourself and call [`client_handshake`].
///
/// # Errors
/// [`Error::Handshake`] for a bad URL or a refused handshake, [`Error::Io`] for transport
/// errors.
pub async fn connect_with(
    url: &str,
    headers: &HeaderMap,
    options: &ClientOptions,
    config: WebSocketConfig,
) -> Result<(WebSocket<TcpStream>, http::Response<()>), Error> {
    let target = Target::parse(url)?;
    if target.secure {
        return Err(HandshakeError::InvalidUrl("wss:// needs a TLS transport".into()).into());
    }
    let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    stream.set_nodelay(true)?;
    client_handshake(stream, &target, headers, options, config).await
}

/// Runs the client handshake on an already connected transport (TCP, TLS, anything).
///
/// # Errors
/// [`Error::Handshake`] when the response is not an acceptable `101`, [`Error::Io`] for
/// transport errors.
pub async fn client_handshake<S>(
    mut stream: S,
    target: &Target,
    headers: &HeaderMap,
    options: &ClientOptions,
    config: WebSocketConfig,
) -> Result<(WebSocket<S>, http::Response<()>), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (handshake, request) = ClientHandshake::new(target, headers, options);
    stream.write_all(&request).await?;
    stream.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    let (response, head_len) = read_head(&mut stream, &mut buf, |bytes| {
        handshake.parse_response(bytes)
    })
    .await?;
    let negotiated = handshake.validate(&response)?;
    let ws = WebSocket::from_raw(
        stream,
        Role::Client,
        config,
        &buf[head_len..],
        negotiated.extension,
        negotiated.subprotocol,
    );
    Ok((ws, negotiated.response))
}
