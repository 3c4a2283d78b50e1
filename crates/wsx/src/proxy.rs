//! Client proxies: `ws://` and `wss://` through an HTTP `CONNECT` proxy (RFC 9110 §9.3.6,
//! with Basic auth) or a SOCKS5 proxy (RFC 1928, with RFC 1929 username/password), set
//! explicitly ([`crate::Client::with_proxy`]) or taken from the environment
//! ([`Proxy::from_env`]: `HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`, then
//! `ALL_PROXY`, each also lower-case, and `NO_PROXY`). The proxy only opens the TCP tunnel;
//! TLS and the WebSocket handshake run end to end through it, so a `wss://` proxy sees
//! nothing but ciphertext.
#![forbid(unsafe_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a proxy did not open the tunnel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL is not `http://`, `socks5://` or `socks5h://` with a host and port.
    #[error("invalid proxy URL {0:?}")]
    InvalidUrl(String),
    /// The proxy could not be reached.
    #[error("could not connect to the proxy at {addr}: {source}")]
    Connect {
        /// The proxy's address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP proxy answered the CONNECT with a status other than 2xx (407: it wants
    /// credentials).
    #[error("the HTTP proxy refused the tunnel with status {0}")]
    HttpStatus(u16),
    /// The HTTP proxy's answer is not HTTP.
    #[error("the HTTP proxy's answer is not valid HTTP")]
    MalformedResponse,
    /// The SOCKS5 proxy accepts none of the offered authentication methods.
    #[error("the SOCKS5 proxy accepts none of our authentication methods")]
    SocksNoAcceptableAuth,
    /// The SOCKS5 proxy refused the username and password.
    #[error("the SOCKS5 proxy refused the credentials")]
    SocksAuthFailed,
    /// The SOCKS5 proxy refused the connection with this reply code (RFC 1928 §6).
    #[error("the SOCKS5 proxy refused the connection: {}", socks_reply(*.0))]
    SocksRefused(u8),
    /// The SOCKS5 proxy broke the protocol.
    #[error("the SOCKS5 proxy broke the protocol")]
    SocksProtocol,
    /// The connection to the proxy failed during the tunnel set-up.
    #[error("I/O error with the proxy: {0}")]
    Io(#[from] std::io::Error),
}

fn socks_reply(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply",
    }
}

/// The kind of a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP `CONNECT`.
    Http,
    /// SOCKS5; the proxy resolves the host name (as `socks5h://` says; `socks5://` is taken
    /// the same way, so names never leak to a local resolver).
    Socks5,
}

