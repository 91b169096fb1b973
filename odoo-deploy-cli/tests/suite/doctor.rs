//! `odd doctor ENV` on the demo host: a good host passes, and each fault, made one at a
//! time, fails its own check and only it.

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::process::Tmpfs;
use serde_json::Value;

use crate::deploy::{deploy, odd};
use crate::rollback::edit_config;

/// `odd doctor demo --json`: the exit code and the report.
fn doctor(demo: &Demo) -> (i32, Value) {
    let (code, stdout, stderr) = odd(demo, &["doctor", "demo", "--json"], &[]);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (code, report)
}

fn failed(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["verdict"] == "fail")
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_good_host_passes_and_each_fault_is_named_alone() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");

    let (code, report) = doctor(&demo);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["passed"], true);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "host",
            "odoo",
            "odoo conf",
            "pg tools",
            "database",
            "role",
            "data_dir",
            "hardlinks",
            "disk",
            "service",
            "health",
            "log",
            "deploy_dir",
            "private"
        ]
    );
    assert!(
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["verdict"] == "ok"),
        "every check runs on a good host: {report:#}"
    );
    let (code, text, _) = odd(&demo, &["doctor", "demo"], &[]);
    assert_eq!(code, 0);
    assert!(
        text.contains("[ok  ] odoo       Odoo Server 18.0 (series 18.0"),
        "{text}"
    );
    assert!(text.ends_with("Ready: every check passed.\n"), "{text}");

    let config = std::fs::read_to_string(demo.config_path()).expect("odd.toml");
    let q = |p: &std::path::Path| format!("{:?}", p.display().to_string());
    let odoo_bin = q(&demo.odoo_bin());
    let status_argv = format!(
        "status = [{}, \"status\", {}]",
        q(&odoo_deploy_fixtures::fixtures_dir().join("odoo-standin/odoo-service")),
        q(&demo.pidfile)
    );
    let old_client = std::path::Path::new("/usr/lib/postgresql/13/bin");
    assert!(
        old_client.join("pg_dump").is_file(),
        "PostgreSQL 13's client tools are missing: run scripts/system-deps as root"
    );
    let faults: Vec<(&str, String, String, &str)> = vec![
        (
            "odoo",
            format!("command = [{odoo_bin}]"),
            "command = [\"/nonexistent/odoo-bin\"]".to_owned(),
            "failed (exit",
        ),
        (
            "odoo",
            "series = \"18.0\"".to_owned(),
            "series = \"17.0\"".to_owned(),
            "the host runs Odoo 18.0",
        ),
        (
            "pg tools",
            format!("pg_bin_dir = {}", q(cluster.bin_dir())),
            "pg_bin_dir = \"/nonexistent/bin\"".to_owned(),
            "`psql --version` failed",
        ),
        // Client tools genuinely older than the server: bullseye's PostgreSQL 13 client
        // (scripts/system-deps installs it) against the harness's cluster.
        (
            "pg tools",
            format!("pg_bin_dir = {}", q(cluster.bin_dir())),
            format!("pg_bin_dir = {}", q(old_client)),
            "psql 13, pg_dump 13, pg_restore 13 — a dump would fail",
        ),
        (
            "database",
            format!("port = {}", cluster.port()),
            "port = 9".to_owned(),
            "cannot connect to PostgreSQL",
        ),
        (
            "data_dir",
            format!("data_dir = {}", q(&demo.data_dir)),
            "data_dir = \"/nonexistent/data\"".to_owned(),
            "is not a directory odd can write",
        ),
        (
            "service",
            status_argv.clone(),
            "status = [\"/nonexistent/odoo-ctl\", \"status\"]".to_owned(),
            "cannot run",
        ),
        (
            "health",
            format!("base_url = {:?}", demo.base_url()),
            "base_url = \"http://127.0.0.1:9\"".to_owned(),
            "GET http://127.0.0.1:9/web/health",
        ),
        (
            "log",
            format!("log_file = {}", q(&demo.odoo_log)),
            "log_file = \"/nonexistent/odoo.log\"".to_owned(),
            "cannot be read",
        ),
        (
            "deploy_dir",
            format!("deploy_dir = {}", q(&demo.deploy_dir)),
            // Under a file: it cannot be created.
            format!("deploy_dir = {}", q(&demo.odoo_log.join("odd"))),
            "cannot be created",
        ),
    ];
    // The host's Odoo config follows odd.toml's paths, so that only the fault made fails
    // (a data_dir, log or deploy_dir that odd.toml and Odoo disagree on is a fault of
    // its own: `odoo conf`, below).
    let conf_path = demo.odoo_conf();
    let conf = std::fs::read_to_string(&conf_path).expect("odoo.conf");
    let line_of = |key: &str| {
        conf.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} in {conf}"))
            .to_owned()
    };
    for (check, from, to, says) in &faults {
        std::fs::write(demo.config_path(), &config).expect("odd.toml");
        edit_config(&demo, &[(from, to)]);
        let mirrored = match *check {
            "data_dir" => Some((
                line_of("data_dir"),
                "data_dir = /nonexistent/data".to_owned(),
            )),
            "log" => Some((
                line_of("logfile"),
                "logfile = /nonexistent/odoo.log".to_owned(),
            )),
            "deploy_dir" => Some((
                line_of("addons_path"),
                format!(
                    "addons_path = {}",
                    demo.odoo_log.join("odd/current/custom_addons").display()
                ),
            )),
            _ => None,
        };
        if let Some((line, new)) = &mirrored {
            std::fs::write(&conf_path, conf.replace(line.as_str(), new)).expect("odoo.conf");
        }
        let (code, report) = doctor(&demo);
        assert_eq!(code, 1, "{check}: {report:#}");
        assert_eq!(failed(&report), [*check], "{to}: {report:#}");
        let line = report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == *check))
            .expect("the check");
        assert!(
            line["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{to}: {line:#}"
        );
        assert!(
            line["fix"].as_str().is_some_and(|f| !f.is_empty()),
            "{line:#}"
        );
        let (_, text, _) = odd(&demo, &["doctor", "demo"], &[]);
        let at = text
            .find(&format!("[FAIL] {check:<10} "))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            text[at..]
                .lines()
                .nth(1)
                .is_some_and(|l| l.trim_start().starts_with("fix: ")),
            "the fix under the failure:\n{text}"
        );
        assert!(text.ends_with("\n1 check(s) failed.\n"), "{text}");
        std::fs::write(&conf_path, &conf).expect("odoo.conf");
    }
    std::fs::write(demo.config_path(), &config).expect("odd.toml");

    // Faults of the host's Odoo config, one at a time: the role Odoo runs as, and its
    // data_dir, addons_path and logfile against odd.toml's.
    let conf_faults = [
        (
            "role",
            line_of("db_user"),
            "db_user = postgres".to_owned(),
            "Odoo would connect as `postgres`",
        ),
        (
            "odoo conf",
            line_of("data_dir"),
            format!("data_dir = {}", dir.path().join("other-data").display()),
            "odd would snapshot another filestore than the one Odoo writes",
        ),
        (
            "odoo conf",
            line_of("addons_path"),
            format!("addons_path = {}", demo.odoo_addons().display()),
            "the running server would not load the deployed code",
        ),
        (
            "odoo conf",
            line_of("logfile"),
            format!("logfile = {}", dir.path().join("other.log").display()),
            "odd would read another log than Odoo writes",
        ),
    ];
    for (check, from, to, says) in &conf_faults {
        std::fs::write(&conf_path, conf.replace(from.as_str(), to)).expect("odoo.conf");
        let (code, report) = doctor(&demo);
        std::fs::write(&conf_path, &conf).expect("odoo.conf");
        assert_eq!(code, 1, "{to}: {report:#}");
        assert_eq!(failed(&report), [*check], "{to}: {report:#}");
        let line = report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == *check))
            .expect("the check");
        assert!(
            line["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{to}: {line:#}"
        );
        assert!(
            line["fix"].as_str().is_some_and(|f| !f.is_empty()),
            "{line:#}"
        );
    }

    // A deploy_dir an operator made readable by everyone: its dumps and ledger would be.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |m| std::fs::Permissions::from_mode(m);
        std::fs::set_permissions(&demo.deploy_dir, mode(0o755)).expect("chmod");
        let (code, report) = doctor(&demo);
        std::fs::set_permissions(&demo.deploy_dir, mode(0o700)).expect("chmod");
        assert_eq!(code, 1, "{report:#}");
        assert_eq!(failed(&report), ["private"], "{report:#}");
        let line = &report["checks"][13];
        assert!(
            line["detail"]
                .as_str()
                .is_some_and(|d| d.contains("is mode 755")),
            "{line:#}"
        );
        assert!(
            line["fix"]
                .as_str()
                .is_some_and(|f| f.starts_with("chmod 700 ")),
            "{line:#}"
        );
    }

    // The filestore on a filesystem of its own: its snapshot's hard links cannot be made.
    {
        let filestore = demo.data_dir.join("filestore").join(&demo.db);
        let _mount = Tmpfs::mount(&filestore, "4m").expect("tmpfs");
        let (code, report) = doctor(&demo);
        assert_eq!(code, 1, "{report:#}");
        assert_eq!(failed(&report), ["hardlinks"], "{report:#}");
    }
    // Backups on a disk too small for a dump of the database.
    let small = dir.path().join("small-disk");
    let _mount = Tmpfs::mount(&small, "1m").expect("tmpfs");
    demo.extend_config(&format!(
        "backup = {{ dir = {:?} }}",
        small.display().to_string()
    ))
    .expect("config");
    let (code, report) = doctor(&demo);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(failed(&report), ["disk"], "{report:#}");
    std::fs::write(demo.config_path(), &config).expect("odd.toml");
}

