//! Operations: what each `odd` command asks of the engine, one call each. They read what
//! they need (the code, the environment's state through its transport, git through a
//! local transport) and return values; they never print.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::addon::{self, PathSource, ScanError, ScanReport};
use crate::changes::{
    self, ChangeInput, ChangeProblem, ChangeSet, CodeModule, Reason, StoredChecksums,
};
use crate::checksum::{
    self, ChecksumError, ChecksumRules, DEFAULT_EXCLUDE_PATTERNS, EXCLUDE_PATTERNS_KEY,
};
use crate::config::WindowConfig;
use crate::git::Git;
use crate::graph::AddonGraph;
use crate::installation::{self, Installation, InstallationError, ListRequest, Origin};
use crate::ledger::Ledger;
use crate::manifest::AutoInstall;
use crate::plan::{self, Plan, PlanInput};
use crate::state::{self, DbState, StateError};
use crate::target::Target;
use crate::transport::{Transport, TransportError};

/// Why an operation could not run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OpsError {
    /// The addons paths could not be scanned.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Scan(#[from] ScanError),
    /// A module's checksum could not be computed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Checksum(#[from] ChecksumError),
    /// The database or the ledger could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
    /// A command or a transfer on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// The host's Odoo installation could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Installation(#[from] InstallationError),
    #[error("{count} manifest(s) cannot be read; `odd check` shows them all")]
    #[diagnostic(
        code(odd::ops::broken_manifests),
        help("fix them first: odd deploys only code Odoo can load")
    )]
    /// Manifests that Odoo could not load.
    BrokenManifests {
        /// How many.
        count: usize,
    },
    /// The checksums stored in the database cannot be read.
    #[error("the checksums stored under {key} are not valid JSON: {reason}")]
    #[diagnostic(code(odd::ops::stored_checksums))]
    StoredChecksums {
        /// The `ir_config_parameter` key they are stored under.
        key: String,
        /// Why they cannot be read.
        reason: String,
    },
    #[error("git: {reason}")]
    #[diagnostic(
        code(odd::ops::git),
        help("odd deploys commits: run it inside the project's git repository")
    )]
    /// git could not tell the commit or read its files.
    Git {
        /// What git said.
        reason: String,
    },
}

/// The project's code as Odoo would load it.
#[derive(Debug)]
pub struct Code {
    /// The project root.
    pub root: PathBuf,
    /// Every addon found on the addons paths, and the manifests that could not be read.
    pub scan: ScanReport,
    /// The dependency graph of those addons.
    pub graph: AddonGraph,
    /// Each addon as the change computation needs it.
    pub modules: BTreeMap<String, CodeModule>,
    /// The modules Odoo takes from the host rather than the repository, with the origin
    /// of their folder.
    pub host: BTreeMap<String, Origin>,
    /// Checksums of the host's modules, computed on the host.
    pub host_checksums: BTreeMap<String, String>,
    /// Odoo's own modules left out of the change set (`ignore_core_addons`).
    pub ignored: BTreeSet<String>,
    /// The host installation, when it was read.
    pub installation: Option<Installation>,
}

/// Scans the addons paths (relative to `root`) and builds the graph. Broken manifests
/// stop here: a deploy of code Odoo cannot load makes no sense.
pub fn read_code(root: &Path, addons_paths: &[PathBuf]) -> Result<Code, OpsError> {
    let paths: Vec<PathBuf> = addons_paths.iter().map(|p| root.join(p)).collect();
    code_from_sources(root, paths.into_iter().map(PathSource::Local).collect())
}

