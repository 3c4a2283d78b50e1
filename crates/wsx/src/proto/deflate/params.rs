//! permessage-deflate parameters (RFC 7692 §7.1): parsing one element of
//! `Sec-WebSocket-Extensions`, the server's answer to an offer, and the client's check of that
//! answer.
//!
//! Pure functions over [`ExtensionOffer`]s; the factory in the parent module wires them into the
//! handshake.
#![forbid(unsafe_code)]

use super::DeflateConfig;
use crate::proto::ExtensionOffer;
use std::fmt;

/// The extension token (RFC 7692 §7).
pub const NAME: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";
/// The parameters RFC 7692 §7.1 defines, in the order of its sections.
const KNOWN: [&str; 4] = [
    SERVER_NO_CONTEXT_TAKEOVER,
    CLIENT_NO_CONTEXT_TAKEOVER,
    SERVER_MAX_WINDOW_BITS,
    CLIENT_MAX_WINDOW_BITS,
];

/// The LZ77 window sizes RFC 7692 §7.1.2 allows, as base-2 logarithms.
pub(crate) const WINDOW_BITS: std::ops::RangeInclusive<u8> = 8..=15;

/// The parameters both endpoints of a connection run with, once negotiated (RFC 7692 §7.1).
///
/// Each pair constrains one direction: the `server_*` parameters the messages the server
/// compresses (and the client inflates), the `client_*` ones the other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server starts every message with an empty LZ77 window (RFC 7692 §7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty LZ77 window (RFC 7692 §7.1.1.2).
    pub client_no_context_takeover: bool,
    /// The largest LZ77 window the server compresses with, as a base-2 logarithm, 8..=15
    /// (RFC 7692 §7.1.2.1).
    pub server_max_window_bits: u8,
    /// The largest LZ77 window the client compresses with, as a base-2 logarithm, 8..=15
    /// (RFC 7692 §7.1.2.2).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// What an element without parameters means: context takeover both ways, 32 KiB windows.
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// `client_max_window_bits` as it appears in an element (RFC 7692 §7.1.2.2): an offer may carry
/// it without a value ("I can limit my window if you tell me to"); a response only with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ClientBits {
    /// Not present.
    #[default]
    Absent,
    /// Present without a value (offers only).
    Any,
    /// Present with a value.
    Max(u8),
}

/// The parameters of one `permessage-deflate` element, as written in an offer or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Params {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: Option<u8>,
    pub(crate) client_max_window_bits: ClientBits,
}

/// Which kind of element is being parsed: the grammar differs for `client_max_window_bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A client's offer.
    Offer,
    /// A server's response.
    Response,
}

