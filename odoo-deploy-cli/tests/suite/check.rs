//! `odd check`.

use odoo_deploy_fixtures::project::Project;

use crate::support::{odd, sample_root};

#[test]
fn every_problem_at_once() {
    let project = Project::new()
        .addon("base", "{'name': 'Base'}")
        .addon(
            "sale",
            "{\n    'name': 'Sale',\n    'version': '17.0.1.0.0',\n    'depends': ['base', 'sales_team', 'old'],\n    'data': [\n        'views/sale.xml',\n        'views/missing.xml',\n    ],\n    'demo': ['demo/nowhere.xml'],\n}\n",
        )
        .file("views/sale.xml", "<odoo/>")
        .addon("old", "{'depends': ['base'], 'installable': False}")
        .addon("broken", "{'name': 'Broken',\n 'depends': ['base'\n}\n")
        .addon("loop_a", "{'depends': ['loop_b']}")
        .addon("loop_b", "{'depends': ['loop_a']}")
        .addon("bad_version", "{'version': '1.x'}")
        .addon_in("extra", "base", "{'name': 'Other base'}")
        .build();
    let run = odd(
        project.root(),
        &[
            "check",
            "--addons-path",
            &project.addons_path_arg(),
            "--series",
            "18.0",
        ],
    );
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.seen());
}

#[test]
fn a_clean_tree_passes() {
    let project = Project::new()
        .addon("base", "{'name': 'Base', 'version': '18.0.1.0.0'}")
        .addon("sale", "{'depends': ['base'], 'data': ['views/sale.xml']}")
        .file("views/sale.xml", "<odoo/>")
        .build();
    let run = odd(
        project.root(),
        &[
            "check",
            "--addons-path",
            &project.addons_path_arg(),
            "--series",
            "18.0",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.seen());
}

#[test]
fn shadowed_copies_only_warn() {
    let project = Project::new()
        .addon_in("first", "base", "{}")
        .addon_in("second", "base", "{}")
        .build();
    let run = odd(
        project.root(),
        &["check", "--addons-path", &project.addons_path_arg()],
    );
    assert_eq!(run.code, 0);
    insta::assert_snapshot!(run.seen());
}

#[test]
fn sample_project_is_clean() {
    let root = sample_root();
    let paths = format!(
        "{},{}",
        odoo_deploy_fixtures::standin_addons().display(),
        root.join("custom_addons").display()
    );
    let run = odd(
        &root,
        &["check", "--addons-path", &paths, "--series", "18.0"],
    );
    insta::assert_snapshot!(run.seen());
}
