//! The Odoo installation on the host: what the host provides besides the repository —
//! Odoo's own addons, `<data_dir>/addons/<series>`, shared addons folders, and Odoo's
//! config file — read over the transport and joined to the repository's addons.
//!
//! # Odoo's addons path, as read in `odoo/modules/module.py` (16–18)
//!
//! `odoo.addons.__path__` starts with the `odoo/addons` folder of the `odoo` package that
//! runs (the "core" folder: `base`, `web`, …), followed by every other `odoo/addons` on
//! the Python's `sys.path` (the namespace package's `extend_path`: addons installed with
//! pip, measured on a real 18.0 to come before the data dir). `initialize_sys_path` then
//! appends, each
//! only if not already there: `<data_dir>/addons/<series>` when readable
//! (`config.addons_data_dir`, which Odoo creates), then every `addons_path` entry made
//! absolute (`os.path.abspath`, against the working directory). So the core folder is
//! always first even when `addons_path` names it later, and a repeated entry keeps its
//! first place. `get_module_path` walks that list and takes the first folder holding the
//! module: for a name found twice, the earlier path wins.
//!
//! odd builds the same list. Its configured part ([`PathEntry`]) comes from the host's
//! config file (`addons_path`, where entries under `<deploy_dir>/current/` stand for the
//! repository's folders, in the place the operator put them) and
//! `[environments.NAME.installation] addons_paths`. The repository's folders that neither
//! names come first among the configured entries.
//!
//! # One round trip
//!
//! Every manifest of every host folder is read by one remote command
//! ([`list_command`]): it finds Odoo's own folder, lists the folders, and prints each
//! manifest as `file NUL line` records (one `grep` per folder); odd parses them with
//! its own manifest parser. Checksums of host addons ([`checksum_command`]) are one more
//! command, run only when changes are computed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::addon::{ListedManifest, PathSource};
use crate::checksum::ChecksumRules;
use crate::command::{RemoteCommand, Secret};
use crate::config::Strategy;
use crate::odoo_conf::{OdooConf, OdooConfError};
use crate::transport::{Transport, TransportError};

/// Where a host folder comes in Odoo's addons path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Odoo's own `odoo/addons`.
    Core,
    /// Another `odoo/addons` folder on the Python's `sys.path` (addons installed with
    /// pip, e.g. OCA's `odoo-addon-*` wheels): Odoo's namespace package puts them right
    /// after its own.
    Packaged,
    /// `<data_dir>/addons/<series>`.
    DataDir,
    /// A configured host folder (odd.toml or the host's Odoo config).
    Configured,
}

/// One configured entry of the addons path, after Odoo's own folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathEntry {
    /// A folder on the host.
    Host(PathBuf),
    /// A folder of the repository, relative to its root (and so to a release).
    Repository(PathBuf),
}

/// The installation settings of an environment, resolved from `odd.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationSettings {
    /// Read the host's addons at all.
    pub read_host: bool,
    /// Host folders named in `odd.toml`.
    pub host_paths: Vec<PathBuf>,
    /// Use the Odoo config file's `addons_path` and check its `data_dir`.
    pub use_odoo_config: bool,
    /// Odoo's own addons folder, when given.
    pub odoo_addons_dir: Option<PathBuf>,
    /// Leave Odoo's own addons out of the change set.
    pub ignore_core_addons: bool,
    /// Load demo data into installed modules.
    pub demo: bool,
    /// Take the database connection settings from the Odoo config file.
    pub db_from_odoo_config: bool,
}

impl InstallationSettings {
    /// From the environment's configuration.
    pub fn from_config(env: &crate::config::Environment) -> Self {
        let i = &env.installation;
        let compose = *env.service.get_ref().strategy.get_ref() == Strategy::Compose;
        Self {
            read_host: i.read_host.unwrap_or(!compose),
            host_paths: i.addons_paths.iter().map(|p| p.get_ref().clone()).collect(),
            use_odoo_config: i.use_odoo_config && env.odoo.config.is_some(),
            odoo_addons_dir: i.odoo_addons_dir.clone(),
            ignore_core_addons: i.ignore_core_addons,
            demo: i.demo,
            db_from_odoo_config: env.database.from_odoo_config(),
        }
    }
}

