//! The journal: where a deploy stands, written on the host before and after each step,
//! so that when odd itself dies (killed, its machine gone) the host still tells where
//! it stopped and what the environment is left in.
//!
//! `<deploy_dir>/journal` holds JSON lines ([`JournalEntry`]): the deploy id, the step,
//! `started`/`finished`/`failed`, the time, and for some steps a detail (the snapshot's
//! id). A deploy starts it afresh once it holds the lock; appending a line is the only
//! other write, so a crash leaves at worst a torn last line, which reading skips.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::command::RemoteCommand;
use crate::release::Layout;
use crate::transport::{Transport, TransportError};

/// The state of a step in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalState {
    /// The step began.
    Started,
    /// The step ended well.
    Finished,
    /// The step ended in failure.
    Failed,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The id of the deploy (or rollback) the step belongs to.
    pub deploy: String,
    /// The step's name (`update`, `rollback restore snapshot`, …).
    pub step: String,
    /// Whether the step began, ended well or failed.
    pub state: JournalState,
    /// Unix seconds.
    pub at: i64,
    /// The same instant in Unix milliseconds (absent in journals older than it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
    /// What the step produced that a recovery needs (the snapshot's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl JournalEntry {
    /// An entry for `deploy`'s `step`, now.
    pub fn now(deploy: &str, step: &str, state: JournalState) -> Self {
        let at_ms = clock::now_unix_ms();
        Self {
            deploy: deploy.to_owned(),
            step: step.to_owned(),
            state,
            at: at_ms.div_euclid(1000),
            at_ms: Some(at_ms),
            detail: None,
        }
    }

    /// When it was written, in Unix milliseconds.
    pub fn at_ms(&self) -> i64 {
        self.at_ms.unwrap_or(self.at.saturating_mul(1000))
    }

    /// With a detail.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// When Odoo was first stopped for deploy `id` (Unix ms): by the deploy itself, its own
/// rollback, or an `odd rollback` recovering it. The environment's downtime runs from
/// there to the first healthy answer after it, across runs that died and their recovery.
pub fn first_stop_ms(entries: &[JournalEntry], id: &str) -> Option<i64> {
    entries
        .iter()
        .find(|e| {
            e.deploy == id
                && e.state == JournalState::Started
                && matches!(
                    e.step.as_str(),
                    "stop" | "rollback stop" | "odd rollback: stop"
                )
        })
        .map(JournalEntry::at_ms)
}

/// Reads the journal's text; torn or foreign lines are skipped, and so are lines whose
/// deploy id is not a release id (it names folders a recovery removes).
pub fn parse(text: &str) -> Vec<JournalEntry> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<JournalEntry>(l).ok())
        .filter(|e| crate::untrusted::release_id(&e.deploy).is_ok())
        .collect()
}

/// Starts the journal afresh (a deploy holding the lock calls this first).
pub async fn reset(transport: &dyn Transport, layout: &Layout) -> Result<(), TransportError> {
    transport.write_file(&layout.journal(), b"").await
}

/// Appends one entry.
pub async fn append(
    transport: &dyn Transport,
    layout: &Layout,
    entry: &JournalEntry,
) -> Result<(), TransportError> {
    let mut line = serde_json::to_string(entry).unwrap_or_default();
    line.push('\n');
    transport
        .check_output(&append_command(&layout.journal(), line.into_bytes()))
        .await
        .map(drop)
}

fn append_command(path: &Path, bytes: Vec<u8>) -> RemoteCommand {
    RemoteCommand::new("tee")
        .arg("-a")
        .arg("--")
        .arg(path)
        .stdin_bytes(bytes)
}

/// Reads the journal (empty when there is none).
pub async fn read(
    transport: &dyn Transport,
    layout: &Layout,
) -> Result<Vec<JournalEntry>, TransportError> {
    let path = layout.journal();
    if !transport.exists(&path).await? {
        return Ok(Vec::new());
    }
    let bytes = transport.read_file(&path).await?;
    Ok(parse(&String::from_utf8_lossy(&bytes)))
}

