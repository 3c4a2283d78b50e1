//! The Origin check on a wsx `Server` mounted on a hyper route (`Server::upgrade`): the same
//! default as its own listener (a cross-origin page gets 403, a same-origin page and a client
//! without `Origin` connect), over HTTP/1.1 and HTTP/2 extended CONNECT (RFC 8441, where the
//! request's host is its `:authority`), and `origin::allow` / `origin::any` as configured.
#![cfg(feature = "hyper")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::hyper_serve::hyper_server;
use event_support::{echo_server, within};
use std::net::SocketAddr;
use wsx::{Client, CloseCode, Config, Error, HandshakeError, origin};

const EVIL: &str = "https://evil.example";
const GOOD: &str = "https://good.example";
const FORBIDDEN: Result<(), http::StatusCode> = Err(http::StatusCode::FORBIDDEN);

/// Connects to `/ws` at `addr` (over HTTP/2 when `h2`) with `origin` as the `Origin` header
/// (none when `None`): `Ok` once upgraded (then closed), `Err(status)` when refused.
async fn try_origin(
    addr: SocketAddr,
    h2: bool,
    origin: Option<&str>,
) -> Result<(), http::StatusCode> {
    let mut headers = http::HeaderMap::new();
    if let Some(origin) = origin {
        headers.insert(http::header::ORIGIN, origin.parse().unwrap());
    }
    let client = Client::new(Config {
        http2: h2,
        ..Config::default()
    });
    match client.connect(&format!("ws://{addr}/ws"), headers).await {
        Ok(conn) => {
            conn.close(CloseCode::NORMAL_CLOSURE, "").unwrap();
            Ok(())
        }
        Err(Error::Handshake(HandshakeError::UnexpectedStatus(status))) => Err(status),
        Err(other) => panic!("expected an upgrade or a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_cross_origin_page_is_refused_over_http1_and_http2() {
    within(async {
        let addr = hyper_server(echo_server(Config::default())).await;
        let same = format!("http://{addr}");
        for h2 in [false, true] {
            assert_eq!(try_origin(addr, h2, Some(&same)).await, Ok(()), "h2: {h2}");
            assert_eq!(try_origin(addr, h2, None).await, Ok(()), "h2: {h2}");
            assert_eq!(
                try_origin(addr, h2, Some(EVIL)).await,
                FORBIDDEN,
                "h2: {h2}"
            );
            let other_port = format!("http://127.0.0.1:{}", addr.port() + 1);
            assert_eq!(
                try_origin(addr, h2, Some(&other_port)).await,
                FORBIDDEN,
                "h2: {h2}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_list_and_any_through_hyper() {
    within(async {
        let listed = hyper_server(echo_server(Config {
            check_origin: Some(origin::allow([GOOD])),
            ..Config::default()
        }))
        .await;
        let any = hyper_server(echo_server(Config {
            check_origin: Some(origin::any()),
            ..Config::default()
        }))
        .await;
        for h2 in [false, true] {
            assert_eq!(try_origin(listed, h2, Some(GOOD)).await, Ok(()), "h2: {h2}");
            assert_eq!(
                try_origin(listed, h2, Some(EVIL)).await,
                FORBIDDEN,
                "h2: {h2}"
            );
            assert_eq!(try_origin(listed, h2, None).await, Ok(()), "h2: {h2}");
            assert_eq!(try_origin(any, h2, Some(EVIL)).await, Ok(()), "h2: {h2}");
        }
    })
    .await;
}
