//! `odd init`: a commented starter odd.toml for the project in the current directory.

use std::path::PathBuf;

use odoo_deploy_core::config::CONFIG_FILE;
use odoo_deploy_core::init;

use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project's root (default: the current directory).
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Print the config instead of writing it.
    #[arg(long)]
    stdout: bool,
    /// Overwrite an existing odd.toml.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    let detected = init::detect(&args.dir);
    let text = init::starter_config(&detected);
    if args.stdout {
        output::print(&text)?;
        return Ok(Status::Success);
    }
    let path = args.dir.join(CONFIG_FILE);
    if path.exists() && !args.force {
        return Err(CliError::Report(miette::miette!(
            help = "pass --force to replace it, or --stdout to see the starter config",
            "{} already exists",
            path.display()
        )));
    }
    std::fs::write(&path, text)
        .map_err(|e| CliError::Report(miette::miette!("cannot write {}: {e}", path.display())))?;
    for (dir, count) in &detected.addons_paths {
        output::say(&format!("addons path {} ({count} addons)", dir.display()));
    }
    if !detected.leaves.is_empty() {
        let names: Vec<&str> = detected.leaves.iter().map(|(n, _)| n.as_str()).collect();
        output::say(&format!(
            "required_modules: {} (what a first deploy installs; edit the list)",
            names.join(", ")
        ));
    }
    if detected.addons_paths.is_empty() {
        output::say("no addons found: edit addons_paths");
    }
    output::say(&format!(
        "wrote {}: fill in the environments, then run `odd plan ENV`",
        path.display()
    ));
    Ok(Status::Success)
}
