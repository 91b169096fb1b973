//! What a host says back, checked before odd acts on it.
//!
//! Names in directory listings, the ids and commits of the ledger and the journal, the
//! database and folder names of backup metadata: a host (or whoever can write to odd's
//! folders there) may say anything, and these values end up in paths, in `rm -rf`, in
//! `DROP DATABASE` and in git's argv. Each kind has one exact pattern here, and a value
//! is used only once it matched; paths are then derived from the value (for instance
//! [`crate::release::Layout::release`]), never taken whole from the host.
//!
//! | kind | pattern | made by |
//! |---|---|---|
//! | release / deploy id | `YYYYMMDDTHHMMSSZ-` + 8 hex digits | [`crate::release::release_id`] |
//! | backup id | `snapshot-`, `dump-` or `replaced-` + `YYYYMMDD-HHMMSS-mmm`, then optionally `-` and 8 hex digits (the database's tag) | [`crate::backup`] |
//! | commit | 40 (SHA-1) or 64 (SHA-256) lowercase hex digits | `git rev-parse` |
//! | database | 1–63 bytes, no `/`, `,`, control character, leading `-` or `.` | `odd.toml`, [`crate::backup::derived_name`] |

use std::fmt;

/// A value from the host that is not what it claims to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("the host gave {what} {shown}, which odd refuses to use: {reason}")]
#[diagnostic(
    code(odd::host::refused),
    help(
        "odd writes these values itself; one that does not match was changed on the host (by hand or by someone else): check odd's folder there"
    )
)]
pub struct Refused {
    /// What it was supposed to be (`a release id`).
    pub what: &'static str,
    /// The value, escaped and shortened for messages.
    pub shown: String,
    /// Which part of the pattern it breaks.
    pub reason: &'static str,
}

/// Kinds of values read back from a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A release directory's name, which is also its deploy's id.
    Release,
    /// A backup's id.
    Backup,
    /// A commit's full hash.
    Commit,
    /// A PostgreSQL database name that is also a filestore folder name.
    Database,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Release => "a release id",
            Kind::Backup => "a backup id",
            Kind::Commit => "a commit",
            Kind::Database => "a database name",
        }
    }

    /// Checks `value` against this kind's pattern.
    ///
    /// # Errors
    /// [`Refused`] naming the rule it breaks.
    pub fn check(self, value: &str) -> Result<&str, Refused> {
        let problem = match self {
            Kind::Release => release_problem(value),
            Kind::Backup => backup_problem(value),
            Kind::Commit => commit_problem(value),
            Kind::Database => database_problem(value),
        };
        match problem {
            None => Ok(value),
            Some(reason) => Err(Refused {
                what: self.what(),
                shown: shown(value),
                reason,
            }),
        }
    }
}

/// A release (and deploy) id: `20261122T041500Z-0123abcd`.
///
/// # Errors
/// [`Refused`].
pub fn release_id(value: &str) -> Result<&str, Refused> {
    Kind::Release.check(value)
}

/// A backup id: `snapshot-20261122-041500-123-0123abcd` (or `dump-…`, `replaced-…`);
/// the last part, the tag of the database it is of, is absent from older ids.
///
/// # Errors
/// [`Refused`].
pub fn backup_id(value: &str) -> Result<&str, Refused> {
    Kind::Backup.check(value)
}

/// A commit: 40 or 64 lowercase hex digits.
///
/// # Errors
/// [`Refused`].
pub fn commit(value: &str) -> Result<&str, Refused> {
    Kind::Commit.check(value)
}

/// A database name that can also name a filestore folder and travel in Odoo's `-d`.
///
/// # Errors
/// [`Refused`].
pub fn database(value: &str) -> Result<&str, Refused> {
    Kind::Database.check(value)
}

/// The names of a NUL-separated listing (`find DIR -mindepth 1 -maxdepth 1 -printf
/// '%f\0'`) that are of `kind`, in order; the others are returned apart (shown escaped)
/// so a caller can report them. Nothing in a name (a newline, an empty entry) can make
/// it into two, or into none.
pub fn listing(bytes: &[u8], kind: Kind) -> (Vec<String>, Vec<Refused>) {
    let mut good = Vec::new();
    let mut refused = Vec::new();
    for raw in bytes.split(|&b| b == 0) {
        if raw.is_empty() {
            continue;
        }
        match std::str::from_utf8(raw) {
            Ok(name) => match kind.check(name) {
                Ok(name) => good.push(name.to_owned()),
                Err(e) => refused.push(e),
            },
            Err(_) => refused.push(Refused {
                what: kind.what(),
                shown: shown(&String::from_utf8_lossy(raw)),
                reason: "it is not UTF-8",
            }),
        }
    }
    (good, refused)
}

