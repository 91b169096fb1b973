//! Retention on the host: what a deploy or a rollback leaves behind — old releases with
//! their update runs' files and plans, snapshots, dumps, the ledger's replaced lines — is
//! pruned to the environment's settings (`keep_releases`, the backup retention), never
//! what the environment runs on now nor what the way back needs.

use std::collections::BTreeSet;

use crate::backup::Backups;
use crate::command::RemoteCommand;
use crate::release::to_prune;
use crate::state;
use crate::target::Target;
use crate::transport::{Transport, TransportError};

/// What pruning must leave, whatever its age.
#[derive(Debug, Clone, Default)]
pub struct Keep<'a> {
    /// The release `current` points to once the run ends.
    pub current: &'a str,
    /// Other releases to keep (the one a rollback of this deploy would switch back to).
    pub releases: Vec<&'a str>,
    /// Backups to keep (a deploy's own, a rollback's restored and replaced ones).
    pub backups: BTreeSet<String>,
    /// The commit the environment runs once the run ends.
    pub commit: Option<&'a str>,
}

/// Old releases and backups beyond retention, never those in `keep`; returns what could
/// not be done, for the caller to report (a failure here is never fatal).
pub async fn apply(transport: &dyn Transport, t: &Target, keep: &Keep<'_>) -> Vec<String> {
    let mut notices = Vec::new();
    match transport.output(&t.layout.list()).await {
        Ok(out) if out.status.success() => {
            let (releases, others) = crate::release::parse_list(&out.stdout);
            for other in others {
                notices.push(format!("left alone in releases/: {other}"));
            }
            let count = usize::try_from(t.keep_releases).unwrap_or(usize::MAX);
            let mut kept: BTreeSet<String> = releases.iter().cloned().collect();
            for old in to_prune(releases, Some(keep.current), &keep.releases, count) {
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
            kept.insert(keep.current.to_owned());
            if let Err(e) = prune_runs_and_ledger(transport, t, kept, count).await {
                notices.push(format!(
                    "could not prune the update runs or the ledger: {e}"
                ));
            }
        }
        Ok(_) => {}
        Err(e) => notices.push(format!("could not list releases: {e}")),
    }
    let target = t.backup_target(keep.commit);
    if let Err(e) = Backups::new(transport, &target)
        .prune(t.retention, &keep.backups)
        .await
    {
        notices.push(format!("could not prune backups: {e}"));
    }
    notices
}

/// The update runs' files (log, status, pid) and plans go with their release — those of
/// a release still on the host stay, and those of the last `keep` deploys of the ledger
/// (a failed one's log is evidence for a while) — and the ledger keeps one line per
/// deploy.
async fn prune_runs_and_ledger(
    transport: &dyn Transport,
    t: &Target,
    mut kept: BTreeSet<String>,
    keep: usize,
) -> Result<(), TransportError> {
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
