//! Helpers for the unit tests of this crate.

use crate::command::RemoteCommand;

/// The program and arguments of `cmd`, as text, for exact-argv assertions.
pub(crate) fn argv(cmd: &RemoteCommand) -> Vec<String> {
    std::iter::once(cmd.program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// A valid release (deploy) id, the `n`-th: ids read back from a host must match the
/// pattern of [`crate::untrusted`].
pub(crate) fn rid(n: u32) -> String {
    format!("20261122T{n:06}Z-0123abcd")
}

/// A valid commit, the `n`-th.
pub(crate) fn sha(n: u32) -> String {
    format!("{n:040x}")
}

/// A valid snapshot id, the `n`-th.
pub(crate) fn snap(n: u32) -> String {
    format!("snapshot-20261122-{n:06}-000")
}
