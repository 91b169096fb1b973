//! The soak run: N deploys in a row of one `fixtures::demo` environment over SSH (a
//! harness sshd and PostgreSQL cluster of its own, the stand-in Odoo), each with at most
//! one fault drawn from a seeded RNG, each recovered with the command odd itself tells the
//! operator, each checked; and the growth of what odd writes on the host, measured after
//! every deploy.
//!
//! Every deploy changes something: a commit on top of v3 of the sample history (the
//! first one from v1 also runs v3's migration scripts) that gives `acme_partner` a new
//! data row (`Soak N`, a grade) and an attachment whose content alternates between two
//! texts, so each good deploy's data and filestore can be checked exactly. (The sample's
//! versions cannot simply alternate: odd refuses a manifest version lower than the
//! installed one.) The failing-update fault deploys v4 instead, whose update fails after
//! acme_helpdesk committed.
//!
//! Used by the `soak` bench binary (N = 100) and by a CLI suite test (a small N).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

// The steps of a deploy, as the journal (and the `ODD_PAUSE_AT` test hook) names them;
// a dump is configured, so `dump` is one: the runbook's own list.
use odoo_deploy_core::runbook::DEPLOY_STEPS as STEPS;

/// Deploys before the retention limits (1 release, 1 snapshot, 1 dump) are reached; the
/// growth check compares what comes after with the first deploys after these.
const WARMUP: usize = 3;

/// How long anything of one deploy may take on a loaded machine before it is a failure.
const LOADED: Duration = Duration::from_secs(300);

