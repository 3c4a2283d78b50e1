//! A connection's raw TCP descriptor and one non-blocking `send(2)` on it: what the direct
//! writes of a broadcast use, in the driver (`direct.rs`) and in the event API
//! (`event/conn/wire.rs`, which imports it from this lower layer). Each caller keeps its own
//! argument for why the descriptor is still open when it writes (its `SAFETY` comment); this
//! file holds the call itself.
//!
//! Linux and Android only (`MSG_NOSIGNAL`); elsewhere [`RawSocket`] is uninhabited, no
//! connection has one, and every write goes through the connection's task.

/// A raw socket descriptor that direct writes may use.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) type RawSocket = std::os::fd::RawFd;
/// No direct writes on this platform.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) type RawSocket = std::convert::Infallible;

/// The descriptor of a plain TCP stream.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(clippy::unnecessary_wraps)] // `None` on other platforms
pub(crate) fn tcp_socket(tcp: &tokio::net::TcpStream) -> Option<RawSocket> {
    use std::os::fd::AsRawFd;
    Some(tcp.as_raw_fd())
}

/// No direct writes on this platform.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn tcp_socket(_: &tokio::net::TcpStream) -> Option<RawSocket> {
    None
}

/// One non-blocking `send` of `buf` on `socket`: how many bytes the kernel took, or the error
/// (`WouldBlock` when its buffer is full).
///
/// # Safety
/// `socket` must be an open descriptor of the caller's connection for the whole call, one that
/// cannot be closed (and reused) meanwhile; the caller says why in its `SAFETY` comment.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
pub(crate) unsafe fn send(socket: RawSocket, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the whole call; `socket` is open (this
    // function's contract). `MSG_NOSIGNAL`: a reset peer gives `EPIPE`, not `SIGPIPE`;
    // `MSG_DONTWAIT`: never blocks (the socket is non-blocking too).
    let n = unsafe {
        libc::send(
            socket,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// No direct writes on this platform.
///
/// # Safety
/// Nothing to uphold: there is no [`RawSocket`] to pass.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[allow(unsafe_code)]
pub(crate) unsafe fn send(socket: RawSocket, _: &[u8]) -> std::io::Result<usize> {
    match socket {}
}
