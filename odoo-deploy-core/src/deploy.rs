//! Executing a plan: the runbook of [`crate::plan`], step by step, on the environment's
//! host, reporting events, recording the result in the ledger — and, when a step fails
//! after the environment began to change, executing the plan's rollback.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::changes::ChangeSet;
use crate::clock;
use crate::command::{RemoteCommand, Secret};
use crate::detached::{DetachedRun, Exit};
use crate::event::{Event, EventSink};
use crate::journal::{self, JournalState};
use crate::ledger::{ChangeSummary, DeployRecord, Ledger, Outcome, StepRecord};
use crate::lock::{EnvLock, HEARTBEAT_EVERY, LockError, LockInfo};
use crate::odoo::{Finding, LogWatch};
use crate::ops::Code;
use crate::plan::{Plan, StepKind};
pub(crate) use crate::runbook::Failure;
use crate::runbook::update::{EVIDENCE_LINES, judge_update};
use crate::runbook::{Progress, Run, note};
use crate::state;
use crate::target::Target;
use crate::transport::{Transport, TransportError};

/// Waits for health (used by `odd rollback`).
pub(crate) use crate::runbook::health::wait as health;
/// The fixed smoke checks (used by `odd rollback`).
pub(crate) use crate::runbook::smoke::fixed as smoke_after_rollback;
/// Reads the startup log (used by `odd rollback`).
pub(crate) use crate::runbook::startup_log::read as read_startup_log;

/// How long the update may run before it is killed.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// Everything a deploy runs with.
pub struct DeployContext<'a> {
    /// The environment deployed to.
    pub target: &'a Target,
    /// The environment's host.
    pub transport: Arc<dyn Transport>,
    /// This machine (git).
    pub local: &'a dyn Transport,
    /// The project's root (a git work tree at the plan's commit).
    pub root: &'a Path,
    /// The project's modules as scanned at the plan's commit.
    pub code: &'a Code,
    /// Where the events go.
    pub events: &'a dyn EventSink,
    /// This machine's name and process id, for the lock.
    pub machine: String,
    /// This process's id, for the lock.
    pub pid: u32,
    /// Where the outcome is POSTed, if configured.
    pub webhook: Option<Secret>,
    /// The fleet's other hosts, each with its connection (empty for one host): the
    /// per-host phases run on them too ([`crate::fleet`]).
    pub fleet: Vec<crate::fleet::Member>,
}

impl std::fmt::Debug for DeployContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployContext")
            .field("environment", &self.target.environment)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Why a deploy did not succeed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DeployError {
    #[error("the plan is not ready: {0}")]
    #[diagnostic(
        code(odd::deploy::gates),
        help("`odd plan ENV` shows every gate and why it failed")
    )]
    /// A gate of the plan failed: each one's name and why.
    NotReady(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    /// The environment's lock could not be taken.
    Lock(#[from] LockError),
    #[error("deploy {id} of {env} died before it finished and was not recovered")]
    #[diagnostic(
        code(odd::deploy::unrecovered),
        help(
            "`odd status {env}` says where it stopped; `odd deploy {env} --resume` takes it forward (or back), `odd rollback {env}` brings it back"
        )
    )]
    /// A run of this environment died and was not recovered.
    Unrecovered {
        /// The environment.
        env: String,
        /// The deploy (or `odd rollback` of it) that died.
        id: String,
    },
    #[error("the update lock of database {database} is held by {cause}; nothing was changed")]
    #[diagnostic(
        code(odd::deploy::update_lock),
        help(
            "going on would start Odoo on a database another program is updating: wait for it to finish, then run `odd deploy {env} --resume` again"
        )
    )]
    /// `--resume` found the database's update lock held by another program (or a live
    /// odd run): nothing was changed.
    UpdateLockHeld {
        /// The environment.
        env: String,
        /// The database whose update lock is held.
        database: String,
        /// Who holds it: pid, application name and age.
        cause: String,
    },
}

