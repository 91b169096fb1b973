//! `odd.toml`: the project, its environments, and how odd reaches and checks them.
//!
//! The file is read in two passes: serde turns the text into [`Config`] (unknown keys and
//! wrong types are refused with the span serde reports), then `Config::validate` checks
//! what the types cannot say (a `systemd` strategy needs a unit, `requires` names a known
//! environment, …). Every problem is a [`ConfigError`] that points into the file, and all
//! of them are reported at once.
//!
//! Secrets never live in the file: the file names an environment variable or a file
//! ([`SecretSource`]), resolved only when needed, and the value is a [`Secret`] that
//! never prints itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::Deserialize;
use toml::Spanned;

pub use crate::command::Secret;
pub use fleet::{FilestoreSharing, FleetHostConfig, OBJECT_STORAGE_MODULES, Role};
pub use test::{TestConfig, TestDatabase};

mod fleet;
mod test;

/// The name of the configuration file at the root of a project.
pub const CONFIG_FILE: &str = "odd.toml";

/// A whole `odd.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[project]`: the addons paths and Odoo series of the code.
    pub project: Project,
    /// `[image]`: the project's container image (`odd image build`).
    pub image: Option<Spanned<ImageConfig>>,
    /// `[environments.NAME]`, by name: the places the project is deployed to.
    #[serde(default)]
    pub environments: BTreeMap<String, Spanned<Environment>>,
    /// `[test]`: Odoo and PostgreSQL for `odd test`.
    pub test: Option<TestConfig>,
    /// `[lint]`: what `odd lint` runs besides odd's own checks ([`crate::lint`]).
    #[serde(default)]
    pub lint: crate::lint::LintConfig,
}

/// `[image]`: how `odd image build` builds and names the project's image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// The image's repository, registry included (`registry.example.com/acme/odoo`): tags
    /// are `<repository>:sha-<12>` and, with `--branch`, `<repository>:<branch>`.
    pub repository: Spanned<String>,
    /// The operator's Dockerfile, relative to the project root, read from the commit.
    #[serde(default = "default_dockerfile")]
    pub dockerfile: PathBuf,
    /// `org.opencontainers.image.source`; the `origin` remote's URL when absent.
    pub source: Option<String>,
}

fn default_dockerfile() -> PathBuf {
    PathBuf::from("Dockerfile")
}

/// `[project]`: what the code is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Addons paths relative to the project root, in Odoo's precedence order.
    pub addons_paths: Vec<Spanned<String>>,
    /// The Odoo series, e.g. `18.0`.
    pub series: Spanned<String>,
    /// Modules that must be installed on every environment.
    #[serde(default)]
    pub required_modules: Vec<Spanned<String>>,
}

/// `[environments.NAME]`: one place the project runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// How odd reaches the host: `local` (this machine, the default) or `ssh`.
    #[serde(default)]
    pub transport: TransportKind,
    /// Needed when `transport = "ssh"` (unless `hosts` lists them).
    pub host: Option<Spanned<HostConfig>>,
    /// `[[environments.NAME.hosts]]`: a fleet of hosts with roles, instead of `host`.
    #[serde(default)]
    pub hosts: Vec<Spanned<FleetHostConfig>>,
    /// How a fleet's hosts share the filestore (`shared`, the default, or
    /// `object_storage`).
    #[serde(default)]
    pub filestore: FilestoreSharing,
    /// `[environments.NAME.odoo]`: how Odoo runs on the host and where odd keeps its files.
    pub odoo: OdooConfig,
    /// `[environments.NAME.service]`: how Odoo is stopped and started.
    pub service: Spanned<ServiceConfig>,
    /// `[environments.NAME.database]`: the PostgreSQL database Odoo uses.
    pub database: DatabaseConfig,
    /// `[environments.NAME.http]`: where Odoo answers and how its health is checked.
    pub http: HttpConfig,
    /// `[environments.NAME.smoke]`: the checks run against Odoo after a deploy.
    #[serde(default)]
    pub smoke: SmokeConfig,
    /// Another environment that must have deployed the same commit successfully first.
    pub requires: Option<Spanned<String>>,
    /// Show the plan and ask before deploying (`--yes` answers for CI).
    #[serde(default)]
    pub approval: bool,
    /// Production: never the target of `odd refresh`.
    #[serde(default)]
    pub protected: bool,
    /// How `odd refresh` copies another environment's data here.
    #[serde(default)]
    pub refresh: crate::refresh::settings::RefreshConfig,
    /// `[environments.NAME.window]`: periods in which deploys are refused.
    #[serde(default)]
    pub window: WindowConfig,
    /// `[environments.NAME.backup]`: where backups go and how many are kept.
    #[serde(default)]
    pub backup: BackupConfig,
    /// `[environments.NAME.notify]`: where the outcome of a deploy is posted.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Regular expressions of Odoo log lines at ERROR or CRITICAL that do not fail a deploy.
    #[serde(default)]
    pub allow_log_errors: Vec<Spanned<String>>,
    /// What the host provides besides the repository: Odoo's own addons, shared addons,
    /// Odoo's config file.
    #[serde(default)]
    pub installation: InstallationConfig,
    /// The operator's commands run at points of the deploy
    /// ([`crate::runbook::hooks`]).
    #[serde(default)]
    pub hooks: crate::runbook::hooks::HooksConfig,
}

