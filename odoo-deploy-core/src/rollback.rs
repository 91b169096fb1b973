//! `odd rollback`: undoing a deploy that succeeded but turned out bad, or one whose run
//! died half-way.
//!
//! A rollback is prepared first ([`prepare`]): which deploys it undoes, which snapshot
//! it restores (the pre-deploy snapshot recorded in the ledger, or, for a run that
//! died, the one its journal names), which release becomes current, and what is lost
//! (everything written since that snapshot). It is a value the caller shows and asks
//! about before [`execute`] runs it: lock, stop Odoo, swap the snapshot in, switch
//! `current` back, start, verify health, the startup log and the fixed smoke checks,
//! and record the outcome on each undone deploy's ledger line.
//!
//! A code-only rollback (no database restore) is refused when an undone deploy changed
//! module states or versions, unless forced: the old code on the new schema is exactly
//! what a deploy must never leave behind.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backup::{BackupError, Backups};
use crate::clock;
use crate::deploy::{self, Failure};
use crate::event::{Event, EventSink};
use crate::journal::{self, JournalEntry, JournalState};
use crate::ledger::{DeployRecord, Ledger, Outcome, StepRecord};
use crate::lock::{EnvLock, LockError, LockInfo, LockState};
use crate::plan::StepKind;
use crate::state;
use crate::target::Target;
use crate::transport::{Transport, TransportError};

/// What the caller asks for.
#[derive(Debug, Clone, Default)]
pub struct RollbackRequest {
    /// Go back to the state right after this deploy (default: undo the last one).
    pub to: Option<String>,
    /// Switch the code back only, keep the database and filestore as they are.
    pub code_only: bool,
    /// Allow a code-only rollback of deploys that changed the database.
    pub force_code_only: bool,
    /// Wait for an orphaned update still running on the host to end, instead of
    /// stopping it.
    pub wait_for_update: bool,
    /// Of a fleet, roll back this database only (its snapshot swapped in, the code and
    /// the other databases kept).
    pub database: Option<String>,
}

/// A rollback, decided before anything runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// The environment rolled back.
    pub environment: String,
    /// The deploys it undoes, oldest first (their ledger lines get the outcome).
    pub undo: Vec<String>,
    /// The commit running after the rollback.
    pub commit: Option<String>,
    /// The snapshot swapped in (absent for a code-only rollback).
    pub snapshot: Option<String>,
    /// When that snapshot was taken (unix seconds): data written since then is lost.
    pub snapshot_taken_at: Option<i64>,
    /// The release `current` points to now and the one it will point to.
    pub from_release: Option<String>,
    /// The release `current` will point to.
    pub to_release: String,
    /// Recovering a run that died (its ledger line still says `running`).
    pub interrupted: bool,
    /// Finishing an `odd rollback` run that died (the journal holds its plan).
    #[serde(default)]
    pub resumed: bool,
    /// An update of an undone deploy still running on the host is waited for (rather
    /// than stopped) before anything is restored.
    #[serde(default)]
    pub wait_for_update: bool,
    /// Things the operator should read before saying yes.
    pub warnings: Vec<String>,
    /// A fleet's databases swapped back to their snapshots (`snapshot` is then none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<crate::databases::DatabaseRestore>,
    /// Only this database of the fleet is rolled back: the code and the others stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl RollbackPlan {
    /// Checks the ids and the commit this plan names (one read back from the journal
    /// drives removals and switches) against [`crate::untrusted`]'s patterns.
    ///
    /// # Errors
    /// The first value refused.
    pub fn check(&self) -> Result<(), crate::untrusted::Refused> {
        use crate::untrusted::{backup_id, commit, release_id};
        for id in &self.undo {
            release_id(id)?;
        }
        release_id(&self.to_release)?;
        if let Some(r) = &self.from_release {
            release_id(r)?;
        }
        if let Some(c) = &self.commit {
            commit(c)?;
        }
        if let Some(s) = &self.snapshot {
            backup_id(s)?;
        }
        for d in &self.databases {
            crate::untrusted::database(&d.database)?;
            backup_id(&d.snapshot)?;
        }
        if let Some(d) = &self.database {
            crate::untrusted::database(d)?;
        }
        Ok(())
    }

    /// The plan for people: what happens and what is lost.
    pub fn render_text(&self, now: i64) -> String {
        let mut out = format!("Rollback of {}", self.environment);
        if self.interrupted {
            out.push_str(" (recovering an interrupted deploy)");
        }
        if self.resumed {
            out.push_str(" (finishing an interrupted `odd rollback`)");
        }
        out.push('\n');
        out.push_str(&format!("  undoes: {}\n", self.undo.join(", ")));
        out.push_str(&format!(
            "  code: release {} -> {}{}\n",
            self.from_release.as_deref().unwrap_or("none"),
            self.to_release,
            self.commit
                .as_deref()
                .map_or_else(String::new, |c| format!(" (commit {})", short(c)))
        ));
        match (&self.snapshot, self.snapshot_taken_at) {
            (Some(id), Some(at)) => out.push_str(&format!(
                "  data: restore snapshot {id}, taken {} ({} ago)\n  LOST: everything written to the database and the filestore since then\n",
                clock::human(at),
                ago(now - at)
            )),
            (Some(id), None) => out.push_str(&format!(
                "  data: restore snapshot {id}\n  LOST: everything written to the database and the filestore since it was taken\n"
            )),
            (None, _) if !self.databases.is_empty() => {
                for d in &self.databases {
                    out.push_str(&format!(
                        "  data: restore snapshot {} into {}\n",
                        d.snapshot, d.database
                    ));
                }
                out.push_str("  LOST: everything written to those databases and their filestores since their snapshots\n");
                if let Some(db) = &self.database {
                    out.push_str(&format!(
                        "  only {db}: the code and the fleet's other databases stay as they are; {db} runs the current code on its old schema until the next deploy updates it\n"
                    ));
                }
            }
            (None, _) => out.push_str(
                "  data: kept as it is (code-only rollback): the old code runs on the current database\n",
            ),
        }
        for warning in &self.warnings {
            out.push_str(&format!("  warning: {warning}\n"));
        }
        out
    }
}

