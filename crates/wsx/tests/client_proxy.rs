//! The client through proxies: an HTTP CONNECT proxy (Basic auth: 407 without it) and a SOCKS5
//! proxy (RFC 1929 username/password), both small ones started here on loopback that record
//! the tunnels they open; `ws://` and `wss://` (TLS end to end through the tunnel); the
//! environment's `HTTP_PROXY`/`NO_PROXY`; and clear errors when a proxy refuses. When Debian's
//! `tinyproxy` is installed (CI installs it) the HTTP case also runs against it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod event_support;
mod skip;

use base64::Engine as _;
use bytes::Bytes;
use event_support::{echo_server, next, serve, within};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsx::proxy::{Proxy, ProxyError};
use wsx::{Client, Config, Conn, Error};

type Log = Arc<Mutex<Vec<String>>>;

/// Splices two streams until either side ends.
async fn splice(mut a: TcpStream, mut b: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
}

/// A minimal HTTP CONNECT proxy; with `auth`, a tunnel needs `Proxy-Authorization: Basic`.
async fn http_proxy(auth: Option<&'static str>) -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(client.read_u8().await.unwrap());
                }
                let head = String::from_utf8(head).unwrap();
                let target = head.split_whitespace().nth(1).unwrap().to_owned();
                if let Some(cred) = auth {
                    let expected = format!(
                        "proxy-authorization: basic {}",
                        base64::engine::general_purpose::STANDARD.encode(cred)
                    )
                    .to_ascii_lowercase();
                    if !head.to_ascii_lowercase().contains(&expected) {
                        let _ = client
                            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                }
                let Ok(server) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                seen.lock().unwrap().push(target);
                client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await
                    .unwrap();
                splice(client, server).await;
            });
        }
    });
    (addr, log)
}

/// A minimal SOCKS5 proxy requiring username `u`, password `p` (RFC 1928/1929).
async fn socks5_proxy() -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut hello = [0u8; 2];
                c.read_exact(&mut hello).await.unwrap();
                let mut methods = vec![0u8; usize::from(hello[1])];
                c.read_exact(&mut methods).await.unwrap();
                if !methods.contains(&2) {
                    c.write_all(&[5, 0xff]).await.unwrap();
                    return;
                }
                c.write_all(&[5, 2]).await.unwrap();
                let ver_ulen = [c.read_u8().await.unwrap(), c.read_u8().await.unwrap()];
                let mut user = vec![0u8; usize::from(ver_ulen[1])];
                c.read_exact(&mut user).await.unwrap();
                let mut pass = vec![0u8; usize::from(c.read_u8().await.unwrap())];
                c.read_exact(&mut pass).await.unwrap();
                let ok = user == b"u" && pass == b"p";
                c.write_all(&[1, u8::from(!ok)]).await.unwrap();
                if !ok {
                    return;
                }
                let mut req = [0u8; 4];
                c.read_exact(&mut req).await.unwrap();
                let host = match req[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        c.read_exact(&mut ip).await.unwrap();
                        std::net::Ipv4Addr::from(ip).to_string()
                    }
                    3 => {
                        let mut name = vec![0u8; usize::from(c.read_u8().await.unwrap())];
                        c.read_exact(&mut name).await.unwrap();
                        String::from_utf8(name).unwrap()
                    }
                    _ => return,
                };
                let port = c.read_u16().await.unwrap();
                let target = format!("{host}:{port}");
                let Ok(server) = TcpStream::connect(&target).await else {
                    c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
                    return;
                };
                seen.lock().unwrap().push(target);
                c.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])
                    .await
                    .unwrap();
                splice(c, server).await;
            });
        }
    });
    (addr, log)
}

