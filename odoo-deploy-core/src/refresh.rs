//! `odd refresh STAGING --from PRODUCTION`: production's data copied to staging,
//! neutralized, anonymised and checked fail-closed, with staging's own code.
//!
//! The runbook ([`RefreshPlan`], printed by `--dry-run` exactly as it runs):
//! 1. refusals ([`refuse`]): the target is not protected, not the source, not required
//!    by another environment than the source;
//! 2. under staging's lock, with staging's Odoo stopped, a verified backup of the source
//!    is reused (if younger than `refresh.max_backup_age_secs`) or taken (a dump:
//!    production keeps running);
//! 3. it becomes a new database beside staging's (`<db>-refresh-<stamp>`): by template
//!    copy of a snapshot on one cluster, by `pg_restore` of the dump on one host, or
//!    streamed through odd from host to host; the filestore by hard links on one host,
//!    else from the dump's archive;
//! 4. staging's settings (base URL, fresh `database.uuid`/`database.secret`), Odoo's
//!    `neutralize` (16+) or the built-in profile, the fail-closed checks
//!    ([`neutralize`]), the anonymisation verified by counting ([`anonymise`]) — all on
//!    the new database, so a failure leaves staging's database untouched (and Odoo
//!    stopped);
//! 5. the swap: the new database and filestore take staging's names, the previous ones
//!    kept aside; modules whose code differs (staging's stored checksums against the
//!    copy's) are updated, module states verified, Odoo started, health, startup log and
//!    smoke checked; any failure swaps the previous database and filestore back;
//! 6. the record in staging's ledger (source, source backup, both reports), and the
//!    previous database dropped.

pub mod anonymise;
pub mod neutralize;
pub mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backup::{BackupKind, BackupMetadata, Backups, DbConn, DumpOptions, commands};
use crate::changes::StoredChecksums;
use crate::checksum::ODD_CHECKSUMS_KEY;
use crate::command::{RemoteCommand, Secret};
use crate::config::{Environment, LoadedConfig};
use crate::ledger::{DeployRecord, Outcome, StepRecord};
use crate::odoo::{LogWatch, UpdateSet};
use crate::ops::Operator;
use crate::target::Target;
use crate::transport::{Discard, Transport, TransportError};

use anonymise::AnonymiseReport;
use neutralize::NeutralizeReport;
use settings::RefreshConfig;

/// How long Odoo's update of the copy may run.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Why a refresh was refused or failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RefreshError {
    /// The request itself is refused: nothing was touched.
    #[error("refused: {reason}")]
    #[diagnostic(code(odd::refresh::refused))]
    Refused {
        /// Why it is refused.
        reason: String,
        /// What to do instead, when odd knows.
        #[help]
        help: Option<String>,
    },
    /// A step failed; staging's previous database and filestore are in place.
    #[error("refresh failed at {step}: {reason}")]
    #[diagnostic(
        code(odd::refresh::failed),
        help(
            "staging's previous database and filestore are in place; Odoo was left stopped: start it with the service's start command once you have read the reason"
        )
    )]
    Failed {
        /// The step that failed.
        step: String,
        /// Why it failed.
        reason: String,
        /// Lines of evidence (failed checks, Odoo's log lines).
        evidence: Vec<String>,
    },
    /// A step failed and putting staging's previous database back failed too.
    #[error(
        "refresh failed at {step}: {reason}; restoring staging's previous database failed too: {restore}"
    )]
    #[diagnostic(code(odd::refresh::restore_failed))]
    RestoreFailed {
        /// The step that failed.
        step: String,
        /// Why it failed.
        reason: String,
        /// Why putting the previous database back failed too.
        restore: String,
    },
    /// The environment's lock could not be taken.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A command or a transfer on a host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
}

impl RefreshError {
    fn refused(reason: impl Into<String>, help: Option<String>) -> Self {
        Self::Refused {
            reason: reason.into(),
            help,
        }
    }
}

