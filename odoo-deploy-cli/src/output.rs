//! Exit statuses, error rendering and stdout that tolerates a closed pipe.

use std::io::{self, Write};
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// All good.
    Success,
    /// The command ran and found problems.
    Failure,
}

/// Why a command could not run.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Stdout was closed by the reader: not an error, stop quietly.
    BrokenPipe,
    /// Anything else, rendered as a diagnostic.
    Report(miette::Report),
}

impl CliError {
    pub(crate) fn diagnostic<E: miette::Diagnostic + Send + Sync + 'static>(error: E) -> Self {
        CliError::Report(miette::Report::new(error))
    }
}

impl From<io::Error> for CliError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Report(miette::Report::msg(format!("cannot write output: {error}")))
        }
    }
}

impl From<miette::Report> for CliError {
    fn from(report: miette::Report) -> Self {
        CliError::Report(report)
    }
}

/// miette's graphical handler; no colour when `NO_COLOR` is set (or stderr is no terminal).
pub(crate) fn install_report_handler() {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let _ = miette::set_hook(Box::new(move |_| {
        // Never cut a path or a module name to wrap a line.
        let mut options = miette::MietteHandlerOpts::new()
            .terminal_links(false)
            .break_words(false)
            .word_separator(textwrap::WordSeparator::AsciiSpace)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        if no_color {
            options = options.color(false);
        }
        Box::new(options.build())
    }));
}

/// Renders a diagnostic on stderr.
pub(crate) fn eprint_report(report: &miette::Report) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{report:?}");
}

/// Writes `text` to stdout.
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Writes a line of talk to stderr (a closed stderr is ignored).
pub(crate) fn say(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

/// The process's exit code for a command's result.
pub(crate) fn finish(result: Result<Status, CliError>) -> ExitCode {
    match result {
        Ok(Status::Success) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Ok(Status::Failure) => ExitCode::from(1),
        Err(CliError::Report(report)) => {
            eprint_report(&report);
            ExitCode::from(2)
        }
    }
}

/// Asks `question` on the terminal; without a terminal, says `no_terminal` and answers no
/// (CI passes `--yes` instead).
pub(crate) fn ask(question: &str, no_terminal: &str) -> Result<bool, CliError> {
    use std::io::{BufRead, IsTerminal};
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        say(no_terminal);
        return Ok(false);
    }
    let mut stderr = io::stderr();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
