//! Fleets: one Odoo serving many databases (one per customer, as integrators and hosters
//! run it), deployed as one.
//!
//! An environment's `[database]` table names its database (`name`) and, to make it a
//! fleet, more of them: a list (`names = ["cust_a", "cust_b"]`) or a pattern matched
//! against the cluster when the plan is made (`pattern = "cust_*"`), less `exclude`.
//! A deploy stops Odoo once; then, for each database, with at most `jobs` at once: a
//! snapshot, the update of that database's own change set (checksums are stored in each
//! database, so each may differ), the module check. A database that fails is restored
//! from its own snapshot while the others keep their update; once more than `max_failed`
//! failed, the databases not begun are left alone and the whole deploy rolls back (every
//! updated database restored from its snapshot, the code switched back). Odoo starts
//! once all are done; the smoke login runs against each database. The ledger's line of
//! the deploy holds one [`DatabaseEntry`] per database, and a deploy where some failed
//! (restored and verified) while the others were updated ends
//! [`crate::ledger::Outcome::PartlyFailed`].

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use crate::backup::Backups;
use crate::backup::commands::MAINTENANCE_DB;
use crate::changes::ChangeProblem;
use crate::command::RemoteCommand;
use crate::config::{ConfigError, DatabaseConfig, LoadedConfig};
use crate::deploy::{DeployContext, UPDATE_TIMEOUT};
use crate::detached::DetachedRun;
use crate::event::Event;
use crate::journal::JournalState;
use crate::odoo::UpdateSet;
use crate::ops::{Code, EnvState, OpsError};
use crate::plan::{Plan, Step, StepKind};
use crate::runbook::{Failure, Phase, Run, note};
use crate::target::Target;
use crate::transport::Transport;

/// The memory one update of Odoo is given when `jobs` is chosen: an `odoo-bin -u` of a
/// 50-module database peaks at a few hundred MiB; a GiB leaves room for PostgreSQL's
/// work on the same host.
pub const MEMORY_PER_JOB: u64 = 1 << 30;

/// The fleet an environment names in its `[database]` table, besides `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    /// Databases named one by one (`names`).
    pub names: Vec<String>,
    /// The pattern matched against the cluster's databases (`pattern`).
    pub pattern: Option<String>,
    /// Names or patterns left out (`exclude`).
    pub exclude: Vec<String>,
    /// Failures allowed before the rest stop and the deploy rolls back (`max_failed`).
    pub max_failed: u32,
    /// Databases updated at once (`jobs`, or `--jobs`); `None`: chosen from the host.
    pub jobs: Option<u32>,
}

impl FleetSpec {
    /// The fleet of `db`, or `None` when it names one database only.
    pub fn from_config(db: &DatabaseConfig) -> Option<Self> {
        if db.names.is_none() && db.pattern.is_none() {
            return None;
        }
        Some(Self {
            names: db
                .names
                .iter()
                .flatten()
                .map(|n| n.get_ref().clone())
                .collect(),
            pattern: db.pattern.as_ref().map(|p| p.get_ref().clone()),
            exclude: db.exclude.iter().map(|n| n.get_ref().clone()).collect(),
            max_failed: db.max_failed.as_ref().map_or(0, |m| *m.get_ref()),
            jobs: db.jobs.as_ref().map(|j| *j.get_ref()),
        })
    }

    /// The fleet's databases: `primary` first, then the named ones, then those of
    /// `cluster` (the cluster's databases) the pattern matches, less the excluded ones
    /// and odd's own copies (snapshots, set-aside databases, test templates).
    pub fn databases(&self, primary: &str, cluster: &[String]) -> Vec<String> {
        let mut out = vec![primary.to_owned()];
        let mut add = |name: &str| {
            if !out.iter().any(|n| n == name) && !self.excluded(name) {
                out.push(name.to_owned());
            }
        };
        for name in &self.names {
            add(name);
        }
        if let Some(pattern) = &self.pattern {
            let mut matched: Vec<&String> = cluster
                .iter()
                .filter(|n| glob(pattern, n) && !is_odd_copy(n))
                .collect();
            matched.sort();
            for name in matched {
                add(name);
            }
        }
        out
    }

    fn excluded(&self, name: &str) -> bool {
        self.exclude.iter().any(|e| glob(e, name))
    }
}

/// Whether `name` matches `pattern`: `*` any run of characters, `?` one, everything else
/// itself.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A database odd made beside another (`<db>-snap-<stamp>`, `-replaced-`, `-failed-`, …)
/// or `odd test`'s template: never a member of a fleet by pattern.
fn is_odd_copy(name: &str) -> bool {
    static COPY: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = COPY.get_or_init(|| {
        regex::Regex::new(r"-[a-z]+(-[a-z]+)?-\d{8}-\d{6}-\d{3}(-[0-9a-f]{8})?$|^odd_tpl_")
            .expect("valid regex")
    });
    re.is_match(name)
}

