//! The journal reader (`<deploy_dir>/journal`, read from the host as bytes): torn and
//! foreign lines skipped, and what `--resume`, `odd rollback` and `odd status` conclude
//! from the entries (where a dead deploy stopped, an unfinished rollback).
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_deploy_core::journal::{self, JournalEntry};
use odoo_deploy_fuzz::check_human_time;

fuzz_target!(|data: &[u8]| {
    // `journal::read` reads the file's bytes this way.
    let text = String::from_utf8_lossy(data);
    let entries = journal::parse(&text);
    assert!(entries.len() <= text.lines().count());
    for entry in &entries {
        let line = serde_json::to_string(entry).expect("an entry writes as JSON");
        let again = journal::parse(&line);
        assert_eq!(again.as_slice(), std::slice::from_ref(entry));
        check_human_time(entry.at);
    }

    let mut ids: Vec<&str> = entries.iter().map(|e| e.deploy.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids.iter().copied().chain(["no-such-deploy"]) {
        let found = journal::assess(&entries, id);
        assert_eq!(found.deploy, id);
        let last_of_id: Option<&JournalEntry> = entries.iter().rfind(|e| e.deploy == id);
        assert_eq!(found.last.as_ref(), last_of_id);
        assert!(!found.summary.is_empty());
    }

    if let Some(unfinished) = journal::unfinished_rollback(&entries) {
        assert_eq!(unfinished.begin.step, journal::ROLLBACK_BEGIN);
        assert!(entries.contains(&unfinished.last));
        assert!(!unfinished.summary.is_empty());
    }
});
