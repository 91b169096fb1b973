//! The change set of each step of the sample project's history, against a real database
//! that the stand-in Odoo installed and updated: what to install, update and remove, what
//! Odoo reloads, and the migration-not-bumped case. Also: click-odoo-update's stored
//! checksums give the same result as odd's own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use odoo_deploy_core::backup::{DbConn, PgTools};
use odoo_deploy_core::changes::{ChangeProblem, ChangeSet};
use odoo_deploy_core::checksum::{CLICK_ODOO_CHECKSUMS_KEY, ODD_CHECKSUMS_KEY};
use odoo_deploy_core::config::LoadedConfig;
use odoo_deploy_core::ops::{self, EnvState};
use odoo_deploy_core::state;
use odoo_deploy_core::target::Target;
use odoo_deploy_core::transport::{LocalTransport, Transport};
use odoo_deploy_fixtures::history::{SampleHistory, SampleRepo};
use odoo_deploy_fixtures::pg::PgCluster;

/// A local environment on the shared cluster, its database named `db`.
fn target(cluster: &PgCluster, db: &str, data_dir: &Path) -> Target {
    let toml = format!(
        r#"[project]
addons_paths = ["custom_addons"]
series = "18.0"

[environments.local]
odoo = {{ command = [{standin:?}, "--db_host={host}", "--db_port={port}", "-r", "{user}"], data_dir = {data:?}, deploy_dir = {deploy:?} }}
service = {{ strategy = "command", start = ["true"], stop = ["true"], status = ["true"] }}
database = {{ name = {db:?}, host = "{host}", port = {port}, user = "{user}", pg_bin_dir = {bin:?} }}
http = {{ base_url = "http://127.0.0.1:1" }}
"#,
        standin = odoo_deploy_fixtures::standin_odoo_bin()
            .display()
            .to_string(),
        host = cluster.host(),
        port = cluster.port(),
        user = cluster.user(),
        data = data_dir.display().to_string(),
        deploy = data_dir.join("odd").display().to_string(),
        bin = cluster.bin_dir().display().to_string(),
    );
    let loaded = LoadedConfig::parse(Path::new("odd.toml"), toml).expect("valid config");
    let env = loaded.environment("local").expect("env");
    Target::resolve(&loaded, "local", env).expect("no secrets needed")
}

struct Env {
    target: Target,
    repo: SampleRepo,
    local: LocalTransport,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new(prefix: &str) -> Self {
        let cluster = PgCluster::shared();
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = SampleHistory::build(&dir.path().join("repo")).expect("history");
        let db = cluster.unique_db_name(prefix);
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        Self {
            target: target(cluster, &db, &dir.path().join("data")),
            repo,
            local: LocalTransport::new(),
            _dir: dir,
        }
    }

    fn conn(&self) -> &DbConn {
        &self.target.db
    }

    fn tools(&self) -> &PgTools {
        &self.target.pg
    }

    async fn state(&self) -> EnvState {
        ops::read_env(&self.target, &self.local)
            .await
            .expect("state readable")
    }

    /// The change set of the checked-out version against the database.
    async fn changes(&self, allow_remove: bool) -> ChangeSet {
        let env = self.state().await;
        let code = ops::read_code_on(self.repo.path(), &self.target, &self.local, &env.db)
            .await
            .expect("code");
        // Every custom module of the checked-out version is required, as the project's
        // odd.toml would list them.
        let mut target = self.target.clone();
        target.required = custom_modules(self.repo.path());
        ops::changes(&target, &code, &env, None, allow_remove)
            .await
            .expect("changes")
    }

    /// Runs the stand-in's update as a deploy would, then stores the checksums under `key`.
    async fn apply(&self, set: &ChangeSet, key: &str) -> bool {
        let update = odoo_deploy_core::odoo::UpdateSet {
            install: set.install_names(),
            update: set.update_names(),
        };
        let mut odoo = self.target.odoo.clone();
        odoo.addons_path = self.repo.addons_paths();
        let out = self
            .local
            .output(&odoo.update(&self.conn().name, &update, None))
            .await
            .expect("stand-in runs");
        if !out.status.success() {
            return false;
        }
        let env = self.state().await;
        let code = ops::read_code_on(self.repo.path(), &self.target, &self.local, &env.db)
            .await
            .expect("code");
        let json = ops::installed_checksums_json(&code, &env.db).expect("checksums");
        self.local
            .check_output(&state::set_param_command(
                self.tools(),
                self.conn(),
                key,
                &json,
            ))
            .await
            .expect("stored");
        true
    }
}

fn custom_modules(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("custom_addons"))
        .expect("custom_addons")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("acme_"))
        .collect()
}

fn names(changes: &[odoo_deploy_core::changes::Change]) -> Vec<&str> {
    changes.iter().map(|c| c.module.as_str()).collect()
}