fn ago(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} days", secs / 86_400),
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Why a rollback cannot be prepared or run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RollbackError {
    #[error("{env} has no deploy to roll back")]
    #[diagnostic(
        code(odd::rollback::nothing),
        help("`odd history {env}` lists its deploys")
    )]
    /// The environment has no deploy in its ledger.
    Nothing {
        /// The environment.
        env: String,
    },

    #[error("no deploy {id:?} in the ledger of {env}")]
    #[diagnostic(
        code(odd::rollback::unknown),
        help("`odd history {env} --json` lists the ids")
    )]
    /// The ledger has no deploy with that id.
    Unknown {
        /// The environment.
        env: String,
        /// The id asked for.
        id: String,
    },

    /// The deploy asked for is the one running now: there is nothing after it.
    #[error("{id} is what runs on {env} now: there is nothing after it to undo")]
    #[diagnostic(code(odd::rollback::nothing_after))]
    NothingAfter {
        /// The environment.
        env: String,
        /// The deploy's id.
        id: String,
    },

    #[error("deploy {id} was the first on {env}: there is no previous release to go back to")]
    #[diagnostic(
        code(odd::rollback::first_deploy),
        help("restore a backup with the backup commands instead")
    )]
    /// The deploy was the environment's first: there is no release before it.
    NoPreviousRelease {
        /// The environment.
        env: String,
        /// The deploy's id.
        id: String,
    },

    /// The line to undo records an `odd refresh`, not a deploy: the data it replaced was
    /// dropped once the refresh verified, and the code did not change.
    #[error(
        "{id} is not a deploy: it refreshed {env} with {from}'s data (backup {backup}); a rollback cannot undo a refresh, {env}'s data from before it was dropped once the refresh verified and its code did not change"
    )]
    #[diagnostic(code(odd::rollback::refresh), help("{help}"))]
    Refresh {
        /// The environment.
        env: String,
        /// The refresh's ledger id.
        id: String,
        /// The environment the data came from.
        from: String,
        /// The source's backup the refresh copied.
        backup: String,
        /// How to get the data back instead: a backup of the environment from before
        /// the refresh, when one is left, or another refresh.
        help: String,
    },

    /// The release to go back to was pruned from the host.
    #[error("release {release} is gone from the host (pruned?)")]
    #[diagnostic(code(odd::rollback::release_gone))]
    ReleaseGone {
        /// The release's name.
        release: String,
    },

    #[error("deploy {id} recorded no pre-deploy snapshot{}", detail.as_deref().map_or_else(String::new, |d| format!(" ({d})")))]
    #[diagnostic(
        code(odd::rollback::no_snapshot),
        help("a code-only rollback (`--code-only`) switches the code back without restoring data")
    )]
    /// The deploy took no snapshot to restore (and the rollback is not code-only).
    NoSnapshot {
        /// The deploy's id.
        id: String,
        /// Why there is none, when known.
        detail: Option<String>,
    },

    #[error("a code-only rollback of {id} is refused: that deploy changed the database ({what})")]
    #[diagnostic(
        code(odd::rollback::touches_database),
        help(
            "the old code would run on the new schema; restore the snapshot (drop --code-only) or, knowing that, pass --force-code-only"
        )
    )]
    /// A code-only rollback is refused: the deploy changed the database (unless forced).
    TouchesDatabase {
        /// The deploy's id.
        id: String,
        /// What it changed, in words.
        what: String,
    },

    #[error("a deploy of {env} is running now ({message}, pid {pid} on {machine})")]
    #[diagnostic(
        code(odd::rollback::running),
        help("wait for it: a failing deploy rolls itself back")
    )]
    /// The environment's lock is held by a live deploy.
    Running {
        /// The environment.
        env: String,
        /// The holder's message.
        message: String,
        /// The holder's process id.
        pid: u32,
        /// The holder's machine.
        machine: String,
    },

    /// An interrupted rollback is on the journal and must be finished as it was planned.
    #[error("{summary}: {why}")]
    #[diagnostic(code(odd::rollback::unfinished))]
    Unfinished {
        /// The interrupted rollback, in words.
        summary: String,
        /// Why it cannot go on as asked.
        why: String,
    },

    #[error("the update lock of database {database} is held by {cause}; nothing was changed")]
    #[diagnostic(
        code(odd::rollback::update_lock),
        help(
            "a restore would end that session and swap the database under it: wait for it to finish"
        )
    )]
    /// A session holds the database's update lock: a restore would swap the database under it.
    UpdateLockHeld {
        /// The database.
        database: String,
        /// Who holds the lock.
        cause: String,
    },

    /// A detached update left by a dead deploy could not be settled.
    #[error("the orphaned update of {id} could not be settled: {source}")]
    #[diagnostic(code(odd::rollback::orphan))]
    Orphan {
        /// The deploy's id.
        id: String,
        /// Why it could not be settled.
        #[source]
        source: crate::detached::SettleError,
    },

    /// Taking or releasing the environment's lock failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),

    /// A command or a transfer on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),

    /// Restoring the snapshot failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Backup(#[from] BackupError),

    /// What was asked of a fleet's rollback cannot be done.
    #[error("{reason}")]
    #[diagnostic(
        code(odd::rollback::fleet),
        help("`odd status ENV` shows each database of the last deploy and how it ended")
    )]
    Fleet {
        /// Why.
        reason: String,
    },
}

