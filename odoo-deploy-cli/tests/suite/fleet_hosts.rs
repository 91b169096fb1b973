//! An environment of three hosts (`[[environments.demo.hosts]]`): web1 (web, update),
//! web2 (web) and cron1 (cron), each a real sshd on its own loopback address with its
//! own deploy_dir, stand-in Odoo and HTTP port, on one PostgreSQL cluster and — unless a
//! test says otherwise — one shared filestore (data_dir).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::process::{ReservedPort, reserve_port};
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

use crate::deploy::{deploy, digest, odd, report, status};

/// One of the hosts besides the update host.
struct Host {
    name: &'static str,
    role: &'static str,
    sshd: Sshd,
    deploy_dir: PathBuf,
    data_dir: PathBuf,
    conf: PathBuf,
    pidfile: PathBuf,
    port: ReservedPort,
}

impl Host {
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port.port())
    }
}

struct Fleet {
    demo: Demo,
    web1: Sshd,
    others: Vec<Host>,
    /// web2's own data_dir instead of the shared one.
    unshared: bool,
}

fn service_script() -> PathBuf {
    odoo_deploy_fixtures::fixtures_dir().join("odoo-standin/odoo-service")
}

fn chown(path: &Path, user: &str) {
    let ok = Command::new("chown")
        .arg("-R")
        .arg(user)
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown {}", path.display());
}