/// The project's code joined with what the environment's host provides, in Odoo's
/// order ([`crate::installation`]): one command lists every host manifest, one more
/// computes the host modules' checksums with the rules `db` holds. Without host reading
/// (`read_host = false`), the same as [`read_code`].
pub async fn read_code_on(
    root: &Path,
    target: &Target,
    transport: &dyn Transport,
    db: &DbState,
) -> Result<Code, OpsError> {
    if !target.installation.read_host {
        return read_code(root, &target.addons_paths);
    }
    let (scan, inst) = scan_on(root, target, transport).await?;
    let mut code = code_from_scan(root, scan)?;
    let origins = inst.module_origins();
    for addon in code.scan.addons.iter() {
        if let Some((origin, dir)) = origins.get(&addon.name)
            && *dir == addon.dir
        {
            code.host.insert(addon.name.clone(), *origin);
        }
    }
    if target.installation.ignore_core_addons {
        code.ignored = code
            .host
            .iter()
            .filter(|(_, o)| **o == Origin::Core)
            .map(|(n, _)| n.clone())
            .collect();
    }
    let pairs: Vec<(String, PathBuf)> = code
        .host
        .keys()
        .filter(|n| !code.ignored.contains(*n))
        .filter_map(|n| code.scan.addons.get(n).map(|a| (n.clone(), a.dir.clone())))
        .collect();
    code.host_checksums = installation::host_checksums(
        transport,
        &installation::python_of(&target.odoo.command),
        &pairs,
        &checksum_rules(db),
    )
    .await?;
    code.installation = Some(inst);
    Ok(code)
}

/// The addons Odoo would see on the environment's host: its installation's folders and
/// the repository's (read under `root`), in Odoo's order, broken manifests included (for
/// `odd check`). One command reads the host.
pub async fn scan_on(
    root: &Path,
    target: &Target,
    transport: &dyn Transport,
) -> Result<(ScanReport, Installation), OpsError> {
    let request = ListRequest::new(
        &target.installation,
        &target.odoo.command,
        &target.data_dir,
        &target.series,
        &target.addons_entries,
    );
    let inst = Installation::read(&request, transport).await?;
    let scan = addon::scan_sources(inst.sources(&target.addons_entries, root))?;
    Ok((scan, inst))
}

fn code_from_sources(root: &Path, sources: Vec<PathSource>) -> Result<Code, OpsError> {
    code_from_scan(root, addon::scan_sources(sources)?)
}

fn code_from_scan(root: &Path, scan: ScanReport) -> Result<Code, OpsError> {
    if !scan.broken.is_empty() {
        return Err(OpsError::BrokenManifests {
            count: scan.broken.len(),
        });
    }
    let graph = AddonGraph::from_scan(&scan);
    let modules = scan
        .addons
        .iter()
        .map(|a| {
            let m = &a.manifest;
            let depends: Vec<String> = graph.depends(&a.name).map_or_else(
                || m.depends_names().map(str::to_owned).collect(),
                <[String]>::to_vec,
            );
            let auto_install = match &m.auto_install {
                AutoInstall::No => None,
                AutoInstall::Yes => Some(depends.clone()),
                AutoInstall::When(list) => Some(list.clone()),
            };
            let dir = a.dir.strip_prefix(root).unwrap_or(&a.dir).to_owned();
            (
                a.name.clone(),
                CodeModule {
                    migrations: migration_folders(&a.dir),
                    dir,
                    version: m.version.clone(),
                    depends,
                    installable: m.installable,
                    auto_install,
                },
            )
        })
        .collect();
    Ok(Code {
        root: root.to_owned(),
        scan,
        graph,
        modules,
        host: BTreeMap::new(),
        host_checksums: BTreeMap::new(),
        ignored: BTreeSet::new(),
        installation: None,
    })
}

