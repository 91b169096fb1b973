//! The addon graph: Odoo's order, loops, missing dependencies, closures, auto_install.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use odoo_deploy_core::addon::{self, Addon, AddonSet};
use odoo_deploy_core::graph::{AddonGraph, SkipReason, cycle_to_string};
use odoo_deploy_core::manifest::Manifest;
use odoo_deploy_fixtures::project::Project;
use proptest::prelude::*;

/// An in-memory addon set: `(name, manifest text)`.
fn set(addons: &[(&str, &str)]) -> AddonSet {
    AddonSet::from_addons(addons.iter().map(|(name, text)| {
        let dir = PathBuf::from(format!("/addons/{name}"));
        let manifest = Manifest::parse(name, &dir.join("__manifest__.py"), text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        Addon {
            name: (*name).to_owned(),
            dir,
            manifest,
        }
    }))
}

fn deps(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|d| format!("'{d}'")).collect();
    format!("{{'name': 'x', 'depends': [{}]}}", quoted.join(", "))
}

fn graph_of(edges: &[(&str, &[&str])]) -> AddonGraph {
    let texts: Vec<(String, String)> = edges
        .iter()
        .map(|(name, d)| ((*name).to_owned(), deps(d)))
        .collect();
    let pairs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    AddonGraph::new(&set(&pairs))
}

#[test]
fn order_follows_odoo_depth_then_name() {
    // Depths worked out by hand: base 0, lone 0 (no depends: Odoo adds no implicit base),
    // a/web/z 1, c/mail 2, b 3 (b -> mail -> web -> base).
    let graph = graph_of(&[
        ("base", &[]),
        ("web", &["base"]),
        ("mail", &["base", "web"]),
        ("a", &["base"]),
        ("z", &["base"]),
        ("b", &["mail", "a"]),
        ("c", &["z"]),
        ("lone", &[]),
    ]);
    assert_eq!(
        graph.order(),
        ["base", "lone", "a", "web", "z", "c", "mail", "b"]
    );
    assert_eq!(graph.depth("b"), Some(3));
    assert_eq!(graph.depth("lone"), Some(0));
    assert!(graph.missing().is_empty());
    assert!(graph.cycles().is_empty());
}

#[test]
fn order_of_a_subset_keeps_the_global_depths() {
    let graph = graph_of(&[
        ("base", &[]),
        ("web", &["base"]),
        ("mail", &["web"]),
        ("a", &["base"]),
        ("b", &["mail", "a"]),
    ]);
    let closure = graph.dependencies_closure(["b"]);
    assert_eq!(
        closure.iter().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "base", "mail", "web"]
    );
    assert_eq!(
        graph.order_of(closure.iter().map(String::as_str)),
        ["base", "a", "web", "mail", "b"]
    );
}

#[test]
fn every_cycle_is_named_whole_once_and_its_dependents_are_skipped() {
    let graph = graph_of(&[
        ("base", &[]),
        ("a", &["base", "b"]),
        ("b", &["c"]),
        ("c", &["a"]),
        ("self_loop", &["self_loop"]),
        ("x", &["y"]),
        ("y", &["x", "z"]),
        ("z", &["y"]),
        ("user", &["a"]),
        ("fine", &["base"]),
    ]);
    let cycles: Vec<String> = graph.cycles().iter().map(|c| cycle_to_string(c)).collect();
    assert_eq!(
        cycles,
        [
            "a -> b -> c -> a",
            "self_loop -> self_loop",
            "x -> y -> x",
            "y -> z -> y",
        ]
    );
    assert_eq!(graph.order(), ["base", "fine"]);
    let skipped = graph.skipped();
    assert_eq!(skipped["a"], SkipReason::DependencyLoop);
    assert_eq!(skipped["z"], SkipReason::DependencyLoop);
    assert_eq!(
        skipped["user"],
        SkipReason::DependsOnSkipped {
            modules: vec!["a".into()]
        }
    );
}

#[test]
fn cycles_do_not_depend_on_declaration_order() {
    let one = graph_of(&[("p", &["q"]), ("q", &["r", "p"]), ("r", &["p"])]);
    let two = graph_of(&[("r", &["p"]), ("q", &["p", "r"]), ("p", &["q"])]);
    assert_eq!(one.cycles(), two.cycles());
    let all: BTreeSet<&String> = one.cycles().iter().flatten().collect();
    assert_eq!(all.len(), 3, "every member of the loop is on a named cycle");
}

