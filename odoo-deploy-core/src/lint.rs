//! `odd lint`: odd's own checks of the addons ([`crate::check`]) and the external linters
//! a project configures in `odd.toml`, run on the changed modules or on all, their
//! findings normalised to file, line, column, code, severity and message.
//!
//! ```toml
//! [lint]
//! fail_on = "error"            # or "warning": warnings fail the run too
//!
//! [lint.linters.flake8]
//! command = ["flake8", "{files}"]   # any argv; {files}: the modules' files, {modules}: their folders
//! format = "flake8"                 # flake8 | pylint-parseable | pylint-json | ruff-json | isort | regex
//! severities = { W = "warning", C9 = "note" }   # by code prefix; the longest wins
//! ```
//!
//! A linter is judged by what it printed and how it exited ([`judge`]): findings it
//! printed are findings, whatever its exit code; a non-zero exit with nothing parsable
//! is a crash, reported apart from findings; exit 127 is a program not found.
//!
//! - [`parse`] — one reader per known output format, and the `regex` one.
//! - [`report`] — GitHub workflow commands, JUnit XML and SARIF 2.1.0.

pub mod parse;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::addon::{self, ScanError};
use crate::check::{self, CheckOptions, Problem};
use crate::command::RemoteCommand;
use crate::config::{ConfigError, LoadedConfig};
use crate::git::Git;
use crate::graph::AddonGraph;
use crate::transport::{Transport, TransportError, tail_of};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Advice (pylint's conventions and refactorings): never fails a run.
    Note,
    /// Fails the run with `fail_on = "warning"`.
    Warning,
    /// Fails the run.
    Error,
}

impl Severity {
    /// A severity as linters spell it (`E`, `error`, `warn`, `info`, …).
    pub fn from_word(word: &str) -> Option<Self> {
        match word.to_ascii_lowercase().as_str() {
            "e" | "error" | "err" | "fatal" | "f" | "critical" => Some(Self::Error),
            "w" | "warning" | "warn" => Some(Self::Warning),
            "n" | "note" | "notice" | "info" | "i" | "c" | "convention" | "r" | "refactor"
            | "hint" => Some(Self::Note),
            _ => None,
        }
    }

    /// The severity as SARIF and GitHub annotations spell it: `error`, `warning` or `note`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        }
    }
}

/// From which severity findings fail a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Errors fail; warnings and notes are reported only.
    #[default]
    Error,
    /// Errors and warnings fail.
    Warning,
}

impl FailOn {
    /// Whether a finding of `severity` fails the run.
    pub fn fails(self, severity: Severity) -> bool {
        match self {
            Self::Error => severity == Severity::Error,
            Self::Warning => severity >= Severity::Warning,
        }
    }
}

/// How a linter's output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LintFormat {
    /// `path:line:col: CODE message` (flake8's default; pycodestyle; `ruff --output-format=concise`).
    Flake8,
    /// pylint's `--output-format=parseable`.
    PylintParseable,
    /// pylint's `--output-format=json` (or `json2`).
    PylintJson,
    /// `ruff check --output-format=json`.
    RuffJson,
    /// `isort --check-only --diff`.
    Isort,
    /// Each line matched by `pattern`, a regular expression with named groups `file`,
    /// `line`, `column`, `code`, `severity`, `message`.
    Regex,
}

/// `[lint]` in `odd.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// From which severity findings fail `odd lint` (exit 1).
    #[serde(default)]
    pub fail_on: FailOn,
    /// The external linters, by name (run in name order).
    #[serde(default)]
    pub linters: BTreeMap<String, Spanned<LinterConfig>>,
}

/// `[lint.linters.NAME]`: one external linter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinterConfig {
    /// The argv, run in the project's root. A word `{files}` becomes the selected
    /// modules' files (one argument each), `{modules}` their folders; with neither, the
    /// folders are appended.
    pub command: Spanned<Vec<String>>,
    /// How its output is read.
    pub format: LintFormat,
    /// The `regex` format's pattern.
    pub pattern: Option<Spanned<String>>,
    /// File extensions `{files}` takes (without the dot).
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
    /// The severity of findings the format gives none (default `error`).
    pub severity: Option<Severity>,
    /// Severities by code prefix (`W = "warning"`, `E501 = "note"`); the longest
    /// matching prefix wins over everything else.
    #[serde(default)]
    pub severities: BTreeMap<String, Severity>,
    /// How long it may run.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_extensions() -> Vec<String> {
    vec!["py".to_owned()]
}