/// `[environments.NAME.installation]`: the Odoo installation on the host
/// ([`crate::installation`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallationConfig {
    /// Read the host's addons (Odoo's own, `<data_dir>/addons/<series>`, the paths below
    /// and the Odoo config file's `addons_path`) and join them to the repository's.
    /// On by default; off for the `compose` strategy, whose addons live in an image.
    pub read_host: Option<bool>,
    /// Addons folders on the host (a shared checkout of OCA repositories), absolute, in
    /// Odoo's order; they come after the repository's own folders unless the Odoo config
    /// file's `addons_path` places them.
    #[serde(default)]
    pub addons_paths: Vec<Spanned<PathBuf>>,
    /// Take `addons_path` from the Odoo config file on the host (`odoo.config`) and check
    /// its `data_dir` against `odoo.data_dir`.
    #[serde(default = "default_true")]
    pub use_odoo_config: bool,
    /// Odoo's own addons folder, when odd cannot find it from `odoo.command`.
    pub odoo_addons_dir: Option<PathBuf>,
    /// Leave Odoo's own addons out of the change set (like click-odoo-update's
    /// `--ignore-core-addons`): an Odoo upgrade then needs an explicit `-u`.
    #[serde(default)]
    pub ignore_core_addons: bool,
    /// Load demo data into modules odd installs (`--without-demo` otherwise). Off by
    /// default, whatever the host's config says.
    #[serde(default)]
    pub demo: bool,
}

impl Default for InstallationConfig {
    fn default() -> Self {
        Self {
            read_host: None,
            addons_paths: Vec::new(),
            use_odoo_config: true,
            odoo_addons_dir: None,
            ignore_core_addons: false,
            demo: false,
        }
    }
}

fn default_true() -> bool {
    true
}

/// How odd reaches the environment's host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Commands run on this machine.
    #[default]
    Local,
    /// Commands run over SSH.
    Ssh,
}

/// `[environments.NAME.host]`: an SSH host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Host name or address.
    pub address: String,
    /// Login user; ssh decides (its config, then the local user name) when absent.
    pub user: Option<String>,
    /// SSH port; 22 when absent.
    pub port: Option<u16>,
    /// The private key to use, and only it; ssh's own choice when absent.
    pub identity_file: Option<PathBuf>,
    /// A known_hosts file to use instead of `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Trust a host key never seen before (and record it). Off by default.
    #[serde(default)]
    pub accept_new_host_key: bool,
    /// A jump host, `[user@]host[:port]`.
    pub jump: Option<String>,
    /// Seconds to wait for the SSH connection to be made (10 by default).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds between SSH keepalive probes (15 by default).
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// How long a deploy keeps trying to reach the host again while a step it started
    /// there (the update) goes on; after that it gives up and `odd status` later tells
    /// the step's outcome. Below the lock's staleness (60 s): a run that cannot write its
    /// heartbeat for longer may be taken over.
    #[serde(default = "default_reconnect_for")]
    pub reconnect_for_secs: u64,
}

fn default_reconnect_for() -> u64 {
    45
}

fn default_connect_timeout() -> u64 {
    10
}

fn default_keepalive() -> u64 {
    15
}

/// `[environments.NAME.odoo]`: how Odoo runs there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooConfig {
    /// The argv that runs `odoo-bin`, e.g. `["/opt/odoo/venv/bin/python", "/opt/odoo/odoo-bin"]`.
    pub command: Spanned<Vec<String>>,
    /// Odoo's configuration file on the host.
    pub config: Option<PathBuf>,
    /// Odoo's `data_dir` on the host (the filestore lives under it).
    pub data_dir: PathBuf,
    /// Where odd keeps releases, ledger, lock and journal on the host.
    pub deploy_dir: PathBuf,
    /// Releases kept besides the current one.
    #[serde(default = "default_keep_releases")]
    pub keep_releases: u32,
    /// Odoo's log file on the host (`logfile` in its config), read through startup.
    pub log_file: Option<PathBuf>,
}

fn default_keep_releases() -> u32 {
    3
}

/// How Odoo is stopped and started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// A systemd unit.
    Systemd,
    /// A docker compose service; the update runs as a one-off container of it.
    Compose,
    /// Commands of the operator's own.
    Command,
}

/// `[environments.NAME.service]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `systemd`, `compose` or `command`: decides which of the fields below are needed.
    pub strategy: Spanned<Strategy>,
    /// `systemd`: the unit name.
    pub unit: Option<String>,
    /// `compose`: the service name.
    pub compose_service: Option<String>,
    /// `compose`: the compose file (the operator's; odd never edits it).
    pub compose_file: Option<PathBuf>,
    /// `compose`: the argv of compose (`["docker", "compose"]` or `["docker-compose"]`);
    /// detected on the host when absent (v2 first).
    pub compose_command: Option<Vec<String>>,
    /// `compose`: services stopped and started with Odoo's, on the same image (cron,
    /// workers).
    pub compose_services_with: Option<Vec<String>>,
    /// `command`: argv that starts Odoo (it must return once Odoo runs in the background).
    pub start: Option<Vec<String>>,
    /// `command`: argv that stops Odoo and waits until it is gone.
    pub stop: Option<Vec<String>>,
    /// `command`: argv that exits 0 when Odoo runs.
    pub status: Option<Vec<String>>,
    /// argv that prints Odoo's log (e.g. `["cat", "/var/log/odoo/odoo.log"]`), read after
    /// a start when `log_file` is unset: what it printed before the start is skipped. The
    /// `command` strategy needs this or `log_file`; systemd and compose read the unit's
    /// journal or the service's logs by themselves.
    pub logs: Option<Vec<String>>,
}

