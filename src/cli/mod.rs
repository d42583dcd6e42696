//! What the commands a person runs share (`policy`, `check`, `why`, and the
//! kubectl plugin `kubectl-s3c`): reading a manifest, exit codes, one-line
//! errors. The operator itself (`run`) uses none of it.

pub mod manifest;

/// The exit code of a connection that works (`check`), or of a command that
/// did what it was asked.
pub const EXIT_OK: u8 = 0;

/// The exit code of a connection that definitely does not work (`check`).
pub const EXIT_NOT_READY: u8 = 1;

/// The exit code when the answer is unknown (the endpoint did not answer)
/// or the command could not run at all (input it cannot use).
pub const EXIT_UNKNOWN: u8 = 2;

/// `text` on one printable line, for an error a command prints.
pub fn one_line(text: &str) -> String {
    crate::messages::printable(&text.replace(['\n', '\r'], " "))
}
