//! Releases on a host: one directory per deploy under `<deploy_dir>/releases/`, and a
//! `current` symlink switched atomically. The previous releases stay until pruned, so the
//! way back to the code is a link switch.

use std::path::{Path, PathBuf};

use crate::command::RemoteCommand;
use crate::untrusted::{Kind, Refused};

/// The layout of odd's directory on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The environment's `odoo.deploy_dir` on the host: everything odd keeps is under it.
    pub deploy_dir: PathBuf,
}

impl Layout {
    /// The layout under `deploy_dir`.
    pub fn new(deploy_dir: impl Into<PathBuf>) -> Self {
        Self {
            deploy_dir: deploy_dir.into(),
        }
    }

    /// Where releases live.
    pub fn releases(&self) -> PathBuf {
        self.deploy_dir.join("releases")
    }

    /// One release's directory.
    pub fn release(&self, id: &str) -> PathBuf {
        self.releases().join(id)
    }

    /// The `current` symlink.
    pub fn current(&self) -> PathBuf {
        self.deploy_dir.join("current")
    }

    /// The ledger file.
    pub fn ledger(&self) -> PathBuf {
        self.deploy_dir.join(crate::ledger::LEDGER_FILE)
    }

    /// The lock file.
    pub fn lock(&self) -> PathBuf {
        self.deploy_dir.join("lock")
    }

    /// The journal of the running deploy.
    pub fn journal(&self) -> PathBuf {
        self.deploy_dir.join("journal")
    }

    /// Where long remote steps write their log and exit status.
    pub fn runs(&self) -> PathBuf {
        self.deploy_dir.join("runs")
    }

    /// The log and the exit-status file of the `i`-th update command of `release`, run
    /// detached on the host.
    pub fn update_run(&self, release: &str, i: usize) -> (PathBuf, PathBuf) {
        let runs = self.runs();
        (
            runs.join(format!("{release}-update-{i}.log")),
            runs.join(format!("{release}-update-{i}.status")),
        )
    }

    /// The plan deploy `id` ran, as JSON (its ledger line holds its digest); it lives
    /// with the update runs' files and is pruned with them, with its release.
    pub fn plan_file(&self, id: &str) -> PathBuf {
        self.runs().join(format!("{id}{PLAN_FILE_SUFFIX}"))
    }

    /// Where an uploaded archive waits to be unpacked.
    pub fn incoming(&self, id: &str) -> PathBuf {
        self.releases().join(format!(".{id}.tar"))
    }

    /// Unpacks the uploaded archive of release `id` into its directory (created first).
    pub fn unpack(&self, id: &str) -> Vec<RemoteCommand> {
        let dir = self.release(id);
        vec![
            RemoteCommand::new("mkdir").arg("-p").arg("--").arg(&dir),
            RemoteCommand::new("tar")
                .arg("-x")
                .arg("--no-same-owner")
                .arg("-f")
                .arg(self.incoming(id))
                .arg("-C")
                .arg(&dir),
            RemoteCommand::new("rm")
                .arg("-f")
                .arg("--")
                .arg(self.incoming(id)),
        ]
    }

    /// Prints the release `current` points to (its path).
    pub fn read_current(&self) -> RemoteCommand {
        RemoteCommand::new("readlink").arg("--").arg(self.current())
    }

    /// Lists the names in the releases folder, NUL-separated (a name may hold a
    /// newline); read them with [`parse_list`].
    pub fn list(&self) -> RemoteCommand {
        RemoteCommand::new("find").arg(self.releases()).args([
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-printf",
            "%f\\0",
        ])
    }

    /// Removes one release directory; refuses anything but a release id, so the path
    /// is always one folder strictly inside `releases/`.
    ///
    /// # Errors
    /// [`Refused`] when `id` is not a release id.
    pub fn remove(&self, id: &str) -> Result<RemoteCommand, Refused> {
        let id = crate::untrusted::release_id(id)?;
        Ok(RemoteCommand::new("rm")
            .arg("-rf")
            .arg("--")
            .arg(self.release(id)))
    }
}

/// The end of a plan file's name in `runs/` (after the release id).
pub const PLAN_FILE_SUFFIX: &str = "-plan.json";

/// A release id: sortable by time, naming the commit (`20261122T041500Z-0123abcd`).
pub fn release_id(unix_seconds: i64, commit: &str) -> String {
    let (date, time) = crate::clock::utc(unix_seconds);
    let short: String = commit.chars().take(8).collect();
    format!("{date}T{time}Z-{short}")
}

