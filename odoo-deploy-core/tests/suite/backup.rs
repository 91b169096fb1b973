//! Backups against a real PostgreSQL cluster, through the local transport: round trips
//! of both kinds with a hostile database name, corruption caught, failures leaving
//! nothing behind, retention and listing.
#![allow(clippy::disallowed_methods)] // the test drives psql, mount and the cluster directly

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use odoo_deploy_core::backup::{
    BackupError, BackupEvent, BackupKind, BackupTarget, Backups, DumpFormat, DumpOptions, Origin,
    RestoreIntent, RetentionPolicy, derived_name,
};
use odoo_deploy_core::command::Secret;
use odoo_deploy_core::transport::LocalTransport;
use odoo_deploy_fixtures::process::Tmpfs;
use sha2::{Digest, Sha256};

use pg::Cluster;

/// A database name that breaks naive quoting in SQL, shell and libpq connection strings.
const HOSTILE: &str = "odd \"x\"; DROP DATABASE postgres; -- it's a=b";

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh database (populated like an Odoo one) with a filestore, and a target for it.
struct Fixture {
    cluster: &'static Cluster,
    transport: LocalTransport,
    target: BackupTarget,
    _dirs: tempfile::TempDir,
}

impl Fixture {
    fn new(base: &str) -> Self {
        let cluster = Cluster::shared();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("{base} {n}");
        let dirs = tempfile::Builder::new()
            .prefix("odd-backup-")
            .tempdir()
            .expect("tempdir");
        let target = BackupTarget {
            environment: "prod".into(),
            database: cluster.conn(&name),
            data_dir: dirs.path().join("data"),
            backup_dir: dirs.path().join("backups"),
            pg_bin_dir: Some(cluster.bin_dir()),
            commit: Some("0123abc".into()),
            series: Some("17.0".into()),
        };
        let f = Self {
            cluster,
            transport: LocalTransport::new(),
            target,
            _dirs: dirs,
        };
        f.populate(2_000, 60);
        f
    }

    fn db(&self) -> &str {
        &self.target.database.name
    }

    /// This fixture's database and the ones odd made from it (`DB-…`): the cluster is
    /// shared with the tests running beside this one.
    fn own_databases(&self) -> Vec<String> {
        let db = self.db();
        self.cluster
            .databases()
            .into_iter()
            .filter(|d| d == db || d.starts_with(&format!("{db}-")))
            .collect()
    }

    fn filestore(&self) -> PathBuf {
        self.target.filestore(self.db())
    }

    fn populate(&self, partners: u32, files: u32) {
        self.cluster.create_database(self.db());
        self.cluster.psql(
            self.db(),
            &format!(
                "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE,
                   state varchar NOT NULL, latest_version varchar);
                 INSERT INTO ir_module_module (name, state, latest_version) VALUES
                   ('base', 'installed', '17.0.1.3'), ('web', 'installed', '17.0.1.0'),
                   ('sale', 'installed', '17.0.1.2'), ('crm', 'uninstalled', NULL);
                 CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar UNIQUE, value text);
                 INSERT INTO ir_config_parameter (key, value) VALUES
                   ('database.uuid', gen_random_uuid()::text), ('web.base.url', 'http://localhost:8069');
                 CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, store_fname varchar,
                   checksum varchar, file_size int);
                 CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, note text);
                 INSERT INTO res_partner (name, email, note)
                   SELECT 'Partner ' || i, 'p' || i || '@example.com', md5(i::text)
                     FROM generate_series(1, {partners}) i;"
            ),
        );
        let fs = self.filestore();
        let mut rows = Vec::new();
        for i in 0..files {
            let content: Vec<u8> = (0..(i * 37 % 4000 + 1))
                .map(|j| u8::try_from((i * 31 + j * 7) % 251).expect("byte"))
                .collect();
            let digest = hex::encode(Sha256::digest(&content));
            let rel = format!("{}/{}", &digest[..2], &digest[..40]);
            let path = fs.join(&rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &content).expect("write file");
            rows.push(format!(
                "('file {i}', '{rel}', '{}', {})",
                &digest[..40],
                content.len()
            ));
        }
        self.cluster.psql(
            self.db(),
            &format!(
                "INSERT INTO ir_attachment (name, store_fname, checksum, file_size) VALUES {}",
                rows.join(", ")
            ),
        );
    }

    /// Changes the data and the filestore (what a failed update might do).
    fn mess_up(&self) {
        self.cluster.psql(
            self.db(),
            "UPDATE res_partner SET name = 'changed' WHERE id % 3 = 0;
             DELETE FROM ir_module_module WHERE name = 'sale';
             INSERT INTO ir_config_parameter (key, value) VALUES ('new.key', 'x');
             CREATE TABLE x_new (id int);",
        );
        let fs = self.filestore();
        let first = walk(&fs).into_iter().next().expect("a file");
        std::fs::remove_file(fs.join(first)).expect("remove a file");
        std::fs::write(fs.join("zz-new-file"), b"new").expect("add a file");
    }

    fn data_digest(&self) -> String {
        self.cluster.data_digest(self.db())
    }

    fn backups(&self) -> Backups<'_> {
        Backups::new(&self.transport, &self.target)
    }
}

