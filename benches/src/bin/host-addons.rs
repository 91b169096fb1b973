//! Host addons benchmark: read the manifests of ~600 addons installed on a host over SSH
//! (a harness sshd on loopback) and join them with a repository's addons in one graph,
//! as `odd plan` does. odd's way is one remote command for every folder and manifest;
//! the baseline is the naive one, one `cat` per manifest over the same multiplexed
//! connection.
//!
//! `cargo run --release -p odoo-deploy-benches --bin host-addons [-- MODULES RUNS]`
#![allow(clippy::print_stdout)] // a bench reports on stdout

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use odoo_deploy_benches::{loadavg, median};
use odoo_deploy_core::addon;
use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::graph::AddonGraph;
use odoo_deploy_core::installation::{Installation, ListRequest, PathEntry};
use odoo_deploy_core::transport::Transport;
use odoo_deploy_fixtures::sshd::Sshd;
use odoo_deploy_ssh::SshTransport;

fn config(sshd: &Sshd) -> odoo_deploy_ssh::SshConfig {
    odoo_deploy_benches::harness_ssh_config(sshd)
}

struct Round {
    read: Duration,
    total: Duration,
    addons: usize,
}

/// odd's way: one command, then the scan (parse) and the graph with the repository.
async fn odd_round(
    t: &SshTransport,
    request: &ListRequest,
    entries: &[PathEntry],
    repo: &std::path::Path,
) -> Round {
    let started = Instant::now();
    let inst = Installation::read(request, t)
        .await
        .expect("read the host's addons");
    let read = started.elapsed();
    let scan = addon::scan_sources(inst.sources(entries, repo)).expect("scan");
    let graph = AddonGraph::from_scan(&scan);
    let order = graph.order();
    let total = started.elapsed();
    assert!(
        scan.broken.is_empty(),
        "broken manifests: {:?}",
        scan.broken.len()
    );
    Round {
        read,
        total,
        addons: order.len(),
    }
}

/// The naive way: list the folder, then one `cat` per manifest.
async fn naive_round(t: &SshTransport, folders: &[PathBuf]) -> (Duration, usize) {
    let started = Instant::now();
    let mut count = 0;
    for folder in folders {
        let list = t
            .check_output(&RemoteCommand::new("ls").arg("--").arg(folder))
            .await
            .expect("ls");
        for name in String::from_utf8_lossy(&list).lines() {
            let file = folder.join(name).join("__manifest__.py");
            let out = t
                .output(&RemoteCommand::new("cat").arg("--").arg(&file))
                .await
                .expect("cat");
            if out.status.success() {
                count += 1;
            }
        }
    }
    (started.elapsed(), count)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let modules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(600);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(9);
    let dir = tempfile::Builder::new()
        .prefix("odd-bench-host")
        .tempdir_in("/tmp")
        .expect("tempdir");
    // The ssh login user reads the tree.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let tree = odoo_deploy_fixtures::synth::generate_tree(&dir.path().join("host"), modules, 42)
        .expect("synthetic tree");
    let core = tree.addons_paths[0].clone();
    let shared = tree.addons_paths[1].clone();
    let repo = odoo_deploy_fixtures::sample_project();
    let request = ListRequest {
        core_candidates: vec![core.clone()],
        python: None,
        program: None,
        data_dir_addons: dir.path().join("data/addons/18.0"),
        configured: vec![shared.clone()],
    };
    let entries = [
        PathEntry::Repository("custom_addons".into()),
        PathEntry::Host(shared.clone()),
    ];
    let sshd = Sshd::start();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let t = SshTransport::connect(config(&sshd))
            .await
            .expect("connect to the harness sshd");
        // Warm-up (page cache, the master connection).
        let warm = odd_round(&t, &request, &entries, &repo).await;
        println!(
            "host: core stubs + {modules} shared addons; repository: the sample's custom_addons; {} addons in load order",
            warm.addons
        );
        let mut reads = Vec::new();
        let mut totals = Vec::new();
        for run in 1..=runs {
            let r = odd_round(&t, &request, &entries, &repo).await;
            println!(
                "run {run}: one command {:>8.1?}, read + parse + graph {:>8.1?}",
                r.read, r.total
            );
            reads.push(r.read);
            totals.push(r.total);
        }
        // What the transport alone costs: an empty command, and moving the listing's
        // bytes (the same output, saved to a file) with `cat`.
        let listing = odoo_deploy_core::transport::LocalTransport::new()
            .check_output(
                &odoo_deploy_core::installation::list_command(&request).expect("command"),
            )
            .await
            .expect("local listing");
        let saved = dir.path().join("listing.bin");
        std::fs::write(&saved, &listing).expect("save");
        let mut empty = Vec::new();
        let mut moved = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            t.check_output(&RemoteCommand::new("true")).await.expect("true");
            empty.push(started.elapsed());
            let started = Instant::now();
            t.check_output(&RemoteCommand::new("cat").arg(&saved))
                .await
                .expect("cat");
            moved.push(started.elapsed());
        }
        let local = Instant::now();
        odoo_deploy_core::transport::LocalTransport::new()
            .check_output(
                &odoo_deploy_core::installation::list_command(&request).expect("command"),
            )
            .await
            .expect("local listing");
        let local = local.elapsed();
        let (naive, count) = naive_round(&t, &[core, shared]).await;
        let total = median(totals.clone());
        println!();
        println!("load average: {}", loadavg());
        println!(
            "odd, median of {runs}: {:.1} ms (read over SSH {:.1} ms, min {:.1} ms, max {:.1} ms), 1 SSH command (goal < 300 ms)",
            total.as_secs_f64() * 1000.0,
            median(reads).as_secs_f64() * 1000.0,
            totals.iter().min().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            totals.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        );
        println!(
            "  of which: the script run locally {:.1} ms; over SSH an empty command {:.1} ms, `cat` of the listing's {} KiB {:.1} ms",
            local.as_secs_f64() * 1000.0,
            median(empty).as_secs_f64() * 1000.0,
            listing.len() / 1024,
            median(moved).as_secs_f64() * 1000.0,
        );
        println!(
            "naive, one `cat` per manifest on the same connection: {:.1} ms for {count} manifests ({} commands), {:.0}× slower",
            naive.as_secs_f64() * 1000.0,
            count + 2,
            naive.as_secs_f64() / total.as_secs_f64()
        );
        t.close().await.expect("close");
    });
}
