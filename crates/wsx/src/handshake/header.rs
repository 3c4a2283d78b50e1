//! Header plumbing shared by both sides of the handshake: reading an HTTP head with bounded
//! work, comma-separated token lists, the `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1),
//! and writing header lines.
#![forbid(unsafe_code)]

use crate::proto::ExtensionOffer;
use crate::proto::error::HandshakeError;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const EXTENSIONS: &str = "Sec-WebSocket-Extensions";

// ---------------------------------------------------------------------------------------------
// Reading a head

/// The part of `buf` worth handing to httparse: a head longer than `max_head_size` is refused
/// anyway, so looking further would only be wasted work on a hostile peer.
pub(crate) fn head_window(buf: &[u8], max_head_size: usize) -> &[u8] {
    &buf[..buf.len().min(max_head_size)]
}

/// Header slots for httparse. A header line takes at least 3 bytes (`x:\n`), so `window` can
/// never hold more than `len / 2 + 1` of them: allocating past that (or trusting a huge
/// configured `max_headers`) would only waste memory.
pub(crate) fn header_slots(window: &[u8], max_headers: usize) -> Vec<httparse::Header<'_>> {
    vec![httparse::EMPTY_HEADER; max_headers.min(window.len() / 2 + 1)]
}

/// Maps an httparse error to the handshake error (and so to the status a server answers with).
pub(crate) fn parse_error(err: httparse::Error, max_headers: usize) -> HandshakeError {
    match err {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders(max_headers),
        other => HandshakeError::MalformedHttp(other.to_string()),
    }
}

/// Turns an httparse status into "complete head of n bytes" / "need more bytes", refusing a head
/// that does not fit in `max_head_size`.
pub(crate) fn head_len(
    status: httparse::Status<usize>,
    buf_len: usize,
    max_head_size: usize,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        httparse::Status::Complete(len) if len <= max_head_size => Ok(Some(len)),
        httparse::Status::Complete(_) => Err(HandshakeError::HeadTooLarge(max_head_size)),
        // The window was cut at `max_head_size` and still holds no complete head.
        httparse::Status::Partial if buf_len > max_head_size => {
            Err(HandshakeError::HeadTooLarge(max_head_size))
        }
        httparse::Status::Partial => Ok(None),
    }
}

/// Copies parsed header fields into a [`HeaderMap`], keeping repeated fields as repeated values.
pub(crate) fn header_map(
    fields: &[httparse::Header<'_>],
    max_headers: usize,
) -> Result<HeaderMap, HandshakeError> {
    let mut map = HeaderMap::new();
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| HandshakeError::MalformedHttp("invalid header name".into()))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| HandshakeError::MalformedHttp("invalid header value".into()))?;
        // `HeaderMap::append` panics past its internal maximum; a peer must not be able to
        // trigger that even with a generously configured `max_headers`.
        map.try_append(name, value)
            .map_err(|_| HandshakeError::TooManyHeaders(max_headers))?;
    }
    Ok(map)
}

// ---------------------------------------------------------------------------------------------
// Header values

/// The elements of a comma-separated list header (RFC 9110 §5.6.1), over every field line with
/// that name (RFC 9110 §5.3: repeated lines combine as one comma-separated list). Elements are
/// trimmed; empty elements are skipped, as recipients must accept them. A line that is not
/// visible ASCII contributes nothing.
pub(crate) fn list_elements<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(trim_ows)
        .filter(|element| !element.is_empty())
}

/// Whether the list header `name` contains `token`, compared ASCII case-insensitively.
pub(crate) fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    list_elements(headers, name).any(|element| element.eq_ignore_ascii_case(token))
}

/// Checks that the list header `name` (spelled `label` in errors) contains `token`: a missing
/// header is [`HandshakeError::MissingHeader`], one without the token
/// [`HandshakeError::InvalidHeader`].
pub(crate) fn require_token(
    headers: &HeaderMap,
    name: &HeaderName,
    label: &'static str,
    token: &str,
) -> Result<(), HandshakeError> {
    if !headers.contains_key(name) {
        return Err(HandshakeError::MissingHeader(label));
    }
    if !has_token(headers, name, token) {
        return Err(HandshakeError::InvalidHeader(label));
    }
    Ok(())
}

/// The value of a header that must appear at most once, trimmed; several lines are
/// [`HandshakeError::DuplicateHeader`], a value that is not visible ASCII
/// [`HandshakeError::InvalidHeader`].
pub(crate) fn single_value<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    label: &'static str,
) -> Result<Option<&'a str>, HandshakeError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HandshakeError::DuplicateHeader(label));
    }
    let value = value
        .to_str()
        .map_err(|_| HandshakeError::InvalidHeader(label))?;
    Ok(Some(trim_ows(value)))
}

/// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3).
pub(crate) fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a non-empty `token` (RFC 9110 §5.6.2).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

// ---------------------------------------------------------------------------------------------
// Sec-WebSocket-Extensions

