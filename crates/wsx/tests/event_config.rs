//! Invalid configurations are refused when the server starts or the client connects, before
//! any network activity.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;

use event_support::{echo_server, serve, within};
use std::time::Duration;
use tokio::net::TcpListener;
use wsx::{Client, Config, Error, Server};

fn invalid() -> Config {
    Config {
        max_message_size: 0,
        ..Config::default()
    }
}

fn assert_config_error<T: std::fmt::Debug>(result: Result<T, Error>, field: &str) {
    match result {
        Err(Error::Config(err)) => {
            let message = err.to_string();
            assert!(err.field().starts_with(field), "{err:?}");
            assert!(
                message.contains(field),
                "the error names {field}: {message}"
            );
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_with_an_invalid_config_fails_at_once() {
    within(async {
        let server = Server::new(invalid());
        let result = tokio::time::timeout(Duration::from_secs(2), server.listen("127.0.0.1:0"))
            .await
            .expect("listen with an invalid config did not return at once");
        assert_config_error(result, "max_message_size");
        assert!(server.local_addr().is_none(), "nothing was bound");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_serve_tls_with_an_invalid_config_fail_at_once() {
    within(async {
        let config = Config {
            write_timeout: Duration::ZERO,
            ..Config::default()
        };
        let server = Server::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(2), server.serve(listener))
            .await
            .expect("serve with an invalid config did not return at once");
        assert_config_error(result, "write_timeout");

        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = wsx::tls::rustls::pki_types::PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        );
        let tls = wsx::tls::server_config(vec![certified.cert.der().clone()], key.into()).unwrap();
        let result = tokio::time::timeout(
            Duration::from_secs(2),
            Server::new(invalid()).listen_tls("127.0.0.1:0", tls.clone()),
        )
        .await
        .expect("listen_tls with an invalid config did not return at once");
        assert_config_error(result, "max_message_size");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = tokio::time::timeout(
            Duration::from_secs(2),
            Server::new(invalid()).serve_tls(listener, tls),
        )
        .await
        .expect("serve_tls with an invalid config did not return at once");
        assert_config_error(result, "max_message_size");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_an_invalid_config_fails_at_once() {
    within(async {
        // A live server, so that only the configuration can make the connect fail.
        let running = serve(echo_server(Config::default())).await;
        let result = tokio::time::timeout(
            Duration::from_secs(2),
            Client::new(invalid()).connect(&running.url(), http::HeaderMap::new()),
        )
        .await
        .expect("connect with an invalid config did not return at once");
        assert_config_error(result, "max_message_size");

        let config = Config {
            subprotocols: vec!["not a token".to_owned()],
            ..Config::default()
        };
        let result = Client::new(config)
            .connect(&running.url(), http::HeaderMap::new())
            .await;
        assert_config_error(result, "subprotocol");
        assert_eq!(
            running.server.connection_count(),
            0,
            "no connection was made"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rejects_bad_urls() {
    within(async {
        let client = Client::new(Config::default());
        for url in ["http://127.0.0.1:1/", "not a url", "ws://"] {
            let result = client.connect(url, http::HeaderMap::new()).await;
            let Err(err @ Error::InvalidUrl(_)) = result else {
                panic!("{url}: {result:?}");
            };
            // Nothing was connected: the message must not speak of a handshake.
            let text = err.to_string();
            assert!(text.starts_with("invalid WebSocket URL"), "{text}");
            assert!(!text.contains("handshake"), "{text}");
        }
    })
    .await;
}
