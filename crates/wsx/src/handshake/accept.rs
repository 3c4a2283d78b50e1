//! The handshake nonce and its answer: `Sec-WebSocket-Key` and `Sec-WebSocket-Accept`
//! (RFC 6455 §1.3, §4.1, §4.2.2).
#![forbid(unsafe_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded (24 characters).
///
/// RFC 6455 §4.1: the nonce MUST be randomly selected for each connection. It is read from the
/// operating system's generator. Should that fail (a sandbox without `getrandom(2)`, an early
/// boot), this does not panic and does not fail: it falls back to mixing the time, a process-wide
/// counter and std's randomly seeded hasher keys. That is not cryptographic randomness, but the
/// nonce is not a secret: it exists so that the server proves it read this request (§1.3,
/// §10.3), which an unpredictable-enough, never-repeating value achieves.
#[must_use]
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        fallback_nonce(&mut nonce);
    }
    STANDARD.encode(nonce)
}

/// The fallback of [`generate_key`] when the OS generator fails.
fn fallback_nonce(nonce: &mut [u8; 16]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, chunk) in nonce.chunks_exact_mut(8).enumerate() {
        // Each `RandomState::new()` has fresh keys (seeded once per thread from the OS, then
        // stepped), so the two halves differ even for equal inputs.
        let mixed = RandomState::new().hash_one((count, nanos, i));
        chunk.copy_from_slice(&mixed.to_le_bytes());
    }
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`:
/// base64(SHA-1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (RFC 6455 §4.2.2, step 5.4).
///
/// `key` is the header value as sent (the base64 text, not the decoded bytes).
#[must_use]
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_rfc_example() {
        // RFC 6455 §1.3 and §4.2.2.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_decode_to_16_bytes_and_differ() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.len(), 24);
        assert_eq!(STANDARD.decode(&a).map(|k| k.len()), Ok(16));
        assert_ne!(a, b);
    }

    #[test]
    fn fallback_nonces_differ() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        fallback_nonce(&mut a);
        fallback_nonce(&mut b);
        assert_ne!(a, b);
        assert_ne!(a[..8], a[8..]);
    }
}
