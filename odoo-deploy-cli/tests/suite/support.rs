//! Running `odd` the way a user does, with output made stable for snapshots.

use std::path::Path;
use std::process::Command;

/// What a run of `odd` printed, with temporary paths replaced by `[ROOT]`.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Everything a user sees, for a snapshot.
    pub(crate) fn seen(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `odd ARGS` with a fixed terminal setup; `root` is replaced by `[ROOT]`.
pub(crate) fn odd(root: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_odd"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("LC_ALL", "C.UTF-8")
        .env("COLUMNS", "100")
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run odd");
    let clean = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let root = root.display().to_string();
        let text = text.replace(&root, "[ROOT]");
        // Canonical forms of the temp dir (macOS /private, symlinks) when they differ.
        match root.canonicalize_str() {
            Some(canonical) if canonical != root => text.replace(&canonical, "[ROOT]"),
            _ => text,
        }
    };
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: clean(&output.stdout),
        stderr: clean(&output.stderr),
    }
}

trait CanonicalizeStr {
    fn canonicalize_str(&self) -> Option<String>;
}

impl CanonicalizeStr for String {
    fn canonicalize_str(&self) -> Option<String> {
        std::fs::canonicalize(self)
            .ok()
            .map(|p| p.display().to_string())
    }
}

/// The sample project shipped in fixtures.
pub(crate) fn sample_root() -> std::path::PathBuf {
    odoo_deploy_fixtures::sample_project()
        .canonicalize()
        .expect("sample project")
}

/// Prints a failure matrix's lines and its `N passed, N failed` total on the test
/// process's stderr itself, past the test harness's capture, so CI's log shows them;
/// panics when a case failed.
pub(crate) fn report_matrix(title: &str, lines: &[(bool, String)]) {
    use std::io::Write;
    let failed = lines.iter().filter(|(ok, _)| !ok).count();
    let passed = lines.len() - failed;
    let mut text = format!("\n{title}\n");
    for (ok, line) in lines {
        text.push_str(&format!(
            "{} {line}\n",
            if *ok { "ok    " } else { "FAILED" }
        ));
    }
    text.push_str(&format!("{title}: {passed} passed, {failed} failed\n"));
    // `std::io::stderr()` written directly is not captured (only `eprint!` is).
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    assert_eq!(failed, 0, "{passed} passed, {failed} failed");
}
