//! `odd test`: the Odoo tests of some modules, on throwaway databases copied from a
//! cached template, as click-odoo-initdb caches them.
//!
//! 1. **Select** the modules under test: those named, all of the project's, or those
//!    changed since a git revision and their dependents among the project's modules.
//! 2. **Template**: a database with every dependency of the modules under test
//!    installed (and nothing under test), named after the set of those dependencies and
//!    their content checksums ([`crate::checksum`]): a name that exists is reused as it
//!    is; a changed dependency gives another name, so the template is built again
//!    (under a temporary name, renamed once Odoo succeeded) and the outdated one for
//!    the same set is dropped.
//! 3. **Run**: per job, `CREATE DATABASE … TEMPLATE` and a hard-linked copy of the
//!    template's filestore, then `odoo-bin -i <modules> --test-enable --test-tags
//!    /<module>,… --stop-after-init`; its log is read back into results
//!    ([`results`]), JUnit XML by [`junit`].
//! 4. **Clean**: the throwaway databases and filestores are dropped (kept on request).
//!
//! Database names never reach SQL text: they travel as psql variables
//! ([`crate::backup::commands`]) and are checked with [`crate::untrusted::database`].

pub mod junit;
pub mod results;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::addon::{ScanError, ScanReport};
use crate::backup::DbConn;
use crate::backup::commands::{self as pgcmd, MAINTENANCE_DB, PgTools};
use crate::checksum::{self, ChecksumError, ChecksumRules};
use crate::command::RemoteCommand;
use crate::event::{Event, EventSink};
use crate::graph::{AddonGraph, SkipReason};
use crate::odoo::LogWatch;
use crate::transport::{Transport, TransportError, tail_of};

pub use results::{Outcome, Stage, Summary, TestCase, TestLog};

/// The prefix of every template database odd makes.
pub const TEMPLATE_PREFIX: &str = "odd_tpl_";
/// The prefix of every throwaway test database.
pub const THROWAWAY_PREFIX: &str = "odd_test_";

/// Which modules to test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Exactly these.
    Modules(Vec<String>),
    /// Every installable module of the project's addons paths.
    All,
    /// The project's modules with files changed since this git revision (committed or
    /// not, untracked files included), and their dependents among the project's modules.
    Since(String),
}

/// Everything a run needs, resolved from odd.toml and the flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project root (git commands run there).
    pub root: PathBuf,
    /// `[project].addons_paths`, absolute: the project's own modules.
    pub project_paths: Vec<PathBuf>,
    /// `[test].addons_paths`: the installation's other folders.
    pub extra_paths: Vec<PathBuf>,
    /// Odoo's own addons folder, when known.
    pub odoo_addons_dir: Option<PathBuf>,
    /// The argv running `odoo-bin`.
    pub odoo_command: Vec<String>,
    /// Odoo's `--data-dir` for every run (filestores of templates and throwaways).
    pub data_dir: PathBuf,
    /// The PostgreSQL server (its `name` is not used).
    pub conn: DbConn,
    /// Where `psql`, `createdb` and the other PostgreSQL programs are.
    pub pg: PgTools,
    /// The longest one Odoo run may take.
    pub timeout: Duration,
    /// Which modules to test.
    pub selection: Selection,
    /// Databases run at once; the modules are split over them.
    pub jobs: usize,
    /// Keep the throwaway databases and filestores.
    pub keep: bool,
}

/// The template a run used.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateUse {
    /// The template database's name.
    pub database: String,
    /// Whether this run built it (else it was reused as found).
    pub built: bool,
    /// Seconds spent building it (0 when reused).
    pub build_seconds: f64,
    /// Its `pg_database.oid`: the same oid on two runs is the same database, not rebuilt.
    pub oid: u32,
    /// The SHA-256 key of its dependencies and their checksums.
    pub key: String,
}

/// One throwaway database and the Odoo run on it.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// The throwaway database's name.
    pub database: String,
    /// The modules tested on it.
    pub modules: Vec<String>,
    /// Odoo's exit code (`None` when killed or timed out).
    pub exit_code: Option<i32>,
    /// Seconds from the copy of the template to Odoo's end.
    pub seconds: f64,
    /// Seconds the copy of the template (database and filestore) took.
    pub copy_seconds: f64,
    /// Odoo's own `odoo.tests.result` counts.
    pub summary: Option<Summary>,
    /// What went wrong outside the tests (Odoo could not load, its counts disagree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Evidence for the problem: CRITICAL lines, the last lines of the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether the database and its filestore were kept.
    pub kept: bool,
}