/// Decides what a rollback of `target` does, reading its ledger, lock and releases.
pub async fn prepare(
    transport: &dyn Transport,
    target: &Target,
    this_machine: &str,
    request: &RollbackRequest,
) -> Result<RollbackPlan, RollbackError> {
    let env = &target.environment;
    let ledger = state::read_ledger(transport, &target.layout).await?;
    let lock = EnvLock::new(env, target.layout.lock())
        .state(transport, this_machine)
        .await?;
    if let LockState::Held { holder, .. } = &lock {
        return Err(RollbackError::Running {
            env: env.clone(),
            message: holder.message.clone(),
            pid: holder.pid,
            machine: holder.machine.clone(),
        });
    }
    let from_release = state::current_release(transport, &target.layout).await?;
    let entries = journal::read(transport, &target.layout).await?;
    if let Some(unfinished) = journal::unfinished_rollback(&entries) {
        return resume_rollback(&unfinished, request, from_release);
    }
    if request.to.is_none()
        && let Some(running) = ledger.latest().filter(|r| r.outcome == Outcome::Running)
    {
        return prepare_interrupted(transport, target, running, request, from_release).await;
    }
    if request.database.is_some() && request.to.is_some() {
        return Err(RollbackError::Fleet {
            reason: "`--database` undoes the last deploy in one database; `--to` goes further back in all".to_owned(),
        });
    }
    let undo = undone(&ledger, env, request.to.as_deref())?;
    let first = undo[0];
    if let Some(source) = first.refreshed_from() {
        return Err(refresh_refused(transport, target, first, source).await);
    }
    if undo.iter().any(|r| !r.databases.is_empty()) || request.database.is_some() {
        return prepare_fleet(target, &undo, request, from_release);
    }
    let to_release =
        first
            .previous_release
            .clone()
            .ok_or_else(|| RollbackError::NoPreviousRelease {
                env: env.clone(),
                id: first.id.clone(),
            })?;
    if !transport
        .exists(&target.layout.release(&to_release))
        .await?
    {
        return Err(RollbackError::ReleaseGone {
            release: to_release,
        });
    }
    let mut warnings = Vec::new();
    for r in &undo[1..] {
        if let Some(source) = r.refreshed_from() {
            warnings.push(format!(
                "{} refreshed {env} with {source}'s data: restoring the snapshot taken before {} puts back {env}'s data from before that refresh",
                r.id, first.id
            ));
        }
    }
    let code_only = request.code_only || request.force_code_only;
    let (snapshot, snapshot_taken_at) = if code_only {
        if !request.force_code_only
            && let Some(r) = undo.iter().find(|r| r.changes.touches_database())
        {
            return Err(RollbackError::TouchesDatabase {
                id: r.id.clone(),
                what: describe_changes(r),
            });
        }
        if let Some(r) = undo.iter().find(|r| r.changes.touches_database()) {
            warnings.push(format!(
                "{} changed the database ({}); the old code will run on it",
                r.id,
                describe_changes(r)
            ));
        }
        (None, None)
    } else {
        let id = first
            .backups
            .iter()
            .find(|b| b.starts_with("snapshot-"))
            .cloned()
            .ok_or_else(|| RollbackError::NoSnapshot {
                id: first.id.clone(),
                detail: None,
            })?;
        let taken = snapshot_taken_at(target, transport, first, &id).await?;
        (Some(id), Some(taken))
    };
    if from_release.as_deref() != undo.last().map(|r| r.id.as_str()) {
        warnings.push(format!(
            "`current` points to {} rather than {}",
            from_release.as_deref().unwrap_or("nothing"),
            undo.last().map_or("", |r| r.id.as_str())
        ));
    }
    Ok(RollbackPlan {
        environment: env.clone(),
        undo: undo.iter().map(|r| r.id.clone()).collect(),
        commit: first.previous_commit.clone(),
        snapshot,
        snapshot_taken_at,
        from_release,
        to_release,
        interrupted: false,
        resumed: false,
        wait_for_update: request.wait_for_update,
        warnings,
        databases: Vec::new(),
        database: None,
    })
}