/// The version folders under `migrations/` and `upgrades/` (Odoo reads both).
fn migration_folders(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = ["migrations", "upgrades"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The checksum rules the database holds (exclude patterns, active languages).
fn checksum_rules(db: &DbState) -> ChecksumRules {
    let patterns = db
        .params
        .get(EXCLUDE_PATTERNS_KEY)
        .map_or(DEFAULT_EXCLUDE_PATTERNS, String::as_str);
    let langs: Vec<&str> = if db.langs.is_empty() {
        vec!["en_US"]
    } else {
        db.langs.iter().map(String::as_str).collect()
    };
    ChecksumRules::new(patterns, &langs)
}

/// The checksums of every addon, with the rules the database holds (exclude patterns,
/// active languages): the repository's computed here, the host's as read on the host
/// (ignored core modules have none).
pub fn code_checksums(code: &Code, db: &DbState) -> Result<BTreeMap<String, String>, OpsError> {
    let rules = checksum_rules(db);
    let addons: Vec<(&str, &Path)> = code
        .scan
        .addons
        .iter()
        .filter(|a| !code.host.contains_key(&a.name))
        .map(|a| (a.name.as_str(), a.dir.as_path()))
        .collect();
    let mut sums = checksum::checksums(addons, &rules)?;
    sums.extend(
        code.host_checksums
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    Ok(sums)
}

/// The JSON odd stores under [`crate::checksum::ODD_CHECKSUMS_KEY`]: the checksum of every
/// installed module (the same shape click-odoo-update stores).
pub fn installed_checksums_json(code: &Code, db: &DbState) -> Result<String, OpsError> {
    let sums = code_checksums(code, db)?;
    let installed: BTreeMap<&str, &str> = db
        .modules
        .iter()
        .filter(|m| m.state == "installed")
        .filter_map(|m| sums.get(&m.name).map(|s| (m.name.as_str(), s.as_str())))
        .collect();
    Ok(serde_json::to_string(&installed).unwrap_or_else(|_| "{}".to_owned()))
}

/// What the environment holds now, read through its transport.
#[derive(Debug)]
pub struct EnvState {
    /// The database: whether it exists, its modules, the parameters odd reads.
    pub db: DbState,
    /// The environment's ledger.
    pub ledger: Ledger,
    /// The release `current` points to on the host; none before the first deploy.
    pub current_release: Option<String>,
    /// An `odd rollback` that died (its journal has a beginning and no end).
    pub unfinished_rollback: Option<crate::journal::UnfinishedRollback>,
}

/// Reads the environment's database state, ledger and current release.
pub async fn read_env(target: &Target, transport: &dyn Transport) -> Result<EnvState, OpsError> {
    let db = state::read_db(transport, &target.pg, &target.db).await?;
    let ledger = state::read_ledger(transport, &target.layout).await?;
    let current_release = state::current_release(transport, &target.layout).await?;
    let journal = crate::journal::read(transport, &target.layout).await?;
    Ok(EnvState {
        db,
        ledger,
        current_release,
        unfinished_rollback: crate::journal::unfinished_rollback(&journal),
    })
}

/// The change set of deploying `code` to an environment in `env` state. With `git`, each
/// change is explained by the commits since the environment's deployed commit.
pub async fn changes(
    target: &Target,
    code: &Code,
    env: &EnvState,
    git: Option<(&Git, &dyn Transport, &str)>,
    allow_remove: bool,
) -> Result<ChangeSet, OpsError> {
    let mut checksums = code_checksums(code, &env.db)?;
    let mut stored =
        StoredChecksums::from_params(&env.db.params).map_err(|e| OpsError::StoredChecksums {
            key: "checksums".to_owned(),
            reason: e.to_string(),
        })?;
    // Ignored core modules compare equal to whatever is stored: never updated for their
    // content (still updated when left pending, or as dependents of an update).
    if let Some(stored) = &mut stored {
        for name in &code.ignored {
            let same = "ignored: Odoo's own addon".to_owned();
            checksums.insert(name.clone(), same.clone());
            stored.sums.insert(name.clone(), Some(same));
        }
    }
    let mut set = changes::compute(&ChangeInput {
        code: &code.modules,
        checksums: &checksums,
        rows: &env.db.modules,
        stored: stored.as_ref(),
        required: &target.required,
        series: &target.series,
        allow_remove,
    });
    for change in &mut set.update {
        if let Reason::ChecksumChanged { stored, current } = &change.reason
            && code.host.contains_key(&change.module)
        {
            change.reason = Reason::HostChanged {
                stored: stored.clone(),
                current: current.clone(),
            };
        }
    }
    if code
        .installation
        .as_ref()
        .is_some_and(|i| i.odoo_addons.is_none())
    {
        set.problems.push(ChangeProblem::Installation {
            message: format!(
                "no Odoo installation found on {} from odoo.command (no odoo/addons next to it, no `odoo` package for its Python): set installation.odoo_addons_dir",
                target.host
            ),
        });
    }
    set.problems
        .extend(
            target
                .installation_problems
                .iter()
                .map(|message| ChangeProblem::Installation {
                    message: message.clone(),
                }),
        );
    if let (Some((git, local, commit)), Some(previous)) = (git, env.ledger.current()) {
        for change in set.update.iter_mut().chain(set.install.iter_mut()) {
            if code.host.contains_key(&change.module) {
                continue;
            }
            let Some(module) = code.modules.get(&change.module) else {
                continue;
            };
            let out = local
                .output(&git.log_path(&previous.commit, commit, &module.dir))
                .await?;
            if out.status.success() {
                change.commits = Git::parse_log(&String::from_utf8_lossy(&out.stdout));
            }
        }
    }
    Ok(set)
}

/// The commit at HEAD and the uncommitted changes of the working tree.
pub async fn head(git: &Git, local: &dyn Transport) -> Result<(String, Vec<String>), OpsError> {
    let sha = local.output(&git.rev_parse("HEAD")).await?;
    if !sha.status.success() {
        return Err(OpsError::Git {
            reason: String::from_utf8_lossy(&sha.stderr).trim().to_owned(),
        });
    }
    let status = local.check_output(&git.status()).await?;
    let dirty = String::from_utf8_lossy(&status)
        .lines()
        .map(|l| l.get(3..).unwrap_or(l).to_owned())
        .collect();
    Ok((
        String::from_utf8_lossy(&sha.stdout).trim().to_owned(),
        dirty,
    ))
}

/// The work tree's submodules and their state.
pub async fn submodules(
    git: &Git,
    local: &dyn Transport,
) -> Result<Vec<crate::git::Submodule>, OpsError> {
    let out = local.output(&git.submodule_status()).await?;
    if !out.status.success() {
        return Err(OpsError::Git {
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(Git::parse_submodule_status(&String::from_utf8_lossy(
        &out.stdout,
    )))
}

/// Everything `odd plan` needs besides the target.
#[derive(Debug)]
pub struct PlanRequest<'a> {
    /// The project root (git commands run there).
    pub root: &'a Path,
    /// Now, in seconds since the Unix epoch (names the release, checks the window).
    pub now: i64,
    /// Who deploys (`user@machine`).
    pub who: &'a str,
    /// The environment's deploy window.
    pub window: &'a WindowConfig,
    /// The reason given to deploy while the window is closed (`--override-window`).
    pub override_window: Option<&'a str>,
    /// Whether uninstalling modules whose code is gone is allowed (`--allow-remove`).
    pub allow_remove: bool,
    /// The ledger of the environment named by `requires`, read by the caller through that
    /// environment's transport.
    pub required_ledger: Option<&'a Ledger>,
}

/// Reads everything and makes the plan.
pub async fn plan(
    target: &Target,
    transport: &dyn Transport,
    local: &dyn Transport,
    request: &PlanRequest<'_>,
) -> Result<(Plan, Code, EnvState), OpsError> {
    let git = Git::new(request.root);
    let (commit, dirty) = head(&git, local).await?;
    let submodules = submodules(&git, local).await?;
    let env = read_env(target, transport).await?;
    let code = read_code_on(request.root, target, transport, &env.db).await?;
    let changes = changes(
        target,
        &code,
        &env,
        Some((&git, local, &commit)),
        request.allow_remove,
    )
    .await?;
    let plan = plan::make(PlanInput {
        target,
        commit: &commit,
        dirty: &dirty,
        now: request.now,
        who: request.who,
        ledger: &env.ledger,
        required_ledger: request.required_ledger,
        current_release: env.current_release.as_deref(),
        db: &env.db,
        changes,
        window: request.window,
        override_window: request.override_window,
    });
    let mut plan = plan;
    if let Some(gate) = plan::submodule_gate(&submodules, &dirty) {
        // Right after the commit gate: both say whether the code is what a commit holds.
        let at = plan
            .gates
            .iter()
            .position(|g| g.name == "commit")
            .map_or(0, |i| i + 1);
        plan.gates.insert(at, gate);
    }
    if let Some(gate) = crate::compose::image_gate(target, transport, &commit).await {
        plan.gates.push(gate);
    }
    crate::databases::extend(
        &mut plan,
        target,
        transport,
        &code,
        &env,
        request.allow_remove,
    )
    .await?;
    let third_party: Vec<PathBuf> = submodules.iter().map(|s| s.path.clone()).collect();
    plan.warnings
        .extend(plan::left_uninstalled(&plan, &code.modules, &third_party));
    if plan.unfinished.is_none() {
        plan.unfinished = env
            .unfinished_rollback
            .as_ref()
            .map(|r| r.begin.deploy.clone());
    }
    Ok((plan, code, env))
}

/// Which backups `odd backup` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKinds {
    /// A snapshot of the database and filestore (fast, on the same server).
    Snapshot,
    /// A portable dump (`pg_dump` and a filestore archive).
    Dump,
    /// Both.
    Both,
}

/// Why a backup or restore operation failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum MaintenanceError {
    /// The environment's lock could not be taken.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The backup or the restore failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Backup(#[from] crate::backup::BackupError),
    /// A command or a transfer on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// Odoo's health check after the restore failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Check(#[from] crate::http::CheckError),
    /// The cluster's databases could not be listed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Listing(Box<OpsError>),
    /// `--database` names no database of the environment's fleet.
    #[error("{database:?} is not a database of {environment}'s fleet ({})", fleet.join(", "))]
    #[diagnostic(
        code(odd::ops::not_in_fleet),
        help(
            "`--database` picks one of the databases `[environments.*.database]` names (`name`, `names`, `pattern`); nothing was changed"
        )
    )]
    NotInFleet {
        /// The name asked for.
        database: String,
        /// The environment.
        environment: String,
        /// The fleet's databases.
        fleet: Vec<String>,
    },
}

/// Who runs a maintenance operation, for the lock.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Who runs it (`user@machine`).
    pub who: String,
    /// This machine's name.
    pub machine: String,
    /// This process's id.
    pub pid: u32,
}