/// Checks that `target` may be refreshed from `source` (both names of `loaded`).
///
/// # Errors
/// [`RefreshError::Refused`] when the target is the source, is `protected = true`, or
/// is required (`requires`) by an environment other than the source: that environment's
/// promotion path tests against the target's data.
pub fn refuse(loaded: &LoadedConfig, target: &str, source: &str) -> Result<(), RefreshError> {
    if target == source {
        return Err(RefreshError::refused(
            format!("`{target}` cannot be refreshed from itself"),
            Some("name the source with --from PRODUCTION".to_owned()),
        ));
    }
    let env = loaded
        .environment(target)
        .map_err(|e| RefreshError::refused(e.to_string(), e.help.clone()))?;
    loaded
        .environment(source)
        .map_err(|e| RefreshError::refused(e.to_string(), e.help.clone()))?;
    if env.protected {
        return Err(RefreshError::refused(
            format!(
                "`{target}` is protected (`protected = true` in odd.toml): a refresh would replace its data"
            ),
            Some(
                "refresh a staging environment from it instead: odd refresh STAGING --from "
                    .to_owned()
                    + target,
            ),
        ));
    }
    let requiring: Vec<&str> = loaded
        .config
        .environments
        .iter()
        .filter(|(name, e)| {
            name.as_str() != source
                && e.get_ref()
                    .requires
                    .as_ref()
                    .is_some_and(|r| r.get_ref() == target)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if !requiring.is_empty() {
        return Err(RefreshError::refused(
            format!(
                "`{target}` is required by {}: its data is what their deploys are tested against",
                requiring.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
            Some("refresh an environment no other environment requires, or from the one that requires it".to_owned()),
        ));
    }
    Ok(())
}

/// Whether two environments' commands run on the same host as the same user (their
/// files can be hard-linked and read by each other).
pub fn same_host(a: &Environment, b: &Environment) -> bool {
    match (&a.host, &b.host) {
        (None, None) => a.transport == b.transport,
        (Some(x), Some(y)) => {
            let (x, y) = (x.get_ref(), y.get_ref());
            a.transport == b.transport
                && x.address == y.address
                && x.port == y.port
                && x.user == y.user
        }
        _ => false,
    }
}

/// Whether the two databases live in one PostgreSQL cluster (a template copy works).
pub fn same_cluster(a: &Target, b: &Target, on_same_host: bool) -> bool {
    on_same_host && a.db.host == b.db.host && a.db.port == b.db.port
}

/// How the source's data reaches staging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CopyMethod {
    /// `CREATE DATABASE … TEMPLATE` of a snapshot, filestore hard-linked.
    TemplateCopy,
    /// `pg_restore` of a dump on the same host, filestore hard-linked (or from the dump).
    RestoreOnHost,
    /// The dump and the filestore archive streamed from the source's host through odd.
    Streamed,
}

/// Which backup of the source is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SourceBackup {
    /// This verified backup, taken `age_secs` ago.
    Reuse {
        /// The backup's id.
        id: String,
        /// Its kind (snapshot or dump).
        backup: BackupKind,
        /// Its age, in seconds.
        age_secs: u64,
    },
    /// A new dump, taken while the source keeps running.
    NewDump,
}

/// The refresh as a value: what `--dry-run` prints and what runs.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshPlan {
    /// The environment refreshed (staging).
    pub target: String,
    /// The environment copied from.
    pub source: String,
    /// Which backup of the source is used.
    pub source_backup: SourceBackup,
    /// How the copy is made (template copy, restore on the host, or streamed).
    pub copy: CopyMethod,
    /// The database the copy is built in before it takes staging's name.
    pub new_database: String,
    /// Staging's database's name while it is kept aside.
    pub previous_database: String,
    /// `odoo-bin neutralize` or the built-in SQL profile.
    pub neutralize: String,
    /// Anonymised columns (`table.column: action`).
    pub anonymise: Vec<String>,
    /// Staging's release whose code is put back.
    pub release: String,
    /// The commit staging runs.
    pub commit: String,
    /// The steps that will run, in order, as the operator reads them.
    pub steps: Vec<String>,
}

impl RefreshPlan {
    /// The plan as the operator reads it.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "refresh {} from {} (staging's release {} stays)\n",
            self.target, self.source, self.release
        );
        for (i, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "  {:>2}. {step}", i + 1);
        }
        out
    }
}

/// Progress of a refresh, for the caller to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshEvent {
    /// A step began.
    StepStarted {
        /// The step's name.
        step: String,
        /// What it is about to do, in words.
        detail: String,
    },
    /// A step ended well.
    StepDone {
        /// The step's name.
        step: String,
        /// How long it took, in milliseconds.
        ms: u64,
    },
    /// Something the operator should know (not an error).
    Notice {
        /// What to say.
        message: String,
    },
}

/// What a refresh did.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    /// The plan that ran.
    pub plan: RefreshPlan,
    /// The source backup used.
    pub source_backup: String,
    /// What the neutralisation checks found.
    pub neutralize: NeutralizeReport,
    /// What the anonymisation rewrote and checked.
    pub anonymise: AnonymiseReport,
    /// Modules updated or installed because staging's code differs from the copy's.
    pub updated: UpdateSet,
    /// Each step that ran, with its timing and result.
    pub steps: Vec<StepRecord>,
    /// Staging's downtime: from its Odoo stopped to its first healthy answer on the
    /// refreshed copy, as recorded in the ledger.
    pub downtime_ms: Option<u64>,
    /// The ledger entry's id.
    pub record: String,
}

/// Everything a refresh needs, resolved.
pub struct RefreshRequest<'a> {
    /// The parsed odd.toml.
    pub loaded: &'a LoadedConfig,
    /// The environment refreshed.
    pub staging: &'a Target,
    /// How to reach staging's host.
    pub staging_transport: &'a dyn Transport,
    /// The environment copied from.
    pub source: &'a Target,
    /// How to reach the source's host.
    pub source_transport: &'a dyn Transport,
    /// Staging's `[refresh]` settings.
    pub settings: &'a RefreshConfig,
    /// The anonymisation seed (`refresh.seed_env`); a random one when absent.
    pub seed: Option<Secret>,
    /// Who runs the refresh, for the lock and the ledger.
    pub operator: &'a Operator,
    /// Called with each step's progress.
    pub progress: &'a (dyn Fn(RefreshEvent) + Send + Sync),
}

impl std::fmt::Debug for RefreshRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("staging", &self.staging.environment)
            .field("source", &self.source.environment)
            .field("seeded", &self.seed.is_some())
            .finish_non_exhaustive()
    }
}