/// Totals over every job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Tests run.
    pub tests: u32,
    /// Tests passed.
    pub passed: u32,
    /// Tests failed (an assertion).
    pub failed: u32,
    /// Tests in error (they raised).
    pub errors: u32,
}

/// What a run did and found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The modules under test.
    pub modules: Vec<String>,
    /// What was selected and why (`--since REF: changed`, …).
    pub selected_by: String,
    /// The template's modules (the dependencies of the modules under test).
    pub dependencies: Vec<String>,
    /// The template the throwaway databases were copied from; none when nothing ran.
    pub template: Option<TemplateUse>,
    /// Each throwaway database and the Odoo run on it.
    pub jobs: Vec<JobReport>,
    /// Every test, with its result.
    pub tests: Vec<TestCase>,
    /// The counts over every job.
    pub totals: Totals,
    /// What the operator must know: no test ran, nothing to test.
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether everything passed and every Odoo run ended as it should.
    pub fn ok(&self) -> bool {
        self.totals.failed == 0
            && self.totals.errors == 0
            && self.jobs.iter().all(|j| j.problem.is_none())
    }

    /// The JUnit XML of the run.
    pub fn junit(&self) -> String {
        let problems: Vec<junit::RunProblem<'_>> = self
            .jobs
            .iter()
            .filter_map(|j| {
                Some(junit::RunProblem {
                    database: &j.database,
                    message: j.problem.as_deref()?,
                    detail: j.detail.as_deref().unwrap_or(""),
                })
            })
            .collect();
        junit::render(&self.tests, &problems)
    }
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TestError {
    /// The addons paths could not be scanned.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Scan(#[from] ScanError),

    #[error("unknown module{}: {}", if names.len() > 1 { "s" } else { "" }, names.join(", "))]
    #[diagnostic(
        code(odd::test::unknown_module),
        help("name modules found on [project].addons_paths or [test].addons_paths")
    )]
    /// Modules asked for are on no addons path.
    UnknownModules {
        /// Their names.
        names: Vec<String>,
    },

    #[error("`{module}` depends on `{dependency}`, which is on no addons path")]
    #[diagnostic(
        code(odd::test::missing_dependency),
        help(
            "add the folder holding it to [test].addons_paths, or set [test].odoo_addons_dir to Odoo's own addons"
        )
    )]
    /// A module under test depends on one that is on no addons path.
    MissingDependency {
        /// The module under test.
        module: String,
        /// The dependency not found.
        dependency: String,
    },

    /// A module asked for cannot be tested (e.g. not installable).
    #[error("`{module}` cannot be tested: {reason}")]
    #[diagnostic(code(odd::test::not_testable))]
    NotTestable {
        /// The module.
        module: String,
        /// Why.
        reason: String,
    },

    #[error("git could not list the files changed since `{since}`: {detail}")]
    #[diagnostic(
        code(odd::test::git),
        help("fetch the revision first (CI checkouts are often shallow: fetch-depth 0)")
    )]
    /// `git` could not tell what changed since the revision (`--since`).
    Git {
        /// The revision.
        since: String,
        /// The end of git's error output.
        detail: String,
    },

    /// A module's checksum could not be computed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Checksum(#[from] ChecksumError),

    /// A command on this machine failed to run.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),

    #[error("PostgreSQL: {what} failed: {detail}")]
    #[diagnostic(
        code(odd::test::database),
        help("check [test.database] (host, port, user, password_env): the role needs CREATEDB")
    )]
    /// A PostgreSQL command failed (creating, copying or dropping a database).
    Database {
        /// What was being done.
        what: String,
        /// The end of the command's error output.
        detail: String,
    },

    #[error("building the template {database} failed: odoo-bin {outcome}\n{log}")]
    #[diagnostic(
        code(odd::test::template),
        help("the dependencies of the modules under test must install on a fresh database")
    )]
    /// Odoo failed to build the template (installing the dependencies).
    Template {
        /// The template database.
        database: String,
        /// How Odoo ended: `exited N` or `was killed`.
        outcome: String,
        /// What Odoo logged: its failures, then its last lines.
        log: String,
    },

    /// A database name was refused by [`crate::untrusted::database`].
    #[error(transparent)]
    #[diagnostic(transparent)]
    Refused(#[from] crate::untrusted::Refused),
}

