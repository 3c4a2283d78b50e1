//! The client's options, named after socket.io-client's (the README maps them one by one),
//! and the server URL they apply to.

use super::error::ClientError;
use http::HeaderMap;
use serde_json::{Map, Value};
use std::time::Duration;

/// Which Engine.IO transports the client uses (socket.io-client's `transports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transports {
    /// HTTP long-polling first, then the upgrade to WebSocket when the server offers it: the
    /// official client's default (`["polling", "websocket"]`), which gets through proxies that
    /// break WebSockets.
    #[default]
    Default,
    /// WebSocket only (`["websocket"]`): one round trip less, no HTTP requests.
    WebSocket,
    /// HTTP long-polling only (`["polling"]`).
    Polling,
}

/// How Socket.IO packets are written (socket.io-client's `parser`): the server's
/// [`crate::Parser`], one type for both sides; the server must use the same.
pub use crate::packet::Parser;

/// How the client connects and reconnects. `Default` is socket.io-client's defaults.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The Engine.IO endpoint's path (`path`). Default `/socket.io`; a trailing `/` is added
    /// as the official client does (`addTrailingSlash`).
    pub path: String,
    /// The transports (`transports`). Default: polling, then the upgrade.
    pub transports: Transports,
    /// The packet format (`parser`). Default JSON.
    pub parser: Parser,
    /// Headers sent with every HTTP request and the WebSocket handshake (`extraHeaders`).
    pub extra_headers: HeaderMap,
    /// Query parameters added to every request's URL (`query`), after those of the URL.
    pub query: Vec<(String, String)>,
    /// The payload of every namespace's CONNECT packet (`auth`); `None` sends none. Must be
    /// a JSON object for the server to take it.
    pub auth: Option<Map<String, Value>>,
    /// Whether to reconnect after a lost connection (`reconnection`). Default true.
    pub reconnection: bool,
    /// How many reconnection attempts before giving up (`reconnectionAttempts`); `None`
    /// (default) tries forever.
    pub reconnection_attempts: Option<u32>,
    /// The first reconnection delay (`reconnectionDelay`). Default 1 s; it doubles with each
    /// attempt.
    pub reconnection_delay: Duration,
    /// The longest reconnection delay (`reconnectionDelayMax`). Default 5 s.
    pub reconnection_delay_max: Duration,
    /// The jitter (`randomizationFactor`): each delay moves by up to this fraction of itself,
    /// up or down. Default 0.5; 0 (or less) for none.
    pub randomization_factor: f64,
    /// Time allowed to open the Engine.IO connection and get a namespace's CONNECT answer
    /// (`timeout`). Default 20 s.
    pub timeout: Duration,
    /// Time an [`emit_with_ack`](super::Socket::emit_with_ack) waits for its acknowledgement
    /// (`ackTimeout`; the official client waits forever by default, an unbounded wait is a
    /// leak in a long-running service). Default 20 s.
    pub ack_timeout: Duration,
    /// Whether to try the upgrade to WebSocket when polling (`upgrade`). Default true.
    pub upgrade: bool,
    /// Largest incoming WebSocket message, in bytes (the official client has no bound).
    /// Default 100 MB.
    pub max_message_size: usize,
    /// The `wsx` client the WebSocket transport opens connections with (TLS roots, proxy,
    /// permessage-deflate); `None` uses one with defaults, [`Self::max_message_size`] and
    /// [`Self::tls`].
    pub websocket: Option<wsx::Client>,
    /// The TLS configuration for `https://` and `wss://` (build one with
    /// [`wsx::tls::client_config`] to trust your own roots); `None` trusts the webpki roots.
    pub tls: Option<std::sync::Arc<wsx::tls::rustls::ClientConfig>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            path: "/socket.io".to_owned(),
            transports: Transports::Default,
            parser: Parser::Json,
            extra_headers: HeaderMap::new(),
            query: Vec::new(),
            auth: None,
            reconnection: true,
            reconnection_attempts: None,
            reconnection_delay: Duration::from_secs(1),
            reconnection_delay_max: Duration::from_secs(5),
            randomization_factor: 0.5,
            timeout: Duration::from_secs(20),
            ack_timeout: Duration::from_secs(20),
            upgrade: true,
            max_message_size: 100_000_000,
            websocket: None,
            tls: None,
        }
    }
}