/// The rollback of a fleet deploy: every database it updated back to its own snapshot and
/// the code switched back — or, with `--database`, that one database only.
fn prepare_fleet(
    target: &Target,
    undo: &[&DeployRecord],
    request: &RollbackRequest,
    from_release: Option<String>,
) -> Result<RollbackPlan, RollbackError> {
    let fleet_err = |reason: String| Err(RollbackError::Fleet { reason });
    let last = undo[undo.len() - 1];
    refuse_over_fleets(undo)?;
    if undo.len() > 1 || last.databases.is_empty() {
        return fleet_err(format!(
            "{} is not a fleet deploy, or not the last one: a fleet rolls back its last deploy only",
            last.id
        ));
    }
    if request.code_only || request.force_code_only {
        return fleet_err(
            "a fleet's rollback restores its databases: no code-only rollback".to_owned(),
        );
    }
    let updated = |e: &&crate::databases::DatabaseEntry| {
        e.outcome == crate::databases::DatabaseOutcome::Updated && e.snapshot.is_some()
    };
    let databases: Vec<crate::databases::DatabaseRestore> = match &request.database {
        Some(name) => {
            let Some(e) = last.databases.iter().find(|e| e.database == *name) else {
                return fleet_err(format!(
                    "{name} is not a database of deploy {}: {}",
                    last.id,
                    last.databases
                        .iter()
                        .map(|e| e.database.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            if !updated(&e) {
                return fleet_err(format!(
                    "{name} was not updated by deploy {} (it is {}): nothing to roll back",
                    last.id,
                    e.outcome.name()
                ));
            }
            vec![crate::databases::DatabaseRestore::of(e)]
        }
        None => last
            .databases
            .iter()
            .filter(updated)
            .map(crate::databases::DatabaseRestore::of)
            .collect(),
    };
    let to_release = if request.database.is_some() {
        from_release
            .clone()
            .ok_or_else(|| RollbackError::NoPreviousRelease {
                env: target.environment.clone(),
                id: last.id.clone(),
            })?
    } else {
        last.previous_release
            .clone()
            .ok_or_else(|| RollbackError::NoPreviousRelease {
                env: target.environment.clone(),
                id: last.id.clone(),
            })?
    };
    Ok(RollbackPlan {
        environment: target.environment.clone(),
        undo: vec![last.id.clone()],
        commit: if request.database.is_some() {
            Some(last.commit.clone())
        } else {
            last.previous_commit.clone()
        },
        snapshot: None,
        snapshot_taken_at: None,
        from_release,
        to_release,
        interrupted: false,
        resumed: false,
        wait_for_update: request.wait_for_update,
        warnings: Vec::new(),
        databases,
        database: request.database.clone(),
    })
}

/// Refuses a rollback over several deploys (`--to`) when one of them updated a fleet of
/// databases: each database has its own snapshot, which such a rollback does not
/// restore (it would put the main database back and leave the others on the new schema).
fn refuse_over_fleets(undo: &[&DeployRecord]) -> Result<(), RollbackError> {
    let fleets: Vec<&str> = undo
        .iter()
        .filter(|r| !r.databases.is_empty())
        .map(|r| r.id.as_str())
        .collect();
    if undo.len() < 2 || fleets.is_empty() {
        return Ok(());
    }
    Err(RollbackError::Fleet {
        reason: format!(
            "`--to` would undo {} deploys, and {} updated a fleet of databases: each of its databases has its own snapshot, which a rollback over several deploys does not restore; nothing was changed. `odd rollback ENV` undoes the last deploy; to go further back, restore each database with `odd restore ENV ID --database NAME`",
            undo.len(),
            fleets.join(", ")
        ),
    })
}

/// What a rollback that went through did to the data, for the ledger's reason: the
/// snapshot restored, or each database of a fleet and its own snapshot, or nothing.
fn data_restored(plan: &RollbackPlan) -> String {
    let mut parts: Vec<String> = plan
        .snapshot
        .iter()
        .map(|id| format!("data restored from {id}"))
        .collect();
    if !plan.databases.is_empty() {
        parts.push(format!(
            "{} database(s) restored from their snapshots: {}",
            plan.databases.len(),
            plan.databases
                .iter()
                .map(|d| format!("{} from {}", d.database, d.snapshot))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if parts.is_empty() {
        ", code only (data kept)".to_owned()
    } else {
        format!(", {}", parts.join("; "))
    }
}

/// An `odd rollback` run that died: the same plan, run again (every step of it can run
/// twice: a restore it began is finished, one it finished counts as done).
fn resume_rollback(
    unfinished: &journal::UnfinishedRollback,
    request: &RollbackRequest,
    from_release: Option<String>,
) -> Result<RollbackPlan, RollbackError> {
    let mut plan: RollbackPlan = unfinished
        .begin
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<RollbackPlan>(d).ok())
        .filter(|p| p.check().is_ok())
        .ok_or_else(|| RollbackError::Unfinished {
            summary: unfinished.summary.clone(),
            why: "its plan cannot be read from the journal".to_owned(),
        })?;
    if request.to.is_some()
        || request.code_only
        || request.force_code_only
        || request.database.is_some()
    {
        return Err(RollbackError::Unfinished {
            summary: unfinished.summary.clone(),
            why: "finish it first: run `odd rollback ENV` with no options".to_owned(),
        });
    }
    plan.resumed = true;
    plan.wait_for_update = request.wait_for_update;
    plan.from_release = from_release;
    plan.warnings
        .insert(0, format!("{}; this finishes it", unfinished.summary));
    Ok(plan)
}

/// A deploy whose run died (its ledger line says `running`, its lock holder is gone):
/// the journal tells whether the database was touched and which snapshot holds it as it
/// was.
async fn prepare_interrupted(
    transport: &dyn Transport,
    target: &Target,
    record: &DeployRecord,
    request: &RollbackRequest,
    from_release: Option<String>,
) -> Result<RollbackPlan, RollbackError> {
    if let Some(name) = &request.database {
        return Err(RollbackError::Fleet {
            reason: format!(
                "deploy {} did not finish: `odd rollback ENV` without `--database` rolls all of it back (every database it touched, not {name} alone); nothing was changed",
                record.id
            ),
        });
    }
    let entries = journal::read(transport, &target.layout).await?;
    let found = journal::assess(&entries, &record.id);
    let to_release =
        record
            .previous_release
            .clone()
            .ok_or_else(|| RollbackError::NoPreviousRelease {
                env: target.environment.clone(),
                id: record.id.clone(),
            })?;
    if !transport
        .exists(&target.layout.release(&to_release))
        .await?
    {
        return Err(RollbackError::ReleaseGone {
            release: to_release,
        });
    }
    let mut warnings = vec![format!("deploy {} {}", record.id, found.summary)];
    if let Some((_, None)) = deploy::update_run(transport, &target.layout, &record.id).await? {
        warnings.push(if request.wait_for_update {
            "its update may still run on the host: it is waited for before anything is restored"
                .to_owned()
        } else {
            "its update may still run on the host: it is stopped before anything is restored (--wait-for-update waits for it)".to_owned()
        });
    }
    let mine: Vec<&JournalEntry> = entries.iter().filter(|e| e.deploy == record.id).collect();
    let fleet = crate::databases::journal_restores(&mine);
    let fleet_run = mine.iter().any(|e| e.step == "update databases");
    let (snapshot, snapshot_taken_at) = if fleet_run {
        // A fleet's databases, each back to the snapshot its run journaled.
        if request.code_only || request.force_code_only {
            return Err(RollbackError::Fleet {
                reason: "a fleet's recovery restores its databases: no code-only rollback"
                    .to_owned(),
            });
        }
        (None, None)
    } else if !found.database_touched {
        (None, None)
    } else if request.code_only || request.force_code_only {
        if !request.force_code_only {
            return Err(RollbackError::TouchesDatabase {
                id: record.id.clone(),
                what: "its update began: the database may be in a mixed state".to_owned(),
            });
        }
        warnings.push("the database may be in a mixed state and is kept as it is".to_owned());
        (None, None)
    } else {
        let id = found
            .snapshot
            .clone()
            .ok_or_else(|| RollbackError::NoSnapshot {
                id: record.id.clone(),
                detail: Some("its journal names none".to_owned()),
            })?;
        let taken = snapshot_taken_at(target, transport, record, &id).await?;
        (Some(id), Some(taken))
    };
    Ok(RollbackPlan {
        environment: target.environment.clone(),
        undo: vec![record.id.clone()],
        commit: record.previous_commit.clone(),
        snapshot,
        snapshot_taken_at,
        from_release,
        to_release,
        interrupted: true,
        resumed: false,
        wait_for_update: request.wait_for_update,
        warnings,
        databases: fleet,
        database: None,
    })
}

/// The succeeded deploys a rollback undoes, oldest first: the last one, or every one
/// after `to`.
fn undone<'l>(
    ledger: &'l Ledger,
    env: &str,
    to: Option<&str>,
) -> Result<Vec<&'l DeployRecord>, RollbackError> {
    let records = ledger.records();
    // A fleet deploy with databases that failed within `max_failed` is deployed too.
    let succeeded =
        |r: &&DeployRecord| matches!(r.outcome, Outcome::Succeeded | Outcome::PartlyFailed);
    match to {
        None => ledger
            .current()
            .map(|r| vec![r])
            .ok_or_else(|| RollbackError::Nothing {
                env: env.to_owned(),
            }),
        Some(id) => {
            let at =
                records
                    .iter()
                    .position(|r| r.id == id)
                    .ok_or_else(|| RollbackError::Unknown {
                        env: env.to_owned(),
                        id: id.to_owned(),
                    })?;
            let after: Vec<&DeployRecord> = records[at + 1..].iter().filter(succeeded).collect();
            if after.is_empty() {
                return Err(RollbackError::NothingAfter {
                    env: env.to_owned(),
                    id: id.to_owned(),
                });
            }
            Ok(after)
        }
    }
}

/// Why the refresh `record` (from `source`) cannot be rolled back, and how to get the
/// environment's data from before it: its newest backup taken before the refresh
/// began, when one is left, else another refresh.
async fn refresh_refused(
    transport: &dyn Transport,
    target: &Target,
    record: &DeployRecord,
    source: &str,
) -> RollbackError {
    let env = &target.environment;
    let backup = record
        .plan
        .as_ref()
        .and_then(|p| p["refresh"]["source_backup"].as_str())
        .unwrap_or("unknown")
        .to_owned();
    // Seconds on the ledger, milliseconds on backups: anything begun within the
    // refresh's first second still holds the data from before it (the swap comes last).
    let before_ms = record.started_at.saturating_add(1).saturating_mul(1000);
    let backup_target = target.backup_target(Some(&record.commit));
    let backups = Backups::new(transport, &backup_target);
    let older = backups.list().await.ok().and_then(|list| {
        list.backups
            .into_iter()
            .filter(|m| m.environment == *env && m.created_at_ms < before_ms)
            .max_by_key(|m| m.created_at_ms)
    });
    let again = format!("`odd refresh {env} --from {source}` copies {source}'s data again");
    let help = match older {
        Some(m) => format!(
            "{env}'s data from before the refresh is in its backup {id} (taken {when}): `odd restore {env} {id}`; or {again}",
            id = m.id,
            when = clock::human(m.created_at_ms / 1000),
        ),
        None => format!(
            "no backup of {env} from before the refresh is left (`odd backups {env}` lists them); {again}"
        ),
    };
    RollbackError::Refresh {
        env: env.clone(),
        id: record.id.clone(),
        from: source.to_owned(),
        backup,
        help,
    }
}

fn describe_changes(r: &DeployRecord) -> String {
    let c = &r.changes;
    let mut parts = Vec::new();
    for (label, list) in [
        ("installed", &c.install),
        ("updated", &c.update),
        ("removed", &c.remove),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label} {}", list.join(", ")));
        }
    }
    parts.join("; ")
}

/// Everything a rollback runs with.
pub struct RollbackContext<'a> {
    /// The environment rolled back, resolved.
    pub target: &'a Target,
    /// The host's transport.
    pub transport: Arc<dyn Transport>,
    /// Where progress is reported.
    pub events: &'a dyn EventSink,
    /// Who runs it (`user@machine`), this machine's name and process id, for the lock.
    pub who: String,
    /// This machine's name, for the lock.
    pub machine: String,
    /// This process's id, for the lock.
    pub pid: u32,
}

impl std::fmt::Debug for RollbackContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollbackContext")
            .field("environment", &self.target.environment)
            .finish_non_exhaustive()
    }
}

