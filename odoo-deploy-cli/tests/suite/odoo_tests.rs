//! `odd test` end to end: the stand-in odoo-bin (its `--test-enable`), a real PostgreSQL
//! cluster, the tested fixture project (passing, failing and erroring at_install and
//! post_install tests).
#![allow(clippy::unwrap_used)] // support code of tests: a failed step is a failed test

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use odoo_deploy_fixtures::pg::PgCluster;
use serde_json::Value;

/// A copy of the tested project, the stand-in installed beside it and an odd.toml whose
/// `[test]` names both and the shared cluster.
struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    data_dir: PathBuf,
    pg: &'static PgCluster,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl Project {
    fn new() -> Project {
        let pg = PgCluster::shared();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("project");
        odoo_deploy_fixtures::copy_tree(
            &odoo_deploy_fixtures::fixtures_dir().join("projects/tested/addons"),
            &root.join("addons"),
        )
        .unwrap();
        // Its own copy of Odoo: the template's key includes the command, so no other
        // test shares this project's templates.
        let bin = odoo_deploy_fixtures::install_standin(&tmp.path().join("odoo")).unwrap();
        let data_dir = tmp.path().join("data");
        let password = if pg.password().is_some() {
            "password_env = \"ODD_TEST_PGPASSWORD\"\n"
        } else {
            ""
        };
        std::fs::write(
            root.join("odd.toml"),
            format!(
                "[project]\naddons_paths = [\"addons\"]\nseries = \"18.0\"\n\n[test]\n\
                 odoo_command = [{bin:?}]\ndata_dir = {data:?}\n\n[test.database]\n\
                 host = \"{host}\"\nport = {port}\nuser = \"{user}\"\n{password}",
                bin = bin.display().to_string(),
                data = data_dir.display().to_string(),
                host = pg.host(),
                port = pg.port(),
                user = pg.user(),
            ),
        )
        .unwrap();
        Project {
            _tmp: tmp,
            root,
            data_dir,
            pg,
        }
    }

    fn odd(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_odd"));
        cmd.arg("test")
            .args(args)
            .current_dir(&self.root)
            .env("NO_COLOR", "1");
        if let Some(pw) = self.pg.password() {
            cmd.env("ODD_TEST_PGPASSWORD", pw);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn exists(&self, db: &str) -> bool {
        self.pg
            .psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
            )
            .unwrap()
            == "1"
    }

    fn oid(&self, db: &str) -> String {
        self.pg
            .psql(
                "postgres",
                &format!("SELECT oid FROM pg_database WHERE datname = '{db}'"),
            )
            .unwrap()
    }

    fn filestore(&self, db: &str) -> PathBuf {
        self.data_dir.join("filestore").join(db)
    }

    fn drop(&self, db: &str) {
        self.pg.drop_database(db).unwrap();
    }
}