async fn echo_once(conn: &Conn, text: &str) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    conn.on_message(move |_, _, data| {
        let _ = tx.send(data);
    });
    conn.write_text(text.to_owned()).unwrap();
    assert_eq!(
        next(&mut rx, "echo through the proxy").await,
        Bytes::from(text.to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_through_an_http_connect_proxy_with_basic_auth() {
    within(async {
        let running = serve(echo_server(Config::default())).await;
        let (proxy_addr, log) = http_proxy(Some("ana:s3cret")).await;
        let proxy = Proxy::parse(&format!("http://ana:s3cret@{proxy_addr}")).unwrap();
        let conn = Client::default()
            .with_proxy(proxy)
            .connect_url(&running.url())
            .await
            .unwrap();
        echo_once(&conn, "via http proxy").await;
        assert_eq!(*log.lock().unwrap(), vec![running.addr.to_string()]);

        // Without credentials: 407, said plainly.
        let err = Client::default()
            .with_proxy(Proxy::parse(&format!("http://{proxy_addr}")).unwrap())
            .connect_url(&running.url())
            .await
            .unwrap_err();
        match &err {
            Error::Proxy(p) => assert!(matches!(**p, ProxyError::HttpStatus(407)), "{p:?}"),
            other => panic!("expected a proxy error, got {other:?}"),
        }
        assert!(err.to_string().contains("407"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_through_socks5_with_a_name_resolved_by_the_proxy() {
    within(async {
        let running = serve(echo_server(Config::default())).await;
        let (proxy_addr, log) = socks5_proxy().await;
        let proxy = Proxy::parse(&format!("socks5h://u:p@{proxy_addr}")).unwrap();
        let url = format!("ws://localhost:{}/", running.addr.port());
        let conn = Client::default()
            .with_proxy(proxy)
            .connect_url(&url)
            .await
            .unwrap();
        echo_once(&conn, "via socks5").await;
        assert_eq!(
            *log.lock().unwrap(),
            vec![format!("localhost:{}", running.addr.port())],
            "the proxy got the name, not an address"
        );
        let wrong = Proxy::parse(&format!("socks5://u:wrong@{proxy_addr}")).unwrap();
        let err = Client::default()
            .with_proxy(wrong)
            .connect_url(&url)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("refused the credentials"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_is_tls_end_to_end_through_the_tunnel() {
    within(async {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = wsx::tls::rustls::pki_types::PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        );
        let tls = wsx::tls::server_config(vec![cert.clone()], key.into()).unwrap();
        let server = echo_server(Config::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { server.serve_tls(listener, tls).await });
        let mut roots = wsx::tls::rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        for proxy in [
            Proxy::parse(&format!("http://{}", http_proxy(None).await.0)).unwrap(),
            Proxy::parse(&format!("socks5://u:p@{}", socks5_proxy().await.0)).unwrap(),
        ] {
            let conn = Client::default()
                .with_root_certificates(roots.clone())
                .unwrap()
                .with_proxy(proxy)
                .connect_url(&format!("wss://localhost:{port}/"))
                .await
                .unwrap();
            echo_once(&conn, "tls through a tunnel").await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_from_the_environment_and_no_proxy() {
    // The only test in this binary that touches the environment.
    let (proxy_addr, log) = within(http_proxy(None)).await;
    // SAFETY-free in edition 2024 terms: set_var is unsafe because other threads may read the
    // environment; this runtime's threads do not, and no other test here reads it.
    unsafe {
        std::env::set_var("HTTP_PROXY", format!("http://{proxy_addr}"));
        std::env::set_var("NO_PROXY", "example.invalid");
    }
    within(async {
        let running = serve(echo_server(Config::default())).await;
        let client = Client::default().with_proxy_from_env();
        let conn = client.connect_url(&running.url()).await.unwrap();
        echo_once(&conn, "env proxy").await;
        assert_eq!(log.lock().unwrap().len(), 1, "went through HTTP_PROXY");
        unsafe { std::env::set_var("NO_PROXY", "127.0.0.1") };
        let conn = client.connect_url(&running.url()).await.unwrap();
        echo_once(&conn, "no proxy").await;
        assert_eq!(log.lock().unwrap().len(), 1, "NO_PROXY went direct");
        // A client not told to read the environment ignores it.
        let conn = Client::default().connect_url(&running.url()).await.unwrap();
        echo_once(&conn, "direct").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_tinyproxy_when_installed() {
    let Some(bin) = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        skip::skip(
            "WSX_REQUIRE_PROXIES",
            "tinyproxy is not installed (Debian: apt-get install tinyproxy)",
        );
        return;
    };
    within(async {
        let running = serve(echo_server(Config::default())).await;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = std::env::temp_dir().join(format!("wsx-tinyproxy-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 10\nAllow 127.0.0.1\nConnectPort {}\nBasicAuth ana s3cret\nLogLevel Error\n",
                running.addr.port()
            ),
        )
        .unwrap();
        let mut child = tokio::process::Command::new(bin)
            .args(["-d", "-c"])
            .arg(&conf)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let proxy = Proxy::parse(&format!("http://ana:s3cret@127.0.0.1:{port}")).unwrap();
        let conn = Client::default().with_proxy(proxy).connect_url(&running.url()).await.unwrap();
        echo_once(&conn, "via tinyproxy").await;
        let refused = Client::default()
            .with_proxy(Proxy::parse(&format!("http://127.0.0.1:{port}")).unwrap())
            .connect_url(&running.url())
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("407"), "{refused}");
        let _ = child.kill().await;
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}