/// Why an element was declined (server) or refused (client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParamError {
    /// A parameter RFC 7692 does not define (§7: such an offer must be declined, such a
    /// response must fail the connection).
    Unknown(String),
    /// A parameter given twice (RFC 7692 §7).
    Duplicate(&'static str),
    /// A parameter with a value it may not have, or a value outside its grammar.
    InvalidValue(&'static str, Option<String>),
    /// The server did not grant a parameter the client requested.
    NotGranted(&'static str),
    /// The server answered with a window larger than the client allowed.
    WindowTooLarge(&'static str, u8),
    /// The server answered with `client_max_window_bits` which the client did not offer
    /// (RFC 7692 §7.1.2.2).
    NotOffered(&'static str),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => write!(f, "unknown parameter {name}"),
            Self::Duplicate(name) => write!(f, "duplicate parameter {name}"),
            Self::InvalidValue(name, Some(value)) => {
                write!(f, "invalid value {value:?} for {name}")
            }
            Self::InvalidValue(name, None) => write!(f, "{name} needs a value"),
            Self::NotGranted(name) => write!(f, "{name} was requested but not granted"),
            Self::WindowTooLarge(name, bits) => {
                write!(f, "{name}={bits} is larger than the client allowed")
            }
            Self::NotOffered(name) => write!(f, "{name} was not offered"),
        }
    }
}

impl Params {
    /// Parses the parameters of a `permessage-deflate` element (the name is not checked).
    ///
    /// RFC 7692 §7: an element with an unknown parameter, a parameter given twice, or a value
    /// outside a parameter's grammar is invalid. Parameter names are compared ignoring ASCII
    /// case, like extension names (RFC 6455 §9.1 tokens).
    pub(crate) fn parse(element: &ExtensionOffer, kind: Kind) -> Result<Self, ParamError> {
        let mut params = Self::default();
        let mut seen = [false; KNOWN.len()];
        for (name, value) in &element.params {
            let value = value.as_deref();
            let index = KNOWN
                .iter()
                .position(|known| name.eq_ignore_ascii_case(known))
                .ok_or_else(|| ParamError::Unknown(name.clone()))?;
            let known = KNOWN[index];
            if std::mem::replace(&mut seen[index], true) {
                return Err(ParamError::Duplicate(known));
            }
            match index {
                // §7.1.1.1, §7.1.1.2: the takeover parameters have no value.
                0 | 1 => {
                    if let Some(v) = value {
                        return Err(ParamError::InvalidValue(known, Some(v.to_owned())));
                    }
                    if index == 0 {
                        params.server_no_context_takeover = true;
                    } else {
                        params.client_no_context_takeover = true;
                    }
                }
                // §7.1.2.1: server_max_window_bits always has a value.
                2 => params.server_max_window_bits = Some(parse_bits(known, value)?),
                // §7.1.2.2: client_max_window_bits may come without a value in an offer only.
                _ => {
                    params.client_max_window_bits = match (value, kind) {
                        (None, Kind::Offer) => ClientBits::Any,
                        (None, Kind::Response) => {
                            return Err(ParamError::InvalidValue(known, None));
                        }
                        (Some(_), _) => ClientBits::Max(parse_bits(known, value)?),
                    };
                }
            }
        }
        Ok(params)
    }

    /// The element with these parameters, in the order RFC 7692 lists them.
    pub(crate) fn to_element(self) -> ExtensionOffer {
        let mut params = Vec::new();
        if self.server_no_context_takeover {
            params.push((SERVER_NO_CONTEXT_TAKEOVER.to_owned(), None));
        }
        if self.client_no_context_takeover {
            params.push((CLIENT_NO_CONTEXT_TAKEOVER.to_owned(), None));
        }
        if let Some(bits) = self.server_max_window_bits {
            params.push((SERVER_MAX_WINDOW_BITS.to_owned(), Some(bits.to_string())));
        }
        match self.client_max_window_bits {
            ClientBits::Absent => {}
            ClientBits::Any => params.push((CLIENT_MAX_WINDOW_BITS.to_owned(), None)),
            ClientBits::Max(bits) => {
                params.push((CLIENT_MAX_WINDOW_BITS.to_owned(), Some(bits.to_string())));
            }
        }
        ExtensionOffer {
            name: NAME.to_owned(),
            params,
        }
    }
}

/// RFC 7692 §7.1.2.1-2: a window-bits value is a decimal integer from 8 to 15 without leading
/// zeros.
fn parse_bits(name: &'static str, value: Option<&str>) -> Result<u8, ParamError> {
    let invalid = || ParamError::InvalidValue(name, value.map(str::to_owned));
    let text = value.ok_or_else(invalid)?;
    if !(1..=2).contains(&text.len())
        || text.starts_with('0')
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let bits: u8 = text.parse().map_err(|_| invalid())?;
    if WINDOW_BITS.contains(&bits) {
        Ok(bits)
    } else {
        Err(invalid())
    }
}

/// Server side: the response to a valid offer under `config`, and the parameters the
/// connection then runs with. Every valid offer can be accepted (all of RFC 7692 §7.1 is
/// implemented); the response only ever tightens what the client offered.
pub(crate) fn server_response(config: &DeflateConfig, offer: Params) -> (Params, DeflateParams) {
    // §7.1.1.1: the client may ask the server not to take over context; the server may decide
    // so by itself too and says so in the response.
    let server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    // §7.1.1.2: the server may ask the client to reset its context per message, offered or not.
    let client_no_context_takeover =
        offer.client_no_context_takeover || config.client_no_context_takeover;
    // §7.1.2.1: answer a requested limit with the same or a smaller value; without a request the
    // server may still announce the smaller window it compresses with.
    let server_max_window_bits = match offer.server_max_window_bits {
        Some(requested) => Some(requested.min(config.server_max_window_bits)),
        None => (config.server_max_window_bits < 15).then_some(config.server_max_window_bits),
    };
    // §7.1.2.2: the client's window can only be limited when the offer says the client supports
    // the parameter; without it the client may use up to 15 bits, which we inflate anyway.
    let client_max_window_bits = match offer.client_max_window_bits {
        ClientBits::Any if config.client_max_window_bits < 15 => {
            ClientBits::Max(config.client_max_window_bits)
        }
        ClientBits::Absent | ClientBits::Any => ClientBits::Absent,
        ClientBits::Max(offered) => ClientBits::Max(offered.min(config.client_max_window_bits)),
    };
    let response = Params {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    };
    let agreed = DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits: server_max_window_bits.unwrap_or(15),
        client_max_window_bits: match client_max_window_bits {
            ClientBits::Max(bits) => bits,
            ClientBits::Absent | ClientBits::Any => 15,
        },
    };
    (response, agreed)
}

/// Client side: the offer made under `config`.
///
/// `client_max_window_bits` is always offered (§7.1.2.2: with a value when `config` limits our
/// own window, without one otherwise), so that servers that want to cap our window can.
pub(crate) fn client_offer(config: &DeflateConfig) -> Params {
    Params {
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: (config.server_max_window_bits < 15)
            .then_some(config.server_max_window_bits),
        client_max_window_bits: if config.client_max_window_bits < 15 {
            ClientBits::Max(config.client_max_window_bits)
        } else {
            ClientBits::Any
        },
    }
}

/// Client side: checks the server's `response` against what was `offered` and returns the
/// parameters the connection runs with.
///
/// # Errors
/// RFC 7692 §7.1: a response that grants less than the offer required, or that sets a parameter
/// the client did not allow; the client must then fail the connection.
pub(crate) fn client_confirm(
    offered: Params,
    response: Params,
) -> Result<DeflateParams, ParamError> {
    // §7.1.1.1: a server that accepts an offer with server_no_context_takeover must include it.
    if offered.server_no_context_takeover && !response.server_no_context_takeover {
        return Err(ParamError::NotGranted(SERVER_NO_CONTEXT_TAKEOVER));
    }
    // §7.1.2.1: a requested limit must be answered with the same or a smaller value; without a
    // request the server may announce any window.
    let server_max_window_bits = match (
        offered.server_max_window_bits,
        response.server_max_window_bits,
    ) {
        (Some(_), None) => return Err(ParamError::NotGranted(SERVER_MAX_WINDOW_BITS)),
        (Some(limit), Some(bits)) if bits > limit => {
            return Err(ParamError::WindowTooLarge(SERVER_MAX_WINDOW_BITS, bits));
        }
        (_, bits) => bits.unwrap_or(15),
    };
    // §7.1.2.2: the server may only limit our window if we offered the parameter, and not above
    // a value we offered.
    let client_max_window_bits = match (
        offered.client_max_window_bits,
        response.client_max_window_bits,
    ) {
        (ClientBits::Absent, ClientBits::Max(_) | ClientBits::Any) => {
            return Err(ParamError::NotOffered(CLIENT_MAX_WINDOW_BITS));
        }
        (ClientBits::Max(limit), ClientBits::Max(bits)) if bits > limit => {
            return Err(ParamError::WindowTooLarge(CLIENT_MAX_WINDOW_BITS, bits));
        }
        (_, ClientBits::Max(bits)) | (ClientBits::Max(bits), _) => bits,
        _ => 15,
    };
    Ok(DeflateParams {
        server_no_context_takeover: response.server_no_context_takeover,
        // §7.1.1.2: asking for it is a promise the client keeps even if the server did not echo
        // it back.
        client_no_context_takeover: response.client_no_context_takeover
            || offered.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}