#[test]
fn missing_dependencies_point_at_the_manifest_entry() {
    let project = Project::new()
        .addon("base", "{'name': 'Base'}")
        .addon(
            "sale",
            "{\n    'name': 'Sale',\n    'depends': [\n        'base',\n        'sales_team',\n    ],\n}\n",
        )
        .addon("sale_extra", "{'depends': ['sale']}")
        .build();
    let scan = addon::scan(project.addons_paths()).expect("scan");
    let graph = AddonGraph::from_scan(&scan);
    let missing = graph.missing();
    assert_eq!(missing.len(), 1);
    let m = &missing[0];
    assert_eq!(
        (m.addon.as_str(), m.depends_on.as_str()),
        ("sale", "sales_team")
    );
    assert_eq!(
        m.file,
        project.addons_path("addons").join("sale/__manifest__.py")
    );
    assert_eq!(m.line, Some(5));
    let span = m.span.expect("span of the entry");
    let text = std::fs::read_to_string(&m.file).expect("read manifest");
    assert_eq!(&text[span.offset..span.offset + span.len], "'sales_team'");
    assert_eq!(graph.order(), ["base"]);
    assert_eq!(
        graph.skipped()["sale"],
        SkipReason::MissingDependencies {
            modules: vec!["sales_team".into()]
        }
    );
    assert_eq!(
        graph.skipped()["sale_extra"],
        SkipReason::DependsOnSkipped {
            modules: vec!["sale".into()]
        }
    );
}

#[test]
fn not_installable_modules_and_their_dependents_are_skipped() {
    let graph = AddonGraph::new(&set(&[
        ("base", "{}"),
        ("old", "{'depends': ['base'], 'installable': False}"),
        ("uses_old", "{'depends': ['old']}"),
    ]));
    assert_eq!(graph.order(), ["base"]);
    assert_eq!(graph.skipped()["old"], SkipReason::NotInstallable);
}

#[test]
fn dependents_closure_is_what_update_reloads() {
    let graph = graph_of(&[
        ("base", &[]),
        ("mail", &["base"]),
        ("sale", &["mail"]),
        ("sale_ext", &["sale"]),
        ("stock", &["base"]),
        ("other", &["stock"]),
    ]);
    let all = graph.dependents_closure(["mail"], None);
    assert_eq!(
        all.into_iter().collect::<Vec<_>>(),
        ["mail", "sale", "sale_ext"]
    );
    // Odoo only follows installed dependents: sale is not installed, so sale_ext is not reached.
    let installed: HashSet<String> = ["base", "mail", "sale_ext", "stock"]
        .into_iter()
        .map(String::from)
        .collect();
    let reloaded = graph.dependents_closure(["mail"], Some(&installed));
    assert_eq!(reloaded.into_iter().collect::<Vec<_>>(), ["mail"]);
    let from_base = graph.dependents_closure(["base"], None);
    assert_eq!(from_base.len(), 6, "-u base reloads everything");
}

#[test]
fn auto_install_joins_until_a_fixpoint() {
    let graph = AddonGraph::new(&set(&[
        ("base", "{}"),
        ("sale", "{'depends': ['base']}"),
        ("stock", "{'depends': ['base']}"),
        ("delivery", "{'depends': ['base']}"),
        // True: all of depends.
        (
            "sale_stock",
            "{'depends': ['sale', 'stock'], 'auto_install': True}",
        ),
        // Joins only once sale_stock has joined.
        (
            "sale_stock_extra",
            "{'depends': ['sale_stock'], 'auto_install': True}",
        ),
        // A list: only the listed triggers; brings delivery with it.
        (
            "stock_delivery",
            "{'depends': ['stock', 'delivery'], 'auto_install': ['stock']}",
        ),
        // An empty list: always.
        ("always", "{'depends': ['base'], 'auto_install': []}"),
        // Never joins: not auto-installable.
        ("manual", "{'depends': ['base']}"),
        // Auto-installable but skipped (missing dependency): never joins.
        (
            "broken_auto",
            "{'depends': ['base', 'nowhere'], 'auto_install': True}",
        ),
    ]));
    let sale_only: Vec<String> = graph.install_closure(["sale"]).into_iter().collect();
    assert_eq!(sale_only, ["always", "base", "sale"]);
    let both: Vec<String> = graph
        .install_closure(["sale", "stock"])
        .into_iter()
        .collect();
    assert_eq!(
        both,
        [
            "always",
            "base",
            "delivery",
            "sale",
            "sale_stock",
            "sale_stock_extra",
            "stock",
            "stock_delivery"
        ]
    );
}

