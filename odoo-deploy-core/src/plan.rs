//! The runbook as a value: gates, the change set, the ordered steps with the exact
//! commands they run, and the rollback plan — written before anything runs. `odd plan`
//! prints this value; `odd deploy` executes the same value.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Serialize, Serializer};

use crate::backup::commands::hardlink_copy;
use crate::backup::derived_name;
use crate::changes::ChangeSet;
use crate::command::RemoteCommand;
use crate::config::WindowConfig;
use crate::ledger::Ledger;
use crate::odoo::UpdateSet;
use crate::release::{Layout, release_id};
use crate::state::DbState;
use crate::target::Target;
use crate::window::{WindowVerdict, evaluate};

/// One condition that must hold before a deploy starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    /// The reason given to pass a closed gate (only the deploy window can be overridden).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Lock,
    CreateDatabase,
    Upload,
    Stop,
    Snapshot,
    Dump,
    Update,
    VerifyModules,
    Switch,
    Start,
    Health,
    StartupLog,
    Smoke,
    StoreChecksums,
    Record,
    Prune,
    Unlock,
    RestoreSnapshot,
    SetAsideDatabase,
    SwitchBack,
}

/// One step of the runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// What it does, in a sentence.
    pub title: String,
    /// The exact commands it runs on the host, rendered with secrets as `***`.
    #[serde(serialize_with = "redacted")]
    pub commands: Vec<RemoteCommand>,
}

fn redacted<S: Serializer>(commands: &[RemoteCommand], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(commands.iter().map(RemoteCommand::display_redacted))
}

/// The whole runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub environment: String,
    pub host: String,
    pub created_at: i64,
    pub who: String,
    pub commit: String,
    pub previous_commit: Option<String>,
    pub release: String,
    pub previous_release: Option<String>,
    pub database: String,
    /// The database does not exist yet or Odoo never initialised it.
    pub first_install: bool,
    pub gates: Vec<Gate>,
    pub changes: ChangeSet,
    /// What `-i` and `-u` will be given.
    pub update: UpdateSet,
    pub steps: Vec<Step>,
    pub rollback: Vec<Step>,
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
}

/// Everything a plan is made from, read before planning.
#[derive(Debug)]
pub struct PlanInput<'a> {
    pub target: &'a Target,
    pub commit: &'a str,
    /// Uncommitted changes in the working tree (none: clean).
    pub dirty: &'a [String],
    pub now: i64,
    pub who: &'a str,
    pub ledger: &'a Ledger,
    /// The ledger of the environment named by `requires`.
    pub required_ledger: Option<&'a Ledger>,
    pub current_release: Option<&'a str>,
    pub db: &'a DbState,
    pub changes: ChangeSet,
    pub window: &'a WindowConfig,
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
    Plan {
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
        estimated_downtime_ms: input.ledger.typical_downtime_ms(),
        unfinished: input
            .ledger
            .latest()
            .filter(|r| r.outcome == crate::ledger::Outcome::Running)
            .map(|r| r.id.clone()),
        warnings: Vec::new(),
    }
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
    .filter(|s| {
        !matches!(
            s.kind,
            StepKind::Lock
                | StepKind::CreateDatabase
                | StepKind::Upload
                | StepKind::Snapshot
                | StepKind::Dump
                | StepKind::Update
        )
    })
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
    Plan {
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
        estimated_downtime_ms: None,
        unfinished: None,
        warnings: Vec::new(),
    }
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