/// The release id a `current` link target names (its last path component), when it is
/// one: the link is read back from the host.
pub fn id_of_link(target: &str) -> Option<String> {
    Path::new(target.strip_suffix('\n').unwrap_or(target))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|id| crate::untrusted::release_id(id).is_ok())
}

/// The release ids of [`Layout::list`]'s output; other names (the archive being
/// uploaded, anything planted there) are returned apart, never pruned.
pub fn parse_list(output: &[u8]) -> (Vec<String>, Vec<Refused>) {
    let (ids, mut others) = crate::untrusted::listing(output, Kind::Release);
    // `.ID.tar` is an upload in progress: expected, not worth a notice.
    others.retain(|r| !(r.shown.starts_with("`.") && r.shown.ends_with(".tar`")));
    (ids, others)
}

/// Which releases to delete so that `keep` remain besides the current one; never the
/// current one nor any in `protected` (e.g. the one a pending rollback needs).
pub fn to_prune(
    mut releases: Vec<String>,
    current: Option<&str>,
    protected: &[&str],
    keep: usize,
) -> Vec<String> {
    releases.retain(|r| crate::untrusted::release_id(r).is_ok());
    releases.sort();
    let old: Vec<String> = releases
        .into_iter()
        .filter(|r| Some(r.as_str()) != current && !protected.contains(&r.as_str()))
        .collect();
    let excess = old.len().saturating_sub(keep);
    old.into_iter().take(excess).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::argv;

    #[test]
    fn ids_sort_by_time_and_name_the_commit() {
        assert_eq!(
            release_id(1_795_132_800 + 16 * 3600 + 61, "0123456789abcdef"),
            "20261120T160101Z-01234567"
        );
        assert_eq!(release_id(0, "ab"), "19700101T000000Z-ab");
        assert_eq!(
            id_of_link("/opt/odd/releases/20261120T160101Z-01234567\n").as_deref(),
            Some("20261120T160101Z-01234567")
        );
        assert_eq!(id_of_link("/opt/odd/releases/../../etc\n"), None);
        assert_eq!(id_of_link("/etc/passwd"), None);
    }

    #[test]
    fn unpacking_is_exact() {
        let layout = Layout::new("/opt/odd");
        let cmds: Vec<Vec<String>> = layout.unpack("r1").iter().map(argv).collect();
        assert_eq!(
            cmds,
            [
                vec!["mkdir", "-p", "--", "/opt/odd/releases/r1"],
                vec![
                    "tar",
                    "-x",
                    "--no-same-owner",
                    "-f",
                    "/opt/odd/releases/.r1.tar",
                    "-C",
                    "/opt/odd/releases/r1"
                ],
                vec!["rm", "-f", "--", "/opt/odd/releases/.r1.tar"],
            ]
        );
    }

    #[test]
    fn pruning_keeps_current_protected_and_the_newest() {
        let r = |i: usize| format!("2026112{i}T041500Z-0123abcd");
        let mut releases: Vec<String> = (1..=5).map(r).collect();
        releases.push(format!(".{}.tar", r(6)));
        let (r1, r2, r5) = (r(1), r(2), r(5));
        assert_eq!(
            to_prune(releases.clone(), Some(&r5), &[r1.as_str()], 2),
            [r2]
        );
        assert_eq!(
            to_prune(releases.clone(), Some(&r5), &[], 10),
            Vec::<String>::new()
        );
        assert_eq!(
            to_prune(releases, None, &[], 0),
            (1..=5).map(r).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_name_with_a_newline_is_never_pruned_and_the_folder_never_named() {
        // What `ls -1` made of `20261121…\n` before: an empty line, sorted first, and
        // `rm -rf -- releases/`.
        let layout = Layout::new("/opt/odd");
        let good = "20261121T041500Z-0123abcd";
        let out = format!("{good}\n\0{good}\0.{good}.tar\0");
        let (ids, others) = parse_list(out.as_bytes());
        assert_eq!(ids, [good]);
        assert_eq!(others.len(), 1, "{others:?}");
        assert!(
            to_prune(
                vec![String::new(), "..".into(), format!("{good}\n")],
                None,
                &[],
                0
            )
            .is_empty()
        );
        assert!(layout.remove("").is_err());
        assert!(layout.remove("..").is_err());
        assert!(layout.remove("../victim").is_err());
        assert_eq!(
            argv(&layout.remove(good).expect("valid")),
            [
                "rm",
                "-rf",
                "--",
                "/opt/odd/releases/20261121T041500Z-0123abcd"
            ]
        );
        assert_eq!(
            argv(&layout.list()),
            [
                "find",
                "/opt/odd/releases",
                "-mindepth",
                "1",
                "-maxdepth",
                "1",
                "-printf",
                "%f\\0"
            ]
        );
    }
}
