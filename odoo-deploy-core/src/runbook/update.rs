//! The update: `odoo-bin -i … -u … --stop-after-init` with Odoo stopped, detached on the
//! host (a lost connection does not stop it), holding the database's update lock, its
//! log read as it runs and judged on the exit status *and* on what real Odoo prints with
//! exit 0. Undone by the snapshot's restore ([`super::snapshot::RestoreSnapshot`]);
//! before that, an update still running on the host is settled (`settle`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Failure, OnResume, Phase, Run};
use crate::command::RemoteCommand;
use crate::deploy::{DeployContext, UPDATE_TIMEOUT};
use crate::detached::{DetachedRun, Exit};
use crate::event::{Event, Stream};
use crate::lock::EnvLock;
use crate::odoo::{Finding, LogWatch, UpdateSet};
use crate::plan::{Plan, StepKind};
use crate::state;
use crate::target::Target;
use crate::transport::OutputSink;

/// Lines of Odoo's log kept as evidence.
pub(crate) const EVIDENCE_LINES: usize = 40;

/// Installs and updates the modules of the plan.
#[derive(Debug, Clone)]
pub struct Update {
    commands: Vec<RemoteCommand>,
}

impl Update {
    /// The update of `t`'s database to release `release`, made of `commit`.
    pub fn new(t: &Target, release: &str, commit: &str, update: &UpdateSet) -> Self {
        Self {
            commands: vec![command(t, release, commit, update, 0)],
        }
    }
}

/// The update of `t`'s database as the detached run `index` of `release` (a fleet's
/// databases each have their own run, from 1).
pub(crate) fn command(
    t: &Target,
    release: &str,
    commit: &str,
    update: &UpdateSet,
    index: usize,
) -> RemoteCommand {
    let odoo = t.odoo_for_release(release);
    // Detached on the host (its own session, output and exit status to files), so
    // that it survives a lost connection; killed after UPDATE_TIMEOUT.
    let (log, status) = t.layout.update_run(release, index);
    // The compose strategy's one-off container runs the release's image.
    let image = crate::compose::release_image(t, commit, release).map(|(r, _)| r);
    t.service
        .for_release(&t.layout.release(release))
        .with_run_image(image)
        .wrap_update(odoo.update(&t.db.name, update, None))
        .timeout(UPDATE_TIMEOUT)
        .detached(&log, &status)
}

#[async_trait]
impl Phase for Update {
    fn kind(&self) -> StepKind {
        StepKind::Update
    }
    fn title(&self) -> String {
        "update the database with Odoo stopped, detached on the host (a lost connection does not stop it), reading its log".to_owned()
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        self.commands.clone()
    }
    fn odoo_down(&self) -> bool {
        true
    }
    fn on_resume(&self) -> OnResume {
        OnResume::Skip
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        // The database's update lock (click-odoo-update's key) for the whole update.
        let held = advisory(run.ctx, run.plan)
            .await
            .map_err(|e| Failure::new(self.kind(), e.to_string()))?;
        run.progress.advisory = Some(held);
        run.progress.updated = true;
        let result = update(run.ctx, run.plan, &self.commands).await;
        if let Some(held) = run.progress.advisory.take() {
            if result.is_ok() {
                run.progress.releasing = Some(tokio::spawn(held.release()));
            } else {
                held.release().await;
            }
        }
        result
    }
}

/// Before a rollback restores anything: an update this run lost contact with goes on on
/// the host, and nothing is restored under it.
pub(crate) async fn settle(run: &Run<'_, '_>) -> Result<(), Failure> {
    DetachedRun::update(&run.ctx.target.layout, &run.plan.release, 0)
        .settle(
            run.ctx.transport.as_ref(),
            false,
            UPDATE_TIMEOUT,
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| {
            Failure::new(
                StepKind::Update,
                format!("the update still running on the host could not be stopped: {e}"),
            )
        })?;
    Ok(())
}

/// Takes the database's update lock, naming whose each holder is when it is busy.
pub(crate) async fn advisory(
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

/// Reads Odoo's log while the update runs, reports progress, and judges the run on the
/// exit status *and* on what real Odoo prints with exit 0.
async fn update(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    commands: &[RemoteCommand],
) -> Result<(), Failure> {
    update_at(ctx, plan, commands, 0).await
}

/// [`update`] of commands that are the detached runs `first`, `first + 1`, … of the
/// plan's release.
pub(crate) async fn update_at(
    ctx: &DeployContext<'_>,
    plan: &Plan,
    commands: &[RemoteCommand],
    first: usize,
) -> Result<(), Failure> {
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
    // The plan's commands are detached already (see [`Update::new`]): each ends at once
    // and writes its exit status to this file.
    for (i, cmd) in commands.iter().enumerate() {
        let run = DetachedRun::update(&ctx.target.layout, &plan.release, first + i);
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
pub(crate) fn judge_update(
    exit: Exit,
    watch: &LogWatch,
    telling: &[String],
) -> Result<(), Failure> {
    let evidence = with_telling_lines(telling, watch.tail());
    if !exit.success() {
        return Err(
            Failure::new(StepKind::Update, format!("odoo-bin {exit}")).with_evidence(evidence)
        );
    }
    let failures: Vec<String> = watch.failures().map(describe_finding).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            StepKind::Update,
            format!("odoo-bin exited 0 but {}", failures.join("; ")),
        )
        .with_evidence(evidence))
    }
}

struct LogSink<'a, 'b> {
    ctx: &'a DeployContext<'b>,
    watch: &'a std::sync::Mutex<LogWatch>,
    /// The lines that fail the run (kept even when they scroll out of the tail).
    telling: &'a std::sync::Mutex<Vec<String>>,
}

/// The evidence of a run: the lines that failed it (which may be far from its end, like
/// `invalid module names, ignored` near the start), then the tail of the log.
pub(crate) fn with_telling_lines(telling: &[String], tail: Vec<String>) -> Vec<String> {
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

/// A finding of Odoo's log, in a sentence.
pub(crate) fn describe_finding(finding: &Finding) -> String {
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
