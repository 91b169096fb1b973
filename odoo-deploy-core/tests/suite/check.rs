//! Checks: every problem at once, typed, pointing at the manifest text.

use odoo_deploy_core::addon;
use odoo_deploy_core::check::{self, CheckOptions, Problem, VersionError, check_version};
use odoo_deploy_core::graph::AddonGraph;
use odoo_deploy_fixtures::project::Project;

#[test]
fn versions_follow_odoo_adapt_and_check_version() {
    let s = Some("18.0");
    assert_eq!(check_version("1.0", s), Ok("18.0.1.0".to_owned()));
    assert_eq!(check_version("1.0.3", s), Ok("18.0.1.0.3".to_owned()));
    assert_eq!(check_version("18.0.1.0", s), Ok("18.0.1.0".to_owned()));
    assert_eq!(check_version("18.0.1.0.0", s), Ok("18.0.1.0.0".to_owned()));
    let other = Err(VersionError::OtherSeries {
        series: "18.0".into(),
    });
    assert_eq!(check_version("17.0.1.0.0", s), other);
    assert_eq!(check_version("1.0.0.0", s), other);
    // Odoo 18 does not prefix a version that starts with the series: `18.0` alone is refused.
    assert_eq!(check_version("18.0", s), other);
    assert_eq!(check_version("1", s), Err(VersionError::PartCount));
    assert_eq!(
        check_version("1.2.3.4.5.6", s),
        Err(VersionError::PartCount)
    );
    assert_eq!(check_version("1.x", s), Err(VersionError::NotNumeric));
    assert_eq!(
        check_version("1. 2", s),
        Ok("18.0.1. 2".to_owned()),
        "int(' 2') is 2"
    );
    assert_eq!(check_version("1.x", None), Err(VersionError::NotNumeric));
    assert_eq!(
        check_version("17.0.1.0.0", None),
        Ok("17.0.1.0.0".to_owned())
    );
}

#[test]
fn all_problems_at_once_with_spans() {
    let project = Project::new()
        .addon("base", "{}")
        .addon(
            "sale",
            "{'depends': ['base', 'gone', 'old'], 'data': ['views/ok.xml', 'views/lost.xml'], 'demo': ['demo/lost.xml'], 'version': '17.0.1.0.0'}",
        )
        .file("views/ok.xml", "<odoo/>")
        .addon("old", "{'installable': False}")
        .addon("auto", "{'depends': ['base'], 'auto_install': ['base', 'sale']}")
        .addon("bad", "{'depends': ")
        .addon("worse", "[]")
        .addon("a", "{'depends': ['b']}")
        .addon("b", "{'depends': ['a']}")
        .addon_in("second", "base", "{}")
        .build();
    let scan = addon::scan(project.addons_paths()).expect("scan");
    let graph = AddonGraph::from_scan(&scan);
    let options = CheckOptions {
        series: Some("18.0".into()),
    };
    let report = check::check(scan, &graph, &options);
    assert!(!report.is_ok());
    let kinds: Vec<String> = report
        .problems
        .iter()
        .map(|p| match p {
            Problem::Manifest(e) => format!(
                "manifest {}",
                e.path()
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            Problem::MissingDependency {
                addon, depends_on, ..
            } => format!("missing {addon} {depends_on}"),
            Problem::Cycle { cycle, .. } => format!("cycle {cycle}"),
            Problem::NotInstallableDependency {
                addon, depends_on, ..
            } => format!("not installable {addon} {depends_on}"),
            Problem::MissingFile { addon, file, .. } => format!("file {addon} {file}"),
            Problem::Version { addon, version, .. } => format!("version {addon} {version}"),
            Problem::Shadowed { name, .. } => format!("shadowed {name}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            // The manifest reader refuses auto_install triggers outside depends, as Odoo does.
            "manifest auto",
            "manifest bad",
            "manifest worse",
            "missing sale gone",
            "not installable sale old",
            "file sale views/lost.xml",
            "file sale demo/lost.xml",
            "version sale 17.0.1.0.0",
            "cycle a -> b -> a",
            "shadowed base",
        ]
    );
    // The missing file's label covers the list entry in the manifest.
    let text = std::fs::read_to_string(project.addons_path("addons").join("sale/__manifest__.py"))
        .expect("read");
    let span = report
        .problems
        .iter()
        .find_map(|p| match p {
            Problem::MissingFile { file, span, .. } if file == "views/lost.xml" => *span,
            _ => None,
        })
        .expect("span of the data entry");
    assert_eq!(
        &text[span.offset()..span.offset() + span.len()],
        "'views/lost.xml'"
    );
    let shadowed = report
        .problems
        .iter()
        .find(|p| matches!(p, Problem::Shadowed { .. }))
        .expect("shadowed");
    assert!(!shadowed.is_error());
}

/// The generated benchmark tree is realistic and clean: every manifest parses, every listed
/// file exists, versions fit 18.0, and the same seed writes the same tree.
#[test]
fn synthetic_tree_is_clean_and_deterministic() {
    use odoo_deploy_fixtures::synth::generate_tree;
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    let tree = generate_tree(one.path(), 120, 9).expect("generate");
    let again = generate_tree(two.path(), 120, 9).expect("generate");
    assert_eq!(tree.modules, again.modules);
    assert_eq!(tree.files, again.files);
    assert!(tree.files >= 120 * 10, "{} files", tree.files);
    for name in &tree.modules {
        let a = std::fs::read(one.path().join("custom").join(name).join("__manifest__.py"))
            .expect("read");
        let b = std::fs::read(two.path().join("custom").join(name).join("__manifest__.py"))
            .expect("read");
        assert_eq!(a, b, "{name}");
    }
    let scan = addon::scan(&tree.addons_paths).expect("scan");
    let graph = AddonGraph::from_scan(&scan);
    assert_eq!(graph.order().len(), scan.addons.len());
    let report = check::check(
        scan,
        &graph,
        &CheckOptions {
            series: Some("18.0".into()),
        },
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