/// How a deploy ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeployReport {
    /// The deploy's id (its release).
    pub id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed (or how it went, on success).
    pub reason: Option<String>,
    /// The lines that show why (Odoo's log, module problems).
    pub evidence: Vec<String>,
    /// From the first stop of Odoo to its healthy answer after (or to the end).
    pub downtime_ms: Option<u64>,
    /// Every step run, with its timing.
    pub steps: Vec<StepRecord>,
    /// The backups it made (and, after a rollback, the database it replaced).
    pub backups: Vec<String>,
    /// A fleet's databases, each with how it ended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<crate::databases::DatabaseEntry>,
}

/// Runs `plan` (made from the same context); returns the report once the ledger tells
/// the outcome.
pub async fn execute(ctx: &DeployContext<'_>, plan: &Plan) -> Result<DeployReport, DeployError> {
    if !plan.ready() {
        let failed: Vec<String> = plan
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| format!("{}: {}", g.name, g.detail))
            .collect();
        return Err(DeployError::NotReady(failed.join("; ")));
    }
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let lock = EnvLock::new(&t.environment, t.layout.lock());
    let info = LockInfo {
        owner: plan.who.clone(),
        machine: ctx.machine.clone(),
        pid: ctx.pid,
        started_at: clock::now_unix(),
        commit: Some(plan.commit.clone()),
        message: format!("deploy {} ({})", short(&plan.commit), plan.release),
        deploy_id: Some(plan.release.clone()),
    };
    let lock_step = Instant::now();
    ctx.events.event(Event::StepStarted {
        step: StepKind::Lock,
        title: plan
            .steps
            .first()
            .map_or_else(String::new, |s| s.title.clone()),
    });
    transport
        .mkdir_p(&t.layout.deploy_dir)
        .await
        .map_err(|e| DeployError::Lock(LockError::Transport(e)))?;
    lock.acquire(transport, &info).await?;
    if let Err(e) = refuse_unrecovered(ctx, plan).await {
        let _ = lock.release(transport).await;
        return Err(e);
    }
    ctx.events.event(Event::StepFinished {
        step: StepKind::Lock,
        elapsed_ms: ms(lock_step.elapsed()),
        ok: true,
    });
    let heartbeat = heartbeat(&ctx.transport, &lock);
    let (plan_inline, plan_digest) = store_plan(ctx, plan).await;

    let record = DeployRecord {
        databases: Vec::new(),
        id: plan.release.clone(),
        environment: t.environment.clone(),
        commit: plan.commit.clone(),
        previous_commit: plan.previous_commit.clone(),
        who: plan.who.clone(),
        started_at: info.started_at,
        finished_at: None,
        outcome: Outcome::Running,
        reason: None,
        evidence: Vec::new(),
        plan: plan_inline,
        plan_digest,
        changes: summary(&plan.changes, &plan.update),
        backups: Vec::new(),
        steps: Vec::new(),
        downtime_ms: None,
        window_override: plan.gates.iter().find_map(|g| g.overridden.clone()),
        previous_release: plan.previous_release.clone(),
    };
    append(ctx, &record).await;
    if let Err(e) = journal::reset(transport, &t.layout).await {
        ctx.events.event(Event::Notice {
            message: format!("the journal could not be started: {e}"),
        });
    }
    note(ctx, plan, "lock", JournalState::Finished, None).await;

    let mut progress = Progress::default();
    progress.steps.push(StepRecord {
        step: "lock".to_owned(),
        started_at: info.started_at,
        duration_ms: ms(lock_step.elapsed()),
        ok: true,
    });
    let result = crate::runbook::execute(&mut Run {
        ctx,
        plan,
        progress: &mut progress,
    })
    .await;
    Ok(conclude(ctx, plan, record, progress, result, &lock, heartbeat).await)
}

