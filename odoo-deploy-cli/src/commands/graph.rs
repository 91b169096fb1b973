//! `odd graph`: addons in Odoo's install order.

use odoo_deploy_core::addon;
use odoo_deploy_core::graph::{AddonGraph, GraphReport, Selection, SkipReason, cycle_to_string};

use super::AddonsPaths;
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    paths: AddonsPaths,
    /// Only these modules and what they depend on (several, or comma-separated).
    #[arg(long, value_name = "MODULE", num_args = 1..)]
    select: Vec<String>,
    /// With --select: the modules that depend on them instead (what `-u` reloads).
    #[arg(long, requires = "select")]
    reverse: bool,
    /// With --select: also what `auto_install` brings in, as installing them would.
    #[arg(long, requires = "select", conflicts_with = "reverse")]
    auto_install: bool,
    /// JSON on stdout.
    #[arg(long, conflicts_with = "dot")]
    json: bool,
    /// Graphviz on stdout.
    #[arg(long)]
    dot: bool,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let scan = addon::scan(&args.paths.paths()).map_err(CliError::diagnostic)?;
    let graph = AddonGraph::from_scan(&scan);
    let selection = Selection {
        modules: args
            .select
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        reverse: args.reverse,
        auto_install: args.auto_install,
    };
    let report = GraphReport::new(&scan, &graph, &selection).map_err(CliError::diagnostic)?;
    for broken in &scan.broken {
        output::say(&format!("warning: {}: {}", broken.name, broken.error));
    }
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| miette::Report::msg(format!("cannot encode JSON: {e}")))?;
        output::print(&format!("{json}\n"))?;
    } else if args.dot {
        output::print(&report.to_dot())?;
    } else {
        let mut text = String::new();
        for name in &report.order {
            text.push_str(name);
            text.push('\n');
        }
        output::print(&text)?;
        talk(&report);
    }
    Ok(if report.has_problems() || !scan.broken.is_empty() {
        Status::Failure
    } else {
        Status::Success
    })
}

/// Problems on stderr, one line each.
fn talk(report: &GraphReport) {
    for missing in &report.missing {
        let at = match missing.line {
            Some(line) => format!("{}:{line}", missing.file.display()),
            None => missing.file.display().to_string(),
        };
        output::say(&format!(
            "error: `{}` depends on `{}`, which is on no addons path ({at})",
            missing.addon, missing.depends_on
        ));
    }
    for cycle in &report.cycles {
        output::say(&format!(
            "error: dependency loop: {}",
            cycle_to_string(cycle)
        ));
    }
    for (name, reason) in &report.skipped {
        let why = match reason {
            SkipReason::NotInstallable => "not installable".to_owned(),
            SkipReason::MissingDependencies { modules } => {
                format!("missing dependencies: {}", modules.join(", "))
            }
            SkipReason::DependencyLoop => "in a dependency loop".to_owned(),
            SkipReason::DependsOnSkipped { modules } => {
                format!("depends on skipped modules: {}", modules.join(", "))
            }
        };
        output::say(&format!("skipped: {name} ({why})"));
    }
    for shadowed in &report.shadowed {
        output::say(&format!(
            "warning: `{}` in {} is hidden by {}",
            shadowed.name,
            shadowed.shadowed.display(),
            shadowed.kept.display()
        ));
    }
}
