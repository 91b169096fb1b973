//! A command run detached on the host (see [`RemoteCommand::detached`]): a dropped
//! connection does not kill it, odd follows its log and waits for its status file, and a
//! recovery can find it again after odd died — to read how it ended, to wait for it, or
//! to end its whole process group before the database is restored under it.
//!
//! Its files, side by side: `NAME.log` (its output), `NAME.status` (the shell's `$?`,
//! written once it ended), `NAME.status.pid` (the id of its process group, written
//! before it starts).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::command::{KILL_GRACE, RemoteCommand};
use crate::event::Stream;
use crate::release::Layout;
use crate::transport::{OutputSink, Transport, TransportError};

/// How a program ended, as it ended: an exit code is an exit code, a signal is named only
/// when the program was killed by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Exit {
    /// It exited with this code (0 is success).
    Code {
        /// The exit code.
        code: i32,
    },
    /// It was killed by this signal.
    Signal {
        /// The signal's number (e.g. 9 for SIGKILL).
        signal: i32,
    },
    /// Its time ran out and `timeout` ended it.
    TimedOut {
        /// The time limit it ran into, in seconds.
        after_secs: u64,
    },
}

/// The highest signal number on Linux (`SIGRTMAX`): a shell reports a death by signal N
/// as `$?` = 128 + N, so only 129..=192 can be one — 255 is an exit code.
const SIGNAL_MAX: i32 = 64;

impl Exit {
    /// Reads a POSIX shell's `$?` for a program that ran under `timeout` (when
    /// `timeout` is `Some`) for `ran` so far. coreutils `timeout` exits 124 when the time
    /// ran out, or 137 when it also had to send SIGKILL.
    pub fn from_shell_status(status: i32, timeout: Option<Duration>, ran: Duration) -> Self {
        match (status, timeout) {
            (124, Some(t)) => Self::TimedOut {
                after_secs: t.as_secs(),
            },
            (137, Some(t)) if ran >= t => Self::TimedOut {
                after_secs: t.as_secs(),
            },
            (s, _) if (129..=128 + SIGNAL_MAX).contains(&s) => Self::Signal { signal: s - 128 },
            (s, _) => Self::Code { code: s },
        }
    }

    /// From a process's own status (a transport's answer).
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt as _;
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code { code },
            (None, Some(signal)) => Self::Signal { signal },
            // Neither: not a state a finished process has on Unix.
            (None, None) => Self::Code { code: -1 },
        }
    }

    /// Whether it succeeded.
    pub fn success(self) -> bool {
        self == Self::Code { code: 0 }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Code { code } => write!(f, "exited with {code}"),
            Self::Signal { signal } => match signal_name(signal) {
                Some(name) => write!(f, "was killed by signal {signal} ({name})"),
                None => write!(f, "was killed by signal {signal}"),
            },
            Self::TimedOut { after_secs } => write!(f, "was killed after {after_secs} s (timeout)"),
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// Why following a detached run failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DetachedError {
    /// A command on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    #[error(
        "lost contact with the host for {secs} s ({reason}); the update goes on there: its log is {}, its exit code will be in {}",
        log.display(),
        status.display()
    )]
    /// The host could not be reached for longer than allowed; the run goes on there.
    #[diagnostic(code(odd::detached::lost))]
    Lost {
        /// Seconds without contact.
        secs: u64,
        /// The last transport error.
        reason: String,
        /// The run's log on the host.
        log: PathBuf,
        /// The file that will hold its exit status.
        status: PathBuf,
    },
    /// No exit status appeared within the run's time limit, its kill grace and the reconnect allowance.
    #[error("no exit status in {} after {secs} s: the update's runner is gone", status.display())]
    #[diagnostic(code(odd::detached::no_status))]
    NoStatus {
        /// The status file looked at.
        status: PathBuf,
        /// Seconds waited.
        secs: u64,
    },
    /// The status file holds something other than an exit code.
    #[error("unreadable exit status {text:?} in {}", status.display())]
    #[diagnostic(code(odd::detached::unreadable))]
    Unreadable {
        /// What it holds.
        text: String,
        /// The status file.
        status: PathBuf,
    },
}

