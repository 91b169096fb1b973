//! Addons found on one or more addons paths.
//!
//! A directory directly under an addons path is an addon when it holds a manifest
//! ([`crate::manifest::manifest_file`]). Its name is the directory's name, as in Odoo. When the same name
//! appears on two paths, the copy on the **first** path wins (Odoo's
//! `get_module_path` walks `addons_path` in order and stops at the first hit); the other
//! copies are reported as [`Shadowed`].
//!
//! Scanning reads and parses manifests in parallel and never stops at a bad one: every
//! broken manifest is kept in [`ScanReport::broken`], in a deterministic order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::manifest::{MANIFEST_NAMES, Manifest, ManifestError};

/// One addon: a directory with a parsed manifest.
#[derive(Debug, Clone)]
pub struct Addon {
    /// The technical name (the directory's name).
    pub name: String,
    /// The addon's directory.
    pub dir: PathBuf,
    /// Its parsed manifest.
    pub manifest: Manifest,
}

/// A copy of an addon hidden by another one of the same name on an earlier path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shadowed {
    /// The addon's name.
    pub name: String,
    /// The directory Odoo uses.
    pub kept: PathBuf,
    /// The directory Odoo ignores.
    pub shadowed: PathBuf,
}

/// A directory with a manifest that could not be read or parsed.
#[derive(Debug)]
pub struct Broken {
    /// The directory's name (the addon's name).
    pub name: String,
    /// The addon's directory.
    pub dir: PathBuf,
    /// Why its manifest could not be read or parsed.
    pub error: ManifestError,
}

/// The addons found on a list of addons paths, by name.
#[derive(Debug, Clone, Default)]
pub struct AddonSet {
    addons: BTreeMap<String, Addon>,
}

impl AddonSet {
    /// Builds a set from addons; the first addon of each name wins.
    pub fn from_addons(addons: impl IntoIterator<Item = Addon>) -> Self {
        let mut map = BTreeMap::new();
        for addon in addons {
            map.entry(addon.name.clone()).or_insert(addon);
        }
        Self { addons: map }
    }

    /// The addon of that name, when the set has one.
    pub fn get(&self, name: &str) -> Option<&Addon> {
        self.addons.get(name)
    }

    /// Whether the set has an addon of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.addons.contains_key(name)
    }

    /// Addons in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Addon> {
        self.addons.values()
    }

    /// How many addons the set has.
    pub fn len(&self) -> usize {
        self.addons.len()
    }

    /// Whether the set has no addon.
    pub fn is_empty(&self) -> bool {
        self.addons.is_empty()
    }
}

/// What a scan found: the addons Odoo would use, the copies it would ignore, and the
/// manifests it could not read.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// The addons addons Odoo would load, one per name.
    pub addons: AddonSet,
    /// Copies hidden by an earlier addons path, ordered by name then path order.
    pub shadowed: Vec<Shadowed>,
    /// Broken manifests, ordered by addons path then directory name. A broken addon
    /// still takes its name: a good copy on a later path is reported as shadowed,
    /// because Odoo would pick the broken one.
    pub broken: Vec<Broken>,
    /// The addons paths scanned, in order.
    pub paths: Vec<PathBuf>,
}

/// Scanning failed as a whole.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ScanError {
    #[error("addons path `{}` does not exist", path.display())]
    #[diagnostic(
        code(odd::addons_path::missing),
        help("check `addons_path` (or `--addons-path`); every entry must be a directory")
    )]
    /// An addons path that does not exist.
    MissingPath {
        /// The path.
        path: PathBuf,
    },

    /// An addons path that is not a directory.
    #[error("addons path `{}` is not a directory", path.display())]
    #[diagnostic(code(odd::addons_path::not_a_directory))]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },

    /// An addons path whose entries could not be listed.
    #[error("cannot list addons path `{}`", path.display())]
    #[diagnostic(code(odd::addons_path::unreadable))]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// Why it could not be listed.
        #[source]
        source: std::io::Error,
    },
}

/// Splits addons path arguments the way Odoo reads `--addons-path`: each argument may hold
/// several comma-separated paths; blanks are dropped.
pub fn split_addons_paths<S: AsRef<str>>(args: &[S]) -> Vec<PathBuf> {
    args.iter()
        .flat_map(|arg| arg.as_ref().split(','))
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// One candidate directory; candidates are kept in scan order (path order, then name).
struct Candidate {
    name: String,
    dir: PathBuf,
    /// The manifest as read elsewhere (over a transport), with its file; `None`: read
    /// it from the local disk.
    remote: Option<(PathBuf, String)>,
}

/// One entry of an addons path and where its addons are read.
#[derive(Debug, Clone)]
pub enum PathSource {
    /// A directory on this machine, listed and read here.
    Local(PathBuf),
    /// A directory on a host whose manifests were read over the transport
    /// ([`crate::installation`]).
    Listed {
        /// The addons path on the host.
        path: PathBuf,
        /// The manifests read in it.
        manifests: Vec<ListedManifest>,
    },
}

impl PathSource {
    /// The path as Odoo sees it.
    pub fn path(&self) -> &Path {
        match self {
            Self::Local(path) | Self::Listed { path, .. } => path,
        }
    }
}

/// A manifest read on a host: the addon's name and directory, the file and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedManifest {
    /// The addon's name (its directory's name).
    pub name: String,
    /// The addon's directory on the host.
    pub dir: PathBuf,
    /// The manifest file on the host (`__manifest__.py`).
    pub file: PathBuf,
    /// The manifest's text.
    pub text: String,
}

