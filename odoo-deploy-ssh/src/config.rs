//! How to reach one host.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// What to do with a host key that is not in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KnownHostsPolicy {
    /// Refuse the connection (`StrictHostKeyChecking=yes`). The default.
    #[default]
    Strict,
    /// Trust a new key on first use and record it (`StrictHostKeyChecking=accept-new`);
    /// a *changed* key is still refused. Only by explicit opt-in.
    Add,
}

/// Everything [`crate::SshTransport::connect`] needs.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// Host name or address.
    pub host: String,
    /// Port (22 by default).
    pub port: u16,
    /// Login user; `None` lets ssh decide (ssh config, then the local user name).
    pub user: Option<String>,
    /// Private key to use, and only it (`IdentitiesOnly=yes`).
    pub identity_file: Option<PathBuf>,
    /// known_hosts file instead of `~/.ssh/known_hosts`.
    pub known_hosts_file: Option<PathBuf>,
    /// Unknown host keys: refused unless [`KnownHostsPolicy::Add`].
    pub known_hosts: KnownHostsPolicy,
    /// Jump hosts (`ssh -J`), `[user@]host[:port]`, in order.
    pub jump_hosts: Vec<String>,
    /// ssh client config file instead of `~/.ssh/config` (`-F`).
    pub ssh_config_file: Option<PathBuf>,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Keep-alive probe interval (`ServerAliveInterval`); a dead peer is noticed after
    /// three unanswered probes.
    pub keep_alive: Duration,
    /// The master connection ends after this long without any command, so the master
    /// of a killed run does not linger; it is reopened on demand.
    pub idle_persist: Duration,
    /// Commands at once over the one connection (OpenSSH's mux fails past ~32).
    pub max_channels: usize,
}

impl SshConfig {
    /// Defaults for `host`: port 22, strict host keys, 10 s connect timeout, 15 s
    /// keep-alive, 10 min idle master, 16 channels.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: 22,
            user: None,
            identity_file: None,
            known_hosts_file: None,
            known_hosts: KnownHostsPolicy::Strict,
            jump_hosts: Vec::new(),
            ssh_config_file: None,
            connect_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            idle_persist: Duration::from_secs(600),
            max_channels: 16,
        }
    }

    /// Sets the port.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the login user.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Uses this private key only.
    #[must_use]
    pub fn identity_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity_file = Some(path.into());
        self
    }

    /// Uses this known_hosts file.
    #[must_use]
    pub fn known_hosts_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts_file = Some(path.into());
        self
    }

    /// Sets the policy for unknown host keys.
    #[must_use]
    pub fn known_hosts(mut self, policy: KnownHostsPolicy) -> Self {
        self.known_hosts = policy;
        self
    }

    /// Adds a jump host.
    #[must_use]
    pub fn jump_host(mut self, jump: impl Into<String>) -> Self {
        self.jump_hosts.push(jump.into());
        self
    }

    /// Uses this ssh client config file (`/dev/null` for none).
    #[must_use]
    pub fn ssh_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_config_file = Some(path.into());
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets the keep-alive interval.
    #[must_use]
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.keep_alive = d;
        self
    }

    /// Sets how long an idle master lives.
    #[must_use]
    pub fn idle_persist(mut self, d: Duration) -> Self {
        self.idle_persist = d;
        self
    }

    /// Sets the channel cap.
    #[must_use]
    pub fn max_channels(mut self, n: usize) -> Self {
        self.max_channels = n;
        self
    }

    pub(crate) fn idle_persist_secs(&self) -> NonZeroUsize {
        let secs = usize::try_from(self.idle_persist.as_secs()).unwrap_or(usize::MAX);
        NonZeroUsize::new(secs).unwrap_or(NonZeroUsize::MIN)
    }

    /// How known_hosts names this host: `host` on port 22, else `[host]:port`.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}
