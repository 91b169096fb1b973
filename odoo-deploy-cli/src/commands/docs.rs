//! `odd completions SHELL` and `odd man`: generated from the clap definitions, so they
//! name every command and flag odd has.

use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// One command's page (`odd-deploy(1)`) instead of odd's own, which lists them all.
    command: Option<String>,
}

/// Writes the completion script of `shell` on stdout.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<Status, CliError> {
    let mut command = crate::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "odd", &mut script);
    output::print(&String::from_utf8_lossy(&script))?;
    Ok(Status::Success)
}

/// Writes a man page (roff) on stdout: odd's, or that of one of its commands.
pub(crate) fn man(args: &ManArgs) -> Result<Status, CliError> {
    let mut command = crate::command();
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                return Err(CliError::bad_input(miette::miette!(
                    help = "`odd man` lists the commands",
                    "odd has no command `{name}`"
                )));
            };
            let display = format!("odd-{}", sub.get_name());
            sub.clone()
                .display_name(display)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    output::print(&String::from_utf8_lossy(&roff))?;
    Ok(Status::Success)
}
