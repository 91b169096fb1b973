//! The sshd harness itself: fast start, kill takes sessions along, restart keeps the
//! port and key, the watchdog cleans up after a dead test process.

use std::process::Command;
use std::time::{Duration, Instant};

use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::transport::{Discard, Transport};
use odoo_deploy_fixtures::process::Watchdog;
use odoo_deploy_fixtures::sshd::Sshd;

use crate::support::{LOADED_GONE, connect, marker, pgrep, wait_gone};

#[test]
fn watchdog_kills_the_tree_when_its_owner_goes() {
    let mark = marker("watchdog");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("sleep 60 & sleep 60")
        .arg(&mark)
        .spawn()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().to_path_buf();
    std::fs::write(kept.join("state"), "x").unwrap();
    let mut dog = Watchdog::with_cleanup(child.id(), &kept);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pgrep(&mark).is_empty());
    dog.trigger();
    let _ = child.wait();
    let left = wait_gone(&mark, LOADED_GONE);
    assert!(left.is_empty(), "left running: {left:?}");
    assert!(!kept.exists(), "the watchdog did not remove its directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_starts_fast_kill_ends_sessions_restart_keeps_identity() {
    let started = Instant::now();
    let sshd = Sshd::start();
    let took = started.elapsed();
    eprintln!("timing: sshd started in {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "sshd took {took:?} to start"
    );
    assert!(sshd.is_listening());

    let t = connect(&sshd).await;
    let mark = marker("session");
    let cmd = RemoteCommand::new("sh")
        .arg("-c")
        .arg("sleep 60")
        .arg(&mark);
    let running = tokio::time::timeout(Duration::from_millis(500), t.run(&cmd, &Discard));
    assert!(running.await.is_err(), "sleep 60 ended early");
    assert!(!pgrep(&mark).is_empty());

    let port = sshd.port();
    sshd.kill();
    assert!(!sshd.is_listening());
    let left = wait_gone(&mark, LOADED_GONE);
    assert!(left.is_empty(), "sessions survived sshd: {left:?}");

    sshd.restart();
    assert_eq!(sshd.port(), port);
    assert!(sshd.is_listening());
    // Same host key: the known_hosts written at start still verifies it.
    let t2 = connect(&sshd).await;
    assert!(
        t2.output(&RemoteCommand::new("true"))
            .await
            .unwrap()
            .status
            .success()
    );
    t2.close().await.unwrap();
    drop(t);
}
