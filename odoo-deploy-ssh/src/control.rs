//! The control directory of the master connection.
//!
//! Short and private (`/tmp/odd-ssh-PID-N`, mode 0700): Unix socket paths are limited
//! to ~107 bytes and the socket grants the connection to whoever can reach it. A run
//! that was killed leaves its directory and maybe its master; the next run sweeps
//! directories whose owner process is gone, asking their masters to exit.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

const PREFIX: &str = "odd-ssh-";

/// A control directory, removed on drop.
#[derive(Debug)]
pub struct ControlDir {
    path: PathBuf,
}

impl ControlDir {
    /// Creates `/tmp/odd-ssh-PID-N` with mode 0700.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn create() -> std::io::Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        loop {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("{PREFIX}{pid}-{n}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                // A directory left by an earlier process with the same pid.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The pid in a control directory's name, if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// The user id this process runs as (`/proc/self` belongs to it).
fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Whether `entry` is a real directory (not a link) owned by `uid`: another user's
/// folder (or one they planted with a matching name) is never touched.
fn is_own_dir(entry: &std::fs::DirEntry, uid: u32) -> bool {
    // `DirEntry::metadata` does not follow a symlink.
    entry
        .metadata()
        .is_ok_and(|m| m.file_type().is_dir() && m.uid() == uid)
}

/// Asks the masters of control directories whose owner process is gone to exit, and
/// removes the directories. Only directories owned by the current user are touched.
/// Best effort: failures are only traced.
pub async fn sweep_stale() {
    let Some(uid) = current_uid() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        if !is_own_dir(&entry, uid) {
            continue;
        }
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        if let Ok(subdirs) = std::fs::read_dir(&dir) {
            for sub in subdirs.flatten() {
                let socket = sub.path().join("master");
                if socket.exists() {
                    let session = openssh::Session::resume_mux(socket.into_boxed_path(), None);
                    if let Err(e) = session.close().await {
                        tracing::debug!(dir = %dir.display(), error = %e, "stale ssh master did not answer");
                    }
                }
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::debug!(dir = %dir.display(), error = %e, "could not remove a stale control directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_real_directories_are_swept() {
        let uid = current_uid().expect("uid");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("mine")).expect("mkdir");
        std::fs::write(dir.path().join("file"), b"").expect("write");
        std::os::unix::fs::symlink(dir.path().join("mine"), dir.path().join("link"))
            .expect("symlink");
        let mut seen: Vec<(String, bool)> = std::fs::read_dir(dir.path())
            .expect("read")
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    is_own_dir(&e, uid),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("file".into(), false),
                ("link".into(), false),
                ("mine".into(), true)
            ]
        );
        let mine = std::fs::read_dir(dir.path())
            .expect("read")
            .flatten()
            .find(|e| e.file_name() == "mine")
            .expect("mine");
        assert!(!is_own_dir(&mine, uid.wrapping_add(1)), "another user's");
    }

    #[test]
    fn names() {
        assert_eq!(owner_pid("odd-ssh-123-0"), Some(123));
        assert_eq!(owner_pid("odd-ssh-123"), None);
        assert_eq!(owner_pid("odd-sshd-123-0"), None);
        assert_eq!(owner_pid("odd-pg-123-0"), None);
    }
}
