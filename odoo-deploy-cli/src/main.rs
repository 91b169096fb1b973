//! `odd`: safe, boring Odoo deployments.
//!
//! Each command in [`commands`] turns its arguments into options, makes one call into
//! `odoo-deploy-core` and renders the result: data on stdout, talk on stderr.
//!
//! Exit codes: 0 all good, 1 problems found, 2 usage or operational error. A closed
//! stdout (`odd graph | head`) ends the command quietly.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod output;

/// Safe, boring Odoo deployments.
#[derive(Debug, Parser)]
#[command(name = "odd", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show one manifest: the typed view, or the literal as JSON.
    Manifest(commands::manifest::Args),
    /// Addons in Odoo's install order, with missing dependencies and loops.
    Graph(commands::graph::Args),
    /// Check addons paths: every problem at once.
    Check(commands::check::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::install_report_handler();
    let result = match cli.command {
        Command::Manifest(args) => commands::manifest::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::Check(args) => commands::check::run(&args),
    };
    output::finish(result)
}
