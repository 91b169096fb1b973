//! Helpers for the unit tests of this crate.

use crate::command::RemoteCommand;

/// The program and arguments of `cmd`, as text, for exact-argv assertions.
pub(crate) fn argv(cmd: &RemoteCommand) -> Vec<String> {
    std::iter::once(cmd.program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}
