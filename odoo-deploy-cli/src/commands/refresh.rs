//! `odd refresh STAGING --from PRODUCTION`: production's data on staging, neutralized
//! and anonymised, with staging's own code; `--dry-run` prints the plan only.

use std::time::Duration;

use odoo_deploy_core::ops::Operator;
use odoo_deploy_core::refresh::{self, RefreshError, RefreshEvent, RefreshRequest};

use crate::context::{self, ConfigArg, EnvContext};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment to refresh (a name from odd.toml).
    env: String,
    /// The environment whose data is copied (default: `refresh.from` in odd.toml).
    #[arg(long = "from", value_name = "ENV")]
    from: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the plan (and the report) as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    let env = loaded
        .environment(&args.env)
        .map_err(|e| CliError::bad_input(miette::Report::new(e)))?;
    let settings = env.refresh.clone();
    let source = match (&args.from, &settings.from) {
        (Some(from), _) => from.clone(),
        (None, Some(from)) => from.get_ref().clone(),
        (None, None) => {
            return Err(CliError::bad_input(miette::miette!(
                help = "pass --from PRODUCTION or set `from` in [environments.NAME.refresh]",
                "which environment should {} be refreshed from?",
                args.env
            )));
        }
    };
    // Refusals first: nothing is reached for a refresh that cannot happen.
    refresh::refuse(&loaded, &args.env, &source).map_err(refused)?;
    let seed = match &settings.seed_env {
        Some(var) => Some(
            loaded
                .resolve_secret(odoo_deploy_core::config::SecretRef {
                    env: Some(var),
                    file: None,
                    text: None,
                })
                .map_err(CliError::diagnostic)?
                .ok_or_else(|| CliError::bad_input(miette::miette!("no seed")))?,
        ),
        None => None,
    };
    context::runtime()?.block_on(async {
        let staging = EnvContext::open(loaded.clone(), &args.env).await?;
        let production = EnvContext::open(loaded.clone(), &source).await?;
        let operator = Operator {
            who: context::who(),
            machine: context::machine(),
            pid: std::process::id(),
        };
        let json = args.json;
        let progress = move |event: RefreshEvent| match event {
            RefreshEvent::StepStarted { step, detail } if !json => {
                output::say(&format!("==> {step}: {detail}"));
            }
            RefreshEvent::StepDone { step, ms } if !json => {
                output::say(&format!("    {step} done in {:.1} s", ms as f64 / 1000.0));
            }
            RefreshEvent::Notice { message } => output::say(&format!("note: {message}")),
            _ => {}
        };
        let request = RefreshRequest {
            loaded: &loaded,
            staging: &staging.target,
            staging_transport: staging.transport.as_ref(),
            source: &production.target,
            source_transport: production.transport.as_ref(),
            settings: &settings,
            seed,
            operator: &operator,
            progress: &progress,
        };
        let plan = refresh::plan(&request).await.map_err(refused)?;
        if args.dry_run {
            if args.json {
                output::print_json(&plan)?;
            } else {
                output::print(&plan.render())?;
                output::say("dry run: nothing was changed");
            }
            return Ok(Status::Success);
        }
        if !args.json {
            output::say(&plan.render());
        }
        let report = match refresh::execute(&request, &plan).await {
            Ok(report) => report,
            Err(e @ RefreshError::Failed { .. }) => {
                if let RefreshError::Failed { evidence, .. } = &e {
                    for line in evidence {
                        output::say(&format!("  | {line}"));
                    }
                }
                return Err(CliError::Classified(
                    Status::RolledBack,
                    miette::Report::new(e),
                ));
            }
            Err(e @ RefreshError::RestoreFailed { .. }) => {
                return Err(CliError::Classified(
                    Status::NotRestored,
                    miette::Report::new(e),
                ));
            }
            Err(e) => return Err(refused(e)),
        };
        if args.json {
            output::print_json(&report)?;
        } else {
            for check in &report.neutralize.checks {
                output::say(&format!("ok  {}: {}", check.name, check.detail));
            }
            for (table, rows) in &report.anonymise.rows {
                output::say(&format!("anonymised {rows} row(s) of {table}"));
            }
            if let Some(ms) = report.downtime_ms {
                output::say(&format!(
                    "{}'s Odoo was down {:.1} s (stopped to healthy again)",
                    plan.target,
                    Duration::from_millis(ms).as_secs_f64()
                ));
            }
            output::print(&format!(
                "{} refreshed from {} (backup {}), recorded as {}\n",
                plan.target, plan.source, report.source_backup, report.record
            ))?;
        }
        Ok(Status::Success)
    })
}

fn refused(e: RefreshError) -> CliError {
    match e {
        RefreshError::Refused { .. } => CliError::refused(miette::Report::new(e)),
        other => CliError::diagnostic(other),
    }
}
