//! The ledger reader (`<deploy_dir>/ledger.jsonl`, read from the host as bytes): every
//! line a record or a reported unreadable line, the last line of an id winning, each
//! record written back as the same line, and what `odd status`/`history`/`plan` ask of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_deploy_core::clock;
use odoo_deploy_core::ledger::{DeployRecord, Ledger, Outcome};
use odoo_deploy_fuzz::check_human_time;

fuzz_target!(|data: &[u8]| {
    // `state::read_ledger` reads the file's bytes this way.
    let text = String::from_utf8_lossy(data);
    let ledger = Ledger::parse(&text);
    let lines = text.lines().count();
    let unreadable = ledger.unreadable_lines();
    assert!(unreadable.windows(2).all(|w| w[0] < w[1]));
    assert!(unreadable.iter().all(|&n| n >= 1 && n <= lines));
    assert!(ledger.records().len() + unreadable.len() <= lines);

    for (i, record) in ledger.records().iter().enumerate() {
        assert!(
            ledger.records()[..i].iter().all(|r| r.id != record.id),
            "two records of id {:?}",
            record.id
        );
        assert_eq!(ledger.get(&record.id), Some(record));
        // Appending the record and reading again gives it back unchanged.
        let line = Ledger::line(record).expect("a record read from JSON writes as JSON");
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        let again = Ledger::parse(&line);
        assert_eq!(again.records(), std::slice::from_ref(record));
        assert!(again.unreadable_lines().is_empty());
        shown(record);
    }
    if let Some(current) = ledger.current() {
        assert_eq!(current.outcome, Outcome::Succeeded);
        assert!(ledger.succeeded_with(&current.commit).is_some());
    }
    let _ = ledger.latest();
    if let Some(typical) = ledger.typical_downtime_ms() {
        assert!(
            ledger
                .records()
                .iter()
                .any(|r| r.downtime_ms == Some(typical))
        );
    }
});

/// What `odd history` shows of a record.
fn shown(record: &DeployRecord) {
    check_human_time(record.started_at);
    if let Some(at) = record.finished_at {
        check_human_time(at);
    }
    for step in &record.steps {
        check_human_time(step.started_at);
    }
    let _ = clock::utc(record.started_at);
}