/// Why the host installation could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InstallationError {
    /// A command or a transfer on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// Odoo's config file could not be parsed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Conf(#[from] OdooConfError),
    #[error("cannot read Odoo's config file {} on the host", path.display())]
    #[diagnostic(
        code(odd::installation::conf_unreadable),
        help(
            "odd reads `odoo.config` on the host for addons_path, data_dir and database settings; check the path, or set `use_odoo_config = false` in [installation]"
        )
    )]
    /// Odoo's config file on the host could not be read.
    ConfUnreadable {
        /// Its path on the host.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: TransportError,
    },
    #[error("host addons path `{}` does not exist", path.display())]
    #[diagnostic(
        code(odd::installation::missing_path),
        help(
            "Odoo refuses to start with it (`no such directory`, exit 2); fix the path where it is configured"
        )
    )]
    /// A host addons path does not exist.
    MissingPath {
        /// The path.
        path: PathBuf,
    },
    /// The listing script answered something odd cannot read.
    #[error("unexpected answer from the host while reading its addons: {reason}")]
    #[diagnostic(code(odd::installation::protocol))]
    Protocol {
        /// What was wrong with it.
        reason: String,
    },
    /// A host addons path holds a newline, which odd refuses.
    #[error("host addons path `{}` holds a newline", path.display())]
    #[diagnostic(code(odd::installation::bad_path))]
    BadPath {
        /// The path.
        path: PathBuf,
    },
}

/// What the host's Odoo config file says, applied to a target by [`crate::target::Target::prepare`].
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The configured addons path entries (after Odoo's own folders), in Odoo's order.
    pub entries: Vec<PathEntry>,
    /// What does not fit between odd.toml and the host's config: reported as plan
    /// problems.
    pub problems: Vec<String>,
}

/// Reads the host's Odoo config file when the environment uses it.
pub async fn read_conf(
    settings: &InstallationSettings,
    conf_path: Option<&Path>,
    transport: &dyn Transport,
) -> Result<Option<OdooConf>, InstallationError> {
    let wanted = settings.db_from_odoo_config || (settings.read_host && settings.use_odoo_config);
    let Some(path) = conf_path.filter(|_| wanted) else {
        return Ok(None);
    };
    let bytes =
        transport
            .read_file(path)
            .await
            .map_err(|source| InstallationError::ConfUnreadable {
                path: path.to_owned(),
                source,
            })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(Some(OdooConf::parse(path, &text)?))
}

/// The database settings the host's config provides (each `None` when unset there).
#[derive(Debug, Clone, Default)]
pub struct ConfDatabase {
    /// `db_host`.
    pub host: Option<String>,
    /// `db_port`.
    pub port: Option<u16>,
    /// `db_user`.
    pub user: Option<String>,
    /// `db_password` (redacted wherever it is shown).
    pub password: Option<Secret>,
}

/// The database settings of `conf`, with the problems found (a port that is not a
/// number, the `postgres` role Odoo refuses).
pub fn conf_database(conf: &OdooConf) -> (ConfDatabase, Vec<String>) {
    let mut problems = Vec::new();
    let port = match conf.db_port() {
        Some(Ok(port)) => Some(port),
        Some(Err(text)) => {
            problems.push(format!(
                "db_port `{text}` in {} is not a port number",
                conf.path.display()
            ));
            None
        }
        None => None,
    };
    if conf.db_user() == Some("postgres") {
        problems.push(format!(
            "db_user in {} is `postgres`: Odoo refuses to run as the superuser",
            conf.path.display()
        ));
    }
    (
        ConfDatabase {
            host: conf.db_host().map(str::to_owned),
            port,
            user: conf.db_user().map(str::to_owned),
            password: conf.db_password().cloned(),
        },
        problems,
    )
}

