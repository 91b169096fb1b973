//! Content checksums of addons, the way click-odoo-update and OCA's `module_auto_update`
//! compute them, so the checksums they stored in a database can be compared with ours.
//!
//! The checksum of an addon is the SHA-1 of, for every file in a sorted top-down walk of
//! its directory, the file's path relative to the addon (so an empty or renamed file
//! counts) followed by its bytes. Files matching the exclude patterns (Python `fnmatch`
//! rules, where `*` also matches `/`) are skipped, and so are `.po` files under `i18n/`
//! and `i18n_extra/` whose language is not installed. The default patterns skip what
//! never needs `-u`: compiled Python, translation templates, `static/` (assets are
//! rebuilt by Odoo from disk) and `tests/`.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fd::OwnedFd;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use sha1::{Digest, Sha1};

/// The `ir_config_parameter` key where odd stores checksums after a good deploy.
pub const ODD_CHECKSUMS_KEY: &str = "odd.installed_checksums";
/// The key click-odoo-update and `module_auto_update` use; read when odd's own is absent.
pub const CLICK_ODOO_CHECKSUMS_KEY: &str = "module_auto_update.installed_checksums";
/// The key holding custom exclude patterns (comma-separated), shared with those tools.
pub const EXCLUDE_PATTERNS_KEY: &str = "module_auto_update.exclude_patterns";
/// click-odoo-update's default exclude patterns.
pub const DEFAULT_EXCLUDE_PATTERNS: &str =
    "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*";

/// What a checksum leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumRules {
    exclude: Vec<String>,
    /// Language prefixes (`fr` for `fr_BE`) whose `.po` files count; empty keeps them all.
    keep_langs: Vec<String>,
}

impl Default for ChecksumRules {
    fn default() -> Self {
        Self::new(DEFAULT_EXCLUDE_PATTERNS, &["en_US"])
    }
}

impl ChecksumRules {
    /// `patterns` comma-separated as stored in the database; `langs` as in `res_lang.code`.
    pub fn new(patterns: &str, langs: &[&str]) -> Self {
        let mut keep_langs: Vec<String> = langs
            .iter()
            .map(|l| l.split('_').next().unwrap_or(l).to_owned())
            .collect();
        keep_langs.sort();
        keep_langs.dedup();
        Self {
            exclude: patterns.split(',').map(|p| p.trim().to_owned()).collect(),
            keep_langs,
        }
    }

    /// The exclude patterns.
    pub fn patterns(&self) -> &[String] {
        &self.exclude
    }

    /// The language prefixes whose `.po` files count (empty: all).
    pub fn langs(&self) -> &[String] {
        &self.keep_langs
    }

    /// Whether every file under `reldir` (relative to the addon) is excluded, so the walk
    /// need not enter it: a pattern ending in `*` that matches `reldir/` matches anything
    /// longer that starts with it (its last `*` takes the rest), e.g. `static/*` for
    /// `static`. Python walks such directories for nothing; skipping them changes no
    /// checksum.
    fn excludes_all_under(&self, reldir: &str) -> bool {
        let prefix = format!("{reldir}/");
        self.exclude
            .iter()
            .any(|p| p.ends_with('*') && fnmatch(p.as_bytes(), prefix.as_bytes()))
    }

    fn keeps(&self, reldir: &str, filename: &str, relpath: &str) -> bool {
        if self
            .exclude
            .iter()
            .any(|p| fnmatch(p.as_bytes(), relpath.as_bytes()))
        {
            return false;
        }
        if !self.keep_langs.is_empty() && (reldir == "i18n" || reldir == "i18n_extra") {
            let (base, ext) = split_ext(filename);
            if ext == ".po" {
                let lang = base.split('_').next().unwrap_or(base);
                return self.keep_langs.iter().any(|k| k == lang);
            }
        }
        true
    }
}

/// Python's `os.path.splitext` on a file name: leading dots do not start an extension.
fn split_ext(name: &str) -> (&str, &str) {
    let start = name.len() - name.trim_start_matches('.').len();
    match name[start..].rfind('.') {
        Some(i) => name.split_at(start + i),
        None => (name, ""),
    }
}

