//! [`Failure`]: why a command failed, printed as one line by `main`.

use std::fmt;

/// A failed command: what went wrong, already phrased for the user (one line).
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    /// A failure with this message (no trailing newline; `main` prints `wsx: error: ` first).
    pub fn new(message: impl Into<String>) -> Self {
        // One line whatever the source error looked like.
        let message: String = message.into();
        Self(message.replace(['\n', '\r'], " "))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<wsx::Error> for Failure {
    fn from(err: wsx::Error) -> Self {
        Self::new(err.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Self::new(err.to_string())
    }
}

/// `Result` with [`Failure`].
pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Writes one line to stderr. Unlike `eprintln!`, a closed or broken stderr is ignored rather
/// than a panic: a status line is never worth crashing for.
pub fn status_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line);
    let _ = err.write_all(b"\n");
}

/// `eprintln!` that cannot panic (see [`status_line`]).
#[macro_export]
macro_rules! status {
    ($($arg:tt)*) => {
        $crate::failure::status_line(format_args!($($arg)*))
    };
}