/// The configured addons path: the host config's `addons_path` (entries under
/// `current` standing for the repository's folders) and odd.toml's host folders, with
/// the problems that make the running server differ from what odd deploys.
pub fn configured_entries(
    settings: &InstallationSettings,
    conf: Option<&OdooConf>,
    repository: &[PathBuf],
    current: &Path,
) -> Prepared {
    let mut entries: Vec<PathEntry> = Vec::new();
    let mut problems = Vec::new();
    let push = |entries: &mut Vec<PathEntry>, entry: PathEntry| {
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    };
    if let Some(conf) = conf.filter(|_| settings.read_host && settings.use_odoo_config) {
        let named = conf.addons_path();
        for path in &named {
            if path.is_relative() {
                problems.push(format!(
                    "addons_path entry `{}` in {} is relative: Odoo resolves it against its working directory, which odd cannot know; write it absolute",
                    path.display(),
                    conf.path.display()
                ));
                continue;
            }
            match path.strip_prefix(current) {
                Ok(rest) => {
                    let rest = rest.to_owned();
                    if repository.contains(&rest) {
                        push(&mut entries, PathEntry::Repository(rest));
                    } else {
                        problems.push(format!(
                            "addons_path entry `{}` in {} is inside the deployed release but not one of the project's addons_paths",
                            path.display(),
                            conf.path.display()
                        ));
                    }
                }
                Err(_) => push(&mut entries, PathEntry::Host(path.clone())),
            }
        }
        for path in &settings.host_paths {
            if !named.contains(path) {
                problems.push(format!(
                    "addons_path in {} does not name {}, which odd.toml lists: the running server would not load its addons",
                    conf.path.display(),
                    path.display()
                ));
            }
        }
        for rel in repository {
            if !named.iter().any(|p| p == &current.join(rel)) {
                problems.push(format!(
                    "addons_path in {} does not name {}: the running server would not load the deployed code",
                    conf.path.display(),
                    current.join(rel).display()
                ));
            }
        }
    }
    for path in &settings.host_paths {
        push(&mut entries, PathEntry::Host(path.clone()));
    }
    // The repository's folders not placed by the host's config come first.
    let missing: Vec<PathEntry> = repository
        .iter()
        .map(|rel| PathEntry::Repository(rel.clone()))
        .filter(|e| !entries.contains(e))
        .collect();
    let at = entries
        .iter()
        .position(|e| matches!(e, PathEntry::Repository(_)))
        .unwrap_or(0);
    for (i, entry) in missing.into_iter().enumerate() {
        entries.insert(at + i, entry);
    }
    Prepared { entries, problems }
}

/// `<data_dir>/addons/<series>`, where Odoo looks for addons installed from its apps.
pub fn data_dir_addons(data_dir: &Path, series: &str) -> PathBuf {
    data_dir.join("addons").join(series)
}

/// The folders a host listing covers, in Odoo's order, besides Odoo's own (found by the
/// listing itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Candidates for Odoo's own `odoo/addons`, tried in order.
    pub core_candidates: Vec<PathBuf>,
    /// A Python to ask where the `odoo` package is, when no candidate exists.
    pub python: Option<String>,
    /// The program of `odoo.command`, whose `#!` line names a Python otherwise.
    pub program: Option<String>,
    /// `<data_dir>/addons/<series>` (skipped when absent, as Odoo does).
    pub data_dir_addons: PathBuf,
    /// The configured host folders, in order (each must exist).
    pub configured: Vec<PathBuf>,
}

impl ListRequest {
    /// The request for an environment: candidates from `odoo.command` (the folder
    /// `odoo/addons` next to each absolute word, as in a source tree or the stand-in).
    pub fn new(
        settings: &InstallationSettings,
        command: &[String],
        data_dir: &Path,
        series: &str,
        entries: &[PathEntry],
    ) -> Self {
        let core_candidates = match &settings.odoo_addons_dir {
            Some(dir) => vec![dir.clone()],
            None => command
                .iter()
                .filter(|w| w.starts_with('/'))
                .filter_map(|w| Path::new(w).parent())
                .map(|dir| dir.join("odoo").join("addons"))
                .collect(),
        };
        let python = command_python(command);
        Self {
            core_candidates,
            program: command.first().cloned().filter(|_| python.is_none()),
            python,
            data_dir_addons: data_dir_addons(data_dir, series),
            configured: entries
                .iter()
                .filter_map(|e| match e {
                    PathEntry::Host(p) => Some(p.clone()),
                    PathEntry::Repository(_) => None,
                })
                .collect(),
        }
    }
}

/// The remote listing script. Arguments: the Python (or empty), the program (or empty),
/// the number of core candidates, the candidates, then the folders to list. It prints
/// NUL-terminated tokens — `core DIR`, `ns DIR` for each other `odoo/addons` on the
/// Python's `sys.path`, then per folder `path DIR` or `nopath DIR`, then
/// `manifest FILE` for each addon in it, then `end` — and then every manifest's lines as
/// `FILE NUL LINE` records (one `grep` per folder, over all its manifests; shell
/// builtins for the rest, so 600 addons cost a few processes, not 600). Values reach it
/// only as positional parameters.
const LIST_SCRIPT: &str = r#"py=$1 prog=$2 n=$3
shift 3
core=
while [ "$n" -gt 0 ]; do
  if [ -z "$core" ] && [ -d "$1" ]; then core=$1; fi
  shift
  n=$((n - 1))
