//! Running on this machine: argv straight to the program, no shell in between.
#![allow(clippy::disallowed_methods)] // the transport is the one place that spawns processes

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;

use super::{OutputSink, Transport, TransportError, pump_lines, show_path, temp_sibling};
use crate::command::{LOCAL_EXEC_SCRIPT, RemoteCommand, Stdin};
use crate::event::Stream;

/// The variables of odd's own environment a program run locally still sees: where
/// programs are (`PATH`), who runs them, the locale and the time zone. Everything else
/// (the secrets odd was given, tokens, CI's variables) stays with odd; a command that
/// needs a value carries it itself ([`RemoteCommand::env`], [`RemoteCommand::secret_env`]).
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_COLLATE",
    "LC_NUMERIC",
    "LC_TIME",
    "TZ",
    "TMPDIR",
];

/// How long to wait for output pipes to close once a timed-out group was killed.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// Runs commands on the machine running odd, each in its own process group so a
/// timeout kills the program and everything it started.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    host: String,
}

impl Default for LocalTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalTransport {
    /// A transport named `localhost`.
    pub fn new() -> Self {
        Self {
            host: "localhost".to_owned(),
        }
    }

    fn io(&self, context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TransportError {
        let host = self.host.clone();
        let context = context.into();
        move |source| TransportError::Io {
            host,
            context,
            source,
        }
    }
}

/// A fresh private directory on this machine for `purpose` (`odd-PURPOSE-XXXXXX` in
/// the temporary folder): a random name created exclusively with mode 0700, so no other
/// local user can plant a link there or read or swap what odd writes into it. Removed
/// when the value drops; never reused.
///
/// # Errors
/// When it cannot be created.
pub fn scratch_dir(purpose: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("odd-{purpose}-"))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
}

/// Kills a process group when dropped, unless disarmed: a cancelled or timed-out run
/// leaves nothing behind.
struct GroupKiller {
    pgid: Option<u32>,
}

impl GroupKiller {
    fn kill_now(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // `kill` the utility: no unsafe code, and it reaches the whole group.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill_now();
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.host
    }

    async fn run(
        &self,
        cmd: &RemoteCommand,
        sink: &dyn OutputSink,
    ) -> Result<ExitStatus, TransportError> {
        cmd.validate()
            .map_err(|source| TransportError::InvalidCommand {
                host: self.host.clone(),
                command: cmd.display_redacted(),
                source,
            })?;
        // Through `sh` for the host's umask (see [`LOCAL_EXEC_SCRIPT`]); `exec` leaves the
        // program itself as the process (and the group leader a timeout kills).
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(LOCAL_EXEC_SCRIPT)
            .arg(cmd.program())
            .args(cmd.get_args())
            .env_clear()
            .envs(
                INHERITED_ENV
                    .iter()
                    .filter_map(|name| std::env::var_os(name).map(|value| (*name, value))),
            )
            .envs(cmd.get_envs())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = cmd.get_current_dir() {
            if !dir.is_dir() {
                // As `cd DIR && …` reports it on a remote shell: exit code 2.
                let mut msg = b"odd: cd: ".to_vec();
                msg.extend_from_slice(dir.as_os_str().as_encoded_bytes());
                msg.extend_from_slice(b": no such directory\n");
                sink.line(Stream::Stderr, &msg);
                return Ok(ExitStatus::from_raw(2 << 8));
            }
            command.current_dir(dir);
        }
        let mut stdin_bytes = None;
        match cmd.get_stdin() {
            Stdin::Null => {
                command.stdin(Stdio::null());
            }
            Stdin::Bytes(b) => {
                command.stdin(Stdio::piped());
                stdin_bytes = Some(b.clone());
            }
            Stdin::File(path) => {
                let file = std::fs::File::open(path)
                    .map_err(self.io(format!("opening {} for stdin", show_path(path))))?;
                command.stdin(Stdio::from(file));
            }
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            // As a shell would report it, so both transports agree: exit code 127.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                sink.line(Stream::Stderr, b"odd: sh: not found\n");
                return Ok(ExitStatus::from_raw(127 << 8));
            }
            Err(e) => {
                return Err(self.io(format!("starting `{}`", cmd.display_redacted()))(e));
            }
        };
        let mut killer = GroupKiller { pgid: child.id() };

        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let feed = async move {
            if let (Some(mut w), Some(bytes)) = (stdin, stdin_bytes) {
                // A program that does not read its stdin is not an error.
                let _ = w.write_all(&bytes).await;
                let _ = w.shutdown().await;
            }
        };
        let out = async {
            match stdout {
                Some(r) => pump_lines(r, Stream::Stdout, sink).await,
                None => Ok(()),
            }
        };
        let err = async {
            match stderr {
                Some(r) => pump_lines(r, Stream::Stderr, sink).await,
                None => Ok(()),
            }
        };
        let all = async { tokio::join!(feed, out, err, child.wait()) };