/// One deploy's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault.
    None,
    /// The target is v4, whose update fails (an earlier module committed).
    FailingUpdate,
    /// odd gets SIGKILL at the start of the step.
    KillOdd(&'static str),
    /// sshd and every session it started are killed at the start of the step, then sshd
    /// comes back.
    KillSshd(&'static str),
    /// PostgreSQL is stopped (fast) and started again at the start of the step.
    RestartPg(&'static str),
    /// The service's start command starts nothing, once: the deploy's health check never
    /// gets an answer (the rollback's start works).
    HealthNever,
}

impl Fault {
    /// The fault's kind, for the summary.
    pub fn kind(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::FailingUpdate => "failing update",
            Self::KillOdd(_) => "odd killed",
            Self::KillSshd(_) => "sshd killed",
            Self::RestartPg(_) => "PostgreSQL restarted",
            Self::HealthNever => "health never comes",
        }
    }

    fn step(self) -> Option<&'static str> {
        match self {
            Self::KillOdd(s) | Self::KillSshd(s) | Self::RestartPg(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step() {
            Some(step) => write!(f, "{} at {step}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

/// SplitMix64: a small seeded generator, the same sequence for the same seed everywhere.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn fault(&mut self) -> Fault {
        let step = STEPS[self.below(STEPS.len())].name();
        match self.below(6) {
            0 => Fault::None,
            1 => Fault::FailingUpdate,
            2 => Fault::KillOdd(step),
            3 => Fault::KillSshd(step),
            4 => Fault::RestartPg(step),
            _ => Fault::HealthNever,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deploys after the environment's first (v1) deploy.
    pub deploys: usize,
    /// The RNG's seed.
    pub seed: u64,
    /// The `odd` binary.
    pub odd: PathBuf,
}

/// What odd writes on the host, after one deploy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Files and bytes under deploy_dir, without the backups and the ledger.
    pub deploy_dir: (u64, u64),
    /// Files and bytes under the backup directory (dumps).
    pub backups: (u64, u64),
    /// The ledger's bytes (one line per deploy: the history, kept on purpose).
    pub ledger: u64,
    /// Files and bytes under data_dir/filestore (the live filestore and snapshots).
    pub filestores: (u64, u64),
    /// Databases on the cluster (the live one and snapshots).
    pub databases: u64,
}

/// One deploy as the soak saw it.
#[derive(Debug, Clone)]
pub struct DeployResult {
    /// 1-based.
    pub n: usize,
    pub fault: Fault,
    /// What was deployed: `v4` or `soak N` (a commit on v3).
    pub target: String,
    /// `succeeded` or `rolled_back` (the ledger's).
    pub outcome: String,
    /// The ledger's reason, when it did not succeed.
    pub reason: String,
    /// The commands odd told and the soak ran to recover, in order.
    pub recovery: Vec<String>,
    /// Whether the fault struck (a step fault whose step was never reached did not).
    pub struck: bool,
    pub wall: Duration,
    /// What was wrong, if anything.
    pub failures: Vec<String>,
    pub footprint: Footprint,
}

/// The whole run.
#[derive(Debug)]
pub struct Summary {
    pub seed: u64,
    pub results: Vec<DeployResult>,
    pub elapsed: Duration,
    /// Growth past retention, if any (a failure).
    pub growth_failures: Vec<String>,
}

impl Summary {
    /// Every failure found, each with its deploy.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .results
            .iter()
            .flat_map(|r| {
                r.failures
                    .iter()
                    .map(move |f| format!("deploy {} ({}, {}): {f}", r.n, r.fault, r.target))
            })
            .collect();
        out.extend(self.growth_failures.iter().cloned());
        out
    }

    /// Counts of `key(result)`.
    pub fn count(&self, key: impl Fn(&DeployResult) -> String) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in &self.results {
            *m.entry(key(r)).or_insert(0) += 1;
        }
        m
    }

    /// Growth per deploy after the warm-up of each footprint figure, as text.
    pub fn growth(&self) -> String {
        let after: Vec<&Footprint> = self
            .results
            .iter()
            .skip(WARMUP)
            .map(|r| &r.footprint)
            .collect();
        let (Some(first), Some(last)) = (after.first(), after.last()) else {
            return format!("fewer than {} deploys: no growth figure", WARMUP + 1);
        };
        let per = |a: u64, b: u64| {
            let n = (after.len() - 1).max(1) as f64;
            (b as f64 - a as f64) / n
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| after deploy {} → {} | files | bytes | files/deploy | bytes/deploy |",
            WARMUP + 1,
            self.results.len()
        );
        out.push_str("|---|---|---|---|---|\n");
        let row = |out: &mut String, name: &str, a: (u64, u64), b: (u64, u64)| {
            let _ = writeln!(
                out,
                "| {name} | {} → {} | {} → {} | {:+.2} | {:+.0} |",
                a.0,
                b.0,
                a.1,
                b.1,
                per(a.0, b.0),
                per(a.1, b.1)
            );
        };
        row(
            &mut out,
            "deploy_dir (no backups, no ledger)",
            first.deploy_dir,
            last.deploy_dir,
        );
        row(&mut out, "backups (dumps)", first.backups, last.backups);
        row(
            &mut out,
            "filestores (live + snapshots)",
            first.filestores,
            last.filestores,
        );
        row(&mut out, "ledger", (1, first.ledger), (1, last.ledger));
        row(
            &mut out,
            "databases",
            (first.databases, 0),
            (last.databases, 0),
        );
        out
    }
}

/// Files and bytes under `dir`, recursively (symlinks not followed), skipping the paths
/// in `skip`.
fn tree_size(dir: &Path, skip: &[&Path]) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if skip.contains(&path.as_path()) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// A digest of every public table's rows (FNV-1a over their sorted text).
fn db_digest(cluster: &PgCluster, db: &str) -> Result<String, String> {
    let tables = sql(
        cluster,
        db,
        "SELECT string_agg(quote_ident(table_name), ',' ORDER BY table_name) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )?;
    let mut all = String::new();
    for table in tables.split(',') {
        all.push_str(table);
        all.push('\n');
        all.push_str(&sql(
            cluster,
            db,
            &format!(
                "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t"
            ),
        )?);
    }
    Ok(format!(
        "{:x}",
        fnv1a(0xcbf2_9ce4_8422_2325, all.as_bytes())
    ))
}

fn fnv1a(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A digest of the database's filestore: every file's path and content.
fn filestore_digest(demo: &Demo) -> String {
    let base = demo.data_dir.join("filestore").join(&demo.db);
    let mut files = Vec::new();
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(&base)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                files.push((rel, std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files.sort();
    let h = files
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, (name, content)| {
            fnv1a(fnv1a(fnv1a(h, name.as_bytes()), &[0]), content)
        });
    format!("{}:{h:x}", files.len())
}

/// The attachment a soak commit adds, and its two contents (by the commit's parity).
const ATTACHMENT: &str = "custom_addons/acme_partner/standin/attachments/soak.txt";
const CONTENTS: [&str; 2] = ["soak: even\n", "soak: odd\n"];

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=odd soak",
            "-c",
            "user.email=soak@odd.invalid",
        ])
        .args(args)
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn sql(cluster: &PgCluster, db: &str, query: &str) -> Result<String, String> {
    cluster
        .psql(db, query)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("psql {query:?}: {e}"))
}

/// Runs `odd ARGS --config <demo>`: (exit code, stdout, stderr).
fn odd(opts: &Options, demo: &Demo, args: &[&str]) -> (i32, String, String) {
    match Command::new(&opts.odd)
        .args(args)
        .arg("--config")
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .output()
    {
        Ok(out) => (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Err(e) => (-1, String::new(), format!("odd did not run: {e}")),
    }
}

fn status(opts: &Options, demo: &Demo) -> Result<Value, String> {
    let (code, out, err) = odd(opts, demo, &["status", &demo.env, "--json"]);
    if code != 0 {
        return Err(format!("odd status --json exited {code}: {err}"));
    }
    serde_json::from_str(&out).map_err(|e| format!("odd status --json: {e}: {out}"))
}

/// The recovery odd's own `odd status` text tells: the first command in backquotes that
/// recovers a run (`odd deploy ENV --resume`, `odd rollback ENV`), as argv; `None` when
/// it tells none.
pub fn advised_recovery(status_text: &str, env: &str) -> Option<Vec<String>> {
    status_text
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::trim)
        .find(|c| c.starts_with("odd deploy ") || c.starts_with("odd rollback "))
        .map(|c| {
            c.split_whitespace()
                .skip(1)
                .map(|w| {
                    if w == "ENV" {
                        env.to_owned()
                    } else {
                        w.to_owned()
                    }
                })
                .collect()
        })
}

/// `GET /web/login` answers 200.
fn serves(demo: &Demo) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", demo.http_port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    if write!(
        stream,
        "GET /web/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body.starts_with("HTTP/1.1 200") || body.starts_with("HTTP/1.0 200")
}

/// The `'version'` of every custom addon in the checkout, by module name.
fn manifest_versions(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("custom_addons"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let Ok(text) = std::fs::read_to_string(entry.path().join("__manifest__.py")) else {
            continue;
        };
        if let Some(v) = text
            .split("'version':")
            .nth(1)
            .and_then(|rest| rest.split('\'').nth(1))
        {
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                v.to_owned(),
            ));
        }
    }
    out.sort();
    out
}