done
if [ -z "$core" ] && [ -z "$py" ] && [ -n "$prog" ]; then
  f=$(command -v -- "$prog" 2>/dev/null) || f=
  if [ -n "$f" ] && [ -f "$f" ] && IFS= read -r line < "$f"; then
    case $line in
      '#!'*)
        rest=${line#??}
        rest=${rest#"${rest%%[! ]*}"}
        interp=${rest%% *}
        case $interp in
          */env) rest=${rest#"$interp"}; rest=${rest#"${rest%%[! ]*}"}; py=${rest%% *} ;;
          *) py=$interp ;;
        esac ;;
    esac
  fi
fi
if [ -z "$core" ] && [ -n "$py" ]; then
  core=$("$py" -c 'import importlib.util as u
s = u.find_spec("odoo")
print(s.submodule_search_locations[0] + "/addons" if s and s.submodule_search_locations else "")' 2>/dev/null) || core=
  [ -d "$core" ] || core=
fi
printf 'core\0%s\0' "$core"
n=$#
set -- "$@" "$core"
if [ -n "$py" ]; then
  ns=$("$py" -c 'import os, sys
for p in sys.path[1:]:
    d = os.path.join(os.path.abspath(p or "."), "odoo", "addons")
    if os.path.isdir(d) and "\n" not in d:
        print(d)' 2>/dev/null) || ns=
  seen="
$core
"
  while IFS= read -r d; do
    [ -n "$d" ] || continue
    case $seen in *"
$d
"*) continue ;; esac
    seen="$seen$d
"
    printf 'ns\0%s\0' "$d"
    set -- "$@" "$d"
  done <<EOF
$ns
EOF
fi
while [ "$n" -gt 0 ]; do
  set -- "$@" "$1"
  shift
  n=$((n - 1))
done
manifests() {
  set -- "$1"/*/__manifest__.py
  [ -e "$1" ] || return 0
  printf 'manifest\0%s\0' "$@"
}
lines() {
  set -- "$1"/*/__manifest__.py
  [ -e "$1" ] || return 0
  grep -aHZ '' -- "$@" || [ "$?" -eq 1 ]
}
for p; do
  [ -n "$p" ] || continue
  if [ -d "$p" ]; then
    printf 'path\0%s\0' "$p"
    manifests "$p"
  else
    printf 'nopath\0%s\0' "$p"
  fi
done
printf 'end\0'
rc=0
for p; do
  if [ -n "$p" ] && [ -d "$p" ]; then lines "$p" || rc=$?; fi
done
exit "$rc"
"#;

/// The one command that lists every host folder and prints every manifest in it.
pub fn list_command(request: &ListRequest) -> Result<RemoteCommand, InstallationError> {
    let all = request
        .core_candidates
        .iter()
        .chain(std::iter::once(&request.data_dir_addons))
        .chain(&request.configured);
    for path in all {
        if path.as_os_str().as_encoded_bytes().contains(&b'\n') {
            return Err(InstallationError::BadPath { path: path.clone() });
        }
    }
    Ok(RemoteCommand::new("sh")
        .arg("-c")
        .arg(LIST_SCRIPT)
        .arg("odd-list-addons")
        .arg(request.python.as_deref().unwrap_or(""))
        .arg(request.program.as_deref().unwrap_or(""))
        .arg(request.core_candidates.len().to_string())
        .args(&request.core_candidates)
        .arg(&request.data_dir_addons)
        .args(&request.configured))
}

/// One host folder as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    /// The folder on the host.
    pub path: PathBuf,
    /// What kind of folder it is (Odoo's own, packaged, data_dir, configured).
    pub origin: Origin,
    /// Its addons' manifests, in name order.
    pub manifests: Vec<ListedManifest>,
}

/// What the host provides: its folders in Odoo's order, each with its manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installation {
    /// Odoo's own addons folder, when found.
    pub odoo_addons: Option<PathBuf>,
    /// The host folders, in Odoo's order (core, data dir, configured).
    pub paths: Vec<HostPath>,
}

impl Installation {
    /// Reads the host: one command for every folder and every manifest.
    pub async fn read(
        request: &ListRequest,
        transport: &dyn Transport,
    ) -> Result<Self, InstallationError> {
        let out = transport.check_output(&list_command(request)?).await?;
        let listing = parse_listing(&out, request)?;
        if let Some(missing) = listing.missing.first() {
            return Err(InstallationError::MissingPath {
                path: missing.clone(),
            });
        }
        Ok(listing.installation)
    }

    /// The host folder holding a module of this origin, by path.
    pub fn origin_of(&self, path: &Path) -> Option<Origin> {
        self.paths.iter().find(|p| p.path == path).map(|p| p.origin)
    }

    /// The addons path sources in Odoo's order: Odoo's own folders, then `entries`, with
    /// the repository's folders read locally under `root`.
    pub fn sources(&self, entries: &[PathEntry], root: &Path) -> Vec<PathSource> {
        let listed = |path: &Path| {
            self.paths
                .iter()
                .find(|p| p.path == path)
                .map(|p| PathSource::Listed {
                    path: p.path.clone(),
                    manifests: p.manifests.clone(),
                })
        };
        let mut sources: Vec<PathSource> = self
            .paths
            .iter()
            .filter(|p| p.origin != Origin::Configured)
            .filter_map(|p| listed(&p.path))
            .collect();
        for entry in entries {
            match entry {
                PathEntry::Host(path) => sources.extend(listed(path)),
                PathEntry::Repository(rel) => sources.push(PathSource::Local(root.join(rel))),
            }
        }
        sources
    }

    /// The module names each host folder provides, with that folder's origin (the first
    /// folder wins, as in Odoo).
    pub fn module_origins(&self) -> BTreeMap<String, (Origin, PathBuf)> {
        let mut map = BTreeMap::new();
        for path in &self.paths {
            for m in &path.manifests {
                map.entry(m.name.clone())
                    .or_insert((path.origin, m.dir.clone()));
            }
        }
        map
    }
}

struct Listing {
    installation: Installation,
    missing: Vec<PathBuf>,
}

fn protocol(reason: impl Into<String>) -> InstallationError {
    InstallationError::Protocol {
        reason: reason.into(),
    }
}

fn parse_listing(out: &[u8], request: &ListRequest) -> Result<Listing, InstallationError> {
    let path_of = |b: &[u8]| PathBuf::from(String::from_utf8_lossy(b).into_owned());
    let mut rest = out;
    let mut token = || -> Result<&[u8], InstallationError> {
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| protocol("the listing ended early"))?;
        let (head, tail) = rest.split_at(end);
        rest = &tail[1..];
        Ok(head)
    };
    if token()? != b"core" {
        return Err(protocol("no `core` record first"));
    }
    let core = token()?;
    let odoo_addons = (!core.is_empty()).then(|| path_of(core));
    let mut paths: Vec<HostPath> = Vec::new();
    let mut missing = Vec::new();
    let mut files: Vec<(usize, PathBuf)> = Vec::new();
    // The folders in the order the script lists them: core (when found), data dir,
    // configured.
    let mut order: Vec<(PathBuf, Origin)> = Vec::new();
    if let Some(core) = &odoo_addons {
        order.push((core.clone(), Origin::Core));
    }
    order.push((request.data_dir_addons.clone(), Origin::DataDir));
    order.extend(
        request
            .configured
            .iter()
            .map(|p| (p.clone(), Origin::Configured)),
    );
    let mut order = order.into_iter().peekable();
    let mut pending: std::collections::VecDeque<(PathBuf, Origin)> =
        std::collections::VecDeque::new();
    if let Some(core) = order.next_if(|(_, o)| *o == Origin::Core) {
        pending.push_back(core);
    }
    loop {
        match token()? {
            b"end" => break,
            b"ns" => {
                pending.push_back((path_of(token()?), Origin::Packaged));
            }
            kind @ (b"path" | b"nopath") => {
                let path = path_of(token()?);
                let (expected, origin) = pending
                    .pop_front()
                    .or_else(|| order.next())
                    .ok_or_else(|| protocol("more folders than asked for"))?;
                if expected != path {
                    return Err(protocol(format!(
                        "folder `{}` listed where `{}` was expected",
                        path.display(),
                        expected.display()
                    )));
                }
                if kind == b"nopath" {
                    if origin == Origin::Configured {
                        missing.push(path);
                    }
                    continue;
                }
                paths.push(HostPath {
                    path,
                    origin,
                    manifests: Vec::new(),
                });
            }
            b"manifest" => {
                let file = path_of(token()?);
                let index = paths
                    .len()
                    .checked_sub(1)
                    .ok_or_else(|| protocol("a manifest before any folder"))?;
                files.push((index, file));
            }
            other => {
                return Err(protocol(format!(
                    "unknown record `{}`",
                    String::from_utf8_lossy(other)
                )));
            }
        }
    }
    // The manifests' text: `FILE NUL LINE\n` records.
    let mut texts: BTreeMap<PathBuf, String> = BTreeMap::new();
    while !rest.is_empty() {
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| protocol("a manifest line without its file name"))?;
        let file = path_of(&rest[..nul]);
        let after = &rest[nul + 1..];
        let end = after
            .iter()
            .position(|&b| b == b'\n')
            .map_or(after.len(), |i| i + 1);
        texts
            .entry(file)
            .or_default()
            .push_str(&String::from_utf8_lossy(&after[..end]));
        rest = &after[end..];
    }
    for (index, file) in files {
        let Some(dir) = file.parent().map(Path::to_path_buf) else {
            continue;
        };
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let text = texts.remove(&file).unwrap_or_default();
        paths[index].manifests.push(ListedManifest {
            name,
            dir,
            file,
            text,
        });
    }
    for path in &mut paths {
        path.manifests.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(Listing {
        installation: Installation { odoo_addons, paths },
        missing,
    })
}