/// Checks the fleet keys of a `[database]` table.
pub(crate) fn validate(
    loaded: &LoadedConfig,
    db: &DatabaseConfig,
    problems: &mut Vec<ConfigError>,
) {
    let fleet = db.names.is_some() || db.pattern.is_some();
    for name in db.names.iter().flatten() {
        if let Err(e) = crate::untrusted::database(name.get_ref()) {
            problems.push(loaded.invalid(
                name,
                format!(
                    "`{}` cannot be a database name here: {}",
                    name.get_ref(),
                    e.reason
                ),
                "this name",
                None,
            ));
        }
    }
    if let Some(names) = &db.names
        && names.is_empty()
        && db.pattern.is_none()
    {
        problems.push(loaded.invalid(
            &db.name,
            "`names` is empty".to_owned(),
            "this environment",
            Some("list the other databases, e.g. names = [\"cust_a\", \"cust_b\"], or remove `names`".to_owned()),
        ));
    }
    for pattern in db.pattern.iter().chain(db.exclude.iter()) {
        let text = pattern.get_ref();
        let literal = text.replace(['*', '?'], "a");
        if text.is_empty() || crate::untrusted::database(&literal).is_err() {
            problems.push(loaded.invalid(
                pattern,
                format!("`{text}` is not a pattern of database names"),
                "this pattern",
                Some("letters, digits, `_`, `-` and `.`, with `*` for any run of characters and `?` for one, e.g. \"cust_*\"".to_owned()),
            ));
        }
    }
    if !fleet {
        if let Some(e) = db.exclude.first() {
            problems.push(loaded.invalid(
                e,
                "`exclude` needs `names` or `pattern`".to_owned(),
                "nothing to exclude from",
                Some("add `pattern = \"…\"` to this [database] table".to_owned()),
            ));
        }
        if let Some(m) = &db.max_failed {
            problems.push(loaded.invalid(
                m,
                "`max_failed` is for a fleet of databases".to_owned(),
                "one database",
                Some("add `names = […]` or `pattern = \"…\"`, or remove it".to_owned()),
            ));
        }
        if let Some(j) = &db.jobs {
            problems.push(loaded.invalid(
                j,
                "`jobs` is for a fleet of databases".to_owned(),
                "one database",
                Some("add `names = […]` or `pattern = \"…\"`, or remove it".to_owned()),
            ));
        }
    }
    if let Some(j) = &db.jobs
        && *j.get_ref() == 0
    {
        problems.push(loaded.invalid(
            j,
            "`jobs = 0` would update nothing".to_owned(),
            "at least 1",
            None,
        ));
    }
    if fleet
        && db
            .exclude
            .iter()
            .any(|e| glob(e.get_ref(), db.name.get_ref()))
    {
        let e = db
            .exclude
            .iter()
            .find(|e| glob(e.get_ref(), db.name.get_ref()))
            .unwrap_or(&db.exclude[0]);
        problems.push(loaded.invalid(
            e,
            format!(
                "`{}` excludes the environment's own database `{}`",
                e.get_ref(),
                db.name.get_ref()
            ),
            "excludes `name`",
            Some("`name` is always deployed; name another database there".to_owned()),
        ));
    }
}

/// One database of a fleet's plan: its change set, read from its own stored checksums.
#[derive(Debug, Clone, Serialize)]
pub struct FleetDatabase {
    /// The database.
    pub name: String,
    /// What `-i` and `-u` are given for it.
    pub update: UpdateSet,
    /// What Odoo reloads in it.
    pub effective_update: Vec<String>,
    /// Its detached update run's number (`runs/<release>-update-<run>.log`).
    pub run: usize,
    /// Whether Odoo serves it over HTTP at the environment's base URL, by the host's
    /// Odoo config (`db_name`, `dbfilter`): only then is the smoke login run against it.
    pub served: bool,
}

/// A fleet as planned: every database and its change set, how many run at once, the
/// failure policy.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// The databases, `name` first.
    pub databases: Vec<FleetDatabase>,
    /// Updates at once.
    pub jobs: usize,
    /// Why that many.
    pub jobs_reason: String,
    /// Failures allowed before the rest stop and the whole deploy rolls back.
    pub max_failed: u32,
}

impl Fleet {
    /// The databases whose update set is not empty.
    pub fn changing(&self) -> impl Iterator<Item = &FleetDatabase> {
        self.databases.iter().filter(|d| !d.update.is_empty())
    }
}

/// How one database of a fleet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseOutcome {
    /// Nothing to update in it.
    Unchanged,
    /// Updated and verified (it keeps its update).
    Updated,
    /// Its update failed; restored from its own snapshot (as before the deploy).
    Restored,
    /// It failed before anything changed in it (its snapshot could not be taken).
    Failed,
    /// Its update failed and its snapshot could not be restored: it needs an operator.
    NotRestored,
    /// Not begun: the fleet stopped after more than `max_failed` failures.
    Skipped,
    /// Updated, then restored from its snapshot by the rollback of the whole deploy
    /// (or by `odd rollback`).
    RolledBack,
}

impl DatabaseOutcome {
    /// Its name as the ledger says it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Updated => "updated",
            Self::Restored => "restored",
            Self::Failed => "failed",
            Self::NotRestored => "not_restored",
            Self::Skipped => "skipped",
            Self::RolledBack => "rolled_back",
        }
    }

    /// Whether it counts as a failed database.
    pub fn failed(self) -> bool {
        matches!(self, Self::Restored | Self::Failed | Self::NotRestored)
    }
}

/// One database's line of a fleet deploy in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseEntry {
    /// The database.
    pub database: String,
    /// How it ended.
    pub outcome: DatabaseOutcome,
    /// Why (a failure's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The lines that show why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Its pre-deploy snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Modules installed in it.
    #[serde(default)]
    pub install: Vec<String>,
    /// Modules updated in it.
    #[serde(default)]
    pub update: Vec<String>,
    /// How long its snapshot, update and check took.
    #[serde(default)]
    pub duration_ms: u64,
}

/// The reason of a fleet deploy whose steps all passed while some databases failed, or
/// `None` when none failed. Each outcome is worded on its own: a database restored from
/// its snapshot, one whose snapshot failed (nothing changed, nothing restored), one that
/// could not be restored.
pub fn partly_failed(entries: &[DatabaseEntry]) -> Option<String> {
    let count = |o: DatabaseOutcome| entries.iter().filter(|e| e.outcome == o).count();
    if !entries.iter().any(|e| e.outcome.failed()) {
        return None;
    }
    let mut parts = vec![format!(
        "deployed and verified on {} database(s) ({} unchanged)",
        count(DatabaseOutcome::Updated),
        count(DatabaseOutcome::Unchanged)
    )];
    for (outcome, what) in [
        (
            DatabaseOutcome::Restored,
            "failed and restored from their snapshots",
        ),
        (
            DatabaseOutcome::Failed,
            "failed before any change (their snapshot could not be taken; nothing to restore)",
        ),
        (
            DatabaseOutcome::NotRestored,
            "failed and could NOT be restored from their snapshots",
        ),
        (DatabaseOutcome::Skipped, "not begun"),
    ] {
        let these: Vec<String> = entries
            .iter()
            .filter(|e| e.outcome == outcome)
            .map(|e| {
                format!(
                    "{} ({})",
                    e.database,
                    e.reason.as_deref().unwrap_or("no reason recorded")
                )
            })
            .collect();
        if !these.is_empty() {
            parts.push(format!("{} {what}: {}", these.len(), these.join("; ")));
        }
    }
    Some(parts.join("; "))
}