impl TestError {
    /// Whether the input was wrong (odd.toml, a module name, a revision).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            TestError::Scan(_)
                | TestError::UnknownModules { .. }
                | TestError::MissingDependency { .. }
                | TestError::NotTestable { .. }
                | TestError::Git { .. }
        )
    }
}

/// What to test, found on the addons paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The modules under test, sorted.
    pub modules: Vec<String>,
    /// Their dependencies (installed in the template), sorted.
    pub dependencies: Vec<String>,
    /// What was selected and why, for the report.
    pub selected_by: String,
    /// Every module's directory.
    pub dirs: BTreeMap<String, PathBuf>,
    /// The dependencies of each module under test, from its manifest.
    pub depends: BTreeMap<String, Vec<String>>,
}

/// The addons paths Odoo is given and scanned, in Odoo's order: its own folder, the
/// project's, the installation's.
pub fn addons_paths(settings: &Settings) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in settings
        .odoo_addons_dir
        .iter()
        .chain(&settings.project_paths)
        .chain(&settings.extra_paths)
    {
        if !paths.contains(p) {
            paths.push(p.clone());
        }
    }
    paths
}

/// Steps 1 and the template's module list: the modules under test and their dependencies.
pub async fn choose(settings: &Settings, transport: &dyn Transport) -> Result<Chosen, TestError> {
    let scan: ScanReport = crate::addon::scan(&addons_paths(settings))?;
    let graph = AddonGraph::from_scan(&scan);
    let dirs: BTreeMap<String, PathBuf> = scan
        .addons
        .iter()
        .map(|a| (a.name.clone(), a.dir.clone()))
        .collect();
    let project: BTreeSet<String> = scan
        .addons
        .iter()
        .filter(|a| settings.project_paths.iter().any(|p| a.dir.starts_with(p)))
        .filter(|a| a.manifest.installable)
        .map(|a| a.name.clone())
        .collect();
    let (mut modules, selected_by): (BTreeSet<String>, String) = match &settings.selection {
        Selection::Modules(names) => {
            let unknown: Vec<String> = names
                .iter()
                .filter(|n| !dirs.contains_key(*n))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return Err(TestError::UnknownModules { names: unknown });
            }
            (names.iter().cloned().collect(), "--modules".to_owned())
        }
        Selection::All => (
            project.clone(),
            "--all: every module of the project".to_owned(),
        ),
        Selection::Since(since) => {
            let changed = changed_since(settings, transport, since, &scan, &project).await?;
            let with_dependents: BTreeSet<String> = graph
                .dependents_closure(changed.iter().map(String::as_str), None)
                .into_iter()
                .filter(|m| project.contains(m))
                .collect();
            (
                with_dependents,
                format!(
                    "changed since {since}: {}; with their dependents in the project",
                    if changed.is_empty() {
                        "none".to_owned()
                    } else {
                        changed.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            )
        }
    };
    modules.retain(|m| !m.is_empty());
    for name in &modules {
        if let Some(reason) = graph.skipped().get(name) {
            return Err(TestError::NotTestable {
                module: name.clone(),
                reason: match reason {
                    SkipReason::NotInstallable => "its manifest says installable: False".to_owned(),
                    SkipReason::MissingDependencies { modules } => format!(
                        "it depends on {}, on no addons path (add the folder to [test].addons_paths)",
                        modules.join(", ")
                    ),
                    SkipReason::DependencyLoop => "it is part of a dependency loop".to_owned(),
                    SkipReason::DependsOnSkipped { modules } => {
                        format!(
                            "it depends on {}, which cannot be installed",
                            modules.join(", ")
                        )
                    }
                },
            });
        }
        for dep in graph.depends(name).unwrap_or(&[]) {
            if !dirs.contains_key(dep) {
                return Err(TestError::MissingDependency {
                    module: name.clone(),
                    dependency: dep.clone(),
                });
            }
        }
    }
    let mut dependencies = graph.dependencies_closure(modules.iter().map(String::as_str));
    dependencies.retain(|d| !modules.contains(d));
    if !modules.is_empty() {
        // Odoo installs base into every database it creates.
        dependencies.insert("base".to_owned());
    }
    for dep in &dependencies {
        if !dirs.contains_key(dep) {
            return Err(TestError::MissingDependency {
                module: modules.iter().next().cloned().unwrap_or_default(),
                dependency: dep.clone(),
            });
        }
    }
    let depends = modules
        .iter()
        .map(|m| (m.clone(), graph.depends(m).unwrap_or(&[]).to_vec()))
        .collect();
    Ok(Chosen {
        depends,
        modules: graph
            .order_of(modules.iter().map(String::as_str))
            .into_iter()
            .map(str::to_owned)
            .collect(),
        dependencies: graph
            .order_of(dependencies.iter().map(String::as_str))
            .into_iter()
            .map(str::to_owned)
            .collect(),
        selected_by,
        dirs,
    })
}

async fn changed_since(
    settings: &Settings,
    transport: &dyn Transport,
    since: &str,
    scan: &ScanReport,
    project: &BTreeSet<String>,
) -> Result<BTreeSet<String>, TestError> {
    let git = |args: &[&str]| {
        RemoteCommand::new("git")
            .arg("-C")
            .arg(&settings.root)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .args(args)
    };
    let mut files = Vec::new();
    for cmd in [
        git(&[
            "diff",
            "--relative",
            "--name-only",
            "-z",
            "--end-of-options",
            since,
            "--",
        ]),
        git(&["ls-files", "--others", "--exclude-standard", "-z"]),
    ] {
        let out = transport.output(&cmd).await?;
        if !out.status.success() {
            return Err(TestError::Git {
                since: since.to_owned(),
                detail: tail_of(&out.stderr),
            });
        }
        files.extend(
            out.stdout
                .split(|&b| b == 0)
                .filter(|f| !f.is_empty())
                .map(|f| settings.root.join(String::from_utf8_lossy(f).as_ref())),
        );
    }
    Ok(scan
        .addons
        .iter()
        .filter(|a| project.contains(&a.name))
        .filter(|a| files.iter().any(|f| f.starts_with(&a.dir)))
        .map(|a| a.name.clone())
        .collect())
}

/// The template's name and key for a set of dependencies with their checksums, made by
/// `installation` (the Odoo command and data_dir: a template is of one installation, and
/// its filestore lives in that data_dir). The name is `odd_tpl_<set>_<key>`: `set` hashes
/// the installation and the module names, `key` also their checksums, so a changed
/// dependency gives another name with the same `set` prefix.
pub fn template_name(installation: &str, checksums: &BTreeMap<String, String>) -> (String, String) {
    let mut set = Sha256::new();
    let mut key = Sha256::new();
    set.update(format!("odd test template 1\n{installation}\n"));
    key.update(format!("odd test template 1\n{installation}\n"));
    for (name, sum) in checksums {
        set.update(format!("{name}\n"));
        key.update(format!("{name} {sum}\n"));
    }
    let set = hex::encode(set.finalize());
    let key = hex::encode(key.finalize());
    (
        format!("{TEMPLATE_PREFIX}{}_{}", &set[..12], &key[..12]),
        key,
    )
}

/// The whole run. Events: notices of what happens (template reused or built, each
/// job's start and end).
pub async fn run(
    settings: &Settings,
    transport: Arc<dyn Transport>,
    events: &dyn EventSink,
) -> Result<Report, TestError> {
    let chosen = choose(settings, transport.as_ref()).await?;
    let mut report = Report {
        modules: chosen.modules.clone(),
        selected_by: chosen.selected_by.clone(),
        dependencies: chosen.dependencies.clone(),
        template: None,
        jobs: Vec::new(),
        tests: Vec::new(),
        totals: Totals::default(),
        warnings: Vec::new(),
    };
    if chosen.modules.is_empty() {
        report.warnings.push(format!(
            "nothing to test ({}): no test ran",
            chosen.selected_by
        ));
        return Ok(report);
    }
    let ctx = Ctx {
        settings,
        transport: transport.as_ref(),
    };
    let template = ctx.template(&chosen, events).await?;
    let groups = split(&chosen, settings.jobs.max(1));
    let run_id = run_id();
    let mut runs = Vec::new();
    for (index, group) in groups.into_iter().enumerate() {
        let database = format!("{THROWAWAY_PREFIX}{run_id}_{}", index + 1);
        crate::untrusted::database(&database)?;
        runs.push(ctx.job(database, group, &template.database, events));
    }
    // The jobs run at once: each is an odoo-bin on its own database and HTTP port.
    let results = join_all(runs).await;
    for result in results {
        let (job, log) = result?;
        report.tests.extend(log.cases);
        report.jobs.push(job);
    }
    report.template = Some(template);
    let count = |o: Outcome| {
        u32::try_from(report.tests.iter().filter(|c| c.outcome == o).count()).unwrap_or(u32::MAX)
    };
    report.totals = Totals {
        tests: u32::try_from(report.tests.len()).unwrap_or(u32::MAX),
        passed: count(Outcome::Passed),
        failed: count(Outcome::Failed),
        errors: count(Outcome::Error),
    };
    if report.totals.tests == 0 && report.jobs.iter().all(|j| j.problem.is_none()) {
        report.warnings.push(format!(
            "no test ran: Odoo found no test selected by --test-tags in {}",
            report.modules.join(", ")
        ));
    }
    Ok(report)
}

/// Runs the futures at once and returns their results in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, out) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *out = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Splits the modules under test over at most `jobs` groups. A module and the modules
/// under test it depends on stay together (Odoo installs them together); groups are
/// filled largest first, each to the emptiest job.
pub fn split(chosen: &Chosen, jobs: usize) -> Vec<Vec<String>> {
    // Connected pieces of the modules under test, by their dependencies among them.
    let under: BTreeSet<&str> = chosen.modules.iter().map(String::as_str).collect();
    let mut piece_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pieces: Vec<Vec<&str>> = Vec::new();
    let depends = |m: &str| chosen.depends.get(m).cloned().unwrap_or_default();
    for module in &chosen.modules {
        let linked: BTreeSet<usize> = depends(module)
            .iter()
            .filter(|d| under.contains(d.as_str()))
            .filter_map(|d| piece_of.get(d.as_str()).copied())
            .collect();
        let target = match linked.iter().next() {
            Some(&first) => {
                for &other in linked.iter().skip(1) {
                    let moved = std::mem::take(&mut pieces[other]);
                    for m in &moved {
                        piece_of.insert(m, first);
                    }
                    pieces[first].extend(moved);
                }
                first
            }
            None => {
                pieces.push(Vec::new());
                pieces.len() - 1
            }
        };
        pieces[target].push(module);
        piece_of.insert(module, target);
    }
    let mut pieces: Vec<Vec<&str>> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
    pieces.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut groups: Vec<Vec<String>> = vec![Vec::new(); jobs.min(pieces.len()).max(1)];
    for piece in pieces {
        if let Some(group) = groups.iter_mut().min_by_key(|g| g.len()) {
            group.extend(piece.into_iter().map(str::to_owned));
        }
    }
    // Odoo's order inside each group, as chosen gave it.
    for group in &mut groups {
        group.sort_by_key(|m| chosen.modules.iter().position(|x| x == m));
    }
    groups
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = Sha256::new();
    h.update(format!("{nanos} {}", std::process::id()));
    hex::encode(h.finalize())[..10].to_owned()
}

struct Ctx<'a> {
    settings: &'a Settings,
    transport: &'a dyn Transport,
}

