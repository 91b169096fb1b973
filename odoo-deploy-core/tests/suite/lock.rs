//! The environment lock through a real transport: one winner among racing deploys, the
//! holder named, stale holders recognised, live holders protected.

use odoo_deploy_core::lock::{EnvLock, LockError, LockInfo, LockState};
use odoo_deploy_core::transport::LocalTransport;

fn info(pid: u32, message: &str) -> LockInfo {
    LockInfo {
        owner: "ops".to_owned(),
        machine: "laptop".to_owned(),
        pid,
        started_at: 1_795_132_800,
        commit: Some("0123abcd".to_owned()),
        message: message.to_owned(),
        deploy_id: None,
    }
}

#[tokio::test]
async fn exactly_one_of_racing_deploys_wins_and_the_other_names_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = EnvLock::new("staging", dir.path().join("odd/lock"));
    let transport = LocalTransport::new();
    let me = std::process::id();
    let (info_a, info_b) = (info(me, "deploy A"), info(me, "deploy B"));
    let (a, b) = tokio::join!(
        lock.acquire(&transport, &info_a),
        lock.acquire(&transport, &info_b)
    );
    let (winner, loser) = match (&a, &b) {
        (Ok(()), Err(e)) => ("deploy A", e),
        (Err(e), Ok(())) => ("deploy B", e),
        other => panic!("exactly one must win: {other:?}"),
    };
    let LockError::Held { holder, .. } = loser else {
        panic!("the loser is told the lock is held, got {loser:?}");
    };
    assert_eq!(holder.message, winner);
    assert!(
        loser
            .to_string()
            .contains(&format!("locked by ops on laptop (pid {me})")),
        "{loser}"
    );
    // The holder is alive (this process), so nobody else may release it.
    let refused = lock
        .force_release(&transport, "laptop")
        .await
        .expect_err("alive");
    assert!(matches!(refused, LockError::Alive { .. }), "{refused:?}");
    lock.release(&transport).await.expect("release");
    assert_eq!(
        lock.state(&transport, "laptop").await.expect("state"),
        LockState::Free
    );
    // Nothing is left behind: no temporary files, no heartbeat.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("odd"))
        .expect("dir")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_holder_whose_process_is_gone_is_stale_and_can_be_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = EnvLock::new("staging", dir.path().join("lock"));
    let transport = LocalTransport::new();
    // A pid that cannot exist on Linux (above pid_max's hard limit).
    let dead = 4_194_305;
    lock.acquire(&transport, &info(dead, "deploy that was killed"))
        .await
        .expect("acquire");
    match lock.state(&transport, "laptop").await.expect("state") {
        LockState::Stale { holder, why } => {
            assert_eq!(holder.pid, dead);
            assert!(why.contains("no longer runs"), "{why}");
        }
        other => panic!("expected stale, got {other:?}"),
    }
    let err = lock
        .acquire(&transport, &info(std::process::id(), "next deploy"))
        .await
        .expect_err("stale lock still blocks");
    assert!(matches!(err, LockError::Stale { .. }), "{err:?}");
    let released = lock
        .force_release(&transport, "laptop")
        .await
        .expect("stale lock released");
    assert_eq!(released.map(|h| h.pid), Some(dead));
    lock.acquire(&transport, &info(std::process::id(), "next deploy"))
        .await
        .expect("free again");
    // Seen from another machine the pid cannot be checked: the fresh heartbeat decides.
    assert!(matches!(
        lock.state(&transport, "elsewhere").await.expect("state"),
        LockState::Held { .. }
    ));
}
