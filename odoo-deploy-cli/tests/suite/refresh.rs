//! `odd refresh STAGING --from PRODUCTION` end to end: two demo environments (the real
//! binary, real PostgreSQL clusters, the stand-in Odoo; over real sshd for the
//! two-host case), production seeded with personal data, staging on newer code.

use std::fs;
use std::path::Path;
use std::process::Command;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;

use crate::deploy::{digest, sql};
use crate::rollback::filestore_digest;

const SEED_VAR: &str = "ODD_TEST_REFRESH_SEED";

/// Production's personal data: 40 partners, a user, messages, an SMTP server and a cron.
const PRODUCTION_DATA: &str = r"
INSERT INTO res_partner (name, complete_name, email, email_normalized, phone, mobile, street, street2, city, zip)
SELECT 'Customer Realname ' || i, 'Customer Realname ' || i, 'Customer' || i || '@real-acme.example',
       'customer' || i || '@real-acme.example', '+33 6 12 34 ' || lpad(i::text, 2, '0'),
       '+33 7 98 76 ' || lpad(i::text, 2, '0'), i || ' Rue du Client', 'Bat. ' || i, 'Lyon', '690' || lpad(i::text, 2, '0')
  FROM generate_series(1, 40) i;
INSERT INTO res_users (login, name, password) VALUES ('jane@real-acme.example', 'Jane Realname', 'x');
INSERT INTO mail_message (body, email_from, model, res_id)
SELECT '<p>Call me at +33 6 12 34 ' || lpad(i::text, 2, '0') || '</p>', 'customer' || i || '@real-acme.example', 'res.partner', i
  FROM generate_series(1, 10) i;
INSERT INTO ir_mail_server (name, smtp_host, smtp_port, active) VALUES ('Production SMTP', 'smtp.real-acme.example', 587, true);
INSERT INTO ir_cron (name, cron_name, active) VALUES
  ('Mail: Email Queue Manager', 'Mail: Email Queue Manager', true),
  ('Base: Auto-vacuum internal data', 'Base: Auto-vacuum internal data', true);
";

