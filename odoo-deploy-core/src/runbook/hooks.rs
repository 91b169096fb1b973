//! Operator hooks: commands of `[environments.NAME.hooks]` run at points of the deploy,
//! on the environment's host or on this machine, with the deploy's facts as `ODD_*`
//! environment variables. Each is a [`Hook`] phase: the plan shows it like any step
//! (with the exact command, its environment included), the journal records it, its
//! output comes as [`crate::event::Event::Output`] events.
//!
//! | point | runs | a failure |
//! |---|---|---|
//! | `before_deploy` | after the lock, before anything changes | refuses the deploy: nothing changed |
//! | `before_update` | Odoo stopped, backups taken, before the update | rolls back (the database is still as before) |
//! | `after_update` | after the update and the module check, Odoo still stopped | `after_failure`: rolls back, or is reported |
//! | `after_deploy` | after the smoke test, before the checksums are stored and the deploy recorded | `after_failure`: rolls back, or is reported |
//! | `after_rollback` | last step of the rollback, once it verified the old release | is reported |
//! | `on_failure` | once a deploy that began failed (refused by a step, rolled back, or its rollback failed), its outcome known; a failing gate runs nothing | is reported |
//!
//! The environment of each: `ODD_HOOK` (the point), `ODD_ENVIRONMENT`, `ODD_HOST`,
//! `ODD_DATABASE`, `ODD_DEPLOY_ID` (the release id), `ODD_RELEASE_DIR` (the new release's
//! folder on the host), `ODD_COMMIT`, `ODD_PREVIOUS_COMMIT` and `ODD_PREVIOUS_RELEASE`
//! (empty on a first deploy), `ODD_MODULES_INSTALLED` and `ODD_MODULES_UPDATED` (what
//! `-i` and `-u` are given, comma-separated), `ODD_WHO`, `ODD_OUTCOME` (`running` before
//! the outcome is known; `succeeded` in `after_deploy`; `rolled_back` in `after_rollback`;
//! the ledger's outcome in `on_failure`) and `ODD_REASON` (why the deploy failed, in
//! `after_rollback` and `on_failure`; empty otherwise). Values are passed as data:
//! quoted by [`crate::command`] on a host, given to the process directly here.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use toml::Spanned;

use super::{Failure, OnResume, Phase, Run};
use crate::command::RemoteCommand;
use crate::plan::{Plan, StepKind};
use crate::target::Target;

/// `[environments.NAME.hooks]` in `odd.toml`: one argv per point (each optional), and
/// where, how long and with what consequence they run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Where the hooks run: `"host"` (the environment's host, in its deploy directory;
    /// the default) or `"local"` (this machine, in the project's root).
    #[serde(default)]
    pub run_on: HookPlace,
    /// How long a hook may run before it is killed (and counted as failed), in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// What a failing `after_update` or `after_deploy` hook does: `"roll_back"` (the
    /// default: the deploy fails and is rolled back, like a failing check) or `"warn"`
    /// (the step is recorded as failed, a notice says why, and the deploy goes on).
    #[serde(default)]
    pub after_failure: AfterFailure,
    /// After the lock, before anything changes.
    pub before_deploy: Option<Spanned<Vec<String>>>,
    /// With Odoo stopped and the backups taken, before the update.
    pub before_update: Option<Spanned<Vec<String>>>,
    /// After the update and the module check.
    pub after_update: Option<Spanned<Vec<String>>>,
    /// After the smoke test, before the checksums are stored and the deploy recorded.
    pub after_deploy: Option<Spanned<Vec<String>>>,
    /// Once a deploy failed (refused or rolled back).
    pub on_failure: Option<Spanned<Vec<String>>>,
    /// At the end of a deploy's rollback.
    pub after_rollback: Option<Spanned<Vec<String>>>,
}

fn default_timeout_secs() -> u64 {
    300
}

impl HooksConfig {
    /// The configured points with their argv, in the order they can run.
    pub fn points(&self) -> impl Iterator<Item = (HookPoint, &[String])> {
        [
            (HookPoint::BeforeDeploy, &self.before_deploy),
            (HookPoint::BeforeUpdate, &self.before_update),
            (HookPoint::AfterUpdate, &self.after_update),
            (HookPoint::AfterDeploy, &self.after_deploy),
            (HookPoint::AfterRollback, &self.after_rollback),
            (HookPoint::OnFailure, &self.on_failure),
        ]
        .into_iter()
        .filter_map(|(point, argv)| argv.as_ref().map(|a| (point, a.get_ref().as_slice())))
    }