/// With the lock taken (so no live run holds it): refuses to run over a deploy or an
/// `odd rollback` that died and was not recovered (their lock released by hand) — the
/// environment is wherever that run stopped.
async fn refuse_unrecovered(ctx: &DeployContext<'_>, plan: &Plan) -> Result<(), DeployError> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let io = |e: TransportError| DeployError::Lock(LockError::Transport(e));
    if let Some(id) = &plan.unfinished {
        // Read again: a live run the plan saw may have finished since.
        let ledger = state::read_ledger(transport, &t.layout).await.map_err(io)?;
        if ledger
            .get(id)
            .is_some_and(|r| r.outcome == Outcome::Running)
        {
            return Err(DeployError::Unrecovered {
                env: t.environment.clone(),
                id: id.clone(),
            });
        }
    }
    let entries = journal::read(transport, &t.layout).await.map_err(io)?;
    if let Some(rollback) = journal::unfinished_rollback(&entries) {
        return Err(DeployError::Unrecovered {
            env: t.environment.clone(),
            id: format!("{} ({})", rollback.begin.deploy, rollback.summary),
        });
    }
    Ok(())
}

/// Keeps the lock's heartbeat while a run goes on (abort the handle to stop it).
pub(crate) fn heartbeat(
    transport: &Arc<dyn Transport>,
    lock: &EnvLock,
) -> tokio::task::JoinHandle<()> {
    let transport = Arc::clone(transport);
    let lock = lock.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let _ = lock.beat(transport.as_ref()).await;
        }
    })
}

/// After the steps: the rollback when they failed once the environment began to change,
/// then the ledger, the notification and the lock.
async fn conclude(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    mut record: DeployRecord,
    mut progress: Progress,
    result: Result<(), Failure>,
    lock: &EnvLock,
    heartbeat: tokio::task::JoinHandle<()>,
) -> DeployReport {
    let transport = ctx.transport.as_ref();
    if let Some(releasing) = progress.releasing.take() {
        // The lock is free before the outcome is recorded, as before a rollback.
        let _ = releasing.await;
    }
    match result {
        Ok(()) => {
            record.outcome = Outcome::Succeeded;
            record.reason = Some(match &progress.resumed {
                Some(how) => format!("deployed and verified ({how})"),
                None => "deployed and verified".to_owned(),
            });
            if let Some(partly) = crate::databases::partly_failed(&progress.databases) {
                record.outcome = Outcome::PartlyFailed;
                record.reason = Some(partly);
            }
        }
        Err(failure) => {
            if let Some(held) = progress.advisory.take() {
                held.release().await;
            }
            let changed = progress.changed();
            record.reason = Some(format!("{}: {}", failure.step, failure.reason));
            record.evidence = failure.evidence.clone();
            progress.failure.clone_from(&record.reason);
            if changed {
                ctx.events.event(Event::RollbackStarted {
                    reason: record.reason.clone().unwrap_or_default(),
                });
                let rolled = crate::runbook::rollback(&mut Run {
                    ctx,
                    plan,
                    progress: &mut progress,
                })
                .await;
                record.outcome = match rolled {
                    Ok(()) => Outcome::RolledBack,
                    Err(rollback_failure) => {
                        record.evidence.push(format!(
                            "rollback failed at {}: {}",
                            rollback_failure.step, rollback_failure.reason
                        ));
                        record.evidence.extend(rollback_failure.evidence);
                        Outcome::RollbackFailed
                    }
                };
            } else {
                record.outcome = Outcome::Refused;
            }
            progress.outcome = Some(record.outcome);
            crate::runbook::on_failure(&mut Run {
                ctx,
                plan,
                progress: &mut progress,
            })
            .await;
        }
    }
    record.finished_at = Some(clock::now_unix());
    record.databases.clone_from(&progress.databases);
    record.steps.extend(progress.steps.iter().cloned());
    for id in &progress.backups {
        if !record.backups.contains(id) {
            record.backups.push(id.clone());
        }
    }
    if let Some(downtime) = progress.final_downtime() {
        record.downtime_ms = Some(downtime);
    }
    append(ctx, &record).await;
    // A rolled-back deploy leaves a snapshot (what it replaced), a dump and a release
    // like a good one: retention applies to them too, or a run of failing deploys
    // fills the host.
    if record.outcome == Outcome::RolledBack {
        crate::runbook::prune::prune(ctx, plan, &progress.backups).await;
    }
    notify(ctx, &record).await;
    heartbeat.abort();
    if let Err(e) = lock.release(transport).await {
        ctx.events.event(Event::Notice {
            message: format!("the lock could not be released: {e}"),
        });
    }
    DeployReport {
        id: record.id,
        outcome: record.outcome,
        reason: record.reason,
        evidence: record.evidence,
        downtime_ms: record.downtime_ms,
        steps: record.steps,
        backups: record.backups,
        databases: record.databases,
    }
}

