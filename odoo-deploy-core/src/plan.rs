//! The runbook as a value: gates, the change set, the ordered steps with the exact
//! commands they run, and the rollback plan — written before anything runs. `odd plan`
//! prints this value; `odd deploy` executes the same value.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::changes::ChangeSet;
use crate::command::RemoteCommand;
use crate::config::WindowConfig;
use crate::ledger::Ledger;
use crate::odoo::UpdateSet;
use crate::release::release_id;
use crate::runbook::{self, OnResume, Phase};
use crate::state::DbState;
use crate::target::Target;
use crate::window::{WindowVerdict, evaluate};

/// One condition that must hold before a deploy starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// Its name (`commit`, `requires`, `window`, `log`, `checks`, `submodules`).
    pub name: String,
    /// Whether it holds.
    pub passed: bool,
    /// Why, in a sentence.
    pub detail: String,
    /// The reason given to pass a closed gate (only the deploy window can be overridden).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Taking the environment's lock.
    Lock,
    /// Creating the empty database of a first install.
    CreateDatabase,
    /// Uploading the release.
    Upload,
    /// Stopping Odoo.
    Stop,
    /// The pre-deploy snapshot.
    Snapshot,
    /// The portable dump.
    Dump,
    /// The module update.
    Update,
    /// Checking the module states after the update.
    VerifyModules,
    /// Switching `current` to the new release.
    Switch,
    /// Starting Odoo.
    Start,
    /// Waiting for health.
    Health,
    /// Reading the startup log.
    StartupLog,
    /// The smoke test.
    Smoke,
    /// Storing the module checksums.
    StoreChecksums,
    /// Recording the deploy.
    Record,
    /// Pruning beyond retention.
    Prune,
    /// Releasing the lock.
    Unlock,
    /// Swapping the snapshot back in (rollback).
    RestoreSnapshot,
    /// Renaming a first install's database aside (rollback).
    SetAsideDatabase,
    /// Switching `current` back (rollback).
    SwitchBack,
    /// An operator's command of `[environments.X.hooks]`.
    Hook,
    /// A step an embedder added (see [`crate::runbook::Phase`]).
    Custom,
}

impl StepKind {
    /// The step's name in the journal, the ledger and failure reasons (a built-in
    /// phase's [`crate::runbook::Phase::name`]).
    pub fn name(self) -> &'static str {
        match self {
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
            StepKind::Hook => "hook",
            StepKind::Custom => "custom",
        }
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of the runbook: what the plan shows (taken from its phase when the plan is
/// made) and the phase that runs.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What kind of step (its phase's [`Phase::kind`]).
    pub kind: StepKind,
    /// What it does, in a sentence.
    pub title: String,
    /// The exact commands it runs on the host, rendered with secrets as `***`.
    #[serde(serialize_with = "redacted")]
    pub commands: Vec<RemoteCommand>,
    /// In a fleet, the commands it runs on each other host (the update host's are
    /// `commands`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostCommands>,
    /// What runs.
    #[serde(skip)]
    pub phase: Arc<dyn Phase>,
}

/// The commands a step runs on one other host of a fleet.
#[derive(Debug, Clone, Serialize)]
pub struct HostCommands {
    /// The host's name.
    pub host: String,
    /// The exact commands, rendered with secrets as `***`.
    #[serde(serialize_with = "redacted")]
    pub commands: Vec<RemoteCommand>,
}

impl Step {
    /// The plan's line for `phase`: its kind, title and commands, and the phase.
    pub fn of(phase: Arc<dyn Phase>) -> Self {
        Self {
            kind: phase.kind(),
            title: phase.title(),
            commands: phase.commands(),
            hosts: phase
                .fleet_commands()
                .into_iter()
                .map(|(host, commands)| HostCommands { host, commands })
                .collect(),
            phase,
        }
    }
}

fn redacted<S: Serializer>(commands: &[RemoteCommand], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(commands.iter().map(RemoteCommand::display_redacted))
}

/// The whole runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The environment deployed to.
    pub environment: String,
    /// Its host, as plans show it (`local` for this machine).
    pub host: String,
    /// When the plan was made (Unix seconds).
    pub created_at: i64,
    /// Who deploys (`user@machine`).
    pub who: String,
    /// The commit deployed.
    pub commit: String,
    /// The commit running now (none: nothing deployed by odd yet).
    pub previous_commit: Option<String>,
    /// The release made of the commit: the deploy's id.
    pub release: String,
    /// The release `current` points to now.
    pub previous_release: Option<String>,
    /// The environment's database.
    pub database: String,
    /// The database does not exist yet or Odoo never initialised it.
    pub first_install: bool,
    /// The conditions that must hold before it runs.
    pub gates: Vec<Gate>,
    /// What changes in the modules, and why.
    pub changes: ChangeSet,
    /// What `-i` and `-u` will be given.
    pub update: UpdateSet,
    /// The runbook, in order: what runs, as it is printed.
    pub steps: Vec<Step>,
    /// What runs when a step fails after the environment began to change.
    pub rollback: Vec<Step>,
    /// What runs once a deploy failed (refused or rolled back), its outcome known: the
    /// `on_failure` hook.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_failure: Vec<Step>,
    /// The median downtime of this environment's past deploys.
    pub estimated_downtime_ms: Option<u64>,
    /// The deploy whose ledger line still says `running` (live, or dead and not yet
    /// recovered), or that an `odd rollback` which died was undoing: a new deploy refuses
    /// to run over a dead run, and is never a no-op while one is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<String>,
    /// What the operator should know that does not stop the deploy (e.g. modules of the
    /// repository a first install leaves uninstalled).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// In a fleet, every host (the update host first) and the release it runs now: the
    /// rollback switches each back to its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<crate::fleet::HostRelease>,
    /// The databases of a fleet and each one's change set (see [`crate::fleet`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::databases::Fleet>,
}