/// Takes backups with the environment locked. A dump is taken while Odoo runs
/// (`pg_dump` reads one snapshot, and the filestore, copied after it, holds every file
/// the dump references); a snapshot needs Odoo stopped (a template copy refuses other
/// connections, and the pair must be consistent), so Odoo is stopped for it and started
/// again, with its health checked.
pub async fn backup(
    target: &Target,
    transport: &dyn Transport,
    kinds: BackupKinds,
    operator: &Operator,
    progress: &dyn crate::backup::BackupProgress,
) -> Result<Vec<crate::backup::BackupMetadata>, MaintenanceError> {
    let current = state::read_ledger(transport, &target.layout)
        .await?
        .current()
        .map(|r| r.commit.clone());
    let backup_target = target.backup_target(current.as_deref());
    with_lock(target, transport, operator, "backup", async {
        let backups =
            crate::backup::Backups::new(transport, &backup_target).with_progress(progress);
        let mut taken = Vec::new();
        if matches!(kinds, BackupKinds::Dump | BackupKinds::Both) {
            let opts = crate::backup::DumpOptions {
                restore_test: target.restore_test,
                ..crate::backup::DumpOptions::default()
            };
            taken.push(backups.dump(&opts).await?);
        }
        if matches!(kinds, BackupKinds::Snapshot | BackupKinds::Both) {
            transport
                .check(&target.service.stop(), &crate::transport::Discard)
                .await?;
            let snapshot = backups.snapshot().await;
            let started = restart(target, transport).await;
            taken.push(snapshot?);
            started?;
        }
        Ok(taken)
    })
    .await
}