/// A server URL taken apart: `http`, `https`, `ws` or `wss`, host, port, and the namespace
/// (the URL's path, as `io("http://host/admin")`) and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    /// TLS (`https`, `wss`).
    pub secure: bool,
    /// The host as written in a URL (IPv6 in brackets).
    pub host: String,
    /// The port (80 / 443 when the URL gives none).
    pub port: u16,
    /// The URL's path: the namespace of [`super::io`].
    pub namespace: String,
    /// The URL's query, as written.
    pub query: Option<String>,
}

impl ServerUrl {
    /// Parses `http(s)://` and `ws(s)://` URLs.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::InvalidUrl(format!("{url}: {why}"));
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let secure = match uri.scheme_str() {
            Some("http" | "ws") => false,
            Some("https" | "wss") => true,
            _ => return Err(bad("the scheme must be http, https, ws or wss")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let namespace = match uri.path() {
            "" => "/".to_owned(),
            path => path.to_owned(),
        };
        Ok(Self {
            secure,
            host: host.to_owned(),
            port,
            namespace,
            query: uri.query().map(str::to_owned),
        })
    }

    /// `host:port`, for connecting and for errors.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The host without IPv6 brackets, for TCP and TLS.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The Engine.IO URL for `transport` (`polling` or `websocket`) and the session `sid`
    /// (engine.io-protocol v4, "Transports": `EIO=4&transport=..&sid=..`); polling requests
    /// carry a fresh `t` so that no cache answers them (the official client's
    /// `timestampRequests`).
    pub fn engine_url(
        &self,
        options: &ClientOptions,
        transport: &str,
        sid: Option<&str>,
    ) -> String {
        let scheme = match (transport, self.secure) {
            ("websocket", false) => "ws",
            ("websocket", true) => "wss",
            (_, false) => "http",
            (_, true) => "https",
        };
        let mut path = options.path.clone();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if !path.ends_with('/') {
            path.push('/');
        }
        let mut url = format!(
            "{scheme}://{}:{}{path}?EIO=4&transport={transport}",
            self.host, self.port
        );
        if let Some(query) = &self.query {
            url.push('&');
            url.push_str(query);
        }
        for (key, value) in &options.query {
            url.push('&');
            encode_component(key, &mut url);
            url.push('=');
            encode_component(value, &mut url);
        }
        if let Some(sid) = sid {
            url.push_str("&sid=");
            encode_component(sid, &mut url);
        }
        if transport == "polling" {
            url.push_str("&t=");
            url.push_str(&timestamp());
        }
        url
    }
}

/// A request-unique token for the `t` parameter.
fn timestamp() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{millis:x}.{}", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Percent-encodes as JavaScript's `encodeURIComponent` (the official client's query encoding).
fn encode_component(text: &str, out: &mut String) {
    use std::fmt::Write as _;
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = ServerUrl::parse("http://127.0.0.1:3000").expect("url");
        assert_eq!(
            (
                url.secure,
                url.host.as_str(),
                url.port,
                url.namespace.as_str()
            ),
            (false, "127.0.0.1", 3000, "/")
        );
        let url = ServerUrl::parse("wss://example.com/admin?token=a%20b").expect("url");
        assert_eq!(
            (
                url.secure,
                url.port,
                url.namespace.as_str(),
                url.query.as_deref()
            ),
            (true, 443, "/admin", Some("token=a%20b"))
        );
        let options = ClientOptions {
            query: vec![("k y".into(), "v&1".into())],
            ..ClientOptions::default()
        };
        assert_eq!(
            url.engine_url(&options, "websocket", Some("s/d")),
            "wss://example.com:443/socket.io/?EIO=4&transport=websocket&token=a%20b&k%20y=v%261&sid=s%2Fd"
        );
        assert!(
            url.engine_url(&options, "polling", None)
                .starts_with("https://example.com:443/socket.io/?EIO=4&transport=polling&")
        );
        for bad in ["ftp://x", "127.0.0.1:3000", "http://", "nonsense"] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
        let v6 = ServerUrl::parse("http://[::1]:80/").expect("v6");
        assert_eq!((v6.host.as_str(), v6.bare_host()), ("[::1]", "::1"));
    }
}