/// Where a fleet deploy left each database, read from its journal entries (`mine`, in
/// order): `(database, state)` with the state in words and the snapshot that holds the
/// database as it was.
pub fn journal_states(mine: &[&crate::journal::JournalEntry]) -> Vec<(String, String)> {
    journaled(mine)
        .into_iter()
        .map(|(db, state, snap, _, _)| match snap {
            Some(s) => (db, format!("{state}, snapshot {s}")),
            None => (db, state),
        })
        .collect()
}

/// The snapshots a recovery swaps back in after a fleet deploy's run died: each
/// database's whose snapshot was taken and whose restore did not finish.
pub fn journal_restores(mine: &[&crate::journal::JournalEntry]) -> Vec<DatabaseRestore> {
    journaled(mine)
        .into_iter()
        .filter(|(_, _, _, restored, _)| !restored)
        .filter_map(|(database, _, snapshot, _, run)| {
            snapshot.map(|snapshot| DatabaseRestore {
                database,
                snapshot,
                run,
            })
        })
        .collect()
}

/// `(database, state in words, its snapshot, restore finished, its update run)` from a
/// fleet deploy's journal entries.
type Journaled = (String, String, Option<String>, bool, Option<usize>);

/// The prefix of the journal steps of one database of a fleet. No step of the runbook
/// begins with it, so no database name (`databases`, `lock`, …) makes a step of its own
/// look like one of the runbook's, or the reverse.
const DB_STEP: &str = "database ";

/// The journal step `what` (`snapshot`, `update` or `restore`) of database `db`:
/// `database update: cust_a`.
pub fn db_step(what: &str, db: &str) -> String {
    format!("{DB_STEP}{what}: {db}")
}

/// `(what, database)` of a step [`db_step`] made.
fn parse_db_step(step: &str) -> Option<(&str, &str)> {
    let (what, db) = step.strip_prefix(DB_STEP)?.split_once(": ")?;
    matches!(what, "snapshot" | "update" | "restore").then_some((what, db))
}

fn journaled(mine: &[&crate::journal::JournalEntry]) -> Vec<Journaled> {
    let mut out: Vec<(String, String, Option<String>)> = Vec::new();
    let mut runs: Vec<(String, usize)> = Vec::new();
    for e in mine {
        let Some((what, db)) = parse_db_step(&e.step) else {
            continue;
        };
        if crate::untrusted::database(db).is_err() {
            continue;
        }
        let state = match (what, e.state) {
            ("snapshot", JournalState::Started) => "snapshot begun (not changed)",
            ("snapshot", JournalState::Finished) => "snapshot taken (not changed)",
            ("snapshot", JournalState::Failed) => "snapshot failed (not changed)",
            ("update", JournalState::Started) => "update begun (mixed state)",
            ("update", JournalState::Finished) => "updated",
            ("update", JournalState::Failed) => "update failed (mixed state)",
            ("restore", JournalState::Started) => "restore begun",
            ("restore", JournalState::Finished) => "restored",
            _ => "restore failed",
        };
        if what == "update"
            && let Some(run) = e.detail.as_deref().and_then(|d| d.parse().ok())
        {
            runs.push((db.to_owned(), run));
        }
        let snapshot = (what == "snapshot" && e.state == JournalState::Finished)
            .then(|| e.detail.clone())
            .flatten();
        match out.iter_mut().find(|(d, _, _)| d == db) {
            Some(entry) => {
                entry.1 = state.to_owned();
                if snapshot.is_some() {
                    entry.2 = snapshot;
                }
            }
            None => out.push((db.to_owned(), state.to_owned(), snapshot)),
        }
    }
    out.into_iter()
        .map(|(db, state, snap)| {
            let restored = state == "restored";
            let snap = snap.filter(|s| crate::untrusted::backup_id(s).is_ok());
            let run = runs.iter().find(|(d, _)| *d == db).map(|(_, r)| *r);
            (db, state, snap, restored, run)
        })
        .collect()
}

/// A database of a fleet and the snapshot that holds it as it was before a deploy, for
/// `odd rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRestore {
    /// The database.
    pub database: String,
    /// Its pre-deploy snapshot.
    pub snapshot: String,
    /// The number of its detached update run, when a dead run's update may still go on
    /// (it is settled before the restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<usize>,
}

impl DatabaseRestore {
    /// The restore of `entry`'s database from its snapshot (none: empty).
    pub fn of(entry: &DatabaseEntry) -> Self {
        Self {
            database: entry.database.clone(),
            snapshot: entry.snapshot.clone().unwrap_or_default(),
            run: None,
        }
    }
}

/// The host of a base URL (`https://erp.example.com:8443/` → `erp.example.com`).
fn base_url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6).to_owned(),
        None => host.split(':').next().unwrap_or(host).to_owned(),
    }
}

/// Whether Odoo, configured with `db_name` and `dbfilter`, lets a request to `host` use
/// database `db` (as `odoo.http.db_filter` does: `db_name`'s list when set, and the
/// filter with `%h` the host and `%d` its first label, `www.` dropped, matched from the
/// start, case-insensitively).
pub fn served(db_name: Option<&str>, dbfilter: Option<&str>, host: &str, db: &str) -> bool {
    if let Some(names) = db_name.filter(|n| !n.trim().is_empty() && *n != "False")
        && !names.split(',').map(str::trim).any(|n| n == db)
    {
        return false;
    }
    let Some(filter) = dbfilter.filter(|f| !f.trim().is_empty() && *f != "False") else {
        return true;
    };
    let h = host.split(':').next().unwrap_or(host);
    let d = h.strip_prefix("www.").unwrap_or(h);
    let d = d.split('.').next().unwrap_or(d);
    let pattern = filter
        .replace("%h", &regex::escape(h))
        .replace("%d", &regex::escape(d));
    match regex::RegexBuilder::new(&format!("^(?:{pattern})"))
        .case_insensitive(true)
        .build()
    {
        Ok(re) => re.is_match(db),
        // A filter Rust's regex cannot read: said served, the login tells.
        Err(_) => true,
    }
}

