//! Rollback benchmark on a ~1 GB database: the real `odd` binary, over SSH (a harness
//! sshd on loopback), rolling a failed deploy back to its pre-deploy snapshot.
//!
//! `cargo build --release -p odoo-deploy-cli -p odoo-deploy-benches && target/release/rollback`
//! (`odd` is taken from next to this binary, or `ODD_BIN`).
//!
//! Size: `ODD_BENCH_PGBENCH_SCALE` (default 60, about 1 GB with indexes) and
//! `ODD_BENCH_FILES` (default 10000 filestore files, 1–20 KiB each); rounds:
//! `ODD_BENCH_ROUNDS` (default 3).
//!
//! One `fixtures::demo` environment is deployed v1..v3, then its Odoo database is grown
//! with `pgbench -i` tables and its filestore with incompressible files. Each round then
//! deploys v4, whose update fails, so odd rolls back to v3 from the snapshot it took
//! before the update. Per round: from receiving `rollback_started` to receiving the
//! rollback's `health` `step_finished` (decision → healthy), the `restore_snapshot` step,
//! and the deploy's `snapshot` step. After each round the bench checks that the database
//! really is the snapshot (a different database oid, the module table as before v4, the
//! pgbench tables' row counts and the filestore's files as before) and that the ledger's
//! last record is v4, rolled back.
#![allow(clippy::disallowed_methods)] // the bench runs pgbench and chown
#![allow(clippy::print_stdout, clippy::print_stderr)] // a bench prints its figures

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odoo_deploy_benches::odd::{Run, deploy, odd_bin};
use odoo_deploy_benches::{env_num, loadavg, median, pattern, secs};
use odoo_deploy_core::ledger::{LEDGER_FILE, Ledger, Outcome};
use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;

/// Files and bytes under `dir`, recursively (symlinks not followed).
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let entry = entry.expect("directory entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// What must be the same after a rollback as before the failed deploy.
#[derive(Debug, PartialEq, Eq)]
struct State {
    /// Row counts of pgbench's four tables.
    pgbench_rows: String,
    /// Every module's name, state and version.
    modules: String,
    /// Filestore files and bytes.
    filestore: (u64, u64),
}

fn state(pg: &PgCluster, demo: &Demo) -> State {
    let pgbench_rows = pg
        .psql(
            &demo.db,
            "SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM pgbench_branches),
                    (SELECT count(*) FROM pgbench_tellers), (SELECT count(*) FROM pgbench_history)",
        )
        .expect("pgbench row counts");
    let modules = pg
        .psql(
            &demo.db,
            "SELECT string_agg(name || ':' || state || ':' || coalesce(latest_version, ''), ' '
                               ORDER BY name) FROM ir_module_module",
        )
        .expect("modules");
    State {
        pgbench_rows,
        modules,
        filestore: tree_size(&demo.data_dir.join("filestore").join(&demo.db)),
    }
}

