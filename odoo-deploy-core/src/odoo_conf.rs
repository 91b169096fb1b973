//! Odoo's own configuration file (`odoo.conf`, the file given to `odoo-bin -c`), read the
//! way Odoo reads it: Python's `configparser.RawConfigParser`, section `[options]`.
//!
//! Rules kept from `configparser` and `odoo/tools/config.py`:
//! - `key = value` or `key: value`; keys are case-insensitive (lowercased); whitespace
//!   around keys and values is dropped;
//! - lines starting with `#` or `;` are comments; an indented line continues the value
//!   above it (joined with a newline);
//! - the values `False`, `false` and `None` mean "not set" (Odoo turns them into
//!   `False`/`None`);
//! - a line that is neither (no `=`/`:`) is an error (Odoo itself fails to start).
//!
//! `db_password` is a secret: it is kept as a [`Secret`], and the text kept for
//! diagnostics has its value masked, so no error message can show it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

use crate::command::Secret;

/// The section Odoo reads.
pub const OPTIONS_SECTION: &str = "options";

/// One option as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfValue {
    /// The value, `None` when written as `False`/`None` (or empty).
    pub value: Option<String>,
    /// Where the value is in the text.
    pub span: SourceSpan,
}

/// An Odoo configuration file, parsed.
#[derive(Clone)]
pub struct OdooConf {
    /// Where it is (on the host).
    pub path: PathBuf,
    /// The text, with `db_password`'s value masked.
    masked: String,
    options: BTreeMap<String, ConfValue>,
    password: Option<Secret>,
}

impl std::fmt::Debug for OdooConf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooConf")
            .field("path", &self.path)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A configuration file Odoo would not start with.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(
    code(odd::odoo_conf::syntax),
    help("Odoo reads this file with Python's configparser: `key = value` lines under [options]")
)]
pub struct OdooConfError {
    /// What is wrong.
    pub message: String,
    /// The file's text, to point into.
    #[source_code]
    pub src: Arc<NamedSource<String>>,
    /// Where in the text.
    #[label("here")]
    pub span: SourceSpan,
}

impl OdooConf {
    /// Parses `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, OdooConfError> {
        let mut options: BTreeMap<String, ConfValue> = BTreeMap::new();
        let mut section: Option<String> = None;
        // The key whose value an indented line continues.
        let mut last: Option<String> = None;
        let mut offset = 0;
        let mut error = None;
        for raw in text.split_inclusive('\n') {
            let start = offset;
            offset += raw.len();
            let line = raw.trim_end_matches(['\n', '\r']);
            let trimmed = line.trim();
            if trimmed.is_empty() {
                last = None;
                continue;
            }
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let indented = line.starts_with([' ', '\t']);
            if indented && let Some(key) = &last {
                if section.as_deref() == Some(OPTIONS_SECTION)
                    && let Some(entry) = options.get_mut(key)
                {
                    let joined = format!("{}\n{trimmed}", entry.value.as_deref().unwrap_or(""));
                    let begin = entry.span.offset();
                    let end = start + line.len();
                    entry.value = Some(joined);
                    entry.span = (begin, end - begin).into();
                }
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = Some(name.to_owned());
                last = None;
                continue;
            }
            let Some(sep) = line.find(['=', ':']) else {
                error.get_or_insert(("a line without `=`".to_owned(), start, line.len()));
                continue;
            };
            if section.is_none() {
                error.get_or_insert((
                    "an option before any [section]".to_owned(),
                    start,
                    line.len(),
                ));
                continue;
            }
            let key = line[..sep].trim().to_lowercase();
            let value_raw = &line[sep + 1..];
            let lead = value_raw.len() - value_raw.trim_start().len();
            let value = value_raw.trim();
            let value_start = start + sep + 1 + lead;
            last = Some(key.clone());
            if section.as_deref() != Some(OPTIONS_SECTION) {
                continue;
            }
            options.insert(
                key,
                ConfValue {
                    value: Some(value.to_owned()),
                    span: (value_start, value.len()).into(),
                },
            );
        }
        // Odoo's falsy spellings, applied to the final (joined) values.
        for entry in options.values_mut() {
            if matches!(
                entry.value.as_deref().map(str::trim),
                Some("" | "False" | "false" | "None")
            ) {
                entry.value = None;
            }
        }
        let password = options
            .get("db_password")
            .and_then(|v| v.value.clone())
            .map(Secret::new);
        let masked = mask(text, options.get("db_password").map(|v| v.span));
        if let Some((message, at, len)) = error {
            return Err(OdooConfError {
                message: format!("{}: {message}", path.display()),
                src: Arc::new(NamedSource::new(path.display().to_string(), masked)),
                span: (at, len).into(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            masked,
            options,
            password,
        })
    }

    /// The value of `key` in `[options]`, unless unset or falsy.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).and_then(|v| v.value.as_deref())
    }

