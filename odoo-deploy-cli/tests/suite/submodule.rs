//! Third-party addons pinned as a git submodule (the sample history's v6 and v7): they
//! are part of the release and of the checksums, and a submodule that is not what its
//! pin says stops the deploy at its gates.

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::history::VENDOR_SUBMODULE;
use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

use crate::deploy::{deploy, module_state, odd, report, sql, status};
use crate::rollback::git;

/// The gate named `name` of `odd plan demo --json`, and whether the plan is ready.
fn gate(demo: &Demo, name: &str) -> (Value, i32) {
    let (code, stdout, stderr) = odd(demo, &["plan", "demo", "--json"], &[]);
    let plan: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let gate = plan["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no {name} gate: {plan:#}"));
    (gate, code)
}

#[test]
fn a_submodules_module_is_deployed_and_updated_with_the_pin() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");

    // v6: a first install; acme_tier pulls in the submodule's oca_partner_tier.
    demo.checkout(6).expect("v6");
    let (g, _) = gate(&demo, "submodules");
    assert_eq!(g["passed"], true, "{g:#}");
    assert_eq!(
        g["detail"],
        "1 submodule(s) checked out at their pinned commits, clean"
    );
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(report(&events)["outcome"], "succeeded");
    assert_eq!(
        module_state(cluster, &demo.db, "oca_partner_tier"),
        "installed|18.0.1.0.0"
    );
    assert_eq!(
        module_state(cluster, &demo.db, "acme_tier"),
        "installed|18.0.1.0.0"
    );
    let release = demo.deploy_dir.join("current");
    let vendored = release.join(VENDOR_SUBMODULE);
    assert!(
        vendored.join("oca_partner_tier/__manifest__.py").is_file()
            && vendored.join("oca_partner_extra/__manifest__.py").is_file()
            && vendored.join("README.md").is_file(),
        "the submodule's files are in the release"
    );
    let stored = sql(
        cluster,
        &demo.db,
        "SELECT value FROM ir_config_parameter WHERE key = 'odd.installed_checksums'",
    );
    let stored: Value = serde_json::from_str(&stored).expect("checksums JSON");
    assert_eq!(
        stored["oca_partner_tier"].as_str().map(str::len),
        Some(40),
        "the submodule's module has its checksum: {stored:#}"
    );

    // v7: only the pin moved. The new code is found by its checksum and updated.
    demo.checkout(7).expect("v7");
    let (code, plan, stderr) = odd(&demo, &["plan", "demo"], &[]);
    assert_eq!(code, 0, "{plan}\n{stderr}");
    assert!(
        plan.lines().any(|l| l.contains("update")
            && l.contains("oca_partner_tier")
            && l.contains("content changed")),
        "{plan}"
    );
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(
        module_state(cluster, &demo.db, "oca_partner_tier"),
        "installed|18.0.1.1.0"
    );
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT count(*) FROM acme_migration_log WHERE module = 'oca_partner_tier' AND script = 'post-tier_colors'"
        ),
        "1",
        "the submodule's migration ran once"
    );
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'oca_partner_tier' AND column_name = 'color'"
        ),
        "1"
    );
    let manifest = std::fs::read_to_string(
        release
            .join(VENDOR_SUBMODULE)
            .join("oca_partner_tier/__manifest__.py"),
    )
    .expect("manifest in the release");
    assert!(manifest.contains("'18.0.1.1.0'"), "{manifest}");
    assert_eq!(
        status(&demo)["current"]["commit"],
        demo.repo.sha(7).expect("sha")
    );
}

#[test]
fn an_unchecked_out_or_dirty_submodule_is_refused() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(6).expect("v6");
    let root = demo.repo.path();

    // As a clone without --recurse-submodules leaves it: an empty directory.
    git(
        root,
        &[
            "submodule",
            "deinit",
            "--quiet",
            "--force",
            VENDOR_SUBMODULE,
        ],
    );
    let (g, code) = gate(&demo, "submodules");
    assert_eq!(code, 1);
    assert_eq!(g["passed"], false);
    assert_eq!(
        g["detail"],
        "submodule vendor/oca-partner is not checked out: run `git submodule update --init --recursive vendor/oca-partner`"
    );
    let (code, stdout, stderr) = odd(&demo, &["deploy", "demo", "--yes"], &[]);
    assert_eq!(code, 3, "refused: {stderr}");
    assert!(
        stderr.contains("the plan is not ready: submodules: submodule vendor/oca-partner")
            && stderr.contains("[FAIL] submodules submodule vendor/oca-partner is not checked out"),
        "{stdout}\n{stderr}"
    );
    assert!(
        !demo.deploy_dir.join("current").exists(),
        "nothing deployed"
    );

    // Checked out again, then changed without a commit: a new file, then an edit.
    demo.checkout(6).expect("v6");
    let (g, code) = gate(&demo, "submodules");
    assert_eq!((g["passed"].clone(), code), (Value::Bool(true), 0), "{g:#}");
    let tier = root.join(VENDOR_SUBMODULE).join("oca_partner_tier");
    for change in ["new file", "edit"] {
        if change == "new file" {
            std::fs::write(tier.join("hotfix.py"), "# a quick fix\n").expect("write");
        } else {
            std::fs::remove_file(tier.join("hotfix.py")).expect("rm");
            let manifest = tier.join("__manifest__.py");
            let text = std::fs::read_to_string(&manifest).expect("manifest");
            std::fs::write(&manifest, text.replace("AGPL-3", "LGPL-3")).expect("write");
        }
        let (g, code) = gate(&demo, "submodules");
        assert_eq!(code, 1, "{change}");
        assert_eq!(g["passed"], false, "{change}");
        assert_eq!(
            g["detail"],
            "submodule vendor/oca-partner has uncommitted changes: commit them in the submodule and pin that commit, or discard them (`git -C vendor/oca-partner checkout -- . && git -C vendor/oca-partner clean -fd`)",
            "{change}"
        );
    }
    let (code, stdout, stderr) = odd(&demo, &["deploy", "demo", "--yes"], &[]);
    assert_eq!(code, 3, "refused: {stderr}");
    assert!(
        stderr.contains("[FAIL] submodules submodule vendor/oca-partner has uncommitted changes"),
        "{stdout}\n{stderr}"
    );

    // Checked out at another commit than the pin.
    demo.checkout(6).expect("v6");
    git(
        &root.join(VENDOR_SUBMODULE),
        &["checkout", "--quiet", "--detach", "main"],
    );
    let (g, code) = gate(&demo, "submodules");
    assert_eq!(code, 1);
    let detail = g["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("submodule vendor/oca-partner is checked out at ")
            && detail.contains("not at the commit pinned"),
        "{detail}"
    );
}
