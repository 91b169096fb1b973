//! SSH transport for odd.
//!
//! [`SshTransport`] implements core's [`Transport`] over one multiplexed OpenSSH master
//! connection per host (the `openssh` crate, native mux): one authentication for the
//! whole run, each command a new channel. Commands travel as the shell text rendered by
//! [`RemoteCommand::to_shell`]; files stream through `cat` on stdin/stdout.
//!
//! What the target needs: a POSIX login shell for the user (sh, dash, bash, zsh; not
//! fish), and GNU coreutils (`timeout` for commands with a timeout, `mv -T`, `df -P`,
//! `cat`). Secret environment values are sent as lines on stdin, never in the command
//! text, which the target's process list shows while the shell starts.
//!
//! Limits: a command *without* a timeout whose caller gives up (drops the future) keeps
//! running on the target; give long commands a timeout. A program killed by a signal
//! reports "killed by a signal" (the mux does not say which one; `SIGKILL` is shown).
//!
//! # Layout
//!
//! - [`config`] — [`SshConfig`]: host, user, port, keys, known_hosts policy, jump hosts.
//! - [`errors`] — turning ssh's messages into typed [`TransportError`]s.
//! - [`control`] — the private control directory and the sweep of stale ones.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod config;
pub mod control;
pub mod errors;

use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use odoo_deploy_core::command::{KILL_GRACE, RemoteCommand, Stdin};
use odoo_deploy_core::event::Stream;
use odoo_deploy_core::transport::{
    Collect, Discard, OutputSink, Transport, TransportError, pump_lines, tail_of, temp_sibling,
};
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{RwLock, Semaphore};

pub use config::{KnownHostsPolicy, SshConfig};
use control::ControlDir;

/// Extra time the local side waits past a command's timeout before giving up on the
/// remote `timeout` (which kills the program) and dropping the channel itself.
const LOCAL_TIMEOUT_SLACK: Duration = Duration::from_secs(3);

/// Commands on one host over one multiplexed SSH connection.
#[derive(Debug)]
pub struct SshTransport {
    config: SshConfig,
    // Field order matters: the session must close before its control directory goes.
    session: RwLock<Arc<Session>>,
    channels: Semaphore,
    control: ControlDir,
}

/// Where a command's stdin comes from.
enum Input<'a> {
    Command,
    Reader(&'a mut (dyn AsyncRead + Send + Unpin)),
}

/// Where a command's stdout goes.
enum OutputTo<'a> {
    Lines,
    Writer(&'a mut (dyn AsyncWrite + Send + Unpin)),
}

impl SshTransport {
    /// Connects (one master connection, one authentication) and checks the connection.
    /// Sweeps control directories left by odd runs that were killed.
    ///
    /// # Errors
    /// Typed connection errors: [`TransportError::Connect`],
    /// [`TransportError::AuthRefused`], [`TransportError::HostKeyMismatch`],
    /// [`TransportError::UnknownHostKey`].
    pub async fn connect(config: SshConfig) -> Result<Self, TransportError> {
        control::sweep_stale().await;
        let control = ControlDir::create().map_err(|source| TransportError::Io {
            host: config.host.clone(),
            context: "creating the ssh control directory".into(),
            source,
        })?;
        let session = open_session(&config, control.path()).await?;
        let channels = Semaphore::new(config.max_channels.max(1));
        Ok(Self {
            config,
            session: RwLock::new(Arc::new(session)),
            channels,
            control,
        })
    }

    /// The configuration this transport was made from.
    pub fn config(&self) -> &SshConfig {
        &self.config
    }

    /// The master's control socket (for tools that want to share the connection).
    pub async fn control_socket(&self) -> std::path::PathBuf {
        self.session.read().await.control_socket().to_path_buf()
    }

    /// Closes the master connection and removes the control directory.
    ///
    /// # Errors
    /// When commands still hold the session, or ssh fails to exit cleanly.
    pub async fn close(self) -> Result<(), TransportError> {
        let host = self.config.host.clone();
        let session = self.session.into_inner();
        let session = Arc::try_unwrap(session).map_err(|_| TransportError::Ssh {
            host: host.clone(),
            reason: "cannot close: commands are still running".into(),
        })?;
        session.close().await.map_err(|e| TransportError::Ssh {
            host,
            reason: errors::chain(&e),
        })
        // `self.control` drops here and removes the directory.
    }

    async fn session(&self) -> Arc<Session> {
        self.session.read().await.clone()
    }

    /// The master ends after an idle period (so a killed run leaves nothing behind);
    /// reopen it if it did.
    async fn reconnect(&self, stale: &Arc<Session>) -> Result<Arc<Session>, TransportError> {
        let mut guard = self.session.write().await;
        if !Arc::ptr_eq(&guard, stale) {
            return Ok(guard.clone());
        }
        tracing::debug!(host = %self.config.host, "ssh master gone, reconnecting");
        let fresh = Arc::new(open_session(&self.config, self.control.path()).await?);
        *guard = fresh.clone();
        Ok(fresh)
    }

