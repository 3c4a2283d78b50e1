//! Session and socket ids: 20 characters of URL-safe base64 from 15 random bytes, like the
//! ids the Node server hands out (so clients and tools that show or log them see the usual shape).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// An Engine.IO session id or a Socket.IO socket id. `Copy`, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

impl Sid {
    /// A new random id. Should the operating system's generator fail, a process-wide counter
    /// mixed with the time keeps ids unique (they are identifiers, not secrets).
    #[must_use]
    pub fn random() -> Self {
        static FALLBACK: AtomicU64 = AtomicU64::new(0);
        let mut raw = [0u8; 15];
        if getrandom::fill(&mut raw).is_err() {
            let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            raw[..8].copy_from_slice(&n.to_le_bytes());
            raw[8..].copy_from_slice(&t.to_le_bytes()[..7]);
        }
        let mut out = [0u8; 20];
        // 15 bytes are exactly 20 base64 characters: the encode cannot fail.
        let _ = URL_SAFE_NO_PAD.encode_slice(raw, &mut out);
        Self(out)
    }

    /// A new random id whose first characters are `prefix` (URL-safe base64 characters, at
    /// most 8; longer prefixes are cut, other characters replaced by `_`). A cluster node
    /// puts its node tag there, so that any node can tell from a session id alone which
    /// node owns the session (`server::forward`). The other 12 or more characters stay
    /// random (at least 72 bits).
    #[must_use]
    pub fn random_with_prefix(prefix: &str) -> Self {
        let mut id = Self::random();
        for (slot, b) in id.0.iter_mut().zip(prefix.bytes().take(8)) {
            *slot = if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                b
            } else {
                b'_'
            };
        }
        id
    }

    /// Parses an id of 20 URL-safe base64 characters.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; 20] = text.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .then_some(Self(bytes))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Always ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

impl AsRef<str> for Sid {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_20_url_safe_chars_and_distinct() {
        let a = Sid::random();
        let b = Sid::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert_eq!(Sid::parse(a.as_str()), Some(a));
        assert_eq!(Sid::parse("short"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa="), None);
    }

    #[test]
    fn prefixed_ids_keep_the_prefix_and_the_shape() {
        let a = Sid::random_with_prefix("node01");
        let b = Sid::random_with_prefix("node01");
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("node01"), "{a}");
        assert_eq!(Sid::parse(a.as_str()), Some(a));
        let cut = Sid::random_with_prefix("ab/cdefghijk");
        assert!(cut.as_str().starts_with("ab_cdefg"), "{cut}");
        assert_eq!(Sid::parse(cut.as_str()), Some(cut));
    }
}