/// The checksum script: the same walk and rules as [`crate::checksum`] (and
/// click-odoo-update), run by the host's Python over the host's files. Arguments: the
/// exclude patterns, the languages (comma-separated), then `NAME DIR` pairs; prints
/// `NAME NUL SHA1 NUL` for each.
const CHECKSUM_SCRIPT: &str = r#"import fnmatch, hashlib, os, sys
patterns = [p.strip() for p in sys.argv[1].split(",")]
keep = {l.split("_")[0] for l in sys.argv[2].split(",") if l}
out = sys.stdout.buffer
pairs = sys.argv[3:]
for i in range(0, len(pairs) - 1, 2):
    name, top = pairs[i], pairs[i + 1]
    digest = hashlib.sha1()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        reldir = os.path.relpath(dirpath, top)
        if reldir == ".":
            reldir = ""
        for filename in sorted(filenames):
            relpath = os.path.join(reldir, filename)
            if any(fnmatch.fnmatch(relpath, p) for p in patterns):
                continue
            if keep and reldir in ("i18n", "i18n_extra"):
                base, ext = os.path.splitext(filename)
                if ext == ".po" and base.split("_")[0] not in keep:
                    continue
            digest.update(os.fsencode(relpath))
            with open(os.path.join(top, relpath), "rb") as fh:
                digest.update(fh.read())
    out.write(os.fsencode(name) + b"\0" + digest.hexdigest().encode() + b"\0")
