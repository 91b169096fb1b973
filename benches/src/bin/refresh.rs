//! Refresh benchmark: the data steps of `odd refresh` on a ~1 GB database, and the
//! default anonymisation profile over 1,000,000 `res_partner` rows.
//!
//! `cargo run --release -p odoo-deploy-benches --bin refresh`
//!
//! Size: `ODD_BENCH_PGBENCH_SCALE` (default 60: pgbench tables of about 1 GB with
//! indexes, beside the stand-in's Odoo tables), `ODD_BENCH_PARTNERS` (default 1,000,000),
//! `ODD_BENCH_MESSAGES` (default 100,000). The steps are the ones `odoo_deploy_core::
//! refresh` runs, with the same SQL and commands: the source snapshot, the template
//! copy, staging's settings, the stand-in's `odoo-bin neutralize`, the fail-closed
//! checks, the anonymisation and its count, the swap; and, for the path between hosts,
//! the verified dump and `pg_restore`. Updating modules and starting Odoo are a deploy's
//! steps (see the deploy bench).
#![allow(clippy::disallowed_methods)] // the bench drives pgbench and the stand-in directly
#![allow(clippy::print_stdout)] // a bench prints its figures

use std::process::Command;
use std::time::{Duration, Instant};

use odoo_deploy_benches::{env_num, loadavg, secs};
use odoo_deploy_core::backup::{BackupTarget, Backups, DbConn, DumpOptions, PgTools};
use odoo_deploy_core::command::Secret;
use odoo_deploy_core::refresh::settings::RefreshConfig;
use odoo_deploy_core::refresh::{anonymise, neutralize, with_secret_vars};
use odoo_deploy_core::transport::{Discard, LocalTransport, Transport};
use odoo_deploy_fixtures::pg::PgCluster;

fn run(cmd: &mut Command, what: &str) -> Duration {
    let t = Instant::now();
    let st = cmd.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(st.success(), "{what} failed: {st}");
    t.elapsed()
}

/// CPU time of PostgreSQL's processes that have ended (backends, parallel workers): the
/// postmaster's reaped children's user and system time from `/proc` (in USER_HZ, 100 a
/// second on Linux). Independent of what else the machine runs, unlike wall time.
fn pg_cpu(pg: &PgCluster) -> Option<Duration> {
    let pidfile = std::fs::read_to_string(pg.data_dir().join("postmaster.pid")).ok()?;
    let pid = pidfile.lines().next()?.trim().to_owned();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's closing parenthesis come fields 3…: cutime is 16, cstime 17.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// [`pg_cpu`] once the backend of a session that just ended has been reaped: the figure
/// has moved past `before` and holds still for a few readings (at most 5 s).
fn pg_cpu_settled(pg: &PgCluster, before: Duration) -> Option<Duration> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = pg_cpu(pg)?;
    let mut still = 0;
    while Instant::now() < deadline && still < 5 {
        std::thread::sleep(Duration::from_millis(50));
        let now = pg_cpu(pg)?;
        still = if now == last && now > before {
            still + 1
        } else {
            0
        };
        last = now;
    }
    Some(last)
}

