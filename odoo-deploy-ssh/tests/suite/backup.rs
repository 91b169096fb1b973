//! Backups through the SSH transport: both kinds round-trip a database with a hostile
//! name and its filestore, as the harness's login user, against a real cluster.

use std::path::{Path, PathBuf};
use std::process::Command;

use odoo_deploy_core::backup::{BackupTarget, Backups, DbConn, DumpFormat, DumpOptions};
use odoo_deploy_core::command::Secret;
use odoo_deploy_fixtures::pg::{PgAuth, PgCluster};
use odoo_deploy_fixtures::sshd::Sshd;

use crate::support::{connect, scratch, write_pattern};

const HOSTILE: &str = "ssh \"x\"; DROP DATABASE postgres; -- it's a=b";

fn cluster() -> &'static PgCluster {
    static C: std::sync::OnceLock<PgCluster> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        PgCluster::builder()
            .auth(PgAuth::Scram)
            .start()
            .expect("start a scram cluster")
    })
}

fn psql(db: &str, sql: &str) -> String {
    cluster()
        .psql(db, sql)
        .unwrap_or_else(|e| panic!("psql on {db:?}: {e}"))
}

/// Rows of every table, sorted, digested.
fn data_digest(db: &str) -> String {
    psql(
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
}

/// Every file's path and SHA-256, sorted.
fn filestore_digest(dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -type f -exec sha256sum {} + | LC_ALL=C sort")
        .arg("sh")
        .arg(dir)
        .output()
        .expect("sh");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A populated database and filestore owned by the login user, and a target for them.
fn setup(sshd: &Sshd, dirs: &Path, name: &str) -> BackupTarget {
    let c = cluster();
    psql(
        "postgres",
        &format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")),
    );
    psql(
        name,
        "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE, state varchar,
           latest_version varchar);
         INSERT INTO ir_module_module (name, state, latest_version)
           VALUES ('base', 'installed', '17.0.1.3'), ('sale', 'installed', '17.0.1.2');
         CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar, value text);
         INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', gen_random_uuid()::text);
         CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, store_fname varchar);
         INSERT INTO ir_attachment (name, store_fname)
           SELECT 'f' || i, 'ab/' || md5(i::text) FROM generate_series(1, 40) i;
         CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar);
         INSERT INTO res_partner (name) SELECT 'P' || i FROM generate_series(1, 3000) i;",
    );
    let data = dirs.join("data");
    let fs = data.join("filestore").join(name);
    std::fs::create_dir_all(fs.join("ab")).expect("mkdir");
    for i in 0..40 {
        write_pattern(&fs.join("ab").join(format!("file{i}")), 100 + i * 50);
    }
    // Odoo's files belong to the login user (hard links need that).
    let st = Command::new("chown")
        .arg("-R")
        .arg(sshd.user())
        .arg(&data)
        .status()
        .expect("chown");
    assert!(st.success());
    BackupTarget {
        environment: "prod".into(),
        database: DbConn {
            name: name.to_owned(),
            host: Some(c.host().to_owned()),
            port: Some(c.port()),
            user: Some(c.user().to_owned()),
            password: c.password().map(Secret::new),
        },
        data_dir: data,
        backup_dir: dirs.join("backups"),
        pg_bin_dir: Some(c.bin_dir().to_owned()),
        commit: None,
        series: None,
    }
}

fn mess_up(target: &BackupTarget) {
    psql(
        &target.database.name,
        "DELETE FROM res_partner WHERE id % 2 = 0; UPDATE ir_module_module SET latest_version = 'x';",
    );
    let fs: PathBuf = target.filestore(&target.database.name);
    std::fs::remove_file(fs.join("ab").join("file3")).expect("rm");
}

#[tokio::test]
async fn snapshot_and_dump_round_trip_over_ssh() {
    let sshd = Sshd::shared();
    let t = connect(sshd).await;
    let dirs = scratch();
    let target = setup(sshd, dirs.path(), HOSTILE);
    let fs = target.filestore(HOSTILE);
    let data = data_digest(HOSTILE);
    let files = filestore_digest(&fs);
    let backups = Backups::new(&t, &target);

    let snap = backups.snapshot().await.expect("snapshot over ssh");
    let dump = backups
        .dump(&DumpOptions {
            format: DumpFormat::Custom,
            restore_test: true,
        })
        .await
        .expect("dump over ssh");
    assert!(dump.verification.restore_tested);
    assert_eq!(dump.row_counts["public.res_partner"], 3000);
    backups.verify(&dump.id).await.expect("verify over ssh");

    mess_up(&target);
    assert_ne!(data_digest(HOSTILE), data);
    backups.restore(&snap.id).await.expect("restore snapshot");
    assert_eq!(data_digest(HOSTILE), data);
    assert_eq!(filestore_digest(&fs), files);

    mess_up(&target);
    backups.restore(&dump.id).await.expect("restore dump");
    assert_eq!(data_digest(HOSTILE), data);
    assert_eq!(filestore_digest(&fs), files);

    let list = backups.list().await.expect("list");
    // The dump, and the two states put aside by the restores.
    assert_eq!(list.backups.len(), 3, "{:?}", list.backups);
}
