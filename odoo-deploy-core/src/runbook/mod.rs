//! The runbook as phases: the [`Phase`] trait, the executor that runs a list of them
//! (journaling each before and after, undoing the started ones on failure, then running
//! the plan's rollback), and one file per step.
//!
//! A newcomer looking for "the snapshot step" opens [`snapshot`]: the phase that takes
//! it, and [`snapshot::RestoreSnapshot`], the rollback's step that undoes it.
//!
//! # The phases
//!
//! | file | deploy phase | rollback phase (its undo) |
//! |---|---|---|
//! | [`lock`] | [`lock::Lock`], [`lock::Unlock`] (held around the run) | |
//! | [`create_database`] | [`create_database::CreateDatabase`] | [`create_database::SetAsideDatabase`] |
//! | [`upload`] | [`upload::Upload`] | (the release is removed after a rollback) |
//! | [`stop`] | [`stop::Stop`] | [`stop::Stop`] |
//! | [`snapshot`] | [`snapshot::Snapshot`] | [`snapshot::RestoreSnapshot`] |
//! | [`dump`] | [`dump::Dump`] | |
//! | [`update`] | [`update::Update`] | (an update still running is settled first) |
//! | [`verify_modules`] | [`verify_modules::VerifyModules`] | |
//! | [`switch`] | [`switch::Switch`] | [`switch::SwitchBack`] |
//! | [`start`] | [`start::Start`] | [`start::Start`] |
//! | [`health`] | [`health::Health`] | [`health::Health`] |
//! | [`startup_log`] | [`startup_log::StartupLogCheck`] | |
//! | [`smoke`] | [`smoke::Smoke`] | [`smoke::Smoke`] (the fixed checks only) |
//! | [`checksums`] | [`checksums::StoreChecksums`] | |
//! | [`record`] | [`record::Record`] | [`record::Record`] |
//! | [`prune`] | [`prune::Prune`] | |
//! | [`hooks`] | [`hooks::Hook`]: the operator's commands of `[environments.X.hooks]` | `after_rollback`, `on_failure` |
//!
//! An embedder adds its own phase by implementing [`Phase`] and inserting it into
//! [`Plan::steps`] with [`Plan::insert_after`] before [`crate::deploy::execute`]: it is
//! shown by `render_text`, journaled, and a failure of it rolls the deploy back like a
//! failure of a built-in step, its own [`Phase::undo`] first.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use crate::clock;
use crate::command::RemoteCommand;
use crate::deploy::DeployContext;
use crate::event::{Event, Stream};
use crate::journal::{self, JournalEntry, JournalState};
use crate::ledger::StepRecord;
use crate::plan::{Plan, Step, StepKind};
use crate::startup_log::LogMark;
use crate::transport::{OutputSink, TransportError};

pub mod checksums;
pub mod create_database;
pub mod dump;
pub mod health;
pub mod hooks;
pub mod lock;
pub mod prune;
pub mod record;
pub mod smoke;
pub mod snapshot;
pub mod start;
pub mod startup_log;
pub mod stop;
pub mod switch;
pub mod update;
pub mod upload;
pub mod verify_modules;

/// What `odd deploy --resume` does with a phase when it takes forward a deploy whose run
/// died after its update completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnResume {
    /// Done by the dead run before its update completed (or the update itself): skipped.
    Skip,
    /// Run (again): every phase after the update can run twice safely.
    Run,
}

/// One step of a runbook: what the plan shows, how it runs, how it is undone.
///
/// Required: [`Phase::title`] and [`Phase::run`]. Everything else is defaulted: a phase
/// runs no host command the plan could show ([`Phase::commands`]), has nothing to undo
/// ([`Phase::undo`]), runs while Odoo serves ([`Phase::odoo_down`]), and runs again
/// on `--resume` ([`Phase::on_resume`]). [`Phase::step`] composes the plan's line.
///
/// Phases are stored as `Arc<dyn Phase>` in the plan: the trait is object-safe.
#[async_trait]
pub trait Phase: Send + Sync + fmt::Debug {
    /// What kind of step this is (events and the plan's JSON say it); an embedder's own
    /// phase is [`StepKind::Custom`].
    fn kind(&self) -> StepKind {
        StepKind::Custom
    }

