//! What the first deploy installs: `odd init` lists the repository's leaf modules as
//! `required_modules`, and `odd plan` warns about the modules a first install leaves out.

use std::path::Path;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;

use crate::rollback::edit_config;
use crate::support::odd;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn manifest(depends: &str) -> String {
    format!(
        "{{'name': 'x', 'version': '17.0.1.0.0', 'depends': [{depends}], 'license': 'LGPL-3'}}\n"
    )
}

#[test]
fn init_lists_the_modules_nothing_else_depends_on_as_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "addons/acme_base/__manifest__.py",
        &manifest("'base'"),
    );
    write(
        root,
        "addons/acme_sale/__manifest__.py",
        &manifest("'acme_base', 'partner_tier'"),
    );
    write(
        root,
        "addons/acme_portal_extra/__manifest__.py",
        &manifest("'acme_base'"),
    );
    write(
        root,
        "vendor/oca-partner/partner_tier/__manifest__.py",
        &manifest("'base'"),
    );
    write(
        root,
        "vendor/oca-partner/partner_other/__manifest__.py",
        &manifest("'base'"),
    );
    write(
        root,
        ".gitmodules",
        "[submodule \"vendor/oca-partner\"]\n\tpath = vendor/oca-partner\n\turl = https://example.invalid/oca-partner.git\n",
    );
    let run = odd(root, &["init", root.to_str().expect("utf-8 path")]);
    insta::assert_snapshot!("init_says_what_it_found", run.seen());
    let text = std::fs::read_to_string(root.join("odd.toml")).expect("odd.toml");
    let project: String = text
        .split("[environments.staging]")
        .next()
        .expect("a project section")
        .to_owned();
    insta::assert_snapshot!("init_project_section", project);
}

#[test]
fn the_first_plan_warns_about_repository_modules_it_leaves_uninstalled() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.checkout(1).expect("v1");
    // Only acme_sale_stock required: acme_helpdesk and acme_report (which need nothing of
    // it) stay out of a first install.
    let text = std::fs::read_to_string(demo.config_path()).expect("odd.toml");
    let required = text
        .lines()
        .find(|l| l.starts_with("required_modules = "))
        .expect("required_modules")
        .to_owned();
    edit_config(
        &demo,
        &[(&required, "required_modules = [\"acme_sale_stock\"]")],
    );
    let (code, plan, stderr) = crate::deploy::odd(&demo, &["plan", "demo"], &[]);
    assert_eq!(
        code, 0,
        "a warning does not fail the plan: {plan}\n{stderr}"
    );
    let warning = plan
        .lines()
        .find(|l| l.starts_with("  ! a first install leaves"))
        .unwrap_or_else(|| panic!("a warning in:\n{plan}"));
    for module in ["acme_helpdesk", "acme_report", "acme_legacy"] {
        assert!(warning.contains(module), "{module} in {warning}");
    }
    for module in ["acme_sale_stock", "acme_sale", "acme_base"] {
        assert!(
            !warning.contains(&format!(" {module},")) && !warning.ends_with(module),
            "{module} is installed, not warned about: {warning}"
        );
    }
    // With every leaf required (as `odd init` writes it), no warning.
    edit_config(
        &demo,
        &[("required_modules = [\"acme_sale_stock\"]", &required)],
    );
    let (code, plan, stderr) = crate::deploy::odd(&demo, &["plan", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!plan.contains("Warnings:"), "{plan}");
}
