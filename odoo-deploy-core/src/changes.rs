//! What a deploy changes: the modules to install, update and remove, each with its reason,
//! and what Odoo will really reload (the effective update set).
//!
//! Changed modules are found by comparing the code's content checksums
//! ([`crate::checksum`]) with the ones stored in the target database after the last good
//! deploy — odd's own key, or click-odoo-update's when odd's is absent — so the state
//! travels with the data.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::checksum::{CLICK_ODOO_CHECKSUMS_KEY, ODD_CHECKSUMS_KEY};
use crate::odoo::{ModuleRow, adapt_version};

/// One module as the code has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeModule {
    /// The module's directory (the addon's folder, on the addons path it was found on).
    pub dir: PathBuf,
    /// The manifest's version as written.
    pub version: Option<String>,
    /// The modules it depends on (`depends`).
    pub depends: Vec<String>,
    /// Whether the manifest says `installable` (true when it does not say).
    pub installable: bool,
    /// `None` when not auto-installed; otherwise the modules whose presence triggers it.
    pub auto_install: Option<Vec<String>>,
    /// Versions of the `migrations/` and `upgrades/` folders, as written.
    pub migrations: Vec<String>,
}

/// Checksums stored in the database, and where they were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredChecksums {
    /// The `ir_config_parameter` key they came from.
    pub key: String,
    /// Module → checksum (`None` where the tool stored `false`: no directory).
    pub sums: BTreeMap<String, Option<String>>,
}

impl StoredChecksums {
    /// Reads the JSON value of the key (`{"module": "sha1" | false}`).
    pub fn parse(key: &str, json: &str) -> Result<Self, serde_json::Error> {
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(json)?;
        Ok(Self {
            key: key.to_owned(),
            sums: raw
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map(str::to_owned)))
                .collect(),
        })
    }

    /// Picks odd's own key, else click-odoo-update's, from the parameters read.
    pub fn from_params(
        params: &BTreeMap<String, String>,
    ) -> Result<Option<Self>, serde_json::Error> {
        for key in [ODD_CHECKSUMS_KEY, CLICK_ODOO_CHECKSUMS_KEY] {
            if let Some(json) = params.get(key) {
                return Self::parse(key, json).map(Some);
            }
        }
        Ok(None)
    }
}

/// Why a module is in the change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Listed in `required_modules` and not installed.
    Required,
    /// A dependency of a module being installed or updated, not installed yet.
    NewDependency {
        /// The module being installed or updated that needs it.
        of: String,
    },
    /// An auto_install module whose triggers will all be installed.
    AutoInstall {
        /// The modules whose installation triggers it.
        triggers: Vec<String>,
    },
    /// Its content changed since the last good deploy.
    ChecksumChanged {
        /// The checksum stored at the last good deploy.
        stored: String,
        /// The checksum of the code now.
        current: String,
    },
    /// Its content changed on the host (an Odoo upgrade, a moved checkout), not in the
    /// repository.
    HostChanged {
        /// The checksum stored at the last good deploy.
        stored: String,
        /// The checksum of the host's copy now.
        current: String,
    },
    /// No checksum was stored for it: updated to be safe.
    NoStoredChecksum,
    /// Left pending (`to upgrade`/`to install`) by an earlier run.
    Pending {
        /// Its state in the database (`to upgrade` or `to install`).
        state: String,
    },
    /// Installed, but its code is gone.
    GoneFromCode {
        /// Its state in the database.
        state: String,
    },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Required => f.write_str("required and not installed"),
            Self::NewDependency { of } => write!(f, "new dependency of {of}"),
            Self::AutoInstall { triggers } => {
                write!(f, "auto_install once {} are installed", triggers.join(", "))
            }
            Self::ChecksumChanged { stored, current } => {
                write!(
                    f,
                    "content changed ({} → {})",
                    short(stored),
                    short(current)
                )
            }
            Self::HostChanged { stored, current } => write!(
                f,
                "changed on the host, not in this repository ({} → {})",
                short(stored),
                short(current)
            ),
            Self::NoStoredChecksum => f.write_str("no checksum stored for it: updated to be safe"),
            Self::Pending { state } => write!(f, "left `{state}` by an earlier run"),
            Self::GoneFromCode { state } => {
                write!(f, "`{state}` in the database but gone from the code")
            }
        }
    }
}

