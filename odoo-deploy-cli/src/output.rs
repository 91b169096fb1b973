//! Exit statuses, error rendering and stdout that tolerates a closed pipe.

use std::io::{self, Write};
use std::process::ExitCode;

use odoo_deploy_core::addon::ScanError;
use odoo_deploy_core::config::{ConfigError, UnknownEnvironment};
use odoo_deploy_core::deploy::DeployError;
use odoo_deploy_core::ledger::Outcome;
use odoo_deploy_core::lock::LockError;
use odoo_deploy_core::ops::OpsError;
use odoo_deploy_core::rollback::RollbackError;

/// How a command ended: the process's exit code, one value per meaning CI can branch on
/// (uv's `ExitStatus`). Every command returns one; [`finish`] turns it into the code, and
/// [`CliError::status`] decides the status of an error, so the whole mapping is here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// 0: all good (a deploy deployed and verified).
    Success,
    /// 1: the command ran and found problems (`odd check`, `odd doctor`, a plan that is
    /// not ready), or could not do its work (a host that does not answer); for a deploy,
    /// before anything changed.
    Failure,
    /// 2: bad input: odd.toml, a manifest or the command line. Fix it and run again.
    BadInput,
    /// 3: refused by a gate (window, required environment, approval, clean tree, the
    /// lock held by a live run): nothing changed.
    Refused,
    /// 4: the deploy failed, and what ran before was restored and verified: safe.
    RolledBack,
    /// 5: failed and NOT restored: the rollback failed, or a run that died was not
    /// recovered. The environment needs a person.
    NotRestored,
    /// 6: a fleet partly failed: some databases updated and verified, the failed ones
    /// restored from their snapshots and verified.
    PartlyFailed,
}

impl Status {
    /// Every status, in code order (for the table in README and its test).
    pub(crate) const ALL: [Status; 7] = [
        Status::Success,
        Status::Failure,
        Status::BadInput,
        Status::Refused,
        Status::RolledBack,
        Status::NotRestored,
        Status::PartlyFailed,
    ];

    /// The process's exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::Failure => 1,
            Status::BadInput => 2,
            Status::Refused => 3,
            Status::RolledBack => 4,
            Status::NotRestored => 5,
            Status::PartlyFailed => 6,
        }
    }

    /// Its name in JSON output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
            Status::BadInput => "bad_input",
            Status::Refused => "refused",
            Status::RolledBack => "rolled_back",
            Status::NotRestored => "not_restored",
            Status::PartlyFailed => "partly_failed",
        }
    }

    /// What it means, in a sentence.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Status::Success => "succeeded",
            Status::Failure => "failed or found problems; nothing was changed by a deploy",
            Status::BadInput => "bad input (odd.toml, a manifest or the command line)",
            Status::Refused => "refused by a gate: nothing changed",
            Status::RolledBack => "failed and rolled back: the previous state runs, verified",
            Status::NotRestored => "failed and NOT restored: the environment needs a person",
            Status::PartlyFailed => {
                "partly failed: some databases updated, the failed ones restored and verified"
            }
        }
    }

    /// How a deploy (or a recovery) that ran ended.
    pub(crate) fn of_outcome(outcome: Outcome) -> Status {
        match outcome {
            Outcome::Succeeded | Outcome::Reverted => Status::Success,
            Outcome::Refused => Status::Refused,
            Outcome::RolledBack => Status::RolledBack,
            Outcome::PartlyFailed => Status::PartlyFailed,
            Outcome::RollbackFailed | Outcome::Running => Status::NotRestored,
        }
    }
}

/// The exit codes as a list for `odd --help` and the man page.
pub(crate) fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for status in Status::ALL {
        text.push_str(&format!("  {}  {}\n", status.code(), status.meaning()));
    }
    text
}

/// Why a command could not run.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Stdout was closed by the reader: not an error, stop quietly.
    BrokenPipe,
    /// A diagnostic; its exit status follows from its type (see [`CliError::status`]).
    Report(miette::Report),
    /// A diagnostic made here with its exit status (the command line was wrong, a run
    /// was refused).
    Classified(Status, miette::Report),
}

