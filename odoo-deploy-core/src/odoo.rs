//! Talking to Odoo: the `odoo-bin` commands odd runs, reading Odoo's log as it comes,
//! and checking module states afterwards — each against what a real Odoo does
//! (see the project's measured facts: exit 0 does not mean success).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::command::RemoteCommand;

/// How `odoo-bin` is run on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooBin {
    /// The argv prefix, e.g. `["/opt/odoo/venv/bin/python", "/opt/odoo/odoo-bin"]`.
    pub command: Vec<String>,
    /// `-c`: Odoo's configuration file.
    pub config: Option<PathBuf>,
    /// `--addons-path`, when odd sets it (a release's own paths).
    pub addons_path: Vec<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// On an update: `Some(true)` passes `--without-demo=all`, `Some(false)`
    /// `--without-demo=` (demo data on), whatever the config file says; `None` leaves
    /// the config file's choice.
    pub without_demo: Option<bool>,
}

/// What an update run installs and updates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateSet {
    /// Modules to install (`-i`).
    pub install: BTreeSet<String>,
    /// Modules to update (`-u`).
    pub update: BTreeSet<String>,
}

impl UpdateSet {
    /// Whether there is nothing for Odoo to do.
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.update.is_empty()
    }
}

impl OdooBin {
    fn base(&self) -> RemoteCommand {
        let (program, rest) = match self.command.split_first() {
            Some((program, rest)) => (program.as_str(), rest),
            None => ("odoo-bin", &[][..]),
        };
        let mut cmd = RemoteCommand::new(program).args(rest);
        if let Some(config) = &self.config {
            cmd = cmd.arg("-c").arg(config);
        }
        if !self.addons_path.is_empty() {
            let joined = self
                .addons_path
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(",");
            cmd = cmd.arg(format!("--addons-path={joined}"));
        }
        if let Some(dir) = &self.data_dir {
            cmd = cmd.arg(format!("--data-dir={}", dir.display()));
        }
        cmd
    }

    /// `odoo-bin … -d DB -i NEW -u CHANGED --stop-after-init --no-http --logfile=`: the
    /// update, never in server mode, its log on the output odd reads (an empty `--logfile`
    /// overrides the config file's). The caller must have checked that `database` exists
    /// (Odoo would otherwise create it and exit 0).
    pub fn update(
        &self,
        database: &str,
        set: &UpdateSet,
        timeout: Option<Duration>,
    ) -> RemoteCommand {
        let mut cmd = self.base().arg("-d").arg(database);
        if !set.install.is_empty() {
            cmd = cmd.arg("-i").arg(join(&set.install));
        }
        if !set.update.is_empty() {
            cmd = cmd.arg("-u").arg(join(&set.update));
        }
        match self.without_demo {
            Some(true) => cmd = cmd.arg("--without-demo=all"),
            Some(false) => cmd = cmd.arg("--without-demo="),
            None => {}
        }
        cmd = cmd
            .arg("--stop-after-init")
            .arg("--no-http")
            .arg("--logfile=");
        match timeout {
            Some(t) => cmd.timeout(t),
            None => cmd,
        }
    }

    /// `odoo-bin neutralize -d DB` (Odoo 16+): makes a copy safe to run beside production.
    pub fn neutralize(&self, database: &str) -> RemoteCommand {
        let (program, rest) = match self.command.split_first() {
            Some((program, rest)) => (program.as_str(), rest),
            None => ("odoo-bin", &[][..]),
        };
        let mut cmd = RemoteCommand::new(program).args(rest).arg("neutralize");
        if let Some(config) = &self.config {
            cmd = cmd.arg("-c").arg(config);
        }
        cmd.arg("-d").arg(database)
    }
}

fn join(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// A log level of Odoo's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARNING`.
    Warning,
    /// `ERROR`.
    Error,
    /// `CRITICAL`.
    Critical,
}

impl Level {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "DEBUG" => Self::Debug,
            "INFO" => Self::Info,
            "WARNING" => Self::Warning,
            "ERROR" => Self::Error,
            "CRITICAL" => Self::Critical,
            _ => return None,
        })
    }
}

