//! Executing a plan: the runbook of [`crate::plan`], step by step, on the environment's
//! host, reporting events, recording the result in the ledger — and, when a step fails
//! after the environment began to change, executing the plan's rollback.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backup::{BackupError, Backups, DumpOptions};
use crate::changes::ChangeSet;
use crate::clock;
use crate::command::{RemoteCommand, Secret};
use crate::detached::{DetachedRun, Exit};
use crate::event::{Event, EventSink, Stream};
use crate::git::Git;
use crate::http::{CheckError, OdooHttp};
use crate::journal::{self, JournalEntry, JournalState};
use crate::ledger::{ChangeSummary, DeployRecord, Ledger, Outcome, StepRecord};
use crate::lock::{EnvLock, HEARTBEAT_EVERY, LockError, LockInfo};
use crate::odoo::{Finding, LogWatch, check_module_states};
use crate::ops::{self, Code};
use crate::plan::{Plan, Step, StepKind};
use crate::release::to_prune;
use crate::startup_log::{LogMark, StartupLog};
use crate::state;
use crate::target::Target;
use crate::transport::{OutputSink, Transport, TransportError};

/// How long the update may run before it is killed.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// Lines of Odoo's log kept as evidence.
const EVIDENCE_LINES: usize = 40;

/// Everything a deploy runs with.
pub struct DeployContext<'a> {
    pub target: &'a Target,
    /// The environment's host.
    pub transport: Arc<dyn Transport>,
    /// This machine (git).
    pub local: &'a dyn Transport,
    /// The project's root (a git work tree at the plan's commit).
    pub root: &'a Path,
    pub code: &'a Code,
    pub events: &'a dyn EventSink,
    /// This machine's name and process id, for the lock.
    pub machine: String,
    pub pid: u32,
    /// Where the outcome is POSTed, if configured.
    pub webhook: Option<Secret>,
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
    NotReady(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    #[error("deploy {id} of {env} died before it finished and was not recovered")]
    #[diagnostic(
        code(odd::deploy::unrecovered),
        help(
            "`odd status {env}` says where it stopped; `odd deploy {env} --resume` takes it forward (or back), `odd rollback {env}` brings it back"
        )
    )]
    Unrecovered { env: String, id: String },
}

/// How a deploy ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeployReport {
    pub id: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub evidence: Vec<String>,
    pub downtime_ms: Option<u64>,
    pub steps: Vec<StepRecord>,
    pub backups: Vec<String>,
}

/// A step's failure: what happened and the lines that show it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) step: StepKind,
    pub(crate) reason: String,
    pub(crate) evidence: Vec<String>,
}

impl Failure {
    pub(crate) fn new(step: StepKind, reason: impl Into<String>) -> Self {
        Self {
            step,
            reason: reason.into(),
            evidence: Vec::new(),
        }
    }
}

/// Where the environment stands while the runbook runs, to know what a rollback undoes.
#[derive(Debug, Default)]
struct Progress {
    stopped: bool,
    created_database: bool,
    snapshot: Option<String>,
    updated: bool,
    switched: bool,
    backups: Vec<String>,
    /// When Odoo was first stopped for this deploy (Unix ms), by this run or by the dead
    /// run it takes forward.
    stop_at_ms: Option<i64>,
    /// From that stop to the latest healthy answer after it.
    downtime_ms: Option<u64>,
    steps: Vec<StepRecord>,
    /// Where the startup log stood before the last start.
    log_mark: Option<LogMark>,
    /// The database's update lock, from before Odoo stops until the update ends.
    advisory: Option<crate::advisory::Held>,
    /// The release of that lock after a successful update, running while Odoo starts:
    /// ending the session and seeing it gone takes a few psql round trips and up to a
    /// second, which the downtime need not wait for (Odoo never takes the lock). Awaited
    /// before the run records its outcome or rolls back.
    releasing: Option<tokio::task::JoinHandle<()>>,
    /// Said in the ledger when this run takes a dead one forward.
    resumed: Option<String>,
}

impl Progress {
    /// Odoo answered healthy: the downtime runs from the first stop to now.
    fn healthy(&mut self) {
        if let Some(stop) = self.stop_at_ms {
            self.downtime_ms = Some(clock::ms_since(stop));
        }
    }