#[test]
fn scan_first_path_wins_and_reports_every_broken_manifest() {
    let project = Project::new()
        .addon_in(
            "first",
            "sale",
            "{'name': 'Sale (first)', 'version': '2.0'}",
        )
        .addon_in("first", "broken_a", "{'name': ")
        .addon_in(
            "second",
            "sale",
            "{'name': 'Sale (second)', 'version': '1.0'}",
        )
        .addon_in("second", "broken_b", "['not', 'a', 'dict']")
        .addon_in("second", "stock", "{'name': 'Stock'}")
        .addon_in("second", "broken_a", "{'name': 'fine here, but shadowed'}")
        .build();
    // A plain directory without manifest is not an addon.
    std::fs::create_dir_all(project.addons_path("second").join("not_an_addon")).expect("mkdir");
    let scan = addon::scan(project.addons_paths()).expect("scan");
    let names: Vec<&str> = scan.addons.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["sale", "stock"]);
    let sale = scan.addons.get("sale").expect("sale");
    assert_eq!(sale.dir, project.addons_path("first").join("sale"));
    assert_eq!(sale.manifest.version.as_deref(), Some("2.0"));
    let broken: Vec<&str> = scan.broken.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(broken, ["broken_a", "broken_b"]);
    let shadowed: Vec<(&str, PathBuf)> = scan
        .shadowed
        .iter()
        .map(|s| (s.name.as_str(), s.shadowed.clone()))
        .collect();
    assert_eq!(
        shadowed,
        [
            ("broken_a", project.addons_path("second").join("broken_a")),
            ("sale", project.addons_path("second").join("sale")),
        ]
    );
}

#[test]
fn scan_is_deterministic_and_a_missing_path_is_an_error() {
    let project = Project::new()
        .addon("a", "{'depends': ['b']}")
        .addon("b", "{}")
        .build();
    let first = addon::scan(project.addons_paths()).expect("scan");
    for _ in 0..5 {
        let again = addon::scan(project.addons_paths()).expect("scan");
        let names =
            |s: &addon::ScanReport| s.addons.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&first), names(&again));
    }
    let mut paths = project.addons_paths().to_vec();
    paths.push(project.root().join("nope"));
    let error = addon::scan(&paths).expect_err("missing path");
    assert!(
        matches!(&error, addon::ScanError::MissingPath { path } if path.ends_with("nope")),
        "{error:?}"
    );
}

#[test]
fn a_repeated_addons_path_counts_once() {
    let project = Project::new().addon("base", "{}").build();
    let path = project.addons_path("addons");
    let again = path.join(".");
    let scan = addon::scan(&[path.clone(), again, path]).expect("scan");
    assert_eq!(scan.addons.len(), 1);
    assert!(scan.shadowed.is_empty(), "{:?}", scan.shadowed);
}

#[test]
fn addons_path_arguments_split_on_commas() {
    let paths = addon::split_addons_paths(&["a,b", " c ", ",", "d"]);
    assert_eq!(paths, ["a", "b", "c", "d"].map(PathBuf::from).to_vec());
}