/// Scans addons paths. A missing or unreadable path is an error; a broken manifest is not.
pub fn scan(paths: &[PathBuf]) -> Result<ScanReport, ScanError> {
    scan_sources(paths.iter().cloned().map(PathSource::Local).collect())
}

/// Scans addons paths of which some were read on a host, with Odoo's precedence over the
/// whole list: the first path holding a name wins, wherever each path was read.
pub fn scan_sources(sources: Vec<PathSource>) -> Result<ScanReport, ScanError> {
    let mut candidates = Vec::new();
    let paths: Vec<PathBuf> = sources.iter().map(|s| s.path().to_owned()).collect();
    // Odoo appends a path to `odoo.addons.__path__` only once; a repeated path (even
    // spelled differently) is not a second copy of its addons.
    let mut seen_paths = Vec::new();
    for source in sources {
        match source {
            PathSource::Local(path) => {
                let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if seen_paths.contains(&canonical) {
                    continue;
                }
                seen_paths.push(canonical);
                candidates.extend(list_dirs(&path)?.into_iter().map(|(name, dir)| Candidate {
                    name,
                    dir,
                    remote: None,
                }));
            }
            PathSource::Listed { path, manifests } => {
                if seen_paths.contains(&path) {
                    continue;
                }
                seen_paths.push(path);
                let mut manifests = manifests;
                manifests.sort_by(|a, b| a.name.cmp(&b.name));
                candidates.extend(manifests.into_iter().map(|m| Candidate {
                    name: m.name,
                    dir: m.dir,
                    remote: Some((m.file, m.text)),
                }));
            }
        }
    }
    // Parse in parallel; `collect` on an indexed parallel iterator keeps input order, so
    // the result does not depend on thread timing.
    let parsed: Vec<(Candidate, Option<Result<Manifest, ManifestError>>)> = candidates
        .into_par_iter()
        .map(|mut candidate| {
            let result = match candidate.remote.take() {
                Some((file, text)) => Some(Manifest::parse(&candidate.name, &file, &text)),
                None => read_manifest(&candidate.name, &candidate.dir),
            };
            (candidate, result)
        })
        .collect();

    let mut addons: BTreeMap<String, Addon> = BTreeMap::new();
    // Where each name was first seen (a good or a broken addon).
    let mut first_seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut shadowed = Vec::new();
    let mut broken = Vec::new();
    for (candidate, result) in parsed {
        let Some(result) = result else { continue };
        let Candidate { name, dir, .. } = candidate;
        if let Some(kept) = first_seen.get(&name) {
            shadowed.push(Shadowed {
                name,
                kept: kept.clone(),
                shadowed: dir,
            });
            continue;
        }
        first_seen.insert(name.clone(), dir.clone());
        match result {
            Ok(manifest) => {
                addons.insert(
                    name.clone(),
                    Addon {
                        name,
                        dir,
                        manifest,
                    },
                );
            }
            Err(error) => broken.push(Broken { name, dir, error }),
        }
    }
    // Name order, then path order (the scan already visits paths in order).
    shadowed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ScanReport {
        addons: AddonSet { addons },
        shadowed,
        broken,
        paths,
    })
}

/// The manifest of the addon in `dir`, if it has one. Fast path: one `open` of
/// `__manifest__.py` instead of a `stat` then an `open`; anything unusual (other manifest
/// name, none, not UTF-8) goes through [`Manifest::from_dir`], which reports it well.
fn read_manifest(name: &str, dir: &Path) -> Option<Result<Manifest, ManifestError>> {
    let path = dir.join(MANIFEST_NAMES[0]);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(Manifest::parse(name, &path, &text)),
        Err(_) => Manifest::from_dir(dir).transpose(),
    }
}

/// Directories directly under `path`, in name order.
fn list_dirs(path: &Path) -> Result<Vec<(String, PathBuf)>, ScanError> {
    let metadata = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ScanError::MissingPath {
                path: path.to_path_buf(),
            }
        } else {
            ScanError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    if !metadata.is_dir() {
        return Err(ScanError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    let unreadable = |source| ScanError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        // Odoo module names are Python identifiers: a name that is not UTF-8 cannot be one.
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let dir = entry.path();
        // Whether it holds a manifest is checked later, in parallel.
        let is_dir = match entry.file_type() {
            Ok(kind) if kind.is_symlink() => dir.is_dir(),
            Ok(kind) => kind.is_dir(),
            Err(_) => false,
        };
        if is_dir {
            dirs.push((name, dir));
        }
    }
    dirs.sort();
    Ok(dirs)
}
