//! `odd lint`: odd's own checks and the linters `odd.toml` configures, on the changed
//! modules or all; findings as text, JSON, GitHub annotations, JUnit XML or SARIF.

use std::path::{Path, PathBuf};

use odoo_deploy_core::lint::{self, FailOn, LintOptions, LintReport, Selection, report};
use odoo_deploy_core::transport::LocalTransport;

use crate::context::{self, ConfigArg};
use crate::output::{self, CliError, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line a finding: `file:line:col: severity linter CODE message`.
    Text,
    /// GitHub workflow commands (`::error file=…,line=…,col=…,title=…::message`).
    Github,
    /// The whole report as JSON (same as --json).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOnArg {
    Error,
    Warning,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Lint only the modules with a file changed since this git revision (committed,
    /// staged, in the work tree, or untracked), e.g. `origin/main`.
    #[arg(long, value_name = "REV", conflicts_with = "modules")]
    since: Option<String>,
    /// Lint only these modules (comma-separated or repeated).
    #[arg(long, value_name = "MODULE", value_delimiter = ',')]
    modules: Vec<String>,
    /// Run only these linters (`odd` for odd's own checks); all by default.
    #[arg(long = "linter", value_name = "NAME", value_delimiter = ',')]
    linters: Vec<String>,
    /// Odoo's addons (or others the project depends on but does not hold), so that a
    /// dependency on no addons path is an error rather than a note.
    #[arg(long = "addons-path", value_name = "PATH")]
    addons_path: Vec<String>,
    /// From which severity findings fail the run (default: `[lint] fail_on`, else error).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    fail_on: Option<FailOnArg>,
    /// How findings are printed on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Machine-readable output (the same as `--format json`).
    #[arg(long)]
    json: bool,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write a SARIF 2.1.0 report to FILE.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    let root = loaded
        .path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let root = std::path::absolute(&root).unwrap_or(root);
    let options = LintOptions {
        selection: match (&args.since, args.modules.is_empty()) {
            (Some(rev), _) => Selection::Since(rev.clone()),
            (None, false) => Selection::Modules(args.modules.clone()),
            (None, true) => Selection::All,
        },
        only: args.linters.clone(),
        extra_addons_paths: odoo_deploy_core::addon::split_addons_paths(&args.addons_path),
        fail_on: args.fail_on.map(|f| match f {
            FailOnArg::Error => FailOn::Error,
            FailOnArg::Warning => FailOn::Warning,
        }),
    };
    let report = context::runtime()?
        .block_on(lint::lint(&loaded, &root, &options, &LocalTransport::new()))
        .map_err(CliError::diagnostic)?;
    if let Some(path) = &args.junit {
        write_file(path, &report::junit(&report))?;
    }
    if let Some(path) = &args.sarif {
        let json = serde_json::to_string_pretty(&report::sarif(&report))
            .map_err(|e| CliError::Report(miette::miette!("cannot write SARIF: {e}")))?;
        write_file(path, &format!("{json}\n"))?;
    }
    let status = if report.is_clean() {
        Status::Success
    } else {
        Status::Failure
    };
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&report)
                .map_err(|e| CliError::Report(miette::miette!("cannot write JSON: {e}")))?;
            value["ok"] = report.is_clean().into();
            value["exit_code"] = status.code().into();
            output::print_json(&value)?;
        }
        Format::Github => output::print(&report::github(&report))?,
        Format::Text => output::print(&text(&report))?,
    }
    if format != Format::Json {
        for run in report.failed_linters() {
            let word = match run.outcome {
                lint::LinterOutcome::NotFound { .. } => "not found",
                _ => "crashed",
            };
            output::say(&format!(
                "{} {word}: {}",
                run.name,
                report::failure_text(run).replace('\n', "\n  ")
            ));
        }
        output::say(&summary(&report));
    }
    Ok(status)
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Report(miette::miette!("cannot write {}: {e}", path.display())))
}

/// One line a finding.
fn text(report: &LintReport) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let at = f.location().map_or_else(String::new, |l| format!("{l}: "));
        let code = f
            .code
            .as_ref()
            .map_or_else(String::new, |c| format!(" {c}"));
        out.push_str(&format!(
            "{at}{} {}{code} {}\n",
            f.severity().as_str(),
            f.linter,
            f.message
        ));
    }
    out
}

/// What was checked and what was found, in a line.
fn summary(report: &LintReport) -> String {
    let count = |s: lint::Severity| report.findings.iter().filter(|f| f.severity() == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let ran: Vec<&str> = report
        .linters
        .iter()
        .filter(|l| !l.failed())
        .map(|l| l.name.as_str())
        .collect();
    let failed: Vec<&str> = report.failed_linters().map(|l| l.name.as_str()).collect();
    let fail_on = match report.fail_on {
        FailOn::Error => "error",
        FailOn::Warning => "warning",
    };
    let mut line = format!(
        "odd lint: {}, {}, {} ({} failing the run, fail_on = {fail_on}) in {} ({}) with {}",
        plural(count(lint::Severity::Error), "error"),
        plural(count(lint::Severity::Warning), "warning"),
        plural(count(lint::Severity::Note), "note"),
        report.failing(),
        plural(report.modules.len(), "module"),
        report.selection,
        if ran.is_empty() {
            "no linter".to_owned()
        } else {
            ran.join(", ")
        }
    );
    if !failed.is_empty() {
        line.push_str(&format!(
            "; {} could not run: {}",
            plural(failed.len(), "linter"),
            failed.join(", ")
        ));
    }
    for run in &report.linters {
        if let lint::LinterOutcome::Skipped { reason } = &run.outcome {
            line.push_str(&format!("; {} skipped: {reason}", run.name));
        }
    }
    line
}