fn odd_with(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .env(SEED_VAR, "a test seed")
        .output()
        .expect("run odd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Pair {
    production: Demo,
    staging: Demo,
    /// The combined odd.toml (staging's project) naming both environments.
    config: std::path::PathBuf,
    /// Dropped last: the demos stop their Odoo through pid files inside it.
    _dir: tempfile::TempDir,
}

impl Pair {
    /// Production at v1 with personal data; staging at v2 (acme_partner changed,
    /// acme_loyalty added) with data of its own.
    fn build(
        staging_cluster: &PgCluster,
        staging_reach: Reach<'_>,
        production_cluster: &PgCluster,
        production_reach: Reach<'_>,
        snapshot: bool,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut production = Demo::build(
            &dir.path().join("prod"),
            production_cluster,
            production_reach,
        )
        .expect("demo");
        production.env = "production".to_owned();
        production.checkout(1).expect("v1");
        let (code, _, err) = odd_with(
            &production.config_path(),
            &["deploy", "production", "--yes"],
        );
        assert_eq!(code, 0, "{err}");
        production_cluster
            .psql(&production.db, PRODUCTION_DATA)
            .expect("production data");
        if snapshot {
            let (code, _, err) = odd_with(
                &production.config_path(),
                &["backup", "production", "--kind", "snapshot"],
            );
            assert_eq!(code, 0, "{err}");
        }
        let mut staging =
            Demo::build(&dir.path().join("staging"), staging_cluster, staging_reach).expect("demo");
        staging.env = "staging".to_owned();
        staging.checkout(2).expect("v2");
        let (code, _, err) = odd_with(&staging.config_path(), &["deploy", "staging", "--yes"]);
        assert_eq!(code, 0, "{err}");
        staging_cluster
            .psql(
                &staging.db,
                "INSERT INTO res_partner (name, email) VALUES ('Staging Tester', 'tester@staging.example')",
            )
            .expect("staging data");
        let staging_text = fs::read_to_string(staging.config_path()).expect("staging odd.toml");
        let production_text =
            fs::read_to_string(production.config_path()).expect("production odd.toml");
        let section = production_text
            .find("[environments.production]")
            .map(|i| &production_text[i..])
            .expect("production's table");
        let combined = format!(
            "{staging_text}\n[environments.staging.refresh]\nfrom = \"production\"\nseed_env = \"{SEED_VAR}\"\n\n{section}protected = true\n"
        );
        let config = dir.path().join("odd.toml");
        fs::write(&config, combined).expect("write odd.toml");
        Self {
            production,
            staging,
            config,
            _dir: dir,
        }
    }

    fn refresh(&self, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec!["refresh", "staging", "--from", "production"];
        args.extend_from_slice(extra);
        odd_with(&self.config, &args)
    }

    fn staging_runs(&self) -> bool {
        Command::new(odoo_deploy_fixtures::fixtures_dir().join("odoo-standin/odoo-service"))
            .arg("status")
            .arg(&self.staging.pidfile)
            .status()
            .expect("service status")
            .success()
    }
}

/// Every value of `columns` of `table` in `db`, non-empty.
fn values(cluster: &PgCluster, db: &str, table: &str, columns: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for c in columns {
        let text = sql(
            cluster,
            db,
            &format!("SELECT string_agg({c}, E'\\n') FROM {table} WHERE coalesce({c}, '') <> ''"),
        );
        out.extend(text.lines().map(str::to_owned));
    }
    out
}

/// Rows of `table` in `db` whose whole text holds one of `needles` (case-insensitive).
fn rows_holding(cluster: &PgCluster, db: &str, table: &str, needles: &[String]) -> u64 {
    let list = needles
        .iter()
        .map(|n| format!("'{}'", n.to_lowercase().replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    sql(
        cluster,
        db,
        &format!(
            "SELECT count(*) FROM {table} t WHERE EXISTS (SELECT 1 FROM unnest(ARRAY[{list}]) n WHERE position(n IN lower(t::text)) > 0)"
        ),
    )
    .parse()
    .expect("count")
}

fn database_names(cluster: &PgCluster, like: &str) -> String {
    sql(
        cluster,
        "postgres",
        &format!(
            "SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_database WHERE datname LIKE '{like}%'"
        ),
    )
}

/// What must hold on staging after a good refresh.
fn assert_refreshed(pair: &Pair, staging_cluster: &PgCluster, production_cluster: &PgCluster) {
    let (s, p) = (&pair.staging, &pair.production);
    let param = |cluster: &PgCluster, db: &str, key: &str| {
        sql(
            cluster,
            db,
            &format!("SELECT value FROM ir_config_parameter WHERE key = '{key}'"),
        )
    };
    // Production's data: its partners are there (anonymised), staging's own are gone.
    assert_eq!(
        sql(staging_cluster, &s.db, "SELECT count(*) FROM res_partner"),
        sql(
            production_cluster,
            &p.db,
            "SELECT count(*) FROM res_partner"
        )
    );
    assert_eq!(
        sql(
            staging_cluster,
            &s.db,
            "SELECT count(*) FROM res_partner WHERE email = 'tester@staging.example'"
        ),
        "0"
    );
    // Neutralized and made staging's.
    assert_eq!(
        param(staging_cluster, &s.db, "database.is_neutralized"),
        "true"
    );
    assert_eq!(param(staging_cluster, &s.db, "web.base.url"), s.base_url());
    for key in ["database.uuid", "database.secret"] {
        assert_ne!(
            param(staging_cluster, &s.db, key),
            param(production_cluster, &p.db, key),
            "{key}"
        );
    }
    assert_eq!(
        sql(
            staging_cluster,
            &s.db,
            "SELECT string_agg(smtp_host, ',') FROM ir_mail_server WHERE active"
        ),
        "invalid"
    );
    assert_eq!(
        sql(
            staging_cluster,
            &s.db,
            "SELECT string_agg(cron_name, ',') FROM ir_cron WHERE active"
        ),
        "Base: Auto-vacuum internal data"
    );
    // No original e-mail, phone or name survives anywhere in the whole tables.
    let personal = values(
        production_cluster,
        &p.db,
        "res_partner",
        &["email", "phone", "mobile", "name", "street"],
    );
    assert!(personal.len() >= 200, "{}", personal.len());
    for table in ["res_partner", "mail_message"] {
        assert_eq!(
            rows_holding(staging_cluster, &s.db, table, &personal),
            0,
            "{table}"
        );
    }
    assert_eq!(
        sql(
            staging_cluster,
            &s.db,
            "SELECT count(*) FROM res_users WHERE login LIKE '%real-acme%'"
        ),
        "0"
    );
    assert_eq!(
        sql(
            staging_cluster,
            &s.db,
            "SELECT count(*) FROM res_users WHERE login = 'admin'"
        ),
        "1",
        "kept login"
    );
    // Staging's own code: v2's acme_loyalty installed, acme_partner updated.
    assert_eq!(
        sql(
            staging_cluster,
            &s.db,
            "SELECT state FROM ir_module_module WHERE name = 'acme_loyalty'"
        ),
        "installed"
    );
    assert!(pair.staging_runs(), "Odoo runs on the refreshed copy");
    // The ledger says what happened.
    let ledger = fs::read_to_string(s.deploy_dir.join("ledger.jsonl")).expect("ledger");
    let last: serde_json::Value =
        serde_json::from_str(ledger.lines().last().expect("a line")).expect("json");
    assert_eq!(last["plan"]["refresh"]["source"], "production");
    assert_eq!(last["outcome"], "succeeded");
    assert!(last["plan"]["refresh"]["source_backup"].as_str().is_some());
    assert_eq!(
        last["plan"]["refresh"]["anonymise"]["left"]["res_partner.email"],
        0
    );
    assert_eq!(
        last["plan"]["refresh"]["updated"]["install"][0], "acme_loyalty",
        "{last}"
    );
    // Staging's downtime, stop to healthy again: at least every step between the two,
    // at most the whole run.
    let downtime = last["downtime_ms"].as_u64().expect("a downtime");
    let steps = last["steps"].as_array().expect("steps");
    let between: u64 = steps
        .iter()
        .skip_while(|s| s["step"] != "stop")
        .skip(1)
        .take_while(|s| s["step"] != "start")
        .map(|s| s["duration_ms"].as_u64().expect("duration"))
        .sum();
    assert!(
        between > 0 && downtime >= between,
        "{downtime} < {between}: {last}"
    );
    let run_ms = (last["finished_at"].as_i64().expect("end")
        - last["started_at"].as_i64().expect("start")
        + 1)
        * 1000;
    assert!(
        i64::try_from(downtime).expect("ms") <= run_ms,
        "{downtime} > {run_ms}"
    );
    // Nothing left behind.
    assert_eq!(database_names(staging_cluster, &format!("{}-", s.db)), "");
}

#[test]
fn refresh_on_one_cluster_by_template_copy() {
    let cluster = PgCluster::shared();
    let pair = Pair::build(cluster, Reach::Local, cluster, Reach::Local, true);
    let (code, out, err) = pair.refresh(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("by template copy"), "{err}");
    assert!(
        err.contains("reuse production's verified snapshot"),
        "{err}"
    );
    assert_refreshed(&pair, cluster, cluster);
    // The requires gate keeps working: staging's ledger still has its commit succeeded.
    let (code, out, err) = odd_with(&pair.config, &["status", "staging", "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).expect("status");
    assert_eq!(
        status["current"]["commit"],
        pair.staging.repo.sha(2).expect("v2"),
        "{status}"
    );
    let who = status["current"]["who"].as_str().expect("who");
    assert_eq!(who.matches('@').count(), 1, "user@machine: {who}");
}

#[test]
fn refresh_across_two_hosts_streams_through_odd() {
    let staging_cluster = PgCluster::shared();
    let production_cluster = PgCluster::start().expect("a second cluster");
    let staging_host = Sshd::start();
    let production_host = Sshd::builder()
        .address(std::net::Ipv4Addr::new(127, 0, 0, 2))
        .start();
    let pair = Pair::build(
        staging_cluster,
        Reach::Ssh(&staging_host),
        &production_cluster,
        Reach::Ssh(&production_host),
        false,
    );
    let (code, out, err) = pair.refresh(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("take a verified dump of production"), "{err}");
    assert!(err.contains("through odd"), "{err}");
    assert_refreshed(&pair, staging_cluster, &production_cluster);
    // The streamed files went away from staging's host.
    let leftovers: Vec<_> = fs::read_dir(&pair.staging.deploy_dir)
        .expect("deploy dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("refresh-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn refusals_and_a_dry_run_change_nothing() {
    let cluster = PgCluster::shared();
    let pair = Pair::build(cluster, Reach::Local, cluster, Reach::Local, true);
    let before = (
        digest(cluster, &pair.staging.db),
        digest(cluster, &pair.production.db),
    );
    let files = filestore_digest(&pair.staging);
    let names = database_names(cluster, &pair.staging.db);

    let (code, _, err) = odd_with(
        &pair.config,
        &["refresh", "production", "--from", "staging"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("`production` is protected"), "{err}");
    let (code, _, err) = odd_with(&pair.config, &["refresh", "staging", "--from", "staging"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("from itself"), "{err}");

    let (code, out, err) = pair.refresh(&["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("refresh staging from production"), "{out}");
    assert!(out.contains("neutralize with odoo-bin neutralize"), "{out}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(
        before,
        (
            digest(cluster, &pair.staging.db),
            digest(cluster, &pair.production.db)
        )
    );
    assert_eq!(files, filestore_digest(&pair.staging));
    assert_eq!(names, database_names(cluster, &pair.staging.db));
    assert!(pair.staging_runs(), "a dry run does not stop staging");
}

#[test]
fn each_fail_closed_check_fails_the_refresh_and_keeps_staging_as_it_was() {
    let cluster = PgCluster::shared();
    let pair = Pair::build(cluster, Reach::Local, cluster, Reach::Local, true);
    let s = &pair.staging;
    let prod_param = |key: &str| {
        sql(
            cluster,
            &pair.production.db,
            &format!("SELECT value FROM ir_config_parameter WHERE key = '{key}'"),
        )
    };
    let base = s.odoo_addons().join("base/data/neutralize.sql");
    let mail = s.odoo_addons().join("mail/data/neutralize.sql");
    let good_base = fs::read_to_string(&base).expect("base script");
    let good_mail = fs::read_to_string(&mail).expect("mail script");
    let without = |text: &str, needle: &str| {
        text.lines()
            .filter(|l| !l.contains(needle))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let uuid = prod_param("database.uuid");
    let secret = prod_param("database.secret");
    // (check that must fail, base script, mail script)
    let cases: Vec<(&str, String, String)> = vec![
        (
            "mail_servers",
            without(&good_base, "UPDATE ir_mail_server"),
            String::new(),
        ),
        (
            "crons",
            without(&good_base, "UPDATE ir_cron"),
            good_mail.clone(),
        ),
        (
            "is_neutralized",
            without(
                &without(&good_base, "database.is_neutralized"),
                "ON CONFLICT",
            ),
            good_mail.clone(),
        ),
        (
            "fresh_uuid",
            format!(
                "{good_base}UPDATE ir_config_parameter SET value = '{uuid}' WHERE key = 'database.uuid';\n"
            ),
            good_mail.clone(),
        ),
        (
            "fresh_secret",
            format!(
                "{good_base}UPDATE ir_config_parameter SET value = '{secret}' WHERE key = 'database.secret';\n"
            ),
            good_mail.clone(),
        ),
        (
            "base_url",
            format!(
                "{good_base}UPDATE ir_config_parameter SET value = 'https://erp.real-acme.example' WHERE key = 'web.base.url';\n"
            ),
            good_mail.clone(),
        ),
        // The stand-in has no payment or delivery module: the sabotaged script leaves a
        // provider in production mode in a table of Odoo's shape.
        (
            "payment_providers",
            format!(
                "{good_base}CREATE TABLE payment_provider (id serial PRIMARY KEY, name jsonb, state varchar);\nINSERT INTO payment_provider (name, state) VALUES ('{{\"en_US\": \"Stripe\"}}', 'enabled');\n"
            ),
            good_mail.clone(),
        ),
        (
            "shipping_providers",
            format!(
                "{good_base}CREATE TABLE delivery_carrier (id serial PRIMARY KEY, name jsonb, active boolean, prod_environment boolean);\nINSERT INTO delivery_carrier (name, active, prod_environment) VALUES ('{{\"en_US\": \"UPS\"}}', true, true);\n"
            ),
            good_mail.clone(),
        ),
        // neutralize itself failing (a script error): exit 1, nothing checked.
        (
            "neutralize",
            format!("{good_base}UPDATE no_such_table SET x = 1;\n"),
            good_mail.clone(),
        ),
    ];
    let mut lines = Vec::new();
    for (check, base_sql, mail_sql) in &cases {
        // Staging as it was: running on its own data, before this attempt.
        let oid = sql(
            cluster,
            "postgres",
            &format!("SELECT oid FROM pg_database WHERE datname = '{}'", s.db),
        );
        let before = digest(cluster, &s.db);
        let files = filestore_digest(s);
        fs::write(&base, base_sql).expect("sabotage base");
        fs::write(&mail, mail_sql).expect("sabotage mail");
        let (code, out, err) = pair.refresh(&[]);
        let after_oid = sql(
            cluster,
            "postgres",
            &format!("SELECT oid FROM pg_database WHERE datname = '{}'", s.db),
        );
        let ok = code == 4
            && err.contains(check)
            && oid == after_oid
            && before == digest(cluster, &s.db)
            && files == filestore_digest(s)
            && !pair.staging_runs()
            && database_names(cluster, &format!("{}-refresh-", s.db)).is_empty();
        lines.push((ok, format!("{check}: exit {code}\n{out}{err}")));
        // Odoo back on staging's own database for the next case.
        let started =
            Command::new(odoo_deploy_fixtures::fixtures_dir().join("odoo-standin/odoo-service"))
                .arg("start")
                .arg(&s.pidfile)
                .arg(s.odoo_bin())
                .arg("-c")
                .arg(s.odoo_conf())
                .status()
                .expect("start");
        assert!(started.success());
    }
    fs::write(&base, good_base).expect("restore base");
    fs::write(&mail, good_mail).expect("restore mail");
    crate::support::report_matrix("refresh fail-closed checks", &lines);
}

#[test]
fn a_source_value_the_anonymisation_leaves_fails_the_refresh() {
    let cluster = PgCluster::shared();
    // No snapshot: the refresh takes a dump of production as it is now, trigger included.
    let pair = Pair::build(cluster, Reach::Local, cluster, Reach::Local, false);
    let s = &pair.staging;
    // A trigger of production's (as a module may install) puts every partner's e-mail back
    // whatever an UPDATE writes: the rewrite reports its rows, only the count sees it.
    cluster
        .psql(
            &pair.production.db,
            "CREATE FUNCTION keep_email() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.email := OLD.email; RETURN NEW; END $$;
             CREATE TRIGGER keep_email BEFORE UPDATE ON res_partner FOR EACH ROW EXECUTE FUNCTION keep_email();",
        )
        .expect("trigger");
    let oid = |c: &PgCluster| {
        sql(
            c,
            "postgres",
            &format!("SELECT oid FROM pg_database WHERE datname = '{}'", s.db),
        )
    };
    let (before, before_oid) = (digest(cluster, &s.db), oid(cluster));
    let files = filestore_digest(s);
    let emails = sql(
        cluster,
        &pair.production.db,
        "SELECT count(*) FROM res_partner WHERE coalesce(email, '') <> ''",
    );
    let (code, out, err) = pair.refresh(&[]);
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(err.contains("the anonymisation did not verify"), "{err}");
    assert!(
        err.contains(&format!(
            "res_partner.email: {emails} row(s) still hold a source value"
        )),
        "{err}"
    );
    // Only the column the trigger kept is counted as left.
    assert!(!err.contains("res_partner.phone:"), "{err}");
    assert_eq!(oid(cluster), before_oid);
    assert_eq!(digest(cluster, &s.db), before, "staging's own data");
    assert_eq!(files, filestore_digest(s));
    assert!(
        !pair.staging_runs(),
        "Odoo stays stopped after a failed refresh"
    );
    assert_eq!(database_names(cluster, &format!("{}-refresh-", s.db)), "");
}

#[test]
fn rollback_after_a_refresh_refuses_and_names_the_backup_to_restore() {
    let cluster = PgCluster::shared();
    let pair = Pair::build(cluster, Reach::Local, cluster, Reach::Local, true);
    let s = &pair.staging;
    // Staging's own data, backed up before the refresh.
    let (code, out, err) = odd_with(
        &pair.config,
        &["backup", "staging", "--kind", "snapshot", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let backup: serde_json::Value = serde_json::from_str(&out).expect("backup json");
    let backup_id = backup[0]["id"].as_str().expect("backup id").to_owned();
    let (code, out, err) = pair.refresh(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let ledger_path = s.deploy_dir.join("ledger.jsonl");
    let ledger = fs::read_to_string(&ledger_path).expect("ledger");
    let last: serde_json::Value =
        serde_json::from_str(ledger.lines().last().expect("a line")).expect("json");
    let refresh_id = last["id"].as_str().expect("id").to_owned();
    let refreshed = digest(cluster, &s.db);

    // The refresh is not a deploy: refused, naming it, its source and the way back.
    let (code, out, err) = odd_with(&pair.config, &["rollback", "staging", "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    // The diagnostic wraps its help at the terminal's width.
    let flat = err.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("{refresh_id} is not a deploy")),
        "{err}"
    );
    assert!(flat.contains("production's data"), "{err}");
    assert!(
        flat.contains(&format!("`odd restore staging {backup_id}`")),
        "{err}"
    );
    let (code, _, err) = odd_with(
        &pair.config,
        &["rollback", "staging", "--code-only", "--yes"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is not a deploy"), "{err}");
    // Nothing changed: the data, Odoo, the ledger.
    assert_eq!(digest(cluster, &s.db), refreshed);
    assert!(pair.staging_runs());
    assert_eq!(fs::read_to_string(&ledger_path).expect("ledger"), ledger);

    // The backup it names brings staging's own data back.
    let (code, _, err) = odd_with(&pair.config, &["restore", "staging", &backup_id, "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        sql(
            cluster,
            &s.db,
            "SELECT count(*) FROM res_partner WHERE email = 'tester@staging.example'"
        ),
        "1"
    );
}