/// Restores backup `id` with the environment locked and Odoo stopped; the replaced
/// database and filestore are kept aside. Odoo is started again and its health checked.
///
/// `database`: the database of the environment's fleet to restore into (`None`: its
/// main one). A backup is restored only into the database it was taken of.
pub async fn restore(
    target: &Target,
    transport: &dyn Transport,
    id: &str,
    database: Option<&str>,
    operator: &Operator,
    progress: &dyn crate::backup::BackupProgress,
) -> Result<crate::backup::RestoreReport, MaintenanceError> {
    let fleet_target;
    let target = match database {
        Some(name) if name != target.db.name => {
            fleet_database(target, transport, name).await?;
            fleet_target = crate::databases::for_database(target, name);
            &fleet_target
        }
        _ => target,
    };
    let backup_target = target.backup_target(None);
    with_lock(
        target,
        transport,
        operator,
        &format!("restore {id}"),
        async {
            let backups =
                crate::backup::Backups::new(transport, &backup_target).with_progress(progress);
            // Read (and so check) the backup before Odoo goes down: of this database.
            backups.get_own(id).await?;
            transport
                .check(&target.service.stop(), &crate::transport::Discard)
                .await?;
            let report = backups.restore(id).await;
            let started = restart(target, transport).await;
            let report = report?;
            started?;
            Ok(report)
        },
    )
    .await
}

