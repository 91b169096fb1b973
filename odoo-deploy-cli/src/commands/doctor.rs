//! `odd doctor ENV`: every precondition of a deploy checked on the environment's host,
//! one line each, with the fix of each failure. Exits 1 when one fails.

use odoo_deploy_core::doctor;
use odoo_deploy_core::target::Target;

use crate::context::{self, ConfigArg};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment (a name from odd.toml).
    env: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    let env = loaded
        .environment(&args.env)
        .map_err(CliError::diagnostic)?;
    let target = Target::resolve(&loaded, &args.env, env).map_err(CliError::diagnostic)?;
    context::runtime()?.block_on(async {
        // An unreachable host is the first finding, not an error of the command.
        let report = match context::connect(&loaded, env).await {
            Ok(transport) => doctor::run(&target, transport.as_ref()).await,
            Err(CliError::Report(report)) => doctor::unreachable(&target, &report.to_string()),
            Err(e) => return Err(e),
        };
        // A fleet: each other host too.
        let report = if target.fleet.is_empty() {
            report
        } else {
            let (members, unreachable) = context::connect_fleet(&loaded, &target).await;
            report.with(doctor::fleet(&members, &unreachable).await)
        };
        if args.json {
            let json = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::Report(miette::miette!("{e}")))?;
            output::print(&format!("{json}\n"))?;
        } else {
            output::print(&report.render_text())?;
        }
        Ok(if report.passed {
            Status::Success
        } else {
            Status::Failure
        })
    })
}