/// Relative paths of all files under `dir`, sorted.
fn walk(dir: &Path) -> Vec<String> {
    fn go(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.expect("dir entry");
            let p = e.path();
            if e.file_type().expect("file type").is_dir() {
                go(base, &p, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .expect("under base")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

/// SHA-256 over every file's relative path and content.
fn filestore_digest(dir: &Path) -> String {
    let mut h = Sha256::new();
    for rel in walk(dir) {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(std::fs::read(dir.join(&rel)).expect("read file"));
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn snapshot_round_trip_with_hostile_name() {
    let f = Fixture::new(HOSTILE);
    let data = f.data_digest();
    let files = filestore_digest(&f.filestore());

    let events = std::sync::Mutex::new(Vec::new());
    let progress = |e: BackupEvent| events.lock().expect("lock").push(e);
    let snap = f
        .backups()
        .with_progress(&progress)
        .snapshot()
        .await
        .expect("snapshot");
    assert_eq!(snap.kind, BackupKind::Snapshot);
    let finished: Vec<&str> = events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            BackupEvent::StepFinished { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        ["inspect", "copy database", "copy filestore", "verify"]
    );
    assert!(snap.timings_ms.contains_key("copy database"));
    assert_eq!(snap.row_counts["public.res_partner"], 2_000);
    assert_eq!(snap.module_versions["sale"], "17.0.1.2");
    assert!(!snap.module_versions.contains_key("crm"));
    assert_eq!(snap.filestore.files, 60);
    assert_eq!(snap.verification.checks.len(), 2);
    // The cluster and its maintenance database survived the hostile name.
    assert!(f.cluster.database_exists("postgres"));
    let snap_db = snap.snapshot_database.clone().expect("snapshot database");
    assert!(f.cluster.database_exists(&snap_db));
    assert_eq!(f.backups().verify(&snap.id).await.expect("verify").len(), 2);

    f.mess_up();
    assert_ne!(f.data_digest(), data);
    assert_ne!(filestore_digest(&f.filestore()), files);

    let report = f.backups().restore(&snap.id).await.expect("restore");
    assert_eq!(report.database, f.db());
    assert_eq!(f.data_digest(), data);
    assert_eq!(filestore_digest(&f.filestore()), files);
    assert!(!f.cluster.database_exists(&snap_db));

    // The messed-up state was put aside, not dropped, and is listed.
    let replaced = report.replaced.expect("a replaced record");
    let list = f.backups().list().await.expect("list");
    assert_eq!(list.backups.len(), 1, "{:?}", list.backups);
    let aside = &list.backups[0];
    assert_eq!(aside.id, replaced);
    assert_eq!(
        aside.origin,
        Origin::Replaced {
            by_restore_of: snap.id.clone()
        }
    );
    let aside_db = aside.snapshot_database.clone().expect("aside db");
    assert!(f.cluster.database_exists(&aside_db));
    assert_eq!(aside.row_counts["public.x_new"], 0);
    let aside_fs = aside.snapshot_filestore.clone().expect("aside fs");
    assert!(aside_fs.join("zz-new-file").exists());
}

/// The state a restore leaves when its run dies between the database rename and the
/// filestore's (the crash matrix kills odd there end to end): the next restore of the
/// same snapshot finishes it, and the one after says it is done.
#[tokio::test]
async fn a_restore_cut_between_its_renames_is_finished_by_the_next() {
    let f = Fixture::new("cut restore");
    let data = f.data_digest();
    let files = filestore_digest(&f.filestore());
    let snap = f.backups().snapshot().await.expect("snapshot");
    f.mess_up();
    let messed_data = f.data_digest();
    let messed_files = filestore_digest(&f.filestore());

    let snap_db = snap.snapshot_database.clone().expect("snapshot database");
    let snap_fs = snap.snapshot_filestore.clone().expect("snapshot filestore");
    let aside_db = derived_name(f.db(), "replaced", "cut");
    let intent = RestoreIntent {
        restored: snap.id.clone(),
        kind: BackupKind::Snapshot,
        backup_created_at_ms: snap.created_at_ms,
        database: f.db().to_owned(),
        new_db: snap_db.clone(),
        new_fs: snap_fs.clone(),
        aside_db: aside_db.clone(),
        aside_fs: f.target.filestore(&aside_db),
        current_fs: f.filestore(),
        had_fs: true,
        replaced: None,
        done: false,
        timings_ms: std::collections::BTreeMap::new(),
    };
    let restores = f.target.backup_dir.join("restores");
    std::fs::create_dir_all(&restores).expect("restores dir");
    std::fs::write(
        restores.join(format!("{}.json", snap.id)),
        serde_json::to_vec(&intent).expect("json"),
    )
    .expect("intent");
    f.cluster.psql(
        "postgres",
        &format!("ALTER DATABASE \"{}\" RENAME TO \"{aside_db}\"", f.db()),
    );
    f.cluster.psql(
        "postgres",
        &format!("ALTER DATABASE \"{snap_db}\" RENAME TO \"{}\"", f.db()),
    );
    assert_eq!(f.data_digest(), data, "the databases are swapped");
    assert_eq!(
        filestore_digest(&f.filestore()),
        messed_files,
        "the filestores are not"
    );

    // Retention leaves an unfinished restore's intent alone.
    let keep_all = RetentionPolicy {
        keep_snapshots: 10,
        keep_dumps: 10,
    };
    let intent_file = restores.join(format!("{}.json", snap.id));
    f.backups()
        .prune(keep_all, &BTreeSet::new())
        .await
        .expect("prune");
    assert!(intent_file.exists(), "a pending intent survives pruning");

    let report = f.backups().restore(&snap.id).await.expect("finished");
    assert_eq!(report.restored, snap.id);
    assert_eq!(f.data_digest(), data);
    assert_eq!(filestore_digest(&f.filestore()), files);
    assert_eq!(f.cluster.data_digest(&aside_db), messed_data);
    assert_eq!(
        filestore_digest(&f.target.filestore(&aside_db)),
        messed_files
    );
    assert!(!snap_fs.exists());

    // Consumed: a plain restore says so, a rollback's restore counts it done.
    let again = f.backups().restore(&snap.id).await;
    assert!(
        matches!(again, Err(BackupError::AlreadyRestored { ref id, .. }) if *id == snap.id),
        "{again:?}"
    );
    let once = f.backups().restore_once(&snap.id).await.expect("done");
    assert_eq!(once.restored, snap.id);
    assert_eq!(f.data_digest(), data);
    assert_eq!(filestore_digest(&f.filestore()), files);

    // Once done, retention removes the intent.
    f.backups()
        .prune(keep_all, &BTreeSet::new())
        .await
        .expect("prune");
    assert!(!intent_file.exists(), "a done intent is pruned");
}

#[tokio::test]
async fn dump_round_trip_with_restore_test() {
    let f = Fixture::new(HOSTILE);
    let data = f.data_digest();
    let files = filestore_digest(&f.filestore());

    let opts = DumpOptions {
        format: DumpFormat::Custom,
        restore_test: true,
    };
    let dump = f.backups().dump(&opts).await.expect("dump");
    assert!(dump.verification.restore_tested);
    let dir = f.target.backup_dir.join(&dump.id);
    assert_eq!(entries(&dir), ["db.dump", "filestore.tar", "metadata.json"]);
    assert_eq!(
        entries(&f.target.backup_dir),
        std::slice::from_ref(&dump.id)
    );
    assert!(dump.toc_entries.expect("toc") >= 8);
    assert_eq!(dump.files.len(), 2);
    assert_eq!(dump.filestore.files, 60);
    assert_eq!(dump.row_counts["public.ir_attachment"], 60);
    // The scratch database of the restore test is gone.
    assert!(
        f.own_databases().iter().all(|d| !d.contains("-verify-")),
        "{:?}",
        f.own_databases()
    );
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).expect("read"))
            .expect("json");
    assert_eq!(on_disk["environment"], "prod");
    assert_eq!(on_disk["commit"], "0123abc");
    assert_eq!(on_disk["module_versions"]["base"], "17.0.1.3");
    assert!(f.backups().verify(&dump.id).await.is_ok());

    f.mess_up();
    let report = f.backups().restore(&dump.id).await.expect("restore");
    assert_eq!(f.data_digest(), data);
    assert_eq!(filestore_digest(&f.filestore()), files);
    assert!(report.replaced.is_some());
    assert!(
        f.cluster
            .databases()
            .iter()
            .all(|d| !d.contains("-restoring-"))
    );
    // The dump is still there and still good: it can be restored again.
    assert!(f.backups().verify(&dump.id).await.is_ok());
}

#[tokio::test]
async fn directory_format_dump_round_trip() {
    let f = Fixture::new("dirformat");
    let data = f.data_digest();
    let files = filestore_digest(&f.filestore());
    let opts = DumpOptions {
        format: DumpFormat::Directory { jobs: 2 },
        restore_test: false,
    };
    let dump = f.backups().dump(&opts).await.expect("dump");
    assert!(
        dump.files.keys().any(|k| k == "db.dir/toc.dat"),
        "{:?}",
        dump.files
    );
    assert!(dump.files.len() > 3);
    f.mess_up();
    f.backups().restore(&dump.id).await.expect("restore");
    assert_eq!(f.data_digest(), data);
    assert_eq!(filestore_digest(&f.filestore()), files);
}

fn assert_verification_failed(err: &BackupError, needle: &str) {
    match err {
        BackupError::Verification { problems, .. } => assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle:?} not in {problems:?}"
        ),
        other => panic!("expected a verification failure, got {other:?}"),
    }
}

#[tokio::test]
async fn corrupted_dumps_are_caught_and_never_restored() {
    let f = Fixture::new("corrupt");
    let before = f.data_digest();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            f.backups()
                .dump(&DumpOptions::default())
                .await
                .expect("dump")
                .id,
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let dir = |id: &str| f.target.backup_dir.join(id);

    // Truncated dump.
    let dump = dir(&ids[0]).join("db.dump");
    let len = std::fs::metadata(&dump).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&dump)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");
    let err = f.backups().verify(&ids[0]).await.unwrap_err();
    assert_verification_failed(&err, "db.dump has changed");

    // One flipped byte in the filestore archive.
    let tar = dir(&ids[1]).join("filestore.tar");
    let mut bytes = std::fs::read(&tar).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&tar, bytes).expect("write");
    let err = f.backups().verify(&ids[1]).await.unwrap_err();
    assert_verification_failed(&err, "filestore.tar has changed");

    // Missing filestore archive.
    std::fs::remove_file(dir(&ids[2]).join("filestore.tar")).expect("rm");
    let err = f.backups().verify(&ids[2]).await.unwrap_err();
    assert_verification_failed(&err, "filestore.tar is missing");

    // None of them is restored, and nothing is left of the attempts.
    f.mess_up();
    let messed = f.data_digest();
    for id in &ids {
        let err = f.backups().restore(id).await.unwrap_err();
        assert!(matches!(err, BackupError::Verification { .. }), "{err:?}");
    }
    assert_eq!(f.data_digest(), messed);
    assert_ne!(messed, before);
    let dbs = f.own_databases();
    assert!(dbs.iter().all(|d| !d.contains("-restoring-")), "{dbs:?}");
    assert!(
        entries(&f.target.data_dir.join("filestore"))
            .iter()
            .all(|d| !d.contains("-restoring-"))
    );
}