/// Parses one `Sec-WebSocket-Extensions` value into its elements, in order.
///
/// The grammar is RFC 6455 §9.1:
///
/// ```text
/// extension-list  = 1#extension
/// extension       = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// ```
///
/// Whitespace is allowed around `,`, `;` and `=`, and empty list elements are skipped
/// (RFC 9110 §5.6.1). Quoted values are unescaped; §9.1 requires the result to be a token, so
/// `x="a b"` is refused. When a header appears on several lines, parse each line and
/// concatenate the results.
///
/// # Errors
/// [`HandshakeError::InvalidHeader`] for anything that does not follow the grammar, including a
/// value with no extension at all.
pub fn parse_extensions(value: &str) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    let mut cursor = Cursor {
        bytes: value.as_bytes(),
        pos: 0,
    };
    let mut offers = Vec::new();
    loop {
        cursor.skip_ows();
        if cursor.at_end() {
            break;
        }
        if cursor.eat(b',') {
            continue; // an empty list element
        }
        let mut offer = ExtensionOffer {
            name: cursor.token()?,
            params: Vec::new(),
        };
        loop {
            cursor.skip_ows();
            if !cursor.eat(b';') {
                break;
            }
            cursor.skip_ows();
            let name = cursor.token()?;
            cursor.skip_ows();
            let value = if cursor.eat(b'=') {
                cursor.skip_ows();
                Some(if cursor.peek() == Some(b'"') {
                    cursor.quoted_token()?
                } else {
                    cursor.token()?
                })
            } else {
                None
            };
            offer.params.push((name, value));
        }
        offers.push(offer);
        if !cursor.at_end() && !cursor.eat(b',') {
            return Err(malformed_extensions());
        }
    }
    // RFC 6455 §9.1: `1#extension`, at least one element.
    if offers.is_empty() {
        return Err(malformed_extensions());
    }
    Ok(offers)
}

/// Formats elements as one `Sec-WebSocket-Extensions` value: `a; p=1, b` (RFC 6455 §9.1).
///
/// # Errors
/// [`HandshakeError::InvalidHeader`] when a name or a value is not a token: §9.1 allows only
/// tokens there, so nothing ever needs quoting, and anything else could break the header.
pub fn format_extensions(offers: &[ExtensionOffer]) -> Result<String, HandshakeError> {
    let valid = offers.iter().all(|offer| {
        is_token(&offer.name)
            && offer
                .params
                .iter()
                .all(|(name, value)| is_token(name) && value.as_deref().is_none_or(is_token))
    });
    if !valid {
        return Err(malformed_extensions());
    }
    let elements: Vec<String> = offers.iter().map(ToString::to_string).collect();
    Ok(elements.join(", "))
}

/// Parses every `Sec-WebSocket-Extensions` line of `headers`, in order.
pub(crate) fn extension_headers(
    headers: &HeaderMap,
) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    let mut offers = Vec::new();
    for value in &headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        let value = value.to_str().map_err(|_| malformed_extensions())?;
        offers.extend(parse_extensions(value)?);
    }
    Ok(offers)
}

fn malformed_extensions() -> HandshakeError {
    HandshakeError::InvalidHeader(EXTENSIONS)
}

