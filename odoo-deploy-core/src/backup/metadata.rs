//! What a backup records about itself, and the parsers of the tools' outputs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::commands::DumpFormat;

/// The version of the metadata layout written by this code.
pub const METADATA_VERSION: u32 = 1;

/// Snapshot or dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// A same-cluster template copy + hard-linked filestore: seconds to restore.
    Snapshot,
    /// A portable `pg_dump` + filestore archive.
    Dump,
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupKind::Snapshot => "snapshot",
            BackupKind::Dump => "dump",
        })
    }
}

/// How a backup came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "origin", rename_all = "snake_case")]
pub enum Origin {
    /// Taken on purpose.
    Taken,
    /// The database and filestore that a restore put aside (kept until pruned).
    Replaced {
        /// The backup restored in its place.
        by_restore_of: String,
    },
}

/// Number and total size of the files of a filestore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FilestoreStats {
    /// Regular files.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// One file of a dump backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// The checks a backup passed before it was reported good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// When (unix milliseconds).
    pub verified_at_ms: i64,
    /// What was checked, one sentence each.
    pub checks: Vec<String>,
    /// Whether the dump was restored into a scratch database and its counts compared.
    pub restore_tested: bool,
}

/// `metadata.json` of a dump, `snapshots/<id>.json` of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMetadata {
    /// [`METADATA_VERSION`].
    pub version: u32,
    /// Unique within the backup directory.
    pub id: String,
    /// Snapshot or dump.
    pub kind: BackupKind,
    /// Taken or put aside by a restore.
    #[serde(flatten)]
    pub origin: Origin,
    /// The environment it belongs to.
    pub environment: String,
    /// The database it was taken from.
    pub database: String,
    /// The deployed commit at the time, when known.
    pub commit: Option<String>,
    /// The Odoo series, when known.
    pub series: Option<String>,
    /// When it was taken (unix milliseconds).
    pub created_at_ms: i64,
    /// Installed modules and their versions (from `ir_module_module`).
    pub module_versions: BTreeMap<String, String>,
    /// Exact row count of every table, `schema.table`.
    pub row_counts: BTreeMap<String, i64>,
    /// `pg_database_size` of the source.
    pub database_size: u64,
    /// The source filestore.
    pub filestore: FilestoreStats,
    /// Dump: its format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump_format: Option<DumpFormat>,
    /// Dump: entries in `pg_restore --list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toc_entries: Option<u64>,
    /// Dump: every file, path relative to the backup directory.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileDigest>,
    /// Snapshot: the database holding the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_database: Option<String>,
    /// Snapshot: the directory holding the filestore copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_filestore: Option<PathBuf>,
    /// How long each step took, in milliseconds.
    pub timings_ms: BTreeMap<String, u64>,
    /// The checks passed.
    pub verification: Verification,
}

impl BackupMetadata {
    /// Bytes the backup occupies: the files of a dump; database + filestore of a
    /// snapshot (hard links make the filestore part mostly shared).
    pub fn size(&self) -> u64 {
        match self.kind {
            BackupKind::Dump => self.files.values().map(|f| f.size).sum(),
            BackupKind::Snapshot => self.database_size + self.filestore.bytes,
        }
    }
}

/// What [`super::commands::INFO_SQL`] prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbInfo {
    /// `pg_database_size`.
    pub size: u64,
    /// Rows per table.
    pub counts: BTreeMap<String, i64>,
    /// Installed modules.
    pub modules: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct InfoLine {
    size: u64,
    counts: BTreeMap<String, i64>,
}

/// Parses the two JSON lines of [`super::commands::INFO_SQL`].
pub fn parse_db_info(out: &[u8]) -> Result<DbInfo, String> {
    let text = std::str::from_utf8(out).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().ok_or("no output")?;
    let second = lines.next().ok_or("no module line")?;
    let info: InfoLine = serde_json::from_str(first).map_err(|e| format!("{e} in {first:?}"))?;
    let modules: BTreeMap<String, String> =
        serde_json::from_str(second).map_err(|e| format!("{e} in {second:?}"))?;
    Ok(DbInfo {
        size: info.size,
        counts: info.counts,
        modules,
    })
}

/// Number and total size from `find -printf '%s\n'`.
pub fn parse_sizes(out: &[u8]) -> Result<FilestoreStats, String> {
    let text = std::str::from_utf8(out).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut stats = FilestoreStats::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let n: u64 = line
            .parse()
            .map_err(|_| format!("{line:?} is not a size"))?;
        stats.files += 1;
        stats.bytes += n;
    }
    Ok(stats)
}

/// Regular files and their total size in `tar --numeric-owner -tvf` output:
/// `-rw-r--r-- 0/0 1234 2026-11-22 04:00 ./ab/cdef`.
pub fn parse_tar_listing(out: &[u8]) -> Result<FilestoreStats, String> {
    let text = String::from_utf8_lossy(out);
    let mut stats = FilestoreStats::default();
    for line in text.lines() {
        if !line.starts_with('-') {
            continue;
        }
        let size = line
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("cannot read the size in {line:?}"))?;
        stats.files += 1;
        stats.bytes += size;
    }
    Ok(stats)
}

