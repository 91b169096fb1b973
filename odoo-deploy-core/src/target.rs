//! One environment, resolved: everything a plan or a deploy needs, with secrets read and
//! defaults applied, built once from `odd.toml` (and the environment) before anything runs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::backup::{BackupTarget, DbConn, PgTools, RetentionPolicy};
use crate::command::Secret;
use crate::config::{ConfigError, Environment, LoadedConfig, SmokeConfig, TransportKind};
use crate::installation::{self, InstallationError, InstallationSettings, PathEntry};
use crate::odoo::OdooBin;
use crate::odoo_conf::OdooConf;
use crate::release::Layout;
use crate::service::Service;
use crate::startup_log::StartupLog;
use crate::transport::Transport;
use toml::Spanned;

/// An environment ready to be planned and deployed.
#[derive(Debug, Clone)]
pub struct Target {
    /// The environment's name in odd.toml.
    pub environment: String,
    /// The host name shown in plans (`local` for the local transport).
    pub host: String,
    /// How the host is reached: this machine or SSH.
    pub transport: TransportKind,
    /// Where releases, `current`, ledger, lock and journal are on the host (`odoo.deploy_dir`).
    pub layout: Layout,
    /// How `odoo-bin` runs (its addons path is set per release).
    pub odoo: OdooBin,
    /// Addons paths relative to the project root (and so to a release directory).
    pub addons_paths: Vec<PathBuf>,
    /// How Odoo is stopped and started there.
    pub service: Service,
    /// How to reach the environment's database.
    pub db: DbConn,
    /// Where the PostgreSQL programs are on the host.
    pub pg: PgTools,
    /// Odoo's `data_dir` on the host (the filestore is under it).
    pub data_dir: PathBuf,
    /// Where backups are written on the host (`backup.dir`, else `<deploy_dir>/backups`).
    pub backup_dir: PathBuf,
    /// How many snapshots and dumps are kept.
    pub retention: RetentionPolicy,
    /// Take a portable dump too before each deploy.
    pub dump_before_deploy: bool,
    /// Restore every dump into a scratch database and compare row counts.
    pub restore_test: bool,
    /// Odoo's public base URL.
    pub base_url: String,
    /// The path of the health page.
    pub health_path: String,
    /// How long to wait for the health page after a start.
    pub health_timeout: Duration,
    /// How long the host may stay unreachable while a detached step runs there.
    pub reconnect_for: Duration,
    /// The checks run after a deploy.
    pub smoke: SmokeConfig,
    /// The smoke login's password, when a login check is configured.
    pub smoke_password: Option<Secret>,
    /// The project's Odoo series, e.g. `18.0`.
    pub series: String,
    /// Modules that must be installed (`project.required_modules`).
    pub required: BTreeSet<String>,
    /// Regular expressions of ERROR/CRITICAL log lines that do not fail a deploy.
    pub allow_log_errors: Vec<String>,
    /// Releases kept besides the current one.
    pub keep_releases: u32,
    /// Odoo's own log file on the host (`log_file`).
    pub odoo_log: Option<PathBuf>,
    /// Where the startup log is read from after a start (`None`: nowhere, and a plan
    /// fails its gates).
    pub startup_log: Option<StartupLog>,
    /// The deploy this environment must follow (`requires`).
    pub requires: Option<String>,
    /// Show the plan and ask before deploying.
    pub approval: bool,
    /// What the host provides besides the repository, as configured.
    pub installation: InstallationSettings,
    /// The configured addons path (after Odoo's own folders) in Odoo's order; the
    /// repository's folders only until [`Target::prepare`] read the host's config.
    pub addons_entries: Vec<PathEntry>,
    /// The host's Odoo config file, once [`Target::prepare`] read it.
    pub odoo_conf: Option<OdooConf>,
    /// What does not fit between `odd.toml` and the host (plan problems).
    pub installation_problems: Vec<String>,
    /// The operator's hooks (`[environments.NAME.hooks]`).
    pub hooks: crate::runbook::hooks::HooksConfig,
    /// `[image] repository`: the compose strategy runs `<repository>:sha-<12>`.
    pub image: Option<String>,
    /// The compose CLI is to be detected on the host (odd.toml names none).
    pub detect_compose: bool,
    /// In a fleet (`[[hosts]]`), the update host: this target's host, layout, service,
    /// `data_dir` and base URL are its own.
    pub fleet_update: Option<crate::fleet::FleetHost>,
    /// In a fleet, the other hosts (web, cron, workers).
    pub fleet: Vec<crate::fleet::FleetHost>,
    /// The other databases this Odoo serves, when the environment is a fleet
    /// (`names` or `pattern` in its `[database]` table).
    pub databases: Option<crate::databases::FleetSpec>,
}