/// Computes the plan: reads the source's backups and staging's ledger, changes nothing.
///
/// # Errors
/// Refusals, or what reading the hosts reported.
pub async fn plan(req: &RefreshRequest<'_>) -> Result<RefreshPlan, RefreshError> {
    let (t, s) = (req.staging, req.source);
    refuse(req.loaded, &t.environment, &s.environment)?;
    let staging_env = req
        .loaded
        .environment(&t.environment)
        .map_err(|e| RefreshError::refused(e.to_string(), None))?;
    let source_env = req
        .loaded
        .environment(&s.environment)
        .map_err(|e| RefreshError::refused(e.to_string(), None))?;
    let host = same_host(staging_env, source_env);
    let cluster = same_cluster(t, s, host);
    let release = crate::state::current_release(req.staging_transport, &t.layout)
        .await
        .map_err(|e| RefreshError::refused(e.to_string(), None))?
        .ok_or_else(|| {
            RefreshError::refused(
                format!(
                    "`{}` has no current release: deploy it before refreshing its data",
                    t.environment
                ),
                None,
            )
        })?;
    let ledger = crate::state::read_ledger(req.staging_transport, &t.layout)
        .await
        .map_err(|e| RefreshError::refused(e.to_string(), None))?;
    let commit = ledger.current().map(|r| r.commit.clone()).ok_or_else(|| {
        RefreshError::refused(
            format!("`{}` has no successful deploy in its ledger", t.environment),
            None,
        )
    })?;
    let source_backup = pick_backup(req, cluster).await?;
    let copy = match (&source_backup, cluster, host) {
        (
            SourceBackup::Reuse {
                backup: BackupKind::Snapshot,
                ..
            },
            true,
            _,
        ) => CopyMethod::TemplateCopy,
        (_, _, true) => CopyMethod::RestoreOnHost,
        _ => CopyMethod::Streamed,
    };
    let stamp = stamp_now();
    let new_database = crate::backup::derived_name(&t.db.name, "refresh", &stamp);
    let previous_database = crate::backup::derived_name(&t.db.name, "previous", &stamp);
    let neutralize = if neutralize::has_neutralize_command(&t.series) {
        "odoo-bin neutralize".to_owned()
    } else {
        "built-in SQL profile".to_owned()
    };
    let anonymise: Vec<String> = anonymise::rules(req.settings)
        .iter()
        .map(|r| format!("{}.{}: {:?}", r.table, r.column, r.action).to_lowercase())
        .collect();
    let mut steps = vec![
        format!("lock {} and stop its Odoo", t.environment),
        match &source_backup {
            SourceBackup::Reuse {
                id,
                backup,
                age_secs,
            } => {
                format!(
                    "reuse {}'s verified {backup} {id} ({age_secs} s old)",
                    s.environment
                )
            }
            SourceBackup::NewDump => format!(
                "take a verified dump of {} (it keeps running)",
                s.environment
            ),
        },
        match copy {
            CopyMethod::TemplateCopy => {
                format!("copy it into {new_database} by template copy, filestore by hard links")
            }
            CopyMethod::RestoreOnHost => format!(
                "restore it into {new_database} on {}, filestore by hard links",
                t.host
            ),
            CopyMethod::Streamed => format!(
                "stream it from {} to {} through odd and restore it into {new_database}, filestore from its archive",
                s.host, t.host
            ),
        },
        format!(
            "set web.base.url = {}, a fresh database.uuid and database.secret",
            t.base_url
        ),
        format!("neutralize with {neutralize}"),
        format!(
            "check fail-closed: {}",
            neutralize::REQUIRED_CHECKS.join(", ")
        ),
        format!(
            "anonymise {} column(s), counted afterwards",
            anonymise.len()
        ),
        format!(
            "put it in place of {} (kept aside as {previous_database} until verified)",
            t.db.name
        ),
        format!(
            "update the modules whose code differs from release {release}, verify module states"
        ),
        "start Odoo, check health, startup log and smoke".to_owned(),
        format!(
            "record the refresh in {}'s ledger and drop {previous_database}",
            t.environment
        ),
    ];
    steps.shrink_to_fit();
    Ok(RefreshPlan {
        target: t.environment.clone(),
        source: s.environment.clone(),
        source_backup,
        copy,
        new_database,
        previous_database,
        neutralize,
        anonymise,
        release,
        commit,
        steps,
    })
}

