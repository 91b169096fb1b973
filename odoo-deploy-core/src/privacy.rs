//! Whether odd's folders on a host are private to the user it runs as.
//!
//! What odd creates there is private already (every script runs under
//! [`crate::command::HOST_UMASK`]); a `deploy_dir` or backup folder made beforehand by
//! an operator may not be. [`check`] tells which are readable, writable or searchable by
//! the group or others, for `odd doctor` (or a deploy's notice) to report.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::command::RemoteCommand;
use crate::transport::{Transport, TransportError};

/// A folder whose mode gives the group or others access.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TooWide {
    /// The folder.
    pub path: PathBuf,
    /// Its permission bits (`0o755`).
    pub mode: u32,
}

impl std::fmt::Display for TooWide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is mode {:o}: other users of the host can read what odd keeps there (chmod 700 it)",
            crate::untrusted::shown(&self.path.to_string_lossy()),
            self.mode
        )
    }
}

/// `stat` of `paths` (links followed), as `MODE\0PATH\0` records: a path may hold any
/// byte but NUL.
pub fn modes_command(paths: &[&Path]) -> RemoteCommand {
    RemoteCommand::new("stat")
        .arg("-L")
        .arg("--printf")
        .arg("%a\\0%n\\0")
        .arg("--")
        .args(paths)
}

/// The folders of [`modes_command`]'s output whose mode has group or other bits.
pub fn too_wide(output: &[u8]) -> Vec<TooWide> {
    let mut fields = output.split(|&b| b == 0);
    let mut found = Vec::new();
    while let (Some(mode), Some(path)) = (fields.next(), fields.next()) {
        let Some(mode) = std::str::from_utf8(mode)
            .ok()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
        else {
            continue;
        };
        if mode & 0o077 != 0 {
            found.push(TooWide {
                path: PathBuf::from(OsStr::from_bytes(path)),
                mode,
            });
        }
    }
    found
}

/// Which of `paths` that exist on the host are wider than `0700`.
///
/// # Errors
/// A transport failure (a missing path is not one).
pub async fn check(
    transport: &dyn Transport,
    paths: &[&Path],
) -> Result<Vec<TooWide>, TransportError> {
    let out = transport.output(&modes_command(paths)).await?;
    Ok(too_wide(&out.stdout))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::transport::LocalTransport;

    #[tokio::test]
    async fn wide_folders_are_found_and_private_ones_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wide = dir.path().join("deploy dir\nwith a newline");
        let private = dir.path().join("backups");
        for (d, mode) in [(&wide, 0o755), (&private, 0o700)] {
            std::fs::create_dir(d).expect("mkdir");
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        let missing = dir.path().join("missing");
        let found = check(&LocalTransport::new(), &[&wide, &private, &missing])
            .await
            .expect("runs");
        assert_eq!(
            found,
            [TooWide {
                path: wide.clone(),
                mode: 0o755
            }]
        );
        assert!(found[0].to_string().contains("mode 755"), "{}", found[0]);
        assert!(!found[0].to_string().contains('\n'));
    }
}