"#;

/// The command printing the checksums of host addons (`(name, dir)` pairs) with `rules`.
pub fn checksum_command(
    python: &str,
    addons: &[(String, PathBuf)],
    rules: &ChecksumRules,
) -> RemoteCommand {
    let mut cmd = RemoteCommand::new(python)
        .arg("-c")
        .arg(CHECKSUM_SCRIPT)
        .arg(rules.patterns().join(","))
        .arg(rules.langs().join(","));
    for (name, dir) in addons {
        cmd = cmd.arg(name).arg(dir);
    }
    cmd
}

/// Runs [`checksum_command`] and reads its answer.
pub async fn host_checksums(
    transport: &dyn Transport,
    python: &str,
    addons: &[(String, PathBuf)],
    rules: &ChecksumRules,
) -> Result<BTreeMap<String, String>, InstallationError> {
    if addons.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = transport
        .check_output(&checksum_command(python, addons, rules))
        .await?;
    let mut sums = BTreeMap::new();
    let mut tokens = out.split(|&b| b == 0);
    while let (Some(name), Some(sum)) = (tokens.next(), tokens.next()) {
        if name.is_empty() {
            break;
        }
        sums.insert(
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(sum).into_owned(),
        );
    }
    let wanted: BTreeSet<&str> = addons.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(absent) = wanted.iter().find(|n| !sums.contains_key(**n)) {
        return Err(protocol(format!("no checksum for host addon {absent}")));
    }
    Ok(sums)
}

/// The Python that runs the checksum script: `odoo.command`'s own interpreter when it
/// starts with one, else `python3` (Odoo's hosts always have one).
pub fn python_of(command: &[String]) -> String {
    command_python(command).unwrap_or_else(|| "python3".to_owned())
}

