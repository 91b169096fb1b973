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
use crate::command::{RemoteCommand, Stdin};
use crate::event::Stream;

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
        let mut command = Command::new(cmd.program());
        command
            .args(cmd.get_args())
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
                let mut msg = b"odd: ".to_vec();
                msg.extend_from_slice(cmd.program().as_encoded_bytes());
                msg.extend_from_slice(b": not found\n");
                sink.line(Stream::Stderr, &msg);
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
            let mut file = tokio::fs::File::create(&tmp)
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
