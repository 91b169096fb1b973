//! One environment, resolved: everything a plan or a deploy needs, with secrets read and
//! defaults applied, built once from `odd.toml` (and the environment) before anything runs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::backup::{BackupTarget, DbConn, PgTools, RetentionPolicy};
use crate::command::Secret;
use crate::config::{ConfigError, Environment, LoadedConfig, SmokeConfig, TransportKind};
use crate::odoo::OdooBin;
use crate::release::Layout;
use crate::service::Service;
use crate::startup_log::StartupLog;

/// An environment ready to be planned and deployed.
#[derive(Debug, Clone)]
pub struct Target {
    pub environment: String,
    /// The host name shown in plans (`local` for the local transport).
    pub host: String,
    pub transport: TransportKind,
    pub layout: Layout,
    /// How `odoo-bin` runs (its addons path is set per release).
    pub odoo: OdooBin,
    /// Addons paths relative to the project root (and so to a release directory).
    pub addons_paths: Vec<PathBuf>,
    pub service: Service,
    pub db: DbConn,
    pub pg: PgTools,
    pub data_dir: PathBuf,
    pub backup_dir: PathBuf,
    pub retention: RetentionPolicy,
    pub dump_before_deploy: bool,
    pub restore_test: bool,
    pub base_url: String,
    pub health_path: String,
    pub health_timeout: Duration,
    /// How long the host may stay unreachable while a detached step runs there.
    pub reconnect_for: Duration,
    pub smoke: SmokeConfig,
    /// The smoke login's password, when a login check is configured.
    pub smoke_password: Option<Secret>,
    pub series: String,
    pub required: BTreeSet<String>,
    pub allow_log_errors: Vec<String>,
    pub keep_releases: u32,
    /// Odoo's own log file on the host (`log_file`).
    pub odoo_log: Option<PathBuf>,
    /// Where the startup log is read from after a start (`None`: nowhere, and a plan
    /// fails its gates).
    pub startup_log: Option<StartupLog>,
    /// The deploy this environment must follow (`requires`).
    pub requires: Option<String>,
    pub approval: bool,
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
        let layout = Layout::new(env.odoo.deploy_dir.clone());
        let backup_dir = env
            .backup
            .dir
            .clone()
            .unwrap_or_else(|| env.odoo.deploy_dir.join("backups"));
        let host = match (&env.transport, &env.host) {
            (TransportKind::Ssh, Some(host)) => host.get_ref().address.clone(),
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
                data_dir: Some(env.odoo.data_dir.clone()),
            },
            addons_paths: project
                .addons_paths
                .iter()
                .map(|p| PathBuf::from(p.get_ref()))
                .collect(),
            service: Service::from_config(env.service.get_ref()),
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
            data_dir: env.odoo.data_dir.clone(),
            backup_dir,
            retention: RetentionPolicy::from(&env.backup),
            dump_before_deploy: env.backup.dump_before_deploy,
            restore_test: env.backup.restore_test,
            base_url: env.http.base_url.get_ref().clone(),
            health_path: env.http.health_path.clone(),
            health_timeout: Duration::from_secs(env.http.health_timeout_secs),
            reconnect_for: Duration::from_secs(
                env.host
                    .as_ref()
                    .map_or(45, |h| h.get_ref().reconnect_for_secs),
            ),
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
            startup_log: StartupLog::from_config(env.odoo.log_file.as_ref(), env.service.get_ref()),
            requires: env.requires.as_ref().map(|r| r.get_ref().clone()),
            approval: env.approval,
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

    /// `odoo-bin` with the addons paths of release `id`.
    pub fn odoo_for_release(&self, id: &str) -> OdooBin {
        let root = self.layout.release(id);
        OdooBin {
            addons_path: self.addons_paths.iter().map(|p| root.join(p)).collect(),
            ..self.odoo.clone()
        }
    }
}
