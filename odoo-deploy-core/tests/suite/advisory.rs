//! The database's update lock against a real PostgreSQL cluster: its holder session
//! lives only while its owner's heartbeat does, and a recovery ends only the holders it
//! proves dead.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use odoo_deploy_core::advisory::{self, AdvisoryError, Whose};
use odoo_deploy_core::backup::{DbConn, PgTools};
use odoo_deploy_core::transport::{LocalTransport, Transport};
use odoo_deploy_fixtures::pg::PgCluster;

/// Generous for a loaded machine: the holder looks at the heartbeat every half second.
const LOADED: Duration = Duration::from_secs(300);

fn conn(cluster: &PgCluster, db: &str) -> DbConn {
    DbConn {
        name: db.to_owned(),
        host: Some(cluster.host().to_owned()),
        port: Some(cluster.port()),
        user: Some(cluster.user().to_owned()),
        password: None,
    }
}

fn make_stale(heartbeat: &Path) {
    let touched = std::process::Command::new("touch")
        .args(["-d", "2000-01-01"])
        .arg(heartbeat)
        .status()
        .expect("touch");
    assert!(touched.success());
}

async fn holders(t: &dyn Transport, tools: &PgTools, c: &DbConn) -> Vec<String> {
    advisory::holders(t, tools, c)
        .await
        .expect("holders")
        .into_iter()
        .map(|h| h.application_name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_lock_ends_when_its_owners_heartbeat_stops() {
    let cluster = PgCluster::shared();
    let db = cluster.unique_db_name("advisory");
    cluster.create_database(&db).expect("a database");
    let c = conn(cluster, &db);
    let tools = PgTools {
        bin_dir: Some(cluster.bin_dir().to_owned()),
    };
    let local = Arc::new(LocalTransport::new());
    let transport: Arc<dyn Transport> = local.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let heartbeat = dir.path().join("lock.heartbeat");
    std::fs::write(&heartbeat, b"").expect("heartbeat");

    let held = advisory::acquire(
        Arc::clone(&transport),
        &tools,
        &c,
        "run-1",
        Duration::from_secs(7200),
        &heartbeat,
    )
    .await
    .expect("the lock is free");
    assert_eq!(
        holders(local.as_ref(), &tools, &c).await,
        ["odd-lock-run-1"]
    );
    // A second taker is told who holds it.
    let busy = advisory::acquire(
        Arc::clone(&transport),
        &tools,
        &c,
        "run-2",
        Duration::from_secs(7200),
        &heartbeat,
    )
    .await
    .expect_err("busy");
    let AdvisoryError::Busy { holders: seen, .. } = &busy else {
        panic!("{busy:?}")
    };
    assert_eq!(seen.len(), 1, "{busy}");
    assert_eq!(seen[0].odd_deploy(), Some("run-1"));
    assert!(busy.to_string().contains("odd-lock-run-1"), "{busy}");

    // The owner dies: nobody releases the lock, its heartbeat just stops. The holder
    // ends by itself.
    drop(held);
    make_stale(&heartbeat);
    let deadline = Instant::now() + LOADED;
    while !holders(local.as_ref(), &tools, &c).await.is_empty() {
        assert!(Instant::now() < deadline, "the holder outlived its owner");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(&heartbeat, b"").expect("a fresh heartbeat");
    let again = advisory::acquire(
        Arc::clone(&transport),
        &tools,
        &c,
        "run-3",
        Duration::from_secs(7200),
        &heartbeat,
    )
    .await
    .expect("free again");
    again.release().await;
    assert!(holders(local.as_ref(), &tools, &c).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_ends_only_the_holders_it_proves_dead() {
    let cluster = PgCluster::shared();
    let db = cluster.unique_db_name("advisory");
    cluster.create_database(&db).expect("a database");
    let c = conn(cluster, &db);
    let tools = PgTools {
        bin_dir: Some(cluster.bin_dir().to_owned()),
    };
    let local = Arc::new(LocalTransport::new());
    let transport: Arc<dyn Transport> = local.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let heartbeat = dir.path().join("lock.heartbeat");
    std::fs::write(&heartbeat, b"").expect("heartbeat");
    let held = advisory::acquire(
        Arc::clone(&transport),
        &tools,
        &c,
        "dead-run",
        Duration::from_secs(7200),
        &heartbeat,
    )
    .await
    .expect("the lock is free");

    // Not proven dead (another environment's, or a live one): left alone.
    for judge in [None, Some(false)] {
        let (ended, left) = advisory::end_dead_holders(local.as_ref(), &tools, &c, |_| judge)
            .await
            .expect("holders");
        assert!(ended.is_empty());
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1, Whose::LiveOdd);
    }
    assert_eq!(
        holders(local.as_ref(), &tools, &c).await,
        ["odd-lock-dead-run"]
    );
    // Proven dead: ended, and seen gone.
    let (ended, left) = advisory::end_dead_holders(local.as_ref(), &tools, &c, |id| {
        (id == "dead-run").then_some(true)
    })
    .await
    .expect("holders");
    assert_eq!(ended.len(), 1);
    assert!(left.is_empty());
    assert!(holders(local.as_ref(), &tools, &c).await.is_empty());
    held.release().await;
}