fn short(sum: &str) -> &str {
    sum.get(..10).unwrap_or(sum)
}

/// One module in the change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The module's technical name.
    pub module: String,
    /// Why it is in the change set.
    #[serde(flatten)]
    pub reason: Reason,
    /// Commits behind the change, when git could tell (newest first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<crate::git::CommitInfo>,
}

/// A problem the change would run into, found before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeProblem {
    /// A migration folder above the installed version, while the manifest version is not
    /// raised to reach it: Odoo would not run its scripts.
    MigrationNotRun {
        /// The module.
        module: String,
        /// The migration folder's version, as written.
        folder: String,
        /// The installed version (`latest_version`).
        installed: String,
        /// The manifest's version.
        manifest: String,
        /// The module's directory.
        dir: PathBuf,
    },
    /// The manifest version is lower than the installed one.
    LoweredVersion {
        /// The module.
        module: String,
        /// The installed version (`latest_version`).
        installed: String,
        /// The manifest's version.
        manifest: String,
        /// The module's directory.
        dir: PathBuf,
    },
    /// The database belongs to another Odoo series.
    SeriesMismatch {
        /// The series the database runs, e.g. `17.0`.
        database: String,
        /// The series the project is written for (`project.series`).
        project: String,
    },
    /// A module depends on one that is not on the addons path.
    MissingDependency {
        /// The module that depends.
        module: String,
        /// The module it depends on, not found.
        depends_on: String,
        /// The depending module's directory.
        dir: PathBuf,
    },
    /// An installed module's code is gone and removal was not allowed.
    RemovalNotAllowed {
        /// The installed module whose code is gone.
        module: String,
    },
    /// A module to install is not installable.
    NotInstallable {
        /// The module.
        module: String,
        /// The module's directory.
        dir: PathBuf,
    },
    /// The host's Odoo installation does not fit the environment (its config file names
    /// another data_dir, or an addons path without the deployed release).
    Installation {
        /// What does not fit, in words for the operator.
        message: String,
    },
}

impl std::fmt::Display for ChangeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MigrationNotRun {
                module,
                folder,
                installed,
                manifest,
                dir,
            } => write!(
                f,
                "{module}: migration folder {folder} is above the installed {installed}, but the manifest \
                 version {manifest} does not reach it, so its scripts would not run ({})",
                dir.join("__manifest__.py").display()
            ),
            Self::LoweredVersion {
                module,
                installed,
                manifest,
                dir,
            } => write!(
                f,
                "{module}: manifest version {manifest} is lower than the installed {installed} ({})",
                dir.join("__manifest__.py").display()
            ),
            Self::SeriesMismatch { database, project } => {
                write!(
                    f,
                    "the database runs Odoo {database}, the project is written for {project}"
                )
            }
            Self::MissingDependency {
                module,
                depends_on,
                dir,
            } => write!(
                f,
                "{module} depends on {depends_on}, which is not on the addons path ({})",
                dir.join("__manifest__.py").display()
            ),
            Self::RemovalNotAllowed { module } => write!(
                f,
                "{module} is installed but its code is gone; uninstall it first or allow removal"
            ),
            Self::Installation { message } => f.write_str(message),
            Self::NotInstallable { module, dir } => write!(
                f,
                "{module} must be installed but is not installable ({})",
                dir.join("__manifest__.py").display()
            ),
        }
    }
}

