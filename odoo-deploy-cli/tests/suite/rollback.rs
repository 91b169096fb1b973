//! When a deploy fails: every kind of failure the executor must roll back on, end to
//! end — the real `odd`, a real PostgreSQL cluster and the stand-in Odoo — each ending
//! with the data, the filestore and the release exactly as they were before.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

use crate::deploy::{deploy, digest, odd, report, sql, status};

/// Writes (`Some`) or removes (`None`) files in the project and commits them.
pub(crate) fn commit(demo: &Demo, files: &[(&str, Option<&str>)], message: &str) {
    let root = demo.repo.path();
    for (path, content) in files {
        let full = root.join(path);
        match content {
            Some(text) => {
                std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
                std::fs::write(&full, text).expect("write");
                if text.starts_with("#!") {
                    std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755))
                        .expect("chmod");
                }
            }
            None => std::fs::remove_file(&full).expect("remove"),
        }
    }
    git(root, &["add", "-A"]);
    git(
        root,
        &[
            "-c",
            "user.name=odd tests",
            "-c",
            "user.email=tests@odd.invalid",
            "commit",
            "--quiet",
            "-m",
            message,
        ],
    );
}

pub(crate) fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rewrites `odd.toml` with `edit` (a variant of the demo's configuration); every
/// replacement must hit.
pub(crate) fn edit_config(demo: &Demo, edits: &[(&str, &str)]) {
    let path = demo.config_path();
    let mut text = std::fs::read_to_string(&path).expect("odd.toml");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in odd.toml:\n{text}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&path, text).expect("odd.toml");
}

/// Slows the stand-in's update on the host (a second a module, set on the configured
/// odoo command), so a fault can strike in the middle of it.
pub(crate) fn slow_update(demo: &Demo) {
    slow_update_by(demo, 1);
}

/// The same, `secs` a module.
pub(crate) fn slow_update_by(demo: &Demo, secs: u32) {
    let odoo_bin = format!("{:?}", demo.odoo_bin().display().to_string());
    edit_config(
        demo,
        &[(
            &format!("odoo = {{ command = [{odoo_bin}]"),
            &format!("odoo = {{ command = [\"env\", \"ODD_STANDIN_DELAY={secs}\", {odoo_bin}]"),
        )],
    );
}

/// A running `odd deploy` whose output is read as it comes (a pipe nobody reads would
/// stop odd once it is full).
pub(crate) struct Running {
    pub(crate) child: std::process::Child,
    /// The deploy id, from the journal.
    pub(crate) id: String,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
}

impl Running {
    /// Waits for odd to end: its exit code, stdout and stderr.
    pub(crate) fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().expect("odd ends");
        let out = self.out.join().expect("stdout reader");
        let err = self.err.join().expect("stderr reader");
        (
            status.code(),
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    /// SIGKILLs odd (as the OOM killer or a closed laptop would) and reaps it.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.finish();
    }
}

/// How long a step of a test may take on a loaded machine before it is a failure.
pub(crate) const LOADED: std::time::Duration = std::time::Duration::from_secs(300);