/// The soak's environment.
struct Env {
    cluster: PgCluster,
    sshd: Sshd,
    demo: Demo,
    /// While it exists, the service's next start starts nothing (and removes it).
    no_start_flag: PathBuf,
    wrapper: PathBuf,
    dir: tempfile::TempDir,
}

impl Env {
    fn build() -> Result<Self, String> {
        let cluster = PgCluster::start().map_err(|e| format!("start PostgreSQL: {e}"))?;
        let sshd = Sshd::start();
        let dir = tempfile::Builder::new()
            .prefix("odd-soak-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let mut demo = Demo::build(&dir.path().join("env"), &cluster, Reach::Ssh(&sshd))
            .map_err(|e| format!("build the demo environment: {e}"))?;
        demo.extend_config(
            "backup = { dump_before_deploy = true, keep_snapshots = 1, keep_dumps = 1 }",
        )
        .map_err(|e| format!("odd.toml: {e}"))?;
        let wrapper = dir.path().join("start-once-not");
        std::fs::write(
            &wrapper,
            "#!/bin/sh\n# The soak's health fault: while the flag file exists, a start starts nothing.\n\
             flag=$1; shift\nif [ -e \"$flag\" ]; then rm -f \"$flag\"; exit 0; fi\nexec \"$@\"\n",
        )
        .and_then(|()| std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("the start wrapper: {e}"))?;
        // In the host's directory, which the ssh login user owns (it removes the flag).
        let no_start_flag = demo
            .deploy_dir
            .parent()
            .unwrap_or(&demo.deploy_dir)
            .join("no-start-once");
        Ok(Self {
            cluster,
            sshd,
            demo,
            no_start_flag,
            wrapper,
            dir,
        })
    }

    /// Checks out `v` and writes the soak's settings into `odd.toml`: retention of one
    /// release, the start wrapper, a shorter health timeout.
    fn checkout(&self, v: usize) -> Result<(), String> {
        self.demo
            .checkout(v)
            .map_err(|e| format!("checkout v{v}: {e}"))?;
        let path = self.demo.config_path();
        let mut text = std::fs::read_to_string(&path).map_err(|e| format!("odd.toml: {e}"))?;
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        for (from, to) in [
            (
                "odoo = { command = [",
                "odoo = { keep_releases = 1, command = [".to_owned(),
            ),
            (
                "start = [",
                format!(
                    "start = [{}, {}, ",
                    q(&self.wrapper),
                    q(&self.no_start_flag)
                ),
            ),
            (
                "health_timeout_secs = 30",
                "health_timeout_secs = 15".to_owned(),
            ),
        ] {
            if !text.contains(from) {
                return Err(format!("{from:?} is not in odd.toml:\n{text}"));
            }
            text = text.replacen(from, &to, 1);
        }
        std::fs::write(&path, text).map_err(|e| format!("odd.toml: {e}"))
    }

    /// Commits soak change `n` on top of `head` (a descendant of v3) and returns its sha.
    fn soak_commit(&self, head: &str, n: usize) -> Result<String, String> {
        self.checkout(3)?;
        let root = self.demo.repo.path();
        git(root, &["checkout", "--quiet", "--detach", head])?;
        let data = root.join("custom_addons/acme_partner/standin/data.sql");
        let mut text = std::fs::read_to_string(&data).map_err(|e| format!("data.sql: {e}"))?;
        text = text
            .lines()
            .filter(|l| !l.contains("'Soak "))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = writeln!(
            text,
            "INSERT INTO acme_partner_grade (name, level, active) SELECT 'Soak {n}', {n}, true \
             WHERE NOT EXISTS (SELECT 1 FROM acme_partner_grade WHERE name = 'Soak {n}');"
        );
        let attachment = root.join(ATTACHMENT);
        std::fs::create_dir_all(attachment.parent().unwrap_or(root))
            .and_then(|()| std::fs::write(&data, text))
            .and_then(|()| std::fs::write(&attachment, CONTENTS[n % 2]))
            .map_err(|e| format!("soak change {n}: {e}"))?;
        git(root, &["add", "-A", "custom_addons"])?;
        git(
            root,
            &["commit", "--quiet", "-m", &format!("soak change {n}")],
        )?;
        git(root, &["rev-parse", "HEAD"])
    }

    /// The content of the soak attachment in the filestore, as Odoo's table names it.
    fn attachment(&self) -> Result<Option<String>, String> {
        let fname = sql(
            &self.cluster,
            &self.demo.db,
            "SELECT coalesce(max(store_fname), '') FROM ir_attachment \
             WHERE name = 'acme_partner/standin/attachments/soak.txt'",
        )?;
        if fname.is_empty() {
            return Ok(None);
        }
        let path = self
            .demo
            .data_dir
            .join("filestore")
            .join(&self.demo.db)
            .join(&fname);
        std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| format!("the attachment's file {}: {e}", path.display()))
    }

