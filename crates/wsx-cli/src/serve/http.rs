//! The HTTP side of `wsx serve`: hyper 1 on every accepted connection (HTTP/1.1, and over TLS
//! HTTP/2 by ALPN with RFC 8441 extended CONNECT for WebSockets), and the routes.

use super::Endpoints;
use crate::failure::Failure;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use wsx::tls::rustls;

/// The demo page (HTML, CSS and JavaScript in one file: nothing is fetched from elsewhere).
const INDEX: &str = include_str!("assets/index.html");

/// The Socket.IO demo page (it loads `/socket.io.min.js`, the official client).
const SIO_PAGE: &str = include_str!("assets/sio.html");

type Response = http::Response<Full<Bytes>>;

/// A TLS configuration from PEM files, offering HTTP/2 and HTTP/1.1 by ALPN.
pub(crate) fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, Failure> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| {
            Failure::new(format!(
                "cannot read the certificate {}: {e}",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(Failure::new(format!(
            "no certificate in {}",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        Failure::new(format!(
            "cannot read the private key {}: {e}",
            key.display()
        ))
    })?;
    let config = wsx::tls::server_config(chain, key)
        .map_err(|e| Failure::new(format!("unusable certificate or key: {e}")))?;
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `listener` until `stop` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    endpoints: Endpoints,
    stop: impl Future<Output = ()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else {
                    // Out of descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let endpoints = endpoints.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => connection(TokioIo::new(tcp), peer, endpoints).await,
                        Some(acceptor) => {
                            let handshake =
                                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
                            if let Ok(Ok(tls)) = handshake.await {
                                connection(TokioIo::new(tls), peer, endpoints).await;
                            }
                        }
                    }
                });
            }
        }
    }
}

/// One HTTP connection: HTTP/1.1 or HTTP/2 (by ALPN or preface), upgrades enabled.
async fn connection<I>(io: I, peer: SocketAddr, endpoints: Endpoints)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let endpoints = endpoints.clone();
        async move {
            // Socket.IO's long-polling requests wait (a long poll, a POST body): they are
            // answered asynchronously; everything else at once.
            let path = req.uri().path();
            if path == "/socket.io" || path.starts_with("/socket.io/") {
                return Ok::<_, Infallible>(endpoints.sio.handle_hyper(req, Some(peer)).await);
            }
            Ok::<_, Infallible>(route(req, peer, &endpoints))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // RFC 8441: browsers open WebSockets over the page's HTTP/2 connection when allowed.
    builder.http2().enable_connect_protocol();
    builder
        .http1()
        .header_read_timeout(Duration::from_secs(10))
        .timer(hyper_util::rt::TokioTimer::new());
    let _ = builder.serve_connection_with_upgrades(io, service).await;
}

fn route(req: http::Request<Incoming>, peer: SocketAddr, endpoints: &Endpoints) -> Response {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/echo" | "/chat" if wsx::upgrade::is_upgrade_request(&req) => {
            let server = if path == "/echo" {
                &endpoints.echo
            } else {
                &endpoints.chat
            };
            server.upgrade(req, Some(peer))
        }
        "/echo" | "/chat" => text(
            http::StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint\n",
            Some(("upgrade", "websocket")),
        ),
        _ if req.method() != http::Method::GET && req.method() != http::Method::HEAD => text(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "only GET\n",
            Some(("allow", "GET, HEAD")),
        ),
        "/" | "/index.html" => html(INDEX),
        "/sio" => html(SIO_PAGE),
        "/socket.io.min.js" => match &endpoints.sio_client {
            Some(js) => {
                let mut response = http::Response::new(Full::new(js.clone()));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/javascript; charset=utf-8"),
                );
                response
            }
            None => text(
                http::StatusCode::NOT_FOUND,
                "start wsx serve with --socketio-client node_modules/socket.io-client/dist/socket.io.min.js\n",
                None,
            ),
        },
        "/metrics" => {
            let mut response =
                http::Response::new(Full::new(Bytes::from(endpoints.metrics.render())));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        _ => text(http::StatusCode::NOT_FOUND, "not found\n", None),
    }
}

fn html(page: &'static str) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from_static(page.as_bytes())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn text(
    status: http::StatusCode,
    body: &'static str,
    header: Option<(&'static str, &'static str)>,
) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some((name, value)) = header {
        response.headers_mut().insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        );
    }
    response
}