    /// The downtime when the run ends: to the last healthy answer, or — Odoo never
    /// answered again — to now (it is still down).
    fn final_downtime(&self) -> Option<u64> {
        self.downtime_ms
            .or_else(|| self.stop_at_ms.map(clock::ms_since))
    }
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

    let record = DeployRecord {
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
        plan: serde_json::to_value(plan).ok(),
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
    let result = run_steps(ctx, plan, &mut progress).await;
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
        }
        Err(failure) => {
            if let Some(held) = progress.advisory.take() {
                held.release().await;
            }
            let changed = progress.stopped || progress.created_database;
            record.reason = Some(format!("{}: {}", step_name(failure.step), failure.reason));
            record.evidence = failure.evidence.clone();
            if changed {
                ctx.events.event(Event::RollbackStarted {
                    reason: record.reason.clone().unwrap_or_default(),
                });
                record.outcome = match rollback(ctx, plan, &mut progress).await {
                    Ok(()) => Outcome::RolledBack,
                    Err(rollback_failure) => {
                        record.evidence.push(format!(
                            "rollback failed at {}: {}",
                            step_name(rollback_failure.step),
                            rollback_failure.reason
                        ));
                        record.evidence.extend(rollback_failure.evidence);
                        Outcome::RollbackFailed
                    }
                };
            } else {
                record.outcome = Outcome::Refused;
            }
        }
    }
    record.finished_at = Some(clock::now_unix());
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
        prune(ctx, plan, &progress.backups).await;
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
        reason: String,
        evidence: Vec<String>,
    },
    /// Whatever the update came to, a rollback of the deploy began: only going back is
    /// safe (the database may be the snapshot already).
    RollbackBegun,
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
    let plan = crate::plan::resume(t, record, clock::now_unix(), who);
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
            Ok((ended, _)) => {
                for h in ended {
                    ctx.events.event(Event::Notice {
                        message: format!(
                            "ended the update lock session odd's dead run of {} left ({h})",
                            h.odd_deploy().unwrap_or_default()
                        ),
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
    let result = run_steps(ctx, &plan, &mut progress).await;
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

async fn run_steps(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    progress: &mut Progress,
) -> Result<(), Failure> {
    for step in plan
        .steps
        .iter()
        .filter(|s| !matches!(s.kind, StepKind::Lock | StepKind::Unlock))
    {
        ctx.events.event(Event::StepStarted {
            step: step.kind,
            title: step.title.clone(),
        });
        let started = Instant::now();
        let started_at = clock::now_unix();
        let name = step_name(step.kind);
        note(ctx, plan, name, JournalState::Started, None).await;
        crate::hook::pause(name).await;
        let result = run_step(ctx, plan, step, progress).await;
        let detail = match step.kind {
            StepKind::Snapshot => progress.snapshot.as_deref(),
            _ => None,
        };
        note(ctx, plan, name, ended(result.is_ok()), detail).await;
        let elapsed = started.elapsed();
        ctx.events.event(Event::StepFinished {
            step: step.kind,
            elapsed_ms: ms(elapsed),
            ok: result.is_ok(),
        });
        progress.steps.push(StepRecord {
            step: step_name(step.kind).to_owned(),
            started_at,
            duration_ms: ms(elapsed),
            ok: result.is_ok(),
        });
        result?;
    }
    Ok(())
}

async fn run_step(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    step: &Step,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let fail = |e: &dyn std::fmt::Display| Failure::new(step.kind, e.to_string());
    match step.kind {
        StepKind::CreateDatabase => {
            run_all(ctx, &step.commands).await.map_err(|e| fail(&e))?;
            progress.created_database = true;
        }
        StepKind::Upload => upload(ctx, plan, step).await.map_err(|e| fail(&e))?,
        StepKind::Stop => {
            // Before Odoo goes down: a database someone else is updating (click-odoo-update,
            // another odd) is not touched, and this deploy stops with nothing changed. (The
            // lock is held for real around the update: the snapshot's template copy ends
            // every session on the database, a holder's included.)
            if plan.steps.iter().any(|s| s.kind == StepKind::Update) && !progress.created_database {
                advisory(ctx, plan)
                    .await
                    .map_err(|e| fail(&e))?
                    .release()
                    .await;
            }
            progress.stop_at_ms.get_or_insert_with(clock::now_unix_ms);
            progress.stopped = true;
            run_all(ctx, &step.commands).await.map_err(|e| fail(&e))?;
        }
        StepKind::Snapshot => {
            let target = t.backup_target(plan.previous_commit.as_deref());
            let meta = Backups::new(transport, &target)
                .snapshot()
                .await
                .map_err(|e| fail(&e))?;
            progress.backups.push(meta.id.clone());
            progress.snapshot = Some(meta.id);
        }
        StepKind::Dump => {
            let target = t.backup_target(plan.previous_commit.as_deref());
            let opts = DumpOptions {
                restore_test: t.restore_test,
                ..DumpOptions::default()
            };
            let meta = Backups::new(transport, &target)
                .dump(&opts)
                .await
                .map_err(|e| fail(&e))?;
            progress.backups.push(meta.id);
        }
        StepKind::Update => {
            // The database's update lock (click-odoo-update's key) for the whole update.
            progress.advisory = Some(advisory(ctx, plan).await.map_err(|e| fail(&e))?);
            progress.updated = true;
            let result = update(ctx, plan, step).await;
            if let Some(held) = progress.advisory.take() {
                if result.is_ok() {
                    progress.releasing = Some(tokio::spawn(held.release()));
                } else {
                    held.release().await;
                }
            }
            result?;
        }
        StepKind::VerifyModules => verify_modules(ctx, plan).await?,
        StepKind::Switch => {
            transport
                .symlink_switch(&t.layout.current(), &t.layout.release(&plan.release))
                .await
                .map_err(|e| fail(&e))?;
            progress.switched = true;
        }
        StepKind::Start => {
            if let Some(log) = &t.startup_log {
                progress.log_mark = Some(log.mark(transport).await);
            }
            run_all(ctx, &step.commands).await.map_err(|e| fail(&e))?;
        }
        StepKind::Health => {
            health(ctx.target).await.map_err(|e| fail(&e))?;
            progress.healthy();
        }
        StepKind::StartupLog => startup_log(ctx, progress.log_mark).await?,
        StepKind::Smoke => smoke(ctx, plan).await.map_err(|e| fail(&e))?,
        StepKind::StoreChecksums => store_checksums(ctx).await.map_err(|e| fail(&e))?,
        StepKind::Record => {}
        StepKind::Prune => prune(ctx, plan, &progress.backups).await,
        // Taken before the steps run and released after the record; rollback-only kinds
        // are never in `plan.steps`.
        StepKind::Lock
        | StepKind::Unlock
        | StepKind::RestoreSnapshot
        | StepKind::SetAsideDatabase
        | StepKind::SwitchBack => {}
    }
    Ok(())
}

async fn advisory(
    ctx: &DeployContext<'_>,
    plan: &Plan,
) -> Result<crate::advisory::Held, crate::advisory::AdvisoryError> {
    let t = ctx.target;
    let heartbeat = EnvLock::new(&t.environment, t.layout.lock()).heartbeat();
    match crate::advisory::acquire(
        Arc::clone(&ctx.transport),
        &t.pg,
        &t.db,
        &plan.release,
        UPDATE_TIMEOUT,
        &heartbeat,
    )
    .await
    {
        Err(crate::advisory::AdvisoryError::Busy {
            database,
            key,
            holders,
            ..
        }) => {
            // Name the real cause: whose is each holder, by this environment's ledger.
            let ledger = state::read_ledger(ctx.transport.as_ref(), &t.layout)
                .await
                .unwrap_or_default();
            let judged: Vec<_> = holders
                .iter()
                .map(|h| {
                    let w = crate::advisory::whose(h, |id| {
                        // This run holds the environment lock: any other run of this
                        // environment is gone.
                        ledger.get(id).map(|_| id != plan.release)
                    });
                    (h.clone(), w)
                })
                .collect();
            Err(crate::advisory::AdvisoryError::Busy {
                cause: crate::advisory::explain(&judged, &t.environment),
                database,
                key,
                holders,
            })
        }
        other => other,
    }
}

/// Writes where the deploy stands to the host's journal; a failure to write is reported,
/// never fatal (the deploy itself is fine, only a crash would be harder to read).
async fn note(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    step: &str,
    state: JournalState,
    detail: Option<&str>,
) {
    let mut entry = JournalEntry::now(&plan.release, step, state);
    entry.detail = detail.map(str::to_owned);
    if let Err(e) = journal::append(ctx.transport.as_ref(), &ctx.target.layout, &entry).await {
        ctx.events.event(Event::Notice {
            message: format!("the journal could not be written: {e}"),
        });
    }
}

pub(crate) fn ended(ok: bool) -> JournalState {
    if ok {
        JournalState::Finished
    } else {
        JournalState::Failed
    }
}

/// Runs commands in order, each checked, their output reported as events.
async fn run_all(
    ctx: &DeployContext<'_>,
    commands: &[RemoteCommand],
) -> Result<(), TransportError> {
    let sink = Forward { ctx };
    for cmd in commands {
        ctx.transport.check(cmd, &sink).await?;
    }
    Ok(())
}

struct Forward<'a, 'b> {
    ctx: &'a DeployContext<'b>,
}

impl OutputSink for Forward<'_, '_> {
    fn line(&self, stream: Stream, line: &[u8]) {
        self.ctx.events.event(Event::Output {
            host: self.ctx.target.host.clone(),
            stream,
            line: line.to_vec(),
        });
    }
}

/// `git archive` of the commit on this machine, with its submodules at their pinned
/// commits, streamed to the host, unpacked into the release directory.
async fn upload(ctx: &DeployContext<'_>, plan: &Plan, step: &Step) -> Result<(), TransportError> {
    let git = Git::new(ctx.root);
    // Private and unpredictable: a name another local user could guess (and plant a
    // link at) would let them overwrite files or swap the code deployed.
    let dir =
        crate::transport::local::scratch_dir("release").map_err(|source| TransportError::Io {
            host: "local".to_owned(),
            context: "creating a private temporary directory".to_owned(),
            source,
        })?;
    let archive = dir.path().join("release.tar");
    let result = async {
        crate::archive::build(&git, ctx.local, &plan.commit, &archive, dir.path()).await?;
        let layout = &ctx.target.layout;
        ctx.transport.mkdir_p(&layout.releases()).await?;
        let mut file =
            tokio::fs::File::open(&archive)
                .await
                .map_err(|source| TransportError::Io {
                    host: "local".to_owned(),
                    context: format!("opening {}", archive.display()),
                    source,
                })?;
        ctx.transport
            .upload(&mut file, &layout.incoming(&plan.release))
            .await?;
        // The step's commands: mkdir releases, mkdir the release, tar -x, rm the archive.
        run_all(ctx, &step.commands).await
    }
    .await;
    drop(dir);
    result
}

/// Reads Odoo's log while the update runs, reports progress, and judges the run on the
/// exit status *and* on what real Odoo prints with exit 0.
async fn update(ctx: &DeployContext<'_>, plan: &Plan, step: &Step) -> Result<(), Failure> {
    let watch = std::sync::Mutex::new(
        LogWatch::new(&ctx.target.allow_log_errors, EVIDENCE_LINES)
            .map_err(|e| Failure::new(StepKind::Update, e.to_string()))?,
    );
    let telling = std::sync::Mutex::new(Vec::new());
    let sink = LogSink {
        ctx,
        watch: &watch,
        telling: &telling,
    };
    // The plan's commands are detached already (see `plan::steps`): each ends at once
    // and writes its exit status to this file.
    for (i, cmd) in step.commands.iter().enumerate() {
        let run = DetachedRun::update(&ctx.target.layout, &plan.release, i);
        let exit = run
            .run(
                ctx.transport.as_ref(),
                cmd,
                &sink,
                UPDATE_TIMEOUT,
                ctx.target.reconnect_for,
            )
            .await
            .map_err(|e| Failure::new(StepKind::Update, e.to_string()))?;
        let watch = watch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let telling = telling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        judge_update(exit, &watch, &telling)?;
    }
    Ok(())
}

/// Judges an update run the way real Odoo must be judged: on its exit status, then on
/// what it printed with exit 0 (`watch` has read its log, `telling` the lines that fail
/// it).
fn judge_update(exit: Exit, watch: &LogWatch, telling: &[String]) -> Result<(), Failure> {
    let evidence = with_telling_lines(telling, watch.tail());
    if !exit.success() {
        return Err(Failure {
            step: StepKind::Update,
            reason: format!("odoo-bin {exit}"),
            evidence,
        });
    }
    let failures: Vec<String> = watch.failures().map(describe_finding).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            step: StepKind::Update,
            reason: format!("odoo-bin exited 0 but {}", failures.join("; ")),
            evidence,
        })
    }
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

struct LogSink<'a, 'b> {
    ctx: &'a DeployContext<'b>,
    watch: &'a std::sync::Mutex<LogWatch>,
    /// The lines that fail the run (kept even when they scroll out of the tail).
    telling: &'a std::sync::Mutex<Vec<String>>,
}

/// The evidence of a run: the lines that failed it (which may be far from its end, like
/// `invalid module names, ignored` near the start), then the tail of the log.
fn with_telling_lines(telling: &[String], tail: Vec<String>) -> Vec<String> {
    let mut evidence: Vec<String> = telling
        .iter()
        .filter(|l| !tail.contains(l))
        .take(EVIDENCE_LINES)
        .cloned()
        .collect();
    evidence.extend(tail);
    evidence
}

impl OutputSink for LogSink<'_, '_> {
    fn line(&self, _stream: Stream, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        self.ctx.events.event(Event::OdooLog {
            line: text.to_owned(),
        });
        let mut watch = self
            .watch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match watch.line(text) {
            Some(Finding::Progress {
                module,
                index,
                total,
            }) => {
                self.ctx.events.event(Event::ModuleProgress {
                    module: module.clone(),
                    index: *index,
                    total: *total,
                });
            }
            Some(_) => self
                .telling
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(text.to_owned()),
            None => {}
        }
    }
}

fn describe_finding(finding: &Finding) -> String {
    match finding {
        Finding::InvalidModules { names } => {
            format!("Odoo ignored invalid module names: {}", names.join(", "))
        }
        Finding::ModulesNotLoaded { names } => {
            format!("modules were not loaded: {}", names.join(", "))
        }
        Finding::CouldNotLoad { module } => format!("module {module} could not be loaded"),
        Finding::RegistryFailed => "the registry failed to load".to_owned(),
        Finding::Error {
            level,
            logger,
            message,
        } => format!("{level:?} {logger}: {message}"),
        Finding::Progress { module, .. } => format!("loading {module}"),
    }
}

async fn verify_modules(ctx: &DeployContext<'_>, plan: &Plan) -> Result<(), Failure> {
    let t = ctx.target;
    let db = state::read_db(ctx.transport.as_ref(), &t.pg, &t.db)
        .await
        .map_err(|e| Failure::new(StepKind::VerifyModules, e.to_string()))?;
    let versions: BTreeMap<String, String> = ctx
        .code
        .modules
        .iter()
        .filter_map(|(name, m)| m.version.clone().map(|v| (name.clone(), v)))
        .collect();
    let mut required = t.required.clone();
    required.extend(plan.update.install.iter().cloned());
    let problems = check_module_states(&db.modules, &versions, &required, &t.series);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            step: StepKind::VerifyModules,
            reason: format!("{} module problem(s) after the update", problems.len()),
            evidence: problems.iter().map(ToString::to_string).collect(),
        })
    }
}

