//! `odd deploy` end to end: the real binary, a real PostgreSQL cluster, the stand-in Odoo
//! and, for the main path, a real sshd on loopback.

use std::process::Command;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

/// Runs `odd ARGS --config <demo>`; returns (exit code, stdout, stderr).
pub(crate) fn odd(demo: &Demo, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(args)
        .arg("--config")
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run odd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `odd deploy demo --yes --json`: the NDJSON events and the final report.
pub(crate) fn deploy(demo: &Demo, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut args = vec!["deploy", "demo", "--yes", "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = odd(demo, &args, &[]);
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not NDJSON ({e}): {l}\n{stderr}"))
        })
        .collect();
    (code, events, stderr)
}

pub(crate) fn report(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| e["event"] == "finished")
        .map(|e| &e["report"])
        .expect("a finished event")
}

pub(crate) fn sql(cluster: &PgCluster, db: &str, query: &str) -> String {
    cluster.psql(db, query).expect("query").trim().to_owned()
}

pub(crate) fn module_state(cluster: &PgCluster, db: &str, module: &str) -> String {
    sql(
        cluster,
        db,
        &format!(
            "SELECT state || '|' || coalesce(latest_version, '') FROM ir_module_module WHERE name = '{module}'"
        ),
    )
}

pub(crate) fn status(demo: &Demo) -> Value {
    let (code, stdout, stderr) = odd(demo, &["status", "demo", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).expect("status JSON")
}

fn migration_runs(cluster: &PgCluster, db: &str) -> String {
    sql(
        cluster,
        db,
        "SELECT coalesce(string_agg(module || ':' || script, ',' ORDER BY id), '') FROM acme_migration_log",
    )
}

#[test]
fn v1_v2_v3_deploy_over_ssh_and_every_result_is_checked() {
    let cluster = PgCluster::shared();
    let sshd = Sshd::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Ssh(sshd)).expect("demo");
    let auths_before = sshd.auth_count();

    // v1: a first install.
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let r = report(&events);
    assert_eq!(r["outcome"], "succeeded", "{r:#}");
    assert!(
        events.iter().any(|e| e["event"] == "module_progress"),
        "per-module progress is reported"
    );
    assert!(
        events.iter().any(|e| e["event"] == "odoo_log"),
        "Odoo's log is streamed"
    );
    // One SSH authentication for the whole deploy (the required environment is absent).
    assert_eq!(
        sshd.auth_count() - auths_before,
        1,
        "one master connection per host per deploy"
    );
    for module in ["acme_base", "acme_sale", "acme_legacy", "acme_helpdesk"] {
        assert!(
            module_state(cluster, &demo.db, module).starts_with("installed|18.0."),
            "{module}"
        );
    }
    let stored = sql(
        cluster,
        &demo.db,
        "SELECT value FROM ir_config_parameter WHERE key = 'odd.installed_checksums'",
    );
    let stored: Value = serde_json::from_str(&stored).expect("checksums JSON");
    assert_eq!(
        stored["acme_sale"].as_str().map(str::len),
        Some(40),
        "{stored:#}"
    );
    let s = status(&demo);
    assert_eq!(s["current"]["commit"], demo.repo.sha(1).expect("sha"));
    assert_eq!(s["lock"]["state"], "free");
    let first_release = s["release"].as_str().expect("release").to_owned();

    // v2: a new column on a module with dependents, and a new module.
    demo.checkout(2).expect("v2");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'acme_partner_grade' AND column_name = 'tier'"
        ),
        "1"
    );
    assert!(module_state(cluster, &demo.db, "acme_loyalty").starts_with("installed|"));
    let r = report(&events);
    assert!(r["downtime_ms"].as_u64().is_some_and(|d| d > 0), "{r:#}");
    assert_eq!(
        r["backups"].as_array().map(Vec::len),
        Some(1),
        "a snapshot before the update"
    );
    let s = status(&demo);
    assert_eq!(s["current"]["commit"], demo.repo.sha(2).expect("sha"));
    assert_eq!(
        s["current"]["previous_commit"],
        demo.repo.sha(1).expect("sha")
    );
    assert_eq!(s["current"]["previous_release"], first_release.as_str());
    assert!(
        s["current"]["changes"]["effective_update"]
            .as_array()
            .is_some_and(|a| a.len() > 1 && a.contains(&Value::from("acme_partner"))),
        "{s:#}"
    );

    // v3: a version bump with migration scripts; they run exactly once.
    demo.checkout(3).expect("v3");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(
        module_state(cluster, &demo.db, "acme_sale"),
        "installed|18.0.1.4.0"
    );
    assert_eq!(
        migration_runs(cluster, &demo.db),
        "acme_sale:pre-rename_channel,acme_sale:post-fill_defaults"
    );
    // A deploy of the same commit again changes nothing: no lock, no downtime, no script.
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["event"], "nothing_to_do");
    assert_eq!(events[1]["outcome"], "nothing_to_do", "the summary ends it");
    assert_eq!(
        migration_runs(cluster, &demo.db),
        "acme_sale:pre-rename_channel,acme_sale:post-fill_defaults"
    );
    let (code, history, _) = odd(&demo, &["history", "demo", "--json"], &[]);
    assert_eq!(code, 0);
    let history: Vec<Value> = serde_json::from_str(&history).expect("history JSON");
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|r| r["outcome"] == "succeeded"));
}

