//! Retention: old releases, update runs, ledger lines and backups beyond what is kept,
//! never this deploy's own backups (a rollback of it needs them). A failure here is
//! reported, never fatal. Nothing to undo.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::backup::Backups;
use crate::command::RemoteCommand;
use crate::deploy::DeployContext;
use crate::event::Event;
use crate::plan::{Plan, StepKind};
use crate::release::to_prune;
use crate::state;
use crate::target::Target;
use crate::transport::TransportError;

/// Prunes beyond retention.
#[derive(Debug, Clone)]
pub struct Prune {
    title: String,
}

impl Prune {
    /// `t`'s retention.
    pub fn new(t: &Target) -> Self {
        Self {
            title: format!(
                "keep {} releases, {} snapshots, {} dumps",
                t.keep_releases, t.retention.keep_snapshots, t.retention.keep_dumps
            ),
        }
    }
}

#[async_trait]
impl Phase for Prune {
    fn kind(&self) -> StepKind {
        StepKind::Prune
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    async fn run(&self, run: &mut Run<'_, '_>) -> Result<(), Failure> {
        prune(run.ctx, run.plan, &run.progress.backups).await;
        Ok(())
    }
}

/// Old releases and backups beyond retention, never `own_backups` (a rollback of this
/// deploy needs them); a failure here is reported, never fatal.
pub(crate) async fn prune(ctx: &DeployContext<'_>, plan: &Plan, own_backups: &[String]) {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let mut notices = Vec::new();
    match transport.output(&t.layout.list()).await {
        Ok(out) if out.status.success() => {
            let (releases, others) = crate::release::parse_list(&out.stdout);
            for other in others {
                notices.push(format!("left alone in releases/: {other}"));
            }
            let protected: Vec<&str> = plan.previous_release.iter().map(String::as_str).collect();
            let keep = usize::try_from(t.keep_releases).unwrap_or(usize::MAX);
            let mut kept: BTreeSet<String> = releases.iter().cloned().collect();
            for old in to_prune(releases, Some(&plan.release), &protected, keep) {
                let removed = match t.layout.remove(&old) {
                    Ok(cmd) => transport
                        .check_output(&cmd)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match removed {
                    Ok(()) => {
                        kept.remove(&old);
                    }
                    Err(e) => notices.push(format!("could not remove release {old}: {e}")),
                }
            }
            kept.insert(plan.release.clone());
            if let Err(e) = prune_runs_and_ledger(ctx, kept, keep).await {
                notices.push(format!(
                    "could not prune the update runs or the ledger: {e}"
                ));
            }
        }
        Ok(_) => {}
        Err(e) => notices.push(format!("could not list releases: {e}")),
    }
    let target = t.backup_target(Some(&plan.commit));
    let protected: BTreeSet<String> = own_backups.iter().cloned().collect();
    if let Err(e) = Backups::new(transport, &target)
        .prune(t.retention, &protected)
        .await
    {
        notices.push(format!("could not prune backups: {e}"));
    }
    for message in notices {
        ctx.events.event(Event::Notice { message });
    }
}

/// The update runs' files (log, status, pid) go with their release — those of a release
/// still on the host stay, and those of the last `keep` deploys of the ledger (a failed
/// one's log is evidence for a while) — and the ledger keeps one line per deploy.
async fn prune_runs_and_ledger(
    ctx: &DeployContext<'_>,
    mut kept: BTreeSet<String>,
    keep: usize,
) -> Result<(), TransportError> {
    let t = ctx.target;
    let transport = ctx.transport.as_ref();
    let ledger = state::read_ledger(transport, &t.layout).await?;
    let records = ledger.records();
    kept.extend(
        records[records.len().saturating_sub(keep)..]
            .iter()
            .map(|r| r.id.clone()),
    );
    let runs = t.layout.runs();
    if transport.exists(&runs).await? {
        let out = transport
            .check_output(&RemoteCommand::new("find").arg(&runs).args([
                "-mindepth",
                "1",
                "-maxdepth",
                "1",
                "-printf",
                "%f\\0",
            ]))
            .await?;
        let names: Vec<&str> = out
            .split(|&b| b == 0)
            .filter_map(|raw| std::str::from_utf8(raw).ok())
            .collect();
        let gone = crate::detached::runs_to_prune(names, &kept);
        if !gone.is_empty() {
            let mut rm = RemoteCommand::new("rm").arg("-f").arg("--");
            for name in gone {
                rm = rm.arg(runs.join(name));
            }
            transport.check_output(&rm).await?;
        }
    }
    if let Some(text) = ledger.compacted() {
        transport
            .write_file(&t.layout.ledger(), text.as_bytes())
            .await?;
    }
    Ok(())
}