/// Whether `v` has `shape`, character for character: `9` is a digit, `f` a lowercase
/// hex digit, anything else itself.
fn has_shape(v: &str, shape: &str) -> bool {
    v.len() == shape.len()
        && v.bytes().zip(shape.bytes()).all(|(c, s)| match s {
            b'9' => c.is_ascii_digit(),
            b'f' => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
            _ => c == s,
        })
}

fn lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn release_problem(v: &str) -> Option<&'static str> {
    (!has_shape(v, "99999999T999999Z-ffffffff"))
        .then_some("it is not YYYYMMDDTHHMMSSZ- and 8 hex digits")
}

fn backup_problem(v: &str) -> Option<&'static str> {
    let Some(stamp) = ["snapshot-", "dump-", "replaced-"]
        .iter()
        .find_map(|p| v.strip_prefix(p))
    else {
        return Some("it does not start with snapshot-, dump- or replaced-");
    };
    (!has_shape(stamp, "99999999-999999-999") && !has_shape(stamp, "99999999-999999-999-ffffffff"))
        .then_some(
            "its time stamp is not YYYYMMDD-HHMMSS-mmm (and an optional -tag of 8 hex digits)",
        )
}

fn commit_problem(v: &str) -> Option<&'static str> {
    if !(v.len() == 40 || v.len() == 64) {
        Some("it is not 40 (or 64) hex digits long")
    } else if !lower_hex(v) {
        Some("it is not lowercase hex")
    } else {
        None
    }
}

fn database_problem(v: &str) -> Option<&'static str> {
    if v.is_empty() {
        Some("it is empty")
    } else if v.len() > crate::backup::MAX_IDENTIFIER_BYTES {
        Some("it is longer than 63 bytes, PostgreSQL's limit")
    } else if v.contains('/') {
        Some("it contains `/`, which cannot be in a filestore folder name")
    } else if v.contains(',') {
        Some("it contains `,`, where Odoo splits a list of databases")
    } else if v.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if v.starts_with('-') {
        Some("it starts with `-`, which programs read as an option")
    } else if v.starts_with('.') {
        Some("it starts with `.`")
    } else {
        None
    }
}

