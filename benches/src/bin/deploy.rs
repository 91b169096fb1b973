//! Deploy overhead and rollback benchmark: the real `odd` binary deploying the sample
//! project's history over SSH (a harness sshd on loopback) to a harness PostgreSQL with
//! the stand-in Odoo.
//!
//! `cargo build --release -p odoo-deploy-cli && cargo run --release -p odoo-deploy-benches --bin deploy [-- ROUNDS]`
//! (default 5 rounds; `odd` is taken from next to this binary, or `ODD_BIN`).
//!
//! Each round builds a fresh environment (`fixtures::demo`) and deploys, in order:
//! v1 (first install), v2 (a changed module with dependents + a new module), v3 (a
//! version bump with migration scripts), v3 again (nothing changed) and v4 (its update
//! fails, so odd rolls back to v3). Every deploy runs `odd deploy --yes --json`; step
//! times come from its `step_finished` events, rollback times from when the bench
//! received `rollback_started` and the rollback's `health` step end. SSH logins per
//! deploy are counted in sshd's log.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a bench prints its figures

use std::time::Duration;

use odoo_deploy_benches::odd::{Run, deploy, odd_bin};
use odoo_deploy_benches::{loadavg, median, secs};
use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;

/// Steps whose time is PostgreSQL's or Odoo's, not odd's.
const WORK_STEPS: &[&str] = &["snapshot", "dump", "update", "start", "health"];

fn step_key(step: &str, rollback: bool) -> String {
    if rollback {
        format!("rb:{step}")
    } else {
        step.to_owned()
    }
}

const SCENARIOS: &[(&str, usize)] = &[
    ("v1 first install", 1),
    ("v1→v2 update", 2),
    ("v2→v3 bump + migrations", 3),
    ("v3→v3 nothing changed", 3),
    ("v3→v4 fails, rolled back", 4),
];

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
        .max(1);
    let odd = odd_bin();
    let cluster = PgCluster::start().expect("start PostgreSQL");
    let sshd = Sshd::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let load_before = loadavg();
    // runs[scenario] = one Run per round
    let mut runs: Vec<Vec<Run>> = SCENARIOS.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        let demo = Demo::build(
            &tmp.path().join(format!("round-{round}")),
            &cluster,
            Reach::Ssh(&sshd),
        )
        .expect("build the demo environment");
        for (i, (name, v)) in SCENARIOS.iter().enumerate() {
            demo.checkout(*v).expect("checkout");
            let run = deploy(&odd, &demo, &sshd);
            let expected = match (*v, name.contains("nothing changed")) {
                (4, _) => "rolled_back",
                // The same commit with no module changed: no lock, no downtime.
                (_, true) => "nothing_to_do",
                _ => "succeeded",
            };
            assert_eq!(run.outcome, expected, "{name}, round {round}");
            eprintln!(
                "deploy: round {round}, {name}: {} ({}), {} SSH login(s)",
                secs(run.wall),
                run.outcome,
                run.auths
            );
            runs[i].push(run);
        }
        demo.stop_odoo();
    }
    let load_after = loadavg();

    println!();
    println!(
        "Deploys over SSH with the real odd binary, median of {rounds} rounds (a fresh \
         environment per round); load average before/after: {load_before} / {load_after}"
    );
    println!();
    println!(
        "| deploy | whole | backup | update | start + health | stop | odd's overhead (whole − backup − update − start − health) | same, stop also excluded | of which planning before the first step | SSH logins per deploy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for ((name, _), runs) in SCENARIOS.iter().zip(&runs) {
        let sum = |run: &Run, names: &[&str]| -> Duration {
            run.steps
                .iter()
                .filter(|(s, _, rb)| !rb && names.contains(&s.as_str()))
                .map(|(_, d, _)| *d)
                .sum()
        };
        let whole = median(runs.iter().map(|r| r.wall).collect());
        let backup = median(runs.iter().map(|r| sum(r, &["snapshot", "dump"])).collect());
        let update = median(runs.iter().map(|r| sum(r, &["update"])).collect());
        let start = median(runs.iter().map(|r| sum(r, &["start", "health"])).collect());
        let stop = median(runs.iter().map(|r| sum(r, &["stop"])).collect());
        let overhead = median(
            runs.iter()
                .map(|r| r.wall.saturating_sub(sum(r, WORK_STEPS)))
                .collect(),
        );
        let without_stop = median(
            runs.iter()
                .map(|r| {
                    r.wall
                        .saturating_sub(sum(r, WORK_STEPS))
                        .saturating_sub(sum(r, &["stop"]))
                })
                .collect(),
        );
        let planning = median(runs.iter().map(|r| r.before_steps).collect());
        let mut auths: Vec<usize> = runs.iter().map(|r| r.auths).collect();
        auths.sort_unstable();
        auths.dedup();
        let auths: Vec<String> = auths.iter().map(ToString::to_string).collect();
        println!(
            "| {name} | {} | {} | {} | {} | {} | **{}** | **{}** | {} | {} |",
            secs(whole),
            secs(backup),
            secs(update),
            secs(start),
            secs(stop),
            secs(overhead),
            secs(without_stop),
            secs(planning),
            auths.join(", "),
        );
    }

    // Every step's median, so the overhead can be read step by step.
    println!();
    println!("Median per step (ms), rollback steps marked `rb:`:");
    println!();
    let mut names: Vec<String> = Vec::new();
    for runs in &runs {
        for run in runs {
            for (s, _, rb) in &run.steps {
                let key = step_key(s, *rb);
                if !names.contains(&key) {
                    names.push(key);
                }
            }
        }
    }
    print!("| deploy |");
    for n in &names {
        print!(" {n} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(names.len()));
    for ((name, _), runs) in SCENARIOS.iter().zip(&runs) {
        print!("| {name} |");
        for n in &names {
            let times: Vec<Duration> = runs
                .iter()
                .filter_map(|r| {
                    let matching: Vec<Duration> = r
                        .steps
                        .iter()
                        .filter(|(s, _, rb)| step_key(s, *rb) == *n)
                        .map(|(_, d, _)| *d)
                        .collect();
                    (!matching.is_empty()).then(|| matching.iter().sum())
                })
                .collect();
            if times.is_empty() {
                print!(" |");
            } else {
                print!(" {} |", median(times).as_millis());
            }
        }
        println!();
    }

    let rollbacks = &runs[SCENARIOS.len() - 1];
    let to_health = median(
        rollbacks
            .iter()
            .map(|r| r.rollback_to_health.expect("a rollback health step"))
            .collect(),
    );
    let restore = median(
        rollbacks
            .iter()
            .map(|r| {
                r.steps
                    .iter()
                    .filter(|(s, _, rb)| *rb && s == "restore_snapshot")
                    .map(|(_, d, _)| *d)
                    .sum()
            })
            .collect(),
    );
    println!();
    println!("| rollback of v4 to v3 (median of {rounds}) | time |");
    println!("|---|---|");
    println!(
        "| `rollback_started` → rollback's health step done | {} |",
        secs(to_health)
    );
    println!("| restore_snapshot step alone | {} |", secs(restore));
}
