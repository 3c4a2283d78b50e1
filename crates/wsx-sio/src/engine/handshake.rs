//! The HTTP side of opening an Engine.IO session (engine.io-protocol v4, "Handshake"): the
//! request's path and query are checked, and a bad one is refused with HTTP 400 and the JSON
//! error body the Node server sends, `{"code":N,"message":"..."}`.

use super::EngineConfig;
use crate::sid::Sid;

/// Why a request cannot open an Engine.IO session, with the protocol's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Code 0: `transport` missing or not one this server speaks.
    #[error("Transport unknown")]
    UnknownTransport,
    /// Code 1: a `sid` that names no open session.
    #[error("Session ID unknown")]
    UnknownSid,
    /// Code 2: not a `GET`.
    #[error("Bad handshake method")]
    BadMethod,
    /// Code 3: a malformed request.
    #[error("Bad request")]
    BadRequest,
    /// Code 5: `EIO` missing or not `4`.
    #[error("Unsupported protocol version")]
    UnsupportedVersion,
    /// The path is not the Engine.IO endpoint (answered 404, not with a protocol code).
    #[error("Not found")]
    NotFound,
}

impl RequestError {
    /// The Engine.IO error code (`None` for [`Self::NotFound`]).
    #[must_use]
    pub fn code(self) -> Option<u8> {
        match self {
            Self::UnknownTransport => Some(0),
            Self::UnknownSid => Some(1),
            Self::BadMethod => Some(2),
            Self::BadRequest => Some(3),
            Self::UnsupportedVersion => Some(5),
            Self::NotFound => None,
        }
    }

    /// The refusal's status, content type and body: `400 Bad Request` with the JSON body
    /// `{"code":N,"message":"..."}`, or `404 Not Found`.
    #[must_use]
    pub fn refusal(self) -> (http::StatusCode, &'static str, String) {
        match self.code() {
            Some(code) => (
                http::StatusCode::BAD_REQUEST,
                "application/json",
                format!(r#"{{"code":{code},"message":"{self}"}}"#),
            ),
            None => (
                http::StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "Not found\n".into(),
            ),
        }
    }

    /// The complete HTTP response that refuses the request ([`Self::refusal`], serialised).
    #[must_use]
    pub fn response(self) -> Vec<u8> {
        let (status, content_type, body) = self.refusal();
        format!(
            "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            status.as_str(),
            status.canonical_reason().unwrap_or_default(),
            body.len()
        )
        .into_bytes()
    }
}

/// The transport a request asks for (its `transport` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling (`transport=polling`).
    Polling,
    /// WebSocket (`transport=websocket`).
    WebSocket,
}

/// A request for the Engine.IO endpoint, checked: its transport and, for a request of an open
/// session (polling, or an upgrade), the session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineRequest {
    /// The transport asked for.
    pub transport: TransportKind,
    /// The `sid` query parameter: `None` opens a new session.
    pub sid: Option<Sid>,
}

/// Checks a request for the Engine.IO endpoint at `path` (which ends with `/`; the request
/// path may omit that slash): `transport` is `polling` or `websocket`, `EIO=4`, and a request
/// that opens a session (no `sid`) is a `GET`. Whether the `sid` names a session, and
/// whether its method fits it, is for the caller to check.
///
/// # Errors
/// The first [`RequestError`] the request earns, in the order the Node server checks.
pub fn parse_request(
    request: &http::Request<()>,
    path: &str,
) -> Result<EngineRequest, RequestError> {
    let got = request.uri().path();
    if got != path && Some(got) != path.strip_suffix('/') {
        return Err(RequestError::NotFound);
    }
    let query = request.uri().query().unwrap_or("");
    let param = |name: &str| query_param(query, name);
    let transport = match param("transport").as_deref() {
        Some("websocket") => TransportKind::WebSocket,
        Some("polling") => TransportKind::Polling,
        _ => return Err(RequestError::UnknownTransport),
    };
    if param("EIO").as_deref() != Some("4") {
        return Err(RequestError::UnsupportedVersion);
    }
    let sid = match param("sid") {
        // A sid that cannot be one of ours names no session.
        Some(sid) => Some(Sid::parse(&sid).ok_or(RequestError::UnknownSid)?),
        None => None,
    };
    if sid.is_none() && request.method() != http::Method::GET {
        return Err(RequestError::BadMethod);
    }
    Ok(EngineRequest { transport, sid })
}