/// `path → sha256` from `sha256sum` output (`HASH  ./path`), paths without `./`.
pub fn parse_sha256sum(out: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let text = std::str::from_utf8(out).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (hash, path) = line
            .split_once("  ")
            .ok_or_else(|| format!("unexpected line {line:?}"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{hash:?} is not a SHA-256 (file names with newlines or backslashes are not expected here)"
            ));
        }
        let path = path.strip_prefix("./").unwrap_or(path);
        map.insert(path.to_owned(), hash.to_ascii_lowercase());
    }
    Ok(map)
}

/// The entries of a `pg_restore --list` table of contents (lines that are not
/// comments).
pub fn toc_entries(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .map(str::to_owned)
        .collect()
}

/// The tables (`schema.table`) whose data has no `TABLE DATA` entry in the TOC.
pub fn tables_missing_from_toc<'a>(
    toc: &[String],
    tables: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    let data: std::collections::HashSet<String> = toc
        .iter()
        .filter_map(|l| {
            let i = l.find(" TABLE DATA ")?;
            let rest = &l[i + " TABLE DATA ".len()..];
            let mut words = rest.split(' ');
            let schema = words.next()?;
            let table = words.next()?;
            Some(format!("{schema}.{table}"))
        })
        .collect();
    tables
        .into_iter()
        .filter(|t| !data.contains(t.as_str()) && !t.contains(' '))
        .cloned()
        .collect()
}

/// The differences between two sets of row counts, one line each.
pub fn count_differences(
    expected: &BTreeMap<String, i64>,
    actual: &BTreeMap<String, i64>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (t, n) in expected {
        match actual.get(t) {
            None => out.push(format!("{t}: missing (expected {n} rows)")),
            Some(m) if m != n => out.push(format!("{t}: {m} rows, expected {n}")),
            Some(_) => {}
        }
    }
    for (t, m) in actual {
        if !expected.contains_key(t) {
            out.push(format!("{t}: unexpected table with {m} rows"));
        }
    }
    out
}

/// `YYYYMMDD-HHMMSS-mmm` in UTC for unix milliseconds: sortable, usable in file and
/// database names.
pub fn stamp(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{ms:03}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(stamp(0), "19700101-000000-000");
        // 2026-11-22T04:17:47.123Z
        assert_eq!(stamp(1_795_321_067_123), "20261122-041747-123");
        assert_eq!(stamp(951_782_400_000), "20000229-000000-000");
    }

    #[test]
    fn db_info() {
        let out = b"{\"size\" : 8000, \"counts\" : {\"public.a\" : 3, \"public.b\" : 0}}\n{\"base\" : \"17.0.1.3\"}\n";
        let info = parse_db_info(out).unwrap();
        assert_eq!(info.size, 8000);
        assert_eq!(info.counts["public.a"], 3);
        assert_eq!(info.modules["base"], "17.0.1.3");
        assert!(parse_db_info(b"{\"size\": 1}\n").is_err());
    }

    #[test]
    fn listings() {
        assert_eq!(
            parse_sizes(b"10\n20\n").unwrap(),
            FilestoreStats {
                files: 2,
                bytes: 30
            }
        );
        assert!(parse_sizes(b"x\n").is_err());
        let tar = b"drwxr-xr-x 0/0               0 2026-11-22 04:00 ./\n\
                    drwxr-xr-x 0/0               0 2026-11-22 04:00 ./ab/\n\
                    -rw-r--r-- 0/0            1234 2026-11-22 04:00 ./ab/cd ef\n\
                    -rw-r--r-- 1000/1000         6 2026-11-22 04:00 ./ab/x\n";
        assert_eq!(
            parse_tar_listing(tar).unwrap(),
            FilestoreStats {
                files: 2,
                bytes: 1240
            }
        );
        let sums = format!(
            "{}  ./db.dump\n{}  ./db.dir/toc.dat\n",
            "a".repeat(64),
            "B".repeat(64)
        );
        let m = parse_sha256sum(sums.as_bytes()).unwrap();
        assert_eq!(m["db.dump"], "a".repeat(64));
        assert_eq!(m["db.dir/toc.dat"], "b".repeat(64));
        assert!(parse_sha256sum(b"\\abc  ./x\n").is_err());
    }

    #[test]
    fn toc() {
        let out = b";\n; Archive created at x\n;\n3361; 0 16390 TABLE DATA public ir_module_module odoo\n\
                    214; 1259 16390 TABLE public ir_module_module odoo\n\n";
        let toc = toc_entries(out);
        assert_eq!(toc.len(), 2);
        let tables = [
            "public.ir_module_module".to_owned(),
            "public.res_partner".to_owned(),
        ];
        assert_eq!(
            tables_missing_from_toc(&toc, &tables),
            vec!["public.res_partner"]
        );
    }

    #[test]
    fn count_diffs() {
        let a = BTreeMap::from([("t.a".to_owned(), 1), ("t.b".to_owned(), 2)]);
        let b = BTreeMap::from([("t.a".to_owned(), 1), ("t.c".to_owned(), 2)]);
        assert_eq!(
            count_differences(&a, &b),
            vec![
                "t.b: missing (expected 2 rows)",
                "t.c: unexpected table with 2 rows"
            ]
        );
        assert!(count_differences(&a, &a).is_empty());
    }
}