/// A proxy to reach servers through.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// HTTP or SOCKS5.
    pub kind: ProxyKind,
    /// The proxy's host.
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// Username and password, if the proxy wants them.
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &self.auth.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl Proxy {
    /// Parses `http://[user:pass@]host[:port]` (port 80 by default) or
    /// `socks5://[user:pass@]host[:port]` / `socks5h://...` (port 1080).
    ///
    /// # Errors
    /// [`ProxyError::InvalidUrl`].
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let bad = || ProxyError::InvalidUrl(url.to_owned());
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::Http, 80),
            "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
            _ => return Err(bad()),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some((percent_decode(user), percent_decode(pass))), hostport)
            }
            None => (None, authority),
        };
        let uri: http::uri::Authority = hostport.parse().map_err(|_| bad())?;
        let host = uri.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            kind,
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(default_port),
            auth,
        })
    }

    /// The proxy the environment names for a connection to `host` (`secure`: `wss://`), as
    /// curl reads it: `HTTPS_PROXY` (or `HTTP_PROXY` for `ws://`), else `ALL_PROXY`, each
    /// also in lower case; none when `NO_PROXY` covers `host` (`*`, a name, `.suffix` or
    /// `suffix`, or an IP address) or nothing usable is set.
    #[must_use]
    pub fn from_env(host: &str, secure: bool) -> Option<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .or_else(|_| std::env::var(name.to_ascii_lowercase()))
                .ok()
                .filter(|v| !v.trim().is_empty())
        };
        if var("NO_PROXY").is_some_and(|list| no_proxy_covers(&list, host)) {
            return None;
        }
        let url =
            var(if secure { "HTTPS_PROXY" } else { "HTTP_PROXY" }).or_else(|| var("ALL_PROXY"))?;
        // A bare host:port means an HTTP proxy, as curl takes it.
        let url = if url.contains("://") {
            url
        } else {
            format!("http://{url}")
        };
        Self::parse(&url).ok()
    }

    /// Connects to the proxy and opens a tunnel to `host:port` through it.
    ///
    /// # Errors
    /// A [`ProxyError`] naming what failed.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, ProxyError> {
        let addr = format!("{}:{}", self.host, self.port);
        let mut tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| ProxyError::Connect {
                addr: addr.clone(),
                source,
            })?;
        tcp.set_nodelay(true)?;
        match self.kind {
            ProxyKind::Http => self.http_connect(&mut tcp, host, port).await?,
            ProxyKind::Socks5 => self.socks5_connect(&mut tcp, host, port).await?,
        }
        Ok(tcp)
    }

    async fn http_connect(
        &self,
        tcp: &mut TcpStream,
        host: &str,
        port: u16,
    ) -> Result<(), ProxyError> {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, pass)) = &self.auth {
            let token = STANDARD.encode(format!("{user}:{pass}"));
            request.push_str("Proxy-Authorization: Basic ");
            request.push_str(&token);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        tcp.write_all(request.as_bytes()).await?;
        // Read the head a byte at a time: what follows it belongs to the tunnel (in practice
        // nothing, since the client speaks first), and it must not be swallowed here.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= 8 * 1024 {
                return Err(ProxyError::MalformedResponse);
            }
            let byte = tcp.read_u8().await?;
            head.push(byte);
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(ProxyError::MalformedResponse),
        }
        match response.code {
            Some(code) if (200..300).contains(&code) => Ok(()),
            Some(code) => Err(ProxyError::HttpStatus(code)),
            None => Err(ProxyError::MalformedResponse),
        }
    }

    async fn socks5_connect(
        &self,
        tcp: &mut TcpStream,
        host: &str,
        port: u16,
    ) -> Result<(), ProxyError> {
        // RFC 1928 §3: version 5 and the methods offered: no auth, and username/password
        // (RFC 1929) when we have credentials.
        let greeting: &[u8] = if self.auth.is_some() {
            &[5, 2, 0x00, 0x02]
        } else {
            &[5, 1, 0x00]
        };
        tcp.write_all(greeting).await?;
        let mut choice = [0u8; 2];
        tcp.read_exact(&mut choice).await?;
        match choice {
            [5, 0x00] => {}
            [5, 0x02] => {
                let Some((user, pass)) = &self.auth else {
                    return Err(ProxyError::SocksProtocol);
                };
                let (user, pass) = (user.as_bytes(), pass.as_bytes());
                let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(pass.len()))
                else {
                    return Err(ProxyError::SocksAuthFailed);
                };
                let mut auth = vec![1, ulen];
                auth.extend_from_slice(user);
                auth.push(plen);
                auth.extend_from_slice(pass);
                tcp.write_all(&auth).await?;
                let mut status = [0u8; 2];
                tcp.read_exact(&mut status).await?;
                if status[1] != 0 {
                    return Err(ProxyError::SocksAuthFailed);
                }
            }
            [5, 0xff] => return Err(ProxyError::SocksNoAcceptableAuth),
            _ => return Err(ProxyError::SocksProtocol),
        }
        // §4: CONNECT to an IPv4/IPv6 address or, for a name, the domain-name type so that
        // the proxy resolves it.
        let mut request = vec![5, 1, 0];
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => {
                request.push(1);
                request.extend_from_slice(&ip.octets());
            }
            Ok(std::net::IpAddr::V6(ip)) => {
                request.push(4);
                request.extend_from_slice(&ip.octets());
            }
            Err(_) => {
                let name = host.as_bytes();
                let len = u8::try_from(name.len()).map_err(|_| ProxyError::SocksRefused(4))?;
                request.push(3);
                request.push(len);
                request.extend_from_slice(name);
            }
        }
        request.extend_from_slice(&port.to_be_bytes());
        tcp.write_all(&request).await?;
        // §6: VER REP RSV ATYP BND.ADDR BND.PORT.
        let mut reply = [0u8; 4];
        tcp.read_exact(&mut reply).await?;
        if reply[0] != 5 {
            return Err(ProxyError::SocksProtocol);
        }
        if reply[1] != 0 {
            return Err(ProxyError::SocksRefused(reply[1]));
        }
        let skip = match reply[3] {
            1 => 4,
            4 => 16,
            3 => usize::from(tcp.read_u8().await?),
            _ => return Err(ProxyError::SocksProtocol),
        };
        let mut bound = vec![0u8; skip + 2];
        tcp.read_exact(&mut bound).await?;
        Ok(())
    }
}

/// Whether a `NO_PROXY` list covers `host`.
fn no_proxy_covers(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let entry = entry.to_ascii_lowercase();
            let entry = entry.split(':').next().unwrap_or_default();
            entry == "*"
                || host == entry.trim_start_matches('.')
                || host.ends_with(&format!(".{}", entry.trim_start_matches('.')))
        })
}

/// `%XX` escapes in the userinfo of a proxy URL.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let p =
            Proxy::parse("http://user:p%40ss@proxy.example:3128").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.kind, p.host.as_str(), p.port, p.auth.clone()),
            (
                ProxyKind::Http,
                "proxy.example",
                3128,
                Some(("user".into(), "p@ss".into()))
            )
        );
        assert!(
            !format!("{p:?}").contains("p@ss"),
            "the password is not printed"
        );
        let p = Proxy::parse("socks5h://[::1]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (ProxyKind::Socks5, "::1", 1080)
        );
        let p = Proxy::parse("HTTP://127.0.0.1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.port, 80);
        for bad in ["ftp://x:1", "127.0.0.1:8080", "http://", "http://:80"] {
            assert!(Proxy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_proxy_lists() {
        for (list, host, covered) in [
            ("*", "anything", true),
            ("localhost,.example.com", "api.example.com", true),
            ("example.com", "api.example.com", true),
            ("example.com", "example.com", true),
            ("example.com", "badexample.com", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("10.0.0.1", "127.0.0.1", false),
            ("", "x", false),
        ] {
            assert_eq!(no_proxy_covers(list, host), covered, "{list} {host}");
        }
    }
}
