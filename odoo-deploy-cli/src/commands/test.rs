//! `odd test`: the Odoo tests of the changed modules (or `--modules`, or `--all`) on
//! throwaway databases copied from a cached template; a summary, `--json`, `--junit`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use odoo_deploy_core::backup::DbConn;
use odoo_deploy_core::backup::commands::PgTools;
use odoo_deploy_core::config::{LoadedConfig, TestConfig};
use odoo_deploy_core::event::Event;
use odoo_deploy_core::odoo_tests::{self, Outcome, Report, Selection, Settings, Stage};
use odoo_deploy_core::transport::LocalTransport;

use crate::context::{self, ConfigArg};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
#[command(after_help = "Without --modules, --all or --since, [test].since of odd.toml is used.")]
pub(crate) struct Args {
    /// Test exactly these modules (comma-separated, or repeat the flag).
    #[arg(long, value_name = "MODULES", value_delimiter = ',', conflicts_with_all = ["all", "since"])]
    modules: Vec<String>,
    /// Test every module of the project's addons paths.
    #[arg(long, conflicts_with = "since")]
    all: bool,
    /// Test the project's modules changed since this git revision (committed or not),
    /// and their dependents in the project.
    #[arg(long, value_name = "REV")]
    since: Option<String>,
    /// Split the modules over N databases tested at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=32))]
    jobs: u16,
    /// Write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Machine-readable output: one JSON report on stdout.
    #[arg(long)]
    json: bool,
    /// Keep the throwaway databases and their filestores (their names are printed).
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    let settings = settings(args, &loaded)?;
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        CliError::Report(miette::miette!(
            "cannot create {}: {e}",
            settings.data_dir.display()
        ))
    })?;
    let report = context::runtime()?.block_on(async {
        let notices = |event: Event| {
            if let Event::Notice { message } = event {
                output::say(&format!("note: {message}"));
            }
        };
        odoo_tests::run(&settings, Arc::new(LocalTransport::new()), &notices).await
    });
    let report = report.map_err(|e| {
        if e.is_bad_input() {
            CliError::bad_input(miette::Report::new(e))
        } else {
            CliError::diagnostic(e)
        }
    })?;
    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit()).map_err(|e| {
            CliError::Report(miette::miette!("cannot write {}: {e}", path.display()))
        })?;
    }
    let status = if report.ok() {
        Status::Success
    } else {
        Status::Failure
    };
    for warning in &report.warnings {
        output::say(&format!("warning: {warning}"));
    }
    if args.json {
        let mut value = serde_json::to_value(&report)
            .map_err(|e| CliError::Report(miette::miette!("cannot write JSON: {e}")))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("status".to_owned(), status.name().into());
        }
        output::print_json(&value)?;
    } else {
        output::print(&render(&report))?;
    }
    Ok(status)
}

