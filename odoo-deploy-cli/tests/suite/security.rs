//! Issue 14's findings, each reproduced end to end and shown to do no harm now: what odd
//! leaves on a host is private, what the host says back is checked before use, odd's
//! secrets stay out of the programs it starts, and long lines do not crash a diagnostic.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::project::Project;
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

use crate::deploy::{deploy, odd, report};
use crate::support;

/// Replaces `from` by `to` once in the demo's `odd.toml`.
fn edit_config(demo: &Demo, from: &str, to: &str) {
    let path = demo.config_path();
    let text = std::fs::read_to_string(&path).expect("odd.toml");
    assert!(text.contains(from), "{from:?} not in odd.toml:\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("odd.toml");
}

/// A local demo with v1 deployed (the directory holding it goes with the first value).
fn deployed_v1() -> (tempfile::TempDir, Demo) {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), PgCluster::shared(), Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    (dir, demo)
}

/// The ledger's last record, as JSON.
fn last_record(demo: &Demo) -> Value {
    let text = std::fs::read_to_string(demo.deploy_dir.join("ledger.jsonl")).expect("ledger");
    serde_json::from_str(text.lines().last().expect("a record")).expect("JSON")
}

/// Appends `record` to the ledger, as a host (or someone on it) could.
fn append_record(demo: &Demo, record: &Value) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(demo.deploy_dir.join("ledger.jsonl"))
        .expect("ledger");
    writeln!(f, "{record}").expect("append");
}

#[test]
fn a_68_kb_one_line_manifest_gives_a_diagnostic_not_a_panic() {
    let manifest = format!(
        "{{'name': 'Big', 'summary': '{}', 'depends': ['base', 'nowhere'], 'version': '1.x'}}",
        "x".repeat(68 * 1024)
    );
    let project = Project::new()
        .addon("base", "{'name': 'Base'}")
        .addon("big", &manifest)
        .build();
    let run = support::odd(
        project.root(),
        &[
            "check",
            "--addons-path",
            &project.addons_path_arg(),
            "--series",
            "18.0",
        ],
    );
    assert_eq!(
        run.code,
        1,
        "{}",
        run.stderr.chars().take(2000).collect::<String>()
    );
    assert!(
        !run.stderr.contains("panicked"),
        "{}",
        &run.stderr[..run.stderr.len().min(2000)]
    );
    // Every problem, each with where it is (line 1, past column 65,535).
    assert!(
        run.stderr.contains("`big` depends on `nowhere`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`big` has version `1.x`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("big/__manifest__.py:1:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.len() < 4096,
        "the 68 KB line is not printed:\n{}",
        run.stderr
    );
}

#[test]
fn a_release_name_with_a_newline_is_left_alone_and_prune_keeps_the_folder() {
    let (_dir, demo) = deployed_v1();

    // Old releases beyond `keep_releases` (3), so prune has work, and a name that
    // `ls -1` read as an empty line: before, `rm -rf -- releases/` followed.
    let releases = demo.deploy_dir.join("releases");
    let old: Vec<PathBuf> = (1..=4)
        .map(|i| releases.join(format!("2020010{i}T000000Z-0123abcd")))
        .collect();
    for d in &old {
        std::fs::create_dir(d).expect("an old release");
    }
    let planted = releases.join("20200101T000000Z-0123abcd\n");
    std::fs::create_dir(&planted).expect("a name with a newline");

    demo.checkout(2).expect("v2");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(report(&events)["outcome"], "succeeded");
    assert!(releases.is_dir(), "the releases folder is gone");
    let current = std::fs::canonicalize(demo.deploy_dir.join("current")).expect("current");
    assert!(
        current.join("custom_addons").is_dir(),
        "current points at nothing"
    );
    assert!(planted.is_dir(), "the odd name was removed");
    // Prune ran: the oldest planted release went (3 kept besides the current one and
    // v1's, which the way back needs).
    let left: Vec<bool> = old.iter().map(|d| d.exists()).collect();
    assert_eq!(left, [false, true, true, true], "{left:?}");
    assert!(
        events.iter().any(|e| e["event"] == "notice"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("left alone in releases/"))),
        "the odd name is reported: {events:#?}"
    );
}

