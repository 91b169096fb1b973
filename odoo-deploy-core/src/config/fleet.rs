//! `[[environments.NAME.hosts]]`: an environment of several hosts — web, cron and worker
//! hosts on one database and one shared filestore, exactly one of them running the
//! update — and `filestore`, how their attachments are shared.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{
    ConfigError, Environment, HostConfig, LoadedConfig, ServiceConfig, Strategy, TransportKind,
};

/// What a host of a fleet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves HTTP: its health page is checked after every start.
    Web,
    /// Runs Odoo's scheduled actions.
    Cron,
    /// Runs other background work (queue jobs, …).
    Worker,
    /// Runs the module update (exactly one host); the ledger, lock, journal and backups
    /// live there, and the smoke test and startup log are read there.
    Update,
}

impl Role {
    /// Its name in `odd.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Cron => "cron",
            Role::Worker => "worker",
            Role::Update => "update",
        }
    }
}

/// How the hosts of a fleet share the filestore (`filestore` in the environment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilestoreSharing {
    /// One storage mounted on every host (NFS, a cluster file system): before a deploy
    /// odd compares the database's filestore listing (paths and sizes) on every host.
    #[default]
    Shared,
    /// Attachments live in object storage: a module that stores them there
    /// (`fs_attachment`, `attachment_s3`, `base_attachment_object_storage`) must be
    /// installed in the database.
    ObjectStorage,
}

/// The modules that move attachments out of the filestore, any of which satisfies
/// `filestore = "object_storage"`.
pub const OBJECT_STORAGE_MODULES: &[&str] = &[
    "fs_attachment",
    "attachment_s3",
    "base_attachment_object_storage",
];

/// `[[environments.NAME.hosts]]`: one host of a fleet, reached over SSH.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetHostConfig {
    /// Its name in plans, events and status (`web1`); unique in the environment.
    pub name: Spanned<String>,
    /// What it does: `web`, `cron`, `worker`, `update` (exactly one host has `update`).
    pub roles: Spanned<Vec<Role>>,
    /// Host name or address.
    pub address: String,
    /// Login user; ssh decides when absent.
    pub user: Option<String>,
    /// SSH port; 22 when absent.
    pub port: Option<u16>,
    /// The private key to use, and only it.
    pub identity_file: Option<PathBuf>,
    /// A known_hosts file to use instead of `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Trust a host key never seen before (and record it). Off by default.
    #[serde(default)]
    pub accept_new_host_key: bool,
    /// A jump host, `[user@]host[:port]`.
    pub jump: Option<String>,
    /// Seconds to wait for the SSH connection to be made (10 by default).
    #[serde(default = "super::default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds between SSH keepalive probes (15 by default).
    #[serde(default = "super::default_keepalive")]
    pub keepalive_secs: u64,
    /// As in `[environments.NAME.host]`.
    #[serde(default = "super::default_reconnect_for")]
    pub reconnect_for_secs: u64,
    /// Where odd keeps this host's releases and `current`; the environment's
    /// `odoo.deploy_dir` when absent.
    pub deploy_dir: Option<PathBuf>,
    /// Where this host mounts the shared `data_dir`; the environment's `odoo.data_dir`
    /// when absent.
    pub data_dir: Option<PathBuf>,
    /// This host's own URL (`http://10.0.0.11:8069`), for its health check; a web host
    /// without one is checked at the environment's `http.base_url`.
    pub base_url: Option<Spanned<String>>,
    /// How Odoo is stopped and started on this host; the environment's `[service]` when
    /// absent.
    pub service: Option<Spanned<ServiceConfig>>,
}

impl FleetHostConfig {
    /// The SSH settings, as a single host's table holds them.
    pub fn ssh(&self) -> HostConfig {
        HostConfig {
            address: self.address.clone(),
            user: self.user.clone(),
            port: self.port,
            identity_file: self.identity_file.clone(),
            known_hosts: self.known_hosts.clone(),
            accept_new_host_key: self.accept_new_host_key,
            jump: self.jump.clone(),
            connect_timeout_secs: self.connect_timeout_secs,
            keepalive_secs: self.keepalive_secs,
            reconnect_for_secs: self.reconnect_for_secs,
        }
    }

    /// Whether it has role `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.get_ref().contains(&role)
    }
}

