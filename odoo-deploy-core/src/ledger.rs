//! The ledger: one environment's history of deploys and their outcome.
//!
//! It lives on the environment's host, outside the database (it must survive a database
//! restore), as `<deploy_dir>/ledger.jsonl`: one JSON record per line, appended. A deploy
//! appends its record when it starts and again each time it changes (a step finished,
//! the outcome known); the last line of an id is its current state. Appending a line is
//! the only write, so a crash can at worst leave a torn last line, which reading skips.
//! A record names the plan that ran by its digest; the plan itself lives beside the
//! run's other files and is pruned with its release (see [`crate::state::read_plan`]),
//! so a line stays small whatever the plan's size.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::untrusted::{self, Refused};

/// The ledger's file name inside the environment's deploy directory.
pub const LEDGER_FILE: &str = "ledger.jsonl";

/// How a deploy ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Started and not finished: running now, or the run died (see the lock and journal).
    Running,
    /// Deployed and verified.
    Succeeded,
    /// Refused by a gate or failed before anything changed.
    Refused,
    /// Failed after changes began, then restored and verified.
    RolledBack,
    /// Failed, and the way back failed too: the environment needs an operator.
    RollbackFailed,
    /// Deployed and verified, later undone by `odd rollback` (the reason says when and
    /// by whom); what ran before it is current again.
    Reverted,
    /// A fleet deployed: some databases updated and verified, the failed ones restored
    /// from their own snapshots (see the record's [`DeployRecord::databases`]). The new
    /// code runs.
    PartlyFailed,
}

impl Outcome {
    /// Whether the environment ended in a verified state.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Running)
    }
}

/// The timing and result of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's name (`lock`, `snapshot`, `update`, …).
    pub step: String,
    /// When it started, in seconds since the Unix epoch.
    pub started_at: i64,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// What changed, by module name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSummary {
    /// Modules installed.
    pub install: Vec<String>,
    /// Modules updated.
    pub update: Vec<String>,
    /// Modules uninstalled.
    pub remove: Vec<String>,
    /// What Odoo reloads: the update set and its installed dependents.
    pub effective_update: Vec<String>,
    /// Installed module versions before the deploy (name → `latest_version`).
    #[serde(default)]
    pub versions_before: Vec<(String, String)>,
}

impl ChangeSummary {
    /// Whether the deploy changed module states or versions (a code-only rollback is then
    /// unsafe).
    pub fn touches_database(&self) -> bool {
        !(self.install.is_empty() && self.update.is_empty() && self.remove.is_empty())
    }
}

/// One deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// Unique within the environment; also the release directory's name.
    pub id: String,
    /// The environment deployed to.
    pub environment: String,
    /// The commit deployed (full SHA).
    pub commit: String,
    /// The commit that ran before, when there was one.
    pub previous_commit: Option<String>,
    /// Who ran it (`user@machine`).
    pub who: String,
    /// When it started, in seconds since the Unix epoch.
    pub started_at: i64,
    /// When it ended, in seconds since the Unix epoch; none while running (or after it died).
    pub finished_at: Option<i64>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it ended as it did, in a sentence.
    pub reason: Option<String>,
    /// Lines of evidence (e.g. the failing part of Odoo's log).
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The plan that ran, as its JSON value (secrets already redacted), in the lines of
    /// older versions of odd; a line now names the plan by [`Self::plan_digest`] instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
    /// The SHA-256 (hex) of the plan that ran, stored beside the run's other files on the
    /// host (`runs/<id>-plan.json`, see [`crate::release::Layout::plan_file`]) and pruned
    /// with its release: a line stays a few hundred bytes, whatever the plan's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// What changed in the modules.
    #[serde(default)]
    pub changes: ChangeSummary,
    /// Backups taken for this deploy.
    #[serde(default)]
    pub backups: Vec<String>,
    /// Each step that ran, with its timing and result.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// From stopping Odoo to its first healthy answer.
    pub downtime_ms: Option<u64>,
    /// The reason given to deploy outside the window, when it was overridden.
    pub window_override: Option<String>,
    /// Release directory that was current before this deploy.
    pub previous_release: Option<String>,
    /// A fleet's databases: one entry each, saying how it ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<crate::databases::DatabaseEntry>,
}

