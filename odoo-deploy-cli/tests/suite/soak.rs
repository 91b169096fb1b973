//! The soak run with a small N (`benches/src/bin/soak.rs` runs it with N = 100 outside
//! CI): deploys in a row over SSH, one fault each, each recovered with what odd tells
//! and checked (`odoo_deploy_benches::soak`), and the host's footprint bounded.

use std::time::Duration;

use odoo_deploy_benches::soak::{self, Fault, Options};

/// Seed 1 draws every fault kind in its first six deploys: a failing update, health
/// never coming, odd killed, sshd killed, PostgreSQL restarted (twice). `ODD_SOAK_SEED`
/// and `ODD_SOAK_DEPLOYS` change the draw.
const SEED: u64 = 1;
const DEPLOYS: usize = 6;

#[test]
fn deploys_in_a_row_with_a_random_fault_each_end_verified_and_nothing_grows() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seed = env("ODD_SOAK_SEED", SEED);
    let deploys = usize::try_from(env("ODD_SOAK_DEPLOYS", DEPLOYS as u64)).expect("a count");
    let opts = Options {
        deploys,
        seed,
        odd: env!("CARGO_BIN_EXE_odd").into(),
    };
    let summary = soak::run(&opts, &|line| eprintln!("{line}")).expect("the soak environment");
    assert_eq!(summary.results.len(), deploys);
    let failures = summary.failures();
    assert!(
        failures.is_empty(),
        "seed {seed}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if seed == SEED && deploys == DEPLOYS {
        let struck: Vec<Fault> = summary
            .results
            .iter()
            .filter(|r| r.struck)
            .map(|r| r.fault)
            .collect();
        for kind in [
            "failing update",
            "health never comes",
            "odd killed",
            "sshd killed",
            "PostgreSQL restarted",
        ] {
            assert!(
                struck.iter().any(|f| f.kind() == kind),
                "the draw no longer covers {kind}: {struck:?}"
            );
        }
    }
    // Every wait inside has its own deadline; the whole stays bounded too.
    assert!(
        summary.elapsed < Duration::from_secs(20 * 60),
        "{deploys} deploys took {:?}",
        summary.elapsed
    );
    eprintln!("{}", summary.growth());
}