fn db_oid(pg: &PgCluster, demo: &Demo) -> String {
    pg.psql(
        &demo.db,
        "SELECT oid FROM pg_database WHERE datname = current_database()",
    )
    .expect("database oid")
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `| name | median | min | max |` of `times`.
fn row(name: &str, times: &[Duration]) -> String {
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    format!(
        "| {name} | **{}** | {} | {} |",
        secs(median(times.to_vec())),
        secs(min),
        secs(max)
    )
}

fn main() {
    let scale = env_num("ODD_BENCH_PGBENCH_SCALE", 60);
    let files = env_num("ODD_BENCH_FILES", 10_000);
    let rounds = env_num("ODD_BENCH_ROUNDS", 3).max(1);
    let odd = odd_bin();
    let cluster = PgCluster::start().expect("start PostgreSQL");
    let sshd = Sshd::start();
    let tmp = tempfile::Builder::new()
        .prefix("odd-bench-rollback-")
        .tempdir()
        .expect("tempdir");
    let demo = Demo::build(&tmp.path().join("env"), &cluster, Reach::Ssh(&sshd))
        .expect("build the demo environment");
    for v in 1..=3 {
        demo.checkout(v).expect("checkout");
        let run = deploy(&odd, &demo, &sshd);
        assert_eq!(run.outcome, "succeeded", "deploy of v{v}");
        eprintln!("rollback: v{v} deployed in {}", secs(run.wall));
    }

    // Grow the environment: pgbench's tables in Odoo's database, files in its filestore.
    let t = Instant::now();
    let st = Command::new(cluster.bin_dir().join("pgbench"))
        .args(["-i", "-q", "-s", &scale.to_string()])
        .envs(cluster.libpq_env(&demo.db))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run pgbench");
    assert!(st.success(), "pgbench -i failed: {st}");
    eprintln!("rollback: pgbench -i -s {scale}: {}", secs(t.elapsed()));
    let fs = demo.data_dir.join("filestore").join(&demo.db);
    for i in 0..files {
        let dir = fs.join(format!("{:02x}", i % 256));
        if i < 256 {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        let len = usize::try_from(1024 + (i * 7919) % (19 * 1024)).expect("len");
        std::fs::write(dir.join(format!("bench{i:08x}")), pattern(i, len)).expect("write");
    }
    // odd runs as the ssh login user: the files must be its own (hard links, renames).
    let st = Command::new("chown")
        .arg("-R")
        .arg(sshd.user())
        .arg(&fs)
        .status()
        .expect("chown");
    assert!(st.success(), "chown -R {} failed", sshd.user());
    let db_bytes: u64 = cluster
        .psql(&demo.db, "SELECT pg_database_size(current_database())")
        .expect("database size")
        .trim()
        .parse()
        .expect("a size");
    let before = state(&cluster, &demo);
    let size = format!(
        "database {} ({db_bytes} bytes, pgbench scale {scale}), filestore {} files, {}",
        mib(db_bytes),
        before.filestore.0,
        mib(before.filestore.1)
    );
    eprintln!("rollback: {size}");

    let load_before = loadavg();
    let mut runs: Vec<Run> = Vec::new();
    let v4 = demo.repo.sha(4).expect("v4's commit").to_owned();
    for round in 1..=rounds {
        let oid = db_oid(&cluster, &demo);
        demo.checkout(4).expect("checkout v4");
        let run = deploy(&odd, &demo, &sshd);
        assert_eq!(run.outcome, "rolled_back", "round {round}");
        let after = state(&cluster, &demo);
        assert_eq!(
            after, before,
            "round {round}: the rollback restored another state"
        );
        assert_ne!(
            db_oid(&cluster, &demo),
            oid,
            "round {round}: the database was not swapped for the snapshot"
        );
        let ledger = std::fs::read_to_string(demo.deploy_dir.join(LEDGER_FILE)).expect("ledger");
        let ledger = Ledger::parse(&ledger);
        let last = ledger.latest().expect("a ledger record");
        assert_eq!(last.outcome, Outcome::RolledBack, "round {round}: ledger");
        assert_eq!(last.commit, v4, "round {round}: the ledger's last deploy");
        eprintln!(
            "rollback: round {round}: whole {}, snapshot {}, decision → healthy {}, \
             restore_snapshot {} (load {})",
            secs(run.wall),
            secs(run.step("snapshot", false).unwrap_or_default()),
            secs(run.rollback_to_health.unwrap_or_default()),
            secs(run.step("restore_snapshot", true).unwrap_or_default()),
            loadavg()
        );
        runs.push(run);
    }
    let load_after = loadavg();
    demo.stop_odoo();

    let pick = |f: &dyn Fn(&Run) -> Option<Duration>, what: &str| -> Vec<Duration> {
        runs.iter()
            .map(|r| f(r).unwrap_or_else(|| panic!("no {what} in a rollback deploy")))
            .collect()
    };
    println!();
    println!(
        "Rollback of v4 to v3 over SSH with the real odd binary, {rounds} rounds on one \
         environment: {size}; load average before/after: {load_before} / {load_after}"
    );
    println!();
    println!("| v3→v4 fails, rolled back | median | min | max |");
    println!("|---|---|---|---|");
    println!(
        "{}",
        row(
            "decision → healthy (`rollback_started` → rollback's health step done)",
            &pick(&|r| r.rollback_to_health, "rollback health")
        )
    );
    println!(
        "{}",
        row(
            "`restore_snapshot` step alone (goal ≤ 5 s)",
            &pick(&|r| r.step("restore_snapshot", true), "restore_snapshot")
        )
    );
    println!(
        "{}",
        row(
            "`snapshot` step before the update",
            &pick(&|r| r.step("snapshot", false), "snapshot")
        )
    );
    println!(
        "{}",
        row(
            "whole deploy",
            &runs.iter().map(|r| r.wall).collect::<Vec<_>>()
        )
    );

    println!();
    println!("Rollback steps, median (ms):");
    println!();
    let mut names: Vec<&str> = Vec::new();
    for run in &runs {
        for (s, _, rb) in &run.steps {
            if *rb && !names.contains(&s.as_str()) {
                names.push(s);
            }
        }
    }
    println!("| {} |", names.join(" | "));
    println!("|{}", "---|".repeat(names.len()));
    let cells: Vec<String> = names
        .iter()
        .map(|n| {
            let times: Vec<Duration> = runs.iter().filter_map(|r| r.step(n, true)).collect();
            median(times).as_millis().to_string()
        })
        .collect();
    println!("| {} |", cells.join(" | "));
}