/// `[environments.NAME.database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The database's name.
    pub name: Spanned<String>,
    /// PostgreSQL host (or socket directory); the client's default (local socket) when absent.
    pub host: Option<String>,
    /// PostgreSQL port; the client's default (5432) when absent.
    pub port: Option<u16>,
    /// PostgreSQL role; the client's default (the OS user) when absent.
    pub user: Option<Spanned<String>>,
    /// Where `psql`, `pg_dump` and `pg_restore` are on the host; its `PATH` when absent.
    pub pg_bin_dir: Option<PathBuf>,
    /// The environment variable holding the password.
    pub password_env: Option<Spanned<String>>,
    /// A file holding the password.
    pub password_file: Option<Spanned<PathBuf>>,
    /// Present only to refuse it with a clear message.
    pub password: Option<Spanned<toml::Value>>,
    /// Take `db_host`, `db_port`, `db_user` and `db_password` from the Odoo config file on
    /// the host (`odoo.config`), read when needed and never copied anywhere.
    pub from_odoo_config: Option<Spanned<bool>>,
    /// More databases served by the same Odoo (a fleet), deployed with `name`, each with
    /// its own change set, snapshot and verification (see [`crate::fleet`]).
    pub names: Option<Vec<Spanned<String>>>,
    /// Databases of the cluster whose names match this pattern join the fleet (`*` any
    /// run of characters, `?` one), found when the plan is made.
    pub pattern: Option<Spanned<String>>,
    /// Names (or patterns) the fleet leaves out.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    /// How many databases of a fleet may fail (each restored from its own snapshot while
    /// the others keep their update) before the rest stop and the whole deploy rolls
    /// back; `0` (the default): any failure rolls the fleet back.
    pub max_failed: Option<Spanned<u32>>,
    /// How many databases of a fleet are updated at once (`--jobs` overrides it); absent:
    /// chosen from the host's cores and memory.
    pub jobs: Option<Spanned<u32>>,
}

impl DatabaseConfig {
    /// Whether the connection settings come from the host's Odoo config file.
    pub fn from_odoo_config(&self) -> bool {
        self.from_odoo_config.as_ref().is_some_and(|v| *v.get_ref())
    }

    /// Where the database password comes from.
    pub fn password(&self) -> SecretRef<'_> {
        SecretRef {
            env: self.password_env.as_ref(),
            file: self.password_file.as_ref(),
            text: self.password.as_ref(),
        }
    }
}

/// `[environments.NAME.http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Odoo's public base URL, e.g. `https://erp.example.com`; pages and health are read under it.
    pub base_url: Spanned<String>,
    /// The path of Odoo's health page, `/web/health` by default.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Seconds to wait for the health page to answer after a start (60 by default).
    #[serde(default = "default_health_timeout")]
    pub health_timeout_secs: u64,
}

fn default_health_path() -> String {
    "/web/health".to_owned()
}

fn default_health_timeout() -> u64 {
    60
}

/// `[environments.NAME.smoke]`: the fixed smoke test.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeConfig {
    /// Pages fetched after every deploy.
    #[serde(default)]
    pub pages: Vec<PageCheck>,
    /// A JSON-RPC login and read after every deploy; none when absent.
    pub login: Option<LoginCheck>,
    /// Checks that run when the named module is installed or updated.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleChecks>,
}

/// A page that must answer.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageCheck {
    /// The page's path under `http.base_url`, e.g. `/web/login`.
    pub path: String,
    /// The HTTP status the page must answer with (200 by default).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Text the body must contain.
    pub contains: Option<String>,
}

fn default_status() -> u16 {
    200
}

/// A JSON-RPC login, then a read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginCheck {
    /// The user's login.
    pub login: String,
    /// The environment variable holding the password.
    pub password_env: Option<Spanned<String>>,
    /// A file holding the password.
    pub password_file: Option<Spanned<PathBuf>>,
    /// Present only to refuse it with a clear message.
    pub password: Option<Spanned<toml::Value>>,
    /// The model read after login.
    #[serde(default = "default_read_model")]
    pub read_model: String,
}

impl LoginCheck {
    /// Where the login's password comes from.
    pub fn password(&self) -> SecretRef<'_> {
        SecretRef {
            env: self.password_env.as_ref(),
            file: self.password_file.as_ref(),
            text: self.password.as_ref(),
        }
    }
}

fn default_read_model() -> String {
    "res.users".to_owned()
}

/// Checks attached to one module.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleChecks {
    /// Pages fetched after the module changed.
    #[serde(default)]
    pub pages: Vec<PageCheck>,
    /// Models that must be readable after the module changed.
    #[serde(default)]
    pub read_models: Vec<String>,
}

/// `[environments.NAME.window]`: when deploys may start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Offset of the clock the rules are written in, e.g. `+01:00`; UTC when absent.
    pub utc_offset: Option<Spanned<String>>,
    /// Periods in which a deploy is refused.
    #[serde(default)]
    pub deny: Vec<Spanned<DenyRule>>,
}

