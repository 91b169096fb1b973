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

#[test]
fn json_lists_every_problem_with_its_code_severity_and_place() {
    let project = Project::new()
        .addon("base", "{'name': 'Base'}")
        .addon("sale", "{'depends': ['base', 'sales_team']}")
        .addon("broken", "{'name': 'Broken',\n 'depends': ['base'\n}\n")
        .addon_in("extra", "base", "{'name': 'Other base'}")
        .build();
    let run = odd(
        project.root(),
        &[
            "check",
            "--addons-path",
            &project.addons_path_arg(),
            "--json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(report["ok"], false, "{report:#}");
    let problems = report["problems"].as_array().expect("problems");
    let find = |code: &str| {
        problems
            .iter()
            .find(|p| p["code"] == code)
            .unwrap_or_else(|| panic!("no {code}: {report:#}"))
    };
    let missing = find("odd::check::missing_dependency");
    assert_eq!(missing["severity"], "error");
    assert!(
        missing["message"]
            .as_str()
            .is_some_and(|m| m.contains("`sales_team`")),
        "{missing:#}"
    );
    // The broken manifest points at its line.
    let broken = problems
        .iter()
        .find(|p| {
            p["labels"][0]["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("broken/__manifest__.py"))
        })
        .unwrap_or_else(|| panic!("the broken manifest: {report:#}"));
    assert_eq!(broken["severity"], "error");
    assert!(
        broken["labels"][0]["line"].as_u64().is_some_and(|l| l >= 2),
        "{broken:#}"
    );
    // A shadowed addon only warns.
    assert!(
        problems.iter().any(|p| p["severity"] == "warning"),
        "{report:#}"
    );
    assert!(run.stderr.is_empty(), "stdout only: {}", run.stderr);
}
