//! Backups you can trust: database + filestore as one consistent, verified pair.
//!
//! Two kinds ([`BackupKind`]):
//! - a **snapshot**: `CREATE DATABASE … TEMPLATE` of the database and a hard-linked copy
//!   (`cp -al`) of its filestore, on the same server; restored in seconds by renaming.
//!   Odoo never rewrites a filestore file in place (attachments are content-addressed),
//!   so hard links are safe copies.
//! - a **dump**: `pg_dump` + a tar archive of the filestore + `metadata.json`, written in
//!   `<backup_dir>/<id>.partial/` and renamed to `<backup_dir>/<id>/` only once verified.
//!
//! Nothing is reported good before it is checked (row counts of every table, filestore
//! file count and size, dump table of contents, SHA-256 of every file), a restore never
//! destroys the current database (it is renamed aside and kept until pruned), and every
//! command is built by the pure functions of [`commands`] and run through a
//! [`Transport`] on the host that has the database tools. The caller stops Odoo first.
//!
//! Entry point: [`Backups`].

pub mod commands;
pub mod metadata;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::command::{RemoteCommand, Secret};
use crate::config::BackupConfig;
use crate::transport::{Discard, Transport, TransportError};

pub use commands::{DumpFormat, PgTools};
pub use metadata::{BackupKind, BackupMetadata, FileDigest, FilestoreStats, Origin, Verification};
use metadata::{DbInfo, METADATA_VERSION};

/// PostgreSQL truncates identifiers to this many bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// How to reach the database (resolved: the password is already read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConn {
    /// Database name.
    pub name: String,
    /// Host name or socket directory; libpq's default when absent.
    pub host: Option<String>,
    /// Port; libpq's default when absent.
    pub port: Option<u16>,
    /// Role; libpq's default when absent.
    pub user: Option<String>,
    /// Sent as `PGPASSWORD`, never in argv.
    pub password: Option<Secret>,
}

/// What to back up and where, resolved from `odd.toml` and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTarget {
    /// The environment's name (recorded; backups are listed per environment).
    pub environment: String,
    /// The database.
    pub database: DbConn,
    /// Odoo's data directory: the filestore of database `D` is `data_dir/filestore/D`.
    pub data_dir: PathBuf,
    /// Where dumps and snapshot metadata are kept.
    pub backup_dir: PathBuf,
    /// Where `psql`, `pg_dump` and `pg_restore` are; `PATH` when absent.
    pub pg_bin_dir: Option<PathBuf>,
    /// The deployed commit, recorded in the metadata.
    pub commit: Option<String>,
    /// The Odoo series, recorded in the metadata.
    pub series: Option<String>,
}

impl BackupTarget {
    /// The filestore directory of database `db`.
    pub fn filestore(&self, db: &str) -> PathBuf {
        self.data_dir.join("filestore").join(db)
    }

    fn tools(&self) -> PgTools {
        PgTools {
            bin_dir: self.pg_bin_dir.clone(),
        }
    }

    fn dump_dir(&self, id: &str) -> PathBuf {
        self.backup_dir.join(id)
    }

    fn partial_dir(&self, id: &str) -> PathBuf {
        self.backup_dir.join(format!("{id}.partial"))
    }

    fn snapshot_meta(&self, id: &str) -> PathBuf {
        self.backup_dir.join("snapshots").join(format!("{id}.json"))
    }

    fn restore_intent(&self, id: &str) -> PathBuf {
        self.backup_dir.join("restores").join(format!("{id}.json"))
    }
}

/// How a dump is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpOptions {
    /// `-Fc` or `-Fd -j N`.
    pub format: DumpFormat,
    /// Restore into a scratch database and compare every table's row count.
    pub restore_test: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        Self {
            format: DumpFormat::Custom,
            restore_test: false,
        }
    }
}

/// How many backups of each kind to keep per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Snapshots (including databases put aside by restores).
    pub keep_snapshots: u32,
    /// Dumps.
    pub keep_dumps: u32,
}

impl From<&BackupConfig> for RetentionPolicy {
    fn from(c: &BackupConfig) -> Self {
        Self {
            keep_snapshots: c.keep_snapshots,
            keep_dumps: c.keep_dumps,
        }
    }
}

/// Progress reported while backing up or restoring.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackupEvent {
    /// A step began.
    StepStarted {
        /// Its name (`copy database`, `pg_dump`, …).
        step: &'static str,
        /// What it works on.
        detail: String,
    },
    /// A step ended well.
    StepFinished {
        /// Its name.
        step: &'static str,
        /// How long it took.
        elapsed: Duration,
    },
}

/// Receives [`BackupEvent`]s.
pub trait BackupProgress: Send + Sync {
    /// One event.
    fn event(&self, event: BackupEvent);
}

impl<F> BackupProgress for F
where
    F: Fn(BackupEvent) + Send + Sync,
{
    fn event(&self, event: BackupEvent) {
        self(event);
    }
}

struct Silent;

impl BackupProgress for Silent {
    fn event(&self, _event: BackupEvent) {}
}

/// What went wrong with a backup or a restore.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum BackupError {
    /// Running a command on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),

    /// The database name cannot be used.
    #[error("database name {name:?} cannot be used: {reason}")]
    #[diagnostic(
        code(odd::backup::bad_name),
        help("database names must be 1 to 63 bytes, without `/` or NUL, and not `.` or `..`")
    )]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },

    /// The database does not exist.
    #[error("database {name:?} does not exist on the server")]
    #[diagnostic(
        code(odd::backup::no_database),
        help("check `[environments.*.database] name` in odd.toml and the connection settings")
    )]
    NoDatabase {
        /// The name.
        name: String,
    },

    /// `pg_dump` failed or was killed.
    #[error("pg_dump of {database:?} failed: {reason}")]
    #[diagnostic(
        code(odd::backup::dump_failed),
        help(
            "nothing was kept: the partial backup was removed. Check free space in the backup directory and the server log"
        )
    )]
    DumpFailed {
        /// The database.
        database: String,
        /// What happened (exit status and stderr tail).
        reason: String,
    },

    /// A check failed: the backup is not trustworthy.
    #[error("backup {id} failed verification: {}", problems.join("; "))]
    #[diagnostic(
        code(odd::backup::verification_failed),
        help(
            "a backup that fails verification is never reported good; take a new one (the failed one's partial files were removed), or for an existing backup, restore another"
        )
    )]
    Verification {
        /// The backup.
        id: String,
        /// Every problem found.
        problems: Vec<String>,
    },

    /// Not enough free space for what is about to be written.
    #[error(
        "not enough free disk on {host} at {path}: {needed} bytes needed, {available} available"
    )]
    #[diagnostic(
        code(odd::backup::disk_short),
        help(
            "free space there (e.g. `odd backups` and prune old ones) or move the backup directory; nothing was changed"
        )
    )]
    DiskShort {
        /// The host.
        host: String,
        /// Where.
        path: PathBuf,
        /// Bytes needed (estimate).
        needed: u64,
        /// Bytes free.
        available: u64,
    },

    /// No backup with this id for this environment.
    #[error("no backup {id:?} for environment {environment:?}")]
    #[diagnostic(code(odd::backup::not_found), help("`odd backups ENV` lists them"))]
    NotFound {
        /// The id asked for.
        id: String,
        /// The environment.
        environment: String,
    },

    /// Something that should not exist already does.
    #[error("{what} already exists")]
    #[diagnostic(
        code(odd::backup::exists),
        help("another backup or restore may be running; wait a moment and retry")
    )]
    AlreadyExists {
        /// What.
        what: String,
    },

    /// The backup is of another database than the one it would be restored into.
    #[error("backup {id} is of database {of:?}, not of {into:?}")]
    #[diagnostic(
        code(odd::backup::other_database),
        help(
            "nothing was changed; restore it into its own database (`odd restore ENV ID --database {of}` for a database of the fleet), or pick a backup of {into:?} from `odd backups ENV`"
        )
    )]
    OtherDatabase {
        /// The backup.
        id: String,
        /// The database the backup was taken of.
        of: String,
        /// The database it was asked to be restored into.
        into: String,
    },

    /// A metadata file could not be read.
    #[error("cannot read backup metadata {path}: {reason}")]
    #[diagnostic(code(odd::backup::bad_metadata))]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A restore stopped half-way (its answer lost, or its run killed): the live
    /// database and filestore may not belong together until it is finished.
    #[error("the restore of {id} is not finished: {reason}")]
    #[diagnostic(
        code(odd::backup::restore_incomplete),
        help(
            "run the same restore again (`odd restore ENV ID --yes`, or `odd rollback ENV` for a deploy's snapshot): it finishes from where this one stopped"
        )
    )]
    Incomplete {
        /// The backup being restored.
        id: String,
        /// What is left.
        reason: String,
    },

    /// The backup was restored already (a snapshot is consumed by its restore).
    #[error("backup {id} (taken {at}) was restored already{}", replaced.as_deref().map_or_else(String::new, |r| format!("; what it replaced is kept as {r}")))]
    #[diagnostic(
        code(odd::backup::already_restored),
        help("`odd backups ENV` lists what can be restored now")
    )]
    AlreadyRestored {
        /// The backup.
        id: String,
        /// When it was taken.
        at: String,
        /// The record of what its restore put aside.
        replaced: Option<String>,
    },

    /// A tool printed something this code does not understand.
    #[error("unexpected output from {what}: {reason}")]
    #[diagnostic(code(odd::backup::unexpected_output))]
    UnexpectedOutput {
        /// Which step.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// A backup in a listing (`odd backups ENV [--json]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    /// Its id.
    pub id: String,
    /// Snapshot or dump.
    pub kind: BackupKind,
    /// Taken, or put aside by a restore.
    #[serde(flatten)]
    pub origin: Origin,
    /// Source database.
    pub database: String,
    /// Commit at the time.
    pub commit: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Bytes.
    pub size: u64,
    /// Whether it passed verification when taken.
    pub verified: bool,
    /// Whether a restore test was part of that.
    pub restore_tested: bool,
}

