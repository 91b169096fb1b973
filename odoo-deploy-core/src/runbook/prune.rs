//! Retention: old releases, update runs, ledger lines and backups beyond what is kept,
//! never this deploy's own backups (a rollback of it needs them). A failure here is
//! reported, never fatal. Nothing to undo.

use async_trait::async_trait;

use super::{Failure, Phase, Run};
use crate::deploy::DeployContext;
use crate::event::Event;
use crate::plan::{Plan, StepKind};
use crate::target::Target;

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
/// deploy needs them) nor the release it replaced; a failure here is reported, never
/// fatal.
pub(crate) async fn prune(ctx: &DeployContext<'_>, plan: &Plan, own_backups: &[String]) {
    let keep = crate::retention::Keep {
        current: &plan.release,
        releases: plan.previous_release.iter().map(String::as_str).collect(),
        backups: own_backups.iter().cloned().collect(),
        commit: Some(&plan.commit),
    };
    for message in crate::retention::apply(ctx.transport.as_ref(), ctx.target, &keep).await {
        ctx.events.event(Event::Notice { message });
    }
    // A fleet's other hosts keep as many releases (their backups are the update host's).
    let count = usize::try_from(ctx.target.keep_releases).unwrap_or(usize::MAX);
    let keep = &keep;
    let notices = crate::fleet::join_all(
        ctx.fleet
            .iter()
            .map(|m| async move {
                let layout = &m.host.layout;
                let out = match m.transport.check_output(&layout.list()).await {
                    Ok(out) => out,
                    Err(e) => {
                        return vec![format!("{}: could not list releases: {e}", m.host.name)];
                    }
                };
                let (releases, _) = crate::release::parse_list(&out);
                let mut notices = Vec::new();
                for old in
                    crate::release::to_prune(releases, Some(keep.current), &keep.releases, count)
                {
                    if let Ok(cmd) = layout.remove(&old)
                        && let Err(e) = m.transport.check_output(&cmd).await
                    {
                        notices.push(format!(
                            "{}: could not remove release {old}: {e}",
                            m.host.name
                        ));
                    }
                }
                notices
            })
            .collect(),
    )
    .await;
    for message in notices.into_iter().flatten() {
        ctx.events.event(Event::Notice { message });
    }
}
