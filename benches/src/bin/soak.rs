//! Soak: N deploys in a row of one environment over SSH, one random fault each (seeded),
//! each recovered with the command odd tells and checked; then the host's growth.
//!
//! `cargo build --release -p odoo-deploy-cli -p odoo-deploy-benches && target/release/soak [N] [SEED]`
//! (default N = 100, SEED from the clock; `odd` is taken from next to this binary, or
//! `ODD_BIN`). See `odoo_deploy_benches::soak` for what each deploy checks. Exits 1 when
//! anything failed.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a bench prints its figures

use odoo_deploy_benches::odd::odd_bin;
use odoo_deploy_benches::soak::{self, Options};
use odoo_deploy_benches::{loadavg, secs};

fn main() {
    let mut args = std::env::args().skip(1);
    let deploys = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    eprintln!("soak: {deploys} deploys, seed {seed} (rerun: soak {deploys} {seed})");
    let load_before = loadavg();
    let opts = Options {
        deploys,
        seed,
        odd: odd_bin(),
    };
    let summary = match soak::run(&opts, &|line| eprintln!("{line}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    let failures = summary.failures();
    println!();
    println!(
        "Soak: {deploys} deploys, seed {seed}, {} (load average before/after: {load_before} / {})",
        secs(summary.elapsed),
        loadavg()
    );
    println!();
    println!("| fault | deploys | outcomes |");
    println!("|---|---|---|");
    let kinds = summary.count(|r| r.fault.kind().to_owned());
    for (kind, n) in &kinds {
        let outcomes = summary.count(|r| {
            if r.fault.kind() == kind {
                let how = if r.recovery.is_empty() {
                    String::new()
                } else {
                    format!(" after `{}`", r.recovery.join("`, `"))
                };
                let missed = if r.struck {
                    ""
                } else {
                    " (step never reached)"
                };
                format!("{}{how}{missed}", r.outcome)
            } else {
                String::new()
            }
        });
        let outcomes: Vec<String> = outcomes
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        println!("| {kind} | {n} | {} |", outcomes.join("; "));
    }
    println!();
    println!("{}", summary.growth());
    println!("Failures: {}", failures.len());
    for f in &failures {
        println!("- {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
