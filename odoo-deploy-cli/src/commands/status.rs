//! `odd status ENV`, `odd history ENV`, `odd lock ENV`, `odd unlock ENV`: what the
//! environment's host says about itself.

use odoo_deploy_core::clock;
use odoo_deploy_core::detached::Exit;
use odoo_deploy_core::journal;
use odoo_deploy_core::ledger::Outcome;
use odoo_deploy_core::lock::{EnvLock, LockState};
use odoo_deploy_core::state;

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
    config: ConfigArg,
}

/// `odd status`: deployed commit, lock, last outcome.
pub(crate) fn status(args: &Args) -> Result<Status, CliError> {
    with_env(args, |ctx, json| async move {
        let t = &ctx.target;
        let transport = ctx.transport.as_ref();
        let (ledger, lock) = ctx.ledger_and_lock().await?;
        let release = state::current_release(transport, &t.layout)
            .await
            .map_err(CliError::diagnostic)?;
        let entries = journal::read(transport, &t.layout)
            .await
            .map_err(CliError::diagnostic)?;
        // A run whose ledger line says `running` while nobody holds the lock died.
        let interrupted = ledger
            .latest()
            .filter(|r| r.outcome == Outcome::Running && !matches!(lock, LockState::Held { .. }))
            .map(|r| journal::assess(&entries, &r.id));
        // An `odd rollback` that died: the journal holds its plan, a new run finishes it.
        let rollback_run = if matches!(lock, LockState::Held { .. }) {
            None
        } else {
            journal::unfinished_rollback(&entries)
        };
        let update_run = match &interrupted {
            Some(i) if i.database_touched => {
                odoo_deploy_core::deploy::update_run(transport, &t.layout, &i.deploy)
                    .await
                    .map_err(CliError::diagnostic)?
            }
            _ => None,
        };
        // A fleet: where each host's `current` points.
        let hosts =
            odoo_deploy_core::fleet::releases(t, transport, &ctx.fleet, &ctx.unreachable).await;
        if json {
            let mut value = serde_json::json!({
                "update_run": update_run.as_ref().map(|(log, code)| serde_json::json!({
                    "log": log,
                    "exit_code": code,
                    "exit": code.map(update_exit),
                })),
                "environment": t.environment,
                "current": ledger.current(),
                "latest": ledger.latest(),
                "release": release,
                "lock": lock,
                "journal_last": entries.last(),
                "interrupted": interrupted,
                "interrupted_rollback": rollback_run,
            });
            if !hosts.is_empty() {
                value["hosts"] = serde_json::json!(hosts);
            }
            output::print(&format!("{value:#}\n"))?;
            return Ok(Status::Success);
        }
        let mut out = format!("{} on {}\n", t.environment, t.host);
        match ledger.current() {
            Some(r) => out.push_str(&format!(
                "  deployed: commit {} ({}), {}\n",
                short(&r.commit),
                r.id,
                clock::human(r.finished_at.unwrap_or(r.started_at))
            )),
            None => out.push_str("  deployed: nothing by odd yet\n"),
        }
        out.push_str(&format!(
            "  current release: {}\n",
            release.as_deref().unwrap_or("none")
        ));
        for h in &hosts {
            let roles: Vec<&str> = h.roles.iter().map(|r| r.name()).collect();
            out.push_str(&format!(
                "  host {} ({}, {}): {}\n",
                h.name,
                h.address,
                roles.join(","),
                match (&h.release, &h.error) {
                    (_, Some(e)) => format!("NOT REACHED: {e}"),
                    (Some(r), None) => format!("release {r}"),
                    (None, None) => "no release".to_owned(),
                }
            ));
        }
        if let Some(r) = ledger.latest() {
            out.push_str(&format!(
                "  last deploy: {} {} — {}{}\n",
                r.id,
                super::deploy::outcome_text(r.outcome),
                r.reason.as_deref().unwrap_or(""),
                r.window_override
                    .as_ref()
                    .map_or_else(String::new, |o| format!(" (window overridden: {o})"))
            ));
        }
        for db in ledger
            .latest()
            .map(|r| r.databases.as_slice())
            .unwrap_or_default()
        {
            out.push_str(&format!(
                "    database {}: {}{}{}\n",
                db.database,
                db.outcome.name(),
                db.reason
                    .as_ref()
                    .map_or_else(String::new, |r| format!(" — {r}")),
                db.snapshot
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" (snapshot {s})"))
            ));
        }
        out.push_str(&format!("  lock: {}\n", describe_lock(&lock)));
        if let Some(e) = entries.last() {
            out.push_str(&format!(
                "  journal: {} {} {:?} at {}\n",
                e.deploy,
                e.step,
                e.state,
                clock::human(e.at)
            ));
        }
        if let Some(i) = &interrupted {
            out.push_str(&format!(
                "  INTERRUPTED: deploy {} {}\n  `odd deploy {env} --resume` takes it forward when its update completed (else back); `odd rollback {env}` brings it back to the previous release; both end verified\n",
                i.deploy,
                i.summary,
                env = t.environment
            ));
        }
        if let Some(r) = &rollback_run {
            out.push_str(&format!(
                "  INTERRUPTED: {}\n  `odd rollback {}` finishes it, verified\n",
                r.summary, t.environment
            ));
        }
        match &update_run {
            Some((log, None)) => out.push_str(&format!(
                "  the update still runs on the host (detached); its log: {}\n",
                log.display()
            )),
            Some((log, Some(code))) => out.push_str(&format!(
                "  the update ended on the host {}; its log: {}\n",
                match update_exit(*code) {
                    Exit::Code { code } => format!("with exit code {code}"),
                    other => format!("(it {other})"),
                },
                log.display()
            )),
            None => {}
        }
        output::print(&out)?;
        Ok(Status::Success)
    })
}