#[test]
fn a_failing_update_is_rolled_back_to_the_exact_previous_state() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(3).expect("v3");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let before = digest(cluster, &demo.db);
    let release_before = status(&demo)["release"].clone();

    // v4: acme_report's update fails after acme_helpdesk was committed.
    demo.checkout(4).expect("v4");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "rolled back: {stderr}");
    let r = report(&events);
    assert_eq!(r["outcome"], "rolled_back", "{r:#}");
    // Odoo's failing update exits 255: said as the exit code it is, not as a signal.
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("update: odoo-bin exited with 255")),
        "{r:#}"
    );
    assert!(
        r["evidence"].as_array().is_some_and(|e| e
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("CRITICAL")))),
        "the failing log lines are kept: {r:#}"
    );
    assert!(events.iter().any(|e| e["event"] == "rollback_started"));
    assert_eq!(
        digest(cluster, &demo.db),
        before,
        "the data equals the pre-deploy data"
    );
    let s = status(&demo);
    assert_eq!(
        s["release"], release_before,
        "the previous release is current again"
    );
    assert_eq!(s["latest"]["outcome"], "rolled_back");
    assert_eq!(s["lock"]["state"], "free");
    crate::rollback::assert_downtime_covers_the_outage(&s["latest"]);
    // The failed database is kept aside for forensics.
    let aside = sql(
        cluster,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}-replaced-%'",
            demo.db
        ),
    );
    assert_eq!(aside, "1");
}

#[test]
fn the_window_refuses_unless_overridden_with_a_reason_the_ledger_keeps() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.extend_config(
        r#"window = { deny = [{ from = "00:00", to = "24:00", reason = "change freeze" }] }"#,
    )
    .expect("config");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--yes"], &[]);
    assert_eq!(code, 3, "refused: {stderr}");
    assert!(stderr.contains("change freeze"), "{stderr}");
    assert!(
        !demo.deploy_dir.join("ledger.jsonl").exists(),
        "a refused deploy changes nothing"
    );
    let (code, events, stderr) = deploy(&demo, &["--override-window", "hotfix INC-42"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report(&events)["outcome"], "succeeded");
    assert_eq!(status(&demo)["current"]["window_override"], "hotfix INC-42");
}

