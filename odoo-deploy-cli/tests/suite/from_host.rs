//! `odd init --from-host`: adopting a server where Odoo already runs, over a real sshd,
//! with the stand-in installed on the test host as its Odoo (its own config file, with a
//! database password PostgreSQL really checks).

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::{PgAuth, PgCluster};
use odoo_deploy_fixtures::sshd::Sshd;

use crate::deploy::{deploy, module_state, odd};

/// Runs `command` (shell words joined) on the sshd's host as its login user.
fn on_host(sshd: &Sshd, argv: &[String]) -> (i32, String) {
    let line = shlex::try_join(argv.iter().map(String::as_str)).expect("quotable");
    let out = Command::new("ssh")
        .args(sshd.ssh_args())
        .arg(sshd.host())
        .arg(line)
        .output()
        .expect("ssh");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Whether `GET /web/health` answers 200 on `port`.
fn healthy(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if s.write_all(b"GET /web/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200")
}

fn join(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).expect("quotable")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Every file under `dir` whose bytes hold `needle`, except `skip`.
fn files_holding(dir: &Path, needle: &str, skip: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path == skip {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => files_holding(&path, needle, skip, found),
            Ok(t) if t.is_file() => {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(s(&path));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_running_server_is_adopted_and_its_first_deploy_installs_the_repository() {
    // A cluster that checks passwords: only the one in the host's odoo.conf opens it.
    let cluster = PgCluster::builder()
        .auth(PgAuth::Scram)
        .start()
        .expect("cluster");
    let password = cluster.password().expect("a password").to_owned();
    let sshd = Sshd::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::build(dir.path(), &cluster, Reach::Ssh(sshd)).expect("demo");
    demo.checkout(1).expect("v1");
    let conf = demo.odoo_conf();
    assert!(
        std::fs::read_to_string(&conf)
            .expect("odoo.conf")
            .contains(&format!("db_password = {password}")),
        "the host's config holds the password"
    );
    let service = s(&odoo_deploy_fixtures::fixtures_dir().join("odoo-standin/odoo-service"));
    let pid = s(&demo.pidfile);
    let bin = s(&demo.odoo_bin());

    // The server as it ran before odd: Odoo's database with base only, the server up with
    // its own addons (odd's release does not exist yet).
    let only_odoo = format!("--addons-path={}", s(&demo.odoo_addons()));
    let (code, out) = on_host(
        sshd,
        &[
            bin.clone(),
            "-c".into(),
            s(&conf),
            only_odoo.clone(),
            "-i".into(),
            "base".into(),
            "--stop-after-init".into(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = on_host(
        sshd,
        &[
            service.clone(),
            "start".into(),
            pid.clone(),
            bin.clone(),
            "-c".into(),
            s(&conf),
            only_odoo,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !healthy(demo.http_port) {
        assert!(Instant::now() < deadline, "the host's Odoo never answered");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Adopt it.
    let start = join(&[
        service.clone(),
        "start".into(),
        pid.clone(),
        bin.clone(),
        "-c".into(),
        s(&conf),
    ]);
    let stop = join(&[service.clone(), "stop".into(), pid.clone()]);
    let status = join(&[service, "status".into(), pid]);
    let target = format!("{}@{}:{}", sshd.user(), sshd.host(), sshd.port());
    let root = demo.repo.path();
    let out = Command::new(env!("CARGO_BIN_EXE_odd"))
        .arg("init")
        .arg(root)
        .args(["--force", "--env", "demo", "--from-host", &target])
        .arg("--identity-file")
        .arg(sshd.identity())
        .arg("--known-hosts")
        .arg(sshd.known_hosts())
        .arg("--odoo-config")
        .arg(&conf)
        .args(["--service-start", &start])
        .args(["--service-stop", &stop])
        .args(["--service-status", &status])
        .env("NO_COLOR", "1")
        .output()
        .expect("odd init");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let written = std::fs::read_to_string(demo.config_path()).expect("odd.toml");
    for (what, text) in [
        ("odd.toml", &written),
        ("stdout", &stdout),
        ("stderr", &stderr),
    ] {
        assert!(
            !text.contains(&password),
            "the password is in {what}:\n{text}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "Odoo's config on the host: {} (given with --odoo-config)",
            s(&conf)
        )),
        "{stderr}"
    );
    // odoo-bin as the running server's command line shows it: the stand-in's
    // interpreter and script, found through the process started with this config.
    assert!(
        stderr.contains(&format!(
            "odoo-bin: /usr/bin/python3 {bin} (the running process started with -c {})",
            s(&conf)
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Odoo Server 18.0"), "{stderr}");
    for line in [
        "from_odoo_config = true".to_owned(),
        format!("name = {:?}", demo.db),
        format!("data_dir = {:?}", s(&demo.data_dir)),
        format!("deploy_dir = {:?}", s(&demo.deploy_dir)),
        format!("log_file = {:?}", s(&demo.odoo_log)),
        format!("base_url = \"http://127.0.0.1:{}\"", demo.http_port),
        "strategy = \"command\"".to_owned(),
        "required_modules = [".to_owned(),
    ] {
        assert!(
            written.lines().any(|l| l.trim_start().starts_with(&line)),
            "{line}:\n{written}"
        );
    }
    assert!(
        !written
            .lines()
            .any(|l| l.trim_start().starts_with("password")),
        "no password key is written: {written}"
    );

    // odd doctor passes on it, every check run.
    let (code, report, err) = odd(&demo, &["doctor", "demo", "--json"], &[]);
    assert_eq!(code, 0, "{report}{err}\n{written}");
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    assert!(
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["verdict"] == "ok"),
        "{report:#}"
    );

    // The first deploy installs the repository's modules.
    let (code, events, err) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{err}\n{events:#?}");
    let required: Vec<String> = written
        .split("required_modules = [")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("required_modules")
        .lines()
        .filter_map(|l| l.trim().split('"').nth(1).map(str::to_owned))
        .collect();
    assert!(!required.is_empty(), "{written}");
    for module in &required {
        let state = module_state(&cluster, &demo.db, module);
        assert!(state.starts_with("installed|"), "{module}: {state}");
    }
    let events_text = serde_json::to_string(&events).expect("events");
    assert!(!events_text.contains(&password), "the password in events");
    assert!(!err.contains(&password), "the password on stderr");
    let mut holding = Vec::new();
    files_holding(&demo.deploy_dir, &password, &conf, &mut holding);
    files_holding(root, &password, &conf, &mut holding);
    assert!(holding.is_empty(), "the password is in {holding:?}");
    let (code, history, _) = odd(&demo, &["history", "demo", "--json"], &[]);
    assert_eq!(code, 0);
    assert!(!history.contains(&password));
    demo.stop_odoo();
}

#[test]
fn without_a_config_to_find_the_error_names_every_place_looked_at() {
    let sshd = Sshd::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let target = format!("{}@{}:{}", sshd.user(), sshd.host(), sshd.port());
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_odd"))
            .arg("init")
            .arg(dir.path())
            .args(["--stdout", "--from-host", &target])
            .arg("--identity-file")
            .arg(sshd.identity())
            .arg("--known-hosts")
            .arg(sshd.known_hosts())
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .expect("odd init");
        // The diagnostic as one line: its wrapping and frame removed.
        let stderr = String::from_utf8_lossy(&out.stderr)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    };
    let (code, stdout, stderr) = run(&[]);
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    for looked in [
        "no Odoo config file found on the host: looked for",
        "systemd units named odoo*",
        "/etc/odoo/odoo.conf",
        "/etc/odoo.conf",
        "/.odoorc",
        "--odoo-config PATH",
    ] {
        assert!(stderr.contains(looked), "{looked}:\n{stderr}");
    }

    // Hostile values in a host's config: a database name carrying a command on a
    // continuation line is refused; a path with shell syntax is written as it is, quoted,
    // and runs nothing.
    let host_dir = dir.path().join("host");
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    let marker = dir.path().join("ran");
    let bin = odoo_deploy_fixtures::install_standin(&host_dir.join("odoo")).expect("standin");
    let conf = host_dir.join("odoo.conf");
    let hostile_path = format!("/srv/it's \"odd\"; $(touch {})", s(&marker));
    {
        use std::os::unix::fs::PermissionsExt as _;
        for d in [dir.path(), host_dir.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    let service = [
        "--service-start",
        "true",
        "--service-stop",
        "true",
        "--service-status",
        "true",
    ];
    let bin = s(&bin);
    std::fs::write(
        &conf,
        "[options]\ndb_name = erp\n    $(reboot)\ndata_dir = /var/lib/odoo\n",
    )
    .expect("conf");
    let mut args = vec![
        "--odoo-config",
        conf.to_str().expect("utf-8"),
        "--odoo-bin",
        &bin,
    ];
    args.extend(service);
    let (code, stdout, stderr) = run(&args);
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("the host's db_name is `erp\\n$(reboot)`, which odd refuses to write"),
        "{stderr}"
    );
    assert!(stderr.contains("a control character"), "{stderr}");
    std::fs::write(
        &conf,
        format!("[options]\ndb_name = erp\ndata_dir = {hostile_path}\n"),
    )
    .expect("conf");
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    let loaded = toml::from_str::<toml::Value>(&stdout).expect("valid TOML");
    assert_eq!(
        loaded["environments"]["production"]["odoo"]["data_dir"].as_str(),
        Some(hostile_path.as_str()),
        "{stdout}"
    );
    assert!(!marker.exists(), "a value of the host's config ran");
}
