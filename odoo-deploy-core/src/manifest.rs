//! Odoo manifests (`__manifest__.py`, or `__openerp__.py` in older trees), read with the
//! rules of Python's `ast.literal_eval`, which is what Odoo itself uses.
//!
//! [`Value`] is the literal as Python would build it; [`Manifest`] is the typed model on top.
//! Every value keeps the [`Span`] of the text it came from, so later checks can point at it.
//!
//! The reader is a small tokenizer (`lexer`) and a recursive-descent evaluator (`parser`)
//! that follow Python 3.11, the oracle of the tests: every literal form (string prefixes
//! and escapes, implicit concatenation, ints of any size and base, floats, complex
//! `a+bj`, `...`, tuples, lists, dicts, sets, `set()`), comments, backslash
//! continuations, CPython's indentation rules, and its limit of 200 nested brackets.
//! Duplicate dict keys and set elements follow Python's equality (`1 == 1.0 == True`).
//! Reading is linear in the size of the text and never recurses deeper than the bracket
//! nesting (at most ~1 MB of stack in debug builds, far less in release).
//!
//! Differences from Python, all reported as [`ErrorKind::Unsupported`]: strings holding
//! lone surrogates (`'\ud800'`, which could not be stored as UTF-8 anyway), and `\N{…}`
//! names outside the table in `names` (ASCII, Latin, Greek, Cyrillic, punctuation,
//! symbols, arrows, maths, box drawing, dingbats, common emoji, usual aliases).
//!
//! Sets: Python iterates a set in hash order, which for `str` changes from run to run;
//! [`Value`] keeps set elements in source order after removing duplicates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod error;
mod int;
mod lexer;
mod names;
mod parser;
mod strings;
mod value;

pub use error::{ErrorKind, ManifestError};
pub use int::Int;
pub use value::{JsonError, Value, ValueKind, float_repr, json_float};

use error::Located;

/// Byte range in the manifest's source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Span {
    /// Byte offset of the start.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.offset, span.len).into()
    }
}

/// The manifest file names Odoo looks for, in its order.
pub const MANIFEST_NAMES: [&str; 2] = ["__manifest__.py", "__openerp__.py"];

/// A manifest file inside `dir`, if there is one.
pub fn manifest_file(dir: &Path) -> Option<PathBuf> {
    MANIFEST_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Evaluate `source` as Python's `ast.literal_eval(source)` does. Errors name the file
/// `<string>`.
pub fn literal_eval(source: &str) -> Result<Value, ManifestError> {
    parser::literal_eval(source)
        .map_err(|e| ManifestError::at(PathBuf::from("<string>"), Arc::from(source), e))
}

/// A value with the span of its source text. Serialises as the bare value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written in the manifest.
    pub span: Span,
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl AsRef<str> for Spanned<String> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl std::borrow::Borrow<str> for Spanned<String> {
    fn borrow(&self) -> &str {
        &self.value
    }
}

impl PartialEq<str> for Spanned<String> {
    fn eq(&self, other: &str) -> bool {
        self.value == other
    }
}

impl PartialEq<&str> for Spanned<String> {
    fn eq(&self, other: &&str) -> bool {
        self.value == *other
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: serde::Serialize> serde::Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

/// `auto_install`: `False`, `True`, or (Odoo ≥ 16) the dependencies that trigger it.
/// Serialises as `false`, `true` or the list, as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AutoInstall {
    /// `False` (the default).
    #[default]
    No,
    /// `True`: installed once all of `depends` are.
    Yes,
    /// Installed automatically once all of these (a subset of `depends`) are installed.
    When(Vec<String>),
}

impl serde::Serialize for AutoInstall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AutoInstall::No => s.serialize_bool(false),
            AutoInstall::Yes => s.serialize_bool(true),
            AutoInstall::When(triggers) => triggers.serialize(s),
        }
    }
}

impl AutoInstall {
    /// Is the module ever installed automatically?
    pub fn is_auto(&self) -> bool {
        !matches!(self, AutoInstall::No)
    }
}

/// `external_dependencies`: Python packages and binaries the module needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ExternalDependencies {
    /// `python`: Python packages the module needs.
    pub python: Vec<String>,
    /// `bin`: programs that must be on the `PATH`.
    pub bin: Vec<String>,
}

