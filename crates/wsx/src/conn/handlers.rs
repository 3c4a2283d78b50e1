//! A connection's registered handlers, and the rule that a handler registered after its event
//! still hears of it once.

use super::Conn;
use crate::error::Error;
use crate::proto::CloseCode;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// What kind of message a handler is given or a write sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A UTF-8 text message.
    Text,
    /// A binary message.
    Binary,
    /// A close frame.
    Close,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
}

pub(crate) type OpenHandler = Arc<dyn Fn(&Conn) + Send + Sync>;
pub(crate) type MessageHandler = Arc<dyn Fn(&Conn, MessageType, Bytes) + Send + Sync>;
pub(crate) type CloseHandler = Arc<dyn Fn(&Conn, CloseCode, &str) + Send + Sync>;
pub(crate) type ErrorHandler = Arc<dyn Fn(&Conn, &Error) + Send + Sync>;
pub(crate) type DataHandler = Arc<dyn Fn(&Conn, Bytes) + Send + Sync>;
pub(crate) type EventHandler = Arc<dyn Fn(&Conn, serde_json::Value) + Send + Sync>;

/// The handlers of one connection and the events that already happened.
#[derive(Default)]
pub(crate) struct Handlers {
    pub open: Option<OpenHandler>,
    pub message: Option<MessageHandler>,
    pub close: Option<CloseHandler>,
    pub error: Option<ErrorHandler>,
    pub ping: Option<DataHandler>,
    pub pong: Option<DataHandler>,
    pub events: HashMap<String, EventHandler>,
    /// `on_open` has fired (or will fire for a handler registered from now on, at once).
    pub opened: bool,
    /// The connection ended with this code and reason.
    pub closed: Option<(CloseCode, String)>,
}
