//! Backup benchmark: odd's verified dump against plain `pg_dump -Fc` + `tar` in the same
//! run, and snapshot create / restore times.
//!
//! `cargo run --release -p odoo-deploy-benches --bin backup`
//!
//! Size: `ODD_BENCH_PGBENCH_SCALE` (default 60, about 1 GB with indexes) and
//! `ODD_BENCH_FILES` (default 10000 filestore files, 1–20 KiB each); rounds of the dump
//! comparison: `ODD_BENCH_ROUNDS` (default 3).
#![allow(clippy::disallowed_methods)] // the bench drives pgbench, pg_dump and tar directly
#![allow(clippy::print_stdout)] // a bench prints its figures

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use odoo_deploy_benches::{env_num, pattern, secs};
use odoo_deploy_core::backup::commands::conninfo_dbname;
use odoo_deploy_core::backup::{BackupTarget, Backups, DbConn, DumpOptions};
use odoo_deploy_core::transport::LocalTransport;
use odoo_deploy_fixtures::pg::PgCluster;

fn run(cmd: &mut Command, what: &str) -> Duration {
    let t = Instant::now();
    let st = cmd.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(st.success(), "{what} failed: {st}");
    t.elapsed()
}

fn du(path: &Path) -> String {
    let out = Command::new("du")
        .arg("-sh")
        .arg(path)
        .output()
        .expect("du");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

#[tokio::main]
async fn main() {
    let scale = env_num("ODD_BENCH_PGBENCH_SCALE", 60);
    let files = env_num("ODD_BENCH_FILES", 10_000);
    let rounds = env_num("ODD_BENCH_ROUNDS", 3).max(1);
    let pg = PgCluster::start().expect("start PostgreSQL");
    let db = "bench";
    pg.create_database(db).expect("create database");
    let dirs = tempfile::Builder::new()
        .prefix("odd-bench-backup-")
        .tempdir()
        .expect("tempdir");
    let bin = pg.bin_dir().to_owned();

    // Database: pgbench tables plus stand-in-like Odoo tables.
    let t = run(
        Command::new(bin.join("pgbench"))
            .args(["-i", "-q", "-s", &scale.to_string()])
            .envs(pg.libpq_env(db))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
        "pgbench -i",
    );
    println!("pgbench -i -s {scale}: {}", secs(t));
    pg.psql(
        db,
        &format!(
            "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE, state varchar,
               latest_version varchar);
             INSERT INTO ir_module_module (name, state, latest_version)
               SELECT 'module_' || i, 'installed', '17.0.1.' || i FROM generate_series(1, 300) i;
             CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar, value text);
             INSERT INTO ir_config_parameter (key, value) SELECT 'k' || i, md5(i::text) FROM generate_series(1, 100) i;
             CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, store_fname varchar, file_size int);
             INSERT INTO ir_attachment (name, store_fname, file_size)
               SELECT 'file ' || i, 'f' || i, 1024 FROM generate_series(1, {files}) i;
             VACUUM ANALYZE;"
        ),
    )
    .expect("stand-in tables");
    let size = pg
        .psql(
            db,
            "SELECT pg_size_pretty(pg_database_size(current_database()))",
        )
        .expect("size");

    // Filestore: `files` files of 1–20 KiB in 256 directories.
    let data_dir = dirs.path().join("data");
    let fs = data_dir.join("filestore").join(db);
    for i in 0..files {
        let dir = fs.join(format!("{:02x}", i % 256));
        if i < 256 {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        let len = usize::try_from(1024 + (i * 7919) % (19 * 1024)).expect("len");
        std::fs::write(dir.join(format!("{i:08x}")), pattern(i, len)).expect("write");
    }
    println!("database {size}, filestore {files} files, {}", du(&fs));

    let target = BackupTarget {
        environment: "bench".into(),
        database: DbConn {
            name: db.into(),
            host: Some(pg.host().into()),
            port: Some(pg.port()),
            user: Some(pg.user().into()),
            password: None,
        },
        data_dir: data_dir.clone(),
        backup_dir: dirs.path().join("backups"),
        pg_bin_dir: Some(bin.clone()),
        commit: None,
        series: None,
    };
    let transport = LocalTransport::new();
    let backups = Backups::new(&transport, &target);
    let peer_dir = dirs.path().join("peer");
    std::fs::create_dir_all(&peer_dir).expect("mkdir");

    let mut peer_times = Vec::new();
    let mut odd_times = Vec::new();
    for round in 0..rounds {
        // Peer: what a plain backup script does, one after the other.
        let _ = std::fs::remove_dir_all(&peer_dir);
        std::fs::create_dir_all(&peer_dir).expect("mkdir");
        let t = Instant::now();
        run(
            Command::new(bin.join("pg_dump"))
                .arg("-Fc")
                .arg("-f")
                .arg(peer_dir.join("db.dump"))
                .arg("-d")
                .arg(conninfo_dbname(db))
                .envs(pg.libpq_env(db)),
            "pg_dump",
        );
        let t_dump = t.elapsed();
        run(
            Command::new("tar")
                .arg("-C")
                .arg(&fs)
                .arg("-cf")
                .arg(peer_dir.join("filestore.tar"))
                .arg("."),
            "tar",
        );
        let peer = t.elapsed();
        println!(
            "round {round}: pg_dump -Fc + tar: {} (pg_dump {}, tar {})",
            secs(peer),
            secs(t_dump),
            secs(peer - t_dump)
        );
        peer_times.push(peer);

        let t = Instant::now();
        let meta = backups
            .dump(&DumpOptions::default())
            .await
            .expect("odd dump");
        let odd = t.elapsed();
        println!(
            "round {round}: odd dump (verified): {} — steps {:?}",
            secs(odd),
            meta.timings_ms
        );
        odd_times.push(odd);
        std::fs::remove_dir_all(target.backup_dir.join(&meta.id)).expect("rm dump");
    }
    peer_times.sort();
    odd_times.sort();
    let (peer, odd) = (peer_times[0], odd_times[0]);
    println!(
        "dump, best of {rounds}: odd {} vs pg_dump -Fc + tar {}: ratio {:.2} (goal <= 1.10)",
        secs(odd),
        secs(peer),
        odd.as_secs_f64() / peer.as_secs_f64()
    );
    let (peer, odd) = (
        peer_times[peer_times.len() / 2],
        odd_times[odd_times.len() / 2],
    );
    println!(
        "dump, median of {rounds}: odd {} vs pg_dump -Fc + tar {}: ratio {:.2}",
        secs(odd),
        secs(peer),
        odd.as_secs_f64() / peer.as_secs_f64()
    );

    let t = Instant::now();
    let snap = backups.snapshot().await.expect("snapshot");
    let snap_create = t.elapsed();
    println!(
        "snapshot create (verified): {} — steps {:?}",
        secs(snap_create),
        snap.timings_ms
    );
    let t = Instant::now();
    let report = backups.restore(&snap.id).await.expect("restore snapshot");
    let snap_restore = t.elapsed();
    println!(
        "snapshot restore (verified, swap by rename): {} (goal <= 5 s) — steps {:?}",
        secs(snap_restore),
        report.timings_ms
    );
}
