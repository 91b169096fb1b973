use std::path::Path;

use super::*;
use crate::odoo::ModuleRow;
use crate::state::DbState;

fn env(name: &str, extra: &str) -> String {
    format!(
        r#"
[environments.{name}]
odoo = {{ command = ["odoo-bin"], data_dir = "/srv/{name}/data", deploy_dir = "/srv/{name}/odd" }}
service = {{ strategy = "command", start = ["true"], stop = ["true"], status = ["true"] }}
database = {{ name = "{name}" }}
http = {{ base_url = "http://{name}.example" }}
{extra}
"#
    )
}

fn loaded(envs: &str) -> LoadedConfig {
    let text = format!("[project]\naddons_paths = [\"addons\"]\nseries = \"18.0\"\n{envs}");
    LoadedConfig::parse(Path::new("odd.toml"), text).expect("valid config")
}

fn reason(r: Result<(), RefreshError>) -> String {
    match r {
        Err(RefreshError::Refused { reason, .. }) => reason,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn production_marked_protected_is_never_a_target() {
    let l = loaded(
        &(env("production", "protected = true\nrequires = \"staging\"") + &env("staging", "")),
    );
    let why = reason(refuse(&l, "production", "staging"));
    assert!(why.contains("`production` is protected"), "{why}");
    // The other way round is the refresh odd is for; production requiring staging is fine.
    refuse(&l, "staging", "production").expect("staging from production");
}

#[test]
fn the_source_itself_and_an_environment_others_require_are_refused() {
    let l = loaded(
        &(env("production", "protected = true")
            + &env("staging", "")
            + &env("preprod", "requires = \"staging\"")),
    );
    assert!(reason(refuse(&l, "staging", "staging")).contains("from itself"));
    let why = reason(refuse(&l, "staging", "production"));
    assert!(why.contains("required by `preprod`"), "{why}");
    assert!(reason(refuse(&l, "nope", "production")).contains("nope"));
}

#[test]
fn refresh_settings_are_checked_against_the_text() {
    let text = format!(
        "[project]\naddons_paths = [\"addons\"]\nseries = \"18.0\"\n{}{}",
        env("production", ""),
        env(
            "staging",
            "[environments.staging.refresh]\nfrom = \"prod\"\nseed_env = \"bad name\"\n\
             [[environments.staging.refresh.anonymise]]\nmodel = \"res.partner; DROP TABLE x\"\nfield = \"email\"\naction = \"null\"\n"
        )
    );
    let err = LoadedConfig::parse(Path::new("odd.toml"), text).expect_err("three problems");
    let text = format!("{:?}", miette::Report::new(err));
    assert!(text.contains("unknown environment `prod`"), "{text}");
    assert!(text.contains("did you mean `production`"), "{text}");
    assert!(text.contains("not an environment variable name"), "{text}");
    assert!(text.contains("not a model and field"), "{text}");
}

fn copy_with(sums: &str, installed: &[&str]) -> DbState {
    let mut db = DbState {
        exists: true,
        initialized: true,
        ..DbState::default()
    };
    db.params
        .insert(ODD_CHECKSUMS_KEY.to_owned(), sums.to_owned());
    db.modules = installed
        .iter()
        .map(|n| ModuleRow {
            name: (*n).to_owned(),
            state: "installed".to_owned(),
            latest_version: None,
        })
        .collect();
    db
}

#[test]
fn modules_whose_code_differs_are_updated_and_missing_ones_installed() {
    let staging = r#"{"base": "a", "sale": "s2", "acme": "x1", "acme_new": "n1"}"#;
    let copy = copy_with(
        r#"{"base": "a", "sale": "s1", "acme": "x1"}"#,
        &["base", "sale", "acme"],
    );
    let set = update_set(Some(staging), &copy).expect("set");
    assert_eq!(set.update.iter().collect::<Vec<_>>(), ["sale"]);
    assert_eq!(set.install.iter().collect::<Vec<_>>(), ["acme_new"]);
    // A copy without odd's checksums: everything staging has is updated.
    let bare = copy_with("{}", &["base", "sale", "acme", "acme_new"]);
    let set = update_set(Some(staging), &bare).expect("set");
    assert_eq!(set.update.len(), 4);
    assert!(update_set(None, &copy).is_err());
}

#[test]
fn secret_variables_never_reach_argv() {
    let conn = DbConn {
        name: "s".into(),
        host: None,
        port: None,
        user: None,
        password: None,
    };
    let cmd =
        crate::backup::PgTools::default().psql(&conn, "s", &[("a", "1")], "SELECT :'seed';\n");
    let cmd = with_secret_vars(cmd, &[("seed", &Secret::new("k3y"))]);
    let shown = cmd.display_redacted();
    assert!(!shown.contains("k3y"), "{shown}");
    let crate::command::Stdin::Bytes(script) = cmd.get_stdin() else {
        panic!("stdin")
    };
    assert_eq!(
        String::from_utf8_lossy(script),
        "\\getenv seed ODD_SECRET_SEED\nSELECT :'seed';\n"
    );
}

#[test]
fn same_host_means_same_address_port_and_user() {
    let l = loaded(
        &(env(
            "a",
            "transport = \"ssh\"\nhost = { address = \"h\", user = \"u1\" }",
        ) + &env(
            "b",
            "transport = \"ssh\"\nhost = { address = \"h\", user = \"u2\" }",
        ) + &env(
            "c",
            "transport = \"ssh\"\nhost = { address = \"h\", user = \"u1\" }",
        ) + &env("d", "")
            + &env("e", "")),
    );
    let e = |n: &str| l.environment(n).expect("env");
    assert!(!same_host(e("a"), e("b")));
    assert!(same_host(e("a"), e("c")));
    assert!(same_host(e("d"), e("e")));
    assert!(!same_host(e("a"), e("d")));
}