#[test]
fn of_two_deploys_started_together_exactly_one_runs() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    // Slow updates, so the two runs overlap (set on the host's odoo command: odd's own
    // environment does not reach the programs it starts).
    let odoo_bin = format!("{:?}", demo.odoo_bin().display().to_string());
    crate::rollback::edit_config(
        &demo,
        &[(
            &format!("odoo = {{ command = [{odoo_bin}]"),
            &format!("odoo = {{ command = [\"env\", \"ODD_STANDIN_DELAY=0.1\", {odoo_bin}]"),
        )],
    );
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_odd"))
            .args(["deploy", "demo", "--yes", "--json", "--config"])
            .arg(demo.config_path())
            .output()
            .expect("odd runs")
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().expect("thread"), b.join().expect("thread"))
    });
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(3)),
        "{codes:?}"
    );
    let loser = if a.status.code() == Some(3) { &a } else { &b };
    let text = String::from_utf8_lossy(&loser.stderr);
    assert!(
        text.contains("is locked by") && text.contains("deploy "),
        "{text}"
    );
    assert_eq!(
        status(&demo)["lock"]["state"],
        "free",
        "no lock is left behind"
    );
}

/// A digest of every table's rows (sorted), standing for `pg_dump --data-only`.
pub(crate) fn digest(cluster: &PgCluster, db: &str) -> String {
    let tables = sql(
        cluster,
        db,
        "SELECT string_agg(quote_ident(table_name), ',' ORDER BY table_name) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    let mut all = String::new();
    for table in tables.split(',') {
        all.push_str(table);
        all.push('\n');
        all.push_str(&sql(
            cluster,
            db,
            &format!(
                "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t"
            ),
        ));
    }
    format!("{:x}", fnv1a(&all))
}

/// FNV-1a, enough to compare two dumps in a test.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn secrets_appear_in_no_event_log_plan_or_ledger() {
    use odoo_deploy_fixtures::pg::PgAuth;
    // A cluster that wants a password, so the database password is a real secret.
    let cluster = PgCluster::builder()
        .auth(PgAuth::Scram)
        .start()
        .expect("scram cluster");
    let db_password = cluster.password().expect("a generated password").to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), &cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, first, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");

    // The smoke login's password (Odoo accepts a plaintext one and upgrades it).
    let smoke_password = "smoke-S3cret-5521";
    sql(
        &cluster,
        &demo.db,
        &format!("UPDATE res_users SET password = '{smoke_password}' WHERE login = 'admin'"),
    );
    let secret_file = dir.path().join("admin-password");
    std::fs::write(&secret_file, smoke_password).expect("secret file");
    demo.set_smoke_login("admin", &secret_file).expect("config");
    // The webhook URL carries a token; nothing listens there, so delivery fails.
    let webhook = "http://127.0.0.1:9/hooks/odd?token=hook-S3cret-8803";
    demo.extend_config(r#"notify = { webhook_env = "ODD_TEST_WEBHOOK" }"#)
        .expect("config");
    demo.checkout(2).expect("v2");

    let env = [("ODD_TEST_WEBHOOK", webhook)];
    let plan_text = odd(&demo, &["plan", "demo"], &env);
    let plan_json = odd(&demo, &["plan", "demo", "--json"], &env);
    let (code, stdout, stderr) = odd(&demo, &["deploy", "demo", "--yes", "--json"], &env);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(
        stdout.contains("notification was not delivered"),
        "a failed notification is reported: {stdout}"
    );
    let text_deploy = odd(&demo, &["deploy", "demo", "--yes"], &env);
    let history = odd(&demo, &["history", "demo", "--json"], &env);
    let status = odd(&demo, &["status", "demo", "--json"], &env);
    let ledger = std::fs::read_to_string(demo.deploy_dir.join("ledger.jsonl")).expect("ledger");
    let odoo_log = std::fs::read_to_string(&demo.odoo_log).unwrap_or_default();
    let mut seen = vec![stdout, stderr, ledger, odoo_log];
    // The plans the ledger's lines name, beside the runs.
    let plans: Vec<String> = std::fs::read_dir(demo.deploy_dir.join("runs"))
        .expect("runs")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with("-plan.json"))
        .map(|e| std::fs::read_to_string(e.path()).expect("a plan"))
        .collect();
    assert!(plans.len() >= 2, "the plans of the deploys: {plans:?}");
    seen.extend(plans);
    for (_, out, err) in [plan_text, plan_json, text_deploy, history, status] {
        seen.push(out);
        seen.push(err);
    }
    seen.extend(first.iter().map(Value::to_string));
    assert!(
        seen.iter().any(|s| s.contains("smoke")),
        "the outputs were captured"
    );
    for secret in [
        db_password.as_str(),
        smoke_password,
        webhook,
        "hook-S3cret-8803",
    ] {
        for (i, text) in seen.iter().enumerate() {
            assert!(
                !text.contains(secret),
                "secret {secret:?} leaked in output #{i}:\n{text}"
            );
        }
    }
}

