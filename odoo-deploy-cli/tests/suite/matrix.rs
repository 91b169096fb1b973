//! The crash matrix: for each step of the runbook × each crash kind (odd SIGKILLed, sshd
//! and every session killed, PostgreSQL restarted), a v1 → v2 deploy is paused at the
//! start of the step (the executor's `ODD_PAUSE_AT` test hook), the fault is injected,
//! the pause released. Then the same for the steps of a rollback, odd killed: the
//! deploy's own rollback of a failing v1 → v4, and an `odd rollback` of v2 — each also
//! between the database and the filestore renames of the restore. Afterwards, with
//! `odd rollback` when `odd status` shows an unfinished deploy or rollback, the
//! environment is either v2 deployed and verified or v1 with the pre-deploy data and
//! filestore — never in between — and the ledger says which.

use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;

use crate::deploy::{deploy, digest, odd, sql, status};
use crate::rollback::{filestore_digest, slow_update};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// odd gets SIGKILL while paused at the step.
    KillOdd,
    /// sshd and every session it started are killed, then sshd comes back.
    KillSshd,
    /// The environment's PostgreSQL cluster is stopped (fast) and started again.
    RestartPg,
}

const FAULTS: [Fault; 3] = [Fault::KillOdd, Fault::KillSshd, Fault::RestartPg];

/// What runs when the fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// v1 → v2, a good deploy.
    Deploy,
    /// v1 → v4, whose update fails: the deploy's own rollback.
    AutoRollback,
    /// v1 → v2 deployed, then `odd rollback` of it.
    OddRollback,
}

// Step names as the executor's journal spells them (`dump` with a dump configured): the
// runbook's own list.
use odoo_deploy_core::runbook::DEPLOY_STEPS as STEPS;

/// The pause points of the deploy's own rollback (journal names, and the point between
/// the restore's database rename and its filestore's).
const AUTO_ROLLBACK_STEPS: [&str; 7] = [
    "rollback stop",
    "rollback restore snapshot",
    "restore swapped databases",
    "rollback switch back",
    "rollback start",
    "rollback health",
    "rollback smoke",
];

/// The same for `odd rollback`.
const ODD_ROLLBACK_STEPS: [&str; 8] = [
    "odd rollback: stop",
    "odd rollback: restore snapshot",
    "restore swapped databases",
    "odd rollback: switch back",
    "odd rollback: start",
    "odd rollback: health",
    "odd rollback: startup log",
    "odd rollback: smoke",
];

/// Cases run at once (most of a case's time is spent waiting on Odoo and PostgreSQL).
const WORKERS: usize = 3;

/// `GET path` on the demo's Odoo: the whole response, or the error.
fn http_get(demo: &Demo, path: &str) -> Result<String, std::io::Error> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", demo.http_port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    Ok(body)
}

/// The `'version'` of every addon in the demo's checkout, by module name.
fn manifest_versions(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(root.join("custom_addons")).expect("custom_addons");
    for entry in entries.filter_map(Result::ok) {
        let Ok(text) = std::fs::read_to_string(entry.path().join("__manifest__.py")) else {
            continue;
        };
        let version = text
            .split("'version':")
            .nth(1)
            .and_then(|rest| rest.split('\'').nth(1))
            .expect("a version in the manifest");
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            version.to_owned(),
        ));
    }
    out.sort();
    out
}

/// Cases where the fault strikes in the middle of the step rather than at its start:
/// the pause is released first, the fault comes once the slowed update (the stand-in's
/// `ODD_STANDIN_DELAY` on the host's odoo command) loads its first module.
const MID_STEP: [(Fault, &str); 3] = [
    (Fault::KillOdd, "update"),
    (Fault::KillSshd, "update"),
    (Fault::RestartPg, "update"),
];

/// One case of the matrix.
#[derive(Debug, Clone, Copy)]
struct Case {
    scenario: Scenario,
    fault: Fault,
    step: &'static str,
    /// The fault comes in the middle of the step (a slowed update) rather than at its
    /// start.
    mid: bool,
}

