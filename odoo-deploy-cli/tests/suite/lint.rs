//! `odd lint` with real linters: flake8 (installed by scripts/test into target/peers) on a
//! fixture module with known findings, a linter that crashes, one that is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::odd;

/// A peer tool scripts/test installs into target/peers (or the one on PATH).
pub(crate) fn peer_tool(name: &str) -> PathBuf {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/peers/bin")
        .join(name);
    let tool = if installed.exists() {
        installed
            .canonicalize()
            .expect("canonical path of the peer tool")
    } else {
        PathBuf::from(name)
    };
    let runs = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "{} does not run: run the tests with scripts/test (it installs the peers into target/peers)",
        tool.display()
    );
    tool
}

/// The lint fixture copied into a temporary directory, with `odd_toml` as its odd.toml.
fn project(odd_toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    odoo_deploy_fixtures::copy_tree(
        &odoo_deploy_fixtures::fixtures_dir().join("projects/lint"),
        dir.path(),
    )
    .expect("copy the lint fixture");
    std::fs::write(dir.path().join("odd.toml"), odd_toml).expect("odd.toml");
    dir
}

fn config(linters: &str) -> String {
    format!(
        "[project]\naddons_paths = [\"addons\"]\nseries = \"18.0\"\n\n[lint]\nfail_on = \"error\"\n\n{linters}"
    )
}

fn flake8_table() -> String {
    format!(
        "[lint.linters.flake8]\ncommand = [{:?}, \"--per-file-ignores=__init__.py:F401\", \"{{files}}\"]\nformat = \"flake8\"\nseverities = {{ W = \"warning\" }}\n",
        peer_tool("flake8").display().to_string()
    )
}

fn crashing_table() -> String {
    let script =
        odoo_deploy_fixtures::fixtures_dir().join("projects/lint/linters/crashing_linter.py");
    format!(
        "[lint.linters.pylint]\ncommand = [\"python3\", {:?}, \"{{files}}\"]\nformat = \"pylint-json\"\n",
        script.display().to_string()
    )
}