pub(crate) async fn health(t: &Target) -> Result<(), CheckError> {
    let http = OdooHttp::new(&t.base_url, Duration::from_secs(10))?;
    http.wait_healthy(&t.health_path, t.health_timeout, Duration::from_millis(250))
        .await
        .map(drop)
}

/// Reads Odoo's log from where it stood before the start: a module skipped for missing
/// dependencies leaves health at 200, so only the log tells.
async fn startup_log(ctx: &DeployContext<'_>, mark: Option<LogMark>) -> Result<(), Failure> {
    read_startup_log(ctx.transport.as_ref(), ctx.target, mark).await
}

/// Reads Odoo's startup log on the host from `mark` (where it stood before the start;
/// none taken: all of it) and fails on what a healthy start never prints.
pub(crate) async fn read_startup_log(
    transport: &dyn Transport,
    target: &Target,
    mark: Option<LogMark>,
) -> Result<(), Failure> {
    let Some(log) = &target.startup_log else {
        return Ok(());
    };
    let mark = mark.unwrap_or(match log {
        StartupLog::Journal { .. } | StartupLog::Compose { .. } => LogMark::Since(0),
        _ => LogMark::Bytes(0),
    });
    let out = log
        .read(transport, mark)
        .await
        .map_err(|e| Failure::new(StepKind::StartupLog, e.to_string()))?;
    let mut watch = LogWatch::new(&target.allow_log_errors, EVIDENCE_LINES)
        .map_err(|e| Failure::new(StepKind::StartupLog, e.to_string()))?;
    let mut telling = Vec::new();
    for line in out.lines() {
        if watch.line(line).is_some_and(Finding::is_failure) {
            telling.push(line.to_owned());
        }
    }
    let failures: Vec<String> = watch.failures().map(describe_finding).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            step: StepKind::StartupLog,
            reason: failures.join("; "),
            evidence: with_telling_lines(&telling, watch.tail()),
        })
    }
}

