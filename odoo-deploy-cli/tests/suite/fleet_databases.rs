//! Fleets of databases on one Odoo: `names` / `pattern` in the environment's `[database]`
//! table, one stop, each database snapshotted, updated with its own change set and
//! checked, a failed one restored from its own snapshot, `max_failed`, `--jobs`.
//!
//! The databases are made as a hoster makes them: the first installed by a deploy of
//! that database alone, the others copied from it (`CREATE DATABASE … TEMPLATE`, the
//! filestore with it), so they carry its stored checksums.

use std::path::Path;
use std::process::Command;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

use crate::deploy::{deploy, digest, module_state, report, sql, status};

/// A sample project at v1 deployed on its database, and `copies` more databases made
/// from it (`<db>_c01`, …), Odoo stopped for the copies and started again by the next
/// deploy.
fn fleet(dir: &Path, copies: usize) -> (Demo, Vec<String>) {
    let cluster = PgCluster::shared();
    let demo = Demo::build(dir, cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    demo.stop_odoo();
    let mut names = vec![demo.db.clone()];
    for i in 1..=copies {
        let name = format!("{}_c{i:02}", demo.db);
        sql(
            cluster,
            "postgres",
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", demo.db),
        );
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
    (demo, names)
}

/// A change every database takes: `acme_partner` bumped with a new column and a post
/// migration filling it from each grade's level — which fails (division by zero) in a
/// database holding a grade of level 0, as a data-dependent migration fails on one
/// customer's data.
fn commit_tier_migration(demo: &Demo) {
    let repo = demo.repo.path();
    let m = repo.join("custom_addons/acme_partner");
    let manifest = std::fs::read_to_string(m.join("__manifest__.py")).expect("manifest");
    std::fs::write(
        m.join("__manifest__.py"),
        manifest.replace("'18.0.1.2.0'", "'18.0.1.3.0'"),
    )
    .expect("manifest");
    let models = m.join("models/partner_grade.py");
    let mut py = std::fs::read_to_string(&models).expect("model");
    py.push_str("    tier = fields.Integer()\n");
    std::fs::write(&models, py).expect("model");
    let schema = m.join("standin/schema.sql");
    let mut text = std::fs::read_to_string(&schema).expect("schema");
    text.push_str("ALTER TABLE acme_partner_grade ADD COLUMN IF NOT EXISTS tier integer;\n");
    std::fs::write(&schema, text).expect("schema");
    let mig = m.join("migrations/18.0.1.3.0");
    std::fs::create_dir_all(&mig).expect("migrations");
    std::fs::write(
        mig.join("post-tier_from_level.sql"),
        "UPDATE acme_partner_grade SET tier = 100 / level;\n",
    )
    .expect("script");
    for args in [
        &["add", "custom_addons/acme_partner"][..],
        &[
            "-c",
            "user.name=Acme Dev",
            "-c",
            "user.email=dev@acme.example",
            "commit",
            "-q",
            "-m",
            "acme_partner: tier from level",
        ][..],
    ] {
        let ok = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .status()
            .expect("git");
        assert!(ok.success(), "git {args:?}");
    }
}

/// Gives database `db` a grade the migration cannot take.
fn poison(cluster: &PgCluster, db: &str) {
    sql(
        cluster,
        db,
        "INSERT INTO acme_partner_grade (name, level, active) VALUES ('Trial', 0, true)",
    );
}

fn entries(report: &Value) -> Vec<(String, String)> {
    report["databases"]
        .as_array()
        .expect("databases in the report")
        .iter()
        .map(|e| {
            (
                e["database"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn drop_all(cluster: &PgCluster, names: &[String]) {
    for name in names {
        let _ = cluster.drop_database(name);
    }
}

#[test]
fn ten_databases_one_fails_from_its_data_it_is_restored_the_nine_others_keep_their_update() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, names) = fleet(dir.path(), 9);
    let pattern = format!("{}_c*", demo.db);
    demo.set_database_keys(&format!("pattern = {pattern:?}, max_failed = 3, jobs = 2"))
        .expect("config");
    let bad = names[5].clone();
    poison(cluster, &bad);
    let before = digest(cluster, &bad);
    commit_tier_migration(&demo);

    let (code, events, stderr) = deploy(&demo, &[]);
    let r = report(&events);
    assert_eq!(code, 6, "partly failed: {stderr}\n{r:#}");
    assert_eq!(r["outcome"], "partly_failed", "{r:#}");
    let finished = events
        .iter()
        .find(|e| e["event"] == "finished")
        .expect("finished");
    assert_eq!(finished["exit"], "partly_failed");

    let got = entries(r);
    assert_eq!(got.len(), 10, "{got:?}");
    for (name, outcome) in &got {
        if *name == bad {
            assert_eq!(outcome, "restored", "{r:#}");
        } else {
            assert_eq!(outcome, "updated", "{name}: {r:#}");
        }
    }
    // The failed one is as it was, byte for byte of its data.
    assert_eq!(digest(cluster, &bad), before, "{bad} restored");
    assert_eq!(
        module_state(cluster, &bad, "acme_partner"),
        "installed|18.0.1.2.0"
    );
    // The others run the update: new version, new column filled by the migration,
    // their own checksums stored.
    for name in names.iter().filter(|n| **n != bad) {
        assert_eq!(
            module_state(cluster, name, "acme_partner"),
            "installed|18.0.1.3.0",
            "{name}"
        );
        assert_eq!(
            sql(
                cluster,
                name,
                "SELECT tier FROM acme_partner_grade WHERE name = 'Gold'"
            ),
            "33",
            "{name}"
        );
    }
    let stored = |db: &str| {
        sql(
            cluster,
            db,
            "SELECT value FROM ir_config_parameter WHERE key = 'odd.installed_checksums'",
        )
    };
    assert_ne!(
        stored(&names[1]),
        stored(&bad),
        "checksums are per database"
    );

    // Progress said each database as it finished, the last with none left.
    let progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "database_finished")
        .collect();
    assert_eq!(progress.len(), 10);
    let last = progress.last().expect("progress");
    assert_eq!(
        (
            last["done"].as_u64(),
            last["failed"].as_u64(),
            last["left"].as_u64()
        ),
        (Some(9), Some(1), Some(0))
    );

    // The ledger says so, per database, and `odd status` shows each.
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "partly_failed");
    assert_eq!(entries(&s["latest"]), got);
    let (code, text, stderr) = crate::deploy::odd(&demo, &["status", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        text.contains(&format!("database {bad}: restored")),
        "{text}"
    );
    assert_eq!(text.matches(": updated").count(), 9, "{text}");

    // The next deploy, the data fixed, updates only the restored database.
    sql(
        cluster,
        &bad,
        "UPDATE acme_partner_grade SET level = 1 WHERE level = 0",
    );
    let (code, events, stderr) = deploy(&demo, &[]);
    let r = report(&events);
    assert_eq!(code, 0, "{stderr}\n{r:#}");
    for (name, outcome) in entries(r) {
        let want = if name == bad { "updated" } else { "unchanged" };
        assert_eq!(outcome, want, "{name}: {r:#}");
    }
    assert_eq!(
        module_state(cluster, &bad, "acme_partner"),
        "installed|18.0.1.3.0"
    );
    demo.stop_odoo();
    drop_all(cluster, &names);
}

#[test]
fn max_failed_0_stops_the_fleet_at_the_first_failure_and_rolls_every_database_back() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, names) = fleet(dir.path(), 2);
    demo.set_database_keys(&format!(
        "names = [{:?}, {:?}], max_failed = 0, jobs = 1",
        names[1], names[2]
    ))
    .expect("config");
    poison(cluster, &names[1]);
    let before: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    commit_tier_migration(&demo);

    let (code, events, stderr) = deploy(&demo, &[]);
    let r = report(&events);
    assert_eq!(code, 4, "rolled back: {stderr}\n{r:#}");
    assert_eq!(r["outcome"], "rolled_back", "{r:#}");
    assert_eq!(
        entries(r),
        vec![
            (names[0].clone(), "rolled_back".to_owned()),
            (names[1].clone(), "restored".to_owned()),
            (names[2].clone(), "skipped".to_owned()),
        ],
        "{r:#}"
    );
    let after: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    assert_eq!(after, before, "every database as it was");
    // The previous release runs again.
    let s = status(&demo);
    assert_eq!(s["current"]["commit"], demo.repo.sha(1).expect("sha"));
    demo.stop_odoo();
    drop_all(cluster, &names);
}

/// The most updates running at once in the stand-in's log (`start|end <ns> <db> <pid>`).
fn max_overlap(log: &str) -> usize {
    let mut marks: Vec<(u128, i32)> = log
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let kind = f.next()?;
            let at: u128 = f.next()?.parse().ok()?;
            Some((at, if kind == "start" { 1 } else { -1 }))
        })
        .collect();
    // An end before a start at the same instant: touching runs do not overlap.
    marks.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in marks {
        now += d;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

#[test]
fn jobs_bounds_how_many_updates_run_at_once_by_the_standins_own_log() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, names) = fleet(dir.path(), 5);
    demo.set_database_keys(&format!("pattern = \"{}_c*\", jobs = 1", demo.db))
        .expect("config");
    let log = dir.path().join("updates.log");
    let odoo_bin = format!("{:?}", demo.odoo_bin().display().to_string());
    crate::rollback::edit_config(
        &demo,
        &[(
            &format!("odoo = {{ command = [{odoo_bin}]"),
            &format!(
                "odoo = {{ command = [\"env\", \"ODD_STANDIN_UPDATE_BARRIER=2\", {:?}, {odoo_bin}]",
                format!("ODD_STANDIN_UPDATE_LOG={}", log.display())
            ),
        )],
    );
    commit_tier_migration(&demo);
    // --jobs on the command line wins over odd.toml's jobs = 1. The first update waits
    // (barrier) until a second one has started, so 2 at once is reached whatever the
    // load; had odd run them one by one, it would wait out its deadline and the log
    // would show 1.
    let (code, events, stderr) = deploy(&demo, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}\n{:#}", report(&events));
    let text = std::fs::read_to_string(&log).expect("the stand-in's update log");
    let starts = text.lines().filter(|l| l.starts_with("start ")).count();
    assert_eq!(starts, names.len(), "one update a database:\n{text}");
    assert_eq!(
        max_overlap(&text),
        2,
        "at most 2 at once, and 2 reached:\n{text}"
    );
    demo.stop_odoo();
    drop_all(cluster, &names);
}

#[test]
fn a_fleet_that_names_a_bad_database_or_pattern_is_bad_input_pointing_at_it() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    demo.set_database_keys("names = [\"ok\", \"cust,a\"], pattern = \"\", jobs = 0")
        .expect("config");
    let (code, _, stderr) = crate::deploy::odd(&demo, &["plan", "demo"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`cust,a` cannot be a database name here: it contains `,`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("is not a pattern of database names"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`jobs = 0` would update nothing"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_first_database_failing_within_max_failed_is_partly_failed_and_none_updated_rolls_back() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, names) = fleet(dir.path(), 2);
    demo.set_database_keys(&format!(
        "names = [{:?}, {:?}], max_failed = 3",
        names[1], names[2]
    ))
    .expect("config");
    poison(cluster, &names[0]);
    let before = digest(cluster, &names[0]);
    commit_tier_migration(&demo);

    // `name` fails and is restored: counted like any other, the others keep their update.
    let (code, events, stderr) = deploy(&demo, &[]);
    let r = report(&events);
    assert_eq!(code, 6, "partly failed: {stderr}\n{r:#}");
    assert_eq!(
        entries(r),
        vec![
            (names[0].clone(), "restored".to_owned()),
            (names[1].clone(), "updated".to_owned()),
            (names[2].clone(), "updated".to_owned()),
        ]
    );
    assert_eq!(digest(cluster, &names[0]), before);
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("1 failed and restored from their snapshots")
            && !reason.contains("before any change"),
        "{r:#}"
    );

    // Next deploy: only `name` has something to update, and fails again — within
    // max_failed, yet nothing deployed: a failure, rolled back.
    let (code, events, stderr) = deploy(&demo, &[]);
    let r = report(&events);
    assert_eq!(code, 4, "rolled back: {stderr}\n{r:#}");
    assert_eq!(r["outcome"], "rolled_back", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("none was updated"),
        "{r:#}"
    );
    assert_eq!(digest(cluster, &names[0]), before);
    demo.stop_odoo();
    drop_all(cluster, &names);
}

#[test]
fn a_fleet_databases_snapshot_is_restored_only_into_its_own_database() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, names) = fleet(dir.path(), 2);
    demo.set_database_keys(&format!("names = [{:?}, {:?}]", names[1], names[2]))
        .expect("config");
    let before: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    commit_tier_migration(&demo);
    // Two at once: their snapshots may fall in the same millisecond.
    let (code, events, stderr) = deploy(&demo, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}\n{:#}", report(&events));
    let s = status(&demo);
    let snapshots: Vec<String> = s["latest"]["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|e| e["snapshot"].as_str().expect("a snapshot each").to_owned())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = snapshots.iter().collect();
    assert_eq!(
        distinct.len(),
        names.len(),
        "one id a database: {snapshots:?}"
    );
    let updated: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    assert_ne!(updated[0], before[0]);

    // Another database's snapshot is refused for the main one, which stays as it is.
    let (code, out, stderr) =
        crate::deploy::odd(&demo, &["restore", "demo", &snapshots[1], "--yes"], &[]);
    assert_ne!(code, 0, "{out}\n{stderr}");
    // (The diagnostic wraps its lines: its code and the names are checked.)
    assert!(
        stderr.contains("odd::backup::other_database")
            && stderr.contains(&format!("\"{}\"", names[1]))
            && stderr.contains("--database"),
        "{stderr}"
    );
    assert_eq!(
        digest(cluster, &names[0]),
        updated[0],
        "the main one untouched"
    );
    // Nor into a third database of the fleet.
    let (code, _, stderr) = crate::deploy::odd(
        &demo,
        &[
            "restore",
            "demo",
            &snapshots[1],
            "--database",
            &names[2],
            "--yes",
        ],
        &[],
    );
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(digest(cluster, &names[2]), updated[2]);
    // A name outside the fleet is refused, naming the fleet.
    let (code, _, stderr) = crate::deploy::odd(
        &demo,
        &[
            "restore",
            "demo",
            &snapshots[1],
            "--database",
            "postgres",
            "--yes",
        ],
        &[],
    );
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("is not a database of"), "{stderr}");
    // Into its own: as before the deploy, the others keep their update.
    let (code, out, stderr) = crate::deploy::odd(
        &demo,
        &[
            "restore",
            "demo",
            &snapshots[1],
            "--database",
            &names[1],
            "--yes",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{stderr}");
    assert_eq!(digest(cluster, &names[1]), before[1]);
    assert_eq!(digest(cluster, &names[0]), updated[0]);
    assert_eq!(digest(cluster, &names[2]), updated[2]);
    demo.stop_odoo();
    drop_all(cluster, &names);
}

#[test]
fn rollback_of_one_database_then_of_the_rest_of_the_fleet() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, names) = fleet(dir.path(), 2);
    demo.set_database_keys(&format!("names = [{:?}, {:?}]", names[1], names[2]))
        .expect("config");
    let before: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    commit_tier_migration(&demo);
    let (code, events, stderr) = deploy(&demo, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}\n{:#}", report(&events));

    // One database back: its snapshot swapped in, the code and the others kept.
    let (code, out, stderr) = crate::deploy::odd(
        &demo,
        &["rollback", "demo", "--database", &names[1], "--yes"],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{stderr}");
    assert!(
        out.contains(&format!("only {}", names[1]))
            || stderr.contains(&format!("only {}", names[1])),
        "{out}\n{stderr}"
    );
    assert_eq!(
        digest(cluster, &names[1]),
        before[1],
        "{} as before",
        names[1]
    );
    for i in [0, 2] {
        assert_eq!(
            module_state(cluster, &names[i], "acme_partner"),
            "installed|18.0.1.3.0",
            "{} keeps its update",
            names[i]
        );
    }
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "partly_failed", "{s:#}");
    assert_eq!(
        entries(&s["latest"]),
        vec![
            (names[0].clone(), "updated".to_owned()),
            (names[1].clone(), "rolled_back".to_owned()),
            (names[2].clone(), "updated".to_owned()),
        ]
    );
    assert_eq!(
        s["current"]["commit"], s["latest"]["commit"],
        "the fleet's code still runs"
    );

    // Then all: the other two back to their snapshots, the previous release current.
    let (code, out, stderr) = crate::deploy::odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 0, "{out}\n{stderr}");
    let after: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    assert_eq!(after, before, "every database as before the deploy");
    let s = status(&demo);
    // The ledger says what was restored, not "code only".
    let reason = s["latest"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("2 database(s) restored from their snapshots")
            && reason.contains(&names[0])
            && reason.contains(&names[2])
            && !reason.contains("code only"),
        "{s:#}"
    );
    assert_eq!(s["current"]["commit"], demo.repo.sha(1).expect("sha"));
    assert!(
        entries(&s["latest"])
            .iter()
            .all(|(_, o)| o == "rolled_back"),
        "{s:#}"
    );
    // A name that is not of the fleet is refused, naming the fleet.
    let (code, _, stderr) = crate::deploy::odd(
        &demo,
        &["rollback", "demo", "--database", "nope", "--yes"],
        &[],
    );
    assert_ne!(code, 0, "{stderr}");
    demo.stop_odoo();
    drop_all(cluster, &names);
}

#[test]
fn odd_killed_mid_fleet_status_tells_each_database_and_rollback_restores_them() {
    killed_mid_fleet(&["rollback", "demo", "--yes"], 0);
}

#[test]
fn odd_killed_mid_fleet_resume_rolls_it_back_rather_than_forward() {
    killed_mid_fleet(&["deploy", "demo", "--resume", "--yes"], 4);
}

/// Kills odd once one database is updated and the next one's update runs, checks what
/// `odd status` says, then recovers with `recover` (which exits `code`).
fn killed_mid_fleet(recover: &[&str], code: i32) {
    let want = code;
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, names) = fleet(dir.path(), 3);
    demo.set_database_keys(&format!("pattern = \"{}_c*\", jobs = 1", demo.db))
        .expect("config");
    let log = dir.path().join("updates.log");
    let odoo_bin = format!("{:?}", demo.odoo_bin().display().to_string());
    crate::rollback::edit_config(
        &demo,
        &[(
            &format!("odoo = {{ command = [{odoo_bin}]"),
            &format!(
                "odoo = {{ command = [\"env\", \"ODD_STANDIN_DELAY=1\", {:?}, {odoo_bin}]",
                format!("ODD_STANDIN_UPDATE_LOG={}", log.display())
            ),
        )],
    );
    let before: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    commit_tier_migration(&demo);
    let mut child = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["deploy", "demo", "--yes", "--json", "--config"])
        .arg(demo.config_path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("odd runs");
    // Killed once one database is updated and the next one's update runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().filter(|l| l.starts_with("start ")).count() >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no second update began:\n{text}"
        );
        assert!(child.try_wait().expect("wait").is_none(), "odd ended early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("kill odd");
    let _ = child.wait();

    let (code, text, stderr) = crate::deploy::odd(&demo, &["status", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("INTERRUPTED"), "{text}");
    assert!(
        text.contains(&format!("{} updated, snapshot snapshot-", names[0])),
        "the first database is said updated, with its snapshot:\n{text}"
    );
    assert!(
        text.contains(&format!("{} update begun (mixed state)", names[1])),
        "the second is said mixed:\n{text}"
    );

    // One database alone cannot be picked out of a run that died: refused, not ignored.
    let (code, out, stderr) = crate::deploy::odd(
        &demo,
        &["rollback", "demo", "--database", &names[1], "--yes"],
        &[],
    );
    assert_ne!(code, 0, "{out}\n{stderr}");
    assert!(stderr.contains("odd::rollback::fleet"), "{stderr}");
    let (_, text, _) = crate::deploy::odd(&demo, &["status", "demo"], &[]);
    assert!(text.contains("INTERRUPTED"), "nothing was done:\n{text}");

    let (code, out, stderr) = crate::deploy::odd(&demo, recover, &[]);
    assert_eq!(code, want, "{out}\n{stderr}");
    let after: Vec<String> = names.iter().map(|n| digest(cluster, n)).collect();
    assert_eq!(after, before, "every database as before the deploy");
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "rolled_back", "{s:#}");
    assert_eq!(s["current"]["commit"], demo.repo.sha(1).expect("sha"));
    demo.stop_odoo();
    drop_all(cluster, &names);
}
