//! The pipelines in `examples/ci`: checked by each CI system's real linter (actionlint,
//! check-jsonschema with GitLab's schema, both installed by scripts/test into
//! target/peers), and their `odd …` lines — read from the YAML, so the files and this test
//! cannot drift — run end to end against a staging and a production environment reached
//! over the harness sshd, each exit code checked against README's table.

use std::path::{Path, PathBuf};
use std::process::Command;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;

use crate::lint::peer_tool;
use crate::support::report_matrix;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/ci")
        .join(name)
}

/// The `odd …` command lines of a workflow, in order: GitHub's `run: odd …` steps,
/// GitLab's `- odd …` script lines.
fn odd_lines(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(example(file)).expect("workflow");
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            line.strip_prefix("run: ")
                .or_else(|| line.strip_prefix("- "))
                .filter(|rest| rest.starts_with("odd "))
                .map(str::to_owned)
        })
        .collect()
}

/// A command line's subcommand and environment (`deploy staging`), what both pipelines
/// must run in the same order; their flags differ where the CI systems do (annotations
/// on GitHub, the JUnit report on GitLab).
fn gist(line: &str) -> String {
    line.split_whitespace()
        .skip(1)
        .take_while(|w| !w.starts_with('-') && !w.starts_with('>'))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn both_pipelines_run_the_same_odd_commands_in_the_six_phases_order() {
    let github = odd_lines("github-actions.yml");
    let gitlab = odd_lines("gitlab-ci.yml");
    let order = [
        "lint",
        "test",
        "plan staging",
        "deploy staging",
        "deploy production",
        "status production",
    ];
    assert_eq!(github.iter().map(|l| gist(l)).collect::<Vec<_>>(), order);
    assert_eq!(gitlab.iter().map(|l| gist(l)).collect::<Vec<_>>(), order);
    // Every line is a command odd's parser accepts (its flags exist).
    for line in github.iter().chain(&gitlab) {
        let words: Vec<String> = line
            .split_whitespace()
            .take_while(|w| !w.starts_with('>'))
            .map(|w| w.trim_matches('"').replace("$ODD_BASE", "HEAD"))
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_odd"))
            .args(&words[1..])
            .arg("--help")
            .output()
            .expect("odd");
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The approval: GitHub's `production` environment, GitLab's manual job.
    let gh = std::fs::read_to_string(example("github-actions.yml")).expect("read");
    assert!(gh.contains("    environment: production\n"), "{gh}");
    let gl = std::fs::read_to_string(example("gitlab-ci.yml")).expect("read");
    assert!(
        gl.contains("      when: manual\n      allow_failure: false\n"),
        "{gl}"
    );
}

#[test]
fn actionlint_and_gitlabs_schema_pass_the_pipelines_and_catch_a_broken_one() {
    let actionlint = peer_tool("actionlint");
    let check_jsonschema = peer_tool("check-jsonschema");
    let run = |tool: &Path, args: &[&str], file: &Path| {
        let out = Command::new(tool)
            .args(args)
            .arg(file)
            .output()
            .expect("linter");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let gitlab_schema = ["--builtin-schema", "vendor.gitlab-ci"];
    let (code, said) = run(&actionlint, &[], &example("github-actions.yml"));
    assert_eq!(code, Some(0), "actionlint: {said}");
    let (code, said) = run(&check_jsonschema, &gitlab_schema, &example("gitlab-ci.yml"));
    assert_eq!(code, Some(0), "check-jsonschema: {said}");

    // The linters do look: a job that needs one that does not exist, a rule's `when`
    // GitLab does not know.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken_gh = dir.path().join("github.yml");
    let gh = std::fs::read_to_string(example("github-actions.yml")).expect("read");
    std::fs::write(
        &broken_gh,
        gh.replace("needs: staging\n", "needs: stagin\n"),
    )
    .expect("write");
    let (code, said) = run(&actionlint, &[], &broken_gh);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("needs job \"stagin\" which does not exist"),
        "{said}"
    );
    let broken_gl = dir.path().join("gitlab.yml");
    let gl = std::fs::read_to_string(example("gitlab-ci.yml")).expect("read");
    std::fs::write(&broken_gl, gl.replace("when: manual", "when: sometimes")).expect("write");
    let (code, said) = run(&check_jsonschema, &gitlab_schema, &broken_gl);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("'sometimes' is not one of"), "{said}");
}

/// The code README's exit code table gives a status name.
fn readme_code(name: &str) -> i32 {
    let readme = include_str!("../../../README.md");
    readme
        .lines()
        .find_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[2] == format!("`{name}`"))
                .then(|| cells[1].parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("README's exit code table has no `{name}`"))
}