async fn install_v1(env: &Env, key: &str) {
    env.repo.checkout(1).expect("v1");
    let first = env.changes(false).await;
    assert!(
        first.update.is_empty() && first.remove.is_empty(),
        "{first:?}"
    );
    let custom = custom_modules(env.repo.path());
    assert!(
        custom.iter().all(|m| first.install_names().contains(m)),
        "{first:#?}"
    );
    assert!(env.apply(&first, key).await, "v1 installs");
    // Right after, nothing changes.
    let again = env.changes(false).await;
    assert!(
        again.update.is_empty() && again.install.is_empty(),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_version_step_yields_the_expected_change_set() {
    let env = Env::new("changes");
    install_v1(&env, ODD_CHECKSUMS_KEY).await;
    // The active languages decide which .po files count; Odoo starts with English.
    assert_eq!(env.state().await.db.langs, ["en_US"]);

    // v2: a field in acme_partner (which others depend on) and a new required module.
    env.repo.checkout(2).expect("v2");
    let v2 = env.changes(false).await;
    assert_eq!(names(&v2.update), ["acme_partner"], "{v2:#?}");
    assert_eq!(names(&v2.install), ["acme_loyalty"], "{v2:#?}");
    assert!(
        v2.effective_update.len() > 1 && v2.effective_update.contains(&"acme_partner".to_owned())
    );
    let state = env.state().await;
    for module in &v2.effective_update {
        let row = state
            .db
            .modules
            .iter()
            .find(|m| &m.name == module)
            .expect("row");
        assert_eq!(
            row.state, "installed",
            "only installed dependents are reloaded"
        );
    }
    assert!(v2.problems.is_empty(), "{:?}", v2.problems);
    assert!(env.apply(&v2, ODD_CHECKSUMS_KEY).await);

    // v3: a version bump with migration scripts.
    env.repo.checkout(3).expect("v3");
    let v3 = env.changes(false).await;
    assert_eq!(names(&v3.update), ["acme_sale"], "{v3:#?}");
    assert!(v3.install.is_empty(), "{v3:#?}");
    assert!(v3.problems.is_empty(), "{:?}", v3.problems);
    assert!(env.apply(&v3, ODD_CHECKSUMS_KEY).await);

    // v4: helpdesk and report change; report's update fails in the stand-in.
    env.repo.checkout(4).expect("v4");
    let v4 = env.changes(false).await;
    assert_eq!(
        names(&v4.update),
        ["acme_helpdesk", "acme_report"],
        "{v4:#?}"
    );

    // v5 (after v4 was rolled back, so still against v3's database): report fixed,
    // acme_legacy gone from the code — refused unless removal is allowed.
    env.repo.checkout(5).expect("v5");
    let v5 = env.changes(false).await;
    // v4's helpdesk change is still there, with v5's report fix.
    assert_eq!(
        names(&v5.update),
        ["acme_helpdesk", "acme_report"],
        "{v5:#?}"
    );
    assert_eq!(names(&v5.remove), ["acme_legacy"]);
    assert!(v5.problems.contains(&ChangeProblem::RemovalNotAllowed {
        module: "acme_legacy".into()
    }));
    let allowed = env.changes(true).await;
    assert!(
        allowed
            .problems
            .iter()
            .all(|p| !matches!(p, ChangeProblem::RemovalNotAllowed { .. }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_folder_without_a_version_bump_is_caught() {
    let env = Env::new("notbumped");
    install_v1(&env, ODD_CHECKSUMS_KEY).await;
    // A migration folder above the installed version, manifest version unchanged.
    let sale = env.repo.path().join("custom_addons/acme_sale");
    let installed = env
        .state()
        .await
        .db
        .modules
        .into_iter()
        .find(|m| m.name == "acme_sale")
        .and_then(|m| m.latest_version)
        .expect("acme_sale installed");
    let parts: Vec<u32> = installed
        .split('.')
        .map(|p| p.parse().expect("numeric"))
        .collect();
    let above = format!(
        "{}.{}.{}.{}.{}",
        parts[0],
        parts[1],
        parts[2],
        parts[3] + 1,
        0
    );
    let folder: PathBuf = sale.join("migrations").join(&above);
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("post-fill.sql"), "SELECT 1;\n").expect("script");
    let set = env.changes(false).await;
    let found = set.problems.iter().find_map(|p| match p {
        ChangeProblem::MigrationNotRun { module, folder, .. } => {
            Some((module.clone(), folder.clone()))
        }
        _ => None,
    });
    assert_eq!(
        found,
        Some(("acme_sale".to_owned(), above)),
        "{:?}",
        set.problems
    );
    let text = set
        .problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("custom_addons/acme_sale/__manifest__.py"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn click_odoo_update_checksums_give_the_same_change_set() {
    let ours = Env::new("ours");
    let theirs = Env::new("clickodoo");
    install_v1(&ours, ODD_CHECKSUMS_KEY).await;
    install_v1(&theirs, CLICK_ODOO_CHECKSUMS_KEY).await;
    for env in [&ours, &theirs] {
        env.repo.checkout(2).expect("v2");
    }
    let a = ours.changes(false).await;
    let b = theirs.changes(false).await;
    assert_eq!(a.checksums_from.as_deref(), Some(ODD_CHECKSUMS_KEY));
    assert_eq!(b.checksums_from.as_deref(), Some(CLICK_ODOO_CHECKSUMS_KEY));
    assert_eq!(names(&a.update), names(&b.update));
    assert_eq!(names(&a.install), names(&b.install));
    assert_eq!(a.effective_update, b.effective_update);
}

/// The Python that has click-odoo-contrib (scripts/test installs it; CI runs that).
fn peer_python() -> String {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/bin/python");
    let python = std::env::var("ODD_PEER_PYTHON").unwrap_or_else(|_| {
        if installed.exists() {
            installed.display().to_string()
        } else {
            "python3".to_owned()
        }
    });
    let ok = std::process::Command::new(&python)
        .args(["-c", "import click_odoo_contrib._addon_hash"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{python} cannot import click_odoo_contrib: run the tests with scripts/test (it installs the peers)"
    );
    python
}

#[test]
fn checksums_equal_click_odoo_contribs_addon_hash() {
    use odoo_deploy_core::checksum::{ChecksumRules, DEFAULT_EXCLUDE_PATTERNS, addon_checksum};
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = SampleHistory::build(&dir.path().join("repo")).expect("history");
    // Files each rule is about: compiled Python, templates, languages, static, tests.
    let sale = repo.path().join("custom_addons/acme_sale");
    for (rel, body) in [
        ("models/__pycache__/sale.cpython-311.pyc", "bytes"),
        ("i18n/acme_sale.pot", "template"),
        ("i18n/fr.po", "msgid \"\""),
        ("i18n/fr_BE.po", "msgid \"x\""),
        ("i18n/de.po", "msgid \"y\""),
        ("i18n_extra/fr.po", "extra"),
        ("static/src/js/app.js", "js"),
        ("tests/test_sale.py", "test"),
        ("data/empty.xml", ""),
        ("data/ünïcode name.xml", "<odoo/>"),
    ] {
        let path = sale.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write");
    }
    // Links: os.walk lists a link to a directory but does not enter it; a link to a file
    // is read like a file.
    std::os::unix::fs::symlink("../views", sale.join("data/views_link")).expect("dir link");
    std::os::unix::fs::symlink("empty.xml", sale.join("data/empty_link.xml")).expect("file link");
    let addons: Vec<PathBuf> = [
        odoo_deploy_fixtures::standin_addons(),
        repo.path().join("custom_addons"),
    ]
    .iter()
    .flat_map(|p| std::fs::read_dir(p).expect("addons path"))
    .map(|e| e.expect("entry").path())
    .filter(|p| p.join("__manifest__.py").is_file())
    .collect();
    assert!(addons.len() > 20, "{addons:?}");
    for langs in [vec!["en_US"], vec!["en_US", "fr_BE"]] {
        let script = format!(
            "import sys, json\n\
             from click_odoo_contrib._addon_hash import addon_hash\n\
             patterns = [p.strip() for p in {patterns:?}.split(',')]\n\
             dirs = json.load(sys.stdin)\n\
             print(json.dumps([addon_hash(d, patterns, {langs:?}) for d in dirs]))\n",
            patterns = DEFAULT_EXCLUDE_PATTERNS,
        );
        let dirs: Vec<String> = addons.iter().map(|p| p.display().to_string()).collect();
        let mut child = std::process::Command::new(peer_python())
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(serde_json::to_string(&dirs).expect("json").as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("python ends");
        assert!(out.status.success());
        let theirs: Vec<String> = serde_json::from_slice(&out.stdout).expect("json");
        let rules = ChecksumRules::new(DEFAULT_EXCLUDE_PATTERNS, &langs);
        // The host side computes them with the host's Python (for addons installed there).
        let pairs: Vec<(String, PathBuf)> = addons
            .iter()
            .map(|d| (d.display().to_string(), d.clone()))
            .collect();
        let host = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(odoo_deploy_core::installation::host_checksums(
                &LocalTransport::new(),
                "python3",
                &pairs,
                &rules,
            ))
            .expect("host checksums");
        for (dir, theirs) in addons.iter().zip(&theirs) {
            let ours = addon_checksum(dir, &rules).expect("checksum");
            assert_eq!(&ours, theirs, "{} with languages {langs:?}", dir.display());
            assert_eq!(
                &host[&dir.display().to_string()],
                theirs,
                "host checksum of {} with languages {langs:?}",
                dir.display()
            );
        }
    }
}
