//! Downtime of a compose deploy (stop → healthy) against the bare sequence an operator's
//! script runs for the same change, on a real Docker engine.
//!
//! `cargo build -p odoo-deploy-cli && cargo run -p odoo-deploy-benches --bin compose [-- ROUNDS]`
//! (default 3 rounds; `odd` from next to this binary, or `ODD_BIN`).
//!
//! Each round builds two compose environments of the sample project (`Demo::build_compose`,
//! reached over a harness sshd, the images of v1 and v2 pushed to a loopback registry and
//! pulled by the host) and deploys v1 to both with odd. Then the same change, v1 → v2:
//! - **odd**: `odd deploy --yes --json`; its reported downtime (its stop to its healthy
//!   answer) minus its snapshot step (the backup is excluded from both);
//! - **bare**: on the host, what an operator's script runs: `compose stop odoo`, `docker run
//!   --rm` of the v2 image on the host network with the same mounts, `odoo -c … -d DB -i …
//!   -u … --stop-after-init --no-http` (the same modules odd's plan names), the tag
//!   switched in an override file, `compose up -d odoo`, then `GET /web/health` every
//!   250 ms until 200 (odd's poll interval).
//!
//! Each round also prints odd's steps inside the window (its `step_finished` events) and
//! the bare sequence's phases, to see where the difference is.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a bench prints its figures
#![allow(clippy::disallowed_methods)] // the peer is an operator's script: docker and compose run as it runs them

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use odoo_deploy_benches::odd::{deploy, odd_bin};
use odoo_deploy_benches::{loadavg, median, secs};
use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::docker::{self, Cleanup, Registry};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