impl Plan {
    /// Whether every gate passed.
    pub fn ready(&self) -> bool {
        self.gates.iter().all(|g| g.passed)
    }

    /// Whether the deploy has anything to do.
    pub fn is_noop(&self) -> bool {
        self.update.is_empty()
            && self.changes.remove.is_empty()
            && self.previous_commit.as_deref() == Some(&self.commit)
            && self.unfinished.is_none()
    }

    /// Puts `phase` into the runbook right after the first step of kind `after` (at the
    /// end, before the unlock, when there is none); returns whether `after` was found.
    /// The plan then shows it and the deploy runs it like a built-in step.
    pub fn insert_after(&mut self, after: StepKind, phase: Arc<dyn Phase>) -> bool {
        let step = Step::of(phase);
        match self.steps.iter().position(|s| s.kind == after) {
            Some(i) => {
                self.steps.insert(i + 1, step);
                true
            }
            None => {
                let at = self
                    .steps
                    .iter()
                    .position(|s| s.kind == StepKind::Unlock)
                    .unwrap_or(self.steps.len());
                self.steps.insert(at, step);
                false
            }
        }
    }
}

/// Everything a plan is made from, read before planning.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// The environment deployed to.
    pub target: &'a Target,
    /// The commit deployed.
    pub commit: &'a str,
    /// Uncommitted changes in the working tree (none: clean).
    pub dirty: &'a [String],
    /// Now (Unix seconds).
    pub now: i64,
    /// Who deploys.
    pub who: &'a str,
    /// The environment's ledger.
    pub ledger: &'a Ledger,
    /// The ledger of the environment named by `requires`.
    pub required_ledger: Option<&'a Ledger>,
    /// The release `current` points to.
    pub current_release: Option<&'a str>,
    /// The database as it is.
    pub db: &'a DbState,
    /// What changes in the modules.
    pub changes: ChangeSet,
    /// The deploy window policy.
    pub window: &'a WindowConfig,
    /// The reason given to deploy while the window is closed.
    pub override_window: Option<&'a str>,
}