fn step(kind: StepKind, title: impl Into<String>, commands: Vec<RemoteCommand>) -> Step {
    Step {
        kind,
        title: title.into(),
        commands,
    }
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
    let layout = &t.layout;
    let db = &t.db.name;
    let mut steps = vec![step(
        StepKind::Lock,
        format!(
            "lock {} on {} ({})",
            t.environment,
            t.host,
            layout.lock().display()
        ),
        Vec::new(),
    )];
    if !db_exists {
        steps.push(step(
            StepKind::CreateDatabase,
            format!("create the empty database {db} (first install)"),
            vec![t.pg.create_empty_database(&t.db, db)],
        ));
    }
    let mut upload = vec![
        RemoteCommand::new("mkdir")
            .arg("-p")
            .arg("--")
            .arg(layout.releases()),
    ];
    upload.extend(layout.unpack(release));
    let image = crate::compose::release_image(t, commit, release);
    let title = match &image {
        Some((reference, cmds)) => {
            upload.extend(cmds.iter().cloned());
            format!(
                "upload the commit as release {release} (git archive, streamed); find or pull image {reference} and name it in the release's {}",
                crate::compose::IMAGE_FILE
            )
        }
        None => format!("upload the commit as release {release} (git archive, streamed)"),
    };
    steps.push(step(StepKind::Upload, title, upload));
    steps.push(step(StepKind::Stop, "stop Odoo", vec![t.service.stop()]));
    // A backup when the database will change; a code-only deploy is undone by switching
    // the release back.
    if !first_install && !update.is_empty() {
        let filestore = t.data_dir.join("filestore").join(db);
        let snap_fs = t
            .data_dir
            .join("filestore")
            .join(derived_name(db, "snap", "<stamp>"));
        steps.push(step(
            StepKind::Snapshot,
            format!("snapshot {db} and its filestore (template copy + hard links), verified by row and file counts"),
            vec![
                t.pg.copy_database(&t.db, db, &derived_name(db, "snap", "<stamp>")),
                hardlink_copy(&filestore, &snap_fs),
            ],
        ));
        if t.dump_before_deploy {
            steps.push(step(
                StepKind::Dump,
                format!(
                    "dump {db} and its filestore to {} (portable), verified",
                    t.backup_dir.display()
                ),
                Vec::new(),
            ));
        }
    }
    let odoo = t.odoo_for_release(release);
    if !update.is_empty() {
        // Detached on the host (its own session, output and exit status to files), so
        // that it survives a lost connection; killed after UPDATE_TIMEOUT.
        let (log, status) = layout.update_run(release, 0);
        steps.push(step(
            StepKind::Update,
            "update the database with Odoo stopped, detached on the host (a lost connection does not stop it), reading its log",
            vec![
                t.service
                    .for_release(&layout.release(release))
                    .wrap_update(odoo.update(db, update, None))
                    .timeout(crate::deploy::UPDATE_TIMEOUT)
                    .detached(&log, &status),
            ],
        ));
        steps.push(step(
            StepKind::VerifyModules,
            "no module left `to …`, installed versions equal the manifests, required modules installed",
            Vec::new(),
        ));
    }
    steps.push(step(
        StepKind::Switch,
        format!("switch {} to release {release}", layout.current().display()),
        Vec::new(),
    ));
    steps.push(step(StepKind::Start, "start Odoo", vec![t.service.start()]));
    steps.push(step(
        StepKind::Health,
        format!(
            "GET {}{} until 200, at most {} s",
            t.base_url.trim_end_matches('/'),
            t.health_path,
            t.health_timeout.as_secs()
        ),
        Vec::new(),
    ));
    if let Some(log) = &t.startup_log {
        steps.push(step(
            StepKind::StartupLog,
            format!(
                "read {} through startup: no module skipped, no error",
                log.describe()
            ),
            Vec::new(),
        ));
    }
    steps.push(step(StepKind::Smoke, smoke_title(t, touched), Vec::new()));
    steps.push(step(
        StepKind::StoreChecksums,
        format!(
            "store the new module checksums in {db} (ir_config_parameter odd.installed_checksums)"
        ),
        Vec::new(),
    ));
    steps.push(step(
        StepKind::Record,
        format!("record the deploy in {}", layout.ledger().display()),
        Vec::new(),
    ));
    steps.push(step(
        StepKind::Prune,
        format!(
            "keep {} releases, {} snapshots, {} dumps",
            t.keep_releases, t.retention.keep_snapshots, t.retention.keep_dumps
        ),
        Vec::new(),
    ));
    steps.push(step(StepKind::Unlock, "release the lock", Vec::new()));
    steps
}