#[tokio::main]
async fn main() {
    let scale = env_num("ODD_BENCH_PGBENCH_SCALE", 60);
    let partners = env_num("ODD_BENCH_PARTNERS", 1_000_000);
    let messages = env_num("ODD_BENCH_MESSAGES", 100_000);
    println!("load average at start: {}", loadavg());
    let pg = PgCluster::start().expect("start PostgreSQL");
    let dirs = tempfile::Builder::new()
        .prefix("odd-bench-refresh-")
        .tempdir()
        .expect("tempdir");
    let data_dir = dirs.path().join("data");
    let bin = pg.bin_dir().to_owned();
    let src = "production";
    let standin = odoo_deploy_fixtures::standin_odoo_bin();
    let odoo = |args: &[&str]| {
        let mut c = Command::new(&standin);
        c.args(args)
            .arg(format!("--db_host={}", pg.host()))
            .arg(format!("--db_port={}", pg.port()))
            .arg("-r")
            .arg(pg.user())
            .arg(format!("--data-dir={}", data_dir.display()))
            .arg("--logfile=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    run(
        &mut odoo(&["-d", src, "-i", "mail", "--stop-after-init"]),
        "stand-in -i mail",
    );
    let t = run(
        Command::new(bin.join("pgbench"))
            .args(["-i", "-q", "-s", &scale.to_string()])
            .envs(pg.libpq_env(src))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
        "pgbench -i",
    );
    println!("pgbench -i -s {scale}: {}", secs(t));
    let t = Instant::now();
    pg.psql(
        src,
        &format!(
            "INSERT INTO res_partner (name, complete_name, email, email_normalized, phone, mobile, street, street2, city, zip)
             SELECT 'Customer ' || i, 'Customer ' || i, 'c' || i || '@real.example', 'c' || i || '@real.example',
                    '+33 6 ' || lpad(i::text, 8, '0'), '+33 7 ' || lpad(i::text, 8, '0'), i || ' Rue Réelle', NULL,
                    'Lyon', lpad((i % 100000)::text, 5, '0')
               FROM generate_series(1, {partners}) i;
             INSERT INTO res_users (login, name) SELECT 'u' || i || '@real.example', 'User ' || i FROM generate_series(1, 1000) i;
             INSERT INTO mail_message (body, email_from, model, res_id)
             SELECT '<p>Message ' || i || ' from c' || i || '@real.example</p>', 'c' || i || '@real.example', 'res.partner', i
               FROM generate_series(1, {messages}) i;
             INSERT INTO ir_mail_server (name, smtp_host, smtp_port, active) VALUES ('SMTP', 'smtp.real.example', 587, true);
             INSERT INTO ir_cron (name, cron_name, active) VALUES ('Mail: Email Queue Manager', 'Mail: Email Queue Manager', true);
             VACUUM ANALYZE;"
        ),
    )
    .expect("personal data");
    println!(
        "{partners} partners, 1000 users, {messages} messages: {}",
        secs(t.elapsed())
    );
    let size = pg
        .psql(
            src,
            "SELECT pg_size_pretty(pg_database_size(current_database()))",
        )
        .expect("size");
    println!("source database: {}", size.trim());

    let conn = |name: &str| DbConn {
        name: name.into(),
        host: Some(pg.host().into()),
        port: Some(pg.port()),
        user: Some(pg.user().into()),
        password: None,
    };
    let target = BackupTarget {
        environment: src.into(),
        database: conn(src),
        data_dir: data_dir.clone(),
        backup_dir: dirs.path().join("backups"),
        pg_bin_dir: Some(bin.clone()),
        commit: None,
        series: None,
    };
    let tx = LocalTransport::new();
    let tools = PgTools {
        bin_dir: Some(bin.clone()),
    };
    let backups = Backups::new(&tx, &target);
    let mut rows: Vec<(&str, Duration)> = Vec::new();

    let t = Instant::now();
    let snap = backups.snapshot().await.expect("snapshot");
    rows.push(("source snapshot (verified)", t.elapsed()));
    let new = "staging-refresh";
    let t = Instant::now();
    tx.check_output(&tools.copy_database(
        &conn(src),
        snap.snapshot_database.as_deref().expect("snapshot db"),
        new,
    ))
    .await
    .expect("template copy");
    rows.push(("copy: template copy", t.elapsed()));
    let base_url = "http://staging.example";
    let t = Instant::now();
    tx.check_output(&tools.psql(
        &conn(new),
        new,
        &[("base_url", base_url)],
        neutralize::SETUP_SQL,
    ))
    .await
    .expect("settings");
    rows.push(("settings (base URL, uuid, secret)", t.elapsed()));
    let t = run(&mut odoo(&["neutralize", "-d", new]), "neutralize");
    rows.push(("odoo-bin neutralize (stand-in)", t));
    let t = Instant::now();
    let out = tx
        .check_output(&with_secret_vars(
            tools.psql(
                &conn(new),
                new,
                &[
                    ("base_url", base_url),
                    ("allowed", "Base: Auto-vacuum internal data"),
                    ("catcher_host", ""),
                    ("catcher_port", ""),
                    ("source_uuid", "x"),
                ],
                neutralize::CHECKS_SQL,
            ),
            &[("source_secret", &Secret::new("x"))],
        ))
        .await
        .expect("checks");
    rows.push(("fail-closed checks", t.elapsed()));
    let checks = neutralize::parse_checks(&String::from_utf8_lossy(&out));
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");

    let config = RefreshConfig::default();
    let rules = anonymise::rules(&config);
    let present = String::from_utf8_lossy(
        &tx.check_output(&tools.psql(
            &conn(new),
            new,
            &[],
            &anonymise::existing_columns_sql(&rules),
        ))
        .await
        .expect("columns"),
    )
    .into_owned();
    let rules: Vec<_> = rules
        .into_iter()
        .filter(|r| {
            present
                .lines()
                .any(|l| l == format!("{}|{}", r.table, r.column))
        })
        .collect();
    let sql = anonymise::transaction_sql(&rules, &config.keep_logins);
    let cmd = with_secret_vars(
        tools.psql(&conn(new), new, &[("keep_logins", "admin")], &sql),
        &[("seed", &Secret::new("bench seed"))],
    );
    let cpu_before = pg_cpu(&pg);
    let t = Instant::now();
    let out = tx.check_output(&cmd).await.expect("anonymise");
    let anon = t.elapsed();
    let anon_cpu = cpu_before.and_then(|b| pg_cpu_settled(&pg, b).map(|a| a.saturating_sub(b)));
    let load_after_anon = loadavg();
    rows.push(("anonymise (default profile) + count", anon));
    let mut report = anonymise::AnonymiseReport::default();
    report.read(&String::from_utf8_lossy(&out));
    assert!(report.clean(rules.len()), "{report:?}");
    let t = Instant::now();
    tx.check_output(&tools.swap_databases(&conn(src), "staging", new, "staging-previous"))
        .await
        .expect("swap");
    rows.push(("swap into place", t.elapsed()));

    let t = Instant::now();
    let dump = backups.dump(&DumpOptions::default()).await.expect("dump");
    rows.push(("between hosts: verified dump of the source", t.elapsed()));
    tx.check_output(&tools.create_empty_database(&conn(src), "staging-restored"))
        .await
        .expect("create");
    let t = Instant::now();
    tx.check(
        &tools.pg_restore(
            &conn("staging-restored"),
            "staging-restored",
            &dirs.path().join("backups").join(&dump.id).join("db.dump"),
        ),
        &Discard,
    )
    .await
    .expect("pg_restore");
    rows.push(("between hosts: pg_restore -j 2 on staging", t.elapsed()));

    println!("\n| step | time |\n|---|---|");
    for (step, d) in &rows {
        println!("| {step} | {} |", secs(*d));
    }
    println!(
        "\nanonymised rows: {:?}\nleft: every column 0 ({} columns)",
        report.rows,
        report.left.len()
    );
    println!(
        "anonymising {partners} res_partner rows (default profile, verified): {} (goal < 30 s), load average then {load_after_anon}",
        secs(anon)
    );
    if let Some(cpu) = anon_cpu {
        println!(
            "  CPU time of PostgreSQL's processes for it: {} (what the machine's own work was, whatever else ran)",
            secs(cpu)
        );
    }
    println!("load average at end: {}", loadavg());
}