impl From<&BackupMetadata> for BackupSummary {
    fn from(m: &BackupMetadata) -> Self {
        Self {
            id: m.id.clone(),
            kind: m.kind,
            origin: m.origin.clone(),
            database: m.database.clone(),
            commit: m.commit.clone(),
            created_at_ms: m.created_at_ms,
            size: m.size(),
            verified: !m.verification.checks.is_empty(),
            restore_tested: m.verification.restore_tested,
        }
    }
}

/// The backups of an environment, oldest first, and metadata files that could not be read.
#[derive(Debug, Clone, Default)]
pub struct BackupList {
    /// Readable backups of the environment.
    pub backups: Vec<BackupMetadata>,
    /// `(file, reason)` for each unreadable metadata file.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The backup restored.
    pub restored: String,
    /// The database now in place.
    pub database: String,
    /// The record (a snapshot) of the database and filestore put aside, if one existed.
    pub replaced: Option<String>,
    /// Milliseconds per step.
    pub timings_ms: BTreeMap<String, u64>,
}

/// A restore, written on the host before its renames begin, so a run that dies
/// half-way is finished by the next one (see `Backups::restore`). Kept as
/// `<backup_dir>/restores/<id>.json`, marked done at the end: for a snapshot, the proof
/// that it (consumed by its restore) is the live database now; a dump's is overwritten
/// when the dump is restored again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreIntent {
    /// The backup restored.
    pub restored: String,
    /// Its kind.
    pub kind: BackupKind,
    /// When it was taken (Unix milliseconds).
    pub backup_created_at_ms: i64,
    /// The live database's name.
    pub database: String,
    /// The database and filestore renamed into place.
    pub new_db: String,
    /// The filestore renamed into place.
    pub new_fs: PathBuf,
    /// Where the live pair goes.
    pub aside_db: String,
    /// Where the live filestore goes.
    pub aside_fs: PathBuf,
    /// The live filestore's path, and whether it existed.
    pub current_fs: PathBuf,
    /// Whether the live filestore existed.
    pub had_fs: bool,
    /// The record of the pair put aside (none when there was no live database).
    pub replaced: Option<BackupMetadata>,
    /// Whether every rename is done and recorded.
    pub done: bool,
    /// Milliseconds per step.
    pub timings_ms: BTreeMap<String, u64>,
}

impl RestoreIntent {
    fn report(&self) -> RestoreReport {
        RestoreReport {
            restored: self.restored.clone(),
            database: self.database.clone(),
            replaced: self.replaced.as_ref().map(|m| m.id.clone()),
            timings_ms: self.timings_ms.clone(),
        }
    }
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Deleted backups.
    pub deleted: Vec<String>,
    /// Backups beyond the limit kept because a pending rollback needs them.
    pub kept_protected: Vec<String>,
}

/// Backups of one target through one transport.
pub struct Backups<'a> {
    transport: &'a dyn Transport,
    target: &'a BackupTarget,
    progress: &'a dyn BackupProgress,
    clock: fn() -> i64,
}

impl std::fmt::Debug for Backups<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups")
            .field("host", &self.transport.host())
            .field("target", self.target)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `<db>-<tag>-<stamp>`, the database part shortened (on a character boundary) so the
/// whole fits PostgreSQL's 63-byte limit.
/// The part of a snapshot's (or replaced copy's) id that tells its database: 8 hex
/// digits of a hash of the name, so two databases' copies taken in the same millisecond
/// never share an id (a collision of the hash as well is caught by the metadata file
/// being created only when absent).
pub fn database_tag(db: &str) -> String {
    // FNV-1a, 32 bits: stable across builds and hosts, unlike `DefaultHasher`.
    let hash = db.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// The database, snapshot or filestore name `<db>-<tag>-<stamp>`, `db` cut (on a
/// character boundary) so that it fits PostgreSQL's 63 bytes.
pub fn derived_name(db: &str, tag: &str, stamp: &str) -> String {
    let suffix = format!("-{tag}-{stamp}");
    let room = MAX_IDENTIFIER_BYTES.saturating_sub(suffix.len());
    let mut end = db.len().min(room);
    while !db.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &db[..end])
}

/// Refuses names that cannot be a database and a filestore directory at once.
pub fn check_db_name(name: &str) -> Result<(), BackupError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        "it is longer than 63 bytes, PostgreSQL's limit"
    } else if name.contains('/') {
        "it contains `/`, which cannot be in a filestore directory name"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name == "." || name == ".." {
        "it is a special directory name"
    } else {
        return Ok(());
    };
    Err(BackupError::BadName {
        name: name.to_owned(),
        reason,
    })
}

fn unexpected(what: &'static str) -> impl FnOnce(String) -> BackupError {
    move |reason| BackupError::UnexpectedOutput { what, reason }
}

impl<'a> Backups<'a> {
    /// Backups of `target`, run through `transport` (on the host with the database
    /// tools, the data directory and the backup directory).
    pub fn new(transport: &'a dyn Transport, target: &'a BackupTarget) -> Self {
        Self {
            transport,
            target,
            progress: &Silent,
            clock: now_ms,
        }
    }

    /// Reports progress to `progress`.
    #[must_use]
    pub fn with_progress(mut self, progress: &'a dyn BackupProgress) -> Self {
        self.progress = progress;
        self
    }

    fn conn(&self) -> &DbConn {
        &self.target.database
    }

    fn db(&self) -> &str {
        &self.target.database.name
    }

    fn started(&self, step: &'static str, detail: impl Into<String>) -> Instant {
        self.progress.event(BackupEvent::StepStarted {
            step,
            detail: detail.into(),
        });
        Instant::now()
    }

    fn finished(&self, step: &'static str, t: Instant, timings: &mut BTreeMap<String, u64>) {
        let elapsed = t.elapsed();
        timings.insert(step.to_owned(), ms(elapsed));
        self.progress
            .event(BackupEvent::StepFinished { step, elapsed });
    }

    async fn out(&self, cmd: &RemoteCommand) -> Result<Vec<u8>, BackupError> {
        Ok(self.transport.check_output(cmd).await?)
    }