fn default_timeout() -> u64 {
    900
}

/// The name odd's own checks report under (not a linter's name).
pub const ODD: &str = "odd";

/// What `[lint]` cannot say with types alone: a `regex` linter's pattern compiles, other
/// formats have none, every command has a program, no linter is called `odd`.
pub(crate) fn validate(loaded: &LoadedConfig, problems: &mut Vec<ConfigError>) {
    for (name, linter) in &loaded.config.lint.linters {
        let config = linter.get_ref();
        if name == ODD {
            problems.push(loaded.invalid(
                linter,
                format!("a linter cannot be called `{ODD}`"),
                "this linter",
                Some(format!(
                    "`{ODD}` names odd's own checks in reports: rename it"
                )),
            ));
        }
        if config
            .command
            .get_ref()
            .first()
            .is_none_or(String::is_empty)
        {
            problems.push(loaded.invalid(
                &config.command,
                format!("linter `{name}` has no program to run"),
                "empty",
                Some("e.g. command = [\"flake8\", \"{files}\"]".to_owned()),
            ));
        }
        match (&config.pattern, config.format) {
            (None, LintFormat::Regex) => problems.push(loaded.invalid(
                linter,
                format!("linter `{name}` has format \"regex\" but no `pattern`"),
                "this linter",
                Some("pattern = '^(?P<file>[^:]+):(?P<line>\\d+): (?P<message>.*)$'".to_owned()),
            )),
            (Some(pattern), LintFormat::Regex) => {
                if let Err(error) = compile(pattern.get_ref()) {
                    problems.push(loaded.invalid(
                        pattern,
                        format!("linter `{name}`: {error}"),
                        "this pattern",
                        Some(
                            "named groups: file, line, column, code, severity, message".to_owned(),
                        ),
                    ));
                }
            }
            (Some(pattern), _) => problems.push(loaded.invalid(
                pattern,
                format!("linter `{name}` reads its output as a known format: `pattern` is for format \"regex\""),
                "not used",
                None,
            )),
            (None, _) => {}
        }
    }
}

/// A `regex` linter's pattern, which must have a `message` or a `file` group.
fn compile(pattern: &str) -> Result<Regex, String> {
    let re = Regex::new(pattern).map_err(|e| format!("the pattern does not compile: {e}"))?;
    let names: BTreeSet<&str> = re.capture_names().flatten().collect();
    if !names.contains("message") && !names.contains("file") {
        return Err("the pattern has neither a `message` nor a `file` group".to_owned());
    }
    Ok(re)
}

/// One thing a linter (or odd) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The linter's name (`odd` for odd's own checks).
    pub linter: String,
    /// The file, relative to the project's root.
    pub file: Option<String>,
    /// 1-based.
    pub line: Option<u32>,
    /// 1-based.
    pub column: Option<u32>,
    /// The linter's own rule code (e.g. `W8103`), when it gave one.
    pub code: Option<String>,
    /// `None` only while parsing: [`run_linter`] gives every finding one.
    pub severity: Option<Severity>,
    /// What the linter said.
    pub message: String,
}

impl Finding {
    /// Its severity (an error when none was found).
    pub fn severity(&self) -> Severity {
        self.severity.unwrap_or(Severity::Error)
    }

    /// `file:line:col`, as far as known.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        Some(match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
            (Some(l), None) => format!("{file}:{l}"),
            _ => file.clone(),
        })
    }
}

/// How a linter's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LinterOutcome {
    /// It ran and found nothing.
    Clean,
    /// It ran and printed findings.
    Findings,
    /// It failed without printing anything parsable (a traceback, a usage error, a
    /// timeout): its findings are unknown.
    Crashed {
        /// What went wrong (its exit code, the timeout, the error starting it).
        reason: String,
    },
    /// Its program is not installed (exit 127).
    NotFound {
        /// The program that is missing.
        program: String,
    },
    /// Not run: nothing to check.
    Skipped {
        /// Why it was not run.
        reason: String,
    },
}

