//! The permessage-deflate payload transformation (RFC 7692 §7.2): one [`DeflateCodec`] per
//! connection, compressing what this side sends and inflating what it receives.
#![forbid(unsafe_code)]

use super::shared::History;
use super::{CompressorMode, DeflateConfig, DeflateParams};
use crate::proto::error::{ExtensionError, ProtocolError};
use crate::proto::extension::{Extension, SharedEncoding};
use crate::proto::frame::RSV1;
use crate::proto::role::Role;
use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::fmt;

/// RFC 7692 §7.2.1: the empty stored block a sync flush ends with; stripped from every
/// compressed message on send and appended again on receive (§7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output is produced at most this much at a time, so a message can never grow its buffer more
/// than this past the size limit (decompression bombs).
pub(super) const MAX_CHUNK: usize = 256 * 1024;
/// The smallest output chunk, so that small messages take one step.
const MIN_CHUNK: usize = 1024;

/// The permessage-deflate codec of one connection (RFC 7692 §7.2).
///
/// It knows its [`Role`], which decides which negotiated parameters constrain which direction:
/// `server_*` parameters apply to what the server compresses and the client inflates, `client_*`
/// ones to the other direction.
///
/// - Sending ([`Extension::encode`]): a message shorter than the threshold goes out uncompressed
///   (RSV1 clear; RFC 7692 §6 lets every message choose). Others are deflated with a sync flush
///   and the trailing `00 00 ff ff` is removed (§7.2.1); the compressor is reset after each
///   message when no context takeover applies to this side.
/// - Receiving ([`Extension::decode`]): every frame of a message is inflated as it arrives,
///   `00 00 ff ff` appended after the last one (§7.2.2), never producing more than the message
///   size limit (the output grows in chunks of at most 256 KiB and is checked after each).
///
/// The zlib states are allocated on first use: a connection that never sends a message over the
/// threshold never pays for a compressor, one that never receives a compressed message never
/// pays for an inflater.
pub struct DeflateCodec {
    role: Role,
    params: DeflateParams,
    level: Compression,
    threshold: usize,
    compress: bool,
    /// The window our compressor uses (the negotiated one for our side; 8 becomes 9, see
    /// [`Self::local_window_bits`]).
    local_window_bits: u8,
    local_no_context_takeover: bool,
    remote_no_context_takeover: bool,
    /// The connection's own compressor ([`CompressorMode::Dedicated`]), made on first use.
    deflater: Option<Compress>,
    /// What the thread's shared compressor needs to continue this connection's stream
    /// ([`CompressorMode::Shared`]); `None` with a dedicated compressor.
    history: Option<History>,
    inflater: Option<Decompress>,
    /// Between the first and the last frame of an incoming compressed message.
    in_message: bool,
    /// Compressed bytes received for the message in progress.
    message_input: usize,
    /// The peer ended its DEFLATE stream (a block with BFINAL set) inside this message.
    stream_ended: bool,
}

impl fmt::Debug for DeflateCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeflateCodec")
            .field("role", &self.role)
            .field("params", &self.params)
            .field("level", &self.level.level())
            .field("threshold", &self.threshold)
            .field("compress", &self.compress)
            .field("deflater", &self.deflater.is_some())
            .field("shared", &self.history.is_some())
            .field("inflater", &self.inflater.is_some())
            .finish_non_exhaustive()
    }
}

impl DeflateCodec {
    /// A codec for the `role` side of a connection that negotiated `params`; `config` gives the
    /// local choices (compression level, threshold, whether to compress at all).
    #[must_use]
    pub fn new(role: Role, params: DeflateParams, config: &DeflateConfig) -> Self {
        let (local_bits, local_reset, remote_reset) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        let local_window_bits = Self::local_window_bits(local_bits);
        let history = (config.compressor == CompressorMode::Shared && config.compress)
            .then(|| History::new(local_window_bits, !local_reset));
        Self {
            role,
            params,
            level: Compression::new(config.level.min(9)),
            threshold: config.threshold,
            compress: config.compress,
            local_window_bits,
            local_no_context_takeover: local_reset,
            remote_no_context_takeover: remote_reset,
            deflater: None,
            history,
            inflater: None,
            in_message: false,
            message_input: 0,
            stream_ended: false,
        }
    }