async fn smoke(ctx: &DeployContext<'_>, plan: &Plan) -> Result<(), CheckError> {
    let t = ctx.target;
    let http = OdooHttp::new(&t.base_url, Duration::from_secs(30))?;
    for page in &t.smoke.pages {
        http.page(page).await?;
    }
    let mut touched: BTreeSet<&String> = plan.update.install.iter().collect();
    touched.extend(plan.changes.effective_update.iter());
    let mut read_models: Vec<String> = Vec::new();
    for (module, checks) in &t.smoke.modules {
        if touched.contains(module) {
            for page in &checks.pages {
                http.page(page).await?;
            }
            read_models.extend(checks.read_models.iter().cloned());
        }
    }
    if let (Some(login), Some(password)) = (&t.smoke.login, &t.smoke_password) {
        http.login_and_read(&t.db.name, &login.login, password, &login.read_model)
            .await?;
        for model in &read_models {
            http.login_and_read(&t.db.name, &login.login, password, model)
                .await?;
        }
    }
    Ok(())
}

/// Stores the checksums of the installed modules, so the next deploy compares with them.
async fn store_checksums(ctx: &DeployContext<'_>) -> Result<(), ops::OpsError> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let db = state::read_db(transport, &t.pg, &t.db).await?;
    let json = ops::installed_checksums_json(ctx.code, &db)?;
    transport
        .check_output(&state::set_param_command(
            &t.pg,
            &t.db,
            crate::checksum::ODD_CHECKSUMS_KEY,
            &json,
        ))
        .await?;
    Ok(())
}

