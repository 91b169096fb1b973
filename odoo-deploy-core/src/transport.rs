//! Transports: where commands run and files move.
//!
//! [`Transport`] has few required primitives — [`Transport::run`],
//! [`Transport::upload`], [`Transport::download`], [`Transport::host`] — and composites
//! built on them with default implementations (`output`, `check`, `write_file`,
//! `read_file`, `exists`, `mkdir_p`, `rename`, `symlink_switch`, `free_disk`).
//! [`local::LocalTransport`] runs on this machine; the SSH transport lives in the
//! `odoo-deploy-ssh` crate.

pub mod local;

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};

use crate::command::{CommandError, RemoteCommand};
use crate::event::{Event, Stream};

pub use local::LocalTransport;

/// How many trailing stderr lines a [`TransportError::NonZeroExit`] keeps.
pub const STDERR_TAIL_LINES: usize = 20;

/// A line longer than this is delivered in pieces of this size.
pub const MAX_LINE: usize = 64 * 1024;

/// Receives a command's output, line by line, as it is printed.
pub trait OutputSink: Send + Sync {
    /// One line (with its trailing `\n` when it had one), lossless bytes.
    fn line(&self, stream: Stream, line: &[u8]);
}

impl<F> OutputSink for F
where
    F: Fn(Stream, &[u8]) + Send + Sync,
{
    fn line(&self, stream: Stream, line: &[u8]) {
        self(stream, line);
    }
}

/// A sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl OutputSink for Discard {
    fn line(&self, _stream: Stream, _line: &[u8]) {}
}

/// Turns output lines into [`Event::Output`]s for a callback (the engine's event
/// channel).
pub struct EventSink<F> {
    host: String,
    emit: F,
}

impl<F> EventSink<F>
where
    F: Fn(Event) + Send + Sync,
{
    /// Lines from `host` go to `emit` as events.
    pub fn new(host: impl Into<String>, emit: F) -> Self {
        Self {
            host: host.into(),
            emit,
        }
    }
}

impl<F> std::fmt::Debug for EventSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("host", &self.host)
            .finish()
    }
}

impl<F> OutputSink for EventSink<F>
where
    F: Fn(Event) + Send + Sync,
{
    fn line(&self, stream: Stream, line: &[u8]) {
        (self.emit)(Event::Output {
            host: self.host.clone(),
            stream,
            line: line.to_vec(),
        });
    }
}

/// Everything a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// All of stdout.
    pub stdout: Vec<u8>,
    /// All of stderr.
    pub stderr: Vec<u8>,
}

