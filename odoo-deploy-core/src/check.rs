//! Checks over a set of addons: every problem at once, each a diagnostic pointing at the
//! manifest text.
//!
//! Problems found: broken manifests, missing dependencies, dependency loops, a dependency
//! on a module that is not installable, `data`/`demo` files listed but absent, and (with
//! a series) versions Odoo would refuse. Shadowed copies are warnings: Odoo allows them,
//! but a copy hidden by accident is a classic deploy surprise.
//!
//! # Versions
//!
//! Odoo 17/18's `adapt_version` + `check_version`: a version has 2 to 5 dot-separated
//! parts, the last three numeric; one with at most 3 parts that does not start with the
//! series gets the series prefixed; the result must start with `<series>.`. So `1.0`,
//! `1.0.0`, `18.0.1.0` and `18.0.1.0.0` are fine for 18.0; `17.0.1.0.0` is from another
//! series (Odoo marks it not installable) and `1.x` is invalid (Odoo refuses the manifest).
//! Without a series only the shape is checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

use crate::addon::{Addon, ScanReport};
use crate::graph::{AddonGraph, cycle_to_string};
use crate::manifest::{ManifestError, Span, Value};

/// What to check beyond the graph.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Odoo series (`18.0`) the versions must fit.
    pub series: Option<String>,
}

type Source = NamedSource<Arc<str>>;

/// One problem.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Problem {
    /// A manifest could not be read or parsed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(ManifestError),

    #[error("`{addon}` depends on `{depends_on}`, which is on no addons path")]
    #[diagnostic(
        code(odd::check::missing_dependency),
        help("add the addons path that holds `{depends_on}`, or remove it from `depends`")
    )]
    /// A module depends on one that is on no addons path.
    MissingDependency {
        /// The depending addon.
        addon: String,
        /// The dependency not found.
        depends_on: String,
        /// The addon's manifest, to point into.
        #[source_code]
        src: Option<Source>,
        /// Where the dependency is named in it.
        #[label("not found")]
        span: Option<SourceSpan>,
    },

    #[error("dependency loop: {cycle}")]
    #[diagnostic(
        code(odd::check::dependency_loop),
        help("Odoo skips every module in a loop, and every module that depends on one")
    )]
    /// Modules depend on each other in a loop.
    Cycle {
        /// The loop, as `a -> b -> … -> a`.
        cycle: String,
        /// The manifest that closes the loop, to point into.
        #[source_code]
        src: Option<Source>,
        /// Where it names the dependency that closes it.
        #[label("closes the loop")]
        span: Option<SourceSpan>,
    },

    #[error("`{addon}` depends on `{depends_on}`, which is not installable")]
    #[diagnostic(
        code(odd::check::not_installable_dependency),
        help("`{depends_on}` has `installable: False` (or a version from another series)")
    )]
    /// A module depends on one that is not installable.
    NotInstallableDependency {
        /// The depending addon.
        addon: String,
        /// The dependency that is not installable.
        depends_on: String,
        /// The addon's manifest, to point into.
        #[source_code]
        src: Option<Source>,
        /// Where the dependency is named in it.
        #[label("not installable")]
        span: Option<SourceSpan>,
    },

    /// A manifest lists a file that does not exist in the addon.
    #[error("`{addon}` lists {kind} file `{file}`, which does not exist")]
    #[diagnostic(code(odd::check::missing_file))]
    MissingFile {
        /// The addon.
        addon: String,
        /// Which list names it: `data` or `demo`.
        kind: &'static str,
        /// The file, as written.
        file: String,
        /// The addon's manifest, to point into.
        #[source_code]
        src: Option<Source>,
        /// Where the file is named in it.
        #[label("no such file in {}", dir.display())]
        span: Option<SourceSpan>,
        /// The addon's directory.
        dir: PathBuf,
    },

    /// A manifest version that Odoo would refuse or that belongs to another series.
    #[error("`{addon}` has version `{version}`: {reason}")]
    #[diagnostic(code(odd::check::version))]
    Version {
        /// The addon.
        addon: String,
        /// The version, as written.
        version: String,
        /// Why it is refused.
        reason: String,
        /// The addon's manifest, to point into.
        #[source_code]
        src: Option<Source>,
        /// Where the version is written.
        #[label("here")]
        span: Option<SourceSpan>,
        /// How to fix it, when odd knows.
        #[help]
        help: Option<String>,
    },

    #[error("`{name}` in `{}` is hidden by `{}`", shadowed.display(), kept.display())]
    #[diagnostic(
        code(odd::check::shadowed),
        severity(Warning),
        help("Odoo uses the copy on the first addons path; remove the other or reorder the paths")
    )]
    /// Two addons paths hold a module of the same name: the later copy is ignored (a warning).
    Shadowed {
        /// The module's name.
        name: String,
        /// The copy Odoo uses (on the earlier addons path).
        kept: PathBuf,
        /// The copy Odoo ignores.
        shadowed: PathBuf,
    },
}