/// A read position in a header value.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<String, HandshakeError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        let token = self.bytes.get(start..self.pos).unwrap_or_default();
        if token.is_empty() {
            return Err(malformed_extensions());
        }
        Ok(token.iter().copied().map(char::from).collect())
    }

    /// A quoted-string (RFC 9110 §5.6.4) whose unescaped content must be a token (RFC 6455
    /// §9.1).
    fn quoted_token(&mut self) -> Result<String, HandshakeError> {
        if !self.eat(b'"') {
            return Err(malformed_extensions());
        }
        let mut out = String::new();
        loop {
            let b = self.peek().ok_or_else(malformed_extensions)?;
            self.pos += 1;
            let b = match b {
                b'"' => break,
                b'\\' => {
                    let escaped = self.peek().ok_or_else(malformed_extensions)?;
                    self.pos += 1;
                    escaped
                }
                _ => b,
            };
            // Everything a quoted-string may carry that is not a tchar (SP, HTAB, separators,
            // obs-text) is refused here anyway by §9.1, so one check covers both rules.
            if !is_tchar(b) {
                return Err(malformed_extensions());
            }
            out.push(char::from(b));
        }
        if out.is_empty() {
            return Err(malformed_extensions());
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing a head

/// Appends `Name: value\r\n`, spelling the name the way RFC 6455 and RFC 9110 do
/// (`Sec-WebSocket-Key`, `Content-Type`), since [`HeaderName`] only keeps lower case. Header
/// names are case-insensitive, so this is cosmetic, but it matches what peers and people expect.
pub(crate) fn write_field(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    let lower = name.as_str();
    let spelled = match lower {
        "sec-websocket-key" => Some("Sec-WebSocket-Key"),
        "sec-websocket-accept" => Some("Sec-WebSocket-Accept"),
        "sec-websocket-version" => Some("Sec-WebSocket-Version"),
        "sec-websocket-protocol" => Some("Sec-WebSocket-Protocol"),
        "sec-websocket-extensions" => Some("Sec-WebSocket-Extensions"),
        _ => None,
    };
    if let Some(spelled) = spelled {
        out.extend_from_slice(spelled.as_bytes());
    } else {
        let mut upper = true;
        for b in lower.bytes() {
            out.push(if upper { b.to_ascii_uppercase() } else { b });
            upper = b == b'-';
        }
    }
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends every field of `headers` with [`write_field`].
pub(crate) fn write_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        write_field(out, name, value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        ExtensionOffer {
            name: name.into(),
            params: params
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.map(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn parse_extensions_valid() {
        let deflate = "permessage-deflate";
        let cases: Vec<(&str, Vec<ExtensionOffer>)> = vec![
            ("permessage-deflate", vec![offer(deflate, &[])]),
            (
                "permessage-deflate; client_max_window_bits",
                vec![offer(deflate, &[("client_max_window_bits", None)])],
            ),
            (
                "permessage-deflate;server_max_window_bits=10;client_no_context_takeover",
                vec![offer(
                    deflate,
                    &[
                        ("server_max_window_bits", Some("10")),
                        ("client_no_context_takeover", None),
                    ],
                )],
            ),
            // Multiple offers, in order, with whitespace around separators.
            (
                "permessage-deflate ; server_max_window_bits = 10 ,\tpermessage-deflate, x-foo",
                vec![
                    offer(deflate, &[("server_max_window_bits", Some("10"))]),
                    offer(deflate, &[]),
                    offer("x-foo", &[]),
                ],
            ),
            // Quoted values are unescaped.
            (
                r#"x; a="10"; b="x\y""#,
                vec![offer("x", &[("a", Some("10")), ("b", Some("xy"))])],
            ),
            // Empty list elements are allowed (RFC 9110 §5.6.1).
            (", x ,, y,", vec![offer("x", &[]), offer("y", &[])]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_extensions(input), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn parse_extensions_malformed() {
        let cases = [
            "",
            " , ",
            "x;",
            "x; =1",
            "x; a=",
            "x; a=\"\"",
            "x; a=\"b c\"", // unquoted content must be a token (RFC 6455 §9.1)
            "x; a=\"unterminated",
            "x; a=\"b\\",
            "x; a=b c",
            "x y",
            "x; a=1=2",
            "[x]",
            "x; a=\"1\"junk",
            ";a",
        ];
        for input in cases {
            assert_eq!(
                parse_extensions(input),
                Err(HandshakeError::InvalidHeader("Sec-WebSocket-Extensions")),
                "{input:?}"
            );
        }
    }

    #[test]
    fn format_extensions_round_trips_and_refuses_non_tokens() {
        let offers = vec![
            offer("permessage-deflate", &[("client_max_window_bits", None)]),
            offer("x", &[("a", Some("1"))]),
        ];
        let text = format_extensions(&offers).expect("valid offers");
        assert_eq!(text, "permessage-deflate; client_max_window_bits, x; a=1");
        assert_eq!(parse_extensions(&text), Ok(offers));

        for bad in [
            offer("", &[]),
            offer("x y", &[]),
            offer("x", &[("a", Some("1, y"))]),
            offer("x", &[("a\r\nEvil: 1", None)]),
        ] {
            assert!(format_extensions(&[bad]).is_err());
        }
    }

    #[test]
    fn token_lists_are_case_insensitive_and_multi_line() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.append(header::UPGRADE, HeaderValue::from_static("h2c"));
        headers.append(header::UPGRADE, HeaderValue::from_static(" , WebSocket "));
        assert!(has_token(&headers, &header::CONNECTION, "upgrade"));
        assert!(has_token(&headers, &header::CONNECTION, "keep-alive"));
        assert!(!has_token(&headers, &header::CONNECTION, "close"));
        assert!(has_token(&headers, &header::UPGRADE, "websocket"));
        assert!(has_token(&headers, &header::UPGRADE, "H2C"));
        let all: Vec<&str> = list_elements(&headers, &header::UPGRADE).collect();
        assert_eq!(all, ["h2c", "WebSocket"]);
    }

    #[test]
    fn single_value_rejects_duplicates() {
        let mut headers = HeaderMap::new();
        assert_eq!(single_value(&headers, &header::HOST, "Host"), Ok(None));
        headers.append(header::HOST, HeaderValue::from_static(" a "));
        assert_eq!(single_value(&headers, &header::HOST, "Host"), Ok(Some("a")));
        headers.append(header::HOST, HeaderValue::from_static("b"));
        assert_eq!(
            single_value(&headers, &header::HOST, "Host"),
            Err(HandshakeError::DuplicateHeader("Host"))
        );
    }

    #[test]
    fn write_field_spells_names() {
        let mut out = Vec::new();
        write_field(&mut out, &header::SEC_WEBSOCKET_ACCEPT, b"x");
        write_field(&mut out, &header::CONTENT_TYPE, b"text/plain");
        write_field(&mut out, &HeaderName::from_static("x-a-b"), b"1");
        assert_eq!(
            out,
            b"Sec-WebSocket-Accept: x\r\nContent-Type: text/plain\r\nX-A-B: 1\r\n"
        );
    }
}
