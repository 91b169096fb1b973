//! `odd`: safe, boring Odoo deployments.
//!
//! Each command in [`commands`] turns its arguments into options, makes one call into
//! `odoo-deploy-core` and renders the result: data on stdout, talk on stderr.
//!
//! Exit codes: one [`output::Status`] per meaning CI can branch on (0 succeeded, 1 failed
//! or found problems, 2 bad input, 3 refused by a gate, 4 rolled back, 5 not restored,
//! 6 a fleet partly failed),
//! all mapped in `output.rs`. A closed stdout (`odd graph | head`) ends the command
//! quietly.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod commands;
mod context;
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
    /// odd's checks and the project's linters, on the changed modules or all.
    Lint(commands::lint::Args),
    /// Write a commented starter odd.toml for this project.
    Init(commands::init::Args),
    /// Modules a deploy would install, update and remove, and why.
    Changes(commands::changes::Args),
    /// The runbook a deploy would execute, with its gates and rollback plan.
    Plan(commands::plan::Args),
    /// Check every precondition of a deploy on the environment's host.
    Doctor(commands::doctor::Args),
    /// Deploy the current commit: plan, back up, update, verify, or roll back.
    Deploy(commands::deploy::Args),
    /// Odoo tests of the changed modules on throwaway databases (a cached template).
    Test(commands::test::Args),
    /// Undo the last deploy (or all after --to), or recover from an interrupted one.
    Rollback(commands::rollback::Args),
    /// What is deployed, the lock, the last outcome.
    Status(commands::status::Args),
    /// Every deploy of an environment and its outcome.
    History(commands::status::Args),
    /// Who holds the environment's lock.
    Lock(commands::status::Args),
    /// Release a lock whose holder is gone (refused while it is alive).
    Unlock(commands::status::Args),
    /// Take verified backups (database + filestore); `odd backup verify ID` checks one again.
    Backup(commands::backup::Args),
    /// List an environment's backups with their verification status.
    Backups(commands::backup::ListArgs),
    /// Restore a backup (the current database and filestore are kept aside).
    Restore(commands::backup::RestoreArgs),
    /// Another environment's data copied here, neutralized and anonymised; this one's code.
    Refresh(commands::refresh::Args),

    /// The project's container image: `odd image build` tags it by commit and pushes it.
    Image(commands::image::Args),
    /// Print a shell's completion script (bash, zsh, fish, elvish, powershell).
    Completions(commands::docs::CompletionsArgs),
    /// Print odd's man page (roff), e.g. `odd man > odd.1`.
    Man(commands::docs::ManArgs),
}

/// odd's command line as clap sees it, with the exit codes in the long help (and so in
/// the man page).
pub(crate) fn command() -> clap::Command {
    Cli::command().after_long_help(output::exit_codes_help())
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    output::install_report_handler();
    let result = match cli.command {
        Command::Manifest(args) => commands::manifest::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::Check(args) => commands::check::run(&args),
        Command::Lint(args) => commands::lint::run(&args),
        Command::Init(args) => commands::init::run(&args),
        Command::Changes(args) => commands::changes::run(&args),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Doctor(args) => commands::doctor::run(&args),
        Command::Deploy(args) => commands::deploy::run(&args),
        Command::Test(args) => commands::test::run(&args),
        Command::Rollback(args) => commands::rollback::run(&args),
        Command::Status(args) => commands::status::status(&args),
        Command::History(args) => commands::status::history(&args),
        Command::Lock(args) => commands::status::lock(&args),
        Command::Unlock(args) => commands::status::unlock(&args),
        Command::Backup(args) => commands::backup::run(&args),
        Command::Backups(args) => commands::backup::list(&args),
        Command::Restore(args) => commands::backup::restore(&args),
        Command::Refresh(args) => commands::refresh::run(&args),

        Command::Image(args) => commands::image::run(&args),
        Command::Completions(args) => commands::docs::completions(&args),
        Command::Man(args) => commands::docs::man(&args),
    };
    output::finish(result)
}
