//! What the client sent when it connected: the HTTP request's headers and query, and the
//! remote address. Shared by every socket of the connection.

use std::net::SocketAddr;
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
        let query = crate::engine::handshake::parse_query(parts.uri.query().unwrap_or(""));
        Self {
            headers: parts.headers,
            uri: parts.uri,
            query,
            remote_addr,
            issued: SystemTime::now(),
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
