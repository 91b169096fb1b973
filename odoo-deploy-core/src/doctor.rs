//! `odd doctor ENV`: every precondition of a deploy, checked on the real host, one line
//! each with what to do about a failure. Nothing is changed there.
//!
//! A check whose premise failed (the database when `psql` is missing) is skipped rather
//! than failed, so that one fault is named once.
//!
//! The host's Odoo configuration file, when odd.toml names it, is read first: its
//! database settings apply to the checks after it (`from_odoo_config`), and its
//! `addons_path`, `data_dir`, `logfile` and `db_user` are checked against odd.toml's.
//!
//! Not checked yet: whether the database server's own disk holds a template copy (its
//! data directory is often on another machine).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::backup::commands::MAINTENANCE_DB;
use crate::command::RemoteCommand;
use crate::service::Service;
use crate::startup_log::{LogMark, StartupLog};
use crate::target::Target;
use crate::transport::Transport;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It holds.
    Ok,
    /// It does not hold: the deploy would fail on it.
    Fail,
    /// Not checked: what it needs failed in an earlier check.
    Skip,
}

/// One precondition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked (`host`, `odoo`, …).
    pub name: &'static str,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found, in a sentence.
    pub detail: String,
    /// What to do when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            verdict: Verdict::Skip,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// Every check of one environment.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The environment checked.
    pub environment: String,
    /// The host it runs on (`local` for the local transport).
    pub host: String,
    /// Whether no check failed (skipped checks do not fail).
    pub passed: bool,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    fn new(t: &Target, checks: Vec<Check>) -> Self {
        Self {
            environment: t.environment.clone(),
            host: t.host.clone(),
            passed: checks.iter().all(|c| c.verdict != Verdict::Fail),
            checks,
        }
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Fail)
    }

    /// One line a check, `fix:` under a failure, and a total.
    pub fn render_text(&self) -> String {
        let mut out = format!("odd doctor {} on {}\n", self.environment, self.host);
        for c in &self.checks {
            let mark = match c.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "skip",
            };
            let _ = writeln!(out, "  [{mark}] {:<10} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "         {:<10} fix: {fix}", "");
            }
        }
        let failed = self.failures().count();
        if failed == 0 {
            out.push_str("\nReady: every check passed.\n");
        } else {
            let _ = writeln!(out, "\n{failed} check(s) failed.");
        }
        out
    }
}

impl Report {
    /// The same report with `more` checks after its own (a fleet's other hosts).
    #[must_use]
    pub fn with(mut self, more: Vec<Check>) -> Self {
        self.checks.extend(more);
        self.passed = self.checks.iter().all(|c| c.verdict != Verdict::Fail);
        self
    }
}

/// In a fleet, a line for each other host: reached over SSH (or why not), and its
/// `data_dir` and `deploy_dir` there.
pub async fn fleet(
    members: &[crate::fleet::Member],
    unreachable: &[(String, String)],
) -> Vec<Check> {
    let mut checks: Vec<Check> = unreachable
        .iter()
        .map(|(label, why)| {
            Check::fail(
                "fleet host",
                format!("cannot reach {label}: {why}"),
                "check its [[hosts]] table (address, port, user, identity_file) and that its key is in known_hosts: a deploy refuses while a host does not answer",
            )
        })
        .collect();
    let found = crate::fleet::join_all(
        members
            .iter()
            .map(|m| async move {
                let h = &m.host;
                let dirs = RemoteCommand::new("test")
                    .arg("-d")
                    .arg(&h.data_dir)
                    .arg("-a")
                    .arg("-d")
                    .arg(&h.layout.deploy_dir);
                match m.transport.output(&dirs).await {
                    Ok(out) if out.status.success() => Check::ok(
                        "fleet host",
                        format!(
                            "{} ({}) reachable over SSH; data_dir {} and deploy_dir {} there",
                            h.label(),
                            h.roles_text(),
                            h.data_dir.display(),
                            h.layout.deploy_dir.display()
                        ),
                    ),
                    Ok(_) => Check::fail(
                        "fleet host",
                        format!(
                            "{}: data_dir {} or deploy_dir {} is not a folder there",
                            h.label(),
                            h.data_dir.display(),
                            h.layout.deploy_dir.display()
                        ),
                        "mount the shared data_dir on it and create deploy_dir (mode 700) for the user odd logs in as",
                    ),
                    Err(e) => Check::fail(
                        "fleet host",
                        format!("{}: {e}", h.label()),
                        "check that the host answers over SSH",
                    ),
                }
            })
            .collect(),
    )
    .await;
    checks.extend(found);
    checks
}

