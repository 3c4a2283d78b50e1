//! One connection under load: write the pre-encoded masked frame, read the whole echo, time
//! the round trip, repeat (`--pipeline D`: a writer keeps D frames in flight and the reader
//! matches echoes in order). A round trip counts only when it completes inside the measured
//! window; it is timed from the start of its write, or with `--rate` from the time it was
//! due (so a server that falls behind shows its queueing delay instead of slowing the clock:
//! no coordinated omission).
//!
//! Bounded: the load stops when the phase turns to [`STOP`], and the whole connection, close
//! included, is cut off at a hard deadline (the end plus a grace period) and counted `stuck`.

use super::open::Opened;
use super::stats::{ConnStats, Kind};
use super::wire::{self, FrameError};
use bytes::{Buf, BytesMut};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Phase: warming up (round trips are not counted).
pub const WARMUP: u8 = 0;
/// Phase: measuring.
pub const MEASURE: u8 = 1;
/// Phase: stop sending.
pub const STOP: u8 = 2;

/// How long the end of the run waits for the server's close.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// State every connection shares.
#[derive(Debug, Default)]
pub struct Shared {
    /// [`WARMUP`], [`MEASURE`] or [`STOP`].
    pub phase: AtomicU8,
    /// Round trips completed so far in any phase (for the progress bar).
    pub done: AtomicU64,
}

impl Shared {
    /// The current phase.
    pub(super) fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }
}

/// What every connection sends and expects.
#[derive(Debug)]
pub struct LoadPlan {
    /// The frame sent (for raw TCP: the bytes sent and expected back).
    pub frame: Vec<u8>,
    /// The opcode expected back.
    pub opcode: u8,
    /// The payload length expected back.
    pub size: usize,
    /// Raw TCP echo: expect our own bytes back.
    pub raw: bool,
    /// Frames in flight per connection.
    pub pipeline: usize,
    /// Time between two messages of one connection (`--rate`); `None`: as fast as echoes come.
    pub period: Option<Duration>,
    /// The end of the measured window: no message is due after it.
    pub end: Instant,
    /// After this, the connection is cut off and counted `stuck`.
    pub hard_deadline: Instant,
}

/// Paces a connection's sends with `--rate`: returns when each message is due.
pub(super) struct Pacer {
    next: Instant,
    period: Option<Duration>,
}

impl Pacer {
    pub(super) fn new(period: Option<Duration>, offset: Duration) -> Self {
        Self {
            next: Instant::now() + offset,
            period,
        }
    }

    /// Waits until the next message is due; returns the time it was due (now, unpaced).
    pub(super) async fn due(&mut self) -> Instant {
        let Some(period) = self.period else {
            return Instant::now();
        };
        let due = self.next;
        self.next += period;
        tokio::time::sleep_until(due).await;
        due
    }
}

/// Why a round trip failed.
#[derive(Debug)]
enum Failed {
    Io(io::Error),
    Eof,
    Frame(FrameError),
    ServerClose(u16),
    Wrong(String),
}

impl Failed {
    fn count(self, stats: &mut ConnStats) {
        match self {
            Self::Io(e) => stats.errors.add(Kind::Io, e),
            Self::Eof => stats
                .errors
                .add(Kind::ServerClosed, "server closed TCP during the load"),
            Self::Frame(e) => stats.errors.add(Kind::Protocol, e),
            Self::ServerClose(code) => stats.errors.add(
                Kind::ServerClosed,
                format!("server sent close {code} during the load"),
            ),
            Self::Wrong(what) => stats.errors.add(Kind::WrongEcho, what),
        }
    }
}

impl From<io::Error> for Failed {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Eof
        } else {
            Self::Io(e)
        }
    }
}

impl From<FrameError> for Failed {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

/// Reads at least one more byte into `buf`, with room for `want` more.
async fn fill<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    want: usize,
) -> Result<(), Failed> {
    // With nothing left in it, `reserve` moves the start back instead of growing.
    buf.reserve(want.max(4096));
    if r.read_buf(buf).await? == 0 {
        return Err(Failed::Eof);
    }
    Ok(())
}

