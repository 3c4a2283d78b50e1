//! The first two bytes a server sends, kept aside while the stream is read as usual, so that a
//! failed `ws://` handshake can tell a TLS server (it answers our plain HTTP request with a TLS
//! alert record) from a broken HTTP one, and say "use wss://" instead of "malformed HTTP".

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What [`Sniff`] saw: each slot is 0 until its byte arrived, then `0x100 | byte`.
#[derive(Debug, Clone, Default)]
pub struct FirstBytes(Arc<[AtomicU16; 2]>);

impl FirstBytes {
    /// Whether the first bytes are a TLS record header: a content type 20..=23 (change cipher
    /// spec, alert, handshake, application data) and major version 3 (RFC 8446 §5.1). An HTTP
    /// response starts with `H`.
    pub fn look_like_tls(&self) -> bool {
        let [kind, major] = [0, 1].map(|i| self.0[i].load(Ordering::Relaxed));
        (0x114..=0x117).contains(&kind) && major == 0x103
    }

    fn record(&self, bytes: &[u8]) {
        let mut bytes = bytes.iter();
        for slot in self.0.iter() {
            if slot.load(Ordering::Relaxed) == 0 {
                let Some(&byte) = bytes.next() else { return };
                slot.store(0x100 | u16::from(byte), Ordering::Relaxed);
            }
        }
    }
}

/// A stream that records its first two bytes read into a [`FirstBytes`] and is otherwise
/// the stream itself.
#[derive(Debug)]
pub struct Sniff<S> {
    inner: S,
    first: FirstBytes,
    /// Set once both bytes are in: from then on a read costs one branch.
    done: bool,
}

impl<S> Sniff<S> {
    /// Wraps `inner`; the returned [`FirstBytes`] outlives the stream.
    pub fn new(inner: S) -> (Self, FirstBytes) {
        let first = FirstBytes::default();
        let sniff = Self {
            inner,
            first: first.clone(),
            done: false,
        };
        (sniff, first)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniff<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if !this.done {
            let new = &buf.filled()[before..];
            this.first.record(new);
            this.done = this.first.0[1].load(Ordering::Relaxed) != 0;
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniff<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn first_of(chunks: &[&[u8]]) -> FirstBytes {
        let (mut server, client) = tokio::io::duplex(64);
        let (mut sniff, first) = Sniff::new(client);
        for chunk in chunks {
            server.write_all(chunk).await.expect("write");
            let mut buf = vec![0; chunk.len()];
            sniff.read_exact(&mut buf).await.expect("read");
            assert_eq!(&buf, chunk, "the bytes pass through unchanged");
        }
        first
    }

    #[tokio::test]
    async fn a_tls_alert_is_recognised_even_one_byte_at_a_time() {
        // An alert record, TLS 1.2 on the wire: 0x15 0x03 0x03 ...
        assert!(
            first_of(&[b"\x15\x03\x03\x00\x02\x02\x46"])
                .await
                .look_like_tls()
        );
        assert!(first_of(&[b"\x15", b"\x03", b"\x01"]).await.look_like_tls());
    }

    #[tokio::test]
    async fn http_and_short_answers_are_not_tls() {
        assert!(
            !first_of(&[b"HTTP/1.1 400 Bad Request\r\n"])
                .await
                .look_like_tls()
        );
        assert!(!first_of(&[b"\x15"]).await.look_like_tls());
        assert!(!first_of(&[]).await.look_like_tls());
    }
}