impl Problem {
    /// Whether the problem makes the check fail (shadowed copies only warn).
    pub fn is_error(&self) -> bool {
        !matches!(self, Problem::Shadowed { .. })
    }
}

/// Every problem found, as one diagnostic with the problems related to it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{} ({addons} addons checked)", summary(problems))]
#[diagnostic(code(odd::check))]
pub struct CheckReport {
    /// Number of addons checked.
    pub addons: usize,
    /// Each problem found.
    #[related]
    pub problems: Vec<Problem>,
}

fn summary(problems: &[Problem]) -> String {
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => "no problems".to_owned(),
        (e, 0) => plural(e, "problem"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "problem"), plural(w, "warning")),
    }
}

impl CheckReport {
    /// No problem that fails the check (warnings allowed).
    pub fn is_ok(&self) -> bool {
        !self.problems.iter().any(Problem::is_error)
    }
}

/// Sources of manifests, read once each.
#[derive(Default)]
struct Sources {
    files: HashMap<PathBuf, Option<Source>>,
}

impl Sources {
    fn get(&mut self, addon: &Addon) -> Option<Source> {
        let path = addon.manifest.path.clone();
        self.files
            .entry(path)
            .or_insert_with_key(|path| {
                let text: Arc<str> = Arc::from(addon.manifest.source());
                Some(NamedSource::new(path.display().to_string(), text))
            })
            .clone()
    }
}

fn span(span: Option<Span>) -> Option<SourceSpan> {
    span.map(Into::into)
}