    fn backup_dir(&self) -> PathBuf {
        self.demo.deploy_dir.join("backups")
    }

    fn footprint(&self) -> Footprint {
        let d = &self.demo.deploy_dir;
        let backups = self.backup_dir();
        let ledger = d.join(odoo_deploy_core::ledger::LEDGER_FILE);
        Footprint {
            deploy_dir: tree_size(d, &[&backups, &ledger]),
            backups: tree_size(&backups, &[]),
            ledger: std::fs::metadata(&ledger).map_or(0, |m| m.len()),
            filestores: tree_size(&self.demo.data_dir.join("filestore"), &[]),
            databases: sql(
                &self.cluster,
                "postgres",
                "SELECT count(*) FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'",
            )
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        }
    }

    fn migrations(&self) -> Result<u64, String> {
        // The table appears with the first migration script that runs.
        let exists = sql(
            &self.cluster,
            &self.demo.db,
            "SELECT to_regclass('acme_migration_log') IS NOT NULL",
        )?;
        if exists != "t" {
            return Ok(0);
        }
        sql(
            &self.cluster,
            &self.demo.db,
            "SELECT count(*) FROM acme_migration_log",
        )?
        .parse()
        .map_err(|e| format!("a count: {e}"))
    }
}

/// The state before a deploy.
struct Before {
    release: String,
    commit: String,
    latest_id: String,
    db: String,
    files: String,
    migrations: u64,
}

