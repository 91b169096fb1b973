//! A fleet of databases on one cluster, one module changed: the real `odd` deploying it
//! with `--jobs 1` and `--jobs 2`, against the shell loop hosters run today (the
//! stand-in's `-u` per database, one after another, click-odoo-update style: no
//! snapshot, no check, no stop/start).
//!
//! `cargo build -p odoo-deploy-cli && cargo run -p odoo-deploy-benches --bin fleet-databases [-- DATABASES]`
//! (default 100; `odd` is taken from next to this binary, or `ODD_BIN`).
//!
//! The first database is installed by a deploy of v1, the others copied from it
//! (`CREATE DATABASE … TEMPLATE`, their filestore with them), as a hoster makes them.
//! The change adds a column to `acme_helpdesk`, a module nothing depends on. Between
//! runs, `odd rollback --yes` puts every database back to its snapshot, so each run
//! starts from the same state.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)] // a bench prints its figures

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odoo_deploy_benches::odd::odd_bin;
use odoo_deploy_benches::{loadavg, secs};
use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

const MODULE: &str = "acme_helpdesk";

/// `odd ARGS --config <demo>`: wall time, exit code, the NDJSON lines of stdout.
fn odd(odd: &Path, demo: &Demo, args: &[&str]) -> (Duration, i32, Vec<Value>, String) {
    let started = Instant::now();
    let out = Command::new(odd)
        .args(args)
        .arg("--config")
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run odd");
    let wall = started.elapsed();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        wall,
        out.status.code().unwrap_or(-1),
        events,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn step_ms(events: &[Value], step: &str) -> Duration {
    let mut at = None;
    let mut total = 0;
    for e in events {
        match e["event"].as_str() {
            Some("step_started") => at = Some(e["step"].as_str().unwrap_or("").to_owned()),
            Some("step_finished") if at.as_deref() == Some(step) => {
                total += e["elapsed_ms"].as_u64().unwrap_or(0);
            }
            _ => {}
        }
    }
    Duration::from_millis(total)
}

fn git(repo: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("git");
    assert!(ok.success(), "git {args:?}");
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100)
        .max(2);
    let odd_bin = odd_bin();
    let cluster = PgCluster::start().expect("start PostgreSQL");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(&tmp.path().join("demo"), &cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (_, code, _, stderr) = odd(&odd_bin, &demo, &["deploy", "demo", "--yes", "--json"]);
    assert_eq!(code, 0, "v1: {stderr}");
    demo.stop_odoo();
    let setup = Instant::now();
    let mut names = vec![demo.db.clone()];
    for i in 1..n {
        let name = format!("{}_c{i:03}", demo.db);
        cluster
            .psql(
                "postgres",
                &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", demo.db),
            )
            .expect("copy");
        let from = demo.data_dir.join("filestore").join(&demo.db);
        if from.is_dir() {
            let ok = Command::new("cp")
                .arg("-a")
                .arg(&from)
                .arg(demo.data_dir.join("filestore").join(&name))
                .status()
                .expect("cp");
            assert!(ok.success());
        }
        names.push(name);
    }
    eprintln!(
        "fleet-databases: {n} databases made in {}",
        secs(setup.elapsed())
    );
    demo.set_database_keys(&format!("pattern = \"{}_c*\", max_failed = 0", demo.db))
        .expect("config");
    // One module changed: a new column of acme_helpdesk.
    let repo = demo.repo.path().to_owned();
    let m = repo.join("custom_addons").join(MODULE);
    let mut py = std::fs::read_to_string(m.join("models/ticket.py")).expect("model");
    py.push_str("    priority_note = fields.Char()\n");
    std::fs::write(m.join("models/ticket.py"), py).expect("model");
    let mut schema = std::fs::read_to_string(m.join("standin/schema.sql")).expect("schema");
    schema.push_str("ALTER TABLE acme_ticket ADD COLUMN IF NOT EXISTS priority_note varchar;\n");
    std::fs::write(m.join("standin/schema.sql"), schema).expect("schema");
    git(&repo, &["add", "custom_addons"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.invalid",
            "commit",
            "-q",
            "-m",
            "helpdesk: priority note",
        ],
    );
    // The new code, for the shell loop.
    let code_dir = tmp.path().join("new-code");
    std::fs::create_dir_all(&code_dir).expect("dir");
    let archive = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["archive", "--format=tar", "HEAD", "custom_addons"])
        .output()
        .expect("git archive");
    let mut untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&code_dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("tar");
    std::io::Write::write_all(untar.stdin.as_mut().expect("stdin"), &archive.stdout)
        .expect("tar input");
    drop(untar.stdin.take());
    assert!(untar.wait().expect("tar").success());

    let load_before = loadavg();
    let mut rows = Vec::new();
    for jobs in ["1", "2"] {
        let (wall, code, events, stderr) = odd(
            &odd_bin,
            &demo,
            &["deploy", "demo", "--yes", "--json", "--jobs", jobs],
        );
        assert_eq!(code, 0, "--jobs {jobs}: {stderr}");
        let updated = events
            .iter()
            .filter(|e| e["event"] == "database_finished" && e["outcome"] == "updated")
            .count();
        assert_eq!(updated, n, "--jobs {jobs}: every database updated");
        let downtime = events
            .iter()
            .find(|e| e["event"] == "finished")
            .and_then(|e| e["downtime_ms"].as_u64())
            .map(Duration::from_millis)
            .unwrap_or_default();
        let fleet = step_ms(&events, "update");
        eprintln!(
            "fleet-databases: odd --jobs {jobs}: {} (databases step {}, downtime {}), load {}",
            secs(wall),
            secs(fleet),
            secs(downtime),
            loadavg()
        );
        rows.push((
            format!("odd deploy --jobs {jobs}"),
            wall,
            Some(fleet),
            Some(downtime),
        ));
        let (rb, code, _, stderr) = odd(&odd_bin, &demo, &["rollback", "demo", "--yes"]);
        assert_eq!(code, 0, "rollback: {stderr}");
        eprintln!("fleet-databases: rollback of {n} databases in {}", secs(rb));
    }
    demo.stop_odoo();
    // The peer: the update of each database, one after another.
    let script = format!(
        "for db in \"$@\"; do {odoo} -c {conf} --addons-path {addons} -d \"$db\" -u {MODULE} --stop-after-init >/dev/null 2>&1 || exit 1; done",
        odoo = demo.odoo_bin().display(),
        conf = demo.odoo_conf().display(),
        addons = code_dir.join("custom_addons").display(),
    );
    let started = Instant::now();
    let ok = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("loop")
        .args(&names)
        .status()
        .expect("sh");
    let shell = started.elapsed();
    assert!(ok.success(), "the shell loop failed");
    eprintln!("fleet-databases: shell loop: {}", secs(shell));
    rows.push((
        "shell loop of `odoo-bin -u` (peer)".to_owned(),
        shell,
        None,
        None,
    ));
    let load_after = loadavg();

    println!();
    println!(
        "{n} databases, one module changed ({MODULE}); load average before/after: {load_before} / {load_after}"
    );
    println!();
    println!("| run | wall | of which the databases' step | downtime | per database |");
    println!("|---|---|---|---|---|");
    for (name, wall, fleet, downtime) in rows {
        println!(
            "| {name} | {} | {} | {} | {} |",
            secs(wall),
            fleet.map_or_else(|| "—".to_owned(), secs),
            downtime.map_or_else(|| "—".to_owned(), secs),
            secs(wall / u32::try_from(n).unwrap_or(1)),
        );
    }
    for name in names {
        let _ = cluster.drop_database(&name);
    }
}