/// Runs one case; panics with what is wrong. Returns how it ended, for the summary.
fn run_case(case: Case) -> String {
    let Case {
        scenario,
        fault,
        step,
        mid,
    } = case;
    let own_cluster = (fault == Fault::RestartPg)
        .then(|| PgCluster::start().expect("a dedicated PostgreSQL cluster"));
    let cluster = own_cluster.as_ref().unwrap_or_else(|| PgCluster::shared());
    // PostgreSQL restarts while odd works over SSH, as it does on a real host.
    let own_sshd = matches!(fault, Fault::KillSshd | Fault::RestartPg).then(Sshd::start);
    let reach = own_sshd.as_ref().map_or(Reach::Local, Reach::Ssh);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::build(&dir.path().join("demo"), cluster, reach).expect("demo");
    if step == "dump" {
        demo.extend_config("backup = { dump_before_deploy = true }")
            .expect("a dump before each deploy");
    }

    demo.checkout(1).expect("v1");
    let (code, _, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "the v1 deploy: {stderr}");
    let v1 = status(&demo);
    let v1_release = v1["release"].as_str().expect("a release").to_owned();
    let data_before = digest(cluster, &demo.db);
    let files_before = filestore_digest(&demo);

    let mut faulted_args = vec!["deploy", "demo", "--yes", "--json"];
    match scenario {
        Scenario::Deploy => demo.checkout(2).expect("v2"),
        Scenario::AutoRollback => demo.checkout(4).expect("v4"),
        Scenario::OddRollback => {
            demo.checkout(2).expect("v2");
            let (code, _, stderr) = deploy(&demo, &[]);
            assert_eq!(code, 0, "the v2 deploy: {stderr}");
            faulted_args = vec!["rollback", "demo", "--yes"];
        }
    }
    if mid {
        slow_update(&demo);
    }
    let pause = dir.path().join("pause");
    let reached = dir.path().join("pause.reached");
    let out_path = dir.path().join("deploy.out");
    let err_path = dir.path().join("deploy.err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(&faulted_args)
        .arg("--config")
        .arg(demo.config_path())
        .env("NO_COLOR", "1")
        .env("ODD_PAUSE_AT", step)
        .env("ODD_PAUSE_FILE", &pause)
        .stdout(std::fs::File::create(&out_path).expect("deploy.out"))
        .stderr(std::fs::File::create(&err_path).expect("deploy.err"))
        .spawn()
        .expect("odd runs");
    let read_err = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !reached.exists() {
        if let Some(code) = child.try_wait().expect("wait") {
            panic!("odd ended ({code}) before the step began:\n{}", read_err());
        }
        assert!(Instant::now() < deadline, "the step never began");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Evidence that the fault really happened: new logins, a new postmaster.
    let auths_before = own_sshd.as_ref().map(Sshd::auth_count);
    let postmaster = "SELECT pg_postmaster_start_time()";
    let pg_started = sql(cluster, &demo.db, postmaster);
    if mid {
        std::fs::write(&pause, b"").expect("release the pause");
        // The fault comes once the update loads modules (a condition, not a fixed wait
        // a loaded machine may overrun or undershoot).
        let id = crate::rollback::update_begun(&demo).expect("the update's journal entry");
        crate::rollback::wait_for_update_progress(&demo, &id);
        assert!(
            child.try_wait().expect("wait").is_none(),
            "odd is still in the step when the fault comes"
        );
    }
    match fault {
        Fault::KillOdd => {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
        Fault::KillSshd => own_sshd.as_ref().expect("sshd").restart(),
        Fault::RestartPg => {
            cluster.stop().expect("pg stops");
            cluster.restart().expect("pg starts again");
        }
    }
    std::fs::write(&pause, b"").expect("release the pause");
    if fault != Fault::KillOdd {
        let deadline = Instant::now() + Duration::from_secs(180);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("odd never finished:\n{}", read_err());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let deploy_err = read_err();
    if let (Fault::KillSshd, Some(sshd), Some(before)) = (fault, &own_sshd, auths_before) {
        assert!(
            sshd.auth_count() > before,
            "odd logged in again after sshd was killed"
        );
    }
    if fault == Fault::RestartPg {
        assert_ne!(sql(cluster, &demo.db, postmaster), pg_started);
    }

    // What odd says now; an unfinished deploy is rolled back by hand.
    let s = status(&demo);
    let lock = s["lock"]["state"].as_str().unwrap_or_default().to_owned();
    assert!(
        lock == "free" || lock == "stale",
        "nobody runs, so the lock is free or reported stale: {s:#}"
    );
    let outcome = s["latest"]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Where the step is journaled: the point inside the restore is within its step.
    let journaled = match (scenario, step) {
        (Scenario::AutoRollback, "restore swapped databases") => "rollback restore snapshot",
        (Scenario::OddRollback, "restore swapped databases") => "odd rollback: restore snapshot",
        _ => step,
    };
    if fault == Fault::KillOdd {
        // The ledger and the journal tell where the killed run stopped.
        assert_eq!(lock, "stale", "{s:#}");
        assert_eq!(s["journal_last"]["step"], journaled, "{s:#}");
        if scenario == Scenario::OddRollback {
            assert_eq!(s["latest"]["outcome"], "succeeded", "{s:#}");
            let said = journaled.trim_start_matches("odd rollback: ");
            assert!(
                s["interrupted_rollback"]["summary"]
                    .as_str()
                    .is_some_and(|t| t.contains(&format!("stopped during {said} at"))),
                "{s:#}"
            );
            // Releasing its lock by hand does not let a deploy run over it.
            let (code, _, stderr) = odd(&demo, &["unlock", "demo"], &[]);
            assert_eq!(code, 0, "{stderr}");
            let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--yes"], &[]);
            let said = stderr
                .replace('│', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                code != 0 && said.contains("was not recovered"),
                "a deploy over the dead rollback ({code}): {stderr}"
            );
        } else {
            assert_eq!(s["latest"]["outcome"], "running", "{s:#}");
            assert!(
                s["interrupted"]["summary"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("stopped during {journaled}"))),
                "{s:#}"
            );
        }
    }
    // A killed deploy is recovered with `odd deploy --resume` (forward when its update
    // completed and no rollback began, else back), a killed `odd rollback` with
    // `odd rollback`.
    let mut recovery: Option<(&str, i32)> = None;
    let unfinished = !s["interrupted_rollback"].is_null();
    if unfinished || !matches!(outcome.as_str(), "succeeded" | "rolled_back" | "reverted") {
        let (args, how): (&[&str], &str) = if scenario == Scenario::OddRollback {
            (&["rollback", "demo", "--yes"], "odd rollback")
        } else {
            (
                &["deploy", "demo", "--resume", "--yes"],
                "odd deploy --resume",
            )
        };
        let (code, _, stderr) = odd(&demo, args, &[]);
        // --resume exits 4 (rolled back) when it had to roll back: the deploy did not
        // happen, and the previous state runs again, verified.
        assert!(
            code == 0 || (code == 4 && scenario != Scenario::OddRollback),
            "{how} after {outcome} ({code}): {stderr}\nthe deploy said:\n{deploy_err}\n{s:#}"
        );
        recovery = Some((how, code));
    } else {
        assert_eq!(lock, "free", "a finished deploy released its lock: {s:#}");
    }

    let s = status(&demo);
    assert_eq!(s["lock"]["state"], "free", "no lock is left: {s:#}");
    let latest = s["latest"]["outcome"].as_str().unwrap_or_default();
    let page = http_get(&demo, "/web/login").unwrap_or_else(|e| e.to_string());
    assert!(
        page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
        "Odoo serves ({latest}): {page}\n{deploy_err}"
    );
    assert!(
        s["interrupted_rollback"].is_null(),
        "no rollback is left unfinished: {s:#}"
    );
    if let Some((how, code)) = recovery {
        assert_eq!(
            code == 0,
            latest == "succeeded" || how == "odd rollback",
            "{how} exits 0 when it deployed (a resume that rolls back exits 4): {latest}"
        );
    }
    if latest == "succeeded" {
        assert_eq!(scenario, Scenario::Deploy, "only v2 can succeed: {s:#}");
        // v2, deployed and verified; the ledger's last record is this deploy's.
        assert_eq!(s["latest"]["id"], s["release"], "{s:#}");
        assert_ne!(s["release"], v1_release.as_str(), "{s:#}");
        assert_eq!(s["current"]["commit"], demo.repo.sha(2).expect("sha"));
        for (module, version) in manifest_versions(demo.repo.path()) {
            let got = sql(
                cluster,
                &demo.db,
                &format!(
                    "SELECT state || '|' || coalesce(latest_version, '') FROM ir_module_module WHERE name = '{module}'"
                ),
            );
            if let Some(latest) = got.strip_prefix("installed|") {
                assert!(
                    latest == version || latest.ends_with(&format!(".{version}")),
                    "{module}: {got} (manifest {version})"
                );
            }
        }
        assert_eq!(
            sql(
                cluster,
                &demo.db,
                "SELECT state FROM ir_module_module WHERE name = 'acme_loyalty'"
            ),
            "installed"
        );
        match recovery {
            Some((how, _)) => format!("deployed v2 by {how}"),
            None => "deployed v2".to_owned(),
        }
    } else {
        // v1, exactly as before.
        let expected = if scenario == Scenario::OddRollback {
            "reverted"
        } else {
            "rolled_back"
        };
        assert_eq!(
            latest, expected,
            "the ledger says how v2 or v4 ended: {s:#}\n{deploy_err}"
        );
        assert_eq!(s["release"], v1_release.as_str(), "v1 is current: {s:#}");
        assert_ne!(s["latest"]["id"], v1_release.as_str(), "v2's record: {s:#}");
        assert_eq!(s["current"]["commit"], demo.repo.sha(1).expect("sha"));
        assert!(s["interrupted"].is_null(), "{s:#}");
        assert_eq!(
            digest(cluster, &demo.db),
            data_before,
            "the pre-deploy data ({latest})\n{deploy_err}"
        );
        assert_eq!(
            filestore_digest(&demo),
            files_before,
            "the pre-deploy filestore"
        );
        match (scenario, recovery) {
            (Scenario::OddRollback, Some(_)) => "rolled back by a second odd rollback".to_owned(),
            (Scenario::OddRollback, None) => "rolled back by odd rollback".to_owned(),
            (_, Some((how, _))) => format!("rolled back by {how}"),
            (_, None) => "rolled back by the deploy".to_owned(),
        }
    }
}

#[test]
fn every_crash_at_every_step_ends_deployed_or_rolled_back() {
    let case = |scenario, fault, step, mid| Case {
        scenario,
        fault,
        step,
        mid,
    };
    let cases: Vec<Case> = FAULTS
        .iter()
        .flat_map(|&f| {
            STEPS
                .iter()
                .map(move |&s| case(Scenario::Deploy, f, s.name(), false))
        })
        .chain(
            MID_STEP
                .iter()
                .map(|&(f, s)| case(Scenario::Deploy, f, s, true)),
        )
        .chain(
            AUTO_ROLLBACK_STEPS
                .iter()
                .map(|&s| case(Scenario::AutoRollback, Fault::KillOdd, s, false)),
        )
        .chain(
            ODD_ROLLBACK_STEPS
                .iter()
                .map(|&s| case(Scenario::OddRollback, Fault::KillOdd, s, false)),
        )
        .collect();
    let queue = Mutex::new(cases.iter());
    let results: Mutex<Vec<(String, Result<String, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some(&case) = next else {
                        break;
                    };
                    let at = if case.mid { "during" } else { "at" };
                    let name = format!("{:?}: {:?} {at} {}", case.scenario, case.fault, case.step);
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| run_case(case)))
                        .map_err(|e| {
                            e.downcast_ref::<String>()
                                .cloned()
                                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default()
                        });
                    results.lock().expect("results").push((name, result));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let lines: Vec<(bool, String)> = results
        .iter()
        .map(|(name, result)| match result {
            Ok(how) => (true, format!("{name}: {how}")),
            Err(why) => (false, format!("{name}: {why}")),
        })
        .collect();
    crate::support::report_matrix("crash matrix", &lines);
}