/// What the update of a deploy whose run died came to, read on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateVerdict {
    /// The update never began: the database is as before.
    NotStarted,
    /// It still runs (detached); its exit status is not written yet.
    Running,
    /// It ended with exit 0 and a clean log.
    Succeeded,
    /// It failed: why, and the lines that show it.
    Failed {
        /// Why, in a sentence.
        reason: String,
        /// The lines that show it.
        evidence: Vec<String>,
    },
    /// Whatever the update came to, a rollback of the deploy began: only going back is
    /// safe (the database may be the snapshot already).
    RollbackBegun,
    /// A fleet deploy (see [`crate::fleet`]): not taken forward; its databases go back to
    /// their snapshots.
    Fleet,
}

/// Reads the journal and the detached update's status and log of deploy `id`.
///
/// # Errors
/// The host cannot be read.
pub async fn interrupted_update(
    transport: &dyn Transport,
    target: &Target,
    id: &str,
) -> Result<UpdateVerdict, TransportError> {
    let entries = journal::read(transport, &target.layout).await?;
    let mine = |step: &str, state: JournalState| {
        entries
            .iter()
            .any(|e| e.deploy == id && e.step == step && e.state == state)
    };
    // The deploy's own rollback (`rollback …`) or an `odd rollback` of it.
    if entries.iter().any(|e| {
        e.deploy == id && (e.step.starts_with("rollback ") || e.step.starts_with("odd rollback"))
    }) {
        return Ok(UpdateVerdict::RollbackBegun);
    }
    if entries
        .iter()
        .any(|e| e.deploy == id && e.step == "update databases")
    {
        return Ok(UpdateVerdict::Fleet);
    }
    if mine("update", JournalState::Finished) {
        return Ok(UpdateVerdict::Succeeded);
    }
    if mine("update", JournalState::Failed) {
        return Ok(UpdateVerdict::Failed {
            reason: "the update failed before the run died".to_owned(),
            evidence: Vec::new(),
        });
    }
    if !mine("update", JournalState::Started) {
        return Ok(UpdateVerdict::NotStarted);
    }
    let Some((log, code)) = update_run(transport, &target.layout, id).await? else {
        // Journaled as begun, never launched on the host.
        return Ok(UpdateVerdict::NotStarted);
    };
    let Some(code) = code else {
        return Ok(UpdateVerdict::Running);
    };
    let text = transport.read_file(&log).await?;
    let mut watch = match LogWatch::new(&target.allow_log_errors, EVIDENCE_LINES) {
        Ok(w) => w,
        Err(e) => {
            return Ok(UpdateVerdict::Failed {
                reason: e.to_string(),
                evidence: Vec::new(),
            });
        }
    };
    let mut telling = Vec::new();
    for line in String::from_utf8_lossy(&text).lines() {
        if watch.line(line).is_some_and(Finding::is_failure) {
            telling.push(line.to_owned());
        }
    }
    let exit = Exit::from_shell_status(code, Some(UPDATE_TIMEOUT), Duration::ZERO);
    Ok(match judge_update(exit, &watch, &telling) {
        Ok(()) => UpdateVerdict::Succeeded,
        Err(f) => UpdateVerdict::Failed {
            reason: f.reason,
            evidence: f.evidence,
        },
    })
}

