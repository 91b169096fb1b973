//! `odd deploy ENV`: plan, show, (ask,) execute — the same plan value `odd plan` prints.

use odoo_deploy_core::command::Secret;
use odoo_deploy_core::deploy::{self, DeployContext, UpdateVerdict};
use odoo_deploy_core::event::{Event, EventSink};
use odoo_deploy_core::ledger::Outcome;
use odoo_deploy_core::lock::LockState;
use odoo_deploy_core::ops;
use odoo_deploy_core::transport::LocalTransport;

use crate::context::{self, ConfigArg, EnvContext};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment (a name from odd.toml).
    env: String,
    /// Answer yes to the approval question (for CI).
    #[arg(long)]
    yes: bool,
    /// Stream events as NDJSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: super::plan::PlanOptions,
    /// Bring a deploy whose run died to a verified state: forward from its update when
    /// that completed, else back to the previous release.
    #[arg(long, conflicts_with_all = ["override_window", "allow_remove"])]
    resume: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let mut summary = Summary::default();
    let result = if args.resume {
        resume(args, &mut summary)
    } else {
        start(args, &mut summary)
    };
    if args.json {
        summary.print(&result)?;
    }
    result
}

/// What `odd deploy --json` ends with: one object saying how the run ended, whatever
/// ended it (a report, a gate, bad input), with the exit code and its meaning.
#[derive(Debug, Default)]
struct Summary {
    /// A deploy's outcome (`succeeded`, `rolled_back`, …) or `nothing_to_do`; unset
    /// when an error ended the run (the exit status's name stands for it then).
    outcome: Option<String>,
    deploy_id: Option<String>,
    commit: Option<String>,
    downtime_ms: Option<u64>,
    reason: Option<String>,
    report: Option<serde_json::Value>,
}

impl Summary {
    fn ran(&mut self, report: &deploy::DeployReport) {
        self.outcome = serde_json::to_value(report.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        self.deploy_id = Some(report.id.clone());
        self.downtime_ms = report.downtime_ms;
        self.reason.clone_from(&report.reason);
        self.report = serde_json::to_value(report).ok();
    }

    fn print(self, result: &Result<Status, CliError>) -> Result<(), CliError> {
        let (status, error) = match result {
            Ok(status) => (*status, None),
            Err(CliError::BrokenPipe) => return Ok(()),
            Err(error) => (error.status(), error.report().map(ToString::to_string)),
        };
        let line = serde_json::json!({
            "event": "finished",
            "outcome": self.outcome.as_deref().unwrap_or(status.name()),
            "deploy_id": self.deploy_id,
            "commit": self.commit,
            "downtime_ms": self.downtime_ms,
            "exit_code": status.code(),
            "exit": status.name(),
            "meaning": status.meaning(),
            "reason": self.reason.or(error),
            "report": self.report,
        });
        output::print(&format!("{line}\n"))
    }
}

fn start(args: &Args, summary: &mut Summary) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let local = LocalTransport::new();
        let (ctx, plan, code) = super::plan::make(loaded, &args.env, &args.options, &local).await?;
        let webhook = webhook(&ctx, &args.env)?;
        let root = ctx.root();
        summary.commit = Some(plan.commit.clone());
        summary.deploy_id = Some(plan.release.clone());
        if plan.is_noop() && plan.ready() {
            // The commit runs already and no module changed: no lock, no downtime.
            let message = format!(
                "nothing to deploy: commit {} already runs on {} and no module changed",
                plan.commit.get(..12).unwrap_or(&plan.commit),
                plan.environment
            );
            if args.json {
                let line = serde_json::json!({"event": "nothing_to_do", "commit": plan.commit, "message": message});
                output::print(&format!("{line}\n"))?;
            } else {
                output::say(&message);
            }
            summary.outcome = Some("nothing_to_do".to_owned());
            summary.deploy_id = None;
            summary.reason = Some(message);
            return Ok(Status::Success);
        }
        if !args.json {
            output::say(&plan.render_text());
        }
        if !plan.ready() {
            return Err(CliError::diagnostic(deploy::DeployError::NotReady(
                plan.gates
                    .iter()
                    .filter(|g| !g.passed)
                    .map(|g| format!("{}: {}", g.name, g.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            )));
        }
        if ctx.target.approval && !args.yes && !approved(&args.env)? {
            output::say("not approved: nothing was changed");
            return Ok(Status::Refused);
        }
        let renderer = Renderer::new(args.json);
        let deploy_ctx = DeployContext {
            target: &ctx.target,
            transport: ctx.transport.clone(),
            local: &local,
            root: &root,
            code: &code,
            events: &renderer,
            machine: context::machine(),
            pid: std::process::id(),
            webhook,
            fleet: ctx.fleet.clone(),
        };
        let report = deploy::execute(&deploy_ctx, &plan)
            .await
            .map_err(CliError::diagnostic)?;
        summary.ran(&report);
        show_report(&report, args.json)
    })
}

