//! Operator hooks (`[environments.NAME.hooks]`) end to end: the real binary, a real
//! PostgreSQL cluster and the stand-in Odoo; the hooks are a script of the test that
//! writes down when it ran and with which `ODD_*` environment.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

use crate::deploy::{deploy, digest, odd, report, status};
use crate::rollback::filestore_digest;

/// Writes the hook script into `dir`: it appends its point to `dir/order`, writes its
/// `ODD_*` environment to `dir/POINT.env` and its working directory to `dir/POINT.cwd`,
/// prints a line (the events carry it) and exits with `$ODD_TEST_EXIT_POINT` when that
/// is set for its point (else 0).
fn hook_script(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("hook.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         out=\"$1\"\n\
         echo \"$ODD_HOOK\" >> \"$out/order\"\n\
         env | grep '^ODD_' | sort > \"$out/$ODD_HOOK.env\"\n\
         pwd > \"$out/$ODD_HOOK.cwd\"\n\
         echo \"hook $ODD_HOOK says hello\"\n\
         if [ -e \"$out/fail-$ODD_HOOK\" ]; then echo \"hook $ODD_HOOK fails\" >&2; exit 7; fi\n",
    )
    .expect("hook script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

/// Adds the hooks table (every point, the script given `out`) to the demo's odd.toml.
fn configure_hooks(demo: &mut Demo, script: &Path, out: &Path, extra: &str) {
    let argv = format!(
        "[{:?}, {:?}]",
        script.display().to_string(),
        out.display().to_string()
    );
    demo.extend_config(&format!(
        "\n[environments.{env}.hooks]\n{extra}\
         before_deploy = {argv}\n\
         before_update = {argv}\n\
         after_update = {argv}\n\
         after_deploy = {argv}\n\
         on_failure = {argv}\n\
         after_rollback = {argv}\n",
        env = demo.env
    ))
    .expect("odd.toml");
}

fn order(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hook_env(out: &Path, point: &str) -> BTreeMap<String, String> {
    std::fs::read_to_string(out.join(format!("{point}.env")))
        .unwrap_or_else(|e| panic!("{point} wrote no environment: {e}"))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn joined(list: &Value) -> String {
    list.as_array()
        .map(|a| {
            let mut names: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            names.sort_unstable();
            names.join(",")
        })
        .unwrap_or_default()
}

fn reset(out: &Path) {
    let _ = std::fs::remove_file(out.join("order"));
}

#[test]
fn every_hook_point_runs_in_order_with_the_deploys_facts() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(&dir.path().join("demo"), cluster, Reach::Local).expect("demo");
    let out = dir.path().join("hooks");
    std::fs::create_dir(&out).expect("out");
    let script = hook_script(dir.path());
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    configure_hooks(&mut demo, &script, &out, "");

    // The plan shows every hook as a step, with its exact command.
    demo.checkout(2).expect("v2");
    let (code, plan, stderr) = odd(&demo, &["plan", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    for point in [
        "before_deploy",
        "before_update",
        "after_update",
        "after_deploy",
        "after_rollback",
        "on_failure",
    ] {
        assert!(
            plan.contains(&format!("hook {point}: run on the host")),
            "{plan}"
        );
        assert!(plan.contains(&format!("ODD_HOOK='{point}'")), "{plan}");
    }

    // A good deploy: the four points of a deploy that updates, in order.
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        order(&out),
        [
            "before_deploy",
            "before_update",
            "after_update",
            "after_deploy"
        ]
    );
    let r = report(&events);
    let latest = status(&demo)["latest"].clone();
    let v1 = demo.repo.sha(1).expect("v1").to_owned();
    let v2 = demo.repo.sha(2).expect("v2").to_owned();
    for point in [
        "before_deploy",
        "before_update",
        "after_update",
        "after_deploy",
    ] {
        let env = hook_env(&out, point);
        assert_eq!(env["ODD_HOOK"], point);
        assert_eq!(env["ODD_ENVIRONMENT"], "demo");
        assert_eq!(env["ODD_DATABASE"], demo.db);
        assert_eq!(env["ODD_COMMIT"], v2, "{point}");
        assert_eq!(env["ODD_PREVIOUS_COMMIT"], v1, "{point}");
        assert_eq!(
            env["ODD_DEPLOY_ID"],
            r["id"].as_str().expect("id"),
            "{point}"
        );
        assert_eq!(
            env["ODD_MODULES_UPDATED"],
            joined(&latest["changes"]["update"]),
            "{point}"
        );
        assert_eq!(
            env["ODD_MODULES_INSTALLED"],
            joined(&latest["changes"]["install"]),
            "{point}"
        );
        assert_eq!(
            env["ODD_OUTCOME"],
            if point == "after_deploy" {
                "succeeded"
            } else {
                "running"
            }
        );
        assert_eq!(env["ODD_REASON"], "");
        // On the host, in odd's deploy directory.
        let cwd = std::fs::read_to_string(out.join(format!("{point}.cwd"))).expect("cwd");
        assert_eq!(
            Path::new(cwd.trim()).canonicalize().expect("cwd"),
            demo.deploy_dir.canonicalize().expect("deploy dir")
        );
    }
    assert!(
        !joined(&latest["changes"]["update"]).is_empty(),
        "v1 → v2 updates modules: {latest:#}"
    );
    // Their output is in the events.
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "output" && e["line"] == "hook after_update says hello"),
        "{events:#?}"
    );
    // Each is a step of the ledger's record.
    let steps: Vec<&str> = latest["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    let at = |name: &str| steps.iter().position(|s| *s == name).expect(name);
    assert!(at("hook before_deploy") < at("stop"), "{steps:?}");
    assert!(at("snapshot") < at("hook before_update"), "{steps:?}");
    assert!(at("hook before_update") < at("update"), "{steps:?}");
    assert!(at("verify modules") < at("hook after_update"), "{steps:?}");
    assert!(at("hook after_update") < at("switch"), "{steps:?}");
    assert!(at("smoke") < at("hook after_deploy"), "{steps:?}");
    assert!(at("hook after_deploy") < at("store checksums"), "{steps:?}");

    // A failing update: the rollback's hook, then the failure's, with the outcome.
    reset(&out);
    demo.checkout(4).expect("v4");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "rolled back: {stderr}");
    let r = report(&events);
    assert_eq!(
        order(&out),
        [
            "before_deploy",
            "before_update",
            "after_rollback",
            "on_failure"
        ]
    );
    let reason = r["reason"].as_str().expect("reason");
    assert!(reason.starts_with("update: "), "{r:#}");
    let rolled = hook_env(&out, "after_rollback");
    assert_eq!(rolled["ODD_OUTCOME"], "rolled_back");
    assert_eq!(rolled["ODD_REASON"], reason);
    let failed = hook_env(&out, "on_failure");
    assert_eq!(failed["ODD_OUTCOME"], "rolled_back");
    assert_eq!(failed["ODD_REASON"], reason);
    assert_eq!(failed["ODD_DEPLOY_ID"], r["id"].as_str().expect("id"));
    assert_eq!(failed["ODD_COMMIT"], demo.repo.sha(4).expect("v4"));
}

#[test]
fn a_failing_before_hook_changes_nothing_and_an_after_hook_does_what_it_is_told() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(&dir.path().join("demo"), cluster, Reach::Local).expect("demo");
    let out = dir.path().join("hooks");
    std::fs::create_dir(&out).expect("out");
    let script = hook_script(dir.path());
    demo.checkout(3).expect("v3");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    configure_hooks(&mut demo, &script, &out, "");
    let db = digest(cluster, &demo.db);
    let files = filestore_digest(&demo);
    let release = status(&demo)["release"].clone();
    let releases = |demo: &Demo| {
        let mut names: Vec<String> = std::fs::read_dir(demo.deploy_dir.join("releases"))
            .expect("releases")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let releases_before = releases(&demo);

    // before_deploy fails: refused, nothing touched, on_failure told.
    std::fs::write(out.join("fail-before_deploy"), "").expect("fail");
    demo.checkout(4).expect("v4");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 3, "refused: {stderr}");
    let r = report(&events);
    assert_eq!(r["outcome"], "refused", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("hook before_deploy: ")),
        "{r:#}"
    );
    assert_eq!(order(&out), ["before_deploy", "on_failure"]);
    assert_eq!(hook_env(&out, "on_failure")["ODD_OUTCOME"], "refused");
    assert!(
        events.iter().any(|e| e["event"] == "output"
            && e["stream"] == "stderr"
            && e["line"] == "hook before_deploy fails"),
        "the hook's own words are in the events: {events:#?}"
    );
    assert_eq!(digest(cluster, &demo.db), db, "database untouched");
    assert_eq!(filestore_digest(&demo), files, "filestore untouched");
    assert_eq!(status(&demo)["release"], release, "release untouched");
    assert_eq!(releases(&demo), releases_before, "no release uploaded");
    std::fs::remove_file(out.join("fail-before_deploy")).expect("unfail");

    // before_update fails: Odoo was stopped and a snapshot taken, so the rollback runs;
    // the database was never updated and is as before.
    reset(&out);
    std::fs::write(out.join("fail-before_update"), "").expect("fail");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "rolled back: {stderr}");
    let r = report(&events);
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("hook before_update: ")),
        "{r:#}"
    );
    assert_eq!(
        order(&out),
        [
            "before_deploy",
            "before_update",
            "after_rollback",
            "on_failure"
        ]
    );
    assert_eq!(digest(cluster, &demo.db), db, "database as before");
    assert_eq!(filestore_digest(&demo), files, "filestore as before");
    assert_eq!(status(&demo)["release"], release, "release as before");
    std::fs::remove_file(out.join("fail-before_update")).expect("unfail");

    // after_deploy fails, `after_failure` left at its default (`roll_back`): the
    // deploy is rolled back.
    reset(&out);
    std::fs::write(out.join("fail-after_deploy"), "").expect("fail");
    demo.checkout(3).expect("v3");
    crate::rollback::commit(
        &demo,
        &[("README.md", Some("a code-only change\n"))],
        "docs",
    );
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "rolled back: {stderr}");
    assert!(
        report(&events)["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("hook after_deploy: ")),
        "{events:#?}"
    );
    assert_eq!(
        order(&out),
        [
            "before_deploy",
            "after_deploy",
            "after_rollback",
            "on_failure"
        ],
        "a code-only deploy has no update hooks"
    );
    assert_eq!(digest(cluster, &demo.db), db, "database as before");
    assert_eq!(status(&demo)["release"], release, "release as before");
}

