//! Recovering from an odd that died in the middle of the update, end to end over SSH
//! (the real `odd`, real PostgreSQL, the harness sshd and the stand-in Odoo): the update
//! lock it held dies with it or is ended by the recovery, the orphaned update is stopped
//! before anything is restored, the downtime covers the dead run's outage — and a
//! holder of the update lock that is not a dead odd's is never ended, by `odd rollback`,
//! `odd unlock` or `odd deploy --resume`. Then what odd leaves on the host: compact
//! ledger lines naming plans pruned with their releases, and retention after a rollback.

use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

use crate::deploy::{deploy, digest, odd, sql, status};
use crate::rollback::{
    LOADED, deploy_until_the_update, edit_config, filestore_digest, slow_update, slow_update_by,
    wait_for_update_progress,
};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The sessions on the cluster with this application name.
fn sessions(cluster: &PgCluster, db: &str, app: &str) -> String {
    sql(
        cluster,
        db,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"),
    )
}

/// When the journal says deploy `id` first stopped Odoo (Unix ms).
fn journal_stop_ms(demo: &Demo, id: &str) -> i64 {
    let text = std::fs::read_to_string(demo.deploy_dir.join("journal")).expect("journal");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["deploy"] == id && e["step"] == "stop" && e["state"] == "started")
        .and_then(|e| e["at_ms"].as_i64())
        .expect("the stop is journaled in ms")
}

/// The demo in `dir`, reached as `reach`, with v1 deployed.
fn deployed_v1(dir: &Path, cluster: &PgCluster, reach: Reach<'_>) -> Demo {
    let demo = Demo::build(dir, cluster, reach).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(
        code,
        0,
        "the v1 deploy: {stderr}\n{:#}",
        crate::deploy::report(&events)
    );
    demo
}

#[test]
fn odd_killed_during_the_update_is_resumed_and_the_next_deploy_needs_no_manual_step() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = deployed_v1(dir.path(), cluster, Reach::Ssh(Sshd::shared()));

    demo.checkout(2).expect("v2");
    slow_update(&demo);
    let running = deploy_until_the_update(&demo, &[]);
    let id = running.id.clone();
    wait_for_update_progress(&demo, &id);
    running.kill();
    let holder = format!("odd-lock-{id}");
    // The dead run's lock session may be gone already (its SSH channel closed with odd,
    // and psql ended on its input) or still there until its heartbeat is stale: both are
    // right, and which one comes first is a race. Either way nothing is left after the
    // resume (below); a session that stays is ended by it, which
    // `resume_ends_a_dead_runs_update_lock_and_refuses_any_other_holder` proves with a
    // holder that cannot go by itself.
    let left_after_kill = sessions(cluster, &demo.db, &holder);
    assert!(
        left_after_kill == "0" || left_after_kill == "1",
        "one lock session at most: {left_after_kill}"
    );
    let stop_ms = journal_stop_ms(&demo, &id);

    // --resume waits for the orphaned update, ends the dead run's lock session and goes
    // forward.
    let resume_started_ms = now_ms();
    let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--resume", "--yes"], &[]);
    let resume_ended_ms = now_ms();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sessions(cluster, &demo.db, &holder), "0", "{stderr}");
    let s = status(&demo);
    assert_eq!(s["latest"]["id"], id.as_str(), "{s:#}");
    assert_eq!(s["latest"]["outcome"], "succeeded", "{s:#}");
    assert_eq!(s["lock"]["state"], "free", "{s:#}");
    // The downtime is the environment's: from the killed run's stop to the resume's
    // healthy answer, not the resume's own part.
    let downtime = s["latest"]["downtime_ms"].as_i64().expect("a downtime");
    assert!(
        downtime >= resume_started_ms - stop_ms && downtime <= resume_ended_ms - stop_ms,
        "downtime {downtime} ms; stop at {stop_ms}, resume {resume_started_ms}..{resume_ended_ms}"
    );
    let (code, history, _) = odd(&demo, &["history", "demo"], &[]);
    assert_eq!(code, 0);
    assert!(
        history.contains(&format!("down {:.1}s", downtime as f64 / 1000.0)),
        "odd history shows it: {history}"
    );

    // The next deploy needs nothing done by hand: no lock, no lock session left.
    demo.checkout(3).expect("v3");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(status(&demo)["latest"]["outcome"], "succeeded");
}