impl Ctx<'_> {
    fn conn(&self) -> &DbConn {
        &self.settings.conn
    }

    /// psql on the maintenance database with `vars`; its stdout.
    async fn psql(
        &self,
        what: &str,
        vars: &[(&str, &str)],
        sql: &str,
    ) -> Result<String, TestError> {
        let cmd = self
            .settings
            .pg
            .psql(self.conn(), MAINTENANCE_DB, vars, sql);
        self.checked(what, &cmd).await
    }

    async fn checked(&self, what: &str, cmd: &RemoteCommand) -> Result<String, TestError> {
        let out = self.transport.output(cmd).await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(TestError::Database {
                what: what.to_owned(),
                detail: tail_of(&out.stderr),
            })
        }
    }

    async fn oid(&self, db: &str) -> Result<Option<u32>, TestError> {
        let out = self
            .psql(
                "reading the template",
                &[("db", db)],
                "SELECT oid FROM pg_database WHERE datname = :'db';\n",
            )
            .await?;
        Ok(out.trim().parse().ok())
    }

    async fn drop_db(&self, db: &str) -> Result<(), TestError> {
        crate::untrusted::database(db)?;
        let cmd = self.settings.pg.drop_database(self.conn(), db);
        self.checked(&format!("dropping {db}"), &cmd).await?;
        self.transport
            .check(
                &pgcmd::remove_all(&self.filestore(db)),
                &crate::transport::Discard,
            )
            .await?;
        Ok(())
    }

    fn filestore(&self, db: &str) -> PathBuf {
        self.settings.data_dir.join("filestore").join(db)
    }

    fn odoo(&self, db: &str) -> RemoteCommand {
        let s = self.settings;
        let (program, rest) = match s.odoo_command.split_first() {
            Some((program, rest)) => (program.as_str(), rest),
            None => ("odoo-bin", &[][..]),
        };
        let paths: Vec<String> = addons_paths(s)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut cmd = RemoteCommand::new(program)
            .args(rest)
            .arg(format!("--addons-path={}", paths.join(",")))
            .arg(format!("--data-dir={}", s.data_dir.display()))
            .arg("-d")
            .arg(db);
        if let Some(host) = &s.conn.host {
            cmd = cmd.arg(format!("--db_host={host}"));
        }
        if let Some(port) = s.conn.port {
            cmd = cmd.arg(format!("--db_port={port}"));
        }
        if let Some(user) = &s.conn.user {
            cmd = cmd.arg(format!("--db_user={user}"));
        }
        if let Some(pw) = &s.conn.password {
            // libpq reads it when Odoo is given no db_password.
            cmd = cmd.secret_env("PGPASSWORD", pw.clone());
        }
        cmd.timeout(s.timeout)
    }

    /// Step 2: the template, reused or built.
    async fn template(
        &self,
        chosen: &Chosen,
        events: &dyn EventSink,
    ) -> Result<TemplateUse, TestError> {
        let rules = ChecksumRules::default();
        let sums = checksum::checksums(
            chosen
                .dependencies
                .iter()
                .filter_map(|d| chosen.dirs.get(d).map(|p| (d.as_str(), p.as_path()))),
            &rules,
        )?;
        let installation = format!(
            "{:?} {}",
            self.settings.odoo_command,
            self.settings.data_dir.display()
        );
        let (database, key) = template_name(&installation, &sums);
        crate::untrusted::database(&database)?;
        if let Some(oid) = self.oid(&database).await? {
            events.event(Event::Notice {
                message: format!("template {database} reused (its dependencies are unchanged)"),
            });
            return Ok(TemplateUse {
                database,
                built: false,
                build_seconds: 0.0,
                oid,
                key,
            });
        }
        let started = Instant::now();
        // The outdated templates of the same set of dependencies go.
        let set_prefix = &database[..TEMPLATE_PREFIX.len() + 12];
        let old = self
            .psql(
                "listing templates",
                &[("prefix", set_prefix)],
                "SELECT datname FROM pg_database WHERE starts_with(datname, :'prefix') ORDER BY 1;\n",
            )
            .await?;
        for name in old.lines().filter(|l| !l.is_empty()) {
            self.drop_db(name).await?;
        }
        let building = format!("{database}_new");
        events.event(Event::Notice {
            message: format!(
                "building template {database}: installing {}",
                chosen.dependencies.join(", ")
            ),
        });
        let create = self
            .settings
            .pg
            .create_empty_database(self.conn(), &building);
        self.checked("creating the template", &create).await?;
        let cmd = self
            .odoo(&building)
            .arg("-i")
            .arg(chosen.dependencies.join(","))
            .arg("--without-demo=all")
            .arg("--stop-after-init")
            .arg("--no-http")
            .arg("--logfile=");
        let out = self.transport.output(&cmd).await;
        let failed = match &out {
            Err(e) => Some((format!("did not finish: {e}"), String::new())),
            Ok(out) => {
                let mut watch = match LogWatch::new::<&str>(&[], 30) {
                    Ok(watch) => watch,
                    Err(e) => {
                        return Err(TestError::Database {
                            what: "reading Odoo's log".to_owned(),
                            detail: e.to_string(),
                        });
                    }
                };
                for line in String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .chain(String::from_utf8_lossy(&out.stderr).lines())
                {
                    watch.line(line);
                }
                let failures: Vec<String> = watch.failures().map(|f| format!("{f:?}")).collect();
                if !out.status.success() || !failures.is_empty() {
                    Some((
                        match out.status.code() {
                            Some(code) => format!("exited {code}"),
                            None => "was killed".to_owned(),
                        },
                        format!("{}\n{}", failures.join("\n"), watch.tail().join("\n")),
                    ))
                } else {
                    None
                }
            }
        };
        if let Some((outcome, log)) = failed {
            let _ = self.drop_db(&building).await;
            return Err(TestError::Template {
                database,
                outcome,
                log,
            });
        }
        self.psql(
            "naming the template",
            &[("src", &building), ("dst", &database)],
            "ALTER DATABASE :\"src\" RENAME TO :\"dst\";\n",
        )
        .await?;
        let built_store = self.filestore(&building);
        // A filestore left under the template's name by a template dropped elsewhere.
        self.transport
            .check(
                &pgcmd::remove_all(&self.filestore(&database)),
                &crate::transport::Discard,
            )
            .await?;
        if self.transport.exists(&built_store).await? {
            self.transport
                .rename(&built_store, &self.filestore(&database))
                .await?;
        }
        let oid = self
            .oid(&database)
            .await?
            .ok_or_else(|| TestError::Database {
                what: "reading the template".to_owned(),
                detail: format!("{database} is gone after it was built"),
            })?;
        let build_seconds = started.elapsed().as_secs_f64();
        events.event(Event::Notice {
            message: format!("template {database} built in {build_seconds:.1} s"),
        });
        Ok(TemplateUse {
            database,
            built: true,
            build_seconds,
            oid,
            key,
        })
    }

    /// Step 3 for one group, then step 4.
    async fn job(
        &self,
        database: String,
        modules: Vec<String>,
        template: &str,
        events: &dyn EventSink,
    ) -> Result<(JobReport, TestLog), TestError> {
        let started = Instant::now();
        let copy = self
            .settings
            .pg
            .copy_database(self.conn(), template, &database);
        self.checked(&format!("copying the template to {database}"), &copy)
            .await?;
        let source = self.filestore(template);
        if self.transport.exists(&source).await? {
            self.transport
                .mkdir_p(&self.settings.data_dir.join("filestore"))
                .await?;
            self.transport
                .check(
                    &pgcmd::hardlink_copy(&source, &self.filestore(&database)),
                    &crate::transport::Discard,
                )
                .await?;
        }
        let copy_seconds = started.elapsed().as_secs_f64();
        events.event(Event::Notice {
            message: format!(
                "testing {} on {database} (template copied in {copy_seconds:.2} s)",
                modules.join(", ")
            ),
        });
        let tags: Vec<String> = modules.iter().map(|m| format!("/{m}")).collect();
        let port = free_port();
        let cmd = self
            .odoo(&database)
            .arg("-i")
            .arg(modules.join(","))
            .arg("--test-enable")
            .arg(format!("--test-tags={}", tags.join(",")))
            .arg("--without-demo=all")
            .arg("--stop-after-init")
            .arg("--http-interface=127.0.0.1")
            .arg(format!("--http-port={port}"))
            .arg("--logfile=");
        let out = self.transport.output(&cmd).await;
        let mut log = TestLog::default();
        let mut job = JobReport {
            database: database.clone(),
            modules,
            exit_code: None,
            seconds: 0.0,
            copy_seconds,
            summary: None,
            problem: None,
            detail: None,
            kept: self.settings.keep,
        };
        match out {
            Err(e) => job.problem = Some(format!("odoo-bin did not finish: {e}")),
            Ok(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                log.read(&stdout);
                log.read(&stderr);
                job.exit_code = out.status.code();
                job.summary = log.summary;
                job.problem = problem(&log, out.status.code());
                if job.problem.is_some() {
                    let tail: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
                    let tail = &tail[tail.len().saturating_sub(25)..];
                    job.detail = Some(format!(
                        "{}{}",
                        log.critical
                            .iter()
                            .map(|c| format!("{c}\n"))
                            .collect::<String>(),
                        tail.join("\n")
                    ));
                }
            }
        }
        job.seconds = started.elapsed().as_secs_f64();
        events.event(Event::Notice {
            message: format!(
                "{database}: {} test(s) read in {:.1} s, odoo-bin exit {}",
                log.cases.len(),
                job.seconds,
                job.exit_code
                    .map_or_else(|| "none".to_owned(), |c| c.to_string())
            ),
        });
        if !self.settings.keep {
            self.drop_db(&database).await?;
        }
        Ok((job, log))
    }
}