#[test]
fn a_ledger_id_naming_a_path_makes_resume_delete_nothing() {
    let (_dir, demo) = deployed_v1();

    let victim = demo.deploy_dir.join("victim");
    std::fs::create_dir(&victim).expect("victim");
    std::fs::write(victim.join("keep"), "precious").expect("write");
    // An interrupted deploy `../victim`: its release would be `releases/../victim`.
    let mut record = last_record(&demo);
    record["id"] = "../victim".into();
    record["outcome"] = "running".into();
    record["finished_at"] = Value::Null;
    append_record(&demo, &record);
    let journal = format!(
        "{{\"deploy\":\"../victim\",\"step\":\"upload\",\"state\":\"started\",\"at\":{}}}\n",
        record["started_at"]
    );
    std::fs::write(demo.deploy_dir.join("journal"), journal).expect("journal");

    let (code, stdout, stderr) = odd(&demo, &["deploy", "demo", "--resume", "--yes"], &[]);
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("nothing to resume"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(victim.join("keep")).ok().as_deref(),
        Some("precious"),
        "deploy_dir/victim was touched"
    );
    let (code, _, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert!(
        victim.join("keep").is_file(),
        "rollback touched it ({code}): {stderr}"
    );
}

#[test]
fn a_ledger_commit_that_looks_like_an_option_writes_no_file_under_changes() {
    let (dir, demo) = deployed_v1();

    let written = dir.path().join("written-by-git");
    let mut record = last_record(&demo);
    record["id"] = "20991231T235959Z-0123abcd".into();
    record["commit"] = format!("--output={}", written.display()).into();
    append_record(&demo, &record);

    demo.checkout(2).expect("v2");
    let (code, stdout, stderr) = odd(&demo, &["changes", "demo"], &[]);
    assert!(!written.exists(), "git wrote {}", written.display());
    // The forged line is not used: the changes are those since v1, read from git.
    assert!(code == 0 || code == 1, "{code}: {stdout}{stderr}");
    assert!(stdout.contains("acme_"), "{stdout}{stderr}");
}

#[test]
fn the_odoo_started_by_the_command_strategy_holds_no_secret() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    demo.extend_config(r#"notify = { webhook_env = "ODD_TEST_WEBHOOK" }"#)
        .expect("webhook");
    // The database password from odd's environment (the harness cluster trusts, so any
    // value works), as an operator would pass it.
    edit_config(
        &demo,
        "pg_bin_dir = ",
        "password_env = \"ODD_TEST_DB_PASSWORD\", pg_bin_dir = ",
    );
    let secrets = [
        ("ODD_TEST_DB_PASSWORD", "db-S3cret-4417"),
        ("ODD_TEST_SMOKE_PASSWORD", "smoke-S3cret-5521"),
        (
            "ODD_TEST_WEBHOOK",
            "http://127.0.0.1:9/hooks/odd?token=hook-S3cret-8803",
        ),
        ("PGPASSWORD", "pg-S3cret-9902"),
    ];
    let (code, stdout, stderr) = odd(&demo, &["deploy", "demo", "--yes", "--json"], &secrets);
    assert_eq!(code, 0, "{stdout}{stderr}");

    let pid = std::fs::read_to_string(&demo.pidfile).expect("the stand-in's pid file");
    let environ = std::fs::read(format!("/proc/{}/environ", pid.trim())).expect("environ");
    let environ = String::from_utf8_lossy(&environ);
    let names: Vec<&str> = environ
        .split('\0')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(
        names.contains(&"PATH"),
        "what Odoo needs is kept: {names:?}"
    );
    for (name, value) in secrets {
        assert!(
            !environ.contains(value),
            "{name}'s value reached Odoo: {names:?}"
        );
        assert!(!names.contains(&name), "{name} reached Odoo");
    }
}

/// Every file and folder under `root` (links not followed) whose mode gives the group
/// or others any access.
fn not_private(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            found.push(format!("{:o} {}", mode, path.display()));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                stack.push(entry.expect("entry").path());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn what_odd_leaves_on_the_host_after_deploy_backup_and_rollback_is_private() {
    let cluster = PgCluster::shared();
    let sshd = Sshd::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Ssh(sshd)).expect("demo");
    // The folder and Odoo's config the operator made (odd only reports wider ones).
    std::fs::set_permissions(&demo.deploy_dir, std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    std::fs::set_permissions(demo.odoo_conf(), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");

    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    demo.checkout(2).expect("v2");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = odd(&demo, &["backup", "demo", "--kind", "both"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");

    let backups = demo.deploy_dir.join("backups");
    for expected in ["ledger.jsonl", "journal", "releases", "runs", "backups"] {
        assert!(demo.deploy_dir.join(expected).exists(), "no {expected}");
    }
    let dumps = std::fs::read_dir(&backups)
        .expect("backups")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("dump-"))
        .count();
    assert!(dumps >= 1, "a dump was taken");
    let wide = not_private(&demo.deploy_dir);
    assert!(wide.is_empty(), "readable by others:\n{}", wide.join("\n"));
    // The snapshot `odd backup` took: its filestore copy (next to Odoo's own) is closed.
    let copies: Vec<PathBuf> = std::fs::read_dir(demo.data_dir.join("filestore"))
        .expect("filestores")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-snap-"))
        })
        .collect();
    assert!(!copies.is_empty(), "a snapshot's filestore copy");
    for copy in copies {
        let mode = std::fs::metadata(&copy).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", copy.display());
    }
}