    /// The configured points with their argv as written (for the diagnostics of
    /// `odd.toml`).
    pub fn spanned(&self) -> impl Iterator<Item = (HookPoint, &Spanned<Vec<String>>)> {
        [
            (HookPoint::BeforeDeploy, &self.before_deploy),
            (HookPoint::BeforeUpdate, &self.before_update),
            (HookPoint::AfterUpdate, &self.after_update),
            (HookPoint::AfterDeploy, &self.after_deploy),
            (HookPoint::AfterRollback, &self.after_rollback),
            (HookPoint::OnFailure, &self.on_failure),
        ]
        .into_iter()
        .filter_map(|(point, argv)| argv.as_ref().map(|a| (point, a)))
    }
}

/// Where hooks run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPlace {
    /// On the environment's host, over its transport, in its deploy directory.
    #[default]
    Host,
    /// On this machine, in the project's root.
    Local,
}

/// What a failing "after" hook does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterFailure {
    /// The deploy fails and is rolled back.
    #[default]
    RollBack,
    /// The step is recorded as failed and a notice says why; the deploy goes on.
    Warn,
}

/// A point of the deploy where a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPoint {
    /// After the lock, before anything changes.
    BeforeDeploy,
    /// Before the update.
    BeforeUpdate,
    /// After the update.
    AfterUpdate,
    /// After the deploy's checks.
    AfterDeploy,
    /// Once a deploy failed.
    OnFailure,
    /// At the end of a rollback.
    AfterRollback,
}

impl HookPoint {
    /// Its key in `odd.toml` (and `ODD_HOOK`).
    pub fn key(self) -> &'static str {
        match self {
            Self::BeforeDeploy => "before_deploy",
            Self::BeforeUpdate => "before_update",
            Self::AfterUpdate => "after_update",
            Self::AfterDeploy => "after_deploy",
            Self::OnFailure => "on_failure",
            Self::AfterRollback => "after_rollback",
        }
    }
}

/// One operator hook, as a phase.
#[derive(Debug, Clone)]
pub struct Hook {
    point: HookPoint,
    argv: Vec<String>,
    place: HookPlace,
    timeout: Duration,
    after_failure: AfterFailure,
    /// Where it runs on the host (its deploy directory); a local hook runs in the
    /// project's root.
    dir: std::path::PathBuf,
    /// The facts known when the plan is made, in the order they are set.
    facts: Vec<(&'static str, String)>,
}

impl Hook {
    /// The hook of `point` (argv `argv`) for `plan` on `t`.
    pub fn new(t: &Target, plan: &Plan, point: HookPoint, argv: &[String]) -> Self {
        let config = &t.hooks;
        let join = |set: &std::collections::BTreeSet<String>| {
            set.iter().cloned().collect::<Vec<_>>().join(",")
        };
        let facts = vec![
            ("ODD_HOOK", point.key().to_owned()),
            ("ODD_ENVIRONMENT", plan.environment.clone()),
            ("ODD_HOST", plan.host.clone()),
            ("ODD_DATABASE", plan.database.clone()),
            ("ODD_DEPLOY_ID", plan.release.clone()),
            (
                "ODD_RELEASE_DIR",
                t.layout.release(&plan.release).display().to_string(),
            ),
            ("ODD_COMMIT", plan.commit.clone()),
            (
                "ODD_PREVIOUS_COMMIT",
                plan.previous_commit.clone().unwrap_or_default(),
            ),
            (
                "ODD_PREVIOUS_RELEASE",
                plan.previous_release.clone().unwrap_or_default(),
            ),
            ("ODD_MODULES_INSTALLED", join(&plan.update.install)),
            ("ODD_MODULES_UPDATED", join(&plan.update.update)),
            ("ODD_WHO", plan.who.clone()),
        ];
        Self {
            point,
            argv: argv.to_vec(),
            place: config.run_on,
            timeout: Duration::from_secs(config.timeout_secs),
            after_failure: config.after_failure,
            dir: t.layout.deploy_dir.clone(),
            facts,
        }
    }

    /// The point it runs at.
    pub fn point(&self) -> HookPoint {
        self.point
    }

    /// The command with the outcome and reason as given (placeholders in the plan when
    /// they are known only once the deploy failed).
    fn command(&self, outcome: &str, reason: &str) -> RemoteCommand {
        let Some((program, args)) = self.argv.split_first() else {
            // An empty argv is refused when odd.toml is read; `true` keeps this total.
            return RemoteCommand::new("true");
        };
        let mut cmd = RemoteCommand::new(program).args(args).timeout(self.timeout);
        if self.place == HookPlace::Host {
            cmd = cmd.current_dir(&self.dir);
        }
        for (name, value) in &self.facts {
            cmd = cmd.env(*name, value);
        }
        cmd.env("ODD_OUTCOME", outcome).env("ODD_REASON", reason)
    }

    /// `ODD_OUTCOME` and `ODD_REASON` as the plan shows them.
    fn planned(&self) -> (&'static str, &'static str) {
        match self.point {
            HookPoint::AfterDeploy => ("succeeded", ""),
            HookPoint::AfterRollback => ("rolled_back", "<reason>"),
            HookPoint::OnFailure => ("<outcome>", "<reason>"),
            _ => ("running", ""),
        }
    }