/// Checks a scan and its graph; returns every problem. Takes the scan to move its
/// manifest errors into the report.
pub fn check(scan: ScanReport, graph: &AddonGraph, options: &CheckOptions) -> CheckReport {
    let mut problems = Vec::new();
    let mut sources = Sources::default();
    for broken in scan.broken {
        problems.push(Problem::Manifest(broken.error));
    }
    for missing in graph.missing() {
        let Some(addon) = scan.addons.get(&missing.addon) else {
            continue;
        };
        problems.push(Problem::MissingDependency {
            addon: missing.addon.clone(),
            depends_on: missing.depends_on.clone(),
            src: sources.get(addon),
            span: span(missing.span),
        });
    }
    for addon in scan.addons.iter() {
        let manifest = &addon.manifest;
        for dep in &manifest.depends {
            let Some(target) = scan.addons.get(&dep.value) else {
                continue;
            };
            if !target.manifest.installable {
                problems.push(Problem::NotInstallableDependency {
                    addon: addon.name.clone(),
                    depends_on: dep.value.clone(),
                    src: sources.get(addon),
                    span: span(Some(dep.span)),
                });
            }
        }
        for kind in ["data", "demo"] {
            for (file, file_span) in listed_files(addon, kind) {
                if !file_exists(&addon.dir, file) {
                    problems.push(Problem::MissingFile {
                        addon: addon.name.clone(),
                        kind,
                        file: file.to_owned(),
                        src: sources.get(addon),
                        span: span(file_span),
                        dir: addon.dir.clone(),
                    });
                }
            }
        }
        if manifest.installable {
            let version = manifest.version.as_deref().unwrap_or("1.0");
            if let Err(error) = check_version(version, options.series.as_deref()) {
                problems.push(Problem::Version {
                    addon: addon.name.clone(),
                    version: version.to_owned(),
                    reason: error.to_string(),
                    src: sources.get(addon),
                    span: span(manifest.value_span("version")),
                    help: options.series.as_deref().map(|series| {
                        format!("use `x.y`, `x.y.z`, `{series}.x.y` or `{series}.x.y.z`")
                    }),
                });
            }
        }
    }
    for cycle in graph.cycles() {
        // Point at the entry in the first module that names the second.
        let (src, at) = match (cycle.first(), cycle.get(1).or(cycle.first())) {
            (Some(first), Some(next)) => match scan.addons.get(first) {
                Some(addon) => (
                    sources.get(addon),
                    addon
                        .manifest
                        .depends
                        .iter()
                        .find(|dep| dep.value == *next)
                        .map(|dep| dep.span),
                ),
                None => (None, None),
            },
            _ => (None, None),
        };
        problems.push(Problem::Cycle {
            cycle: cycle_to_string(cycle),
            src,
            span: span(at),
        });
    }
    for shadowed in &scan.shadowed {
        problems.push(Problem::Shadowed {
            name: shadowed.name.clone(),
            kept: shadowed.kept.clone(),
            shadowed: shadowed.shadowed.clone(),
        });
    }
    CheckReport {
        addons: scan.addons.len(),
        problems,
    }
}

/// The files a manifest lists under `key` (`data`, `demo`), with their spans.
fn listed_files<'a>(addon: &'a Addon, key: &str) -> Vec<(&'a str, Option<Span>)> {
    let typed = match key {
        "data" => &addon.manifest.data,
        _ => &addon.manifest.demo,
    };
    let raw = addon.manifest.raw.get(key).and_then(Value::as_sequence);
    typed
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let at = raw.and_then(|items| items.get(i)).map(|item| item.span);
            (file.as_str(), at)
        })
        .collect()
}

/// A manifest entry names a file relative to the addon; `..` and absolute paths are
/// resolved the same way Odoo's `opj(module_path, filename)` would.
fn file_exists(dir: &Path, file: &str) -> bool {
    dir.join(file).is_file()
}

/// Why a version is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not 2 to 5 dot-separated parts.
    #[error("must have between 2 and 5 parts")]
    PartCount,
    /// One of the last three parts is not a number.
    #[error("its last three parts must be numbers")]
    NotNumeric,
    /// A version of 4 or 5 parts that does not start with the project's series.
    #[error("it is not a {series} version")]
    OtherSeries {
        /// The project's series.
        series: String,
    },
}

/// Odoo's `adapt_version` then `check_version`: the full version (`18.0.1.0.0`), or why
/// Odoo would refuse it. Without a series only the shape is checked.
pub fn check_version(version: &str, series: Option<&str>) -> Result<String, VersionError> {
    let parts: Vec<&str> = version.split('.').collect();
    if !(2..=5).contains(&parts.len()) {
        return Err(VersionError::PartCount);
    }
    // Python's `int(part)`: blanks around, one optional sign, digits (`_` between them).
    let numeric = |part: &&str| {
        let text = part.trim();
        let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
        !digits.is_empty()
            && !digits.starts_with('_')
            && !digits.ends_with('_')
            && !digits.contains("__")
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    };
    if !parts[parts.len().saturating_sub(3)..].iter().all(numeric) {
        return Err(VersionError::NotNumeric);
    }
    let Some(series) = series else {
        return Ok(version.to_owned());
    };
    let full = if parts.len() <= 3 && !version.starts_with(series) {
        format!("{series}.{version}")
    } else {
        version.to_owned()
    };
    if full.starts_with(&format!("{series}.")) {
        Ok(full)
    } else {
        Err(VersionError::OtherSeries {
            series: series.to_owned(),
        })
    }
}