/// The files of one detached run on the host.
#[derive(Debug, Clone)]
pub struct DetachedRun {
    runs: PathBuf,
    /// `NAME.log` on the host: the run's output.
    pub log: PathBuf,
    /// `NAME.status` on the host: the shell's `$?`, written once the run ended.
    pub status: PathBuf,
}

/// The pause between two polls of a detached run (each poll also waits on the host, up
/// to [`POLL_WAIT_TENTHS`], for the status to come).
const POLL_EVERY: Duration = Duration::from_millis(250);
/// How long one poll waits on the host for the run's status file, in tenths of a second:
/// the end of a run is seen within a tenth of a second, without more round trips.
const POLL_WAIT_TENTHS: u32 = 10;

/// One poll of a detached run, one round trip: waits on the host up to
/// [`POLL_WAIT_TENTHS`] for the status file, then prints its first line (`-` while there
/// is none) and, after it, the log from byte `offset` on. The status is read first: once
/// it is there, the log read after it is complete.
fn poll_command(status: &Path, log: &Path, offset: u64) -> RemoteCommand {
    RemoteCommand::new("sh")
        .arg("-c")
        .arg(
            "i=0; while [ ! -e \"$1\" ] && [ \"$i\" -lt \"$4\" ]; do sleep 0.1 || break; i=$((i+1)); done; \
             if [ -e \"$1\" ]; then s=$(head -n 1 -- \"$1\"); printf '%s\\n' \"${s:-?}\"; else echo -; fi; \
             tail -c \"+$3\" -- \"$2\" 2>/dev/null; exit 0",
        )
        .arg("sh")
        .arg(status)
        .arg(log)
        .arg((offset + 1).to_string())
        .arg(POLL_WAIT_TENTHS.to_string())
}

/// [`poll_command`]'s output: the status (`None` while there is none, or when the
/// poll printed nothing at all) and the new log bytes.
fn split_poll(out: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let (first, rest) = match out.iter().position(|b| *b == b'\n') {
        Some(end) => (&out[..end], &out[end + 1..]),
        None => (out, &out[out.len()..]),
    };
    if first == b"-" || out.is_empty() {
        (None, rest)
    } else {
        (Some(first), rest)
    }
}
/// The longest pause between two attempts to reach a host that went away.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a recovery did about a detached run that may still be going.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "orphan", rename_all = "snake_case")]
pub enum OrphanOutcome {
    /// It never started, or it had ended already.
    NotRunning,
    /// Its process group was ended and is seen gone.
    Stopped {
        /// The process group that was ended.
        pgid: u32,
        /// Whether SIGKILL was needed (SIGTERM did not end it within the grace).
        killed: bool,
    },
    /// It was waited for until it ended.
    WaitedFor {
        /// How it ended.
        exit: Exit,
    },
}

impl std::fmt::Display for OrphanOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRunning => f.write_str("no update of it runs on the host"),
            Self::Stopped { pgid, killed } => write!(
                f,
                "its orphaned update was stopped (process group {pgid} ended{}, seen gone)",
                if *killed { " with SIGKILL" } else { "" }
            ),
            Self::WaitedFor { exit } => write!(f, "its orphaned update was waited for: it {exit}"),
        }
    }
}

impl DetachedRun {
    /// The `i`-th update run of release `release`.
    pub fn update(layout: &Layout, release: &str, i: usize) -> Self {
        let (log, status) = layout.update_run(release, i);
        Self::at(layout.runs(), log, status)
    }

    /// A run with these files (`runs` is their folder).
    pub fn at(runs: PathBuf, log: PathBuf, status: PathBuf) -> Self {
        Self { runs, log, status }
    }

    /// The file holding the run's process group id.
    pub fn pid_file(&self) -> PathBuf {
        pid_file(&self.status)
    }

    /// Every file of this run.
    pub fn files(&self) -> [PathBuf; 3] {
        [self.log.clone(), self.status.clone(), self.pid_file()]
    }