/// What went wrong talking to a host.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum TransportError {
    /// The command cannot be run as built.
    #[error("refusing to run `{command}` on {host}: {source}")]
    #[diagnostic(code(odd::transport::invalid_command))]
    InvalidCommand {
        /// Target host.
        host: String,
        /// The command, redacted.
        command: String,
        /// What is wrong with it.
        #[source]
        source: CommandError,
    },

    /// No connection could be made.
    #[error("cannot connect to {host}: {reason}")]
    #[diagnostic(
        code(odd::transport::connect),
        help(
            "check that {host} is up, that sshd listens on the configured port, and that no firewall is in the way"
        )
    )]
    Connect {
        /// Target host.
        host: String,
        /// What ssh said.
        reason: String,
    },

    /// The server refused every key offered.
    #[error("{host} refused to authenticate user `{user}`")]
    #[diagnostic(
        code(odd::transport::auth_refused),
        help(
            "check the user name and that the public key of the configured identity file is in that user's authorized_keys on {host}"
        )
    )]
    AuthRefused {
        /// Target host.
        host: String,
        /// Login user.
        user: String,
    },

    /// The host presented a key different from the one in known_hosts.
    #[error("the host key of {host} does not match the one in known_hosts: refusing to connect")]
    #[diagnostic(
        code(odd::transport::host_key_mismatch),
        help(
            "this may be an attack. If the host was reinstalled, check its new key out of band, then remove the old one with `ssh-keygen -R '{known_hosts_name}'` and trust the new one with `ssh-keyscan -p {port} {host} >> ~/.ssh/known_hosts` (or the known_hosts file set in odd.toml)"
        )
    )]
    HostKeyMismatch {
        /// Target host.
        host: String,
        /// Target port.
        port: u16,
        /// How known_hosts names it (`[host]:port` for a port other than 22).
        known_hosts_name: String,
    },

    /// The host is not in known_hosts and strict checking is on.
    #[error("the host key of {host} is not known: refusing to connect")]
    #[diagnostic(
        code(odd::transport::unknown_host_key),
        help(
            "check the key out of band, then trust it with `ssh-keyscan -p {port} {host} >> ~/.ssh/known_hosts` (or the known_hosts file set in odd.toml), or set `accept_new_host_key = true` in this host's table in odd.toml to trust a new key on first use"
        )
    )]
    UnknownHostKey {
        /// Target host.
        host: String,
        /// Target port.
        port: u16,
    },

    /// The command ran past its timeout and was killed on the target.
    #[error("`{command}` on {host} did not finish within {after:?} and was killed")]
    #[diagnostic(code(odd::transport::timed_out))]
    TimedOut {
        /// Target host.
        host: String,
        /// The command, redacted.
        command: String,
        /// The timeout.
        after: Duration,
    },

    /// The connection died while a command was running.
    #[error("lost the connection to {host}: {reason}")]
    #[diagnostic(
        code(odd::transport::connection_lost),
        help("the command's outcome on {host} is unknown: check the host before retrying")
    )]
    ConnectionLost {
        /// Target host.
        host: String,
        /// What was observed.
        reason: String,
    },

    /// The command ended with a failure status.
    #[error("`{command}` failed on {host} ({})", describe_code(*.code))]
    #[diagnostic(
        code(odd::transport::non_zero_exit),
        help("last lines of stderr:\n{stderr_tail}")
    )]
    NonZeroExit {
        /// Target host.
        host: String,
        /// The command, redacted.
        command: String,
        /// The exit code; `None` when killed by a signal.
        code: Option<i32>,
        /// The last lines of stderr.
        stderr_tail: String,
    },

    /// Reading or writing a stream or file failed.
    #[error("{context} on {host}")]
    #[diagnostic(code(odd::transport::io))]
    Io {
        /// Target host.
        host: String,
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The output of a command could not be understood.
    #[error("unexpected output from `{command}` on {host}: {reason}")]
    #[diagnostic(code(odd::transport::unexpected_output))]
    UnexpectedOutput {
        /// Target host.
        host: String,
        /// The command, redacted.
        command: String,
        /// What was wrong.
        reason: String,
    },

    /// Another SSH failure.
    #[error("ssh to {host} failed: {reason}")]
    #[diagnostic(code(odd::transport::ssh))]
    Ssh {
        /// Target host.
        host: String,
        /// What was observed.
        reason: String,
    },
}

fn describe_code(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_owned(),
    }
}