    /// Where `key`'s value is written, for diagnostics.
    pub fn span(&self, key: &str) -> Option<SourceSpan> {
        self.options.get(key).map(|v| v.span)
    }

    /// The text for diagnostics (the password masked).
    pub fn named_source(&self) -> Arc<NamedSource<String>> {
        Arc::new(NamedSource::new(
            self.path.display().to_string(),
            self.masked.clone(),
        ))
    }

    /// `addons_path`, split on commas as Odoo does, blanks dropped.
    pub fn addons_path(&self) -> Vec<PathBuf> {
        self.get("addons_path")
            .map(|v| crate::addon::split_addons_paths(&[v]))
            .unwrap_or_default()
    }

    /// `data_dir`, when set.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.get("data_dir").map(PathBuf::from)
    }

    /// `db_host`.
    pub fn db_host(&self) -> Option<&str> {
        self.get("db_host")
    }

    /// `db_port`, when set and a number.
    pub fn db_port(&self) -> Option<Result<u16, String>> {
        self.get("db_port")
            .map(|p| p.parse::<u16>().map_err(|_| p.to_owned()))
    }

    /// `db_user`.
    pub fn db_user(&self) -> Option<&str> {
        self.get("db_user")
    }

    /// `db_password`, as a secret.
    pub fn db_password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }
}

/// `text` with the bytes of `span` replaced by `*` (same length, so spans stay valid).
fn mask(text: &str, span: Option<SourceSpan>) -> String {
    let Some(span) = span else {
        return text.to_owned();
    };
    let (start, end) = (span.offset(), span.offset() + span.len());
    text.char_indices()
        .map(|(i, c)| {
            if i >= start && i < end && c != '\n' {
                '*'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "\
; written by the packager
[options]
Addons_Path = /opt/odoo/current/custom_addons,
    /opt/oca/web
data_dir: /var/lib/odoo
db_host = False
db_port = 5433
db_user = odoo
db_password = s3cr3t-value
without_demo = all

[other]
db_user = not-this-one
";

    #[test]
    fn reads_options_like_configparser() {
        let conf = OdooConf::parse(Path::new("/etc/odoo.conf"), CONF).expect("parses");
        assert_eq!(
            conf.addons_path(),
            [
                PathBuf::from("/opt/odoo/current/custom_addons"),
                PathBuf::from("/opt/oca/web")
            ]
        );
        assert_eq!(conf.data_dir(), Some(PathBuf::from("/var/lib/odoo")));
        assert_eq!(conf.db_host(), None, "False is unset");
        assert_eq!(conf.db_port(), Some(Ok(5433)));
        assert_eq!(conf.db_user(), Some("odoo"));
        assert_eq!(
            conf.db_password().map(Secret::expose),
            Some(&b"s3cr3t-value"[..])
        );
        assert_eq!(conf.get("without_demo"), Some("all"));
    }

    #[test]
    fn the_password_never_reaches_a_diagnostic_or_debug() {
        let conf = OdooConf::parse(Path::new("/etc/odoo.conf"), CONF).expect("parses");
        assert!(!format!("{conf:?}").contains("s3cr3t"));
        let src = conf.named_source();
        assert!(!src.inner().contains("s3cr3t"));
        assert_eq!(src.inner().len(), CONF.len(), "spans stay valid");
        let bad = format!("{CONF}[options]\nthis line is wrong\n");
        let err = OdooConf::parse(Path::new("/etc/odoo.conf"), &bad).expect_err("refused");
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(!rendered.contains("s3cr3t"), "{rendered}");
    }

    #[test]
    fn a_line_without_equals_points_at_itself() {
        let text = "[options]\naddons_path = /a\nnonsense\n";
        let err = OdooConf::parse(Path::new("odoo.conf"), text).expect_err("refused");
        assert_eq!(err.span.offset(), text.find("nonsense").unwrap_or_default());
        assert_eq!(err.span.len(), "nonsense".len());
    }
}