/// One period in which deploys are refused: on `days` (all days when empty), from
/// `from` until `to` (`HH:MM`, `to` may be `24:00`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DenyRule {
    /// Days the rule applies to (`mon` … `sun`); every day when empty.
    #[serde(default)]
    pub days: Vec<String>,
    /// Start of the period, `HH:MM` in the window's clock.
    pub from: String,
    /// End of the period, `HH:MM` (`24:00` for the end of the day), excluded.
    pub to: String,
    /// Said when the rule refuses a deploy.
    pub reason: Option<String>,
}

/// `[environments.NAME.backup]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where dumps are written on the host; `<deploy_dir>/backups` when absent.
    pub dir: Option<PathBuf>,
    /// Snapshots kept on the host (3 by default); older ones are pruned after a deploy.
    #[serde(default = "default_keep")]
    pub keep_snapshots: u32,
    /// Portable dumps kept on the host (3 by default); older ones are pruned after a deploy.
    #[serde(default = "default_keep")]
    pub keep_dumps: u32,
    /// Take a portable dump too before each deploy (a snapshot is always taken).
    #[serde(default)]
    pub dump_before_deploy: bool,
    /// Restore every dump into a scratch database and compare row counts.
    #[serde(default)]
    pub restore_test: bool,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: None,
            keep_snapshots: default_keep(),
            keep_dumps: default_keep(),
            dump_before_deploy: false,
            restore_test: false,
        }
    }
}

fn default_keep() -> u32 {
    3
}

/// `[environments.NAME.notify]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The environment variable holding the webhook URL (URLs often embed a token).
    pub webhook_env: Option<Spanned<String>>,
}

/// Where a secret comes from, as written: `password_env = "VAR"` or `password_file = "path"`
/// (and `password = "…"`, kept only to refuse it).
#[derive(Debug, Clone, Copy)]
pub struct SecretRef<'a> {
    /// `…_env = "VAR"`: the environment variable named.
    pub env: Option<&'a Spanned<String>>,
    /// `…_file = "path"`: the file named.
    pub file: Option<&'a Spanned<PathBuf>>,
    /// The secret written as text in odd.toml, kept only to refuse it.
    pub text: Option<&'a Spanned<toml::Value>>,
}

/// A resolved source of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The secret is the value of this environment variable.
    Env(String),
    /// The secret is the content of this file (trailing line breaks dropped).
    File(PathBuf),
}

/// A problem in `odd.toml`, pointing at the text.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    #[diagnostic(code(odd::config::read))]
    Read {
        /// The file odd tried to read.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid TOML, or does not match odd.toml's schema.
    #[error("{message}")]
    #[diagnostic(code(odd::config::syntax))]
    Syntax {
        /// What is wrong.
        message: String,
        /// The text of the file, to point into.
        #[source_code]
        src: Arc<NamedSource<String>>,
        /// Where in the text, when known.
        #[label("here")]
        span: Option<SourceSpan>,
        /// How to fix it, when odd knows.
        #[help]
        help: Option<String>,
    },

    /// A value is well-formed but not acceptable (an unknown name, an impossible setting).
    #[error("{message}")]
    #[diagnostic(code(odd::config::invalid))]
    Invalid {
        /// What is wrong.
        message: String,
        /// The text of the file, to point into.
        #[source_code]
        src: Arc<NamedSource<String>>,
        /// Where in the text.
        #[label("{label}")]
        span: SourceSpan,
        /// What the label at `span` says.
        label: String,
        /// How to fix it, when odd knows.
        #[help]
        help: Option<String>,
    },

    /// Several problems found at once, all reported together.
    #[error("{path} has {} problems", problems.len())]
    #[diagnostic(code(odd::config::many))]
    Many {
        /// The file they were found in.
        path: PathBuf,
        /// Each problem.
        #[related]
        problems: Vec<ConfigError>,
    },

    /// A secret odd.toml names cannot be read (variable unset, file missing).
    #[error("secret not available: {message}")]
    #[diagnostic(code(odd::config::secret))]
    Secret {
        /// Which secret and why.
        message: String,
        /// The text of the file, to point into.
        #[source_code]
        src: Arc<NamedSource<String>>,
        /// Where the secret is named.
        #[label("named here")]
        span: SourceSpan,
        /// How to fix it, when odd knows.
        #[help]
        help: Option<String>,
    },
}

/// A parsed `odd.toml` with the text it came from, so later errors can point into it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The parsed configuration.
    pub config: Config,
    /// The path it was read from.
    pub path: PathBuf,
    /// Its text, for diagnostics that point into it.
    pub source: String,
}