/// A failure reading an addon's files.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot checksum {path}")]
#[diagnostic(code(odd::checksum::io))]
pub struct ChecksumError {
    /// The file or directory that could not be read.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The checksum of one addon directory, as a lowercase hex SHA-1.
pub fn addon_checksum(dir: &Path, rules: &ChecksumRules) -> Result<String, ChecksumError> {
    addon_checksum_with(dir, rules, &mut vec![0u8; READ_BUF])
}

/// Read size: most addon files fit in one read.
const READ_BUF: usize = 128 * 1024;

fn addon_checksum_with(
    dir: &Path,
    rules: &ChecksumRules,
    buf: &mut [u8],
) -> Result<String, ChecksumError> {
    let mut hasher = Sha1::new();
    let mut path = dir.to_path_buf();
    let root = open_dir(None, dir).map_err(|source| ChecksumError {
        path: dir.to_owned(),
        source,
    })?;
    walk(
        &root,
        &mut path,
        &mut String::new(),
        rules,
        &mut |relpath, dirfd, name, dir| {
            hasher.update(relpath.as_bytes());
            let io_err = |source| ChecksumError {
                path: dir.join(relpath.rsplit('/').next().unwrap_or(relpath)),
                source,
            };
            // Opened relative to its directory: no path walk per file.
            let file = rfs::openat(dirfd, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err(e.into()))?;
            loop {
                match rustix::io::read(&file, &mut *buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(io_err(e.into())),
                }
            }
        },
    )?;
    Ok(hex::encode(hasher.finalize()))
}

/// The files an addon's checksum reads, relative to the addon and in the order it reads
/// them (for tools that want to hash or inspect exactly those files).
pub fn addon_files(dir: &Path, rules: &ChecksumRules) -> Result<Vec<String>, ChecksumError> {
    let mut files = Vec::new();
    let root = open_dir(None, dir).map_err(|source| ChecksumError {
        path: dir.to_owned(),
        source,
    })?;
    walk(
        &root,
        &mut dir.to_path_buf(),
        &mut String::new(),
        rules,
        &mut |relpath, _, _, _| {
            files.push(relpath.to_owned());
            Ok(())
        },
    )?;
    Ok(files)
}

/// Checksums of many addons at once, in parallel; keyed by addon name.
pub fn checksums<'a>(
    addons: impl IntoIterator<Item = (&'a str, &'a Path)>,
    rules: &ChecksumRules,
) -> Result<BTreeMap<String, String>, ChecksumError> {
    let addons: Vec<(&str, &Path)> = addons.into_iter().collect();
    addons
        .par_iter()
        .map_init(
            // One read buffer per worker thread, not one per addon.
            || vec![0u8; READ_BUF],
            |buf, (name, dir)| {
                addon_checksum_with(dir, rules, buf).map(|sum| ((*name).to_owned(), sum))
            },
        )
        .collect()
}

/// What [`walk`] calls for each kept file: its relative path, its directory's handle, its
/// name there, and its directory's path (for messages).
type Visit<'a> = dyn FnMut(&str, &OwnedFd, &CStr, &Path) -> Result<(), ChecksumError> + 'a;

/// A directory opened for reading its entries and opening files relative to it.
fn open_dir(parent: Option<&OwnedFd>, path: &Path) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match parent {
        Some(parent) => rfs::openat(parent, path, flags | OFlags::NOFOLLOW, Mode::empty()),
        None => rfs::open(path, flags, Mode::empty()),
    };
    fd.map_err(Into::into)
}

/// `os.walk(top)` with sorted directories and files, top-down, not following links to
/// directories; calls `visit(relative path, directory handle, file name, directory path)`
/// for every kept file. Files are opened relative to their directory's handle, which saves
/// the kernel a walk of the whole path per file.
fn walk(
    dirfd: &OwnedFd,
    dir: &mut PathBuf,
    reldir: &mut String,
    rules: &ChecksumRules,
    visit: &mut Visit<'_>,
) -> Result<(), ChecksumError> {
    let io_err = |path: &Path, source: std::io::Error| ChecksumError {
        path: path.to_owned(),
        source,
    };
    // (name as Python shows it, name as the file system has it)
    let mut files: Vec<(String, CString)> = Vec::new();
    let mut dirs: Vec<(String, CString)> = Vec::new();
    let mut entries = rfs::Dir::read_from(dirfd).map_err(|e| io_err(dir, e.into()))?;
    while let Some(entry) = entries.read() {
        let entry = entry.map_err(|e| io_err(dir, e.into()))?;
        let raw = entry.file_name();
        let bytes = raw.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        // Names that are not UTF-8 cannot be hashed the way Python does (it would use
        // surrogate escapes); they are taken lossily, which only ever changes a checksum.
        let name = String::from_utf8_lossy(bytes).into_owned();
        let kind = match entry.file_type() {
            FileType::Unknown => rfs::statat(dirfd, raw, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))
                .map_err(|e| io_err(&dir.join(&name), e.into()))?,
            kind => kind,
        };
        // os.walk puts a symlink to a directory among the directories (and does not
        // descend into it); anything else that is not a directory is a file.
        match kind {
            FileType::Directory => dirs.push((name, raw.to_owned())),
            FileType::Symlink => {
                let to_dir = rfs::statat(dirfd, raw, AtFlags::empty())
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
                if !to_dir {
                    files.push((name, raw.to_owned()));
                }
            }
            _ => files.push((name, raw.to_owned())),
        }
    }
    files.sort_unstable();
    dirs.sort_unstable();
    let rel_len = reldir.len();
    for (name, raw) in &files {
        if rel_len > 0 {
            reldir.push('/');
        }
        reldir.push_str(name);
        let kept = rules.keeps(&reldir[..rel_len], name, reldir);
        let visited = if kept {
            visit(reldir, dirfd, raw, dir)
        } else {
            Ok(())
        };
        reldir.truncate(rel_len);
        visited?;
    }
    for (name, raw) in &dirs {
        if rel_len > 0 {
            reldir.push('/');
        }
        reldir.push_str(name);
        let result = if rules.excludes_all_under(reldir) {
            Ok(())
        } else {
            dir.push(name);
            let result = rfs::openat(
                dirfd,
                raw.as_c_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .map_err(|e| io_err(dir, e.into()))
            .and_then(|sub| walk(&sub, dir, reldir, rules, visit));
            dir.pop();
            result
        };
        reldir.truncate(rel_len);
        result?;
    }
    Ok(())
}

