//! Opening handshakes (RFC 6455 §4): server and client, sans-I/O.
