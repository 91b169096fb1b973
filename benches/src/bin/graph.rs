//! Scan + parse + order a generated 5,000-module tree, warm, and compare with manifestoo.
//!
//! `cargo run --release -p odoo-deploy-benches --bin graph [-- MODULES RUNS]`
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use odoo_deploy_core::addon;
use odoo_deploy_core::graph::AddonGraph;

fn main() -> ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let modules = args.first().copied().unwrap_or(5_000);
    let runs = args.get(1).copied().unwrap_or(15).max(1);
    // `ODD_BENCH_TREE=DIR` reuses a tree written by `gen-tree DIR N` (same layout).
    let reuse = std::env::var_os("ODD_BENCH_TREE").map(PathBuf::from);
    let dir = match tempfile::Builder::new().prefix("odd-bench-tree-").tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("bench: cannot create a temporary directory: {error}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let tree = match &reuse {
        Some(root) => odoo_deploy_fixtures::synth::SynthTree {
            addons_paths: vec![root.join("core"), root.join("custom")],
            modules: Vec::new(),
            files: 0,
        },
        None => match odoo_deploy_fixtures::synth::generate_tree(dir.path(), modules, 42) {
            Ok(tree) => tree,
            Err(error) => {
                eprintln!("bench: cannot generate the tree: {error}");
                return ExitCode::from(2);
            }
        },
    };
    if reuse.is_none() {
        println!(
            "tree: {} generated + {} core modules, {} files, written in {:.1?}",
            tree.modules.len(),
            odoo_deploy_fixtures::synth::CORE.len(),
            tree.files,
            started.elapsed()
        );
    }

    // odd: one warm-up run, then `runs` timed runs.
    let mut odd_times = Vec::with_capacity(runs);
    let mut scan_times = Vec::with_capacity(runs);
    let mut ordered = 0;
    for i in 0..=runs {
        let start = Instant::now();
        let scan = match addon::scan(&tree.addons_paths) {
            Ok(scan) => scan,
            Err(error) => {
                eprintln!("bench: scan failed: {error}");
                return ExitCode::from(1);
            }
        };
        let scanned = start.elapsed();
        let graph = AddonGraph::from_scan(&scan);
        let order = graph.order();
        let elapsed = start.elapsed();
        if !scan.broken.is_empty() || order.len() != scan.addons.len() {
            eprintln!(
                "bench: {} broken manifests, {} of {} modules ordered",
                scan.broken.len(),
                order.len(),
                scan.addons.len()
            );
            return ExitCode::from(1);
        }
        ordered = order.len();
        if i > 0 {
            odd_times.push(elapsed);
            scan_times.push(scanned);
        }
    }
    let odd_median = median(&mut odd_times);
    println!(
        "odd scan+parse+order: {ordered} modules, median {:.1} ms over {runs} warm runs (min {:.1} ms, max {:.1} ms)",
        ms(odd_median),
        ms(odd_times[0]),
        ms(odd_times[odd_times.len() - 1]),
    );
    println!(
        "  of which scan+parse: median {:.1} ms; graph+order: the rest",
        ms(median(&mut scan_times))
    );

    // The graph alone, over one scan.
    if let Ok(scan) = addon::scan(&tree.addons_paths) {
        let mut graph_times = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let graph = AddonGraph::from_scan(&scan);
            let n = graph.order().len();
            graph_times.push(start.elapsed());
            assert_eq!(n, scan.addons.len());
        }
        println!(
            "  graph+order alone: median {:.1} ms",
            ms(median(&mut graph_times))
        );
    }

    // Parsing alone, from memory, on one thread: the share of the parser in the total.
    let sources: Vec<(PathBuf, String)> = tree
        .addons_paths
        .iter()
        .flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten())
        .filter_map(|e| {
            let file = e.path().join("__manifest__.py");
            std::fs::read_to_string(&file).ok().map(|text| (file, text))
        })
        .collect();
    let start = Instant::now();
    let parsed = sources
        .iter()
        .filter(|(file, text)| odoo_deploy_core::manifest::Manifest::parse("m", file, text).is_ok())
        .count();
    println!(
        "  parse alone (one thread, from memory): {parsed} manifests in {:.1} ms",
        ms(start.elapsed())
    );

    match manifestoo() {
        Ok(bin) => {
            let paths: Vec<String> = tree
                .addons_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let mut times = Vec::new();
            let manifestoo_runs = runs.clamp(1, 5);
            for i in 0..=manifestoo_runs {
                let start = Instant::now();
                let output = Command::new(&bin)
                    .args([
                        "--addons-path",
                        &paths.join(","),
                        "--no-addons-path-from-import-odoo",
                        "--odoo-series",
                        "18.0",
                        "--select-found",
                        "list-depends",
                        "--transitive",
                        "--include-selected",
                        "--sort",
                        "topological",
                    ])
                    .stderr(Stdio::piped())
                    .output();
                let elapsed = start.elapsed();
                match output {
                    Ok(out) if out.status.success() => {
                        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
                        if i == 0 {
                            println!("manifestoo listed {lines} modules");
                        }
                    }
                    Ok(out) => {
                        eprintln!(
                            "manifestoo failed: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        return ExitCode::from(1);
                    }
                    Err(error) => {
                        eprintln!("manifestoo could not run: {error}");
                        return ExitCode::from(1);
                    }
                }
                if i > 0 {
                    times.push(elapsed);
                }
            }
            let theirs = median(&mut times);
            println!(
                "manifestoo list-depends --transitive --sort topological: median {:.0} ms over {manifestoo_runs} warm runs",
                ms(theirs)
            );
            println!(
                "ratio: odd is {:.0}x faster",
                theirs.as_secs_f64() / odd_median.as_secs_f64()
            );
        }
        Err(reason) => println!("manifestoo: not measured ({reason})"),
    }
    ExitCode::SUCCESS
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// manifestoo in a venv under the target directory, installed with pip on first use.
fn manifestoo() -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let venv = target.join("bench-venv");
    let bin = venv.join("bin/manifestoo");
    if bin.is_file() {
        return Ok(bin);
    }
    let status = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())
            .and_then(|s| {
                if s.success() {
                    Ok(())
                } else {
                    Err(format!("{cmd:?} failed"))
                }
            })
    };
    status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    status(Command::new(venv.join("bin/pip")).args(["install", "-q", "manifestoo"]))?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err("pip did not install manifestoo".into())
    }
}
