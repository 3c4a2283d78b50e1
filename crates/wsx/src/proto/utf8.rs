//! Streaming UTF-8 validation that fails fast (RFC 6455 §8.1).
//!
//! Text arrives in pieces: a frame's payload as it trickles in, a message's fragments. The
//! validator accepts any split, keeps at most 3 bytes of an unfinished character between pieces,
//! and reports invalid data as soon as a byte makes it invalid — not at the end of the frame or
//! message (Autobahn 6.4.x checks this).
#![forbid(unsafe_code)]

use crate::proto::error::ProtocolError;
use simdutf8::compat::from_utf8;

/// Incremental UTF-8 validator.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: usize,
}

/// The length of the character a leading byte starts, or 0 for a byte that cannot lead.
fn char_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// A validator at the start of a text.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets any unfinished character, for the next text.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Whether the text so far ends on a character boundary.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Validates the next piece of text.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidUtf8`] as soon as the bytes so far cannot be the start of valid
    /// UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), ProtocolError> {
        if self.partial_len > 0 {
            let width = char_width(self.partial[0]);
            let take = (width - self.partial_len).min(data.len());
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&data[..take]);
            let have = self.partial_len + take;
            match from_utf8(&self.partial[..have]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; all of `data` was taken.
                    self.partial_len = have;
                    return Ok(());
                }
                Err(_) => return Err(ProtocolError::InvalidUtf8),
            }
            data = &data[take..];
        }
        match from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // The tail is a valid but unfinished character (at most 3 bytes).
                let tail = &data[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
            Err(_) => Err(ProtocolError::InvalidUtf8),
        }
    }

    /// Validates the last piece of a text: it must end on a character boundary.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidUtf8`] when the text is invalid or ends inside a character.
    pub fn finish(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        self.feed(data)?;
        if self.partial_len == 0 {
            Ok(())
        } else {
            Err(ProtocolError::InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[&str] = &[
        "",
        "hello",
        "κόσμε",
        "€",
        "𝄞 music",
        "Hello-µ@ßöäüàá-UTF-8!!",
        "\u{10ffff}\u{fffd}",
    ];
    const INVALID: &[&[u8]] = &[
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // surrogate
        b"\xf4\x90\x80\x80",                                               // above U+10FFFF
        b"\xc0\xaf",                                                       // overlong
        b"\xff",
        b"ab\x80cd",
        b"\xe0\x80\xaf",
    ];

    #[test]
    fn every_split_of_valid_text_is_accepted() {
        for text in VALID {
            let bytes = text.as_bytes();
            for i in 0..=bytes.len() {
                for j in i..=bytes.len() {
                    let mut v = Utf8Validator::new();
                    v.feed(&bytes[..i]).unwrap();
                    v.feed(&bytes[i..j]).unwrap();
                    v.finish(&bytes[j..]).unwrap();
                }
            }
        }
    }

    #[test]
    fn every_split_of_invalid_text_is_rejected() {
        for bytes in INVALID {
            for i in 0..=bytes.len() {
                let mut v = Utf8Validator::new();
                let r = v.feed(&bytes[..i]).and_then(|()| v.finish(&bytes[i..]));
                assert_eq!(r, Err(ProtocolError::InvalidUtf8), "{bytes:?} split at {i}");
            }
        }
    }

    #[test]
    fn fails_fast_on_the_first_bad_byte() {
        // 0xed 0xa0 starts a surrogate: invalid before the character is complete.
        let mut v = Utf8Validator::new();
        v.feed(b"abc\xed").unwrap();
        assert_eq!(v.feed(b"\xa0"), Err(ProtocolError::InvalidUtf8));
        // A byte that can never occur fails at once, with data still to come.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xf5"), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn unfinished_character_at_the_end_is_invalid() {
        let mut v = Utf8Validator::new();
        v.feed("κ".as_bytes().get(..1).unwrap()).unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(b""), Err(ProtocolError::InvalidUtf8));
    }
}