impl Fleet {
    fn build(root: &Path, cluster: &PgCluster, unshared: bool) -> Self {
        let web1 = Sshd::builder().address([127, 0, 0, 2].into()).start();
        let demo = Demo::build(root, cluster, Reach::Ssh(&web1)).expect("demo");
        let user = web1.user().to_owned();
        let mut others = Vec::new();
        for (name, role, last) in [("web2", "web", 3), ("cron1", "cron", 4)] {
            let sshd = Sshd::builder().address([127, 0, 0, last].into()).start();
            let dir = root.join(name);
            let deploy_dir = dir.join("odd");
            std::fs::create_dir_all(&deploy_dir).expect("deploy_dir");
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&deploy_dir, std::fs::Permissions::from_mode(0o700))
                .expect("chmod");
            let data_dir = if unshared && name == "web2" {
                let own = dir.join("data");
                std::fs::create_dir_all(&own).expect("data_dir");
                own
            } else {
                demo.data_dir.clone()
            };
            let port = reserve_port().expect("a port");
            // The host's own Odoo config: its release's addons, its port and log; the
            // database and (shared) data_dir as on the update host.
            let conf = dir.join("odoo.conf");
            let text = std::fs::read_to_string(demo.odoo_conf()).expect("odoo.conf");
            let text: String = text
                .lines()
                .map(|l| {
                    if l.starts_with("addons_path") {
                        l.replace(
                            &demo.deploy_dir.display().to_string(),
                            &deploy_dir.display().to_string(),
                        )
                    } else if l.starts_with("http_port") {
                        format!("http_port = {}", port.port())
                    } else if l.starts_with("logfile") {
                        format!("logfile = {}", dir.join("odoo.log").display())
                    } else if l.starts_with("data_dir") {
                        format!("data_dir = {}", data_dir.display())
                    } else {
                        l.to_owned()
                    }
                })
                .map(|l| l + "\n")
                .collect();
            std::fs::write(&conf, text).expect("write odoo.conf");
            chown(&dir, &user);
            others.push(Host {
                name,
                role,
                sshd,
                deploy_dir,
                data_dir,
                conf,
                pidfile: dir.join("odoo.pid"),
                port,
            });
        }
        let fleet = Self {
            demo,
            web1,
            others,
            unshared,
        };
        fleet.checkout(1);
        fleet
    }

    fn host(&self, name: &str) -> &Host {
        self.others.iter().find(|h| h.name == name).expect("a host")
    }

    /// Checks out `v` and writes odd.toml with the three hosts instead of one.
    fn checkout(&self, v: usize) {
        self.checkout_with(v, &[], "");
    }

    /// As [`Fleet::checkout`], without the hosts named in `skip`, `extra` appended.
    fn checkout_with(&self, v: usize, skip: &[&str], extra: &str) {
        self.demo.checkout(v).expect("checkout");
        let path = self.demo.config_path();
        let text = std::fs::read_to_string(&path).expect("odd.toml");
        let mut out: String = text
            .lines()
            .filter(|l| !l.starts_with("host = {"))
            .map(|l| format!("{l}\n"))
            .collect();
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        let ssh = |s: &Sshd| {
            format!(
                "address = {:?}\nport = {}\nuser = {:?}\nidentity_file = {}\nknown_hosts = {}\n",
                s.host(),
                s.port(),
                s.user(),
                q(&s.identity()),
                q(&s.known_hosts())
            )
        };
        out.push_str(&format!(
            "\n[[environments.demo.hosts]]\nname = \"web1\"\nroles = [\"web\", \"update\"]\n{}",
            ssh(&self.web1)
        ));
        let bin = self.demo.odoo_bin();
        for h in self.others.iter().filter(|h| !skip.contains(&h.name)) {
            out.push_str(&format!(
                "\n[[environments.demo.hosts]]\nname = {:?}\nroles = [{:?}]\n{}deploy_dir = {}\n{}{}\
                 service = {{ strategy = \"command\", start = [{svc}, \"start\", {pid}, {bin}, \"-c\", {conf}], stop = [{svc}, \"stop\", {pid}], status = [{svc}, \"status\", {pid}] }}\n",
                h.name,
                h.role,
                ssh(&h.sshd),
                q(&h.deploy_dir),
                // A web host's health is its page; a cron host's, its service's status.
                if h.role == "web" {
                    format!("base_url = {:?}\n", h.base_url())
                } else {
                    String::new()
                },
                if self.unshared && h.name == "web2" {
                    format!("data_dir = {}\n", q(&h.data_dir))
                } else {
                    String::new()
                },
                svc = q(&service_script()),
                pid = q(&h.pidfile),
                bin = q(&bin),
                conf = q(&h.conf),
            ));
        }
        out.push_str(extra);
        std::fs::write(&path, out).expect("write odd.toml");
    }

    /// The release each host's `current` points to (none: no link), read on disk.
    fn current(&self, deploy_dir: &Path) -> Option<String> {
        std::fs::read_link(deploy_dir.join("current"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    }

    /// (name, deploy_dir, pidfile, base_url) of every host, web1 first.
    fn all(&self) -> Vec<(String, PathBuf, PathBuf, String)> {
        let mut all = vec![(
            "web1".to_owned(),
            self.demo.deploy_dir.clone(),
            self.demo.pidfile.clone(),
            self.demo.base_url(),
        )];
        all.extend(self.others.iter().map(|h| {
            (
                h.name.to_owned(),
                h.deploy_dir.clone(),
                h.pidfile.clone(),
                h.base_url(),
            )
        }));
        all
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for h in &self.others {
            let _ = Command::new(service_script())
                .arg("stop")
                .arg(&h.pidfile)
                .status();
        }
    }
}

/// Whether the stand-in whose pid file is `pidfile` runs (the service's own status).
fn runs(pidfile: &Path) -> bool {
    Command::new(service_script())
        .arg("status")
        .arg(pidfile)
        .status()
        .is_ok_and(|s| s.success())
}

fn pid(pidfile: &Path) -> String {
    std::fs::read_to_string(pidfile)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// GET `<url>/web/health`: its status code (0 when nothing answers).
fn health(url: &str) -> u16 {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, urllib.request\n\
             try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)\n\
             except Exception:\n    print(0)",
        )
        .arg(format!("{url}/web/health"))
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// `odd deploy demo --yes --json` paused at the start of step `step` (the executor's
/// test hook): `during` runs while it waits there; then the run goes on to its end.
fn deploy_paused(
    fleet: &Fleet,
    dir: &Path,
    step: &str,
    during: impl FnOnce(),
) -> (i32, Vec<Value>, String) {
    let pause = dir.join("pause");
    let reached = dir.join("pause.reached");
    let out_path = dir.join("deploy.out");
    let err_path = dir.join("deploy.err");
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["deploy", "demo", "--yes", "--json", "--config"])
        .arg(fleet.demo.config_path())
        .env("NO_COLOR", "1")
        .env("ODD_PAUSE_AT", step)
        .env("ODD_PAUSE_FILE", &pause)
        .stdout(std::fs::File::create(&out_path).expect("deploy.out"))
        .stderr(std::fs::File::create(&err_path).expect("deploy.err"))
        .spawn()
        .expect("odd runs");
    let read_err = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !reached.exists() {
        if let Some(code) = child.try_wait().expect("wait") {
            panic!(
                "odd ended ({code}) before the {step} began:\n{}\n{}",
                read_err(),
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the {step} never began");
        std::thread::sleep(Duration::from_millis(50));
    }
    during();
    std::fs::write(&pause, b"").expect("release the pause");
    let deadline = Instant::now() + Duration::from_secs(300);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("odd never finished:\n{}", read_err());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not NDJSON ({e}): {l}")))
        .collect();
    (code, events, read_err())
}

#[test]
fn three_hosts_deploy_v1_then_v2_and_every_host_runs_the_new_release() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = Fleet::build(&dir.path().join("env"), cluster, false);

    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    assert_eq!(code, 0, "v1: {stderr}\n{events:#?}");
    let v1 = status(&fleet.demo)["release"]
        .as_str()
        .expect("release")
        .to_owned();
    let pids_v1: Vec<String> = fleet.all().iter().map(|(_, _, p, _)| pid(p)).collect();
    for (name, deploy_dir, pidfile, url) in fleet.all() {
        assert_eq!(
            fleet.current(&deploy_dir).as_deref(),
            Some(v1.as_str()),
            "{name}"
        );
        assert!(runs(&pidfile), "{name}'s Odoo runs after v1");
        assert_eq!(health(&url), 200, "{name} answers");
    }

    fleet.checkout(2);
    // The plan shows every host's own commands.
    let (code, plan, stderr) = odd(&fleet.demo, &["plan", "demo"], &[]);
    assert_eq!(code, 0, "{plan}\n{stderr}");
    for needle in [
        "Hosts:",
        "[web1] $",
        "[web2] $",
        "[cron1] $",
        &format!("{}/releases", fleet.host("web2").deploy_dir.display()),
        "[ok  ] hosts",
        "[ok  ] filestore",
        "cron1: its service's status",
    ] {
        assert!(plan.contains(needle), "{needle:?} in the plan:\n{plan}");
    }
    // Paused at the update: no host may run Odoo while the schema changes.
    let (code, events, stderr) = deploy_paused(&fleet, dir.path(), "update", || {
        for (name, _, pidfile, url) in fleet.all() {
            assert!(
                !runs(&pidfile),
                "{name}'s Odoo is stopped during the update"
            );
            assert_eq!(health(&url), 0, "{name} does not answer during the update");
        }
    });
    assert_eq!(code, 0, "v2: {stderr}\n{events:#?}");
    let r = report(&events);
    assert_eq!(r["outcome"], "succeeded", "{r:#}");
    let s = status(&fleet.demo);
    let v2 = s["release"].as_str().expect("release").to_owned();
    assert_ne!(v1, v2);
    assert_eq!(s["current"]["commit"], fleet.demo.repo.sha(2).expect("sha"));
    let hosts = s["hosts"].as_array().expect("status lists the hosts");
    assert_eq!(hosts.len(), 3, "{s:#}");
    for (i, (name, deploy_dir, pidfile, url)) in fleet.all().into_iter().enumerate() {
        assert_eq!(
            fleet.current(&deploy_dir).as_deref(),
            Some(v2.as_str()),
            "{name}"
        );
        let shown = hosts
            .iter()
            .find(|h| h["name"] == name.as_str())
            .expect("shown");
        assert_eq!(shown["release"], v2.as_str(), "{name} in status");
        assert!(runs(&pidfile), "{name}'s Odoo runs after v2");
        assert_ne!(pid(&pidfile), pids_v1[i], "{name}'s Odoo was started again");
        assert_eq!(health(&url), 200, "{name} answers after v2");
    }
    // v2's new module is installed (the update ran once, on web1).
    assert!(
        crate::deploy::module_state(cluster, &fleet.demo.db, "acme_loyalty")
            .starts_with("installed|")
    );
}

#[test]
fn a_host_lost_after_the_stop_rolls_every_host_back_and_says_which_was_not() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = Fleet::build(&dir.path().join("env"), cluster, false);
    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    assert_eq!(code, 0, "v1: {stderr}\n{events:#?}");
    let v1 = status(&fleet.demo)["release"]
        .as_str()
        .expect("release")
        .to_owned();
    let before = digest(cluster, &fleet.demo.db);

    fleet.checkout(2);
    let web2 = fleet.host("web2");
    let (code, events, stderr) = deploy_paused(&fleet, dir.path(), "update", || {
        // web2 is lost once every host is stopped.
        web2.sshd.kill();
    });
    let r = report(&events);
    assert_eq!(code, 5, "not every host is restored: {stderr}\n{r:#}");
    assert_eq!(r["outcome"], "rollback_failed", "{r:#}");
    assert_eq!(
        digest(cluster, &fleet.demo.db),
        before,
        "the database is the one before the deploy"
    );
    let said = format!("{} {}", r["reason"], r["evidence"]);
    assert!(
        said.contains("web2 (127.0.0.3)") && said.contains("was not restored"),
        "which host, truthfully: {said}"
    );
    assert!(
        said.contains(&format!("{}/releases/{v1}", web2.deploy_dir.display())),
        "what to do there: {said}"
    );
    // The reachable hosts run v1 again, verified; web2 stays stopped, on v1's link (it
    // was lost before its switch).
    for (name, deploy_dir, pidfile, url) in fleet.all() {
        assert_eq!(
            fleet.current(&deploy_dir).as_deref(),
            Some(v1.as_str()),
            "{name}"
        );
        if name == "web2" {
            assert!(!runs(&pidfile), "web2's Odoo stays stopped");
        } else {
            assert!(runs(&pidfile), "{name}'s Odoo runs again");
            assert_eq!(health(&url), 200, "{name} answers again");
        }
    }
    assert!(
        !fleet
            .host("cron1")
            .deploy_dir
            .join("releases")
            .join(r["id"].as_str().expect("id"))
            .exists(),
        "the failed release is removed where it was reached"
    );
    let s = status(&fleet.demo);
    let shown: Vec<&Value> = s["hosts"].as_array().expect("hosts").iter().collect();
    assert!(
        shown
            .iter()
            .any(|h| h["name"] == "web2" && h["error"].as_str().is_some()),
        "status says web2 is not reached: {s:#}"
    );
    // `odd rollback` would switch and restart the update host alone: refused.
    let (code, _, stderr) = odd(&fleet.demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("handles the update host only"), "{stderr}");
    assert_eq!(
        digest(cluster, &fleet.demo.db),
        before,
        "and changes nothing"
    );
}

