//! `[test]`: how `odd test` reaches Odoo and PostgreSQL on the machine it runs on (a CI
//! runner, a laptop), apart from every environment: the tests never touch a server odd
//! deploys to.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, LoadedConfig, SecretRef};

/// `[test]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    /// The argv that runs `odoo-bin` here, e.g. `["/opt/odoo/venv/bin/python",
    /// "/opt/odoo/odoo-bin"]` or `["odoo"]`.
    pub odoo_command: Spanned<Vec<String>>,
    /// Odoo's own addons folder (`base`, `web`, …). Default: `odoo/addons` next to the
    /// command's last word when it is a file there (an Odoo checkout or sdist).
    pub odoo_addons_dir: Option<Spanned<PathBuf>>,
    /// Addons folders of the installation besides the project's (shared OCA checkouts,
    /// Enterprise), in Odoo's order after `[project].addons_paths`.
    #[serde(default)]
    pub addons_paths: Vec<Spanned<PathBuf>>,
    /// Where the throwaway filestores (and the templates') go: Odoo's `--data-dir`.
    /// Default: `.odd/test-data` under the project.
    pub data_dir: Option<PathBuf>,
    /// The git revision `odd test` compares with when neither `--modules`, `--all` nor
    /// `--since` is given (e.g. `origin/main`).
    pub since: Option<Spanned<String>>,
    /// The longest one Odoo run may take (template build or tests), in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// The PostgreSQL server the throwaway databases live on.
    #[serde(default)]
    pub database: TestDatabase,
}

fn default_timeout() -> u64 {
    3600
}

/// `[test.database]`: libpq's defaults (`PGHOST`, `PGPORT`, `PGUSER`, the socket) where
/// a key is absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDatabase {
    /// PostgreSQL host (or socket directory) for the test databases; the client's default when absent.
    pub host: Option<String>,
    /// PostgreSQL port; the client's default (5432) when absent.
    pub port: Option<u16>,
    /// PostgreSQL role; the client's default (the OS user) when absent.
    pub user: Option<Spanned<String>>,
    /// Where `psql` is; its `PATH` when absent.
    pub pg_bin_dir: Option<PathBuf>,
    /// The environment variable holding the password.
    pub password_env: Option<Spanned<String>>,
    /// A file holding the password.
    pub password_file: Option<Spanned<PathBuf>>,
    /// Present only to refuse it with a clear message.
    pub password: Option<Spanned<toml::Value>>,
}

impl TestDatabase {
    /// Where the password comes from.
    pub fn password(&self) -> SecretRef<'_> {
        SecretRef {
            env: self.password_env.as_ref(),
            file: self.password_file.as_ref(),
            text: self.password.as_ref(),
        }
    }
}

impl LoadedConfig {
    pub(super) fn validate_test(&self, test: &TestConfig, problems: &mut Vec<ConfigError>) {
        if test.odoo_command.get_ref().is_empty() {
            problems.push(self.invalid(
                &test.odoo_command,
                "`odoo_command` is empty".to_owned(),
                "no program",
                Some("name odoo-bin, e.g. odoo_command = [\"/opt/odoo/odoo-bin\"]".to_owned()),
            ));
        }
        if let Some(user) = &test.database.user
            && user.get_ref() == "postgres"
        {
            problems.push(
                self.invalid(
                    user,
                    "Odoo refuses to run as the `postgres` role".to_owned(),
                    "this role",
                    Some(
                        "create a role for Odoo (e.g. `odoo` with CREATEDB) and name it here"
                            .to_owned(),
                    ),
                ),
            );
        }
        if let Some(since) = &test.since
            && (since.get_ref().is_empty() || since.get_ref().starts_with('-'))
        {
            problems.push(self.invalid(
                since,
                format!("`{}` is not a git revision", since.get_ref()),
                "this revision",
                None,
            ));
        }
        self.validate_secret(test.database.password(), problems);
    }
}