impl LoadedConfig {
    /// The checks of `hosts` that the types cannot say: SSH only, not with `host`, unique
    /// names, roles given, exactly one update host, URLs, per-host services.
    pub(super) fn validate_fleet(
        &self,
        name: &str,
        spanned: &Spanned<Environment>,
        problems: &mut Vec<ConfigError>,
    ) {
        let env = spanned.get_ref();
        if env.hosts.is_empty() {
            return;
        }
        if env.transport != TransportKind::Ssh {
            problems.push(self.invalid(
                spanned,
                format!("environment `{name}` has [[environments.{name}.hosts]] but its transport is not \"ssh\""),
                "this environment",
                Some("a fleet's hosts are reached over SSH: set transport = \"ssh\"".to_owned()),
            ));
        }
        if let Some(host) = &env.host {
            problems.push(self.invalid(
                host,
                format!("environment `{name}` has both a [host] table and [[hosts]]"),
                "this host",
                Some(
                    "list every host, the update host too, as [[hosts]] and drop [host]".to_owned(),
                ),
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for host in &env.hosts {
            let h = host.get_ref();
            let host_name = h.name.get_ref();
            if !is_host_name(host_name) {
                problems.push(self.invalid(
                    &h.name,
                    format!("`{host_name}` is not a host name odd can show and journal"),
                    "this name",
                    Some("use letters, digits, `-`, `_` and `.`, e.g. \"web1\"".to_owned()),
                ));
            } else if seen.contains(&host_name.as_str()) {
                problems.push(self.invalid(
                    &h.name,
                    format!("two hosts of `{name}` are called `{host_name}`"),
                    "named again here",
                    None,
                ));
            }
            seen.push(host_name);
            if h.roles.get_ref().is_empty() {
                problems.push(self.invalid(
                    &h.roles,
                    format!("host `{host_name}` has no role"),
                    "empty",
                    Some("give it roles, e.g. roles = [\"web\"] or [\"cron\"]".to_owned()),
                ));
            }
            let stale = crate::lock::HEARTBEAT_STALE_AFTER.as_secs();
            if h.reconnect_for_secs >= stale {
                problems.push(self.invalid(
                    host,
                    format!(
                        "`reconnect_for_secs = {}` is not below {stale} s",
                        h.reconnect_for_secs
                    ),
                    "this host",
                    None,
                ));
            }
            if let Some(url) = &h.base_url {
                let u = url.get_ref();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    problems.push(self.invalid(
                        url,
                        format!("`{u}` is not an http(s) URL"),
                        "expected http:// or https://",
                        None,
                    ));
                }
            }
            for (what, value) in [("address", Some(&h.address)), ("user", h.user.as_ref())] {
                if let Some(value) = value
                    && super::is_bad_ssh_word(value)
                {
                    problems.push(self.invalid(
                        host,
                        format!("host `{host_name}`: `{what} = {value:?}` is empty, has spaces or starts with `-` (ssh would read it as an option)"),
                        "this host",
                        None,
                    ));
                }
            }
            if let Some(jump) = &h.jump
                && super::is_bad_jump(jump)
            {
                problems.push(self.invalid(
                    host,
                    format!("host `{host_name}`: `jump = {jump:?}` {}", super::BAD_JUMP),
                    "this host",
                    Some(super::JUMP_HELP.to_owned()),
                ));
            }
            if let Some(service) = &h.service
                && *service.get_ref().strategy.get_ref() == Strategy::Compose
            {
                problems.push(self.compose_on_hosts(name, &service.get_ref().strategy));
            }
            if let Some(service) = &h.service {
                let s = service.get_ref();
                for name in [s.unit.as_ref(), s.compose_service.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if name.is_empty() || name.starts_with('-') {
                        problems.push(self.invalid(
                            service,
                            format!("host `{host_name}`: `{name:?}` is empty or starts with `-`, which programs read as an option"),
                            "this service",
                            None,
                        ));
                    }
                }
            }
            for path in [&h.deploy_dir, &h.data_dir].into_iter().flatten() {
                if path.is_relative() || path.parent().is_none() {
                    problems.push(self.invalid(
                        host,
                        format!(
                            "host `{host_name}`: `{}` is not the absolute path of a folder of its own",
                            path.display()
                        ),
                        "this host",
                        Some("write the full path of a folder of its own on the host, e.g. \"/opt/odd/acme\"".to_owned()),
                    ));
                }
            }
            if let Some(service) = &h.service {
                self.validate_service(service, problems);
            }
        }
        if *env.service.get_ref().strategy.get_ref() == Strategy::Compose
            && env.hosts.iter().any(|h| h.get_ref().service.is_none())
        {
            problems.push(self.compose_on_hosts(name, &env.service.get_ref().strategy));
        }
        // Several databases on several hosts: the filestore check, the rollback and the
        // recovery of a fleet of hosts know one database only.
        let databases = env
            .database
            .names
            .iter()
            .flatten()
            .next()
            .map(|n| (n, "names"))
            .or(env.database.pattern.as_ref().map(|p| (p, "pattern")));
        if let Some((at, key)) = databases {
            problems.push(self.invalid(
                at,
                format!(
                    "environment `{name}` has [[environments.{name}.hosts]] and several databases (`{key}` in [database]): odd deploys several hosts on one database, or several databases from one host, not both"
                ),
                "several databases",
                Some(format!(
                    "keep `name` alone in [database] for the hosts, or deploy the databases from one host ([environments.{name}.host])"
                )),
            ));
        }
        let update: Vec<&Spanned<FleetHostConfig>> = env
            .hosts
            .iter()
            .filter(|h| h.get_ref().has(Role::Update))
            .collect();
        match update.as_slice() {
            [_] => {}
            [] => problems.push(self.invalid(
                &env.hosts[0],
                format!("no host of `{name}` has the role \"update\""),
                "e.g. this one",
                Some("exactly one host runs the update: add \"update\" to its roles".to_owned()),
            )),
            [_, second, ..] => problems.push(self.invalid(
                *second,
                format!(
                    "{} hosts of `{name}` have the role \"update\": the update runs once",
                    update.len()
                ),
                "a second update host",
                Some("keep \"update\" on exactly one host".to_owned()),
            )),
        }
    }
}

impl LoadedConfig {
    /// `strategy = "compose"` on a fleet: each host would start its compose service
    /// without the release's image (only the update host receives it).
    fn compose_on_hosts(&self, name: &str, strategy: &Spanned<Strategy>) -> ConfigError {
        self.invalid(
            strategy,
            format!(
                "environment `{name}` has [[environments.{name}.hosts]] and the compose strategy: odd starts the release's image on one host only"
            ),
            "compose on a fleet of hosts",
            Some("run the hosts' Odoo with strategy = \"systemd\" or \"command\", or deploy compose to a single [host]".to_owned()),
        )
    }
}

/// A host name as plans, events and the journal show it.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
