//! The sans-I/O protocol core: no sockets, no tasks, no clock. Bytes in, messages and bytes out.

pub mod close;
pub mod extension;

pub use close::{CloseCode, CloseFrame};
pub use extension::{Extension, ExtensionFactory, ExtensionOffer};