/// Checks a request that opens a session over WebSocket at `path`: [`parse_request`], and
/// neither polling (answered "Transport unknown") nor a `sid` (answered "Session ID unknown"):
/// what a server without polling sessions accepts.
///
/// # Errors
/// The first [`RequestError`] the request earns.
pub fn check_request(request: &http::Request<()>, path: &str) -> Result<(), RequestError> {
    match parse_request(request, path)? {
        EngineRequest {
            transport: TransportKind::WebSocket,
            sid: None,
        } => Ok(()),
        EngineRequest {
            transport: TransportKind::Polling,
            ..
        } => Err(RequestError::UnknownTransport),
        EngineRequest { sid: Some(_), .. } => Err(RequestError::UnknownSid),
    }
}

/// The first value of `name` in a query string, percent-decoded.
#[must_use]
pub fn query_param(query: &str, name: &str) -> Option<String> {
    parse_query(query)
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Every `key=value` pair of a query string, percent-decoded (`+` as a space).
#[must_use]
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The open packet's JSON (engine.io-protocol v4, "Handshake"), without the leading `0`:
/// `upgrades` lists the transports the client may upgrade to (`["websocket"]` over polling).
#[must_use]
pub fn open_json(sid: Sid, config: &EngineConfig, upgrades: &[&str]) -> String {
    let upgrades = upgrades
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"sid":"{sid}","upgrades":[{upgrades}],"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
        config.ping_interval.as_millis(),
        config.ping_timeout.as_millis(),
        config.max_payload
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str) -> http::Request<()> {
        http::Request::builder()
            .method(method)
            .uri(target)
            .body(())
            .expect("request")
    }

    #[test]
    fn request_checks() {
        let cases: &[(&str, &str, Result<(), RequestError>)] = &[
            ("GET", "/socket.io/?EIO=4&transport=websocket", Ok(())),
            ("GET", "/socket.io?EIO=4&transport=websocket&t=x", Ok(())),
            (
                "GET",
                "/socket.io/?transport=websocket&EIO=4&foo=%20",
                Ok(()),
            ),
            (
                "GET",
                "/other/?EIO=4&transport=websocket",
                Err(RequestError::NotFound),
            ),
            (
                "GET",
                "/socket.io/?EIO=4",
                Err(RequestError::UnknownTransport),
            ),
            (
                "GET",
                "/socket.io/?EIO=4&transport=polling",
                Err(RequestError::UnknownTransport),
            ),
            (
                "GET",
                "/socket.io/?EIO=4&transport=xhr",
                Err(RequestError::UnknownTransport),
            ),
            (
                "GET",
                "/socket.io/?transport=websocket",
                Err(RequestError::UnsupportedVersion),
            ),
            (
                "GET",
                "/socket.io/?EIO=3&transport=websocket",
                Err(RequestError::UnsupportedVersion),
            ),
            (
                "GET",
                "/socket.io/?EIO=5&transport=websocket",
                Err(RequestError::UnsupportedVersion),
            ),
            (
                "GET",
                "/socket.io/?EIO=4&transport=websocket&sid=abc",
                Err(RequestError::UnknownSid),
            ),
            (
                "POST",
                "/socket.io/?EIO=4&transport=websocket",
                Err(RequestError::BadMethod),
            ),
        ];
        for (method, target, want) in cases {
            assert_eq!(
                check_request(&request(method, target), "/socket.io/"),
                *want,
                "{target}"
            );
        }
        assert_eq!(
            check_request(&request("GET", "/rt?EIO=4&transport=websocket"), "/rt/"),
            Ok(())
        );
    }

    #[test]
    fn error_bodies() {
        let text = String::from_utf8(RequestError::UnsupportedVersion.response()).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(
            text.contains("Content-Type: application/json\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with(r#"{"code":5,"message":"Unsupported protocol version"}"#),
            "{text}"
        );
        let text = String::from_utf8(RequestError::UnknownTransport.response()).expect("ascii");
        assert!(
            text.ends_with(r#"{"code":0,"message":"Transport unknown"}"#),
            "{text}"
        );
        let text = String::from_utf8(RequestError::NotFound.response()).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
    }

    #[test]
    fn queries() {
        assert_eq!(
            parse_query("a=1&b=x%20y+z&c&&d=%zz&e=%4"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), String::new()),
                ("d".into(), "%zz".into()),
                ("e".into(), "%4".into()),
            ]
        );
    }
}