    /// Whether a failure of it fails the deploy.
    fn fatal(&self) -> bool {
        match self.point {
            HookPoint::BeforeDeploy | HookPoint::BeforeUpdate => true,
            HookPoint::AfterUpdate | HookPoint::AfterDeploy => {
                self.after_failure == AfterFailure::RollBack
            }
            HookPoint::OnFailure | HookPoint::AfterRollback => false,
        }
    }
}

#[async_trait]
impl Phase for Hook {
    fn kind(&self) -> StepKind {
        StepKind::Hook
    }
    fn name(&self) -> String {
        format!("hook {}", self.point.key())
    }
    fn title(&self) -> String {
        let place = match self.place {
            HookPlace::Host => "on the host",
            HookPlace::Local => "on this machine",
        };
        let failure = if self.fatal() {
            match self.point {
                HookPoint::BeforeDeploy => "a failure stops the deploy before anything changed",
                _ => "a failure rolls the deploy back",
            }
        } else {
            "a failure is reported"
        };
        format!(
            "hook {}: run {place}, at most {} s; {failure}",
            self.point.key(),
            self.timeout.as_secs()
        )
    }
    fn commands(&self) -> Vec<RemoteCommand> {
        let (outcome, reason) = self.planned();
        vec![self.command(outcome, reason)]
    }
    fn odoo_down(&self) -> bool {
        matches!(self.point, HookPoint::BeforeUpdate | HookPoint::AfterUpdate)
    }
    fn on_resume(&self) -> OnResume {
        match self.point {
            HookPoint::BeforeDeploy | HookPoint::BeforeUpdate => OnResume::Skip,
            _ => OnResume::Run,
        }
    }
    fn fatal(&self) -> bool {
        Hook::fatal(self)
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let (outcome, reason) = match self.point {
            HookPoint::OnFailure => (
                run.progress
                    .outcome
                    .and_then(|o| serde_json::to_value(o).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                run.progress.failure.clone().unwrap_or_default(),
            ),
            HookPoint::AfterRollback => (
                "rolled_back".to_owned(),
                run.progress.failure.clone().unwrap_or_default(),
            ),
            _ => {
                let (o, r) = self.planned();
                (o.to_owned(), r.to_owned())
            }
        };
        let ctx = run.ctx;
        let mut cmd = self.command(&outcome, &reason);
        let (transport, host): (&dyn crate::transport::Transport, &str) = match self.place {
            HookPlace::Host => (ctx.transport.as_ref(), &ctx.target.host),
            HookPlace::Local => {
                cmd = cmd.current_dir(ctx.root);
                (ctx.local, "local")
            }
        };
        let sink = super::Forward { ctx, host };
        transport
            .check(&cmd, &sink)
            .await
            .map_err(|e| Failure::new(self.name(), e.to_string()))?;
        Ok(())
    }
}

/// Puts the hooks `t` configures into `plan`: each at its point of the runbook
/// (`before_update` and `after_update` only when the plan updates modules), the
/// `after_rollback` one before the rollback's record, the `on_failure` one in
/// [`Plan::on_failure`].
pub fn add(plan: &mut Plan, t: &Target) {
    let hooks: Vec<Hook> = t
        .hooks
        .points()
        .map(|(point, argv)| Hook::new(t, plan, point, argv))
        .collect();
    for hook in hooks {
        let step = super::Phase::step(hook.clone());
        let at =
            |kind: StepKind, steps: &[crate::plan::Step]| steps.iter().position(|s| s.kind == kind);
        match hook.point {
            HookPoint::BeforeDeploy => {
                let i = at(StepKind::Lock, &plan.steps).map_or(0, |i| i + 1);
                plan.steps.insert(i, step);
            }
            HookPoint::BeforeUpdate => {
                if let Some(i) = at(StepKind::Update, &plan.steps) {
                    plan.steps.insert(i, step);
                }
            }
            HookPoint::AfterUpdate => {
                if let Some(i) = at(StepKind::VerifyModules, &plan.steps) {
                    plan.steps.insert(i + 1, step);
                }
            }
            HookPoint::AfterDeploy => {
                // Before the checksums are stored: a failure rolling back leaves the
                // database's record of the code as it was.
                let i = at(StepKind::StoreChecksums, &plan.steps).unwrap_or(plan.steps.len());
                plan.steps.insert(i, step);
            }
            HookPoint::AfterRollback => {
                let i = at(StepKind::Record, &plan.rollback).unwrap_or(plan.rollback.len());
                plan.rollback.insert(i, step);
            }
            HookPoint::OnFailure => plan.on_failure.push(step),
        }
    }
}
