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

/// A fresh database, its tools, this machine as the host, and an owner's heartbeat.
struct Fixture {
    c: DbConn,
    tools: PgTools,
    local: Arc<LocalTransport>,
    heartbeat: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let cluster = PgCluster::shared();
        let db = cluster.unique_db_name("advisory");
        cluster.create_database(&db).expect("a database");
        let dir = tempfile::tempdir().expect("tempdir");
        let heartbeat = dir.path().join("lock.heartbeat");
        std::fs::write(&heartbeat, b"").expect("heartbeat");
        Self {
            c: DbConn {
                name: db,
                host: Some(cluster.host().to_owned()),
                port: Some(cluster.port()),
                user: Some(cluster.user().to_owned()),
                password: None,
            },
            tools: PgTools {
                bin_dir: Some(cluster.bin_dir().to_owned()),
            },
            local: Arc::new(LocalTransport::new()),
            heartbeat,
            _dir: dir,
        }
    }

    async fn take(&self, tag: &str) -> Result<advisory::Held, AdvisoryError> {
        let transport: Arc<dyn Transport> = self.local.clone();
        advisory::acquire(
            transport,
            &self.tools,
            &self.c,
            tag,
            Duration::from_secs(7200),
            &self.heartbeat,
        )
        .await
    }

    async fn holders(&self) -> Vec<String> {
        advisory::holders(self.local.as_ref(), &self.tools, &self.c)
            .await
            .expect("holders")
            .into_iter()
            .map(|h| h.application_name)
            .collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_lock_ends_when_its_owners_heartbeat_stops() {
    let f = Fixture::new();
    let held = f.take("run-1").await.expect("the lock is free");
    assert_eq!(f.holders().await, ["odd-lock-run-1"]);
    // A second taker is told who holds it.
    let busy = f.take("run-2").await.expect_err("busy");
    let AdvisoryError::Busy { holders: seen, .. } = &busy else {
        panic!("{busy:?}")
    };
    assert_eq!(seen.len(), 1, "{busy}");
    assert_eq!(seen[0].odd_deploy(), Some("run-1"));
    assert!(busy.to_string().contains("odd-lock-run-1"), "{busy}");

    // The owner dies: nobody releases the lock, its heartbeat just stops. The holder
    // ends by itself.
    drop(held);
    make_stale(&f.heartbeat);
    let deadline = Instant::now() + LOADED;
    while !f.holders().await.is_empty() {
        assert!(Instant::now() < deadline, "the holder outlived its owner");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(&f.heartbeat, b"").expect("a fresh heartbeat");
    f.take("run-3").await.expect("free again").release().await;
    assert!(f.holders().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_ends_only_the_holders_it_proves_dead() {
    let f = Fixture::new();
    let held = f.take("dead-run").await.expect("the lock is free");
    let end = |judge: Option<bool>| {
        advisory::end_dead_holders(f.local.as_ref(), &f.tools, &f.c, move |id| {
            (id == "dead-run").then_some(judge).flatten()
        })
    };
    // Not proven dead (another environment's, or a live one): left alone.
    for judge in [None, Some(false)] {
        let (ended, left) = end(judge).await.expect("holders");
        assert!(ended.is_empty());
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1, Whose::LiveOdd);
    }
    assert_eq!(f.holders().await, ["odd-lock-dead-run"]);
    // Proven dead: ended, and seen gone.
    let (ended, left) = end(Some(true)).await.expect("holders");
    assert_eq!(ended.len(), 1);
    assert!(left.is_empty());
    assert!(f.holders().await.is_empty());
    held.release().await;
}