async fn pick_backup(
    req: &RefreshRequest<'_>,
    cluster: bool,
) -> Result<SourceBackup, RefreshError> {
    let s = req.source;
    let target = s.backup_target(None);
    let list = Backups::new(req.source_transport, &target)
        .list()
        .await
        .map_err(|e| {
            RefreshError::refused(
                format!("cannot list {}'s backups: {e}", s.environment),
                None,
            )
        })?;
    let now_ms = crate::clock::now_unix() * 1000;
    let max_ms =
        i64::try_from(req.settings.max_backup_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let usable = |m: &&BackupMetadata| {
        matches!(m.origin, crate::backup::Origin::Taken)
            && m.database == s.db.name
            && !m.verification.checks.is_empty()
            && now_ms - m.created_at_ms <= max_ms
            && (m.kind == BackupKind::Dump || cluster)
            && (m.kind == BackupKind::Snapshot
                || m.dump_format == Some(crate::backup::DumpFormat::Custom))
    };
    // Newest first; on one cluster a snapshot is preferred (a template copy).
    let mut candidates: Vec<&BackupMetadata> = list.backups.iter().filter(usable).collect();
    candidates.sort_by_key(|m| (m.kind == BackupKind::Snapshot && cluster, m.created_at_ms));
    Ok(match candidates.last() {
        Some(m) => SourceBackup::Reuse {
            id: m.id.clone(),
            backup: m.kind,
            age_secs: u64::try_from((now_ms - m.created_at_ms).max(0) / 1000).unwrap_or(0),
        },
        None => SourceBackup::NewDump,
    })
}

fn stamp_now() -> String {
    let id = crate::release::release_id(crate::clock::now_unix(), "");
    id.trim_end_matches('-').to_lowercase()
}

struct Run<'r, 'a> {
    req: &'r RefreshRequest<'a>,
    steps: Vec<StepRecord>,
    /// When staging's Odoo was stopped (Unix ms): the downtime runs from there.
    stopped_at_ms: Option<i64>,
    /// From the stop to the first healthy answer after it.
    downtime_ms: Option<u64>,
}

impl Run<'_, '_> {
    fn start(&self, step: &str, detail: String) -> (Instant, i64) {
        (self.req.progress)(RefreshEvent::StepStarted {
            step: step.to_owned(),
            detail,
        });
        (Instant::now(), crate::clock::now_unix())
    }

    fn done(&mut self, step: &str, (began, at): (Instant, i64), ok: bool) {
        let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.steps.push(StepRecord {
            step: step.to_owned(),
            started_at: at,
            duration_ms: ms,
            ok,
        });
        if ok {
            (self.req.progress)(RefreshEvent::StepDone {
                step: step.to_owned(),
                ms,
            });
        }
    }
}

fn failed(step: &str, reason: impl Into<String>, evidence: Vec<String>) -> RefreshError {
    RefreshError::Failed {
        step: step.to_owned(),
        reason: reason.into(),
        evidence,
    }
}

/// Runs `plan` (from [`plan`]): see the module's documentation for the steps.
///
/// # Errors
/// [`RefreshError::Failed`] with staging's previous database in place and Odoo stopped;
/// [`RefreshError::RestoreFailed`] when even that could not be done.
pub async fn execute(
    req: &RefreshRequest<'_>,
    plan: &RefreshPlan,
) -> Result<RefreshReport, RefreshError> {
    let t = req.staging;
    let lock = crate::lock::EnvLock::new(&t.environment, t.layout.lock());
    req.staging_transport.mkdir_p(&t.layout.deploy_dir).await?;
    let info = crate::lock::LockInfo {
        owner: req.operator.who.clone(),
        machine: req.operator.machine.clone(),
        pid: req.operator.pid,
        started_at: crate::clock::now_unix(),
        commit: Some(plan.commit.clone()),
        message: format!("refresh from {}", plan.source),
        deploy_id: None,
    };
    lock.acquire(req.staging_transport, &info).await?;
    let heartbeat = async {
        loop {
            tokio::time::sleep(crate::lock::HEARTBEAT_EVERY).await;
            let _ = lock.beat(req.staging_transport).await;
        }
    };
    let result = tokio::select! {
        result = locked(req, plan) => result,
        () = heartbeat => unreachable!("the heartbeat never ends"),
    };
    lock.release(req.staging_transport).await?;
    result
}

async fn locked(
    req: &RefreshRequest<'_>,
    plan: &RefreshPlan,
) -> Result<RefreshReport, RefreshError> {
    let t = req.staging;
    let tx = req.staging_transport;
    let started_at = crate::clock::now_unix();
    let mut run = Run {
        req,
        steps: Vec::new(),
        stopped_at_ms: None,
        downtime_ms: None,
    };

    let mark = run.start("stop", format!("{}'s Odoo", t.environment));
    run.stopped_at_ms = Some(crate::clock::now_unix_ms());
    tx.check(&t.service.stop(), &Discard).await?;
    run.done("stop", mark, true);

    // Staging's own checksums, read before anything changes: they say what its code is.
    let staging_db = crate::state::read_db(tx, &t.pg, &t.db)
        .await
        .map_err(|e| failed("read staging", e.to_string(), Vec::new()))?;
    let staging_sums_json = staging_db.params.get(ODD_CHECKSUMS_KEY).cloned();

    let source_params = source_params(req).await?;
    let new_conn = DbConn {
        name: plan.new_database.clone(),
        ..t.db.clone()
    };
    let new_fs = t.data_dir.join("filestore").join(&plan.new_database);

    let prepared = prepare_copy(&mut run, plan, &new_conn, &new_fs, &source_params).await;
    let (backup_id, neutralized, anonymised) = match prepared {
        Ok(v) => v,
        Err(e) => {
            let cleanup = drop_new(req, &new_conn, &new_fs).await;
            return Err(match cleanup {
                Ok(()) => e,
                Err(c) => RefreshError::RestoreFailed {
                    step: step_of(&e),
                    reason: e.to_string(),
                    restore: format!("the copy {} could not be dropped: {c}", plan.new_database),
                },
            });
        }
    };

    // The swap: the copy takes staging's names, the previous ones kept aside.
    let mark = run.start(
        "swap",
        format!("{} in place of {}", plan.new_database, t.db.name),
    );
    swap(req, &plan.new_database, &plan.previous_database).await?;
    run.done("swap", mark, true);

    let after = finish(&mut run, plan, staging_sums_json.as_deref()).await;
    let updated = match after {
        Ok(updated) => updated,
        Err(e) => {
            let _ = tx.check(&t.service.stop(), &Discard).await;
            let failed_name =
                crate::backup::derived_name(&t.db.name, "refresh-failed", &stamp_now());
            let back = swap_back(req, &plan.previous_database, &failed_name).await;
            return Err(match back {
                Ok(()) => e,
                Err(r) => RefreshError::RestoreFailed {
                    step: step_of(&e),
                    reason: e.to_string(),
                    restore: r.to_string(),
                },
            });
        }
    };

    let record_id = crate::release::release_id(crate::clock::now_unix(), &plan.commit);
    let report_json = serde_json::json!({
        "refresh": {
            "source": plan.source,
            "source_backup": backup_id,
            "copy": plan.copy,
            "neutralize": neutralized,
            "anonymise": anonymised,
            "updated": updated,
        }
    });
    let record = DeployRecord {
        databases: Vec::new(),
        id: record_id.clone(),
        environment: t.environment.clone(),
        commit: plan.commit.clone(),
        previous_commit: Some(plan.commit.clone()),
        who: req.operator.who.clone(),
        started_at,
        finished_at: Some(crate::clock::now_unix()),
        outcome: Outcome::Succeeded,
        reason: Some(format!(
            "refreshed from {} (backup {backup_id}): neutralized, anonymised, its own code",
            plan.source
        )),
        evidence: Vec::new(),
        plan: Some(report_json),
        plan_digest: None,
        changes: crate::ledger::ChangeSummary {
            update: updated.update.iter().cloned().collect(),
            install: updated.install.iter().cloned().collect(),
            ..Default::default()
        },
        backups: Vec::new(),
        steps: run.steps.clone(),
        downtime_ms: run.downtime_ms,
        window_override: None,
        previous_release: Some(plan.release.clone()),
    };
    if let Err(e) = crate::deploy::append_record(tx, &t.layout, &record).await {
        (req.progress)(RefreshEvent::Notice {
            message: format!("the ledger could not be written: {e}"),
        });
    }
    // Verified: the previous database and filestore go.
    let prev_fs = t.data_dir.join("filestore").join(&plan.previous_database);
    let dropped = tx
        .check_output(&t.pg.drop_database(&t.db, &plan.previous_database))
        .await;
    let removed = tx.check(&commands::remove_all(&prev_fs), &Discard).await;
    if dropped.is_err() || removed.is_err() {
        (req.progress)(RefreshEvent::Notice {
            message: format!(
                "the previous database {} could not be dropped: drop it by hand",
                plan.previous_database
            ),
        });
    }
    Ok(RefreshReport {
        plan: plan.clone(),
        source_backup: backup_id,
        neutralize: neutralized,
        anonymise: anonymised,
        updated,
        steps: run.steps,
        downtime_ms: run.downtime_ms,
        record: record_id,
    })
}

fn step_of(e: &RefreshError) -> String {
    match e {
        RefreshError::Failed { step, .. } | RefreshError::RestoreFailed { step, .. } => {
            step.clone()
        }
        _ => "refresh".to_owned(),
    }
}

/// `database.uuid` and `database.secret` of the source, to check the copy's are new.
async fn source_params(req: &RefreshRequest<'_>) -> Result<BTreeMap<String, Secret>, RefreshError> {
    let s = req.source;
    let out = req
        .source_transport
        .check_output(
            &s.pg
                .psql(&s.db, &s.db.name, &[], neutralize::SOURCE_PARAMS_SQL),
        )
        .await?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(k, v)| (k.to_owned(), Secret::new(v.trim())))
        .collect())
}