    fn lost(&self, e: &openssh::Error) -> TransportError {
        TransportError::ConnectionLost {
            host: self.config.host.clone(),
            reason: errors::chain(e),
        }
    }

    fn io(&self, context: String) -> impl FnOnce(std::io::Error) -> TransportError {
        let host = self.config.host.clone();
        move |source| TransportError::Io {
            host,
            context,
            source,
        }
    }

    async fn exec(
        &self,
        cmd: &RemoteCommand,
        input: Input<'_>,
        output: OutputTo<'_>,
        sink: &dyn OutputSink,
    ) -> Result<ExitStatus, TransportError> {
        cmd.validate()
            .map_err(|source| TransportError::InvalidCommand {
                host: self.config.host.clone(),
                command: cmd.display_redacted(),
                source,
            })?;
        let _permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| TransportError::Ssh {
                host: self.config.host.clone(),
                reason: "the transport is closing".into(),
            })?;
        let script = cmd.to_shell_secrets_on_stdin();
        let text = std::ffi::OsString::from_vec(script.text);
        let prefix = script.stdin_prefix;
        let needs_stdin = !prefix.is_empty()
            || !matches!((&input, cmd.get_stdin()), (Input::Command, Stdin::Null));

        let started = Instant::now();
        let mut session = self.session().await;
        let mut child = None;
        for attempt in 0..2 {
            let mut c = Session::to_raw_command(session.clone(), &text);
            c.stdin(if needs_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            match c.spawn().await {
                Ok(ch) => {
                    child = Some(ch);
                    break;
                }
                Err(openssh::Error::Disconnected) if attempt == 0 => {
                    session = self.reconnect(&session).await?;
                }
                Err(e) => return Err(self.lost(&e)),
            }
        }
        let Some(mut child) = child else {
            return Err(TransportError::ConnectionLost {
                host: self.config.host.clone(),
                reason: "the master connection is gone".into(),
            });
        };

        let stdin = child.stdin().take();
        let stdout = child.stdout().take();
        let stderr = child.stderr().take();
        let host = self.config.host.clone();
        let feed = async move {
            let Some(mut w) = stdin else {
                return Ok(());
            };
            if let Err(source) = w.write_all(&prefix).await {
                return Err(TransportError::Io {
                    host,
                    context: "sending secret environment values".into(),
                    source,
                });
            }
            let r = match (input, cmd.get_stdin()) {
                (Input::Reader(r), _) => tokio::io::copy(r, &mut w).await.map(|_| ()),
                (Input::Command, Stdin::Bytes(b)) => w.write_all(b).await,
                (Input::Command, Stdin::File(p)) => match tokio::fs::File::open(p).await {
                    Ok(mut f) => tokio::io::copy(&mut f, &mut w).await.map(|_| ()),
                    Err(source) => {
                        return Err(TransportError::Io {
                            host,
                            context: format!("opening {} for stdin", p.display()),
                            source,
                        });
                    }
                },
                (Input::Command, Stdin::Null) => Ok(()),
            };
            let _ = w.flush().await;
            drop(w); // EOF for the remote program
            r.map_err(|source| TransportError::Io {
                host,
                context: "sending stdin".into(),
                source,
            })
        };
        let out = async {
            match (stdout, output) {
                (Some(r), OutputTo::Lines) => pump_lines(r, Stream::Stdout, sink).await,
                (Some(mut r), OutputTo::Writer(w)) => {
                    tokio::io::copy(&mut r, w).await?;
                    w.flush().await
                }
                (None, _) => Ok(()),
            }
        };
        let err = async {
            match stderr {
                Some(r) => pump_lines(r, Stream::Stderr, sink).await,
                None => Ok(()),
            }
        };
        let all = async {
            let (fed, out, err) = tokio::join!(feed, out, err);
            (fed, out, err, child.wait().await)
        };
        let timed_out = |after| TransportError::TimedOut {
            host: self.config.host.clone(),
            command: cmd.display_redacted(),
            after,
        };
        let (fed, out, err, status) = match cmd.get_timeout() {
            None => all.await,
            Some(after) => {
                // The target's `timeout` kills the program; this is the backstop.
                let limit = after + KILL_GRACE + LOCAL_TIMEOUT_SLACK;
                match tokio::time::timeout(limit, all).await {
                    Ok(done) => done,
                    Err(_) => return Err(timed_out(after)),
                }
            }
        };
        let status = match status {
            Ok(status) => status,
            // openssh turns the shell's "not found" status into an error: undo that.
            Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                ExitStatus::from_raw(127 << 8)
            }
            // No exit status: killed by a signal, or the connection died. The master
            // tells which.
            Err(openssh::Error::RemoteProcessTerminated) if session.check().await.is_ok() => {
                // The signal is not reported through the mux; say SIGKILL.
                ExitStatus::from_raw(9)
            }
            Err(e) => return Err(self.lost(&e)),
        };
        if let Some(after) = cmd.get_timeout()
            && matches!(status.code(), Some(124 | 137))
            && started.elapsed() >= after
        {
            return Err(timed_out(after));
        }
        fed?;
        out.map_err(self.io("reading stdout".into()))?;
        err.map_err(self.io("reading stderr".into()))?;
        Ok(status)
    }
}

