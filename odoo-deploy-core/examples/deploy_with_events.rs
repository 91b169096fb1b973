#![allow(clippy::print_stderr)]
//! Deploying from Rust, with an [`EventSink`] of your own.
//!
//! The sample project's first version is deployed on this machine (the stand-in Odoo
//! of the fixtures, a real PostgreSQL cluster): the plan is made as `odd deploy` makes
//! it, executed, and every event the engine reports lands in the sink — here a list
//! that counts the steps and keeps Odoo's log.
//!
//! Run it with `cargo run -p odoo-deploy-core --example deploy_with_events`;
//! `cargo test` runs it as a test.

use std::sync::{Arc, Mutex};

use odoo_deploy_core::deploy::{self, DeployContext};
use odoo_deploy_core::event::{Event, EventSink};
use odoo_deploy_core::ledger::Outcome;
use odoo_deploy_core::transport::{LocalTransport, Transport};

mod support;

/// Keeps the steps begun and Odoo's log lines.
#[derive(Debug, Default)]
struct Journal {
    steps: Mutex<Vec<String>>,
    odoo_log: Mutex<Vec<String>>,
}

impl EventSink for Journal {
    fn event(&self, event: Event) {
        match event {
            Event::StepStarted { title, .. } => {
                self.steps.lock().expect("steps").push(title);
            }
            Event::OdooLog { line } => self.odoo_log.lock().expect("log").push(line),
            _ => {}
        }
    }
}

async fn run() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let demo = support::demo(&dir.path().join("demo"), 1);
    let local = LocalTransport::new();
    let host: Arc<dyn Transport> = Arc::new(LocalTransport::new());
    let target = support::target(&demo, host.as_ref()).await;
    let (plan, code) = support::plan(&demo, &target, &host, &local).await;

    let journal = Journal::default();
    let root = demo.repo.path().to_path_buf();
    let ctx = DeployContext {
        target: &target,
        transport: Arc::clone(&host),
        local: &local,
        root: &root,
        code: &code,
        events: &journal,
        machine: "example".to_owned(),
        pid: std::process::id(),
        webhook: None,
        fleet: Vec::new(),
    };
    let report = deploy::execute(&ctx, &plan).await.expect("the deploy ran");

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    let steps = journal.steps.lock().expect("steps");
    // Every step of the plan was reported, in order (the unlock is no event of its own).
    let planned: Vec<&str> = plan.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(steps.as_slice(), &planned[..planned.len() - 1]);
    assert!(
        !journal.odoo_log.lock().expect("log").is_empty(),
        "the update's log came as events"
    );
    eprintln!(
        "deployed {} in {} steps, downtime {:?} ms",
        report.id,
        steps.len(),
        report.downtime_ms
    );
}

fn main() {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(run());
}

#[test]
fn deploys_the_sample_project_reporting_to_its_own_sink() {
    main();
}
