//! `odd check`: every problem in the addons paths at once.

use odoo_deploy_core::addon;
use odoo_deploy_core::check::{self, CheckOptions};
use odoo_deploy_core::graph::AddonGraph;

use super::AddonsPaths;
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    paths: AddonsPaths,
    /// Odoo series the versions must fit (`18.0`).
    #[arg(long, value_name = "SERIES")]
    series: Option<String>,
    /// Machine-readable output: every problem with its code, severity and place.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let scan = addon::scan(&args.paths.paths()).map_err(CliError::diagnostic)?;
    let graph = AddonGraph::from_scan(&scan);
    let options = CheckOptions {
        series: args.series.clone(),
    };
    let report = check::check(scan, &graph, &options);
    let ok = report.is_ok();
    if args.json {
        let problems: Vec<serde_json::Value> = report
            .problems
            .iter()
            .map(|p| {
                let mut value = output::diagnostic_json(p);
                // A shadowed addon warns; every other problem fails the check.
                value["severity"] = (if p.is_error() { "error" } else { "warning" }).into();
                value
            })
            .collect();
        output::print_json(&serde_json::json!({
            "addons": report.addons,
            "ok": ok,
            "problems": problems,
        }))?;
        return Ok(if ok { Status::Success } else { Status::Failure });
    }
    if report.problems.is_empty() {
        output::say(&format!("{} addons checked: no problems", report.addons));
        return Ok(Status::Success);
    }
    output::eprint_report(&miette::Report::new(report));
    Ok(if ok { Status::Success } else { Status::Failure })
}
