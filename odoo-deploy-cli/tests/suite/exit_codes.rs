//! The exit code table of README, asserted end to end for each outcome of `odd deploy`,
//! with the one summary object `--json` ends with. (Exit 5, not restored, is provoked end
//! to end in `rollback.rs`: a deploy over a run that died; a rollback that itself fails
//! is a unit test of the mapping in `src/output.rs`.)

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

use crate::deploy::{deploy, odd, status};

/// The last line of a `--json` deploy: its summary, checked to be the only one.
fn summary(events: &[Value]) -> &Value {
    let finished = events.iter().filter(|e| e["event"] == "finished").count();
    assert_eq!(finished, 1, "one summary object: {events:#?}");
    let last = events.last().expect("output");
    assert_eq!(
        last["event"], "finished",
        "the summary is last: {events:#?}"
    );
    last
}

/// `odd deploy ARGS --json` whose stdout is NDJSON however the run ended.
fn deploy_json(demo: &Demo, args: &[&str]) -> (i32, Vec<Value>, String) {
    let (code, stdout, stderr) = odd(demo, args, &[]);
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (code, events, stderr)
}

#[test]
fn each_deploy_outcome_exits_with_its_own_code_and_says_it_in_the_summary() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");

    // 2, bad input: an odd.toml that is not TOML, an unknown environment, bad usage.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[project\nname = 'acme'\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["deploy", "demo", "--yes", "--json", "--config"])
        .arg(&broken)
        .env("NO_COLOR", "1")
        .output()
        .expect("run odd");
    let (code, stderr) = (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let s = summary(&events);
    assert_eq!(
        (&s["outcome"], &s["exit"], &s["exit_code"]),
        (
            &Value::from("bad_input"),
            &Value::from("bad_input"),
            &Value::from(2)
        ),
        "{s:#}"
    );
    assert!(stderr.contains("odd::config::syntax"), "{stderr}");
    let (code, events, stderr) = deploy_json(&demo, &["deploy", "nowhere", "--yes", "--json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        summary(&events)["reason"]
            .as_str()
            .is_some_and(|r| r.contains("nowhere")),
        "{events:#?}"
    );
    let (code, _, stderr) = odd(&demo, &["deploy"], &[]);
    assert_eq!(code, 2, "a usage error: {stderr}");

    // 0, succeeded: the summary names the deploy, the commit and the downtime.
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let s = summary(&events);
    assert_eq!(s["outcome"], "succeeded", "{s:#}");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["commit"], demo.repo.sha(1).expect("sha"));
    assert_eq!(s["deploy_id"], status(&demo)["current"]["id"], "{s:#}");
    assert!(s["downtime_ms"].as_u64().is_some(), "{s:#}");
    assert_eq!(s["report"]["outcome"], "succeeded");

    // 4, rolled back: acme_report's update fails; the previous state runs again.
    demo.checkout(4).expect("v4");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "{stderr}");
    let s = summary(&events);
    assert_eq!(
        (&s["outcome"], &s["exit"]),
        (&Value::from("rolled_back"), &Value::from("rolled_back")),
        "{s:#}"
    );
    assert_eq!(s["commit"], demo.repo.sha(4).expect("sha"));
    assert!(
        s["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("update: odoo-bin exited with 255")),
        "{s:#}"
    );
    assert!(
        s["meaning"]
            .as_str()
            .is_some_and(|m| m.contains("rolled back")),
        "{s:#}"
    );
    assert_eq!(status(&demo)["latest"]["outcome"], "rolled_back");

    // 3, refused by a gate: a closed deploy window; nothing is run or recorded.
    let ledger = std::fs::read_to_string(demo.deploy_dir.join("ledger.jsonl")).expect("ledger");
    demo.extend_config(
        r#"window = { deny = [{ from = "00:00", to = "24:00", reason = "change freeze" }] }"#,
    )
    .expect("config");
    demo.checkout(2).expect("v2");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 3, "{stderr}");
    let s = summary(&events);
    assert_eq!(
        (&s["outcome"], &s["exit_code"]),
        (&Value::from("refused"), &Value::from(3)),
        "{s:#}"
    );
    assert!(
        s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("change freeze")),
        "{s:#}"
    );
    assert_eq!(s["commit"], demo.repo.sha(2).expect("sha"));
    assert!(
        !events.iter().any(|e| e["event"] == "step_started"),
        "no step ran: {events:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(demo.deploy_dir.join("ledger.jsonl")).expect("ledger"),
        ledger,
        "a refused deploy changes nothing"
    );
}
