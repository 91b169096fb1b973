//! A phase of your own in the runbook: after the health check, an HTTP call that must
//! answer 200 (say, the load balancer's view of the new release). Here it asks the
//! stand-in Odoo for a page it does not have, so the call fails — and the deploy is
//! rolled back exactly as when a built-in step fails: the phase's own `undo` runs
//! first, then the plan's rollback (stop, snapshot restored, previous release, start,
//! health, smoke), and the ledger says `rolled_back` with the phase's reason.
//!
//! Run it with `cargo run -p odoo-deploy-core --example custom_phase`; `cargo test`
//! runs it as a test.
#![allow(clippy::print_stderr)]

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use odoo_deploy_core::deploy::{self, DeployContext};
use odoo_deploy_core::ledger::Outcome;
use odoo_deploy_core::plan::StepKind;
use odoo_deploy_core::runbook::{Failure, Phase, Run};
use odoo_deploy_core::transport::{LocalTransport, Transport};

mod support;

/// `GET path` on Odoo must answer 200; undone by telling (here: a flag) that the new
/// release is not to be served.
#[derive(Debug)]
struct CheckUpstream {
    port: u16,
    path: String,
    undone: Arc<AtomicBool>,
}

#[async_trait]
impl Phase for CheckUpstream {
    fn name(&self) -> String {
        "check upstream".to_owned()
    }
    fn title(&self) -> String {
        format!(
            "GET http://127.0.0.1:{}{} answers 200",
            self.port, self.path
        )
    }
    async fn run(&self, _run: &mut Run<'_, '_>) -> Result<(), Failure> {
        let (port, path) = (self.port, self.path.clone());
        let status = tokio::task::spawn_blocking(move || get_status(port, &path))
            .await
            .map_err(|e| Failure::new(self.name(), e.to_string()))?
            .map_err(|e| Failure::new(self.name(), e.to_string()))?;
        if status == 200 {
            Ok(())
        } else {
            Err(Failure::new(self.name(), format!("HTTP {status}")))
        }
    }
    fn has_undo(&self) -> bool {
        true
    }
    async fn undo(&self, _run: &mut Run<'_, '_>) -> Result<(), Failure> {
        self.undone.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// The status code of `GET path` on 127.0.0.1:`port`.
fn get_status(port: u16, path: &str) -> std::io::Result<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = String::new();
    stream.read_to_string(&mut head)?;
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {head:.80}")))
}

async fn run() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let demo = support::demo(&dir.path().join("demo"), 1);
    let local = LocalTransport::new();
    let host: Arc<dyn Transport> = Arc::new(LocalTransport::new());
    let target = support::target(&demo, host.as_ref()).await;
    let root = demo.repo.path().to_path_buf();
    let sink = |_| {};
    let context = |code| DeployContext {
        target: &target,
        transport: Arc::clone(&host),
        local: &local,
        root: &root,
        code,
        events: &sink,
        machine: "example".to_owned(),
        pid: std::process::id(),
        webhook: None,
        fleet: Vec::new(),
    };

    // v1 deployed as is.
    let (plan, code) = support::plan(&demo, &target, &host, &local).await;
    let first = deploy::execute(&context(&code), &plan).await.expect("v1");
    assert_eq!(first.outcome, Outcome::Succeeded, "{:?}", first.reason);

    // v2 with the extra phase after health.
    demo.checkout(2).expect("v2");
    let (mut plan, code) = support::plan(&demo, &target, &host, &local).await;
    let undone = Arc::new(AtomicBool::new(false));
    let found = plan.insert_after(
        StepKind::Health,
        Arc::new(CheckUpstream {
            port: demo.http_port,
            path: "/odd-example/upstream".to_owned(),
            undone: Arc::clone(&undone),
        }),
    );
    assert!(found, "the plan has a health step");
    let text = plan.render_text();
    assert!(text.contains("/odd-example/upstream answers 200"), "{text}");
    let report = deploy::execute(&context(&code), &plan).await.expect("v2");

    assert_eq!(report.outcome, Outcome::RolledBack, "{report:?}");
    assert_eq!(report.reason.as_deref(), Some("check upstream: HTTP 404"));
    assert!(undone.load(Ordering::SeqCst), "the phase's undo ran");
    let names: Vec<&str> = report.steps.iter().map(|s| s.step.as_str()).collect();
    let at = |name: &str| names.iter().position(|s| *s == name).expect(name);
    assert!(at("health") < at("check upstream"), "{names:?}");
    assert!(
        at("check upstream") < at("undo check upstream"),
        "{names:?}"
    );
    assert!(at("undo check upstream") < at("rollback stop"), "{names:?}");
    assert!(
        at("rollback restore snapshot") < at("rollback smoke"),
        "{names:?}"
    );
    eprintln!("rolled back: {}", names.join(", "));
}

fn main() {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(run());
}

#[test]
fn a_failing_custom_phase_rolls_the_deploy_back_and_its_undo_runs() {
    main();
}