/// One linter's run.
#[derive(Debug, Clone, Serialize)]
pub struct LinterRun {
    /// The linter's name, as configured.
    pub name: String,
    /// The argv as configured (before `{files}` and `{modules}` are filled in).
    pub command: Vec<String>,
    /// How its run ended.
    #[serde(flatten)]
    pub outcome: LinterOutcome,
    /// Its exit code; none when it did not run or was killed.
    pub exit_code: Option<i32>,
    /// The last lines of its stderr (for a crash).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// How many findings it reported.
    pub findings: usize,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

impl LinterRun {
    /// Whether its findings are unknown (crashed or not found).
    pub fn failed(&self) -> bool {
        matches!(
            self.outcome,
            LinterOutcome::Crashed { .. } | LinterOutcome::NotFound { .. }
        )
    }
}

/// Which modules the linters run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every module of the project's addons paths.
    All,
    /// The modules with a file changed since a git revision (committed, staged, in the
    /// work tree, or untracked).
    Since(String),
    /// These modules.
    Modules(Vec<String>),
}

/// What `odd lint` is asked.
#[derive(Debug, Clone)]
pub struct LintOptions {
    /// Which modules to lint.
    pub selection: Selection,
    /// Only these linters (`odd` for odd's own checks); all when empty.
    pub only: Vec<String>,
    /// Folders of addons the project depends on but does not hold (Odoo's own addons):
    /// with them, a dependency on no addons path is an error; without, a note.
    pub extra_addons_paths: Vec<PathBuf>,
    /// `[lint] fail_on`, unless the command line says otherwise.
    pub fail_on: Option<FailOn>,
}

/// Why `odd lint` could not run (bad input, each).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LintError {
    /// The addons paths could not be scanned.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Scan(#[from] ScanError),
    #[error("git: {reason}")]
    #[diagnostic(
        code(odd::lint::git),
        help("--since takes a revision of the project's repository (a branch, a tag, a SHA)")
    )]
    /// git could not tell what changed since the revision (`--since`).
    Git {
        /// What git said.
        reason: String,
    },
    #[error("unknown module{}: {}", if names.len() > 1 { "s" } else { "" }, names.join(", "))]
    #[diagnostic(
        code(odd::lint::unknown_module),
        help("--modules names modules of the project's addons paths")
    )]
    /// Modules named with `--modules` are on none of the project's addons paths.
    UnknownModules {
        /// Their names.
        names: Vec<String>,
    },
    /// Linters named with `--linter` are not configured.
    #[error("unknown linter{}: {}", if names.len() > 1 { "s" } else { "" }, names.join(", "))]
    #[diagnostic(code(odd::lint::unknown_linter), help("{known}"))]
    UnknownLinters {
        /// Their names.
        names: Vec<String>,
        /// The linters that exist, for the help text.
        known: String,
    },
}

/// Everything one `odd lint` found.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    /// The modules the linters ran on, by name.
    pub modules: Vec<String>,
    /// How the modules were chosen (`all`, `since REV`, `modules`).
    pub selection: String,
    /// From which severity findings fail the run.
    pub fail_on: FailOn,
    /// odd's checks first, then each linter's, in order.
    pub findings: Vec<Finding>,
    /// odd's own checks (first, named `odd`) and each linter.
    pub linters: Vec<LinterRun>,
}

impl LintReport {
    /// Findings that fail the run.
    pub fn failing(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| self.fail_on.fails(f.severity()))
            .count()
    }

    /// Linters that crashed or were not found.
    pub fn failed_linters(&self) -> impl Iterator<Item = &LinterRun> {
        self.linters.iter().filter(|l| l.failed())
    }

    /// No failing finding and every linter ran.
    pub fn is_clean(&self) -> bool {
        self.failing() == 0 && self.failed_linters().next().is_none()
    }
}