/// Old releases and backups beyond retention, never this deploy's own backups (a rollback
/// of it needs them); a failure here is reported, never fatal.
async fn prune(ctx: &DeployContext<'_>, plan: &Plan, own_backups: &[String]) {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let mut notices = Vec::new();
    match transport.output(&t.layout.list()).await {
        Ok(out) if out.status.success() => {
            let (releases, others) = crate::release::parse_list(&out.stdout);
            for other in others {
                notices.push(format!("left alone in releases/: {other}"));
            }
            let protected: Vec<&str> = plan.previous_release.iter().map(String::as_str).collect();
            let keep = usize::try_from(t.keep_releases).unwrap_or(usize::MAX);
            let mut kept: BTreeSet<String> = releases.iter().cloned().collect();
            for old in to_prune(releases, Some(&plan.release), &protected, keep) {
                let removed = match t.layout.remove(&old) {
                    Ok(cmd) => transport
                        .check_output(&cmd)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match removed {
                    Ok(()) => {
                        kept.remove(&old);
                    }
                    Err(e) => notices.push(format!("could not remove release {old}: {e}")),
                }
            }
            kept.insert(plan.release.clone());
            if let Err(e) = prune_runs_and_ledger(ctx, kept, keep).await {
                notices.push(format!(
                    "could not prune the update runs or the ledger: {e}"
                ));
            }
        }
        Ok(_) => {}
        Err(e) => notices.push(format!("could not list releases: {e}")),
    }
    let target = t.backup_target(Some(&plan.commit));
    let protected: BTreeSet<String> = own_backups.iter().cloned().collect();
    if let Err(e) = Backups::new(transport, &target)
        .prune(t.retention, &protected)
        .await
    {
        notices.push(format!("could not prune backups: {e}"));
    }
    for message in notices {
        ctx.events.event(Event::Notice { message });
    }
}

/// The update runs' files (log, status, pid) go with their release — those of a release
/// still on the host stay, and those of the last `keep` deploys of the ledger (a failed
/// one's log is evidence for a while) — and the ledger keeps one line per deploy.
async fn prune_runs_and_ledger(
    ctx: &DeployContext<'_>,
    mut kept: BTreeSet<String>,
    keep: usize,
) -> Result<(), TransportError> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let ledger = state::read_ledger(transport, &t.layout).await?;
    let records = ledger.records();
    kept.extend(
        records[records.len().saturating_sub(keep)..]
            .iter()
            .map(|r| r.id.clone()),
    );
    let runs = t.layout.runs();
    if transport.exists(&runs).await? {
        let out = transport
            .check_output(&RemoteCommand::new("find").arg(&runs).args([
                "-mindepth",
                "1",
                "-maxdepth",
                "1",
                "-printf",
                "%f\\0",
            ]))
            .await?;
        let names: Vec<&str> = out
            .split(|&b| b == 0)
            .filter_map(|raw| std::str::from_utf8(raw).ok())
            .collect();
        let gone = crate::detached::runs_to_prune(names, &kept);
        if !gone.is_empty() {
            let mut rm = RemoteCommand::new("rm").arg("-f").arg("--");
            for name in gone {
                rm = rm.arg(runs.join(name));
            }
            transport.check_output(&rm).await?;
        }
    }
    if let Some(text) = ledger.compacted() {
        transport
            .write_file(&t.layout.ledger(), text.as_bytes())
            .await?;
    }
    Ok(())
}