    async fn db_exists(&self, db: &str) -> Result<bool, BackupError> {
        let out = self
            .out(&self.target.tools().database_exists(self.conn(), db))
            .await?;
        match String::from_utf8_lossy(&out).trim() {
            "t" => Ok(true),
            "f" => Ok(false),
            other => Err(BackupError::UnexpectedOutput {
                what: "the database existence check",
                reason: format!("{other:?}"),
            }),
        }
    }

    async fn require_db(&self, db: &str) -> Result<(), BackupError> {
        if self.db_exists(db).await? {
            Ok(())
        } else {
            Err(BackupError::NoDatabase {
                name: db.to_owned(),
            })
        }
    }

    async fn db_info(&self, db: &str) -> Result<DbInfo, BackupError> {
        let out = self
            .out(&self.target.tools().db_info(self.conn(), db))
            .await?;
        metadata::parse_db_info(&out).map_err(unexpected("the row count query"))
    }

    async fn db_size(&self, db: &str) -> Result<u64, BackupError> {
        let out = self
            .out(&self.target.tools().db_size(self.conn(), db))
            .await?;
        String::from_utf8_lossy(&out)
            .trim()
            .parse()
            .map_err(|_| BackupError::UnexpectedOutput {
                what: "the database size query",
                reason: format!("{:?}", String::from_utf8_lossy(&out)),
            })
    }

    /// File count and size of a directory tree; zero when it does not exist.
    async fn dir_stats(&self, dir: &Path) -> Result<FilestoreStats, BackupError> {
        if !self.transport.exists(dir).await? {
            return Ok(FilestoreStats::default());
        }
        let out = self.out(&commands::file_sizes(dir)).await?;
        metadata::parse_sizes(&out).map_err(unexpected("find"))
    }

    async fn require_free(&self, path: &Path, needed: u64) -> Result<(), BackupError> {
        let available = self.transport.free_disk(path).await?;
        if available < needed {
            return Err(BackupError::DiskShort {
                host: self.transport.host().to_owned(),
                path: path.to_owned(),
                needed,
                available,
            });
        }
        Ok(())
    }

    /// The server's data directory, when it can be read and is on this host.
    async fn cluster_dir(&self) -> Option<PathBuf> {
        let out = self
            .transport
            .check_output(&self.target.tools().data_directory(self.conn()))
            .await
            .ok()?;
        let text = String::from_utf8(out).ok()?;
        let dir = PathBuf::from(text.trim());
        if dir.as_os_str().is_empty() {
            return None;
        }
        match self.transport.exists(&dir).await {
            Ok(true) => Some(dir),
            _ => None,
        }
    }

    /// Refuses when the server's data directory (when readable) has less than `needed`.
    async fn require_cluster_free(&self, needed: u64) -> Result<(), BackupError> {
        if let Some(dir) = self.cluster_dir().await {
            self.require_free(&dir, needed).await?;
        }
        Ok(())
    }

    async fn remove_all(&self, path: &Path) {
        let _ = self
            .transport
            .check(&commands::remove_all(path), &Discard)
            .await;
    }

    async fn drop_db(&self, db: &str) -> Result<(), BackupError> {
        self.transport
            .check(
                &self.target.tools().drop_database(self.conn(), db),
                &Discard,
            )
            .await?;
        Ok(())
    }

