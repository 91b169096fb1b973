//! `gen-tree DIR N [SEED]`: writes a synthetic Odoo tree of N modules under DIR and prints
//! its addons paths (comma-separated, ready for `--addons-path`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(n)) = (args.first(), args.get(1)) else {
        eprintln!("usage: gen-tree DIR N [SEED]");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<usize>() else {
        eprintln!("gen-tree: N must be a number, got {n:?}");
        return ExitCode::from(2);
    };
    let seed = match args.get(2).map(|s| s.parse::<u64>()) {
        None => 42,
        Some(Ok(seed)) => seed,
        Some(Err(_)) => {
            eprintln!("gen-tree: SEED must be a number");
            return ExitCode::from(2);
        }
    };
    match odoo_deploy_fixtures::synth::generate_tree(&PathBuf::from(dir), n, seed) {
        Ok(tree) => {
            let paths: Vec<String> = tree
                .addons_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            eprintln!(
                "gen-tree: {} modules, {} files",
                tree.modules.len(),
                tree.files
            );
            println!("{}", paths.join(","));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gen-tree: {error}");
            ExitCode::from(1)
        }
    }
}