/// Takes a deploy whose run died forward from its completed update (see
/// [`interrupted_update`]): the stale lock is taken over, Odoo stopped, and the runbook
/// runs from the module verification on — verify, switch, start, health, startup log,
/// smoke, checksums, record, prune — rolling back to the pre-deploy snapshot when a step
/// fails, like the deploy itself would have. The ledger line gets the outcome.
///
/// # Errors
/// The lock is held by a live run, or the host cannot be read.
pub async fn resume(
    ctx: &DeployContext<'_>,
    record: &DeployRecord,
    who: &str,
) -> Result<DeployReport, DeployError> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let entries = journal::read(transport, &t.layout)
        .await
        .map_err(|e| DeployError::Lock(LockError::Transport(e)))?;
    let found = journal::assess(&entries, &record.id);
    // The plan it ran (its file, checked against the digest its line names).
    let mut ran = record.clone();
    ran.plan = state::read_plan(transport, &t.layout, record)
        .await
        .map_err(|e| {
            DeployError::NotReady(format!(
                "{e}; `odd rollback {}` brings it back instead",
                t.environment
            ))
        })?;
    let plan = crate::plan::resume(t, &ran, clock::now_unix(), who);
    let lock = EnvLock::new(&t.environment, t.layout.lock());
    let info = LockInfo {
        owner: who.to_owned(),
        machine: ctx.machine.clone(),
        pid: ctx.pid,
        started_at: clock::now_unix(),
        commit: Some(record.commit.clone()),
        message: format!("resume of deploy {}", record.id),
        deploy_id: Some(record.id.clone()),
    };
    if let Some(message) = lock.take_over_stale(transport, &info, &ctx.machine).await? {
        ctx.events.event(Event::Notice { message });
    }
    // Decided before the lock was taken: still the interrupted run's state?
    let still = state::read_ledger(transport, &t.layout).await.map(|l| {
        l.latest()
            .is_some_and(|r| r.id == record.id && r.outcome == Outcome::Running)
    });
    if !matches!(still, Ok(true)) {
        let _ = lock.release(transport).await;
        return Err(DeployError::NotReady(format!(
            "deploy {} is no longer the interrupted one; nothing was changed",
            record.id
        )));
    }
    let heartbeat = heartbeat(&ctx.transport, &lock);
    // The dead run's update lock session (and any other one a dead run of this
    // environment left): holding the environment lock, no run of it is alive.
    if let Ok(ledger) = state::read_ledger(transport, &t.layout).await {
        match crate::advisory::end_dead_holders(transport, &t.pg, &t.db, |id| {
            ledger.get(id).map(|_| true)
        })
        .await
        {
            Ok((ended, left)) => {
                for h in ended {
                    ctx.events.event(Event::Notice {
                        message: format!(
                            "ended the update lock session odd's dead run of {} left ({h})",
                            h.odd_deploy().unwrap_or_default()
                        ),
                    });
                }
                // click-odoo-update's, or a live odd's: never ended, and nothing runs
                // over it.
                if !left.is_empty() {
                    heartbeat.abort();
                    let _ = lock.release(transport).await;
                    return Err(DeployError::UpdateLockHeld {
                        env: t.environment.clone(),
                        database: t.db.name.clone(),
                        cause: crate::advisory::explain(&left, &t.environment),
                    });
                }
            }
            Err(e) => ctx.events.event(Event::Notice {
                message: format!("the update lock's holders could not be read: {e}"),
            }),
        }
    }
    note(ctx, &plan, "resume", JournalState::Started, None).await;
    let mut progress = Progress {
        stopped: true,
        updated: true,
        // Whether the dead run switched or not, a rollback switches back.
        switched: true,
        snapshot: found.snapshot.clone(),
        backups: found.snapshot.iter().cloned().collect(),
        resumed: Some(format!(
            "resumed by {who} after the run {}",
            found.summary.split(';').next().unwrap_or_default()
        )),
        // The dead run's stop: the environment has been down since.
        stop_at_ms: journal::first_stop_ms(&entries, &record.id),
        ..Progress::default()
    };
    let result = crate::runbook::execute(&mut Run {
        ctx,
        plan: &plan,
        progress: &mut progress,
    })
    .await;
    Ok(conclude(
        ctx,
        &plan,
        record.clone(),
        progress,
        result,
        &lock,
        heartbeat,
    )
    .await)
}

