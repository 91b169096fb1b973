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
    /// The work tree git commands run in (`git -C`).
    pub work_tree: PathBuf,
}

/// One commit touching an addon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitInfo {
    /// The commit's full SHA.
    pub sha: String,
    /// Its subject line.
    pub subject: String,
}

/// One submodule of the work tree, as `git submodule status` tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Submodule {
    /// Its path from the work tree's root.
    pub path: PathBuf,
    /// The commit checked out (or, when not checked out, the pinned one).
    pub commit: String,
    /// How the checkout stands against the pinned commit.
    pub state: SubmoduleState,
}

/// Whether a submodule's files are what the superproject pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmoduleState {
    /// Checked out at the pinned commit.
    CheckedOut,
    /// Never initialised or checked out: its directory is empty.
    NotCheckedOut,
    /// Checked out at another commit than the pinned one.
    OtherCommit,
    /// In a merge conflict.
    Conflict,
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

    /// Exits 0 when `commit`'s tree holds `path` (a file at that path, from the top).
    pub fn has_file(&self, commit: &str, path: &Path) -> RemoteCommand {
        self.git()
            .arg("cat-file")
            .arg("-e")
            .arg("--end-of-options")
            .arg(format!("{commit}:{}", path.display()))
    }

    /// Prints the URL of remote `name` (exit 1 when there is none).
    pub fn remote_url(&self, name: &str) -> RemoteCommand {
        self.git()
            .arg("remote")
            .arg("get-url")
            .arg("--end-of-options")
            .arg(name)
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

    /// Writes the tree of `commit` as a tar archive to `out`, every path under `prefix/`
    /// (a submodule's files, where they sit in the superproject).
    pub fn archive_prefixed(&self, commit: &str, prefix: &Path, out: &Path) -> RemoteCommand {
        self.git()
            .arg("archive")
            .arg("--format=tar")
            .arg(format!("--prefix={}/", prefix.display()))
            .arg(format!("--output={}", out.display()))
            .arg("--end-of-options")
            .arg(commit)
    }

    /// Lists every submodule, nested ones too, with its state (see
    /// [`Git::parse_submodule_status`]).
    pub fn submodule_status(&self) -> RemoteCommand {
        self.git().arg("submodule").arg("status").arg("--recursive")
    }

    /// The submodules pinned in `commit`'s tree (gitlinks), NUL-separated `ls-tree` records.
    pub fn gitlinks(&self, commit: &str) -> RemoteCommand {
        self.git()
            .arg("ls-tree")
            .arg("-r")
            .arg("-z")
            .arg("--end-of-options")
            .arg(commit)
    }

    /// Parses [`Git::gitlinks`]' output: `(path, pinned commit)` of each submodule.
    pub fn parse_gitlinks(output: &[u8]) -> Vec<(PathBuf, String)> {
        output
            .split(|b| *b == 0)
            .filter_map(|record| {
                let record = std::str::from_utf8(record).ok()?;
                let (meta, path) = record.split_once('\t')?;
                let mut words = meta.split(' ');
                let (mode, kind, sha) = (words.next()?, words.next()?, words.next()?);
                (mode == "160000" && kind == "commit")
                    .then(|| (PathBuf::from(path), sha.to_owned()))
            })
            .collect()
    }

    /// Parses [`Git::submodule_status`]' output.
    pub fn parse_submodule_status(output: &str) -> Vec<Submodule> {
        output
            .lines()
            .filter_map(|line| {
                let mut chars = line.chars();
                let state = match chars.next()? {
                    ' ' => SubmoduleState::CheckedOut,
                    '-' => SubmoduleState::NotCheckedOut,
                    '+' => SubmoduleState::OtherCommit,
                    'U' => SubmoduleState::Conflict,
                    _ => return None,
                };
                let rest = chars.as_str();
                let (sha, rest) = rest.split_once(' ')?;
                // `path (describe)` when checked out; the path itself may hold spaces.
                let path = match rest.rsplit_once(" (") {
                    Some((path, tail)) if tail.ends_with(')') => path,
                    _ => rest,
                };
                Some(Submodule {
                    path: PathBuf::from(path),
                    commit: sha.to_owned(),
                    state,
                })
            })
            .collect()
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

    /// Files that differ between `rev` and the work tree (committed since, staged or not),
    /// relative to the work tree, NUL-separated; deleted files included.
    pub fn changed_since(&self, rev: &str) -> RemoteCommand {
        self.git()
            .arg("diff")
            .arg("--name-only")
            .arg("--relative")
            .arg("--no-renames")
            .arg("-z")
            .arg("--end-of-options")
            .arg(format!("{rev}^{{commit}}"))
            .arg("--")
    }

    /// Files in the work tree git does not track and does not ignore, NUL-separated.
    pub fn untracked(&self) -> RemoteCommand {
        self.git()
            .arg("ls-files")
            .arg("--others")
            .arg("--exclude-standard")
            .arg("-z")
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
    fn submodule_commands_are_exact() {
        let git = Git::new("/src/acme");
        assert_eq!(
            argv(&git.archive_prefixed(
                "0123abc",
                Path::new("vendor/oca partner"),
                Path::new("/tmp/s.tar")
            )),
            [
                "git",
                "-C",
                "/src/acme",
                "archive",
                "--format=tar",
                "--prefix=vendor/oca partner/",
                "--output=/tmp/s.tar",
                "--end-of-options",
                "0123abc"
            ]
        );
        assert_eq!(
            argv(&git.submodule_status()),
            [
                "git",
                "-C",
                "/src/acme",
                "submodule",
                "status",
                "--recursive"
            ]
        );
        assert_eq!(
            argv(&git.gitlinks("HEAD")),
            [
                "git",
                "-C",
                "/src/acme",
                "ls-tree",
                "-r",
                "-z",
                "--end-of-options",
                "HEAD"
            ]
        );
    }

    #[test]
    fn submodule_outputs_parse() {
        let links = Git::parse_gitlinks(
            b"100644 blob 0c08f0bd\t.gitmodules\x00160000 commit e7ab73a9\tvendor/oca partner\x00040000 tree 1234\tcustom_addons\x00",
        );
        assert_eq!(
            links,
            [(PathBuf::from("vendor/oca partner"), "e7ab73a9".to_owned())]
        );
        let subs = Git::parse_submodule_status(
            " e7ab73a9 vendor/oca (heads/main)\n-1111 vendor/not yet\n+2222 vendor/moved (v1.0-3-g2222)\nU3333 vendor/conflict\n",
        );
        let got: Vec<(&str, &str, SubmoduleState)> = subs
            .iter()
            .map(|s| (s.path.to_str().unwrap_or(""), s.commit.as_str(), s.state))
            .collect();
        assert_eq!(
            got,
            [
                ("vendor/oca", "e7ab73a9", SubmoduleState::CheckedOut),
                ("vendor/not yet", "1111", SubmoduleState::NotCheckedOut),
                ("vendor/moved", "2222", SubmoduleState::OtherCommit),
                ("vendor/conflict", "3333", SubmoduleState::Conflict),
            ]
        );
    }

    #[test]
    fn log_output_parses() {
        let commits = Git::parse_log("aaa\x1fAdd a field\nbbb\x1fFix: a; b\n\n");
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[1].subject, "Fix: a; b");
    }
}