/// Makes the plan.
pub fn make(input: PlanInput<'_>) -> Plan {
    let t = input.target;
    let release = release_id(input.now, input.commit);
    let first_install = !(input.db.exists && input.db.initialized);
    let mut update = UpdateSet {
        install: input.changes.install_names(),
        update: input.changes.update_names(),
    };
    if first_install {
        // A new database: install what is required (Odoo installs base and the
        // dependencies itself); there is nothing to update yet.
        update.install.extend(t.required.iter().cloned());
        if update.install.is_empty() {
            update.install.insert("base".to_owned());
        }
        update.update.clear();
    }
    let gates = gates(&input);
    let previous = input.ledger.current();
    let mut touched: BTreeSet<String> = update.install.clone();
    touched.extend(input.changes.effective_update.iter().cloned());
    let steps = steps(
        t,
        &release,
        input.commit,
        first_install,
        input.db.exists,
        &update,
        &touched,
    );
    let snapshot = steps.iter().any(|s| s.kind == StepKind::Snapshot);
    let rollback = rollback(t, &release, input.current_release, first_install, snapshot);
    let mut plan = Plan {
        environment: t.environment.clone(),
        host: t.host.clone(),
        created_at: input.now,
        who: input.who.to_owned(),
        commit: input.commit.to_owned(),
        previous_commit: previous.map(|r| r.commit.clone()),
        release,
        previous_release: input.current_release.map(str::to_owned),
        database: t.db.name.clone(),
        first_install,
        gates,
        changes: input.changes,
        update,
        steps,
        rollback,
        on_failure: Vec::new(),
        estimated_downtime_ms: input.ledger.typical_downtime_ms(),
        unfinished: input
            .ledger
            .latest()
            .filter(|r| r.outcome == crate::ledger::Outcome::Running)
            .map(|r| r.id.clone()),
        warnings: Vec::new(),
        hosts: Vec::new(),
        fleet: None,
    };
    runbook::hooks::add(&mut plan, t);
    plan
}

/// The plan that takes an interrupted deploy forward from its completed update: the same
/// release, the update set its ledger line recorded, and the runbook's steps after the
/// update — preceded by a stop, since the dead run may have started Odoo already.
pub fn resume(target: &Target, record: &crate::ledger::DeployRecord, now: i64, who: &str) -> Plan {
    let first_install = record
        .plan
        .as_ref()
        .and_then(|p| p["first_install"].as_bool())
        .unwrap_or(false);
    let update = UpdateSet {
        install: record.changes.install.iter().cloned().collect(),
        update: record.changes.update.iter().cloned().collect(),
    };
    let mut touched: BTreeSet<String> = update.install.clone();
    touched.extend(record.changes.effective_update.iter().cloned());
    let resumed: Vec<Step> = steps(
        target,
        &record.id,
        &record.commit,
        first_install,
        true,
        &update,
        &touched,
    )
    .into_iter()
    .filter(|s| s.phase.on_resume() == OnResume::Run)
    .collect();
    // The restore step is always there: when the journal recorded no snapshot, the
    // rollback fails on it ("the update ran without a snapshot") rather than switching
    // the code back over an updated database.
    let rollback = rollback(
        target,
        &record.id,
        record.previous_release.as_deref(),
        first_install,
        true,
    );
    let changes = ChangeSet {
        effective_update: record.changes.effective_update.clone(),
        ..ChangeSet::default()
    };
    let mut plan = Plan {
        environment: target.environment.clone(),
        host: target.host.clone(),
        created_at: now,
        who: who.to_owned(),
        commit: record.commit.clone(),
        previous_commit: record.previous_commit.clone(),
        release: record.id.clone(),
        previous_release: record.previous_release.clone(),
        database: target.db.name.clone(),
        first_install,
        gates: Vec::new(),
        changes,
        update,
        steps: resumed,
        rollback,
        on_failure: Vec::new(),
        estimated_downtime_ms: None,
        unfinished: None,
        warnings: Vec::new(),
        hosts: Vec::new(),
        fleet: None,
    };
    runbook::hooks::add(&mut plan, target);
    // The hooks that ran before the update are the dead run's.
    plan.steps.retain(|s| s.phase.on_resume() == OnResume::Run);
    plan
}