/// The entry that opens an `odd rollback` run; its detail is the rollback's plan (JSON).
pub const ROLLBACK_BEGIN: &str = "odd rollback: begin";
/// The entry that closes it (finished or failed).
pub const ROLLBACK_END: &str = "odd rollback: end";

/// An `odd rollback` run that began and never ended: it died.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfinishedRollback {
    /// Its opening entry (the plan is the detail).
    pub begin: JournalEntry,
    /// Its last entry.
    pub last: JournalEntry,
    /// Where it stopped, in a sentence.
    pub summary: String,
}

/// The last `odd rollback` run of the journal, if it never wrote its end.
pub fn unfinished_rollback(entries: &[JournalEntry]) -> Option<UnfinishedRollback> {
    let at = entries.iter().rposition(|e| e.step == ROLLBACK_BEGIN)?;
    let run = &entries[at..];
    if run.iter().any(|e| e.step == ROLLBACK_END) {
        return None;
    }
    let begin = run[0].clone();
    let last = run[run.len() - 1].clone();
    let summary = format!(
        "an `odd rollback` of {} {} {} at {}",
        begin.deploy,
        match last.state {
            JournalState::Started => "stopped during",
            JournalState::Finished => "stopped after",
            JournalState::Failed => "stopped after a failed",
        },
        last.step
            .strip_prefix("odd rollback: ")
            .unwrap_or(&last.step),
        clock::human(last.at)
    );
    Some(UnfinishedRollback {
        begin,
        last,
        summary,
    })
}

/// What a dead run left behind, read from its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interruption {
    /// The id of the run that died.
    pub deploy: String,
    /// The last entry of that deploy, if it wrote any.
    pub last: Option<JournalEntry>,
    /// The pre-deploy snapshot it took, if it finished taking one.
    pub snapshot: Option<String>,
    /// Whether Odoo was stopped and not started again.
    pub odoo_stopped: bool,
    /// Whether the update (or a database creation) began: the database may be mixed.
    pub database_touched: bool,
    /// Whether `current` may point to the new release.
    pub switched: bool,
    /// The whole picture, in a sentence.
    pub summary: String,
}

