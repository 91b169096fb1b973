//! `odd plan ENV`: the runbook a deploy of the current commit would execute, with its gates
//! and its rollback plan. Nothing changes on the host.

use odoo_deploy_core::clock;
use odoo_deploy_core::config::LoadedConfig;
use odoo_deploy_core::ops::{self, Code, PlanRequest};
use odoo_deploy_core::plan::Plan;
use odoo_deploy_core::state;
use odoo_deploy_core::transport::LocalTransport;

use crate::context::{self, ConfigArg, EnvContext};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment (a name from odd.toml).
    env: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: PlanOptions,
    #[command(flatten)]
    config: ConfigArg,
}

/// What a plan may be asked to allow (`odd plan` and `odd deploy`).
#[derive(Debug, clap::Args)]
pub(crate) struct PlanOptions {
    /// Deploy outside the deploy window; the reason is recorded in the ledger.
    #[arg(long, value_name = "REASON")]
    pub(crate) override_window: Option<String>,
    /// Accept removing modules whose code is gone.
    #[arg(long)]
    pub(crate) allow_remove: bool,
    /// How many databases of a fleet are updated at once (default: `jobs` in odd.toml,
    /// else the host's cores, at most one per GiB of its available memory).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) jobs: Option<u32>,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let (_, plan, _) = make(loaded, &args.env, &args.options, &LocalTransport::new()).await?;
        if args.json {
            let json = serde_json::to_string_pretty(&plan)
                .map_err(|e| CliError::Report(miette::miette!("{e}")))?;
            output::print(&format!("{json}\n"))?;
        } else {
            output::print(&plan.render_text())?;
        }
        Ok(if plan.ready() {
            Status::Success
        } else {
            Status::Failure
        })
    })
}

/// Opens environment `name` and plans a deploy of the checkout's commit to it: the
/// environment, the plan and the code it was made from.
pub(crate) async fn make(
    loaded: LoadedConfig,
    name: &str,
    options: &PlanOptions,
    local: &LocalTransport,
) -> Result<(EnvContext, Plan, Code), CliError> {
    let required_ledger = required_ledger(&loaded, name).await?;
    let mut ctx = EnvContext::open(loaded, name).await?;
    if let Some(jobs) = options.jobs {
        match ctx.target.databases.as_mut() {
            Some(fleet) => fleet.jobs = Some(jobs),
            None => {
                return Err(CliError::bad_input(miette::miette!(
                    help = "`--jobs` is for a fleet: `names` or `pattern` in the environment's [database] table",
                    "{name} has one database: --jobs has nothing to run at once"
                )));
            }
        }
    }
    let env = ctx.loaded.environment(name).map_err(CliError::diagnostic)?;
    let root = ctx.root();
    let who = context::who();
    let request = PlanRequest {
        root: &root,
        now: clock::now_unix(),
        who: &who,
        window: &env.window,
        override_window: options.override_window.as_deref(),
        allow_remove: options.allow_remove,
        required_ledger: required_ledger.as_ref(),
    };
    let (mut plan, code, state) = ops::plan(&ctx.target, ctx.transport.as_ref(), local, &request)
        .await
        .map_err(CliError::diagnostic)?;
    fleet_gates(&ctx, env, &mut plan, &state.db).await;
    Ok((ctx, plan, code))
}

/// In a fleet: every host and its release in the plan, and the `hosts` (every host
/// answers) and `filestore` (the same on every host) gates.
async fn fleet_gates(
    ctx: &EnvContext,
    env: &odoo_deploy_core::config::Environment,
    plan: &mut Plan,
    db: &odoo_deploy_core::state::DbState,
) {
    use odoo_deploy_core::fleet;
    let t = &ctx.target;
    if t.fleet_update.is_none() {
        return;
    }
    plan.hosts = fleet::releases(t, ctx.transport.as_ref(), &ctx.fleet, &ctx.unreachable).await;
    let update_release = plan.hosts.first().and_then(|h| h.release.clone());
    for h in plan.hosts.iter().skip(1) {
        if h.error.is_none() && h.release != update_release {
            plan.warnings.push(format!(
                "{} runs {} while the update host runs {}: a rollback puts each host back on its own release",
                h.name,
                h.release.as_deref().unwrap_or("no release"),
                update_release.as_deref().unwrap_or("no release")
            ));
        }
    }
    plan.gates.extend(fleet::reach_gate(t, &ctx.unreachable));
    plan.gates.extend(
        fleet::filestore_gate(t, env.filestore, ctx.transport.as_ref(), &ctx.fleet, db).await,
    );
}

/// The ledger of the environment this one `requires`, read through that environment's
/// own transport.
async fn required_ledger(
    loaded: &LoadedConfig,
    name: &str,
) -> Result<Option<odoo_deploy_core::ledger::Ledger>, CliError> {
    let env = loaded.environment(name).map_err(CliError::diagnostic)?;
    let Some(required) = &env.requires else {
        return Ok(None);
    };
    let required = required.get_ref();
    let other = loaded.environment(required).map_err(CliError::diagnostic)?;
    let transport = context::connect(loaded, other).await?;
    let layout = odoo_deploy_core::release::Layout::new(other.odoo.deploy_dir.clone());
    let ledger = state::read_ledger(transport.as_ref(), &layout)
        .await
        .map_err(CliError::diagnostic)?;
    Ok(Some(ledger))
}