    /// Its name in the journal, the ledger's step records and failure reasons
    /// (`snapshot`, `verify modules`, …). Unique within a runbook.
    fn name(&self) -> String {
        self.kind().name().to_owned()
    }

    /// What it does, in a sentence, as the plan prints it.
    fn title(&self) -> String;

    /// The exact commands it runs on the host, as the plan prints them (secrets are
    /// redacted when shown).
    fn commands(&self) -> Vec<RemoteCommand> {
        Vec::new()
    }

    /// In a fleet, the exact commands it runs on each other host, by host name, as the
    /// plan prints them (none by default: the step runs on the update host only).
    fn fleet_commands(&self) -> Vec<(String, Vec<RemoteCommand>)> {
        Vec::new()
    }

    /// Whether it runs while Odoo is stopped (between the deploy's stop and start).
    fn odoo_down(&self) -> bool {
        false
    }

    /// What `--resume` does with it.
    fn on_resume(&self) -> OnResume {
        OnResume::Run
    }

    /// Whether its failure fails the deploy (the default). When not, a failure is
    /// recorded (journal, events, the ledger's step record say it failed), reported as a
    /// notice, and the runbook goes on.
    fn fatal(&self) -> bool {
        true
    }

    /// Runs it. A failure once the environment began to change rolls the deploy back.
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure>;

    /// Whether [`Phase::undo`] does anything: only then is it run (and journaled as
    /// `undo NAME`) when a later step fails. The built-in steps are undone by the plan's
    /// rollback steps instead (in the same file as the step they undo).
    fn has_undo(&self) -> bool {
        false
    }

    /// Undoes what [`Phase::run`] did (also after a run of it that failed half-way),
    /// before the plan's rollback steps run.
    async fn undo(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let _ = run;
        Ok(())
    }

    /// What the journal's entry says when it finished (the snapshot's id).
    fn journal_detail(&self, progress: &Progress) -> Option<String> {
        let _ = progress;
        None
    }

    /// The plan's line for it: kind, title and commands, with the phase to run.
    fn step(self) -> Step
    where
        Self: Sized + 'static,
    {
        Step::of(Arc::new(self))
    }
}

/// A step's failure: what happened and the lines that show it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The step's name (as journaled).
    pub step: String,
    /// Why, in a sentence.
    pub reason: String,
    /// The lines that show it (Odoo's log, module problems, …).
    pub evidence: Vec<String>,
}

impl Failure {
    /// A failure of step `step` (a [`StepKind`] or a phase's name).
    pub fn new(step: impl fmt::Display, reason: impl Into<String>) -> Self {
        Self {
            step: step.to_string(),
            reason: reason.into(),
            evidence: Vec::new(),
        }
    }

    /// The same, with the lines that show it.
    #[must_use]
    pub fn with_evidence(mut self, evidence: Vec<String>) -> Self {
        self.evidence = evidence;
        self
    }
}

/// Where the environment stands while the runbook runs, to know what a rollback undoes.
#[derive(Debug, Default)]
pub struct Progress {
    pub(crate) stopped: bool,
    pub(crate) created_database: bool,
    pub(crate) snapshot: Option<String>,
    pub(crate) updated: bool,
    pub(crate) switched: bool,
    pub(crate) backups: Vec<String>,
    /// When Odoo was first stopped for this deploy (Unix ms), by this run or by the dead
    /// run it takes forward.
    pub(crate) stop_at_ms: Option<i64>,
    /// From that stop to the latest healthy answer after it.
    pub(crate) downtime_ms: Option<u64>,
    pub(crate) steps: Vec<StepRecord>,
    /// Where the startup log stood before the last start.
    pub(crate) log_mark: Option<LogMark>,
    /// The database's update lock, from before Odoo stops until the update ends.
    pub(crate) advisory: Option<crate::advisory::Held>,
    /// The release of that lock after a successful update, running while Odoo starts:
    /// ending the session and seeing it gone takes a few psql round trips and up to a
    /// second, which the downtime need not wait for (Odoo never takes the lock). Awaited
    /// before the run records its outcome or rolls back.
    pub(crate) releasing: Option<tokio::task::JoinHandle<()>>,
    /// Said in the ledger when this run takes a dead one forward.
    pub(crate) resumed: Option<String>,
    /// Why the deploy failed, once it did (`ODD_REASON` of the failure hooks).
    pub(crate) failure: Option<String>,
    /// How the deploy ended, once known (`ODD_OUTCOME` of the `on_failure` hook).
    pub(crate) outcome: Option<crate::ledger::Outcome>,
    /// The fleet's hosts the rollback could not reach, by label, with why: the rollback
    /// goes on for the others and then says these were not restored.
    pub(crate) lost: std::collections::BTreeMap<String, String>,
    /// A fleet's databases, once their updates ran: how each ended.
    pub(crate) databases: Vec<crate::databases::DatabaseEntry>,
}