async fn prepare_copy(
    run: &mut Run<'_, '_>,
    plan: &RefreshPlan,
    new_conn: &DbConn,
    new_fs: &Path,
    source_params: &BTreeMap<String, Secret>,
) -> Result<(String, NeutralizeReport, AnonymiseReport), RefreshError> {
    let req = run.req;
    let (t, s) = (req.staging, req.source);
    let tx = req.staging_transport;

    // The source backup.
    let mark = run.start("source backup", plan.steps[1].clone());
    let source_target = s.backup_target(None);
    let source_backups = Backups::new(req.source_transport, &source_target);
    let meta = match &plan.source_backup {
        SourceBackup::Reuse { id, .. } => source_backups.get(id).await,
        SourceBackup::NewDump => source_backups.dump(&DumpOptions::default()).await,
    }
    .map_err(|e| failed("source backup", e.to_string(), Vec::new()))?;
    if meta.kind == BackupKind::Dump {
        let problems = source_backups
            .verify(&meta.id)
            .await
            .map_err(|e| failed("source backup", e.to_string(), Vec::new()))?;
        drop(problems);
    }
    run.done("source backup", mark, true);

    // The copy.
    let mark = run.start("copy", plan.steps[2].clone());
    copy_database(req, plan, &meta, new_conn, new_fs)
        .await
        .map_err(|e| failed("copy", e, Vec::new()))?;
    run.done("copy", mark, true);

    // Staging's settings, then Odoo's neutralize.
    let mark = run.start("settings", plan.steps[3].clone());
    tx.check_output(&t.pg.psql(
        new_conn,
        &new_conn.name,
        &[("base_url", t.base_url.as_str())],
        neutralize::SETUP_SQL,
    ))
    .await
    .map_err(|e| failed("settings", e.to_string(), Vec::new()))?;
    run.done("settings", mark, true);

    let allowed = req.settings.allowed_crons.join("\n");
    let mark = run.start("neutralize", plan.steps[4].clone());
    let neutralized = if neutralize::has_neutralize_command(&t.series) {
        let odoo = t.odoo_for_release(&plan.release);
        let cmd = odoo.neutralize(&new_conn.name).timeout(UPDATE_TIMEOUT);
        let out = tx.output(&cmd).await?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let mut watch = LogWatch::new(&t.allow_log_errors, 20)
            .map_err(|e| failed("neutralize", e.to_string(), Vec::new()))?;
        for line in text.lines() {
            watch.line(line);
        }
        let failures: Vec<String> = watch.failures().map(|f| format!("{f:?}")).collect();
        if !out.status.success() || !failures.is_empty() {
            return Err(failed(
                "neutralize",
                ended("odoo-bin neutralize", out.status.code(), &failures),
                watch.tail(),
            ));
        }
        "odoo-bin neutralize"
    } else {
        tx.check_output(&t.pg.psql(
            new_conn,
            &new_conn.name,
            &[("allowed", allowed.as_str())],
            neutralize::BUILTIN_PROFILE_SQL,
        ))
        .await
        .map_err(|e| failed("neutralize", e.to_string(), Vec::new()))?;
        "built-in SQL profile"
    };
    run.done("neutralize", mark, true);

    // The fail-closed checks.
    let mark = run.start("checks", plan.steps[5].clone());
    let (catcher_host, catcher_port) = req
        .settings
        .mail_catcher
        .as_ref()
        .map(|c| neutralize::split_catcher(c.get_ref()))
        .unwrap_or_default();
    let uuid = source_params
        .get("database.uuid")
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
        .unwrap_or_default();
    let secret = source_params
        .get("database.secret")
        .cloned()
        .unwrap_or_else(|| Secret::new(Vec::new()));
    let cmd = t.pg.psql(
        new_conn,
        &new_conn.name,
        &[
            ("base_url", t.base_url.as_str()),
            ("allowed", allowed.as_str()),
            ("catcher_host", catcher_host.as_str()),
            ("catcher_port", catcher_port.as_str()),
            ("source_uuid", uuid.as_str()),
        ],
        neutralize::CHECKS_SQL,
    );
    // Production's secret is a secret: never in argv.
    let cmd = with_secret_vars(cmd, &[("source_secret", &secret)]);
    let out = tx
        .check_output(&cmd)
        .await
        .map_err(|e| failed("checks", e.to_string(), Vec::new()))?;
    let report = NeutralizeReport {
        method: neutralized.to_owned(),
        checks: neutralize::parse_checks(&String::from_utf8_lossy(&out)),
    };
    let bad: Vec<String> = report
        .failed()
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    run.done("checks", mark, bad.is_empty());
    if !bad.is_empty() {
        return Err(failed(
            "checks",
            format!(
                "{} check(s) failed on the copy: {}",
                bad.len(),
                bad.join("; ")
            ),
            bad,
        ));
    }

    // The anonymisation.
    let mark = run.start("anonymise", plan.steps[6].clone());
    let anonymised = anonymise_copy(req, new_conn)
        .await
        .map_err(|(reason, evidence)| failed("anonymise", reason, evidence))?;
    run.done("anonymise", mark, true);
    Ok((meta.id, report, anonymised))
}