/// One log record's first line: `YYYY-MM-DD HH:MM:SS,mmm PID LEVEL DB LOGGER: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine<'a> {
    /// `YYYY-MM-DD HH:MM:SS,mmm`, as logged.
    pub time: &'a str,
    /// The Odoo process id.
    pub pid: u32,
    /// The record's level.
    pub level: Level,
    /// The database, or `?` outside of one.
    pub db: &'a str,
    /// The Python logger, e.g. `odoo.modules.loading`.
    pub logger: &'a str,
    /// The message, without Odoo's trailing space.
    pub message: &'a str,
}

/// Parses the first line of a record; `None` for continuation lines (tracebacks) and
/// anything else.
pub fn parse_line(line: &str) -> Option<LogLine<'_>> {
    let line = line.trim_end_matches(['\n', '\r']);
    // "2026-11-22 03:21:46,343" is 23 bytes.
    let time = line.get(..23)?;
    let b = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[10] == b' '
        && b[19] == b','
        && digits(20..23))
    {
        return None;
    }
    let rest = line.get(24..)?;
    let (pid, rest) = rest.split_once(' ')?;
    let (level, rest) = rest.split_once(' ')?;
    let (db, rest) = rest.split_once(' ')?;
    let (logger, message) = rest.split_once(": ")?;
    Some(LogLine {
        time,
        pid: pid.parse().ok()?,
        level: Level::parse(level)?,
        db,
        logger,
        message: message.strip_suffix(' ').unwrap_or(message),
    })
}

/// Something in Odoo's log that matters to a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// `Loading module X (i/n)`: only modules being installed or updated log it at INFO.
    Progress {
        /// The module being loaded.
        module: String,
        /// Its position in the load, from 1.
        index: u32,
        /// How many modules are being loaded.
        total: u32,
    },
    /// `invalid module names, ignored: …` — Odoo exits 0 after ignoring them.
    InvalidModules {
        /// The names Odoo ignored.
        names: Vec<String>,
    },
    /// `Some modules are not loaded, some dependencies or manifest may be missing: […]`.
    ModulesNotLoaded {
        /// The modules Odoo did not load.
        names: Vec<String>,
    },
    /// `Couldn't load module X`.
    CouldNotLoad {
        /// The module.
        module: String,
    },
    /// `Failed to load registry` / `Failed to initialize database`.
    RegistryFailed,
    /// Any other ERROR or CRITICAL line not allowed by configuration.
    Error {
        /// The line's level (ERROR or CRITICAL).
        level: Level,
        /// The Python logger.
        logger: String,
        /// The message.
        message: String,
    },
}

impl Finding {
    /// Whether this finding fails a deploy.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::Progress { .. })
    }
}

/// Reads Odoo's log line by line and keeps what a deploy needs: findings, and the last
/// lines as evidence.
#[derive(Debug, Clone)]
pub struct LogWatch {
    allow: Vec<regex::Regex>,
    findings: Vec<Finding>,
    tail: VecDeque<String>,
    tail_len: usize,
}

/// A pattern of `allow_log_errors` that is not a valid regular expression.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("`{pattern}` is not a valid regular expression")]
#[diagnostic(code(odd::odoo::allow_pattern))]
pub struct BadPattern {
    /// The pattern, as written in `allow_log_errors`.
    pub pattern: String,
    /// Why the regex crate refuses it.
    #[source]
    pub source: regex::Error,
}

