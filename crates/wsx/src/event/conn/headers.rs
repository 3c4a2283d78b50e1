//! The handshake's headers as a connection keeps them: packed into one allocation, and turned
//! into an [`http::HeaderMap`] only when the application first asks for it
//! ([`super::Conn::headers`]). A `HeaderMap` of a browser's or a client library's handshake
//! (six to twelve fields) holds its index and entry tables plus one allocation per value,
//! about 0.9 KiB, on every connection for its whole life, read by most applications at most
//! once (issue 25: the event API's idle memory, 3.8 KiB per connection with the map, 2.9
//! without it). Packed, the same fields take their own bytes plus four per field.
#![forbid(unsafe_code)]

use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::OnceLock;

/// Header fields, packed until [`Self::get`] is first called.
pub(crate) struct Headers {
    /// Every field in the map's order as `name length (u16 LE), name, value length (u16 LE),
    /// value`; empty when the map was given eagerly.
    packed: Box<[u8]>,
    /// Boxed: inline, the map's 96 bytes would sit in every connection's shared state.
    map: OnceLock<Box<HeaderMap>>,
}

impl Headers {
    /// Keeps `map` packed; [`Self::get`] rebuilds it with the same fields in the same order
    /// (every value of a name after its first, as `HeaderMap::iter` yields them). A map with
    /// a name or value past 64 KiB (beyond any handshake `max_request_size` allows) is kept
    /// as it is.
    pub fn packed(map: HeaderMap) -> Self {
        let mut len = 0;
        for (name, value) in &map {
            if name.as_str().len() > usize::from(u16::MAX) || value.len() > usize::from(u16::MAX) {
                return Self::eager(map);
            }
            len += 4 + name.as_str().len() + value.len();
        }
        let mut packed = Vec::with_capacity(len);
        for (name, value) in &map {
            for part in [name.as_str().as_bytes(), value.as_bytes()] {
                let n = u16::try_from(part.len()).unwrap_or(u16::MAX);
                packed.extend_from_slice(&n.to_le_bytes());
                packed.extend_from_slice(&part[..usize::from(n)]);
            }
        }
        Self {
            packed: packed.into_boxed_slice(),
            map: OnceLock::new(),
        }
    }

    /// Keeps `map` as it is (a client's response headers, tests).
    pub fn eager(map: HeaderMap) -> Self {
        Self {
            packed: Box::default(),
            map: OnceLock::from(Box::new(map)),
        }
    }

    /// The header map, built from the packed fields on the first call.
    pub fn get(&self) -> &HeaderMap {
        self.map.get_or_init(|| Box::new(unpack(&self.packed)))
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// The fields of [`Headers::packed`] as a map. Every name and value came from a valid map, so
/// none is refused; a malformed part (which `packed` never writes) ends the list.
fn unpack(mut packed: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    while let (Some(name), Some(value)) = (take(&mut packed), take(&mut packed)) {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            // Fewer fields than the map they came from: no capacity error is possible.
            let _ = map.try_append(name, value);
        }
    }
    map
}

/// The next length-prefixed part of `packed`, advancing past it.
fn take<'a>(packed: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = packed.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    let part = rest.get(..len)?;
    *packed = &rest[len..];
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_headers_come_back_with_every_field_in_order() {
        let mut map = HeaderMap::new();
        map.append("host", HeaderValue::from_static("example.com"));
        map.append("cookie", HeaderValue::from_static("a=1"));
        map.append("x-custom", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        map.append("cookie", HeaderValue::from_static("b=2"));
        map.append("empty", HeaderValue::from_static(""));
        let headers = Headers::packed(map.clone());
        assert_eq!(headers.get(), &map);
        let cookies: Vec<_> = headers.get().get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(Headers::packed(HeaderMap::new()).get().len(), 0);
        let mut long = HeaderMap::new();
        long.append("x-long", HeaderValue::from_bytes(&[b'a'; 70_000]).unwrap());
        assert_eq!(Headers::packed(long.clone()).get(), &long);
        assert_eq!(Headers::eager(map.clone()).get(), &map);
    }
}