/// The repository's modules a first install leaves uninstalled: a first deploy installs
/// only `required_modules` and what they need, so a module nothing requires stays out
/// (seen on a real server: only Odoo's base modules came up). `code` holds the modules
/// as scanned; only those under the project root (relative `dir`) are the repository's,
/// and those under `third_party` (its submodules' paths) come in as dependencies or not
/// at all, as with `odd init`.
pub fn left_uninstalled(
    plan: &Plan,
    code: &std::collections::BTreeMap<String, crate::changes::CodeModule>,
    third_party: &[std::path::PathBuf],
) -> Option<String> {
    if !plan.first_install {
        return None;
    }
    let mut coming: BTreeSet<&str> = plan.update.install.iter().map(String::as_str).collect();
    coming.extend(plan.changes.install.iter().map(|c| c.module.as_str()));
    coming.insert("base");
    let left: Vec<&str> = code
        .iter()
        .filter(|(name, m)| {
            m.installable
                && m.auto_install.is_none()
                && m.dir.is_relative()
                && !third_party.iter().any(|p| m.dir.starts_with(p))
                && !coming.contains(name.as_str())
        })
        .map(|(name, _)| name.as_str())
        .collect();
    (!left.is_empty()).then(|| {
        format!(
            "a first install leaves {} module(s) of the repository uninstalled: {} — nothing in \
             required_modules needs them; add the ones this environment runs to \
             required_modules in [project]",
            left.len(),
            left.join(", ")
        )
    })
}

fn gates(input: &PlanInput<'_>) -> Vec<Gate> {
    let t = input.target;
    let mut gates = vec![Gate {
        name: "commit".to_owned(),
        passed: input.dirty.is_empty(),
        detail: if input.dirty.is_empty() {
            format!("{} with a clean working tree", short(input.commit))
        } else {
            format!(
                "{} uncommitted change(s) (e.g. {}): only a commit can be deployed",
                input.dirty.len(),
                input.dirty[0]
            )
        },
        overridden: None,
    }];
    if let Some(required) = &t.requires {
        let done = input
            .required_ledger
            .and_then(|l| l.succeeded_with(input.commit));
        gates.push(Gate {
            name: "requires".to_owned(),
            passed: done.is_some(),
            detail: match done {
                Some(record) => format!("deployed on {required} by {} ({})", record.id, record.who),
                None => format!(
                    "{} has not been deployed successfully on {required}",
                    short(input.commit)
                ),
            },
            overridden: None,
        });
    }
    let (passed, detail, overridden) = match evaluate(input.window, input.now) {
        WindowVerdict::Open => (true, "the deploy window is open".to_owned(), None),
        WindowVerdict::Closed(rule) => match input.override_window {
            Some(reason) => (
                true,
                format!("closed by {rule}, overridden"),
                Some(reason.to_owned()),
            ),
            None => (false, format!("closed by {rule}"), None),
        },
    };
    gates.push(Gate {
        name: "window".to_owned(),
        passed,
        detail,
        overridden,
    });
    gates.push(startup_log_gate(t));
    let problems = &input.changes.problems;
    gates.push(Gate {
        name: "checks".to_owned(),
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            "no problem found in the change".to_owned()
        } else {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        },
        overridden: None,
    });
    gates
}

/// The repository's git submodules (third-party addons pinned by commit) are part of the
/// release: each must be checked out at its pinned commit and clean, or the release would
/// lack their files or hold files no commit has. `None` when there is no submodule.
/// `dirty` is the working tree's uncommitted changes (a changed submodule shows as its
/// path).
pub fn submodule_gate(submodules: &[crate::git::Submodule], dirty: &[String]) -> Option<Gate> {
    use crate::git::SubmoduleState;
    if submodules.is_empty() {
        return None;
    }
    let problems: Vec<String> = submodules
        .iter()
        .filter_map(|sub| {
            let path = sub.path.display();
            match sub.state {
                SubmoduleState::NotCheckedOut => Some(format!(
                    "submodule {path} is not checked out: run `git submodule update --init --recursive {path}`"
                )),
                SubmoduleState::OtherCommit => Some(format!(
                    "submodule {path} is checked out at {}, not at the commit pinned: commit the new pin (`git add {path}`) or run `git submodule update {path}`",
                    short(&sub.commit)
                )),
                SubmoduleState::Conflict => Some(format!(
                    "submodule {path} is in a merge conflict: resolve it and commit"
                )),
                SubmoduleState::CheckedOut if dirty.iter().any(|d| Path::new(d) == sub.path) => {
                    Some(format!(
                        "submodule {path} has uncommitted changes: commit them in the submodule and pin that commit, or discard them (`git -C {path} checkout -- . && git -C {path} clean -fd`)"
                    ))
                }
                SubmoduleState::CheckedOut => None,
            }
        })
        .collect();
    Some(Gate {
        name: "submodules".to_owned(),
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!(
                "{} submodule(s) checked out at their pinned commits, clean",
                submodules.len()
            )
        } else {
            problems.join("; ")
        },
        overridden: None,
    })
}