    /// Starts `cmd` (already [`RemoteCommand::detached`] to this run's files), streams its
    /// log lines to `sink` and returns how it ended. `timeout` is the one the command
    /// was given; `lost_after` how long the host may stay unreachable.
    ///
    /// # Errors
    /// It cannot be started, the host stays unreachable, or no status comes.
    pub async fn run(
        &self,
        transport: &dyn Transport,
        cmd: &RemoteCommand,
        sink: &dyn OutputSink,
        timeout: Duration,
        lost_after: Duration,
    ) -> Result<Exit, DetachedError> {
        // The command's own timeout kills it on the host; a status file that never comes
        // after that (the host rebooted, the runner was killed) ends the wait.
        let limit = timeout + KILL_GRACE + lost_after;
        let started = Instant::now();
        let deadline = started + limit;
        transport.mkdir_p(&self.runs).await?;
        transport.check_output(cmd).await?;
        let mut offset: u64 = 0;
        let mut pending: Vec<u8> = Vec::new();
        let mut unreachable_since: Option<Instant> = None;
        // Doubled after each failed attempt to reach the host, up to BACKOFF_MAX.
        let mut pause = POLL_EVERY;
        loop {
            if Instant::now() > deadline {
                return Err(DetachedError::NoStatus {
                    status: self.status.clone(),
                    secs: limit.as_secs(),
                });
            }
            tokio::time::sleep(pause).await;
            let polled = transport
                .output(&poll_command(&self.status, &self.log, offset))
                .await;
            let answer = match polled {
                Ok(answer) => {
                    unreachable_since = None;
                    pause = POLL_EVERY;
                    answer.stdout
                }
                Err(e) => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    pause = (pause * 2).min(BACKOFF_MAX);
                    if since.elapsed() > lost_after {
                        return Err(DetachedError::Lost {
                            secs: lost_after.as_secs(),
                            reason: e.to_string(),
                            log: self.log.clone(),
                            status: self.status.clone(),
                        });
                    }
                    continue;
                }
            };
            let (status, log) = split_poll(&answer);
            offset += log.len() as u64;
            pending.extend_from_slice(log);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                sink.line(Stream::Stdout, &line);
            }
            if let Some(text) = status {
                if !pending.is_empty() {
                    sink.line(Stream::Stdout, &pending);
                }
                let text = String::from_utf8_lossy(text);
                let code: i32 = text.trim().parse().map_err(|_| DetachedError::Unreadable {
                    text: text.clone().into_owned(),
                    status: self.status.clone(),
                })?;
                return Ok(Exit::from_shell_status(
                    code,
                    Some(timeout),
                    started.elapsed(),
                ));
            }
        }
    }

    /// Where the run stands on the host: `None` when it never started, else whether it
    /// ended, with the shell's status.
    ///
    /// # Errors
    /// The host cannot be read.
    pub async fn state(
        &self,
        transport: &dyn Transport,
    ) -> Result<Option<Option<i32>>, TransportError> {
        if !transport.exists(&self.log).await? {
            return Ok(None);
        }
        let out = transport
            .output(&RemoteCommand::new("cat").arg("--").arg(&self.status))
            .await?;
        Ok(Some(
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
                .flatten(),
        ))
    }

    /// The process group of the run while any process of it is alive.
    async fn live_group(&self, transport: &dyn Transport) -> Result<Option<u32>, TransportError> {
        let out = transport
            .output(&RemoteCommand::new("cat").arg("--").arg(self.pid_file()))
            .await?;
        let Some(pgid) = out
            .status
            .success()
            .then(|| {
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
            .flatten()
            .filter(|p| *p > 1)
        else {
            return Ok(None);
        };
        if !group_alive(transport, pgid).await? {
            return Ok(None);
        }
        // The group is this run's while its leader is this run's shell (its argv names
        // the status file). A leader that is gone leaves its id unused by any new
        // process while the group lives (Linux never hands out a pid still in use as a
        // group id), so the live group is still this run's.
        let leader = transport
            .output(
                &RemoteCommand::new("cat")
                    .arg("--")
                    .arg(format!("/proc/{pgid}/cmdline")),
            )
            .await?;
        let status = self.status.as_os_str().as_encoded_bytes();
        let ours =
            !leader.status.success() || leader.stdout.windows(status.len()).any(|w| w == status);
        Ok(ours.then_some(pgid))
    }

    /// Makes sure nothing of this run still works on the host: when it still runs,
    /// either waits for it to end (`wait`, at most `wait_limit`) or ends its process group
    /// (SIGTERM, then SIGKILL after `grace`) and waits until no process of the group is
    /// left.
    ///
    /// # Errors
    /// The host cannot be reached, or the run does not end.
    pub async fn settle(
        &self,
        transport: &dyn Transport,
        wait: bool,
        wait_limit: Duration,
        grace: Duration,
    ) -> Result<OrphanOutcome, SettleError> {
        match self.state(transport).await? {
            None | Some(Some(_)) => return Ok(OrphanOutcome::NotRunning),
            Some(None) => {}
        }
        if wait {
            let started = Instant::now();
            loop {
                if let Some(Some(code)) = self.state(transport).await? {
                    return Ok(OrphanOutcome::WaitedFor {
                        exit: Exit::from_shell_status(code, None, started.elapsed()),
                    });
                }
                if self.live_group(transport).await?.is_none() {
                    // Gone without a status (killed, or the host rebooted).
                    if let Some(Some(code)) = self.state(transport).await? {
                        return Ok(OrphanOutcome::WaitedFor {
                            exit: Exit::from_shell_status(code, None, started.elapsed()),
                        });
                    }
                    return Ok(OrphanOutcome::NotRunning);
                }
                if started.elapsed() > wait_limit {
                    return Err(SettleError::StillRuns {
                        log: self.log.clone(),
                        secs: wait_limit.as_secs(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        match self.live_group(transport).await? {
            Some(pgid) => self.end_group(transport, pgid, grace).await,
            None => Ok(OrphanOutcome::NotRunning),
        }
    }

    async fn end_group(
        &self,
        transport: &dyn Transport,
        pgid: u32,
        grace: Duration,
    ) -> Result<OrphanOutcome, SettleError> {
        let group = format!("-{pgid}");
        let _ = transport
            .output(
                &RemoteCommand::new("kill")
                    .arg("-TERM")
                    .arg("--")
                    .arg(&group),
            )
            .await?;
        let started = Instant::now();
        let mut killed = false;
        while group_alive(transport, pgid).await? {
            if started.elapsed() > grace && !killed {
                let _ = transport
                    .output(
                        &RemoteCommand::new("kill")
                            .arg("-KILL")
                            .arg("--")
                            .arg(&group),
                    )
                    .await?;
                killed = true;
            }
            if started.elapsed() > grace * 4 + Duration::from_secs(30) {
                return Err(SettleError::WillNotEnd { pgid });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(OrphanOutcome::Stopped { pgid, killed })
    }
}

/// Why a run that may still go on could not be settled.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SettleError {
    /// A command on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    #[error("the orphaned update still runs after {secs} s (its log: {})", log.display())]
    #[diagnostic(
        code(odd::detached::still_runs),
        help("run again without --wait-for-update to stop it")
    )]
    /// Waiting for the orphaned update (`--wait-for-update`) ran past the limit.
    StillRuns {
        /// The update's log on the host.
        log: PathBuf,
        /// Seconds waited.
        secs: u64,
    },
    #[error("process group {pgid} of the orphaned update does not end, even after SIGKILL")]
    #[diagnostic(
        code(odd::detached::will_not_end),
        help("look at it on the host: ps -g {pgid}")
    )]
    /// The process group does not end even after SIGKILL.
    WillNotEnd {
        /// The process group's id.
        pgid: u32,
    },
}

/// Whether any process of group `pgid` lives on the host (`kill -0 -- -PGID`).
async fn group_alive(transport: &dyn Transport, pgid: u32) -> Result<bool, TransportError> {
    let out = transport
        .output(
            &RemoteCommand::new("kill")
                .arg("-0")
                .arg("--")
                .arg(format!("-{pgid}")),
        )
        .await?;
    Ok(out.status.success())
}

/// The files of `runs/` (their names) that belong to no release in `keep`: an update
/// run's files are named `<release>-update-<i>.…`, a deploy's plan `<release>-plan.json`;
/// other names are left alone.
pub fn runs_to_prune<'n>(
    names: impl IntoIterator<Item = &'n str>,
    keep: &std::collections::BTreeSet<String>,
) -> Vec<&'n str> {
    names
        .into_iter()
        .filter(|name| {
            // Only `<release id>-update-…` and `<release id>-plan.json` files are odd's;
            // anything else is left alone.
            let release = name
                .rfind("-update-")
                .map(|at| &name[..at])
                .or_else(|| name.strip_suffix(crate::release::PLAN_FILE_SUFFIX));
            !name.contains('/')
                && release
                    .is_some_and(|r| crate::untrusted::release_id(r).is_ok() && !keep.contains(r))
        })
        .collect()
}

/// `STATUS.pid`, next to a status file.
pub fn pid_file(status: &Path) -> PathBuf {
    let mut name = status.as_os_str().to_os_string();
    name.push(".pid");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_answer_is_the_status_line_then_the_log() {
        assert_eq!(split_poll(b"-\nlog 1\nlog"), (None, &b"log 1\nlog"[..]));
        assert_eq!(split_poll(b"0\n"), (Some(&b"0"[..]), &b""[..]));
        assert_eq!(
            split_poll(b"137\nlast\n"),
            (Some(&b"137"[..]), &b"last\n"[..])
        );
        assert_eq!(split_poll(b""), (None, &b""[..]));
    }

    #[test]
    fn a_shell_status_is_read_as_odoo_gave_it() {
        let t = Some(Duration::from_secs(7200));
        let early = Duration::from_secs(5);
        let read = |s| Exit::from_shell_status(s, t, early).to_string();
        assert_eq!(read(0), "exited with 0");
        assert_eq!(read(1), "exited with 1");
        assert_eq!(
            read(255),
            "exited with 255",
            "255 is Odoo's failure, not a signal"
        );
        assert_eq!(read(137), "was killed by signal 9 (SIGKILL)");
        assert_eq!(read(143), "was killed by signal 15 (SIGTERM)");
        assert_eq!(read(124), "was killed after 7200 s (timeout)");
        assert_eq!(
            Exit::from_shell_status(137, t, Duration::from_secs(7202)).to_string(),
            "was killed after 7200 s (timeout)",
            "SIGKILL sent by timeout after its grace"
        );
        assert_eq!(
            Exit::from_shell_status(124, None, early).to_string(),
            "exited with 124"
        );
        assert!(Exit::from_shell_status(0, None, early).success());
    }

    #[test]
    fn a_process_status_is_read_as_it_is() {
        use std::os::unix::process::ExitStatusExt as _;
        use std::process::ExitStatus;
        assert_eq!(
            Exit::from_status(ExitStatus::from_raw(255 << 8)),
            Exit::Code { code: 255 }
        );
        assert_eq!(
            Exit::from_status(ExitStatus::from_raw(9)),
            Exit::Signal { signal: 9 }
        );
    }

    #[test]
    fn run_files_go_with_their_release() {
        use crate::testing::rid;
        let keep = [rid(2), rid(3)].into_iter().collect();
        let names: Vec<String> = [
            format!("{}-update-0.log", rid(1)),
            format!("{}-update-0.status", rid(1)),
            format!("{}-update-0.status.pid", rid(1)),
            format!("{}-update-0.log", rid(2)),
            format!("{}-update-1.status", rid(3)),
            format!("{}-plan.json", rid(1)),
            format!("{}-plan.json", rid(2)),
            "notes.txt".to_owned(),
            "../victim-plan.json".to_owned(),
            "../victim-update-0.log".to_owned(),
            "x\n-update-0.log".to_owned(),
        ]
        .into();
        assert_eq!(
            runs_to_prune(names.iter().map(String::as_str), &keep),
            [
                format!("{}-update-0.log", rid(1)),
                format!("{}-update-0.status", rid(1)),
                format!("{}-update-0.status.pid", rid(1)),
                format!("{}-plan.json", rid(1)),
            ]
        );
    }

    #[test]
    fn the_pid_file_sits_beside_the_status() {
        assert_eq!(
            pid_file(Path::new("/o/runs/r-update-0.status")),
            PathBuf::from("/o/runs/r-update-0.status.pid")
        );
    }
}