/// How a rollback ended.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// Whether the environment is verified on the release it went back to.
    pub ok: bool,
    /// The outcome written on the undone deploys' ledger lines.
    pub outcome: Outcome,
    /// Why it ended so, in words for the operator.
    pub reason: String,
    /// The lines of evidence behind the reason (health answers, log lines).
    pub evidence: Vec<String>,
    /// Each step that ran, with its timing and outcome.
    pub steps: Vec<StepRecord>,
    /// The database put aside by the restore (what was current before).
    pub replaced: Option<String>,
    /// Odoo's outage: from the interrupted deploy's first stop (or this rollback's own)
    /// to the healthy answer after the restart (to the end, when there was none).
    pub downtime_ms: Option<u64>,
}

/// Runs a prepared rollback and records it; an error means nothing was changed.
pub async fn execute(
    ctx: &RollbackContext<'_>,
    plan: &RollbackPlan,
) -> Result<RollbackReport, RollbackError> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let ledger = state::read_ledger(transport, &t.layout).await?;
    let lock = EnvLock::new(&t.environment, t.layout.lock());
    let info = LockInfo {
        owner: ctx.who.clone(),
        machine: ctx.machine.clone(),
        pid: ctx.pid,
        started_at: clock::now_unix(),
        commit: plan.commit.clone(),
        message: format!("rollback of {}", plan.undo.join(", ")),
        deploy_id: None,
    };
    take_lock(ctx, &lock, &info, plan.interrupted || plan.resumed).await?;
    let heartbeat = deploy::heartbeat(&ctx.transport, &lock);
    if let Err(e) = end_dead_update_locks(ctx, &ledger).await {
        heartbeat.abort();
        let _ = lock.release(transport).await;
        return Err(e);
    }
    let id = plan.undo.first().map_or("", String::as_str);
    let mut begin = JournalEntry::now(id, journal::ROLLBACK_BEGIN, JournalState::Started);
    begin.detail = serde_json::to_string(plan).ok();
    // Without this line a run that dies could not be finished: nothing runs before it.
    if let Err(e) = journal::append(transport, &t.layout, &begin).await {
        heartbeat.abort();
        let _ = lock.release(transport).await;
        return Err(e.into());
    }
    let mut steps = Vec::new();
    let mut replaced = None;
    let mut times = Outage::default();
    let result = match settle_orphans(ctx, plan, &mut steps).await {
        Ok(()) => run(ctx, plan, &mut steps, &mut replaced, &mut times).await,
        Err(failure) => Err(failure),
    };
    // An interrupted deploy's downtime runs from its first stop (the dead run's, read
    // from the journal) to this rollback's healthy answer; a reverted deploy's grows by
    // this rollback's own outage (from a dead `odd rollback` run's stop, when this
    // finishes one).
    let first_stop = if plan.interrupted || plan.resumed {
        journal::read(transport, &t.layout)
            .await
            .ok()
            .and_then(|entries| journal::first_stop_ms(&entries, id))
    } else {
        None
    };

    let when = clock::human(clock::now_unix());
    let (outcome, reason, evidence) = match &result {
        Ok(()) => (
            if plan.interrupted {
                Outcome::RolledBack
            } else {
                Outcome::Reverted
            },
            format!(
                "{}undone by {} with `odd rollback` at {when}: release {} is current again{}",
                if plan.interrupted {
                    "interrupted, then "
                } else {
                    ""
                },
                ctx.who,
                plan.to_release,
                data_restored(plan)
            ),
            Vec::new(),
        ),
        Err(failure) => (
            Outcome::RollbackFailed,
            format!(
                "`odd rollback` by {} at {when} failed at {}: {}",
                ctx.who, failure.step, failure.reason
            ),
            failure.evidence.clone(),
        ),
    };
    let mut notices = Vec::new();
    for id in &plan.undo {
        let Some(old) = ledger.get(id) else { continue };
        let mut record = old.clone();
        record.outcome = outcome;
        record.reason = Some(reason.clone());
        record.evidence.clone_from(&evidence);
        record.steps.extend(steps.iter().cloned());
        if let Some(outage) = times.outage_ms(first_stop) {
            record.downtime_ms = Some(if plan.interrupted {
                outage
            } else {
                old.downtime_ms.unwrap_or(0).saturating_add(outage)
            });
        }
        if plan.interrupted {
            record.finished_at = Some(clock::now_unix());
        }
        if let Some(aside) = &replaced
            && !record.backups.contains(aside)
        {
            record.backups.push(aside.clone());
        }
        if result.is_ok() {
            for e in &mut record.databases {
                if plan.databases.iter().any(|d| d.database == e.database) {
                    e.outcome = crate::databases::DatabaseOutcome::RolledBack;
                    e.reason = Some(reason.clone());
                }
            }
            if let Some(db) = &plan.database {
                // The deploy stays: its code runs, this database on its old schema.
                record.outcome = Outcome::PartlyFailed;
                record.reason = Some(format!(
                    "{}; database {db} undone by {} with `odd rollback --database` at {when}",
                    old.reason.as_deref().unwrap_or("deployed"),
                    ctx.who
                ));
            }
        }
        if let Err(e) = deploy::append_record(transport, &t.layout, &record).await {
            notices.push(format!("the ledger could not be written: {e}"));
        }
    }
    // As after a deploy, retention applies (else each rollback leaves its undone release
    // and a `-replaced-` copy until the next deploy) — never to the release now current,
    // the one a rollback of it would switch to, nor what this one restored and replaced.
    // After a failed rollback nothing is pruned: an operator may need all of it.
    if result.is_ok() {
        let keep = crate::retention::Keep {
            current: &plan.to_release,
            releases: ledger
                .get(&plan.to_release)
                .and_then(|r| r.previous_release.as_deref())
                .into_iter()
                .collect(),
            backups: plan
                .snapshot
                .iter()
                .chain(&replaced)
                .cloned()
                .chain(plan.databases.iter().map(|d| d.snapshot.clone()))
                .collect(),
            commit: plan.commit.as_deref(),
        };
        notices.extend(crate::retention::apply(transport, t, &keep).await);
    }
    // Only once the ledger tells the outcome: a run that dies before is run again.
    let end = JournalEntry::now(id, journal::ROLLBACK_END, deploy::ended(result.is_ok()));
    let mut written = journal::append(transport, &t.layout, &end).await;
    if written.is_err() {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        written = journal::append(transport, &t.layout, &end).await;
    }
    if let Err(e) = written {
        notices.push(format!(
            "the journal could not record the end of this rollback ({e}): the next `odd rollback` would run it again"
        ));
    }
    heartbeat.abort();
    if let Err(e) = lock.release(transport).await {
        notices.push(format!("the lock could not be released: {e}"));
    }
    for message in notices {
        ctx.events.event(Event::Notice { message });
    }
    Ok(RollbackReport {
        ok: result.is_ok(),
        outcome,
        reason,
        evidence,
        steps,
        replaced,
        downtime_ms: times.outage_ms(first_stop),
    })
}

