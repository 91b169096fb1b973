//! What the engine reports while it runs. The library never prints: callers receive
//! events and render them.

use serde::Serialize;

use crate::plan::StepKind;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Something that happened during a run. Serialised as one JSON object per event
/// (`odd deploy --json` streams them as NDJSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// One line printed by a command on a host, as bytes (with its `\n` if it had one).
    Output {
        /// The host the command ran on.
        host: String,
        /// stdout or stderr.
        stream: Stream,
        /// The line, lossless.
        #[serde(serialize_with = "lossy")]
        line: Vec<u8>,
    },
    /// A step of the runbook began.
    StepStarted {
        /// Its kind.
        step: StepKind,
        /// What it does, as the plan says.
        title: String,
    },
    /// A step ended.
    StepFinished {
        /// Its kind.
        step: StepKind,
        /// How long it took.
        elapsed_ms: u64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A line of Odoo's log, as it came.
    OdooLog {
        /// The line, without its end.
        line: String,
    },
    /// Odoo began loading a module it installs or updates (`Loading module X (i/n)`).
    ModuleProgress {
        /// The module's name.
        module: String,
        /// Its position among those loaded (from 1).
        index: u32,
        /// How many are loaded.
        total: u32,
    },
    /// Something the operator should know that does not stop the run.
    Notice {
        /// What to know, in a sentence.
        message: String,
    },
    /// The deploy failed after changes began; the rollback plan runs.
    RollbackStarted {
        /// Why the deploy failed.
        reason: String,
    },
    /// One database of a fleet is done (see [`crate::fleet`]).
    DatabaseFinished {
        /// The database.
        database: String,
        /// How it ended.
        outcome: crate::databases::DatabaseOutcome,
        /// Why, when it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Databases done so far (updated or with nothing to update).
        done: usize,
        /// Databases failed so far (restored, or not).
        failed: usize,
        /// Databases not begun so far (the fleet stopped after too many failures).
        skipped: usize,
        /// Databases left.
        left: usize,
    },
}

fn lossy<S: serde::Serializer>(line: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(String::from_utf8_lossy(line).trim_end_matches('\n'))
}

/// Receives events; the CLI renders them, a test collects them.
pub trait EventSink: Send + Sync {
    /// One event.
    fn event(&self, event: Event);
}

impl<F> EventSink for F
where
    F: Fn(Event) + Send + Sync,
{
    fn event(&self, event: Event) {
        self(event);
    }
}