#[test]
fn backup_list_verify_and_restore_from_the_command_line() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = odd(&demo, &["backup", "demo", "--kind", "both"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let before = digest(cluster, &demo.db);

    let (code, listed, stderr) = odd(&demo, &["backups", "demo", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let listed: Vec<Value> = serde_json::from_str(&listed).expect("backups JSON");
    let dump = listed.iter().find(|b| b["kind"] == "dump").expect("a dump");
    let snapshot = listed
        .iter()
        .find(|b| b["kind"] == "snapshot")
        .expect("a snapshot");
    assert!(listed.iter().all(|b| b["verified"] == true), "{listed:#?}");
    let (code, _, stderr) = odd(
        &demo,
        &[
            "backup",
            "verify",
            dump["id"].as_str().expect("id"),
            "--env",
            "demo",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("verified"), "{stderr}");

    // Data written after the backup is set aside by a restore.
    sql(
        cluster,
        &demo.db,
        "UPDATE res_users SET login = 'changed' WHERE login = 'admin'",
    );
    assert_ne!(digest(cluster, &demo.db), before);
    let id = snapshot["id"].as_str().expect("id");
    let (code, _, stderr) = odd(&demo, &["restore", "demo", id], &[]);
    assert_eq!(code, 3, "a restore wants --yes: {stderr}");
    let (code, _, stderr) = odd(&demo, &["restore", "demo", id, "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        digest(cluster, &demo.db),
        before,
        "the data equals the backed-up data"
    );
    assert_eq!(status(&demo)["lock"]["state"], "free");
    // And Odoo answers again.
    let (code, _, stderr) = odd(&demo, &["backup", "demo", "--kind", "dump"], &[]);
    assert_eq!(
        code, 0,
        "Odoo and the database are usable after the restore: {stderr}"
    );
}

#[test]
fn a_database_click_odoo_update_is_updating_is_not_touched() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    // click-odoo-update holds its advisory lock on the database (its key: the first 14 hex
    // digits of sha1("click-odoo-update/<db>")).
    let key = odoo_deploy_core::advisory::lock_key(&demo.db);
    let mut holder = Command::new("psql")
        .args(["-X", "-q", "-d", &format!("dbname={}", demo.db)])
        .args([
            "-c",
            &format!("SELECT pg_advisory_lock({key})"),
            "-c",
            // Longer than any deploy on a loaded machine: ended below.
            "SELECT pg_sleep(600)",
        ])
        .envs(cluster.libpq_env(&demo.db))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let deadline = std::time::Instant::now() + crate::rollback::LOADED;
    let held = loop {
        if sql(
            cluster,
            &demo.db,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
        ) == "1"
        {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(held, "the peer's lock is taken");
    demo.checkout(2).expect("v2");
    let (code, events, stderr) = deploy(&demo, &[]);
    // The peer finishes (its backend would sleep on after its client died: end it).
    let _ = holder.kill();
    let _ = holder.wait();
    sql(
        cluster,
        &demo.db,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'",
    );
    assert_eq!(code, 3, "{stderr}");
    let r = report(&events);
    assert_eq!(r["outcome"], "refused", "nothing was changed: {r:#}");
    // The real cause: not odd, and which session it is.
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("update lock")
                && s.contains("another program, not odd")
                && s.contains("application \"psql\"")),
        "{r:#}"
    );
    assert!(!events.iter().any(|e| e["event"] == "rollback_started"));
    // Once the peer is done, the deploy goes through.
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
}

#[test]
fn production_refuses_a_commit_staging_has_not_deployed() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    // A production environment behind the demo one (which plays staging).
    let prod = dir.path().join("prod");
    demo.extend_config(&format!(
        "\n[environments.production]\n\
         odoo = {{ command = [{odoo_bin:?}], data_dir = {data:?}, deploy_dir = {deploy:?} }}\n\
         service = {{ strategy = \"command\", start = [\"true\"], stop = [\"true\"], status = [\"true\"], logs = [\"true\"] }}\n\
         database = {{ name = \"{db}_prod\", host = \"{host}\", port = {port}, user = \"{user}\", pg_bin_dir = {bin:?} }}\n\
         http = {{ base_url = \"http://127.0.0.1:9\" }}\n\
         requires = \"demo\"\n",
        // The same Odoo installation as the demo's host (production's host has one too).
        odoo_bin = demo.odoo_bin().display().to_string(),
        data = prod.join("data").display().to_string(),
        deploy = prod.join("odd").display().to_string(),
        db = demo.db,
        host = cluster.host(),
        port = cluster.port(),
        user = cluster.user(),
        bin = cluster.bin_dir().display().to_string(),
    ))
    .expect("config");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = odd(&demo, &["deploy", "production", "--yes"], &[]);
    assert_eq!(code, 3, "refused: {stderr}");
    assert!(
        stderr.contains("has not been deployed successfully on demo"),
        "{stderr}"
    );
    assert!(
        !prod.join("odd/ledger.jsonl").exists(),
        "nothing was done on production"
    );

    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, plan, stderr) = odd(&demo, &["plan", "production", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let plan: Value = serde_json::from_str(&plan).expect("plan JSON");
    let gate = plan["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "requires"))
        .expect("requires gate");
    assert_eq!(gate["passed"], true, "{gate:#}");
    assert!(
        gate["detail"]
            .as_str()
            .is_some_and(|d| d.contains("deployed on demo")),
        "{gate:#}"
    );
}

#[test]
fn a_code_only_deploy_takes_no_snapshot_and_a_repeat_is_a_no_op() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    // A commit that changes only a static file (assets need no -u: not in checksums).
    let repo = demo.repo.path();
    std::fs::write(
        repo.join("custom_addons/acme_base/static/description/index.html"),
        "<p>new description</p>\n",
    )
    .expect("write");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["add", "--all"]);
    git(&["commit", "-q", "-m", "static description"]);
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let r = report(&events);
    assert_eq!(r["outcome"], "succeeded", "{r:#}");
    assert_eq!(
        r["backups"].as_array().map(Vec::len),
        Some(0),
        "no module changed: no snapshot"
    );
    assert!(
        !events.iter().any(|e| e["step"] == "update"),
        "no update ran"
    );
    let s = status(&demo);
    assert!(
        s["release"].as_str().is_some_and(|r| demo
            .deploy_dir
            .join("releases")
            .join(r)
            .join("custom_addons/acme_base/static/description/index.html")
            .is_file()),
        "the new code is current: {s:#}"
    );
    // The same commit again: nothing to do.
    let (code, events, _) = deploy(&demo, &[]);
    assert_eq!(code, 0);
    assert_eq!(events[0]["event"], "nothing_to_do");
    assert_eq!(events.len(), 2, "{events:#?}");
}