impl DeployRecord {
    /// Checks what this record names against the patterns of [`crate::untrusted`]: its
    /// id and previous release, its commits, its backups.
    ///
    /// # Errors
    /// The first value refused.
    pub fn check(&self) -> Result<(), Refused> {
        untrusted::release_id(&self.id)?;
        untrusted::commit(&self.commit)?;
        if let Some(c) = &self.previous_commit {
            untrusted::commit(c)?;
        }
        if let Some(r) = &self.previous_release {
            untrusted::release_id(r)?;
        }
        for b in &self.backups {
            untrusted::backup_id(b)?;
        }
        Ok(())
    }

    /// The environment this line's data was copied from, when it records an
    /// `odd refresh` (its plan holds the refresh's report) rather than a deploy.
    pub fn refreshed_from(&self) -> Option<&str> {
        self.plan.as_ref()?.get("refresh")?.get("source")?.as_str()
    }
}

/// An environment's history, oldest first, one entry per deploy id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    records: Vec<DeployRecord>,
    /// Lines that could not be read (a torn last line after a crash): kept to report them.
    unreadable: Vec<usize>,
    /// The text of those lines, kept as they were: compaction must not lose them.
    unreadable_text: Vec<String>,
    /// Lines a later line of the same id replaced.
    superseded: usize,
}