/// One addon's manifest, typed. Keys odd does not model are kept in `other`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Manifest {
    /// The module's technical name: its directory name.
    pub name: String,
    /// The manifest file.
    pub path: PathBuf,
    /// `version` as written (Odoo prefixes the series when it has 2 or 3 parts).
    pub version: Option<String>,
    /// `depends`, each with the span of its string.
    pub depends: Vec<Spanned<String>>,
    /// `auto_install` (default `False`).
    pub auto_install: AutoInstall,
    /// `installable` (default `True`).
    pub installable: bool,
    /// `application` (default `False`).
    pub application: bool,
    /// `license`, as written.
    pub license: Option<String>,
    /// `data`: files loaded at install and update, relative to the addon.
    pub data: Vec<String>,
    /// `demo`: files loaded with demo data, relative to the addon.
    pub demo: Vec<String>,
    /// `external_dependencies`.
    pub external_dependencies: ExternalDependencies,
    /// `name` key: the human title (the technical name is [`Manifest::name`]).
    pub title: Option<String>,
    /// `summary`, as written.
    pub summary: Option<String>,
    /// `description`, as written.
    pub description: Option<String>,
    /// `category`, as written.
    pub category: Option<String>,
    /// `author`, as written.
    pub author: Option<String>,
    /// `website`, as written.
    pub website: Option<String>,
    /// Every other key, as its raw value.
    pub other: BTreeMap<String, Value>,
    /// The whole dict as read, with all spans.
    #[serde(skip)]
    pub raw: Value,
    #[serde(skip)]
    source: Arc<str>,
}

/// Keys with a typed field in [`Manifest`].
const TYPED_KEYS: [&str; 16] = [
    "version",
    "depends",
    "auto_install",
    "installable",
    "application",
    "license",
    "data",
    "demo",
    "external_dependencies",
    "name",
    "summary",
    "description",
    "category",
    "author",
    "website",
    "",
];

impl Manifest {
    /// Parse the manifest text of module `name` read from `path`.
    pub fn parse(name: &str, path: &Path, source: &str) -> Result<Manifest, ManifestError> {
        let src: Arc<str> = Arc::from(source);
        let fail = |e: Located| ManifestError::at(path.to_path_buf(), src.clone(), e);
        let raw = parser::literal_eval(source).map_err(fail)?;
        Self::from_value(name, path, raw, src.clone()).map_err(fail)
    }