/// The change set of one deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSet {
    /// Modules to install (`-i`), with why.
    pub install: Vec<Change>,
    /// Modules to update (`-u`), with why.
    pub update: Vec<Change>,
    /// Installed modules to uninstall, with why.
    pub remove: Vec<Change>,
    /// Installed modules that stay as they are.
    pub unchanged: Vec<String>,
    /// What `-u` really reloads: the update set and every installed module depending on
    /// it, transitively.
    pub effective_update: Vec<String>,
    /// Where the stored checksums came from (`None`: nothing stored).
    pub checksums_from: Option<String>,
    /// Problems found before anything runs; the plan is refused while there are any.
    pub problems: Vec<ChangeProblem>,
}

impl ChangeSet {
    /// Names of the modules to pass to `-i`.
    pub fn install_names(&self) -> BTreeSet<String> {
        self.install.iter().map(|c| c.module.clone()).collect()
    }

    /// Names of the modules to pass to `-u`.
    pub fn update_names(&self) -> BTreeSet<String> {
        self.update.iter().map(|c| c.module.clone()).collect()
    }

    /// Whether the database will change.
    pub fn touches_database(&self) -> bool {
        !(self.install.is_empty() && self.update.is_empty() && self.remove.is_empty())
    }
}

/// Everything [`compute`] needs.
#[derive(Debug, Clone)]
pub struct ChangeInput<'a> {
    /// The modules of the code (repository and host), by name.
    pub code: &'a BTreeMap<String, CodeModule>,
    /// The code's checksums, by module.
    pub checksums: &'a BTreeMap<String, String>,
    /// The modules in the database (`ir_module_module`).
    pub rows: &'a [ModuleRow],
    /// The checksums stored by the last good deploy; none when nothing is stored.
    pub stored: Option<&'a StoredChecksums>,
    /// Modules that must be installed (`project.required_modules`).
    pub required: &'a BTreeSet<String>,
    /// The project's Odoo series.
    pub series: &'a str,
    /// Whether uninstalling modules whose code is gone is allowed (`--allow-remove`).
    pub allow_remove: bool,
}

