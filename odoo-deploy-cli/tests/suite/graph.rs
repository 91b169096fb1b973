//! `odd graph`.

use odoo_deploy_fixtures::project::Project;

use crate::support::{odd, sample_root};

fn broken_project() -> odoo_deploy_fixtures::project::BuiltProject {
    Project::new()
        .addon("base", "{'name': 'Base', 'version': '1.0'}")
        .addon("web", "{'depends': ['base'], 'version': '18.0.1.0.0'}")
        .addon(
            "sale",
            "{\n    'name': 'Sale',\n    'depends': [\n        'web',\n        'sales_team',\n    ],\n}\n",
        )
        .addon("loop_a", "{'depends': ['loop_b']}")
        .addon("loop_b", "{'depends': ['loop_a']}")
        .addon_in("extra", "web", "{'depends': ['base']}")
        .build()
}

#[test]
fn sample_project_in_install_order() {
    let root = sample_root();
    let paths = format!(
        "{},{}",
        odoo_deploy_fixtures::standin_addons().display(),
        root.join("custom_addons").display()
    );
    let run = odd(&root, &["graph", "--addons-path", &paths]);
    insta::assert_snapshot!(run.seen());
}

#[test]
fn sample_project_selection_and_reverse() {
    let root = sample_root();
    let core = odoo_deploy_fixtures::standin_addons().display().to_string();
    let custom = root.join("custom_addons").display().to_string();
    let args = ["graph", "--addons-path", &core, "--addons-path", &custom];
    let deps = odd(&root, &[&args[..], &["--select", "acme_sale"]].concat());
    insta::assert_snapshot!("select_acme_sale", deps.seen());
    let dependents = odd(
        &root,
        &[&args[..], &["--select", "acme_partner", "--reverse"]].concat(),
    );
    insta::assert_snapshot!("reverse_acme_partner", dependents.seen());
    // Installing acme_sale and stock brings the auto_install bridge sale_stock (and the
    // auto_install web, bus, base_setup).
    let install = odd(
        &root,
        &[
            &args[..],
            &["--select", "acme_sale,stock", "--auto-install"],
        ]
        .concat(),
    );
    assert!(
        install.stdout.lines().any(|l| l == "sale_stock"),
        "{}",
        install.stdout
    );
    insta::assert_snapshot!("install_acme_sale_stock", install.seen());
}

#[test]
fn problems_are_reported_and_exit_one() {
    let project = broken_project();
    let run = odd(
        project.root(),
        &["graph", "--addons-path", &project.addons_path_arg()],
    );
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.seen());
}

#[test]
fn json_has_order_addons_missing_cycles_shadowed() {
    let project = broken_project();
    let run = odd(
        project.root(),
        &[
            "graph",
            "--addons-path",
            &project.addons_path_arg(),
            "--json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(json["order"], serde_json::json!(["base", "web"]));
    assert_eq!(json["missing"][0]["line"], 5);
    assert_eq!(json["cycles"], serde_json::json!([["loop_a", "loop_b"]]));
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn dot_output() {
    let project = Project::new()
        .addon("base", "{}")
        .addon("web", "{'depends': ['base']}")
        .build();
    let run = odd(
        project.root(),
        &[
            "graph",
            "--addons-path",
            &project.addons_path_arg(),
            "--dot",
        ],
    );
    assert_eq!(run.code, 0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn usage_errors_exit_two() {
    let project = Project::new().addon("base", "{}").build();
    let unknown = odd(
        project.root(),
        &[
            "graph",
            "--addons-path",
            &project.addons_path_arg(),
            "--select",
            "bsae",
        ],
    );
    assert_eq!(unknown.code, 2);
    insta::assert_snapshot!("unknown_module", unknown.seen());
    let missing_path = odd(
        project.root(),
        &["graph", "--addons-path", "/nonexistent/odd-addons"],
    );
    assert_eq!(missing_path.code, 2);
    insta::assert_snapshot!("missing_addons_path", missing_path.seen());
    let no_flag = odd(project.root(), &["graph"]);
    assert_eq!(no_flag.code, 2);
    assert!(
        no_flag.stderr.contains("--addons-path"),
        "{}",
        no_flag.stderr
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = odoo_deploy_fixtures::synth::generate_tree(dir.path(), 300, 7).expect("tree");
    let paths: Vec<String> = tree
        .addons_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["graph", "--addons-path", &paths.join(",")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn odd");
    // Read one byte, then close our end, like `| head -c1`.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).expect("first byte");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