/// Runs commands on one host and moves files to and from it.
///
/// Object-safe: phases hold `Arc<dyn Transport>`.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// The host this transport reaches, for messages and events.
    fn host(&self) -> &str;

    /// Runs `cmd`, sending each output line to `sink` as it comes, and returns how the
    /// command ended. A non-zero exit is not an error here (see [`Transport::check`]);
    /// a timeout is ([`TransportError::TimedOut`], with the program killed on the target).
    async fn run(
        &self,
        cmd: &RemoteCommand,
        sink: &dyn OutputSink,
    ) -> Result<ExitStatus, TransportError>;

    /// Streams `reader` into the file `remote_path` on the target, replacing it
    /// atomically (written under a temporary name, then renamed). Returns the bytes written.
    async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        remote_path: &Path,
    ) -> Result<u64, TransportError>;

    /// Streams the file `remote_path` on the target into `writer`. Returns the bytes read.
    async fn download(
        &self,
        remote_path: &Path,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, TransportError>;

    /// Runs `cmd` and collects its output.
    async fn output(&self, cmd: &RemoteCommand) -> Result<Output, TransportError> {
        let collect = Collect::default();
        let status = self.run(cmd, &collect).await?;
        let (stdout, stderr) = collect.into_parts();
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Runs `cmd`, streaming to `sink`, and fails with [`TransportError::NonZeroExit`]
    /// (carrying the last lines of stderr) unless it succeeds.
    async fn check(
        &self,
        cmd: &RemoteCommand,
        sink: &dyn OutputSink,
    ) -> Result<(), TransportError> {
        let tail = Tail::new(sink);
        let status = self.run(cmd, &tail).await?;
        if status.success() {
            Ok(())
        } else {
            Err(TransportError::NonZeroExit {
                host: self.host().to_owned(),
                command: cmd.display_redacted(),
                code: status.code(),
                stderr_tail: tail.text(),
            })
        }
    }

    /// Runs `cmd`, fails unless it succeeds, and returns its stdout.
    async fn check_output(&self, cmd: &RemoteCommand) -> Result<Vec<u8>, TransportError> {
        let out = self.output(cmd).await?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(TransportError::NonZeroExit {
                host: self.host().to_owned(),
                command: cmd.display_redacted(),
                code: out.status.code(),
                stderr_tail: tail_of(&out.stderr),
            })
        }
    }

    /// Writes `bytes` to `path` atomically.
    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), TransportError> {
        let mut reader = bytes;
        self.upload(&mut reader, path).await.map(|_| ())
    }

    /// Reads the whole file `path` (for small files; use `download` for big ones).
    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, TransportError> {
        let mut buf = Vec::new();
        self.download(path, &mut buf).await?;
        Ok(buf)
    }

    /// Whether `path` exists (a dangling symlink counts).
    async fn exists(&self, path: &Path) -> Result<bool, TransportError> {
        let cmd = RemoteCommand::new("sh")
            .arg("-c")
            .arg(r#"test -e "$1" || test -L "$1""#)
            .arg("sh")
            .arg(path);
        let status = self.run(&cmd, &Discard).await?;
        match status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            code => Err(TransportError::NonZeroExit {
                host: self.host().to_owned(),
                command: cmd.display_redacted(),
                code,
                stderr_tail: String::new(),
            }),
        }
    }

    /// Creates `path` and its parents.
    async fn mkdir_p(&self, path: &Path) -> Result<(), TransportError> {
        let cmd = RemoteCommand::new("mkdir").arg("-p").arg("--").arg(path);
        self.check(&cmd, &Discard).await
    }

    /// Renames `from` to `to` atomically (`mv -T`: replaces a file or an empty directory,
    /// never moves into a directory).
    async fn rename(&self, from: &Path, to: &Path) -> Result<(), TransportError> {
        let cmd = RemoteCommand::new("mv")
            .arg("-T")
            .arg("--")
            .arg(from)
            .arg(to);
        self.check(&cmd, &Discard).await
    }

    /// Points the symlink `link` at `target` atomically: a new link under a temporary
    /// name, renamed over the old one. Readers see the old target or the new, never none.
    async fn symlink_switch(&self, link: &Path, target: &Path) -> Result<(), TransportError> {
        let tmp = temp_sibling(link);
        let cmd = RemoteCommand::new("ln")
            .arg("-s")
            .arg("--")
            .arg(target)
            .arg(&tmp);
        self.check(&cmd, &Discard).await?;
        self.rename(&tmp, link).await
    }

    /// Bytes available to an unprivileged user on the filesystem holding `path`.
    async fn free_disk(&self, path: &Path) -> Result<u64, TransportError> {
        let cmd = RemoteCommand::new("df").arg("-Pk").arg("--").arg(path);
        let out = self.check_output(&cmd).await?;
        parse_df_available(&out)
            .map(|kib| kib.saturating_mul(1024))
            .ok_or_else(|| TransportError::UnexpectedOutput {
                host: self.host().to_owned(),
                command: cmd.display_redacted(),
                reason: format!(
                    "no `Available` column in {:?}",
                    String::from_utf8_lossy(&out)
                ),
            })
    }
}

/// A name next to `path` for a temporary file: same directory, so a rename is atomic.
pub fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_else(|| OsStr::new("file"));
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".odd-tmp-{}-{n}", std::process::id()));
    path.with_file_name(tmp)
}

/// The `Available` column (KiB) of `df -Pk` output for one path. The mount point may
/// contain spaces, so the column is found as the one before the `NN%` capacity.
pub fn parse_df_available(out: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(out).ok()?;
    let line = text.lines().nth(1)?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let cap = fields.iter().position(|f| f.ends_with('%'))?;
    fields.get(cap.checked_sub(1)?)?.parse().ok()
}

/// The last [`STDERR_TAIL_LINES`] lines of `stderr`, lossily decoded.
pub fn tail_of(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    lines[start..].join("\n")
}