/// Starts `odd deploy demo --yes EXTRA…` and returns once the journal says its update
/// began (the previous deploy's journal is removed first). Fails at once, with odd's
/// output, if odd ends before that.
pub(crate) fn deploy_until_the_update(demo: &Demo, extra: &[&str]) -> Running {
    use std::io::Read as _;
    let journal = demo.deploy_dir.join("journal");
    std::fs::remove_file(&journal).expect("a journal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["deploy", "demo", "--yes"])
        .args(extra)
        .arg("--config")
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("odd runs");
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let mut running = Running {
        child,
        id: String::new(),
        out,
        err,
    };
    let deadline = std::time::Instant::now() + LOADED;
    loop {
        if let Some(id) = update_begun(demo) {
            running.id = id;
            return running;
        }
        if running.child.try_wait().expect("wait").is_some() {
            let (code, out, err) = running.finish();
            panic!("odd ended ({code:?}) before its update began:\n{err}\n{out}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the update never began in {} s",
            LOADED.as_secs()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The deploy whose update the journal says began, if one did.
pub(crate) fn update_begun(demo: &Demo) -> Option<String> {
    let text = std::fs::read_to_string(demo.deploy_dir.join("journal")).unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.contains(r#""step":"update","state":"started""#))?;
    let entry: Value = serde_json::from_str(line).ok()?;
    entry["deploy"].as_str().map(str::to_owned)
}

/// Waits until deploy `id`'s detached update on the host has begun loading modules
/// (so a fault strikes in the middle of it, however loaded the machine is).
pub(crate) fn wait_for_update_progress(demo: &Demo, id: &str) {
    let log = demo
        .deploy_dir
        .join("runs")
        .join(format!("{id}-update-0.log"));
    let deadline = std::time::Instant::now() + LOADED;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("odoo.modules.loading: Loading module")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the update of {id} loaded no module in {} s",
            LOADED.as_secs()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A digest of the database's filestore: every file's path and content.
pub(crate) fn filestore_digest(demo: &Demo) -> String {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .expect("inside")
                    .display()
                    .to_string();
                out.push((rel, std::fs::read(&path).expect("read")));
            }
        }
    }
    let base = demo.data_dir.join("filestore").join(&demo.db);
    let mut files = Vec::new();
    walk(&base, &base, &mut files);
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, content) in &files {
        for b in name.bytes().chain([0]).chain(content.iter().copied()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{}:{h:x}", files.len())
}

/// A change that writes to the database and the filestore when it is updated: a new
/// grade row and an attachment in acme_partner (which has dependents).
const PARTNER_CHANGE: [(&str, Option<&str>); 2] = [
    (
        "custom_addons/acme_partner/standin/data.sql",
        Some(
            "INSERT INTO acme_partner_grade (name, level, active) SELECT 'Gold', 3, true WHERE NOT EXISTS (SELECT 1 FROM acme_partner_grade WHERE name = 'Gold');\n\
             INSERT INTO acme_partner_grade (name, level, active) SELECT 'Platinum', 4, true WHERE NOT EXISTS (SELECT 1 FROM acme_partner_grade WHERE name = 'Platinum');\n",
        ),
    ),
    (
        "custom_addons/acme_partner/standin/attachments/grades.txt",
        Some("Gold, Platinum\n"),
    ),
];

pub(crate) const EXTRA_MANIFEST: &str = "{\n    'name': 'Acme Extra',\n    'version': '18.0.1.0.0',\n    'depends': ['acme_base'],\n    'installable': True,\n    'license': 'LGPL-3',\n}\n";

/// One failure kind: how to set the environment up, what the failing deploy should say.
struct Case {
    name: &'static str,
    /// Prepares the project and the config, then deploys the base once (it must succeed);
    /// afterwards makes the failing commit.
    setup: fn(&mut Demo),
    fail: fn(&mut Demo),
    /// Text the ledger's reason must contain.
    reason: &'static str,
    /// Text one of the ledger's evidence lines must contain.
    evidence: &'static str,
}

fn base_v3(demo: &mut Demo) {
    demo.checkout(3).expect("v3");
}

const CASES: [Case; 4] = [
    Case {
        name: "update exits 0 with `invalid module names, ignored`",
        setup: base_v3,
        // A new required module whose directory `git archive` leaves out
        // (`export-ignore`): planned from the work tree, absent from the release.
        fail: |demo| {
            let mut files = PARTNER_CHANGE.to_vec();
            files.push((
                "custom_addons/acme_extra/__manifest__.py",
                Some(EXTRA_MANIFEST),
            ));
            files.push(("custom_addons/acme_extra/__init__.py", Some("")));
            files.push((
                ".gitattributes",
                Some("custom_addons/acme_extra export-ignore\n"),
            ));
            commit(demo, &files, "acme_extra, kept out of archives by mistake");
            edit_config(
                demo,
                &[(
                    "required_modules = [",
                    "required_modules = [\"acme_extra\", ",
                )],
            );
        },
        reason: "invalid module names",
        evidence: "invalid module names, ignored: acme_extra",
    },
    Case {
        name: "health never comes",
        // The service starts Odoo through a launcher shipped in the release.
        setup: |demo| {
            demo.checkout(3).expect("v3");
            commit(
                demo,
                &[("bin/odoo-server", Some("#!/bin/sh\nexec \"$@\"\n"))],
                "a launcher",
            );
            let pid = format!("{:?}", demo.pidfile.display().to_string());
            let launcher = format!(
                "{:?}",
                demo.deploy_dir
                    .join("current/bin/odoo-server")
                    .display()
                    .to_string()
            );
            edit_config(
                demo,
                &[
                    (
                        &format!("\"start\", {pid}, "),
                        &format!("\"start\", {pid}, {launcher}, "),
                    ),
                    ("health_timeout_secs = 30", "health_timeout_secs = 10"),
                ],
            );
        },
        // The new launcher forgot its `exec`: it starts nothing.
        fail: |demo| {
            let mut files = PARTNER_CHANGE.to_vec();
            files.push((
                "bin/odoo-server",
                Some("#!/bin/sh\necho \"would start: $*\"\n"),
            ));
            commit(demo, &files, "launcher refactored");
        },
        reason: "health",
        evidence: "",
    },
    Case {
        name: "health 200 but a smoke check of a changed module fails",
        setup: base_v3,
        fail: |demo| {
            commit(demo, &PARTNER_CHANGE, "platinum grade");
            edit_config(
                demo,
                &[(
                    "contains = \"Log in\" }]",
                    "contains = \"Log in\" }], modules = { acme_partner = { pages = [{ path = \"/web/login\", contains = \"Partner grades\" }] } }",
                )],
            );
        },
        reason: "Partner grades",
        evidence: "",
    },
    Case {
        name: "the startup log shows skipped modules",
        setup: base_v3,
        // A new addons directory in the project that the server's odoo.conf does not
        // list: the update (given the release's paths) installs acme_extra, the server
        // skips it and answers 200 anyway.
        fail: |demo| {
            let mut files = PARTNER_CHANGE.to_vec();
            files.push((
                "extra_addons/acme_extra/__manifest__.py",
                Some(EXTRA_MANIFEST),
            ));
            files.push(("extra_addons/acme_extra/__init__.py", Some("")));
            commit(demo, &files, "acme_extra in a new addons directory");
            // Not checked against the host's odoo.conf (that check refuses this plan:
            // `odd plan` names the missing entry), so the server really starts without it.
            demo.extend_config("installation = { use_odoo_config = false }")
                .expect("odd.toml");
            edit_config(
                demo,
                &[
                    (
                        "addons_paths = [\"custom_addons\"]",
                        "addons_paths = [\"custom_addons\", \"extra_addons\"]",
                    ),
                    (
                        "required_modules = [",
                        "required_modules = [\"acme_extra\", ",
                    ),
                ],
            );
        },
        reason: "modules were not loaded: acme_extra",
        evidence: "Some modules are not loaded",
    },
];

/// The ledger's downtime of a rolled-back deploy runs from the first stop of Odoo to the
/// healthy answer after the rollback's restart: at least every step after the stop up to
/// that answer (the stop step itself first checks the update lock, with Odoo still up).
pub(crate) fn assert_downtime_covers_the_outage(record: &Value) {
    let steps = record["steps"].as_array().expect("steps");
    let first = steps
        .iter()
        .position(|s| s["step"] == "stop")
        .expect("a stop");
    let last = steps
        .iter()
        .rposition(|s| s["step"] == "rollback health" && s["ok"] == true)
        .expect("a healthy answer after the rollback");
    let outage: u64 = steps[first + 1..=last]
        .iter()
        .filter_map(|s| s["duration_ms"].as_u64())
        .sum();
    let downtime = record["downtime_ms"].as_u64().expect("a downtime");
    assert!(
        downtime >= outage,
        "downtime {downtime} ms < {outage} ms of steps from the stop to the rollback's healthy answer: {record:#}"
    );
}

/// Runs one case; panics (with the reason) when anything is not as it must be.
fn run_case(cluster: &PgCluster, case: &Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    (case.setup)(&mut demo);
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "the base deploy: {stderr}\n{events:#?}");
    let before = digest(cluster, &demo.db);
    let files_before = filestore_digest(&demo);
    let release_before = status(&demo)["release"].clone();
    assert!(release_before.is_string());

    (case.fail)(&mut demo);
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "rolled back: {stderr}");
    let r = report(&events);
    assert_eq!(r["outcome"], "rolled_back", "{r:#}\n{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "rollback_started"),
        "{events:#?}"
    );
    assert_eq!(digest(cluster, &demo.db), before, "the data is restored");
    assert_eq!(
        filestore_digest(&demo),
        files_before,
        "the filestore is restored"
    );
    let s = status(&demo);
    assert_eq!(
        s["release"], release_before,
        "the previous release is current"
    );
    assert_eq!(s["lock"]["state"], "free", "no lock is left");
    // The ledger tells the truth: outcome, reason, evidence.
    let latest = &s["latest"];
    assert_eq!(latest["outcome"], "rolled_back", "{latest:#}");
    let reason = latest["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(case.reason),
        "reason {reason:?} should say {:?}",
        case.reason
    );
    let evidence: Vec<&str> = latest["evidence"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        case.evidence.is_empty() || evidence.iter().any(|l| l.contains(case.evidence)),
        "evidence should show {:?}: {evidence:#?}",
        case.evidence
    );
    assert!(
        latest["steps"].as_array().is_some_and(|s| s
            .iter()
            .any(|s| s["step"] == "rollback restore snapshot" && s["ok"] == true)),
        "the snapshot was restored: {latest:#}"
    );
    assert_downtime_covers_the_outage(latest);
    // The environment serves again.
    let (code, _, stderr) = odd(&demo, &["status", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn every_kind_of_failure_is_rolled_back_to_the_exact_previous_state() {
    let cluster = PgCluster::shared();
    let results: Vec<(&str, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = CASES
            .iter()
            .map(|case| (case.name, s.spawn(move || run_case(cluster, case))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| (name, h.join().is_ok()))
            .collect()
    });
    let lines: Vec<(bool, String)> = results
        .iter()
        .map(|(name, ok)| (*ok, (*name).to_owned()))
        .collect();
    crate::support::report_matrix("failure kinds (each rolled back)", &lines);
}

#[test]
fn odd_rollback_undoes_a_bad_deploy_after_saying_what_is_lost() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let v1 = status(&demo);
    let v1_release = v1["release"].as_str().expect("release").to_owned();
    let v1_data = digest(cluster, &demo.db);
    let v1_files = filestore_digest(&demo);

    // v2 deploys well, then users write data, then v2 turns out bad.
    demo.checkout(2).expect("v2");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let v2_release = status(&demo)["release"]
        .as_str()
        .expect("release")
        .to_owned();
    let v2_downtime = status(&demo)["latest"]["downtime_ms"]
        .as_u64()
        .expect("v2's downtime");
    sql(
        cluster,
        &demo.db,
        "INSERT INTO acme_partner_grade (name, level, active, tier) VALUES ('Written after v2', 9, true, 4)",
    );

    // Without --yes (and no terminal): it says what would be lost and changes nothing.
    let (code, _, stderr) = odd(&demo, &["rollback", "demo"], &[]);
    assert_eq!(code, 3, "not confirmed, nothing changed: {stderr}");
    assert!(
        stderr.contains(&format!("undoes: {v2_release}")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("-> {v1_release}")), "{stderr}");
    assert!(stderr.contains("LOST: everything written"), "{stderr}");
    assert!(
        stderr.contains(" ago)"),
        "the time since is shown: {stderr}"
    );
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert_eq!(status(&demo)["release"], v2_release.as_str());

    // A code-only rollback of a deploy that changed modules is refused…
    let (code, _, stderr) = odd(&demo, &["rollback", "demo", "--code-only", "--yes"], &[]);
    assert_eq!(code, 3, "refused: {stderr}");
    assert!(
        stderr.contains("changed the database") && stderr.contains("--force-code-only"),
        "{stderr}"
    );
    assert_eq!(status(&demo)["release"], v2_release.as_str());

    // …and the full one restores the pre-v2 snapshot and the v1 release, verified.
    let (code, stdout, stderr) = odd(&demo, &["rollback", "demo", "--yes", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let out: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(out["report"]["ok"], true, "{out:#}");
    assert!(
        out["plan"]["snapshot"]
            .as_str()
            .is_some_and(|s| s.starts_with("snapshot-")),
        "{out:#}"
    );
    assert_eq!(digest(cluster, &demo.db), v1_data, "the data before v2");
    assert_eq!(filestore_digest(&demo), v1_files, "the filestore before v2");
    let s = status(&demo);
    assert_eq!(s["release"], v1_release.as_str());
    assert_eq!(s["current"]["commit"], demo.repo.sha(1).expect("sha"));
    assert_eq!(s["lock"]["state"], "free");
    assert_eq!(s["latest"]["id"], v2_release.as_str());
    assert_eq!(s["latest"]["outcome"], "reverted");
    // The revert's own outage (stop to healthy) is added to the deploy's downtime.
    let outage = out["report"]["downtime_ms"].as_u64().expect("an outage");
    assert!(outage > 0, "{out:#}");
    assert_eq!(
        s["latest"]["downtime_ms"].as_u64(),
        Some(v2_downtime + outage),
        "{s:#}"
    );
    assert!(
        s["latest"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("odd rollback") && r.contains(&v1_release)),
        "{s:#}"
    );
    let page = odd_http_get(&demo, "/web/login");
    assert!(page.contains("Log in"), "Odoo serves again: {page}");

    // `--to`: two deploys later, back to right after v1 in one go.
    demo.checkout(2).expect("v2");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    demo.checkout(3).expect("v3");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = odd(
        &demo,
        &["rollback", "demo", "--to", &v1_release, "--yes"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(digest(cluster, &demo.db), v1_data);
    let s = status(&demo);
    assert_eq!(s["release"], v1_release.as_str());
    assert_eq!(s["current"]["commit"], demo.repo.sha(1).expect("sha"));
    let (_, history, _) = odd(&demo, &["history", "demo", "--json"], &[]);
    let history: Vec<Value> = serde_json::from_str(&history).expect("history");
    let outcomes: Vec<&str> = history
        .iter()
        .filter_map(|r| r["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["succeeded", "reverted", "reverted", "reverted"],
        "{history:#?}"
    );

    // Forced code-only: the code goes back, the data stays as v2 left it — and the
    // verification shows why it was refused: v2 installed acme_loyalty, whose code the
    // old release lacks, so Odoo skips it. The ledger says so; nothing is hidden.
    demo.checkout(2).expect("v2");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let v2_data = digest(cluster, &demo.db);
    let (code, _, stderr) = odd(
        &demo,
        &["rollback", "demo", "--force-code-only", "--yes"],
        &[],
    );
    assert_eq!(code, 5, "its verification failed: not restored: {stderr}");
    assert!(
        stderr.contains("code-only rollback") && stderr.contains("the old code will run on it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ROLLBACK FAILED")
            && stderr.contains("modules were not loaded: acme_loyalty"),
        "{stderr}"
    );
    assert_eq!(digest(cluster, &demo.db), v2_data, "the data is kept");
    let s = status(&demo);
    assert_eq!(s["release"], v1_release.as_str());
    assert_eq!(s["lock"]["state"], "free");
    assert_eq!(s["latest"]["outcome"], "rollback_failed", "{s:#}");
    assert!(
        s["latest"]["evidence"]
            .as_array()
            .is_some_and(|e| e.iter().any(|l| l
                .as_str()
                .is_some_and(|l| l.contains("Some modules are not loaded")))),
        "{s:#}"
    );
}

/// `GET path` on the demo's Odoo, the body.
fn odd_http_get(demo: &Demo, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", demo.http_port)).expect("Odoo listens");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("response");
    body
}

#[test]
fn a_deploy_killed_during_the_update_is_told_and_rolled_back() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let before = digest(cluster, &demo.db);
    let files_before = filestore_digest(&demo);
    let release_before = status(&demo)["release"].clone();

    // v2 with a slow update; odd is killed once the update has run for a while.
    demo.checkout(2).expect("v2");
    // On the host's odoo command: odd's own environment does not reach it.
    slow_update(&demo);
    // The journal of the last deploy goes, so only this one's entries are waited for.
    let journal = demo.deploy_dir.join("journal");
    std::fs::remove_file(&journal).expect("a journal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["deploy", "demo", "--yes", "--json", "--config"])
        .arg(demo.config_path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("odd runs");
    let deadline = std::time::Instant::now() + LOADED;
    while !std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains(r#""step":"update","state":"started""#)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the update never began"
        );
        assert!(child.try_wait().expect("wait").is_none(), "odd ended early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Killed once acme_partner's new column is committed, while its dependents load.
    while sql(
        cluster,
        &demo.db,
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'acme_partner_grade' AND column_name = 'tier'",
    ) != "1"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "acme_partner never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    assert_ne!(
        digest(cluster, &demo.db),
        before,
        "the killed update left its first modules committed"
    );
    // `odd status` says where it stopped and what state the environment is in.
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "running", "{s:#}");
    assert_eq!(s["lock"]["state"], "stale", "{s:#}");
    assert_eq!(s["journal_last"]["step"], "update", "{s:#}");
    let summary = s["interrupted"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("stopped during update")
            && summary.contains("the database may be in a mixed state")
            && summary.contains("the pre-deploy snapshot snapshot-")
            && summary.contains("Odoo is stopped"),
        "{s:#}"
    );
    assert!(
        s["update_run"]["log"]
            .as_str()
            .is_some_and(|l| l.ends_with("-update-0.log")),
        "the detached update is found: {s:#}"
    );
    let (code, text, stderr) = odd(&demo, &["status", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    // The detached update goes on after odd died, and may have ended by now.
    assert!(
        text.contains("INTERRUPTED: deploy")
            && text.contains("STALE")
            && (text.contains("the update still runs on the host")
                || text.contains("the update ended on the host with exit code 0")),
        "{text}"
    );
    // A new deploy is refused while the stale lock stands: the environment is where the
    // dead run left it, not restored (exit 5, end to end), and the summary says so.
    let (code, stdout, stderr) = odd(&demo, &["deploy", "demo", "--yes", "--json"], &[]);
    assert_eq!(code, 5, "{stderr}");
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a summary");
    assert_eq!(
        (&last["exit"], &last["exit_code"]),
        (&serde_json::json!("not_restored"), &serde_json::json!(5)),
        "{last:#}"
    );
    assert!(stderr.contains("a run that is gone"), "{stderr}");

    // `odd rollback` recovers: snapshot back, previous release, verified, recorded.
    let (code, _, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("took over the stale lock"), "{stderr}");
    assert!(
        stderr.contains("recovering an interrupted deploy"),
        "{stderr}"
    );
    assert_eq!(digest(cluster, &demo.db), before, "the pre-deploy data");
    assert_eq!(filestore_digest(&demo), files_before);
    let s = status(&demo);
    assert_eq!(s["lock"]["state"], "free", "{s:#}");
    assert_eq!(s["release"], release_before);
    assert_eq!(s["latest"]["outcome"], "rolled_back", "{s:#}");
    assert!(s["interrupted"].is_null(), "{s:#}");
    assert!(odd_http_get(&demo, "/web/login").contains("Log in"));
}

#[test]
fn a_dropped_ssh_connection_does_not_kill_the_update() {
    use odoo_deploy_fixtures::sshd::Sshd;
    let cluster = PgCluster::shared();
    // Its own sshd: this test kills it and its sessions mid-update.
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Ssh(&sshd)).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");

    // v2, with an update slow enough (the delay set on the host's odoo command) to
    // drop the connection in the middle of it.
    demo.checkout(2).expect("v2");
    slow_update(&demo);
    let auths_before = sshd.auth_count();
    let running = deploy_until_the_update(&demo, &["--json"]);
    wait_for_update_progress(&demo, &running.id);
    // Every SSH session dies, as when the network drops; sshd comes back.
    sshd.restart();
    let (code, stdout, stderr) = running.finish();
    assert_eq!(code, Some(0), "{stderr}\n{stdout}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(report(&events)["outcome"], "succeeded", "{stdout}");
    assert!(
        sshd.auth_count() > auths_before + 1,
        "odd connected again after the drop"
    );
    // The update ran to its end on the host, once, and odd read its whole log.
    let runs = std::fs::read_dir(demo.deploy_dir.join("runs")).expect("runs");
    let statuses: Vec<String> = runs
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".status"))
        .map(|e| std::fs::read_to_string(e.path()).expect("status"))
        .collect();
    assert!(statuses.contains(&"0\n".to_owned()), "{statuses:?}");
    assert!(
        events.iter().any(|e| e["event"] == "odoo_log"
            && e["line"]
                .as_str()
                .is_some_and(|l| l.contains("Modules loaded."))),
        "the log was followed to its end"
    );
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'acme_partner_grade' AND column_name = 'tier'"
        ),
        "1"
    );
    assert_eq!(status(&demo)["lock"]["state"], "free");
}

#[test]
fn a_host_that_stays_unreachable_is_told_by_status_and_resume_finishes_the_deploy() {
    use odoo_deploy_fixtures::sshd::Sshd;
    let cluster = PgCluster::shared();
    // Its own sshd: this test kills it and keeps it down for a while.
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Ssh(&sshd)).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");

    // v2 with a slowed update, and odd told to give the host up after 3 s.
    demo.checkout(2).expect("v2");
    slow_update(&demo);
    edit_config(
        &demo,
        &[(
            "host = { address",
            "host = { reconnect_for_secs = 3, address",
        )],
    );
    let running = deploy_until_the_update(&demo, &[]);
    wait_for_update_progress(&demo, &running.id);
    // The host goes away and stays away: odd gives up, the update goes on there.
    sshd.kill();
    let (code, _, stderr) = running.finish();
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("lost contact with the host for 3 s"),
        "odd says it gave up: {stderr}"
    );
    let runs = demo.deploy_dir.join("runs");
    let deadline = std::time::Instant::now() + LOADED;
    // v1's update left one status file; v2's writes the second when it ends.
    let ended = || {
        std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".status"))
            .count()
            == 2
    };
    while !ended() {
        assert!(
            std::time::Instant::now() < deadline,
            "the update ended on the host"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // The host is back: status tells what the dead run left, the update's outcome too.
    sshd.start_again();
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "running", "{s:#}");
    assert_eq!(s["lock"]["state"], "stale", "{s:#}");
    assert_eq!(s["update_run"]["exit_code"], 0, "{s:#}");
    assert!(
        s["interrupted"]["summary"]
            .as_str()
            .is_some_and(|t| t.contains("Odoo is stopped")),
        "{s:#}"
    );
    let (code, stdout, stderr) = odd(&demo, &["status", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("the update ended on the host with exit code 0")
            && stdout.contains("odd deploy demo --resume"),
        "{stdout}"
    );

    // Releasing the lock by hand does not make a new deploy run over the dead one.
    let (code, stdout, stderr) = odd(&demo, &["unlock", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("released the stale lock"),
        "{stdout}{stderr}"
    );
    let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--yes"], &[]);
    assert_ne!(code, 0, "{stderr}");
    // The diagnostic is wrapped to the terminal's width.
    let said = stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("died before it finished and was not recovered")
            && said.contains("odd deploy demo --resume"),
        "{stderr}"
    );
    assert_eq!(status(&demo)["lock"]["state"], "free");

    // --resume takes it forward: v2 deployed and verified, once.
    let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--resume", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "succeeded", "{s:#}");
    assert!(
        s["latest"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("resumed by") && r.contains("stopped during update")),
        "{s:#}"
    );
    assert_eq!(s["latest"]["id"], s["release"], "{s:#}");
    assert_eq!(s["current"]["commit"], demo.repo.sha(2).expect("sha"));
    assert_eq!(s["lock"]["state"], "free", "{s:#}");
    assert!(s["interrupted"].is_null(), "{s:#}");
    assert!(ended(), "the update ran once: no third status file");
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'acme_partner_grade' AND column_name = 'tier'"
        ),
        "1"
    );
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT state FROM ir_module_module WHERE name = 'acme_loyalty'"
        ),
        "installed"
    );
    let page = odd_http_get(&demo, "/web/login");
    assert_eq!(page.split(' ').nth(1), Some("200"), "Odoo serves: {page}");
}