    async fn write_json(&self, path: &Path, meta: &BackupMetadata) -> Result<(), BackupError> {
        let mut text = serde_json::to_vec_pretty(meta).map_err(|e| BackupError::BadMetadata {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        text.push(b'\n');
        self.transport.write_file(path, &text).await?;
        Ok(())
    }

    /// Writes `meta` to `path` only if no file is there: a temporary sibling, then a
    /// hard link to `path` (`ln` refuses an existing name, atomically), so a metadata
    /// file is never overwritten by another backup's.
    async fn write_json_new(&self, path: &Path, meta: &BackupMetadata) -> Result<(), BackupError> {
        let tmp = crate::transport::temp_sibling(path);
        self.write_json(&tmp, meta).await?;
        let linked = self
            .transport
            .check(&commands::link_new(&tmp, path), &Discard)
            .await;
        self.remove_all(&tmp).await;
        if linked.is_err() && self.transport.exists(path).await.unwrap_or(false) {
            return Err(BackupError::AlreadyExists {
                what: format!("backup metadata {}", path.display()),
            });
        }
        Ok(linked?)
    }

    async fn read_json(&self, path: &Path) -> Result<BackupMetadata, BackupError> {
        let bytes = self.transport.read_file(path).await?;
        let bad = |reason: String| BackupError::BadMetadata {
            path: path.to_owned(),
            reason,
        };
        let meta: BackupMetadata =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        self.check_names(&meta).map_err(bad)?;
        Ok(meta)
    }

    /// What a metadata file names is dropped, removed and swapped in: its id and
    /// database must match their patterns, and a snapshot's database and filestore
    /// must be the ones derived from them (the host's text is never taken whole).
    fn check_names(&self, meta: &BackupMetadata) -> Result<(), String> {
        let id = crate::untrusted::backup_id(&meta.id).map_err(|e| e.to_string())?;
        crate::untrusted::database(&meta.database).map_err(|e| e.to_string())?;
        if meta.snapshot_database.is_none() && meta.snapshot_filestore.is_none() {
            return Ok(());
        }
        let (tag, stamp) = match id.split_once('-') {
            Some(("snapshot", stamp)) => ("snap", stamp),
            Some(("replaced", stamp)) => ("replaced", stamp),
            _ => return Err(format!("backup {id} is not a snapshot but names one")),
        };
        let db = derived_name(&meta.database, tag, stamp);
        if meta.snapshot_database.as_deref() != Some(db.as_str())
            || meta.snapshot_filestore.as_deref() != Some(self.target.filestore(&db).as_path())
        {
            return Err(format!(
                "the snapshot database or filestore it names is not {db:?}, the one of backup {id}"
            ));
        }
        Ok(())
    }

    fn base_metadata(&self, id: &str, kind: BackupKind, now: i64, info: DbInfo) -> BackupMetadata {
        BackupMetadata {
            version: METADATA_VERSION,
            id: id.to_owned(),
            kind,
            origin: Origin::Taken,
            environment: self.target.environment.clone(),
            database: self.db().to_owned(),
            commit: self.target.commit.clone(),
            series: self.target.series.clone(),
            created_at_ms: now,
            module_versions: info.modules,
            row_counts: info.counts,
            database_size: info.size,
            filestore: FilestoreStats::default(),
            dump_format: None,
            toc_entries: None,
            files: BTreeMap::new(),
            snapshot_database: None,
            snapshot_filestore: None,
            timings_ms: BTreeMap::new(),
            verification: Verification {
                verified_at_ms: now,
                checks: Vec::new(),
                restore_tested: false,
            },
        }
    }

    // ------------------------------------------------------------------ snapshot

    /// Takes a snapshot: a template copy of the database (other sessions on it are
    /// ended first) and a hard-linked copy of its filestore, then checks that the copy
    /// has the same row count in every table and the same filestore files and size.
    ///
    /// # Errors
    /// Any failure; what was created is removed.
    pub async fn snapshot(&self) -> Result<BackupMetadata, BackupError> {
        let db = self.db();
        check_db_name(db)?;
        let now = (self.clock)();
        let stamp = format!("{}-{}", metadata::stamp(now), database_tag(db));
        let id = format!("snapshot-{stamp}");
        let snap_db = derived_name(db, "snap", &stamp);
        let snap_fs = self.target.filestore(&snap_db);
        let src_fs = self.target.filestore(db);
        let meta_path = self.target.snapshot_meta(&id);
        let mut timings = BTreeMap::new();

        let t = self.started("inspect", db);
        self.require_db(db).await?;
        let (info, fs) = tokio::join!(self.db_info(db), self.dir_stats(&src_fs));
        let (info, fs) = (info?, fs?);
        self.require_cluster_free(info.size).await?;
        if self.db_exists(&snap_db).await? || self.transport.exists(&snap_fs).await? {
            return Err(BackupError::AlreadyExists {
                what: format!("snapshot database or filestore {snap_db:?}"),
            });
        }
        if self.transport.exists(&meta_path).await? {
            return Err(BackupError::AlreadyExists {
                what: format!("snapshot {id}"),
            });
        }
        self.transport
            .mkdir_p(&self.target.backup_dir.join("snapshots"))
            .await?;
        self.finished("inspect", t, &mut timings);

        let mut meta = self.base_metadata(&id, BackupKind::Snapshot, now, info);
        meta.filestore = fs;
        meta.snapshot_database = Some(snap_db.clone());
        meta.snapshot_filestore = Some(snap_fs.clone());

        let result = async {
            let t = self.started("copy database", format!("{db} -> {snap_db}"));
            self.transport
                .check(
                    &self.target.tools().copy_database(self.conn(), db, &snap_db),
                    &Discard,
                )
                .await?;
            self.finished("copy database", t, &mut meta.timings_ms);

            let t = self.started("copy filestore", snap_fs.display().to_string());
            if self.transport.exists(&src_fs).await? {
                self.transport
                    .check(&commands::hardlink_copy(&src_fs, &snap_fs), &Discard)
                    .await?;
                // `cp -a` keeps the live folder's mode; the copy is odd's: private.
                self.transport
                    .check(&commands::make_private(&snap_fs), &Discard)
                    .await?;
            } else {
                self.transport.mkdir_p(&snap_fs).await?;
            }
            self.finished("copy filestore", t, &mut meta.timings_ms);

            let t = self.started("verify", snap_db.clone());
            let checks = self.check_snapshot(&meta).await?;
            self.finished("verify", t, &mut meta.timings_ms);
            meta.verification = Verification {
                verified_at_ms: (self.clock)(),
                checks,
                restore_tested: false,
            };
            meta.timings_ms.extend(timings);
            self.write_json_new(&meta_path, &meta).await
        }
        .await;
        if let Err(e) = result {
            // The metadata file is the last thing made: on any failure it is not this
            // run's (if it exists, another snapshot's, which must stay).
            let _ = self.drop_db(&snap_db).await;
            self.remove_all(&snap_fs).await;
            return Err(e);
        }
        Ok(meta)
    }

    /// Compares a snapshot's database and filestore with its metadata.
    async fn check_snapshot(&self, meta: &BackupMetadata) -> Result<Vec<String>, BackupError> {
        let (Some(snap_db), Some(snap_fs)) = (&meta.snapshot_database, &meta.snapshot_filestore)
        else {
            return Err(BackupError::Verification {
                id: meta.id.clone(),
                problems: vec!["the metadata names no snapshot database or filestore".into()],
            });
        };
        let mut problems = Vec::new();
        if !self.db_exists(snap_db).await? {
            problems.push(format!("database {snap_db:?} is gone"));
        }
        if !self.transport.exists(snap_fs).await? {
            problems.push(format!("filestore {} is gone", snap_fs.display()));
        }
        if !problems.is_empty() {
            return Err(BackupError::Verification {
                id: meta.id.clone(),
                problems,
            });
        }
        let (info, fs) = tokio::join!(self.db_info(snap_db), self.dir_stats(snap_fs));
        let (info, fs) = (info?, fs?);
        problems.extend(metadata::count_differences(&meta.row_counts, &info.counts));
        if fs != meta.filestore {
            problems.push(format!(
                "filestore copy has {} files / {} bytes, source had {} / {}",
                fs.files, fs.bytes, meta.filestore.files, meta.filestore.bytes
            ));
        }
        if !problems.is_empty() {
            return Err(BackupError::Verification {
                id: meta.id.clone(),
                problems,
            });
        }
        Ok(vec![
            format!(
                "row counts of all {} tables equal the source's",
                meta.row_counts.len()
            ),
            format!(
                "filestore copy has the source's {} files and {} bytes",
                fs.files, fs.bytes
            ),
        ])
    }

    // ------------------------------------------------------------------ dump

    /// Takes a dump: `pg_dump` and a tar of the filestore (concurrently), checked
    /// (exit status, table of contents with every table's data, archive file count and
    /// size equal to the source's, optional restore test), digested, then renamed from
    /// `<id>.partial` to `<id>`.
    ///
    /// # Errors
    /// Any failure; the partial directory (and scratch database) are removed.
    pub async fn dump(&self, opts: &DumpOptions) -> Result<BackupMetadata, BackupError> {
        let db = self.db();
        check_db_name(db)?;
        let now = (self.clock)();
        let stamp = metadata::stamp(now);
        let id = format!("dump-{stamp}");
        let partial = self.target.partial_dir(&id);
        let final_dir = self.target.dump_dir(&id);
        let src_fs = self.target.filestore(db);
        let mut timings = BTreeMap::new();

        let t = self.started("inspect", db);
        self.require_db(db).await?;
        let (size, fs) = tokio::join!(self.db_size(db), self.dir_stats(&src_fs));
        let (size, fs) = (size?, fs?);
        self.transport.mkdir_p(&self.target.backup_dir).await?;
        // The archive is exactly the filestore's size; a compressed dump is rarely under
        // a tenth of the database. A lower bound: what surely cannot fit is refused up
        // front, anything else is caught when a write fails (and cleaned up).
        self.require_free(&self.target.backup_dir, fs.bytes + size / 10)
            .await?;
        for dir in [&partial, &final_dir] {
            if self.transport.exists(dir).await? {
                return Err(BackupError::AlreadyExists {
                    what: format!("{}", dir.display()),
                });
            }
        }
        self.finished("inspect", t, &mut timings);

        // Row counts and module versions are read while the dump runs (Odoo is stopped:
        // nothing changes them), see `dump_into`.
        let info = DbInfo {
            size,
            ..DbInfo::default()
        };
        let mut meta = self.base_metadata(&id, BackupKind::Dump, now, info);
        meta.filestore = fs;
        meta.dump_format = Some(opts.format);
        meta.timings_ms = timings;

        let scratch = derived_name(db, "verify", &stamp);
        let result = self.dump_into(&partial, &mut meta, opts, &scratch).await;
        let result = match result {
            Ok(()) => self.finish_dump(&partial, &final_dir, &meta).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.remove_all(&partial).await;
            if opts.restore_test {
                let _ = self.drop_db(&scratch).await;
            }
            return Err(e);
        }
        Ok(meta)
    }

    async fn finish_dump(
        &self,
        partial: &Path,
        final_dir: &Path,
        meta: &BackupMetadata,
    ) -> Result<(), BackupError> {
        self.write_json(&partial.join("metadata.json"), meta)
            .await?;
        self.transport.rename(partial, final_dir).await?;
        Ok(())
    }

    async fn dump_into(
        &self,
        partial: &Path,
        meta: &mut BackupMetadata,
        opts: &DumpOptions,
        scratch: &str,
    ) -> Result<(), BackupError> {
        let db = self.db();
        let tools = self.target.tools();
        self.transport.mkdir_p(partial).await?;
        let dump_name = opts.format.file_name();
        let dump_path = partial.join(dump_name);
        let tar_path = partial.join("filestore.tar");
        let src_fs = self.target.filestore(db);

        let database = async {
            let mut timings = BTreeMap::new();
            let t = self.started("pg_dump", db);
            let cmd = tools.pg_dump(self.conn(), db, opts.format, &dump_path);
            match self.transport.check(&cmd, &Discard).await {
                Ok(()) => {}
                Err(TransportError::NonZeroExit {
                    code, stderr_tail, ..
                }) => {
                    return Err(BackupError::DumpFailed {
                        database: db.to_owned(),
                        reason: format!(
                            "{}: {stderr_tail}",
                            code.map_or("killed by a signal".to_owned(), |c| format!(
                                "exit code {c}"
                            ))
                        ),
                    });
                }
                Err(e) => return Err(e.into()),
            }
            self.finished("pg_dump", t, &mut timings);

            let t = self.started("check dump", dump_name);
            let toc = metadata::toc_entries(&self.out(&tools.pg_restore_list(&dump_path)).await?);
            let sums = self.out(&commands::digests(partial, dump_name)).await?;
            self.finished("check dump", t, &mut timings);
            Ok((toc, sums, timings))
        };

        let counts = async {
            let mut timings = BTreeMap::new();
            let t = self.started("count rows", db);
            let info = self.db_info(db).await?;
            self.finished("count rows", t, &mut timings);
            Ok::<_, BackupError>((info, timings))
        };

        let filestore = async {
            let mut timings = BTreeMap::new();
            let t = self.started("archive filestore", src_fs.display().to_string());
            let cmd = if self.transport.exists(&src_fs).await? {
                commands::tar_create(&src_fs, &tar_path)
            } else {
                commands::tar_create_empty(&tar_path)
            };
            self.transport.check(&cmd, &Discard).await?;
            self.finished("archive filestore", t, &mut timings);

            let t = self.started("check archive", "filestore.tar");
            let listing = self.out(&commands::tar_list(&tar_path)).await?;
            let stats = metadata::parse_tar_listing(&listing).map_err(unexpected("tar"))?;
            if stats != meta.filestore {
                return Err(BackupError::Verification {
                    id: meta.id.clone(),
                    problems: vec![format!(
                        "the filestore archive has {} files / {} bytes, the filestore {} / {}",
                        stats.files, stats.bytes, meta.filestore.files, meta.filestore.bytes
                    )],
                });
            }
            let sums = self
                .out(&commands::digests(partial, "filestore.tar"))
                .await?;
            self.finished("check archive", t, &mut timings);
            Ok::<_, BackupError>((sums, timings))
        };

        let (database, filestore, counts) = tokio::join!(database, filestore, counts);
        let (toc, dump_sums, t1) = database?;
        let (tar_sums, t2) = filestore?;
        let (info, t3) = counts?;
        meta.timings_ms.extend(t1);
        meta.timings_ms.extend(t2);
        meta.timings_ms.extend(t3);
        meta.row_counts = info.counts;
        meta.module_versions = info.modules;
        meta.database_size = info.size;
        let missing = metadata::tables_missing_from_toc(&toc, meta.row_counts.keys());
        if !missing.is_empty() {
            return Err(BackupError::Verification {
                id: meta.id.clone(),
                problems: vec![format!(
                    "the dump's table of contents has no data for {}",
                    missing.join(", ")
                )],
            });
        }
        let toc_entries = toc.len() as u64;
        meta.toc_entries = Some(toc_entries);

        let sizes = self.file_sizes_under(partial).await?;
        for out in [dump_sums, tar_sums] {
            for (path, sha256) in
                metadata::parse_sha256sum(&out).map_err(unexpected("sha256sum"))?
            {
                let size = sizes.get(&path).copied().unwrap_or(0);
                meta.files.insert(path, FileDigest { size, sha256 });
            }
        }

        let mut checks = vec![
            "pg_dump exited successfully".to_owned(),
            format!(
                "pg_restore --list reads {toc_entries} entries, with data for all {} tables",
                meta.row_counts.len()
            ),
            format!(
                "the filestore archive holds the source's {} files and {} bytes",
                meta.filestore.files, meta.filestore.bytes
            ),
            format!("SHA-256 recorded for {} files", meta.files.len()),
        ];
        if opts.restore_test {
            let t = self.started("restore test", scratch.to_owned());
            let tested = self
                .restore_db_and_count(scratch, &dump_path, &meta.row_counts, &meta.id)
                .await;
            let dropped = self.drop_db(scratch).await;
            tested?;
            dropped?;
            self.finished("restore test", t, &mut meta.timings_ms);
            checks.push(format!(
                "restored into a scratch database: row counts of all {} tables equal",
                meta.row_counts.len()
            ));
            meta.verification.restore_tested = true;
        }
        meta.verification.checks = checks;
        meta.verification.verified_at_ms = (self.clock)();
        Ok(())
    }

    /// `relative path → size` of every file under `dir`.
    async fn file_sizes_under(&self, dir: &Path) -> Result<BTreeMap<String, u64>, BackupError> {
        let cmd = RemoteCommand::new("find")
            .current_dir(dir)
            .args([".", "-type", "f", "-printf", "%s %P\\n"]);
        let out = self.out(&cmd).await?;
        let mut map = BTreeMap::new();
        for line in String::from_utf8_lossy(&out).lines() {
            if let Some((size, path)) = line.split_once(' ')
                && let Ok(size) = size.parse()
            {
                map.insert(path.to_owned(), size);
            }
        }
        Ok(map)
    }

    /// Creates `db` empty, restores `dump` into it and compares row counts.
    async fn restore_db_and_count(
        &self,
        db: &str,
        dump: &Path,
        expected: &BTreeMap<String, i64>,
        id: &str,
    ) -> Result<(), BackupError> {
        let tools = self.target.tools();
        self.transport
            .check(&tools.create_empty_database(self.conn(), db), &Discard)
            .await?;
        self.transport
            .check(&tools.pg_restore(self.conn(), db, dump), &Discard)
            .await?;
        let info = self.db_info(db).await?;
        let problems = metadata::count_differences(expected, &info.counts);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackupError::Verification {
                id: id.to_owned(),
                problems,
            })
        }
    }