/// Odoo's rule restated the slow, obvious way: depth by recursion, then sort.
fn reference_order(deps: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    fn depth(name: &str, deps: &BTreeMap<String, Vec<String>>) -> usize {
        deps[name]
            .iter()
            .map(|d| depth(d, deps) + 1)
            .max()
            .unwrap_or(0)
    }
    let mut keyed: Vec<(usize, String)> =
        deps.keys().map(|n| (depth(n, deps), n.clone())).collect();
    keyed.sort();
    keyed.into_iter().map(|(_, n)| n).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random DAGs: every dependency comes before its dependents, and the order is
    /// exactly (depth, name).
    #[test]
    fn random_dags_are_ordered_like_odoo(
        n in 1usize..40,
        edges in proptest::collection::vec((0usize..40, 0usize..40), 0..120),
        names in proptest::collection::vec("[a-z]{1,6}", 40),
    ) {
        // Unique names, in a random (not sorted) relation to the topology.
        let mut unique: Vec<String> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let name = format!("{name}_{i}");
            unique.push(name);
        }
        let mut deps: BTreeMap<String, Vec<String>> =
            unique[..n].iter().map(|name| (name.clone(), Vec::new())).collect();
        for (a, b) in edges {
            let (a, b) = (a % n, b % n);
            if a > b {
                let list = deps.get_mut(&unique[a]).expect("node");
                if !list.contains(&unique[b]) {
                    list.push(unique[b].clone());
                }
            }
        }
        let texts: Vec<(String, String)> = deps
            .iter()
            .map(|(name, d)| {
                let d: Vec<&str> = d.iter().map(String::as_str).collect();
                (name.clone(), self::deps(&d))
            })
            .collect();
        let pairs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let graph = AddonGraph::new(&set(&pairs));
        let order = graph.order();
        prop_assert_eq!(order.len(), n);
        let position: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        for (name, list) in &deps {
            for dep in list {
                prop_assert!(position[dep.as_str()] < position[name.as_str()], "{} before {}", dep, name);
            }
        }
        prop_assert_eq!(order, reference_order(&deps));
        prop_assert!(graph.cycles().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random graphs with loops: every reported cycle is a real loop (each module depends
    /// on the next, the last on the first), starts at its smallest name, is reported once;
    /// every module on a loop is on some reported cycle and is skipped; every loadable
    /// module comes after its dependencies.
    #[test]
    fn random_graphs_with_loops(
        n in 1usize..25,
        edges in proptest::collection::vec((0usize..25, 0usize..25), 0..60),
    ) {
        let names: Vec<String> = (0..n).map(|i| format!("m{i:02}")).collect();
        let mut deps: BTreeMap<String, Vec<String>> =
            names.iter().map(|name| (name.clone(), Vec::new())).collect();
        for (a, b) in edges {
            let list = deps.get_mut(&names[a % n]).expect("node");
            if !list.contains(&names[b % n]) {
                list.push(names[b % n].clone());
            }
        }
        let texts: Vec<(String, String)> = deps
            .iter()
            .map(|(name, d)| {
                let d: Vec<&str> = d.iter().map(String::as_str).collect();
                (name.clone(), self::deps(&d))
            })
            .collect();
        let pairs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let graph = AddonGraph::new(&set(&pairs));

        // Which modules can reach themselves (by brute force).
        let reaches = |from: &str| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<String> = deps[from].clone();
            while let Some(next) = stack.pop() {
                if seen.insert(next.clone()) {
                    stack.extend(deps[&next].iter().cloned());
                }
            }
            seen
        };
        let looped: BTreeSet<String> = names.iter().filter(|n| reaches(n).contains(*n)).cloned().collect();

        let mut seen_cycles = BTreeSet::new();
        let mut on_cycles = BTreeSet::new();
        for cycle in graph.cycles() {
            prop_assert!(seen_cycles.insert(cycle.clone()), "reported twice: {:?}", cycle);
            prop_assert_eq!(Some(&cycle[0]), cycle.iter().min());
            for (i, name) in cycle.iter().enumerate() {
                let next = &cycle[(i + 1) % cycle.len()];
                prop_assert!(deps[name].contains(next), "{} does not depend on {}", name, next);
                on_cycles.insert(name.clone());
            }
            let unique: BTreeSet<&String> = cycle.iter().collect();
            prop_assert_eq!(unique.len(), cycle.len(), "not elementary: {:?}", cycle);
        }
        prop_assert_eq!(&on_cycles, &looped);
        for name in &looped {
            prop_assert_eq!(&graph.skipped()[name], &SkipReason::DependencyLoop);
        }
        let order = graph.order();
        let position: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        for name in &order {
            for dep in &deps[*name] {
                prop_assert!(position.get(dep.as_str()).is_some_and(|p| *p < position[name]));
            }
        }
        // A module is loadable exactly when nothing it reaches (itself included) is looped.
        for name in &names {
            let ok = !looped.contains(name) && reaches(name).is_disjoint(&looped);
            prop_assert_eq!(position.contains_key(name.as_str()), ok, "{}", name);
        }
    }
}