/// Runs the soak; `log` gets a line per deploy.
///
/// # Errors
/// When the environment cannot be built or its first deploy fails (nothing to soak).
pub fn run(opts: &Options, log: &dyn Fn(&str)) -> Result<Summary, String> {
    let started = Instant::now();
    let env = Env::build()?;
    let mut rng = Rng(opts.seed);
    env.checkout(1)?;
    let (code, _, err) = odd(opts, &env.demo, &["deploy", &env.demo.env, "--yes"]);
    if code != 0 {
        return Err(format!("the first deploy (v1) failed ({code}): {err}"));
    }
    // The last soak commit deployed (v3 until one is).
    let mut head = env.demo.repo.sha(3).unwrap_or_default().to_owned();
    let mut on_v3 = false;
    let mut results = Vec::new();
    for n in 1..=opts.deploys {
        let fault = rng.fault();
        let t = Instant::now();
        let (target, sha) = if fault == Fault::FailingUpdate {
            env.checkout(4)?;
            (
                "v4".to_owned(),
                env.demo.repo.sha(4).unwrap_or_default().to_owned(),
            )
        } else {
            (format!("soak {n}"), env.soak_commit(&head, n)?)
        };
        let mut r = DeployResult {
            n,
            fault,
            target,
            outcome: String::new(),
            reason: String::new(),
            recovery: Vec::new(),
            struck: false,
            wall: Duration::ZERO,
            failures: Vec::new(),
            footprint: Footprint::default(),
        };
        let want = Want {
            sha: sha.clone(),
            n,
            migrations: if on_v3 { 0 } else { 2 },
        };
        if let Err(e) = one_deploy(opts, &env, &mut r, &want) {
            r.failures.push(e);
        }
        if r.outcome == "succeeded" {
            head = sha;
            on_v3 = true;
        }
        r.wall = t.elapsed();
        r.footprint = env.footprint();
        log(&format!(
            "soak: deploy {n}/{}: {fault} → {}: {}{}{}{} in {:.1} s{}",
            opts.deploys,
            r.target,
            if r.outcome.is_empty() {
                "?"
            } else {
                &r.outcome
            },
            if r.outcome == "succeeded" {
                String::new()
            } else {
                format!(" ({})", r.reason)
            },
            if r.struck || fault.step().is_none() {
                ""
            } else {
                " (the step was never reached)"
            },
            if r.recovery.is_empty() {
                String::new()
            } else {
                format!(", recovered by `{}`", r.recovery.join("`, `"))
            },
            r.wall.as_secs_f64(),
            if r.failures.is_empty() {
                String::new()
            } else {
                format!("\n  FAILED: {}", r.failures.join("\n  FAILED: "))
            }
        ));
        results.push(r);
    }
    env.demo.stop_odoo();
    let growth_failures = growth_failures(&results);
    let _ = (&env.sshd, &env.dir);
    Ok(Summary {
        seed: opts.seed,
        results,
        elapsed: started.elapsed(),
        growth_failures,
    })
}

