//! `odd check`: every problem in the addons paths at once.

use odoo_deploy_core::addon;
use odoo_deploy_core::check::{self, CheckOptions};
use odoo_deploy_core::graph::AddonGraph;

use crate::context::{self, ConfigArg, EnvContext};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Addons path (repeat it, or separate paths with commas as Odoo does).
    #[arg(
        long = "addons-path",
        value_name = "PATH",
        required_unless_present = "env",
        conflicts_with = "env"
    )]
    addons_path: Vec<String>,
    /// Check what an environment's Odoo would load: its host's installation (Odoo's own
    /// addons, shared folders) joined with this repository's addons, in Odoo's order.
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// Odoo series the versions must fit (`18.0`; the project's with `--env`).
    #[arg(long, value_name = "SERIES")]
    series: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
    /// Machine-readable output: every problem with its code, severity and place.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let (scan, series) = match &args.env {
        Some(env) => {
            let loaded = args.config.load()?;
            context::runtime()?.block_on(async {
                let ctx = EnvContext::open(loaded, env).await?;
                let (scan, _) = odoo_deploy_core::ops::scan_on(
                    &ctx.root(),
                    &ctx.target,
                    ctx.transport.as_ref(),
                )
                .await
                .map_err(CliError::diagnostic)?;
                Ok::<_, CliError>((scan, Some(ctx.target.series.clone())))
            })?
        }
        None => (
            addon::scan(&addon::split_addons_paths(&args.addons_path))
                .map_err(CliError::diagnostic)?,
            None,
        ),
    };
    let graph = AddonGraph::from_scan(&scan);
    let options = CheckOptions {
        series: args.series.clone().or(series),
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
