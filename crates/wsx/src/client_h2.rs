//! The client's RFC 8441 path (feature `hyper`, [`crate::Config::http2`]): WebSockets as
//! HTTP/2 extended CONNECT streams, on hyper's HTTP/2 client. One HTTP/2 connection per origin
//! is kept and shared by every WebSocket to it (each stream has its own flow control); a
//! closed one is replaced on the next connect.
#![forbid(unsafe_code)]

use crate::Conn;
use crate::client::Client;
use crate::error::{Error, HandshakeError, TlsError};
use crate::handshake::{ClientHandshake, ClientOptions, Target};
use crate::handshake_io::client::client_handshake;
use crate::proto::Role;
use crate::stream::{WebSocket, WebSocketConfig};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::sync::Arc;

/// An origin: secure, host, port.
type Origin = (bool, String, u16);

/// The open HTTP/2 connections of a client, by origin. The lock is async and held while a
/// connection is being made, so concurrent connects to one origin share it.
#[derive(Default)]
pub(crate) struct Pool(tokio::sync::Mutex<HashMap<Origin, SendRequest<Empty<Bytes>>>>);

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

/// How the connection to an origin came out.
enum Transport {
    H2(SendRequest<Empty<Bytes>>, Option<std::net::SocketAddr>),
    /// The TLS server chose HTTP/1.1 by ALPN: the upgrade runs on this stream.
    /// (Boxed: a TLS stream is large, and this is the rare case.)
    Http11(
        Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
        Option<std::net::SocketAddr>,
    ),
}

fn h2_error(e: &hyper::Error) -> Error {
    Error::Io(std::io::Error::other(format!("HTTP/2: {e}")))
}

impl Client {
    /// Opens a WebSocket to `target` over HTTP/2 (or HTTP/1.1 when ALPN says so).
    pub(crate) async fn connect_h2(
        &self,
        target: &Target,
        headers: &http::HeaderMap,
        options: &ClientOptions,
        ws_config: WebSocketConfig,
        addr: &str,
    ) -> Result<Conn, Error> {
        let (mut sender, remote) = match self.h2_transport(target, addr).await? {
            Transport::H2(sender, remote) => (sender, remote),
            Transport::Http11(stream, remote) => {
                let (ws, response) =
                    client_handshake(*stream, target, headers, options, ws_config).await?;
                return Ok(self.start(ws, response, remote, target, http::Version::HTTP_11));
            }
        };
        let (handshake, request) = ClientHandshake::extended_connect(target, headers, options);
        let (mut parts, ()) = request.into_parts();
        // RFC 8441 §4: the :protocol pseudo-header, as hyper carries it.
        parts
            .extensions
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let request = http::Request::from_parts(parts, Empty::<Bytes>::new());
        sender.ready().await.map_err(|e| h2_error(&e))?;
        let mut response = sender
            .send_request(request)
            .await
            .map_err(|e| h2_error(&e))?;
        let mut head = http::Response::new(());
        *head.status_mut() = response.status();
        *head.version_mut() = response.version();
        *head.headers_mut() = response.headers().clone();
        let negotiated = handshake.validate_extended_connect(&head)?;
        let upgraded = hyper::upgrade::on(&mut response)
            .await
            .map_err(|e| h2_error(&e))?;
        let ws = WebSocket::from_raw(
            TokioIo::new(upgraded),
            Role::Client,
            ws_config,
            &[],
            negotiated.extension,
            negotiated.subprotocol,
        );
        Ok(self.start(
            ws,
            negotiated.response,
            remote,
            target,
            http::Version::HTTP_2,
        ))
    }

    /// The HTTP/2 connection to `target`'s origin: the open one, or a new one.
    async fn h2_transport(&self, target: &Target, addr: &str) -> Result<Transport, Error> {
        let origin = (target.secure, target.host.clone(), target.port);
        let mut pool = self.h2.0.lock().await;
        if let Some(sender) = pool.get(&origin) {
            if !sender.is_closed() {
                // The peer address is the connection's; it is not kept per origin.
                return Ok(Transport::H2(sender.clone(), None));
            }
            pool.remove(&origin);
        }
        let tcp = self.open_tcp(target, addr).await?;
        let remote = tcp.peer_addr().ok();
        let sender = if target.secure {
            let mut tls = match &self.tls {
                Some(tls) => (**tls).clone(),
                None => (*crate::tls::default_client_config()?).clone(),
            };
            tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|_| TlsError::InvalidServerName(target.host.clone()))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
                .connect(name, tcp)
                .await
                .map_err(|e| TlsError::from_handshake(addr.to_owned(), e))?;
            if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Ok(Transport::Http11(Box::new(stream), remote));
            }
            handshake(TokioIo::new(stream)).await?
        } else {
            // ws:// over HTTP/2 is prior knowledge (RFC 9113 §3.3): there is no upgrade to it.
            handshake(TokioIo::new(tcp)).await?
        };
        pool.insert(origin, sender.clone());
        Ok(Transport::H2(sender, remote))
    }
}

/// The HTTP/2 client handshake; the connection is driven by its own task.
async fn handshake<I>(io: I) -> Result<SendRequest<Empty<Bytes>>, Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(io)
        .await
        .map_err(|e| {
            Error::Handshake(HandshakeError::MalformedHttp(format!(
                "HTTP/2 connection failed: {e}"
            )))
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("HTTP/2 connection ended: {e}");
        }
    });
    Ok(sender)
}