/// What grew past retention: after the warm-up, a figure that rises more than a small
/// slack above the highest of the first three deploys after the warm-up — at any deploy,
/// so a run of failed deploys that piles up backups is caught too — grows with the
/// number of deploys.
fn growth_failures(results: &[DeployResult]) -> Vec<String> {
    let after: Vec<&Footprint> = results.iter().skip(WARMUP).map(|r| &r.footprint).collect();
    if after.is_empty() {
        return Vec::new();
    }
    let early = &after[..after.len().min(3)];
    let mut out = Vec::new();
    let mut check = |name: &str, slack: u64, f: &dyn Fn(&Footprint) -> (u64, u64)| {
        let max_files = early.iter().map(|p| f(p).0).max().unwrap_or(0);
        let max_bytes = early.iter().map(|p| f(p).1).max().unwrap_or(0);
        // A killed run may leave a file or two until its release is pruned, and a failed
        // release is kept beside the current and previous ones for a while (a bounded
        // rise of one release, a third of deploy_dir's files): half again as many files
        // or bytes as early on is a bump; growth with the number of deploys passes that.
        let over = after.iter().enumerate().find(|(_, p)| {
            let (files, bytes) = f(p);
            files > max_files + slack.max(max_files / 2)
                || bytes > max_bytes.saturating_mul(3) / 2 + 256 * 1024
        });
        if let Some((i, p)) = over {
            let (files, bytes) = f(p);
            out.push(format!(
                "{name} grows past retention: {max_files} files, {max_bytes} bytes after deploy {} → {files} files, {bytes} bytes after deploy {}",
                WARMUP + early.len(),
                WARMUP + i + 1
            ));
        }
    };
    check("deploy_dir", 4, &|p| p.deploy_dir);
    check("the backup directory", 4, &|p| p.backups);
    check("the filestores", 4, &|p| p.filestores);
    check("the databases", 1, &|p| (p.databases, 0));
    out
}

/// Waits for a child to end, up to `LOADED`.
fn wait(child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + LOADED;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("odd did not end in {} s", LOADED.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for odd: {e}")),
        }
    }
}

/// What a good deploy must leave.
struct Want {
    /// The commit deployed.
    sha: String,
    /// The soak change's number (its grade row, its attachment's content).
    n: usize,
    /// Migration scripts a good update runs (v3's two, once, from v1).
    migrations: u64,
}

