//! `wsx serve` run as the built binary on a free loopback port, for the serve and browser
//! tests: started with extra arguments, its URL read from what it prints, killed when dropped.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `wsx serve` on `127.0.0.1:0`; kills it when dropped.
pub struct Serve {
    /// The `wsx serve` process.
    pub child: Child,
    /// Its base URL, `http://127.0.0.1:PORT` (or `https://`), as it printed it.
    pub base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `wsx serve --addr 127.0.0.1:0` with `extra` arguments and reads the URL it
    /// prints.
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsx"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        // "wsx serve: open http://127.0.0.1:PORT/ (Ctrl-C to stop)"
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .trim_end_matches('/')
            .to_owned();
        Self { child, base }
    }

    /// `127.0.0.1:PORT`.
    pub fn hostport(&self) -> &str {
        self.base.split("://").nth(1).unwrap()
    }

    /// A plain HTTP/1.1 GET: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut tcp = std::net::TcpStream::connect(self.hostport()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// The value of the `/metrics` line starting with `line_start` (0 when absent).
    pub fn metric(&self, line_start: &str) -> f64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// A self-signed certificate for `localhost` and its key, as PEM files in a folder of their
/// own (removed when dropped), for `wsx serve --tls-cert/--tls-key`.
pub struct TlsFiles {
    dir: std::path::PathBuf,
    cert: String,
    key: String,
    /// The certificate, to trust it.
    pub der: wsx::tls::rustls::pki_types::CertificateDer<'static>,
}

impl TlsFiles {
    /// Makes them in a temporary folder named after `what` and this process.
    pub fn localhost(what: &str) -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("wsx-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("cert.pem").to_string_lossy().into_owned();
        let key = dir.join("key.pem").to_string_lossy().into_owned();
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        Self {
            dir,
            cert,
            key,
            der: certified.cert.der().clone(),
        }
    }

    /// `--tls-cert FILE --tls-key FILE`.
    pub fn args(&self) -> [&str; 4] {
        ["--tls-cert", &self.cert, "--tls-key", &self.key]
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