/// Where the detached update of deploy `id` stands on the host, for `odd status` after
/// odd died: `None` when it never started, else its log and, once it ended, its exit code
/// (the shell's `$?`: see [`crate::detached::Exit`]).
pub async fn update_run(
    transport: &dyn Transport,
    layout: &crate::release::Layout,
    id: &str,
) -> Result<Option<(PathBuf, Option<i32>)>, TransportError> {
    let run = DetachedRun::update(layout, id, 0);
    Ok(run.state(transport).await?.map(|code| (run.log, code)))
}

/// Stores the plan in its own file on the host; the ledger line names it by digest
/// (`(None, Some(digest))`). Should the file not be written, the line carries the plan
/// itself, as lines of older versions did, and a notice says so.
async fn store_plan(
    ctx: &DeployContext<'_>,
    plan: &Plan,
) -> (Option<serde_json::Value>, Option<String>) {
    let Ok(value) = serde_json::to_value(plan) else {
        return (None, None);
    };
    match state::store_plan(
        ctx.transport.as_ref(),
        &ctx.target.layout,
        &plan.release,
        &value,
    )
    .await
    {
        Ok(digest) => (None, Some(digest)),
        Err(e) => {
            ctx.events.event(Event::Notice {
                message: format!(
                    "the plan could not be stored beside the run ({e}): the ledger line carries it"
                ),
            });
            (Some(value), None)
        }
    }
}

async fn append(ctx: &DeployContext<'_>, record: &DeployRecord) {
    if let Err(e) = append_record(ctx.transport.as_ref(), &ctx.target.layout, record).await {
        ctx.events.event(Event::Notice {
            message: format!("the ledger could not be written: {e}"),
        });
    }
}

/// Appends one line for `record` to the environment's ledger on its host.
pub(crate) async fn append_record(
    transport: &dyn Transport,
    layout: &crate::release::Layout,
    record: &DeployRecord,
) -> Result<(), String> {
    let path: PathBuf = layout.ledger();
    let line = Ledger::line(record).map_err(|e| e.to_string())?;
    let cmd = RemoteCommand::new("tee")
        .arg("-a")
        .arg("--")
        .arg(&path)
        .stdin_bytes(line.into_bytes());
    transport
        .check_output(&cmd)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// POSTs the outcome to the webhook; a failure is reported, never fatal.
async fn notify(ctx: &DeployContext<'_>, record: &DeployRecord) {
    let Some(url) = &ctx.webhook else { return };
    let body = serde_json::json!({
        "environment": record.environment,
        "deploy": record.id,
        "commit": record.commit,
        "outcome": record.outcome,
        "reason": record.reason,
        "downtime_ms": record.downtime_ms,
    });
    let problem = match crate::http::post_webhook(url, &body, Duration::from_secs(10)).await {
        Ok(status) if (200..300).contains(&status) => None,
        Ok(status) => Some(format!("HTTP {status}")),
        Err(e) => Some(e),
    };
    if let Some(problem) = problem {
        ctx.events.event(Event::Notice {
            message: format!("the notification was not delivered ({problem})"),
        });
    }
}

fn summary(changes: &ChangeSet, update: &crate::odoo::UpdateSet) -> ChangeSummary {
    ChangeSummary {
        install: update.install.iter().cloned().collect(),
        update: update.update.iter().cloned().collect(),
        remove: changes.remove.iter().map(|c| c.module.clone()).collect(),
        effective_update: changes.effective_update.clone(),
        versions_before: Vec::new(),
    }
}

/// A step's name in the journal and the ledger.
pub(crate) fn step_name(kind: StepKind) -> &'static str {
    kind.name()
}

fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

pub(crate) use crate::runbook::{ended, ms};