/// Computes the change set.
pub fn compute(input: &ChangeInput<'_>) -> ChangeSet {
    let rows: BTreeMap<&str, &ModuleRow> =
        input.rows.iter().map(|r| (r.name.as_str(), r)).collect();
    let installed = |name: &str| {
        rows.get(name)
            .is_some_and(|r| r.state == "installed" || r.state == "to upgrade")
    };
    let mut set = ChangeSet {
        checksums_from: input.stored.map(|s| s.key.clone()),
        ..ChangeSet::default()
    };

    // Updates: installed modules whose code changed, or that are pending.
    for row in input.rows {
        let Some(module) = input.code.get(&row.name) else {
            if row.state == "installed" || row.state.starts_with("to ") {
                set.remove.push(Change {
                    module: row.name.clone(),
                    reason: Reason::GoneFromCode {
                        state: row.state.clone(),
                    },
                    commits: Vec::new(),
                });
                if !input.allow_remove {
                    set.problems.push(ChangeProblem::RemovalNotAllowed {
                        module: row.name.clone(),
                    });
                }
            }
            continue;
        };
        if !(row.state == "installed" || row.state == "to upgrade") {
            continue;
        }
        let current = input.checksums.get(&row.name).cloned().unwrap_or_default();
        let stored = input
            .stored
            .and_then(|s| s.sums.get(&row.name))
            .cloned()
            .flatten();
        let reason = if row.state == "to upgrade" {
            Some(Reason::Pending {
                state: row.state.clone(),
            })
        } else {
            match stored {
                None => Some(Reason::NoStoredChecksum),
                Some(stored) if stored != current => {
                    Some(Reason::ChecksumChanged { stored, current })
                }
                Some(_) => None,
            }
        };
        match reason {
            Some(reason) => set.update.push(Change {
                module: row.name.clone(),
                reason,
                commits: Vec::new(),
            }),
            None => set.unchanged.push(row.name.clone()),
        }
        static_checks(&row.name, module, row, input.series, &mut set.problems);
    }

    // Installs: required modules, then every missing dependency of what is installed or
    // updated, then auto_install modules, to a fixpoint.
    let mut to_install: BTreeMap<String, Reason> = BTreeMap::new();
    for name in input.required {
        if !installed(name) {
            to_install.insert(name.clone(), Reason::Required);
        }
    }
    let mut roots: Vec<String> = to_install.keys().cloned().collect();
    roots.extend(set.update.iter().map(|c| c.module.clone()));
    let mut queue = roots;
    while let Some(name) = queue.pop() {
        let Some(module) = input.code.get(&name) else {
            continue;
        };
        for dep in &module.depends {
            if !input.code.contains_key(dep) {
                set.problems.push(ChangeProblem::MissingDependency {
                    module: name.clone(),
                    depends_on: dep.clone(),
                    dir: module.dir.clone(),
                });
            } else if !installed(dep) && !to_install.contains_key(dep) {
                to_install.insert(dep.clone(), Reason::NewDependency { of: name.clone() });
                queue.push(dep.clone());
            }
        }
    }
    loop {
        let present = |n: &str| installed(n) || to_install.contains_key(n);
        let joining: Vec<(String, Vec<String>)> = input
            .code
            .iter()
            .filter(|(name, m)| m.installable && !present(name))
            .filter_map(|(name, m)| {
                let triggers = m.auto_install.as_ref()?;
                let all_in =
                    m.depends.iter().all(|d| present(d)) && triggers.iter().all(|t| present(t));
                all_in.then(|| (name.clone(), triggers.clone()))
            })
            .collect();
        if joining.is_empty() {
            break;
        }
        for (name, triggers) in joining {
            to_install.insert(name, Reason::AutoInstall { triggers });
        }
    }
    for (name, reason) in to_install {
        if let Some(module) = input.code.get(&name)
            && !module.installable
        {
            set.problems.push(ChangeProblem::NotInstallable {
                module: name.clone(),
                dir: module.dir.clone(),
            });
        }
        set.install.push(Change {
            module: name,
            reason,
            commits: Vec::new(),
        });
    }

    // The effective update: installed dependents of the update set, transitively.
    let mut effective: BTreeSet<String> = set.update.iter().map(|c| c.module.clone()).collect();
    loop {
        let more: Vec<String> = input
            .code
            .iter()
            .filter(|(name, _)| installed(name) && !effective.contains(*name))
            .filter(|(_, m)| m.depends.iter().any(|d| effective.contains(d)))
            .map(|(name, _)| name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        effective.extend(more);
    }
    set.effective_update = effective.into_iter().collect();

    if let Some(base) = rows.get("base").and_then(|r| r.latest_version.as_deref()) {
        let db_series: String = base.split('.').take(2).collect::<Vec<_>>().join(".");
        if db_series != input.series {
            set.problems.push(ChangeProblem::SeriesMismatch {
                database: db_series,
                project: input.series.to_owned(),
            });
        }
    }
    set.unchanged.sort();
    set.update.sort_by(|a, b| a.module.cmp(&b.module));
    set.remove.sort_by(|a, b| a.module.cmp(&b.module));
    set.problems.dedup();
    set
}

fn static_checks(
    name: &str,
    module: &CodeModule,
    row: &ModuleRow,
    series: &str,
    problems: &mut Vec<ChangeProblem>,
) {
    let (Some(installed), Some(version)) =
        (row.latest_version.as_deref(), module.version.as_deref())
    else {
        return;
    };
    let manifest = adapt_version(series, version);
    if compare_versions(&manifest, installed) == Ordering::Less {
        problems.push(ChangeProblem::LoweredVersion {
            module: name.to_owned(),
            installed: installed.to_owned(),
            manifest: manifest.clone(),
            dir: module.dir.clone(),
        });
    }
    for folder in &module.migrations {
        if folder == "0.0.0" {
            continue;
        }
        let target = adapt_version(series, folder);
        let above_installed = compare_versions(&target, installed) == Ordering::Greater;
        let reached = compare_versions(&target, &manifest) != Ordering::Greater;
        if above_installed && !reached {
            problems.push(ChangeProblem::MigrationNotRun {
                module: name.to_owned(),
                folder: folder.clone(),
                installed: installed.to_owned(),
                manifest: manifest.clone(),
                dir: module.dir.clone(),
            });
        }
    }
}

/// Compares dotted versions part by part, numerically where both parts are numbers.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(version: &str, depends: &[&str]) -> CodeModule {
        CodeModule {
            dir: PathBuf::from("custom_addons/x"),
            version: Some(version.to_owned()),
            depends: depends.iter().map(|d| (*d).to_owned()).collect(),
            installable: true,
            auto_install: None,
            migrations: Vec::new(),
        }
    }

    fn row(name: &str, state: &str, version: &str) -> ModuleRow {
        ModuleRow {
            name: name.to_owned(),
            state: state.to_owned(),
            latest_version: Some(version.to_owned()),
        }
    }

    fn names(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.module.as_str()).collect()
    }

    #[test]
    fn updates_installs_removals_and_the_effective_set() {
        let mut code = BTreeMap::new();
        code.insert("base".to_owned(), module("1.3", &[]));
        code.insert("acme_base".to_owned(), module("18.0.1.1.0", &["base"]));
        code.insert("acme_sale".to_owned(), module("18.0.1.0.0", &["acme_base"]));
        code.insert(
            "acme_report".to_owned(),
            module("18.0.1.0.0", &["acme_sale"]),
        );
        code.insert(
            "acme_new".to_owned(),
            module("18.0.1.0.0", &["acme_base", "acme_dep"]),
        );
        code.insert("acme_dep".to_owned(), module("18.0.1.0.0", &["base"]));
        let mut bridge = module("18.0.1.0.0", &["acme_new", "acme_sale"]);
        bridge.auto_install = Some(vec!["acme_new".to_owned(), "acme_sale".to_owned()]);
        code.insert("acme_bridge".to_owned(), bridge);
        let rows = vec![
            row("base", "installed", "18.0.1.3"),
            row("acme_base", "installed", "18.0.1.0.0"),
            row("acme_sale", "installed", "18.0.1.0.0"),
            row("acme_report", "installed", "18.0.1.0.0"),
            row("acme_old", "installed", "18.0.1.0.0"),
            row("acme_dep", "uninstalled", ""),
        ];
        let checksums: BTreeMap<String, String> = code
            .keys()
            .map(|k| (k.clone(), format!("{k}-v2")))
            .collect();
        let stored = StoredChecksums::parse(
            ODD_CHECKSUMS_KEY,
            r#"{"base": "base-v2", "acme_base": "acme_base-v1", "acme_sale": "acme_sale-v2", "acme_report": "acme_report-v2", "acme_old": false}"#,
        )
        .expect("json");
        let required: BTreeSet<String> = ["acme_new".to_owned()].into();
        let set = compute(&ChangeInput {
            code: &code,
            checksums: &checksums,
            rows: &rows,
            stored: Some(&stored),
            required: &required,
            series: "18.0",
            allow_remove: false,
        });
        assert_eq!(names(&set.update), ["acme_base"]);
        assert_eq!(
            set.update[0].reason,
            Reason::ChecksumChanged {
                stored: "acme_base-v1".into(),
                current: "acme_base-v2".into()
            }
        );
        assert_eq!(names(&set.install), ["acme_bridge", "acme_dep", "acme_new"]);
        assert_eq!(
            set.install[1].reason,
            Reason::NewDependency {
                of: "acme_new".into()
            }
        );
        assert!(matches!(set.install[0].reason, Reason::AutoInstall { .. }));
        assert_eq!(names(&set.remove), ["acme_old"]);
        assert_eq!(
            set.effective_update,
            ["acme_base", "acme_report", "acme_sale"]
        );
        assert_eq!(set.unchanged, ["acme_report", "acme_sale", "base"]);
        assert_eq!(
            set.problems,
            [ChangeProblem::RemovalNotAllowed {
                module: "acme_old".into()
            }]
        );
        assert_eq!(set.checksums_from.as_deref(), Some(ODD_CHECKSUMS_KEY));
    }

    #[test]
    fn a_migration_that_would_not_run_is_caught() {
        let mut m = module("18.0.1.0.0", &[]);
        m.migrations = vec![
            "18.0.1.1.0".into(),
            "1.0.5".into(),
            "0.0.0".into(),
            "18.0.0.9.0".into(),
        ];
        let mut problems = Vec::new();
        static_checks(
            "acme_sale",
            &m,
            &row("acme_sale", "installed", "18.0.1.0.0"),
            "18.0",
            &mut problems,
        );
        let folders: Vec<&str> = problems
            .iter()
            .filter_map(|p| match p {
                ChangeProblem::MigrationNotRun { folder, .. } => Some(folder.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(folders, ["18.0.1.1.0", "1.0.5"]);
        // Bumped: the folder is reached, nothing to say.
        let mut bumped = module("18.0.1.1.0", &[]);
        bumped.migrations = vec!["18.0.1.1.0".into()];
        let mut problems = Vec::new();
        static_checks(
            "acme_sale",
            &bumped,
            &row("acme_sale", "installed", "18.0.1.0.0"),
            "18.0",
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        // Lowered.
        let mut problems = Vec::new();
        static_checks(
            "acme_sale",
            &module("18.0.0.9.0", &[]),
            &row("acme_sale", "installed", "18.0.1.0.0"),
            "18.0",
            &mut problems,
        );
        assert!(matches!(problems[0], ChangeProblem::LoweredVersion { .. }));
    }

    #[test]
    fn series_mismatch_and_missing_dependencies() {
        let mut code = BTreeMap::new();
        code.insert("acme".to_owned(), module("17.0.1.0.0", &["ghost"]));
        let rows = vec![
            row("base", "installed", "17.0.1.3"),
            row("acme", "installed", "17.0.1.0.0"),
        ];
        let set = compute(&ChangeInput {
            code: &code,
            checksums: &BTreeMap::new(),
            rows: &rows,
            stored: None,
            required: &BTreeSet::new(),
            series: "18.0",
            allow_remove: true,
        });
        assert_eq!(names(&set.update), ["acme"]);
        assert_eq!(set.update[0].reason, Reason::NoStoredChecksum);
        assert!(set.problems.contains(&ChangeProblem::SeriesMismatch {
            database: "17.0".into(),
            project: "18.0".into()
        }));
        assert!(set.problems.iter().any(|p| matches!(p, ChangeProblem::MissingDependency { depends_on, .. } if depends_on == "ghost")));
    }

    #[test]
    fn click_odoo_key_is_read_when_odds_is_absent() {
        let mut params = BTreeMap::new();
        params.insert(
            CLICK_ODOO_CHECKSUMS_KEY.to_owned(),
            r#"{"a": "1"}"#.to_owned(),
        );
        let stored = StoredChecksums::from_params(&params)
            .expect("json")
            .expect("found");
        assert_eq!(stored.key, CLICK_ODOO_CHECKSUMS_KEY);
        params.insert(ODD_CHECKSUMS_KEY.to_owned(), r#"{"a": "2"}"#.to_owned());
        let stored = StoredChecksums::from_params(&params)
            .expect("json")
            .expect("found");
        assert_eq!(stored.sums.get("a"), Some(&Some("2".to_owned())));
        assert_eq!(
            compare_versions("18.0.1.10.0", "18.0.1.9.0"),
            Ordering::Greater
        );
    }
}