/// `odd deploy ENV --resume`: the interrupted deploy's update decides. Completed: the
/// runbook goes on from the module verification (same release, same update set, the
/// checkout must be at its commit). Still running on the host: wait for it. Failed, or
/// never begun: the same recovery as `odd rollback` (the previous release, verified) —
/// the deploy can then simply be run again.
fn resume(args: &Args, summary: &mut Summary) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let ctx = EnvContext::open(loaded, &args.env).await?;
        let t = &ctx.target;
        let transport = ctx.transport.as_ref();
        let (ledger, lock) = ctx.ledger_and_lock().await?;
        if let LockState::Held { holder, .. } = &lock {
            return Err(CliError::refused(miette::miette!(
                help = "a live run is not resumed; wait for it",
                "{} is locked by a live run: {} (pid {} on {})",
                t.environment,
                holder.message,
                holder.pid,
                holder.machine
            )));
        }
        let Some(record) = ledger.latest().filter(|r| r.outcome == Outcome::Running) else {
            return Err(CliError::refused(miette::miette!(
                help = "`odd status ENV` tells what runs; `odd deploy ENV` starts a new deploy",
                "nothing to resume on {}: its last deploy is not interrupted",
                t.environment
            )));
        };
        summary.deploy_id = Some(record.id.clone());
        summary.commit = Some(record.commit.clone());
        let mut verdict = deploy::interrupted_update(transport, t, &record.id)
            .await
            .map_err(CliError::diagnostic)?;
        let waiting_since = std::time::Instant::now();
        while verdict == UpdateVerdict::Running {
            if waiting_since.elapsed() > deploy::UPDATE_TIMEOUT {
                return Err(CliError::Report(miette::miette!(
                    "the update of {} still runs on the host after {} s",
                    record.id,
                    deploy::UPDATE_TIMEOUT.as_secs()
                )));
            }
            if waiting_since.elapsed().as_secs() == 0 {
                output::say(&format!(
                    "the update of {} still runs on the host: waiting for it",
                    record.id
                ));
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            verdict = deploy::interrupted_update(transport, t, &record.id)
                .await
                .map_err(CliError::diagnostic)?;
        }
        let renderer = Renderer::new(args.json);
        if verdict != UpdateVerdict::Succeeded {
            let why = match &verdict {
                UpdateVerdict::Failed { reason, .. } => format!("its update failed ({reason})"),
                UpdateVerdict::RollbackBegun => "its rollback had begun".to_owned(),
                UpdateVerdict::Fleet => {
                    "a fleet deploy is not taken forward (each database goes back to its snapshot)"
                        .to_owned()
                }
                _ => "its update never began".to_owned(),
            };
            output::say(&format!(
                "deploy {} cannot go forward: {why}; rolling back instead",
                record.id
            ));
            if let UpdateVerdict::Failed { evidence, .. } = &verdict {
                for line in evidence {
                    output::say(&format!("  | {line}"));
                }
            }
            let (status, report) =
                super::rollback::recover(&ctx, &record.id, &renderer, args.json).await?;
            summary.outcome = Some(
                if report.ok {
                    "rolled_back"
                } else {
                    "rollback_failed"
                }
                .to_owned(),
            );
            summary.downtime_ms = report.downtime_ms;
            summary.reason = Some(format!("{why}; {}", report.reason));
            return Ok(status);
        }
        let root = ctx.root();
        let local = LocalTransport::new();
        let (head, dirty) = ops::head(&odoo_deploy_core::git::Git::new(&root), &local)
            .await
            .map_err(CliError::diagnostic)?;
        if head != record.commit || !dirty.is_empty() {
            return Err(CliError::refused(miette::miette!(
                help = "check out that commit, with no change, and run --resume again",
                "deploy {} was of commit {}; the checkout is at {}{}",
                record.id,
                record.commit,
                head,
                if dirty.is_empty() {
                    ""
                } else {
                    " with changes"
                }
            )));
        }
        let db = odoo_deploy_core::state::read_db(ctx.transport.as_ref(), &t.pg, &t.db)
            .await
            .map_err(CliError::diagnostic)?;
        let code = ops::read_code_on(&root, t, ctx.transport.as_ref(), &db)
            .await
            .map_err(CliError::diagnostic)?;
        let deploy_ctx = DeployContext {
            target: t,
            transport: ctx.transport.clone(),
            local: &local,
            root: &root,
            code: &code,
            events: &renderer,
            machine: context::machine(),
            pid: std::process::id(),
            webhook: webhook(&ctx, &args.env)?,
            fleet: ctx.fleet.clone(),
        };
        let report = deploy::resume(&deploy_ctx, record, &context::who())
            .await
            .map_err(CliError::diagnostic)?;
        summary.ran(&report);
        show_report(&report, args.json)
    })
}

/// The webhook's URL, read from the variable the configuration names.
fn webhook(ctx: &EnvContext, env: &str) -> Result<Option<Secret>, CliError> {
    let env = ctx.loaded.environment(env).map_err(CliError::diagnostic)?;
    Ok(match &env.notify.webhook_env {
        Some(var) => std::env::var(var.get_ref()).ok().map(Secret::new),
        None => None,
    })
}

