//! The plan as users see it (text and JSON), its gates, and that no secret reaches it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use odoo_deploy_core::changes::{ChangeInput, CodeModule, StoredChecksums, compute};
use odoo_deploy_core::checksum::ODD_CHECKSUMS_KEY;
use odoo_deploy_core::config::LoadedConfig;
use odoo_deploy_core::ledger::{ChangeSummary, DeployRecord, Ledger, Outcome};
use odoo_deploy_core::odoo::ModuleRow;
use odoo_deploy_core::plan::{Plan, PlanInput, StepKind, make};
use odoo_deploy_core::state::DbState;
use odoo_deploy_core::target::Target;

const DB_PASSWORD: &str = "pg-s3cret-7731";
const ADMIN_PASSWORD: &str = "admin-s3cret-9124";
// 2026-11-20, a Friday, at 16:00 UTC (inside production's closed window) and 10:00.
const FRI_1600: i64 = 1_795_132_800 + 16 * 3600;
const FRI_1000: i64 = 1_795_132_800 + 10 * 3600;
const COMMIT: &str = "4f1c2a9e0b7d4c5e8a1f2b3c4d5e6f708192a3b4";
/// The commit running before (ledgers hold full hashes: odd refuses others).
const PREVIOUS: &str = "0a1b2c3de5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0";

fn loaded() -> (tempfile::TempDir, LoadedConfig) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/configs/valid/plan.toml");
    std::fs::copy(src, dir.path().join("odd.toml")).expect("copy config");
    std::fs::write(dir.path().join("pgpass"), format!("{DB_PASSWORD}\n")).expect("secret");
    std::fs::write(dir.path().join("adminpass"), ADMIN_PASSWORD).expect("secret");
    let loaded = LoadedConfig::load(&dir.path().join("odd.toml")).expect("valid config");
    (dir, loaded)
}

fn target(loaded: &LoadedConfig, name: &str) -> Target {
    let env = loaded.environment(name).expect("environment");
    Target::resolve(loaded, name, env).expect("secrets resolve")
}

/// A checksum-shaped value derived from the name (40 hex digits).
fn sum(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<40}")
}

fn module(version: &str, depends: &[&str]) -> CodeModule {
    CodeModule {
        dir: PathBuf::from("custom_addons/x"),
        version: Some(version.to_owned()),
        depends: depends.iter().map(|d| (*d).to_owned()).collect(),
        installable: true,
        auto_install: None,
        migrations: Vec::new(),
    }
}

fn row(name: &str, state: &str, version: &str) -> ModuleRow {
    ModuleRow {
        name: name.to_owned(),
        state: state.to_owned(),
        latest_version: Some(version.to_owned()),
    }
}

fn record(env: &str, id: &str, commit: &str, downtime: u64) -> DeployRecord {
    DeployRecord {
        databases: Vec::new(),
        id: id.to_owned(),
        environment: env.to_owned(),
        commit: commit.to_owned(),
        previous_commit: None,
        who: "ops@laptop".to_owned(),
        started_at: FRI_1000 - 86_400,
        finished_at: Some(FRI_1000 - 86_000),
        outcome: Outcome::Succeeded,
        reason: None,
        evidence: Vec::new(),
        plan: None,
        plan_digest: None,
        changes: ChangeSummary::default(),
        backups: Vec::new(),
        steps: Vec::new(),
        downtime_ms: Some(downtime),
        window_override: None,
        previous_release: None,
    }
}

fn ledger(records: &[DeployRecord]) -> Ledger {
    Ledger::parse(
        &records
            .iter()
            .map(|r| Ledger::line(r).expect("json"))
            .collect::<String>(),
    )
}