async fn anonymise_copy(
    req: &RefreshRequest<'_>,
    conn: &DbConn,
) -> Result<AnonymiseReport, (String, Vec<String>)> {
    let t = req.staging;
    let tx = req.staging_transport;
    let rules = anonymise::rules(req.settings);
    let out = tx
        .check_output(&t.pg.psql(
            conn,
            &conn.name,
            &[],
            &anonymise::existing_columns_sql(&rules),
        ))
        .await
        .map_err(|e| (e.to_string(), Vec::new()))?;
    let present: BTreeSet<(String, String)> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let mut report = AnonymiseReport {
        seeded: req.seed.is_some(),
        ..AnonymiseReport::default()
    };
    let (kept, absent): (Vec<_>, Vec<_>) = rules
        .into_iter()
        .partition(|r| present.contains(&(r.table.clone(), r.column.clone())));
    report.absent = absent
        .iter()
        .map(|r| format!("{}.{}", r.table, r.column))
        .collect();
    let seed = match &req.seed {
        Some(s) => String::from_utf8_lossy(s.expose()).into_owned(),
        None => random_seed(),
    };
    let keep = req.settings.keep_logins.join("\n");
    let sql = anonymise::transaction_sql(&kept, &req.settings.keep_logins);
    let cmd =
        t.pg.psql(conn, &conn.name, &[("keep_logins", keep.as_str())], &sql);
    // The seed is a key: it travels as a secret variable, never in argv or logs.
    let cmd = with_secret_vars(cmd, &[("seed", &Secret::new(seed))]);
    let out = tx
        .output(&cmd)
        .await
        .map_err(|e| (e.to_string(), Vec::new()))?;
    report.read(&String::from_utf8_lossy(&out.stdout));
    let counted = kept
        .iter()
        .filter(|r| r.action != settings::RuleAction::Keep)
        .count();
    if !out.status.success() || !report.clean(counted) {
        let left: Vec<String> = report
            .left
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| format!("{c}: {n} row(s) still hold a source value"))
            .collect();
        return Err((
            format!(
                "the anonymisation did not verify{}",
                if out.status.success() {
                    String::new()
                } else {
                    format!(": {}", crate::transport::tail_of(&out.stderr))
                }
            ),
            left,
        ));
    }
    Ok(report)
}

/// `cmd` (a psql run of SQL on stdin) with psql variables whose values are secrets:
/// each travels as a secret environment variable (`ODD_SECRET_<NAME>`, redacted, never in
/// argv) and the script's first lines set the variable from it with `\getenv` (psql 15+).
pub fn with_secret_vars(cmd: RemoteCommand, vars: &[(&str, &Secret)]) -> RemoteCommand {
    let sql = match cmd.get_stdin() {
        crate::command::Stdin::Bytes(b) => b.clone(),
        _ => Vec::new(),
    };
    let mut script = Vec::new();
    let mut cmd = cmd;
    for (name, value) in vars {
        let env = format!("ODD_SECRET_{}", name.to_uppercase());
        script.extend_from_slice(format!("\\getenv {name} {env}\n").as_bytes());
        cmd = cmd.secret_env(env, (*value).clone());
    }
    script.extend_from_slice(&sql);
    cmd.stdin_bytes(script)
}

fn random_seed() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No urandom: the clock and the process, still unknown to the copy's readers.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (now ^ u128::from(std::process::id())).to_le_bytes();
    }
    hex::encode(bytes)
}