#[test]
fn odd_killed_during_a_slow_update_then_rollback_stops_the_orphan_before_the_restore() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = deployed_v1(dir.path(), cluster, Reach::Ssh(Sshd::shared()));
    let before = digest(cluster, &demo.db);
    let files_before = filestore_digest(&demo);

    // v2 with an update so slow (a minute a module) that it still runs when the
    // rollback comes, however loaded the machine.
    demo.checkout(2).expect("v2");
    slow_update_by(&demo, 60);
    let running = deploy_until_the_update(&demo, &[]);
    let id = running.id.clone();
    wait_for_update_progress(&demo, &id);
    running.kill();
    let runs = demo.deploy_dir.join("runs");
    let status_file = runs.join(format!("{id}-update-0.status"));
    let pgid: i32 = std::fs::read_to_string(runs.join(format!("{id}-update-0.status.pid")))
        .expect("the run's process group")
        .trim()
        .parse()
        .expect("a pid");
    assert!(group_alive(pgid), "the orphaned update runs on");

    let (code, stdout, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("it is stopped before anything is restored")
            || stderr.contains("it is stopped before anything is restored"),
        "the plan says so: {stdout}{stderr}"
    );
    assert!(
        stderr.contains("its orphaned update was stopped (process group"),
        "{stderr}"
    );
    // The whole group is gone: nothing of it can write the status file after this.
    assert!(!group_alive(pgid), "the orphaned update is gone");
    assert!(
        !status_file.exists(),
        "no status file: the update never ended by itself"
    );
    // The journal says what became of it, before the restore began.
    let journal = std::fs::read_to_string(demo.deploy_dir.join("journal")).expect("journal");
    let steps: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let orphan = steps
        .iter()
        .position(|e| e["step"] == "odd rollback: orphaned update")
        .expect("the journal records the orphan");
    assert!(
        steps[orphan]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("stopped")),
        "{journal}"
    );
    let restore = steps
        .iter()
        .position(|e| e["step"] == "odd rollback: restore snapshot")
        .expect("a restore");
    assert!(orphan < restore, "stopped before the restore: {journal}");

    assert_eq!(digest(cluster, &demo.db), before, "the pre-deploy data");
    assert_eq!(
        filestore_digest(&demo),
        files_before,
        "the pre-deploy files"
    );
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "rolled_back", "{s:#}");
    assert_eq!(s["lock"]["state"], "free", "{s:#}");
    let stop_ms = journal_stop_ms(&demo, &id);
    let downtime = s["latest"]["downtime_ms"].as_i64().expect("a downtime");
    assert!(
        downtime >= now_ms() - stop_ms - LOADED.as_millis() as i64 && downtime > 0,
        "the downtime covers the killed run's stop: {downtime} ms"
    );
    assert_eq!(
        sessions(cluster, &demo.db, &format!("odd-lock-{id}")),
        "0",
        "the dead run's update lock session is gone"
    );
}

/// `kill -0 -- -PGID`.
fn group_alive(pgid: i32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("kill")
        .success()
}

