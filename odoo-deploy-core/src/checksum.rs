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
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
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
    pub path: PathBuf,
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
    walk(
        &mut path,
        &mut String::new(),
        rules,
        &mut |relpath, path| {
            hasher.update(relpath.as_bytes());
            let io_err = |source| ChecksumError {
                path: path.to_owned(),
                source,
            };
            let mut file = std::fs::File::open(path).map_err(io_err)?;
            loop {
                match file.read(buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err(e)),
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
    walk(
        &mut dir.to_path_buf(),
        &mut String::new(),
        rules,
        &mut |relpath, _| {
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

/// `os.walk(top)` with sorted directories and files, top-down, not following links to
/// directories; calls `visit(relative path, full path)` for every kept file. `dir` and
/// `reldir` are buffers extended and restored in place (one allocation per addon, not
/// per file).
fn walk(
    dir: &mut PathBuf,
    reldir: &mut String,
    rules: &ChecksumRules,
    visit: &mut dyn FnMut(&str, &Path) -> Result<(), ChecksumError>,
) -> Result<(), ChecksumError> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    {
        let io_err = |source| ChecksumError {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&*dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            // Names that are not UTF-8 cannot be hashed the way Python does (it would use
            // surrogate escapes); they are taken lossily, which only ever changes a checksum.
            let name = entry.file_name().to_string_lossy().into_owned();
            let file_type = entry.file_type().map_err(io_err)?;
            // os.walk puts a symlink to a directory among the directories (and does not
            // descend into it); anything else that is not a directory is a file.
            let is_dir = file_type.is_dir() || (file_type.is_symlink() && entry.path().is_dir());
            if is_dir {
                if !file_type.is_symlink() {
                    dirs.push(name);
                }
            } else {
                files.push(name);
            }
        }
    }
    files.sort_unstable();
    dirs.sort_unstable();
    let rel_len = reldir.len();
    for name in &files {
        if rel_len > 0 {
            reldir.push('/');
        }
        reldir.push_str(name);
        dir.push(name);
        let kept = rules.keeps(&reldir[..rel_len], name, reldir);
        let visited = if kept { visit(reldir, dir) } else { Ok(()) };
        dir.pop();
        reldir.truncate(rel_len);
        visited?;
    }
    for name in &dirs {
        if rel_len > 0 {
            reldir.push('/');
        }
        reldir.push_str(name);
        let result = if rules.excludes_all_under(reldir) {
            Ok(())
        } else {
            dir.push(name);
            let result = walk(dir, reldir, rules, visit);
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