        let (_, out, err, status) = match cmd.get_timeout() {
            None => all.await,
            Some(after) => {
                let Ok(done) = tokio::time::timeout(after, all).await else {
                    killer.kill_now();
                    let _ = tokio::time::timeout(DRAIN_AFTER_KILL, child.wait()).await;
                    return Err(TransportError::TimedOut {
                        host: self.host.clone(),
                        command: cmd.display_redacted(),
                        after,
                    });
                };
                done
            }
        };
        // The program ended normally: what it left running in the background is its own.
        killer.pgid = None;
        out.map_err(self.io("reading stdout"))?;
        err.map_err(self.io("reading stderr"))?;
        status.map_err(self.io(format!("waiting for `{}`", cmd.display_redacted())))
    }

    async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        remote_path: &Path,
    ) -> Result<u64, TransportError> {
        let tmp = temp_sibling(remote_path);
        let shown = show_path(remote_path);
        let result = async {
            // Private, as a remote shell's umask makes it.
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .await
                .map_err(self.io(format!("creating a temporary file for {shown}")))?;
            let n = tokio::io::copy(reader, &mut file)
                .await
                .map_err(self.io(format!("writing {shown}")))?;
            file.sync_all()
                .await
                .map_err(self.io(format!("syncing {shown}")))?;
            tokio::fs::rename(&tmp, remote_path)
                .await
                .map_err(self.io(format!("renaming into {shown}")))?;
            Ok(n)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn download(
        &self,
        remote_path: &Path,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, TransportError> {
        let shown = show_path(remote_path);
        let mut file = tokio::fs::File::open(remote_path)
            .await
            .map_err(self.io(format!("opening {shown}")))?;
        let n = tokio::io::copy(&mut file, writer)
            .await
            .map_err(self.io(format!("reading {shown}")))?;
        writer
            .flush()
            .await
            .map_err(self.io(format!("writing out {shown}")))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_planted_link_at_the_old_predictable_name_is_never_followed() {
        // What another local user could do before: guess `odd-PID-RELEASE` and plant a
        // link to a folder of their choosing.
        let victim = tempfile::tempdir().expect("tempdir");
        let planted = std::env::temp_dir().join(format!(
            "odd-{}-20261122T041500Z-0123abcd",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&planted);
        std::os::unix::fs::symlink(victim.path(), &planted).expect("plant a link");

        let a = scratch_dir("release").expect("scratch");
        let b = scratch_dir("release").expect("scratch");
        assert_ne!(a.path(), b.path(), "never reused");
        for dir in [&a, &b] {
            let meta = std::fs::symlink_metadata(dir.path()).expect("stat");
            assert!(meta.is_dir() && !meta.file_type().is_symlink());
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
            assert_ne!(dir.path(), planted);
            std::fs::write(dir.path().join("release.tar"), b"tar").expect("write");
        }
        let a_path = a.path().to_owned();
        drop(a);
        assert!(!a_path.exists(), "removed when dropped");
        assert_eq!(
            std::fs::read_dir(victim.path()).expect("read").count(),
            0,
            "nothing lands in the planted folder"
        );
        std::fs::remove_file(&planted).expect("remove the link");
    }

    #[tokio::test]
    async fn programs_get_the_private_umask_and_only_the_allowed_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = LocalTransport::new()
            .output(
                &RemoteCommand::new("sh")
                    .arg("-c")
                    .arg("umask; touch f; mkdir d; env")
                    .env("ODD_GIVEN", "yes")
                    .current_dir(dir.path()),
            )
            .await
            .expect("runs");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("0077"));
        let names: Vec<&str> = lines
            .filter_map(|l| l.split_once('='))
            .map(|(k, _)| k)
            .collect();
        assert!(names.contains(&"ODD_GIVEN"), "{names:?}");
        for name in &names {
            assert!(
                INHERITED_ENV.contains(name)
                    || ["ODD_GIVEN", "PWD", "OLDPWD", "SHLVL", "_"].contains(name),
                "{name} leaked from odd's environment"
            );
        }
        for (name, mode) in [("f", 0o600), ("d", 0o700)] {
            let meta = std::fs::metadata(dir.path().join(name)).expect("stat");
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
        }
    }
}