/// The most a read asks room for: a 64 KiB frame and its header in one read. Payloads are
/// consumed as they arrive, so a connection's buffer stays near this size whatever the message
/// size.
const READ_CHUNK: usize = 64 * 1024 + 14;

/// Consumes `count` bytes of the stream: what is buffered, then reads.
async fn skip<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    count: usize,
) -> Result<(), Failed> {
    let mut remaining = count;
    loop {
        let n = remaining.min(buf.len());
        buf.advance(n);
        remaining -= n;
        if remaining == 0 {
            return Ok(());
        }
        fill(r, buf, remaining.min(READ_CHUNK)).await?;
    }
}

/// Reads one whole echoed message (fragments reassembled, pings and pongs skipped) and checks
/// its opcode and length. Raw TCP: reads as many bytes as were sent.
async fn read_echo<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    plan: &LoadPlan,
) -> Result<(), Failed> {
    if plan.raw {
        return skip(r, buf, plan.frame.len()).await;
    }
    // The largest echo accepted: what was sent, with room for a server's own framing.
    let max = plan.size.max(125);
    let mut message: Option<(u8, usize)> = None;
    loop {
        let header = loop {
            match wire::parse_header(buf, max)? {
                Some(header) => break header,
                None => fill(r, buf, 14).await?,
            }
        };
        buf.advance(header.header_len);
        let len = header.payload_len;
        match header.opcode {
            wire::PING | wire::PONG | wire::CLOSE => {
                // RFC 6455 §5.5: control frames are final and carry at most 125 bytes.
                if len > 125 || !header.fin {
                    return Err(Failed::Wrong(
                        "control frame over 125 bytes or fragmented".into(),
                    ));
                }
                while buf.len() < len {
                    fill(r, buf, len - buf.len()).await?;
                }
                if header.opcode == wire::CLOSE {
                    return Err(Failed::ServerClose(wire::close_code(&buf[..len])));
                }
                buf.advance(len);
                continue;
            }
            wire::CONTINUATION => match &mut message {
                Some((_, total)) => {
                    *total += len;
                    if *total > max {
                        return Err(Failed::Wrong(format!("echo longer than {max} bytes")));
                    }
                }
                None => return Err(Failed::Wrong("continuation frame without a message".into())),
            },
            wire::TEXT | wire::BINARY => {
                if message.is_some() {
                    return Err(Failed::Wrong("new message inside a fragmented one".into()));
                }
                message = Some((header.opcode, len));
            }
            other => return Err(Failed::Wrong(format!("reserved opcode {other:#x}"))),
        }
        skip(r, buf, len).await?;
        if header.fin
            && let Some((opcode, total)) = message
        {
            if opcode != plan.opcode || total != plan.size {
                return Err(Failed::Wrong(format!(
                    "echo of opcode {opcode:#x} and {total} bytes, sent {:#x} and {}",
                    plan.opcode, plan.size
                )));
            }
            return Ok(());
        }
    }
}

/// One round trip at a time.
async fn run_sequential(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    plan: &LoadPlan,
    shared: &Shared,
    stats: &mut ConnStats,
    mut pacer: Pacer,
) -> Result<(), Failed> {
    while shared.phase() != STOP {
        // With --rate, a message may be due after the end (a period longer than the run):
        // it is not sent, and the wait is not an error.
        let Ok(start) = tokio::time::timeout_at(plan.end, pacer.due()).await else {
            break;
        };
        if shared.phase() == STOP {
            break;
        }
        stream.write_all(&plan.frame).await?;
        read_echo(stream, buf, plan).await?;
        let done = Instant::now();
        shared.done.fetch_add(1, Ordering::Relaxed);
        if shared.phase() == MEASURE {
            stats.record(done - start);
        }
    }
    Ok(())
}

