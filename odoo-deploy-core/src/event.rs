//! What the engine reports while it runs. The library never prints: callers receive
//! events and render them.

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// One line printed by a command on a host, as bytes (with its `\n` if it had one).
    Output {
        /// The host the command ran on.
        host: String,
        /// stdout or stderr.
        stream: Stream,
        /// The line, lossless.
        line: Vec<u8>,
    },
}