/// Refuses `name` unless it is one of the databases of `target`'s fleet.
async fn fleet_database(
    target: &Target,
    transport: &dyn Transport,
    name: &str,
) -> Result<(), MaintenanceError> {
    let fleet = match &target.databases {
        None => Vec::new(),
        Some(spec) => {
            let cluster = if spec.pattern.is_some() {
                crate::databases::cluster_databases(transport, target)
                    .await
                    .map_err(|e| MaintenanceError::Listing(Box::new(e)))?
            } else {
                Vec::new()
            };
            spec.databases(&target.db.name, &cluster)
        }
    };
    if fleet.iter().any(|d| d == name) {
        return Ok(());
    }
    Err(MaintenanceError::NotInFleet {
        database: name.to_owned(),
        environment: target.environment.clone(),
        fleet: if fleet.is_empty() {
            vec![target.db.name.clone()]
        } else {
            fleet
        },
    })
}

async fn restart(target: &Target, transport: &dyn Transport) -> Result<(), MaintenanceError> {
    transport
        .check(&target.service.start(), &crate::transport::Discard)
        .await?;
    let http = crate::http::OdooHttp::new(&target.base_url, std::time::Duration::from_secs(10))?;
    http.wait_healthy(
        &target.health_path,
        target.health_timeout,
        std::time::Duration::from_millis(250),
    )
    .await?;
    Ok(())
}

async fn with_lock<T>(
    target: &Target,
    transport: &dyn Transport,
    operator: &Operator,
    what: &str,
    body: impl std::future::Future<Output = Result<T, MaintenanceError>>,
) -> Result<T, MaintenanceError> {
    let lock = crate::lock::EnvLock::new(&target.environment, target.layout.lock());
    transport.mkdir_p(&target.layout.deploy_dir).await?;
    let info = crate::lock::LockInfo {
        owner: operator.who.clone(),
        machine: operator.machine.clone(),
        pid: operator.pid,
        started_at: crate::clock::now_unix(),
        commit: None,
        message: what.to_owned(),
        deploy_id: None,
    };
    lock.acquire(transport, &info).await?;
    // The heartbeat runs beside the body, so a long dump never looks stale.
    let heartbeat = async {
        loop {
            tokio::time::sleep(crate::lock::HEARTBEAT_EVERY).await;
            let _ = lock.beat(transport).await;
        }
    };
    let result = tokio::select! {
        result = body => result,
        () = heartbeat => unreachable!("the heartbeat never ends"),
    };
    lock.release(transport).await?;
    result
}
