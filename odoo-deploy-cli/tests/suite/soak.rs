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

/// Found by the soak: a rolled-back deploy pruned nothing, so a run of failing deploys
/// left one snapshot database, one set-aside filestore and one dump each.
#[test]
fn failing_deploys_in_a_row_leave_no_more_backups_than_retention() {
    use odoo_deploy_fixtures::demo::{Demo, Reach};
    use odoo_deploy_fixtures::pg::PgCluster;

    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(dir.path(), cluster, Reach::Local).expect("demo");
    demo.extend_config(
        "backup = { dump_before_deploy = true, keep_snapshots = 1, keep_dumps = 1 }",
    )
    .expect("retention of one");
    let count = |demo: &Demo| {
        let like = demo.db.replace('_', "\\_");
        let databases = crate::deploy::sql(
            cluster,
            &demo.db,
            &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{like}-%'"),
        );
        let filestores = std::fs::read_dir(demo.data_dir.join("filestore"))
            .expect("filestores")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy() != demo.db)
            .count();
        let dumps = std::fs::read_dir(demo.deploy_dir.join("backups"))
            .expect("backups")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("dump-"))
            .count();
        (databases, filestores, dumps)
    };
    for v in [1, 2] {
        demo.checkout(v).expect("checkout");
        let (code, _, stderr) = crate::deploy::deploy(&demo, &[]);
        assert_eq!(code, 0, "v{v}: {stderr}");
    }
    let mut seen = Vec::new();
    for round in 1..=3 {
        demo.checkout(4).expect("v4");
        let (code, events, stderr) = crate::deploy::deploy(&demo, &[]);
        assert_ne!(code, 0, "v4's update fails");
        assert_eq!(
            crate::deploy::report(&events)["outcome"],
            "rolled_back",
            "round {round}: {stderr}"
        );
        seen.push(count(&demo));
    }
    // This deploy's own backups (its dump; the copy of what the restore replaced) and
    // at most one older of each kind.
    for (databases, filestores, dumps) in &seen {
        assert!(
            databases.parse::<u32>().expect("a count") <= 2 && *filestores <= 2 && *dumps <= 2,
            "after each failed deploy (databases, filestores, dumps): {seen:?}"
        );
    }
}