async fn open_session(config: &SshConfig, control_dir: &Path) -> Result<Session, TransportError> {
    let mut b = SessionBuilder::default();
    b.port(config.port)
        .known_hosts_check(match config.known_hosts {
            KnownHostsPolicy::Strict => KnownHosts::Strict,
            KnownHostsPolicy::Add => KnownHosts::Add,
        })
        .connect_timeout(config.connect_timeout)
        .server_alive_interval(config.keep_alive)
        .control_directory(control_dir)
        .control_persist(ControlPersist::IdleFor(config.idle_persist_secs()));
    if let Some(user) = &config.user {
        b.user(user.clone());
    }
    if let Some(key) = &config.identity_file {
        b.keyfile(key);
    }
    if let Some(kh) = &config.known_hosts_file {
        b.user_known_hosts_file(kh);
    }
    if let Some(cfg) = &config.ssh_config_file {
        b.config_file(cfg);
    }
    if !config.jump_hosts.is_empty() {
        b.jump_hosts(&config.jump_hosts);
    }
    match b.connect_mux(&config.host).await {
        Ok(s) => Ok(s),
        Err(e) => Err(errors::classify_connect(config, &e)),
    }
}

#[async_trait]
impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.config.host
    }

    async fn run(
        &self,
        cmd: &RemoteCommand,
        sink: &dyn OutputSink,
    ) -> Result<ExitStatus, TransportError> {
        self.exec(cmd, Input::Command, OutputTo::Lines, sink).await
    }

    async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        remote_path: &Path,
    ) -> Result<u64, TransportError> {
        // Two steps, so that a reader failing half-way never replaces the target: the
        // remote `cat` sees a normal end of file either way.
        let tmp = temp_sibling(remote_path);
        let write = RemoteCommand::new("sh")
            .arg("-c")
            .arg(r#"cat > "$1" || { rc=$?; rm -f -- "$1"; exit "$rc"; }"#)
            .arg("sh")
            .arg(&tmp);
        let mut counting = Counting {
            inner: reader,
            n: 0,
        };
        let errors = Collect::default();
        let written = self
            .exec(
                &write,
                Input::Reader(&mut counting),
                OutputTo::Lines,
                &errors,
            )
            .await;
        let failure = match written {
            Ok(status) if status.success() => match self.rename(&tmp, remote_path).await {
                Ok(()) => return Ok(counting.n),
                Err(e) => e,
            },
            Ok(status) => TransportError::NonZeroExit {
                host: self.config.host.clone(),
                command: write.display_redacted(),
                code: status.code(),
                stderr_tail: tail_of(&errors.into_parts().1),
            },
            Err(e) => e,
        };
        let cleanup = RemoteCommand::new("rm").arg("-f").arg("--").arg(&tmp);
        if let Err(e) = self.run(&cleanup, &Discard).await {
            tracing::warn!(host = %self.config.host, error = %e, "could not remove a partial upload");
        }
        Err(failure)
    }

    async fn download(
        &self,
        remote_path: &Path,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, TransportError> {
        let cmd = RemoteCommand::new("cat").arg("--").arg(remote_path);
        let mut counting = Counting {
            inner: writer,
            n: 0,
        };
        let errors = Collect::default();
        let status = self
            .exec(
                &cmd,
                Input::Command,
                OutputTo::Writer(&mut counting),
                &errors,
            )
            .await?;
        if !status.success() {
            return Err(TransportError::NonZeroExit {
                host: self.config.host.clone(),
                command: cmd.display_redacted(),
                code: status.code(),
                stderr_tail: tail_of(&errors.into_parts().1),
            });
        }
        Ok(counting.n)
    }
}

/// Counts the bytes going through a reader or writer.
struct Counting<T> {
    inner: T,
    n: u64,
}

impl<T: AsyncRead + Unpin + ?Sized> AsyncRead for Counting<&mut T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut *self.inner).poll_read(cx, buf);
        let added = buf.filled().len() - before;
        self.n += added as u64;
        r
    }
}

impl<T: AsyncWrite + Unpin + ?Sized> AsyncWrite for Counting<&mut T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut *self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = r {
            self.n += n as u64;
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}
