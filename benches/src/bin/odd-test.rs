//! `odd test` of one changed module whose dependency takes the stand-in N seconds to
//! install: the first run (builds the template), cached runs (copy the template), and
//! the plain pipeline's way, installing everything on a fresh database each time
//! (`odoo-bin -d NEW -i deps,module --test-enable --stop-after-init`).
//!
//! `cargo build --release -p odoo-deploy-cli -p odoo-deploy-benches && target/release/odd-test`
//! (`odd` is taken from next to this binary, or `ODD_BIN`).
//!
//! `ODD_BENCH_DEP_SECONDS` (default 10): the stand-in's `ODD_STANDIN_DELAY` on
//! `tested_base`, the dependency of the module under test (`tested_ok`, one passing
//! test), through `ODD_STANDIN_DELAY_MODULES`. `ODD_BENCH_ROUNDS` (default 3) cached runs
//! and plain runs. Every run is checked: one test, passed, and (for odd) the template
//! built on the first run only, the same oid after.
#![allow(clippy::disallowed_methods)] // the bench runs odd and the stand-in
#![allow(clippy::print_stdout, clippy::print_stderr)] // a bench prints its figures

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use odoo_deploy_benches::odd::odd_bin;
use odoo_deploy_benches::{env_num, loadavg, median, secs};
use odoo_deploy_fixtures::pg::PgCluster;

fn odd_test(odd: &Path, root: &Path, pg: &PgCluster) -> (Duration, serde_json::Value) {
    let mut cmd = Command::new(odd);
    cmd.args(["test", "--modules", "tested_ok", "--json"])
        .current_dir(root)
        .env("NO_COLOR", "1");
    if let Some(pw) = pg.password() {
        cmd.env("ODD_BENCH_PGPASSWORD", pw);
    }
    let started = Instant::now();
    let out = cmd.output().expect("run odd");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "odd test failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("odd's JSON");
    assert_eq!(report["totals"]["tests"], 1, "{report}");
    assert_eq!(report["totals"]["passed"], 1, "{report}");
    (took, report)
}

fn main() {
    let delay = env_num("ODD_BENCH_DEP_SECONDS", 10);
    let rounds = usize::try_from(env_num("ODD_BENCH_ROUNDS", 3).max(1)).unwrap_or(3);
    let odd = odd_bin();
    let pg = PgCluster::shared();
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("project");
    odoo_deploy_fixtures::copy_tree(
        &odoo_deploy_fixtures::fixtures_dir().join("projects/tested/addons"),
        &root.join("addons"),
    )
    .expect("copy the tested project");
    let bin = odoo_deploy_fixtures::install_standin(&tmp.path().join("odoo")).expect("stand-in");
    let data_dir = tmp.path().join("data");
    // odd gives the programs it starts a cleared environment: the delay travels in the
    // command, as a host's wrapper would set it.
    let command = [
        "env".to_owned(),
        format!("ODD_STANDIN_DELAY={delay}"),
        "ODD_STANDIN_DELAY_MODULES=tested_base".to_owned(),
        bin.display().to_string(),
    ];
    std::fs::write(
        root.join("odd.toml"),
        format!(
            "[project]\naddons_paths = [\"addons\"]\nseries = \"18.0\"\n\n[test]\n\
             odoo_command = {command:?}\nodoo_addons_dir = {own:?}\ndata_dir = {data:?}\n\n\
             [test.database]\nhost = \"{host}\"\nport = {port}\nuser = \"{user}\"\n{pw}",
            own = tmp.path().join("odoo/odoo/addons").display().to_string(),
            data = data_dir.display().to_string(),
            host = pg.host(),
            port = pg.port(),
            user = pg.user(),
            pw = if pg.password().is_some() {
                "password_env = \"ODD_BENCH_PGPASSWORD\"\n"
            } else {
                ""
            },
        ),
    )
    .expect("odd.toml");
    println!(
        "odd test of tested_ok, its dependency tested_base taking {delay} s to install; load {}",
        loadavg()
    );

    let (first, report) = odd_test(&odd, &root, pg);
    assert_eq!(report["template"]["built"], true, "{report}");
    let template = report["template"]["database"]
        .as_str()
        .expect("template")
        .to_owned();
    let oid = report["template"]["oid"].clone();
    println!(
        "first run (builds the template of {} modules): {}",
        report["dependencies"].as_array().map_or(0, Vec::len),
        secs(first)
    );
    let mut cached = Vec::new();
    let mut copies = Vec::new();
    for _ in 0..rounds {
        let (took, report) = odd_test(&odd, &root, pg);
        assert_eq!(report["template"]["built"], false, "{report}");
        assert_eq!(report["template"]["oid"], oid, "the same template");
        copies.push(Duration::from_secs_f64(
            report["jobs"][0]["copy_seconds"]
                .as_f64()
                .expect("copy_seconds"),
        ));
        cached.push(took);
    }
    println!(
        "cached run (copies the template), median of {rounds}: {} (all: {})",
        secs(median(cached.clone())),
        cached
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  of which the template's copy (CREATE DATABASE … TEMPLATE + filestore), median: {}",
        secs(median(copies))
    );

    // The plain pipeline: a fresh database and everything installed with the tests on.
    let conf = tmp.path().join("odoo.conf");
    std::fs::write(
        &conf,
        format!(
            "[options]\naddons_path = {addons}\ndata_dir = {data}\ndb_host = {host}\ndb_port = {port}\n\
             db_user = {user}\nwithout_demo = all\n",
            addons = root.join("addons").display(),
            data = data_dir.display(),
            host = pg.host(),
            port = pg.port(),
            user = pg.user(),
        ),
    )
    .expect("odoo.conf");
    let mut plain = Vec::new();
    for round in 0..rounds {
        let db = pg.unique_db_name(&format!("plain_{round}"));
        let port =
            odoo_deploy_fixtures::process::try_free_port(std::net::Ipv4Addr::LOCALHOST.into())
                .expect("a free port");
        let started = Instant::now();
        let out = Command::new(&bin)
            .args(["-c", &conf.display().to_string(), "-d", &db])
            .args([
                "-i",
                "tested_base,tested_ok",
                "--test-enable",
                "--stop-after-init",
            ])
            .arg(format!("--http-port={port}"))
            .env("ODD_STANDIN_DELAY", delay.to_string())
            .env("ODD_STANDIN_DELAY_MODULES", "tested_base")
            .envs(pg.password().map(|pw| ("PGPASSWORD", pw)))
            .output()
            .expect("run the stand-in");
        let took = started.elapsed();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert!(
            log.contains(&format!(
                "0 failed, 0 error(s) of 2 tests when loading database '{db}'"
            )),
            "{log}"
        );
        plain.push(took);
        pg.drop_database(&db).expect("drop the plain database");
    }
    let plain_median = median(plain.clone());
    let cached_median = median(cached);
    println!(
        "plain pipeline (fresh database, -i tested_base,tested_ok --test-enable), median of {rounds}: {} (all: {})",
        secs(plain_median),
        plain
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "cached run vs plain: {:.1}x faster (goal: 5x); first run vs plain: {:.2}x",
        plain_median.as_secs_f64() / cached_median.as_secs_f64(),
        plain_median.as_secs_f64() / first.as_secs_f64()
    );
    pg.drop_database(&template).expect("drop the template");
}
