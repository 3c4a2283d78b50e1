//! Which end of the connection we are: it decides who masks (RFC 6455 §5.1, §5.3).
#![forbid(unsafe_code)]

/// The side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that accepted the connection: sends unmasked frames, requires masked ones.
    Server,
    /// The side that opened the connection: sends masked frames, requires unmasked ones.
    Client,
}