/// A `pg_bin_dir` whose `pg_dump` writes for a moment and is then killed.
fn killing_bin_dir(real: &Path, dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    for tool in ["psql", "pg_restore"] {
        std::os::unix::fs::symlink(real.join(tool), bin.join(tool)).expect("ln");
    }
    let script = format!(
        "#!/bin/sh\n{}/pg_dump \"$@\" &\npid=$!\nsleep 0.3\nkill -KILL $pid\nkill -KILL $$\n",
        real.display()
    );
    std::fs::write(bin.join("pg_dump"), script).expect("write");
    std::fs::set_permissions(bin.join("pg_dump"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    bin
}

#[tokio::test]
async fn killed_pg_dump_leaves_nothing() {
    let mut f = Fixture::new("killed");
    // Enough data that pg_dump is still writing after 0.3 s.
    f.cluster.psql(
        f.db(),
        "INSERT INTO res_partner (name, email, note)
           SELECT 'P' || i, 'e' || i, repeat(md5(random()::text), 20) FROM generate_series(1, 400000) i;",
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    f.target.pg_bin_dir = Some(killing_bin_dir(&f.cluster.bin_dir(), tmp.path()));
    let err = f.backups().dump(&DumpOptions::default()).await.unwrap_err();
    match &err {
        BackupError::DumpFailed { reason, .. } => {
            assert!(
                reason.contains("signal") || reason.contains("exit code"),
                "{reason}"
            );
        }
        other => panic!("expected DumpFailed, got {other:?}"),
    }
    assert!(
        entries(&f.target.backup_dir).is_empty(),
        "{:?}",
        entries(&f.target.backup_dir)
    );
    assert!(f.backups().list().await.expect("list").backups.is_empty());
}

#[tokio::test]
async fn full_disk_fails_and_leaves_nothing() {
    let f = Fixture::new("diskfull");
    // Incompressible enough to outgrow 2 MiB once compressed, small enough that the
    // up-front estimate lets the dump start.
    f.cluster.psql(
        f.db(),
        "INSERT INTO res_partner (name, email, note)
           SELECT 'P' || i, 'e' || i, md5(random()::text) || md5(random()::text)
             FROM generate_series(1, 60000) i;",
    );
    let _mnt = Tmpfs::mount(&f.target.backup_dir, "2M").expect("tmpfs");
    let err = f.backups().dump(&DumpOptions::default()).await.unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::DumpFailed { .. }
                | BackupError::DiskShort { .. }
                | BackupError::Transport(_)
        ),
        "{err:?}"
    );
    assert!(
        !matches!(err, BackupError::DiskShort { .. }),
        "the dump should have started and hit the full disk: {err:?}"
    );
    assert!(
        entries(&f.target.backup_dir).is_empty(),
        "{:?}",
        entries(&f.target.backup_dir)
    );
}

#[tokio::test]
async fn short_disk_is_refused_up_front() {
    let f = Fixture::new("diskshort");
    let big = vec![7u8; 3 * 1024 * 1024];
    std::fs::write(f.filestore().join("big"), big).expect("write");
    let _mnt = Tmpfs::mount(&f.target.backup_dir, "2M").expect("tmpfs");
    let err = f.backups().dump(&DumpOptions::default()).await.unwrap_err();
    assert!(matches!(err, BackupError::DiskShort { .. }), "{err:?}");
    assert!(entries(&f.target.backup_dir).is_empty());
}

#[tokio::test]
async fn restore_is_refused_up_front_when_the_filestore_would_not_fit() {
    let f = Fixture::new("restoreshort");
    std::fs::write(f.filestore().join("big"), vec![3u8; 3 * 1024 * 1024]).expect("write");
    let dump = f
        .backups()
        .dump(&DumpOptions::default())
        .await
        .expect("dump");
    let data = f.data_digest();
    let dbs = f.own_databases();
    // The same backups, restored where the filestore has 2 MiB of room.
    let small = tempfile::tempdir().expect("tempdir");
    let _mnt = Tmpfs::mount(&small.path().join("data"), "2M").expect("tmpfs");
    let mut target = f.target.clone();
    target.data_dir = small.path().join("data");
    let t = LocalTransport::new();
    let err = Backups::new(&t, &target)
        .restore(&dump.id)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::DiskShort { .. }), "{err:?}");
    assert_eq!(f.own_databases(), dbs);
    assert_eq!(f.data_digest(), data);
}

