//! Odoo's log as odd reads it after an update and through startup: each line through
//! `parse_line` and a `LogWatch` (with the allow-list of `fixtures/configs/valid/full.toml`),
//! the whole text as `psql`'s module rows, and those rows through the state check.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use odoo_deploy_core::odoo::{self, Finding, LogWatch};

/// As many lines as the deploy keeps for evidence.
const TAIL: usize = 40;

fuzz_target!(|data: &[u8]| {
    // The deploy reads the log file's bytes this way.
    let text = String::from_utf8_lossy(data);
    // Compiled once: a fresh watch is a clone.
    static WATCH: OnceLock<LogWatch> = OnceLock::new();
    let mut watch = WATCH
        .get_or_init(|| {
            LogWatch::new(&["odoo.addons.base.models.ir_cron: .*"], TAIL)
                .expect("the allow-list compiles")
        })
        .clone();
    let mut lines = 0usize;
    for line in text.lines() {
        lines += 1;
        if let Some(record) = odoo::parse_line(line) {
            assert_eq!(record.time.len(), 23);
            assert!(line.starts_with(record.time));
            assert!(!record.db.contains(' ') && !record.logger.contains(": "));
            assert!(line.contains(record.message));
        }
        let before = watch.findings().len();
        let made = watch.line(line).cloned();
        assert_eq!(watch.findings().len(), before + usize::from(made.is_some()));
        if made.as_ref().is_some_and(Finding::is_failure) {
            assert!(watch.failures().next().is_some());
        }
    }
    // The evidence is the last lines read, as read.
    let tail = watch.tail();
    let last: Vec<&str> = text
        .lines()
        .skip(lines.saturating_sub(TAIL))
        .map(|l| l.trim_end_matches(['\n', '\r']))
        .collect();
    assert_eq!(tail, last);
    let _ = watch.failures().count();

    let rows = odoo::parse_module_rows(&text);
    let versions: BTreeMap<String, String> = rows
        .iter()
        .filter_map(|r| Some((r.name.clone(), r.latest_version.clone()?)))
        .collect();
    let required: BTreeSet<String> = rows.iter().take(3).map(|r| r.name.clone()).collect();
    for problem in odoo::check_module_states(&rows, &versions, &required, "18.0") {
        let _ = problem.to_string();
    }
});