fn lint(root: &Path, args: &[&str]) -> crate::support::Run {
    let config = root.join("odd.toml");
    let mut all = vec!["lint", "--config", config.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    odd(root, &all)
}

#[test]
fn flake8_findings_and_a_crashing_linter_are_told_apart() {
    let toml = config(&format!(
        "{}\n{}\n[lint.linters.xmllint]\ncommand = [\"odd-no-such-linter\", \"{{modules}}\"]\nformat = \"regex\"\npattern = '^(?P<file>[^:]+):(?P<line>\\d+): (?P<message>.*)$'\n",
        flake8_table(),
        crashing_table()
    ));
    let dir = project(&toml);
    let junit = dir.path().join("lint.xml");
    let sarif = dir.path().join("lint.sarif");
    let run = lint(
        dir.path(),
        &[
            "--format",
            "github",
            "--junit",
            junit.to_str().expect("utf-8"),
            "--sarif",
            sarif.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.seen());
    // The exact annotations GitHub reads: odd's own finding first, then flake8's, then
    // one error for each linter that could not run.
    let annotations: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(annotations.len(), 6, "{}", run.seen());
    assert_eq!(
        annotations[..4],
        [
            "::error file=addons/acme_lint/__manifest__.py,line=6,col=14,title=odd odd%3A%3Acheck%3A%3Amissing_file::`acme_lint` lists data file `views/order_views.xml`, which does not exist",
            "::error file=addons/acme_lint/models/order.py,line=2,col=1,title=flake8 F401::'os' imported but unused",
            "::error file=addons/acme_lint/models/order.py,line=6,col=11,title=flake8 E225::missing whitespace around operator",
            "::warning file=addons/acme_lint/models/order.py,line=7,col=23,title=flake8 W291::trailing whitespace",
        ],
        "{}",
        run.seen()
    );
    // The crash: its reason, then its traceback, newlines escaped into one line.
    let crash = annotations[4];
    assert!(
        crash.starts_with(
            "::error title=pylint crashed::exited 2 without printing a finding odd could read%0ATraceback (most recent call last):%0A"
        ),
        "{crash}"
    );
    assert!(
        crash.ends_with("%0AImportError: No module named 'pylint_odoo_missing'"),
        "{crash}"
    );
    // Then what the shell said (its words are the shell's own).
    assert!(
        annotations[5].starts_with(
            "::error title=xmllint not found::`odd-no-such-linter` is not installed (exit 127)%0A"
        ) && annotations[5].ends_with("not found"),
        "{}",
        annotations[5]
    );
    assert!(
        run.stderr.contains("pylint crashed: exited 2"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("xmllint not found"), "{}", run.stderr);
    assert!(
        run.stderr.contains("odd lint: 3 errors, 1 warning, 0 notes (3 failing the run, fail_on = error) in 2 modules (all) with odd, flake8; 2 linters could not run: pylint, xmllint"),
        "{}",
        run.stderr
    );

    // JUnit: a suite a linter; failures are the findings that fail the run, errors the
    // linters that could not run; the warning passes with its text.
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.contains("<testsuites name=\"odd lint\" tests=\"6\" failures=\"3\" errors=\"2\">"),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<testsuite name=\"flake8\" tests=\"3\" failures=\"2\" errors=\"0\" skipped=\"0\""
        ),
        "{xml}"
    );
    assert!(xml.contains("<testcase classname=\"flake8\" name=\"addons/acme_lint/models/order.py:2:1 F401\" file=\"addons/acme_lint/models/order.py\">"), "{xml}");
    assert!(xml.contains("<system-out>addons/acme_lint/models/order.py:7:23: warning trailing whitespace</system-out>"), "{xml}");
    assert!(
        xml.contains("<testsuite name=\"pylint\" tests=\"1\" failures=\"0\" errors=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<error type=\"crashed\""), "{xml}");
    assert!(xml.contains("<error type=\"not found\""), "{xml}");

    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).expect("sarif written"))
            .expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().expect("runs");
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["tool"]["driver"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["odd", "flake8", "pylint", "xmllint"]);
    assert_eq!(runs[1]["results"].as_array().expect("results").len(), 3);
    assert_eq!(runs[2]["invocations"][0]["executionSuccessful"], false);
    assert_eq!(runs[2]["invocations"][0]["exitCode"], 2);

    // The same run as JSON: each linter's outcome named.
    let run = lint(dir.path(), &["--json"]);
    assert_eq!(run.code, 1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let outcomes: Vec<(&str, &str)> = json["linters"]
        .as_array()
        .expect("linters")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().expect("name"),
                l["outcome"].as_str().expect("outcome"),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("odd", "findings"),
            ("flake8", "findings"),
            ("pylint", "crashed"),
            ("xmllint", "not_found")
        ]
    );
    assert_eq!(json["ok"], false);
    assert_eq!(json["exit_code"], 1);
    assert_eq!(
        json["linters"][1]["exit_code"], 1,
        "flake8 exits 1 on findings"
    );
    assert!(
        json["linters"][2]["stderr"]
            .as_str()
            .expect("stderr")
            .contains("ImportError"),
        "{}",
        json["linters"][2]
    );
    assert_eq!(
        json["findings"][1],
        serde_json::json!({
            "linter": "flake8", "file": "addons/acme_lint/models/order.py", "line": 2,
            "column": 1, "code": "F401", "severity": "error", "message": "'os' imported but unused"
        })
    );
}