    // ------------------------------------------------------------------ verify

    /// Finds backup `id` of this environment.
    ///
    /// # Errors
    /// [`BackupError::NotFound`], or an unreadable metadata file.
    pub async fn get(&self, id: &str) -> Result<BackupMetadata, BackupError> {
        let not_found = || BackupError::NotFound {
            id: id.to_owned(),
            environment: self.target.environment.clone(),
        };
        if crate::untrusted::backup_id(id).is_err() {
            return Err(not_found());
        }
        for path in [
            self.target.dump_dir(id).join("metadata.json"),
            self.target.snapshot_meta(id),
        ] {
            if self.transport.exists(&path).await? {
                let meta = self.read_json(&path).await?;
                if meta.environment != self.target.environment || meta.id != id {
                    return Err(not_found());
                }
                return Ok(meta);
            }
        }
        Err(not_found())
    }

    /// Finds backup `id` and refuses it unless it is of this database: what restores
    /// use, so that one database of a fleet never gets another's copy.
    ///
    /// # Errors
    /// As [`Backups::get`], or [`BackupError::OtherDatabase`].
    pub async fn get_own(&self, id: &str) -> Result<BackupMetadata, BackupError> {
        let meta = self.get(id).await?;
        self.require_own(&meta)?;
        Ok(meta)
    }

    fn require_own(&self, meta: &BackupMetadata) -> Result<(), BackupError> {
        if meta.database == self.db() {
            Ok(())
        } else {
            Err(BackupError::OtherDatabase {
                id: meta.id.clone(),
                of: meta.database.clone(),
                into: self.db().to_owned(),
            })
        }
    }

    /// Checks backup `id` again: for a dump, every file's SHA-256 and size, the table of
    /// contents and the archive's file count and size; for a snapshot, the row counts and
    /// filestore of the copy. Returns the checks passed.
    ///
    /// # Errors
    /// [`BackupError::Verification`] listing every problem found.
    pub async fn verify(&self, id: &str) -> Result<Vec<String>, BackupError> {
        let meta = self.get(id).await?;
        match meta.kind {
            BackupKind::Snapshot => self.check_snapshot(&meta).await,
            BackupKind::Dump => self.check_dump(&meta).await,
        }
    }