/// What is wrong with a run besides its tests, judged from Odoo's exit code and its
/// summary (odoo-facts.md: 0 all passed, 1 a test failed, 255 the load failed).
fn problem(log: &TestLog, code: Option<i32>) -> Option<String> {
    let (tests, failed, errors) = log.counts();
    match (code, log.summary) {
        (_, None) => Some(format!(
            "odoo-bin ended ({}) without its test summary: the modules did not load",
            code.map_or_else(|| "killed".to_owned(), |c| format!("exit {c}"))
        )),
        (Some(0 | 1), Some(s)) if s.tests == tests && s.failed == failed && s.errors == errors => {
            let bad = failed + errors > 0;
            (bad != (code == Some(1))).then(|| {
                format!(
                    "odoo-bin exited {} with {failed} failed and {errors} error(s)",
                    code.unwrap_or(-1)
                )
            })
        }
        (_, Some(s)) if s.tests == tests && s.failed == failed && s.errors == errors => {
            Some(format!(
                "odoo-bin exited {} after its test summary",
                code.map_or_else(|| "none (killed)".to_owned(), |c| c.to_string())
            ))
        }
        (_, Some(s)) => Some(format!(
            "Odoo counted {} failed, {} error(s) of {} tests; its log shows {failed}, {errors} of {tests} (exit {})",
            s.failed,
            s.errors,
            s.tests,
            code.map_or_else(|| "none".to_owned(), |c| c.to_string())
        )),
    }
}