#[test]
fn over_ssh_an_unreachable_host_or_an_unknown_key_is_the_one_finding() {
    let cluster = PgCluster::shared();
    let sshd = odoo_deploy_fixtures::sshd::Sshd::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Ssh(sshd)).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let (code, report) = doctor(&demo);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        report["checks"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("reachable over SSH, its host key known")),
        "{report:#}"
    );

    let config = std::fs::read_to_string(demo.config_path()).expect("odd.toml");
    let empty = dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    for (from, to) in [
        (
            format!("port = {}", sshd.port()),
            format!("port = {closed_port}"),
        ),
        (
            format!(
                "known_hosts = {:?}",
                sshd.known_hosts().display().to_string()
            ),
            format!("known_hosts = {:?}", empty.display().to_string()),
        ),
    ] {
        std::fs::write(demo.config_path(), &config).expect("odd.toml");
        edit_config(&demo, &[(&from, &to)]);
        let (code, report) = doctor(&demo);
        assert_eq!(code, 1, "{to}: {report:#}");
        assert_eq!(failed(&report), ["host"], "{to}: {report:#}");
        let rest: Vec<&Value> = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .skip(1)
            .collect();
        assert!(rest.iter().all(|c| c["verdict"] == "skip"), "{report:#}");
    }
    std::fs::write(demo.config_path(), &config).expect("odd.toml");
}
