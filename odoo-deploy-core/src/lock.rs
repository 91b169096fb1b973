//! The environment lock: one deploy (or rollback, or restore) at a time.
//!
//! The lock is a file on the environment's primary host, `<deploy_dir>/lock`, created
//! atomically: the holder's details are written to a private temporary file, which is
//! then hard-linked to `lock` (`link(2)` fails when `lock` exists, so exactly one of two
//! racing deploys wins). The holder touches `<deploy_dir>/lock.heartbeat` while it runs.
//! A lock whose holder process is gone (same machine) or whose heartbeat stopped is
//! *stale*: it is reported as such and may be released by `odd unlock`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::RemoteCommand;
use crate::transport::{Transport, TransportError};

/// How often a holder refreshes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A heartbeat older than this means the holder is gone.
pub const HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(60);

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The user running odd.
    pub owner: String,
    /// The machine odd runs on.
    pub machine: String,
    /// The odd process's id on that machine.
    pub pid: u32,
    /// When the lock was taken, in seconds since the Unix epoch.
    pub started_at: i64,
    /// The commit being deployed, when a deploy holds it.
    pub commit: Option<String>,
    /// What the holder is doing (`deploy 0123abcd`, `rollback`, …).
    pub message: String,
    /// The deploy id, when a deploy holds it.
    pub deploy_id: Option<String>,
}

/// What the lock looks like now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LockState {
    /// Nobody holds the lock.
    Free,
    /// Held by a holder whose heartbeat is fresh (or could not be read).
    Held {
        /// Who holds it.
        holder: LockInfo,
        /// Seconds since the holder's last heartbeat, by the host's clock; none when it could not be read.
        heartbeat_age_secs: Option<u64>,
    },
    /// Held by a holder that is provably gone.
    Stale {
        /// Who held it.
        holder: LockInfo,
        /// Why the holder is known to be gone (e.g. `no heartbeat for 75 s`).
        why: String,
    },
}

/// Why the lock could not be taken or released.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error("{env} is locked by {} on {} (pid {}) since {}: {}", holder.owner, holder.machine, holder.pid, crate::clock::human(holder.started_at), holder.message)]
    #[diagnostic(
        code(odd::lock::held),
        help("wait for it to finish; `odd lock {env}` shows the holder")
    )]
    /// Another run holds the lock.
    Held {
        /// The environment.
        env: String,
        /// Who holds it.
        holder: Box<LockInfo>,
    },

    #[error("{env} is locked by a run that is gone ({why}): {}", holder.message)]
    #[diagnostic(
        code(odd::lock::stale),
        help("`odd status {env}` tells where it stopped; `odd unlock {env}` releases the lock")
    )]
    /// The lock is held by a run that is gone; odd does not take it over by itself.
    Stale {
        /// The environment.
        env: String,
        /// Who held it.
        holder: Box<LockInfo>,
        /// Why the holder is known to be gone.
        why: String,
    },

    /// `odd unlock` refused: the holder is alive.
    #[error("the lock of {env} is held by a live process (pid {} on {}); refusing to release it", holder.pid, holder.machine)]
    #[diagnostic(code(odd::lock::alive), help("stop that run first"))]
    Alive {
        /// The environment.
        env: String,
        /// Who holds it.
        holder: Box<LockInfo>,
    },

    /// The lock file cannot be read back or parsed.
    #[error("the lock file of {env} cannot be read: {reason}")]
    #[diagnostic(code(odd::lock::unreadable), help("inspect {} on the host", path.display()))]
    Unreadable {
        /// The environment.
        env: String,
        /// The lock file on the host.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A command on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
}

/// The lock of one environment on its host.
#[derive(Debug, Clone)]
pub struct EnvLock {
    /// The environment the lock belongs to.
    pub env: String,
    /// The lock file on the host.
    pub path: PathBuf,
}