/// Says how a deploy ended (with `--json`, the summary says it); its outcome is the
/// exit status.
fn show_report(report: &deploy::DeployReport, json: bool) -> Result<Status, CliError> {
    if !json {
        let downtime = report.downtime_ms.map_or_else(String::new, |ms| {
            format!(", downtime {:.1} s", ms as f64 / 1000.0)
        });
        match (report.outcome, &report.reason) {
            (Outcome::Succeeded, _) | (_, None) => {
                output::say(&format!("{}{downtime}", outcome_text(report.outcome)));
            }
            (_, Some(reason)) => {
                output::say(&format!(
                    "{}: {reason}{downtime}",
                    outcome_text(report.outcome)
                ));
            }
        }
        for line in &report.evidence {
            output::say(&format!("  | {line}"));
        }
        for db in &report.databases {
            output::say(&format!(
                "  database {}: {}{}",
                db.database,
                db.outcome.name(),
                db.reason
                    .as_ref()
                    .map_or_else(String::new, |r| format!(" — {r}"))
            ));
        }
    }
    Ok(Status::of_outcome(report.outcome))
}

pub(crate) fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Running => "running (or interrupted)",
        Outcome::Succeeded => "deployed and verified",
        Outcome::Refused => "refused, nothing changed",
        Outcome::RolledBack => "ROLLED BACK and verified",
        Outcome::Reverted => "deployed, later undone by `odd rollback`",
        Outcome::PartlyFailed => {
            "PARTLY FAILED: deployed on some databases, the failed ones restored"
        }
        Outcome::RollbackFailed => {
            "FAILED, and the rollback failed too: the environment needs an operator"
        }
    }
}

fn approved(env: &str) -> Result<bool, CliError> {
    output::ask(
        &format!("Deploy to {env}?"),
        &format!("{env} requires approval: pass --yes (no terminal to ask on)"),
    )
}

/// Events on stderr for people (a spinner per step and a bar over the modules while
/// Odoo updates them, when stderr is a terminal), or NDJSON on stdout for machines.
pub(crate) struct Renderer {
    json: bool,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Renderer {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            bar: std::sync::Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<indicatif::ProgressBar>)) {
        let mut bar = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut bar);
    }
}

impl EventSink for Renderer {
    fn event(&self, event: Event) {
        if self.json {
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = output::print(&format!("{line}\n"));
            }
            return;
        }
        match &event {
            Event::StepStarted { .. } => self.with_bar(|bar| {
                let spinner = indicatif::ProgressBar::new_spinner();
                spinner.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                spinner.enable_steady_tick(std::time::Duration::from_millis(200));
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("    {spinner} {elapsed} {msg}")
                {
                    spinner.set_style(style);
                }
                *bar = Some(spinner);
            }),
            Event::ModuleProgress {
                module,
                index,
                total,
            } => self.with_bar(|bar| {
                if let Some(bar) = bar {
                    if bar.length() != Some(u64::from(*total)) {
                        bar.set_length(u64::from(*total));
                        if let Ok(style) = indicatif::ProgressStyle::with_template(
                            "    [{bar:30}] {pos}/{len} {elapsed} {msg}",
                        ) {
                            bar.set_style(style.progress_chars("=> "));
                        }
                    }
                    bar.set_position(u64::from(*index));
                    bar.set_message(output::terminal_safe(module, false).into_owned());
                }
            }),
            Event::StepFinished { .. } => self.with_bar(|bar| {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
            }),
            _ => {}
        }
        match event {
            Event::StepStarted { title, .. } => output::say(&format!("==> {title}")),
            Event::StepFinished {
                ok: false,
                elapsed_ms,
                ..
            } => {
                output::say(&format!(
                    "    failed after {:.1} s",
                    elapsed_ms as f64 / 1000.0
                ));
            }
            Event::StepFinished { elapsed_ms, .. } if elapsed_ms >= 1000 => {
                output::say(&format!("    done in {:.1} s", elapsed_ms as f64 / 1000.0));
            }
            // On a terminal the bar shows it; in a log, one line a module.
            Event::ModuleProgress {
                module,
                index,
                total,
            } if !std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
                output::say(&format!("    [{index}/{total}] {module}"));
            }
            Event::Notice { message } => output::say(&format!("note: {message}")),
            Event::DatabaseFinished {
                database,
                outcome,
                reason,
                done,
                failed,
                skipped,
                left,
            } => output::say(&format!(
                "    database {}: {}{} ({done} done, {failed} failed, {skipped} skipped, {left} left)",
                output::terminal_safe(&database, false),
                outcome.name(),
                reason.map_or_else(String::new, |r| format!(": {r}")),
            )),
            Event::RollbackStarted { reason } => {
                output::say(&format!("!!! {reason}\n==> rolling back"));
            }
            _ => {}
        }
    }
}