/// `value` escaped (no control characters reach a terminal) and cut to 80 characters.
pub fn shown(value: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in value.chars().enumerate() {
        if i == 80 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};

    use proptest::prelude::*;

    use super::*;
    use crate::release::Layout;

    #[test]
    fn exact_patterns() {
        assert!(release_id("20261122T041500Z-0123abcd").is_ok());
        assert_eq!(
            release_id(&crate::release::release_id(1_795_132_800, &"ab".repeat(20))),
            Ok("20261120T000000Z-abababab")
        );
        for bad in [
            "",
            "../victim",
            "20261122T041500Z-0123abc",
            "20261122T041500Z-0123ABCD",
            "20261122T041500Z-0123abc\n",
            "\n20261122T041500Z-0123abc",
            "20261122t041500Z-0123abcd",
            "2026112xT041500Z-0123abcd",
            "20261122T041500Z-0123ab/d",
            "20261122T041500Z-0123abcé",
        ] {
            assert!(release_id(bad).is_err(), "{bad:?}");
        }
        assert!(backup_id("snapshot-20261122-041500-123").is_ok());
        assert!(backup_id("dump-20261122-041500-123").is_ok());
        assert!(backup_id("replaced-20261122-041500-123").is_ok());
        assert!(backup_id("snapshot-20261122-041500-123-0123abcd").is_ok());
        assert!(backup_id("replaced-20261122-041500-123-ffffffff").is_ok());
        for bad in [
            "snapshot-",
            "snapshot-20261122-041500-123-",
            "snapshot-20261122-041500-123-0123ABCD",
            "snapshot-20261122-041500-123-0123abc",
            "snapshot-20261122-041500-123-0123abcd/x",
            "snapshot-20261122-041500-123-../../x",
            "dump-../../x",
            "snap-20261122-041500-123",
            "dump-20261122-041500-1234",
        ] {
            assert!(backup_id(bad).is_err(), "{bad:?}");
        }
        assert!(commit(&"a".repeat(40)).is_ok());
        assert!(commit(&"0".repeat(64)).is_ok());
        for bad in ["--output=/tmp/x", "HEAD", &"A".repeat(40), &"a".repeat(41)] {
            assert!(commit(bad).is_err(), "{bad:?}");
        }
        assert!(database("prod \"x\"; it's").is_ok());
        for bad in [
            "",
            "a/b",
            "prod,other",
            "-x",
            ".",
            "..",
            "a\nb",
            &"x".repeat(64),
        ] {
            assert!(database(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_listing_entry_with_a_newline_is_one_refused_name() {
        let (good, refused) = listing(
            b"20261122T041500Z-0123abcd\0\n\0evil\n20261122T041600Z-0123abcd\0\0.x.tar\0",
            Kind::Release,
        );
        assert_eq!(good, ["20261122T041500Z-0123abcd"]);
        assert_eq!(refused.len(), 3);
        assert!(refused[1].shown.contains("evil\\n2026"), "{:?}", refused[1]);
    }

    /// Whether `path` is a strict descendant of `root`, lexically (no `..`, no `.`).
    fn strictly_inside(path: &Path, root: &Path) -> bool {
        path.strip_prefix(root).is_ok_and(|rest| {
            rest.components().count() > 0
                && rest.components().all(|c| matches!(c, Component::Normal(_)))
        })
    }

    proptest! {
        #[test]
        fn any_host_string_validates_or_is_refused_and_removals_stay_inside(
            s in prop_oneof![
                any::<String>(),
                "[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}",
                "[0-9]{8}T[0-9]{6}Z-[0-9a-f/.\n]{8}",
                "(snapshot|dump|replaced)-[0-9]{8}-[0-9]{6}-[0-9]{3}",
                "(snapshot|dump)-[0-9./-]{19}",
                "[./a-z\n-]{0,12}",
            ]
        ) {
            let deploy_dir = Path::new("/srv/odd");
            let layout = Layout::new(deploy_dir);
            // The listing of the releases folder: whatever the names, each one that is
            // kept names a release strictly inside it.
            let mut bytes = s.clone().into_bytes();
            bytes.push(0);
            bytes.extend_from_slice(s.as_bytes());
            let (good, refused) = listing(&bytes, Kind::Release);
            prop_assert_eq!(good.len() + refused.len(), bytes.split(|&b| b == 0).filter(|r| !r.is_empty()).count());
            for id in &good {
                let cmd = layout.remove(id).expect("a valid id");
                let argv: Vec<String> = crate::testing::argv(&cmd);
                let target = Path::new(argv.last().expect("a path"));
                prop_assert!(strictly_inside(target, &layout.releases()), "{:?}", argv);
            }
            match release_id(&s) {
                Ok(id) => {
                    let cmd = layout.remove(id).expect("a valid id");
                    let argv = crate::testing::argv(&cmd);
                    prop_assert!(strictly_inside(Path::new(&argv[argv.len() - 1]), &layout.releases()));
                }
                Err(e) => {
                    prop_assert!(layout.remove(&s).is_err());
                    prop_assert!(!e.shown.chars().any(char::is_control));
                }
            }
            for kind in [Kind::Backup, Kind::Database] {
                if kind.check(&s).is_ok() {
                    let root = Path::new("/srv/backups");
                    prop_assert!(strictly_inside(&root.join(&s), root), "{:?} {:?}", kind, s);
                }
            }
            if commit(&s).is_ok() {
                prop_assert!(!s.starts_with('-'));
            }
        }

        #[test]
        fn a_ledger_record_is_used_only_when_all_it_names_validates(
            id in prop_oneof![any::<String>(), "[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}", "\\.\\./[a-z]{1,8}"],
            commit in prop_oneof![any::<String>(), "[0-9a-f]{40}", "--[a-z]{1,8}=/tmp/x"],
            previous in prop_oneof![any::<String>(), "[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}"],
        ) {
            let mut record: serde_json::Value = serde_json::json!({
                "id": id, "environment": "prod", "commit": commit, "previous_commit": null,
                "who": "ops@laptop", "started_at": 0, "finished_at": null,
                "outcome": "running", "reason": null, "plan": null, "downtime_ms": null,
                "window_override": null, "previous_release": previous,
            });
            if let Some(r) = record.as_object_mut() {
                r.insert("backups".into(), serde_json::json!([]));
            }
            let ledger = crate::ledger::Ledger::parse(&format!("{record}\n"));
            let valid = release_id(&id).is_ok()
                && self::commit(&commit).is_ok()
                && release_id(&previous).is_ok();
            prop_assert_eq!(ledger.records().len(), usize::from(valid));
            let layout = Layout::new("/srv/odd");
            for r in ledger.records() {
                for name in [&r.id, r.previous_release.as_ref().expect("kept")] {
                    let cmd = layout.remove(name).expect("a valid id");
                    let argv = crate::testing::argv(&cmd);
                    prop_assert!(strictly_inside(Path::new(&argv[argv.len() - 1]), &layout.releases()));
                }
            }
        }
    }
}
