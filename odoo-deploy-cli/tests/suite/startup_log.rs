//! The startup log without `log_file`: the command strategy's `logs` argv is read after
//! the start, and a plan with no source of the startup log is refused.

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

use crate::deploy::{deploy, odd, report, status};
use crate::rollback::{EXTRA_MANIFEST, commit, edit_config};

/// The demo's `log_file = "…"` entry, removed by the tests.
fn log_file_entry(demo: &Demo) -> String {
    format!(", log_file = {:?}", demo.odoo_log.display().to_string())
}

#[test]
fn a_module_not_loaded_at_startup_fails_the_deploy_read_through_the_logs_command() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(3).expect("v3");
    // No log_file: the stand-in still logs where its odoo.conf says, and `logs` prints it.
    let logs = format!(
        "logs = [\"cat\", {:?}] }}",
        demo.odoo_log.display().to_string()
    );
    let rewrite = |demo: &Demo| {
        edit_config(
            demo,
            &[
                (&log_file_entry(demo), ""),
                (
                    &format!("\"status\", {:?}] }}", demo.pidfile.display().to_string()),
                    &format!(
                        "\"status\", {:?}], {logs}",
                        demo.pidfile.display().to_string()
                    ),
                ),
            ],
        );
    };
    rewrite(&demo);
    let (code, plan, stderr) = odd(&demo, &["plan", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let reads = format!(
        "read the output of `cat {}` through startup",
        demo.odoo_log.display()
    );
    assert!(plan.contains(&reads), "{plan}");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "the base deploy: {stderr}\n{events:#?}");
    let release_before = status(&demo)["release"].clone();

    // A module in an addons directory the server's odoo.conf does not list: the update
    // installs it, the server skips it at startup and answers 200 anyway.
    commit(
        &demo,
        &[
            (
                "extra_addons/acme_extra/__manifest__.py",
                Some(EXTRA_MANIFEST),
            ),
            ("extra_addons/acme_extra/__init__.py", Some("")),
        ],
        "acme_extra in a new addons directory",
    );
    // Not checked against the host's odoo.conf (that check refuses this plan: `odd plan`
    // names the missing entry), so the server really starts without it.
    demo.extend_config("installation = { use_odoo_config = false }")
        .expect("odd.toml");
    edit_config(
        &demo,
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
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "rolled back: {stderr}\n{events:#?}");
    let r = report(&events);
    assert_eq!(r["outcome"], "rolled_back", "{r:#}\n{stderr}");
    let s = status(&demo);
    assert_eq!(s["release"], release_before, "the previous release is back");
    let latest = &s["latest"];
    let reason = latest["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("modules were not loaded: acme_extra"),
        "{latest:#}"
    );
    let evidence: Vec<&str> = latest["evidence"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        evidence
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("Some modules are not loaded")),
        "{evidence:#?}"
    );
}

#[test]
fn a_plan_with_no_startup_log_source_is_refused() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    edit_config(&demo, &[(&log_file_entry(&demo), "")]);
    let (code, plan, stderr) = odd(&demo, &["plan", "demo"], &[]);
    assert_ne!(code, 0, "{plan}");
    assert!(
        plan.contains("[FAIL] log        no source of Odoo's startup log: set `log_file` in [environments.demo.odoo] or `logs`"),
        "{plan}\n{stderr}"
    );
    let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--yes"], &[]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("no source of Odoo's startup log"),
        "{stderr}"
    );
    // Nothing ran: no release, no ledger line.
    assert!(!demo.deploy_dir.join("current").exists());
    assert!(status(&demo)["latest"].is_null(), "{:#}", status(&demo));
}
