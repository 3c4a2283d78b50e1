//! What the client sent when it connected: the HTTP request's headers and query, and the
//! remote address. Shared by every socket of the connection.
//!
//! A connection keeps it compact ([`StoredHandshake`]: the request target and headers as one
//! byte string) and builds the [`Handshake`] the API hands out the first time someone asks:
//! most connections never do, and the parsed form (a `HeaderMap`, an `Uri`, the decoded
//! query) costs about 0.9 KiB per idle client where the bytes cost about 0.2 KiB.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The handshake data of a connection.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The request target (path and query).
    pub uri: http::Uri,
    /// The query parameters, percent-decoded, in order (`EIO` and `transport` included).
    pub query: Vec<(String, String)>,
    /// The peer's address, when the server knows it.
    pub remote_addr: Option<SocketAddr>,
    /// When the connection was accepted.
    pub issued: SystemTime,
}

impl Handshake {
    /// Builds the handshake data from the upgrade request.
    #[must_use]
    pub fn from_request(request: http::Request<()>, remote_addr: Option<SocketAddr>) -> Self {
        let (parts, ()) = request.into_parts();
        Self::from_parts(parts.uri, parts.headers, remote_addr, SystemTime::now())
    }

    fn from_parts(
        uri: http::Uri,
        headers: http::HeaderMap,
        remote_addr: Option<SocketAddr>,
        issued: SystemTime,
    ) -> Self {
        let query = crate::engine::handshake::parse_query(uri.query().unwrap_or(""));
        Self {
            headers,
            uri,
            query,
            remote_addr,
            issued,
        }
    }

    /// The first value of a query parameter.
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find_map(|(k, v)| (k == name).then_some(v.as_str()))
    }
}

/// A connection's handshake as it keeps it: the request target, then each header as
/// `name: value`, each line ended by CRLF, in one allocation; parsed into a [`Handshake`] on
/// first use ([`Self::get`]). The `http` crate validated both when the request was read: a
/// target or a header value holds no CR or LF, a header name no colon, so the lines split back
/// exactly (repeated headers stay repeated, in order).
#[derive(Debug)]
pub(crate) struct StoredHandshake {
    raw: Box<[u8]>,
    remote_addr: Option<SocketAddr>,
    issued: SystemTime,
    parsed: OnceLock<Box<Handshake>>,
}

impl StoredHandshake {
    /// Keeps what [`Handshake::from_request`] would take from `request`, compactly.
    pub(crate) fn from_request(
        request: http::Request<()>,
        remote_addr: Option<SocketAddr>,
    ) -> Self {
        let (parts, ()) = request.into_parts();
        let target = parts.uri.to_string();
        let len = target.len()
            + 2
            + parts
                .headers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 4)
                .sum::<usize>();
        let mut raw = Vec::with_capacity(len);
        raw.extend_from_slice(target.as_bytes());
        raw.extend_from_slice(b"\r\n");
        for (name, value) in &parts.headers {
            raw.extend_from_slice(name.as_str().as_bytes());
            raw.extend_from_slice(b": ");
            raw.extend_from_slice(value.as_bytes());
            raw.extend_from_slice(b"\r\n");
        }
        Self {
            raw: raw.into_boxed_slice(),
            remote_addr,
            issued: SystemTime::now(),
            parsed: OnceLock::new(),
        }
    }

    /// The handshake, parsed the first time it is asked for.
    pub(crate) fn get(&self) -> &Handshake {
        self.parsed.get_or_init(|| Box::new(self.parse()))
    }

    fn parse(&self) -> Handshake {
        let mut lines = self
            .raw
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let uri = lines
            .next()
            .and_then(|target| http::Uri::try_from(target).ok())
            .unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let value = line[colon + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&line[colon + 1..]);
            // Both were valid when the request was read; nothing to skip in practice.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(&line[..colon]),
                http::HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        Handshake::from_parts(uri, headers, self.remote_addr, self.issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_handshake_gives_back_the_request() {
        let request = http::Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket&x=a%20b&x=2")
            .header("host", "example.com:3000")
            .header("cookie", "a=1")
            .header("cookie", "b=2; c=3")
            .header("user-agent", "ua: with colons")
            .header("x-empty", "")
            .body(())
            .expect("request");
        let addr: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let want = Handshake::from_request(request.clone(), Some(addr));
        let stored = StoredHandshake::from_request(request, Some(addr));
        let got = stored.get();
        assert_eq!(got.uri, want.uri);
        assert_eq!(got.headers, want.headers);
        assert_eq!(
            got.headers.get_all("cookie").iter().collect::<Vec<_>>(),
            ["a=1", "b=2; c=3"]
        );
        assert_eq!(got.query, want.query);
        assert_eq!(got.query_param("x"), Some("a b"));
        assert_eq!(got.remote_addr, Some(addr));
        assert!(std::ptr::eq(got, stored.get()), "parsed once");
        let absolute = StoredHandshake::from_request(
            http::Request::builder()
                .uri("http://example.com/socket.io/?EIO=4")
                .body(())
                .expect("request"),
            None,
        );
        assert_eq!(absolute.get().uri, "http://example.com/socket.io/?EIO=4");
        assert_eq!(absolute.get().query_param("EIO"), Some("4"));
    }
}