#[tokio::test]
async fn retention_keeps_the_newest_and_the_protected() {
    let f = Fixture::new("retention");
    let mut snaps = Vec::new();
    let mut dumps = Vec::new();
    for _ in 0..3 {
        snaps.push(f.backups().snapshot().await.expect("snapshot"));
        dumps.push(
            f.backups()
                .dump(&DumpOptions::default())
                .await
                .expect("dump"),
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let list = f.backups().list().await.expect("list");
    assert_eq!(list.backups.len(), 6);
    assert!(list.unreadable.is_empty());
    let times: Vec<i64> = list.backups.iter().map(|b| b.created_at_ms).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted);
    assert!(list.backups.iter().all(|b| b.size() > 0));

    let protected = BTreeSet::from([snaps[0].id.clone()]);
    let policy = RetentionPolicy {
        keep_snapshots: 1,
        keep_dumps: 1,
    };
    let report = f.backups().prune(policy, &protected).await.expect("prune");
    let deleted: BTreeSet<String> = report.deleted.iter().cloned().collect();
    assert_eq!(
        deleted,
        BTreeSet::from([
            snaps[1].id.clone(),
            dumps[0].id.clone(),
            dumps[1].id.clone()
        ])
    );
    assert_eq!(report.kept_protected, [snaps[0].id.clone()]);
    let left: Vec<String> = f
        .backups()
        .list()
        .await
        .expect("list")
        .backups
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(
        left.iter().collect::<BTreeSet<_>>(),
        [&snaps[0].id, &snaps[2].id, &dumps[2].id]
            .into_iter()
            .collect()
    );
    let gone = snaps[1].snapshot_database.clone().expect("db");
    assert!(!f.cluster.database_exists(&gone));
    assert!(!snaps[1].snapshot_filestore.clone().expect("fs").exists());
    assert!(f.cluster.database_exists(f.db()));
    assert!(f.filestore().exists());
}

#[tokio::test]
async fn the_password_is_needed_and_sent_in_the_environment() {
    let mut f = Fixture::new("password");
    f.target.database.password = None;
    let err = f.backups().snapshot().await.unwrap_err();
    assert!(matches!(err, BackupError::Transport(_)), "{err:?}");
    f.target.database.password = Some(Secret::new("wrong"));
    assert!(f.backups().dump(&DumpOptions::default()).await.is_err());
    assert!(entries(&f.target.backup_dir).is_empty());
}

#[tokio::test]
async fn unknown_backup_and_missing_database_are_clear_errors() {
    let f = Fixture::new("unknown");
    let err = f.backups().restore("dump-nope").await.unwrap_err();
    assert!(matches!(err, BackupError::NotFound { .. }), "{err:?}");
    let err = f.backups().verify("../etc").await.unwrap_err();
    assert!(matches!(err, BackupError::NotFound { .. }), "{err:?}");
    let mut target = f.target.clone();
    target.database.name = "does not exist".into();
    let t = LocalTransport::new();
    let err = Backups::new(&t, &target).snapshot().await.unwrap_err();
    assert!(matches!(err, BackupError::NoDatabase { .. }), "{err:?}");
}

#[tokio::test]
async fn metadata_naming_another_database_or_folder_is_never_dropped_by_prune() {
    let f = Fixture::new("planted");
    let snap = f.backups().snapshot().await.expect("snapshot");
    // What someone who can write to the backup folder could plant: a snapshot record
    // whose database and filestore are another environment's, and one whose id climbs
    // out of the folder.
    let victim_db = format!("{} victim", f.db());
    f.cluster.create_database(&victim_db);
    let victim_dir = f.target.data_dir.join("victim");
    std::fs::create_dir_all(&victim_dir).expect("mkdir");
    std::fs::write(victim_dir.join("keep"), b"precious").expect("write");
    let snapshots = f.target.backup_dir.join("snapshots");
    let text = std::fs::read_to_string(snapshots.join(format!("{}.json", snap.id))).expect("meta");
    let mut planted: serde_json::Value = serde_json::from_str(&text).expect("json");
    planted["id"] = "snapshot-20200101-000000-000".into();
    planted["created_at_ms"] = 0.into();
    planted["snapshot_database"] = victim_db.clone().into();
    planted["snapshot_filestore"] = victim_dir.display().to_string().into();
    std::fs::write(
        snapshots.join("snapshot-20200101-000000-000.json"),
        planted.to_string(),
    )
    .expect("plant");
    planted["id"] = "../../victim".into();
    std::fs::write(snapshots.join("climb.json"), planted.to_string()).expect("plant");

    let list = f.backups().list().await.expect("list");
    assert_eq!(list.backups.len(), 1, "{:?}", list.backups);
    assert_eq!(list.unreadable.len(), 2, "{:?}", list.unreadable);
    let policy = RetentionPolicy {
        keep_snapshots: 0,
        keep_dumps: 0,
    };
    let report = f
        .backups()
        .prune(policy, &BTreeSet::new())
        .await
        .expect("prune");
    assert_eq!(report.deleted, [snap.id], "only the real one");
    assert!(
        f.cluster.database_exists(&victim_db),
        "the victim database was dropped"
    );
    assert!(
        victim_dir.join("keep").is_file(),
        "the victim folder was removed"
    );
    assert!(matches!(
        f.backups().get("../../victim").await,
        Err(BackupError::NotFound { .. })
    ));
}

/// The harness cluster, with scram passwords so that a missing or wrong password fails,
/// and helpers for database names that plain SQL text cannot hold.
mod pg {
    use std::sync::OnceLock;

    use odoo_deploy_core::backup::DbConn;
    use odoo_deploy_core::command::Secret;
    use odoo_deploy_fixtures::pg::{PgAuth, PgCluster};

    #[derive(Debug)]
    pub(crate) struct Cluster(PgCluster);

    /// `"name"` with inner quotes doubled: test-side quoting of a known name.
    fn ident(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    impl Cluster {
        pub(crate) fn shared() -> &'static Cluster {
            static C: OnceLock<Cluster> = OnceLock::new();
            C.get_or_init(|| {
                Cluster(
                    PgCluster::builder()
                        .auth(PgAuth::Scram)
                        .start()
                        .expect("start a scram PostgreSQL cluster"),
                )
            })
        }

        pub(crate) fn bin_dir(&self) -> std::path::PathBuf {
            self.0.bin_dir().to_owned()
        }

        pub(crate) fn conn(&self, db: &str) -> DbConn {
            DbConn {
                name: db.to_owned(),
                host: Some(self.0.host().to_owned()),
                port: Some(self.0.port()),
                user: Some(self.0.user().to_owned()),
                password: self.0.password().map(Secret::new),
            }
        }

        /// SQL on database `db`, whatever its name.
        pub(crate) fn psql(&self, db: &str, sql: &str) -> String {
            self.0
                .psql(db, sql)
                .unwrap_or_else(|e| panic!("psql on {db:?}: {e}"))
        }

        pub(crate) fn create_database(&self, db: &str) {
            self.psql("postgres", &format!("CREATE DATABASE {}", ident(db)));
        }

        pub(crate) fn databases(&self) -> Vec<String> {
            self.psql("postgres", "SELECT datname FROM pg_database")
                .lines()
                .map(str::to_owned)
                .collect()
        }

        pub(crate) fn database_exists(&self, db: &str) -> bool {
            self.databases().iter().any(|d| d == db)
        }

        /// One digest over every table's rows, each table's rows in sorted order.
        pub(crate) fn data_digest(&self, db: &str) -> String {
            self.psql(
                db,
                "SELECT md5(string_agg(t || ':' || h, ',' ORDER BY t)) FROM (
                   SELECT format('%I.%I', table_schema, table_name) AS t,
                          (xpath('/row/h/text()', query_to_xml(format(
                             'SELECT md5(coalesce(string_agg(x::text, E''\\n'' ORDER BY x::text), '''')) AS h FROM %I.%I x',
                             table_schema, table_name), false, true, '')))[1]::text AS h
                     FROM information_schema.tables
                    WHERE table_type = 'BASE TABLE'
                      AND table_schema NOT IN ('pg_catalog', 'information_schema')) s",
            )
            .trim()
            .to_owned()
        }
    }
}