/// The report when the host could not be reached: that line, the rest skipped.
pub fn unreachable(t: &Target, reason: &str) -> Report {
    let mut checks = vec![Check::fail(
        "host",
        format!("cannot reach {}: {reason}", t.host),
        "check `host` (address, port, user, identity_file) and that its key is in known_hosts: `ssh USER@HOST true` must work without a prompt",
    )];
    checks.extend(
        NAMES[1..]
            .iter()
            .map(|n| Check::skip(n, "not checked: the host is unreachable")),
    );
    Report::new(t, checks)
}

const NAMES: [&str; 14] = [
    "host",
    "odoo",
    "odoo conf",
    "pg tools",
    "database",
    "role",
    "data_dir",
    "hardlinks",
    "disk",
    "service",
    "health",
    "log",
    "deploy_dir",
    "private",
];

/// Runs every check on the host `transport` reaches.
pub async fn run(t: &Target, transport: &dyn Transport) -> Report {
    let mut checks = Vec::new();
    let host = transport.output(&RemoteCommand::new("true")).await;
    match host {
        Ok(out) if out.status.success() => checks.push(Check::ok(
            "host",
            match t.transport {
                crate::config::TransportKind::Local => {
                    "local: commands run on this machine".to_owned()
                }
                crate::config::TransportKind::Ssh => {
                    format!(
                        "{} reachable over SSH, its host key known",
                        transport.host()
                    )
                }
            },
        )),
        Ok(_) | Err(_) => {
            let reason = match host {
                Err(e) => e.to_string(),
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            };
            return unreachable(t, &reason);
        }
    }
    checks.push(odoo(t, transport).await);
    // What the host's Odoo config says (the database settings with `from_odoo_config`)
    // applies to every check after this one.
    let mut prepared = t.clone();
    checks.push(odoo_conf(&mut prepared, transport).await);
    let t = &prepared;
    let (tools, server) = pg_tools(t, transport).await;
    checks.push(tools);
    let db = database(t, transport, server.as_ref()).await;
    let db_exists = db.1;
    checks.push(db.0);
    checks.push(role(t));
    let (data_dir, filestore) = data_dir(t, transport, db_exists).await;
    checks.push(data_dir);
    checks.push(hardlinks(t, transport, filestore.as_deref()).await);
    checks.push(disk(t, transport, db_exists, filestore.as_deref()).await);
    checks.push(service(t, transport).await);
    checks.push(health(t).await);
    checks.push(log(t, transport).await);
    checks.push(deploy_dir(t, transport).await);
    checks.push(private(t, transport).await);
    Report::new(t, checks)
}

/// `(exit code, stdout, first stderr line)` of a command; an error to run it counts as
/// exit 127 with its message.
async fn run_cmd(transport: &dyn Transport, cmd: &RemoteCommand) -> (i32, String, String) {
    match transport.output(cmd).await {
        Ok(out) => (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned(),
        ),
        Err(e) => (127, String::new(), e.to_string()),
    }
}

/// The series an `odoo-bin --version` line names: `Odoo Server 17.0-20240709` → 17.0,
/// `Odoo Server 18.0+e-20241005` → 18.0, `Odoo Server saas~17.4+e-…` → 17.4.
pub fn parse_odoo_version(output: &str) -> Option<String> {
    let line = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Odoo Server "))?;
    let rest = line.trim().strip_prefix("saas~").unwrap_or(line.trim());
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = number.split('.').filter(|p| !p.is_empty());
    let (major, minor) = (parts.next()?, parts.next()?);
    Some(format!("{major}.{minor}"))
}

