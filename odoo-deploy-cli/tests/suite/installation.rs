//! The host's Odoo installation end to end: Odoo (the stand-in) installed on the host
//! outside the repository, its own addons and config file read by odd.

use std::path::Path;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

use crate::deploy::{deploy, odd, report, sql};

fn changes(demo: &Demo) -> Value {
    let (code, stdout, stderr) = odd(demo, &["changes", "demo", "--json"], &[]);
    assert!(code == 0 || code == 1, "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("changes JSON ({e}): {stdout}"))
}

fn update_of<'a>(set: &'a Value, module: &str) -> Option<&'a Value> {
    set["update"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["module"] == module))
}

fn append(path: &Path, text: &str) {
    let mut body = std::fs::read_to_string(path).expect("read");
    body.push_str(text);
    std::fs::write(path, body).expect("write");
}

fn column_exists(cluster: &PgCluster, db: &str, table: &str, column: &str) -> bool {
    sql(
        cluster,
        db,
        &format!(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = '{table}' AND column_name = '{column}'"
        ),
    ) == "1"
}

#[test]
fn an_upgrade_of_odoo_on_the_host_is_a_change_and_the_next_deploy_updates_it() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "first install: {stderr}\n{events:#?}");
    // Odoo's own modules came from the installation on the host (not the repository),
    // and the database was created as Odoo creates one.
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT state FROM ir_module_module WHERE name = 'mail'"
        ),
        "installed"
    );
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            &format!(
                "SELECT datcollate || '|' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '{}'",
                demo.db
            )
        ),
        "C|UTF8"
    );
    let before = changes(&demo);
    assert!(update_of(&before, "mail").is_none(), "{before:#}");

    // An Odoo package upgrade changes a core module's files on the host.
    append(
        &demo.odoo_addons().join("mail/standin/schema.sql"),
        "ALTER TABLE mail_message ADD COLUMN IF NOT EXISTS odd_upgrade_probe varchar;\n",
    );
    let after = changes(&demo);
    let mail = update_of(&after, "mail").unwrap_or_else(|| panic!("mail is updated: {after:#}"));
    assert_eq!(mail["reason"], "host_changed", "{mail:#}");
    let (_, text, _) = odd(&demo, &["changes", "demo"], &[]);
    assert!(
        text.contains("changed on the host, not in this repository"),
        "{text}"
    );
    assert!(
        update_of(&after, "acme_base").is_none(),
        "only the host's change is an update: {after:#}"
    );
    let effective: Vec<&str> = after["effective_update"]
        .as_array()
        .expect("effective update")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        effective.contains(&"acme_base"),
        "Odoo reloads mail's dependents: {effective:?}"
    );

    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(report(&events)["outcome"], "succeeded");
    assert!(
        column_exists(cluster, &demo.db, "mail_message", "odd_upgrade_probe"),
        "the upgraded mail ran"
    );
    let settled = changes(&demo);
    assert!(update_of(&settled, "mail").is_none(), "{settled:#}");

    // With core addons ignored, the next upgrade is not a change.
    demo.extend_config("installation = { ignore_core_addons = true }")
        .expect("config");
    append(
        &demo.odoo_addons().join("mail/standin/schema.sql"),
        "ALTER TABLE mail_message ADD COLUMN IF NOT EXISTS odd_second_probe varchar;\n",
    );
    let ignored = changes(&demo);
    assert!(update_of(&ignored, "mail").is_none(), "{ignored:#}");
    assert!(
        ignored["update"].as_array().is_some_and(Vec::is_empty),
        "{ignored:#}"
    );
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert!(
        !column_exists(cluster, &demo.db, "mail_message", "odd_second_probe"),
        "mail was not updated"
    );
}

#[test]
fn database_settings_come_from_the_host_odoo_config_and_its_password_leaks_nowhere() {
    use odoo_deploy_fixtures::pg::PgAuth;
    let cluster = PgCluster::builder()
        .auth(PgAuth::Scram)
        .start()
        .expect("scram cluster");
    let password = cluster.password().expect("a generated password").to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), &cluster, Reach::Local).expect("demo");
    demo.use_database_from_odoo_config().expect("config");
    demo.checkout(1).expect("v1");
    let toml = std::fs::read_to_string(demo.config_path()).expect("odd.toml");
    assert!(toml.contains("from_odoo_config = true"), "{toml}");
    assert!(
        !toml.contains("password") && !toml.contains(&cluster.port().to_string()),
        "odd.toml names neither the password nor the connection: {toml}"
    );

    let mut seen = Vec::new();
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(
        code, 0,
        "first install with the host's settings: {stderr}\n{events:#?}"
    );
    seen.push(stderr);
    seen.extend(events.iter().map(Value::to_string));
    demo.checkout(2).expect("v2");
    for args in [
        &["plan", "demo"][..],
        &["plan", "demo", "--json"],
        &["changes", "demo"],
        &["changes", "demo", "--json"],
        &["deploy", "demo", "--yes", "--json"],
        &["status", "demo", "--json"],
        &["history", "demo", "--json"],
    ] {
        let (code, stdout, stderr) = odd(&demo, args, &[]);
        assert!(code == 0, "odd {args:?}: {stderr}\n{stdout}");
        seen.push(stdout);
        seen.push(stderr);
    }
    assert!(
        seen.iter().any(|s| s.contains("acme_loyalty")),
        "the outputs were captured"
    );
    // Everything odd wrote on the host (ledger, journal, plans, backups' metadata,
    // releases) but the Odoo config file itself, which holds the password by design.
    let mut files = vec![demo.deploy_dir.clone()];
    while let Some(path) = files.pop() {
        if path == demo.odoo_conf() {
            continue;
        }
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("dir")
                    .map(|e| e.expect("entry").path()),
            );
        } else if let Ok(bytes) = std::fs::read(&path) {
            seen.push(format!(
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&bytes)
            ));
        }
    }
    seen.push(std::fs::read_to_string(&demo.odoo_log).unwrap_or_default());
    for (i, text) in seen.iter().enumerate() {
        assert!(
            !text.contains(&password),
            "the database password leaked in output #{i}:\n{text}"
        );
    }
}