/// The plan's section of a fleet: each database and what it updates.
pub(crate) fn write_plan(out: &mut String, fleet: &Fleet) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "\nDatabases ({}, {} with changes; {}; max_failed = {}):",
        fleet.databases.len(),
        fleet.changing().count(),
        fleet.jobs_reason,
        fleet.max_failed
    );
    for d in &fleet.databases {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        let what = match (d.update.install.is_empty(), d.update.update.is_empty()) {
            (true, true) => "nothing to update".to_owned(),
            (false, true) => format!("-i {}", list(&d.update.install)),
            (true, false) => format!("-u {}", list(&d.update.update)),
            (false, false) => format!(
                "-i {} -u {}",
                list(&d.update.install),
                list(&d.update.update)
            ),
        };
        let _ = writeln!(out, "  {:<24} {what}", d.name);
    }
}

/// Lists the cluster's databases (those one can connect to, not templates).
///
/// # Errors
/// psql fails on the host.
pub async fn cluster_databases(
    transport: &dyn Transport,
    target: &Target,
) -> Result<Vec<String>, OpsError> {
    let cmd = target.pg.psql(
        &target.db,
        MAINTENANCE_DB,
        &[],
        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1;\n",
    );
    let out = transport.check_output(&cmd).await?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// `target` with `db` as its database.
pub fn for_database(target: &Target, db: &str) -> Target {
    let mut t = target.clone();
    t.db.name = db.to_owned();
    t
}

/// The updates at once when odd.toml and `--jobs` say nothing: one per core of the host,
/// no more than its available memory holds at [`MEMORY_PER_JOB`] each, at least one.
pub async fn default_jobs(transport: &dyn Transport) -> (usize, String) {
    let cores = transport
        .check_output(&RemoteCommand::new("nproc"))
        .await
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o).trim().parse::<usize>().ok());
    let memory = transport
        .check_output(&RemoteCommand::new("cat").arg("/proc/meminfo"))
        .await
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o).lines().find_map(|l| {
                l.strip_prefix("MemAvailable:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map(|kib| kib * 1024);
    let by_memory = memory.map(|m| usize::try_from(m / MEMORY_PER_JOB).unwrap_or(usize::MAX));
    let jobs = match (cores, by_memory) {
        (Some(c), Some(m)) => c.min(m),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => 1,
    }
    .max(1);
    let said = |v: Option<String>| v.unwrap_or_else(|| "unknown".to_owned());
    (
        jobs,
        format!(
            "{jobs} at once: the host's cores ({}) and available memory ({} GiB, 1 GiB an update)",
            said(cores.map(|c| c.to_string())),
            said(memory.map(|m| format!("{:.1}", m as f64 / MEMORY_PER_JOB as f64))),
        ),
    )
}

/// Makes `plan` (made for the environment's own database) the plan of its fleet: every
/// database's change set read from its own checksums, the per-database phases in place
/// of the snapshot, update, module check and checksums of one database, and the rollback
/// restoring every updated database.
///
/// # Errors
/// The host cannot be read.
pub async fn extend(
    plan: &mut Plan,
    target: &Target,
    transport: &dyn Transport,
    code: &Code,
    env: &EnvState,
    allow_remove: bool,
) -> Result<(), OpsError> {
    let Some(spec) = &target.databases else {
        return Ok(());
    };
    let cluster = if spec.pattern.is_some() {
        cluster_databases(transport, target).await?
    } else {
        Vec::new()
    };
    let mut refused = Vec::new();
    let names: Vec<String> = spec
        .databases(&target.db.name, &cluster)
        .into_iter()
        .filter(|n| match crate::untrusted::database(n) {
            Ok(_) => true,
            Err(e) => {
                refused.push(format!(
                    "database {} of the cluster is left out: {}",
                    e.shown, e.reason
                ));
                false
            }
        })
        .collect();
    plan.warnings.extend(refused);
    let mut databases = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (update, effective) = if i == 0 {
            (plan.update.clone(), plan.changes.effective_update.clone())
        } else {
            let t = for_database(target, name);
            let db = crate::state::read_db(transport, &t.pg, &t.db).await?;
            if !(db.exists && db.initialized) {
                problems.push(format!(
                    "database {name} does not exist or Odoo never initialised it: a fleet deploy updates existing databases only"
                ));
                continue;
            }
            let state = EnvState {
                db,
                ledger: crate::ledger::Ledger::default(),
                current_release: env.current_release.clone(),
                unfinished_rollback: None,
            };
            let changes = crate::ops::changes(&t, code, &state, None, allow_remove).await?;
            problems.extend(
                changes
                    .problems
                    .iter()
                    .map(|p: &ChangeProblem| format!("{name}: {p}")),
            );
            let update = UpdateSet {
                install: changes.install_names(),
                update: changes.update_names(),
            };
            (update, changes.effective_update.clone())
        };
        databases.push(FleetDatabase {
            name: name.clone(),
            update,
            effective_update: effective,
            run: i + 1,
            served: true,
        });
    }
    if let Some(conf) = &target.odoo_conf {
        let host = base_url_host(&target.base_url);
        let mut unserved = Vec::new();
        for d in &mut databases {
            d.served = served(conf.get("db_name"), conf.get("dbfilter"), &host, &d.name);
            if !d.served {
                unserved.push(d.name.clone());
            }
        }
        if !unserved.is_empty() && target.smoke.login.is_some() {
            plan.warnings.push(format!(
                "Odoo's config (db_name / dbfilter) does not serve {} at {}: the smoke login skips {}",
                unserved.join(", "),
                target.base_url,
                if unserved.len() == 1 { "it" } else { "them" }
            ));
        }
    }
    if plan.first_install {
        problems.push(format!(
            "database {} is not initialised: install it with a deploy of that database alone first (a fleet deploy updates existing databases)",
            target.db.name
        ));
    }
    if !problems.is_empty() {
        plan.gates.push(crate::plan::Gate {
            name: "databases".to_owned(),
            passed: false,
            detail: problems.join("; "),
            overridden: None,
        });
    }
    let (jobs, jobs_reason) = match spec.jobs {
        Some(j) => (j as usize, format!("{j} at once (jobs)")),
        None => default_jobs(transport).await,
    };
    let fleet = Arc::new(Fleet {
        databases,
        jobs,
        jobs_reason,
        max_failed: spec.max_failed,
    });
    // Nothing left to do in the environment's own database does not make the fleet a
    // no-op: the union of the updates is what the plan shows and is checked for.
    for d in fleet.changing() {
        plan.update.install.extend(d.update.install.iter().cloned());
        plan.update.update.extend(d.update.update.iter().cloned());
    }
    rewrite(plan, target, &fleet);
    plan.fleet = Some((*fleet).clone());
    Ok(())
}

fn rewrite(plan: &mut Plan, target: &Target, fleet: &Arc<Fleet>) {
    plan.steps.retain(|s| {
        !matches!(
            s.kind,
            StepKind::Snapshot | StepKind::Dump | StepKind::Update | StepKind::VerifyModules
        )
    });
    let changing = fleet.changing().count() > 0;
    if changing {
        let at = plan
            .steps
            .iter()
            .position(|s| s.kind == StepKind::Stop)
            .map_or(0, |i| i + 1);
        plan.steps.insert(
            at,
            Step::of(Arc::new(UpdateDatabases::new(
                target,
                &plan.release,
                &plan.commit,
                fleet,
            ))),
        );
    }
    for step in &mut plan.steps {
        if step.kind == StepKind::StoreChecksums {
            *step = Step::of(Arc::new(StoreFleetChecksums {
                fleet: Arc::clone(fleet),
            }));
        }
    }
    for step in &mut plan.steps {
        if step.kind == StepKind::Smoke {
            *step = Step::of(Arc::new(SmokeMain {
                inner: Arc::clone(&step.phase),
                fleet: Arc::clone(fleet),
            }));
        }
    }
    if target.smoke.login.is_some() && fleet.databases.len() > 1 {
        let at = plan
            .steps
            .iter()
            .position(|s| s.kind == StepKind::Smoke)
            .map_or(plan.steps.len(), |i| i + 1);
        plan.steps.insert(
            at,
            Step::of(Arc::new(SmokeDatabases {
                fleet: Arc::clone(fleet),
            })),
        );
    }
    plan.rollback
        .retain(|s| s.kind != StepKind::RestoreSnapshot);
    if changing {
        let at = plan
            .rollback
            .iter()
            .position(|s| s.kind == StepKind::Stop)
            .map_or(0, |i| i + 1);
        plan.rollback.insert(
            at,
            Step::of(Arc::new(RestoreDatabases {
                fleet: Arc::clone(fleet),
            })),
        );
    }
}

/// Snapshot, update and module check of every database of the fleet, `jobs` at once.
#[derive(Debug)]
pub struct UpdateDatabases {
    fleet: Arc<Fleet>,
    commands: Vec<RemoteCommand>,
}

impl UpdateDatabases {
    /// The fleet's updates to release `release`.
    pub fn new(target: &Target, release: &str, commit: &str, fleet: &Arc<Fleet>) -> Self {
        Self {
            fleet: Arc::clone(fleet),
            commands: fleet
                .changing()
                .map(|d| {
                    crate::runbook::update::command(
                        &for_database(target, &d.name),
                        release,
                        commit,
                        &d.update,
                        d.run,
                    )
                })
                .collect(),
        }
    }
}

#[async_trait]
impl Phase for UpdateDatabases {
    fn kind(&self) -> StepKind {
        StepKind::Update
    }
    fn name(&self) -> String {
        "update databases".to_owned()
    }
    fn title(&self) -> String {
        let changing = self.fleet.changing().count();
        format!(
            "for each of {changing} database(s) of {} ({}), with Odoo stopped: snapshot (template copy + hard links), update of its own change set, module check; a failed one is restored from its snapshot; more than {} failed: the rest are left alone and the deploy rolls back",
            self.fleet.databases.len(),
            self.fleet.jobs_reason,
            self.fleet.max_failed,
        )
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        self.commands.clone()
    }
    fn odoo_down(&self) -> bool {
        true
    }
    fn on_resume(&self) -> crate::runbook::OnResume {
        crate::runbook::OnResume::Skip
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let (ctx, plan) = (run.ctx, run.plan);
        run.progress.updated = true;
        let fleet = &self.fleet;
        let semaphore = tokio::sync::Semaphore::new(fleet.jobs.max(1));
        let stop = AtomicBool::new(false);
        let failed = AtomicUsize::new(0);
        let counts = Mutex::new(Counts {
            left: fleet.databases.len(),
            ..Counts::default()
        });
        let report = |entry: &DatabaseEntry| {
            let mut c = counts.lock().unwrap_or_else(PoisonError::into_inner);
            c.left = c.left.saturating_sub(1);
            match entry.outcome {
                o if o.failed() => c.failed += 1,
                DatabaseOutcome::Skipped => c.skipped += 1,
                _ => c.done += 1,
            }
            ctx.events.event(Event::DatabaseFinished {
                database: entry.database.clone(),
                outcome: entry.outcome,
                reason: entry.reason.clone(),
                done: c.done,
                failed: c.failed,
                skipped: c.skipped,
                left: c.left,
            });
        };
        let mut pending: FuturesUnordered<_> = fleet
            .databases
            .iter()
            .map(|db| {
                let (semaphore, stop, failed, report) = (&semaphore, &stop, &failed, &report);
                async move {
                    let entry = if db.update.is_empty() {
                        entry(db, DatabaseOutcome::Unchanged)
                    } else {
                        let _permit = semaphore.acquire().await.ok();
                        if stop.load(Ordering::SeqCst) {
                            let mut e = entry(db, DatabaseOutcome::Skipped);
                            e.reason = Some(format!(
                                "not begun: more than {} database(s) failed",
                                fleet.max_failed
                            ));
                            e
                        } else {
                            let e = one_database(ctx, plan, db).await;
                            if e.outcome.failed()
                                && failed.fetch_add(1, Ordering::SeqCst) + 1
                                    > fleet.max_failed as usize
                            {
                                stop.store(true, Ordering::SeqCst);
                            }
                            e
                        }
                    };
                    report(&entry);
                    entry
                }
            })
            .collect();
        let mut entries = Vec::new();
        while let Some(e) = pending.next().await {
            entries.push(e);
        }
        drop(pending);
        let order = |e: &DatabaseEntry| {
            fleet
                .databases
                .iter()
                .position(|d| d.name == e.database)
                .unwrap_or(usize::MAX)
        };
        entries.sort_by_key(order);
        for e in &entries {
            if let Some(s) = &e.snapshot
                && !run.progress.backups.contains(s)
            {
                run.progress.backups.push(s.clone());
            }
        }
        let failures: Vec<&DatabaseEntry> = entries.iter().filter(|e| e.outcome.failed()).collect();
        let failed_count = failures.len();
        let not_restored: Vec<String> = entries
            .iter()
            .filter(|e| e.outcome == DatabaseOutcome::NotRestored)
            .map(|e| e.database.clone())
            .collect();
        let evidence: Vec<String> = failures
            .iter()
            .map(|e| {
                format!(
                    "{}: {} ({})",
                    e.database,
                    e.outcome.name(),
                    e.reason.as_deref().unwrap_or("")
                )
            })
            .collect();
        run.progress.databases = entries;
        if !not_restored.is_empty() {
            return Err(Failure::new(
                "update databases",
                format!(
                    "the update of {} failed and its snapshot could not be restored",
                    not_restored.join(", ")
                ),
            )
            .with_evidence(evidence));
        }
        let updated = run
            .progress
            .databases
            .iter()
            .filter(|e| e.outcome == DatabaseOutcome::Updated)
            .count();
        if failed_count > 0 && updated == 0 {
            // Within max_failed, yet nothing deployed: that is a failed deploy, not a
            // partial one.
            return Err(Failure::new(
                "update databases",
                format!(
                    "every one of the {} database(s) to update failed: none was updated",
                    fleet.changing().count()
                ),
            )
            .with_evidence(evidence));
        }
        if failed_count > fleet.max_failed as usize {
            return Err(Failure::new(
                "update databases",
                format!(
                    "{} of {} database(s) failed, more than max_failed = {}",
                    failed_count,
                    fleet.changing().count(),
                    fleet.max_failed
                ),
            )
            .with_evidence(evidence));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Counts {
    done: usize,
    failed: usize,
    skipped: usize,
    left: usize,
}

fn entry(db: &FleetDatabase, outcome: DatabaseOutcome) -> DatabaseEntry {
    DatabaseEntry {
        database: db.name.clone(),
        outcome,
        reason: None,
        evidence: Vec::new(),
        snapshot: None,
        install: db.update.install.iter().cloned().collect(),
        update: db.update.update.iter().cloned().collect(),
        duration_ms: 0,
    }
}

/// The deploy's context with `target` as its environment (one database of the fleet).
fn context_for<'a>(ctx: &DeployContext<'a>, target: &'a Target) -> DeployContext<'a> {
    DeployContext {
        target,
        transport: Arc::clone(&ctx.transport),
        local: ctx.local,
        root: ctx.root,
        code: ctx.code,
        events: ctx.events,
        machine: ctx.machine.clone(),
        pid: ctx.pid,
        webhook: None,
        fleet: Vec::new(),
    }
}

/// One database: snapshot, update, module check; restored from its snapshot when the
/// update or the check fails. Each step is journaled ([`db_step`]: `database snapshot: DB`
/// with the snapshot's id, `database update: DB`, `database restore: DB`) so that a recovery knows where a dead run left each.
async fn one_database(ctx: &DeployContext<'_>, plan: &Plan, db: &FleetDatabase) -> DatabaseEntry {
    let started = Instant::now();
    let t = for_database(ctx.target, &db.name);
    let dctx = context_for(ctx, &t);
    let mut e = entry(db, DatabaseOutcome::Updated);
    let snap_step = db_step("snapshot", &db.name);
    note(ctx, plan, &snap_step, JournalState::Started, None).await;
    let backup_target = t.backup_target(plan.previous_commit.as_deref());
    let backups = Backups::new(ctx.transport.as_ref(), &backup_target);
    let snapshot = match backups.snapshot().await {
        Ok(meta) => meta.id,
        Err(err) => {
            note(ctx, plan, &snap_step, JournalState::Failed, None).await;
            e.outcome = DatabaseOutcome::Failed;
            e.reason = Some(format!("snapshot: {err}"));
            e.duration_ms = crate::runbook::ms(started.elapsed());
            return e;
        }
    };
    note(
        ctx,
        plan,
        &snap_step,
        JournalState::Finished,
        Some(&snapshot),
    )
    .await;
    e.snapshot = Some(snapshot.clone());
    let update_step = db_step("update", &db.name);
    let run = db.run.to_string();
    note(ctx, plan, &update_step, JournalState::Started, Some(&run)).await;
    let result = update_and_check(&dctx, plan, db).await;
    note(
        ctx,
        plan,
        &update_step,
        crate::runbook::ended(result.is_ok()),
        None,
    )
    .await;
    if let Err(failure) = result {
        e.reason = Some(format!("{}: {}", failure.step, failure.reason));
        e.evidence = failure.evidence;
        e.outcome = match restore(ctx, plan, &t, db.run, &snapshot).await {
            Ok(()) => DatabaseOutcome::Restored,
            Err(why) => {
                e.evidence.push(format!("restore failed: {why}"));
                DatabaseOutcome::NotRestored
            }
        };
    }
    e.duration_ms = crate::runbook::ms(started.elapsed());
    e
}

async fn update_and_check(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    db: &FleetDatabase,
) -> Result<(), Failure> {
    let held = crate::runbook::update::advisory(ctx, plan)
        .await
        .map_err(|e| Failure::new(StepKind::Update, e.to_string()))?;
    let cmd = crate::runbook::update::command(
        ctx.target,
        &plan.release,
        &plan.commit,
        &db.update,
        db.run,
    );
    let result = crate::runbook::update::update_at(ctx, plan, &[cmd], db.run).await;
    held.release().await;
    result?;
    crate::runbook::verify_modules::check(ctx, &db.update.install).await
}

/// Restores `t`'s database from `snapshot`, after settling its update run (an update this
/// run lost contact with goes on on the host: nothing is restored under it).
async fn restore(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    t: &Target,
    run: usize,
    snapshot: &str,
) -> Result<(), String> {
    let step = db_step("restore", &t.db.name);
    note(ctx, plan, &step, JournalState::Started, Some(snapshot)).await;
    let result = async {
        DetachedRun::update(&t.layout, &plan.release, run)
            .settle(
                ctx.transport.as_ref(),
                false,
                UPDATE_TIMEOUT,
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| {
                format!("the update still running on the host could not be stopped: {e}")
            })?;
        let target = t.backup_target(plan.previous_commit.as_deref());
        Backups::new(ctx.transport.as_ref(), &target)
            .restore_once(snapshot)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
    .await;
    note(
        ctx,
        plan,
        &step,
        crate::runbook::ended(result.is_ok()),
        None,
    )
    .await;
    result
}

/// The rollback's step: every database the fleet updated goes back to its snapshot.
#[derive(Debug)]
pub struct RestoreDatabases {
    fleet: Arc<Fleet>,
}

#[async_trait]
impl Phase for RestoreDatabases {
    fn kind(&self) -> StepKind {
        StepKind::RestoreSnapshot
    }
    fn name(&self) -> String {
        "restore databases".to_owned()
    }
    fn title(&self) -> String {
        format!(
            "swap each updated database of the {} back to its pre-deploy snapshot (the failed ones are restored already)",
            if self.fleet.databases.len() == 1 {
                "fleet".to_owned()
            } else {
                format!("{} of the fleet", self.fleet.databases.len())
            }
        )
    }
    fn odoo_down(&self) -> bool {
        true
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let (ctx, plan) = (run.ctx, run.plan);
        let mut problems = Vec::new();
        let mut entries = std::mem::take(&mut run.progress.databases);
        for e in &mut entries {
            let Some(snapshot) = e.snapshot.clone() else {
                continue;
            };
            if e.outcome != DatabaseOutcome::Updated {
                continue;
            }
            let Some(db) = self.fleet.databases.iter().find(|d| d.name == e.database) else {
                continue;
            };
            let t = for_database(ctx.target, &db.name);
            match restore(ctx, plan, &t, db.run, &snapshot).await {
                Ok(()) => e.outcome = DatabaseOutcome::RolledBack,
                Err(why) => {
                    e.outcome = DatabaseOutcome::NotRestored;
                    e.evidence.push(format!("restore failed: {why}"));
                    problems.push(format!("{}: {why}", e.database));
                }
            }
        }
        run.progress.databases = entries;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(
                self.name(),
                format!("{} database(s) could not be restored", problems.len()),
            )
            .with_evidence(problems))
        }
    }
}

/// The checksums stored in each database the fleet updated (a restored one keeps its
/// old ones, so the next deploy updates it again).
#[derive(Debug)]
pub struct StoreFleetChecksums {
    fleet: Arc<Fleet>,
}

#[async_trait]
impl Phase for StoreFleetChecksums {
    fn kind(&self) -> StepKind {
        StepKind::StoreChecksums
    }
    fn title(&self) -> String {
        format!(
            "store the new module checksums in each updated database of the {} (ir_config_parameter odd.installed_checksums)",
            self.fleet.databases.len()
        )
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let ctx = run.ctx;
        let updated: BTreeSet<&str> = if run.progress.databases.is_empty() {
            // A resumed run: every database whose update set was not empty.
            self.fleet.changing().map(|d| d.name.as_str()).collect()
        } else {
            run.progress
                .databases
                .iter()
                .filter(|e| e.outcome == DatabaseOutcome::Updated)
                .map(|e| e.database.as_str())
                .collect()
        };
        for name in updated {
            let t = for_database(ctx.target, name);
            crate::runbook::checksums::store(&context_for(ctx, &t))
                .await
                .map_err(|e| Failure::new(self.kind(), format!("{name}: {e}")))?;
        }
        Ok(())
    }
}

/// The deploy's smoke step (against the fleet's first database, `name`), with its
/// failure on that database after the database failed and was restored from its
/// snapshot said as a notice, as for every other restored database: that database runs
/// the new code on its old schema and is counted failed already (`max_failed`).
#[derive(Debug)]
pub struct SmokeMain {
    inner: Arc<dyn Phase>,
    fleet: Arc<Fleet>,
}

#[async_trait]
impl Phase for SmokeMain {
    fn kind(&self) -> StepKind {
        self.inner.kind()
    }
    fn name(&self) -> String {
        self.inner.name()
    }
    fn title(&self) -> String {
        self.inner.title()
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        self.inner.commands()
    }
    fn fleet_commands(&self) -> Vec<(String, Vec<RemoteCommand>)> {
        self.inner.fleet_commands()
    }
    fn odoo_down(&self) -> bool {
        self.inner.odoo_down()
    }
    fn on_resume(&self) -> crate::runbook::OnResume {
        self.inner.on_resume()
    }
    fn fatal(&self) -> bool {
        self.inner.fatal()
    }
    fn journal_detail(&self, progress: &crate::runbook::Progress) -> Option<String> {
        self.inner.journal_detail(progress)
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let result = self.inner.run(run).await;
        let Err(failure) = result else {
            return Ok(());
        };
        let main = self.fleet.databases.first().map(|d| d.name.as_str());
        let restored = run
            .progress
            .databases
            .iter()
            .any(|e| Some(e.database.as_str()) == main && e.outcome.failed());
        if !restored {
            return Err(failure);
        }
        run.ctx.events.event(Event::Notice {
            message: format!(
                "{}: the smoke check fails on the restored database: {}",
                main.unwrap_or_default(),
                failure.reason
            ),
        });
        Ok(())
    }
}

/// The smoke login against each database of the fleet (`db` in the JSON-RPC login), the
/// environment's own being checked by the smoke step before it.
#[derive(Debug)]
pub struct SmokeDatabases {
    fleet: Arc<Fleet>,
}

#[async_trait]
impl Phase for SmokeDatabases {
    fn kind(&self) -> StepKind {
        StepKind::Smoke
    }
    fn name(&self) -> String {
        "smoke databases".to_owned()
    }
    fn title(&self) -> String {
        format!(
            "the smoke login and read against each other database of the {} (`db` in the JSON-RPC login)",
            self.fleet.databases.len()
        )
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let ctx = run.ctx;
        let mut problems = Vec::new();
        for db in self.fleet.databases.iter().skip(1).filter(|d| d.served) {
            let restored = run
                .progress
                .databases
                .iter()
                .any(|e| e.database == db.name && e.outcome.failed());
            let t = for_database(ctx.target, &db.name);
            if let Err(e) = crate::runbook::smoke::fixed(&t).await {
                if restored {
                    // It runs the new code on its old schema: said, not fatal (it failed
                    // already and is counted so).
                    ctx.events.event(Event::Notice {
                        message: format!(
                            "{}: the smoke check fails on the restored database: {e}",
                            db.name
                        ),
                    });
                } else {
                    problems.push(format!("{}: {e}", db.name));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(
                self.name(),
                format!("the smoke check failed on {} database(s)", problems.len()),
            )
            .with_evidence(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partly_failed_words_each_outcome_on_its_own() {
        let e = |db: &str, outcome, reason: Option<&str>| DatabaseEntry {
            database: db.to_owned(),
            outcome,
            reason: reason.map(str::to_owned),
            evidence: Vec::new(),
            snapshot: None,
            install: Vec::new(),
            update: Vec::new(),
            duration_ms: 0,
        };
        assert_eq!(
            partly_failed(&[
                e("a", DatabaseOutcome::Updated, None),
                e("b", DatabaseOutcome::Unchanged, None)
            ]),
            None
        );
        let reason = partly_failed(&[
            e("a", DatabaseOutcome::Updated, None),
            e("b", DatabaseOutcome::Restored, Some("update: exit 1")),
            e("c", DatabaseOutcome::Failed, Some("snapshot: disk full")),
            e("d", DatabaseOutcome::Unchanged, None),
        ])
        .expect("failed ones");
        assert_eq!(
            reason,
            "deployed and verified on 1 database(s) (1 unchanged); \
             1 failed and restored from their snapshots: b (update: exit 1); \
             1 failed before any change (their snapshot could not be taken; nothing to restore): c (snapshot: disk full)"
        );
        assert!(!reason.contains("c (snapshot: disk full) restored"));
    }

    #[test]
    fn a_database_named_like_a_step_is_journaled_apart_from_the_runbook() {
        use crate::journal::{
            JournalEntry,
            JournalState::{Finished, Started},
        };
        let e = |step: String, state, detail: Option<&str>| JournalEntry {
            deploy: crate::testing::rid(1),
            step,
            state,
            at: 1_795_132_800,
            at_ms: None,
            detail: detail.map(str::to_owned),
        };
        let snap = "snapshot-20261122-050000-000-0123abcd";
        let entries = [
            e("update databases".to_owned(), Started, None),
            e(db_step("snapshot", "databases"), Finished, Some(snap)),
            e(db_step("update", "databases"), Started, Some("3")),
            e(db_step("snapshot", "a: b"), Finished, Some(snap)),
            e(db_step("update", "a: b"), Finished, None),
            e("update databases".to_owned(), Finished, None),
        ];
        let mine: Vec<&JournalEntry> = entries.iter().collect();
        assert_eq!(
            journal_states(&mine),
            vec![
                (
                    "databases".to_owned(),
                    format!("update begun (mixed state), snapshot {snap}")
                ),
                ("a: b".to_owned(), format!("updated, snapshot {snap}")),
            ]
        );
        let restores = journal_restores(&mine);
        assert_eq!(restores.len(), 2);
        assert_eq!(restores[0].database, "databases");
        assert_eq!(restores[0].run, Some(3));
        assert_ne!(db_step("update", "databases"), "update databases");
    }

    #[test]
    fn glob_matches_as_a_shell_does() {
        assert!(glob("cust_*", "cust_a"));
        assert!(glob("cust_*", "cust_"));
        assert!(!glob("cust_*", "cus"));
        assert!(glob("c?st_*b", "cust_aab"));
        assert!(!glob("c?st_*b", "cust_aaba"));
        assert!(glob("*", "anything"));
        assert!(!glob("a", "ab"));
    }

    #[test]
    fn the_fleet_is_name_then_names_then_matches_less_excludes_and_odds_copies() {
        let spec = FleetSpec {
            names: vec!["b".into(), "main".into()],
            pattern: Some("cust_*".into()),
            exclude: vec!["cust_old*".into()],
            max_failed: 0,
            jobs: None,
        };
        let cluster: Vec<String> = [
            "postgres",
            "cust_z",
            "cust_a",
            "cust_old1",
            "cust_a-snap-20261122-041747-123",
            "cust_a-snap-20261122-041747-123-0123abcd",
            "cust_a-replaced-20261122-041747-123-0123abcd",
            "cust_a-refresh-failed-20261122-041747-123",
            "main",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            spec.databases("main", &cluster),
            vec!["main", "b", "cust_a", "cust_z"]
        );
    }

    #[test]
    fn served_follows_db_name_and_dbfilter_as_odoo_does() {
        assert!(served(None, None, "erp.example.com", "a"));
        assert!(served(Some("a,b"), None, "erp.example.com", "b"));
        assert!(!served(Some("a,b"), None, "erp.example.com", "c"));
        assert!(served(None, Some("^cust_.*$"), "x", "cust_1"));
        assert!(!served(None, Some("^cust_.*$"), "x", "demo"));
        // %d: the host's first label, www. dropped.
        assert!(served(None, Some("^%d$"), "www.acme.example.com", "acme"));
        assert!(!served(None, Some("^%d$"), "acme.example.com", "globex"));
        assert!(served(
            None,
            Some("%h"),
            "acme.example.com",
            "acme.example.com"
        ));
        assert_eq!(
            base_url_host("https://u@erp.example.com:8443/web"),
            "erp.example.com"
        );
    }
}