#[test]
fn an_unreachable_host_refuses_the_deploy_before_anything_stops() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = Fleet::build(&dir.path().join("env"), cluster, false);
    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    assert_eq!(code, 0, "v1: {stderr}\n{events:#?}");
    let v1 = status(&fleet.demo)["release"]
        .as_str()
        .expect("release")
        .to_owned();
    let before = digest(cluster, &fleet.demo.db);
    let pids: Vec<String> = fleet.all().iter().map(|(_, _, p, _)| pid(p)).collect();

    fleet.host("cron1").sshd.kill();
    fleet.checkout(2);
    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    assert_eq!(code, 3, "refused: {stderr}\n{events:#?}");
    let finished = events.last().expect("a summary");
    assert!(
        finished["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cron1 (127.0.0.4)") && r.contains("hosts")),
        "{finished:#}"
    );
    assert_eq!(digest(cluster, &fleet.demo.db), before, "nothing changed");
    let (code, history, _) = odd(&fleet.demo, &["history", "demo", "--json"], &[]);
    assert_eq!(code, 0);
    let history: Vec<Value> = serde_json::from_str(&history).expect("history JSON");
    assert_eq!(history.len(), 1, "no deploy was begun: {history:#?}");
    for (i, (name, deploy_dir, pidfile, _)) in fleet.all().into_iter().enumerate() {
        assert_eq!(
            fleet.current(&deploy_dir).as_deref(),
            Some(v1.as_str()),
            "{name}"
        );
        assert!(runs(&pidfile), "{name}'s Odoo still runs");
        assert_eq!(pid(&pidfile), pids[i], "{name}'s Odoo was never stopped");
    }
    // doctor names it; status shows the others' releases and it as not reached.
    let (code, text, _) = odd(&fleet.demo, &["doctor", "demo"], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("[FAIL] fleet host") && text.contains("cannot reach cron1 (127.0.0.4)"),
        "{text}"
    );
    assert!(
        text.contains("web2 (127.0.0.3) (web) reachable over SSH"),
        "{text}"
    );
    let (code, text, stderr) = odd(&fleet.demo, &["status", "demo"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        text.contains(&format!("host web2 (127.0.0.3, web): release {v1}"))
            && text.contains("host cron1 (127.0.0.4, cron): NOT REACHED"),
        "{text}"
    );
}