#[test]
fn a_name_on_the_host_and_in_the_repository_is_taken_from_the_earlier_path() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    // A shared folder on the host holding another copy of a repository module.
    let shared = dir.path().join("host/shared");
    odoo_deploy_fixtures::copy_tree(
        &demo.repo.path().join("custom_addons/acme_legacy"),
        &shared.join("acme_legacy"),
    )
    .expect("copy");
    let manifest = shared.join("acme_legacy/__manifest__.py");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, text.replace("'18.0.1.0.0'", "'18.0.7.0.0'")).expect("write");
    let conf = std::fs::read_to_string(demo.odoo_conf()).expect("odoo.conf");
    let current = demo.deploy_dir.join("current/custom_addons");
    let line = format!("addons_path = {}\n", current.display());
    assert!(conf.contains(&line), "{conf}");
    let set_order = |first: &Path, second: &Path| {
        let new = format!("addons_path = {},{}\n", first.display(), second.display());
        std::fs::write(demo.odoo_conf(), conf.replace(&line, &new)).expect("odoo.conf");
    };
    let version = || {
        sql(
            cluster,
            &demo.db,
            "SELECT latest_version FROM ir_module_module WHERE name = 'acme_legacy'",
        )
    };

    // The repository's folder first: its copy wins, on the plan and in Odoo.
    set_order(&current, &shared);
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(version(), "18.0.1.0.0");
    let set = changes(&demo);
    assert!(update_of(&set, "acme_legacy").is_none(), "{set:#}");

    // The shared folder first: the host's copy wins; the change says where it comes from.
    set_order(&shared, &current);
    let set = changes(&demo);
    let legacy = update_of(&set, "acme_legacy").unwrap_or_else(|| panic!("{set:#}"));
    assert_eq!(legacy["reason"], "host_changed", "{legacy:#}");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(version(), "18.0.7.0.0", "Odoo loaded the host's copy");
}

#[test]
fn a_host_config_that_would_not_load_the_release_fails_the_plan() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    let conf = std::fs::read_to_string(demo.odoo_conf()).expect("odoo.conf");
    let current = demo.deploy_dir.join("current/custom_addons");
    let elsewhere = dir.path().join("host/other");
    std::fs::create_dir_all(elsewhere.join("x")).expect("dir");
    std::fs::write(elsewhere.join("x/__manifest__.py"), "{'depends': ['base']}").expect("x");
    let wrong_data = dir.path().join("host/elsewhere-data");
    let text = conf
        .replace(
            &current.display().to_string(),
            &elsewhere.display().to_string(),
        )
        .replace(
            &format!("data_dir = {}", demo.data_dir.display()),
            &format!("data_dir = {}", wrong_data.display()),
        );
    std::fs::write(demo.odoo_conf(), text).expect("odoo.conf");
    let (code, stdout, stderr) = odd(&demo, &["plan", "demo"], &[]);
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(&format!("does not name {}", current.display())),
        "{all}"
    );
    assert!(
        all.contains("odd would snapshot another filestore"),
        "{all}"
    );
}

#[test]
fn odd_check_with_an_environment_checks_what_its_odoo_would_load() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    // The repository alone misses Odoo's modules; with the host's installation it is whole.
    let alone = demo.repo.path().join("custom_addons").display().to_string();
    let (code, _, stderr) = odd(&demo, &["check", "--addons-path", &alone], &[]);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("which is on no addons path"), "{stderr}");
    let (code, stdout, stderr) = odd(&demo, &["check", "--env", "demo"], &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("24 addons checked: no problems"),
        "14 of Odoo's and 10 of the repository's: {stderr}"
    );
    // A broken manifest on the host is reported, pointing at the host's file.
    let broken = demo.odoo_addons().join("broken_core");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("__manifest__.py"), "{'name': 'x',,}\n").expect("write");
    let (code, stdout, stderr) = odd(&demo, &["check", "--env", "demo"], &[]);
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&broken.join("__manifest__.py").display().to_string()),
        "{stderr}"
    );
}
