//! The project's git repository, through the `git` command (no library to build, ~2 ms a
//! call). Commands are built here and run by a local transport.

use std::path::{Path, PathBuf};

use crate::command::RemoteCommand;

/// A git work tree on the machine running odd.
///
/// Every value (a revision, a commit read back from a ledger) comes after
/// `--end-of-options`: one starting with `-` is a revision git refuses, never an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Git {
    pub work_tree: PathBuf,
}

/// One commit touching an addon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitInfo {
    pub sha: String,
    pub subject: String,
}

impl Git {
    /// The repository at `work_tree`.
    pub fn new(work_tree: impl Into<PathBuf>) -> Self {
        Self {
            work_tree: work_tree.into(),
        }
    }

    fn git(&self) -> RemoteCommand {
        // Fixed environment: no pager, no prompts, C locale for parseable messages.
        RemoteCommand::new("git")
            .arg("-C")
            .arg(&self.work_tree)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env("LC_ALL", "C")
    }

    /// Prints the full SHA of `rev`.
    pub fn rev_parse(&self, rev: &str) -> RemoteCommand {
        self.git()
            .arg("rev-parse")
            .arg("--verify")
            .arg("--end-of-options")
            .arg(format!("{rev}^{{commit}}"))
    }

    /// Prints one line per uncommitted change (nothing when the tree is clean).
    pub fn status(&self) -> RemoteCommand {
        self.git()
            .arg("status")
            .arg("--porcelain")
            .arg("--untracked-files=normal")
    }

    /// Writes the tree of `commit` as a tar archive to `out`.
    pub fn archive(&self, commit: &str, out: &Path) -> RemoteCommand {
        self.git()
            .arg("archive")
            .arg("--format=tar")
            .arg(format!("--output={}", out.display()))
            .arg("--end-of-options")
            .arg(commit)
    }

    /// Commits between `from` (excluded) and `to` that touch `path`, newest first, as
    /// `SHA\x1fsubject` lines.
    pub fn log_path(&self, from: &str, to: &str, path: &Path) -> RemoteCommand {
        self.git()
            .arg("log")
            .arg("--format=%H%x1f%s")
            .arg("--end-of-options")
            .arg(format!("{from}..{to}"))
            .arg("--")
            .arg(path)
    }

    /// Files changed under `path` between `from` and `to`, NUL-separated.
    pub fn changed_files(&self, from: &str, to: &str, path: &Path) -> RemoteCommand {
        self.git()
            .arg("diff")
            .arg("--name-only")
            .arg("-z")
            .arg("--end-of-options")
            .arg(from)
            .arg(to)
            .arg("--")
            .arg(path)
    }

    /// Parses [`Git::log_path`]'s output.
    pub fn parse_log(output: &str) -> Vec<CommitInfo> {
        output
            .lines()
            .filter_map(|line| {
                let (sha, subject) = line.split_once('\x1f')?;
                Some(CommitInfo {
                    sha: sha.to_owned(),
                    subject: subject.to_owned(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::argv;

    #[test]
    fn commands_are_exact() {
        let git = Git::new("/src/acme project");
        assert_eq!(
            argv(&git.rev_parse("HEAD")),
            [
                "git",
                "-C",
                "/src/acme project",
                "rev-parse",
                "--verify",
                "--end-of-options",
                "HEAD^{commit}"
            ]
        );
        assert_eq!(
            argv(&git.archive("0123abc", Path::new("/tmp/r.tar"))),
            [
                "git",
                "-C",
                "/src/acme project",
                "archive",
                "--format=tar",
                "--output=/tmp/r.tar",
                "--end-of-options",
                "0123abc"
            ]
        );
        assert_eq!(
            argv(&git.log_path("a1", "b2", Path::new("custom_addons/acme_sale"))),
            [
                "git",
                "-C",
                "/src/acme project",
                "log",
                "--format=%H%x1f%s",
                "--end-of-options",
                "a1..b2",
                "--",
                "custom_addons/acme_sale"
            ]
        );
        assert_eq!(
            argv(&git.changed_files("--output=/tmp/x", "b2", Path::new("a"))),
            [
                "git",
                "-C",
                "/src/acme project",
                "diff",
                "--name-only",
                "-z",
                "--end-of-options",
                "--output=/tmp/x",
                "b2",
                "--",
                "a"
            ]
        );
        let envs: Vec<_> = git.status().get_envs().map(|(k, _)| k.to_owned()).collect();
        assert_eq!(envs, ["GIT_TERMINAL_PROMPT", "GIT_PAGER", "LC_ALL"]);
    }

    #[test]
    fn log_output_parses() {
        let commits = Git::parse_log("aaa\x1fAdd a field\nbbb\x1fFix: a; b\n\n");
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[1].subject, "Fix: a; b");
    }
}
