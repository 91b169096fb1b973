//! A transport of your own: every command odd runs on the host goes through it. This
//! one wraps the local transport and keeps an audit trail of the commands (as the plan
//! shows them, secrets redacted) — the same shape fits commands sent through
//! `docker exec`, a bastion, or a job queue.
//!
//! Run it with `cargo run -p odoo-deploy-core --example wrapped_transport`;
//! `cargo test` runs it as a test.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use odoo_deploy_core::command::RemoteCommand;
use odoo_deploy_core::deploy::{self, DeployContext};
use odoo_deploy_core::ledger::Outcome;
use odoo_deploy_core::transport::{LocalTransport, OutputSink, Transport, TransportError};
use tokio::io::{AsyncRead, AsyncWrite};

mod support;

/// The local transport, with an audit trail.
#[derive(Debug, Default)]
struct Audited {
    inner: LocalTransport,
    trail: Mutex<Vec<String>>,
}

#[async_trait]
impl Transport for Audited {
    fn host(&self) -> &str {
        self.inner.host()
    }
    async fn run(
        &self,
        cmd: &RemoteCommand,
        sink: &dyn OutputSink,
    ) -> Result<ExitStatus, TransportError> {
        self.trail
            .lock()
            .expect("trail")
            .push(cmd.display_redacted());
        self.inner.run(cmd, sink).await
    }
    async fn upload(
        &self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        remote_path: &Path,
    ) -> Result<u64, TransportError> {
        self.trail
            .lock()
            .expect("trail")
            .push(format!("upload {}", remote_path.display()));
        self.inner.upload(reader, remote_path).await
    }
    async fn download(
        &self,
        remote_path: &Path,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, TransportError> {
        self.inner.download(remote_path, writer).await
    }
}

async fn run() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let demo = support::demo(&dir.path().join("demo"), 1);
    let local = LocalTransport::new();
    let audited = Arc::new(Audited::default());
    let host: Arc<dyn Transport> = audited.clone();
    let target = support::target(&demo, host.as_ref()).await;
    let (plan, code) = support::plan(&demo, &target, &host, &local).await;
    let root = demo.repo.path().to_path_buf();
    let sink = |_| {};
    let ctx = DeployContext {
        target: &target,
        transport: Arc::clone(&host),
        local: &local,
        root: &root,
        code: &code,
        events: &sink,
        machine: "example".to_owned(),
        pid: std::process::id(),
        webhook: None,
        fleet: Vec::new(),
    };
    let report = deploy::execute(&ctx, &plan).await.expect("the deploy ran");
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);

    let trail = audited.trail.lock().expect("trail");
    // Every command the plan shows went through the wrapper.
    for step in &plan.steps {
        for cmd in &step.commands {
            let shown = cmd.display_redacted();
            if shown.contains("<stamp>") {
                continue; // named when it runs (the snapshot's name)
            }
            assert!(trail.contains(&shown), "{shown} not in the trail");
        }
    }
    assert!(
        trail.iter().any(|c| c.starts_with("upload ")),
        "the release was uploaded through it"
    );
    eprintln!("{} host operations went through the wrapper", trail.len());
}

fn main() {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(run());
}

#[test]
fn every_host_command_of_a_deploy_goes_through_the_wrapper() {
    main();
}
