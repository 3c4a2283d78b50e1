//! The opening handshakes over an async transport: the I/O around the sans-I/O
//! [`crate::handshake`]. [`server`] reads a request and answers it ([`crate::accept`]);
//! [`client`] sends a request and reads the answer ([`crate::connect`],
//! [`crate::client_handshake`]). Both read a head with the one loop below.
#![forbid(unsafe_code)]

pub(crate) mod client;
pub(crate) mod server;

use crate::proto::HandshakeError;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How reading a handshake head failed.
pub(crate) enum HeadError {
    /// The bytes are not an acceptable head (a server answers with its HTTP status).
    Invalid(HandshakeError),
    /// The transport ended first.
    Eof,
    /// The transport failed.
    Io(std::io::Error),
}

impl From<HeadError> for crate::Error {
    fn from(err: HeadError) -> Self {
        match err {
            HeadError::Invalid(err) => err.into(),
            HeadError::Eof => HandshakeError::UnexpectedEof.into(),
            HeadError::Io(err) => Self::Io(err),
        }
    }
}

/// Reads from `stream` into `buf` until `parse` finds a whole head in it (`Ok(None)` asks for
/// more bytes). The parser bounds the head's size; the buffer grows 1 KiB at a time. Bytes
/// behind the head stay in `buf`: they are the start of the frame stream.
pub(crate) async fn read_head<S, T>(
    stream: &mut S,
    buf: &mut BytesMut,
    mut parse: impl FnMut(&[u8]) -> Result<Option<T>, HandshakeError>,
) -> Result<T, HeadError>
where
    S: AsyncRead + Unpin,
{
    loop {
        match parse(buf) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(err) => return Err(HeadError::Invalid(err)),
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(1024);
        }
        match stream.read_buf(buf).await {
            Ok(0) => return Err(HeadError::Eof),
            Ok(_) => {}
            Err(err) => return Err(HeadError::Io(err)),
        }
    }
}