/// Runs a pipeline's command line as the CI job's shell does, in the project, with odd on
/// the PATH; returns its exit code and what it said.
fn sh(repo: &Path, bin: &Path, line: &str, base: &str, summary: &Path) -> (i32, String) {
    let cluster = PgCluster::shared();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(repo)
        .env("PATH", path)
        .env("ODD_BASE", base)
        .env("GITHUB_STEP_SUMMARY", summary)
        .env("NO_COLOR", "1")
        .envs(cluster.password().map(|pw| ("ODD_TEST_PGPASSWORD", pw)))
        .output()
        .expect("sh");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_pipelines_odd_commands_run_end_to_end_against_staging_and_production() {
    let cluster = PgCluster::shared();
    let sshd = Sshd::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    // Staging: the demo environment renamed; production: a second host of its own (its
    // deploy_dir, data_dir, database, Odoo), both reached through the harness sshd.
    let mut staging =
        Demo::build(&dir.path().join("staging"), cluster, Reach::Ssh(sshd)).expect("staging");
    let production =
        Demo::build(&dir.path().join("production"), cluster, Reach::Ssh(sshd)).expect("production");
    // Its Odoo config as for the versions deployed here (no submodule folder before v6).
    production
        .checkout(1)
        .expect("production's host files for v1");
    let prod_toml = std::fs::read_to_string(production.config_path()).expect("odd.toml");
    let prod_env = prod_toml
        .split_once("[environments.demo]\n")
        .map(|(_, env)| env)
        .expect("the production host's environment table");
    let flake8 = peer_tool("flake8");
    staging.env = "staging".to_owned();
    staging
        .extend_config(&format!(
            "\n[environments.production]\n{prod_env}requires = \"staging\"\n\n\
             [lint.linters.flake8]\n\
             command = [{:?}, \"--select=E9,F63,F7,F82\", \"{{files}}\"]\n\
             format = \"flake8\"\n\n\
             [test]\n\
             odoo_command = [{:?}]\n\
             data_dir = {:?}\n\n\
             [test.database]\n\
             host = {:?}\n\
             port = {}\n\
             user = {:?}\n{}",
            flake8.display().to_string(),
            staging.odoo_bin().display().to_string(),
            dir.path().join("test-data").display().to_string(),
            cluster.host(),
            cluster.port(),
            cluster.user(),
            if cluster.password().is_some() {
                "password_env = \"ODD_TEST_PGPASSWORD\"\n"
            } else {
                ""
            },
        ))
        .expect("odd.toml with staging, production and a linter");
    let repo = staging.repo.path().to_owned();
    let summary = dir.path().join("step-summary.md");
    // As each job sets itself up: odd in .odd/bin (the lint job's artifact), which
    // .git/info/exclude lists (the checkouts below rewrite it).
    let bin = repo.join(".odd/bin");
    let job_setup = |repo: &Path| {
        std::fs::create_dir_all(repo.join(".odd/bin")).expect(".odd/bin");
        let odd = repo.join(".odd/bin/odd");
        if !odd.exists() {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_odd"), &odd).expect("symlink");
        }
        let exclude = repo.join(".git/info/exclude");
        let mut text = std::fs::read_to_string(&exclude).unwrap_or_default();
        if !text.contains("/.odd/") {
            text.push_str("/.odd/\n");
            std::fs::write(&exclude, text).expect("exclude");
        }
    };
    let lines = odd_lines("github-actions.yml");
    let mut seen: Vec<(bool, String)> = Vec::new();
    let mut expect = |version: usize, line: &str, base: &str, name: &str| {
        let (code, said) = sh(&repo, &bin, line, base, &summary);
        // Each line is a job of its own, on a fresh checkout: what one wrote (a report)
        // is not in the next one's tree (odd.toml, excluded from git, stays).
        let clean = Command::new("git")
            .args(["clean", "-fdq"])
            .current_dir(&repo)
            .status()
            .expect("git clean");
        assert!(clean.success(), "git clean");
        let want = readme_code(name);
        seen.push((
            code == want,
            format!("v{version} {line} → {code} (README: {want} {name})"),
        ));
        if code != want {
            eprintln!("--- v{version} `{line}` exited {code}, said:\n{said}");
        }
        said
    };
    let pipeline =
        |version: usize, base: &str, expect: &mut dyn FnMut(usize, &str, &str, &str) -> String| {
            for line in &lines {
                let said = expect(version, line, base, "success");
                if line.starts_with("odd test ") && version > 1 {
                    // The modules changed since the previous version were tested on a
                    // throwaway database (the sample's carry no tests: said, not failed).
                    assert!(said.contains("no test ran"), "v{version} `{line}`: {said}");
                }
            }
        };

    // v1: the whole pipeline succeeds, production after staging.
    staging.checkout(1).expect("v1");
    job_setup(&repo);
    pipeline(1, "v1", &mut expect);
    let shown = std::fs::read_to_string(&summary).expect("the step summary");
    let v1 = staging.repo.sha(1).expect("v1").to_owned();
    assert!(
        shown.starts_with("production on ")
            && shown.contains(&format!("deployed: commit {}", &v1[..12])),
        "{shown}"
    );

    // v2: production before staging ran it is refused by its `requires` gate (3), nothing
    // changed; then the pipeline in order goes through.
    staging.checkout(2).expect("v2");
    job_setup(&repo);
    let deploy_production = lines
        .iter()
        .find(|l| l.starts_with("odd deploy production"))
        .expect("a production deploy line");
    let said = expect(2, deploy_production, "v1", "refused");
    assert!(
        said.contains("has not been deployed successfully on staging"),
        "{said}"
    );
    pipeline(2, "v1", &mut expect);

    // v4: acme_report is broken: `odd test` fails (1) and the pipeline stops there; the
    // staging deploy, run anyway, rolls back (4): production keeps v2.
    staging.checkout(4).expect("v4");
    job_setup(&repo);
    for line in &lines {
        if line.starts_with("odd test ") {
            // The test phase installs the changed modules on a throwaway database, where
            // acme_report's broken view already fails: the pipeline stops here (the
            // deploy jobs need the test job).
            let said = expect(4, line, "v3", "failure");
            assert!(
                said.contains("acme_report") && said.contains("exit 255"),
                "{said}"
            );
            // A pipeline without that phase meets it in the staging deploy: rolled back.
            let deploy_staging = lines
                .iter()
                .find(|l| l.starts_with("odd deploy staging"))
                .expect("a staging deploy line");
            let said = expect(4, deploy_staging, "v3", "rolled_back");
            assert!(said.contains("ROLLED BACK and verified"), "{said}");
            break;
        }
        expect(4, line, "v3", "success");
    }
    let status = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(["status", "production", "--json", "--config"])
        .arg(staging.config_path())
        .output()
        .expect("odd status");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(
        status["current"]["commit"],
        staging.repo.sha(2).expect("v2"),
        "{status:#}"
    );
    staging.stop_odoo();
    production.stop_odoo();
    report_matrix("the pipelines' odd commands, end to end", &seen);
}