impl Progress {
    /// Whether the environment began to change (Odoo stopped or a database created): a
    /// failure from here on is rolled back, before it the deploy is refused.
    pub fn changed(&self) -> bool {
        self.stopped || self.created_database
    }

    /// The pre-deploy snapshot taken by this run, if any.
    pub fn snapshot(&self) -> Option<&str> {
        self.snapshot.as_deref()
    }

    /// The backups this run made.
    pub fn backups(&self) -> &[String] {
        &self.backups
    }

    /// The steps run so far, with their timings.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// A fleet's databases and how each ended (empty before their updates ran, and for
    /// an environment of one database).
    pub fn databases(&self) -> &[crate::databases::DatabaseEntry] {
        &self.databases
    }

    /// Odoo answered healthy: the downtime runs from the first stop to now.
    pub(crate) fn healthy(&mut self) {
        if let Some(stop) = self.stop_at_ms {
            self.downtime_ms = Some(clock::ms_since(stop));
        }
    }

    /// The downtime when the run ends: to the last healthy answer, or — Odoo never
    /// answered again — to now (it is still down).
    pub(crate) fn final_downtime(&self) -> Option<u64> {
        self.downtime_ms
            .or_else(|| self.stop_at_ms.map(clock::ms_since))
    }
}

/// What a phase runs with: the deploy's context, its plan, and where it stands.
pub struct Run<'r, 'c> {
    /// The target, the transports, the event sink.
    pub ctx: &'r DeployContext<'c>,
    /// The plan being executed.
    pub plan: &'r Plan,
    /// Where the environment stands.
    pub progress: &'r mut Progress,
}

impl fmt::Debug for Run<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("release", &self.plan.release)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl Run<'_, '_> {
    /// Runs commands on the environment's host in order, each checked, their output
    /// reported as events.
    ///
    /// # Errors
    /// The first command that fails.
    pub async fn run_all(&self, commands: &[RemoteCommand]) -> Result<(), TransportError> {
        run_all(self.ctx, commands).await
    }
}

/// Runs commands in order on the environment's host, each checked, their output reported
/// as events.
pub(crate) async fn run_all(
    ctx: &DeployContext<'_>,
    commands: &[RemoteCommand],
) -> Result<(), TransportError> {
    let sink = Forward {
        ctx,
        host: &ctx.target.host,
    };
    for cmd in commands {
        ctx.transport.check(cmd, &sink).await?;
    }
    Ok(())
}