/// Reads where deploy `id` stopped from the journal's entries.
pub fn assess(entries: &[JournalEntry], id: &str) -> Interruption {
    let mine: Vec<&JournalEntry> = entries.iter().filter(|e| e.deploy == id).collect();
    let began = |step: &str| mine.iter().any(|e| e.step == step);
    let finished = |step: &str| {
        mine.iter()
            .any(|e| e.step == step && e.state == JournalState::Finished)
    };
    let snapshot = mine
        .iter()
        .rev()
        .find(|e| e.step == "snapshot" && e.state == JournalState::Finished)
        .and_then(|e| e.detail.clone())
        .filter(|id| crate::untrusted::backup_id(id).is_ok());
    let last = mine.last().map(|e| (*e).clone());
    let odoo_stopped = began("stop")
        && !mine
            .iter()
            .rev()
            .take_while(|e| e.step != "stop")
            .any(|e| e.step.ends_with("start") && e.state == JournalState::Finished);
    // A fleet's databases are journaled one by one (`update DB`, see crate::fleet).
    let database_touched = began("update")
        || began("create database")
        || mine.iter().any(|e| e.step.starts_with("update "));
    let switched = began("switch") || began("rollback switch back");
    let mut parts = Vec::new();
    parts.push(match &last {
        Some(e) => format!(
            "{} {} at {}",
            match e.state {
                JournalState::Started => "stopped during",
                JournalState::Finished => "stopped after",
                JournalState::Failed => "stopped after a failed",
            },
            e.step,
            clock::human(e.at)
        ),
        None => "stopped before its first step".to_owned(),
    });
    if database_touched && !finished("rollback restore snapshot") {
        parts.push("the database may be in a mixed state".to_owned());
    } else {
        parts.push("the database was not changed".to_owned());
    }
    match &snapshot {
        Some(s) => parts.push(format!("the pre-deploy snapshot {s} exists")),
        None if database_touched => parts.push("no pre-deploy snapshot was recorded".to_owned()),
        None => {}
    }
    let fleet = crate::databases::journal_states(&mine);
    if !fleet.is_empty() {
        parts.push(format!(
            "its databases: {}",
            fleet
                .iter()
                .map(|(db, state)| format!("{db} {state}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if odoo_stopped {
        parts.push("Odoo is stopped".to_owned());
    }
    if switched {
        parts.push("`current` may point to the new release".to_owned());
    }
    Interruption {
        deploy: id.to_owned(),
        last,
        snapshot,
        odoo_stopped,
        database_touched,
        switched,
        summary: parts.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(step: &str, state: JournalState, detail: Option<&str>) -> JournalEntry {
        JournalEntry {
            deploy: crate::testing::rid(1),
            step: step.to_owned(),
            state,
            at: 1_795_132_800,
            at_ms: None,
            detail: detail.map(str::to_owned),
        }
    }

    #[test]
    fn a_run_killed_during_the_update_is_read_back() {
        use JournalState::{Finished, Started};
        let entries = [
            e("upload", Started, None),
            e("upload", Finished, None),
            e("stop", Started, None),
            e("stop", Finished, None),
            e("snapshot", Started, None),
            e("snapshot", Finished, Some("snapshot-20261122-050000-000")),
            e("update", Started, None),
        ];
        let mut text: String = entries
            .iter()
            .map(|e| serde_json::to_string(e).expect("json") + "\n")
            .collect();
        text.push_str(&format!(
            "{{\"deploy\": \"{}\", \"st",
            crate::testing::rid(1)
        ));
        let read = parse(&text);
        assert_eq!(read, entries, "the torn last line is skipped");
        let i = assess(&read, &crate::testing::rid(1));
        assert_eq!(i.snapshot.as_deref(), Some("snapshot-20261122-050000-000"));
        assert!(i.database_touched && i.odoo_stopped && !i.switched);
        assert!(
            i.summary.starts_with("stopped during update at 2026-11-20 00:00:00 UTC;")
                && i.summary.contains(
                    "the database may be in a mixed state; the pre-deploy snapshot snapshot-20261122-050000-000 exists; Odoo is stopped"
                ),
            "{}",
            i.summary
        );
        assert_eq!(
            first_stop_ms(&read, &crate::testing::rid(1)),
            Some(1_795_132_800_000),
            "the killed run's stop, for the downtime"
        );
        assert_eq!(first_stop_ms(&read, &crate::testing::rid(2)), None);
        let other = assess(&read, &crate::testing::rid(2));
        assert_eq!(
            other.summary,
            "stopped before its first step; the database was not changed"
        );
    }

    #[test]
    fn a_rollback_run_that_wrote_no_end_is_unfinished() {
        use JournalState::{Finished, Started};
        let mut entries = vec![
            e("update", Started, None),
            e(ROLLBACK_BEGIN, Started, Some("{}")),
            e("odd rollback: stop", Started, None),
            e("odd rollback: stop", Finished, None),
            e("odd rollback: restore snapshot", Started, None),
        ];
        let found = unfinished_rollback(&entries).expect("unfinished");
        assert_eq!(found.begin.detail.as_deref(), Some("{}"));
        assert_eq!(
            found.summary,
            "an `odd rollback` of 20261122T000001Z-0123abcd stopped during restore snapshot at 2026-11-20 00:00:00 UTC"
        );
        entries.push(e(ROLLBACK_END, Finished, None));
        assert_eq!(unfinished_rollback(&entries), None);
        assert_eq!(unfinished_rollback(&entries[..1]), None);
    }

    #[test]
    fn the_append_command_is_exact() {
        let cmd = append_command(Path::new("/opt/odd/journal"), b"{}\n".to_vec());
        assert_eq!(
            crate::testing::argv(&cmd),
            ["tee", "-a", "--", "/opt/odd/journal"]
        );
    }
}