async fn copy_database(
    req: &RefreshRequest<'_>,
    plan: &RefreshPlan,
    meta: &BackupMetadata,
    new_conn: &DbConn,
    new_fs: &Path,
) -> Result<(), String> {
    let (t, s) = (req.staging, req.source);
    let tx = req.staging_transport;
    let sx = req.source_transport;
    let e = |e: TransportError| e.to_string();
    crate::backup::check_db_name(&new_conn.name).map_err(|e| e.to_string())?;
    let fs_parent = t.data_dir.join("filestore");
    tx.mkdir_p(&fs_parent).await.map_err(e)?;
    let dump_dir = s.backup_dir.join(&meta.id);
    match plan.copy {
        CopyMethod::TemplateCopy => {
            let template = meta
                .snapshot_database
                .clone()
                .ok_or("the snapshot names no database")?;
            tx.check_output(&t.pg.copy_database(&t.db, &template, &new_conn.name))
                .await
                .map_err(e)?;
            match &meta.snapshot_filestore {
                Some(fs) if tx.exists(fs).await.map_err(e)? => {
                    tx.check(&commands::hardlink_copy(fs, new_fs), &Discard)
                        .await
                        .map_err(e)?;
                }
                _ => tx.mkdir_p(new_fs).await.map_err(e)?,
            }
        }
        CopyMethod::RestoreOnHost => {
            tx.check_output(&t.pg.create_empty_database(&t.db, &new_conn.name))
                .await
                .map_err(e)?;
            tx.check(
                &t.pg
                    .pg_restore(new_conn, &new_conn.name, &dump_dir.join("db.dump")),
                &Discard,
            )
            .await
            .map_err(e)?;
            let live = s.data_dir.join("filestore").join(&s.db.name);
            let linked = tx.exists(&live).await.map_err(e)?
                && tx
                    .check(&commands::hardlink_copy(&live, new_fs), &Discard)
                    .await
                    .is_ok();
            if !linked {
                // Another filesystem: the dump's archive.
                let _ = tx.check(&commands::remove_all(new_fs), &Discard).await;
                tx.mkdir_p(new_fs).await.map_err(e)?;
                tx.check(
                    &commands::tar_extract(&dump_dir.join("filestore.tar"), new_fs),
                    &Discard,
                )
                .await
                .map_err(e)?;
            }
        }
        CopyMethod::Streamed => {
            tx.check_output(&t.pg.create_empty_database(&t.db, &new_conn.name))
                .await
                .map_err(e)?;
            let incoming = t
                .layout
                .deploy_dir
                .join(format!("refresh-{}", plan.new_database));
            tx.mkdir_p(&incoming).await.map_err(e)?;
            let result = async {
                let dump = incoming.join("db.dump");
                stream(sx, &dump_dir.join("db.dump"), tx, &dump).await?;
                tx.check(&t.pg.pg_restore(new_conn, &new_conn.name, &dump), &Discard)
                    .await
                    .map_err(e)?;
                tx.check(&commands::remove_all(&dump), &Discard)
                    .await
                    .map_err(e)?;
                let tar = incoming.join("filestore.tar");
                stream(sx, &dump_dir.join("filestore.tar"), tx, &tar).await?;
                tx.mkdir_p(new_fs).await.map_err(e)?;
                tx.check(&commands::tar_extract(&tar, new_fs), &Discard)
                    .await
                    .map_err(e)
            }
            .await;
            let _ = tx.check(&commands::remove_all(&incoming), &Discard).await;
            result?;
        }
    }
    Ok(())
}

/// Streams `from` on one host to `to` on another through this process, in chunks: no
/// copy lands on the operator's machine.
async fn stream(
    from_host: &dyn Transport,
    from: &Path,
    to_host: &dyn Transport,
    to: &Path,
) -> Result<u64, String> {
    let (mut writer, mut reader) = tokio::io::duplex(1 << 20);
    let down = async {
        let n = from_host.download(from, &mut writer).await;
        drop(writer);
        n
    };
    let up = to_host.upload(&mut reader, to);
    let (down, up) = tokio::join!(down, up);
    let sent = down.map_err(|e| e.to_string())?;
    let got = up.map_err(|e| e.to_string())?;
    if sent == got {
        Ok(got)
    } else {
        Err(format!(
            "{} bytes read from {} but {got} written to {}",
            sent,
            from.display(),
            to.display()
        ))
    }
}

async fn drop_new(
    req: &RefreshRequest<'_>,
    conn: &DbConn,
    fs: &Path,
) -> Result<(), TransportError> {
    let t = req.staging;
    let tx = req.staging_transport;
    tx.check_output(&t.pg.drop_database(&t.db, &conn.name))
        .await?;
    tx.check(&commands::remove_all(fs), &Discard).await
}

async fn swap(req: &RefreshRequest<'_>, new: &str, aside: &str) -> Result<(), TransportError> {
    let t = req.staging;
    let tx = req.staging_transport;
    let fs = |db: &str| t.data_dir.join("filestore").join(db);
    tx.check_output(&t.pg.swap_databases(&t.db, &t.db.name, new, aside))
        .await?;
    if tx.exists(&fs(&t.db.name)).await? {
        tx.rename(&fs(&t.db.name), &fs(aside)).await?;
    }
    tx.rename(&fs(new), &fs(&t.db.name)).await
}