/// Runs `commands(host)` on every other host of the fleet at once, each in order and
/// checked, their output reported as events of that host; the hosts where one failed,
/// with why.
pub(crate) async fn on_fleet<'a>(
    ctx: &'a DeployContext<'_>,
    commands: impl Fn(&crate::fleet::FleetHost) -> Vec<RemoteCommand>,
) -> Vec<(&'a crate::fleet::Member, String)> {
    let lists: Vec<Vec<RemoteCommand>> = ctx.fleet.iter().map(|m| commands(&m.host)).collect();
    let results = crate::fleet::join_all(
        ctx.fleet
            .iter()
            .zip(lists)
            .map(|(m, list)| async move {
                let sink = Forward {
                    ctx,
                    host: &m.host.name,
                };
                for cmd in &list {
                    m.transport
                        .check(cmd, &sink)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
            .collect(),
    )
    .await;
    ctx.fleet
        .iter()
        .zip(results)
        .filter_map(|(m, r)| r.err().map(|why| (m, why)))
        .collect()
}

/// What a per-host step makes of the other hosts' failures: in the deploy, the step
/// fails (and the deploy rolls back); in the rollback (the deploy's failure known), the
/// hosts are noted as lost and the rollback goes on for the others.
pub(crate) fn fleet_outcome(
    run: &mut Run<'_, '_>,
    step: StepKind,
    failures: &[(&crate::fleet::Member, String)],
) -> Result<(), Failure> {
    if failures.is_empty() {
        return Ok(());
    }
    if run.progress.failure.is_some() {
        for (m, why) in failures {
            run.progress
                .lost
                .entry(m.host.label())
                .or_insert_with(|| why.clone());
        }
        return Ok(());
    }
    Err(Failure::new(
        step,
        format!("on {}", crate::fleet::failed(failures)),
    ))
}

/// Sends each output line as an [`Event::Output`] of `host`.
pub(crate) struct Forward<'a, 'b> {
    pub(crate) ctx: &'a DeployContext<'b>,
    pub(crate) host: &'a str,
}

impl OutputSink for Forward<'_, '_> {
    fn line(&self, stream: Stream, line: &[u8]) {
        self.ctx.events.event(Event::Output {
            host: self.host.to_owned(),
            stream,
            line: line.to_vec(),
        });
    }
}

/// Writes where the deploy stands to the host's journal; a failure to write is reported,
/// never fatal (the deploy itself is fine, only a crash would be harder to read).
pub(crate) async fn note(
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

/// The journal state a step ended in.
pub(crate) fn ended(ok: bool) -> JournalState {
    if ok {
        JournalState::Finished
    } else {
        JournalState::Failed
    }
}

pub(crate) fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs one phase as the step `name` (`title` in the events): reported, journaled before
/// and after, paused at by the crash matrix's test hook, timed into the progress.
async fn one(
    run: &mut Run<'_, '_>,
    step: &Step,
    name: &str,
    title: String,
    body: Body,
) -> Result<(), Failure> {
    let (ctx, plan) = (run.ctx, run.plan);
    ctx.events.event(Event::StepStarted {
        step: step.kind,
        title,
    });
    let started = Instant::now();
    let started_at = clock::now_unix();
    note(ctx, plan, name, JournalState::Started, None).await;
    crate::hook::pause(name).await;
    let mut result = match body {
        Body::Run => step.phase.run(run).await,
        Body::Undo => step.phase.undo(run).await,
    };
    let detail = match (&body, &result) {
        (Body::Run, _) => step.phase.journal_detail(run.progress),
        _ => None,
    };
    note(ctx, plan, name, ended(result.is_ok()), detail.as_deref()).await;
    let elapsed = started.elapsed();
    ctx.events.event(Event::StepFinished {
        step: step.kind,
        elapsed_ms: ms(elapsed),
        ok: result.is_ok(),
    });
    run.progress.steps.push(StepRecord {
        step: name.to_owned(),
        started_at,
        duration_ms: ms(elapsed),
        ok: result.is_ok(),
    });
    if !step.phase.fatal()
        && let Err(f) = &result
    {
        ctx.events.event(Event::Notice {
            message: format!("{name} failed and the run goes on: {}", f.reason),
        });
        result = Ok(());
    }
    result
}

enum Body {
    Run,
    Undo,
}

/// Runs the plan's steps in order (the lock is held around them by the caller); stops at
/// the first failure, after undoing, in reverse, every started phase that has an
/// [`Phase::undo`] of its own. The plan's rollback steps are the caller's to run
/// ([`rollback`]).
pub(crate) async fn execute(run: &mut Run<'_, '_>) -> Result<(), Failure> {
    let plan = run.plan;
    let mut started: Vec<&Step> = Vec::new();
    for step in plan
        .steps
        .iter()
        .filter(|s| !matches!(s.kind, StepKind::Lock | StepKind::Unlock))
    {
        started.push(step);
        let name = step.phase.name();
        if let Err(failure) = one(run, step, &name, step.title.clone(), Body::Run).await {
            undo(run, &started).await;
            return Err(failure);
        }
    }
    Ok(())
}

/// The started phases' own undo, last first; a failing undo is reported, and the others
/// still run (the rollback steps follow).
async fn undo(run: &mut Run<'_, '_>, started: &[&Step]) {
    for step in started.iter().rev().filter(|s| s.phase.has_undo()) {
        let name = format!("undo {}", step.phase.name());
        let title = format!("undo: {}", step.title);
        if let Err(f) = one(run, step, &name, title, Body::Undo).await {
            run.ctx.events.event(Event::Notice {
                message: format!("{name} failed: {}", f.reason),
            });
        }
    }
}

/// The plan's rollback: back to the state before the deploy, verified. Each step is
/// journaled as `rollback NAME`; the first failure ends it.
pub(crate) async fn rollback(run: &mut Run<'_, '_>) -> Result<(), Failure> {
    let (ctx, plan) = (run.ctx, run.plan);
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    if run.progress.updated {
        update::settle(run).await?;
    }
    for step in &plan.rollback {
        let name = format!("rollback {}", step.phase.name());
        one(
            run,
            step,
            &name,
            format!("rollback: {}", step.title),
            Body::Run,
        )
        .await?;
    }
    // The release that failed is of no use; the previous one is current again.
    if let Ok(cmd) = t.layout.remove(&plan.release) {
        let _ = transport.check_output(&cmd).await;
    }
    let reached: Vec<&crate::fleet::Member> = ctx
        .fleet
        .iter()
        .filter(|m| !run.progress.lost.contains_key(&m.host.label()))
        .collect();
    crate::fleet::join_all(
        reached
            .iter()
            .filter_map(|m| {
                let cmd = m.host.layout.remove(&plan.release).ok()?;
                Some(async move {
                    let _ = m.transport.check_output(&cmd).await;
                })
            })
            .collect(),
    )
    .await;
    if !run.progress.lost.is_empty() {
        return Err(Failure::new(
            "rollback hosts",
            lost_hosts(ctx, plan, &run.progress.lost),
        ));
    }
    Ok(())
}

/// What the operator reads about the hosts a rollback could not reach: which, why, and
/// what to do when each answers again.
fn lost_hosts(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    lost: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut parts = Vec::new();
    for (label, why) in lost {
        let Some(m) = ctx.fleet.iter().find(|m| m.host.label() == *label) else {
            continue;
        };
        let previous = match plan.hosts.iter().find(|h| h.name == m.host.name) {
            Some(h) => h.release.clone(),
            None => plan.previous_release.clone(),
        };
        let todo = match previous {
            Some(previous) => format!(
                "when it answers again, make sure {} points at {} before Odoo runs there, then start it (`{}`)",
                m.host.layout.current().display(),
                m.host.layout.release(&previous).display(),
                m.host.service.start().display_redacted()
            ),
            None => format!(
                "Odoo runs there again with the next deploy that succeeds; until then keep it stopped (and remove {} if it is still there)",
                m.host.layout.current().display()
            ),
        };
        parts.push(format!("host {label} was not restored ({why}); {todo}"));
    }
    let reached: Vec<&str> = std::iter::once(
        plan.hosts
            .first()
            .map_or("the update host", |h| h.name.as_str()),
    )
    .chain(
        ctx.fleet
            .iter()
            .filter(|m| !lost.contains_key(&m.host.label()))
            .map(|m| m.host.name.as_str()),
    )
    .collect();
    format!(
        "{}; the database is restored and {} run the previous release again",
        parts.join("; "),
        reached.join(", ")
    )
}

/// After a failed deploy, its outcome known: the plan's `on_failure` steps, each
/// journaled; a failure of one is reported.
pub(crate) async fn on_failure(run: &mut Run<'_, '_>) {
    let plan = run.plan;
    for step in &plan.on_failure {
        let name = step.phase.name();
        if let Err(f) = one(run, step, &name, step.title.clone(), Body::Run).await {
            run.ctx.events.event(Event::Notice {
                message: format!("{name} failed: {}", f.reason),
            });
        }
    }
}

/// A deploy's steps from the stop on, in the order they run and journal, for a deploy
/// over an existing database that updates modules and dumps before it (every built-in
/// step after the lock, the database's creation and the upload): the crash matrix and
/// the soak pause at each.
pub const DEPLOY_STEPS: [StepKind; 13] = [
    StepKind::Stop,
    StepKind::Snapshot,
    StepKind::Dump,
    StepKind::Update,
    StepKind::VerifyModules,
    StepKind::Switch,
    StepKind::Start,
    StepKind::Health,
    StepKind::StartupLog,
    StepKind::Smoke,
    StepKind::StoreChecksums,
    StepKind::Record,
    StepKind::Prune,
];
