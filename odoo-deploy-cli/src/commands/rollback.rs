//! `odd rollback ENV`: undo the last deploy (or every deploy after `--to`), or recover
//! from a deploy whose run died — shown first, with what will be lost, then confirmed.

use odoo_deploy_core::clock;
use odoo_deploy_core::rollback::{self, RollbackContext, RollbackRequest};

use crate::context::{self, ConfigArg, EnvContext};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment (a name from odd.toml).
    env: String,
    /// Go back to the state right after this deploy (default: undo the last deploy).
    #[arg(long, value_name = "DEPLOY")]
    to: Option<String>,
    /// Do it without asking (data written since the snapshot is lost).
    #[arg(long)]
    yes: bool,
    /// Switch the code back only; keep the database and filestore as they are.
    #[arg(long)]
    code_only: bool,
    /// A code-only rollback even though the deploy changed the database.
    #[arg(long)]
    force_code_only: bool,
    /// An interrupted deploy's update still running on the host is waited for until it
    /// ends (by default it is stopped before anything is restored).
    #[arg(long)]
    wait_for_update: bool,
    /// Of a fleet, undo the last deploy in this database only (its snapshot swapped in;
    /// the code and the other databases stay).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["to", "code_only", "force_code_only"])]
    database: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let ctx = EnvContext::open(loaded, &args.env).await?;
        refuse_fleet(&ctx)?;
        let machine = context::machine();
        let request = RollbackRequest {
            to: args.to.clone(),
            code_only: args.code_only,
            force_code_only: args.force_code_only,
            wait_for_update: args.wait_for_update,
            database: args.database.clone(),
        };
        let plan = rollback::prepare(ctx.transport.as_ref(), &ctx.target, &machine, &request)
            .await
            .map_err(CliError::diagnostic)?;
        output::say(&plan.render_text(clock::now_unix()));
        if !args.yes && !confirmed(&args.env)? {
            output::say("not confirmed: nothing was changed");
            return Ok(Status::Refused);
        }
        let renderer = super::deploy::Renderer::new(false);
        let rollback_ctx = RollbackContext {
            target: &ctx.target,
            transport: ctx.transport.clone(),
            events: &renderer,
            who: context::who(),
            machine,
            pid: std::process::id(),
        };
        let report = rollback::execute(&rollback_ctx, &plan)
            .await
            .map_err(CliError::diagnostic)?;
        if args.json {
            let value = serde_json::json!({"plan": plan, "report": report});
            output::print(&format!("{value:#}\n"))?;
        }
        say_report(&report, false)?;
        Ok(if report.ok {
            Status::Success
        } else {
            Status::NotRestored
        })
    })
}

/// Brings an interrupted deploy back to the previous release, verified (`odd deploy
/// --resume` when the deploy cannot go forward): the recovery `odd rollback` would run,
/// without asking — the environment is down or half-deployed, and what it restores is
/// the pre-deploy state.
/// `odd rollback` switches and restarts one host: on a fleet it would leave the other
/// hosts' Odoo on the new code over the restored database. Refused, nothing changed.
fn refuse_fleet(ctx: &EnvContext) -> Result<(), CliError> {
    if ctx.target.fleet.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = ctx
        .target
        .fleet
        .iter()
        .map(odoo_deploy_core::fleet::FleetHost::label)
        .collect();
    Err(CliError::refused(miette::miette!(
        help = "a deploy rolls every host back by itself; by hand: stop Odoo on every host, `odd restore ENV ID` on the update host (and `odd restore ENV ID --database NAME` with its own snapshot for each other database of the deploy, listed by `odd backups ENV`), point each host's current back to the previous release, start every host",
        "odd rollback handles the update host only, and {} has other hosts ({}): nothing was changed",
        ctx.target.environment,
        names.join(", ")
    )))
}

pub(crate) async fn recover(
    ctx: &EnvContext,
    deploy: &str,
    events: &super::deploy::Renderer,
    json: bool,
) -> Result<(Status, rollback::RollbackReport), CliError> {
    refuse_fleet(ctx)?;
    let machine = context::machine();
    let plan = rollback::prepare(
        ctx.transport.as_ref(),
        &ctx.target,
        &machine,
        &RollbackRequest::default(),
    )
    .await
    .map_err(CliError::diagnostic)?;
    // Decided while nothing was locked: someone may have recovered it meanwhile, and an
    // ordinary rollback of the deploy before it is not what was asked.
    if plan.undo != [deploy] || !(plan.interrupted || plan.resumed) {
        return Err(CliError::refused(miette::miette!(
            help = "`odd status ENV` tells where the environment stands now",
            "deploy {deploy} is no longer the interrupted one: nothing was changed"
        )));
    }
    if !json {
        output::say(&plan.render_text(clock::now_unix()));
    }
    let rollback_ctx = RollbackContext {
        target: &ctx.target,
        transport: ctx.transport.clone(),
        events,
        who: context::who(),
        machine,
        pid: std::process::id(),
    };
    let report = rollback::execute(&rollback_ctx, &plan)
        .await
        .map_err(CliError::diagnostic)?;
    say_report(&report, json)?;
    // The deploy did not happen: not a success, even when the recovery is.
    let status = if report.ok {
        Status::RolledBack
    } else {
        Status::NotRestored
    };
    Ok((status, report))
}

fn say_report(report: &rollback::RollbackReport, json: bool) -> Result<(), CliError> {
    if json {
        let value = serde_json::json!({"event": "recovered", "report": report});
        output::print(&format!("{value}\n"))?;
    }
    output::say(&format!(
        "{}: {}{}",
        if report.ok {
            "ROLLED BACK and verified"
        } else {
            "ROLLBACK FAILED: the environment needs an operator"
        },
        report.reason,
        report.downtime_ms.map_or_else(String::new, |ms| format!(
            ", downtime {:.1} s",
            ms as f64 / 1000.0
        ))
    ));
    for line in &report.evidence {
        output::say(&format!("  | {line}"));
    }
    Ok(())
}

fn confirmed(env: &str) -> Result<bool, CliError> {
    output::ask(
        &format!("Roll back {env}?"),
        &format!("rolling back {env} loses data: pass --yes (no terminal to ask on)"),
    )
}
