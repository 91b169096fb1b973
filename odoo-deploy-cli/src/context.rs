//! Flags + `odd.toml` + the environment → one resolved context per command, before
//! anything runs: the config, the environment's target and its transport.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use odoo_deploy_core::config::{CONFIG_FILE, LoadedConfig, TransportKind};
use odoo_deploy_core::fleet::Member;
use odoo_deploy_core::lock::{EnvLock, LockState};
use odoo_deploy_core::target::Target;
use odoo_deploy_core::transport::{LocalTransport, Transport};
use odoo_deploy_ssh::{KnownHostsPolicy, SshConfig, SshTransport};

use crate::output::CliError;

/// `--config`: where odd.toml is (searched upwards from the current directory otherwise).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConfigArg {
    /// The odd.toml to use (default: the nearest one in this directory or above).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
}

impl ConfigArg {
    /// Loads odd.toml: the one given, or the nearest above the current directory.
    pub(crate) fn load(&self) -> Result<LoadedConfig, CliError> {
        let path = match &self.config {
            Some(path) => path.clone(),
            None => find_config()?,
        };
        LoadedConfig::load(&path).map_err(CliError::diagnostic)
    }
}

fn find_config() -> Result<PathBuf, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Report(miette::miette!("cannot read the current directory: {e}")))?;
    let mut dir: Option<&Path> = Some(&cwd);
    while let Some(d) = dir {
        let candidate = d.join(CONFIG_FILE);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    Err(CliError::bad_input(miette::miette!(
        help = "run `odd init` at the root of your Odoo project, or pass --config",
        "no {CONFIG_FILE} in {} or above",
        cwd.display()
    )))
}

/// An environment ready to work on.
pub(crate) struct EnvContext {
    pub(crate) loaded: LoadedConfig,
    pub(crate) target: Target,
    /// The environment's host; in a fleet, the update host.
    pub(crate) transport: Arc<dyn Transport>,
    /// In a fleet, the other hosts that answered, each with its own SSH master.
    pub(crate) fleet: Vec<Member>,
    /// In a fleet, the other hosts that did not answer (`name (address)`, why): the plan's
    /// `hosts` gate fails on them.
    pub(crate) unreachable: Vec<(String, String)>,
}

impl EnvContext {
    /// Resolves environment `name` and connects to its host.
    pub(crate) async fn open(loaded: LoadedConfig, name: &str) -> Result<Self, CliError> {
        let env = loaded.environment(name).map_err(CliError::diagnostic)?;
        let mut target = Target::resolve(&loaded, name, env).map_err(CliError::diagnostic)?;
        let (transport, (fleet, unreachable)) =
            tokio::join!(connect(&loaded, env), connect_fleet(&loaded, &target));
        let transport = match (transport, &target.fleet_update) {
            (Ok(t), _) => t,
            // Nothing is planned, and so nothing changes, without the update host.
            (Err(e), Some(update)) => {
                return Err(CliError::refused(match e.report() {
                    Some(r) => miette::miette!(
                        help = "every host of a fleet must answer before a deploy; nothing was changed",
                        "the update host {} cannot be reached: {r}",
                        update.label()
                    ),
                    None => miette::miette!("the update host {} cannot be reached", update.label()),
                }));
            }
            (Err(e), None) => return Err(e),
        };
        // The host's Odoo config (addons path, data_dir, database settings), when used.
        target
            .prepare(transport.as_ref())
            .await
            .map_err(CliError::diagnostic)?;
        Ok(Self {
            loaded,
            target,
            transport,
            fleet,
            unreachable,
        })
    }

    /// The environment's ledger and its lock as seen from this machine.
    pub(crate) async fn ledger_and_lock(
        &self,
    ) -> Result<(odoo_deploy_core::ledger::Ledger, LockState), CliError> {
        let t = &self.target;
        let transport = self.transport.as_ref();
        let ledger = odoo_deploy_core::state::read_ledger(transport, &t.layout)
            .await
            .map_err(CliError::diagnostic)?;
        let lock = EnvLock::new(&t.environment, t.layout.lock())
            .state(transport, &machine())
            .await
            .map_err(CliError::diagnostic)?;
        Ok((ledger, lock))
    }

    /// The project root: the directory of odd.toml.
    pub(crate) fn root(&self) -> PathBuf {
        self.loaded
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// One SSH master to each other host of a fleet, all at once: those that answered, and
/// those that did not (`name (address)`, why).
pub(crate) async fn connect_fleet(
    loaded: &LoadedConfig,
    target: &Target,
) -> (Vec<Member>, Vec<(String, String)>) {
    let results = odoo_deploy_core::fleet::join_all(
        target
            .fleet
            .iter()
            .map(|host| async move {
                match connect_ssh(&host.ssh, |p| loaded.relative(p)).await {
                    Ok(transport) => Ok(Member {
                        host: host.clone(),
                        transport,
                    }),
                    Err(e) => Err((
                        host.label(),
                        e.report().map_or_else(String::new, ToString::to_string),
                    )),
                }
            })
            .collect(),
    )
    .await;
    let mut fleet = Vec::new();
    let mut unreachable = Vec::new();
    for r in results {
        match r {
            Ok(m) => fleet.push(m),
            Err(e) => unreachable.push(e),
        }
    }
    (fleet, unreachable)
}

/// The transport of an environment: this machine, or one SSH master to its host.
pub(crate) async fn connect(
    loaded: &LoadedConfig,
    env: &odoo_deploy_core::config::Environment,
) -> Result<Arc<dyn Transport>, CliError> {
    // A fleet's update host stands for the environment's host.
    if let Some(update) = odoo_deploy_core::fleet::resolve(env).map(|(update, _)| update) {
        return connect_ssh(&update.ssh, |p| loaded.relative(p)).await;
    }
    match (env.transport, &env.host) {
        (TransportKind::Ssh, Some(host)) => {
            connect_ssh(host.get_ref(), |p| loaded.relative(p)).await
        }
        _ => Ok(Arc::new(LocalTransport::new())),
    }
}

/// One SSH master to `host` (its files resolved by `relative`).
pub(crate) async fn connect_ssh(
    host: &odoo_deploy_core::config::HostConfig,
    relative: impl Fn(&Path) -> PathBuf,
) -> Result<Arc<dyn Transport>, CliError> {
    let mut config = SshConfig::new(&host.address)
        .connect_timeout(Duration::from_secs(host.connect_timeout_secs))
        .keep_alive(Duration::from_secs(host.keepalive_secs));
    if let Some(port) = host.port {
        config = config.port(port);
    }
    if let Some(user) = &host.user {
        config = config.user(user);
    }
    if let Some(identity) = &host.identity_file {
        config = config.identity_file(relative(identity));
    }
    if let Some(known) = &host.known_hosts {
        config = config.known_hosts_file(relative(known));
    }
    if host.accept_new_host_key {
        config = config.known_hosts(KnownHostsPolicy::Add);
    }
    if let Some(jump) = &host.jump {
        config = config.jump_host(jump);
    }
    let transport = SshTransport::connect(config)
        .await
        .map_err(CliError::diagnostic)?;
    Ok(Arc::new(transport))
}

/// A runtime for the commands that talk to hosts.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Report(miette::miette!("cannot start the async runtime: {e}")))
}

/// `user@machine`, for ledgers and locks.
pub(crate) fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{user}@{}", machine())
}

/// The name of this process's user, from its uid and /etc/passwd (CI often has no
/// `USER`).
fn user_from_passwd() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

/// This machine's name.
pub(crate) fn machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}
