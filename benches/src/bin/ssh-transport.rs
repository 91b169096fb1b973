//! SSH transport benchmark: 100 short commands over one `SshTransport` (one
//! multiplexed connection) against 100 separate `ssh` invocations without
//! multiplexing, on one harness sshd on loopback. Also counts sshd authentications.
//!
//! `cargo run --release -p odoo-deploy-benches --bin ssh [-- ROUNDS]`
#![allow(clippy::disallowed_methods)] // the peer is the plain `ssh` client
#![allow(clippy::print_stdout)] // a bench reports on stdout

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odoo_deploy_benches::median;
use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::transport::Transport;
use odoo_deploy_fixtures::sshd::Sshd;
use odoo_deploy_ssh::SshTransport;

const COMMANDS: usize = 100;

fn config(sshd: &Sshd) -> odoo_deploy_ssh::SshConfig {
    odoo_deploy_benches::harness_ssh_config(sshd)
}

async fn transport_round(sshd: &Sshd) -> (Duration, usize) {
    let before = sshd.auth_count();
    let started = Instant::now();
    let t = SshTransport::connect(config(sshd))
        .await
        .expect("connect to the harness sshd");
    let cmd = RemoteCommand::new("true");
    for _ in 0..COMMANDS {
        let out = t.output(&cmd).await.expect("run `true`");
        assert!(out.status.success(), "`true` failed over the transport");
    }
    t.close().await.expect("close the transport");
    (started.elapsed(), sshd.auth_count() - before)
}

fn plain_ssh_round(sshd: &Sshd) -> (Duration, usize) {
    let before = sshd.auth_count();
    let args = sshd.ssh_args();
    let started = Instant::now();
    for _ in 0..COMMANDS {
        let status = Command::new("ssh")
            .args(&args)
            .args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
            .arg(sshd.host())
            .arg("true")
            .stdin(Stdio::null())
            .status()
            .expect("run ssh");
        assert!(status.success(), "plain ssh failed");
    }
    let took = started.elapsed();
    // sshd logs the login a moment after the session starts; let the last ones land.
    std::thread::sleep(Duration::from_millis(200));
    (took, sshd.auth_count() - before)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let sshd = Sshd::start();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");

    let mut mux = Vec::new();
    let mut plain = Vec::new();
    let mut mux_auths = Vec::new();
    let mut plain_auths = Vec::new();
    for round in 1..=rounds {
        let (d, a) = rt.block_on(transport_round(&sshd));
        println!(
            "round {round}: SshTransport  {COMMANDS} commands in {d:>9.3?}, {a} authentication(s)"
        );
        mux.push(d);
        mux_auths.push(a);
        let (d, a) = plain_ssh_round(&sshd);
        println!(
            "round {round}: separate ssh  {COMMANDS} commands in {d:>9.3?}, {a} authentication(s)"
        );
        plain.push(d);
        plain_auths.push(a);
    }
    let m = median(mux);
    let p = median(plain);
    println!();
    println!("median of {rounds} rounds, {COMMANDS} × `true` on loopback sshd (connect included):");
    println!(
        "  SshTransport (one native-mux master): {m:>9.3?}  ({:.2} ms/command), authentications per round: {mux_auths:?}",
        m.as_secs_f64() * 1000.0 / COMMANDS as f64
    );
    println!(
        "  separate `ssh -o ControlMaster=no`:   {p:>9.3?}  ({:.2} ms/command), authentications per round: {plain_auths:?}",
        p.as_secs_f64() * 1000.0 / COMMANDS as f64
    );
    println!(
        "  ratio: {:.1}× (goal ≥ 5×)",
        p.as_secs_f64() / m.as_secs_f64()
    );
}