fn reference(demo: &Demo, v: usize) -> String {
    let repository = &demo.compose().expect("compose").repository;
    format!("{repository}:sha-{}", &demo.repo.sha(v).expect("sha")[..12])
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /web/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

/// The steps of odd's downtime window (stop → health), as its events timed them.
const WINDOW: [&str; 8] = [
    "stop",
    "snapshot",
    "dump",
    "update",
    "verify_modules",
    "switch",
    "start",
    "health",
];

/// The operator's sequence for v2 on `demo` (v1 deployed): its downtime, and each
/// phase's time (stop, update, override + up -d, health).
fn bare(demo: &Demo, install: &[String], update: &[String]) -> (Duration, [Duration; 4]) {
    let k = demo.compose().expect("compose");
    let compose = |args: &[&str]| {
        let mut c = Command::new(&k.cli[0]);
        c.args(&k.cli[1..]).arg("-f").arg(&k.file).args(args);
        c
    };
    let owner = run(Command::new("stat")
        .args(["-c", "%u:%g"])
        .arg(&demo.data_dir));
    let image = reference(demo, 2);
    let overrides = demo.deploy_dir.join("bare-override.yaml");
    let started = Instant::now();
    run(&mut compose(&["stop", "odoo"]));
    let stopped = Instant::now();
    let mut update_cmd = Command::new("docker");
    update_cmd
        .args(["run", "--rm", "--network", "host", "--user", owner.trim()])
        .arg("-v")
        .arg(format!("{}:/var/lib/odoo", demo.data_dir.display()))
        .arg("-v")
        .arg(format!("{}:/etc/odoo/odoo.conf:ro", k.conf.display()))
        .arg(&image)
        .args(["odoo", "-c", "/etc/odoo/odoo.conf", "-d", &demo.db]);
    if !install.is_empty() {
        update_cmd.arg("-i").arg(install.join(","));
    }
    if !update.is_empty() {
        update_cmd.arg("-u").arg(update.join(","));
    }
    run(update_cmd.args(["--stop-after-init", "--no-http"]));
    let updated = Instant::now();
    std::fs::write(
        &overrides,
        format!("services:\n  odoo:\n    image: \"{image}\"\n"),
    )
    .expect("override");
    let mut up = compose(&["-f"]);
    up.arg(&overrides).args(["up", "-d", "odoo"]);
    run(&mut up);
    let up_done = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !healthy(demo.http_port) {
        assert!(Instant::now() < deadline, "never healthy");
        std::thread::sleep(Duration::from_millis(250));
    }
    let healthy_at = Instant::now();
    (
        healthy_at - started,
        [
            stopped - started,
            updated - stopped,
            up_done - updated,
            healthy_at - up_done,
        ],
    )
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    assert!(docker::available(), "no Docker daemon answers");
    let odd = odd_bin();
    let cluster = PgCluster::start().expect("start PostgreSQL");
    let sshd = Sshd::start();
    docker::allow_user(sshd.user()).expect("docker group");
    let registry = Registry::start().expect("registry");
    let tmp = tempfile::tempdir().expect("tempdir");
    let load_before = loadavg();
    let mut cleanup = Cleanup::new();
    let (mut odd_down, mut bare_down, mut snapshots) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let mut demos = Vec::new();
        for side in ["odd", "bare"] {
            let root = tmp.path().join(format!("{side}-{round}"));
            let repository = format!("{}/bench/{side}{round}", registry.address());
            let demo =
                Demo::build_compose(&root, &cluster, Reach::Ssh(&sshd), &repository).expect("demo");
            for v in [1, 2] {
                demo.repo.checkout(v).expect("checkout");
                let r = reference(&demo, v);
                cleanup.image(&r);
                docker::build_project_image(demo.repo.path(), &r).expect("image");
                docker::docker(["push", &r]).expect("push");
            }
            demo.checkout(1).expect("v1");
            let v1 = deploy(&odd, &demo, &sshd);
            assert_eq!(v1.outcome, "succeeded");
            demo.checkout(2).expect("v2");
            demos.push(demo);
        }
        let run_odd = deploy(&odd, &demos[0], &sshd);
        assert_eq!(run_odd.outcome, "succeeded");
        let snapshot = run_odd.step("snapshot", false).unwrap_or_default();
        let down = run_odd.downtime.expect("a downtime") - snapshot;
        // The same change by hand: the modules odd's plan names for it.
        let plan = run(Command::new(&odd)
            .args(["plan", "demo", "--json", "--config"])
            .arg(demos[1].config_path()));
        let plan: Value = serde_json::from_str(&plan).expect("plan");
        let names = |key: &str| -> Vec<String> {
            plan["update"][key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (by_hand, phases) = bare(&demos[1], &names("install"), &names("update"));
        eprintln!(
            "round {round}: odd {} (snapshot {} excluded), bare {}",
            secs(down),
            secs(snapshot),
            secs(by_hand)
        );
        let window: Vec<String> = WINDOW
            .iter()
            .filter_map(|s| run_odd.step(s, false).map(|d| format!("{s} {}", secs(d))))
            .collect();
        let in_steps: Duration = WINDOW.iter().filter_map(|s| run_odd.step(s, false)).sum();
        eprintln!(
            "  odd steps: {} (between steps: {})",
            window.join(", "),
            secs(
                run_odd
                    .downtime
                    .unwrap_or_default()
                    .saturating_sub(in_steps)
            )
        );
        eprintln!(
            "  bare: stop {}, update {}, up -d {}, health {}",
            secs(phases[0]),
            secs(phases[1]),
            secs(phases[2]),
            secs(phases[3])
        );
        odd_down.push(down);
        bare_down.push(by_hand);
        snapshots.push(snapshot);
    }
    let (o, b) = (median(odd_down.clone()), median(bare_down.clone()));
    println!(
        "compose deploy downtime, v1 → v2, {rounds} rounds (load {load_before} → {})",
        loadavg()
    );
    println!(
        "  odd   median {} (min {}, max {})",
        secs(o),
        secs(*odd_down.iter().min().expect("a run")),
        secs(*odd_down.iter().max().expect("a run"))
    );
    println!(
        "  bare  median {} (min {}, max {})",
        secs(b),
        secs(*bare_down.iter().min().expect("a run")),
        secs(*bare_down.iter().max().expect("a run"))
    );
    println!(
        "  snapshot excluded from odd: median {}",
        secs(median(snapshots))
    );
    println!(
        "  ratio odd / bare: {:.2}×",
        o.as_secs_f64() / b.as_secs_f64()
    );
}