#[allow(clippy::too_many_lines)] // the runbook of one soak deploy, read top to bottom
fn one_deploy(opts: &Options, env: &Env, r: &mut DeployResult, want: &Want) -> Result<(), String> {
    let demo = &env.demo;
    let s = status(opts, demo)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    // (The commit to deploy is checked out.)
    let before = Before {
        release: text(&s["release"]),
        commit: text(&s["current"]["commit"]),
        latest_id: text(&s["latest"]["id"]),
        db: db_digest(&env.cluster, &demo.db)?,
        files: filestore_digest(demo),
        migrations: env.migrations()?,
    };
    if r.fault == Fault::HealthNever {
        std::fs::write(&env.no_start_flag, b"").map_err(|e| format!("the flag: {e}"))?;
    }
    let work = env.dir.path().join(format!("deploy-{}", r.n));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let pause = work.join("pause");
    let reached = work.join("pause.reached");
    let out_path = work.join("deploy.out");
    let err_path = work.join("deploy.err");
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut cmd = Command::new(&opts.odd);
    cmd.args(["deploy", &demo.env, "--yes", "--json", "--config"])
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?);
    if let Some(step) = r.fault.step() {
        cmd.env("ODD_PAUSE_AT", step).env("ODD_PAUSE_FILE", &pause);
    }
    let mut child = cmd.spawn().map_err(|e| format!("odd did not run: {e}"))?;
    let mut killed = false;
    if r.fault.step().is_some() {
        let deadline = Instant::now() + LOADED;
        while !reached.exists() {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "the paused step never began in {} s",
                    LOADED.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if reached.exists() {
            r.struck = true;
            match r.fault {
                Fault::KillOdd(_) => {
                    child.kill().map_err(|e| format!("SIGKILL: {e}"))?;
                    let _ = child.wait();
                    killed = true;
                }
                Fault::KillSshd(_) => env.sshd.restart(),
                Fault::RestartPg(_) => {
                    env.cluster.stop().map_err(|e| format!("pg stop: {e}"))?;
                    env.cluster
                        .restart()
                        .map_err(|e| format!("pg start: {e}"))?;
                }
                _ => {}
            }
            std::fs::write(&pause, b"").map_err(|e| format!("release the pause: {e}"))?;
        }
    } else {
        r.struck = true;
    }
    if !killed {
        wait(&mut child)?;
    }
    let deploy_err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let deploy_out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let said_outcome = deploy_out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "finished")
        .map(|e| text(&e["report"]["outcome"]));
    let mut fail = |what: String| r.failures.push(what);
    if r.fault.step().is_some() && !r.struck && said_outcome.is_none() {
        fail(format!(
            "odd ended before the step, with no outcome:\n{}",
            deploy_err.trim_end()
        ));
    }
    if env.no_start_flag.exists() {
        let _ = std::fs::remove_file(&env.no_start_flag);
        fail("the health fault never struck: odd never started Odoo".to_owned());
    }

    // Recovery: whatever `odd status` tells, until it tells nothing more (at most 3).
    for _ in 0..3 {
        let (code, said, err) = odd(opts, demo, &["status", &demo.env]);
        if code != 0 {
            return Err(format!("odd status exited {code}: {err}"));
        }
        let Some(mut argv) = advised_recovery(&said, &demo.env) else {
            break;
        };
        argv.push("--yes".to_owned());
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (code, _, err) = odd(opts, demo, &args);
        let line = format!("odd {}", argv.join(" "));
        // `--resume` exits 4 when it had to roll back (restored and verified): the deploy
        // did not happen, and that is the safe outcome.
        if !(code == 0 || (code == 4 && argv[0] == "deploy")) {
            r.failures.push(format!("`{line}` exited {code}: {err}"));
        }
        r.recovery.push(line);
    }
    let mut fail = |what: String| r.failures.push(what);

    // The checks.
    let s = status(opts, demo)?;
    if s["lock"]["state"] != "free" {
        fail(format!("a lock is left: {}", s["lock"]));
    }
    if !s["interrupted"].is_null() || !s["interrupted_rollback"].is_null() {
        fail(format!(
            "odd status still shows an unfinished run: {} {}",
            s["interrupted"], s["interrupted_rollback"]
        ));
    }
    let latest = &s["latest"];
    let outcome = text(&latest["outcome"]);
    r.outcome.clone_from(&outcome);
    r.reason = text(&latest["reason"]);
    let target_sha = want.sha.as_str();
    if text(&latest["id"]) == before.latest_id {
        fail("the ledger has no record of this deploy".to_owned());
    }
    if text(&latest["commit"]) != target_sha {
        fail(format!(
            "the ledger's last record is of commit {}",
            latest["commit"]
        ));
    }
    let expected: &[&str] = match r.fault {
        Fault::None => &["succeeded"],
        Fault::FailingUpdate | Fault::HealthNever => &["rolled_back"],
        _ => &["succeeded", "rolled_back"],
    };
    if !expected.contains(&outcome.as_str()) {
        fail(format!(
            "the ledger says {outcome} ({}), expected {}\n{deploy_err}",
            latest["reason"],
            expected.join(" or ")
        ));
    }
    if let Some(said) = &said_outcome
        && r.recovery.is_empty()
        && *said != outcome
    {
        fail(format!("odd said {said}, its ledger says {outcome}"));
    }
    match latest["downtime_ms"].as_u64() {
        Some(ms) if ms > 0 => {}
        _ => fail(format!("no downtime recorded: {}", latest["downtime_ms"])),
    }
    if !serves(demo) {
        fail("Odoo does not answer 200 on /web/login".to_owned());
    }
    // The advisory lock's holder ends with its run.
    let holders = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'odd-lock-%'";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = sql(&env.cluster, &demo.db, holders)?;
        if left == "0" {
            break;
        }
        if Instant::now() > deadline {
            fail(format!(
                "{left} update-lock holder sessions outlived their run"
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let migrations = env.migrations()?;
    if outcome == "succeeded" {
        if text(&s["current"]["commit"]) != target_sha || s["release"] != latest["id"] {
            fail(format!(
                "succeeded, but the current release is {} (commit {})",
                s["release"], s["current"]["commit"]
            ));
        }
        for (module, version) in manifest_versions(demo.repo.path()) {
            let got = sql(
                &env.cluster,
                &demo.db,
                &format!(
                    "SELECT state || '|' || coalesce(latest_version, '') FROM ir_module_module WHERE name = '{module}'"
                ),
            )?;
            let ok = got
                .strip_prefix("installed|")
                .is_some_and(|l| l == version || l.ends_with(&format!(".{version}")));
            if !ok && module != "acme_legacy" {
                fail(format!("{module}: {got} (manifest {version})"));
            }
        }
        if migrations != before.migrations + want.migrations {
            fail(format!(
                "{} migration scripts ran, expected {}",
                migrations.saturating_sub(before.migrations),
                want.migrations
            ));
        }
        let grade = sql(
            &env.cluster,
            &demo.db,
            &format!(
                "SELECT count(*) FROM acme_partner_grade WHERE name = 'Soak {}'",
                want.n
            ),
        )?;
        if grade != "1" {
            fail(format!(
                "{grade} grade rows of soak change {} (expected 1)",
                want.n
            ));
        }
        let content = env.attachment()?;
        if content.as_deref() != Some(CONTENTS[want.n % 2]) {
            fail(format!(
                "the soak attachment in the filestore is {content:?}"
            ));
        }
    } else {
        if s["release"] != before.release.as_str() || text(&s["current"]["commit"]) != before.commit
        {
            fail(format!(
                "{outcome}, but the current release is {} (commit {}), was {}",
                s["release"], s["current"]["commit"], before.release
            ));
        }
        if db_digest(&env.cluster, &demo.db)? != before.db {
            fail("the database is not the pre-deploy one".to_owned());
        }
        if filestore_digest(demo) != before.files {
            fail("the filestore is not the pre-deploy one".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_is_read_from_odd_status() {
        let said = "demo on host\n  INTERRUPTED: deploy X stopped during update\n  `odd deploy demo --resume` takes it forward; `odd rollback demo` brings it back\n";
        assert_eq!(
            advised_recovery(said, "demo"),
            Some(vec!["deploy".into(), "demo".into(), "--resume".into()])
        );
        let said = "  lock: STALE: held by a (pid 1) since t (why); `odd deploy ENV --resume` or `odd rollback ENV` recovers the run, `odd unlock` only releases the lock";
        assert_eq!(
            advised_recovery(said, "demo"),
            Some(vec!["deploy".into(), "demo".into(), "--resume".into()])
        );
        let said = "  INTERRUPTED: an `odd rollback` of X stopped\n  `odd rollback demo` finishes it, verified\n";
        assert_eq!(
            advised_recovery(said, "demo"),
            Some(vec!["rollback".into(), "demo".into()])
        );
        assert_eq!(advised_recovery("  lock: free\n", "demo"), None);
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let draw = |seed| {
            let mut rng = Rng(seed);
            (0..20).map(|_| rng.fault()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