/// With the environment lock held (no live run of this environment exists): ends the
/// update-lock sessions odd's dead runs of this environment left, and refuses when
/// another holds the database's update lock (click-odoo-update, or a live odd of
/// another environment) — a restore would end its session and swap the database under
/// it.
async fn end_dead_update_locks(
    ctx: &RollbackContext<'_>,
    ledger: &Ledger,
) -> Result<(), RollbackError> {
    let t = ctx.target;
    let (ended, left) =
        crate::advisory::end_dead_holders(ctx.transport.as_ref(), &t.pg, &t.db, |id| {
            ledger.get(id).map(|_| true)
        })
        .await?;
    for h in ended {
        ctx.events.event(Event::Notice {
            message: format!(
                "ended the update lock session odd's dead run of {} left ({h})",
                h.odd_deploy().unwrap_or_default()
            ),
        });
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(RollbackError::UpdateLockHeld {
            database: t.db.name.clone(),
            cause: crate::advisory::explain(&left, &t.environment),
        })
    }
}

/// Before anything is restored: an update of an undone deploy still running on the host
/// (its run died and left it) is stopped — its whole process group, seen gone — or,
/// when the plan says so, waited for. The journal records which.
async fn settle_orphans(
    ctx: &RollbackContext<'_>,
    plan: &RollbackPlan,
    steps: &mut Vec<StepRecord>,
) -> Result<(), Failure> {
    if !(plan.interrupted || plan.resumed) {
        return Ok(());
    }
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    for id in &plan.undo {
        let run = crate::detached::DetachedRun::update(&t.layout, id, 0);
        if !matches!(run.state(transport).await, Ok(Some(None))) {
            continue;
        }
        let title = if plan.wait_for_update {
            format!("wait for the orphaned update of {id} to end")
        } else {
            format!("stop the orphaned update of {id} (its whole process group)")
        };
        let mut said = None;
        step(ctx, plan, steps, StepKind::Update, &title, async {
            let outcome = run
                .settle(
                    transport,
                    plan.wait_for_update,
                    deploy::UPDATE_TIMEOUT,
                    ORPHAN_GRACE,
                )
                .await
                .map_err(|e| {
                    Failure::new(
                        StepKind::Update,
                        RollbackError::Orphan {
                            id: id.clone(),
                            source: e,
                        }
                        .to_string(),
                    )
                })?;
            said = Some(outcome);
            Ok(())
        })
        .await?;
        if let Some(outcome) = said {
            let entry = JournalEntry::now(id, ORPHAN_STEP, JournalState::Finished)
                .detail(outcome.to_string());
            let _ = journal::append(transport, &t.layout, &entry).await;
            ctx.events.event(Event::Notice {
                message: format!("deploy {id}: {outcome}"),
            });
        }
    }
    Ok(())
}

/// The journal entry saying what became of an orphaned update (its detail).
pub const ORPHAN_STEP: &str = "odd rollback: orphaned update";
/// How long an orphaned update is given to end on SIGTERM before SIGKILL.
const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Takes the lock; a stale one (its holder provably gone) is taken over only when
/// recovering that holder's interrupted run.
async fn take_lock(
    ctx: &RollbackContext<'_>,
    lock: &EnvLock,
    info: &LockInfo,
    interrupted: bool,
) -> Result<(), RollbackError> {
    let transport = ctx.transport.as_ref();
    transport.mkdir_p(&ctx.target.layout.deploy_dir).await?;
    if !interrupted {
        return Ok(lock.acquire(transport, info).await?);
    }
    if let Some(message) = lock.take_over_stale(transport, info, &ctx.machine).await? {
        ctx.events.event(Event::Notice { message });
    }
    Ok(())
}

/// When a rollback stopped Odoo and when Odoo answered healthy again (Unix ms).
#[derive(Debug, Default)]
struct Outage {
    stop_ms: Option<i64>,
    healthy_ms: Option<i64>,
}

impl Outage {
    /// From `first_stop` (or this rollback's own stop) to the healthy answer — or to
    /// now, when Odoo never answered again.
    fn outage_ms(&self, first_stop: Option<i64>) -> Option<u64> {
        let from = first_stop.or(self.stop_ms)?;
        let to = self.healthy_ms.unwrap_or_else(clock::now_unix_ms);
        Some(u64::try_from(to.saturating_sub(from)).unwrap_or(0))
    }
}