impl CliError {
    pub(crate) fn diagnostic<E: miette::Diagnostic + Send + Sync + 'static>(error: E) -> Self {
        CliError::Report(miette::Report::new(error))
    }

    /// Bad input, said here (not a typed error of core).
    pub(crate) fn bad_input(report: miette::Report) -> Self {
        CliError::Classified(Status::BadInput, report)
    }

    /// A refusal that changed nothing, said here.
    pub(crate) fn refused(report: miette::Report) -> Self {
        CliError::Classified(Status::Refused, report)
    }

    /// The same error as bad input (for a command whose every error is its input's).
    pub(crate) fn into_bad_input(self) -> Self {
        match self {
            CliError::Report(report) | CliError::Classified(_, report) => {
                CliError::bad_input(report)
            }
            CliError::BrokenPipe => CliError::BrokenPipe,
        }
    }

    /// The exit status of this error.
    pub(crate) fn status(&self) -> Status {
        match self {
            CliError::BrokenPipe => Status::Success,
            CliError::Classified(status, _) => *status,
            CliError::Report(report) => status_of_report(report),
        }
    }

    /// The diagnostic, if there is one to show.
    pub(crate) fn report(&self) -> Option<&miette::Report> {
        match self {
            CliError::BrokenPipe => None,
            CliError::Report(report) | CliError::Classified(_, report) => Some(report),
        }
    }
}

/// The exit status of a typed error from core: bad input, a refusal, an environment
/// left unrecovered, or (anything else) a failure that changed nothing.
fn status_of_report(report: &miette::Report) -> Status {
    if report.is::<ConfigError>()
        || report.is::<UnknownEnvironment>()
        || report.is::<odoo_deploy_core::graph::UnknownModules>()
        || report.is::<ScanError>()
        || report.is::<odoo_deploy_core::manifest::ManifestError>()
        || report.is::<odoo_deploy_core::lint::LintError>()
    {
        return Status::BadInput;
    }
    if let Some(error) = report.downcast_ref::<OpsError>() {
        return match error {
            OpsError::Scan(_) | OpsError::BrokenManifests { .. } | OpsError::Git { .. } => {
                Status::BadInput
            }
            _ => Status::Failure,
        };
    }
    if let Some(error) = report.downcast_ref::<LockError>() {
        return status_of_lock(error);
    }
    if let Some(error) = report.downcast_ref::<DeployError>() {
        return match error {
            DeployError::NotReady(_) | DeployError::UpdateLockHeld { .. } => Status::Refused,
            DeployError::Lock(error) => status_of_lock(error),
            DeployError::Unrecovered { .. } => Status::NotRestored,
        };
    }
    if let Some(error) = report.downcast_ref::<RollbackError>() {
        return match error {
            // Asked for a deploy that is not there.
            RollbackError::Nothing { .. }
            | RollbackError::Unknown { .. }
            | RollbackError::NothingAfter { .. } => Status::BadInput,
            RollbackError::NoPreviousRelease { .. }
            | RollbackError::ReleaseGone { .. }
            | RollbackError::NoSnapshot { .. }
            | RollbackError::Refresh { .. }
            | RollbackError::TouchesDatabase { .. }
            | RollbackError::Running { .. }
            | RollbackError::UpdateLockHeld { .. } => Status::Refused,
            // An `odd rollback` that died, and cannot be finished as asked.
            RollbackError::Unfinished { .. } => Status::NotRestored,
            RollbackError::Lock(error) => status_of_lock(error),
            _ => Status::Failure,
        };
    }
    Status::Failure
}