/// A peer holding the update lock key of `db` (as click-odoo-update does), as `app`.
#[allow(clippy::zombie_processes)] // returned to the caller, which reaps it (`release`)
fn hold_update_lock(cluster: &PgCluster, db: &str, app: &str) -> (std::process::Child, String) {
    let key = odoo_deploy_core::advisory::lock_key(db);
    let mut holder = Command::new("psql")
        .args(["-X", "-q", "-d", &format!("dbname={db}")])
        .args([
            "-c",
            &format!("SELECT pg_advisory_lock({key})"),
            "-c",
            "SELECT pg_sleep(600)",
        ])
        .envs(cluster.libpq_env(db))
        .env("PGAPPNAME", app)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let deadline = Instant::now() + LOADED;
    loop {
        let pid = sql(
            cluster,
            db,
            &format!(
                "SELECT coalesce(string_agg(l.pid::text, ','), '') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = '{app}'"
            ),
        );
        if !pid.is_empty() {
            return (holder, pid);
        }
        if Instant::now() > deadline {
            let _ = holder.kill();
            let _ = holder.wait();
            panic!("the peer never took the lock");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn release(cluster: &PgCluster, db: &str, mut holder: std::process::Child, pid: &str) {
    let _ = holder.kill();
    let _ = holder.wait();
    sql(cluster, db, &format!("SELECT pg_terminate_backend({pid})"));
}

fn said(stderr: &str) -> String {
    // Diagnostics are wrapped to the terminal's width.
    stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_holder_of_the_update_lock_that_is_not_a_dead_odd_is_never_ended() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = deployed_v1(dir.path(), cluster, Reach::Local);
    demo.checkout(2).expect("v2");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let data = digest(cluster, &demo.db);
    let release_now = status(&demo)["release"].clone();

    for (app, cause) in [
        ("click-odoo-update", "another program, not odd"),
        // An odd whose deploy is not this environment's: live, as far as odd can tell.
        ("odd-lock-20261201T000000Z-elsewhere", "a live odd run"),
    ] {
        let (holder, pid) = hold_update_lock(cluster, &demo.db, app);
        let (code, _, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
        let text = said(&stderr);
        assert_ne!(code, 0, "{stderr}");
        assert!(
            text.contains("the update lock of database")
                && text.contains(cause)
                && text.contains(&format!("pid {pid}"))
                && text.contains(app)
                && text.contains("nothing was changed"),
            "{stderr}"
        );
        let (code, stdout, stderr) = odd(&demo, &["unlock", "demo"], &[]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("left alone") || stderr.contains("left alone"),
            "{stdout}{stderr}"
        );
        assert_eq!(
            sql(
                cluster,
                &demo.db,
                &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")
            ),
            "1",
            "{app}'s session is never ended"
        );
        assert_eq!(digest(cluster, &demo.db), data, "nothing was restored");
        let s = status(&demo);
        assert_eq!(s["release"], release_now, "{s:#}");
        assert_eq!(s["lock"]["state"], "free", "{s:#}");
        release(cluster, &demo.db, holder, &pid);
    }
    // Once the peers are done, the rollback goes through.
    let (code, _, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn what_odd_writes_on_the_host_goes_with_its_release() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    edit_config(
        &demo,
        &[(
            "odoo = { command = [",
            "odoo = { keep_releases = 0, command = [",
        )],
    );
    let mut ids = Vec::new();
    for v in 1..=3 {
        demo.checkout(v).expect("checkout");
        // (A checkout writes the configuration afresh.)
        edit_config(
            &demo,
            &[(
                "odoo = { command = [",
                "odoo = { keep_releases = 0, command = [",
            )],
        );
        let (code, _, stderr) = deploy(&demo, &[]);
        assert_eq!(code, 0, "v{v}: {stderr}");
        ids.push(
            status(&demo)["latest"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let runs: Vec<String> = std::fs::read_dir(demo.deploy_dir.join("runs"))
        .expect("runs")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let releases: Vec<String> = std::fs::read_dir(demo.deploy_dir.join("releases"))
        .expect("releases")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !releases.contains(&ids[0]),
        "v1's release is pruned: {releases:?}"
    );
    assert!(
        !runs.iter().any(|n| n.starts_with(&ids[0])),
        "v1's update files went with its release: {runs:?}"
    );
    assert!(
        runs.iter().any(|n| n.starts_with(&ids[2])) && runs.iter().any(|n| n.starts_with(&ids[1])),
        "the kept releases keep theirs: {runs:?}"
    );
    // One line a deploy, plus the last one's final line (appended after the pruning).
    let ledger = std::fs::read_to_string(demo.deploy_dir.join("ledger.jsonl")).expect("ledger");
    assert!(
        ledger.lines().count() <= ids.len() + 1,
        "{} lines for {} deploys",
        ledger.lines().count(),
        ids.len()
    );
    // Each line names its plan by digest; the plan lives in runs/ and goes with its
    // release like the update's files.
    for line in ledger.lines() {
        let record: Value = serde_json::from_str(line).expect("a ledger line");
        assert!(record.get("plan").is_none(), "no plan in the line: {line}");
        assert!(
            line.len() < LEDGER_LINE_AT_MOST,
            "{} bytes: {line}",
            line.len()
        );
        let id = record["id"].as_str().expect("id");
        let plan = demo.deploy_dir.join("runs").join(format!("{id}-plan.json"));
        if id == ids[0] {
            assert!(!plan.exists(), "v1's plan went with its release");
            continue;
        }
        let bytes = std::fs::read(&plan).expect("the plan beside the run");
        let sum = Command::new("sha256sum")
            .arg(&plan)
            .output()
            .expect("sha256sum");
        let sum = String::from_utf8_lossy(&sum.stdout);
        let digest = sum.split_whitespace().next().expect("a digest");
        assert_eq!(record["plan_digest"], digest, "{line}");
        let plan: Value = serde_json::from_slice(&bytes).expect("plan JSON");
        assert_eq!(plan["release"], id, "the plan of that deploy");
    }
    let (code, history, _) = odd(&demo, &["history", "demo", "--json"], &[]);
    assert_eq!(code, 0);
    let history: Vec<Value> = serde_json::from_str(&history).expect("history JSON");
    assert_eq!(history.len(), 3, "no deploy is lost from the history");
    let (code, text, _) = odd(&demo, &["history", "demo"], &[]);
    assert_eq!(code, 0);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.contains("succeeded")), "{text}");
}

/// A ledger line of a deploy that succeeded, whatever its plan: its steps, changes and
/// reason (a plan alone was ~9 KB on the demo).
const LEDGER_LINE_AT_MOST: usize = 4096;

/// Runs `odd deploy demo --yes` until it reaches `step` (the executor's test hook), then
/// SIGKILLs it there; returns the deploy's id.
fn killed_at(demo: &Demo, scratch: &Path, step: &str) -> String {
    let pause = scratch.join("pause");
    let reached = scratch.join("pause.reached");
    let mut child = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["deploy", "demo", "--yes", "--config"])
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .env("ODD_PAUSE_AT", step)
        .env("ODD_PAUSE_FILE", &pause)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("odd runs");
    let deadline = Instant::now() + LOADED;
    while !reached.exists() {
        if let Some(code) = child.try_wait().expect("wait") {
            panic!("odd ended ({code}) before {step}");
        }
        assert!(Instant::now() < deadline, "{step} never began");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let s = status(demo);
    assert_eq!(s["journal_last"]["step"], step, "{s:#}");
    s["latest"]["id"].as_str().expect("an id").to_owned()
}

#[test]
fn resume_ends_a_dead_runs_update_lock_and_refuses_any_other_holder() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = deployed_v1(&dir.path().join("demo"), cluster, Reach::Local);
    demo.checkout(2).expect("v2");
    // Killed once its update completed: --resume goes forward from the verification.
    let id = killed_at(&demo, dir.path(), "verify modules");
    let data = digest(cluster, &demo.db);

    for (app, cause) in [
        ("click-odoo-update", "another program, not odd"),
        // An odd whose deploy is not this environment's: live, as far as odd can tell.
        ("odd-lock-20261201T000000Z-elsewhere", "a live odd run"),
    ] {
        let (holder, pid) = hold_update_lock(cluster, &demo.db, app);
        let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--resume", "--yes"], &[]);
        let text = said(&stderr);
        assert_eq!(code, 3, "refused: {stderr}");
        assert!(
            text.contains("the update lock of database")
                && text.contains(cause)
                && text.contains(&format!("pid {pid}"))
                && text.contains(app)
                && text.contains(" s old")
                && text.contains("nothing was changed"),
            "{stderr}"
        );
        assert_eq!(
            sql(
                cluster,
                &demo.db,
                &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")
            ),
            "1",
            "{app}'s session is never ended"
        );
        assert_eq!(digest(cluster, &demo.db), data, "nothing was changed");
        let s = status(&demo);
        assert_eq!(s["latest"]["id"], id.as_str(), "{s:#}");
        assert_eq!(s["latest"]["outcome"], "running", "{s:#}");
        assert_eq!(
            s["journal_last"]["step"], "verify modules",
            "the resume wrote nothing: {s:#}"
        );
        assert_ne!(s["lock"]["state"], "held", "{s:#}");
        release(cluster, &demo.db, holder, &pid);
    }

    // A holder of this environment's dead run is ended, and the resume goes on.
    let app = format!("odd-lock-{id}");
    let (mut holder, pid) = hold_update_lock(cluster, &demo.db, &app);
    let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--resume", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        said(&stderr).contains(&format!(
            "ended the update lock session odd's dead run of {id} left (pid {pid}"
        )),
        "{stderr}"
    );
    assert_eq!(sessions(cluster, &demo.db, &app), "0", "{stderr}");
    let _ = holder.kill();
    let _ = holder.wait();
    let s = status(&demo);
    assert_eq!(s["latest"]["id"], id.as_str(), "{s:#}");
    assert_eq!(s["latest"]["outcome"], "succeeded", "{s:#}");
    assert_eq!(s["lock"]["state"], "free", "{s:#}");
}

/// The names in a directory (none when it is absent).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_rollback_prunes_to_retention_but_never_what_it_restored_or_the_way_back() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    let mut ids = Vec::new();
    for v in 1..=3 {
        demo.checkout(v).expect("checkout");
        let (code, _, stderr) = deploy(&demo, &[]);
        assert_eq!(code, 0, "v{v}: {stderr}");
        ids.push(
            status(&demo)["latest"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let copies = || {
        let like = demo.db.replace('_', "\\_");
        let databases = sql(
            cluster,
            &demo.db,
            &format!(
                "SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_database WHERE datname LIKE '{like}-%'"
            ),
        );
        let filestores: Vec<String> = names(&demo.data_dir.join("filestore"))
            .into_iter()
            .filter(|n| *n != demo.db)
            .collect();
        (databases, filestores)
    };
    let (databases, filestores) = copies();
    assert!(
        databases.split(',').count() >= 2 && filestores.len() >= 2,
        "the deploys kept their snapshots (retention 3): {databases} {filestores:?}"
    );
    assert_eq!(names(&demo.deploy_dir.join("releases")), ids);
    // The operator lowers the retention, then rolls v3 back.
    edit_config(
        &demo,
        &[(
            "odoo = { command = [",
            "odoo = { keep_releases = 0, command = [",
        )],
    );
    let mut text = std::fs::read_to_string(demo.config_path()).expect("odd.toml");
    text.push_str("backup = { keep_snapshots = 1, keep_dumps = 1 }\n");
    std::fs::write(demo.config_path(), text).expect("odd.toml");
    let data_before_rollback = crate::deploy::digest(cluster, &demo.db);

    let (code, _, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let s = status(&demo);
    assert_eq!(s["release"], ids[1].as_str(), "v2 is current: {s:#}");
    // v3's release goes (keep_releases = 0); v2's and the one a rollback of v2 needs stay.
    assert_eq!(
        names(&demo.deploy_dir.join("releases")),
        [ids[0].clone(), ids[1].clone()]
    );
    let runs = names(&demo.deploy_dir.join("runs"));
    assert!(
        !runs.iter().any(|n| n.starts_with(&ids[2])),
        "v3's update files and plan went with its release: {runs:?}"
    );
    // One copy is kept (keep_snapshots = 1): the one this rollback set aside, the only
    // copy of what v3's database held; the older snapshots are pruned.
    let (databases, filestores) = copies();
    assert!(
        databases.split(',').count() == 1 && databases.contains("-replaced-"),
        "{databases}"
    );
    assert_eq!(filestores.len(), 1, "{filestores:?}");
    assert!(filestores[0].contains("-replaced-"), "{filestores:?}");
    let replaced = sql(
        cluster,
        &databases,
        "SELECT count(*) FROM ir_module_module WHERE state = 'installed'",
    );
    assert_ne!(replaced, "0", "the copy set aside is a whole database");
    assert_ne!(
        crate::deploy::digest(cluster, &demo.db),
        data_before_rollback,
        "the restored snapshot is live"
    );
    let (code, history, _) = odd(&demo, &["history", "demo", "--json"], &[]);
    assert_eq!(code, 0);
    let history: Vec<Value> = serde_json::from_str(&history).expect("history JSON");
    assert_eq!(history.len(), 3, "no deploy is lost from the history");
    assert_eq!(history[2]["outcome"], "reverted");
}