#[test]
fn a_filestore_that_is_not_shared_is_refused_by_the_plan() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = Fleet::build(&dir.path().join("env"), cluster, true);
    // A first install: no filestore anywhere yet, nothing to compare.
    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    assert_eq!(code, 0, "v1: {stderr}\n{events:#?}");
    let filestore = fleet.demo.data_dir.join("filestore").join(&fleet.demo.db);
    assert!(
        filestore.is_dir(),
        "the install stored attachments on the update host"
    );
    let before = digest(cluster, &fleet.demo.db);

    fleet.checkout(2);
    let (code, plan, _) = odd(&fleet.demo, &["plan", "demo"], &[]);
    assert_eq!(code, 1, "the plan is not ready:\n{plan}");
    assert!(
        plan.contains("[FAIL] filestore") && plan.contains("is not the same on every host"),
        "{plan}"
    );
    assert!(plan.contains("web2 no filestore"), "{plan}");
    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    assert_eq!(code, 3, "refused by the gate: {stderr}\n{events:#?}");
    assert_eq!(digest(cluster, &fleet.demo.db), before, "nothing changed");

    // The same files on web2 (as a shared mount would show them): the gate passes.
    let copy = fleet.host("web2").data_dir.join("filestore");
    std::fs::create_dir_all(&copy).expect("filestore");
    let ok = Command::new("cp")
        .arg("-a")
        .arg(&filestore)
        .arg(&copy)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "copy the filestore");
    let (code, plan, _) = odd(&fleet.demo, &["plan", "demo"], &[]);
    assert_eq!(code, 0, "{plan}");
    assert!(plan.contains("[ok  ] filestore"), "{plan}");
}