impl Target {
    /// Resolves environment `name` of `loaded`, reading the secrets it names.
    pub fn resolve(
        loaded: &LoadedConfig,
        name: &str,
        env: &Environment,
    ) -> Result<Self, ConfigError> {
        let project = &loaded.config.project;
        let password = loaded.resolve_secret(env.database.password())?;
        let smoke_password = match &env.smoke.login {
            Some(login) => loaded.resolve_secret(login.password())?,
            None => None,
        };
        // In a fleet, the update host's own settings stand for the environment's.
        let fleet = crate::fleet::resolve(env);
        let update_host = env
            .hosts
            .iter()
            .map(Spanned::get_ref)
            .find(|h| h.has(crate::config::Role::Update));
        let deploy_dir = update_host
            .and_then(|h| h.deploy_dir.clone())
            .unwrap_or_else(|| env.odoo.deploy_dir.clone());
        let data_dir = update_host
            .and_then(|h| h.data_dir.clone())
            .unwrap_or_else(|| env.odoo.data_dir.clone());
        let service_config = update_host
            .and_then(|h| h.service.as_ref())
            .unwrap_or(&env.service);
        let base_url = update_host
            .and_then(|h| h.base_url.as_ref())
            .unwrap_or(&env.http.base_url)
            .get_ref()
            .clone();
        let layout = Layout::new(deploy_dir.clone());
        let current = layout.current();
        let compose =
            *service_config.get_ref().strategy.get_ref() == crate::config::Strategy::Compose;
        let backup_dir = env
            .backup
            .dir
            .clone()
            .unwrap_or_else(|| deploy_dir.join("backups"));
        let host = match (&env.transport, &env.host, update_host) {
            (TransportKind::Ssh, _, Some(h)) => h.address.clone(),
            (TransportKind::Ssh, Some(host), None) => host.get_ref().address.clone(),
            _ => "local".to_owned(),
        };
        Ok(Self {
            environment: name.to_owned(),
            host,
            transport: env.transport,
            layout,
            odoo: OdooBin {
                command: env.odoo.command.get_ref().clone(),
                config: env.odoo.config.clone(),
                addons_path: Vec::new(),
                // In a container, data_dir is the host side of a bind mount: the image's
                // Odoo config names its own side.
                data_dir: (!compose).then(|| data_dir.clone()),
                without_demo: None,
            },
            addons_paths: project
                .addons_paths
                .iter()
                .map(|p| PathBuf::from(p.get_ref()))
                .collect(),
            addons_entries: project
                .addons_paths
                .iter()
                .map(|p| PathEntry::Repository(PathBuf::from(p.get_ref())))
                .collect(),
            installation: InstallationSettings::from_config(env),
            odoo_conf: None,
            installation_problems: Vec::new(),
            hooks: env.hooks.clone(),
            service: {
                let mut service = Service::from_config(service_config.get_ref());
                if let Service::Compose { image_file, .. } = &mut service
                    && loaded.config.image.is_some()
                {
                    *image_file = Some(current.join(crate::compose::IMAGE_FILE));
                }
                service
            },
            image: loaded
                .config
                .image
                .as_ref()
                .map(|i| i.get_ref().repository.get_ref().clone()),
            detect_compose: compose && service_config.get_ref().compose_command.is_none(),
            databases: crate::databases::FleetSpec::from_config(&env.database),
            db: DbConn {
                name: env.database.name.get_ref().clone(),
                host: env.database.host.clone(),
                port: env.database.port,
                user: env.database.user.as_ref().map(|u| u.get_ref().clone()),
                password,
            },
            pg: PgTools {
                bin_dir: env.database.pg_bin_dir.clone(),
            },
            data_dir,
            backup_dir,
            retention: RetentionPolicy::from(&env.backup),
            dump_before_deploy: env.backup.dump_before_deploy,
            restore_test: env.backup.restore_test,
            base_url,
            health_path: env.http.health_path.clone(),
            health_timeout: Duration::from_secs(env.http.health_timeout_secs),
            reconnect_for: Duration::from_secs(update_host.map_or_else(
                || {
                    env.host
                        .as_ref()
                        .map_or(45, |h| h.get_ref().reconnect_for_secs)
                },
                |h| h.reconnect_for_secs,
            )),
            smoke: env.smoke.clone(),
            smoke_password,
            series: project.series.get_ref().clone(),
            required: project
                .required_modules
                .iter()
                .map(|m| m.get_ref().clone())
                .collect(),
            allow_log_errors: env
                .allow_log_errors
                .iter()
                .map(|p| p.get_ref().clone())
                .collect(),
            keep_releases: env.odoo.keep_releases,
            odoo_log: env.odoo.log_file.clone(),
            startup_log: StartupLog::from_config(
                env.odoo.log_file.as_ref(),
                service_config.get_ref(),
            ),
            requires: env.requires.as_ref().map(|r| r.get_ref().clone()),
            approval: env.approval,
            fleet_update: fleet.as_ref().map(|(update, _)| update.clone()),
            fleet: fleet.map(|(_, others)| others).unwrap_or_default(),
        })
    }