    /// The window our compressor uses for a negotiated limit of `bits`.
    ///
    /// zlib (and zlib-rs) cannot deflate raw streams with a 256-byte window: they refuse 8, or
    /// silently use 9. Using 9 is still within a limit of 8, because zlib never emits a
    /// distance larger than the window minus its 262-byte lookahead: at most 512 - 262 = 250
    /// bytes back, which a 256-byte window inflates. So a limit of 8 compresses with 9 and
    /// stays conformant (RFC 7692 §7.1.2.1-2).
    fn local_window_bits(bits: u8) -> u8 {
        bits.clamp(9, 15)
    }

    /// The parameters this codec runs with.
    #[must_use]
    pub fn params(&self) -> &DeflateParams {
        &self.params
    }

    /// Which side of the connection this codec serves.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// Compresses `payload` into `out` (appending), stripping the sync-flush tail.
    pub(super) fn deflate(
        &mut self,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), ProtocolError> {
        if payload.is_empty() {
            // RFC 7692 §7.2.3.6: an empty message is an empty stored block without its length
            // (zlib would emit nothing for it right after a previous flush). The compressor's
            // window is unchanged, so is the peer's.
            out.extend_from_slice(&[0x00]);
            return Ok(());
        }
        let (level, bits) = (self.level, self.local_window_bits);
        if let Some(history) = self.history.as_mut() {
            return history.compress(level, bits, payload, |deflater| {
                deflate_into(deflater, payload, out)
            });
        }
        let deflater = self
            .deflater
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        deflate_into(deflater, payload, out)?;
        if self.local_no_context_takeover {
            // RFC 7692 §7.1.1: no context takeover for our side means a fresh window per
            // message.
            deflater.reset();
        }
        Ok(())
    }

    /// Inflates `input` (part of a message) into `out`, failing as soon as `out` would grow past
    /// `limit`.
    fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if self.stream_ended {
            // RFC 7692 §7.2.3.4: the peer ended its DEFLATE stream with a BFINAL block; what
            // follows in this message (our own appended tail, padding) carries no data.
            return Ok(());
        }
        // Inflating with a 32 KiB window is always right: it decodes data compressed with any
        // smaller window (RFC 1951 §3.2.5), and with zlib-rs it costs the same memory.
        let inflater = self
            .inflater
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        loop {
            // Decompression bombs: never make room for more than one byte past the limit, so an
            // overflow is seen without allocating for it, and never more than MAX_CHUNK at once.
            let headroom = limit.saturating_sub(out.len()).saturating_add(1);
            let room = input
                .len()
                .saturating_mul(4)
                .clamp(MIN_CHUNK, MAX_CHUNK)
                .min(headroom);
            let at = out.len();
            out.resize(at + room, 0);
            let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
            let status = inflater.decompress(input, &mut out[at..], FlushDecompress::None);
            let consumed = (inflater.total_in() - in_before) as usize;
            let produced = (inflater.total_out() - out_before) as usize;
            out.truncate(at + produced);
            // RFC 7692 §7.2.2 leaves invalid data to RFC 6455: fail the connection (1002).
            let status =
                status.map_err(|e| ProtocolError::Extension(ExtensionError::Inflate(e)))?;
            if out.len() > limit {
                return Err(ProtocolError::MessageTooLarge {
                    size: out.len() as u64,
                    limit: limit as u64,
                });
            }
            input = &input[consumed..];
            if status == Status::StreamEnd {
                self.stream_ended = true;
                return Ok(());
            }
            if input.is_empty() && produced < room {
                return Ok(());
            }
            if consumed == 0 && produced == 0 {
                return Err(ProtocolError::Extension(ExtensionError::InflateStalled));
            }
        }
    }

    fn decode_frame(
        &mut self,
        payload: &[u8],
        fin: bool,
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if !payload.is_empty() {
            self.inflate(payload, out, limit)?;
        }
        // RFC 7692 §7.2.2: append 00 00 ff ff to the message before inflating its end. A message
        // with no compressed bytes at all is not a DEFLATE stream (the smallest, for an empty
        // message, is the single byte 0x00, §7.2.3.6): appending the tail alone would leave the
        // inflater inside a stored block, so such a message is read as empty instead.
        if fin && self.message_input > 0 {
            self.inflate(&TAIL, out, limit)?;
        }
        Ok(())
    }
}