fn names(report: &Value) -> Vec<(String, String, String, String)> {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["module"].as_str().unwrap().to_owned(),
                t["name"].as_str().unwrap().to_owned(),
                t["stage"].as_str().unwrap().to_owned(),
                t["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn s(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

#[test]
fn results_junit_and_a_template_reused_then_rebuilt_for_a_changed_dependency() {
    let p = Project::new();
    let junit = p.root.join("junit.xml");
    let junit_arg = junit.display().to_string();
    let first = p.odd(&["--modules", "tested_app", "--json", "--junit", &junit_arg]);
    assert_eq!(first.code, 1, "a failure exits 1\n{}", first.stderr);
    let report = first.json();
    assert_eq!(report["status"], "failure");
    assert_eq!(
        names(&report),
        [
            s("tested_app", "TestApp.test_a_pass", "at_install", "passed"),
            s("tested_app", "TestApp.test_b_fail", "at_install", "failed"),
            s("tested_app", "TestApp.test_c_error", "at_install", "error"),
            s(
                "tested_app",
                "TestAppPost.test_post_fail",
                "post_install",
                "failed"
            ),
            s(
                "tested_app",
                "TestAppPost.test_post_pass",
                "post_install",
                "passed"
            ),
        ],
        "only tested_app's tests run (not tested_base's, a dependency)"
    );
    assert_eq!(
        report["totals"],
        serde_json::json!({"tests": 5, "passed": 2, "failed": 2, "errors": 1})
    );
    let fail = &report["tests"][1];
    assert_eq!(
        fail["message"],
        "AssertionError: 1 != 2 : deliberate failure"
    );
    let traceback = fail["traceback"].as_str().unwrap();
    assert!(
        traceback.starts_with("Traceback (most recent call last):\n")
            && traceback.contains("tested_app/tests/test_app.py\", line 9, in test_b_fail"),
        "{traceback}"
    );
    assert_eq!(report["tests"][2]["message"], "KeyError: 'missing key'");
    assert_eq!(
        report["dependencies"],
        serde_json::json!([
            "base",
            "web",
            "base_setup",
            "bus",
            "mail",
            "contacts",
            "tested_base"
        ])
    );
    let template = report["template"]["database"].as_str().unwrap().to_owned();
    assert_eq!(report["template"]["built"], true);
    let oid = p.oid(&template);
    assert_eq!(report["template"]["oid"].to_string(), oid);
    // Odoo's own counts agree with the results read.
    let job = &report["jobs"][0];
    assert_eq!(
        job["summary"],
        serde_json::json!({"failed": 2, "errors": 1, "tests": 5})
    );
    assert_eq!(job["exit_code"], 1);
    assert!(job.get("problem").is_none(), "{job}");
    let db = job["database"].as_str().unwrap().to_owned();
    assert!(!p.exists(&db), "the throwaway database {db} is dropped");
    assert!(!p.filestore(&db).exists(), "and its filestore");
    assert!(
        p.filestore(&template).is_dir(),
        "the template keeps its filestore"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(
        "<testsuites name=\"odd test\" tests=\"5\" failures=\"2\" errors=\"1\">\n  <testsuite name=\"tested_app\" tests=\"5\" failures=\"2\" errors=\"1\" skipped=\"0\">\n"
    ), "{xml}");
    for (class, method, tag) in [
        ("test_app.TestApp", "test_a_pass", None),
        ("test_app.TestApp", "test_b_fail", Some("failure")),
        ("test_app.TestApp", "test_c_error", Some("error")),
        ("test_post.TestAppPost", "test_post_fail", Some("failure")),
        ("test_post.TestAppPost", "test_post_pass", None),
    ] {
        let head = format!(
            "<testcase classname=\"odoo.addons.tested_app.tests.{class}\" name=\"{method}\""
        );
        let at = xml.find(&head).unwrap_or_else(|| panic!("{head} in {xml}"));
        let rest = &xml[at + head.len()..];
        match tag {
            None => assert!(rest.starts_with("/>"), "{method} passed"),
            Some(tag) => assert!(
                rest.starts_with(&format!(">\n      <{tag} message=")),
                "{method}: {tag}"
            ),
        }
    }
    assert!(
        xml.contains("AssertionError: 1 != 2 : deliberate failure</failure>"),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 5);

    // The same dependencies: the template is reused as it is (same oid), not rebuilt.
    let started = Instant::now();
    let second = p.odd(&["--modules", "tested_app", "--json"]);
    let cached = started.elapsed();
    assert_eq!(second.code, 1, "{}", second.stderr);
    let again = second.json();
    assert_eq!(again["template"]["database"], template.as_str());
    assert_eq!(again["template"]["built"], false);
    assert_eq!(p.oid(&template), oid, "the same database, not rebuilt");
    assert!(
        second
            .stderr
            .contains(&format!("note: template {template} reused")),
        "{}",
        second.stderr
    );
    assert_eq!(names(&again), names(&report));
    eprintln!("odd test, cached template: {:.2} s", cached.as_secs_f64());

    // A dependency's content changes: another template is built, the outdated one dropped.
    let init = p.root.join("addons/tested_base/models/__init__.py");
    std::fs::write(&init, "# changed\n").unwrap();
    let third = p.odd(&["--modules", "tested_app", "--json"]);
    assert_eq!(third.code, 1, "{}", third.stderr);
    let rebuilt = third.json();
    let new_template = rebuilt["template"]["database"].as_str().unwrap().to_owned();
    assert_eq!(rebuilt["template"]["built"], true);
    assert_ne!(new_template, template);
    assert_eq!(
        new_template[..20],
        template[..20],
        "the same set of dependencies: the same prefix"
    );
    assert!(!p.exists(&template), "the outdated template is dropped");
    assert!(!p.filestore(&template).exists());
    assert_eq!(names(&rebuilt), names(&report));
    p.drop(&new_template);
}

#[test]
fn jobs_split_databases_keep_keeps_them_and_no_test_warns() {
    let p = Project::new();
    let run = p.odd(&[
        "--modules",
        "tested_ok,tested_none",
        "--jobs",
        "2",
        "--keep",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["status"], "success");
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "two databases");
    let mut modules: Vec<String> = jobs
        .iter()
        .map(|j| {
            j["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    modules.sort();
    assert_eq!(modules, ["tested_none", "tested_ok"]);
    assert_ne!(jobs[0]["database"], jobs[1]["database"]);
    for job in jobs {
        let db = job["database"].as_str().unwrap();
        assert_eq!(job["kept"], true);
        assert!(p.exists(db), "--keep keeps {db}");
        assert!(p.filestore(db).is_dir(), "and its filestore");
        let installed =
            p.pg.psql(
                db,
                "SELECT state FROM ir_module_module WHERE name = 'tested_base'",
            )
            .unwrap();
        assert_eq!(installed, "installed", "copied from the template");
    }
    assert_eq!(
        names(&report),
        [s("tested_ok", "TestOk.test_ok", "at_install", "passed")]
    );
    assert!(report["warnings"].as_array().unwrap().is_empty());
    for job in jobs {
        p.drop(job["database"].as_str().unwrap());
    }

    // A module without tests: exit 0, and a warning that says so.
    let none = p.odd(&["--modules", "tested_none"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(
        none.stderr.contains(
            "warning: no test ran: Odoo found no test selected by --test-tags in tested_none"
        ),
        "{}",
        none.stderr
    );
    assert!(
        none.stdout
            .ends_with("0 tests: 0 passed, 0 failed, 0 error(s)\n"),
        "{}",
        none.stdout
    );
    let template = none
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("template "))
        .unwrap();
    p.drop(template.split(' ').next().unwrap());
}

#[test]
fn a_test_file_that_cannot_be_imported_is_a_failed_run_in_the_report_and_junit() {
    let p = Project::new();
    let bad = p.root.join("addons/tested_ok/tests/test_ok.py");
    std::fs::write(&bad, "import a_module_that_is_not_there\n").unwrap();
    let junit = p.root.join("j.xml");
    let run = p.odd(&[
        "--modules",
        "tested_ok",
        "--json",
        "--junit",
        &junit.display().to_string(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let job = &report["jobs"][0];
    assert_eq!(
        job["exit_code"], 255,
        "odoo-facts.md: a failed test import exits 255"
    );
    assert_eq!(
        job["problem"],
        "odoo-bin ended (exit 255) without its test summary: the modules did not load"
    );
    assert!(
        job["detail"]
            .as_str()
            .unwrap()
            .contains("ModuleNotFoundError: No module named 'a_module_that_is_not_there'"),
        "{job}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites name=\"odd test\" tests=\"1\" failures=\"0\" errors=\"1\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<error message=\"odoo-bin ended (exit 255) without its test summary"),
        "{xml}"
    );
    assert!(
        report["warnings"].as_array().unwrap().is_empty(),
        "a dead run is not 'no test ran'"
    );
    p.drop(report["template"]["database"].as_str().unwrap());
}

#[test]
fn bad_input_exits_2() {
    let p = Project::new();
    let unknown = p.odd(&["--modules", "tested_nope"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("unknown module: tested_nope"),
        "{}",
        unknown.stderr
    );
    let none = p.odd(&[]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("which modules to test?"),
        "{}",
        none.stderr
    );
    let toml = p.root.join("odd.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.split("[test]").next().unwrap()).unwrap();
    let no_table = p.odd(&["--all"]);
    assert_eq!(no_table.code, 2);
    assert!(
        no_table.stderr.contains("odd test needs a [test] table"),
        "{}",
        no_table.stderr
    );
    std::fs::write(&toml, format!("{text}password = \"hunter2\"\n")).unwrap();
    let written = p.odd(&["--all"]);
    assert_eq!(written.code, 2);
    assert!(
        written.stderr.contains("passwords are never written there"),
        "{}",
        written.stderr
    );
    assert!(!written.stderr.contains("hunter2"));
}

#[test]
fn since_selects_the_changed_modules_and_their_dependents() {
    let p = Project::new();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@e.invalid"])
            .args(args)
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "start"]);
    std::fs::write(
        p.root.join("addons/tested_ok/models/__init__.py"),
        "# changed\n",
    )
    .unwrap();
    let run = p.odd(&["--since", "main", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["modules"], serde_json::json!(["tested_ok"]));
    assert_eq!(
        report["selected_by"],
        "changed since main: tested_ok; with their dependents in the project"
    );
    p.drop(report["template"]["database"].as_str().unwrap());
    // A change to the shared dependency brings its dependents.
    std::fs::write(
        p.root.join("addons/tested_base/models/__init__.py"),
        "# changed\n",
    )
    .unwrap();
    let all = p.odd(&["--since", "main", "--json"]);
    let report = all.json();
    assert_eq!(
        report["modules"],
        serde_json::json!(["tested_base", "tested_app", "tested_none", "tested_ok"])
    );
    assert_eq!(all.code, 1, "tested_app fails");
    p.drop(report["template"]["database"].as_str().unwrap());
    let bad = p.odd(&["--since", "no-such-rev"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