/// An update of acme_base (changed), which acme_sale depends on, plus a new module.
fn update_plan(
    target: &Target,
    now: i64,
    required: Option<&Ledger>,
    override_window: Option<&str>,
) -> Plan {
    let mut code = BTreeMap::new();
    code.insert("base".to_owned(), module("1.3", &[]));
    code.insert("acme_base".to_owned(), module("18.0.1.1.0", &["base"]));
    code.insert("acme_sale".to_owned(), module("18.0.1.0.0", &["acme_base"]));
    code.insert("acme_new".to_owned(), module("18.0.1.0.0", &["acme_base"]));
    // Checksums as the code has them now; only acme_base's differs from the stored one.
    let checksums: BTreeMap<String, String> = code.keys().map(|k| (k.clone(), sum(k))).collect();
    let db = DbState {
        exists: true,
        initialized: true,
        modules: vec![
            row("acme_base", "installed", "18.0.1.0.0"),
            row("acme_sale", "installed", "18.0.1.0.0"),
            row("base", "installed", "18.0.1.3"),
        ],
        params: BTreeMap::new(),
        langs: vec!["en_US".to_owned()],
    };
    let stored = StoredChecksums::parse(
        ODD_CHECKSUMS_KEY,
        &serde_json::json!({
            "base": sum("base"),
            "acme_base": "9e107d9d372bb6826bd81d3542a419d6e277d4d7",
            "acme_sale": sum("acme_sale"),
        })
        .to_string(),
    )
    .expect("json");
    let mut required_modules: BTreeSet<String> = target.required.clone();
    required_modules.insert("acme_new".to_owned());
    let changes = compute(&ChangeInput {
        code: &code,
        checksums: &checksums,
        rows: &db.modules,
        stored: Some(&stored),
        required: &required_modules,
        series: &target.series,
        allow_remove: false,
    });
    let own = ledger(&[record(
        &target.environment,
        "20261119T100000Z-0a1b2c3d",
        PREVIOUS,
        4200,
    )]);
    let (dir, loaded) = loaded();
    let window = loaded
        .environment(&target.environment)
        .expect("env")
        .window
        .clone();
    drop(dir);
    make(PlanInput {
        target,
        commit: COMMIT,
        dirty: &[],
        now,
        who: "ops@laptop",
        ledger: &own,
        required_ledger: required,
        current_release: Some("20261119T100000Z-0a1b2c3d"),
        db: &db,
        changes,
        window: &window,
        override_window,
    })
}

#[test]
fn the_staging_plan_as_people_and_machines_read_it() {
    let (_dir, loaded) = loaded();
    let staging = target(&loaded, "staging");
    let plan = update_plan(&staging, FRI_1000, None, None);
    assert!(plan.ready(), "{}", plan.render_text());
    let kinds: Vec<StepKind> = plan.steps.iter().map(|s| s.kind).collect();
    // The snapshot is taken with Odoo stopped, before the update, as one consistent pair.
    let pos = |k: StepKind| kinds.iter().position(|x| *x == k).expect("step present");
    assert!(pos(StepKind::Stop) < pos(StepKind::Snapshot));
    assert!(pos(StepKind::Snapshot) < pos(StepKind::Update));
    assert!(pos(StepKind::Update) < pos(StepKind::Switch));
    assert!(pos(StepKind::Health) < pos(StepKind::StoreChecksums));
    assert_eq!(plan.update.install, ["acme_new".to_owned()].into());
    assert_eq!(plan.update.update, ["acme_base".to_owned()].into());
    assert_eq!(plan.changes.effective_update, ["acme_base", "acme_sale"]);
    insta::assert_snapshot!("staging_plan_text", plan.render_text());
    let json = serde_json::to_string_pretty(&plan).expect("plan serialises");
    insta::assert_snapshot!("staging_plan_json", json);
    for text in [plan.render_text(), json] {
        assert!(
            !text.contains(DB_PASSWORD) && !text.contains(ADMIN_PASSWORD),
            "a secret leaked:\n{text}"
        );
    }
    // Secrets go only to the commands that need them: the database password to the
    // PostgreSQL clients, never to Odoo, the service manager or the file commands.
    let mut with_password = 0;
    for cmd in plan
        .steps
        .iter()
        .chain(&plan.rollback)
        .flat_map(|s| &s.commands)
    {
        let program = std::path::Path::new(cmd.program())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (name, value) in cmd.get_envs() {
            let carries = value.as_encoded_bytes() == DB_PASSWORD.as_bytes()
                || value.as_encoded_bytes() == ADMIN_PASSWORD.as_bytes();
            if carries {
                assert_eq!(name, "PGPASSWORD", "{cmd}");
                assert!(
                    ["psql", "pg_dump", "pg_restore"].contains(&program.as_str()),
                    "{program} is given the database password: {cmd}"
                );
                with_password += 1;
            }
        }
        assert!(
            !cmd.get_args().any(|a| a
                .as_encoded_bytes()
                .windows(DB_PASSWORD.len())
                .any(|w| w == DB_PASSWORD.as_bytes())),
            "a password in argv: {cmd}"
        );
    }
    assert!(with_password > 0, "the psql commands do get it");
}

