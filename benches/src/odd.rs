//! Running the real `odd` binary against a `fixtures::demo` environment and reading its
//! NDJSON events (`odd deploy --yes --json`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odoo_deploy_fixtures::demo::Demo;
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

/// One `odd deploy` run as the bench saw it.
#[derive(Debug)]
pub struct Run {
    /// The process's wall time.
    pub wall: Duration,
    /// `succeeded`, `rolled_back` or `nothing_to_do`.
    pub outcome: String,
    /// `step_finished` events in order: (step, elapsed, after rollback_started).
    pub steps: Vec<(String, Duration, bool)>,
    /// From receiving `rollback_started` to receiving the rollback's `health` end.
    pub rollback_to_health: Option<Duration>,
    /// From starting odd to receiving the first `step_started` (process start, SSH
    /// connect, reading code and the database: the plan).
    pub before_steps: Duration,
    /// SSH logins counted in sshd's log during the run.
    pub auths: usize,
    /// The downtime odd reported (stop → healthy), when it stopped Odoo.
    pub downtime: Option<Duration>,
}

impl Run {
    /// The summed `elapsed_ms` of the steps named `step`, before (`rollback` false) or
    /// after `rollback_started`; `None` if no such step ran.
    pub fn step(&self, step: &str, rollback: bool) -> Option<Duration> {
        let matching: Vec<Duration> = self
            .steps
            .iter()
            .filter(|(s, _, rb)| *rb == rollback && s == step)
            .map(|(_, d, _)| *d)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }
}

/// The `odd` binary: `ODD_BIN`, or `odd` next to the running bench binary.
///
/// # Panics
/// When it is not there (build it first).
pub fn odd_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("ODD_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the bench's path");
    let bin = exe.with_file_name("odd");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --release -p odoo-deploy-cli` first (or set ODD_BIN)",
        bin.display()
    );
    bin
}

/// Runs `odd deploy <env> --yes --json` for `demo`'s checked-out version and collects its
/// events.
///
/// # Panics
/// When odd cannot run, prints something that is not NDJSON, or ends other than
/// succeeded, rolled back or nothing to do.
pub fn deploy(odd: &Path, demo: &Demo, sshd: &Sshd) -> Run {
    let auths_before = sshd.auth_count();
    let started = Instant::now();
    let mut child = Command::new(odd)
        .args(["deploy", &demo.env, "--yes", "--json", "--config"])
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run odd");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut steps = Vec::new();
    let mut outcome = String::from("?");
    let mut rollback_at: Option<Instant> = None;
    let mut rollback_to_health = None;
    let mut before_steps = None;
    let mut downtime = None;
    for line in stdout.lines() {
        let line = line.expect("odd's stdout");
        let now = Instant::now();
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not NDJSON ({e}): {line}"));
        match event["event"].as_str() {
            Some("step_finished") => {
                let step = event["step"].as_str().unwrap_or("?").to_owned();
                let elapsed = Duration::from_millis(event["elapsed_ms"].as_u64().unwrap_or(0));
                if let Some(at) = rollback_at
                    && step == "health"
                    && rollback_to_health.is_none()
                {
                    rollback_to_health = Some(now - at);
                }
                steps.push((step, elapsed, rollback_at.is_some()));
            }
            Some("rollback_started") => rollback_at = Some(now),
            Some("step_started") if before_steps.is_none() => {
                before_steps = Some(now - started);
            }
            Some("nothing_to_do") => outcome = "nothing_to_do".to_owned(),
            Some("finished") => {
                outcome = event["outcome"].as_str().unwrap_or("?").to_owned();
                downtime = event["downtime_ms"].as_u64().map(Duration::from_millis);
            }
            _ => {}
        }
    }
    let out = child.wait_with_output().expect("odd ends");
    let wall = started.elapsed();
    if !["succeeded", "rolled_back", "nothing_to_do"].contains(&outcome.as_str()) {
        panic!(
            "odd deploy ended {outcome} ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Run {
        wall,
        outcome,
        steps,
        rollback_to_health,
        before_steps: before_steps.unwrap_or_default(),
        auths: sshd.auth_count() - auths_before,
        downtime,
    }
}