async fn run(
    ctx: &RollbackContext<'_>,
    plan: &RollbackPlan,
    steps: &mut Vec<StepRecord>,
    replaced: &mut Option<String>,
    times: &mut Outage,
) -> Result<(), Failure> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let fail = |kind: StepKind| move |e: &dyn std::fmt::Display| Failure::new(kind, e.to_string());
    let title = format!(
        "stop Odoo and end every other Odoo session on {}",
        t.db.name
    );
    times.stop_ms = Some(clock::now_unix_ms());
    step(ctx, plan, steps, StepKind::Stop, &title, async {
        transport
            .check_output(&t.service.stop())
            .await
            .map_err(|e| fail(StepKind::Stop)(&e))?;
        end_odoo_sessions(transport, t).await
    })
    .await?;
    if let Some(id) = &plan.snapshot {
        let title = format!("swap snapshot {id} in for {}", t.db.name);
        step(ctx, plan, steps, StepKind::RestoreSnapshot, &title, async {
            let backup_target = t.backup_target(plan.commit.as_deref());
            let report = Backups::new(transport, &backup_target)
                .restore_once(id)
                .await
                .map_err(|e| fail(StepKind::RestoreSnapshot)(&e))?;
            *replaced = report.replaced;
            Ok(())
        })
        .await?;
    }
    for d in &plan.databases {
        let title = format!("swap snapshot {} in for {}", d.snapshot, d.database);
        step(ctx, plan, steps, StepKind::RestoreSnapshot, &title, async {
            let db = crate::databases::for_database(t, &d.database);
            if let (Some(run), Some(id)) = (d.run, plan.undo.first()) {
                // A dead run's update of this database may still go on on the host.
                crate::detached::DetachedRun::update(&t.layout, id, run)
                    .settle(
                        transport,
                        plan.wait_for_update,
                        deploy::UPDATE_TIMEOUT,
                        std::time::Duration::from_secs(10),
                    )
                    .await
                    .map_err(|e| fail(StepKind::RestoreSnapshot)(&e))?;
            }
            let backup_target = db.backup_target(plan.commit.as_deref());
            Backups::new(transport, &backup_target)
                .restore_once(&d.snapshot)
                .await
                .map(drop)
                .map_err(|e| fail(StepKind::RestoreSnapshot)(&e))
        })
        .await?;
    }
    let title = format!(
        "switch {} to release {}",
        t.layout.current().display(),
        plan.to_release
    );
    step(ctx, plan, steps, StepKind::SwitchBack, &title, async {
        transport
            .symlink_switch(&t.layout.current(), &t.layout.release(&plan.to_release))
            .await
            .map_err(|e| fail(StepKind::SwitchBack)(&e))
    })
    .await?;
    let mut mark = None;
    step(ctx, plan, steps, StepKind::Start, "start Odoo", async {
        if let Some(log) = &t.startup_log {
            mark = Some(log.mark(transport).await);
        }
        transport
            .check_output(&t.service.start())
            .await
            .map(drop)
            .map_err(|e| fail(StepKind::Start)(&e))
    })
    .await?;
    step(
        ctx,
        plan,
        steps,
        StepKind::Health,
        "wait for health",
        async {
            deploy::health(t)
                .await
                .map_err(|e| fail(StepKind::Health)(&e))?;
            times.healthy_ms = Some(clock::now_unix_ms());
            Ok(())
        },
    )
    .await?;
    if t.startup_log.is_some() {
        step(
            ctx,
            plan,
            steps,
            StepKind::StartupLog,
            "read the startup log",
            deploy::read_startup_log(transport, t, mark),
        )
        .await?;
    }
    step(ctx, plan, steps, StepKind::Smoke, "smoke test", async {
        deploy::smoke_after_rollback(t)
            .await
            .map_err(|e| fail(StepKind::Smoke)(&e))
    })
    .await
}