impl LoadedConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, source)
    }

    /// Parses and validates `source` as if read from `path`.
    pub fn parse(path: &Path, source: String) -> Result<Self, ConfigError> {
        let config: Config =
            toml::from_str(&source).map_err(|err| syntax_error(path, &source, &err))?;
        let loaded = Self {
            config,
            path: path.to_owned(),
            source,
        };
        let mut problems = loaded.validate();
        match problems.len() {
            0 => Ok(loaded),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Many {
                path: path.to_owned(),
                problems,
            }),
        }
    }

    /// The environment called `name`, or an error listing the known ones.
    pub fn environment(&self, name: &str) -> Result<&Environment, UnknownEnvironment> {
        self.config
            .environments
            .get(name)
            .map(Spanned::get_ref)
            .ok_or_else(|| UnknownEnvironment {
                name: name.to_owned(),
                help: suggestion(name, self.config.environments.keys().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| {
                        let known: Vec<_> = self.config.environments.keys().cloned().collect();
                        Some(format!("environments in odd.toml: {}", known.join(", ")))
                    }),
            })
    }

    /// Resolves a secret named in the file; the error points at where it was named.
    pub fn resolve_secret(&self, secret: SecretRef<'_>) -> Result<Option<Secret>, ConfigError> {
        if let Some(var) = secret.env {
            return match std::env::var(var.get_ref()) {
                Ok(value) => Ok(Some(Secret::new(value))),
                Err(_) => Err(ConfigError::Secret {
                    message: format!("environment variable `{}` is not set", var.get_ref()),
                    src: self.named_source(),
                    span: span_of(var),
                    help: Some(format!(
                        "export {}=… before running odd, or use password_file",
                        var.get_ref()
                    )),
                }),
            };
        }
        if let Some(file) = secret.file {
            let path = self.relative(file.get_ref());
            return match std::fs::read_to_string(&path) {
                Ok(value) => Ok(Some(Secret::new(value.trim_end_matches(['\n', '\r'])))),
                Err(err) => Err(ConfigError::Secret {
                    message: format!("cannot read {}: {err}", path.display()),
                    src: self.named_source(),
                    span: span_of(file),
                    help: None,
                }),
            };
        }
        Ok(None)
    }

    /// A path from the file, taken relative to the file's directory.
    pub fn relative(&self, path: &Path) -> PathBuf {
        match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
    }

    fn named_source(&self) -> Arc<NamedSource<String>> {
        Arc::new(NamedSource::new(
            self.path.display().to_string(),
            self.source.clone(),
        ))
    }

    pub(crate) fn invalid<T>(
        &self,
        at: &Spanned<T>,
        message: String,
        label: &str,
        help: Option<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            message,
            src: self.named_source(),
            span: span_of(at),
            label: label.to_owned(),
            help,
        }
    }

    fn validate(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        let series = self.config.project.series.get_ref();
        if !is_series(series) {
            problems.push(self.invalid(
                &self.config.project.series,
                format!("`{series}` is not an Odoo series"),
                "expected MAJOR.MINOR",
                Some("write the series as Odoo does, e.g. \"18.0\"".to_owned()),
            ));
        }
        if self.config.project.addons_paths.is_empty() {
            problems.push(ConfigError::Invalid {
                message: "no addons paths".to_owned(),
                src: self.named_source(),
                span: (0, 0).into(),
                label: "in [project]".to_owned(),
                help: Some(
                    "list the directories that hold addons: addons_paths = [\"addons\"]".to_owned(),
                ),
            });
        }
        for module in &self.config.project.required_modules {
            if module.get_ref().contains(',') || module.get_ref().starts_with('-') {
                problems.push(self.invalid(
                    module,
                    format!(
                        "`{}` is not a module name: Odoo splits -i and -u on `,`",
                        module.get_ref()
                    ),
                    "one module per string",
                    None,
                ));
            }
        }
        let names: Vec<&str> = self
            .config
            .environments
            .keys()
            .map(String::as_str)
            .collect();
        for (name, env) in &self.config.environments {
            self.validate_environment(name, env, &names, &mut problems);
        }
        if let Some(test) = &self.config.test {
            self.validate_test(test, &mut problems);
        }

        crate::lint::validate(self, &mut problems);

        if let Some(image) = &self.config.image {
            let repository = &image.get_ref().repository;
            if let Err(why) = crate::image::check_repository(repository.get_ref()) {
                problems.push(self.invalid(
                    repository,
                    format!("`{}` is not an image repository: {why}", repository.get_ref()),
                    "this repository",
                    Some(
                        "write it as Docker does: lowercase, e.g. \"registry.example.com:5000/acme/odoo\" (no tag)"
                            .to_owned(),
                    ),
                ));
            }
        }
        problems
    }

    fn validate_environment(
        &self,
        name: &str,
        spanned: &Spanned<Environment>,
        names: &[&str],
        problems: &mut Vec<ConfigError>,
    ) {
        let env = spanned.get_ref();
        self.validate_fleet(name, spanned, problems);
        if env.transport == TransportKind::Ssh && env.host.is_none() && env.hosts.is_empty() {
            problems.push(self.invalid(
                spanned,
                format!("environment `{name}` uses transport \"ssh\" but has no [environments.{name}.host]"),
                "this environment",
                Some("add a host table with at least `address`".to_owned()),
            ));
        }
        if let Some(host) = &env.host {
            let h = host.get_ref();
            for (what, value) in [("address", Some(&h.address)), ("user", h.user.as_ref())] {
                if let Some(value) = value
                    && is_bad_ssh_word(value)
                {
                    problems.push(self.invalid(
                        host,
                        format!("`{what} = {value:?}` is empty, has spaces or starts with `-` (ssh would read it as an option)"),
                        "this host",
                        None,
                    ));
                }
            }
            if let Some(jump) = &h.jump
                && is_bad_jump(jump)
            {
                problems.push(self.invalid(
                    host,
                    format!("`jump = {jump:?}` {BAD_JUMP}"),
                    "this host",
                    Some(JUMP_HELP.to_owned()),
                ));
            }
            let secs = host.get_ref().reconnect_for_secs;
            let stale = crate::lock::HEARTBEAT_STALE_AFTER.as_secs();
            if secs >= stale {
                problems.push(self.invalid(
                    host,
                    format!("`reconnect_for_secs = {secs}` is not below {stale} s"),
                    "this host",
                    Some(format!(
                        "a run that cannot write its lock's heartbeat for {stale} s may be taken over; odd gives the host up sooner and `odd deploy ENV --resume` goes on later"
                    )),
                ));
            }
        }
        if let Some(requires) = &env.requires {
            let required = requires.get_ref();
            if required == name {
                problems.push(self.invalid(
                    requires,
                    format!("environment `{name}` requires itself"),
                    "here",
                    None,
                ));
            } else if !names.contains(&required.as_str()) {
                problems.push(
                    self.invalid(
                        requires,
                        format!("`requires` names an unknown environment `{required}`"),
                        "not an environment",
                        suggestion(required, names.iter().copied())
                            .map(|s| format!("did you mean `{s}`?")),
                    ),
                );
            }
        }
        self.validate_refresh(name, env, names, problems);
        if env.odoo.command.get_ref().is_empty() {
            problems.push(self.invalid(
                &env.odoo.command,
                "the odoo command is empty".to_owned(),
                "empty",
                None,
            ));
        }
        self.validate_service(&env.service, problems);
        for (point, argv) in env.hooks.spanned() {
            if argv.get_ref().first().is_none_or(String::is_empty) {
                problems.push(self.invalid(
                    argv,
                    format!("the {} hook's command is empty", point.key()),
                    "empty",
                    Some(
                        "give the argv to run, e.g. [\"./scripts/notify\", \"started\"]".to_owned(),
                    ),
                ));
            }
        }
        self.validate_host_values(name, spanned, problems);
        if let Some(flag) = &env.database.from_odoo_config
            && *flag.get_ref()
            && env.odoo.config.is_none()
        {
            problems.push(
                self.invalid(
                    flag,
                    "`from_odoo_config` needs Odoo's config file".to_owned(),
                    "no odoo.config",
                    Some(
                        "set `config = \"/etc/odoo/odoo.conf\"` in this environment's [odoo] table"
                            .to_owned(),
                    ),
                ),
            );
        }
        for path in &env.installation.addons_paths {
            if path.get_ref().is_relative() {
                problems.push(self.invalid(
                    path,
                    format!("host addons path `{}` is relative", path.get_ref().display()),
                    "not absolute",
                    Some("host paths are absolute; the repository's own folders go in [project] addons_paths".to_owned()),
                ));
            }
        }
        self.validate_secret(env.database.password(), problems);
        if let Some(login) = &env.smoke.login {
            self.validate_secret(login.password(), problems);
        }
        if let Some(user) = &env.database.user
            && user.get_ref() == "postgres"
        {
            problems.push(self.invalid(
                user,
                "Odoo refuses to run as the `postgres` role".to_owned(),
                "database superuser",
                Some("create a dedicated role for Odoo, e.g. `odoo`".to_owned()),
            ));
        }
        let base_url = env.http.base_url.get_ref();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            problems.push(self.invalid(
                &env.http.base_url,
                format!("`{base_url}` is not an http(s) URL"),
                "expected http:// or https://",
                None,
            ));
        }
        if let Some(offset) = &env.window.utc_offset
            && crate::window::parse_offset(offset.get_ref()).is_none()
        {
            problems.push(self.invalid(
                offset,
                format!("`{}` is not a UTC offset", offset.get_ref()),
                "expected +HH:MM or -HH:MM",
                None,
            ));
        }
        for rule in &env.window.deny {
            if let Err(message) = crate::window::Rule::try_from(rule.get_ref()) {
                problems.push(self.invalid(
                    rule,
                    message,
                    "this rule",
                    Some("days are mon..sun, times HH:MM (to may be 24:00)".to_owned()),
                ));
            }
        }
    }

    fn validate_refresh(
        &self,
        name: &str,
        env: &Environment,
        names: &[&str],
        problems: &mut Vec<ConfigError>,
    ) {
        use crate::refresh::settings::{is_identifier, table_of};
        let refresh = &env.refresh;
        if let Some(from) = &refresh.from {
            let source = from.get_ref();
            if source == name {
                problems.push(self.invalid(
                    from,
                    format!("environment `{name}` is refreshed from itself"),
                    "here",
                    None,
                ));
            } else if !names.contains(&source.as_str()) {
                problems.push(
                    self.invalid(
                        from,
                        format!("`refresh.from` names an unknown environment `{source}`"),
                        "not an environment",
                        suggestion(source, names.iter().copied())
                            .map(|s| format!("did you mean `{s}`?")),
                    ),
                );
            }
        }
        if let Some(var) = &refresh.seed_env
            && !crate::command::is_env_name(var.get_ref())
        {
            problems.push(self.invalid(
                var,
                format!("`{}` is not an environment variable name", var.get_ref()),
                "expected [A-Za-z_][A-Za-z0-9_]*",
                None,
            ));
        }
        for rule in &refresh.anonymise {
            let r = rule.get_ref();
            if table_of(&r.model).is_none() || !is_identifier(&r.field) {
                problems.push(self.invalid(
                    rule,
                    format!("`{}`.`{}` is not a model and field odd can name in SQL", r.model, r.field),
                    "this rule",
                    Some("models are like `res.partner`, fields like `email`: lowercase letters, digits, `_`".to_owned()),
                ));
            }
        }
    }

    fn validate_service(&self, service: &Spanned<ServiceConfig>, problems: &mut Vec<ConfigError>) {
        let s = service.get_ref();
        let missing: &[(&str, bool)] = match s.strategy.get_ref() {
            Strategy::Systemd => &[("unit", s.unit.is_some())],
            Strategy::Compose => &[
                ("compose_service", s.compose_service.is_some()),
                ("compose_file", s.compose_file.is_some()),
            ],
            Strategy::Command => &[
                ("start", s.start.as_ref().is_some_and(|v| !v.is_empty())),
                ("stop", s.stop.as_ref().is_some_and(|v| !v.is_empty())),
                ("status", s.status.as_ref().is_some_and(|v| !v.is_empty())),
            ],
        };
        if s.logs.as_ref().is_some_and(Vec::is_empty) {
            problems.push(self.invalid(
                &s.strategy,
                "`logs` is an empty command".to_owned(),
                "this service",
                Some("give the argv that prints Odoo's log, or remove `logs`".to_owned()),
            ));
        }
        for (key, present) in missing {
            if !present {
                problems.push(self.invalid(
                    &s.strategy,
                    format!("strategy {:?} needs `{key}`", s.strategy.get_ref()),
                    "this strategy",
                    Some(format!("add `{key} = …` to this [service] table")),
                ));
            }
        }
    }

    /// What odd passes to the host's programs and uses as paths there: host paths are
    /// absolute and not `/` (prune removes `<backup dir>/<id>`), unit and service names
    /// do not start with `-` (read as options), database and module names hold no `,`
    /// (Odoo splits `-d` and `-u` on commas).
    fn validate_host_values(
        &self,
        name: &str,
        spanned: &Spanned<Environment>,
        problems: &mut Vec<ConfigError>,
    ) {
        let env = spanned.get_ref();
        let within = self.environment_text(name, spanned.span());
        let paths = [
            ("data_dir", Some(&env.odoo.data_dir)),
            ("deploy_dir", Some(&env.odoo.deploy_dir)),
            ("config", env.odoo.config.as_ref()),
            ("log_file", env.odoo.log_file.as_ref()),
            ("dir", env.backup.dir.as_ref()),
            ("pg_bin_dir", env.database.pg_bin_dir.as_ref()),
            ("compose_file", env.service.get_ref().compose_file.as_ref()),
        ];
        for (key, path) in paths {
            let Some(path) = path else { continue };
            let problem = if !path.is_absolute() {
                Some("is not an absolute path")
            } else if path.parent().is_none() {
                Some("is the root folder")
            } else {
                None
            };
            if let Some(problem) = problem {
                problems.push(self.invalid_key(
                    within.clone(),
                    key,
                    format!("`{key} = {:?}` {problem}", path.display().to_string()),
                    Some("write the full path of a folder of its own on the host, e.g. \"/opt/odd/acme\"".to_owned()),
                ));
            }
        }
        let service = env.service.get_ref();
        for (key, name) in [
            ("unit", service.unit.as_ref()),
            ("compose_service", service.compose_service.as_ref()),
        ] {
            if let Some(name) = name
                && (name.is_empty() || name.starts_with('-'))
            {
                problems.push(self.invalid_key(
                    within.clone(),
                    key,
                    format!("`{key} = {name:?}` is empty or starts with `-`, which programs read as an option"),
                    None,
                ));
            }
        }
        for name in service.compose_services_with.iter().flatten() {
            if !crate::compose::is_service_name(name) {
                problems.push(self.invalid_key(
                    within.clone(),
                    "compose_services_with",
                    format!("`{name:?}` is not a compose service name"),
                    Some("letters, digits, `_`, `-` and `.`, not first".to_owned()),
                ));
            }
        }
        crate::databases::validate(self, &env.database, problems);
        let db = &env.database.name;
        if let Err(e) = crate::untrusted::database(db.get_ref()) {
            problems.push(self.invalid(
                db,
                format!(
                    "`{}` cannot be a database name here: {}",
                    db.get_ref(),
                    e.reason
                ),
                "this name",
                None,
            ));
        }
    }

    /// The text of environment `name`: from its header (where `span` starts) to the
    /// header of another table that is not one of its own (`[environments.NAME.host]`).
    fn environment_text(&self, name: &str, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let start = span.start.min(self.source.len());
        let mut end = self.source.len();
        let mut at = span.end.clamp(start, self.source.len());
        while let Some(i) = self.source.get(at..).and_then(|t| t.find("\n[")) {
            let header = &self.source[at + i + 1..];
            let own = header
                .strip_prefix("[environments.")
                .and_then(|h| h.strip_prefix(name))
                .is_some_and(|h| h.starts_with('.') || h.starts_with(']'));
            if !own {
                end = at + i + 1;
                break;
            }
            at += i + 2;
        }
        start..end
    }

    /// A problem with `key` inside `within` (an environment's text): points at the key.
    fn invalid_key(
        &self,
        within: std::ops::Range<usize>,
        key: &str,
        message: String,
        help: Option<String>,
    ) -> ConfigError {
        let text = self.source.get(within.clone()).unwrap_or("");
        let found = regex::Regex::new(&format!(r"(?m)(?:^|[\s{{,.])({})\s*=", regex::escape(key)))
            .ok()
            .and_then(|re| re.captures(text))
            .and_then(|c| c.get(1));
        let span: SourceSpan = match found {
            Some(m) => (within.start + m.start(), m.len()).into(),
            None => (within.start, 0).into(),
        };
        ConfigError::Invalid {
            message,
            src: self.named_source(),
            span,
            label: "this value".to_owned(),
            help,
        }
    }

    fn validate_secret(&self, secret: SecretRef<'_>, problems: &mut Vec<ConfigError>) {
        if let Some(text) = secret.text {
            // The refusal goes to terminals and CI logs: it shows the line with the
            // value masked, and names the key only.
            let span = text.span();
            let mut masked = self.source.clone().into_bytes();
            for b in masked.get_mut(span.clone()).into_iter().flatten() {
                *b = b'*';
            }
            let masked = String::from_utf8(masked).unwrap_or_default();
            problems.push(ConfigError::Invalid {
                message: "`password` is written in odd.toml: passwords are never written there"
                    .to_owned(),
                src: Arc::new(NamedSource::new(self.path.display().to_string(), masked)),
                span: span_of(text),
                label: "secret in config text (not shown)".to_owned(),
                help: Some("use password_env = \"VAR\" (an environment variable) or password_file = \"path\"".to_owned()),
            });
        }
        if secret.env.is_some()
            && let Some(file) = secret.file
        {
            problems.push(self.invalid(
                file,
                "both password_env and password_file given".to_owned(),
                "choose one",
                None,
            ));
        }
    }
}