/// A module the linters run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The module's technical name.
    pub name: String,
    /// Its folder, relative to the project's root.
    pub dir: PathBuf,
}

/// Runs odd's checks and the configured linters. `root` is the project's root (absolute),
/// where the linters run; `local` runs them (and git).
pub async fn lint(
    loaded: &LoadedConfig,
    root: &Path,
    options: &LintOptions,
    local: &dyn Transport,
) -> Result<LintReport, LintError> {
    let config = &loaded.config;
    let known: Vec<&str> = std::iter::once(ODD)
        .chain(config.lint.linters.keys().map(String::as_str))
        .collect();
    let unknown: Vec<String> = options
        .only
        .iter()
        .filter(|n| !known.contains(&n.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(LintError::UnknownLinters {
            names: unknown,
            known: format!("linters in odd.toml: {}", known.join(", ")),
        });
    }
    let wanted = |name: &str| options.only.is_empty() || options.only.iter().any(|n| n == name);

    let project_paths: Vec<PathBuf> = config
        .project
        .addons_paths
        .iter()
        .map(|p| root.join(p.get_ref()))
        .collect();
    let mut paths = project_paths.clone();
    paths.extend(options.extra_addons_paths.iter().cloned());
    let scan = addon::scan(&paths)?;
    let targets = select(&scan, root, &project_paths, &options.selection, local).await?;

    let mut findings = Vec::new();
    let mut runs = Vec::new();
    if wanted(ODD) {
        let started = Instant::now();
        let graph = AddonGraph::from_scan(&scan);
        let checked = check::check(
            scan,
            &graph,
            &CheckOptions {
                series: Some(config.project.series.get_ref().clone()),
            },
        );
        let own = own_findings(
            &checked.problems,
            root,
            options.extra_addons_paths.is_empty(),
        );
        runs.push(LinterRun {
            name: ODD.to_owned(),
            command: vec!["odd".to_owned(), "check".to_owned()],
            outcome: if own.is_empty() {
                LinterOutcome::Clean
            } else {
                LinterOutcome::Findings
            },
            exit_code: None,
            stderr: String::new(),
            findings: own.len(),
            duration_ms: millis(started.elapsed()),
        });
        findings.extend(own);
    }
    for (name, linter) in &config.lint.linters {
        if !wanted(name) {
            continue;
        }
        let (run, found) = run_linter(name, linter.get_ref(), root, &targets, local).await;
        runs.push(run);
        findings.extend(found);
    }
    Ok(LintReport {
        modules: targets.iter().map(|t| t.name.clone()).collect(),
        selection: match &options.selection {
            Selection::All => "all".to_owned(),
            Selection::Since(rev) => format!("since {rev}"),
            Selection::Modules(_) => "modules".to_owned(),
        },
        fail_on: options.fail_on.unwrap_or(config.lint.fail_on),
        findings,
        linters: runs,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The project's modules the selection names, in name order.
async fn select(
    scan: &addon::ScanReport,
    root: &Path,
    project_paths: &[PathBuf],
    selection: &Selection,
    local: &dyn Transport,
) -> Result<Vec<Target>, LintError> {
    let mut project: Vec<Target> = scan
        .addons
        .iter()
        .filter(|a| project_paths.iter().any(|p| a.dir.starts_with(p)))
        .map(|a| Target {
            name: a.name.clone(),
            dir: a.dir.strip_prefix(root).unwrap_or(&a.dir).to_owned(),
        })
        .collect();
    project.sort_by(|a, b| a.name.cmp(&b.name));
    match selection {
        Selection::All => Ok(project),
        Selection::Modules(names) => {
            let unknown: Vec<String> = names
                .iter()
                .filter(|n| !project.iter().any(|t| &t.name == *n))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return Err(LintError::UnknownModules { names: unknown });
            }
            Ok(project
                .into_iter()
                .filter(|t| names.contains(&t.name))
                .collect())
        }
        Selection::Since(rev) => {
            let changed = changed_files(root, rev, local).await?;
            Ok(project
                .into_iter()
                .filter(|t| changed.iter().any(|f| f.starts_with(&t.dir)))
                .collect())
        }
    }
}

/// Files changed since `rev` and untracked ones, relative to `root`.
async fn changed_files(
    root: &Path,
    rev: &str,
    local: &dyn Transport,
) -> Result<Vec<PathBuf>, LintError> {
    let git = Git::new(root);
    let mut files = Vec::new();
    for cmd in [git.changed_since(rev), git.untracked()] {
        let out = local.output(&cmd).await.map_err(|e| LintError::Git {
            reason: e.to_string(),
        })?;
        if !out.status.success() {
            return Err(LintError::Git {
                reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        files.extend(
            out.stdout
                .split(|&b| b == 0)
                .filter(|f| !f.is_empty())
                .map(|f| PathBuf::from(String::from_utf8_lossy(f).into_owned())),
        );
    }
    Ok(files)
}

/// odd's own problems as findings, their place read from their diagnostic's label. With
/// `repository_only` (no Odoo addons given), a dependency found on no addons path is a
/// note: it may well be one of Odoo's own modules, which odd cannot see here.
pub fn own_findings(problems: &[Problem], root: &Path, repository_only: bool) -> Vec<Finding> {
    problems
        .iter()
        .map(|problem| {
            let diag: &dyn miette::Diagnostic = problem;
            let mut finding = Finding {
                linter: ODD.to_owned(),
                file: None,
                line: None,
                column: None,
                code: diag.code().map(|c| c.to_string()),
                severity: Some(if problem.is_error() {
                    Severity::Error
                } else {
                    Severity::Warning
                }),
                message: diag.to_string(),
            };
            if let (Some(src), Some(mut labels)) = (diag.source_code(), diag.labels())
                && let Some(label) = labels.next()
                && let Ok(at) = src.read_span(label.inner(), 0, 0)
            {
                finding.file = at.name().map(|n| relative(Path::new(n), root));
                finding.line = u32::try_from(at.line() + 1).ok();
                finding.column = u32::try_from(at.column() + 1).ok();
            }
            if let Problem::Shadowed { shadowed, .. } = problem {
                finding.file = Some(relative(&shadowed.join("__manifest__.py"), root));
            }
            if repository_only && let Problem::MissingDependency { .. } = problem {
                finding.severity = Some(Severity::Note);
                finding.message.push_str(
                    " (Odoo's own modules are not known here: --addons-path with Odoo's addons checks them)",
                );
            }
            finding
        })
        .collect()
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// The command a linter runs for `targets`, or why it does not run.
pub fn linter_command(
    config: &LinterConfig,
    root: &Path,
    targets: &[Target],
) -> Result<RemoteCommand, String> {
    if targets.is_empty() {
        return Err("no module to check".to_owned());
    }
    let argv = config.command.get_ref();
    let Some((program, args)) = argv.split_first() else {
        return Err("no command".to_owned());
    };
    let dirs: Vec<String> = targets
        .iter()
        .map(|t| t.dir.to_string_lossy().into_owned())
        .collect();
    let mut cmd = RemoteCommand::new(program).current_dir(root);
    let mut placed = false;
    for arg in args {
        match arg.as_str() {
            "{files}" => {
                let files = files_of(root, targets, &config.extensions);
                if files.is_empty() {
                    return Err(format!(
                        "no {} file in the modules",
                        config
                            .extensions
                            .iter()
                            .map(|e| format!(".{e}"))
                            .collect::<Vec<_>>()
                            .join("/")
                    ));
                }
                cmd = cmd.args(files);
                placed = true;
            }
            "{modules}" => {
                cmd = cmd.args(&dirs);
                placed = true;
            }
            _ => cmd = cmd.arg(arg),
        }
    }
    if !placed {
        cmd = cmd.args(&dirs);
    }
    Ok(cmd.timeout(Duration::from_secs(config.timeout_secs)))
}

/// The files under the modules' folders with one of `extensions`, relative to `root`,
/// sorted (hidden folders and `__pycache__` left out).
fn files_of(root: &Path, targets: &[Target], extensions: &[String]) -> Vec<String> {
    fn walk(dir: &Path, extensions: &[String], out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() && !name.starts_with('.') && name != "__pycache__" => {
                    walk(&path, extensions, out);
                }
                Ok(t)
                    if t.is_file()
                        && path
                            .extension()
                            .is_some_and(|e| extensions.iter().any(|x| e == x.as_str())) =>
                {
                    out.push(path);
                }
                _ => {}
            }
        }
    }
    let mut found = Vec::new();
    for target in targets {
        walk(&root.join(&target.dir), extensions, &mut found);
    }
    let mut files: Vec<String> = found.iter().map(|p| relative(p, root)).collect();
    files.sort();
    files.dedup();
    files
}

/// Runs one linter on `targets` and reads its findings.
pub async fn run_linter(
    name: &str,
    config: &LinterConfig,
    root: &Path,
    targets: &[Target],
    local: &dyn Transport,
) -> (LinterRun, Vec<Finding>) {
    let started = Instant::now();
    let mut run = LinterRun {
        name: name.to_owned(),
        command: config.command.get_ref().clone(),
        outcome: LinterOutcome::Clean,
        exit_code: None,
        stderr: String::new(),
        findings: 0,
        duration_ms: 0,
    };
    let cmd = match linter_command(config, root, targets) {
        Ok(cmd) => cmd,
        Err(reason) => {
            run.outcome = LinterOutcome::Skipped { reason };
            return (run, Vec::new());
        }
    };
    let output = match local.output(&cmd).await {
        Ok(output) => output,
        Err(TransportError::TimedOut { after, .. }) => {
            run.outcome = LinterOutcome::Crashed {
                reason: format!("did not finish within {} s (stopped)", after.as_secs()),
            };
            run.duration_ms = millis(started.elapsed());
            return (run, Vec::new());
        }
        Err(error) => {
            run.outcome = LinterOutcome::Crashed {
                reason: error.to_string(),
            };
            run.duration_ms = millis(started.elapsed());
            return (run, Vec::new());
        }
    };
    run.duration_ms = millis(started.elapsed());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Validated with the config: a regex linter's pattern compiles.
    let pattern = config
        .pattern
        .as_ref()
        .and_then(|p| compile(p.get_ref()).ok());
    let mut found = parse::parse(config.format, pattern.as_ref(), &stdout, &stderr, root);
    for finding in &mut found {
        finding.linter = name.to_owned();
        finding.severity = Some(severity_of(config, finding));
    }
    run.exit_code = output.status.code();
    run.outcome = judge(
        output.status.code(),
        found.len(),
        &config.command.get_ref()[0],
    );
    if run.failed() {
        run.stderr = tail_of(&output.stderr);
        if run.stderr.is_empty() {
            run.stderr = tail_of(&output.stdout);
        }
    }
    run.findings = found.len();
    (run, found)
}

/// A finding's severity: the longest code prefix in `severities`, else what the format
/// said, else the linter's `severity`, else error.
fn severity_of(config: &LinterConfig, finding: &Finding) -> Severity {
    let by_prefix = finding.code.as_deref().and_then(|code| {
        config
            .severities
            .iter()
            .filter(|(prefix, _)| code.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, s)| *s)
    });
    by_prefix
        .or(finding.severity)
        .or(config.severity)
        .unwrap_or(Severity::Error)
}

/// How a linter ended, from its exit code (`None`: killed by a signal) and the number of
/// findings read from its output.
pub fn judge(code: Option<i32>, findings: usize, program: &str) -> LinterOutcome {
    match code {
        Some(127) if findings == 0 => LinterOutcome::NotFound {
            program: program.to_owned(),
        },
        _ if findings > 0 => LinterOutcome::Findings,
        Some(0) => LinterOutcome::Clean,
        Some(n) => LinterOutcome::Crashed {
            reason: format!("exited {n} without printing a finding odd could read"),
        },
        None => LinterOutcome::Crashed {
            reason: "killed by a signal".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linter(toml_text: &str) -> LinterConfig {
        toml::from_str(toml_text).expect("linter config")
    }

    #[test]
    fn the_command_gets_the_modules_files_or_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for file in [
            "addons/a/__init__.py",
            "addons/a/models/m.py",
            "addons/a/views/v.xml",
            "addons/a/__pycache__/m.cpython-311.py",
            "addons/b c/x.py",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        let targets = [
            Target {
                name: "a".into(),
                dir: "addons/a".into(),
            },
            Target {
                name: "b c".into(),
                dir: "addons/b c".into(),
            },
        ];
        let files = linter(
            r#"command = ["flake8", "--max-line-length=100", "{files}"]
format = "flake8""#,
        );
        let cmd = linter_command(&files, root, &targets).expect("command");
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(cmd.program(), "flake8");
        assert_eq!(
            args,
            [
                "--max-line-length=100",
                "addons/a/__init__.py",
                "addons/a/models/m.py",
                "addons/b c/x.py"
            ]
        );
        assert_eq!(cmd.get_current_dir(), Some(root));
        let appended = linter(
            r#"command = ["ruff", "check"]
format = "flake8""#,
        );
        let cmd = linter_command(&appended, root, &targets).expect("command");
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["check", "addons/a", "addons/b c"]);
        assert_eq!(
            linter_command(&appended, root, &[]).expect_err("nothing to do"),
            "no module to check"
        );
        let xml = linter(
            r#"command = ["xmllint", "{files}"]
format = "regex"
pattern = "(?P<message>.*)"
extensions = ["csv"]"#,
        );
        assert_eq!(
            linter_command(&xml, root, &targets).expect_err("no csv"),
            "no .csv file in the modules"
        );
    }

    #[test]
    fn findings_decide_not_the_exit_code() {
        assert_eq!(judge(Some(1), 3, "flake8"), LinterOutcome::Findings);
        assert_eq!(judge(Some(0), 2, "isort"), LinterOutcome::Findings);
        assert_eq!(judge(Some(0), 0, "flake8"), LinterOutcome::Clean);
        assert!(
            matches!(judge(Some(2), 0, "flake8"), LinterOutcome::Crashed { reason } if reason.contains("exited 2"))
        );
        assert!(matches!(
            judge(None, 0, "flake8"),
            LinterOutcome::Crashed { .. }
        ));
        assert_eq!(
            judge(Some(127), 0, "pylint"),
            LinterOutcome::NotFound {
                program: "pylint".into()
            }
        );
    }

    #[test]
    fn severities_by_prefix_then_format_then_setting() {
        let config = linter(
            r#"command = ["flake8"]
format = "flake8"
severity = "warning"
severities = { E = "error", E501 = "note" }"#,
        );
        let finding = |code: &str, severity| Finding {
            linter: "flake8".into(),
            file: None,
            line: None,
            column: None,
            code: Some(code.into()),
            severity,
            message: String::new(),
        };
        assert_eq!(severity_of(&config, &finding("E501", None)), Severity::Note);
        assert_eq!(
            severity_of(&config, &finding("E302", None)),
            Severity::Error
        );
        assert_eq!(
            severity_of(&config, &finding("F401", None)),
            Severity::Warning
        );
        assert_eq!(
            severity_of(&config, &finding("W0611", Some(Severity::Note))),
            Severity::Note
        );
        assert!(FailOn::Warning.fails(Severity::Warning));
        assert!(!FailOn::Error.fails(Severity::Warning));
        assert!(!FailOn::Warning.fails(Severity::Note));
    }
}

#[cfg(test)]
mod readme {
    /// README's `[lint]` example is a valid `odd.toml` table.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split_once("## Linting: `odd lint`")
            .map(|(_, rest)| rest)
            .expect("README's lint section");
        let example = section
            .split("```toml\n")
            .nth(1)
            .and_then(|block| block.split("```").next())
            .expect("a toml block");
        let text =
            format!("[project]\naddons_paths = [\"addons\"]\nseries = \"18.0\"\n\n{example}");
        let loaded = crate::config::LoadedConfig::parse(std::path::Path::new("odd.toml"), text)
            .expect("README's example parses");
        let linters: Vec<&str> = loaded
            .config
            .lint
            .linters
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(linters, ["flake8", "pylint"]);
        assert_eq!(loaded.config.lint.fail_on, super::FailOn::Error);
    }
}