    async fn check_dump(&self, meta: &BackupMetadata) -> Result<Vec<String>, BackupError> {
        let dir = self.target.dump_dir(&meta.id);
        let fail = |problems| BackupError::Verification {
            id: meta.id.clone(),
            problems,
        };
        let mut problems = Vec::new();
        let out = self.transport.output(&commands::digests(&dir, ".")).await?;
        let actual = metadata::parse_sha256sum(&out.stdout).map_err(unexpected("sha256sum"))?;
        if !out.status.success() {
            problems.push(format!(
                "could not read every file: {}",
                crate::transport::tail_of(&out.stderr)
            ));
        }
        let sizes = self.file_sizes_under(&dir).await?;
        for (path, want) in &meta.files {
            match actual.get(path) {
                None => problems.push(format!("{path} is missing")),
                Some(got) if *got != want.sha256 => {
                    problems.push(format!("{path} has changed (SHA-256 differs)"));
                }
                Some(_) => {}
            }
            if let Some(size) = sizes.get(path)
                && *size != want.size
            {
                problems.push(format!("{path} is {size} bytes, recorded {}", want.size));
            }
        }
        for path in actual.keys() {
            if !meta.files.contains_key(path) {
                problems.push(format!("{path} was not part of the backup"));
            }
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        let format = meta.dump_format.unwrap_or(DumpFormat::Custom);
        let tools = self.target.tools();
        let toc = metadata::toc_entries(
            &self
                .out(&tools.pg_restore_list(&dir.join(format.file_name())))
                .await?,
        );
        if Some(toc.len() as u64) != meta.toc_entries {
            problems.push(format!(
                "pg_restore --list reads {} entries, recorded {:?}",
                toc.len(),
                meta.toc_entries
            ));
        }
        let listing = self
            .out(&commands::tar_list(&dir.join("filestore.tar")))
            .await?;
        let stats = metadata::parse_tar_listing(&listing).map_err(unexpected("tar"))?;
        if stats != meta.filestore {
            problems.push(format!(
                "the filestore archive has {} files / {} bytes, recorded {} / {}",
                stats.files, stats.bytes, meta.filestore.files, meta.filestore.bytes
            ));
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(vec![
            format!("SHA-256 of all {} files match", meta.files.len()),
            format!("pg_restore --list reads the recorded {} entries", toc.len()),
            format!(
                "the filestore archive holds the recorded {} files and {} bytes",
                stats.files, stats.bytes
            ),
        ])
    }

    // ------------------------------------------------------------------ restore

    /// Restores backup `id` without destroying anything: a dump is verified, restored
    /// into a new database and filestore and checked against the recorded row counts
    /// and filestore size; a snapshot is checked. Then the current database and
    /// filestore are renamed aside (`<db>-replaced-<time>`, recorded as a snapshot of
    /// origin `replaced`, kept until pruned) and the restored pair renamed into place.
    /// The caller stops Odoo first.
    ///
    /// # Errors
    /// Any failure; before the swap nothing current was touched and what was created is
    /// removed.
    pub async fn restore(&self, id: &str) -> Result<RestoreReport, BackupError> {
        check_db_name(self.db())?;
        match self.restore_intent(id).await? {
            // An earlier run died half-way through this restore: finish it.
            Some(intent) if !intent.done => {
                if intent.database != self.db() {
                    return Err(BackupError::OtherDatabase {
                        id: id.to_owned(),
                        of: intent.database,
                        into: self.db().to_owned(),
                    });
                }
                return self.complete_restore(intent, false).await;
            }
            // A snapshot is consumed by its restore; a dump can be restored again.
            Some(intent) if intent.kind == BackupKind::Snapshot => {
                return Err(BackupError::AlreadyRestored {
                    id: id.to_owned(),
                    at: crate::clock::human(intent.backup_created_at_ms / 1000),
                    replaced: intent.replaced.map(|m| m.id),
                });
            }
            _ => {}
        }
        // Another restore cut half-way leaves the live pair mismatched: that one first.
        if let Some(other) = self.pending_restores().await?.into_iter().next() {
            return Err(BackupError::Incomplete {
                id: other.restored,
                reason: format!("it must be finished before {id} is restored"),
            });
        }
        let meta = self.get(id).await?;
        self.require_own(&meta)?;
        let mut timings = BTreeMap::new();
        // The backup is checked while the current database is counted (for the record
        // of the copy put aside): both only read.
        let t = self.started("verify", id);
        let check = async {
            match meta.kind {
                BackupKind::Snapshot => self.check_snapshot(&meta).await,
                BackupKind::Dump => self.check_dump(&meta).await,
            }
        };
        let (checked, current) = tokio::join!(check, self.inspect_current());
        checked?;
        let current = current?;
        self.finished("verify", t, &mut timings);
        match meta.kind {
            BackupKind::Snapshot => self.restore_snapshot(&meta, current, timings).await,
            BackupKind::Dump => self.restore_dump(&meta, current, timings).await,
        }
    }

    /// Row counts and filestore of the live database, when it exists.
    async fn inspect_current(&self) -> Result<Option<(DbInfo, FilestoreStats)>, BackupError> {
        let db = self.db();
        if !self.db_exists(db).await? {
            return Ok(None);
        }
        let fs_dir = self.target.filestore(db);
        let (info, fs) = tokio::join!(self.db_info(db), self.dir_stats(&fs_dir));
        Ok(Some((info?, fs?)))
    }

    async fn restore_snapshot(
        &self,
        meta: &BackupMetadata,
        current: Option<(DbInfo, FilestoreStats)>,
        timings: BTreeMap<String, u64>,
    ) -> Result<RestoreReport, BackupError> {
        let (Some(snap_db), Some(snap_fs)) = (&meta.snapshot_database, &meta.snapshot_filestore)
        else {
            return Err(BackupError::Verification {
                id: meta.id.clone(),
                problems: vec!["the metadata names no snapshot database or filestore".into()],
            });
        };
        let report = self
            .swap_in(meta, snap_db, snap_fs, current, timings)
            .await?;
        Ok(report)
    }

    async fn restore_dump(
        &self,
        meta: &BackupMetadata,
        current: Option<(DbInfo, FilestoreStats)>,
        mut timings: BTreeMap<String, u64>,
    ) -> Result<RestoreReport, BackupError> {
        let db = self.db();
        let stamp = metadata::stamp((self.clock)());
        let new_db = derived_name(db, "restoring", &stamp);
        let new_fs = self.target.filestore(&new_db);
        let dir = self.target.dump_dir(&meta.id);

        let t = self.started("check space", db);
        let fs_parent = self.target.data_dir.join("filestore");
        self.transport.mkdir_p(&fs_parent).await?;
        self.require_free(&fs_parent, meta.filestore.bytes).await?;
        self.require_cluster_free(meta.database_size).await?;
        if self.db_exists(&new_db).await? || self.transport.exists(&new_fs).await? {
            return Err(BackupError::AlreadyExists {
                what: format!("database or filestore {new_db:?}"),
            });
        }
        self.finished("check space", t, &mut timings);

        let prepared = async {
            let t = self.started("restore database", new_db.clone());
            let dump = dir.join(meta.dump_format.unwrap_or(DumpFormat::Custom).file_name());
            self.restore_db_and_count(&new_db, &dump, &meta.row_counts, &meta.id)
                .await?;
            self.finished("restore database", t, &mut timings);

            let t = self.started("restore filestore", new_fs.display().to_string());
            self.transport.mkdir_p(&new_fs).await?;
            self.transport
                .check(
                    &commands::tar_extract(&dir.join("filestore.tar"), &new_fs),
                    &Discard,
                )
                .await?;
            let stats = self.dir_stats(&new_fs).await?;
            if stats != meta.filestore {
                return Err(BackupError::Verification {
                    id: meta.id.clone(),
                    problems: vec![format!(
                        "the restored filestore has {} files / {} bytes, recorded {} / {}",
                        stats.files, stats.bytes, meta.filestore.files, meta.filestore.bytes
                    )],
                });
            }
            self.finished("restore filestore", t, &mut timings);
            Ok(())
        }
        .await;
        let swapped = match prepared {
            Ok(()) => self.swap_in(meta, &new_db, &new_fs, current, timings).await,
            Err(e) => Err(e),
        };
        // What was restored goes only when the swap provably did not happen (its intent
        // was dropped); otherwise the next restore of this dump finishes with it.
        if swapped.is_err() && matches!(self.restore_intent(&meta.id).await, Ok(None)) {
            let _ = self.drop_db(&new_db).await;
            self.remove_all(&new_fs).await;
        }
        swapped
    }

    /// Renames the current database and filestore aside and `new_db`/`new_fs` into
    /// their place; records what was put aside.
    ///
    /// What it is about to do is written first ([`RestoreIntent`]), so that a run that
    /// dies half-way (odd killed between the database rename and the filestore's) is
    /// finished by the next restore of the same backup instead of leaving a database
    /// restored with the wrong filestore.
    async fn swap_in(
        &self,
        restored: &BackupMetadata,
        new_db: &str,
        new_fs: &Path,
        current: Option<(DbInfo, FilestoreStats)>,
        timings: BTreeMap<String, u64>,
    ) -> Result<RestoreReport, BackupError> {
        let db = self.db();
        let now = (self.clock)();
        let stamp = format!("{}-{}", metadata::stamp(now), database_tag(db));
        let aside_db = derived_name(db, "replaced", &stamp);
        let current_fs = self.target.filestore(db);
        let aside_fs = self.target.filestore(&aside_db);
        // Odoo is stopped: nothing creates the filestore meanwhile.
        let had_fs = self.transport.exists(&current_fs).await?;
        let replaced = current.map(|(info, fs)| {
            let id = format!("replaced-{stamp}");
            let mut meta = self.base_metadata(&id, BackupKind::Snapshot, now, info);
            meta.origin = Origin::Replaced {
                by_restore_of: restored.id.clone(),
            };
            meta.filestore = if had_fs {
                fs
            } else {
                FilestoreStats::default()
            };
            meta.snapshot_database = Some(aside_db.clone());
            meta.snapshot_filestore = Some(aside_fs.clone());
            meta.verification.checks = vec![format!(
                "the live database at the time of the restore of {}, counted before it was put aside",
                restored.id
            )];
            meta.timings_ms = timings.clone();
            meta
        });
        let intent = RestoreIntent {
            restored: restored.id.clone(),
            kind: restored.kind,
            backup_created_at_ms: restored.created_at_ms,
            database: db.to_owned(),
            new_db: new_db.to_owned(),
            new_fs: new_fs.to_owned(),
            aside_db,
            aside_fs,
            current_fs,
            had_fs,
            replaced,
            done: false,
            timings_ms: timings,
        };
        for dir in ["snapshots", "restores"] {
            self.transport
                .mkdir_p(&self.target.backup_dir.join(dir))
                .await?;
        }
        self.write_intent(&intent).await?;
        self.complete_restore(intent, true).await
    }

    /// Carries a restore from its intent to the end; each part is skipped when done.
    /// `fresh`: this run wrote the intent, so a failure undoes what it did and drops it.
    async fn complete_restore(
        &self,
        mut intent: RestoreIntent,
        fresh: bool,
    ) -> Result<RestoreReport, BackupError> {
        let tools = self.target.tools();
        let t = self.started("swap", format!("{} -> {}", intent.new_db, intent.database));
        let incomplete = |reason: String| BackupError::Incomplete {
            id: intent.restored.clone(),
            reason,
        };
        // The databases: one transaction renames both, so `new_db` still there means
        // not done.
        if self.db_exists(&intent.new_db).await? {
            let swap = tools.swap_databases(
                self.conn(),
                &intent.database,
                &intent.new_db,
                &intent.aside_db,
            );
            if let Err(e) = self.run_swap(&swap).await {
                // The answer can be lost after the transaction committed: only a swap
                // that provably did not happen drops the intent.
                match self.db_exists(&intent.new_db).await {
                    Ok(true) => {
                        self.drop_intent(fresh, &intent.restored).await;
                        return Err(e);
                    }
                    Ok(false) => {}
                    Err(_) => return Err(incomplete(format!("renaming the databases: {e}"))),
                }
            }
        } else if !self.db_exists(&intent.database).await? {
            return Err(incomplete(format!(
                "neither {:?} nor {:?} exists",
                intent.new_db, intent.database
            )));
        }
        crate::hook::pause("restore swapped databases").await;
        let fs_moved = async {
            if !self.transport.exists(&intent.new_fs).await? {
                return Ok(());
            }
            let move_current = intent.had_fs
                && self.transport.exists(&intent.current_fs).await?
                && !self.transport.exists(&intent.aside_fs).await?;
            if move_current {
                self.transport
                    .rename(&intent.current_fs, &intent.aside_fs)
                    .await?;
            }
            self.transport
                .rename(&intent.new_fs, &intent.current_fs)
                .await
        }
        .await;
        if let Err(e) = fs_moved {
            // The database is restored, the filestore not yet: the intent stays, and the
            // next restore of this backup finishes the renames.
            return Err(incomplete(format!("moving the filestores: {e}")));
        }
        self.finished("swap", t, &mut intent.timings_ms);

        if let Some(meta) = &intent.replaced {
            if !intent.had_fs {
                self.transport.mkdir_p(&intent.aside_fs).await?;
            }
            self.write_json(&self.target.snapshot_meta(&meta.id), meta)
                .await?;
        }
        if intent.kind == BackupKind::Snapshot {
            // The snapshot is now the live database: its record goes; the intent, done,
            // stays as the proof it was restored.
            self.remove_all(&self.target.snapshot_meta(&intent.restored))
                .await;
        }
        intent.done = true;
        self.write_intent(&intent).await?;
        Ok(intent.report())
    }

    /// Restores an earlier run began and did not finish (none when all are done).
    ///
    /// # Errors
    /// A transport failure or an unreadable intent file.
    pub async fn pending_restores(&self) -> Result<Vec<RestoreIntent>, BackupError> {
        let mut all = self.restore_intents().await?;
        all.retain(|i| !i.done);
        Ok(all)
    }

    /// Every restore intent on the host, done or not.
    async fn restore_intents(&self) -> Result<Vec<RestoreIntent>, BackupError> {
        let dir = self.target.backup_dir.join("restores");
        if !self.transport.exists(&dir).await? {
            return Ok(Vec::new());
        }
        let out = self.out(&commands::list_json(&dir)).await?;
        let mut intents = Vec::new();
        for name in out.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let name = String::from_utf8_lossy(name);
            let Some(id) = name.trim_start_matches("./").strip_suffix(".json") else {
                continue;
            };
            // One environment's Odoo may serve several databases (a fleet, sharing the
            // backup folder): another database's restores are not this one's.
            if let Some(intent) = self.read_intent(id, false).await? {
                intents.push(intent);
            }
        }
        Ok(intents)
    }

    /// Renames databases, retrying while a session that was just ended lingers.
    async fn run_swap(&self, swap: &RemoteCommand) -> Result<(), BackupError> {
        let mut attempt = 0;
        loop {
            match self.transport.check_output(swap).await {
                Ok(_) => return Ok(()),
                Err(TransportError::NonZeroExit { stderr_tail, .. })
                    if attempt < 20 && stderr_tail.contains("being accessed by other users") =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Removes the intent this run wrote (`fresh`) after a failure that undid its work.
    async fn drop_intent(&self, fresh: bool, id: &str) {
        if fresh {
            self.remove_all(&self.target.restore_intent(id)).await;
        }
    }

    async fn write_intent(&self, intent: &RestoreIntent) -> Result<(), BackupError> {
        let path = self.target.restore_intent(&intent.restored);
        let mut text = serde_json::to_vec_pretty(intent).map_err(|e| BackupError::BadMetadata {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        text.push(b'\n');
        self.transport.write_file(&path, &text).await?;
        Ok(())
    }

    /// The restore of backup `id` begun (and maybe finished) by an earlier run, if any.
    ///
    /// # Errors
    /// A transport failure or an unreadable intent file.
    pub async fn restore_intent(&self, id: &str) -> Result<Option<RestoreIntent>, BackupError> {
        self.read_intent(id, true).await
    }

    /// [`Backups::restore_intent`]; unless `of_any_database`, one that restores another
    /// database than this target's is none of its business (`None`).
    async fn read_intent(
        &self,
        id: &str,
        of_any_database: bool,
    ) -> Result<Option<RestoreIntent>, BackupError> {
        if crate::untrusted::backup_id(id).is_err() {
            return Ok(None);
        }
        let path = self.target.restore_intent(id);
        if !self.transport.exists(&path).await? {
            return Ok(None);
        }
        let bytes = self.transport.read_file(&path).await?;
        let bad = |reason: String| BackupError::BadMetadata {
            path: path.clone(),
            reason,
        };
        let intent: RestoreIntent =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if !of_any_database && intent.database != self.db() {
            return Ok(None);
        }
        self.check_intent(id, &intent).map_err(bad)?;
        Ok(Some(intent))
    }

    /// An intent's databases are renamed and its folders moved when a restore is
    /// finished: each must be what odd derives (the live database, valid names, the
    /// filestore folders of those names), never a path taken whole from the host.
    fn check_intent(&self, id: &str, intent: &RestoreIntent) -> Result<(), String> {
        if intent.restored != id {
            return Err(format!(
                "it is named for {id} but restores {}",
                intent.restored
            ));
        }
        if intent.database != self.db() {
            return Err(format!(
                "it restores into {:?}, not the live database",
                intent.database
            ));
        }
        for name in [&intent.new_db, &intent.aside_db] {
            crate::untrusted::database(name).map_err(|e| e.to_string())?;
            if name == self.db() {
                return Err(format!("it renames the live database {name:?} onto itself"));
            }
        }
        let fs = |db: &str| self.target.filestore(db);
        if intent.new_fs != fs(&intent.new_db)
            || intent.aside_fs != fs(&intent.aside_db)
            || intent.current_fs != fs(self.db())
        {
            return Err("its filestore folders are not those of its databases".to_owned());
        }
        if let Some(replaced) = &intent.replaced {
            self.check_names(replaced)?;
        }
        Ok(())
    }

    /// Restores backup `id` as part of a rollback, which may be run again after a run
    /// that died: a restore of `id` an earlier run began is finished, and one it finished
    /// (a snapshot is consumed by its restore) counts as done.
    ///
    /// # Errors
    /// As [`Backups::restore`].
    pub async fn restore_once(&self, id: &str) -> Result<RestoreReport, BackupError> {
        match self.restore(id).await {
            Err(BackupError::AlreadyRestored { .. }) => match self.restore_intent(id).await? {
                Some(intent) => Ok(intent.report()),
                None => Err(BackupError::NotFound {
                    id: id.to_owned(),
                    environment: self.target.environment.clone(),
                }),
            },
            other => other,
        }
    }

    // ------------------------------------------------------------------ list, prune

    /// Every backup of this environment, oldest first.
    ///
    /// # Errors
    /// A transport failure (unreadable metadata files are listed, not errors).
    pub async fn list(&self) -> Result<BackupList, BackupError> {
        let dir = &self.target.backup_dir;
        let mut list = BackupList::default();
        if !self.transport.exists(dir).await? {
            return Ok(list);
        }
        let out = self.out(&commands::find_metadata(dir)).await?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for raw in out.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            let rel = String::from_utf8_lossy(raw);
            let rel = rel.strip_prefix("./").unwrap_or(&rel);
            let Some((parent, file)) = rel.split_once('/') else {
                continue;
            };
            let wanted = if parent == "snapshots" {
                true
            } else {
                file == "metadata.json" && !parent.ends_with(".partial")
            };
            if wanted {
                paths.push(dir.join(rel));
            }
        }
        for path in paths {
            match self.read_json(&path).await {
                // The file must be the one its id names.
                Ok(meta)
                    if path != self.target.dump_dir(&meta.id).join("metadata.json")
                        && path != self.target.snapshot_meta(&meta.id) =>
                {
                    list.unreadable.push((
                        path,
                        format!("it is not where backup {} keeps its metadata", meta.id),
                    ));
                }
                Ok(meta) if meta.environment == self.target.environment => {
                    list.backups.push(meta);
                }
                Ok(_) => {}
                Err(BackupError::BadMetadata { path, reason }) => {
                    list.unreadable.push((path, reason));
                }
                Err(e) => return Err(e),
            }
        }
        list.backups
            .sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(list)
    }

    /// Deletes the oldest backups beyond the policy's counts, per kind, except those in
    /// `protected` (e.g. what a pending rollback needs).
    ///
    /// # Errors
    /// A transport failure; what was deleted before it is reported in the logs only.
    pub async fn prune(
        &self,
        policy: RetentionPolicy,
        protected: &BTreeSet<String>,
    ) -> Result<PruneReport, BackupError> {
        let list = self.list().await?;
        let mut report = PruneReport::default();
        for (kind, keep) in [
            (BackupKind::Snapshot, policy.keep_snapshots),
            (BackupKind::Dump, policy.keep_dumps),
        ] {
            let of_kind: Vec<&BackupMetadata> =
                list.backups.iter().filter(|m| m.kind == kind).collect();
            let keep = usize::try_from(keep).unwrap_or(usize::MAX);
            let excess = of_kind.len().saturating_sub(keep);
            for meta in &of_kind[..excess] {
                if protected.contains(&meta.id) {
                    report.kept_protected.push(meta.id.clone());
                    continue;
                }
                let t = self.started("prune", meta.id.clone());
                self.delete(meta).await?;
                let mut timings = BTreeMap::new();
                self.finished("prune", t, &mut timings);
                report.deleted.push(meta.id.clone());
            }
        }
        // Finished restores' intents are only needed while a recovery of them may run
        // again, which the environment's lock excludes now; an unfinished one stays.
        for intent in self.restore_intents().await? {
            if intent.done && !protected.contains(&intent.restored) {
                self.transport
                    .check_output(&commands::remove_all(
                        &self.target.restore_intent(&intent.restored),
                    ))
                    .await?;
            }
        }
        Ok(report)
    }

    async fn delete(&self, meta: &BackupMetadata) -> Result<(), BackupError> {
        match meta.kind {
            BackupKind::Dump => {
                self.transport
                    .check(
                        &commands::remove_all(&self.target.dump_dir(&meta.id)),
                        &Discard,
                    )
                    .await?;
            }
            BackupKind::Snapshot => {
                if let Some(db) = &meta.snapshot_database {
                    if db == self.db() {
                        return Err(BackupError::BadName {
                            name: db.clone(),
                            reason: "it is the live database; refusing to drop it",
                        });
                    }
                    self.drop_db(db).await?;
                }
                if let Some(fs) = &meta.snapshot_filestore {
                    if *fs == self.target.filestore(self.db()) {
                        return Err(BackupError::BadName {
                            name: fs.display().to_string(),
                            reason: "it is the live filestore; refusing to delete it",
                        });
                    }
                    self.transport
                        .check(&commands::remove_all(fs), &Discard)
                        .await?;
                }
                self.transport
                    .check(
                        &commands::remove_all(&self.target.snapshot_meta(&meta.id)),
                        &Discard,
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_fit_postgres_limit() {
        assert_eq!(
            derived_name("prod", "snap", "20261122-041747-123"),
            "prod-snap-20261122-041747-123"
        );
        let long = "é".repeat(40);
        let n = derived_name(&long, "replaced", "20261122-041747-123");
        assert!(n.len() <= MAX_IDENTIFIER_BYTES, "{n}");
        assert!(n.ends_with("-replaced-20261122-041747-123"));
    }

    #[test]
    fn snapshot_ids_tell_their_database() {
        let (a, b) = (database_tag("cust_a"), database_tag("cust_b"));
        assert_ne!(a, b);
        assert_eq!(a, database_tag("cust_a"), "stable");
        // FNV-1a of the empty string is its offset basis.
        assert_eq!(database_tag(""), "811c9dc5");
        for db in ["cust_a", "odd \"; DROP DATABASE x; --'", "é"] {
            let id = format!("snapshot-20261122-041747-123-{}", database_tag(db));
            assert!(crate::untrusted::backup_id(&id).is_ok(), "{id}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a/b", ".", "..", &"x".repeat(64)] {
            assert!(
                matches!(check_db_name(bad), Err(BackupError::BadName { .. })),
                "{bad}"
            );
        }
        assert!(check_db_name("odd \"; DROP DATABASE x; --'").is_ok());
    }
}