#[test]
fn warnings_fail_only_when_asked_and_since_picks_the_changed_modules() {
    let dir = project(&config(&flake8_table()));
    let root = dir.path();
    // Only the clean module: nothing to find.
    let run = lint(root, &["--modules", "acme_clean", "--linter", "flake8"]);
    assert_eq!(run.code, 0, "{}", run.seen());
    assert_eq!(run.stdout, "");
    // Fix the errors of acme_lint, keep the warning (W291).
    let order = root.join("addons/acme_lint/models/order.py");
    std::fs::write(
        &order,
        "\"\"\"Orders.\"\"\"\n\n\ndef total(lines):\n    result = 0\n    for line in lines: \n        result += line\n    return result\n",
    )
    .expect("fix");
    let run = lint(root, &["--linter", "flake8"]);
    assert_eq!(
        run.code,
        0,
        "a warning does not fail with fail_on = error: {}",
        run.seen()
    );
    assert_eq!(
        run.stdout,
        "addons/acme_lint/models/order.py:6:23: warning flake8 W291 trailing whitespace\n"
    );
    let run = lint(root, &["--linter", "flake8", "--fail-on", "warning"]);
    assert_eq!(run.code, 1, "{}", run.seen());

    // --since: a git history where only acme_clean changes after the first commit.
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(root)
            .args([
                "-c",
                "user.name=odd",
                "-c",
                "user.email=odd@example.invalid",
            ])
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "first"]);
    // odd's own checks cover every module (the graph is one): only flake8 here.
    let run = lint(root, &["--since", "HEAD", "--linter", "flake8", "--json"]);
    assert_eq!(run.code, 0, "nothing changed: {}", run.seen());
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["modules"], serde_json::json!([]));
    assert_eq!(json["linters"][0]["outcome"], "skipped");
    assert_eq!(json["linters"][0]["reason"], "no module to check");
    std::fs::write(root.join("addons/acme_clean/helpers.py"), "import sys\n")
        .expect("untracked file");
    let run = lint(root, &["--since", "HEAD", "--json"]);
    assert_eq!(run.code, 1, "{}", run.seen());
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["modules"], serde_json::json!(["acme_clean"]));
    assert_eq!(json["selection"], "since HEAD");
    let flake8: Vec<&str> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["linter"] == "flake8")
        .map(|f| f["file"].as_str().expect("file"))
        .collect();
    assert_eq!(flake8, ["addons/acme_clean/helpers.py"]);

    let run = lint(root, &["--since", "no-such-ref"]);
    assert_eq!(run.code, 2, "{}", run.seen());
    assert!(run.stderr.contains("git: "), "{}", run.stderr);
}

#[test]
fn a_bad_lint_table_is_bad_input_pointing_at_the_text() {
    let dir = project(&config(
        "[lint.linters.xml]\ncommand = [\"xmllint\"]\nformat = \"regex\"\npattern = '(?P<message>.*'\n\n[lint.linters.other]\ncommand = [\"x\"]\nformat = \"eslint\"\n",
    ));
    let run = lint(dir.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.seen());
    assert!(
        run.stderr.contains("unknown variant `eslint`"),
        "{}",
        run.stderr
    );

    let dir = project(&config(
        "[lint.linters.xml]\ncommand = [\"xmllint\"]\nformat = \"regex\"\npattern = '(?P<message>.*'\n",
    ));
    let run = lint(dir.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.seen());
    assert!(
        run.stderr
            .contains("linter `xml`: the pattern does not compile"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pattern = '(?P<message>.*'"),
        "the snippet: {}",
        run.stderr
    );

    let dir = project(&config(
        "[lint.linters.flake8]\ncommand = [\"flake8\"]\nformat = \"flake8\"\n",
    ));
    let run = lint(dir.path(), &["--linter", "pylint"]);
    assert_eq!(run.code, 2, "{}", run.seen());
    assert!(
        run.stderr.contains("unknown linter: pylint"),
        "{}",
        run.stderr
    );
    let run = lint(dir.path(), &["--modules", "acme_nope"]);
    assert_eq!(run.code, 2, "{}", run.seen());
    assert!(
        run.stderr.contains("unknown module: acme_nope"),
        "{}",
        run.stderr
    );
}
