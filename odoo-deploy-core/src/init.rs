//! `odd init`: a commented starter `odd.toml`, with the addons paths and the Odoo series
//! found in the repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::manifest::manifest_file;

/// Directories that never hold a project's addons.
const SKIPPED: [&str; 8] = [
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    "build",
];

/// How deep below the root addons paths are looked for.
const MAX_DEPTH: usize = 4;

/// What `odd init` found in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// Directories (relative to the root) that directly contain addons, sorted with the
    /// ones holding the most addons first.
    pub addons_paths: Vec<(PathBuf, usize)>,
    /// The series most manifests' versions start with (`18.0.1.0.0` → `18.0`).
    pub series: Option<String>,
    /// The repository's own modules that no other module of the repository depends on,
    /// with their directories: installing them installs the rest, so they are the
    /// starter `required_modules` (a first deploy installs only what is required).
    /// Modules in git submodules (third-party code) are left out: they come in as
    /// dependencies.
    pub leaves: Vec<(String, PathBuf)>,
}

/// Looks for addons paths under `root`: a directory is one when at least one of its
/// subdirectories holds a manifest. An addon's own subdirectories are not searched.
pub fn detect(root: &Path) -> Detected {
    let mut paths = Vec::new();
    let mut series: BTreeMap<String, usize> = BTreeMap::new();
    search(root, root, 0, &mut paths, &mut series);
    paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let series = series
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(s, _)| s);
    let leaves = leaves(root, &paths);
    Detected {
        addons_paths: paths,
        series,
        leaves,
    }
}

/// The installable modules under `paths` that nothing else there depends on, outside
/// the repository's submodules (`path = …` lines of `.gitmodules`).
fn leaves(root: &Path, paths: &[(PathBuf, usize)]) -> Vec<(String, PathBuf)> {
    let dirs: Vec<PathBuf> = paths.iter().map(|(p, _)| root.join(p)).collect();
    let Ok(scan) = crate::addon::scan(&dirs) else {
        return Vec::new();
    };
    let submodules = submodule_paths(root);
    // An auto_install module comes by itself once what it depends on is there, and a
    // module that is not installable never comes: neither makes its dependencies
    // installed, nor is required itself.
    let candidates = || {
        scan.addons.iter().filter(|a| {
            a.manifest.installable
                && matches!(a.manifest.auto_install, crate::manifest::AutoInstall::No)
        })
    };
    let depended: std::collections::BTreeSet<&str> = candidates()
        .flat_map(|a| a.manifest.depends_names())
        .collect();
    let mut found: Vec<(String, PathBuf)> = candidates()
        .filter(|a| !depended.contains(a.name.as_str()))
        .map(|a| {
            let rel = a.dir.strip_prefix(root).unwrap_or(&a.dir).to_owned();
            (a.name.clone(), rel)
        })
        .filter(|(_, rel)| !submodules.iter().any(|s| rel.starts_with(s)))
        .collect();
    found.sort();
    found
}

/// The submodule paths `.gitmodules` names (none when there is no such file).
fn submodule_paths(root: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(root.join(".gitmodules"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "path").then(|| PathBuf::from(value.trim()))
        })
        .collect()
}

fn search(
    root: &Path,
    dir: &Path,
    depth: usize,
    found: &mut Vec<(PathBuf, usize)>,
    series: &mut BTreeMap<String, usize>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && !SKIPPED.contains(&name.as_ref())
        })
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    let mut addons = 0;
    let mut others = Vec::new();
    for sub in subdirs {
        match manifest_file(&sub) {
            Some(manifest) => {
                addons += 1;
                if let Some(s) = std::fs::read_to_string(manifest)
                    .ok()
                    .and_then(|text| series_of(&text))
                {
                    *series.entry(s).or_default() += 1;
                }
            }
            None => others.push(sub),
        }
    }
    if addons > 0 {
        let relative = dir.strip_prefix(root).unwrap_or(dir);
        let relative = if relative.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            relative.to_owned()
        };
        found.push((relative, addons));
    }
    if depth < MAX_DEPTH {
        for sub in others {
            search(root, &sub, depth + 1, found, series);
        }
    }
}

/// The series of a manifest's version, read cheaply: the first `'version': '18.0.…'`.
/// (The full parser is not needed to guess a default for the user to check.)
fn series_of(text: &str) -> Option<String> {
    let at = text.find("version")?;
    let rest = &text[at + "version".len()..];
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let version: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<&str> = version.split('.').collect();
    // Only `<series>.x.y.z` (five parts) carries a series.
    (parts.len() == 5).then(|| format!("{}.{}", parts[0], parts[1]))
}