/// How the detached update ended, from the shell status its runner wrote.
fn update_exit(code: i32) -> Exit {
    Exit::from_shell_status(
        code,
        Some(odoo_deploy_core::deploy::UPDATE_TIMEOUT),
        std::time::Duration::ZERO,
    )
}

/// `odd history`: every deploy, oldest first.
pub(crate) fn history(args: &Args) -> Result<Status, CliError> {
    with_env(args, |ctx, json| async move {
        let t = &ctx.target;
        let ledger = state::read_ledger(ctx.transport.as_ref(), &t.layout)
            .await
            .map_err(CliError::diagnostic)?;
        if json {
            let value = serde_json::to_string_pretty(ledger.records())
                .map_err(|e| CliError::Report(miette::miette!("{e}")))?;
            output::print(&format!("{value}\n"))?;
            return Ok(Status::Success);
        }
        let mut out = String::new();
        for r in ledger.records() {
            out.push_str(&format!(
                "{}  {}  {:<10}  {:>9}  {}  {}\n",
                clock::human(r.started_at),
                short(&r.commit),
                format!("{:?}", r.outcome).to_lowercase(),
                r.downtime_ms.map_or_else(
                    || "-".to_owned(),
                    |ms| format!("down {:.1}s", ms as f64 / 1000.0)
                ),
                r.who,
                r.reason.as_deref().unwrap_or("")
            ));
        }
        if out.is_empty() {
            out.push_str("no deploys yet\n");
        }
        output::print(&out)?;
        Ok(Status::Success)
    })
}

/// `odd lock`: who holds the lock.
pub(crate) fn lock(args: &Args) -> Result<Status, CliError> {
    with_env(args, |ctx, json| async move {
        let t = &ctx.target;
        let state = EnvLock::new(&t.environment, t.layout.lock())
            .state(ctx.transport.as_ref(), &context::machine())
            .await
            .map_err(CliError::diagnostic)?;
        if json {
            output::print(&format!("{}\n", serde_json::json!(state)))?;
        } else {
            output::print(&format!("{}\n", describe_lock(&state)))?;
        }
        Ok(Status::Success)
    })
}

/// `odd unlock`: releases a lock whose holder is gone.
pub(crate) fn unlock(args: &Args) -> Result<Status, CliError> {
    with_env(args, |ctx, json| async move {
        let t = &ctx.target;
        let released = EnvLock::new(&t.environment, t.layout.lock())
            .force_release(ctx.transport.as_ref(), &context::machine())
            .await
            .map_err(CliError::diagnostic)?;
        match &released {
            Some(holder) => output::say(&format!(
                "released the stale lock of {} (pid {})",
                holder.owner, holder.pid
            )),
            None => output::say("not locked"),
        }
        // The update lock sessions of runs that are provably gone: the one whose stale
        // lock this released, and any of a deploy the ledger says ended.
        let ledger = odoo_deploy_core::state::read_ledger(ctx.transport.as_ref(), &t.layout)
            .await
            .map_err(CliError::diagnostic)?;
        let dead = released.as_ref().and_then(|h| h.deploy_id.clone());
        let (ended, left) = odoo_deploy_core::advisory::end_dead_holders(
            ctx.transport.as_ref(),
            &t.pg,
            &t.db,
            |id| {
                ledger
                    .get(id)
                    .map(|r| dead.as_deref() == Some(id) || r.outcome.is_final())
            },
        )
        .await
        .map_err(CliError::diagnostic)?;
        for h in &ended {
            output::say(&format!(
                "ended the update lock session odd's dead run of {} left ({h})",
                h.odd_deploy().unwrap_or_default()
            ));
        }
        let held_by =
            (!left.is_empty()).then(|| odoo_deploy_core::advisory::explain(&left, &t.environment));
        if let Some(held_by) = &held_by {
            output::say(&format!(
                "the update lock of database {} is held by {held_by} (left alone)",
                t.db.name,
            ));
        }
        if json {
            output::print_json(&serde_json::json!({
                "released": released,
                "ended_update_sessions": ended,
                "update_lock_held_by": held_by,
            }))?;
        }
        Ok(Status::Success)
    })
}

fn describe_lock(state: &LockState) -> String {
    match state {
        LockState::Free => "free".to_owned(),
        LockState::Held {
            holder,
            heartbeat_age_secs,
        } => format!(
            "held by {} on {} (pid {}) since {}: {}{}",
            holder.owner,
            holder.machine,
            holder.pid,
            clock::human(holder.started_at),
            holder.message,
            heartbeat_age_secs.map_or_else(String::new, |a| format!(", heartbeat {a} s ago"))
        ),
        LockState::Stale { holder, why } => format!(
            "STALE: held by {} on {} (pid {}) since {} ({why}); `odd deploy ENV --resume` or `odd rollback ENV` recovers the run, `odd unlock` only releases the lock",
            holder.owner,
            holder.machine,
            holder.pid,
            clock::human(holder.started_at)
        ),
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn with_env<F, Fut>(args: &Args, f: F) -> Result<Status, CliError>
where
    F: FnOnce(EnvContext, bool) -> Fut,
    Fut: std::future::Future<Output = Result<Status, CliError>>,
{
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let ctx = EnvContext::open(loaded, &args.env).await?;
        f(ctx, args.json).await
    })
}