/// An environment name that `odd.toml` does not define.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("no environment `{name}` in odd.toml")]
#[diagnostic(code(odd::config::unknown_environment))]
pub struct UnknownEnvironment {
    /// The environment asked for.
    pub name: String,
    /// The environments that exist, or the closest name.
    #[help]
    pub help: Option<String>,
}

impl SecretRef<'_> {
    /// Where the secret comes from, if one is configured.
    pub fn source(&self) -> Option<SecretSource> {
        if let Some(var) = self.env {
            return Some(SecretSource::Env(var.get_ref().clone()));
        }
        self.file
            .map(|file| SecretSource::File(file.get_ref().clone()))
    }
}

fn is_series(text: &str) -> bool {
    let mut parts = text.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Why a `jump` is refused: it goes into `ssh -J`, which reads a leading `-` as an
/// option and a `,` as a second jump host.
const BAD_JUMP: &str = "is empty, has spaces or a `,`, or starts with `-` (ssh -J would read it as an option or as several hosts)";

/// What a `jump` looks like.
const JUMP_HELP: &str =
    "one jump host, `[user@]host[:port]`, e.g. \"admin@bastion.example.com:2222\"";

/// Whether ssh would read `value` (a host's address or user) as an option, or it is no
/// one word: empty, starting with `-`, or holding a space or a control character.
fn is_bad_ssh_word(value: &str) -> bool {
    value.is_empty()
        || value.starts_with('-')
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `jump` cannot be given to `ssh -J` as one `[user@]host[:port]`.
fn is_bad_jump(jump: &str) -> bool {
    let host = jump.rsplit_once('@').map_or(jump, |(_, host)| host);
    is_bad_ssh_word(jump) || host.is_empty() || host.starts_with('-') || jump.contains(',')
}

fn span_of<T>(spanned: &Spanned<T>) -> SourceSpan {
    let range = spanned.span();
    (range.start, range.end.saturating_sub(range.start)).into()
}

/// The closest of `candidates` to `word`, when close enough to be a likely typo.
pub fn suggestion<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn syntax_error(path: &Path, source: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().to_owned();
    let help = unknown_field_help(&message);
    ConfigError::Syntax {
        message,
        src: Arc::new(NamedSource::new(
            path.display().to_string(),
            source.to_owned(),
        )),
        span: err
            .span()
            .map(|r| (r.start, r.end.saturating_sub(r.start)).into()),
        help,
    }
}

/// serde says "unknown field `x`, expected one of `a`, `b`" (or "unknown variant");
/// turn the list into a "did you mean".
fn unknown_field_help(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    match suggestion(word, expected.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None if !expected.is_empty() => Some(format!("expected one of: {}", expected.join(", "))),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_suggests_the_closest_key() {
        let help =
            unknown_field_help("unknown field `adress`, expected one of `address`, `user`, `port`");
        assert_eq!(help.as_deref(), Some("did you mean `address`?"));
        let help = unknown_field_help(
            "unknown variant `sysd`, expected one of `systemd`, `compose`, `command`",
        );
        assert_eq!(help.as_deref(), Some("did you mean `systemd`?"));
        let help = unknown_field_help("unknown field `zzz`, expected `a` or `b`");
        assert_eq!(help.as_deref(), Some("expected one of: a, b"));
    }

    #[test]
    fn series_form() {
        assert!(is_series("18.0"));
        assert!(is_series("16.0"));
        assert!(!is_series("18"));
        assert!(!is_series("18.0.1"));
        assert!(!is_series("saas~17.1"));
    }
}