/// Python's `fnmatch.fnmatchcase`: `*` (anything, `/` included), `?`, `[seq]`, `[!seq]`.
fn fnmatch(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(&pattern[p..], text[t]) {
                        if matched {
                            p += next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        // An unclosed `[` is a literal, as in Python.
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `pattern` (which begins with `[`);
/// `None` when the class is not closed. Returns whether it matched and its length.
fn class_match(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!'));
    if negate {
        i += 1;
    }
    // A `]` right after `[` or `[!` is part of the class.
    let start = i;
    let mut matched = false;
    while i < pattern.len() {
        let ch = pattern[i];
        if ch == b']' && i > start {
            return Some((matched != negate, i + 1));
        }
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            let end = pattern[i + 2];
            if ch <= c && c <= end {
                matched = true;
            }
            i += 3;
        } else {
            if ch == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_python() {
        assert!(fnmatch(b"*.pyc", b"models/__pycache__/x.cpython-311.pyc"));
        assert!(fnmatch(b"static/*", b"static/src/js/a.js"));
        assert!(!fnmatch(b"static/*", b"models/static/a.js"));
        assert!(fnmatch(b"i18n/*.pot", b"i18n/sale.pot"));
        assert!(!fnmatch(b"i18n/*.pot", b"i18n/fr.po"));
        assert!(fnmatch(b"?.py", b"a.py"));
        assert!(fnmatch(b"[ab].py", b"b.py"));
        assert!(!fnmatch(b"[!ab].py", b"b.py"));
        assert!(fnmatch(b"[a-c]x", b"bx"));
        assert!(fnmatch(b"[]]", b"]"));
        assert!(fnmatch(b"a[", b"a["));
        assert!(fnmatch(b"", b""));
        assert!(!fnmatch(b"", b"a"));
        assert!(fnmatch(b"*a*b*", b"xxaxxbxx"));
    }

    #[test]
    fn splitext_follows_python() {
        assert_eq!(split_ext("fr_BE.po"), ("fr_BE", ".po"));
        assert_eq!(split_ext(".po"), (".po", ""));
        assert_eq!(split_ext("a.tar.gz"), ("a.tar", ".gz"));
        assert_eq!(split_ext("README"), ("README", ""));
    }

    #[test]
    fn only_wholly_excluded_directories_are_skipped() {
        let rules = ChecksumRules::default();
        assert!(rules.excludes_all_under("static"));
        assert!(rules.excludes_all_under("static/src"));
        assert!(rules.excludes_all_under("tests"));
        assert!(!rules.excludes_all_under("models/tests"));
        assert!(!rules.excludes_all_under("i18n"));
        assert!(!rules.excludes_all_under("models"));
        assert!(ChecksumRules::new("*", &[]).excludes_all_under("models"));
        assert!(ChecksumRules::new("*/tests/*", &[]).excludes_all_under("models/tests"));
        assert!(!ChecksumRules::new("*.py", &[]).excludes_all_under("models"));
    }

    #[test]
    fn addon_files_lists_what_the_checksum_reads_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for rel in [
            "__manifest__.py",
            "models/b.py",
            "models/a.py",
            "static/src/x.js",
            "tests/test_a.py",
            "i18n/fr.po",
            "i18n/de.po",
            "a.txt",
        ] {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, rel).expect("write");
        }
        let rules = ChecksumRules::new(DEFAULT_EXCLUDE_PATTERNS, &["fr_BE"]);
        assert_eq!(
            addon_files(dir.path(), &rules).expect("files"),
            [
                "__manifest__.py",
                "a.txt",
                "i18n/fr.po",
                "models/a.py",
                "models/b.py"
            ]
        );
        let mut expected = Sha1::new();
        for rel in [
            "__manifest__.py",
            "a.txt",
            "i18n/fr.po",
            "models/a.py",
            "models/b.py",
        ] {
            expected.update(rel.as_bytes());
            expected.update(rel.as_bytes());
        }
        assert_eq!(
            addon_checksum(dir.path(), &rules).expect("checksum"),
            hex::encode(expected.finalize())
        );
    }

    #[test]
    fn languages_filter_po_files() {
        let rules = ChecksumRules::new(DEFAULT_EXCLUDE_PATTERNS, &["en_US", "fr_BE"]);
        assert!(rules.keeps("i18n", "fr.po", "i18n/fr.po"));
        assert!(rules.keeps("i18n", "fr_CA.po", "i18n/fr_CA.po"));
        assert!(!rules.keeps("i18n", "de.po", "i18n/de.po"));
        assert!(!rules.keeps("i18n", "sale.pot", "i18n/sale.pot"));
        assert!(rules.keeps("data", "de.po", "data/de.po"));
        assert!(!rules.keeps("static/src", "a.js", "static/src/a.js"));
    }
}
