//! A hyper server for the tests of the hyper integration: HTTP/1.1 and HTTP/2 (extended
//! CONNECT enabled; over TLS when given a configuration, with ALPN), `/ws` mounted on a wsx
//! `Server`, `/hello` answered by hyper itself.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use wsx::Server;

/// Serves plain HTTP on `127.0.0.1:0`; returns the address.
pub async fn hyper_server(ws: Server) -> SocketAddr {
    serve(ws, None).await
}

/// As [`hyper_server`], over TLS with `tls` (set its ALPN for h2).
pub async fn hyper_tls_server(ws: Server, tls: Arc<wsx::tls::rustls::ServerConfig>) -> SocketAddr {
    serve(ws, Some(tokio_rustls::TlsAcceptor::from(tls))).await
}

async fn serve(ws: Server, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let ws = ws.clone();
            let tls = tls.clone();
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let ws = ws.clone();
                async move {
                    let response = match req.uri().path() {
                        "/ws" => ws.upgrade(req, Some(peer)),
                        "/hello" => http::Response::new(Full::new(Bytes::from("hello"))),
                        _ => {
                            let mut r = http::Response::new(Full::default());
                            *r.status_mut() = http::StatusCode::NOT_FOUND;
                            r
                        }
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                match tls {
                    None => {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                            .await;
                    }
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                }
            });
        }
    });
    addr
}
