//! `wsx connect` to `wss://` with a self-signed certificate: refused by default, accepted with
//! `--ca` (the certificate as a PEM file) or `--insecure`.

mod common;

use common::{Spec, start, wsx};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A TLS echo server for `localhost` with a fresh self-signed certificate, and that
/// certificate in PEM.
fn tls_server() -> (common::EchoServer, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("self-signed certificate");
    let der: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()).into();
    let tls = wsx::tls::server_config(vec![der], key).expect("server config");
    let server = start(Spec {
        tls: Some(tls),
        ..Spec::default()
    });
    (server, certified.cert.pem())
}

#[test]
fn self_signed_is_refused_by_default() {
    let (server, _) = tls_server();
    let run = wsx(
        &["connect", &server.wss_url(), "-x", "hi", "-w", "0.2"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("TLS"), "{}", run.stderr);
    // It says how to trust the certificate.
    assert!(
        run.stderr.contains("--ca FILE") && run.stderr.contains("--insecure"),
        "{}",
        run.stderr
    );
}

#[test]
fn ca_file_trusts_the_certificate() {
    let (server, pem) = tls_server();
    let path = std::env::temp_dir().join(format!("wsx-cli-ca-{}.pem", std::process::id()));
    std::fs::write(&path, pem).expect("write the CA file");
    let ca = path.to_str().unwrap_or_default().to_owned();
    let run = wsx(
        &[
            "connect",
            &server.wss_url(),
            "--ca",
            &ca,
            "-x",
            "over tls",
            "-w",
            "0.3",
        ],
        "",
        LIMIT,
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "< over tls\n");
    assert_eq!(server.next_close().0, 1000);
}

#[test]
fn insecure_accepts_any_certificate() {
    let (server, _) = tls_server();
    let run = wsx(
        &[
            "connect",
            &server.wss_url(),
            "--insecure",
            "-x",
            "unchecked",
            "-w",
            "0.3",
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "< unchecked\n");
}

#[test]
fn unreadable_ca_file_is_one_line() {
    let (server, _) = tls_server();
    let run = wsx(
        &["connect", &server.wss_url(), "--ca", "/nonexistent/ca.pem"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("CA file"), "{}", run.stderr);
}

#[test]
fn a_ca_file_that_does_not_vouch_for_the_server_says_so() {
    let (server, _) = tls_server();
    // Another self-signed certificate: a valid CA file, but not the server's.
    let (_other, other_pem) = tls_server();
    let path = std::env::temp_dir().join(format!("wsx-cli-other-ca-{}.pem", std::process::id()));
    std::fs::write(&path, other_pem).expect("write the CA file");
    let ca = path.to_str().unwrap_or_default().to_owned();
    let run = wsx(&["connect", &server.wss_url(), "--ca", &ca], "", LIMIT);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("check that {ca} holds the CA that signed")),
        "{}",
        run.stderr
    );
}

#[test]
fn ws_to_a_tls_server_says_it_speaks_tls_and_gives_the_wss_url() {
    let (server, _) = tls_server();
    let run = wsx(&["connect", &server.url(), "-x", "hi"], "", LIMIT);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let expected = format!(
        "answered with TLS (is it a wss:// server?); try wss://{}/",
        server.addr
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}