/// Puts the previous database (kept as `previous`) back; the refreshed one becomes
/// `failed` (kept for a look, with its filestore).
async fn swap_back(
    req: &RefreshRequest<'_>,
    previous: &str,
    failed: &str,
) -> Result<(), TransportError> {
    let t = req.staging;
    let tx = req.staging_transport;
    let fs = |db: &str| t.data_dir.join("filestore").join(db);
    tx.check_output(&t.pg.swap_databases(&t.db, &t.db.name, previous, failed))
        .await?;
    if tx.exists(&fs(&t.db.name)).await? {
        tx.rename(&fs(&t.db.name), &fs(failed)).await?;
    }
    if tx.exists(&fs(previous)).await? {
        tx.rename(&fs(previous), &fs(&t.db.name)).await?;
    }
    Ok(())
}

/// After the swap: the modules whose code differs, module states, start, health, the
/// startup log, smoke. Returns what was updated.
async fn finish(
    run: &mut Run<'_, '_>,
    plan: &RefreshPlan,
    staging_sums: Option<&str>,
) -> Result<UpdateSet, RefreshError> {
    let req = run.req;
    let t = req.staging;
    let tx = req.staging_transport;
    let copy = crate::state::read_db(tx, &t.pg, &t.db)
        .await
        .map_err(|e| failed("update", e.to_string(), Vec::new()))?;
    let set = update_set(staging_sums, &copy)?;
    let mark = run.start("update", plan.steps[8].clone());
    if !set.is_empty() {
        let odoo = t.odoo_for_release(&plan.release);
        let cmd = odoo.update(&t.db.name, &set, Some(UPDATE_TIMEOUT));
        let out = tx.output(&cmd).await?;
        let mut watch = LogWatch::new(&t.allow_log_errors, 20)
            .map_err(|e| failed("update", e.to_string(), Vec::new()))?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            watch.line(line);
        }
        let failures: Vec<String> = watch.failures().map(|f| format!("{f:?}")).collect();
        if !out.status.success() || !failures.is_empty() {
            run.done("update", mark, false);
            return Err(failed(
                "update",
                ended("odoo-bin", out.status.code(), &failures),
                watch.tail(),
            ));
        }
    }
    if let Some(json) = staging_sums {
        tx.check_output(&crate::state::set_param_command(
            &t.pg,
            &t.db,
            ODD_CHECKSUMS_KEY,
            json,
        ))
        .await?;
    }
    let after = crate::state::read_db(tx, &t.pg, &t.db)
        .await
        .map_err(|e| failed("verify modules", e.to_string(), Vec::new()))?;
    let problems =
        crate::odoo::check_module_states(&after.modules, &BTreeMap::new(), &t.required, &t.series);
    if !problems.is_empty() {
        run.done("update", mark, false);
        return Err(failed(
            "verify modules",
            format!("{} module problem(s) after the update", problems.len()),
            problems.iter().map(ToString::to_string).collect(),
        ));
    }
    run.done("update", mark, true);

    let mark = run.start("start", plan.steps[9].clone());
    let log_mark = match &t.startup_log {
        Some(log) => Some(log.mark(tx).await),
        None => None,
    };
    tx.check(&t.service.start(), &Discard).await?;
    crate::deploy::health(t)
        .await
        .map_err(|e| failed("health", e.to_string(), Vec::new()))?;
    // Healthy again: staging's downtime ends here, not after the log and smoke checks.
    run.downtime_ms = run.stopped_at_ms.map(crate::clock::ms_since);
    crate::deploy::read_startup_log(tx, t, log_mark)
        .await
        .map_err(|f| failed("startup log", f.reason.clone(), f.evidence.clone()))?;
    crate::deploy::smoke_after_rollback(t)
        .await
        .map_err(|e| failed("smoke", e.to_string(), Vec::new()))?;
    run.done("start", mark, true);
    Ok(set)
}

/// What Odoo must do so the copy matches staging's code: a module whose checksum in
/// staging's stored set differs from the copy's is updated; one staging has and the copy
/// does not have installed is installed.
///
/// # Errors
/// Staging has no stored checksums (it was never deployed by odd).
pub fn update_set(
    staging_sums: Option<&str>,
    copy: &crate::state::DbState,
) -> Result<UpdateSet, RefreshError> {
    let Some(json) = staging_sums else {
        return Err(failed(
            "update",
            "staging's database holds no checksums of its code: deploy staging with odd first",
            Vec::new(),
        ));
    };
    let ours = StoredChecksums::parse(ODD_CHECKSUMS_KEY, json).map_err(|e| {
        failed(
            "update",
            format!("staging's stored checksums: {e}"),
            Vec::new(),
        )
    })?;
    let theirs = StoredChecksums::from_params(&copy.params)
        .ok()
        .flatten()
        .map(|s| s.sums)
        .unwrap_or_default();
    let installed: BTreeSet<&str> = copy
        .modules
        .iter()
        .filter(|m| m.state == "installed")
        .map(|m| m.name.as_str())
        .collect();
    let mut set = UpdateSet::default();
    for (name, sum) in &ours.sums {
        if !installed.contains(name.as_str()) {
            set.install.insert(name.clone());
        } else if theirs.get(name) != Some(sum) {
            set.update.insert(name.clone());
        }
    }
    Ok(set)
}

/// The `filestore` folder of `db` under `data_dir`.
pub fn filestore(data_dir: &Path, db: &str) -> PathBuf {
    data_dir.join("filestore").join(db)
}

/// How a run of Odoo that failed ended: its exit code, and the failures its log showed.
fn ended(program: &str, code: Option<i32>, failures: &[String]) -> String {
    if failures.is_empty() {
        format!("{program} exited {code:?}")
    } else {
        format!(
            "{program} exited {code:?} and logged {}",
            failures.join("; ")
        )
    }
}

#[cfg(test)]
mod tests;
