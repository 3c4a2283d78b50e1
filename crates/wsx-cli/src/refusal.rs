//! What to tell a user whose upgrade request a server answered with an ordinary HTTP status
//! instead of `101 Switching Protocols` (RFC 6455 §4.1: any other status means the handshake
//! did not happen): the status alone ("server answered with status 200 OK") does not say that
//! the URL's path is most likely not a WebSocket endpoint. Used by `wsx connect` and
//! `wsx bench`.

use http::StatusCode;
use wsx::handshake::Target;

/// One line explaining why `url`'s server answered the upgrade with `status`, and what to
/// check.
pub fn explain(url: &str, status: StatusCode) -> String {
    let shown = status.canonical_reason().map_or_else(
        || status.as_str().to_owned(),
        |reason| format!("{} {reason}", status.as_str()),
    );
    if status.is_success() || status.is_redirection() || status == StatusCode::NOT_FOUND {
        // A page, a redirect or nothing at all: an HTTP server, but not a WebSocket endpoint.
        format!(
            "{url} is not a WebSocket endpoint: the server answered {shown}; check the path \
             (the demo `wsx serve` serves /echo and /chat)"
        )
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        format!(
            "{url}: the server refused the WebSocket handshake with {shown}; it may check the \
             Origin or want credentials (add request headers with -H 'Name: value')"
        )
    } else {
        format!("{url}: the server refused the WebSocket handshake with {shown}")
    }
}

/// The URL of `target`, with `ws://` or `wss://`; the port is always written, so that the
/// `ws://` form of a `wss://` URL reaches the same port.
pub fn url_of(target: &Target, secure: bool) -> String {
    let scheme = if secure { "wss" } else { "ws" };
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    format!("{scheme}://{host}:{}{}", target.port, target.path_and_query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_status_gets_its_hint() {
        let url = "ws://h:1/";
        assert!(explain(url, StatusCode::OK).contains("is not a WebSocket endpoint"));
        assert!(explain(url, StatusCode::MOVED_PERMANENTLY).contains("check the path"));
        assert!(explain(url, StatusCode::NOT_FOUND).contains("404 Not Found; check the path"));
        assert!(explain(url, StatusCode::FORBIDDEN).contains("Origin"));
        let other = explain(url, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            other,
            "ws://h:1/: the server refused the WebSocket handshake with 503 Service Unavailable"
        );
    }

    #[test]
    fn urls_always_carry_the_port() {
        let target = Target::parse("wss://[::1]/x?y").expect("valid");
        assert_eq!(url_of(&target, false), "ws://[::1]:443/x?y");
        assert_eq!(url_of(&target, true), "wss://[::1]:443/x?y");
    }
}
