//! `odd manifest`.

use std::process::Command;

use odoo_deploy_fixtures::project::Project;

use crate::support::{odd, sample_root};

const SALE: &str = r#"# -*- coding: utf-8 -*-
{
    'name': "Sale " 'Extras',
    'version': '18.0.1.2.0',
    'depends': ['sale', 'stock'],
    'auto_install': ['sale'],
    'data': ['views/a.xml'],
    'external_dependencies': {'python': ['lxml']},
    'license': 'LGPL-3',
    'sequence': 10,
    'price': 9.5,
    'assets': {'web.assets_backend': ('x/static/*.js',)},
}
"#;

#[test]
fn text_view_of_the_typed_model() {
    let project = Project::new().addon("sale_extras", SALE).build();
    let dir = project.addons_path("addons").join("sale_extras");
    let run = odd(project.root(), &["manifest", &dir.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.seen());
}

/// `--json` is byte for byte what Python writes for the same file.
#[test]
fn json_is_what_python_writes() {
    let project = Project::new().addon("sale_extras", SALE).build();
    let file = project
        .addons_path("addons")
        .join("sale_extras/__manifest__.py");
    let mut files = vec![file];
    for entry in std::fs::read_dir(sample_root().join("custom_addons")).expect("sample") {
        files.push(entry.expect("entry").path().join("__manifest__.py"));
    }
    files.sort();
    for file in files {
        let run = odd(
            project.root(),
            &["manifest", "--json", &file.display().to_string()],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let python = Command::new("python3")
            .args([
                "-c",
                "import ast, json, sys; print(json.dumps(ast.literal_eval(open(sys.argv[1], encoding='utf-8').read()), default=list))",
            ])
            .arg(&file)
            .output()
            .expect("python3 is needed by the test suite");
        assert!(
            python.status.success(),
            "{}",
            String::from_utf8_lossy(&python.stderr)
        );
        // No temp paths in JSON output, so compare raw bytes.
        assert_eq!(
            run.stdout,
            String::from_utf8_lossy(&python.stdout),
            "{}",
            file.display()
        );
    }
}

#[test]
fn a_broken_manifest_points_at_the_text() {
    let project = Project::new()
        .addon(
            "broken",
            "{\n    'name': 'Broken',\n    'depends': ['base',\n}\n",
        )
        .build();
    let dir = project.addons_path("addons").join("broken");
    let run = odd(project.root(), &["manifest", &dir.display().to_string()]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!(run.seen());
}

#[test]
fn a_directory_without_manifest() {
    let project = Project::new().addons_path("addons").build();
    let run = odd(
        project.root(),
        &[
            "manifest",
            &project.addons_path("addons").display().to_string(),
        ],
    );
    assert_eq!(run.code, 2);
    insta::assert_snapshot!(run.seen());
}