    /// The backup settings of this environment, for the deployed `commit`.
    pub fn backup_target(&self, commit: Option<&str>) -> BackupTarget {
        BackupTarget {
            environment: self.environment.clone(),
            database: self.db.clone(),
            data_dir: self.data_dir.clone(),
            backup_dir: self.backup_dir.clone(),
            pg_bin_dir: self.pg.bin_dir.clone(),
            commit: commit.map(str::to_owned),
            series: Some(self.series.clone()),
        }
    }

    /// `odoo-bin` with the addons path of release `id`: the configured entries in
    /// Odoo's order, the repository's folders inside the release (Odoo adds its own
    /// folders itself).
    pub fn odoo_for_release(&self, id: &str) -> OdooBin {
        if matches!(self.service, Service::Compose { .. }) {
            // The addons are in the image, where its own Odoo config names them.
            return OdooBin {
                without_demo: Some(!self.installation.demo),
                ..self.odoo.clone()
            };
        }
        let root = self.layout.release(id);
        OdooBin {
            addons_path: self
                .addons_entries
                .iter()
                .map(|e| match e {
                    PathEntry::Host(p) => p.clone(),
                    PathEntry::Repository(p) => root.join(p),
                })
                .collect(),
            without_demo: Some(!self.installation.demo),
            ..self.odoo.clone()
        }
    }