#[test]
fn a_host_added_since_the_last_deploy_stays_stopped_when_the_deploy_rolls_back() {
    let cluster = PgCluster::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = Fleet::build(&dir.path().join("env"), cluster, false);
    // v1 on web1 and cron1 only: web2 is not in the fleet yet.
    fleet.checkout_with(1, &["web2"], "");
    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    assert_eq!(code, 0, "v1: {stderr}\n{events:#?}");
    let v1 = status(&fleet.demo)["release"]
        .as_str()
        .expect("release")
        .to_owned();
    let web2 = fleet.host("web2");
    assert_eq!(fleet.current(&web2.deploy_dir), None, "web2 ran nothing");
    let before = digest(cluster, &fleet.demo.db);

    // v2 with web2 added; the after_deploy hook fails once every host runs v2.
    fleet.checkout_with(
        2,
        &[],
        "\n[environments.demo.hooks]\nafter_deploy = [\"false\"]\n",
    );
    let (code, events, stderr) = deploy(&fleet.demo, &[]);
    let r = report(&events);
    assert_eq!(code, 5, "web2 is not restored: {stderr}\n{r:#}");
    assert_eq!(r["outcome"], "rollback_failed", "{r:#}");
    let id = r["id"].as_str().expect("id").to_owned();
    assert!(
        r["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["step"] == "start" && s["ok"] == true),
        "web2 ran v2 before the rollback: {r:#}"
    );
    assert_eq!(
        digest(cluster, &fleet.demo.db),
        before,
        "the database is the one before the deploy"
    );
    let said = format!("{} {}", r["reason"], r["evidence"]);
    assert!(
        said.contains("web2 (127.0.0.3) was not restored")
            && said.contains("ran no release before this deploy"),
        "which host and why: {said}"
    );
    assert!(
        said.contains("the next deploy that succeeds"),
        "what to do there: {said}"
    );
    // web2: stopped, no `current`, the failed release gone.
    assert!(!runs(&web2.pidfile), "web2's Odoo stays stopped");
    assert_eq!(health(&web2.base_url()), 0, "web2 does not answer");
    assert_eq!(
        fleet.current(&web2.deploy_dir),
        None,
        "web2's current is removed"
    );
    assert!(
        !web2.deploy_dir.join("releases").join(&id).exists(),
        "web2's failed release is removed"
    );
    // The others run v1 again, verified.
    for (name, deploy_dir, pidfile, url) in fleet.all() {
        if name == "web2" {
            continue;
        }
        assert_eq!(
            fleet.current(&deploy_dir).as_deref(),
            Some(v1.as_str()),
            "{name}"
        );
        assert!(runs(&pidfile), "{name}'s Odoo runs again");
        if name == "web1" {
            assert_eq!(health(&url), 200, "{name} answers again");
        }
    }
}