#[test]
fn a_failing_after_hook_set_to_warn_is_recorded_and_the_deploy_stands() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(&dir.path().join("demo"), cluster, Reach::Local).expect("demo");
    let out = dir.path().join("hooks");
    std::fs::create_dir(&out).expect("out");
    let script = hook_script(dir.path());
    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    configure_hooks(&mut demo, &script, &out, "after_failure = \"warn\"\n");
    std::fs::write(out.join("fail-after_update"), "").expect("fail");
    std::fs::write(out.join("fail-after_deploy"), "").expect("fail");
    demo.checkout(2).expect("v2");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report(&events)["outcome"], "succeeded");
    assert_eq!(
        order(&out),
        [
            "before_deploy",
            "before_update",
            "after_update",
            "after_deploy"
        ]
    );
    let latest = status(&demo)["latest"].clone();
    for point in ["after_update", "after_deploy"] {
        assert!(
            events.iter().any(|e| e["event"] == "notice"
                && e["message"].as_str().is_some_and(
                    |m| m.starts_with(&format!("hook {point} failed and the run goes on"))
                )),
            "{events:#?}"
        );
        let step = latest["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["step"] == format!("hook {point}"))
            .cloned()
            .expect("the hook's step");
        assert_eq!(step["ok"], false, "recorded as failed: {latest:#}");
    }
}

#[test]
fn an_empty_hook_command_is_bad_input_pointing_at_it() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(&dir.path().join("demo"), cluster, Reach::Local).expect("demo");
    let mut text = std::fs::read_to_string(demo.config_path()).expect("odd.toml");
    text.push_str(&format!(
        "\n[environments.{}.hooks]\nafter_deploy = []\n",
        demo.env
    ));
    std::fs::write(demo.config_path(), text).expect("odd.toml");
    let (code, _, stderr) = odd(&demo, &["plan", "demo"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the after_deploy hook's command is empty"),
        "{stderr}"
    );
    assert!(
        stderr.contains("after_deploy = []"),
        "points at the text: {stderr}"
    );
}