    /// Reads what the host's Odoo config file says, when the environment uses it, and
    /// applies it: the database connection (`from_odoo_config`), the configured addons
    /// path, and the checks of `data_dir` and `addons_path` against `odd.toml`. The
    /// config's values stay on the host side: the password is held as a secret and the
    /// target keeps no copy of the file's text unmasked.
    pub async fn prepare(&mut self, transport: &dyn Transport) -> Result<(), InstallationError> {
        let mut problems = Vec::new();
        if self.detect_compose {
            self.detect_compose = false;
            let found = transport
                .output(&crate::compose::detect_command())
                .await
                .ok()
                .and_then(|o| crate::compose::parse_detected(&o.stdout));
            match found {
                Some(detected) => {
                    if let Service::Compose { cli, .. } = &mut self.service {
                        cli.clone_from(&detected);
                    }
                    if let Some(StartupLog::Compose { cli, .. }) = &mut self.startup_log {
                        *cli = detected;
                    }
                }
                None => problems.push(
                    "neither `docker compose` (v2) nor `docker-compose` (v1) runs on the host: \
                     install one, or name it with `compose_command` in [service]"
                        .to_owned(),
                ),
            }
        }
        let mut found_one_off = None;
        if let Service::Compose {
            service,
            file,
            cli,
            image_file,
            ..
        } = &self.service
        {
            // The filestore odd snapshots must be the one the container writes.
            let mut base = crate::service::argv(cli);
            if let Some(file) = file {
                base = base.arg("-f").arg(file);
            }
            let out = transport
                .output(&crate::compose::inspect_command(
                    &base,
                    image_file.as_deref(),
                    service,
                ))
                .await?;
            let mut one_off = None;
            match crate::compose::Inspection::parse(&out.stdout) {
                Ok(found) => {
                    if let Err(why) = found.judge_mounts(&self.data_dir) {
                        problems.push(why);
                    }
                    // The update's one-off container as the service's, run by the engine's
                    // own client; else by compose (`why` is not a problem: compose runs it).
                    match found.one_off() {
                        Ok(o) => one_off = Some(o),
                        Err(why) => tracing::debug!("the update runs with compose run: {why}"),
                    }
                }
                Err(why) => problems.push(why),
            }
            found_one_off = one_off;
            if self.image.is_none() {
                problems.push(
                    "the compose strategy runs the image of the commit: add [image] with its `repository` to odd.toml"
                        .to_owned(),
                );
            }
        }
        if let Service::Compose { one_off, .. } = &mut self.service {
            *one_off = found_one_off;
        }
        let conf = match installation::read_conf(
            &self.installation,
            self.odoo.config.as_deref(),
            transport,
        )
        .await
        {
            Ok(conf) => conf,
            // Without the database settings from it nothing can connect: an error. Else a
            // plan problem, so `odd status` and `odd rollback` still work.
            Err(err) if !self.installation.db_from_odoo_config => {
                problems.push(format!(
                    "{err}: odd reads it for addons_path and data_dir (fix it, or set `installation = {{ use_odoo_config = false }}`)"
                ));
                None
            }
            Err(err) => return Err(err),
        };
        if let Some(conf) = &conf {
            if self.installation.db_from_odoo_config {
                let (db, found) = installation::conf_database(conf);
                problems.extend(found);
                if db.host.is_some() {
                    self.db.host = db.host;
                }
                if db.port.is_some() {
                    self.db.port = db.port;
                }
                if db.user.is_some() {
                    self.db.user = db.user;
                }
                if db.password.is_some() {
                    self.db.password = db.password;
                }
            }
            if self.installation.read_host
                && self.installation.use_odoo_config
                && let Some(data_dir) = conf.data_dir()
                && data_dir != self.data_dir
            {
                problems.push(format!(
                    "data_dir in {} is {}, odd.toml says {}: odd would snapshot another filestore than the one Odoo writes",
                    conf.path.display(),
                    data_dir.display(),
                    self.data_dir.display()
                ));
            }
        }
        if self.installation.read_host {
            let prepared = installation::configured_entries(
                &self.installation,
                conf.as_ref(),
                &self.addons_paths,
                &self.layout.current(),
            );
            problems.extend(prepared.problems);
            self.addons_entries = prepared.entries;
        }
        self.installation_problems = problems;
        self.odoo_conf = conf;
        Ok(())
    }
}