impl LogWatch {
    /// A watch that ignores ERROR/CRITICAL lines whose `logger: message` matches one of
    /// `allow`; keeps the last `tail_len` lines as evidence.
    pub fn new<S: AsRef<str>>(allow: &[S], tail_len: usize) -> Result<Self, BadPattern> {
        let allow = allow
            .iter()
            .map(|p| {
                regex::Regex::new(p.as_ref()).map_err(|source| BadPattern {
                    pattern: p.as_ref().to_owned(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow,
            findings: Vec::new(),
            tail: VecDeque::new(),
            tail_len,
        })
    }

    /// Reads one line; returns the finding it made, if any.
    pub fn line(&mut self, line: &str) -> Option<&Finding> {
        let line = line.trim_end_matches(['\n', '\r']);
        if self.tail_len > 0 {
            if self.tail.len() == self.tail_len {
                self.tail.pop_front();
            }
            self.tail.push_back(line.to_owned());
        }
        let finding = classify(&parse_line(line)?, &self.allow)?;
        self.findings.push(finding);
        self.findings.last()
    }

    /// Everything found so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The findings that fail a deploy.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_failure())
    }

    /// The last lines read.
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}

fn classify(record: &LogLine<'_>, allow: &[regex::Regex]) -> Option<Finding> {
    let msg = record.message;
    if record.logger == "odoo.modules.loading" {
        if let Some(rest) = msg.strip_prefix("Loading module ")
            && let Some((module, counts)) = rest.split_once(" (")
            && let Some((i, n)) = counts.trim_end_matches(')').split_once('/')
            && let (Ok(index), Ok(total)) = (i.parse(), n.parse())
        {
            return Some(Finding::Progress {
                module: module.to_owned(),
                index,
                total,
            });
        }
        if let Some(names) = msg.strip_prefix("invalid module names, ignored: ") {
            return Some(Finding::InvalidModules {
                names: names.split(',').map(|n| n.trim().to_owned()).collect(),
            });
        }
        if let Some(list) = msg.strip_prefix(
            "Some modules are not loaded, some dependencies or manifest may be missing: ",
        ) {
            return Some(Finding::ModulesNotLoaded {
                names: python_str_list(list),
            });
        }
    }
    if record.level < Level::Error {
        return None;
    }
    if let Some(module) = msg.strip_prefix("Couldn't load module ") {
        return Some(Finding::CouldNotLoad {
            module: module.trim().to_owned(),
        });
    }
    if msg == "Failed to load registry" || msg.starts_with("Failed to initialize database") {
        return Some(Finding::RegistryFailed);
    }
    let text = format!("{}: {}", record.logger, msg);
    if allow.iter().any(|re| re.is_match(&text)) {
        return None;
    }
    Some(Finding::Error {
        level: record.level,
        logger: record.logger.to_owned(),
        message: msg.to_owned(),
    })
}

/// `['a', 'b']` as Python prints a list of names.
fn python_str_list(text: &str) -> Vec<String> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A module's row in `ir_module_module`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleRow {
    /// The module's technical name.
    pub name: String,
    /// Its state (`installed`, `uninstalled`, `to upgrade`, …).
    pub state: String,
    /// The version installed (`latest_version`); none when empty or NULL.
    pub latest_version: Option<String>,
}

/// The SQL that reads [`ModuleRow`]s, one per line, fields separated by `\x1f`.
pub const MODULE_ROWS_SQL: &str =
    "SELECT name, state, coalesce(latest_version, '') FROM ir_module_module ORDER BY name";

/// Parses the output of [`MODULE_ROWS_SQL`] run with `psql -X -A -t -F $'\x1f'`.
pub fn parse_module_rows(output: &str) -> Vec<ModuleRow> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\x1f');
            let name = fields.next()?.to_owned();
            let state = fields.next()?.to_owned();
            let version = fields.next().unwrap_or_default();
            (!name.is_empty()).then(|| ModuleRow {
                name,
                state,
                latest_version: (!version.is_empty()).then(|| version.to_owned()),
            })
        })
        .collect()
}

/// Odoo's `adapt_version`: a manifest version that does not start with `<series>.` gets
/// the series prefixed (a version equal to the series too: `18.0` becomes `18.0.18.0`).
pub fn adapt_version(series: &str, version: &str) -> String {
    if version.starts_with(&format!("{series}.")) && version != series {
        version.to_owned()
    } else {
        format!("{series}.{version}")
    }
}

/// A module state that is not what a good deploy leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateProblem {
    /// Left `to install`, `to upgrade` or `to remove`.
    Pending {
        /// The module.
        module: String,
        /// Its state.
        state: String,
    },
    /// Installed, but not at the manifest's version.
    Version {
        /// The module.
        module: String,
        /// The version installed (`latest_version`).
        installed: String,
        /// The manifest's version, with the series.
        expected: String,
    },
    /// A module that must be installed is not.
    NotInstalled {
        /// The module.
        module: String,
        /// Its state; none when it has no row at all.
        state: Option<String>,
    },
}

impl std::fmt::Display for StateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending { module, state } => {
                write!(f, "module {module} is left in state `{state}`")
            }
            Self::Version {
                module,
                installed,
                expected,
            } => write!(
                f,
                "module {module} is installed at {installed}, the code says {expected}"
            ),
            Self::NotInstalled {
                module,
                state: None,
            } => {
                write!(
                    f,
                    "module {module} must be installed but is unknown to the database"
                )
            }
            Self::NotInstalled {
                module,
                state: Some(state),
            } => write!(f, "module {module} must be installed but is `{state}`"),
        }
    }
}