/// A module Odoo skips at startup leaves health at 200: without a log to read, such a
/// deploy would be reported verified.
fn startup_log_gate(t: &Target) -> Gate {
    let (passed, detail) = match &t.startup_log {
        Some(log) => (true, format!("startup log read from {}", log.describe())),
        None => (
            false,
            format!(
                "no source of Odoo's startup log: set `log_file` in [environments.{env}.odoo] \
                 or `logs` (an argv printing Odoo's log) in [environments.{env}.service]",
                env = t.environment
            ),
        ),
    };
    Gate {
        name: "log".to_owned(),
        passed,
        detail,
        overridden: None,
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[allow(clippy::too_many_arguments)]
fn steps(
    t: &Target,
    release: &str,
    commit: &str,
    first_install: bool,
    db_exists: bool,
    update: &UpdateSet,
    touched: &BTreeSet<String>,
) -> Vec<Step> {
    use runbook::*;
    let mut steps = vec![lock::Lock::new(t).step()];
    if !db_exists {
        steps.push(create_database::CreateDatabase::new(t).step());
    }
    steps.push(upload::Upload::new(t, release, commit).step());
    steps.push(stop::Stop::new(t).step());
    // A backup when the database will change; a code-only deploy is undone by switching
    // the release back.
    if !first_install && !update.is_empty() {
        steps.push(snapshot::Snapshot::new(t).step());
        if t.dump_before_deploy {
            steps.push(dump::Dump::new(t).step());
        }
    }
    if !update.is_empty() {
        steps.push(update::Update::new(t, release, commit, update).step());
        steps.push(verify_modules::VerifyModules.step());
    }
    steps.push(switch::Switch::new(t, release).step());
    steps.push(start::Start::new(t).step());
    steps.push(health::Health::new(t).step());
    if let Some(check) = startup_log::StartupLogCheck::new(t) {
        steps.push(check.step());
    }
    steps.push(smoke::Smoke::new(t, touched).step());
    steps.push(checksums::StoreChecksums::new(&t.db.name).step());
    steps.push(record::Record::new(&t.layout.ledger()).step());
    steps.push(prune::Prune::new(t).step());
    steps.push(lock::Unlock.step());
    steps
}

fn rollback(
    t: &Target,
    release: &str,
    previous_release: Option<&str>,
    first_install: bool,
    snapshot: bool,
) -> Vec<Step> {
    use runbook::*;
    let mut steps = vec![stop::Stop::rollback(t).step()];
    if first_install {
        steps.push(create_database::SetAsideDatabase::new(t).step());
    } else if snapshot {
        steps.push(snapshot::RestoreSnapshot::new(t).step());
    }
    steps.push(switch::SwitchBack::new(t, release, previous_release).step());
    if previous_release.is_some() {
        steps.push(start::Start::new(t).step());
        steps.push(health::Health::again().step());
        steps.push(smoke::Smoke::again().step());
    }
    steps.push(record::Record::rollback().step());
    steps
}

impl Plan {
    /// The plan for people.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Plan for {} on {}: commit {} as release {}",
            self.environment,
            self.host,
            short(&self.commit),
            self.release
        );
        match (&self.previous_commit, &self.previous_release) {
            (Some(c), Some(r)) => {
                let _ = writeln!(out, "  now running: commit {} (release {r})", short(c));
            }
            (Some(c), None) => {
                let _ = writeln!(out, "  now running: commit {}", short(c));
            }
            _ => {
                let _ = writeln!(out, "  now running: nothing deployed by odd yet");
            }
        }
        if self.first_install {
            let _ = writeln!(out, "  database {}: first install", self.database);
        }
        if !self.hosts.is_empty() {
            let _ = writeln!(out, "\nHosts:");
            for h in &self.hosts {
                let roles: Vec<&str> = h.roles.iter().map(|r| r.name()).collect();
                let _ = writeln!(
                    out,
                    "  {:<10} {:<16} {:<18} {}",
                    h.name,
                    h.address,
                    roles.join(","),
                    match (&h.release, &h.error) {
                        (_, Some(e)) => format!("not reached: {e}"),
                        (Some(r), None) => format!("release {r}"),
                        (None, None) => "no release yet".to_owned(),
                    }
                );
            }
        }
        if let Some(id) = &self.unfinished {
            let _ = writeln!(
                out,
                "  a run on deploy {id} (the deploy, or an `odd rollback` of it) has not finished: `odd status {}` tells whether it goes on or died",
                self.environment
            );
        }
        let _ = writeln!(out, "\nGates:");
        for gate in &self.gates {
            let mark = if gate.passed { "ok  " } else { "FAIL" };
            let _ = write!(out, "  [{mark}] {:<10} {}", gate.name, gate.detail);
            if let Some(reason) = &gate.overridden {
                let _ = write!(out, " (override: {reason})");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "\nChanges:");
        let c = &self.changes;
        for (label, list) in [
            ("install", &c.install),
            ("update", &c.update),
            ("remove", &c.remove),
        ] {
            for change in list {
                let _ = writeln!(out, "  {label:<8} {:<24} {}", change.module, change.reason);
                for commit in &change.commits {
                    let _ = writeln!(
                        out,
                        "  {:<8} {:<24}   {} {}",
                        "",
                        "",
                        short(&commit.sha),
                        commit.subject
                    );
                }
            }
        }
        if c.install.is_empty() && c.update.is_empty() && c.remove.is_empty() {
            let _ = writeln!(out, "  no module changes");
        }
        if !c.effective_update.is_empty() {
            let _ = writeln!(out, "  Odoo will reload: {}", c.effective_update.join(", "));
        }
        if let Some(fleet) = &self.fleet {
            crate::databases::write_plan(&mut out, fleet);
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "\nWarnings:");
            for warning in &self.warnings {
                let _ = writeln!(out, "  ! {warning}");
            }
        }
        let update_host = self.hosts.first().map(|h| h.name.as_str());
        let _ = writeln!(out, "\nSteps:");
        write_steps(&mut out, &self.steps, update_host);
        let _ = writeln!(
            out,
            "\nRollback plan (runs on any failure after the backup):"
        );
        write_steps(&mut out, &self.rollback, update_host);
        if !self.on_failure.is_empty() {
            let _ = writeln!(
                out,
                "\nOn failure (refused or rolled back, once the outcome is known):"
            );
            write_steps(&mut out, &self.on_failure, update_host);
        }
        match self.estimated_downtime_ms {
            Some(ms) => {
                let _ = writeln!(
                    out,
                    "\nExpected downtime: about {:.1} s (median of past deploys)",
                    ms as f64 / 1000.0
                );
            }
            None => {
                let _ = writeln!(out, "\nExpected downtime: unknown (no past deploy)");
            }
        }
        if !self.ready() {
            let _ = writeln!(out, "\nNot ready: a gate failed.");
        }
        out
    }
}

/// Each step and its commands; in a fleet (`update_host` named), each command is
/// labelled with the host it runs on.
fn write_steps(out: &mut String, steps: &[Step], update_host: Option<&str>) {
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>2}. {}", i + 1, s.title);
        let label = |host: &str| format!("[{host}] ");
        let mine = update_host.map(label).unwrap_or_default();
        for cmd in &s.commands {
            let _ = writeln!(out, "        {mine}$ {}", cmd.display_redacted());
        }
        for h in &s.hosts {
            for cmd in &h.commands {
                let _ = writeln!(
                    out,
                    "        {}$ {}",
                    label(&h.host),
                    cmd.display_redacted()
                );
            }
        }
    }
}