impl Extension for DeflateCodec {
    fn rsv_bits(&self) -> u8 {
        // RFC 7692 §6: the "Per-Message Compressed" bit is RSV1.
        RSV1
    }

    fn decode(
        &mut self,
        payload: &[u8],
        fin: bool,
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if !self.in_message {
            self.in_message = true;
            self.message_input = 0;
            self.stream_ended = false;
        }
        self.message_input += payload.len();
        let result = self.decode_frame(payload, fin, out, limit);
        if fin || result.is_err() {
            self.in_message = false;
            // RFC 7692 §7.1.1: without context takeover the peer starts each message with an
            // empty window, and after a BFINAL block it starts a new stream: either way the
            // next message begins with a fresh inflater.
            if (self.remote_no_context_takeover || self.stream_ended)
                && let Some(inflater) = self.inflater.as_mut()
            {
                inflater.reset(false);
            }
        }
        result
    }

    fn encode(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<Option<u8>, ProtocolError> {
        if !self.compress || payload.len() < self.threshold {
            return Ok(None);
        }
        // Every message over the threshold is sent compressed, even one that does not shrink
        // (incompressible data costs 5 bytes per 64 KiB in stored blocks): sending it plain
        // instead would leave it out of the peer's window, forcing a reset of ours and losing the
        // context for the messages after it.
        self.deflate(payload, out)?;
        Ok(Some(RSV1))
    }

    fn shared_encoding(&self) -> SharedEncoding {
        match self.role {
            // A client masks every frame: nothing is shared.
            Role::Client => SharedEncoding::None,
            Role::Server if self.compress && self.local_no_context_takeover => {
                SharedEncoding::Deflate {
                    level: u8::try_from(self.level.level()).unwrap_or(9),
                    window_bits: self.local_window_bits,
                    threshold: u32::try_from(self.threshold).unwrap_or(u32::MAX),
                }
            }
            Role::Server => SharedEncoding::Plain,
        }
    }
}

/// Deflates `payload` into `out` (appending) with a sync flush, and strips the flush's
/// `00 00 ff ff` (RFC 7692 §7.2.1).
pub(super) fn deflate_into(
    deflater: &mut Compress,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), ProtocolError> {
    let start = out.len();
    let mut input = payload;
    loop {
        // Room for the whole message in one step: stored blocks cost 5 bytes per 64 KiB,
        // plus the flush.
        let room = input.len() + input.len() / 64 + 64;
        let at = out.len();
        out.resize(at + room, 0);
        let (in_before, out_before) = (deflater.total_in(), deflater.total_out());
        let status = deflater.compress(input, &mut out[at..], FlushCompress::Sync);
        let consumed = (deflater.total_in() - in_before) as usize;
        let produced = (deflater.total_out() - out_before) as usize;
        out.truncate(at + produced);
        status.map_err(|e| ProtocolError::Extension(ExtensionError::Deflate(e)))?;
        input = &input[consumed..];
        // The flush is complete once all input is taken and the output was not filled.
        if input.is_empty() && produced < room {
            break;
        }
        if consumed == 0 && produced == 0 {
            return Err(ProtocolError::Extension(ExtensionError::DeflateStalled));
        }
    }
    // RFC 7692 §7.2.1: remove the 00 00 ff ff of the empty stored block the flush ended with.
    if !out[start..].ends_with(&TAIL) {
        return Err(ProtocolError::Extension(ExtensionError::MissingSyncFlush));
    }
    out.truncate(out.len() - TAIL.len());
    Ok(())
}