async fn odoo(t: &Target, transport: &dyn Transport) -> Check {
    let Some((program, args)) = t.odoo.command.split_first() else {
        return Check::fail("odoo", "no odoo command", "set `command` in [odoo]");
    };
    let cmd = RemoteCommand::new(program).args(args).arg("--version");
    let shown = format!("{} --version", t.odoo.command.join(" "));
    let (code, stdout, stderr) = run_cmd(transport, &cmd).await;
    if code != 0 {
        return Check::fail(
            "odoo",
            format!("`{shown}` failed (exit {code}): {stderr}"),
            format!(
                "set `command` in [environments.{}.odoo] to the argv that runs odoo-bin on the host",
                t.environment
            ),
        );
    }
    match parse_odoo_version(&stdout) {
        Some(series) if series == t.series => Check::ok(
            "odoo",
            format!("{} (series {series}, as the project's)", stdout.trim()),
        ),
        Some(series) => Check::fail(
            "odoo",
            format!(
                "the host runs Odoo {series} (`{}`), the project is written for {}",
                stdout.trim(),
                t.series
            ),
            "point `command` at the Odoo of the project's series, or fix `series` in [project]",
        ),
        None => Check::fail(
            "odoo",
            format!(
                "`{shown}` printed no `Odoo Server` version: {}",
                stdout.trim()
            ),
            "check that `command` runs odoo-bin",
        ),
    }
}

/// The host's Odoo config file against odd.toml: the addons path the running server
/// loads names the release through `<deploy_dir>/current` (and the host folders odd.toml
/// lists), its `data_dir` is odd.toml's (the filestore odd snapshots is the one Odoo
/// writes), and its `logfile` is the log odd reads through startup.
async fn odoo_conf(t: &mut Target, transport: &dyn Transport) -> Check {
    const NAME: &str = "odoo conf";
    let used = t.installation.read_host && t.installation.use_odoo_config;
    let Some(path) = t.odoo.config.clone() else {
        return Check::skip(
            NAME,
            "not checked: odd.toml names no Odoo config file (`config` in [odoo])",
        );
    };
    if !used && !t.installation.db_from_odoo_config {
        return Check::skip(
            NAME,
            format!(
                "not checked: odd.toml does not use {} (`use_odoo_config = false`)",
                path.display()
            ),
        );
    }
    let fix_conf = format!(
        "make {} and [environments.{}] agree (README: \"Setting up a server for odd\")",
        path.display(),
        t.environment
    );
    if let Err(e) = t.prepare(transport).await {
        return Check::fail(NAME, e.to_string(), fix_conf);
    }
    let mut problems = t.installation_problems.clone();
    if let Some(conf) = t.odoo_conf.as_ref().filter(|_| used) {
        let logfile = conf.get("logfile").map(PathBuf::from);
        match (&logfile, &t.odoo_log) {
            (Some(theirs), Some(ours)) if theirs != ours => problems.push(format!(
                "logfile in {} is {}, odd.toml's log_file is {}: odd would read another log than Odoo writes",
                path.display(),
                theirs.display(),
                ours.display()
            )),
            (Some(theirs), None) => problems.push(format!(
                "Odoo writes its log to {} (logfile in {}), odd.toml sets no log_file: the startup log odd reads would not hold Odoo's lines",
                theirs.display(),
                path.display()
            )),
            _ => {}
        }
    }
    if problems.is_empty() {
        Check::ok(
            NAME,
            format!(
                "{}: addons_path names the release through {}, data_dir and logfile as odd.toml's",
                path.display(),
                t.layout.current().display()
            ),
        )
    } else {
        Check::fail(NAME, problems.join("; "), fix_conf)
    }
}

