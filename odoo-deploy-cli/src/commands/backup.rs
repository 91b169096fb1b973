//! `odd backup ENV`, `odd backup verify BACKUP`, `odd backups ENV`, `odd restore ENV BACKUP`.

use odoo_deploy_core::backup::{BackupEvent, BackupKind, BackupMetadata, BackupSummary, Backups};
use odoo_deploy_core::clock;
use odoo_deploy_core::ops::{self, BackupKinds, Operator};

use crate::context::{self, ConfigArg, EnvContext};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    /// The environment (a name from odd.toml).
    #[arg(required = true)]
    env: Option<String>,
    /// Which kind: a same-server snapshot (fast restore), a portable dump, or both.
    #[arg(long, value_enum, default_value_t = Kind::Both)]
    kind: Kind,
    /// Machine-readable output (also for `odd backup verify`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Snapshot,
    Dump,
    Both,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Check a backup again: digests, table of contents, counts.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The backup's id (see `odd backups ENV`).
    backup: String,
    /// Its environment (needed when odd.toml has several).
    #[arg(long = "env", value_name = "ENV")]
    env: Option<String>,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    if let Some(Action::Verify(verify)) = &args.action {
        let env = match &verify.env {
            Some(env) => env.clone(),
            None => only_environment(&loaded)?,
        };
        return context::runtime()?.block_on(async {
            let ctx = EnvContext::open(loaded, &env).await?;
            let target = ctx.target.backup_target(None);
            let checks = Backups::new(ctx.transport.as_ref(), &target)
                .verify(&verify.backup)
                .await
                .map_err(CliError::diagnostic)?;
            if args.json {
                output::print_json(&serde_json::json!({
                    "backup": verify.backup,
                    "verified": true,
                    "checks": checks,
                }))?;
            } else {
                for check in &checks {
                    output::say(&format!("ok  {check}"));
                }
                output::say(&format!("{} verified", verify.backup));
            }
            Ok(Status::Success)
        });
    }
    let env = args.env.clone().unwrap_or_default();
    let kinds = match args.kind {
        Kind::Snapshot => BackupKinds::Snapshot,
        Kind::Dump => BackupKinds::Dump,
        Kind::Both => BackupKinds::Both,
    };
    context::runtime()?.block_on(async {
        let ctx = EnvContext::open(loaded, &env).await?;
        let progress = |event: BackupEvent| {
            if let BackupEvent::StepStarted { step, detail } = event {
                output::say(&format!("==> {step}: {detail}"));
            }
        };
        let taken = ops::backup(
            &ctx.target,
            ctx.transport.as_ref(),
            kinds,
            &operator(),
            &progress,
        )
        .await
        .map_err(CliError::diagnostic)?;
        if args.json {
            let summaries: Vec<BackupSummary> = taken.iter().map(BackupSummary::from).collect();
            output::print_json(&summaries)?;
        } else {
            for meta in &taken {
                output::print(&format!("{}\n", describe(meta)))?;
            }
        }
        Ok(Status::Success)
    })
}

fn only_environment(loaded: &odoo_deploy_core::config::LoadedConfig) -> Result<String, CliError> {
    let names: Vec<&String> = loaded.config.environments.keys().collect();
    match names.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(CliError::bad_input(miette::miette!(
            help = "pass --env ENV",
            "odd.toml has {} environments: which one holds the backup?",
            names.len()
        ))),
    }
}

fn operator() -> Operator {
    Operator {
        who: context::who(),
        machine: context::machine(),
        pid: std::process::id(),
    }
}

fn describe(meta: &BackupMetadata) -> String {
    let summary = BackupSummary::from(meta);
    line(&summary)
}

fn line(b: &BackupSummary) -> String {
    format!(
        "{:<40} {:<8} {}  {:>10}  {}{}",
        b.id,
        match b.kind {
            BackupKind::Snapshot => "snapshot",
            BackupKind::Dump => "dump",
        },
        clock::human(b.created_at_ms / 1000),
        human_size(b.size),
        if b.verified {
            "verified"
        } else {
            "NOT VERIFIED"
        },
        if b.restore_tested {
            ", restore-tested"
        } else {
            ""
        }
    )
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The environment (a name from odd.toml).
    env: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

/// `odd backups ENV`: every backup with its verification status.
pub(crate) fn list(args: &ListArgs) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let ctx = EnvContext::open(loaded, &args.env).await?;
        let target = ctx.target.backup_target(None);
        let list = Backups::new(ctx.transport.as_ref(), &target)
            .list()
            .await
            .map_err(CliError::diagnostic)?;
        let summaries: Vec<BackupSummary> = list.backups.iter().map(BackupSummary::from).collect();
        if args.json {
            output::print_json(&summaries)?;
        } else {
            let mut out = String::new();
            for s in &summaries {
                out.push_str(&line(s));
                out.push('\n');
            }
            if summaries.is_empty() {
                out.push_str("no backups\n");
            }
            output::print(&out)?;
        }
        for (path, reason) in &list.unreadable {
            output::say(&format!("unreadable metadata {}: {reason}", path.display()));
        }
        Ok(Status::Success)
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct RestoreArgs {
    /// The environment (a name from odd.toml).
    env: String,
    /// The backup's id (see `odd backups ENV`).
    backup: String,
    /// The database of the environment's fleet to restore into (default: its main
    /// one, `name`); a backup goes only into the database it was taken of.
    #[arg(long, value_name = "NAME")]
    database: Option<String>,
    /// Confirm: the current database is replaced (and kept aside).
    #[arg(long)]
    yes: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

/// `odd restore ENV BACKUP`.
pub(crate) fn restore(args: &RestoreArgs) -> Result<Status, CliError> {
    if !args.yes {
        return Err(CliError::refused(miette::miette!(
            help = "the current database and filestore are kept aside, not dropped; pass --yes to go on",
            "restoring {} replaces the database of {}: data written since the backup is set aside",
            args.backup,
            args.env
        )));
    }
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let ctx = EnvContext::open(loaded, &args.env).await?;
        let progress = |event: BackupEvent| {
            if let BackupEvent::StepStarted { step, detail } = event {
                output::say(&format!("==> {step}: {detail}"));
            }
        };
        let report = ops::restore(
            &ctx.target,
            ctx.transport.as_ref(),
            &args.backup,
            args.database.as_deref(),
            &operator(),
            &progress,
        )
        .await
        .map_err(CliError::diagnostic)?;
        if args.json {
            output::print_json(&report)?;
        }
        output::say(&format!(
            "restored {} into {}{}",
            report.restored,
            report.database,
            report
                .replaced
                .as_ref()
                .map_or_else(String::new, |r| format!(
                    "; the replaced one is kept as {r}"
                ))
        ));
        Ok(Status::Success)
    })
}
