//! `odd changes ENV`: which modules a deploy of the current commit installs, updates and
//! removes, why, and what Odoo will reload.

use odoo_deploy_core::git::Git;
use odoo_deploy_core::ops;
use odoo_deploy_core::transport::LocalTransport;

use crate::context::{self, ConfigArg, EnvContext};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The environment (a name from odd.toml).
    env: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Accept removing modules whose code is gone.
    #[arg(long)]
    allow_remove: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    context::runtime()?.block_on(async {
        let ctx = EnvContext::open(loaded, &args.env).await?;
        let root = ctx.root();
        let local = LocalTransport::new();
        let git = Git::new(&root);
        let (commit, _) = ops::head(&git, &local)
            .await
            .map_err(CliError::diagnostic)?;
        let env = ops::read_env(&ctx.target, ctx.transport.as_ref())
            .await
            .map_err(CliError::diagnostic)?;
        let code = ops::read_code_on(&root, &ctx.target, ctx.transport.as_ref(), &env.db)
            .await
            .map_err(CliError::diagnostic)?;
        let set = ops::changes(
            &ctx.target,
            &code,
            &env,
            Some((&git, &local, &commit)),
            args.allow_remove,
        )
        .await
        .map_err(CliError::diagnostic)?;
        if args.json {
            let json = serde_json::to_string_pretty(&set)
                .map_err(|e| CliError::Report(miette::miette!("{e}")))?;
            output::print(&format!("{json}\n"))?;
        } else {
            output::print(&render(&set))?;
        }
        Ok(if set.problems.is_empty() {
            Status::Success
        } else {
            Status::Failure
        })
    })
}

fn render(set: &odoo_deploy_core::changes::ChangeSet) -> String {
    let mut out = String::new();
    for (label, list) in [
        ("install", &set.install),
        ("update", &set.update),
        ("remove", &set.remove),
    ] {
        for change in list {
            out.push_str(&format!(
                "{label:<8} {:<28} {}\n",
                change.module, change.reason
            ));
            for commit in &change.commits {
                out.push_str(&format!(
                    "{:<37} {} {}\n",
                    "",
                    commit.sha.get(..12).unwrap_or(&commit.sha),
                    commit.subject
                ));
            }
        }
    }
    if !set.touches_database() {
        out.push_str("no module changes\n");
    }
    if !set.effective_update.is_empty() {
        out.push_str(&format!(
            "Odoo will reload: {}\n",
            set.effective_update.join(", ")
        ));
    }
    out.push_str(&format!("{} unchanged\n", set.unchanged.len()));
    match &set.checksums_from {
        Some(key) => out.push_str(&format!(
            "compared with the checksums stored in the database ({key})\n"
        )),
        None => out.push_str(
            "no checksums stored in the database yet: installed modules are updated to be safe\n",
        ),
    }
    for problem in &set.problems {
        out.push_str(&format!("problem: {problem}\n"));
    }
    out
}