/// A sink collecting stdout and stderr.
#[derive(Debug, Default)]
pub struct Collect {
    inner: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl Collect {
    /// (stdout, stderr)
    pub fn into_parts(self) -> (Vec<u8>, Vec<u8>) {
        self.inner
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl OutputSink for Collect {
    fn line(&self, stream: Stream, line: &[u8]) {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match stream {
            Stream::Stdout => g.0.extend_from_slice(line),
            Stream::Stderr => g.1.extend_from_slice(line),
        }
    }
}

/// Forwards to another sink and keeps the last stderr lines.
struct Tail<'a> {
    next: &'a dyn OutputSink,
    lines: Mutex<VecDeque<Vec<u8>>>,
}

impl<'a> Tail<'a> {
    fn new(next: &'a dyn OutputSink) -> Self {
        Self {
            next,
            lines: Mutex::new(VecDeque::new()),
        }
    }

    fn text(&self) -> String {
        let g = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let all: Vec<u8> = g.iter().flatten().copied().collect();
        String::from_utf8_lossy(&all).trim_end().to_owned()
    }
}

impl OutputSink for Tail<'_> {
    fn line(&self, stream: Stream, line: &[u8]) {
        if stream == Stream::Stderr {
            let mut g = self
                .lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if g.len() == STDERR_TAIL_LINES {
                g.pop_front();
            }
            g.push_back(line.to_vec());
        }
        self.next.line(stream, line);
    }
}

/// Reads `reader` to the end, sending each line to `sink` as soon as it is complete
/// (lines longer than [`MAX_LINE`] go in pieces). Used by the transports.
///
/// # Errors
/// A read error.
pub async fn pump_lines<R>(reader: R, stream: Stream, sink: &dyn OutputSink) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
{
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            if !pending.is_empty() {
                sink.line(stream, &pending);
            }
            return Ok(());
        }
        let used = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                pending.extend_from_slice(&buf[..=i]);
                sink.line(stream, &pending);
                pending.clear();
                i + 1
            }
            None => {
                pending.extend_from_slice(buf);
                buf.len()
            }
        };
        reader.consume(used);
        if pending.len() >= MAX_LINE {
            sink.line(stream, &pending);
            pending.clear();
        }
    }
}

/// `path` as bytes, for messages.
pub(crate) fn show_path(path: &Path) -> String {
    String::from_utf8_lossy(path.as_os_str().as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_parsing() {
        let out = b"Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                    /dev/sda1 my    102400     2048     100352       2% /mnt/with space\n";
        assert_eq!(parse_df_available(out), Some(100_352));
        assert_eq!(parse_df_available(b"garbage"), None);
    }

    #[test]
    fn tail_keeps_last_lines() {
        let text: String = (0..30).map(|i| format!("l{i}\n")).collect();
        let t = tail_of(text.as_bytes());
        assert!(t.starts_with("l10\n"));
        assert!(t.ends_with("l29"));
    }

    #[test]
    fn temp_sibling_is_in_same_dir() {
        let t = temp_sibling(Path::new("/srv/app/current"));
        assert_eq!(t.parent(), Some(Path::new("/srv/app")));
        assert!(
            t.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(".current.odd-tmp-")
        );
    }

    #[tokio::test]
    async fn lines_become_events() {
        let got = Mutex::new(Vec::new());
        let sink = EventSink::new("db1", |e| got.lock().unwrap().push(e));
        pump_lines(&b"x\ny"[..], Stream::Stderr, &sink)
            .await
            .unwrap();
        assert_eq!(
            got.into_inner().unwrap(),
            vec![
                Event::Output {
                    host: "db1".into(),
                    stream: Stream::Stderr,
                    line: b"x\n".to_vec()
                },
                Event::Output {
                    host: "db1".into(),
                    stream: Stream::Stderr,
                    line: b"y".to_vec()
                },
            ]
        );
    }

    #[tokio::test]
    async fn pump_splits_lines_losslessly() {
        let data: &[u8] = b"a\nbb\n\xff\xfe no newline";
        let c = Collect::default();
        let seen = Mutex::new(Vec::new());
        let sink = |s: Stream, l: &[u8]| {
            c.line(s, l);
            seen.lock().unwrap().push(l.to_vec());
        };
        pump_lines(data, Stream::Stdout, &sink).await.unwrap();
        assert_eq!(
            seen.into_inner().unwrap(),
            vec![
                b"a\n".to_vec(),
                b"bb\n".to_vec(),
                b"\xff\xfe no newline".to_vec()
            ]
        );
        assert_eq!(c.into_parts().0, data);
    }
}