/// `--pipeline D`: the writer sends while fewer than D echoes are due; the reader takes the
/// send times in order as the echoes come back. The channel's capacity is the bound.
async fn run_pipelined(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    plan: &LoadPlan,
    shared: &Shared,
    stats: &mut ConnStats,
    mut pacer: Pacer,
) -> Result<(), Failed> {
    let (mut reader, mut writer) = stream.split();
    let (due_tx, mut due_rx) = mpsc::channel::<Instant>(plan.pipeline);
    let write = async move {
        while shared.phase() != STOP {
            let Ok(start) = tokio::time::timeout_at(plan.end, pacer.due()).await else {
                break;
            };
            if shared.phase() == STOP || due_tx.send(start).await.is_err() {
                break;
            }
            writer.write_all(&plan.frame).await?;
        }
        Ok::<(), Failed>(())
    };
    let read = async {
        while let Some(start) = due_rx.recv().await {
            read_echo(&mut reader, buf, plan).await?;
            let done = Instant::now();
            shared.done.fetch_add(1, Ordering::Relaxed);
            if shared.phase() == MEASURE {
                stats.record(done - start);
            }
        }
        Ok::<(), Failed>(())
    };
    tokio::try_join!(write, read).map(|_| ())
}

/// Ends a connection politely: a masked close frame (1000), then the server's close and its
/// end of the TCP stream (RFC 6455 §7.1.1: the server closes TCP first). Raw TCP: shuts down
/// our side and waits for the server's end.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    raw: bool,
) -> Result<(), String> {
    if raw {
        stream.shutdown().await.map_err(|e| e.to_string())?;
    } else {
        let frame = wire::encode_masked(wire::CLOSE, &1000u16.to_be_bytes(), mask_key());
        stream.write_all(&frame).await.map_err(|e| e.to_string())?;
    }
    let mut closed = raw;
    loop {
        if !closed {
            // Skip what is still in flight until the close frame.
            while let Ok(Some(h)) = wire::parse_header(buf, usize::MAX >> 1) {
                let total = h.header_len + h.payload_len;
                if buf.len() < total {
                    break;
                }
                buf.advance(total);
                if h.opcode == wire::CLOSE {
                    closed = true;
                    break;
                }
            }
        } else {
            buf.clear();
        }
        buf.reserve(4096);
        match stream.read_buf(buf).await {
            Ok(0) if closed => return Ok(()),
            Ok(0) => return Err("server closed TCP without a close frame".into()),
            Ok(_) => {}
            // A reset after the server's close frame is still a completed close.
            Err(_) if closed => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A fresh masking key (RFC 6455 §5.3).
pub fn mask_key() -> [u8; 4] {
    let mut key = [0u8; 4];
    // A fixed key is still a valid frame if the OS has no randomness to give.
    if getrandom::fill(&mut key).is_err() {
        key = [0x5a, 0xa5, 0x3c, 0xc3];
    }
    key
}

/// Runs one connection until the end of the load, then closes it; everything within
/// `plan.hard_deadline` (plus the close timeout).
pub async fn drive(
    opened: Opened,
    plan: Arc<LoadPlan>,
    shared: Arc<Shared>,
    offset: Duration,
) -> ConnStats {
    let Opened {
        mut stream,
        mut buf,
    } = opened;
    let mut stats = ConnStats::default();
    let pacer = Pacer::new(plan.period, offset);
    let load = async {
        if plan.pipeline > 1 {
            run_pipelined(&mut stream, &mut buf, &plan, &shared, &mut stats, pacer).await
        } else {
            run_sequential(&mut stream, &mut buf, &plan, &shared, &mut stats, pacer).await
        }
    };
    let outcome = tokio::time::timeout_at(plan.hard_deadline, load).await;
    match outcome {
        Ok(Ok(())) => {
            match tokio::time::timeout(CLOSE_TIMEOUT, close(&mut stream, &mut buf, plan.raw)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => stats.errors.add(Kind::Close, e),
                Err(_) => stats.errors.add(
                    Kind::Close,
                    format!(
                        "no close from the server within {} s",
                        CLOSE_TIMEOUT.as_secs()
                    ),
                ),
            }
        }
        Ok(Err(failed)) => failed.count(&mut stats),
        Err(_) => stats
            .errors
            .add(Kind::Stuck, "no echo within the grace period after the end"),
    }
    stats
}