/// Checks the rows after an update: nothing pending, installed versions equal to the
/// manifests' (series-prefixed), every required module installed.
pub fn check_module_states(
    rows: &[ModuleRow],
    manifest_versions: &BTreeMap<String, String>,
    required: &BTreeSet<String>,
    series: &str,
) -> Vec<StateProblem> {
    let mut problems = Vec::new();
    let by_name: BTreeMap<&str, &ModuleRow> = rows.iter().map(|r| (r.name.as_str(), r)).collect();
    for row in rows {
        if row.state.starts_with("to ") {
            problems.push(StateProblem::Pending {
                module: row.name.clone(),
                state: row.state.clone(),
            });
        } else if row.state == "installed"
            && let Some(version) = manifest_versions.get(&row.name)
        {
            let expected = adapt_version(series, version);
            let installed = row.latest_version.clone().unwrap_or_default();
            if installed != expected {
                problems.push(StateProblem::Version {
                    module: row.name.clone(),
                    installed,
                    expected,
                });
            }
        }
    }
    for module in required {
        match by_name.get(module.as_str()) {
            Some(row) if row.state == "installed" => {}
            other => problems.push(StateProblem::NotInstalled {
                module: module.clone(),
                state: other.map(|r| r.state.clone()),
            }),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::argv;

    fn odoo() -> OdooBin {
        OdooBin {
            command: vec![
                "/opt/odoo/venv/bin/python".into(),
                "/opt/odoo/odoo-bin".into(),
            ],
            config: Some("/etc/odoo/odoo.conf".into()),
            addons_path: vec![
                "/opt/odd/releases/r1/odoo/addons".into(),
                "/opt/odd/releases/r1/custom addons".into(),
            ],
            data_dir: None,
            without_demo: Some(true),
        }
    }

    #[test]
    fn the_update_command_is_exact() {
        let set = UpdateSet {
            install: ["acme_new".to_owned()].into(),
            update: ["acme_sale".to_owned(), "acme_base".to_owned()].into(),
        };
        let cmd = odoo().update("acme; drop", &set, None);
        assert_eq!(
            argv(&cmd),
            [
                "/opt/odoo/venv/bin/python",
                "/opt/odoo/odoo-bin",
                "-c",
                "/etc/odoo/odoo.conf",
                "--addons-path=/opt/odd/releases/r1/odoo/addons,/opt/odd/releases/r1/custom addons",
                "-d",
                "acme; drop",
                "-i",
                "acme_new",
                "-u",
                "acme_base,acme_sale",
                "--without-demo=all",
                "--stop-after-init",
                "--no-http",
                "--logfile=",
            ]
        );
        let only_update = odoo().update(
            "db",
            &UpdateSet {
                install: BTreeSet::new(),
                update: ["a".to_owned()].into(),
            },
            None,
        );
        let args: Vec<_> = only_update
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(!args.contains(&"-i".to_owned()));
        // Demo data on: an empty `--without-demo` overrides the config file's `all`.
        let with_demo = OdooBin {
            without_demo: Some(false),
            ..odoo()
        };
        let args: Vec<String> = with_demo
            .update("db", &UpdateSet::default(), None)
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--without-demo=".to_owned()), "{args:?}");
        assert_eq!(args.iter().filter(|a| *a == "--stop-after-init").count(), 1);
    }

    #[test]
    fn neutralize_command_is_exact() {
        let cmd = odoo().neutralize("staging");
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "/opt/odoo/odoo-bin",
                "neutralize",
                "-c",
                "/etc/odoo/odoo.conf",
                "-d",
                "staging"
            ]
        );
    }

    const LOG: &str = "\
2026-11-22 03:21:46,343 25351 INFO lab1 odoo.modules.loading: loading 54 modules... \n\
2026-11-22 03:21:46,343 25351 INFO lab1 odoo.modules.loading: Loading module odd_demo (2/54) \n\
2026-11-22 03:21:46,369 25351 INFO lab1 odoo.modules.registry: module odd_demo: creating or updating database tables \n\
2026-11-22 03:21:47,001 25351 WARNING lab1 odoo.modules.loading: invalid module names, ignored: acme_nope, other \n\
2026-11-22 03:21:47,002 25351 ERROR lab1 odoo.addons.base.models.ir_cron: cron failed \n\
2026-11-22 03:21:47,003 25351 CRITICAL lab1 odoo.modules.module: Couldn't load module acme_broken \n\
Traceback (most recent call last):\n\
  File \"x.py\", line 1\n\
2026-11-22 03:21:47,010 25351 WARNING lab1 odoo.modules.loading: Transient module states were reset \n\
2026-11-22 03:21:47,011 25351 ERROR lab1 odoo.modules.registry: Failed to load registry \n\
2026-11-22 03:21:47,012 25351 CRITICAL lab1 odoo.service.server: Failed to initialize database `lab1`. \n\
2026-11-22 03:21:48,000 25352 ERROR lab1 odoo.modules.loading: Some modules are not loaded, some dependencies or manifest may be missing: ['acme_x', 'acme_y'] \n";

    #[test]
    fn log_lines_parse_as_odoo_writes_them() {
        let line = parse_line("2026-11-22 03:21:46,343 25351 INFO lab1 odoo.modules.loading: Loading module odd_demo (2/54) ")
            .expect("a record line");
        assert_eq!(line.pid, 25351);
        assert_eq!(line.level, Level::Info);
        assert_eq!(line.db, "lab1");
        assert_eq!(line.logger, "odoo.modules.loading");
        assert_eq!(line.message, "Loading module odd_demo (2/54)");
        assert!(parse_line("Traceback (most recent call last):").is_none());
        assert!(parse_line("").is_none());
        assert!(parse_line("2026-11-22 03:21:46,343 x INFO").is_none());
        assert!(parse_line("2026-11-22 03:21:46,343 1 LOUD db l: m").is_none());
    }

    #[test]
    fn the_watch_finds_what_fails_a_deploy() {
        let mut watch = LogWatch::new(&["^odoo\\.addons\\.base\\.models\\.ir_cron: "], 3)
            .expect("valid pattern");
        for line in LOG.lines() {
            watch.line(line);
        }
        assert_eq!(
            watch.findings(),
            &[
                Finding::Progress {
                    module: "odd_demo".into(),
                    index: 2,
                    total: 54
                },
                Finding::InvalidModules {
                    names: vec!["acme_nope".into(), "other".into()]
                },
                Finding::CouldNotLoad {
                    module: "acme_broken".into()
                },
                Finding::RegistryFailed,
                Finding::RegistryFailed,
                Finding::ModulesNotLoaded {
                    names: vec!["acme_x".into(), "acme_y".into()]
                },
            ]
        );
        assert_eq!(watch.failures().count(), 5);
        assert_eq!(watch.tail().len(), 3);
        assert!(watch.tail()[2].contains("Some modules are not loaded"));
        // Without the allow-list, the cron error fails the deploy too.
        let mut strict = LogWatch::new::<&str>(&[], 0).expect("no patterns");
        for line in LOG.lines() {
            strict.line(line);
        }
        assert!(strict.findings().iter().any(|f| matches!(f, Finding::Error { logger, .. } if logger == "odoo.addons.base.models.ir_cron")));
        assert!(LogWatch::new(&["("], 0).is_err());
    }

    #[test]
    fn module_states_are_checked_like_an_operator_would() {
        let rows = parse_module_rows(
            "acme_base\x1finstalled\x1f18.0.1.1.0\n\
             acme_sale\x1fto upgrade\x1f18.0.1.0.0\n\
             base\x1finstalled\x1f18.0.1.3\n\
             acme_old\x1finstalled\x1f18.0.1.0.0\n\
             acme_new\x1funinstalled\x1f\n",
        );
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[4].latest_version, None);
        let versions: BTreeMap<String, String> = [
            ("acme_base", "18.0.1.1.0"),
            ("acme_sale", "18.0.1.0.0"),
            ("base", "1.3"),
            ("acme_old", "18.0.1.2.0"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let required: BTreeSet<String> = [
            "acme_new".to_owned(),
            "acme_ghost".to_owned(),
            "acme_base".to_owned(),
        ]
        .into();
        let problems = check_module_states(&rows, &versions, &required, "18.0");
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "module acme_sale is left in state `to upgrade`",
                "module acme_old is installed at 18.0.1.0.0, the code says 18.0.1.2.0",
                "module acme_ghost must be installed but is unknown to the database",
                "module acme_new must be installed but is `uninstalled`",
            ]
        );
        assert_eq!(adapt_version("18.0", "1.3"), "18.0.1.3");
        assert_eq!(adapt_version("18.0", "18.0.1.3.0"), "18.0.1.3.0");
        assert_eq!(adapt_version("18.0", "18.0"), "18.0.18.0");
    }
}