/// Flags + `[test]` + `[project]` → the run's settings.
fn settings(args: &Args, loaded: &LoadedConfig) -> Result<Settings, CliError> {
    let test: &TestConfig = loaded.config.test.as_ref().ok_or_else(|| {
        CliError::bad_input(miette::miette!(
            help = "add to odd.toml:\n\n[test]\nodoo_command = [\"/opt/odoo/odoo-bin\"]\n\n[test.database]\nhost = \"127.0.0.1\"\nuser = \"odoo\"\npassword_env = \"PGPASSWORD\"",
            "odd test needs a [test] table in {}: how to run Odoo and reach PostgreSQL here",
            loaded.path.display()
        ))
    })?;
    let selection = if !args.modules.is_empty() {
        Selection::Modules(args.modules.iter().map(|m| m.trim().to_owned()).collect())
    } else if args.all {
        Selection::All
    } else if let Some(since) = args
        .since
        .clone()
        .or_else(|| test.since.as_ref().map(|s| s.get_ref().clone()))
    {
        if since.is_empty() || since.starts_with('-') {
            return Err(CliError::bad_input(miette::miette!(
                "`{since}` is not a git revision"
            )));
        }
        Selection::Since(since)
    } else {
        return Err(CliError::bad_input(miette::miette!(
            help = "pass --since REV (e.g. origin/main), --modules a,b or --all, or set [test].since in odd.toml",
            "which modules to test?"
        )));
    };
    let root = loaded
        .path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let absolute = |p: &Path| {
        let p = loaded.relative(p);
        p.canonicalize().unwrap_or(p)
    };
    let command = test.odoo_command.get_ref().clone();
    let odoo_addons_dir = match &test.odoo_addons_dir {
        Some(dir) => Some(absolute(dir.get_ref())),
        None => own_addons_of(&command),
    };
    let password = loaded
        .resolve_secret(test.database.password())
        .map_err(CliError::diagnostic)?;
    Ok(Settings {
        project_paths: loaded
            .config
            .project
            .addons_paths
            .iter()
            .map(|p| absolute(Path::new(p.get_ref())))
            .collect(),
        extra_paths: test
            .addons_paths
            .iter()
            .map(|p| absolute(p.get_ref()))
            .collect(),
        odoo_addons_dir,
        odoo_command: command,
        data_dir: test.data_dir.as_deref().map_or_else(
            || root.join(".odd").join("test-data"),
            |d| loaded.relative(d),
        ),
        conn: DbConn {
            name: String::new(),
            host: test.database.host.clone(),
            port: test.database.port,
            user: test.database.user.as_ref().map(|u| u.get_ref().clone()),
            password,
        },
        pg: PgTools {
            bin_dir: test.database.pg_bin_dir.clone(),
        },
        timeout: Duration::from_secs(test.timeout_secs),
        root,
        selection,
        jobs: usize::from(args.jobs),
        keep: args.keep,
    })
}

/// `odoo/addons` next to the command's script (an Odoo checkout or sdist: `odoo-bin`
/// beside the `odoo` package), symlinks resolved as Python resolves `sys.argv[0]`.
fn own_addons_of(command: &[String]) -> Option<PathBuf> {
    let script = Path::new(command.last()?).canonicalize().ok()?;
    let dir = script.parent()?.join("odoo").join("addons");
    dir.is_dir().then_some(dir)
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "testing {} ({})\n",
        if report.modules.is_empty() {
            "nothing".to_owned()
        } else {
            report.modules.join(", ")
        },
        report.selected_by
    ));
    if let Some(t) = &report.template {
        if t.built {
            out.push_str(&format!(
                "template {} built in {:.1} s ({} modules)\n",
                t.database,
                t.build_seconds,
                report.dependencies.len()
            ));
        } else {
            out.push_str(&format!(
                "template {} reused ({} modules, unchanged)\n",
                t.database,
                report.dependencies.len()
            ));
        }
    }
    for case in &report.tests {
        let label = match case.outcome {
            Outcome::Passed => "ok   ",
            Outcome::Failed => "FAIL ",
            Outcome::Error => "ERROR",
        };
        let stage = match case.stage {
            Stage::AtInstall => "at_install",
            Stage::PostInstall => "post_install",
        };
        out.push_str(&format!(
            "{label} {} {} ({stage})\n",
            case.module, case.name
        ));
        if let Some(traceback) = &case.traceback {
            for line in traceback.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    for job in &report.jobs {
        out.push_str(&format!(
            "database {}: {}; odoo-bin exit {}, {:.1} s{}\n",
            job.database,
            job.modules.join(", "),
            job.exit_code
                .map_or_else(|| "none".to_owned(), |c| c.to_string()),
            job.seconds,
            if job.kept { " (kept)" } else { "" }
        ));
        if let Some(problem) = &job.problem {
            out.push_str(&format!("problem: {problem}\n"));
            for line in job.detail.as_deref().unwrap_or("").lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    let t = report.totals;
    out.push_str(&format!(
        "{} tests: {} passed, {} failed, {} error(s)\n",
        t.tests, t.passed, t.failed, t.errors
    ));
    out
}