/// Ends the sessions Odoo processes (`application_name` `odoo-<pid>`, as Odoo sets it)
/// still hold on the database once the service is stopped — an update orphaned by a run
/// that died keeps writing otherwise — until none comes back for a moment.
async fn end_odoo_sessions(transport: &dyn Transport, t: &Target) -> Result<(), Failure> {
    let cmd = t.pg.psql(
        &t.db,
        crate::backup::commands::MAINTENANCE_DB,
        &[("db", t.db.name.as_str())],
        END_ODOO_SESSIONS_SQL,
    );
    let mut quiet = 0;
    for _ in 0..120 {
        let out = transport
            .check_output(&cmd)
            .await
            .map_err(|e| Failure::new(StepKind::Stop, e.to_string()))?;
        let ended: u64 = String::from_utf8_lossy(&out).trim().parse().unwrap_or(0);
        quiet = if ended == 0 { quiet + 1 } else { 0 };
        if quiet >= 3 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(Failure::new(
        StepKind::Stop,
        format!(
            "Odoo processes keep connecting to {} after it was stopped; stop them first",
            t.db.name
        ),
    ))
}

/// Ends the Odoo sessions on `:db`; prints how many.
const END_ODOO_SESSIONS_SQL: &str = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
 WHERE datname = :'db' AND application_name LIKE 'odoo-%' AND pid <> pg_backend_pid();\n";

/// Runs one step, reporting it and recording its timing.
async fn step(
    ctx: &RollbackContext<'_>,
    plan: &RollbackPlan,
    steps: &mut Vec<StepRecord>,
    kind: StepKind,
    title: &str,
    body: impl std::future::Future<Output = Result<(), Failure>>,
) -> Result<(), Failure> {
    ctx.events.event(Event::StepStarted {
        step: kind,
        title: format!("rollback: {title}"),
    });
    let started = Instant::now();
    let started_at = clock::now_unix();
    let name = format!("odd rollback: {}", deploy::step_name(kind));
    let id = plan.undo.first().map_or("", String::as_str);
    let journal = |state| JournalEntry::now(id, &name, state);
    let _ = journal::append(
        ctx.transport.as_ref(),
        &ctx.target.layout,
        &journal(JournalState::Started),
    )
    .await;
    crate::hook::pause(&name).await;
    let result = body.await;
    let _ = journal::append(
        ctx.transport.as_ref(),
        &ctx.target.layout,
        &journal(deploy::ended(result.is_ok())),
    )
    .await;
    ctx.events.event(Event::StepFinished {
        step: kind,
        elapsed_ms: deploy::ms(started.elapsed()),
        ok: result.is_ok(),
    });
    steps.push(StepRecord {
        step: name,
        started_at,
        duration_ms: deploy::ms(started.elapsed()),
        ok: result.is_ok(),
    });
    result
}

/// When the pre-deploy snapshot `id` of `record` was taken (Unix seconds), reading its
/// metadata on the host — which also proves it is still there.
async fn snapshot_taken_at(
    target: &Target,
    transport: &dyn Transport,
    record: &DeployRecord,
    id: &str,
) -> Result<i64, RollbackError> {
    let backup_target = target.backup_target(record.previous_commit.as_deref());
    let backups = Backups::new(transport, &backup_target);
    match backups.get(id).await {
        Ok(meta) => Ok(meta.created_at_ms / 1000),
        // Consumed by a restore an earlier rollback run began (or finished) before it
        // died: the rollback finishes or keeps it.
        Err(e) => match backups.restore_intent(id).await {
            Ok(Some(intent)) => Ok(intent.backup_created_at_ms / 1000),
            _ => Err(RollbackError::NoSnapshot {
                id: record.id.clone(),
                detail: Some(format!("{id}: {e}")),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::ChangeSummary;
    use crate::testing::{rid, sha, snap};

    fn record(n: u32, outcome: Outcome, previous: Option<u32>) -> String {
        Ledger::line(&DeployRecord {
            databases: Vec::new(),
            id: rid(n),
            environment: "staging".to_owned(),
            commit: sha(n),
            previous_commit: None,
            who: "ops@laptop".to_owned(),
            started_at: 1_795_132_800,
            finished_at: Some(1_795_132_900),
            outcome,
            reason: None,
            evidence: Vec::new(),
            plan: None,
            plan_digest: None,
            changes: ChangeSummary::default(),
            backups: vec![snap(n)],
            steps: Vec::new(),
            downtime_ms: None,
            window_override: None,
            previous_release: previous.map(rid),
        })
        .expect("json")
    }

    #[test]
    fn the_deploys_undone_are_the_last_or_all_after_the_target() {
        let text = [
            record(1, Outcome::Succeeded, None),
            record(2, Outcome::Succeeded, Some(1)),
            record(3, Outcome::RolledBack, Some(2)),
            record(4, Outcome::Succeeded, Some(2)),
        ]
        .concat();
        let ledger = Ledger::parse(&text);
        let ids = |v: Vec<&DeployRecord>| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(undone(&ledger, "s", None).expect("last")), [rid(4)]);
        assert_eq!(
            ids(undone(&ledger, "s", Some(&rid(1))).expect("after d1")),
            [rid(2), rid(4)]
        );
        assert!(matches!(
            undone(&ledger, "s", Some(&rid(4))),
            Err(RollbackError::NothingAfter { .. })
        ));
        assert!(matches!(
            undone(&ledger, "s", Some("nope")),
            Err(RollbackError::Unknown { .. })
        ));
        assert!(matches!(
            undone(&Ledger::default(), "s", None),
            Err(RollbackError::Nothing { .. })
        ));
    }

    #[test]
    fn a_partly_failed_fleet_deploy_counts_as_deployed_and_is_not_rolled_over() {
        let mut fleet: DeployRecord =
            serde_json::from_str(&record(3, Outcome::PartlyFailed, Some(2))).expect("record");
        fleet.databases = vec![crate::databases::DatabaseEntry {
            database: "cust_a".to_owned(),
            outcome: crate::databases::DatabaseOutcome::Updated,
            reason: None,
            evidence: Vec::new(),
            snapshot: Some(snap(30)),
            install: Vec::new(),
            update: vec!["base".to_owned()],
            duration_ms: 0,
        }];
        let text = [
            record(1, Outcome::Succeeded, None),
            record(2, Outcome::Succeeded, Some(1)),
            Ledger::line(&fleet).expect("json"),
            record(4, Outcome::Succeeded, Some(3)),
        ]
        .concat();
        let ledger = Ledger::parse(&text);
        let undo = undone(&ledger, "s", Some(&rid(1))).expect("after d1");
        let ids: Vec<&str> = undo.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, [rid(2), rid(3), rid(4)]);
        let Err(RollbackError::Fleet { reason }) = refuse_over_fleets(&undo) else {
            panic!("a rollback over the fleet deploy is refused");
        };
        assert!(
            reason.contains(&rid(3)) && reason.contains("3 deploys"),
            "{reason}"
        );
        // Over plain deploys only, or one fleet deploy alone: not this refusal's business.
        let plain = undone(&ledger, "s", Some(&rid(3))).expect("after d3");
        assert!(refuse_over_fleets(&plain).is_ok());
        assert!(refuse_over_fleets(&undo[1..2]).is_ok());
    }

    #[test]
    fn a_fleet_rollback_says_each_database_restored() {
        let mut plan = RollbackPlan {
            environment: "prod".to_owned(),
            undo: vec!["d2".to_owned()],
            commit: None,
            snapshot: None,
            snapshot_taken_at: None,
            from_release: Some("d2".to_owned()),
            to_release: "d1".to_owned(),
            interrupted: false,
            resumed: false,
            wait_for_update: false,
            warnings: Vec::new(),
            databases: Vec::new(),
            database: None,
        };
        assert_eq!(data_restored(&plan), ", code only (data kept)");
        plan.databases = vec![
            crate::databases::DatabaseRestore {
                database: "main".to_owned(),
                snapshot: snap(1),
                run: None,
            },
            crate::databases::DatabaseRestore {
                database: "cust_a".to_owned(),
                snapshot: snap(2),
                run: None,
            },
        ];
        assert_eq!(
            data_restored(&plan),
            format!(
                ", 2 database(s) restored from their snapshots: main from {}, cust_a from {}",
                snap(1),
                snap(2)
            )
        );
        plan.databases.clear();
        plan.snapshot = Some(snap(3));
        assert_eq!(
            data_restored(&plan),
            format!(", data restored from {}", snap(3))
        );
    }

    #[test]
    fn what_is_lost_is_said() {
        let plan = RollbackPlan {
            environment: "prod".to_owned(),
            undo: vec!["d2".to_owned()],
            commit: Some("0123456789abcdef".to_owned()),
            snapshot: Some("snapshot-x".to_owned()),
            snapshot_taken_at: Some(1000),
            from_release: Some("d2".to_owned()),
            to_release: "d1".to_owned(),
            interrupted: false,
            resumed: false,
            wait_for_update: false,
            warnings: Vec::new(),
            databases: Vec::new(),
            database: None,
        };
        let text = plan.render_text(1000 + 2 * 3600 + 5 * 60);
        assert!(
            text.contains("release d2 -> d1 (commit 0123456789ab)"),
            "{text}"
        );
        assert!(text.contains("(2 h 5 min ago)"), "{text}");
        assert!(text.contains("LOST: everything written"), "{text}");
    }
}