#[test]
fn production_waits_for_staging_and_for_the_window() {
    let (_dir, loaded) = loaded();
    let production = target(&loaded, "production");
    let staging_without = ledger(&[record(
        "staging",
        "20261119T090000Z-0a1b2c3d",
        PREVIOUS,
        4000,
    )]);
    let plan = update_plan(&production, FRI_1000, Some(&staging_without), None);
    let requires = plan
        .gates
        .iter()
        .find(|g| g.name == "requires")
        .expect("requires gate");
    assert!(!requires.passed);
    assert!(
        requires
            .detail
            .contains("has not been deployed successfully on staging"),
        "{}",
        requires.detail
    );
    assert!(!plan.ready());

    let staging_with = ledger(&[record("staging", "20261120T090000Z-4f1c2a9e", COMMIT, 4000)]);
    let plan = update_plan(&production, FRI_1000, Some(&staging_with), None);
    assert!(plan.ready(), "{}", plan.render_text());
    // Production also takes a portable dump before the update.
    assert!(plan.steps.iter().any(|s| s.kind == StepKind::Dump));

    let closed = update_plan(&production, FRI_1600, Some(&staging_with), None);
    let window = closed
        .gates
        .iter()
        .find(|g| g.name == "window")
        .expect("window gate");
    assert!(!window.passed);
    assert!(
        window.detail.contains("not on Friday afternoon"),
        "{}",
        window.detail
    );
    let overridden = update_plan(
        &production,
        FRI_1600,
        Some(&staging_with),
        Some("hotfix for invoice bug"),
    );
    let window = overridden
        .gates
        .iter()
        .find(|g| g.name == "window")
        .expect("window gate");
    assert!(window.passed);
    assert_eq!(window.overridden.as_deref(), Some("hotfix for invoice bug"));
    assert!(
        overridden
            .render_text()
            .contains("override: hotfix for invoice bug")
    );
}

/// The gate on the startup log, and the step that says where it is read from.
fn startup_log(plan: &Plan) -> (&odoo_deploy_core::plan::Gate, Option<&str>) {
    let gate = plan
        .gates
        .iter()
        .find(|g| g.name == "log")
        .expect("log gate");
    let step = plan
        .steps
        .iter()
        .find(|s| s.kind == StepKind::StartupLog)
        .map(|s| s.title.as_str());
    (gate, step)
}

#[test]
fn every_plan_says_where_the_startup_log_is_read_and_none_is_refused() {
    let (dir, loaded) = loaded();
    // systemd with no log_file: the unit's journal.
    let production = target(&loaded, "production");
    let staging_with = ledger(&[record("staging", "s2", COMMIT, 4000)]);
    let plan = update_plan(&production, FRI_1000, Some(&staging_with), None);
    let (gate, step) = startup_log(&plan);
    assert!(gate.passed, "{}", gate.detail);
    assert_eq!(
        step,
        Some(
            "read the journal of unit odoo (journalctl) through startup: no module skipped, no error"
        )
    );

    // The command strategy with neither log_file nor `logs`: refused, naming both keys.
    let path = dir.path().join("odd.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let without = text.replacen(", log_file = \"/var/log/odoo/odoo.log\"", "", 1);
    assert_ne!(without, text);
    std::fs::write(&path, &without).expect("config");
    let bare = LoadedConfig::load(&path).expect("valid config");
    let staging = target(&bare, "staging");
    let plan = update_plan(&staging, FRI_1000, None, None);
    let (gate, step) = startup_log(&plan);
    assert!(!gate.passed);
    assert_eq!(
        gate.detail,
        "no source of Odoo's startup log: set `log_file` in [environments.staging.odoo] or \
         `logs` (an argv printing Odoo's log) in [environments.staging.service]"
    );
    assert_eq!(step, None);
    assert!(!plan.ready());
    assert!(
        plan.render_text().contains("[FAIL] log"),
        "{}",
        plan.render_text()
    );

    // …and with a `logs` argv: its output is read.
    let with_logs = without.replacen(
        "status = [\"/opt/odoo/ctl\", \"status\"]",
        "status = [\"/opt/odoo/ctl\", \"status\"], logs = [\"/opt/odoo/ctl\", \"logs\"]",
        1,
    );
    assert_ne!(with_logs, without);
    std::fs::write(&path, &with_logs).expect("config");
    let logs = LoadedConfig::load(&path).expect("valid config");
    let staging = target(&logs, "staging");
    let plan = update_plan(&staging, FRI_1000, None, None);
    let (gate, step) = startup_log(&plan);
    assert!(gate.passed, "{}", gate.detail);
    assert_eq!(
        step,
        Some(
            "read the output of `/opt/odoo/ctl logs` through startup: no module skipped, no error"
        )
    );
}