/// The PostgreSQL role Odoo uses is not `postgres`: Odoo refuses to run as it
/// (`Using the database user 'postgres' is a security risk, aborting.`). The role is the
/// host config's `db_user` when it names one (what the running server uses), else
/// odd.toml's database user.
fn role(t: &Target) -> Check {
    const NAME: &str = "role";
    let (role, from) = match t
        .odoo_conf
        .as_ref()
        .and_then(|c| c.db_user().map(|u| (u, c)))
    {
        Some((user, conf)) => (
            Some(user.to_owned()),
            format!("db_user in {}", conf.path.display()),
        ),
        None => (t.db.user.clone(), "odd.toml's database user".to_owned()),
    };
    match role.as_deref() {
        Some("postgres") => Check::fail(
            NAME,
            format!("Odoo would connect as `postgres` ({from}): Odoo refuses the superuser role"),
            "create a role for Odoo (`createuser --createdb odoo`), own its databases by it, and set db_user to it",
        ),
        Some(r) => Check::ok(
            NAME,
            format!("Odoo connects as `{r}` ({from}), not `postgres`"),
        ),
        None => Check::ok(
            NAME,
            "no role named: PostgreSQL's default, the login user's name (not `postgres`)",
        ),
    }
}

/// The major version in `psql (PostgreSQL) 15.10 (Debian …)`.
pub fn parse_pg_client_version(output: &str) -> Option<u32> {
    let rest = output.split("(PostgreSQL) ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The server's version as psql reads it: its major, or why it could not be read.
type ServerVersion = Result<u32, String>;

/// The client tools' presence and versions against the server's. `None` as the second
/// value when a tool is missing (nothing else can be asked of the server).
async fn pg_tools(t: &Target, transport: &dyn Transport) -> (Check, Option<ServerVersion>) {
    const NAME: &str = "pg tools";
    let fix_bin = "install the PostgreSQL client of the server's version (or newer) on the host, or set `pg_bin_dir` in [database]";
    let mut versions = Vec::new();
    for program in ["psql", "pg_dump", "pg_restore"] {
        let (code, stdout, stderr) = run_cmd(transport, &t.pg.client_version(program)).await;
        match parse_pg_client_version(&stdout) {
            Some(v) if code == 0 => versions.push((program, v)),
            _ => {
                return (
                    Check::fail(
                        NAME,
                        format!("`{program} --version` failed (exit {code}): {stderr}"),
                        fix_bin,
                    ),
                    None,
                );
            }
        }
    }
    let (code, stdout, stderr) = run_cmd(
        transport,
        &t.pg
            .psql(&t.db, MAINTENANCE_DB, &[], "SHOW server_version_num;\n"),
    )
    .await;
    let list: Vec<String> = versions.iter().map(|(p, v)| format!("{p} {v}")).collect();
    let server = match stdout.trim().parse::<u32>() {
        Ok(n) if code == 0 => n / 10000,
        _ => {
            return (
                Check::ok(
                    NAME,
                    format!(
                        "{} (the server's version is unknown: see database)",
                        list.join(", ")
                    ),
                ),
                Some(Err(format!("exit {code}: {stderr}"))),
            );
        }
    };
    let old: Vec<String> = versions
        .iter()
        .filter(|(_, v)| *v < server)
        .map(|(p, v)| format!("{p} {v}"))
        .collect();
    let check = if old.is_empty() {
        Check::ok(NAME, format!("{}; server {server}", list.join(", ")))
    } else {
        Check::fail(
            NAME,
            format!(
                "older than the server ({server}): {} — a dump would fail",
                old.join(", ")
            ),
            fix_bin,
        )
    };
    (check, Some(Ok(server)))
}

/// The database (or the first install that will create it); the second value says
/// whether it exists. (A `postgres` role is refused when odd.toml is read.)
async fn database(
    t: &Target,
    transport: &dyn Transport,
    server: Option<&ServerVersion>,
) -> (Check, bool) {
    const NAME: &str = "database";
    match server {
        None => {
            return (
                Check::skip(NAME, "not checked: the PostgreSQL client tools are missing"),
                false,
            );
        }
        Some(Err(reason)) => {
            return (
                Check::fail(
                    NAME,
                    format!("cannot connect to PostgreSQL ({reason})"),
                    format!(
                        "check host, port, user and the password of [environments.{}.database]",
                        t.environment
                    ),
                ),
                false,
            );
        }
        Some(Ok(_)) => {}
    }
    let (code, stdout, stderr) =
        run_cmd(transport, &crate::state::exists_command(&t.pg, &t.db)).await;
    match (code, stdout.trim()) {
        (0, "t") => (Check::ok(NAME, format!("{} exists", t.db.name)), true),
        (0, _) => (
            Check::ok(
                NAME,
                format!(
                    "{} does not exist yet: the first deploy creates it",
                    t.db.name
                ),
            ),
            false,
        ),
        _ => (
            Check::fail(
                NAME,
                format!("cannot read the database list (exit {code}): {stderr}"),
                "give the role the right to connect to the maintenance database `postgres`",
            ),
            false,
        ),
    }
}

async fn test(transport: &dyn Transport, flag: &str, path: &Path) -> bool {
    let cmd = RemoteCommand::new("test").arg(flag).arg(path);
    matches!(transport.output(&cmd).await, Ok(out) if out.status.success())
}

async fn writable_dir(transport: &dyn Transport, path: &Path) -> bool {
    test(transport, "-d", path).await && test(transport, "-w", path).await
}

/// data_dir and the database's filestore (when the database exists); the filestore's
/// path when it is there.
async fn data_dir(
    t: &Target,
    transport: &dyn Transport,
    db_exists: bool,
) -> (Check, Option<PathBuf>) {
    const NAME: &str = "data_dir";
    let dir = &t.data_dir;
    if !writable_dir(transport, dir).await {
        return (
            Check::fail(
                NAME,
                format!("{} is not a directory odd can write", dir.display()),
                format!(
                    "set `data_dir` in [environments.{}.odoo] to Odoo's data_dir, writable by this user",
                    t.environment
                ),
            ),
            None,
        );
    }
    let filestore = dir.join("filestore").join(&t.db.name);
    if !test(transport, "-d", &filestore).await {
        let detail = if db_exists {
            format!(
                "{} is writable; {} does not exist (no attachment yet, or another data_dir)",
                dir.display(),
                filestore.display()
            )
        } else {
            format!(
                "{} is writable; the filestore comes with the first install",
                dir.display()
            )
        };
        return (Check::ok(NAME, detail), None);
    }
    if !test(transport, "-w", &filestore).await {
        return (
            Check::fail(
                NAME,
                format!("the filestore {} is not writable", filestore.display()),
                "make the filestore writable by the user odd logs in as (Odoo's user, or its group)",
            ),
            None,
        );
    }
    (
        Check::ok(
            NAME,
            format!("{} and its filestore are writable", dir.display()),
        ),
        Some(filestore),
    )
}

async fn device(transport: &dyn Transport, path: &Path) -> Option<String> {
    let cmd = RemoteCommand::new("stat")
        .arg("-c")
        .arg("%d")
        .arg("--")
        .arg(path);
    let (code, stdout, _) = run_cmd(transport, &cmd).await;
    (code == 0).then(|| stdout.trim().to_owned())
}

/// A snapshot's filestore is a hard-link copy next to the filestore: one filesystem.
async fn hardlinks(t: &Target, transport: &dyn Transport, filestore: Option<&Path>) -> Check {
    const NAME: &str = "hardlinks";
    let Some(filestore) = filestore else {
        return Check::skip(NAME, "not checked: no filestore yet");
    };
    let parent = t.data_dir.join("filestore");
    match (
        device(transport, filestore).await,
        device(transport, &parent).await,
    ) {
        (Some(a), Some(b)) if a == b => Check::ok(
            NAME,
            format!(
                "snapshots of the filestore go to {} (same filesystem)",
                parent.display()
            ),
        ),
        (Some(_), Some(_)) => Check::fail(
            NAME,
            format!(
                "{} is a mount of its own: a snapshot's hard links to it cannot be made in {}",
                filestore.display(),
                parent.display()
            ),
            "mount the whole filestore directory (data_dir/filestore), not one database's",
        ),
        _ => Check::fail(
            NAME,
            format!("cannot stat {}", filestore.display()),
            "check the filestore's permissions",
        ),
    }
}

/// Free space where the dump goes for the database plus its filestore (an upper bound
/// of a dump); the template copy's room on the database server is not checked.
async fn disk(
    t: &Target,
    transport: &dyn Transport,
    db_exists: bool,
    filestore: Option<&Path>,
) -> Check {
    const NAME: &str = "disk";
    let db_size = if db_exists {
        let (code, stdout, _) = run_cmd(transport, &t.pg.db_size(&t.db, &t.db.name)).await;
        if code == 0 {
            stdout.trim().parse::<u64>().unwrap_or(0)
        } else {
            0
        }
    } else {
        0
    };
    let files = match filestore {
        Some(dir) => {
            let cmd = RemoteCommand::new("du").arg("-sk").arg("--").arg(dir);
            let (code, stdout, _) = run_cmd(transport, &cmd).await;
            let kib: u64 = stdout
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|_| code == 0)
                .unwrap_or(0);
            kib * 1024
        }
        None => 0,
    };
    let mut at = t.backup_dir.clone();
    while !test(transport, "-d", &at).await {
        match at.parent() {
            Some(p) => at = p.to_owned(),
            None => break,
        }
    }
    let need = db_size + files;
    match transport.free_disk(&at).await {
        Ok(free) if free > need => Check::ok(
            NAME,
            format!(
                "{} free at {} for a dump of about {} (database + filestore)",
                mib(free),
                at.display(),
                mib(need)
            ),
        ),
        Ok(free) => Check::fail(
            NAME,
            format!(
                "{} free at {}, a dump needs up to {}",
                mib(free),
                at.display(),
                mib(need)
            ),
            "free disk space there, or set `dir` in [backup] to a larger disk",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("cannot read the free space at {}: {e}", at.display()),
            "check that `df` runs on the host",
        ),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

async fn service(t: &Target, transport: &dyn Transport) -> Check {
    const NAME: &str = "service";
    let status = t.service.status();
    let shown = status.display_redacted();
    let (code, _, stderr) = run_cmd(transport, &status).await;
    let no_unit = matches!(t.service, Service::Systemd { .. }) && code == 4;
    match code {
        0 => Check::ok(NAME, format!("`{shown}`: Odoo runs")),
        126 | 127 => Check::fail(
            NAME,
            format!("`{shown}` cannot run (exit {code}): {stderr}"),
            format!(
                "fix the [environments.{}.service] commands for the host",
                t.environment
            ),
        ),
        _ if no_unit => Check::fail(
            NAME,
            format!("`{shown}`: no such unit"),
            "set `unit` in [service] to Odoo's systemd unit",
        ),
        _ => Check::ok(
            NAME,
            format!("`{shown}` answers: Odoo is not running (exit {code})"),
        ),
    }
}

async fn health(t: &Target) -> Check {
    const NAME: &str = "health";
    let url = format!("{}{}", t.base_url.trim_end_matches('/'), t.health_path);
    let result = match crate::http::OdooHttp::new(&t.base_url, Duration::from_secs(5)) {
        Ok(http) => http
            .wait_healthy(
                &t.health_path,
                Duration::from_secs(5),
                Duration::from_millis(250),
            )
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Check::ok(NAME, format!("GET {url}: 200")),
        Err(e) => Check::fail(
            NAME,
            format!("GET {url}: {e}"),
            format!(
                "start Odoo, or set `base_url`/`health_path` in [environments.{}.http] to where it answers",
                t.environment
            ),
        ),
    }
}

async fn log(t: &Target, transport: &dyn Transport) -> Check {
    const NAME: &str = "log";
    let Some(source) = &t.startup_log else {
        return Check::fail(
            NAME,
            "no source of Odoo's startup log",
            format!(
                "set `log_file` in [environments.{env}.odoo] or `logs` in [environments.{env}.service]",
                env = t.environment
            ),
        );
    };
    let probe = match source {
        StartupLog::File { path } => RemoteCommand::new("test").arg("-r").arg(path),
        StartupLog::Journal { .. } | StartupLog::Compose { .. } => {
            source.read_command(LogMark::Since(crate::clock::now_unix()))
        }
        StartupLog::Command { .. } => source.mark_command(),
    };
    let (code, _, stderr) = run_cmd(transport, &probe).await;
    if code == 0 {
        return Check::ok(NAME, format!("{} is readable", source.describe()));
    }
    let fix = match (source, &t.service) {
        (StartupLog::File { .. }, _) => {
            "set `log_file` to the `logfile` of Odoo's config, readable by this user".to_owned()
        }
        (StartupLog::Journal { .. }, Service::Systemd { .. }) => {
            "add the user odd logs in as to the `systemd-journal` group".to_owned()
        }
        _ => format!(
            "fix `logs` in [environments.{}.service] (or set `log_file`)",
            t.environment
        ),
    };
    Check::fail(
        NAME,
        format!(
            "{} cannot be read (exit {code}): {stderr}",
            source.describe()
        ),
        fix,
    )
}

async fn deploy_dir(t: &Target, transport: &dyn Transport) -> Check {
    const NAME: &str = "deploy_dir";
    let dir = &t.layout.deploy_dir;
    if writable_dir(transport, dir).await {
        return Check::ok(NAME, format!("{} is writable", dir.display()));
    }
    let fix = format!(
        "create {} writable by this user, or set `deploy_dir` in [environments.{}.odoo]",
        dir.display(),
        t.environment
    );
    if test(transport, "-e", dir).await {
        return Check::fail(NAME, format!("{} is not writable", dir.display()), fix);
    }
    let parent = dir.ancestors().skip(1).find(|p| !p.as_os_str().is_empty());
    match parent {
        Some(p) if writable_dir(transport, p).await => Check::ok(
            NAME,
            format!("{} will be created in {}", dir.display(), p.display()),
        ),
        _ => Check::fail(
            NAME,
            format!("{} does not exist and cannot be created", dir.display()),
            fix,
        ),
    }
}

/// odd's folders on the host (deploy_dir, the backups) give no access to the group or
/// others: dumps hold every row of the database. What odd creates is `0700` already; a
/// folder an operator made beforehand may not be.
async fn private(t: &Target, transport: &dyn Transport) -> Check {
    const NAME: &str = "private";
    let paths = [t.layout.deploy_dir.as_path(), t.backup_dir.as_path()];
    match crate::privacy::check(transport, &paths).await {
        Ok(wide) if wide.is_empty() => Check::ok(
            NAME,
            format!(
                "{} and {} are private to this user (or will be created 0700)",
                paths[0].display(),
                paths[1].display()
            ),
        ),
        Ok(wide) => Check::fail(
            NAME,
            wide.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            format!(
                "chmod 700 {}",
                wide.iter()
                    .map(|w| crate::untrusted::shown(&w.path.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        Err(e) => Check::fail(
            NAME,
            format!("cannot read the modes of odd's folders: {e}"),
            "check that this user can `stat` deploy_dir and the backup folder",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_versions_as_real_servers_print_them() {
        for (out, series) in [
            ("Odoo Server 17.0-20240709\n", "17.0"),
            ("Odoo Server 18.0+e-20241005\n", "18.0"),
            ("Odoo Server saas~17.4+e-20240801\n", "17.4"),
            ("Odoo Server 16.0\n", "16.0"),
        ] {
            assert_eq!(parse_odoo_version(out).as_deref(), Some(series), "{out}");
        }
        assert_eq!(parse_odoo_version("usage: odoo-bin\n"), None);
        assert_eq!(parse_odoo_version("Odoo Server nightly\n"), None);
    }

    #[test]
    fn pg_client_versions() {
        assert_eq!(
            parse_pg_client_version("psql (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(
            parse_pg_client_version("pg_dump (PostgreSQL) 17.2\n"),
            Some(17)
        );
        assert_eq!(
            parse_pg_client_version("pg_dump: command not found\n"),
            None
        );
    }
}