/// The starter `odd.toml` for what was detected.
pub fn starter_config(detected: &Detected) -> String {
    let series = detected.series.as_deref().unwrap_or("18.0");
    format!("{}{ENVIRONMENTS}", project_section(detected, series))
}

/// The header and `[project]` table for what was detected, with `series` when the
/// repository's manifests name none.
pub fn project_section(detected: &Detected, series: &str) -> String {
    let paths = if detected.addons_paths.is_empty() {
        "\"addons\"".to_owned()
    } else {
        detected
            .addons_paths
            .iter()
            .map(|(p, _)| format!("{:?}", p.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let series = detected.series.as_deref().unwrap_or(series);
    PROJECT
        .replace("@ADDONS_PATHS@", &paths)
        .replace("@SERIES@", series)
        .replace("@REQUIRED_MODULES@", &required_modules(&detected.leaves))
}

/// `required_modules = [...]`, one module a line with its directory, so the operator
/// sees what each is and deletes the ones an environment should not run.
fn required_modules(leaves: &[(String, PathBuf)]) -> String {
    if leaves.is_empty() {
        return "required_modules = []".to_owned();
    }
    // Quotes and comma, then two spaces before the comment.
    let width = leaves.iter().map(|(n, _)| n.len()).max().unwrap_or(0) + 5;
    let mut text = "required_modules = [\n".to_owned();
    for (name, dir) in leaves {
        let entry = format!("{name:?},");
        text.push_str(&format!("    {entry:<width$}# {}\n", dir.display()));
    }
    text.push(']');
    text
}

const PROJECT: &str = r#"# odd.toml — how odd deploys this Odoo project. Written by `odd init`; edit freely.
# Secrets are never written here: name an environment variable (…_env) or a file (…_file).

[project]
# Addons paths relative to this file, in Odoo's precedence order (the first wins).
addons_paths = [@ADDONS_PATHS@]
# The Odoo series the code is written for.
series = "@SERIES@"
# Modules that must be installed on every environment (they are installed if missing,
# with what they depend on). A first deploy installs only these: listed here are the
# repository's modules that no other module of it depends on. Remove the ones that
# should stay uninstalled.
@REQUIRED_MODULES@

"#;

const ENVIRONMENTS: &str = r#"[environments.staging]
# "local" runs commands on this machine; "ssh" on `host` below.
transport = "ssh"
host = { address = "staging.example.com", user = "odoo" }
# How odoo-bin runs on the host, its config file and data_dir; deploy_dir holds odd's
# releases, ledger, lock and journal.
odoo = { command = ["/opt/odoo/venv/bin/python", "/opt/odoo/odoo/odoo-bin"], config = "/etc/odoo/odoo.conf", data_dir = "/var/lib/odoo", deploy_dir = "/opt/odd" }
# How Odoo is stopped and started: "systemd" (unit), "compose" (compose_service) or
# "command" (start, stop, status argv). After a start odd reads Odoo's startup log from
# `log_file` in `odoo` when set, else from the unit's journal (systemd) or the service's
# logs (compose); "command" needs `log_file` or `logs` (an argv printing Odoo's log).
service = { strategy = "systemd", unit = "odoo" }
# The password comes from this environment variable (or use password_file).
database = { name = "staging", user = "odoo", password_env = "ODD_STAGING_PGPASSWORD" }
http = { base_url = "https://staging.example.com", health_path = "/web/health", health_timeout_secs = 60 }

[environments.staging.smoke]
pages = [{ path = "/web/login", status = 200, contains = "Log in" }]
# login = { login = "admin", password_env = "ODD_STAGING_ADMIN_PASSWORD", read_model = "res.partner" }

[environments.production]
transport = "ssh"
host = { address = "erp.example.com", user = "odoo" }
odoo = { command = ["/opt/odoo/venv/bin/python", "/opt/odoo/odoo/odoo-bin"], config = "/etc/odoo/odoo.conf", data_dir = "/var/lib/odoo", deploy_dir = "/opt/odd" }
service = { strategy = "systemd", unit = "odoo" }
database = { name = "production", user = "odoo", password_env = "ODD_PRODUCTION_PGPASSWORD" }
http = { base_url = "https://erp.example.com" }
# The same commit must have been deployed successfully on staging first.
requires = "staging"
# Show the plan and ask before deploying (`--yes` answers for CI).
approval = true
# Deploys are refused in these periods unless `--override-window "reason"` is given.
window = { utc_offset = "+00:00", deny = [
    { days = ["fri"], from = "15:00", to = "24:00", reason = "not on Friday afternoon" },
    { from = "17:00", to = "24:00", reason = "not after 17:00" },
] }
backup = { keep_snapshots = 3, keep_dumps = 7, dump_before_deploy = true }
# notify = { webhook_env = "ODD_WEBHOOK_URL" }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadedConfig;

    fn addon(root: &Path, rel: &str, version: &str) {
        let dir = root.join(rel);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("__manifest__.py"),
            format!("{{'name': 'x', 'version': '{version}', 'depends': ['base']}}\n"),
        )
        .expect("write manifest");
    }

    #[test]
    fn finds_addons_paths_and_series_and_writes_a_valid_config() {
        let root = tempfile::tempdir().expect("tempdir");
        addon(root.path(), "custom_addons/acme_sale", "18.0.1.0.0");
        addon(root.path(), "custom_addons/acme_stock", "18.0.1.2.0");
        addon(
            root.path(),
            "vendor/oca/partner-contact/partner_firstname",
            "18.0.1.0.0",
        );
        addon(
            root.path(),
            "vendor/oca/partner-contact/partner_firstname/tests/fake",
            "1.0",
        );
        std::fs::create_dir_all(root.path().join(".git/objects/aa")).expect("mkdir");
        let detected = detect(root.path());
        assert_eq!(
            detected.addons_paths,
            vec![
                (PathBuf::from("custom_addons"), 2),
                (PathBuf::from("vendor/oca/partner-contact"), 1),
            ]
        );
        assert_eq!(detected.series.as_deref(), Some("18.0"));
        let text = starter_config(&detected);
        assert!(text.contains(r#"addons_paths = ["custom_addons", "vendor/oca/partner-contact"]"#));
        LoadedConfig::parse(&root.path().join("odd.toml"), text)
            .expect("the starter config is valid");
    }

    #[test]
    fn required_modules_are_the_repositorys_leaves_outside_submodules() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        let write = |rel: &str, text: &str| {
            let path = r.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        let manifest = |depends: &str, extra: &str| {
            format!("{{'name': 'x', 'version': '18.0.1.0.0', 'depends': [{depends}]{extra}}}\n")
        };
        write(
            "custom_addons/acme_base/__manifest__.py",
            &manifest("'base'", ""),
        );
        write(
            "custom_addons/acme_sale/__manifest__.py",
            &manifest("'acme_base', 'partner_tier'", ""),
        );
        write(
            "custom_addons/acme_report/__manifest__.py",
            &manifest("'acme_base'", ""),
        );
        write(
            "custom_addons/acme_old/__manifest__.py",
            &manifest("'acme_base'", ", 'installable': False"),
        );
        write(
            "custom_addons/acme_glue/__manifest__.py",
            &manifest("'acme_sale', 'acme_report'", ", 'auto_install': True"),
        );
        write(
            "vendor/oca-partner/partner_tier/__manifest__.py",
            &manifest("'base'", ""),
        );
        write(
            "vendor/oca-partner/partner_unused/__manifest__.py",
            &manifest("'base'", ""),
        );
        write(
            ".gitmodules",
            "[submodule \"vendor/oca-partner\"]\n\tpath = vendor/oca-partner\n\turl = https://example.invalid/oca-partner.git\n",
        );
        let detected = detect(r);
        let names: Vec<&str> = detected.leaves.iter().map(|(n, _)| n.as_str()).collect();
        // acme_base is a dependency; acme_old is not installable; acme_glue comes by itself;
        // the submodule's modules come in as dependencies (partner_tier) or not at all.
        assert_eq!(names, ["acme_report", "acme_sale"]);
        let text = starter_config(&detected);
        assert!(
            text.contains(
                "required_modules = [\n    \"acme_report\",  # custom_addons/acme_report\n    \"acme_sale\",    # custom_addons/acme_sale\n]\n"
            ),
            "{text}"
        );
        let loaded = LoadedConfig::parse(&r.join("odd.toml"), text).expect("valid");
        let required: Vec<&str> = loaded
            .config
            .project
            .required_modules
            .iter()
            .map(|m| m.get_ref().as_str())
            .collect();
        assert_eq!(required, ["acme_report", "acme_sale"]);
    }

    #[test]
    fn an_empty_repository_still_gets_a_valid_config() {
        let root = tempfile::tempdir().expect("tempdir");
        let text = starter_config(&detect(root.path()));
        LoadedConfig::parse(&root.path().join("odd.toml"), text).expect("valid");
    }
}