/// The plan's rollback: back to the state before the deploy, verified.
async fn rollback(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    if progress.updated {
        // An update this run lost contact with goes on on the host: nothing is restored
        // under it.
        DetachedRun::update(&t.layout, &plan.release, 0)
            .settle(transport, false, UPDATE_TIMEOUT, Duration::from_secs(10))
            .await
            .map_err(|e| {
                Failure::new(
                    StepKind::Update,
                    format!("the update still running on the host could not be stopped: {e}"),
                )
            })?;
    }
    for step in &plan.rollback {
        ctx.events.event(Event::StepStarted {
            step: step.kind,
            title: format!("rollback: {}", step.title),
        });
        let started = Instant::now();
        let started_at = clock::now_unix();
        let name = format!("rollback {}", step_name(step.kind));
        note(ctx, plan, &name, JournalState::Started, None).await;
        crate::hook::pause(&name).await;
        let result: Result<(), Failure> = async {
            let fail = |e: &dyn std::fmt::Display| Failure::new(step.kind, e.to_string());
            match step.kind {
                StepKind::Stop => {
                    progress.stop_at_ms.get_or_insert_with(clock::now_unix_ms);
                    run_all(ctx, &step.commands).await.map_err(|e| fail(&e))
                }
                StepKind::RestoreSnapshot => match &progress.snapshot {
                    // The database changed only if the update ran; restore regardless once
                    // a snapshot exists, so a half-started step cannot leave a mixed state.
                    Some(id) => {
                        let target = t.backup_target(plan.previous_commit.as_deref());
                        let report = Backups::new(transport, &target)
                            .restore_once(id)
                            .await
                            .map_err(|e: BackupError| fail(&e))?;
                        if let Some(replaced) = report.replaced {
                            progress.backups.push(replaced);
                        }
                        Ok(())
                    }
                    None if progress.updated => Err(fail(&"the update ran without a snapshot")),
                    None => Ok(()),
                },
                StepKind::SetAsideDatabase => {
                    if progress.created_database || progress.updated {
                        set_aside(ctx).await.map_err(|e| fail(&e))
                    } else {
                        Ok(())
                    }
                }
                StepKind::SwitchBack => match &plan.previous_release {
                    Some(previous) if progress.switched => transport
                        .symlink_switch(&t.layout.current(), &t.layout.release(previous))
                        .await
                        .map_err(|e| fail(&e)),
                    _ => Ok(()),
                },
                StepKind::Start => {
                    if let Some(log) = &t.startup_log {
                        progress.log_mark = Some(log.mark(transport).await);
                    }
                    run_all(ctx, &step.commands).await.map_err(|e| fail(&e))
                }
                StepKind::Health => {
                    health(ctx.target).await.map_err(|e| fail(&e))?;
                    progress.healthy();
                    Ok(())
                }
                StepKind::Smoke => smoke_after_rollback(ctx.target).await.map_err(|e| fail(&e)),
                _ => Ok(()),
            }
        }
        .await;
        note(ctx, plan, &name, ended(result.is_ok()), None).await;
        let elapsed = started.elapsed();
        ctx.events.event(Event::StepFinished {
            step: step.kind,
            elapsed_ms: ms(elapsed),
            ok: result.is_ok(),
        });
        progress.steps.push(StepRecord {
            step: name,
            started_at,
            duration_ms: ms(elapsed),
            ok: result.is_ok(),
        });
        result?;
    }
    // The release that failed is of no use; the previous one is current again.
    if let Ok(cmd) = t.layout.remove(&plan.release) {
        let _ = transport.check_output(&cmd).await;
    }
    Ok(())
}