impl EnvLock {
    /// The lock file `path` guarding environment `env`.
    pub fn new(env: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            env: env.into(),
            path: path.into(),
        }
    }

    /// The file the holder touches while it runs.
    pub fn heartbeat(&self) -> PathBuf {
        sibling(&self.path, "heartbeat")
    }

    /// Takes the lock or says who holds it.
    pub async fn acquire(
        &self,
        transport: &dyn Transport,
        info: &LockInfo,
    ) -> Result<(), LockError> {
        let tmp = sibling(&self.path, &format!("{}.{}.tmp", info.pid, nonce()));
        let body = serde_json::to_vec_pretty(info).map_err(|e| LockError::Unreadable {
            env: self.env.clone(),
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if let Some(parent) = self.path.parent() {
            transport.mkdir_p(parent).await?;
        }
        transport.write_file(&tmp, &body).await?;
        let linked = transport
            .output(&RemoteCommand::new("ln").arg("--").arg(&tmp).arg(&self.path))
            .await;
        transport
            .output(&RemoteCommand::new("rm").arg("-f").arg("--").arg(&tmp))
            .await?;
        if linked?.status.success() {
            self.beat(transport).await?;
            return Ok(());
        }
        match self.state(transport, &info.machine).await? {
            LockState::Free => Err(LockError::Unreadable {
                env: self.env.clone(),
                path: self.path.clone(),
                reason: "it could not be created, yet it does not exist".to_owned(),
            }),
            LockState::Held { holder, .. } => Err(LockError::Held {
                env: self.env.clone(),
                holder: Box::new(holder),
            }),
            LockState::Stale { holder, why } => Err(LockError::Stale {
                env: self.env.clone(),
                holder: Box::new(holder),
                why,
            }),
        }
    }

    /// Refreshes the heartbeat (the holder calls this every [`HEARTBEAT_EVERY`]).
    pub async fn beat(&self, transport: &dyn Transport) -> Result<(), TransportError> {
        transport
            .check_output(&RemoteCommand::new("touch").arg("--").arg(self.heartbeat()))
            .await
            .map(|_| ())
    }

    /// Releases a lock this run holds.
    pub async fn release(&self, transport: &dyn Transport) -> Result<(), TransportError> {
        transport
            .check_output(
                &RemoteCommand::new("rm")
                    .arg("-f")
                    .arg("--")
                    .arg(&self.path)
                    .arg(self.heartbeat()),
            )
            .await
            .map(|_| ())
    }

    /// Takes the lock for a recovery: a stale one (its holder provably gone, checked
    /// again before it is removed) is taken over. Returns the message saying whose, when
    /// it was.
    pub async fn take_over_stale(
        &self,
        transport: &dyn Transport,
        info: &LockInfo,
        this_machine: &str,
    ) -> Result<Option<String>, LockError> {
        match self.acquire(transport, info).await {
            Ok(()) => Ok(None),
            Err(LockError::Stale { holder, why, .. }) => {
                self.force_release(transport, this_machine).await?;
                self.acquire(transport, info).await?;
                Ok(Some(format!(
                    "took over the stale lock of {} (pid {}): {why}",
                    holder.owner, holder.pid
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// Releases someone else's lock, refusing while its holder is alive.
    pub async fn force_release(
        &self,
        transport: &dyn Transport,
        this_machine: &str,
    ) -> Result<Option<LockInfo>, LockError> {
        match self.state(transport, this_machine).await? {
            LockState::Free => Ok(None),
            LockState::Held { holder, .. } => Err(LockError::Alive {
                env: self.env.clone(),
                holder: Box::new(holder),
            }),
            LockState::Stale { holder, .. } => {
                self.release(transport).await?;
                Ok(Some(holder))
            }
        }
    }

    /// Reads the lock and judges whether its holder is alive. `this_machine` is the name
    /// of the machine running odd: a holder on it is checked by its pid.
    pub async fn state(
        &self,
        transport: &dyn Transport,
        this_machine: &str,
    ) -> Result<LockState, LockError> {
        if !transport.exists(&self.path).await? {
            return Ok(LockState::Free);
        }
        let body = transport.read_file(&self.path).await?;
        let holder: LockInfo =
            serde_json::from_slice(&body).map_err(|e| LockError::Unreadable {
                env: self.env.clone(),
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        let age = heartbeat_age(transport, &self.heartbeat()).await?;
        if holder.machine == this_machine && !pid_alive(holder.pid) {
            return Ok(LockState::Stale {
                why: format!(
                    "process {} no longer runs on {}",
                    holder.pid, holder.machine
                ),
                holder,
            });
        }
        match age {
            Some(age) if age > HEARTBEAT_STALE_AFTER.as_secs() => Ok(LockState::Stale {
                why: format!("no heartbeat for {age} s"),
                holder,
            }),
            _ => Ok(LockState::Held {
                holder,
                heartbeat_age_secs: age,
            }),
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// A name part no other acquirer uses at the same time (even in the same process).
fn nonce() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{n}")
}

/// Seconds since the heartbeat file was touched, by the host's own clock.
async fn heartbeat_age(
    transport: &dyn Transport,
    path: &Path,
) -> Result<Option<u64>, TransportError> {
    // `date +%s` and `stat -c %Y` in two commands: both on the host, so clock skew between
    // odd's machine and the host does not matter.
    let stat = transport
        .output(
            &RemoteCommand::new("stat")
                .arg("-c")
                .arg("%Y")
                .arg("--")
                .arg(path),
        )
        .await?;
    if !stat.status.success() {
        return Ok(None);
    }
    let now = transport
        .check_output(&RemoteCommand::new("date").arg("+%s"))
        .await?;
    let parse = |b: &[u8]| String::from_utf8_lossy(b).trim().parse::<i64>().ok();
    Ok(match (parse(&stat.stdout), parse(&now)) {
        (Some(touched), Some(now)) => Some(u64::try_from(now - touched).unwrap_or(0)),
        _ => None,
    })
}

/// Whether a process with this pid runs on this machine.
fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_names() {
        assert_eq!(
            sibling(Path::new("/opt/odd/lock"), "heartbeat"),
            PathBuf::from("/opt/odd/lock.heartbeat")
        );
    }

    #[test]
    fn a_live_pid_is_seen() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX - 1));
    }
}