/// A lock held by a live run refuses; one left by a run that died means the environment
/// is wherever that run stopped.
fn status_of_lock(error: &LockError) -> Status {
    match error {
        LockError::Held { .. } | LockError::Alive { .. } => Status::Refused,
        LockError::Stale { .. } => Status::NotRestored,
        LockError::Unreadable { .. } | LockError::Transport(_) => Status::Failure,
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

/// Renders a diagnostic on stderr. Its text may quote the host (a stderr tail): control
/// sequences are removed, except miette's own colours when they are on.
pub(crate) fn eprint_report(report: &miette::Report) {
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && io::IsTerminal::is_terminal(&io::stderr());
    let diagnostic: &dyn miette::Diagnostic = report.as_ref();
    let rendered = if snippets_fit(diagnostic) {
        format!("{report:?}")
    } else {
        plain(diagnostic)
    };
    let text = terminal_safe(&rendered, colour);
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

/// The longest source line the graphical renderer is given: past column 65,535 it
/// panics, and a snippet that wide helps nobody anyway.
const MAX_SNIPPET_LINE: usize = 4096;

/// Whether every snippet of `diag` (and of its related diagnostics) is on lines short
/// enough for the graphical renderer.
fn snippets_fit(diag: &dyn miette::Diagnostic) -> bool {
    let own = match (diag.source_code(), diag.labels()) {
        (Some(src), Some(labels)) => labels.into_iter().all(|label| {
            src.read_span(label.inner(), 1, 1).is_ok_and(|contents| {
                contents
                    .data()
                    .split(|&b| b == b'\n')
                    .all(|line| line.len() <= MAX_SNIPPET_LINE)
            })
        }),
        _ => true,
    };
    own && diag
        .related()
        .is_none_or(|mut related| related.all(snippets_fit))
}

/// A diagnostic as text without snippets: the message, where each label points (file,
/// line and column), the help, and the related diagnostics the same way.
fn plain(diag: &dyn miette::Diagnostic) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(code) = diag.code() {
        let _ = writeln!(out, "{code}");
    }
    let _ = writeln!(out, "  x {diag}");
    if let (Some(src), Some(labels)) = (diag.source_code(), diag.labels()) {
        for label in labels {
            if let Ok(at) = src.read_span(label.inner(), 0, 0) {
                let _ = writeln!(
                    out,
                    "  at {}:{}:{}{}",
                    at.name().unwrap_or("<source>"),
                    at.line() + 1,
                    at.column() + 1,
                    label.label().map_or_else(String::new, |l| format!(": {l}"))
                );
            }
        }
    }
    if let Some(help) = diag.help() {
        let _ = writeln!(out, "  help: {help}");
    }
    if let Some(related) = diag.related() {
        for r in related {
            out.push('\n');
            out.push_str(&plain(r));
        }
    }
    out
}

/// A diagnostic as JSON: its code, severity, message, help and where each label
/// points (file, line and column, 1-based), for `--json` output.
pub(crate) fn diagnostic_json(diag: &dyn miette::Diagnostic) -> serde_json::Value {
    let mut labels = Vec::new();
    if let (Some(src), Some(found)) = (diag.source_code(), diag.labels()) {
        for label in found {
            if let Ok(at) = src.read_span(label.inner(), 0, 0) {
                labels.push(serde_json::json!({
                    "file": at.name(),
                    "line": at.line() + 1,
                    "column": at.column() + 1,
                    "label": label.label(),
                }));
            }
        }
    }
    let severity = match diag.severity() {
        Some(miette::Severity::Warning) => "warning",
        Some(miette::Severity::Advice) => "advice",
        Some(miette::Severity::Error) | None => "error",
    };
    serde_json::json!({
        "code": diag.code().map(|c| c.to_string()),
        "severity": severity,
        "message": diag.to_string(),
        "help": diag.help().map(|h| h.to_string()),
        "labels": labels,
    })
}

/// `value` as pretty JSON and a newline on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Report(miette::miette!("cannot write JSON: {e}")))?;
    print(&format!("{json}\n"))
}

/// Writes `text` to stdout, without control sequences (it may hold what a host said:
/// a ledger's reason, Odoo's log lines). JSON is unchanged: it escapes them itself.
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let text = terminal_safe(text, false);
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Writes a line of talk to stderr (a closed stderr is ignored), without control
/// sequences.
pub(crate) fn say(text: &str) {
    let text = terminal_safe(text, false);
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

/// `text` with terminal control removed: escape sequences (CSI, OSC — titles, links,
/// the clipboard —, DCS and the like) and control characters other than newline and
/// tab. With `keep_colour`, SGR sequences (`ESC [ … m`, colours only) stay.
pub(crate) fn terminal_safe(text: &str, keep_colour: bool) -> std::borrow::Cow<'_, str> {
    let is_unsafe = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{9b}';
    if !text.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            if !is_unsafe(c) {
                out.push(c);
            }
            continue;
        }
        match chars.next() {
            Some('[') => {
                // CSI: parameters and intermediates, then one final byte @..~.
                let mut seq = String::from("\u{1b}[");
                let mut final_byte = None;
                for d in chars.by_ref() {
                    seq.push(d);
                    if ('@'..='~').contains(&d) {
                        final_byte = Some(d);
                        break;
                    }
                    if !(' '..='?').contains(&d) {
                        break;
                    }
                }
                if keep_colour
                    && final_byte == Some('m')
                    && seq[2..seq.len() - 1]
                        .chars()
                        .all(|d| d.is_ascii_digit() || d == ';')
                {
                    out.push_str(&seq);
                }
            }
            // OSC, DCS, SOS, PM, APC: a string up to BEL or ESC \.
            Some(']' | 'P' | 'X' | '^' | '_') => {
                while let Some(d) = chars.next() {
                    if d == '\u{7}' {
                        break;
                    }
                    if d == '\u{1b}' {
                        if chars.peek() == Some(&'\\') {
                            chars.next();
                        }
                        break;
                    }
                }
            }
            // Any other escape: ESC and the character after it.
            _ => {}
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The process's exit code for a command's result; an error's diagnostic goes to stderr.
pub(crate) fn finish(result: Result<Status, CliError>) -> ExitCode {
    let status = match result {
        Ok(status) => status,
        Err(error) => {
            if let Some(report) = error.report() {
                eprint_report(report);
            }
            error.status()
        }
    };
    ExitCode::from(status.code())
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

#[cfg(test)]
mod tests {
    use super::{CliError, Status, terminal_safe};
    use odoo_deploy_core::deploy::DeployError;
    use odoo_deploy_core::ledger::Outcome;

    #[test]
    fn every_exit_status_has_its_own_code_and_its_row_in_the_readme() {
        let readme = include_str!("../../README.md");
        let mut codes = Vec::new();
        for status in Status::ALL {
            codes.push(status.code());
            let row = format!("| {} | `{}` | ", status.code(), status.name());
            assert!(
                readme.contains(&row),
                "README's exit code table lacks {row:?}"
            );
        }
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6], "distinct, in order");
        // clap's own usage errors exit 2: the code of bad input.
        assert_eq!(Status::BadInput.code(), 2);
        let help = super::exit_codes_help();
        assert!(help.contains("  5  failed and NOT restored"), "{help}");
    }

    #[test]
    fn deploy_outcomes_and_errors_map_to_what_ci_branches_on() {
        assert_eq!(Status::of_outcome(Outcome::Succeeded), Status::Success);
        assert_eq!(Status::of_outcome(Outcome::Refused), Status::Refused);
        assert_eq!(Status::of_outcome(Outcome::RolledBack), Status::RolledBack);
        assert_eq!(
            Status::of_outcome(Outcome::PartlyFailed),
            Status::PartlyFailed
        );
        // The one not provoked end to end: a rollback that fails needs a broken host.
        assert_eq!(
            Status::of_outcome(Outcome::RollbackFailed),
            Status::NotRestored
        );
        assert_eq!(Status::of_outcome(Outcome::Running), Status::NotRestored);
        let status = |e: DeployError| CliError::diagnostic(e).status();
        assert_eq!(
            status(DeployError::NotReady("window: change freeze".into())),
            Status::Refused
        );
        assert_eq!(
            status(DeployError::Unrecovered {
                env: "prod".into(),
                id: "20261201-1".into()
            }),
            Status::NotRestored
        );
        let broken = odoo_deploy_core::config::LoadedConfig::parse(
            std::path::Path::new("odd.toml"),
            "[project\n".to_owned(),
        )
        .expect_err("broken TOML");
        assert_eq!(CliError::diagnostic(broken).status(), Status::BadInput);
        let said = CliError::Report(miette::miette!("host does not answer"));
        assert_eq!(said.status(), Status::Failure);
        assert_eq!(CliError::BrokenPipe.status(), Status::Success);
        assert_eq!(
            CliError::refused(miette::miette!("not approved")).status(),
            Status::Refused
        );
    }

    #[test]
    fn host_text_loses_its_control_sequences() {
        let line = "2026-11-22 ERROR db odoo: \u{1b}]0;pwned\u{7}title \u{1b}]52;c;ZXZpbA==\u{1b}\\clip \u{1b}[2J\u{1b}[Hclear \u{1b}[31mred\u{1b}[0m \r\u{8}\u{9b}31m back\ttab\n";
        assert_eq!(
            terminal_safe(line, false),
            "2026-11-22 ERROR db odoo: title clip clear red 31m back\ttab\n"
        );
        assert_eq!(
            terminal_safe("\u{1b}[31mred\u{1b}[0m \u{1b}[2J", true),
            "\u{1b}[31mred\u{1b}[0m "
        );
        assert!(matches!(
            terminal_safe("plain ünïcode\n", false),
            std::borrow::Cow::Borrowed(_)
        ));
        // A sequence cut off at the end of the text.
        assert_eq!(terminal_safe("a\u{1b}]0;never ends", false), "a");
        assert_eq!(terminal_safe("a\u{1b}", false), "a");
    }
}