/// The smoke test: the fixed checks, and those of every module installed or reloaded.
fn smoke_title(t: &Target, touched: &BTreeSet<String>) -> String {
    let mut parts: Vec<String> = t
        .smoke
        .pages
        .iter()
        .map(|p| format!("GET {} → {}", p.path, p.status))
        .collect();
    if let Some(login) = &t.smoke.login {
        parts.push(format!(
            "log in as {} and read {}",
            login.login, login.read_model
        ));
    }
    for (module, checks) in &t.smoke.modules {
        if touched.contains(module) {
            parts.extend(
                checks
                    .pages
                    .iter()
                    .map(|p| format!("GET {} → {} ({module})", p.path, p.status)),
            );
            parts.extend(
                checks
                    .read_models
                    .iter()
                    .map(|m| format!("read {m} ({module})")),
            );
        }
    }
    if parts.is_empty() {
        "smoke test: none configured".to_owned()
    } else {
        format!("smoke test: {}", parts.join(", "))
    }
}

fn rollback(
    t: &Target,
    release: &str,
    previous_release: Option<&str>,
    first_install: bool,
    snapshot: bool,
) -> Vec<Step> {
    let db = &t.db.name;
    let layout: &Layout = &t.layout;
    let mut steps = vec![step(StepKind::Stop, "stop Odoo", vec![t.service.stop()])];
    if first_install {
        steps.push(step(
            StepKind::SetAsideDatabase,
            format!(
                "rename the new database {db} aside ({}) for forensics",
                derived_name(db, "failed", "<stamp>")
            ),
            Vec::new(),
        ));
    } else if snapshot {
        steps.push(step(
            StepKind::RestoreSnapshot,
            format!(
                "swap the pre-deploy snapshot in for {db} and its filestore; the failed ones are kept as {}",
                derived_name(db, "replaced", "<stamp>")
            ),
            vec![t.pg.swap_databases(
                &t.db,
                db,
                &derived_name(db, "snap", "<stamp>"),
                &derived_name(db, "replaced", "<stamp>"),
            )],
        ));
    }
    match previous_release {
        Some(previous) => {
            steps.push(step(
                StepKind::SwitchBack,
                format!(
                    "switch {} back to release {previous}",
                    layout.current().display()
                ),
                Vec::new(),
            ));
            steps.push(step(StepKind::Start, "start Odoo", vec![t.service.start()]));
            steps.push(step(StepKind::Health, "wait for health again", Vec::new()));
            steps.push(step(StepKind::Smoke, "smoke test again", Vec::new()));
        }
        None => steps.push(step(
            StepKind::SwitchBack,
            format!(
                "no previous release: {} is removed and Odoo stays stopped",
                Path::new(&layout.release(release)).display()
            ),
            Vec::new(),
        )),
    }
    steps.push(step(
        StepKind::Record,
        "record the rollback with its reason and the failing evidence",
        Vec::new(),
    ));
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
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "\nWarnings:");
            for warning in &self.warnings {
                let _ = writeln!(out, "  ! {warning}");
            }
        }
        let _ = writeln!(out, "\nSteps:");
        write_steps(&mut out, &self.steps);
        let _ = writeln!(
            out,
            "\nRollback plan (runs on any failure after the backup):"
        );
        write_steps(&mut out, &self.rollback);
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

fn write_steps(out: &mut String, steps: &[Step]) {
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>2}. {}", i + 1, s.title);
        for cmd in &s.commands {
            let _ = writeln!(out, "        $ {}", cmd.display_redacted());
        }
    }
}