/// A TCP port free on loopback now, for Odoo's HTTP server in test mode (it starts one
/// even with `--stop-after-init`).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

/// The `Path` of a throwaway or template filestore (for tests and the CLI's messages).
pub fn filestore_of(data_dir: &Path, db: &str) -> PathBuf {
    data_dir.join("filestore").join(db)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Chosen, split, template_name};

    fn chosen(modules: &[(&str, &[&str])]) -> Chosen {
        Chosen {
            modules: modules.iter().map(|(m, _)| (*m).to_owned()).collect(),
            dependencies: vec!["base".to_owned()],
            selected_by: String::new(),
            dirs: BTreeMap::new(),
            depends: modules
                .iter()
                .map(|(m, d)| ((*m).to_owned(), d.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn a_module_stays_with_the_modules_under_test_it_depends_on() {
        let c = chosen(&[
            ("a", &["base"]),
            ("b", &["a"]),
            ("c", &["base"]),
            ("d", &["c", "b"]),
            ("e", &["base"]),
            ("f", &["base"]),
        ]);
        // a-b-d-c are one piece (d joins both), e and f alone.
        assert_eq!(split(&c, 2), [vec!["a", "b", "c", "d"], vec!["e", "f"]]);
        assert_eq!(split(&c, 1), [vec!["a", "b", "c", "d", "e", "f"]]);
        assert_eq!(split(&c, 8).len(), 3, "never more databases than pieces");
    }

    #[test]
    fn a_changed_checksum_keeps_the_set_prefix_and_changes_the_name() {
        let mut sums = BTreeMap::from([
            ("base".to_owned(), "1".repeat(40)),
            ("mail".to_owned(), "2".repeat(40)),
        ]);
        let (first, key) = template_name("odoo-bin /data", &sums);
        assert!(
            first.starts_with("odd_tpl_") && first.len() == 8 + 12 + 1 + 12,
            "{first}"
        );
        assert_eq!(&key[..12], &first[21..]);
        sums.insert("mail".to_owned(), "3".repeat(40));
        let (second, _) = template_name("odoo-bin /data", &sums);
        assert_ne!(first, second);
        assert_eq!(first[..21], second[..21]);
        let (other, _) = template_name("other-odoo /data", &sums);
        assert_ne!(
            other[..21],
            second[..21],
            "another installation, another set"
        );
    }
}
