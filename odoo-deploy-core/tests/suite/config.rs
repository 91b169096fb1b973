//! `odd.toml`: the valid example loads; every file of the error corpus gives diagnostics
//! that point at the offending text, and never a panic.

use std::path::{Path, PathBuf};

use miette::{GraphicalReportHandler, GraphicalTheme};
use odoo_deploy_core::config::{ConfigError, LoadedConfig, Strategy, TransportKind};

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/configs")
        .join(kind)
}

fn render(err: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(80)
        .render_report(&mut out, err)
        .expect("rendering to a String cannot fail");
    out
}

/// Loads a corpus file under a stable name, so snapshots do not depend on the checkout path.
fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).expect("corpus file is readable");
    let kind = path
        .parent()
        .and_then(Path::file_name)
        .expect("corpus kind");
    let file = path.file_name().expect("file name");
    let name = Path::new("fixtures/configs").join(kind).join(file);
    LoadedConfig::parse(&name, text)
}

#[test]
fn the_full_example_loads() {
    let loaded = load(&corpus("valid").join("full.toml")).expect("full.toml is valid");
    let staging = loaded.environment("staging").expect("staging exists");
    assert_eq!(staging.transport, TransportKind::Ssh);
    assert_eq!(
        *staging.service.get_ref().strategy.get_ref(),
        Strategy::Systemd
    );
    assert_eq!(staging.database.name.get_ref(), "acme_staging");
    let production = loaded.environment("production").expect("production exists");
    assert_eq!(
        production.requires.as_ref().map(|r| r.get_ref().as_str()),
        Some("staging")
    );
    assert_eq!(production.window.deny.len(), 3);
    assert!(production.approval);
    let err = loaded.environment("prodution").expect_err("typo");
    assert_eq!(err.to_string(), "no environment `prodution` in odd.toml");
    assert!(
        render(&err).contains("did you mean `production`?"),
        "{}",
        render(&err)
    );
}

#[test]
fn a_fleet_resolves_to_its_update_host_with_the_others_beside_it() {
    use odoo_deploy_core::config::{FilestoreSharing, Role};
    use odoo_deploy_core::target::Target;
    let loaded = load(&corpus("valid").join("fleet.toml")).expect("fleet.toml is valid");
    let env = loaded.environment("production").expect("production");
    assert_eq!(env.filestore, FilestoreSharing::ObjectStorage);
    let t = Target::resolve(&loaded, "production", env).expect("resolves");
    // The update host's own settings stand for the environment's.
    assert_eq!(t.host, "10.0.0.12");
    assert_eq!(t.base_url, "http://10.0.0.12:8069");
    assert_eq!(t.layout.deploy_dir, Path::new("/opt/odd"));
    assert_eq!(
        t.fleet_update.as_ref().map(|h| h.name.as_str()),
        Some("web2")
    );
    let others: Vec<(&str, Option<&str>, String)> = t
        .fleet
        .iter()
        .map(|h| {
            (
                h.name.as_str(),
                h.base_url.as_deref(),
                h.service.stop().display_redacted(),
            )
        })
        .collect();
    assert_eq!(
        others,
        vec![
            // A web host without a URL of its own: the environment's.
            (
                "web1",
                Some("https://erp.example.com"),
                "exec 'systemctl' 'stop' 'odoo'".to_owned()
            ),
            // A cron host: no URL, its own unit.
            (
                "cron1",
                None,
                "exec 'systemctl' 'stop' 'odoo-cron'".to_owned()
            ),
        ]
    );
    assert_eq!(t.fleet[0].layout.deploy_dir, Path::new("/srv/odd"));
    assert_eq!(t.fleet[1].roles, vec![Role::Cron]);
}

#[test]
fn secrets_come_from_the_environment_or_a_file() {
    let loaded = load(&corpus("valid").join("full.toml")).expect("full.toml is valid");
    let staging = loaded.environment("staging").expect("staging exists");
    // A variable nobody sets: the error points at where the file names it.
    let err = loaded
        .resolve_secret(staging.smoke.login.as_ref().expect("login").password())
        .expect_err("ODD_STAGING_ADMIN_PASSWORD is not set in tests");
    let text = render(&err);
    assert!(text.contains("ODD_STAGING_ADMIN_PASSWORD"), "{text}");
    assert!(text.contains("named here"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pgpass"), "s3cret\n").expect("write secret file");
    let config = String::from(
        "[project]\naddons_paths = [\"a\"]\nseries = \"18.0\"\n\n[environments.local]\n\
         odoo = { command = [\"odoo-bin\"], data_dir = \"/srv/d\", deploy_dir = \"/srv/o\" }\n\
         service = { strategy = \"systemd\", unit = \"odoo\" }\n\
         database = { name = \"db\", password_file = \"pgpass\" }\n\
         http = { base_url = \"http://127.0.0.1:8069\" }\n",
    );
    let loaded = LoadedConfig::parse(&dir.path().join("odd.toml"), config).expect("valid");
    let local = loaded.environment("local").expect("local");
    let secret = loaded
        .resolve_secret(local.database.password())
        .expect("file is readable")
        .expect("a password is configured");
    assert_eq!(secret.expose(), b"s3cret");
    assert_eq!(format!("{secret:?}"), "Secret(***)");
}

#[test]
fn every_broken_config_points_at_its_text() {
    insta::glob!("../../../fixtures/configs/invalid", "*.toml", |path| {
        let err = load(path).expect_err("every file of the invalid corpus is refused");
        insta::assert_snapshot!(render(&err));
    });
}

#[test]
fn several_problems_are_reported_at_once() {
    let err = load(&corpus("invalid").join("several_problems.toml")).expect_err("invalid");
    let ConfigError::Many { problems, .. } = &err else {
        panic!("expected every problem at once, got {err:?}");
    };
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for expected in [
        "`18` is not an Odoo series",
        "strategy Command needs `stop`",
        "strategy Command needs `status`",
        "Odoo refuses to run as the `postgres` role",
        "`localhost:8069` is not an http(s) URL",
        "environment `production` uses transport \"ssh\" but has no [environments.production.host]",
        "`requires` names an unknown environment `stagign`",
        "`fry` is not a day of the week",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "missing {expected:?} in {messages:#?}"
        );
    }
    assert_eq!(messages.len(), 8, "{messages:#?}");
}

#[test]
fn garbage_never_panics() {
    // Every prefix of every corpus file: an error or a config, never a panic.
    for kind in ["valid", "invalid"] {
        for entry in std::fs::read_dir(corpus(kind)).expect("corpus dir") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
            for cut in (0..text.len()).filter(|i| text.is_char_boundary(*i)) {
                let _ = LoadedConfig::parse(Path::new("odd.toml"), text[..cut].to_owned());
            }
        }
    }
}

#[test]
fn a_password_in_the_text_is_refused_by_its_key_never_shown() {
    let err = load(&corpus("invalid").join("password_in_text.toml")).expect_err("refused");
    let text = render(&err);
    assert!(text.contains("`password`"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the value reached the message:\n{text}"
    );
    assert!(!format!("{err:?}").contains("hunter2"));
}