    /// Read the manifest of the addon in `dir` (its name is the directory name). `None`
    /// when the directory has no manifest file.
    pub fn from_dir(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
        let Some(path) = manifest_file(dir) else {
            return Ok(None);
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(&path).map_err(|e| ManifestError::io(path.clone(), e))?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let lossy: Arc<str> = Arc::from(String::from_utf8_lossy(e.as_bytes()));
                let bad = e.as_bytes().get(at).copied().unwrap_or(0);
                return Err(ManifestError::at(
                    path,
                    lossy,
                    Located::new(
                        ErrorKind::Encoding,
                        Span { offset: at, len: 3 },
                        format!(
                            "the manifest is not valid UTF-8 (byte 0x{bad:02x} at offset {at})"
                        ),
                        "invalid UTF-8",
                    )
                    .help("Odoo reads manifests as UTF-8: re-save the file as UTF-8"),
                ));
            }
        };
        Self::parse(&name, &path, &text).map(Some)
    }

    /// The manifest's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The span of `key`'s value in the source, if the key is present.
    pub fn value_span(&self, key: &str) -> Option<Span> {
        self.raw.get(key).map(|v| v.span)
    }

    /// The span of `key` itself (the string before the colon), if present.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        match &self.raw.kind {
            ValueKind::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, _)| k.span),
            _ => None,
        }
    }

    /// The names in `depends`.
    pub fn depends_names(&self) -> impl Iterator<Item = &str> {
        self.depends.iter().map(|d| d.value.as_str())
    }

    fn from_value(
        name: &str,
        path: &Path,
        raw: Value,
        source: Arc<str>,
    ) -> Result<Manifest, Located> {
        let ValueKind::Dict(entries) = &raw.kind else {
            return Err(Located::new(
                ErrorKind::NotDict,
                raw.span,
                format!("the manifest is a {}, not a dict", raw.kind.type_name()),
                "expected a dict",
            )
            .help("Odoo requires the manifest to be one dict literal: `{'name': ..., ...}`"));
        };
        let mut other = BTreeMap::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                return Err(Located::new(
                    ErrorKind::Type,
                    k.span,
                    format!("manifest keys must be str, not {}", k.kind.type_name()),
                    "not a string key",
                ));
            };
            if !TYPED_KEYS.contains(&key) || key.is_empty() {
                other.insert(key.to_owned(), v.clone());
            }
        }
        let depends = str_list(&raw, "depends")?.unwrap_or_default();
        let auto_install = match raw.get("auto_install") {
            None => AutoInstall::No,
            Some(v) => match &v.kind {
                ValueKind::Bool(false) => AutoInstall::No,
                ValueKind::Bool(true) => AutoInstall::Yes,
                _ => {
                    let triggers = spanned_strs(v, "auto_install")?;
                    if let Some(t) = triggers
                        .iter()
                        .find(|t| !depends.iter().any(|d| d.value == t.value))
                    {
                        return Err(Located::new(
                            ErrorKind::Type,
                            t.span,
                            format!("auto_install trigger `{}` is not in depends", t.value),
                            "not a dependency",
                        )
                        .help("Odoo requires auto_install triggers to be a subset of depends"));
                    }
                    AutoInstall::When(triggers.into_iter().map(|t| t.value).collect())
                }
            },
        };
        let external_dependencies = match raw.get("external_dependencies") {
            None => ExternalDependencies::default(),
            Some(v) => {
                if !matches!(v.kind, ValueKind::Dict(_)) {
                    return Err(wrong_type(v, "external_dependencies", "a dict"));
                }
                ExternalDependencies {
                    python: plain(str_list(v, "python")?),
                    bin: plain(str_list(v, "bin")?),
                }
            }
        };
        Ok(Manifest {
            name: name.to_owned(),
            path: path.to_path_buf(),
            version: string(&raw, "version")?,
            depends,
            auto_install,
            installable: boolean(&raw, "installable")?.unwrap_or(true),
            application: boolean(&raw, "application")?.unwrap_or(false),
            license: string(&raw, "license")?,
            data: plain(str_list(&raw, "data")?),
            demo: plain(str_list(&raw, "demo")?),
            external_dependencies,
            title: string(&raw, "name")?,
            summary: string(&raw, "summary")?,
            description: string(&raw, "description")?,
            category: string(&raw, "category")?,
            author: string(&raw, "author")?,
            website: string(&raw, "website")?,
            other,
            raw,
            source,
        })
    }
}

fn wrong_type(v: &Value, key: &str, expected: &str) -> Located {
    Located::new(
        ErrorKind::Type,
        v.span,
        format!("`{key}` must be {expected}, not {}", v.kind.type_name()),
        format!("expected {expected}"),
    )
}

fn string(dict: &Value, key: &str) -> Result<Option<String>, Located> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => match &v.kind {
            ValueKind::Str(s) => Ok(Some(s.clone())),
            _ => Err(wrong_type(v, key, "a str")),
        },
    }
}

fn boolean(dict: &Value, key: &str) -> Result<Option<bool>, Located> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => match &v.kind {
            ValueKind::Bool(b) => Ok(Some(*b)),
            _ => Err(wrong_type(v, key, "True or False")),
        },
    }
}

fn spanned_strs(v: &Value, key: &str) -> Result<Vec<Spanned<String>>, Located> {
    let items = v
        .as_sequence()
        .ok_or_else(|| wrong_type(v, key, "a list of str"))?;
    items
        .iter()
        .map(|item| match &item.kind {
            ValueKind::Str(s) => Ok(Spanned {
                value: s.clone(),
                span: item.span,
            }),
            _ => Err(Located::new(
                ErrorKind::Type,
                item.span,
                format!(
                    "`{key}` must be a list of str, but holds a {}",
                    item.kind.type_name()
                ),
                "expected a str",
            )),
        })
        .collect()
}

fn str_list(dict: &Value, key: &str) -> Result<Option<Vec<Spanned<String>>>, Located> {
    dict.get(key).map(|v| spanned_strs(v, key)).transpose()
}

fn plain(list: Option<Vec<Spanned<String>>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(|s| s.value)
        .collect()
}