impl Ledger {
    /// Reads the JSONL text; the last line of each id wins.
    pub fn parse(text: &str) -> Self {
        let mut records: Vec<DeployRecord> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut unreadable = Vec::new();
        let mut unreadable_text = Vec::new();
        let mut superseded = 0;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<DeployRecord>(line) {
                // A record whose ids or commits are not what odd writes is not used:
                // they become paths, removals and git arguments.
                Ok(record) if record.check().is_err() => {
                    unreadable.push(n + 1);
                    unreadable_text.push(line.to_owned());
                }
                Ok(record) => match index.get(&record.id) {
                    Some(&i) => {
                        records[i] = record;
                        superseded += 1;
                    }
                    None => {
                        index.insert(record.id.clone(), records.len());
                        records.push(record);
                    }
                },
                Err(_) => {
                    unreadable.push(n + 1);
                    unreadable_text.push(line.to_owned());
                }
            }
        }
        Self {
            records,
            unreadable,
            unreadable_text,
            superseded,
        }
    }

    /// The same history with one line per deploy (its last), when the text holds
    /// replaced lines: a deploy appends its record several times, so the file would
    /// otherwise grow by several lines a deploy. Lines odd cannot read (torn, foreign or
    /// refused by validation) are evidence: they are kept as they were, after the
    /// records, each ending its own line.
    pub fn compacted(&self) -> Option<String> {
        if self.superseded == 0 {
            return None;
        }
        let mut text = self
            .records
            .iter()
            .map(Self::line)
            .collect::<Result<String, _>>()
            .ok()?;
        for line in &self.unreadable_text {
            text.push_str(line);
            text.push('\n');
        }
        Some(text)
    }

    /// One line to append for `record`.
    pub fn line(record: &DeployRecord) -> Result<String, serde_json::Error> {
        let mut line = serde_json::to_string(record)?;
        line.push('\n');
        Ok(line)
    }

    /// All deploys, oldest first.
    pub fn records(&self) -> &[DeployRecord] {
        &self.records
    }

    /// Line numbers that could not be read.
    pub fn unreadable_lines(&self) -> &[usize] {
        &self.unreadable
    }

    /// The newest deploy.
    pub fn latest(&self) -> Option<&DeployRecord> {
        self.records.last()
    }

    /// The deploy called `id`.
    pub fn get(&self, id: &str) -> Option<&DeployRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// The newest deploy that succeeded: what runs on the environment now.
    pub fn current(&self) -> Option<&DeployRecord> {
        self.records
            .iter()
            .rev()
            .find(|r| matches!(r.outcome, Outcome::Succeeded | Outcome::PartlyFailed))
    }

    /// Whether `commit` was deployed successfully (the `requires` gate).
    pub fn succeeded_with(&self, commit: &str) -> Option<&DeployRecord> {
        self.records
            .iter()
            .rev()
            .find(|r| r.outcome == Outcome::Succeeded && r.commit == commit)
    }

    /// The median downtime of past successful deploys, when there are any (a refresh's
    /// downtime is a copy of another environment's data, not a deploy's: left out).
    pub fn typical_downtime_ms(&self) -> Option<u64> {
        let mut downtimes: Vec<u64> = self
            .records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Succeeded | Outcome::PartlyFailed))
            .filter(|r| r.refreshed_from().is_none())
            .filter_map(|r| r.downtime_ms)
            .collect();
        if downtimes.is_empty() {
            return None;
        }
        downtimes.sort_unstable();
        Some(downtimes[downtimes.len() / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{rid, sha};

    fn record(id: &str, commit: &str, outcome: Outcome, downtime: Option<u64>) -> DeployRecord {
        DeployRecord {
            databases: Vec::new(),
            id: id.to_owned(),
            environment: "staging".to_owned(),
            commit: commit.to_owned(),
            previous_commit: None,
            who: "ops@laptop".to_owned(),
            started_at: 1_795_132_800,
            finished_at: None,
            outcome,
            reason: None,
            evidence: Vec::new(),
            plan: None,
            plan_digest: None,
            changes: ChangeSummary::default(),
            backups: Vec::new(),
            steps: Vec::new(),
            downtime_ms: downtime,
            window_override: None,
            previous_release: None,
        }
    }

    #[test]
    fn the_last_line_of_an_id_wins_and_torn_lines_are_reported() {
        let mut text = String::new();
        text += &Ledger::line(&record(&rid(1), &sha(0xa), Outcome::Running, None)).expect("json");
        text += &Ledger::line(&record(&rid(1), &sha(0xa), Outcome::Succeeded, Some(4000)))
            .expect("json");
        text += &Ledger::line(&record(&rid(2), &sha(0xb), Outcome::Running, None)).expect("json");
        text +=
            &Ledger::line(&record(&rid(2), &sha(0xb), Outcome::RolledBack, None)).expect("json");
        text += "{\"id\": \"d3\", \"environ";
        let ledger = Ledger::parse(&text);
        assert_eq!(ledger.records().len(), 2);
        assert_eq!(ledger.unreadable_lines(), &[5]);
        assert_eq!(
            ledger.latest().map(|r| r.outcome),
            Some(Outcome::RolledBack)
        );
        assert_eq!(ledger.current().map(|r| r.id.clone()), Some(rid(1)));
        assert!(ledger.succeeded_with(&sha(0xa)).is_some());
        assert!(ledger.succeeded_with(&sha(0xb)).is_none());
        let compact = ledger.compacted().expect("lines to drop");
        assert_eq!(compact.lines().count(), 3, "two records and the torn line");
        assert!(compact.ends_with("{\"id\": \"d3\", \"environ\n"));
        let again = Ledger::parse(&compact);
        assert_eq!(again.records(), ledger.records());
        assert_eq!(again.unreadable_lines(), &[3]);
        assert_eq!(again.compacted(), None, "nothing left to drop");
    }

    #[test]
    fn a_record_naming_a_path_or_an_option_is_not_read() {
        let mut text =
            Ledger::line(&record(&rid(1), &sha(1), Outcome::Succeeded, None)).expect("json");
        text += &Ledger::line(&record("../victim", &sha(2), Outcome::Running, None)).expect("json");
        text += &Ledger::line(&record(
            &rid(3),
            "--output=/tmp/x",
            Outcome::Succeeded,
            None,
        ))
        .expect("json");
        let mut r = record(&rid(4), &sha(4), Outcome::Succeeded, None);
        r.previous_release = Some("../../etc".into());
        text += &Ledger::line(&r).expect("json");
        let mut r = record(&rid(5), &sha(5), Outcome::Succeeded, None);
        r.backups = vec!["snapshot-x/../../y".into()];
        text += &Ledger::line(&r).expect("json");
        let ledger = Ledger::parse(&text);
        assert_eq!(ledger.records().len(), 1);
        assert_eq!(ledger.unreadable_lines(), &[2, 3, 4, 5]);
    }

    #[test]
    fn a_line_names_its_plan_and_an_old_line_carrying_one_still_reads() {
        let mut new = record(&rid(1), &sha(1), Outcome::Succeeded, Some(900));
        new.plan_digest = Some("ab".repeat(32));
        let line = Ledger::line(&new).expect("json");
        assert!(!line.contains("\"plan\""), "no plan in the line: {line}");
        assert!(line.contains(&"ab".repeat(32)), "{line}");
        // A line of an older odd, with its whole plan.
        let mut old = record(&rid(2), &sha(2), Outcome::Succeeded, Some(800));
        old.plan = Some(serde_json::json!({"first_install": true, "steps": ["a", "b"]}));
        let old_line = Ledger::line(&old).expect("json");
        assert!(old_line.contains("\"plan\":{"), "{old_line}");
        let ledger = Ledger::parse(&format!("{old_line}{line}"));
        assert_eq!(ledger.records(), [old.clone(), new.clone()]);
        assert_eq!(ledger.get(&rid(2)).and_then(|r| r.plan.clone()), old.plan);
        assert_eq!(ledger.get(&rid(1)).and_then(|r| r.plan.clone()), None);
        // Compaction keeps the old line's plan: it is the only copy.
        let twice = format!("{old_line}{line}{line}");
        let compact = Ledger::parse(&twice).compacted().expect("a line to drop");
        assert_eq!(Ledger::parse(&compact).records(), [old, new]);
    }

    #[test]
    fn a_refresh_line_names_its_source_and_a_deploy_line_none() {
        let mut deploy = record(&rid(1), &sha(0xa), Outcome::Succeeded, None);
        assert_eq!(deploy.refreshed_from(), None);
        deploy.plan = Some(serde_json::json!({"steps": []}));
        assert_eq!(deploy.refreshed_from(), None);
        let mut refresh = record(&rid(2), &sha(0xa), Outcome::Succeeded, Some(900));
        refresh.plan = Some(serde_json::json!({"refresh": {"source": "production"}}));
        let line = Ledger::line(&refresh).expect("json");
        let read = Ledger::parse(&line);
        assert_eq!(
            read.latest().and_then(DeployRecord::refreshed_from),
            Some("production")
        );
    }

    #[test]
    fn downtime_estimate_is_the_median_of_successes() {
        let mut text = String::new();
        for (i, (d, outcome)) in [
            (1000, Outcome::Succeeded),
            (9000, Outcome::RolledBack),
            (3000, Outcome::Succeeded),
            (2000, Outcome::Succeeded),
        ]
        .into_iter()
        .enumerate()
        {
            text += &Ledger::line(&record(
                &rid(u32::try_from(i).expect("small")),
                &sha(0xc),
                outcome,
                Some(d),
            ))
            .expect("json");
        }
        assert_eq!(Ledger::parse(&text).typical_downtime_ms(), Some(2000));
        assert_eq!(Ledger::parse("").typical_downtime_ms(), None);
    }

    #[test]
    fn downtime_estimate_leaves_refreshes_out() {
        let mut text = String::new();
        for (i, d) in [1000, 2000].into_iter().enumerate() {
            let id = rid(u32::try_from(i).expect("small"));
            text +=
                &Ledger::line(&record(&id, &sha(0xc), Outcome::Succeeded, Some(d))).expect("json");
        }
        // Two refreshes, each far longer than a deploy: counted, they would move the
        // median to 60 s.
        for i in 2..4 {
            let mut refresh = record(&rid(i), &sha(0xc), Outcome::Succeeded, Some(60_000));
            refresh.plan = Some(serde_json::json!({"refresh": {"source": "production"}}));
            text += &Ledger::line(&refresh).expect("json");
        }
        let ledger = Ledger::parse(&text);
        assert_eq!(ledger.records().len(), 4, "every line is read");
        assert_eq!(ledger.typical_downtime_ms(), Some(2000));
    }
}