/// After a rollback, the fixed checks only (the changed modules' checks are for the new
/// code).
pub(crate) async fn smoke_after_rollback(t: &Target) -> Result<(), CheckError> {
    let http = OdooHttp::new(&t.base_url, Duration::from_secs(30))?;
    for page in &t.smoke.pages {
        http.page(page).await?;
    }
    if let (Some(login), Some(password)) = (&t.smoke.login, &t.smoke_password) {
        http.login_and_read(&t.db.name, &login.login, password, &login.read_model)
            .await?;
    }
    Ok(())
}

/// A failed first install: the new database is renamed aside (and its filestore), kept
/// for forensics.
async fn set_aside(ctx: &DeployContext<'_>) -> Result<(), TransportError> {
    let t = ctx.target;
    let stamp = crate::release::release_id(clock::now_unix(), "");
    let stamp = stamp.trim_end_matches('-');
    let aside = crate::backup::derived_name(&t.db.name, "failed", stamp);
    let cmd = t.pg.psql(
        &t.db,
        crate::backup::commands::MAINTENANCE_DB,
        &[("cur", t.db.name.as_str()), ("aside", aside.as_str())],
        SET_ASIDE_SQL,
    );
    ctx.transport.check_output(&cmd).await?;
    let filestore = t.data_dir.join("filestore").join(&t.db.name);
    if ctx.transport.exists(&filestore).await? {
        ctx.transport
            .rename(&filestore, &t.data_dir.join("filestore").join(&aside))
            .await?;
    }
    Ok(())
}

const SET_ASIDE_SQL: &str = r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = :'cur' AND pid <> pg_backend_pid() \gset
ALTER DATABASE :"cur" RENAME TO :"aside";
"#;

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

pub(crate) fn step_name(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Lock => "lock",
        StepKind::CreateDatabase => "create database",
        StepKind::Upload => "upload",
        StepKind::Stop => "stop",
        StepKind::Snapshot => "snapshot",
        StepKind::Dump => "dump",
        StepKind::Update => "update",
        StepKind::VerifyModules => "verify modules",
        StepKind::Switch => "switch",
        StepKind::Start => "start",
        StepKind::Health => "health",
        StepKind::StartupLog => "startup log",
        StepKind::Smoke => "smoke",
        StepKind::StoreChecksums => "store checksums",
        StepKind::Record => "record",
        StepKind::Prune => "prune",
        StepKind::Unlock => "unlock",
        StepKind::RestoreSnapshot => "restore snapshot",
        StepKind::SetAsideDatabase => "set aside database",
        StepKind::SwitchBack => "switch back",
    }
}

fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