/// The command's first word when it is a Python (`python`, `python3.11`, a venv's).
fn command_python(command: &[String]) -> Option<String> {
    command
        .first()
        .filter(|w| {
            Path::new(w)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::LocalTransport;

    fn settings() -> InstallationSettings {
        InstallationSettings {
            read_host: true,
            host_paths: vec![PathBuf::from("/opt/oca/web")],
            use_odoo_config: true,
            odoo_addons_dir: None,
            ignore_core_addons: false,
            demo: false,
            db_from_odoo_config: false,
        }
    }

    /// The entries for a host config whose `addons_path` is `addons_path`.
    fn entries_for(addons_path: &str) -> Prepared {
        let conf = OdooConf::parse(
            Path::new("/etc/odoo.conf"),
            &format!("[options]\naddons_path = {addons_path}\n"),
        )
        .expect("parses");
        configured_entries(
            &settings(),
            Some(&conf),
            &[PathBuf::from("custom_addons")],
            Path::new("/srv/odd/current"),
        )
    }

    #[test]
    fn the_host_config_places_the_repository_folders() {
        let prepared = entries_for("/opt/oca/base,/srv/odd/current/custom_addons,/opt/oca/web");
        assert_eq!(
            prepared.entries,
            [
                PathEntry::Host("/opt/oca/base".into()),
                PathEntry::Repository("custom_addons".into()),
                PathEntry::Host("/opt/oca/web".into()),
            ]
        );
        assert!(prepared.problems.is_empty(), "{:?}", prepared.problems);
    }

    #[test]
    fn a_host_config_without_the_release_is_a_problem_and_the_repository_comes_first() {
        let prepared = entries_for("/opt/oca/base,relative/dir");
        assert_eq!(
            prepared.entries[0],
            PathEntry::Repository("custom_addons".into())
        );
        assert_eq!(prepared.problems.len(), 3, "{:?}", prepared.problems);
        assert!(prepared.problems[0].contains("relative"));
        assert!(prepared.problems[1].contains("/opt/oca/web, which odd.toml lists"));
        assert!(prepared.problems[2].contains("/srv/odd/current/custom_addons"));
    }

    #[test]
    fn core_candidates_come_from_the_command() {
        let request = ListRequest::new(
            &settings(),
            &[
                "/opt/odoo/venv/bin/python".into(),
                "/opt/odoo/odoo-bin".into(),
            ],
            Path::new("/var/lib/odoo"),
            "18.0",
            &[PathEntry::Host("/opt/oca/web".into())],
        );
        assert_eq!(
            request.core_candidates,
            [
                PathBuf::from("/opt/odoo/venv/bin/odoo/addons"),
                PathBuf::from("/opt/odoo/odoo/addons")
            ]
        );
        assert_eq!(request.python.as_deref(), Some("/opt/odoo/venv/bin/python"));
        assert_eq!(
            request.data_dir_addons,
            PathBuf::from("/var/lib/odoo/addons/18.0")
        );
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[tokio::test]
    async fn one_command_lists_every_folder_and_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            &root.join("odoo/odoo/addons/base/__manifest__.py"),
            "{'name': 'Base'}",
        );
        write(
            &root.join("odoo/odoo/addons/web/__manifest__.py"),
            "{'depends': ['base'],\n 'auto_install': True}\n",
        );
        write(
            &root.join("oca/web/__manifest__.py"),
            "{'name': 'shadowed'}\n",
        );
        write(&root.join("oca/empty/__manifest__.py"), "");
        write(&root.join("oca/not_an_addon/README"), "x");
        let request = ListRequest {
            core_candidates: vec![root.join("nope"), root.join("odoo/odoo/addons")],
            python: None,
            program: None,
            data_dir_addons: root.join("data/addons/18.0"),
            configured: vec![root.join("oca")],
        };
        let inst = Installation::read(&request, &LocalTransport::new())
            .await
            .expect("reads");
        assert_eq!(inst.odoo_addons, Some(root.join("odoo/odoo/addons")));
        assert_eq!(inst.paths.len(), 2, "data dir absent: skipped");
        let core = &inst.paths[0];
        assert_eq!(core.origin, Origin::Core);
        let names: Vec<&str> = core.manifests.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["base", "web"]);
        assert_eq!(core.manifests[0].text, "{'name': 'Base'}\n");
        assert_eq!(
            core.manifests[1].text,
            "{'depends': ['base'],\n 'auto_install': True}\n"
        );
        let oca: Vec<&str> = inst.paths[1]
            .manifests
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(oca, ["empty", "web"]);
        assert_eq!(inst.paths[1].manifests[0].text, "");
        // Precedence: the core `web` wins over the configured one.
        let origins = inst.module_origins();
        assert_eq!(origins["web"].0, Origin::Core);
        let entries = [PathEntry::Host(root.join("oca"))];
        let scan = crate::addon::scan_sources(inst.sources(&entries, root)).expect("scan");
        assert_eq!(scan.shadowed.len(), 1);
        assert_eq!(scan.shadowed[0].kept, root.join("odoo/odoo/addons/web"));
        assert_eq!(scan.broken.len(), 1, "the empty manifest is reported");
    }

    #[tokio::test]
    async fn a_packaged_odoo_is_found_through_its_script_and_pip_installed_addons_come_second() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        // Odoo as a package (site1) and an addon installed with pip into the namespace
        // (site2), both on the Python's path; `odoo` is a script whose `#!` names it.
        write(&root.join("site1/odoo/__init__.py"), "");
        write(&root.join("site1/odoo/addons/base/__manifest__.py"), "{}\n");
        write(
            &root.join("site2/odoo/addons/oca_x/__manifest__.py"),
            "{'depends': ['base']}\n",
        );
        write(&root.join("oca/oca_y/__manifest__.py"), "{}\n");
        let python = root.join("bin/python");
        write(
            &python,
            &format!(
                "#!/bin/sh\nPYTHONPATH={}:{} exec python3 \"$@\"\n",
                root.join("site1").display(),
                root.join("site2").display()
            ),
        );
        let odoo = root.join("bin/odoo");
        write(&odoo, &format!("#!{}\nimport odoo\n", python.display()));
        for exe in [&python, &odoo] {
            std::fs::set_permissions(exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let request = ListRequest::new(
            &InstallationSettings {
                host_paths: vec![],
                ..settings()
            },
            &[odoo.display().to_string()],
            &root.join("data"),
            "18.0",
            &[PathEntry::Host(root.join("oca"))],
        );
        assert_eq!(
            request.program.as_deref(),
            Some(odoo.to_str().unwrap_or(""))
        );
        let inst = Installation::read(&request, &LocalTransport::new())
            .await
            .expect("reads");
        assert_eq!(inst.odoo_addons, Some(root.join("site1/odoo/addons")));
        let order: Vec<(PathBuf, Origin)> = inst
            .paths
            .iter()
            .map(|p| (p.path.clone(), p.origin))
            .collect();
        assert_eq!(
            order,
            [
                (root.join("site1/odoo/addons"), Origin::Core),
                (root.join("site2/odoo/addons"), Origin::Packaged),
                (root.join("oca"), Origin::Configured),
            ]
        );
        let scan =
            crate::addon::scan_sources(inst.sources(&[PathEntry::Host(root.join("oca"))], root))
                .expect("scan");
        let names: Vec<&str> = scan.addons.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["base", "oca_x", "oca_y"]);
    }

    #[tokio::test]
    async fn a_missing_configured_folder_is_refused_like_odoo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let request = ListRequest {
            core_candidates: vec![],
            python: None,
            program: None,
            data_dir_addons: dir.path().join("data"),
            configured: vec![dir.path().join("gone")],
        };
        let err = Installation::read(&request, &LocalTransport::new())
            .await
            .expect_err("refused");
        assert!(
            matches!(err, InstallationError::MissingPath { .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_host_checksum_is_the_local_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let addon = dir.path().join("acme");
        write(&addon.join("__manifest__.py"), "{'name': 'x'}\n");
        write(&addon.join("models/a.py"), "a = 1\n");
        write(&addon.join("models/b.pyc"), "compiled");
        write(&addon.join("i18n/fr.po"), "fr");
        write(&addon.join("i18n/de_DE.po"), "de");
        write(&addon.join("i18n/x.pot"), "template");
        write(&addon.join("static/src/x.js"), "js");
        write(&addon.join("data/empty.xml"), "");
        write(&addon.join("views/z/deep.xml"), "<odoo/>");
        let rules = ChecksumRules::new(crate::checksum::DEFAULT_EXCLUDE_PATTERNS, &["fr_FR"]);
        let local = crate::checksum::addon_checksum(&addon, &rules).expect("local");
        let sums = host_checksums(
            &LocalTransport::new(),
            "python3",
            &[("acme".to_owned(), addon.clone())],
            &rules,
        )
        .await
        .expect("host");
        assert_eq!(sums["acme"], local);
    }
}