#[test]
fn a_first_install_warns_about_repository_modules_nothing_requires() {
    let (_dir, loaded) = loaded();
    let staging = target(&loaded, "staging");
    // required_modules = ["acme_sale"]: acme_base comes as its dependency, acme_helpdesk
    // and acme_report stay out; a module on the host (absolute dir), a non-installable
    // one and an auto_install one are not the operator's to list.
    let mut code = BTreeMap::new();
    code.insert("base".to_owned(), module("1.3", &[]));
    code.insert("acme_base".to_owned(), module("18.0.1.1.0", &["base"]));
    code.insert("acme_sale".to_owned(), module("18.0.1.0.0", &["acme_base"]));
    code.insert(
        "acme_helpdesk".to_owned(),
        module("18.0.1.0.0", &["acme_base"]),
    );
    code.insert(
        "acme_report".to_owned(),
        module("18.0.1.0.0", &["acme_sale"]),
    );
    let mut old = module("18.0.1.0.0", &["acme_base"]);
    old.installable = false;
    code.insert("acme_old".to_owned(), old);
    let mut glue = module("18.0.1.0.0", &["acme_sale", "acme_helpdesk"]);
    glue.auto_install = Some(vec!["acme_sale".to_owned(), "acme_helpdesk".to_owned()]);
    code.insert("acme_glue".to_owned(), glue);
    let mut host = module("18.0.1.0", &["base"]);
    host.dir = PathBuf::from("/usr/lib/python3/dist-packages/odoo/addons/mail");
    code.insert("mail".to_owned(), host);
    let checksums: BTreeMap<String, String> = code.keys().map(|k| (k.clone(), sum(k))).collect();
    let db = DbState {
        exists: false,
        initialized: false,
        modules: Vec::new(),
        params: BTreeMap::new(),
        langs: Vec::new(),
    };
    let changes = compute(&ChangeInput {
        code: &code,
        checksums: &checksums,
        rows: &db.modules,
        stored: None,
        required: &staging.required,
        series: &staging.series,
        allow_remove: false,
    });
    let window = loaded.environment("staging").expect("env").window.clone();
    let mut plan = make(PlanInput {
        target: &staging,
        commit: COMMIT,
        dirty: &[],
        now: FRI_1000,
        who: "ops@laptop",
        ledger: &Ledger::default(),
        required_ledger: None,
        current_release: None,
        db: &db,
        changes,
        window: &window,
        override_window: None,
    });
    assert!(plan.first_install);
    let mut vendored = module("18.0.1.0.0", &["base"]);
    vendored.dir = PathBuf::from("vendor/oca-partner/partner_unused");
    code.insert("partner_unused".to_owned(), vendored);
    let vendor = [PathBuf::from("vendor/oca-partner")];
    let warning =
        odoo_deploy_core::plan::left_uninstalled(&plan, &code, &vendor).expect("a warning");
    assert_eq!(
        warning,
        "a first install leaves 2 module(s) of the repository uninstalled: acme_helpdesk, \
         acme_report — nothing in required_modules needs them; add the ones this environment \
         runs to required_modules in [project]"
    );
    plan.warnings.push(warning);
    assert!(plan.ready(), "a warning does not stop the deploy");
    let text = plan.render_text();
    assert!(
        text.contains("\nWarnings:\n  ! a first install leaves 2 module(s)"),
        "{text}"
    );
    let json = serde_json::to_value(&plan).expect("json");
    assert_eq!(
        json["warnings"][0].as_str(),
        plan.warnings.first().map(String::as_str)
    );

    // Once installed, the database is no first install: no warning.
    plan.first_install = false;
    assert_eq!(
        odoo_deploy_core::plan::left_uninstalled(&plan, &code, &vendor),
        None
    );
}

#[test]
fn the_runbook_of_a_full_deploy_is_the_list_the_crash_matrix_pauses_at() {
    use odoo_deploy_core::runbook::{DEPLOY_STEPS, OnResume};
    let (_dir, loaded) = loaded();
    let production = target(&loaded, "production");
    let staging_with = ledger(&[record("staging", "20261120T090000Z-4f1c2a9e", COMMIT, 4000)]);
    let plan = update_plan(&production, FRI_1000, Some(&staging_with), None);
    assert!(plan.ready(), "{}", plan.render_text());
    let names: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| !matches!(s.kind, StepKind::Lock | StepKind::Upload | StepKind::Unlock))
        .map(|s| s.phase.name())
        .collect();
    let expected: Vec<&str> = DEPLOY_STEPS.iter().map(|k| k.name()).collect();
    assert_eq!(names, expected);
    for step in &plan.steps {
        // What the plan shows is what the phase says.
        assert_eq!(step.kind, step.phase.kind());
        assert_eq!(step.title, step.phase.title());
        assert_eq!(step.phase.name(), step.kind.name());
    }
    // `--resume` takes a deploy forward from its completed update: what came before is
    // the dead run's.
    let skipped: Vec<StepKind> = plan
        .steps
        .iter()
        .filter(|s| s.phase.on_resume() == OnResume::Skip)
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        skipped,
        [
            StepKind::Lock,
            StepKind::Upload,
            StepKind::Snapshot,
            StepKind::Dump,
            StepKind::Update
        ]
    );
    // Odoo is down from the stop to the start.
    let down: Vec<StepKind> = plan
        .steps
        .iter()
        .filter(|s| s.phase.odoo_down())
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        down,
        [
            StepKind::Snapshot,
            StepKind::Dump,
            StepKind::Update,
            StepKind::VerifyModules,
            StepKind::Switch
        ]
    );
}
